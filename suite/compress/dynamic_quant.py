"""The seed's INT8: PyTorch eager dynamic quantisation of the Linear layers (torch.ao, deprecated but present)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from suite.compress.base import METHODS, Method
from suite.formats import FORMAT_DYNAMIC_INT8, FORMAT_FP32, FORMAT_PRUNED


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


@METHODS.register("dynamic_quant")
class DynamicQuant(Method):
    """INT8 weights, activations quantised on the fly per batch (torch.ao eager, the seed notebook's INT8)."""

    NAME = "dynamic_quant"
    INPUT_FORMATS = frozenset({FORMAT_FP32, FORMAT_PRUNED})  # a pruned parent keeps its shapes (pruning.json)
    OUTPUT_FORMAT = FORMAT_DYNAMIC_INT8
    Params = DynamicQuantParams

    def apply(self, parent: Any, params: DynamicQuantParams, ctx: Any) -> Any:
        return quantize_dynamic_linear(parent.module.eval())
