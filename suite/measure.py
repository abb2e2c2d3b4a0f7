"""System measurements of one variant: latency at batch 1 on real task sentences, size on disk, parameters, sparsity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from suite.models import WEIGHTS_FILE, Classifier
from suite.results import Row
from suite.specs import LatencySpec
from suite.trackers.latency import measure_latency

MIB = float(1 << 20)


def _tensors(value: Any):
    """Tensors inside a state-dict value (packed quantised Linear params are tuples of tensors)."""
    import torch

    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _tensors(item)


def weight_stats(module: Any) -> dict[str, float]:
    """Bytes of parameters + buffers (quantised weights included), parameter counts and Linear-weight sparsity."""
    import torch

    quantised = {name for name, m in module.named_modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)}
    total_bytes = 0
    param_count = 0
    nonzero = 0
    for key, value in module.state_dict().items():
        if key.rsplit(".", 1)[0] in quantised:
            continue  # a dynamic Linear's output scale/zero_point: unused, not a parameter
        for tensor in _tensors(value):
            total_bytes += tensor.numel() * tensor.element_size()
            if not tensor.is_floating_point() and not tensor.is_quantized:
                continue  # index buffers (position_ids, token_type_ids) are not parameters
            data = tensor.int_repr() - tensor.q_zero_point() if tensor.is_quantized else tensor
            if "_packed_params" in key or not key.endswith(("position_ids", "token_type_ids")):
                param_count += tensor.numel()
                nonzero += int(torch.count_nonzero(data))
    linear_zero = linear_total = 0
    for module_ in module.modules():
        weight = None
        if isinstance(module_, torch.nn.Linear):
            weight = module_.weight.detach()
        elif isinstance(module_, torch.ao.nn.quantized.dynamic.Linear):
            q = module_.weight()
            weight = q.int_repr().to(torch.int32) - q.q_zero_point()
        if weight is not None:
            linear_total += weight.numel()
            linear_zero += int(weight.numel() - torch.count_nonzero(weight))
    return {
        "param_mb": total_bytes / MIB,
        "param_count": float(param_count),
        "nonzero_param_count": float(nonzero),
        "sparsity": 100.0 * linear_zero / linear_total if linear_total else 0.0,
    }


def size_rows(variant: str, directory: Path, model: Classifier) -> list[Row]:
    stats = weight_stats(model.module)
    weights = Path(directory) / WEIGHTS_FILE
    return [
        Row(
            variant,
            "size_mb",
            weights.stat().st_size / MIB,
            "MiB",
            False,
            measurement=f"size of {WEIGHTS_FILE} on disk, MiB = 2^20 bytes",
        ),
        Row(
            variant,
            "param_mb",
            stats["param_mb"],
            "MiB",
            False,
            measurement="bytes of parameters + buffers in memory (quantised weights at their int8 size), 2^20 bytes",
        ),
        Row(
            variant,
            "param_count",
            stats["param_count"],
            "count",
            False,
            measurement="elements of all weight tensors (quantised included), index buffers excluded",
        ),
        Row(
            variant,
            "nonzero_param_count",
            stats["nonzero_param_count"],
            "count",
            False,
            measurement="non-zero elements of those tensors (quantised: int value != zero point)",
        ),
        Row(
            variant,
            "sparsity",
            stats["sparsity"],
            "%",
            None,
            measurement="share of zero weights over all Linear layers' weight matrices",
        ),
    ]


def latency_rows(
    variant: str, model: Classifier, texts: list[str], spec: LatencySpec, max_length: int, threads: int, seed: int
) -> list[Row]:
    """Model-forward latency on pre-tokenised real sentences (a seeded sample, cycled); tokenisation excluded."""
    import torch

    rng = np.random.default_rng(seed)
    sample = rng.choice(len(texts), size=min(spec.sample_size, len(texts)), replace=False)
    queries = [
        model.encode([texts[j] for j in sample[i : i + spec.batch_size]], max_length)
        for i in range(0, len(sample), spec.batch_size)
    ]
    device = next(model.module.parameters()).device if any(True for _ in model.module.parameters()) else None
    sync = torch.cuda.synchronize if device is not None and device.type == "cuda" else None
    with torch.inference_mode():
        result = measure_latency(
            model.forward,
            queries,
            warmup_runs=spec.warmup_runs,
            min_runs=spec.min_runs,
            min_seconds=spec.min_seconds,
            sync=sync,
        )
    how = (
        f"batch {spec.batch_size}, model forward only on {len(queries)} pre-tokenised queries sampled "
        f"(seed {seed}) from the task's sentences; {spec.warmup_runs} warm-up queries, then until "
        f">= {spec.min_runs} queries and >= {spec.min_seconds} s; time.perf_counter_ns per query; "
        f"torch threads {threads}; {result.runs} queries in {result.wall_seconds:.2f} s"
    )
    return [
        Row(variant, name, value, "ms", False, n=result.runs, measurement=how)
        for name, value in result.summary().items()
    ]
