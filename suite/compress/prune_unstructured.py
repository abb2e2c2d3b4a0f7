"""The seed's pruning: L1 unstructured magnitude pruning of every Linear weight, made permanent (zeros stay dense)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from suite.compress.base import METHODS, Method
from suite.formats import FORMAT_FP32


@dataclass(frozen=True)
class L1UnstructuredParams:
    amount: float
    """Fraction of each Linear layer's weights set to zero, in (0, 1)."""
    include_classifier: bool = True
    """Prune the classification head too (the seed pruned every Linear layer)."""

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int | float) or not 0 < self.amount < 1:
            raise ValueError(f"amount: {self.amount!r} is out of range (a fraction strictly between 0 and 1)")


@METHODS.register
class L1Unstructured(Method):
    """Zero the smallest-magnitude share of each Linear weight (the seed's pruning; dense kernels gain nothing)."""

    NAME = "l1_unstructured"
    INPUT_FORMATS = frozenset({FORMAT_FP32})
    OUTPUT_FORMAT = FORMAT_FP32
    Params = L1UnstructuredParams

    def apply(self, parent: Any, params: L1UnstructuredParams, ctx: Any) -> Any:
        import torch
        from torch.nn.utils import prune

        model = parent.module
        for name, module in model.named_modules():
            if not isinstance(module, torch.nn.Linear):
                continue
            if not params.include_classifier and name.startswith("classifier"):
                continue
            prune.l1_unstructured(module, name="weight", amount=float(params.amount))
            prune.remove(module, "weight")
        return model
