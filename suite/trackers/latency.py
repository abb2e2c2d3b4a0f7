"""Single-stream latency: warm-up, then timed queries until both a minimum count and a minimum duration are met."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

UNSTABLE_IQR_OVER_MEDIAN = 0.1  # torch.utils.benchmark warns above this spread


def percentile_upper_bound(samples_ms: np.ndarray, quantile: float, confidence: float) -> float:
    """Conservative upper confidence bound of a latency percentile from order statistics (as MLPerf's early stopping).

    The k-th smallest sample is >= the true q-quantile with probability P(Binomial(n, q) <= k - 1); the bound is the
    smallest such sample reaching `confidence`, and inf when there are too few samples to reach it.

    >>> percentile_upper_bound(np.arange(1.0, 101.0), 0.5, 0.95)  # median of 1..100: k = 59
    59.0
    """
    from scipy.stats import binom

    ordered = np.sort(np.asarray(samples_ms, dtype=np.float64))
    n = len(ordered)
    ks = np.arange(1, n + 1)
    reached = np.nonzero(binom.cdf(ks - 1, n, quantile) >= confidence)[0]
    return float(ordered[reached[0]]) if len(reached) else float("inf")


@dataclass(frozen=True)
class LatencyResult:
    samples_ms: np.ndarray
    wall_seconds: float
    overhead_ms: float = 0.0  # the timer's own cost per query, measured on an empty call

    @property
    def runs(self) -> int:
        return len(self.samples_ms)

    def summary(self, confidence: float = 0.95) -> dict[str, float]:
        """Mean, std, percentiles (linear interpolation), IQR, CV and conservative p90/p99 bounds, in ms.

        >>> LatencyResult(np.arange(1.0, 101.0), 1.0).summary()["latency_p50_ms"]
        50.5
        """
        s = self.samples_ms
        p25, p50, p75, p90, p99 = np.percentile(s, [25, 50, 75, 90, 99])
        mean = float(np.mean(s))
        std = float(np.std(s, ddof=1)) if len(s) > 1 else 0.0
        return {
            "latency_mean_ms": mean,
            "latency_std_ms": std,
            "latency_p50_ms": float(p50),
            "latency_p90_ms": float(p90),
            "latency_p99_ms": float(p99),
            "latency_iqr_ms": float(p75 - p25),
            "latency_cv_pct": 100.0 * std / mean if mean else float("nan"),
            "latency_p90_upper_ms": percentile_upper_bound(s, 0.90, confidence),
            "latency_p99_upper_ms": percentile_upper_bound(s, 0.99, confidence),
        }

    @property
    def unstable(self) -> bool:
        """IQR / median above 0.1: the spread is too wide for the median to be trusted to a few percent."""
        p25, p50, p75 = np.percentile(self.samples_ms, [25, 50, 75])
        return bool((p75 - p25) / p50 > UNSTABLE_IQR_OVER_MEDIAN) if p50 > 0 else True


def timer_overhead_ns(clock: Callable[[], int] = time.perf_counter_ns, calls: int = 10_000) -> float:
    """Median cost of timing one query with an empty body (two clock reads and the call), in ns."""

    def nothing(_x: Any) -> None:
        return None

    samples = np.empty(calls)
    for i in range(calls):
        t0 = clock()
        nothing(i)
        samples[i] = clock() - t0
    return float(np.median(samples))


def measure_latency_cuda(
    run: Callable[[Any], Any], inputs: Sequence[Any], *, warmup_runs: int, min_runs: int, min_seconds: float
) -> LatencyResult:
    """On CUDA: each query timed with a pair of CUDA events (device time, no host-side jitter), both minimums met."""
    import torch

    for i in range(warmup_runs):
        run(inputs[i % len(inputs)])
    torch.cuda.synchronize()
    samples: list[float] = []
    start = time.perf_counter()
    i = 0
    while len(samples) < min_runs or time.perf_counter() - start < min_seconds:
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        run(inputs[i % len(inputs)])
        end.record()
        end.synchronize()
        samples.append(begin.elapsed_time(end))  # ms
        i += 1
    return LatencyResult(samples_ms=np.asarray(samples), wall_seconds=time.perf_counter() - start)


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
    """Time `run(inputs[i % len(inputs)])` per query on the host clock; `sync` runs before each stop."""
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
