"""Pareto fronts with bootstrap uncertainty, recommendations and SLA scorecards, computed from the results Parquet."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from suite.errors import SuiteInputError
from suite.results import read_results
from suite.specs import TEACHER

SYSTEM_TASK = "system"  # the pseudo-task of latency, size, memory and energy rows
UNKNOWN_HARDWARE = "unknown hardware"
DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 42
MIN_RESAMPLES = 200
RESAMPLE_BUDGET = 200_000  # variants × resamples per group when `adaptive` (the site: 1 000 variants get 200)
PRIORITIES = ("speed", "accuracy", "size", "energy", "balanced")
RUNNERS_UP = 3


@dataclass(frozen=True)
class Objective:
    """One axis of the Pareto front."""

    metric: str
    maximize: bool
    required: bool  # a variant without it cannot be ranked; an optional axis is used only where every variant has it


# Accuracy is the task's; the rest are 'system' measurements of the same hardware.
OBJECTIVES: tuple[Objective, ...] = (
    Objective("accuracy", True, True),
    Objective("latency_p50_ms", False, True),
    Objective("size_mb", False, True),
    Objective("peak_rss_mb", False, False),
    Objective("energy_per_1k_queries_j", False, False),
)


# --- the results, grouped -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One number of a variant as the Parquet holds it."""

    value: float | None
    unit: str = ""
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    status: str = "ok"
    error: str | None = None
    measurement: str = ""
    estimated: bool = False  # the results' `estimate` column: modelled rather than measured

    @property
    def ok(self) -> bool:
        """A usable number: status ok and a finite value (NaN, inf and failures are shown but never ranked)."""
        return self.status == "ok" and self.value is not None and math.isfinite(self.value)

    @property
    def estimate(self) -> bool:
        # Energy on CPUs without power counters is modelled, and the measurement text says so.
        return self.estimated or bool(re.search(r"\bestimate", self.measurement or "", re.IGNORECASE))


@dataclass(frozen=True)
class Candidate:
    """A variant's numbers on one task version, with its system measurements."""

    variant: str
    method: str
    parent: str
    hardware: str
    metrics: Mapping[str, Measure]

    def value(self, metric: str) -> float | None:
        measure = self.metrics.get(metric)
        return measure.value if measure is not None and measure.ok else None

    def problem(self, metric: str) -> str | None:
        """Why `metric` is unusable (failed, NaN, missing), or None when it is usable."""
        measure = self.metrics.get(metric)
        if measure is None:
            return f"{metric} not measured"
        if measure.status != "ok":
            return f"{metric} failed: {measure.error or 'no error message'}"
        if measure.value is None or not math.isfinite(measure.value):
            return f"{metric} is {measure.value}"
        return None


@dataclass(frozen=True)
class Group:
    """Variants comparable with each other: one task version measured on one hardware fingerprint."""

    task: str
    task_version: str
    hardware: str
    candidates: tuple[Candidate, ...]

    @property
    def label(self) -> str:
        version = f" v{self.task_version}" if self.task_version else ""
        return f"{self.task}{version} on {self.hardware}"

    @property
    def teacher(self) -> Candidate | None:
        return next((c for c in self.candidates if c.variant == TEACHER), None)

    @cached_property
    def _by_name(self) -> dict[str, Candidate]:
        return {c.variant: c for c in self.candidates}

    def candidate(self, variant: str) -> Candidate | None:
        return self._by_name.get(variant)


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """All rows of a results Parquet as dicts (checked against the one schema); only numbers the suite measured
    (a submitter's self-reported numbers, `verified` false, are never ranked)."""
    return [r for r in read_results([Path(path)]).to_pylist() if r.get("verified") is not False]


def _measure(record: Mapping[str, Any]) -> Measure:
    return Measure(
        value=record["value"],
        unit=record["unit"] or "",
        ci_low=record["ci_low"],
        ci_high=record["ci_high"],
        n=record["n"],
        status=record["status"] or "ok",
        error=record["error"],
        measurement=record["measurement"] or "",
        estimated=bool(record.get("estimate")),
    )


