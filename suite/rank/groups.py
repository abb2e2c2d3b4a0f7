"""The results grouped for ranking: measures, candidates, groups of one task version on one machine, and the lookups."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

from suite.errors import SuiteInputError
from suite.provenance import describe_hardware, describe_runtime_env
from suite.rank.speed import (
    CONTENDED,
    HOST_LOAD,
    OVERSUBSCRIBED,
    SPEEDUP_UNIT,
    contended_text,
    cpus_shared,
    is_aa,
    speedup_text,
    tainted,
)
from suite.rank.standings import intervals_overlap
from suite.results import NONFINITE_ERROR, read_results
from suite.specs import TEACHER

SYSTEM_TASK = "system"  # the pseudo-task of latency, size, memory and energy rows
UNKNOWN_HARDWARE = "unknown hardware"


@dataclass(frozen=True)
class Objective:
    """One axis of the Pareto front."""

    metric: str
    maximize: bool
    required: bool  # a variant without it cannot be ranked; an optional axis is used only where every variant has it


# Accuracy is the task's; the rest are 'system' measurements of the same hardware. Speed is the paired speedup
# against the reference (the teacher by default), timed in the same process; results without one derive it from
# the latencies (with_speedups).
OBJECTIVES: tuple[Objective, ...] = (
    Objective("accuracy", True, True),
    Objective("speedup_p50", True, True),
    Objective("size_mb", False, True),
    Objective("peak_rss_mb", False, False),
    Objective("energy_per_1k_queries_j", False, False),
)


@dataclass(frozen=True)
class FamilyMetrics:
    """Which metrics a model family is ranked, recommended and scored on: the classifier's by default.

    `objectives[0]` is the quality axis, the one the Pareto bootstrap resamples; a speed metric is a latency (lower is
    better) or a rate such as tokens/s (higher is better), as `speed_maximize` says.
    """

    family: str = "classifier"
    quality: str = "accuracy"
    quality_label: str = "accuracy"
    quality_drop: str | None = "accuracy_drop_pts"  # the scorer's paired drop, when the family writes one
    speed: str = "latency_p50_ms"
    speed_maximize: bool = False
    speed_label: str = "latency p50"
    speed_unit: str = "ms"
    speedup: str = "speedup_p50"  # the derived speedup row, when the family writes one
    tail_latency: str = "latency_p99_ms"  # what the `max_latency_p99_ms` deadline and the latency KPI check
    tail_latency_label: str = "p99 latency"
    energy: str = "energy_per_1k_queries_j"
    energy_label: str = "energy per 1 000 queries"
    co2e: str = "co2e_per_1m_inferences_g"
    co2e_label: str = "CO2e per 1 M inferences"
    nonfinite: str | None = "nonfinite_rate"  # the readiness check of non-finite outputs, when measured
    objectives: tuple[Objective, ...] = OBJECTIVES


CLASSIFIER_METRICS = FamilyMetrics()
# Causal language models: mean accuracy (of the tasks the display schema names, derived by suite.rank.derive), the
# paired decode speedup against the reference (timed in the same process; results before paired per-token timing
# carry gather's ratio of decode rates) and size; latency deadlines check the time per output token.
LLM_METRICS = FamilyMetrics(
    family="llm",
    quality="mean_acc",
    quality_label="mean accuracy",
    quality_drop=None,
    speed="decode_tokens_per_s",
    speed_maximize=True,
    speed_label="decode tokens/s",
    speed_unit="tokens/s",
    speedup="decode_speedup",
    tail_latency="tpot_p99_ms",
    tail_latency_label="time per output token p99",
    energy="energy_per_1k_tokens_j",
    energy_label="energy per 1 000 tokens",
    co2e="co2e_per_1m_tokens_g",
    co2e_label="CO2e per 1 M tokens",
    nonfinite=None,
    objectives=(
        Objective("mean_acc", True, True),
        Objective("decode_speedup", True, True),
        Objective("size_mb", False, True),
    ),
)
FAMILY_METRICS = {m.family: m for m in (CLASSIFIER_METRICS, LLM_METRICS)}


def family_metrics(family: str) -> FamilyMetrics:
    """The ranking vocabulary of a family; an unknown family is ranked like a classifier (accuracy, latency, size)."""
    return FAMILY_METRICS.get(family, dataclasses.replace(CLASSIFIER_METRICS, family=family))


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
    derived: bool = False  # made by suite.rank from other rows (with_speedups), not a row of the results

    @property
    def ok(self) -> bool:
        """A usable number: status ok and a finite value (NaN, inf and failures are shown but never ranked)."""
        return self.status == "ok" and self.value is not None and math.isfinite(self.value)

    @property
    def estimate(self) -> bool:
        # Energy on CPUs without power counters is modelled, and the measurement text says so.
        return self.estimated or bool(re.search(r"\bestimate", self.measurement or "", re.IGNORECASE))

    def overlaps(self, other: Measure | None) -> bool:
        """Whether both have intervals and they overlap: the two numbers are not distinguishable (a tie)."""
        return other is not None and intervals_overlap(self.ci_low, self.ci_high, other.ci_low, other.ci_high)

    @property
    def speedup_label(self) -> str:
        """A speedup with its interval, "no measurable change" when the interval contains 1 (speed.speedup_text)."""
        return speedup_text(float(self.value), self.ci_low, self.ci_high) if self.ok else self.error or "not measured"


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

    def unrankable(self, metric: str) -> str | None:
        """Why `metric` cannot rank this candidate: it is unusable (problem), or a timing its job's load guard taints
        (speed.tainted: an absolute timing of a contended job, a speedup of an oversubscribed one); None when it can."""
        problem = self.problem(metric)
        if problem is not None:
            return problem
        contended = self.contended
        if contended and tainted(metric, self.metrics[metric].unit, True, self.oversubscribed is not None):
            return f"{metric} {contended}"
        return None

    @property
    def contended(self) -> str | None:
        """Why its absolute timings are not judged (its `contended` row is 1: the host was busy while it was timed),
        with the load guard's figures; None when the host was quiet or the guard did not run."""
        flag = self.metrics.get(CONTENDED)
        if flag is None or not flag.ok or flag.value != 1.0:
            return None
        return contended_text({metric: self.value(metric) for metric, _ in HOST_LOAD})

    @property
    def oversubscribed(self) -> str | None:
        """Why its speedups are not ranked either: contended, and other work shared its CPUs (its `oversubscribed`
        row is 1, or absent in results from before it was written); None otherwise."""
        contended = self.contended
        return contended if contended is not None and cpus_shared(self.value(OVERSUBSCRIBED)) else None


