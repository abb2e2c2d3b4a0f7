"""The static leaderboard site: one HTML page rendered from the results Parquet, named by leaderboard/schema.yaml."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import yaml

from suite.errors import SuiteInputError
from suite.results import atomic_write, read_results
from suite.specs import TEACHER

SYSTEM_TASK = "system"  # the pseudo-task of latency and size rows
GROUPS = ("quality", "fidelity", "latency", "size")
TEMPLATE = "index.html.j2"
NOT_MEASURED = "not measured"
EM_DASH = "—"


# --- schema -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricDisplay:
    """How one metric is named and printed on the site (one entry of schema.yaml's `metrics`)."""

    name: str
    display_name: str
    unit: str  # as written in the Parquet 'unit' column
    unit_label: str  # as printed in the column header
    group: str
    decimals: int
    thousands: bool = False
    show_ci: bool = False
    spread: str | None = None
    description: str = ""

    @property
    def header(self) -> str:
        return f"{self.display_name} ({self.unit_label})" if self.unit_label else self.display_name


@dataclass(frozen=True)
class LeaderboardSchema:
    """leaderboard/schema.yaml, validated."""

    path: Path
    title: str
    description: str
    main_task: str
    main_metric: str
    task_names: Mapping[str, str]
    groups: Mapping[str, str]
    task_columns: tuple[str, ...]
    system_columns: tuple[str, ...]
    metrics: Mapping[str, MetricDisplay]

    def task_label(self, task: str) -> str:
        return self.task_names.get(task, task)


def _require(mapping: Any, key: str, kind: type | tuple[type, ...], path: Path, where: str) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise SuiteInputError(str(path), f"{where}{key}", "is missing", f"add '{key}' (see the comment at the top)")
    value = mapping[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SuiteInputError(str(path), f"{where}{key}", f"is {value!r}, expected {expected}", "correct its type")
    return value


def load_schema(schema_path: Path) -> LeaderboardSchema:
    """Read and check leaderboard/schema.yaml; every problem names the field and the fix."""
    path = Path(schema_path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SuiteInputError(str(path), None, f"cannot be read as YAML ({exc})", "fix the file") from exc
    site = _require(raw, "site", dict, path, "")
    main = _require(raw, "main_metric", dict, path, "")
    groups = _require(raw, "groups", dict, path, "")
    columns = _require(raw, "columns", dict, path, "")
    metrics_raw = _require(raw, "metrics", dict, path, "")
    missing_groups = [g for g in GROUPS if g not in groups]
    if missing_groups:
        raise SuiteInputError(str(path), "groups", f"lacks {missing_groups}", f"name every group of {list(GROUPS)}")

    metrics: dict[str, MetricDisplay] = {}
    for name, entry in metrics_raw.items():
        where = f"metrics.{name}."
        group = _require(entry, "group", str, path, where)
        if group not in GROUPS:
            raise SuiteInputError(str(path), f"{where}group", f"is {group!r}", f"use one of {list(GROUPS)}")
        unit = _require(entry, "unit", str, path, where)
        decimals = _require(entry, "decimals", int, path, where)
        if decimals < 0:
            raise SuiteInputError(str(path), f"{where}decimals", f"is {decimals}", "use 0 or more")
        metrics[name] = MetricDisplay(
            name=name,
            display_name=_require(entry, "display_name", str, path, where),
            unit=unit,
            unit_label=str(entry.get("unit_label", unit)),
            group=group,
            decimals=decimals,
            thousands=bool(entry.get("thousands", False)),
            show_ci=bool(_require(entry, "show_ci", bool, path, where)),
            spread=entry.get("spread"),
            description=str(entry.get("description", "")),
        )
    for name, metric in metrics.items():
        if metric.spread is not None and metric.spread not in metrics:
            raise SuiteInputError(
                str(path), f"metrics.{name}.spread", f"names {metric.spread!r}, not a metric", "describe it in metrics"
            )

    column_lists: dict[str, tuple[str, ...]] = {}
    for kind in ("task", "system"):
        listed = _require(columns, kind, list, path, "columns.")
        unknown = [m for m in listed if m not in metrics]
        if unknown:
            raise SuiteInputError(str(path), f"columns.{kind}", f"lists {unknown}", "describe them under metrics")
        column_lists[kind] = tuple(listed)

    main_metric = _require(main, "metric", str, path, "main_metric.")
    if main_metric not in column_lists["task"]:
        raise SuiteInputError(
            str(path), "main_metric.metric", f"{main_metric!r} is not in columns.task", "add it to columns.task"
        )
    return LeaderboardSchema(
        path=path,
        title=_require(site, "title", str, path, "site."),
        description=_require(site, "description", str, path, "site."),
        main_task=_require(main, "task", str, path, "main_metric."),
        main_metric=main_metric,
        task_names={str(k): str(v) for k, v in (raw.get("tasks") or {}).items()},
        groups={str(k): str(v) for k, v in groups.items()},
        task_columns=column_lists["task"],
        system_columns=column_lists["system"],
        metrics=metrics,
    )


# --- formatting -------------------------------------------------------------------------------------------------


def format_number(value: float, decimals: int, thousands: bool = False) -> str:
    """A number as the site prints it; NaN and inf are data and print as such.

    >>> format_number(91.0555, 2), format_number(float("nan"), 2), format_number(-float("inf"), 1)
    ('91.06', 'NaN', '-inf')
    >>> format_number(-0.001, 2), format_number(22713216.0, 0, thousands=True)
    ('0.00', '22,713,216')
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = f"{value:,.{decimals}f}" if thousands else f"{value:.{decimals}f}"
    # A value that rounds to zero prints without a sign: "-0.00" reads as a measured negative.
    if text.startswith("-") and float(text[1:].replace(",", "")) == 0:
        text = text[1:]
    return text


def _sort_value(value: float) -> str | None:
    # data-value for the page's sort script: JavaScript's Number() reads "Infinity"; NaN sorts with the unmeasured.
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, its tooltip, the value the sort script uses and its CSS state."""

    text: str
    title: str = ""
    sort_value: str | None = None
    state: str = "ok"  # ok | failed | missing | nonfinite


@dataclass(frozen=True)
class Column:
    key: str  # metric name
    header: str
    description: str
    group_label: str
    group: str  # CSS class of the group


def _measurement_title(row: Mapping[str, Any]) -> str:
    parts = [row.get("measurement") or ""]
    if row.get("n") is not None:
        parts.append(f"n = {row['n']}")
    return "; ".join(p for p in parts if p)


def _metric_cell(row: Mapping[str, Any] | None, spread_row: Mapping[str, Any] | None, fmt: MetricDisplay) -> Cell:
    if row is None:
        return Cell(EM_DASH, NOT_MEASURED, None, "missing")
    if row["status"] != "ok":
        return Cell("failed", row.get("error") or "failed without an error message", None, "failed")
    value = row["value"]
    if value is None:
        return Cell(EM_DASH, f"{NOT_MEASURED} (status ok but no value)", None, "missing")
    text = format_number(value, fmt.decimals, fmt.thousands)
    title = _measurement_title(row)
    if fmt.show_ci and row.get("ci_low") is not None and row.get("ci_high") is not None:
        low = format_number(row["ci_low"], fmt.decimals, fmt.thousands)
        high = format_number(row["ci_high"], fmt.decimals, fmt.thousands)
        text += f" [{low}, {high}]"
    if fmt.spread is not None:
        if spread_row is not None and spread_row["status"] == "ok" and spread_row["value"] is not None:
            text += f" ± {format_number(spread_row['value'], fmt.decimals, fmt.thousands)}"
        else:
            title = "; ".join(t for t in (title, f"{fmt.spread}: {NOT_MEASURED}") if t)
    return Cell(text, title, _sort_value(value), "ok" if math.isfinite(value) else "nonfinite")


# --- data -------------------------------------------------------------------------------------------------------


def _version_key(version: str) -> tuple:
    # "1.10" is newer than "1.9": compare numeric parts as numbers; no version sorts before every version.
    if not version:
        return ()
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-+]", version))


def _distinct(values: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value is not None and value != "" and value not in seen:
            seen.append(value)
    return seen


def _index_rows(records: list[dict[str, Any]], source: Path) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    index: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    duplicates = set()
    for record in records:
        for column in ("variant", "task", "metric", "status"):
            if not record[column]:
                raise SuiteInputError(str(source), column, "is empty in a row", "re-run the job that wrote it")
        key = (record["variant"], record["task"], record["task_version"] or "", record["metric"])
        if key in index:
            duplicates.add(key)
        index[key] = record
    if duplicates:
        shown = ", ".join("/".join(k) for k in sorted(duplicates)[:5])
        raise SuiteInputError(
            str(source),
            "variant/task/task_version/metric",
            f"{len(duplicates)} numbers appear more than once ({shown})",
            "re-run the gather step so each number is written once",
        )
    return index


def _check_units(records: list[dict[str, Any]], schema: LeaderboardSchema, source: Path) -> None:
    for record in records:
        fmt = schema.metrics.get(record["metric"])
        if fmt is not None and record["unit"] != fmt.unit:
            raise SuiteInputError(
                str(schema.path),
                f"metrics.{fmt.name}.unit",
                f"is {fmt.unit!r} but {source} records {record['metric']} in {record['unit']!r}",
                "make the schema's unit match the results (and its display) or fix the job that wrote the number",
            )


def _lineage(records: list[dict[str, Any]], variant: str, source: Path) -> tuple[str, str]:
    found = []
    for key in ("method", "parent"):
        values = _distinct(r[key] for r in records if r["variant"] == variant)
        if len(values) > 1:
            raise SuiteInputError(
                str(source), key, f"variant {variant!r} has several values {values}", "rebuild the variant's results"
            )
        found.append(values[0] if values else "")
    return found[0], found[1]


def _main_version(task_versions: list[tuple[str, str]], schema: LeaderboardSchema, source: Path) -> str:
    versions = [v for t, v in task_versions if t == schema.main_task]
    if not versions:
        present = sorted({t for t, _ in task_versions})
        raise SuiteInputError(
            str(schema.path),
            "main_metric.task",
            f"{schema.main_task!r} has no results in {source} (tasks there: {present})",
            "set main_metric.task to a task that was evaluated",
        )
    return max(versions, key=_version_key)


def _rank_key(value: float | None, variant: str) -> tuple:
    # Unranked (not measured, failed, NaN) rows go last, in name order, so they are shown but never ranked.
    if value is None or math.isnan(value):
        return (1, 0.0, variant)
    return (0, -value, variant)


def _provenance(records: list[dict[str, Any]], source: Path) -> dict[str, Any]:
    fields = (
        ("Suite version", "suite_version"),
        ("Git commit", "git_commit"),
        ("Config hash", "config_hash"),
        ("CPU model", "cpu_model"),
        ("CPU cores", "cpu_cores"),
        ("Torch threads", "threads"),
        ("GPU", "gpu"),
        ("Hardware fingerprint", "hardware_fingerprint"),
        ("Seed", "seed"),
    )
    items = []
    for label, key in fields:
        values = [str(v) for v in _distinct(r[key] for r in records)]
        items.append({"label": label, "values": values or [NOT_MEASURED], "differs": len(values) > 1})

    libraries: dict[str, list[str]] = {}
    for text in _distinct(r["library_versions"] for r in records):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SuiteInputError(
                str(source), "library_versions", f"is not JSON ({exc}): {text[:80]!r}", "re-run the job that wrote it"
            ) from exc
        if not isinstance(parsed, dict):
            raise SuiteInputError(
                str(source), "library_versions", f"is not a JSON object: {text[:80]!r}", "re-run the job that wrote it"
            )
        for package, version in parsed.items():
            versions = libraries.setdefault(str(package), [])
            if str(version) not in versions:
                versions.append(str(version))
    library_items = [
        {"name": name, "versions": versions, "differs": len(versions) > 1}
        for name, versions in sorted(libraries.items())
    ]

    stamps: list[datetime] = [r["timestamp"] for r in records if r["timestamp"] is not None]
    first = min(stamps).isoformat(timespec="seconds") if stamps else NOT_MEASURED
    last = max(stamps).isoformat(timespec="seconds") if stamps else NOT_MEASURED
    return {
        "items": items,
        "libraries": library_items,
        "first": first,
        "last": last,
        "differs": any(i["differs"] for i in items) or any(i["differs"] for i in library_items),
    }


# --- page -------------------------------------------------------------------------------------------------------


def build_page(records: list[dict[str, Any]], schema: LeaderboardSchema, source: Path) -> dict[str, Any]:
    """The template context: header groups, columns, one row per variant, provenance and notes."""
    _check_units(records, schema, source)
    index = _index_rows(records, source)
    metrics_by_tv: dict[tuple[str, str], set[str]] = {}
    for _variant, task, version, metric in index:
        metrics_by_tv.setdefault((task, version), set()).add(metric)
    task_versions = sorted(
        (tv for tv in metrics_by_tv if tv[0] != SYSTEM_TASK),
        key=lambda tv: (tv[0] != schema.main_task, tv[0], _version_key(tv[1])),
    )
    main_version = _main_version(task_versions, schema, source)

    # Columns: (task, version, metric) triples, in schema order, only where some row has the metric; metrics the
    # schema does not describe follow as their own group so no number is left off the page.
    columns: list[tuple[str, str, Column]] = []
    header_groups: list[dict[str, Any]] = []
    shown: set[tuple[str, str, str]] = set()

    def add_group(label: str, css: str, task: str, version: str, names: list[str]) -> None:
        if not names:
            return
        header_groups.append({"label": label, "span": len(names), "group": css})
        for name in names:
            fmt = schema.metrics.get(name)
            if fmt is None:
                units = _distinct(r["unit"] for r in records if r["metric"] == name)
                header = f"{name} ({', '.join(units)})" if units else name
                column = Column(name, header, "not described in leaderboard/schema.yaml", label, css)
            else:
                column = Column(name, fmt.header, fmt.description, label, css)
                if fmt.spread:
                    shown.add((task, version, fmt.spread))
            columns.append((task, version, column))
            shown.add((task, version, name))

    def add_task_group(task: str, version: str, prefix: str, listed: tuple[str, ...]) -> None:
        present = metrics_by_tv.get((task, version), set())
        for group in GROUPS:
            names = [m for m in listed if schema.metrics[m].group == group and m in present]
            add_group(f"{prefix}{schema.groups[group]}", group, task, version, names)
        unknown = sorted(m for m in present if m not in schema.metrics)
        add_group(f"{prefix}other metrics", "other", task, version, unknown)

    for task, version in task_versions:
        label = schema.task_label(task) + (f" v{version}" if version else "")
        add_task_group(task, version, f"{label} · ", schema.task_columns)
    for version in sorted((v for t, v in metrics_by_tv if t == SYSTEM_TASK), key=_version_key):
        add_task_group(SYSTEM_TASK, version, f"v{version} · " if version else "", schema.system_columns)

    unshown = sorted({(t, v, m) for (_, t, v, m) in index} - shown)
    unknown = sorted({m for (_, _, _, m) in index if m not in schema.metrics})

    variants = _distinct(r["variant"] for r in records)
    main_values = {}
    for variant in variants:
        row = index.get((variant, schema.main_task, main_version, schema.main_metric))
        main_values[variant] = row["value"] if row is not None and row["status"] == "ok" else None
    ordered = [v for v in variants if v == TEACHER]
    ordered += sorted((v for v in variants if v != TEACHER), key=lambda v: _rank_key(main_values[v], v))

    rows = []
    for variant in ordered:
        method, parent = _lineage(records, variant, source)
        cells = []
        for task, version, column in columns:
            # A metric the schema does not describe gets 4 decimals: enough to read, without claiming a precision.
            fmt = schema.metrics.get(column.key) or MetricDisplay(column.key, column.key, "", "", "other", 4)
            row = index.get((variant, task, version, column.key))
            spread = index.get((variant, task, version, fmt.spread)) if fmt.spread else None
            cells.append(_metric_cell(row, spread, fmt))
        artefacts = _distinct(r["artefact_sha256"] for r in records if r["variant"] == variant)
        rows.append(
            {
                "variant": variant,
                "title": "artefact sha256: " + ", ".join(artefacts) if artefacts else "",
                "is_teacher": variant == TEACHER,
                "method": method,
                "parent": parent,
                "cells": cells,
            }
        )

    failures = [
        {
            "variant": r["variant"],
            "where": r["task"] + (f" v{r['task_version']}" if r["task_version"] else ""),
            "metric": r["metric"],
            "error": r["error"] or "failed without an error message",
        }
        for r in records
        if r["status"] != "ok"
    ]
    main_fmt = schema.metrics[schema.main_metric]
    main_label = schema.task_label(schema.main_task) + (f" v{main_version}" if main_version else "")
    return {
        "title": schema.title,
        "description": schema.description,
        "main_metric": f"{main_fmt.display_name} on {main_label}",
        "header_groups": header_groups,
        "columns": [c for _, _, c in columns],
        "rows": rows,
        "failures": failures,
        "unshown": [{"metric": m, "where": t + (f" v{v}" if v else "")} for t, v, m in unshown],
        "unknown": unknown,
        "provenance": _provenance(records, source),
        "source": source.name,
    }


def render_site(
    leaderboard_parquet: Path,
    out_dir: Path,
    schema_path: Path,
    templates_dir: Path | None = None,
    static_dir: Path | None = None,
) -> Path:
    """Render out_dir/index.html from the results Parquet; returns the page's path.

    templates_dir and static_dir default to templates/ and static/ beside schema_path (the leaderboard/ folder).
    The page is one self-contained file (the stylesheet and the sort script are inline): it needs no network and
    the render rule declares exactly one output.
    """
    schema_path = Path(schema_path)
    source = Path(leaderboard_parquet)
    templates_dir = Path(templates_dir) if templates_dir else schema_path.parent / "templates"
    static_dir = Path(static_dir) if static_dir else schema_path.parent / "static"
    schema = load_schema(schema_path)
    if not (static_dir / "style.css").is_file():
        raise SuiteInputError(str(static_dir), None, "has no style.css, which the page inlines", "restore it")
    records = read_results([source]).to_pylist()
    if not records:
        raise SuiteInputError(str(source), None, "holds no results", "run the workflow (or the gather step) first")
    context = build_page(records, schema, source)

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=True,  # variant names and error texts come from results files: never trusted as markup
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    stylesheet = (static_dir / "style.css").read_text("utf-8")
    if "</" in stylesheet:  # inlined unescaped (it is our own file), so it must not be able to close <style>
        raise SuiteInputError(str(static_dir / "style.css"), None, "contains '</'", "remove it from the stylesheet")
    html = env.get_template(TEMPLATE).render(**context, stylesheet=stylesheet)

    out_dir = Path(out_dir)
    page = out_dir / "index.html"
    atomic_write(page, lambda tmp: Path(tmp).write_bytes(html.encode("utf-8")))
    return page