def variant_hardware(records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Each variant's hardware fingerprint: the one its latency was measured on (else any of its rows)."""
    best: dict[str, tuple[int, str]] = {}
    for r in records:
        fingerprint = r["hardware_fingerprint"]
        if not fingerprint:
            continue
        # Latency rows decide: accuracy is (nearly) hardware-independent, speed is not.
        rank = 0 if r["metric"] == "latency_p50_ms" else 1 if r["task"] == SYSTEM_TASK else 2
        if r["variant"] not in best or rank < best[r["variant"]][0]:
            best[r["variant"]] = (rank, fingerprint)
    return {v: fp for v, (_, fp) in best.items()}


def build_groups(records: Sequence[Mapping[str, Any]]) -> list[Group]:
    """One group per (task, task_version, hardware); every variant with a row for the task is in its group."""
    hardware = variant_hardware(records)
    lineage: dict[str, tuple[str, str]] = {}
    system: dict[str, dict[str, Measure]] = {}
    tasks: dict[tuple[str, str], dict[str, dict[str, Measure]]] = {}
    for r in records:
        variant = r["variant"]
        if variant not in lineage or not lineage[variant][0]:
            lineage[variant] = (r["method"] or "", r["parent"] or "")
        if r["task"] == SYSTEM_TASK:
            system.setdefault(variant, {})[r["metric"]] = _measure(r)
        else:
            tasks.setdefault((r["task"], r["task_version"] or ""), {}).setdefault(variant, {})[r["metric"]] = _measure(
                r
            )
    groups: dict[tuple[str, str, str], list[Candidate]] = {}
    for (task, version), by_variant in sorted(tasks.items()):
        for variant, metrics in by_variant.items():
            fp = hardware.get(variant, UNKNOWN_HARDWARE)
            merged = {**system.get(variant, {}), **metrics}
            method, parent = lineage[variant]
            groups.setdefault((task, version, fp), []).append(Candidate(variant, method, parent, fp, merged))
    return [
        Group(t, v, h, tuple(sorted(c, key=lambda c: (c.variant != TEACHER, c.variant))))
        for (t, v, h), c in sorted(groups.items())
    ]


# --- Pareto -------------------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class ParetoEntry:
    """A ranked variant: on the front or not, who dominates it, and P(on the front) under accuracy resampling."""

    variant: str
    on_front: bool
    dominated_by: tuple[str, ...]
    probability: float


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


def _all_samples(ranked: Sequence[Candidate], resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap resamples of every candidate's accuracy, one column each."""
    samples = np.empty((resamples, len(ranked)))
    binomial: list[int] = []
    for k, candidate in enumerate(ranked):
        measure = candidate.metrics["accuracy"]
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
        n = np.array([ranked[k].metrics["accuracy"].n for k in binomial], dtype=np.int64)
        p = np.array([ranked[k].metrics["accuracy"].value for k in binomial], dtype=float) / 100.0
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
    group: Group, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, adaptive: bool = False
) -> ParetoResult:
    """The non-dominated variants of a group and each variant's bootstrap probability of being on the front.

    Accuracy is resampled independently per variant (binomial on its n instances); latency, size, memory and energy
    are taken as measured. With `adaptive`, groups over 200 variants get fewer resamples (see RESAMPLE_BUDGET).
    Required axes missing for a variant leave it unranked (with the reason); an optional
    axis missing for any variant is dropped for the whole group (and the result says so).
    """
    unranked: list[tuple[str, str]] = []
    ranked: list[Candidate] = []
    for candidate in group.candidates:
        problems = [p for o in OBJECTIVES if o.required for p in [candidate.problem(o.metric)] if p]
        if problems:
            unranked.append((candidate.variant, "; ".join(problems)))
        else:
            ranked.append(candidate)
    objectives: list[Objective] = []
    skipped: list[tuple[str, str]] = []
    for objective in OBJECTIVES:
        if objective.required:
            objectives.append(objective)
            continue
        lacking = [c.variant for c in ranked if c.value(objective.metric) is None]
        if not ranked or len(lacking) == len(ranked):
            skipped.append((objective.metric, "not measured"))
        elif lacking:
            shown = ", ".join(lacking[:3]) + (f" and {len(lacking) - 3} more" if len(lacking) > 3 else "")
            skipped.append((objective.metric, f"missing for {shown}"))
        else:
            objectives.append(objective)
    if not ranked:
        return ParetoResult(group, tuple(objectives), tuple(skipped), (), tuple(unranked), resamples)

    names = [c.variant for c in ranked]
    if adaptive:
        # Work grows with variants × resamples: big groups get fewer resamples (never under 200, which still
        # puts a probability within ±7 points at 95 %); the result records how many were used.
        resamples = max(MIN_RESAMPLES, min(resamples, RESAMPLE_BUDGET // max(len(ranked), 1)))
    values = np.array([[c.value(o.metric) for o in objectives] for c in ranked], dtype=float)
    maximize = [o.maximize for o in objectives]
    oriented = np.where(np.asarray(maximize), -values, values)

    # Accuracy is axis 0; the others are fixed, so j can dominate i in a resample only if j is at least as good on
    # every fixed axis. `strict_fixed` says whether j is already strictly better on one of them.
    le_fixed, strict_fixed = _better(oriented[:, 1:])
    accuracy = oriented[:, 0]
    # The point-estimate front, from the same matrices: j dominates i when at least as good everywhere, better once.
    dominates = le_fixed & (accuracy[:, None] <= accuracy[None, :])
    dominates &= strict_fixed | (accuracy[:, None] < accuracy[None, :])
    front = ~dominates.any(axis=0)
    samples = _all_samples(ranked, resamples, np.random.default_rng(seed))  # (resamples, variants)
    probabilities = _front_probabilities(samples, le_fixed, strict_fixed)
    labels = np.array(names, dtype=object)
    dominated_by = np.ascontiguousarray(dominates.T)  # row i: who dominates i, in candidate order
    entries = tuple(
        ParetoEntry(
            variant=names[i],
            on_front=bool(front[i]),
            dominated_by=tuple(labels[dominated_by[i]].tolist()),
            probability=float(probabilities[i]),
        )
        for i in range(len(ranked))
    )
    return ParetoResult(group, tuple(objectives), tuple(skipped), entries, tuple(unranked), resamples)


# --- recommendation -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """How much accuracy a variant may lose: absolute points, or a percentage of the teacher's accuracy."""

    value: float
    relative: bool = False

    def points(self, teacher_accuracy: float | None) -> float | None:
        if not self.relative:
            return self.value
        return None if teacher_accuracy is None else teacher_accuracy * self.value / 100.0

    @property
    def label(self) -> str:
        return f"{self.value:g} % of the teacher's accuracy" if self.relative else f"{self.value:g} pts"


def parse_tolerance(text: str) -> Tolerance:
    """'1' or '1pts' is 1 accuracy point; '2%' is 2 % of the teacher's accuracy.

    >>> parse_tolerance("1"), parse_tolerance("0.5 pts"), parse_tolerance("2%")
    (Tolerance(value=1.0, relative=False), Tolerance(value=0.5, relative=False), Tolerance(value=2.0, relative=True))
    """
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(%|pts?|points?)?\s*", text)
    if not match:
        raise SuiteInputError(
            None, "--tolerance", f"{text!r} is not a tolerance", "write points (1 or 1pts) or a percentage (2%)"
        )
    return Tolerance(float(match.group(1)), match.group(2) == "%")


@dataclass(frozen=True)
class Verdict:
    """Why a variant was or was not recommended."""

    variant: str
    outcome: str  # chosen | runner-up | baseline | over-tolerance | misses-deadline | not-measured | dominated | lower
    reason: str


@dataclass(frozen=True)
class Recommendation:
    task: str
    task_version: str
    hardware: str
    priority: str
    tolerance: Tolerance
    tolerance_pts: float | None
    max_p99_ms: float | None
    max_peak_mb: float | None
    chosen: str | None
    fallback: bool  # True when no variant qualified and the teacher is recommended
    note: str
    runners_up: tuple[str, ...]
    verdicts: tuple[Verdict, ...]

    @cached_property
    def _by_name(self) -> dict[str, Verdict]:
        return {v.variant: v for v in self.verdicts}

    def verdict(self, variant: str) -> Verdict | None:
        return self._by_name.get(variant)

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "task_version": self.task_version,
            "hardware": self.hardware,
            "priority": self.priority,
            "tolerance": {"value": self.tolerance.value, "relative": self.tolerance.relative},
            "tolerance_pts": self.tolerance_pts,
            "deadlines": {"latency_p99_ms": self.max_p99_ms, "peak_rss_mb": self.max_peak_mb},
            "chosen": self.chosen,
            "fallback_to_teacher": self.fallback,
            "note": self.note,
            "runners_up": list(self.runners_up),
            "verdicts": [{"variant": v.variant, "outcome": v.outcome, "reason": v.reason} for v in self.verdicts],
        }

    def to_text(self) -> str:
        deadlines = [f"p99 ≤ {self.max_p99_ms:g} ms" for _ in [0] if self.max_p99_ms is not None]
        deadlines += [f"peak memory ≤ {self.max_peak_mb:g} MiB" for _ in [0] if self.max_peak_mb is not None]
        lines = [
            f"{self.task} v{self.task_version} on {self.hardware}: priority {self.priority}, accuracy tolerance "
            f"{self.tolerance.label}" + (f", deadlines {', '.join(deadlines)}" if deadlines else ""),
            f"recommended: {self.chosen or 'nothing'}" + (" (fallback: the teacher)" if self.fallback else ""),
        ]
        if self.note:
            lines.append(f"note: {self.note}")
        if self.runners_up:
            lines.append("runners-up: " + ", ".join(self.runners_up))
        lines += [f"  {v.variant}: {v.outcome}: {v.reason}" for v in self.verdicts]
        return "\n".join(lines)


def _fmt(value: float, unit: str = "") -> str:
    return f"{value:.2f}{unit}"


def _speedup(c: Candidate, teacher: Candidate | None) -> float | None:
    speedup = c.value("speedup_p50")
    if speedup is not None:
        return speedup
    p50, base = c.value("latency_p50_ms"), teacher.value("latency_p50_ms") if teacher else None
    return base / p50 if p50 and base else None


def _size_reduction(c: Candidate, teacher: Candidate | None) -> float | None:
    reduction = c.value("size_reduction_pct")
    if reduction is not None:
        return reduction
    size, base = c.value("size_mb"), teacher.value("size_mb") if teacher else None
    return 100.0 * (1.0 - size / base) if size is not None and base else None


def _accuracy_drop(c: Candidate, teacher: Candidate | None) -> float | None:
    # The paired drop from the scorer (same instances) is preferred; the difference of accuracies is the same number.
    drop = c.value("accuracy_drop_pts")
    if drop is not None:
        return drop
    accuracy, base = c.value("accuracy"), teacher.value("accuracy") if teacher else None
    return base - accuracy if accuracy is not None and base is not None else None


# What each priority maximises, the metric it needs (for the "not measured" reason) and how its value prints.
PRIORITY_NEEDS = {
    "speed": "speedup (latency_p50_ms)",
    "accuracy": "accuracy",
    "size": "size_mb",
    "energy": "energy_per_1k_queries_j",
    "balanced": "speedup and size reduction",
}


def recommend(
    group: Group,
    priority: str,
    tolerance: Tolerance,
    max_p99_ms: float | None = None,
    max_peak_mb: float | None = None,
) -> Recommendation:
    """The seed notebook's recommendation, with deadlines and a reason for every variant that was not chosen.

    Candidates are the variants whose accuracy drop is within the tolerance (and that meet the deadlines); `speed`
    picks the highest speedup, `size` the smallest size on disk, `accuracy` the highest accuracy, `energy` the lowest
    energy per 1 000 queries, `balanced` the best speedup/max + size-reduction/max among the candidates. Ties go to
    the more accurate, then to the name. With no candidate the teacher is recommended, and the note says so.
    """
    if priority not in PRIORITIES:
        raise SuiteInputError(None, "--priority", f"is {priority!r}", f"use one of {', '.join(PRIORITIES)}")
    teacher = group.teacher
    teacher_accuracy = teacher.value("accuracy") if teacher else None
    tolerance_pts = tolerance.points(teacher_accuracy)
    verdicts: dict[str, Verdict] = {}
    candidates: list[Candidate] = []
    for c in group.candidates:
        if c.variant == TEACHER:
            continue
        problem = c.problem("accuracy")
        drop = _accuracy_drop(c, teacher)
        if problem:
            verdicts[c.variant] = Verdict(c.variant, "not-measured", problem)
            continue
        if drop is None or tolerance_pts is None:
            why = "no teacher accuracy in this group to measure the drop against"
            verdicts[c.variant] = Verdict(c.variant, "not-measured", why)
            continue
        if drop > tolerance_pts:
            why = f"accuracy drop {_fmt(drop)} pts > tolerance {_fmt(tolerance_pts)} pts"
            verdicts[c.variant] = Verdict(c.variant, "over-tolerance", why)
            continue
        missed = _missed_deadlines(c, max_p99_ms, max_peak_mb)
        if missed:
            verdicts[c.variant] = Verdict(c.variant, "misses-deadline", missed)
            continue
        if _score_inputs(c, teacher, priority) is None:
            verdicts[c.variant] = Verdict(
                c.variant, "not-measured", f"{PRIORITY_NEEDS[priority]} not measured, needed for priority {priority}"
            )
            continue
        candidates.append(c)

    scores = _scores(candidates, teacher, priority)
    ordered = sorted(candidates, key=lambda c: (-scores[c.variant], -(c.value("accuracy") or 0.0), c.variant))
    chosen: str | None
    note = ""
    runners_up: tuple[str, ...] = ()
    if ordered:
        chosen = ordered[0].variant
        best = ordered[0]
        verdicts[chosen] = Verdict(chosen, "chosen", f"best {_describe(best, teacher, priority)} among candidates")
        runners_up = tuple(c.variant for c in ordered[1 : 1 + RUNNERS_UP])
        front = _front_among(ordered)
        for rank, c in enumerate(ordered[1:], start=2):
            what = f"{_describe(c, teacher, priority)} vs {_describe(best, teacher, priority)}"
            if c.variant in runners_up:
                verdicts[c.variant] = Verdict(c.variant, "runner-up", f"#{rank} of {len(ordered)}: {what}")
            elif front[c.variant]:
                verdicts[c.variant] = Verdict(c.variant, "dominated", f"dominated by {', '.join(front[c.variant])}")
            else:
                verdicts[c.variant] = Verdict(c.variant, "lower", f"#{rank} of {len(ordered)}: {what}")
        if teacher is not None:
            verdicts[TEACHER] = Verdict(TEACHER, "baseline", "the baseline; recommended only when no variant qualifies")
            # The notebook's rule can pick a variant worse than the teacher on the very priority; say so.
            if priority == "speed" and (_speedup(best, teacher) or 0.0) < 1.0:
                note = f"{chosen} is slower than the teacher ({_describe(best, teacher, priority)})"
            elif priority == "size" and (_size_reduction(best, teacher) or 0.0) <= 0.0:
                note = f"{chosen} is no smaller than the teacher on disk"
    else:
        chosen = TEACHER if teacher is not None else None
        counts: dict[str, int] = {}
        for v in verdicts.values():
            counts[v.outcome] = counts.get(v.outcome, 0) + 1
        why = ", ".join(f"{n} {outcome.replace('-', ' ')}" for outcome, n in sorted(counts.items())) or "no variants"
        note = f"no variant qualifies ({why}); the teacher is recommended as the fallback"
        if teacher is None:
            note = f"no variant qualifies ({why}), and this group has no teacher row to fall back to"
        else:
            missed = _missed_deadlines(teacher, max_p99_ms, max_peak_mb)
            if missed:
                note += f" (the teacher too misses a deadline: {missed})"
            verdicts[TEACHER] = Verdict(TEACHER, "chosen", "fallback: no variant qualifies")
    order = {c.variant: i for i, c in enumerate(group.candidates)}
    return Recommendation(
        task=group.task,
        task_version=group.task_version,
        hardware=group.hardware,
        priority=priority,
        tolerance=tolerance,
        tolerance_pts=tolerance_pts,
        max_p99_ms=max_p99_ms,
        max_peak_mb=max_peak_mb,
        chosen=chosen,
        fallback=not ordered,
        note=note,
        runners_up=runners_up,
        verdicts=tuple(sorted(verdicts.values(), key=lambda v: order[v.variant])),
    )


def _missed_deadlines(c: Candidate, max_p99_ms: float | None, max_peak_mb: float | None) -> str:
    missed = []
    for limit, metric, label, unit in (
        (max_p99_ms, "latency_p99_ms", "p99 latency", "ms"),
        (max_peak_mb, "peak_rss_mb", "peak memory", "MiB"),
    ):
        if limit is None:
            continue
        value = c.value(metric)
        if value is None:
            # A deadline that cannot be checked is not met: shipping on an unmeasured number is the silent failure.
            missed.append(f"{label} deadline ≤ {limit:g} {unit} cannot be checked ({c.problem(metric)})")
        elif value > limit:
            missed.append(f"{label} {_fmt(value)} {unit} > deadline {limit:g} {unit}")
    return "; ".join(missed)


def _score_inputs(c: Candidate, teacher: Candidate | None, priority: str) -> tuple[float, ...] | None:
    if priority == "speed":
        values: tuple[float | None, ...] = (_speedup(c, teacher),)
    elif priority == "accuracy":
        values = (c.value("accuracy"),)
    elif priority == "size":
        values = (c.value("size_mb"),)
    elif priority == "energy":
        values = (c.value("energy_per_1k_queries_j"),)
    else:
        values = (_speedup(c, teacher), _size_reduction(c, teacher))
    return None if any(v is None for v in values) else tuple(float(v) for v in values)  # type: ignore[arg-type]


def _scores(candidates: Sequence[Candidate], teacher: Candidate | None, priority: str) -> dict[str, float]:
    inputs = {c.variant: _score_inputs(c, teacher, priority) or (math.nan,) for c in candidates}
    if priority in ("size", "energy"):  # smaller is better
        return {v: -x[0] for v, x in inputs.items()}
    if priority != "balanced":
        return {v: x[0] for v, x in inputs.items()}
    # The notebook's balance: each criterion divided by its best value among the candidates, then summed.
    best_speedup = max((x[0] for x in inputs.values()), default=0.0)
    best_reduction = max((x[1] for x in inputs.values()), default=0.0)
    return {
        v: (x[0] / best_speedup if best_speedup > 0 else 0.0) + (x[1] / best_reduction if best_reduction > 0 else 0.0)
        for v, x in inputs.items()
    }


def _describe(c: Candidate, teacher: Candidate | None, priority: str) -> str:
    inputs = _score_inputs(c, teacher, priority) or (math.nan, math.nan)
    if priority == "speed":
        return f"speedup {inputs[0]:.2f}×"
    if priority == "accuracy":
        return f"accuracy {inputs[0]:.2f} %"
    if priority == "size":
        return f"size {inputs[0]:.2f} MiB"
    if priority == "energy":
        return f"energy {inputs[0]:.2f} J per 1 000 queries"
    return f"speedup {inputs[0]:.2f}× with size reduction {inputs[1]:.1f} %"


def _front_among(candidates: Sequence[Candidate]) -> dict[str, tuple[str, ...]]:
    """For each candidate, the other candidates that dominate it on the Pareto axes measured for all of them."""
    axes = [o for o in OBJECTIVES if all(c.value(o.metric) is not None for c in candidates)]
    if not candidates or not axes:
        return {c.variant: () for c in candidates}
    values = np.array([[c.value(o.metric) for o in axes] for c in candidates], dtype=float)
    oriented = np.where(np.asarray([o.maximize for o in axes]), -values, values)
    at_least, better = _better(oriented)
    dominates = at_least & better
    names = [c.variant for c in candidates]
    labels = np.array(names, dtype=object)
    dominated_by = np.ascontiguousarray(dominates.T)  # row i: who dominates i, in candidate order
    return {names[i]: tuple(labels[dominated_by[i]].tolist()) for i in range(len(names))}


# --- SLA scorecard ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlaTargets:
    """The config's `sla` block: targets every student is checked against (None: no target)."""

    max_accuracy_drop_pts: float | None = 2.0
    min_size_reduction_pct: float | None = 50.0
    min_latency_p99_reduction_pct: float | None = None
    max_latency_p99_ms: float | None = None
    min_peak_memory_reduction_pct: float | None = None
    max_peak_rss_mb: float | None = None
    min_energy_reduction_pct: float | None = None
    min_co2e_reduction_pct: float | None = None
    min_prediction_agreement_pct: float | None = None
    max_abs_logit_delta: float | None = None

    @classmethod
    def from_mapping(cls, raw: Any, source: str) -> SlaTargets:
        """Targets from the resolved config's `sla` mapping; unknown keys and non-numbers name the field."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise SuiteInputError(source, "config.sla", f"is {raw!r}, expected a mapping", "see config/schema.yaml")
        known = set(cls.__dataclass_fields__)
        values: dict[str, float | None] = {}
        for key, value in raw.items():
            if key not in known:
                raise SuiteInputError(
                    source, f"config.sla.{key}", "is not an SLA target", f"use one of {', '.join(sorted(known))}"
                )
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise SuiteInputError(source, f"config.sla.{key}", f"is {value!r}", "use a number or null")
            values[key] = None if value is None else float(value)
        return cls(**values)


@dataclass(frozen=True)
class Kpi:
    """One line of the scorecard: teacher and student values, the improvement and the verdict against a target."""

    name: str
    metric: str | None
    unit: str
    teacher: str
    student: str
    improvement: str
    target: str
    status: str  # pass | fail | no target | not measured
    estimate: bool = False


@dataclass(frozen=True)
class Scorecard:
    variant: str
    kpis: tuple[Kpi, ...]
    status: str  # pass | fail | incomplete | no targets

    def kpi(self, name: str) -> Kpi:
        return next(k for k in self.kpis if k.name == name)


def _value_text(c: Candidate | None, metric: str) -> str:
    if c is None:
        return "no teacher"
    problem = c.problem(metric)
    if problem is None:
        return f"{c.value(metric):.2f}"
    return "not measured" if metric not in c.metrics else problem


def _reduction_kpi(
    name: str,
    metric: str,
    unit: str,
    teacher: Candidate | None,
    student: Candidate,
    min_reduction: float | None,
    max_value: float | None,
) -> Kpi:
    base, value = teacher.value(metric) if teacher else None, student.value(metric)
    estimate = any(c is not None and metric in c.metrics and c.metrics[metric].estimate for c in (teacher, student))
    targets = [f"≥ {min_reduction:g} % lower" for _ in [0] if min_reduction is not None]
    targets += [f"≤ {max_value:g} {unit}" for _ in [0] if max_value is not None]
    reduction = 100.0 * (1.0 - value / base) if value is not None and base else None
    improvement = f"{reduction:.1f} % lower" if reduction is not None else "—"
    if metric.startswith("latency") and value and base:
        improvement += f" ({base / value:.2f}× faster)"
    status = "no target"
    if targets:
        checks = []
        if min_reduction is not None:
            checks.append(None if reduction is None else reduction >= min_reduction)
        if max_value is not None:
            checks.append(None if value is None else value <= max_value)
        status = "fail" if False in checks else "not measured" if None in checks else "pass"
    return Kpi(
        name,
        metric,
        unit,
        _value_text(teacher, metric),
        _value_text(student, metric),
        improvement,
        ", ".join(targets) or "—",
        status,
        estimate,
    )


def scorecard(group: Group, variant: str, targets: SlaTargets | None) -> Scorecard:
    """The guide's KPI table, teacher vs one student; without targets every line says 'no target'."""
    targets = targets or SlaTargets(**dict.fromkeys(SlaTargets.__dataclass_fields__))
    student = group.candidate(variant)
    if student is None:
        raise KeyError(f"{variant!r} is not in group {group.label}")
    teacher = group.teacher
    kpis = [
        _reduction_kpi("Size on disk", "size_mb", "MiB", teacher, student, targets.min_size_reduction_pct, None),
        _reduction_kpi(
            "Peak memory",
            "peak_rss_mb",
            "MiB",
            teacher,
            student,
            targets.min_peak_memory_reduction_pct,
            targets.max_peak_rss_mb,
        ),
        _reduction_kpi(
            "Latency p99",
            "latency_p99_ms",
            "ms",
            teacher,
            student,
            targets.min_latency_p99_reduction_pct,
            targets.max_latency_p99_ms,
        ),
    ]
    drop = _accuracy_drop(student, teacher)
    limit = targets.max_accuracy_drop_pts
    kpis.append(
        Kpi(
            "Accuracy",
            "accuracy",
            "%",
            _value_text(teacher, "accuracy"),
            _value_text(student, "accuracy"),
            "—" if drop is None else f"{-drop:+.2f} pts",
            "—" if limit is None else f"drop ≤ {limit:g} pts",
            "no target" if limit is None else "not measured" if drop is None else "pass" if drop <= limit else "fail",
        )
    )
    kpis.append(
        _reduction_kpi(
            "Energy per 1 000 queries",
            "energy_per_1k_queries_j",
            "J",
            teacher,
            student,
            targets.min_energy_reduction_pct,
            None,
        )
    )
    kpis.append(
        _reduction_kpi(
            "CO2e per 1 M inferences",
            "co2e_per_1m_inferences_g",
            "g",
            teacher,
            student,
            targets.min_co2e_reduction_pct,
            None,
        )
    )
    same = teacher is not None and teacher.hardware == student.hardware
    kpis.append(
        Kpi(
            "Hardware",
            None,
            "",
            teacher.hardware if teacher else "no teacher",
            student.hardware,
            "same machine" if same else "different machines: not comparable",
            "same as the teacher",
            "pass" if same else "fail",
        )
    )
    kpis.append(_readiness(student, targets))
    statuses = [k.status for k in kpis if k.status != "no target"]
    overall = (
        "no targets"
        if not statuses
        else "fail"
        if "fail" in statuses
        else "incomplete"
        if "not measured" in statuses
        else "pass"
    )
    return Scorecard(variant, tuple(kpis), overall)


def _readiness(student: Candidate, targets: SlaTargets) -> Kpi:
    """Deployment readiness: nothing failed, no non-finite outputs, and fidelity to the teacher within targets."""
    problems: list[str] = []
    unknown: list[str] = []
    failed = [m for m, x in student.metrics.items() if x.status != "ok"]
    if failed:
        problems.append(f"failed: {', '.join(sorted(failed))}")
    nonfinite = student.value("nonfinite_rate")
    if nonfinite is None:
        unknown.append("non-finite outputs not measured")
    elif nonfinite > 0:
        problems.append(f"{nonfinite:.2f} % non-finite outputs")
    checks = ["no failures", "no non-finite outputs"]
    if targets.min_prediction_agreement_pct is not None:
        checks.append(f"agreement ≥ {targets.min_prediction_agreement_pct:g} %")
        agreement = student.value("prediction_agreement")
        agreement = agreement if agreement is not None else student.value("agreement")
        if agreement is None:
            unknown.append("agreement not measured")
        elif agreement < targets.min_prediction_agreement_pct:
            problems.append(f"agreement {agreement:.2f} %")
    if targets.max_abs_logit_delta is not None:
        checks.append(f"max |Δ logit| ≤ {targets.max_abs_logit_delta:g}")
        delta = student.value("parent_max_abs_logit_delta")
        if delta is None:
            unknown.append("max |Δ logit| not measured")
        elif delta > targets.max_abs_logit_delta:
            problems.append(f"max |Δ logit| {delta:.3g}")
    status = "fail" if problems else "not measured" if unknown else "pass"
    text = "; ".join(problems + unknown) or "ready"
    return Kpi("Deployment readiness", None, "", "baseline", text, "—", ", ".join(checks), status)


@dataclass(frozen=True)
class Analysis:
    """Everything rank.py derives for one group, as the site and the CLI use it."""

    group: Group
    pareto: ParetoResult
    recommendations: dict[tuple[str, float], Recommendation] = field(default_factory=dict)
    scorecards: dict[str, Scorecard] = field(default_factory=dict)


def find_group(
    groups: Sequence[Group], task: str, task_version: str | None, hardware: str | None, source: str
) -> Group:
    """The one group the CLI's --task/--task-version/--hardware select; ambiguity names the option to add."""
    matching = [g for g in groups if g.task == task]
    if not matching:
        tasks = sorted({g.task for g in groups})
        raise SuiteInputError(source, "task", f"has no results for {task!r} (tasks: {tasks})", "pass --task")
    if task_version is None:
        newest = max((g.task_version for g in matching), key=version_key)
        matching = [g for g in matching if g.task_version == newest]
    else:
        matching = [g for g in matching if g.task_version == task_version]
        if not matching:
            raise SuiteInputError(source, "task_version", f"{task} has no version {task_version!r}", "fix it")
    if hardware is not None:
        matching = [g for g in matching if g.hardware == hardware]
        if not matching:
            raise SuiteInputError(source, "hardware_fingerprint", f"no rows on {hardware!r}", "fix --hardware")
    if len(matching) > 1:
        choices = ", ".join(g.hardware for g in matching)
        raise SuiteInputError(
            source, "hardware_fingerprint", f"{task} was measured on several machines ({choices})", "pass --hardware"
        )
    return matching[0]


def version_key(version: str) -> tuple:
    """Sort key of a task version: "1.10" is newer than "1.9"; no version sorts first."""
    if not version:
        return ()
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-+]", version))
