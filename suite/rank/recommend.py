"""Which variant to ship: the notebook's rule by priority, accuracy tolerance and deadlines, with every verdict."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from suite.errors import SuiteInputError
from suite.rank.groups import CLASSIFIER_METRICS, Candidate, FamilyMetrics, Group, Measure
from suite.rank.pareto import _better, indistinct
from suite.rank.speed import SPEEDUP_UNIT, speed_class, speedup_text, tainted
from suite.specs import TEACHER

PRIORITIES = ("speed", "accuracy", "size", "energy", "balanced")
RUNNERS_UP = 3


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
    # chosen | runner-up | baseline | over-tolerance | misses-deadline | contended | not-measured | dominated | lower
    outcome: str
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


def _speedup_measure(c: Candidate, teacher: Candidate | None, fm: FamilyMetrics = CLASSIFIER_METRICS) -> Measure | None:
    """The speedup against the reference: the family's speedup row (paired, with its interval, in results since
    paired timing), else the ratio of the speed metric to the teacher's, without an interval; None for an
    oversubscribed job's (Candidate.unrankable)."""
    if c.oversubscribed:
        return None
    measure = c.metrics.get(fm.speedup)
    if measure is not None and measure.ok:
        return measure
    speed, base = c.value(fm.speed), teacher.value(fm.speed) if teacher else None
    if not speed or not base:
        return None
    return Measure(speed / base if fm.speed_maximize else base / speed, "x", derived=True)


def _speedup(c: Candidate, teacher: Candidate | None, fm: FamilyMetrics = CLASSIFIER_METRICS) -> float | None:
    measure = _speedup_measure(c, teacher, fm)
    return None if measure is None else measure.value


def _ranks_by_tainted_timing(c: Candidate, priority: str, fm: FamilyMetrics) -> bool:
    """Whether `priority` ranks by a timing of c's measure job (a speedup, energy) that its load guard taints
    (speed.tainted: energy of any contended job, a speedup of an oversubscribed one)."""
    metric = {"speed": fm.speedup, "balanced": fm.speedup, "energy": fm.energy}.get(priority)
    unit = SPEEDUP_UNIT if metric == fm.speedup else ""
    return metric is not None and tainted(metric, unit, c.contended is not None, c.oversubscribed is not None)


def _speed_class(c: Candidate, teacher: Candidate | None, fm: FamilyMetrics) -> int:
    """speed.speed_class of the speedup: 0 measurably faster, 1 no measurable change, 2 measurably slower."""
    measure = _speedup_measure(c, teacher, fm)
    if measure is None or measure.value is None:
        return 1
    return speed_class(measure.value, measure.ci_low, measure.ci_high)


def _ties(a: Candidate, b: Candidate, teacher: Candidate | None, fm: FamilyMetrics) -> bool:
    """Whether a and b are ties: their speedup intervals overlap and their accuracy intervals overlap."""
    speed_a, speed_b = _speedup_measure(a, teacher, fm), _speedup_measure(b, teacher, fm)
    quality_a = a.metrics.get(fm.quality)
    return (
        speed_a is not None
        and speed_a.overlaps(speed_b)
        and quality_a is not None
        and quality_a.overlaps(b.metrics.get(fm.quality))
    )


def _size_reduction(c: Candidate, teacher: Candidate | None) -> float | None:
    reduction = c.value("size_reduction_pct")
    if reduction is not None:
        return reduction
    size, base = c.value("size_mb"), teacher.value("size_mb") if teacher else None
    return 100.0 * (1.0 - size / base) if size is not None and base else None


def _accuracy_drop(c: Candidate, teacher: Candidate | None, fm: FamilyMetrics = CLASSIFIER_METRICS) -> float | None:
    # The paired drop from the scorer (same instances) is preferred; the difference of accuracies is the same number.
    drop = c.value(fm.quality_drop) if fm.quality_drop else None
    if drop is not None:
        return drop
    accuracy, base = c.value(fm.quality), teacher.value(fm.quality) if teacher else None
    return base - accuracy if accuracy is not None and base is not None else None


