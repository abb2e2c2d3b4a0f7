"""The results grouped for ranking: measures, candidates, groups of one task version on one machine, and the lookups."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from suite.errors import SuiteInputError
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


# Accuracy is the task's; the rest are 'system' measurements of the same hardware.
OBJECTIVES: tuple[Objective, ...] = (
    Objective("accuracy", True, True),
    Objective("latency_p50_ms", False, True),
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
# Causal language models: mean accuracy (of the tasks the display schema names, derived by suite.rank.derive), decode
# tokens/s and size; latency deadlines check the time per output token.
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
        Objective("decode_tokens_per_s", True, True),
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
        Group(t, v, h, tuple(sorted(c, key=lambda c: (c.variant != TEACHER, c.variant))))
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
