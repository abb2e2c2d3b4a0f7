"""FLOPs per forward pass (PyTorch's flop counter, plus dynamic-INT8 Linear layers it does not see) and peak probe."""

from __future__ import annotations

import time
from typing import Any


def forward_flops(module: Any, encoding: dict[str, Any]) -> int:
    """FLOPs of one forward pass; a MAC counts 2. Quantised dynamic Linear ops are counted by shape (2·m·k·n)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    extra = 0

    def count_linear(layer: Any, inputs: tuple[Any, ...], _output: Any) -> None:
        nonlocal extra
        x = inputs[0]
        rows = x.numel() // x.shape[-1]
        extra += 2 * rows * layer.in_features * layer.out_features

    hooks = [
        m.register_forward_hook(count_linear)
        for m in module.modules()
        if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)
    ]
    try:
        with torch.inference_mode(), FlopCounterMode(display=False, custom_mapping=extra_flop_formulas()) as counter:
            module(**encoding)
    finally:
        for hook in hooks:
            hook.remove()
    return int(counter.get_total_flops()) + extra


def extra_flop_formulas() -> dict[Any, Any]:
    """Ops the flop counter has no formula for in this torch: CPU scaled-dot-product attention (Q·Kᵀ and A·V)."""
    import torch
    from torch.utils.flop_counter import sdpa_flop_count

    def cpu_flash_attention(query: Any, key: Any, value: Any, *_: Any, out_shape: Any = None, **__: Any) -> int:
        return sdpa_flop_count(query, key, value)  # the counter passes shapes

    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    return {op: cpu_flash_attention} if op is not None else {}


def matmul_peak_gflops(threads: int, size: int = 1024, seconds: float = 2.0) -> dict[str, Any]:
    """The machine's achievable FP32 GFLOP/s: best of repeated square matmuls with the benchmark's thread count."""
    import torch

    torch.set_num_threads(threads)
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    for _ in range(3):
        torch.mm(a, b)
    best = float("inf")
    start = time.perf_counter()
    runs = 0
    while time.perf_counter() - start < seconds or runs < 5:
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
        runs += 1
    return {
        "peak_gflops": 2 * size**3 / best / 1e9,
        "method": f"best of {runs} torch.mm {size}x{size} FP32 with {threads} threads over >= {seconds} s",
    }