# What each priority maximises, the metric it needs (for the "not measured" reason) and how its value prints.
PRIORITY_NEEDS = {
    "speed": "speedup (speedup_p50, or latency_p50_ms in results before paired timing)",
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
    metrics: FamilyMetrics = CLASSIFIER_METRICS,
) -> Recommendation:
    """The seed notebook's recommendation, with deadlines and a reason for every variant that was not chosen.

    Candidates are the variants whose accuracy drop is within the tolerance (and that meet the deadlines); `speed`
    picks the highest speedup, `size` the smallest size on disk, `accuracy` the highest accuracy, `energy` the lowest
    energy per 1 000 queries, `balanced` the best speedup/max + size-reduction/max among the candidates. Equal scores
    go to the more accurate, then to the name. With no candidate the teacher is recommended, and the note says so.

    The speedup is the paired one, with its interval, where the results have it: `speed` puts the measurably faster
    (interval above 1) before those with no measurable change (interval containing 1, said so in their reasons)
    and never calls one of those faster than the teacher. Under `speed` and `accuracy`, candidates whose speedup and
    accuracy intervals both overlap the chosen one's are ties, and their reasons say so; one dominated only by ties
    is not called dominated. A p99 deadline cannot be checked against latencies timed on a contended host, and the
    priorities that rank by a timing leave out (outcome `contended`) a variant whose number its load guard taints
    (_ranks_by_tainted_timing): energy of a contended job; a speedup of an oversubscribed one (shared CPUs slow models
    unlike, so even a paired speedup describes the host).
    `metrics` names the family's accuracy, speed and energy metrics (the llm family: mean accuracy, decode tokens/s,
    energy per 1 000 tokens; its p99 deadline checks the time per output token).
    """
    fm = metrics
    if priority not in PRIORITIES:
        raise SuiteInputError(None, "--priority", f"is {priority!r}", f"use one of {', '.join(PRIORITIES)}")
    teacher = group.teacher
    teacher_accuracy = teacher.value(fm.quality) if teacher else None
    tolerance_pts = tolerance.points(teacher_accuracy)
    verdicts: dict[str, Verdict] = {}
    candidates: list[Candidate] = []
    for c in group.candidates:
        if c.variant == TEACHER:
            continue
        problem = c.problem(fm.quality)
        drop = _accuracy_drop(c, teacher, fm)
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
        missed = _missed_deadlines(c, max_p99_ms, max_peak_mb, fm)
        if missed:
            verdicts[c.variant] = Verdict(c.variant, "misses-deadline", missed)
            continue
        if _ranks_by_tainted_timing(c, priority, fm):
            why = f"{_needs(priority, fm)} not ranked: {c.contended}; rerun its measure job on a quiet host"
            verdicts[c.variant] = Verdict(c.variant, "contended", why)
            continue
        if _score_inputs(c, teacher, priority, fm) is None:
            verdicts[c.variant] = Verdict(
                c.variant, "not-measured", f"{_needs(priority, fm)} not measured, needed for priority {priority}"
            )
            continue
        candidates.append(c)

    scores = _scores(candidates, teacher, priority, fm)
    # Under `speed`, measurably faster first, then no measurable change, then measurably slower (with no intervals,
    # the order of the values, as before paired timing).
    classes = {c.variant: _speed_class(c, teacher, fm) if priority == "speed" else 0 for c in candidates}
    ordered = sorted(
        candidates,
        key=lambda c: (classes[c.variant], -scores[c.variant], -(c.value(fm.quality) or 0.0), c.variant),
    )
    chosen: str | None
    note = ""
    runners_up: tuple[str, ...] = ()
    if ordered:
        chosen = ordered[0].variant
        best = ordered[0]
        tied = (
            [c.variant for c in ordered[1:] if _ties(best, c, teacher, fm)] if priority in ("speed", "accuracy") else []
        )
        reason = f"best {_describe(best, teacher, priority, fm)} among candidates"
        if priority == "speed" and classes[chosen] == 1 and _has_interval(best, teacher, fm):
            reason = (
                "no candidate is measurably faster than the teacher; the highest estimate: "
                f"{_describe(best, teacher, priority, fm)}"
            )
        if tied:
            reason += f"; tied with {', '.join(tied)} (speedup and {fm.quality_label} intervals overlap)"
        verdicts[chosen] = Verdict(chosen, "chosen", reason)
        runners_up = tuple(c.variant for c in ordered[1 : 1 + RUNNERS_UP])
        front = _front_among(ordered, fm)
        for rank, c in enumerate(ordered[1:], start=2):
            what = f"{_describe(c, teacher, priority, fm)} vs {_describe(best, teacher, priority, fm)}"
            if c.variant in tied:
                what += f"; tied with {chosen} (speedup and {fm.quality_label} intervals overlap)"
            dominators, ties = front[c.variant]
            if c.variant in runners_up:
                verdicts[c.variant] = Verdict(c.variant, "runner-up", f"#{rank} of {len(ordered)}: {what}")
            elif dominators and len(ties) < len(dominators):
                real = [d for d in dominators if d not in ties]
                verdicts[c.variant] = Verdict(c.variant, "dominated", f"dominated by {', '.join(real)}")
            elif dominators:
                what += (
                    f"; dominated on the measured values only by {', '.join(ties)}, ties: their intervals overlap "
                    "its own wherever they are better"
                )
                verdicts[c.variant] = Verdict(c.variant, "lower", f"#{rank} of {len(ordered)}: {what}")
            else:
                verdicts[c.variant] = Verdict(c.variant, "lower", f"#{rank} of {len(ordered)}: {what}")
        if teacher is not None:
            verdicts[TEACHER] = Verdict(TEACHER, "baseline", "the baseline; recommended only when no variant qualifies")
            # The notebook's rule can pick a variant worse than the teacher on the very priority; say so.
            if priority == "speed" and classes[chosen] == 2:
                note = f"{chosen} is slower than the teacher ({_describe(best, teacher, priority, fm)})"
            elif priority == "speed" and classes[chosen] == 1 and _has_interval(best, teacher, fm):
                note = (
                    f"{chosen} is not measurably faster than the teacher ({_describe(best, teacher, priority, fm)}: "
                    "the interval contains 1)"
                )
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
            missed = _missed_deadlines(teacher, max_p99_ms, max_peak_mb, fm)
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


