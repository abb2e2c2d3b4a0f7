"""The seed's INT8: PyTorch eager dynamic quantisation of the Linear layers (torch.ao, deprecated but present)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.compress.base import METHODS, Method
from suite.compress.structured_prune import apply_layout_if_pruned, write_layout_if_pruned
from suite.formats import FORMAT_DYNAMIC_INT8, FORMAT_FP32, FORMAT_PRUNED, FORMATS, ArtefactFormat
from suite.models import WEIGHTS_FILE, Classifier, TorchClassifier

QUANT_JSON = "quantization.json"


@dataclass(frozen=True)
class DynamicQuantParams:
    dtype: str = "qint8"
    """Weight dtype; only qint8 is supported by the saved-artefact format."""

    def __post_init__(self) -> None:
        if self.dtype != "qint8":
            raise ValueError(f"dtype: '{self.dtype}' is not supported (use 'qint8')")


@contextmanager
def seed_int8_warnings_contained() -> Iterator[None]:
    """torch.ao's eager quantisation is deprecated but is the seed's INT8: keep its warnings out of every log."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.ao\.quantization.*")
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.ao\.quantization.*")
        warnings.filterwarnings("ignore", category=UserWarning, message=r".*quantized tensor creation functions.*")
        yield


def quantize_dynamic_linear(model: Any) -> Any:
    """torch.ao dynamic INT8 quantisation of every nn.Linear."""
    import torch

    with seed_int8_warnings_contained():
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


@METHODS.register
class DynamicQuant(Method):
    """INT8 weights, activations quantised on the fly per batch (torch.ao eager, the seed notebook's INT8)."""

    NAME = "dynamic_quant"
    INPUT_FORMATS = frozenset({FORMAT_FP32, FORMAT_PRUNED})  # a pruned parent keeps its shapes (pruning.json)
    OUTPUT_FORMAT = FORMAT_DYNAMIC_INT8
    Params = DynamicQuantParams

    def apply(self, parent: Any, params: DynamicQuantParams, ctx: Any) -> Any:
        return quantize_dynamic_linear(parent.module.eval())


# --- the artefact format -----------------------------------------------------------------------------------------


def _dynamic_linears(module: Any) -> dict[str, Any]:
    import torch

    return {name: m for name, m in module.named_modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)}


def _save_dynamic_int8(module: Any, directory: Path) -> None:
    """INT8 weights as int8 tensors + per-tensor scale/zero-point in safetensors (no pickle), the rest as is."""
    import torch
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    linears = _dynamic_linears(module)
    for name, linear in linears.items():
        weight, bias = linear._packed_params._weight_bias()
        if weight.qscheme() not in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            raise ValueError(f"{name}: only per-tensor quantised weights can be saved, got {weight.qscheme()}")
        tensors[f"{name}.weight_int8"] = weight.int_repr().contiguous()
        tensors[f"{name}.weight_scale"] = torch.tensor([weight.q_scale()], dtype=torch.float64)
        tensors[f"{name}.weight_zero_point"] = torch.tensor([weight.q_zero_point()], dtype=torch.int64)
        if bias is not None:
            tensors[f"{name}.bias"] = bias.detach().contiguous()
    for key, value in module.state_dict().items():
        owner = key.rsplit(".", 1)[0]
        if owner in linears or owner.endswith("._packed_params"):
            continue  # saved above; the module's output scale/zero_point are unused by dynamic quantisation
        tensors[key] = value.detach().contiguous()
    module.config.save_pretrained(str(directory))
    write_layout_if_pruned(module, directory)
    save_file(tensors, str(directory / WEIGHTS_FILE), metadata={"format": FORMAT_DYNAMIC_INT8})
    (directory / QUANT_JSON).write_text(
        json.dumps({"scheme": "torch.ao dynamic, per-tensor", "dtype": "qint8", "modules": sorted(linears)}, indent=2)
    )


def _load_dynamic_int8(directory: Path, tokenizer: Any) -> Classifier:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False)
    tensors = load_file(str(directory / WEIGHTS_FILE))
    quantised = json.loads((directory / QUANT_JSON).read_text())["modules"]
    # Load the float tensors into the float model first: quantised Linear modules cannot take a partial state dict.
    module = apply_layout_if_pruned(AutoModelForSequenceClassification.from_config(config), directory).eval()
    packed = {
        f"{name}.{suffix}" for name in quantised for suffix in ("weight_int8", "weight_scale", "weight_zero_point")
    }
    floats = {k: v for k, v in tensors.items() if k not in packed}
    missing, unexpected = module.load_state_dict(floats, strict=False)
    expected_missing = {f"{name}.weight" for name in quantised} | {f"{name}.bias" for name in quantised}
    missing = [k for k in missing if k not in expected_missing]
    if missing or unexpected:
        raise ValueError(f"{directory / WEIGHTS_FILE}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    module = quantize_dynamic_linear(module)
    linears = _dynamic_linears(module)
    if sorted(linears) != sorted(quantised):
        raise ValueError(f"{directory / QUANT_JSON}: quantised modules differ from the rebuilt model's")
    with seed_int8_warnings_contained():
        for name, linear in linears.items():
            weight = torch._make_per_tensor_quantized_tensor(
                tensors[f"{name}.weight_int8"],
                float(tensors[f"{name}.weight_scale"][0]),
                int(tensors[f"{name}.weight_zero_point"][0]),
            )
            linear.set_weight_bias(weight, tensors.get(f"{name}.bias"))
    return TorchClassifier(module=module.eval(), tokenizer=tokenizer, format=FORMAT_DYNAMIC_INT8)


@FORMATS.register
class DynamicInt8Format(ArtefactFormat):
    """torch.ao dynamic INT8 Linear weights as int8 tensors with their scales, in safetensors (no pickle)."""

    NAME = FORMAT_DYNAMIC_INT8
    save = staticmethod(_save_dynamic_int8)
    load = staticmethod(_load_dynamic_int8)
