"""Weight statistics of a torch module: bytes in memory, parameter counts, Linear-weight sparsity."""

from __future__ import annotations

from typing import Any

MIB = float(1 << 20)


def _tensors(value: Any):
    """Tensors inside a state-dict value (packed quantised Linear params are tuples of tensors)."""
    import torch

    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _tensors(item)


def torch_weight_stats(module: Any) -> dict[str, float]:
    """Bytes of parameters + buffers (quantised weights included), parameter counts and Linear-weight sparsity.

    A tensor shared by several names (a causal LM's lm_head tied to its embeddings) counts once.
    """
    import torch

    quantised = {name for name, m in module.named_modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)}
    total_bytes = 0
    param_count = 0
    nonzero = 0
    seen: set[tuple[int, int, tuple[int, ...]]] = set()
    for key, value in module.state_dict().items():
        if key.rsplit(".", 1)[0] in quantised:
            continue  # a dynamic Linear's output scale/zero_point: unused, not a parameter
        for tensor in _tensors(value):
            if not tensor.is_quantized:
                storage = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
                if storage in seen:
                    continue
                seen.add(storage)
            total_bytes += tensor.numel() * tensor.element_size()
            if not tensor.is_floating_point() and not tensor.is_quantized:
                continue  # index buffers (position_ids, token_type_ids) are not parameters
            data = tensor.int_repr() - tensor.q_zero_point() if tensor.is_quantized else tensor
            if "_packed_params" in key or not key.endswith(("position_ids", "token_type_ids")):
                param_count += tensor.numel()
                nonzero += int(torch.count_nonzero(data))
    linear_zero = linear_total = 0
    seen_weights: set[int] = set()
    for module_ in module.modules():
        weight = None
        if isinstance(module_, torch.nn.Linear):
            weight = module_.weight.detach()
        elif isinstance(module_, torch.ao.nn.quantized.dynamic.Linear):
            q = module_.weight()
            weight = q.int_repr().to(torch.int32) - q.q_zero_point()
        if weight is not None and isinstance(module_, torch.nn.Linear):
            if module_.weight.data_ptr() in seen_weights:
                continue
            seen_weights.add(module_.weight.data_ptr())
        if weight is not None:
            linear_total += weight.numel()
            linear_zero += int(weight.numel() - torch.count_nonzero(weight))
    return {
        "param_mb": total_bytes / MIB,
        "param_count": float(param_count),
        "nonzero_param_count": float(nonzero),
        "sparsity": 100.0 * linear_zero / linear_total if linear_total else 0.0,
    }