def _has_interval(c: Candidate, teacher: Candidate | None, fm: FamilyMetrics) -> bool:
    measure = _speedup_measure(c, teacher, fm)
    return measure is not None and measure.ci_low is not None and measure.ci_high is not None


def _needs(priority: str, fm: FamilyMetrics) -> str:
    if fm == CLASSIFIER_METRICS:
        return PRIORITY_NEEDS[priority]
    return {
        "speed": f"speedup ({fm.speedup} or {fm.speed})",
        "accuracy": fm.quality,
        "size": "size_mb",
        "energy": fm.energy,
        "balanced": "speedup and size reduction",
    }[priority]


def _missed_deadlines(
    c: Candidate, max_p99_ms: float | None, max_peak_mb: float | None, fm: FamilyMetrics = CLASSIFIER_METRICS
) -> str:
    missed = []
    for limit, metric, label, unit in (
        (max_p99_ms, fm.tail_latency, fm.tail_latency_label, "ms"),
        (max_peak_mb, "peak_rss_mb", "peak memory", "MiB"),
    ):
        if limit is None:
            continue
        value = c.value(metric)
        contended = c.contended if metric == fm.tail_latency else None
        if value is None or contended:
            # A deadline that cannot be checked is not met: shipping on an unmeasured number is the silent failure.
            why = f": {contended}" if contended else f" ({c.problem(metric)})"
            missed.append(f"{label} deadline ≤ {limit:g} {unit} cannot be checked{why}")
        elif value > limit:
            missed.append(f"{label} {_fmt(value)} {unit} > deadline {limit:g} {unit}")
    return "; ".join(missed)


