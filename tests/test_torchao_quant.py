"""torchao INT8 methods and the "torchao-int8" format: exact round trip, close to FP32, int8 bytes, FLOPs, params."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from suite.artefacts import load_artefact, save_artefact
from suite.compress import METHODS
from suite.compress.torchao_quant import (
    FORMAT_TORCHAO_INT8,
    INPUT_FORMATS,
    META_VERSION,
    TorchaoClassifier,
    import_torchao,
    torchao_forward_flops,
    torchao_weight_stats,
)
from suite.formats import FORMAT_FP32, FORMAT_HALF, FORMAT_PRUNED, FORMATS
from suite.models import TorchClassifier, load_source_model, load_tokenizer
from suite.trackers.flops import forward_flops
from suite.trackers.weights import torch_weight_stats
from tests.tiny_models import LABELS, TEXTS, TINY

METHOD_NAMES = ("torchao_int8_dynamic", "torchao_int8_weight_only")


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(TINY)


def fp32_model():
    return load_source_model(TINY, LABELS, seed=0).eval()


def build(name: str, **params):
    method = METHODS.get(name)
    parent = TorchClassifier(module=fp32_model(), tokenizer=None, format=FORMAT_FP32)
    return method().apply(parent, method.parse_params(params), None)


def logits_of(module, tokenizer):
    return TorchClassifier(module, tokenizer, "x").predict_logits(TEXTS, batch_size=2, max_length=32)


def is_int8_tensor(weight) -> bool:
    return type(weight).__name__ == "Int8Tensor"


def linears(module):
    return {name: m for name, m in module.named_modules() if isinstance(m, torch.nn.Linear)}


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_round_trip_is_exact_and_stores_no_pickle(name, tokenizer, tmp_path):
    built = build(name)
    record = save_artefact(built, tokenizer, FORMAT_TORCHAO_INT8, tmp_path / "q", {"id": "q"})
    loaded, saved = load_artefact(tmp_path / "q")
    assert record["format"] == saved["format"] == FORMAT_TORCHAO_INT8
    assert isinstance(loaded, TorchaoClassifier) and loaded.runner is None
    assert all(is_int8_tensor(m.weight) for m in linears(loaded.module).values())
    np.testing.assert_array_equal(logits_of(loaded.module, tokenizer), logits_of(built.module, tokenizer))
    np.testing.assert_array_equal(
        loaded.predict_logits(TEXTS, batch_size=2, max_length=32), logits_of(built.module, tokenizer)
    )
    assert not any(p.suffix in {".bin", ".pt", ".pth", ".pkl"} for p in (tmp_path / "q").iterdir())
    with safe_open(str(tmp_path / "q" / "model.safetensors"), framework="pt") as handle:
        metadata = handle.metadata()
        dtypes = {handle.get_slice(k).get_dtype() for k in handle.keys()}  # noqa: SIM118  (safe_open is no dict)
    assert metadata["suite.torchao_config"] == METHODS.get(name).CONFIG
    assert metadata[META_VERSION] == import_torchao().__version__
    assert "I8" in dtypes  # int8 data stored as such
    quant = json.loads((tmp_path / "q" / "quantization.json").read_text())
    assert quant["modules"] == sorted(linears(built.module)) and quant["runtime"]["compile"] is False


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_int8_logits_are_close_to_fp32(name, tokenizer):
    reference = logits_of(fp32_model(), tokenizer)
    quantised = logits_of(build(name).module, tokenizer)
    assert np.abs(quantised - reference).max() < 0.02  # the tiny model's logits are ~0.1-0.5
    assert not np.array_equal(quantised, reference)  # it did quantise
    np.testing.assert_array_equal(quantised.argmax(1), reference.argmax(1))


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_weight_stats_count_int8_bytes(name):
    fp32 = fp32_model()
    built = build(name)
    before, after = torch_weight_stats(fp32), torchao_weight_stats(built.module)
    shapes = [m.weight.shape for m in linears(fp32).values()]
    # each Linear weight: 4 bytes -> 1 byte per element, plus a float32 scale and an int8 zero point per output row
    saved_bytes = sum(3 * rows * cols - 5 * rows for rows, cols in shapes)
    assert (before["param_mb"] - after["param_mb"]) * (1 << 20) == pytest.approx(saved_bytes)
    linear_bytes_after = sum(rows * cols + 5 * rows for rows, cols in shapes)
    assert linear_bytes_after / sum(4 * rows * cols for rows, cols in shapes) == pytest.approx(0.25, abs=0.05)
    assert after["param_count"] == before["param_count"]
    # weights that round to int 0 are zeros (as with the seed's INT8): the share of zero int8 values
    qdata = [m.weight.qdata for m in linears(built.module).values()]
    zeros = sum(int((q == 0).sum()) for q in qdata) / sum(q.numel() for q in qdata)
    assert after["sparsity"] == pytest.approx(100 * zeros) and before["sparsity"] == 0.0


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_flops_count_int8_linears_like_fp32(name, tokenizer):
    encoding = TorchClassifier(None, tokenizer, "x").encode(TEXTS, max_length=32)
    built = build(name)
    counted = torchao_forward_flops(built.module, encoding)
    assert counted == forward_flops(fp32_model(), encoding) > 0
    classifier = TorchaoClassifier(module=built.module, tokenizer=tokenizer, format=FORMAT_TORCHAO_INT8)
    assert classifier.flops(encoding)[0] == counted


def test_classifier_head_can_stay_float():
    module = build("torchao_int8_dynamic", include_classifier=False).module
    assert not is_int8_tensor(module.classifier.weight)
    assert is_int8_tensor(module.bert.pooler.dense.weight)
    assert is_int8_tensor(module.bert.encoder.layer[0].output.dense.weight)


def test_compile_sets_a_compiled_runner_that_forward_calls(tokenizer, tmp_path):
    save_artefact(build("torchao_int8_dynamic", compile=True), tokenizer, FORMAT_TORCHAO_INT8, tmp_path / "c", {})
    loaded, _ = load_artefact(tmp_path / "c")
    assert isinstance(loaded.runner, torch._dynamo.eval_frame.OptimizedModule)
    assert loaded.runner._orig_mod is loaded.module
    eager = logits_of(loaded.module, tokenizer)
    # the same compiled wrapper without inductor (fast): forward must call it, not test its truth value
    loaded.runner = torch.compile(loaded.module, backend="eager", dynamic=True)
    calls = []
    loaded.module.register_forward_pre_hook(lambda *_: calls.append(1))
    np.testing.assert_allclose(loaded.predict_logits(TEXTS, batch_size=2, max_length=32), eager, atol=1e-5)
    assert calls


@pytest.mark.slow
@pytest.mark.parametrize("name", METHOD_NAMES)
def test_compiled_variant_matches_eager(name, tokenizer, tmp_path):
    save_artefact(build(name, compile=True), tokenizer, FORMAT_TORCHAO_INT8, tmp_path / "c", {})
    loaded, _ = load_artefact(tmp_path / "c")
    compiled = loaded.predict_logits(TEXTS, batch_size=2, max_length=32)  # inductor, dynamic shapes
    # the fused int8 matmul + rescale of the compiled dynamic path rounds differently from eager
    np.testing.assert_allclose(compiled, logits_of(loaded.module, tokenizer), atol=5e-3)


@pytest.mark.parametrize(
    ("params", "field"),
    [({"compile": "yes"}, "compile"), ({"include_classifier": 1}, "include_classifier"), ({"dtype": "x"}, "dtype")],
)
def test_params_are_validated_naming_the_field(params, field):
    for name in METHOD_NAMES:
        with pytest.raises(ValueError, match=rf"^{field}: "):
            METHODS.get(name).parse_params(params)


def test_input_formats_and_output_format():
    for name in METHOD_NAMES:
        assert METHODS.get(name).INPUT_FORMATS == INPUT_FORMATS == frozenset({FORMAT_FP32, FORMAT_PRUNED, FORMAT_HALF})
        assert METHODS.get(name).OUTPUT_FORMAT == FORMAT_TORCHAO_INT8


def test_loader_refuses_another_torchao_version(tokenizer, tmp_path):
    save_artefact(build("torchao_int8_weight_only"), tokenizer, FORMAT_TORCHAO_INT8, tmp_path / "v", {})
    weights = tmp_path / "v" / "model.safetensors"
    with safe_open(str(weights), framework="pt") as handle:
        metadata = handle.metadata()
    save_file(load_file(str(weights)), str(weights), metadata={**metadata, META_VERSION: "0.1.0"})
    # the format's own check (load_artefact would refuse the rewritten file first: its sha256 changed)
    with pytest.raises(ValueError, match=r"written by torchao 0\.1\.0.*install torchao==0\.1\.0 or rebuild"):
        FORMATS.get(FORMAT_TORCHAO_INT8).load(tmp_path / "v", tokenizer)


def test_torchao_import_logs_are_contained():
    # transformers imports torchao (and its safetensors support) whenever it loads a model, once torchao is installed
    code = "import suite.models; import transformers.quantizers.auto; import torchao.prototype.safetensors"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent, check=True
    )
    assert "Failed to load" not in done.stderr and "register_constant" not in done.stderr, done.stderr
