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


# Decoder layouts whose per-token FLOPs `decode_flops_per_token` counts from the config alone: attention with
# query/key/value/output projections (grouped-query where num_key_value_heads < num_attention_heads) and a gated MLP of
# three matrices (gate, up, down), the same shapes in every layer, an output head over the vocabulary.
GATED_DECODERS = ("llama", "mistral", "qwen2")


def decode_flops_per_token(config: Any, context: float) -> tuple[float, str]:
    """FLOPs of one decoded token at batch 1 with `context` keys in the KV cache (the token's own included), counted
    from a transformers config of a `GATED_DECODERS` layout, and how: every matrix product a MAC at 2 FLOPs, as
    torch's flop counter counts them (norms, rotary, softmax and activations are not counted; a mean context gives
    the mean over a decode's steps, as attention's FLOPs grow linearly with it).

    >>> from types import SimpleNamespace as C
    >>> cfg = C(model_type="llama", hidden_size=8, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
    ...         head_dim=4, intermediate_size=16, vocab_size=10)
    >>> decode_flops_per_token(cfg, context=5)[0]  # 2 x (qkv 256 + o 128 + attention 160 + MLP 768) + head 160
    2784.0
    """
    kind = getattr(config, "model_type", None)
    if kind not in GATED_DECODERS:
        raise ValueError(
            f"FLOPs per token are counted from the config for the decoder layouts {list(GATED_DECODERS)} (q/k/v/o "
            f"attention, gated MLP); this model's model_type is {kind!r}"
        )
    hidden, layers = int(config.hidden_size), int(config.num_hidden_layers)
    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(config, "head_dim", None) or hidden // heads)
    ffn, vocab = int(config.intermediate_size), int(config.vocab_size)
    projections = 2 * hidden * (heads + 2 * kv_heads) * head_dim + 2 * heads * head_dim * hidden
    attention = 2 * 2 * heads * head_dim * context  # scores Q·Kᵀ and the weighted sum A·V over the cache
    mlp = 3 * 2 * hidden * ffn
    flops = layers * (projections + attention + mlp) + 2 * hidden * vocab
    how = (
        f"counted from the config ({kind}: {layers} layers, hidden {hidden}, {heads} query and {kv_heads} key/value "
        f"heads of {head_dim}, MLP {ffn}, vocabulary {vocab}) at a mean context of {context:g} keys; matrix "
        "products only, a MAC counts 2"
    )
    return float(flops), how
