"""The llm family: its source loading, artefacts in the shared formats, layer dropping, sparse KD, and tracks."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from suite.errors import SuiteInputError
from tests.tiny_models import SMOLLM2, tiny_llama

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_lm():
    from suite.families.llm import load_source

    module, tokenizer, quantisation = load_source(tiny_llama(), seed=3)
    assert quantisation.startswith("none")
    return module, tokenizer


def test_teacher_arch_is_read_from_the_gguf_metadata_without_loading_tensors():
    from suite.families.llm import LlmFamily

    arch = LlmFamily().teacher_arch(SMOLLM2)
    assert arch == {"num_hidden_layers": 30, "num_attention_heads": 9, "hidden_size": 576, "intermediate_size": 1536}


def test_a_package_weights_file_with_another_sha256_is_refused_naming_the_field():
    from dataclasses import replace

    from suite.families.llm import package_file

    with pytest.raises(SuiteInputError) as err:
        package_file(replace(SMOLLM2, sha256="0" * 64), "config/llm.yaml")
    assert "config/llm.yaml: field 'teacher.source.sha256'" in str(err.value)


def test_tied_embeddings_count_once_in_the_weight_stats(tiny_lm):
    from suite.trackers.weights import torch_weight_stats

    module, _ = tiny_lm
    assert module.lm_head.weight.data_ptr() == module.model.embed_tokens.weight.data_ptr()
    by_hand = sum(p.numel() for p in module.parameters())  # parameters() yields a shared tensor once
    stats = torch_weight_stats(module)
    assert stats["param_count"] == by_hand
    saved = module.state_dict()  # non-persistent buffers (rotary inv_freq) are not weights
    buffers = sum(b.numel() * b.element_size() for name, b in module.named_buffers() if name in saved)
    assert stats["param_mb"] == pytest.approx((by_hand * 4 + buffers) / 2**20)


@pytest.mark.parametrize(
    ("method", "params", "fmt", "dtype"),
    [
        ("cast", {"dtype": "bfloat16"}, "torch-half", torch.bfloat16),
        ("torchao_int8_weight_only", {"include_classifier": False}, "torchao-int8", torch.float32),
        ("sparse_24", {"within": "mlp"}, "torch-fp32", torch.float32),
    ],
)
def test_students_save_and_load_behind_the_causal_lm_interface(tiny_lm, tmp_path, method, params, fmt, dtype):
    from suite.artefacts import load_artefact, save_artefact
    from suite.compress import METHODS
    from suite.families.llm import CausalLM

    module, tokenizer = tiny_lm
    save_artefact(module, tokenizer, "torch-fp32", tmp_path / "teacher", {"id": "teacher", "recipe": {}})
    parent, _ = load_artefact(tmp_path / "teacher")
    assert isinstance(parent, CausalLM) and parent.format == "torch-fp32"
    parent_mb = parent.weight_stats()["param_mb"]
    cls = METHODS.get(method)
    built = cls().apply(parent, cls.parse_params(params), None)  # quantises / sparsifies the parent in place
    save_artefact(built, tokenizer, cls.OUTPUT_FORMAT, tmp_path / "student", {"id": "s", "recipe": {}})
    student, record = load_artefact(tmp_path / "student")
    assert isinstance(student, CausalLM) and record["format"] == fmt == student.format
    assert next(student.module.parameters()).dtype == dtype
    ids = tokenizer("The cat sat on the", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        logits = student.module(input_ids=ids).logits
    assert logits.shape == (1, ids.shape[1], len(tokenizer)) and torch.isfinite(logits).all()
    if method == "sparse_24":
        mlp = student.module.model.layers[0].mlp.up_proj.weight.reshape(-1, 4)
        assert ((mlp != 0).sum(dim=1) <= 2).all()  # two of every four weights along the input dimension are zero
        assert (student.module.model.layers[0].self_attn.q_proj.weight != 0).all()  # attention is left alone
    if method == "torchao_int8_weight_only":
        # the decoder's Linear layers in int8 (+ scales); lm_head stays tied to the float embeddings
        assert student.module.lm_head.weight.data_ptr() == student.module.model.embed_tokens.weight.data_ptr()
        assert student.weight_stats()["param_mb"] < parent_mb


def test_block_influence_drops_a_layer_that_leaves_its_input_unchanged(tiny_lm):
    import copy

    from suite.compress.lm_distil import block_influence, drop_layers

    module = copy.deepcopy(tiny_lm[0])
    layer = module.model.layers[2]
    with torch.no_grad():  # no attention or MLP output: the residual stream passes through unchanged
        layer.self_attn.o_proj.weight.zero_()
        layer.mlp.down_proj.weight.zero_()
    corpus = np.random.default_rng(0).integers(0, 1000, size=(3, 12))
    influence = block_influence(module, corpus, batch_size=2)
    assert influence[2] == pytest.approx(0.0, abs=1e-6) and (np.delete(influence, 2) > 1e-3).all()
    keep = sorted(np.argsort(influence)[1:].tolist())
    student = drop_layers(module, keep)
    assert keep == [0, 1, 3] and student.config.num_hidden_layers == 3
    assert [layer.self_attn.layer_idx for layer in student.model.layers] == [0, 1, 2]  # re-indexed for the KV cache
    out = student.generate(input_ids=torch.tensor([[5, 6, 7]]), max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out.shape == (1, 7)


def test_sparse_kd_loss_is_the_cross_entropy_to_the_renormalised_top_k():
    from suite.compress.lm_distil import sparse_kd_loss

    student = torch.tensor([[[0.0, 1.0, 2.0, 3.0]]])  # one position, vocabulary of 4
    top_ids = torch.tensor([[[3, 1]]])
    top_logprobs = torch.log(torch.tensor([[[0.6, 0.2]]]))  # renormalised: 0.75, 0.25
    student_logp = torch.log_softmax(student, dim=-1)[0, 0]
    by_hand = -(0.75 * student_logp[3] + 0.25 * student_logp[1])
    assert float(sparse_kd_loss(student, top_ids, top_logprobs)) == pytest.approx(float(by_hand))


def test_the_corpus_is_seeded_and_every_sequence_has_the_full_length(tiny_lm):
    from suite.compress.lm_distil import PROMPTS, generate_corpus

    module, tokenizer = tiny_lm
    first = generate_corpus(module, tokenizer, samples=5, length=10, batch_size=3, seed=1)
    again = generate_corpus(module, tokenizer, samples=5, length=10, batch_size=3, seed=1)
    assert first.shape == (5, 10) and np.array_equal(first, again)
    for row, prompt in zip(first, PROMPTS, strict=False):
        prompt_ids = tokenizer(prompt)["input_ids"]
        assert row[: len(prompt_ids)].tolist() == prompt_ids  # left padding removed: each row starts with its prompt


def test_distil_lm_layers_refuses_keeping_as_many_layers_as_the_parent():
    from suite.compress.lm_distil import DistilLmLayers

    method = DistilLmLayers()
    with pytest.raises(ValueError, match="layers: 30 is not fewer"):
        method.check(method.parse_params({"layers": 30}), {"num_hidden_layers": 30})
    assert method.derive_arch({"num_hidden_layers": 30}, method.parse_params({"layers": 24})) == {
        "num_hidden_layers": 24
    }


# --- tracks ----------------------------------------------------------------------------------------------------


def _track_files(tmp_path: Path, mirror: Path) -> tuple[Path, Path]:
    classifier = yaml.safe_load((REPO / "tests" / "tiny" / "config" / "config.yaml").read_text())
    llm = yaml.safe_load((REPO / "tests" / "tiny" / "config" / "llm.yaml").read_text())
    for config in (classifier, llm):
        config["data"]["mirror"] = str(mirror)
    paths = tmp_path / "classifier.yaml", tmp_path / "llm.yaml"
    for path, config in zip(paths, (classifier, llm), strict=True):
        path.write_text(yaml.safe_dump(config))
    return paths


def test_a_config_that_lists_tracks_loads_each_by_family(tmp_path: Path, monkeypatch):
    from suite.plan import load_tracks
    from tests.conftest import MIRROR

    monkeypatch.delenv("SUITE_DATA_MIRROR", raising=False)
    classifier, llm = _track_files(tmp_path, MIRROR)
    tracks = load_tracks({"tracks": [str(classifier), str(llm)]}, REPO, "config/config.yaml")
    assert list(tracks) == ["classifier", "llm"]
    assert tracks["llm"].teacher.id == "tiny-llama" and tracks["llm"].evaluate_threads == 1
    assert [v.id for v in tracks["llm"].variants][:2] == ["torchao-int8-wo", "drop-2-distil"]
    single = load_tracks(yaml.safe_load(classifier.read_text()), REPO, "one.yaml")
    assert list(single) == ["classifier"]


@pytest.mark.parametrize(
    ("config", "field", "problem"),
    [
        ({"tracks": ["{c}", "{c}"]}, "tracks[1]", "a second 'classifier' track"),
        ({"tracks": ["{c}"], "seed": 1}, "seed", "a config that lists tracks holds nothing else"),
        ({"tracks": []}, "tracks", "expected a non-empty list"),
        ({"tracks": ["nowhere.yaml"]}, "tracks[0]", "config file nowhere.yaml not found"),
    ],
)
def test_bad_tracks_are_refused_naming_the_field(tmp_path: Path, config, field, problem):
    from suite.plan import load_tracks
    from tests.conftest import MIRROR

    classifier, _ = _track_files(tmp_path, MIRROR)
    config = {k: [t.format(c=classifier) for t in v] if k == "tracks" else v for k, v in config.items()}
    with pytest.raises(SuiteInputError) as err:
        load_tracks(config, REPO, "config/config.yaml")
    assert f"config/config.yaml: field '{field}'" in str(err.value) and problem in str(err.value)


def test_an_llm_task_on_a_classifier_run_is_refused_at_load(tmp_path: Path):
    from suite.plan import load
    from tests.conftest import MIRROR

    classifier, _ = _track_files(tmp_path, MIRROR)
    config = yaml.safe_load(classifier.read_text())
    config["tasks"] = ["sst2", "piqa"]
    with pytest.raises(SuiteInputError) as err:
        load(config, REPO, "c.yaml")
    assert "tasks/piqa/piqa.yaml: field 'kind'" in str(err.value) and "not the run's 'classifier' family" in str(
        err.value
    )


def test_decode_flops_rows_divide_the_counted_flops_by_the_median_time_per_token():
    from suite.families.llm import CausalLM, load_source
    from suite.formats import FORMAT_FP32
    from suite.measure import decode_flops_rows
    from suite.provenance import hardware
    from tests.tiny_models import tiny_llama

    module, _, _ = load_source(tiny_llama(), seed=5)
    model = CausalLM(module=module, tokenizer=None, format=FORMAT_FP32)
    peak = {"peak_gflops": 10.0, "method": "test", "hardware_fingerprint": hardware(1)["hardware_fingerprint"]}
    rows = {r.metric: r for r in decode_flops_rows("v", model, 13, peak, tpot_p50_ms=2.0, threads=1)}
    assert set(rows) == {"gflops_per_token", "achieved_gflops", "pct_of_peak_flops"}
    # 3 226 112 FLOPs per token (tests/test_trackers.py counts them by hand) in 2 ms: 1.613 GFLOP/s, 16.1 % of 10
    assert rows["gflops_per_token"].value == pytest.approx(0.003226112)
    assert rows["achieved_gflops"].value == pytest.approx(1.613056)
    assert rows["pct_of_peak_flops"].value == pytest.approx(16.13056)
    assert all(r.status == "ok" for r in rows.values())
    # per_token failed (no TPOT): the count stands alone; a model without a config is refused by name
    assert [r.metric for r in decode_flops_rows("v", model, 13, peak, None, 1)] == ["gflops_per_token"]
    with pytest.raises(ValueError, match=r"CausalLM \(format 'x'\) has no architecture config"):
        decode_flops_rows("v", CausalLM(module=object(), tokenizer=None, format="x"), 13, peak, 2.0, 1)
