"""Single-stream latency: warm-up, then timed queries until both a minimum count and a minimum duration are met."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LatencyResult:
    samples_ms: np.ndarray
    wall_seconds: float

    @property
    def runs(self) -> int:
        return len(self.samples_ms)

    def summary(self) -> dict[str, float]:
        """Mean, sample std, and the p50/p90/p99 percentiles (linear interpolation) in ms.

        >>> LatencyResult(np.arange(1.0, 101.0), 1.0).summary()["latency_p50_ms"]
        50.5
        """
        s = self.samples_ms
        p50, p90, p99 = np.percentile(s, [50, 90, 99])
        return {
            "latency_mean_ms": float(np.mean(s)),
            "latency_std_ms": float(np.std(s, ddof=1)) if len(s) > 1 else 0.0,
            "latency_p50_ms": float(p50),
            "latency_p90_ms": float(p90),
            "latency_p99_ms": float(p99),
        }


def measure_latency(
    run: Callable[[Any], Any],
    inputs: Sequence[Any],
    *,
    warmup_runs: int,
    min_runs: int,
    min_seconds: float,
    sync: Callable[[], None] | None = None,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> LatencyResult:
    """Time `run(inputs[i % len(inputs)])` per query; `sync` (e.g. torch.cuda.synchronize) runs before each stop."""
    if not inputs:
        raise ValueError("latency needs at least one input")
    for i in range(warmup_runs):
        run(inputs[i % len(inputs)])
    if sync:
        sync()
    samples: list[int] = []
    start = clock()
    elapsed = 0
    min_ns = min_seconds * 1e9
    i = 0
    while len(samples) < min_runs or elapsed < min_ns:
        x = inputs[i % len(inputs)]
        t0 = clock()
        run(x)
        if sync:
            sync()
        t1 = clock()
        samples.append(t1 - t0)
        elapsed = t1 - start
        i += 1
    return LatencyResult(samples_ms=np.asarray(samples, dtype=np.float64) / 1e6, wall_seconds=elapsed / 1e9)
