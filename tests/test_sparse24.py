"""2:4 semi-structured sparsity: exact masks, dense FP32 artefact with the record, chains, and the CUDA path."""

from pathlib import Path

import numpy as np
import pytest
import torch

from suite.artefacts import load_artefact, save_artefact
from suite.compress import METHODS, BuildContext
from suite.compress.sparse24 import is_24_sparse, mask_24, semi_structured_on_cuda, to_semi_structured
from suite.compress.torchao_quant import torchao_weight_stats
from suite.formats import FORMAT_FP32
from suite.models import TorchClassifier, load_source_model, load_tokenizer
from suite.trackers.weights import torch_weight_stats
from tests.tiny_models import LABELS, TEXTS, tiny_bert

# hidden 64 / intermediate 128: shapes torch's fp16 2:4 kernels take (multiples of 32 rows and 64 columns)
TINY = tiny_bert(hidden_size=64, intermediate_size=128)
HEAD = ("bert.pooler.dense", "classifier")


def fp32_model():
    return load_source_model(TINY, LABELS, seed=0).eval()


def linears(module):
    return {name: m for name, m in module.named_modules() if isinstance(m, torch.nn.Linear)}


def build(ctx=None, **params):
    method = METHODS.get("sparse_24")
    parent = TorchClassifier(module=fp32_model(), tokenizer=None, format=FORMAT_FP32)
    return method().apply(parent, method.parse_params(params), ctx)


def ctx():
    return BuildContext(cfg=None, variant_id="sparse-24", parent_dir=Path("."), parent_record={})


def test_every_group_of_4_keeps_its_2_largest_weights():
    original = linears(fp32_model())
    sparse = linears(build())
    encoder = [name for name in sparse if name not in HEAD]
    assert len(encoder) == 2 * 6  # q, k, v, attention output, intermediate, output per layer
    for name in encoder:
        before = original[name].weight.detach().reshape(-1, 4)
        after = sparse[name].weight.detach().reshape(-1, 4)
        zeros = after == 0
        assert (zeros.sum(dim=1) == 2).all(), name  # exactly 2 zeros in every group of 4
        torch.testing.assert_close(after[~zeros], before[~zeros], rtol=0, atol=0)  # kept weights unchanged
        kept = before.abs().masked_fill(zeros, float("inf")).min(dim=1).values
        dropped = before.abs().masked_fill(~zeros, -1.0).max(dim=1).values
        assert (kept >= dropped).all(), name  # the kept ones are the 2 largest |w|
    for name in HEAD:  # the head stays dense by default
        torch.testing.assert_close(sparse[name].weight, original[name].weight, rtol=0, atol=0)


def test_mask_ties_are_deterministic_and_head_is_optional():
    assert mask_24(torch.ones(1, 8)).tolist() == [[True, True, False, False] * 2]
    with pytest.raises(ValueError, match="not a multiple of 4"):
        mask_24(torch.ones(2, 6))
    sparse = linears(build(include_head=True))
    assert all(is_24_sparse(layer.weight) for layer in sparse.values())
    assert not is_24_sparse(fp32_model().classifier.weight)


def test_dense_fp32_artefact_and_record(tmp_path):
    context = ctx()
    module = build(context)
    tokenizer = load_tokenizer(TINY)
    record = save_artefact(module, tokenizer, FORMAT_FP32, tmp_path / "s", {"id": "s", "build": context.info})
    loaded, saved = load_artefact(tmp_path / "s")
    assert saved["format"] == record["format"] == FORMAT_FP32
    info = saved["build"]["sparse_24"]
    assert info["zero_share_pct"] == 50.0 and "dense FP32" in info["storage"]
    assert info["modules"] == sorted(name for name in linears(module) if name not in HEAD)
    assert all(is_24_sparse(linears(loaded.module)[name].weight) for name in info["modules"])
    np.testing.assert_array_equal(
        loaded.predict_logits(TEXTS, 2, 32), TorchClassifier(module, tokenizer, "x").predict_logits(TEXTS, 2, 32)
    )
    # the suite's sparsity covers every Linear weight, the dense head included
    layers = linears(module)
    encoder_weights = sum(layers[name].weight.numel() for name in info["modules"])
    all_weights = sum(layer.weight.numel() for layer in layers.values())
    assert torch_weight_stats(module)["sparsity"] == pytest.approx(50.0 * encoder_weights / all_weights)


def test_chain_into_torchao_int8_keeps_the_zeros():
    sparse = build()
    method = METHODS.get("torchao_int8_dynamic")
    assert FORMAT_FP32 in method.INPUT_FORMATS  # sparse_24's output is a valid parent
    parent = TorchClassifier(module=sparse, tokenizer=None, format=METHODS.get("sparse_24").OUTPUT_FORMAT)
    quantised = method().apply(parent, method.parse_params({}), None).module
    for name, layer in linears(quantised).items():
        if name not in HEAD:
            assert is_24_sparse(layer.weight.qdata), name  # symmetric int8: 0.0 quantises to 0
    assert torchao_weight_stats(quantised)["sparsity"] >= torch_weight_stats(build())["sparsity"]


def test_params_are_validated_naming_the_field():
    method = METHODS.get("sparse_24")
    with pytest.raises(ValueError, match=r"^include_head: "):
        method.parse_params({"include_head": "no"})
    with pytest.raises(ValueError, match=r"^amount: unknown parameter"):
        method.parse_params({"amount": 0.5})


def test_semi_structured_conversion_refuses_a_cpu_module():
    with pytest.raises(ValueError, match="need a CUDA device"):
        to_semi_structured(build())
    with pytest.raises(ValueError, match=r"no nn\.Linear weight is 2:4 sparse"):
        to_semi_structured(fp32_model())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="2:4 sparse kernels need a CUDA GPU")
def test_semi_structured_on_cuda_matches_dense_fp16():
    if torch.cuda.get_device_capability() < (8, 0):
        pytest.skip("2:4 sparse kernels need CUDA compute capability >= 8.0")
    tokenizer = load_tokenizer(TINY)
    module = build()
    dense = TorchClassifier(module=module, tokenizer=tokenizer, format=FORMAT_FP32).to_device("cuda")
    dense.module = dense.module.half()
    reference = dense.predict_logits(TEXTS, 2, 32)
    sparse = TorchClassifier(module=build(), tokenizer=tokenizer, format=FORMAT_FP32)
    done = semi_structured_on_cuda(sparse, "float16")
    assert sorted(done["converted"]) == sorted(name for name in linears(module) if name not in HEAD)
    assert type(sparse.module.bert.encoder.layer[0].output.dense.weight).__name__.startswith("SparseSemiStructured")
    np.testing.assert_allclose(sparse.predict_logits(TEXTS, 2, 32), reference, atol=1e-2)
