"""Numbers the site derives from the results rows, such as the llm family's mean accuracy over several tasks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from suite.rank.groups import version_key

DERIVED = "derived by the site from the results rows"


def mean_rows(
    records: Sequence[Mapping[str, Any]], parts: Sequence[tuple[str, str]], task: str, metric: str
) -> list[dict[str, Any]]:
    """One row per variant: the unweighted mean of the `parts` ((task, metric) pairs, each task's newest version).

    A variant with none of the parts gets no row; one with a part failed, missing or not finite gets a failed row
    whose error names it. The interval, when every part has one, is the mean ± the parts' half-widths combined as
    independent errors (√Σh² / k); n is left empty (the parts have different instances).

    >>> rows = [
    ...     {"variant": "t", "task": "piqa", "task_version": "1", "metric": "acc", "value": 70.0, "unit": "%",
    ...      "status": "ok", "ci_low": 68.0, "ci_high": 72.0, "error": None},
    ...     {"variant": "t", "task": "blimp", "task_version": "1", "metric": "acc", "value": 80.0, "unit": "%",
    ...      "status": "ok", "ci_low": 79.0, "ci_high": 81.0, "error": None},
    ...     {"variant": "s", "task": "piqa", "task_version": "1", "metric": "acc", "value": 60.0, "unit": "%",
    ...      "status": "failed", "ci_low": None, "ci_high": None, "error": "out of memory"},
    ... ]
    >>> t, s = mean_rows(rows, [("piqa", "acc"), ("blimp", "acc")], "mean", "mean_acc")
    >>> t["value"], round(t["ci_low"], 3), t["status"], s["value"], s["status"]
    (75.0, 73.882, 'ok', None, 'failed')
    >>> s["error"]
    'piqa acc failed: out of memory; blimp acc not measured'
    """
    newest: dict[str, str] = {}
    for r in records:
        if any(r["task"] == t and r["metric"] == m for t, m in parts):
            version = r["task_version"] or ""
            if r["task"] not in newest or version_key(version) > version_key(newest[r["task"]]):
                newest[r["task"]] = version
    index = {
        (r["variant"], r["task"], r["metric"]): r
        for r in records
        if r["task"] in newest and (r["task_version"] or "") == newest[r["task"]]
    }
    variants = list(dict.fromkeys(r["variant"] for r in records))
    described = " and ".join(f"{t}{f' v{newest[t]}' if newest.get(t) else ''} {m}" for t, m in parts)
    out = []
    for variant in variants:
        found = [index.get((variant, t, m)) for t, m in parts]
        if not any(found):
            continue
        problems = []
        for (t, m), row in zip(parts, found, strict=True):
            if row is None:
                problems.append(f"{t} {m} not measured")
            elif row["status"] != "ok":
                problems.append(f"{t} {m} failed: {row['error'] or 'no error message'}")
            elif row["value"] is None or not math.isfinite(row["value"]):
                problems.append(f"{t} {m} is {row['value']}")
        units = {row["unit"] for row in found if row is not None}
        if not problems and len(units) > 1:
            problems.append(f"the parts are in different units {sorted(units)}")
        base = next(row for row in found if row is not None)
        derived = {
            **base,
            "task": task,
            "task_version": "",
            "metric": metric,
            "higher_is_better": True,
            "n": None,
            "estimate": False,
            "measurement": f"mean of {described}; {DERIVED}",
        }
        if problems:
            out.append(
                {
                    **derived,
                    "value": None,
                    "ci_low": None,
                    "ci_high": None,
                    "status": "failed",
                    "error": "; ".join(problems),
                }
            )
            continue
        values = [float(row["value"]) for row in found]  # type: ignore[index]
        mean = sum(values) / len(values)
        halves = [
            (row["ci_high"] - row["ci_low"]) / 2  # type: ignore[index]
            for row in found
            if row["ci_low"] is not None and row["ci_high"] is not None  # type: ignore[index]
        ]
        low = high = None
        if len(halves) == len(found) and all(math.isfinite(h) for h in halves):
            half = math.sqrt(sum(h * h for h in halves)) / len(found)
            low, high = mean - half, mean + half
        out.append({**derived, "value": mean, "ci_low": low, "ci_high": high, "status": "ok", "error": None})
    return out
