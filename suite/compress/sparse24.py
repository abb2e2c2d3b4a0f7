"""Semi-structured 2:4 sparsity: in every group of 4 consecutive weights along a Linear's input dimension, the 2 of
largest magnitude are kept and the other 2 set to zero.

On CPU there are no 2:4 kernels, so the variant is stored as a dense FP32 artefact with exactly 50 % zeros in those
layers (format "torch-fp32", so chains such as sparse_24 -> torchao_int8_dynamic work) and variant.json says so
under "build". On a CUDA GPU of compute capability >= 8.0 `to_semi_structured` swaps the weights for
`torch.sparse.SparseSemiStructuredTensor` (fp16/bf16), whose matmuls skip the zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from suite.compress.base import METHODS, Method
from suite.families import CLASSIFIER, LLM
from suite.formats import FORMAT_FP32

GROUP = 4  # weights per group along the input dimension
KEEP = 2  # of which the largest |w| are kept
HEAD_NAMES = frozenset({"pooler", "pre_classifier", "classifier", "lm_head"})  # module-name parts of an output head
SEMI_STRUCTURED_DTYPES = ("float16", "bfloat16")  # what torch's 2:4 kernels take
MIN_CUDA_CAPABILITY = (8, 0)  # Ampere: the first GPUs with sparse tensor cores


def mask_24(weight: Any) -> Any:
    """Boolean keep-mask of a 2-D weight: per group of 4 along the input dimension (the last), the 2 largest |w|.

    Ties go to the lower index (a stable sort), so the mask is deterministic.

    >>> import torch
    >>> mask_24(torch.tensor([[0.1, -0.9, 0.5, 0.2, 1.0, 1.0, 1.0, -2.0]])).int().tolist()
    [[0, 1, 1, 0, 1, 0, 0, 1]]
    """
    import torch

    rows, cols = weight.shape
    if cols % GROUP:
        raise ValueError(f"the input dimension {cols} is not a multiple of {GROUP}")
    groups = weight.detach().abs().reshape(rows, cols // GROUP, GROUP)
    keep = torch.argsort(groups, dim=-1, descending=True, stable=True)[..., :KEEP]
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, keep, True)
    return mask.reshape(rows, cols)


def is_24_sparse(weight: Any) -> bool:
    """True when every group of 4 consecutive weights along the input dimension holds at least 2 zeros."""
    rows, cols = weight.shape
    if cols % GROUP:
        return False
    zeros = (weight.detach() == 0).reshape(rows, cols // GROUP, GROUP).sum(dim=-1)
    return bool((zeros >= GROUP - KEEP).all())


def _is_head(name: str) -> bool:
    return bool(HEAD_NAMES & set(name.split(".")))


def sparsify_24(module: Any, include_head: bool, within: str | None = None) -> dict[str, Any]:
    """Apply 2:4 magnitude masks in place to every nn.Linear (the head's only with `include_head`); what was done."""
    import torch

    layers = {
        name: layer
        for name, layer in module.named_modules()
        if isinstance(layer, torch.nn.Linear)
        and (include_head or not _is_head(name))
        and (within is None or within in name.split("."))
    }
    if not layers:
        raise ValueError(f"the model has no Linear layer to sparsify{f' inside {within!r} modules' if within else ''}")
    zeros = total = 0
    with torch.no_grad():
        for name, layer in layers.items():
            try:
                mask = mask_24(layer.weight)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}; 2:4 sparsity needs it divisible by {GROUP}") from None
            layer.weight.mul_(mask)
            total += layer.weight.numel()
            zeros += int(layer.weight.numel() - torch.count_nonzero(layer.weight))
    return {
        "pattern": f"{KEEP}:{GROUP} magnitude (the {KEEP} largest |w| of every {GROUP} along the input dimension)",
        "modules": sorted(layers),
        "zero_share_pct": 100.0 * zeros / total,
        "storage": "dense FP32 with the zeros stored (no 2:4 kernels on CPU); on CUDA (compute capability >= 8.0) "
        "suite.compress.sparse24.to_semi_structured converts the weights to fp16/bf16 2:4 sparse tensors",
    }


