"""Half-precision casts (FP16, BF16) of every floating-point weight: the variants NaN/inf stability is run on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from suite.compress.base import METHODS, Method
from suite.formats import FORMAT_FP32, FORMAT_HALF

DTYPES = ("float16", "bfloat16")


@dataclass(frozen=True)
class CastParams:
    dtype: str = "float16"
    """Target dtype of every floating-point parameter and buffer: float16 or bfloat16."""

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype: '{self.dtype}' is not supported (use one of {list(DTYPES)})")


@METHODS.register("cast")
class Cast(Method):
    """Cast all floating-point weights to float16 or bfloat16 (inference in that dtype; logits read back as FP32)."""

    NAME = "cast"
    INPUT_FORMATS = frozenset({FORMAT_FP32})
    OUTPUT_FORMAT = FORMAT_HALF
    Params = CastParams

    def apply(self, parent: Any, params: CastParams, ctx: Any) -> Any:
        import torch

        return parent.module.to(getattr(torch, params.dtype)).eval()