@dataclass(frozen=True)
class Group:
    """Variants comparable with each other: one task version measured on one hardware fingerprint."""

    task: str
    task_version: str
    hardware: str
    candidates: tuple[Candidate, ...]
    # The reference's own speedups as measured, timed against a second copy of itself (A/A), by metric: the noise
    # floor of every paired speedup of the group (with_speedups); empty for results without paired timing.
    noise_floor: Mapping[str, Measure] = dataclasses.field(default_factory=dict)
    reference: str | None = None  # the candidate timed against a copy of itself (the teacher by default)

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


DERIVED_SPEEDUP = (
    "derived by suite.rank: teacher latency_p50_ms / this latency_p50_ms (no paired speedup in the results)"
)


def with_speedups(group: Group) -> Group:
    """The group with every candidate's `speedup_p50` against the reference, the speed axis of ranking.

    The reference's own A/A rows (its speedups timed against a second copy of itself; their measurement starts with
    "A/A") become 1, its speedup by definition, keeping their interval; the rows as measured are the group's
    `noise_floor`. A candidate without a `speedup_p50` row (results before paired timing) gets one derived from the
    unpaired latencies, teacher p50 / its p50, without an interval; one whose latency failed gets a failed one with
    the latency's reason. `reference` names the candidate with A/A rows. Applying it twice changes nothing.
    """
    teacher = group.teacher
    base = teacher.value("latency_p50_ms") if teacher is not None else None
    floor = dict(group.noise_floor)
    reference = group.reference
    candidates = []
    for c in group.candidates:
        changed: dict[str, Measure] = {}
        for name, m in c.metrics.items():
            if m.unit == SPEEDUP_UNIT and m.ok and not m.derived and is_aa(m.measurement):
                floor.setdefault(name, m)
                reference = reference or c.variant
                changed[name] = dataclasses.replace(
                    m,
                    value=1.0,
                    measurement=f"the reference: 1 by definition; the interval is its A/A noise floor's "
                    f"({m.speedup_label}: {m.measurement})",
                    derived=True,
                )
        latency = c.metrics.get("latency_p50_ms")
        if "speedup_p50" not in c.metrics and latency is not None:
            if latency.ok and base and latency.value:
                changed["speedup_p50"] = Measure(
                    base / latency.value, SPEEDUP_UNIT, measurement=DERIVED_SPEEDUP, derived=True
                )
            elif not latency.ok:
                changed["speedup_p50"] = Measure(
                    None, SPEEDUP_UNIT, status="failed", error=c.problem("latency_p50_ms"), derived=True
                )
        candidates.append(dataclasses.replace(c, metrics={**c.metrics, **changed}) if changed else c)
    return dataclasses.replace(group, candidates=tuple(candidates), noise_floor=floor, reference=reference)


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