@dataclass(frozen=True)
class Sparse24Params:
    include_head: bool = False
    """Sparsify the classification head too (pooler, pre-classifier, classifier); its outputs are few and it is the
    layer accuracy is most sensitive to, and torch's 2:4 kernels need at least 32 output rows."""

    within: str | None = None
    """Only Linear layers inside modules of this name (e.g. `mlp`: a causal LM's MLPs); None for every layer."""

    def __post_init__(self) -> None:
        if not isinstance(self.include_head, bool):
            raise ValueError(f"include_head: {self.include_head!r} is not a boolean (true or false)")
        if self.within is not None and (not isinstance(self.within, str) or not self.within):
            raise ValueError(f"within: {self.within!r} is not a module name such as 'mlp'")


@METHODS.register
class Sparse24(Method):
    """Semi-structured 2:4 magnitude sparsity of every encoder Linear (dense FP32 zeros; 2:4 kernels on CUDA only)."""

    NAME = "sparse_24"
    INPUT_FORMATS = frozenset({FORMAT_FP32})
    OUTPUT_FORMAT = FORMAT_FP32
    Params = Sparse24Params
    FAMILIES = frozenset({CLASSIFIER, LLM})

    def apply(self, parent: Any, params: Sparse24Params, ctx: Any) -> Any:
        module = parent.module.eval()
        done = sparsify_24(module, params.include_head, params.within)
        if ctx is not None:
            ctx.info["sparse_24"] = done
        return module


def to_semi_structured(module: Any) -> dict[str, Any]:
    """Swap the weight of every 2:4-sparse nn.Linear of a CUDA fp16/bf16 module for a SparseSemiStructuredTensor.

    Needs the module already on a CUDA device of compute capability >= 8.0 in float16 or bfloat16 (raises ValueError
    saying so otherwise). Layers whose shape torch's kernels do not take (e.g. a 2-row classifier) stay dense and are
    listed with the reason; layers that are not 2:4 sparse are left alone. Returns {"converted": [...], "dense": {…}}.
    """
    import torch
    from torch.sparse import SparseSemiStructuredTensor, to_sparse_semi_structured

    layers = {
        name: layer
        for name, layer in module.named_modules()
        if isinstance(layer, torch.nn.Linear) and is_24_sparse(layer.weight)
    }
    if not layers:
        raise ValueError("no nn.Linear weight is 2:4 sparse: build the variant with method sparse_24 first")
    first = next(iter(layers.values())).weight
    if first.device.type != "cuda":
        raise ValueError(f"2:4 sparse kernels need a CUDA device, the module is on {first.device}: move it first")
    capability = torch.cuda.get_device_capability(first.device)
    if capability < MIN_CUDA_CAPABILITY:
        raise ValueError(
            f"2:4 sparse kernels need CUDA compute capability >= {MIN_CUDA_CAPABILITY}, {first.device} has "
            f"{capability}: run this variant dense"
        )
    if str(first.dtype).removeprefix("torch.") not in SEMI_STRUCTURED_DTYPES:
        raise ValueError(f"2:4 sparse kernels take {list(SEMI_STRUCTURED_DTYPES)}, the weights are {first.dtype}")
    # the shape limits of the backend to_sparse_semi_structured picks (cuSPARSELt, else CUTLASS)
    backend = (
        torch.sparse.SparseSemiStructuredTensorCUTLASS
        if SparseSemiStructuredTensor._FORCE_CUTLASS
        else torch.sparse.SparseSemiStructuredTensorCUSPARSELT
    )
    limits = backend._DTYPE_SHAPE_CONSTRAINTS[first.dtype]
    converted, dense = [], {}
    for name, layer in layers.items():
        rows, cols = layer.weight.shape
        if rows % limits.sparse_min_rows or cols % limits.sparse_min_cols:
            dense[name] = (
                f"shape {rows}x{cols} is not a multiple of ({limits.sparse_min_rows}, {limits.sparse_min_cols})"
            )
            continue
        layer.weight = torch.nn.Parameter(to_sparse_semi_structured(layer.weight.detach()), requires_grad=False)
        converted.append(name)
    return {"converted": converted, "dense": dense}


def semi_structured_on_cuda(classifier: Any, dtype: str = "float16") -> dict[str, Any]:
    """Move a loaded 2:4 variant (a suite.models.TorchClassifier) to CUDA in `dtype` and convert its 2:4 weights."""
    import torch

    if dtype not in SEMI_STRUCTURED_DTYPES:
        raise ValueError(f"dtype: '{dtype}' is not one of {list(SEMI_STRUCTURED_DTYPES)}")
    classifier.to_device("cuda")
    classifier.module = classifier.module.to(getattr(torch, dtype))
    return to_semi_structured(classifier.module)
