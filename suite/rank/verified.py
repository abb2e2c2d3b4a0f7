"""Community entries' self-reported numbers checked against the numbers the suite measured (verified)."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from suite.rank.groups import SYSTEM_TASK
from suite.results import Row, to_table

NOT_MEASURED = "not measured"
DEFAULT_DECIMALS = 4  # the precision a metric without a display gets (the site prints it with 4 decimals)

Index = Mapping[tuple[str, str, str, str], Mapping[str, Any]]  # (variant, task, task_version, metric) -> row


def newest_version(task_versions: Sequence[tuple[str, str]], task: str) -> str:
    """The last version of `task` in `task_versions` (sorted oldest first), '' when there is none.

    >>> newest_version([("sst2", "1.0"), ("sst2", "1.1"), ("mnli", "2.0")], "sst2"), newest_version([], "sst2")
    ('1.1', '')
    """
    versions = [v for t, v in task_versions if t == task]
    return versions[-1] if versions else ""


@dataclass(frozen=True)
class SelfReported:
    """One self-reported number beside the suite's row for the same variant, task version and metric."""

    task: str
    task_version: str  # the newest version of the task in the results; '' for system numbers
    metric: str
    reported: float
    unit: str  # the verified row's unit, else the display schema's
    row: Mapping[str, Any] | None  # the verified row; None when the suite never measured it
    delta: float | None  # reported − verified, when the verified value is finite
    relative_pct: float | None  # 100 × delta / |verified|, when the verified value is finite and not zero
    verdict: str  # inside/outside the verified CI, matches to the shown precision, differs, failed's error, ...


def self_reported(
    variant: str,
    reported: Mapping[str, Mapping[str, float]],
    index: Index,
    task_versions: Sequence[tuple[str, str]],
    units: Mapping[str, str],
    decimals: Mapping[str, int] | None = None,
) -> list[SelfReported]:
    """Each self-reported number (`reported`: task -> metric -> value) against the verified row, with a verdict.

    A verified number with a CI: the reported one is inside or outside it; without one, it matches when it is within
    half a unit of the last decimal the site prints (`decimals`, per metric).

    >>> index = {("m", "sst2", "1.0", "accuracy"): {"value": 88.0, "status": "ok", "unit": "%", "ci_low": 86.0,
    ...                                           "ci_high": 90.0, "error": None}}
    >>> [(c.delta, c.verdict) for c in self_reported("m", {"sst2": {"accuracy": 91.0}}, index, [("sst2", "1.0")], {})]
    [(3.0, 'outside the verified CI')]
    """
    decimals = decimals or {}
    out = []
    for task, metrics in reported.items():
        version = "" if task == SYSTEM_TASK else newest_version(task_versions, task)
        for metric, value in metrics.items():
            row = index.get((variant, task, version, metric))
            unit = (row or {}).get("unit") or units.get(metric, "")
            delta = relative = None
            verdict = NOT_MEASURED
            if row is not None and row["status"] != "ok":
                verdict = row["error"] or "failed without an error message"
            elif row is not None and row["value"] is not None:
                measured = row["value"]
                if math.isfinite(measured):
                    delta = value - measured
                    if measured:
                        relative = 100 * delta / abs(measured)
                    if row.get("ci_low") is not None and row.get("ci_high") is not None:
                        inside = row["ci_low"] <= value <= row["ci_high"]
                        verdict = "inside the verified CI" if inside else "outside the verified CI"
                    else:
                        shown = 0.5 * 10 ** -decimals.get(metric, DEFAULT_DECIMALS)
                        verdict = "matches to the shown precision" if abs(delta) < shown else "differs"
                else:
                    verdict = "the verified value is not finite"
            out.append(SelfReported(task, version, metric, value, unit, row, delta, relative, verdict))
    return out


def self_reported_parquet(
    accepted: Iterable[Mapping[str, Any]],
    index: Index,
    task_versions: Sequence[tuple[str, str]],
    units: Mapping[str, str],
) -> bytes | None:
    """Every accepted entry's self-reported numbers as rows of the results schema with `verified` false (a Parquet
    file's bytes), None when no entry reports any. `accepted`: the resolved config's accepted entries."""
    tables = []
    for item in accepted:
        entry = item["entry"]
        rows = [
            Row(
                variant=item["id"],
                metric=check.metric,
                value=float(check.reported),
                unit=check.unit,
                higher_is_better=(check.row or {}).get("higher_is_better"),
                task=check.task,
                task_version=check.task_version,
                measurement=f"self-reported by {entry['submitter']} in {item.get('file')}; not verified",
                verified=False,
            )
            for check in self_reported(item["id"], entry.get("self_reported") or {}, index, task_versions, units)
        ]
        if rows:
            variant_spec = item["variant"]
            lineage = {"teacher": entry["teacher"], "parent": variant_spec["parent"], "method": variant_spec["method"]}
            tables.append(to_table(rows, lineage, {}))
    if not tables:
        return None
    buffer = io.BytesIO()
    pq.write_table(pa.concat_tables(tables), buffer)
    return buffer.getvalue()