SPEED_METRICS = frozenset({"latency_p50_ms", "decode_tokens_per_s"})


def variant_hardware(records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Each variant's hardware fingerprint: the one its latency was measured on (else any of its rows)."""
    best: dict[str, tuple[int, str]] = {}
    for r in records:
        fingerprint = r["hardware_fingerprint"]
        if not fingerprint:
            continue
        # Speed rows decide: accuracy is (nearly) hardware-independent, speed is not.
        rank = 0 if r["metric"] in SPEED_METRICS else 1 if r["task"] == SYSTEM_TASK else 2
        if r["variant"] not in best or rank < best[r["variant"]][0]:
            best[r["variant"]] = (rank, fingerprint)
    return {v: fp for v, (_, fp) in best.items()}


# What the `gpu` column holds when the job saw no GPU (suite.provenance.gpu_name).
_NO_GPU = ("none", "not checked (torch not loaded)")


def row_hardware(row: Mapping[str, Any]) -> str:
    """The machine a row was measured on, in words: its `hardware_description`, or, for rows written before results
    schema v6, the same text built from the columns they have (the ISA extensions then read "not recorded"); with
    the timing-relevant environment variables the job ran under, where any was set (results schema v8).

    >>> row_hardware({"hardware_description": None, "cpu_model": "Test CPU", "cpu_cores": 16, "threads": 2,
    ...               "gpu": "none"})
    'Test CPU, 2 of 16 logical cores, ISA extensions not recorded'
    >>> row_hardware({"hardware_description": "Test CPU, 2 of 16 logical cores, AVX2",
    ...               "runtime_env": '{"OMP_WAIT_POLICY": "PASSIVE"}'})
    'Test CPU, 2 of 16 logical cores, AVX2; runtime env OMP_WAIT_POLICY=PASSIVE'
    """
    env = describe_runtime_env(row.get("runtime_env"))
    if row.get("hardware_description"):
        text = row["hardware_description"]
    else:
        gpu = row.get("gpu")
        text = describe_hardware(
            row.get("cpu_model") or "CPU not recorded",
            row.get("cpu_cores") or 0,
            row.get("threads"),
            None,
            None if gpu in (None, "", *_NO_GPU) else gpu,
        )
    return f"{text}; {env}" if env else text


def hardware_labels(records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Each hardware fingerprint in words: the `hardware_description` its rows recorded, those of its 'system' rows
    (the measurements that depend on the machine) first; only where no row recorded one (files before results schema
    v6), the text row_hardware builds from the other columns. Several (one machine, runs with other thread counts)
    are all named, joined by " / "."""
    # fingerprint -> rank -> texts; rank: recorded on a system row, recorded elsewhere, built on a system row, built
    texts: dict[str, dict[int, list[str]]] = {}
    for record in records:
        fingerprint = record["hardware_fingerprint"]
        if fingerprint:
            rank = (0 if record.get("hardware_description") else 2) + (record["task"] != SYSTEM_TASK)
            texts.setdefault(fingerprint, {}).setdefault(rank, []).append(row_hardware(record))
    return {fp: " / ".join(dict.fromkeys(by_rank[min(by_rank)])) for fp, by_rank in texts.items()}


class Contention(NamedTuple):
    """A variant timed on a contended host, as its load guard rows say."""

    reason: str  # "timed on a contended host (…the load guard's figures…)"
    measurement: str  # the `contended` row's text, every figure and limit
    oversubscribed: bool  # other work shared its CPUs: its speedups are tainted too (speed.tainted)

    def taints(self, metric: str, unit: str) -> bool:
        """Whether this number of the variant is marked †: speed.tainted."""
        return tainted(metric, unit, True, self.oversubscribed)


def contended_variants(records: Iterable[Mapping[str, Any]]) -> dict[str, Contention]:
    """The variants timed on a contended host (a 'system' `contended` row of 1), with the load guard's figures of the
    same system rows; oversubscribed unless its `oversubscribed` row is 0 (Candidate.oversubscribed)."""
    figures: dict[tuple[str, str], dict[str, float | None]] = {}
    flagged: dict[str, tuple[str, str]] = {}
    shared: dict[tuple[str, str], float] = {}  # the `oversubscribed` rows
    load = {metric for metric, _ in HOST_LOAD}
    for r in records:
        if r["task"] != SYSTEM_TASK or r["status"] != "ok":
            continue
        where = (r["variant"], r["task_version"] or "")
        if r["metric"] in load:
            figures.setdefault(where, {})[r["metric"]] = r["value"]
        elif r["metric"] == CONTENDED and r["value"] == 1.0:
            flagged.setdefault(r["variant"], (where[1], r["measurement"] or ""))
        elif r["metric"] == OVERSUBSCRIBED:
            shared[where] = r["value"]
    return {
        v: Contention(contended_text(figures.get((v, version), {})), text, cpus_shared(shared.get((v, version))))
        for v, (version, text) in flagged.items()
    }


def nonfinite_variants(records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The variants that gave non-finite outputs on some task, with the first such task's reason."""
    flagged: dict[str, str] = {}
    for r in records:
        if r["status"] != "ok" and (r["error"] or "").startswith(NONFINITE_ERROR) and r["variant"] not in flagged:
            flagged[r["variant"]] = f"{r['task']}: {r['error']}"
    return flagged


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
    flagged = nonfinite_variants(records)
    groups: dict[tuple[str, str, str], list[Candidate]] = {}
    for (task, version), by_variant in sorted(tasks.items()):
        for variant, metrics in by_variant.items():
            fp = hardware.get(variant, UNKNOWN_HARDWARE)
            merged = {**system.get(variant, {}), **metrics}
            if variant in flagged:  # shown with the reason, never ranked: no number of it is usable
                merged = {m: dataclasses.replace(x, status="failed", error=flagged[variant]) for m, x in merged.items()}
            method, parent = lineage[variant]
            groups.setdefault((task, version, fp), []).append(Candidate(variant, method, parent, fp, merged))
    return [
        with_speedups(Group(t, v, h, tuple(sorted(c, key=lambda c: (c.variant != TEACHER, c.variant)))))
        for (t, v, h), c in sorted(groups.items())
    ]


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
    """Sort key of a task version: "1.10" is newer than "1.9"; no version sorts first.

    >>> sorted(["1.10", "1.9", "", "1.9-rc"], key=version_key)
    ['', '1.9', '1.9-rc', '1.10']
    """
    if not version:
        return ()
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-+]", version))
