"""SLA scorecards: each student against its teacher and the config's `sla` targets, one KPI per line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from suite.errors import SuiteInputError
from suite.rank.groups import CLASSIFIER_METRICS, Candidate, FamilyMetrics, Group
from suite.rank.recommend import _accuracy_drop
from suite.rank.speed import CONTENDED_MARK, NO_CHANGE, speed_class
from suite.specs import TEACHER

NOT_JUDGED = "not judged"  # a target computed from absolute timings of a contended host: neither pass nor fail


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
    status: str  # pass | fail | no target | not measured | not judged
    estimate: bool = False
    reason: str = ""  # why it is not judged: "timed on a contended host (…figures…)"


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
    timed: bool = False,
) -> Kpi:
    """`timed`: the metric is an absolute timing (latency, energy): a contended host leaves its targets not judged,
    the student's for both, the teacher's for the reduction relative to it."""
    base, value = teacher.value(metric) if teacher else None, student.value(metric)
    estimate = any(c is not None and metric in c.metrics and c.metrics[metric].estimate for c in (teacher, student))
    targets = [f"≥ {min_reduction:g} % lower" for _ in [0] if min_reduction is not None]
    targets += [f"≤ {max_value:g} {unit}" for _ in [0] if max_value is not None]
    reduction = 100.0 * (1.0 - value / base) if value is not None and base else None
    improvement = f"{reduction:.1f} % lower" if reduction is not None else "—"
    if metric.startswith(("latency", "tpot")) and value and base:
        improvement += f" ({base / value:.2f}× faster)"
    mine = student.contended if timed else None
    theirs = f"the teacher was {teacher.contended}" if timed and teacher is not None and teacher.contended else None
    judged: list[bool | None] = []
    unjudged: list[str] = []
    if min_reduction is not None:  # relative to the teacher: its own timing counts too
        if mine or theirs:
            unjudged += [t for t in (mine, theirs) if t]
        else:
            judged.append(None if reduction is None else reduction >= min_reduction)
    if max_value is not None:
        if mine:
            unjudged.append(mine)
        else:
            judged.append(None if value is None else value <= max_value)
    status = (
        "no target"
        if not targets
        else "fail"
        if False in judged
        else NOT_JUDGED
        if unjudged
        else "not measured"
        if None in judged
        else "pass"
    )
    if (mine or theirs) and reduction is not None:
        improvement += "; " + "; ".join(t for t in (mine, theirs) if t)
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
        "; ".join(dict.fromkeys(unjudged)) if status == NOT_JUDGED else "",
    )


def scorecard(
    group: Group, variant: str, targets: SlaTargets | None, metrics: FamilyMetrics = CLASSIFIER_METRICS
) -> Scorecard:
    """The guide's KPI table, teacher vs one student; without targets every line says 'no target'. `metrics`: the
    family's accuracy, latency and energy metrics (the llm family's latency targets check the time per output token)."""
    fm = metrics
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
            "Latency p99" if fm.tail_latency == "latency_p99_ms" else fm.tail_latency_label.capitalize(),
            fm.tail_latency,
            "ms",
            teacher,
            student,
            targets.min_latency_p99_reduction_pct,
            targets.max_latency_p99_ms,
            timed=True,
        ),
    ]
    if not fm.speed_maximize:  # a latency family: the paired speedup beside the absolute latency
        kpis.append(_speedup_kpi(fm, group, student))
    else:  # a rate (tokens/s): no SLA target names it; shown beside the latency, with its speedup
        base, value = (teacher.value(fm.speed) if teacher else None), student.value(fm.speed)
        paired = student.metrics.get(fm.speedup)
        if paired is not None and paired.ok and paired.ci_low is not None and paired.ci_high is not None:
            faster = paired.speedup_label  # a measured speedup with its interval ("no measurable change" included)
        else:
            faster = f"{value / base:.2f}× faster" if value is not None and base else "—"
        # the rate is an absolute timing (marked when contended); its speedup is not ranked when oversubscribed
        if student.oversubscribed and faster != "—":
            faster += f" {CONTENDED_MARK}, not ranked"
        rate = _value_text(student, fm.speed)
        kpis.append(
            Kpi(
                fm.speed_label.capitalize(),
                fm.speed,
                fm.speed_unit,
                _value_text(teacher, fm.speed),
                f"{rate} {CONTENDED_MARK}" if student.contended and student.value(fm.speed) is not None else rate,
                faster,
                "—",
                "no target",
                reason=student.contended or "",
            )
        )
    drop = _accuracy_drop(student, teacher, fm)
    limit = targets.max_accuracy_drop_pts
    kpis.append(
        Kpi(
            fm.quality_label.capitalize(),
            fm.quality,
            "%",
            _value_text(teacher, fm.quality),
            _value_text(student, fm.quality),
            "—" if drop is None else f"{-drop:+.2f} pts",
            "—" if limit is None else f"drop ≤ {limit:g} pts",
            "no target" if limit is None else "not measured" if drop is None else "pass" if drop <= limit else "fail",
        )
    )
    kpis.append(
        _reduction_kpi(
            fm.energy_label.capitalize(),
            fm.energy,
            "J",
            teacher,
            student,
            targets.min_energy_reduction_pct,
            None,
            timed=True,
        )
    )
    kpis.append(
        _reduction_kpi(
            fm.co2e_label,
            fm.co2e,
            "g",
            teacher,
            student,
            targets.min_co2e_reduction_pct,
            None,
            timed=True,
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
    kpis.append(_readiness(student, targets, fm))
    statuses = [k.status for k in kpis if k.status != "no target"]
    overall = (
        "no targets"
        if not statuses
        else "fail"
        if "fail" in statuses
        else "incomplete"
        if "not measured" in statuses or NOT_JUDGED in statuses
        else "pass"
    )
    return Scorecard(variant, tuple(kpis), overall)


def _speedup_kpi(fm: FamilyMetrics, group: Group, student: Candidate) -> Kpi:
    """The paired speedup against the reference (timed in the same rounds of one process), with its interval; no SLA
    target names it. An oversubscribed job's is marked † and "not ranked", with the load guard's reason (shared CPUs
    slow models unlike). The teacher's column shows the A/A noise floor when the teacher is the reference."""
    measure = student.metrics.get(fm.speedup)
    improvement = "—"
    if measure is not None and measure.ok and measure.ci_low is not None and measure.ci_high is not None:
        improvement = ("measurably faster", NO_CHANGE, "measurably slower")[
            speed_class(float(measure.value), measure.ci_low, measure.ci_high)  # type: ignore[arg-type]
        ]
    contended = student.oversubscribed
    if contended and improvement != "—":
        improvement = "not ranked"
    teacher = group.teacher
    reference = teacher.metrics.get(fm.speedup) if teacher is not None else None
    floor = group.noise_floor.get(fm.speedup)
    if teacher is None:
        teacher_text = "no teacher"
    elif reference is None or not reference.ok:
        teacher_text = _value_text(teacher, fm.speedup)
    elif floor is not None and reference.derived:
        low, high = floor.ci_low, floor.ci_high
        interval = f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else ""
        teacher_text = f"1.00× (the reference); A/A noise floor {floor.value:.2f}×{interval}"
    else:
        teacher_text = reference.speedup_label
    return Kpi(
        "Speedup p50",
        fm.speedup,
        "",
        teacher_text,
        (measure.speedup_label + (f" {CONTENDED_MARK}" if contended else ""))
        if measure is not None and measure.ok
        else _value_text(student, fm.speedup),
        improvement,
        "—",
        "no target",
        reason=contended or "",
    )


def _readiness(student: Candidate, targets: SlaTargets, fm: FamilyMetrics = CLASSIFIER_METRICS) -> Kpi:
    """Deployment readiness: nothing failed, no non-finite outputs, and fidelity to the teacher within targets."""
    problems: list[str] = []
    unknown: list[str] = []
    # a derived number that failed repeats the failure of the row it comes from
    failed = [m for m, x in student.metrics.items() if x.status != "ok" and not x.derived]
    if failed:
        problems.append(f"failed: {', '.join(sorted(failed))}")
    checks = ["no failures"]
    if fm.nonfinite is not None:
        checks.append("no non-finite outputs")
        nonfinite = student.value(fm.nonfinite)
        if nonfinite is None:
            unknown.append("non-finite outputs not measured")
        elif nonfinite > 0:
            problems.append(f"{nonfinite:.2f} % non-finite outputs")
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


def scorecards(
    group: Group, targets: SlaTargets | None, metrics: FamilyMetrics = CLASSIFIER_METRICS
) -> list[Scorecard]:
    """scorecard() of every student of a group (every candidate but the teacher), in the group's order."""
    return [scorecard(group, c.variant, targets, metrics) for c in group.candidates if c.variant != TEACHER]
