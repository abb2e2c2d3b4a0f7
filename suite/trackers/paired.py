"""Paired latency: a model and its reference timed in the same process, in short interleaved rounds.

Two latencies measured apart (two jobs, minutes apart) differ by whatever the host did in between; their ratio is
not a speedup one can trust on a shared machine. Here each round times a short block of queries of each model on the
same inputs, in a seeded random order per round (randomised multiple interleaved trials, Abedi & Brecht, ICPE 2017),
so that a slow period of the host hits both alike. The speedup is estimated from the pairs: per round the ratio of
the reference's median (or mean) to the model's, then the median over rounds with a seeded percentile bootstrap
95 % interval over rounds. One model runs at a time, in one thread pool.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from suite.trackers.latency import LatencyResult

REFERENCE, CANDIDATE = 0, 1


@dataclass(frozen=True)
class PairedResult:
    """Per-round samples (ms) of both models: `rounds[i] = (reference_ms, candidate_ms)`, each round's order, and
    the positions in `inputs` its timed queries used (the same for both models)."""

    rounds: tuple[tuple[np.ndarray, np.ndarray], ...]
    orders: tuple[tuple[int, int], ...]
    wall_seconds: float
    inputs_used: tuple[tuple[int, ...], ...] = ()
    # self-timed runs only: per model, what each timed call returned beside its duration, in call order
    details: tuple[tuple[Any, ...], tuple[Any, ...]] = ((), ())

    def samples(self, which: int) -> LatencyResult:
        """Every sample of one model (REFERENCE or CANDIDATE) across the rounds, for its absolute figures."""
        samples = np.concatenate([pair[which] for pair in self.rounds])
        return LatencyResult(
            samples_ms=samples, wall_seconds=float(sum(pair[which].sum() for pair in self.rounds)) / 1e3
        )

    def round_ratios(self, statistic: str = "median") -> np.ndarray:
        """Per round, the reference's statistic over the candidate's: > 1 means the candidate is faster.

        >>> pairs = ((np.array([2.0, 2.0]), np.array([1.0, 1.0])), (np.array([3.0]), np.array([1.0])))
        >>> PairedResult(pairs, ((0, 1), (1, 0)), 0.0).round_ratios().tolist()
        [2.0, 3.0]
        """
        reduce = {"median": np.median, "mean": np.mean}[statistic]
        return np.array([reduce(ref) / reduce(cand) for ref, cand in self.rounds], dtype=np.float64)

    def speedup(
        self, statistic: str = "median", confidence: float = 0.95, resamples: int = 2000, seed: int = 0
    ) -> tuple[float, float, float]:
        """(estimate, ci_low, ci_high): the median of the per-round ratios and its percentile-bootstrap interval,
        resampling rounds with a seeded generator."""
        return median_with_ci(self.round_ratios(statistic), confidence, resamples, seed)


def median_with_ci(values: np.ndarray, confidence: float, resamples: int, seed: int) -> tuple[float, float, float]:
    """The median of `values` and its seeded percentile-bootstrap interval.

    >>> median_with_ci(np.array([1.0, 1.0, 1.0]), 0.95, 100, 0)
    (1.0, 1.0, 1.0)
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no rounds to estimate a speedup from")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, values.size, size=(resamples, values.size))
    medians = np.median(values[picks], axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(medians, [alpha, 1.0 - alpha])
    return float(np.median(values)), float(low), float(high)


def measure_paired(
    reference: Callable[[Any], Any],
    candidate: Callable[[Any], Any],
    inputs: Sequence[Any],
    *,
    warmup_runs: int,
    block: int,
    min_rounds: int,
    min_runs: int,
    min_seconds: float,
    seed: int,
    switch_warmup: int = 0,
    sync: Callable[[], None] | None = None,
    clock: Callable[[], int] = time.perf_counter_ns,
    progress: Callable[[int, int], None] | None = None,
    self_timed: bool = False,
) -> PairedResult:
    """Time both models in rounds until there are `min_rounds` rounds and each model has at least `min_runs`
    queries and `min_seconds` of timed queries. A round runs `block` queries of each model, one model after the
    other in a seeded random order, both on the same inputs (`inputs` cycled from where the last round stopped);
    every query is timed alone with `clock` (`sync` before each stop on an accelerator). `switch_warmup` untimed
    queries (the inputs that follow the block) run before each model's block: they refill the caches with that
    model's weights after the other model ran, so a block times the model as it runs in service, not cold."""
    if not inputs:
        raise ValueError("paired timing needs at least one input")
    if block < 1 or min_rounds < 2:
        raise ValueError(f"paired timing needs block >= 1 and min_rounds >= 2 (got {block}, {min_rounds})")
    models = (reference, candidate)
    for run in models:
        for i in range(warmup_runs):
            run(inputs[i % len(inputs)])
    if sync:
        sync()
    rng = np.random.default_rng(seed)
    rounds: list[tuple[np.ndarray, np.ndarray]] = []
    orders: list[tuple[int, int]] = []
    used: list[tuple[int, ...]] = []
    details: tuple[list[Any], list[Any]] = ([], [])
    counts, spent = [0, 0], [0, 0]
    start, position = clock(), 0
    min_ns = min_seconds * 1e9
    while len(rounds) < min_rounds or min(counts) < min_runs or min(spent) < min_ns:
        order = (REFERENCE, CANDIDATE) if rng.random() < 0.5 else (CANDIDATE, REFERENCE)
        samples: list[np.ndarray] = [np.empty(0), np.empty(0)]
        for which in order:
            run, timed = models[which], np.empty(block, dtype=np.float64)
            for j in range(switch_warmup):  # untimed: the caches refill with this model's weights after the switch
                run(inputs[(position + block + j) % len(inputs)])
            for j in range(block):
                x = inputs[(position + j) % len(inputs)]
                if self_timed:
                    timed[j], detail = run(x)
                    details[which].append(detail)
                    continue
                t0 = clock()
                run(x)
                if sync:
                    sync()
                timed[j] = clock() - t0
            samples[which] = timed / 1e6
            counts[which] += block
            spent[which] += int(timed.sum())
        used.append(tuple((position + j) % len(inputs) for j in range(block)))
        position += block
        rounds.append((samples[REFERENCE], samples[CANDIDATE]))
        orders.append(order)
        if progress:
            progress(len(rounds), min(counts))
    return PairedResult(
        rounds=tuple(rounds),
        orders=tuple(orders),
        wall_seconds=(clock() - start) / 1e9,
        inputs_used=tuple(used),
        details=(tuple(details[REFERENCE]), tuple(details[CANDIDATE])),
    )
