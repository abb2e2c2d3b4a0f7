"""A Markdown summary table of a results Parquet (one row per variant), for READMEs and pull-request comments."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from suite.errors import SuiteInputError
from suite.rank import (
    SYSTEM_TASK,
    contended_consequence,
    contended_variants,
    row_hardware,
    speedup_text,
)
from suite.registry import UnknownNameError
from suite.results import read_results
from suite.specs import TEACHER

# (metric, task or None for the primary task, header, decimals, show CI)
COLUMNS: tuple[tuple[str, str | None, str, int, bool], ...] = (
    ("accuracy", None, "accuracy % [95 % CI]", 2, True),
    ("accuracy_drop_pts", None, "drop (pts)", 2, False),
    ("macro_f1", None, "macro-F1 %", 2, False),
    ("latency_mean_ms", "system", "mean ms", 2, False),
    ("latency_std_ms", "system", "std ms", 2, False),
    ("latency_p50_ms", "system", "p50 ms", 2, False),
    ("latency_p99_ms", "system", "p99 ms", 2, False),
    ("speedup_p50", "system", "speedup (p50)", 2, False),
    ("size_mb", "system", "size MiB", 1, False),
    ("size_reduction_pct", "system", "size −%", 1, False),
    ("param_mb", "system", "params MiB", 1, False),
    ("sparsity", "system", "sparsity %", 1, False),
)


def _fmt(value: float | None, decimals: int) -> str:
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    return f"{value:.{decimals}f}"


def variant_machines(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Each variant's machine in words (row_hardware): that of its latency row, else of another 'system' row, else of
    any row that recorded one; variants none of whose rows did are left out."""
    best: dict[str, tuple[int, str]] = {}
    for r in rows:
        if not (r.get("hardware_description") or r.get("cpu_model")):
            continue
        rank = 0 if r["metric"] == "latency_p50_ms" else 1 if r["task"] == SYSTEM_TASK else 2
        if r["variant"] not in best or rank < best[r["variant"]][0]:
            best[r["variant"]] = (rank, row_hardware(r))
    return {variant: text for variant, (_, text) in best.items()}


