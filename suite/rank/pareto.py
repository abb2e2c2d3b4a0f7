"""Pareto fronts of a group, with each variant's bootstrap probability of being on the front."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from suite.rank.groups import OBJECTIVES, Candidate, Group, Objective
from suite.rank.standings import intervals_overlap

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 42
MIN_RESAMPLES = 200
RESAMPLE_BUDGET = 200_000  # variants × resamples per group when `adaptive` (the site: 1 000 variants get 200)


def _better(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[j, i] matrices of rows compared on every axis (lower is better): j at least as good as i everywhere, and j
    better than i somewhere. One 2-D comparison per axis: a reduction over a 3-D (rows, rows, axes) array is several
    times slower, and a 1 000-variant group has a million pairs."""
    count = len(points)
    at_least = np.ones((count, count), dtype=bool)
    better = np.zeros((count, count), dtype=bool)
    for axis in np.asarray(points, dtype=float).T:
        at_least &= axis[:, None] <= axis[None, :]
        better |= axis[:, None] < axis[None, :]
    return at_least, better


def pareto_mask(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """Which rows are non-dominated: no other row is at least as good on every axis and better on one.

    >>> pareto_mask(np.array([[90.0, 10.0], [89.0, 5.0], [88.0, 6.0]]), [True, False]).tolist()
    [True, True, False]
    """
    points = np.where(np.asarray(maximize, dtype=bool), -values, values)  # lower is better on every axis
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    at_least, better = _better(points)
    return ~(at_least & better).any(axis=0)


def indistinct(candidates: Sequence[Candidate], objectives: Sequence[Objective]) -> np.ndarray:
    """[j, i]: on every axis where j is better than i, both were measured with intervals and they overlap, so j is
    not distinguishable from i there (intervals_overlap). A j that dominates i on the measured values and is
    indistinct from it is a tie: two variants whose speedup and accuracy intervals overlap, and that are alike on
    the axes without intervals (size on disk), are ties.

    >>> from suite.rank.groups import Measure
    >>> def c(name, accuracy, speedup):
    ...     return Candidate(name, "m", "", "hw", {
    ...         "accuracy": Measure(accuracy[0], ci_low=accuracy[1], ci_high=accuracy[2]),
    ...         "speedup_p50": Measure(speedup[0], ci_low=speedup[1], ci_high=speedup[2]),
    ...         "size_mb": Measure(50.0)})
    >>> a, b = c("a", (90.0, 88.0, 92.0), (2.0, 1.9, 2.1)), c("b", (89.0, 87.0, 91.0), (1.95, 1.85, 2.05))
    >>> far = c("far", (80.0, 79.0, 81.0), (1.3, 1.2, 1.4))
    >>> axes = OBJECTIVES[:3]
    >>> indistinct([a, b, far], axes).astype(int).tolist()
    [[1, 1, 0], [1, 1, 0], [1, 1, 1]]
    """
    count = len(candidates)
    alike = np.ones((count, count), dtype=bool)
    for objective in objectives:
        measures = [c.metrics.get(objective.metric) for c in candidates]
        values = np.array([c.value(objective.metric) for c in candidates], dtype=float)
        low, high = (
            np.array([np.nan if m is None or getattr(m, end) is None else getattr(m, end) for m in measures], float)
            for end in ("ci_low", "ci_high")
        )
        better = values[:, None] > values[None, :] if objective.maximize else values[:, None] < values[None, :]
        alike &= ~better | intervals_overlap(low[:, None], high[:, None], low[None, :], high[None, :])
    return alike


@dataclass(frozen=True)
class ParetoEntry:
    """A ranked variant: on the front or not, who dominates it, and P(on the front) under accuracy resampling.
    `tied_with`: those of `dominated_by` it is a tie with (indistinct: their intervals overlap on every axis where
    they are better), so dominated by them only on the measured values."""

    variant: str
    on_front: bool
    dominated_by: tuple[str, ...]
    probability: float
    tied_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParetoResult:
    group: Group
    objectives: tuple[Objective, ...]  # the axes actually used
    skipped: tuple[tuple[str, str], ...]  # (metric, why it was not an axis)
    entries: tuple[ParetoEntry, ...]
    unranked: tuple[tuple[str, str], ...]  # (variant, why it could not be ranked)
    resamples: int

    @cached_property
    def _by_name(self) -> dict[str, ParetoEntry]:
        return {e.variant: e for e in self.entries}

    def entry(self, variant: str) -> ParetoEntry | None:
        return self._by_name.get(variant)

    @property
    def front(self) -> tuple[str, ...]:
        return tuple(e.variant for e in self.entries if e.on_front)


def _all_samples(
    ranked: Sequence[Candidate], resamples: int, rng: np.random.Generator, quality: str = "accuracy"
) -> np.ndarray:
    """Bootstrap resamples of every candidate's quality metric (accuracy), one column each."""
    samples = np.empty((resamples, len(ranked)))
    binomial: list[int] = []
    for k, candidate in enumerate(ranked):
        measure = candidate.metrics[quality]
        value = float(measure.value)  # type: ignore[arg-type]  # ranked candidates have a finite accuracy
        # A percentage over n instances: a parametric bootstrap (binomial) reproduces its sampling spread exactly.
        if measure.n and measure.n > 0 and 0.0 <= value <= 100.0:
            binomial.append(k)
        elif (
            measure.ci_low is not None
            and measure.ci_high is not None
            and math.isfinite(measure.ci_high - measure.ci_low)
        ):
            sd = (measure.ci_high - measure.ci_low) / (2 * 1.959964)
            samples[:, k] = rng.normal(value, max(sd, 0.0), resamples)
        else:
            samples[:, k] = value  # no n and no CI: no uncertainty to propagate
    if binomial:
        n = np.array([ranked[k].metrics[quality].n for k in binomial], dtype=np.int64)
        p = np.array([ranked[k].metrics[quality].value for k in binomial], dtype=float) / 100.0
        samples[:, binomial] = rng.binomial(n, p, size=(resamples, len(binomial))) / n * 100.0
    return samples


TOP_RIVALS = 16  # rivals per variant checked for every resample at once; weaker ones only where resamples stay open


def _front_probabilities(samples: np.ndarray, le_fixed: np.ndarray, strict_fixed: np.ndarray) -> np.ndarray:
    """Each variant's share of resamples in which no rival dominates it (exact; every resample counts).

    In resample r, j dominates i when j is at least as good on every fixed axis (`le_fixed[j, i]`) and its resampled
    accuracy is higher, or equal with j strictly better on a fixed axis (`strict_fixed[j, i]`). Checking every rival
    in every resample is a (resamples × variants × variants) array, 200 million elements for 1 000 variants, so the
    rivals that can matter are found first and the strongest settle most resamples in one array operation.
    """
    resamples, count = samples.shape
    low, high = samples.min(axis=0), samples.max(axis=0)
    rival = le_fixed.copy()
    np.fill_diagonal(rival, False)
    # A rival whose worst resample beats i's best dominates i in every resample: no per-resample work needed.
    beats_always = low[:, None] > high[None, :]
    beats_always |= (low[:, None] >= high[None, :]) & strict_fixed
    probabilities = np.where((rival & beats_always).any(axis=0), 0.0, 1.0)
    # A rival never reaching i's worst resample never dominates it.
    possible = rival & (high[:, None] >= low[None, :])
    possible[:, probabilities == 0] = False
    # First pass: each variant against its strongest rivals (highest mean resample: they beat it most often), every
    # resample at once; they settle most resamples.
    strongest_first = np.argsort(-samples.mean(axis=0), kind="stable")
    variants, ranks = np.nonzero(possible.T[:, strongest_first])  # i and the strength rank of each rival of i
    starts = np.flatnonzero(np.r_[True, variants[1:] != variants[:-1]]) if len(variants) else variants
    position = np.arange(len(variants)) - np.repeat(starts, np.diff(np.r_[starts, len(variants)]))
    variants, rivals = variants[position < TOP_RIVALS], strongest_first[ranks[position < TOP_RIVALS]]
    starts = np.flatnonzero(np.r_[True, variants[1:] != variants[:-1]]) if len(variants) else variants
    beaten = np.zeros((resamples, count), dtype=bool)
    # In blocks of 64 variants: a block's arrays stay in the CPU cache, which is several times faster.
    for first in range(0, len(starts), 64):
        pairs = slice(starts[first], starts[first + 64] if first + 64 < len(starts) else len(variants))
        theirs, ours = samples[:, rivals[pairs]], samples[:, variants[pairs]]
        hit = (theirs > ours) | ((theirs == ours) & strict_fixed[rivals[pairs], variants[pairs]])
        block_starts = starts[first : first + 64] - starts[first]
        beaten[:, variants[pairs][block_starts]] = np.logical_or.reduceat(hit, block_starts, axis=1)
    # Second pass, exact: the rivals left out, only in the resamples still open that one of them can reach.
    left_out = possible
    left_out[rivals, variants] = False
    reach = np.where(left_out, high[:, None], -np.inf).max(axis=0)  # the best resample of any rival left out
    open_resamples, open_variants = np.nonzero(~beaten & (samples <= reach[None, :]))
    for block in range(0, len(open_variants), 256):
        r, i = open_resamples[block : block + 256], open_variants[block : block + 256]
        theirs, ours = samples[r], samples[r, i][:, None]  # (cells, variants), (cells, 1)
        hit = (theirs > ours) | ((theirs == ours) & strict_fixed[:, i].T)
        beaten[r, i] = (hit & left_out[:, i].T).any(axis=1)
    measured = probabilities > 0
    probabilities[measured] = 1.0 - beaten[:, measured].mean(axis=0)
    return probabilities


def pareto(
    group: Group,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    adaptive: bool = False,
    objectives: Sequence[Objective] = OBJECTIVES,
) -> ParetoResult:
    """The non-dominated variants of a group and each variant's bootstrap probability of being on the front.

    Accuracy (the first objective: `objectives[0]`, a family's quality metric) is resampled independently per variant
    (binomial on its n instances, else normal from its CI); speed (the paired speedup of the classifier), size,
    memory and energy are taken as measured. A dominated variant whose dominators are indistinct from it (their
    speedup and accuracy intervals overlap) names them in `tied_with`.
    With `adaptive`, groups over 200 variants get fewer resamples (see RESAMPLE_BUDGET).
    Required axes missing for a variant, or timed on a contended host (Candidate.unrankable), leave it unranked (with
    the reason); an optional axis missing for any variant is dropped for the whole group (and the result says so).
    """
    wanted = tuple(objectives)
    unranked: list[tuple[str, str]] = []
    ranked: list[Candidate] = []
    for candidate in group.candidates:
        problems = [p for o in wanted if o.required for p in [candidate.unrankable(o.metric)] if p]
        if problems:
            unranked.append((candidate.variant, "; ".join(problems)))
        else:
            ranked.append(candidate)
    used: list[Objective] = []
    skipped: list[tuple[str, str]] = []
    for objective in wanted:
        if objective.required:
            used.append(objective)
            continue
        lacking = [c.variant for c in ranked if c.unrankable(objective.metric) is not None]
        if not ranked or len(lacking) == len(ranked):
            skipped.append((objective.metric, "not measured"))
        elif lacking:
            shown = ", ".join(lacking[:3]) + (f" and {len(lacking) - 3} more" if len(lacking) > 3 else "")
            skipped.append((objective.metric, f"missing for {shown}"))
        else:
            used.append(objective)
    if not ranked:
        return ParetoResult(group, tuple(used), tuple(skipped), (), tuple(unranked), resamples)

    names = [c.variant for c in ranked]
    if adaptive:
        # Work grows with variants × resamples: big groups get fewer resamples (never under 200, which still
        # puts a probability within ±7 points at 95 %); the result records how many were used.
        resamples = max(MIN_RESAMPLES, min(resamples, RESAMPLE_BUDGET // max(len(ranked), 1)))
    values = np.array([[c.value(o.metric) for o in used] for c in ranked], dtype=float)
    maximize = [o.maximize for o in used]
    oriented = np.where(np.asarray(maximize), -values, values)

    # Accuracy is axis 0; the others are fixed, so j can dominate i in a resample only if j is at least as good on
    # every fixed axis. `strict_fixed` says whether j is already strictly better on one of them.
    le_fixed, strict_fixed = _better(oriented[:, 1:])
    accuracy = oriented[:, 0]
    # The point-estimate front, from the same matrices: j dominates i when at least as good everywhere, better once.
    dominates = le_fixed & (accuracy[:, None] <= accuracy[None, :])
    dominates &= strict_fixed | (accuracy[:, None] < accuracy[None, :])
    front = ~dominates.any(axis=0)
    samples = _all_samples(ranked, resamples, np.random.default_rng(seed), used[0].metric)  # (resamples, variants)
    if not used[0].maximize:  # a quality where lower is better (perplexity): resampled the same, compared negated
        samples = -samples
    probabilities = _front_probabilities(samples, le_fixed, strict_fixed)
    labels = np.array(names, dtype=object)
    dominated_by = np.ascontiguousarray(dominates.T)  # row i: who dominates i, in candidate order
    tied_with = np.ascontiguousarray((dominates & indistinct(ranked, used)).T)
    entries = tuple(
        ParetoEntry(
            variant=names[i],
            on_front=bool(front[i]),
            dominated_by=tuple(labels[dominated_by[i]].tolist()),
            probability=float(probabilities[i]),
            tied_with=tuple(labels[tied_with[i]].tolist()) if dominated_by[i].any() else (),
        )
        for i in range(len(ranked))
    )
    return ParetoResult(group, tuple(used), tuple(skipped), entries, tuple(unranked), resamples)


def paretos(
    groups: Sequence[Group],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    adaptive: bool = False,
    objectives: Callable[[Group], Sequence[Objective]] | None = None,
) -> dict[tuple[str, str, str], ParetoResult]:
    """pareto() of every group, keyed by (task, task_version, hardware); `objectives(group)` gives each group's axes
    (default OBJECTIVES)."""
    # NumPy releases the GIL in the array work of the bootstrap: two threads take the 20 groups of the benchmark from
    # 1.3 s to 0.8 s on 2 cores. Each group has its own seeded generator, so the results do not depend on the order.
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        results = pool.map(
            lambda g: pareto(g, resamples, seed, adaptive, objectives(g) if objectives else OBJECTIVES), groups
        )
        return {(g.task, g.task_version, g.hardware): result for g, result in zip(groups, results, strict=True)}