def _score_inputs(
    c: Candidate, teacher: Candidate | None, priority: str, fm: FamilyMetrics = CLASSIFIER_METRICS
) -> tuple[float, ...] | None:
    if priority == "speed":
        values: tuple[float | None, ...] = (_speedup(c, teacher, fm),)
    elif priority == "accuracy":
        values = (c.value(fm.quality),)
    elif priority == "size":
        values = (c.value("size_mb"),)
    elif priority == "energy":
        values = (c.value(fm.energy),)
    else:
        values = (_speedup(c, teacher, fm), _size_reduction(c, teacher))
    return None if any(v is None for v in values) else tuple(float(v) for v in values)  # type: ignore[arg-type]


def _scores(
    candidates: Sequence[Candidate], teacher: Candidate | None, priority: str, fm: FamilyMetrics
) -> dict[str, float]:
    inputs = {c.variant: _score_inputs(c, teacher, priority, fm) or (math.nan,) for c in candidates}
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


def _speedup_text(c: Candidate, teacher: Candidate | None, fm: FamilyMetrics) -> str:
    """The speedup with its interval and, when that contains 1, "no measurable change" (speed.speedup_text)."""
    measure = _speedup_measure(c, teacher, fm)
    if measure is None or measure.value is None:
        return "nan×"
    return speedup_text(measure.value, measure.ci_low, measure.ci_high)


def _describe(c: Candidate, teacher: Candidate | None, priority: str, fm: FamilyMetrics = CLASSIFIER_METRICS) -> str:
    inputs = _score_inputs(c, teacher, priority, fm) or (math.nan, math.nan)
    if priority == "speed":
        return f"speedup {_speedup_text(c, teacher, fm)}"
    if priority == "accuracy":
        return f"{fm.quality_label} {inputs[0]:.2f} %"
    if priority == "size":
        return f"size {inputs[0]:.2f} MiB"
    if priority == "energy":
        per = fm.energy_label.removeprefix("energy ")
        return f"energy {inputs[0]:.2f} J {per}"
    return f"speedup {_speedup_text(c, teacher, fm)} with size reduction {inputs[1]:.1f} %"


def _front_among(
    candidates: Sequence[Candidate], fm: FamilyMetrics
) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """For each candidate, (the other candidates that dominate it on the Pareto axes measured, and not on a contended
    host, for all of them, those of them it ties with: pareto.indistinct)."""
    axes = [o for o in fm.objectives if all(c.unrankable(o.metric) is None for c in candidates)]
    if not candidates or not axes:
        return {c.variant: ((), ()) for c in candidates}
    values = np.array([[c.value(o.metric) for o in axes] for c in candidates], dtype=float)
    oriented = np.where(np.asarray([o.maximize for o in axes]), -values, values)
    at_least, better = _better(oriented)
    dominates = at_least & better
    names = [c.variant for c in candidates]
    labels = np.array(names, dtype=object)
    dominated_by = np.ascontiguousarray(dominates.T)  # row i: who dominates i, in candidate order
    tied = np.ascontiguousarray((dominates & indistinct(candidates, axes)).T)
    return {
        names[i]: (tuple(labels[dominated_by[i]].tolist()), tuple(labels[tied[i]].tolist())) for i in range(len(names))
    }


def recommendations(
    group: Group,
    tolerances: Sequence[float],
    max_p99_ms: float | None = None,
    max_peak_mb: float | None = None,
    metrics: FamilyMetrics = CLASSIFIER_METRICS,
) -> dict[tuple[str, float], Recommendation]:
    """recommend() for every priority at every tolerance (accuracy points), keyed by (priority, tolerance)."""
    return {
        (priority, tolerance): recommend(group, priority, Tolerance(tolerance), max_p99_ms, max_peak_mb, metrics)
        for priority in PRIORITIES
        for tolerance in tolerances
    }