def markdown_table(parquet: Path, task: str | None = None) -> str:
    """Teacher first, then the variants by the task's accuracy; failed or missing numbers are shown, not dropped.
    The machine the numbers were measured on opens the table when every variant shares one (with how many hosts
    of it, where the results name hosts), else it is a column."""
    rows = read_results([parquet]).to_pylist()
    tasks = sorted({r["task"] for r in rows if r["task"] != "system"})
    if task is not None and task not in tasks:
        raise SuiteInputError(
            str(parquet), None, str(UnknownNameError("task", task, tasks)), "pass --task with a task of the file"
        )
    task = task or (tasks[0] if tasks else "system")
    cells: dict[tuple[str, str, str], dict] = {(r["variant"], r["task"], r["metric"]): r for r in rows}
    variants = sorted({r["variant"] for r in rows})

    def value(variant: str, metric: str, where: str) -> float | None:
        row = cells.get((variant, where, metric))
        return None if row is None or row["status"] != "ok" else row["value"]

    def rank(variant: str) -> tuple[int, float, str]:
        acc = value(variant, "accuracy", task)
        return (0 if variant == TEACHER else 1, -(acc if acc is not None and not math.isnan(acc) else -1.0), variant)

    methods = {r["variant"]: r["method"] for r in rows}
    machines = variant_machines(rows)
    contended = contended_variants(rows)
    distinct = {machines.get(v, "not recorded") for v in variants}
    one_machine = len(distinct) <= 1
    header = ["variant", "method", *([] if one_machine else ["hardware"]), *(c[2] for c in COLUMNS)]
    lines = []
    if one_machine:
        hosts = {r["host_id"] for r in rows if r.get("host_id")}  # results schema v7 on; read where present
        several = f" ({len(hosts)} hosts of this hardware)" if len(hosts) > 1 else ""
        lines += [f"Hardware: {next(iter(distinct), 'not recorded')}{several}", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant in sorted(variants, key=rank):
        out = [f"`{variant}`", methods.get(variant) or ""]
        if not one_machine:
            out.append(machines.get(variant, "not recorded"))
        for metric, where, _, decimals, ci in COLUMNS:
            row = cells.get((variant, where or task, metric))
            if row is not None and row["status"] == "failed":
                out.append("failed")
                continue
            number = value(variant, metric, where or task)
            text = _fmt(number, decimals)
            if row is not None and row["unit"] == "x" and number is not None and math.isfinite(number):
                # a speedup: with its interval, and "no measurable change" when that contains 1
                text = speedup_text(number, row["ci_low"], row["ci_high"], decimals)
            elif ci and row is not None and row["ci_low"] is not None:
                text += f" [{_fmt(row['ci_low'], decimals)}, {_fmt(row['ci_high'], decimals)}]"
            busy = contended.get(variant)
            if busy is not None and number is not None and busy.taints(metric, row["unit"] if row else ""):
                text += " †"
            out.append(text)
        lines.append("| " + " | ".join(out) + " |")
    if contended:
        lines.append("")
        lines += [
            f"† `{variant}`: {busy.reason}; {contended_consequence(busy.oversubscribed)}"
            for variant, busy in contended.items()
        ]
    return "\n".join(lines)


def failure_groups(records: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, list[Mapping[str, Any]]]]:
    """The failed rows, one group per (variant, reason), sorted: a build that failed is one group, not one line per
    number it left unmeasured. [(variant, reason, rows)]; what the console verdict and the site's Failures list show."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in records:
        if r["status"] != "ok":
            groups.setdefault((r["variant"], r["error"] or "failed without an error message"), []).append(r)
    return [(variant, reason, rows) for (variant, reason), rows in sorted(groups.items())]


def listed(items: list[str], shown: int) -> str:
    """The first `shown` items, and how many more.

    >>> listed(["a", "b", "c"], 2), listed(["a"], 2)
    ('a, b and 1 more', 'a')
    """
    return ", ".join(items[:shown]) + (f" and {len(items) - shown} more" if len(items) > shown else "")


def run_status(results: Path, resolved: list[Path]) -> tuple[str, bool]:
    """What failed in a run, for the console and CI: per variant its failed numbers grouped by reason, and the
    rejected entries of each track. (text, whether anything failed)."""
    import json

    from suite import entries

    records = [r for r in read_results([Path(results)]).to_pylist() if r.get("verified") is not False]
    groups = failure_groups(records)
    lines = []
    for variant, reason, rows in groups:
        where = [r["metric"] if r["task"] == "system" else f"{r['task']} {r['metric']}" for r in rows]
        lines.append(
            f"  {variant}: {len(where)} number{'s' if len(where) != 1 else ''} failed ({listed(where, 4)}): {reason}"
        )
    rejected, rejected_count = [], 0
    for path in resolved:
        for item in entries.rejected(json.loads(Path(path).read_text())):
            rejected_count += 1
            rejected += [f"  {p['message']}" for p in item.get("problems") or []]  # each names the file
    variants = {r["variant"] for r in records}
    if not lines and not rejected:
        return f"run status: ok ({len(records)} numbers of {len(variants)} variants, none failed)", False
    entries_text = f"{rejected_count} entr{'y' if rejected_count == 1 else 'ies'} rejected"
    text = [
        f"run status: FAILED ({len({g[0] for g in groups})} of {len(variants)} variants have failed numbers, "
        f"{entries_text}); "
        "the leaderboard and site hold the rest"
    ]
    if lines:
        text += ["failed numbers, by variant and reason:", *lines]
    if rejected:
        text += ["rejected entries (nothing of them was run):", *rejected]
    return "\n".join(text), True
