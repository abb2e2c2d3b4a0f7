"""The pages' contexts: the leaderboard (index), variant, task, recommendations and scorecard pages, and entries."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from suite import entries, figures
from suite.rank import (
    CONTENDED_MARK,
    PRIORITIES,
    SYSTEM_TASK,
    Contention,
    Group,
    ParetoResult,
    Recommendation,
    Scorecard,
    SlaTargets,
    interval_width_pct,
    self_reported,
    standings,
)
from suite.site.data import RowParts, SiteData, _distinct, _provenance, _version_key
from suite.site.formatting import (
    EM_DASH,
    UNSTABLE_MARK,
    UNSTABLE_TITLE,
    Cell,
    _cells_html,
    _escape,
    _metric_cell,
    _sort_value,
    _where,
    format_number,
)
from suite.site.schema import MetricDisplay
from suite.specs import TEACHER
from suite.summary import failure_groups, listed
from suite.trackers.profile import METRIC_PREFIX as OP_SHARE
from suite.trackers.profile import OTHER as OTHER_OPS

WHY_ROWS = 100  # the recommendations page explains the first 100 variants; each variant's page has its own verdicts


@dataclass(frozen=True)
class Column:
    key: str  # metric name
    header: str
    description: str
    group_label: str
    group: str  # CSS class of the group
    task: str = ""  # the task the column belongs to ('' for system columns), for the page's task filter


def _columns(data: SiteData) -> tuple[list[tuple[str, str, Column]], list[dict[str, Any]], set]:
    """The index table's (task, version, column) triples in schema order, only where some row has the metric;
    metrics the schema does not describe follow as their own group so no number is left off the page."""
    schema = data.schema
    columns: list[tuple[str, str, Column]] = []
    header_groups: list[dict[str, Any]] = []
    shown: set[tuple[str, str, str]] = set()
    units: dict[str, list[str]] = {}
    for record in data.records:
        if record["metric"] not in schema.metrics:
            units.setdefault(record["metric"], [])
            if record["unit"] and record["unit"] not in units[record["metric"]]:
                units[record["metric"]].append(record["unit"])

    def add_group(label: str, css: str, task: str, version: str, names: list[str]) -> None:
        if not names:
            return
        filter_task = "" if task == SYSTEM_TASK else task
        header_groups.append({"label": label, "span": len(names), "group": css, "task": filter_task})
        for name in names:
            fmt = schema.metrics.get(name)
            if fmt is None:
                header = f"{name} ({', '.join(units[name])})" if units.get(name) else name
                column = Column(name, header, f"not described in {schema.file_label}", label, css, filter_task)
            else:
                column = Column(name, fmt.header, fmt.description, label, css, filter_task)
                if fmt.spread:
                    shown.add((task, version, fmt.spread))
            columns.append((task, version, column))
            shown.add((task, version, name))

    def add_task_group(task: str, version: str, prefix: str, listed: tuple[str, ...], unknown_too: bool) -> None:
        present = data.metrics_by_tv.get((task, version), set())
        for group in schema.groups:
            names = [m for m in listed if schema.metrics[m].group == group and m in present]
            add_group(f"{prefix}{schema.groups[group]}", group, task, version, names)
        if unknown_too:
            unknown = sorted(m for m in present if m not in schema.metrics)
            add_group(f"{prefix}other metrics", "other", task, version, unknown)

    for task, version in data.task_versions:
        label = schema.task_label(task) + (f" v{version}" if version else "")
        # The main task shows all its columns; other tasks their headline columns (the task page has the rest),
        # which keeps the page small with many tasks.
        main = task == schema.main_task
        listed = schema.task_columns if main else schema.other_task_columns
        add_task_group(task, version, f"{label} · ", listed, main)
    for version in sorted((v for t, v in data.metrics_by_tv if t == SYSTEM_TASK), key=_version_key):
        add_task_group(SYSTEM_TASK, version, f"v{version} · " if version else "", schema.system_columns, True)
    return columns, header_groups, shown


def _display(data: SiteData, metric: str) -> MetricDisplay:
    # A metric the schema does not describe gets 4 decimals: enough to read, without claiming a precision.
    return data.schema.metrics.get(metric) or MetricDisplay(metric, metric, "", "", "other", 4)


def _hardware_html(data: SiteData, fingerprint: str) -> str:
    """The machine in words, escaped, with its fingerprint on hover (rank's "unknown hardware" as it is)."""
    label = _escape(data.hardware_label(fingerprint))
    if fingerprint not in data.hardware:
        return label
    return f'<span class="hardware" title="hardware fingerprint {_escape(fingerprint)}">{label}</span>'


def _on(data: SiteData, where: str, fingerprint: str) -> Markup:
    """A heading such as "SST-2 v1.0 on AMD EPYC, 2 of 4 logical cores, AVX2 …", the fingerprint on hover."""
    return Markup(f"{_escape(where)} on {_hardware_html(data, fingerprint)}")


def _column_displays(data: SiteData, columns: list[tuple[str, str, Column]]) -> list[tuple[str, str, MetricDisplay]]:
    """(task, version, display) of each index column, decided once for the 1 000 rows."""
    displays = []
    for task, version, column in columns:
        fmt = _display(data, column.key)
        if task not in (data.schema.main_task, SYSTEM_TASK) and fmt.show_ci:
            # Other tasks' intervals are on their task pages: 20 tasks × 1 000 variants must stay one light page.
            fmt = dataclasses.replace(fmt, show_ci=False)
        displays.append((task, version, fmt))
    return displays


def _row_cells(
    data: SiteData, variant: str, displays: list[tuple[str, str, MetricDisplay]], tooltips: bool
) -> list[Cell]:
    cells = []
    index = data.index
    contended = data.contended.get(variant)
    for task, version, fmt in displays:
        row = index.get((variant, task, version, fmt.name))
        spread = index.get((variant, task, version, fmt.spread)) if fmt.spread else None
        cell = _metric_cell(row, spread, fmt, tooltips, data.texts)
        if cell.state == "ok" and fmt.name.startswith("latency_"):
            flag = index.get((variant, task, version, "latency_unstable"))
            if flag is not None and flag["status"] == "ok" and flag["value"] == 1:
                cell = cell._replace(text=f"{cell.text} {UNSTABLE_MARK}", title=UNSTABLE_TITLE, state="unstable")
        if contended is not None and task == SYSTEM_TASK:
            cell = _contended_cell(cell, fmt, contended)
        cells.append(cell)
    return cells


def _contended_cell(cell: Cell, fmt: MetricDisplay, contended: Contention) -> Cell:
    """A number the contended job's load guard taints (Contention.taints: an absolute timing; a speedup too when
    oversubscribed) marked †, the load guard's figures on hover; others as they are."""
    reason = contended.reason
    if cell.state in ("failed", "missing") or not contended.taints(fmt.name, fmt.unit):
        return cell
    state = "contended" if cell.state == "ok" else f"{cell.state} contended"
    title = "; ".join(t for t in (cell.title, f"{CONTENDED_MARK} {reason}") if t)
    return cell._replace(text=f"{cell.text} {CONTENDED_MARK}", title=title, state=state)


def _probability_cell(result: ParetoResult | None, variant: str) -> Cell:
    if result is None:
        return Cell(EM_DASH, "no result on the main task", None, "missing")
    entry = result.entry(variant)
    if entry is None:
        reason = dict(result.unranked).get(variant, "no result on the main task")
        return Cell(EM_DASH, f"not ranked: {reason}", None, "missing")
    text = f"{100 * entry.probability:.0f} %" + (" ★" if entry.on_front else "")
    return Cell(text, "", _sort_value(entry.probability), "front" if entry.on_front else "ok")


def _failures(records: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "variant": r["variant"],
            "where": _where(r["task"], r["task_version"] or ""),
            "metric": r["metric"],
            "error": r["error"] or "failed without an error message",
        }
        for r in records
        if r["status"] != "ok"
    ]


def _failure_groups(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The run's failures for the front page (suite.summary.failure_groups), with how many numbers each cost and
    where."""
    items = []
    for variant, error, rows in failure_groups(records):
        where = [
            r["metric"] if r["task"] == SYSTEM_TASK else f"{_where(r['task'], r['task_version'] or '')} {r['metric']}"
            for r in rows
        ]
        items.append({"variant": variant, "error": error, "count": len(where), "where": listed(where, 3)})
    return items


def _pareto_context(data: SiteData, result: ParetoResult, root: str) -> dict[str, Any]:
    schema = data.schema

    def name(metric: str) -> str:
        fmt = schema.metrics.get(metric)
        return fmt.header if fmt else metric

    axes = [f"{name(o.metric)} {'↑' if o.maximize else '↓'}" for o in result.objectives]
    entries = sorted(result.entries, key=lambda e: (not e.on_front, -e.probability, e.variant))
    return {
        "label": _on(
            data, _where(schema.task_label(result.group.task), result.group.task_version), result.group.hardware
        ),
        "axes": axes,
        "skipped": [{"metric": name(m), "why": why} for m, why in result.skipped],
        "front": [
            {"variant": e.variant, "href": root + data.variant_pages[e.variant], "probability": f"{e.probability:.0%}"}
            for e in entries
            if e.on_front
        ],
        "contenders": [
            {
                "variant": e.variant,
                "href": root + data.variant_pages[e.variant],
                "probability": f"{e.probability:.0%}",
                "dominated_by": ", ".join(e.dominated_by[:3]) + (" …" if len(e.dominated_by) > 3 else ""),
                "tied_with": ", ".join(e.tied_with[:3]) + (" …" if len(e.tied_with) > 3 else ""),
            }
            for e in entries
            if not e.on_front and (e.probability >= 0.05 or e.tied_with)
        ],
        "unranked": [{"variant": v, "href": root + data.variant_pages[v], "why": why} for v, why in result.unranked],
        "resamples": result.resamples,
        "count": len(result.group.candidates),
    }


def _scorecard_rows(data: SiteData, cards: list[Scorecard], root: str, only: set[str] | None = None) -> list[dict]:
    return [
        {
            "variant": card.variant,
            "href": root + data.variant_pages[card.variant],
            "status": card.status,
            "kpis": card.kpis,
        }
        for card in cards
        if only is None or card.variant in only
    ]


def _recommendation_context(
    data: SiteData, recs: dict[tuple[str, float], Recommendation], root: str
) -> list[dict[str, Any]]:
    tables = []
    for tolerance in data.schema.tolerances:
        rows = []
        for priority in PRIORITIES:
            rec = recs[(priority, tolerance)]
            rows.append(
                {
                    "priority": priority,
                    "chosen": rec.chosen,
                    "href": root + data.variant_pages[rec.chosen] if rec.chosen else "",
                    "fallback": rec.fallback,
                    "note": rec.note,
                    "runners_up": [{"variant": v, "href": root + data.variant_pages[v]} for v in rec.runners_up],
                }
            )
        tables.append({"tolerance": f"{tolerance:g}", "rows": rows})
    return tables


def _sla_context(sla: SlaTargets | None) -> list[dict[str, str]]:
    if sla is None:
        return []
    return [
        {"key": key, "value": "no target" if value is None else f"{value:g}"}
        for key, value in ((k, getattr(sla, k)) for k in SlaTargets.__dataclass_fields__)
    ]


def _figure(figure: figures.Figure, root: str) -> dict[str, str]:
    return {"src": f"{root}figures/{figure.name}", "alt": figure.alt, "caption": figure.caption}


def _resolved_task(data: SiteData, task: str) -> dict[str, Any] | None:
    tasks = (data.resolved or {}).get("tasks") or {}
    entry = tasks.get(task) if isinstance(tasks, Mapping) else None
    return entry.get("definition") if isinstance(entry, Mapping) else None


def _resolved_recipe(data: SiteData, variant: str) -> dict[str, Any] | None:
    config = (data.resolved or {}).get("config") or {}
    if variant == TEACHER:
        teacher = config.get("teacher")
        return {"teacher": teacher} if teacher else None
    for entry in config.get("variants") or []:
        if isinstance(entry, Mapping) and entry.get("id") == variant:
            return dict(entry)
    for item in entries.accepted(data.resolved):
        if item.get("id") == variant:
            return {"entry": item.get("file"), **item["variant"]}
    return None


# --- community entries (leaderboard/entries/<id>.yaml, via the resolved config) ----------------------------------


def _entry_source(entry: Mapping[str, Any]) -> str:
    kind, spec = next(iter(entry["model"].items()))
    if kind == "recipe":
        return f"built-in recipe {spec['method']} {json.dumps(spec.get('params') or {}, sort_keys=True)}"
    if kind == "hub":
        return f"Hub {spec['id']} at commit {spec['revision']} (sha256 {spec['sha256'][:12]}…)"
    return f"local safetensors {spec['path']} (sha256 {spec['sha256'][:12]}…)"


def _self_reported(data: SiteData, variant: str, reported: Mapping[str, Mapping[str, float]]) -> list[dict[str, str]]:
    """Each self-reported number beside the suite's verified one, with the difference (reported − verified) and
    suite.rank's verdict."""
    out = []
    units = {name: fmt.unit for name, fmt in data.schema.metrics.items()}
    decimals = {name: fmt.decimals for name, fmt in data.schema.metrics.items()}
    for check in self_reported(variant, reported, data.index, data.task_versions, units, decimals):
        task, version, metric, row, unit = check.task, check.task_version, check.metric, check.row, check.unit
        fmt = data.schema.metrics.get(metric)
        verified, difference = EM_DASH, EM_DASH
        if row is not None and row["status"] != "ok":
            verified = "failed"
        elif row is not None and row["value"] is not None:
            verified = _fmt_value(data, metric, row["value"])
            if row.get("ci_low") is not None and row.get("ci_high") is not None:
                low, high = _fmt_value(data, metric, row["ci_low"]), _fmt_value(data, metric, row["ci_high"])
                verified += f" [{low}, {high}]"
            if check.delta is not None:
                difference = ("+" if check.delta > 0 else "") + _fmt_value(data, metric, check.delta)
                difference += " pts" if unit == "%" else f" {unit}" if unit else ""
                if check.relative_pct is not None:
                    difference += f" ({check.relative_pct:+.1f} %)"
        where = _where(data.schema.task_label(task), version) if task != SYSTEM_TASK else "system"
        out.append(
            {
                "where": where,
                "metric": fmt.display_name if fmt else metric,
                "unit": unit,
                "reported": _fmt_value(data, metric, check.reported),
                "verified": verified,
                "difference": difference,
                "verdict": check.verdict,
            }
        )
    return out


def _entry_status(data: SiteData, variant: str) -> str:
    rows = data.by_variant.get(variant, [])
    if not rows:
        return "accepted; not measured yet"
    failed = [r for r in rows if r["status"] != "ok"]
    if not failed:
        return f"verified: {len(rows)} numbers measured by the suite"
    first = failed[0]
    return (
        f"failing: {len(failed)} of {len(rows)} numbers failed "
        f"(first: {_where(first['task'], first['task_version'] or '')} {first['metric']}: {first['error'] or 'failed'})"
    )


def _entry_context(data: SiteData, item: Mapping[str, Any], root: str) -> dict[str, Any]:
    entry = item["entry"]
    variant = item["id"]
    return {
        "id": variant,
        "href": f"{root}{data.variant_pages[variant]}" if variant in data.variant_pages else "",
        "file": item.get("file") or "",
        "display_name": entry["display_name"],
        "submitter": entry["submitter"],
        "licence": entry["licence"],
        "source": _entry_source(entry),
        "method_description": entry["method_description"],
        "tasks": ", ".join(data.schema.task_label(t) for t in entry["tasks"]),
        "status": _entry_status(data, variant),
        "failing": any(r["status"] != "ok" for r in data.by_variant.get(variant, [])),
        "self_reported": _self_reported(data, variant, entry.get("self_reported") or {}),
    }


def _entries_context(data: SiteData, root: str) -> dict[str, Any]:
    return {
        "entries": [_entry_context(data, item, root) for item in entries.accepted(data.resolved)],
        "rejected_entries": [
            {
                "file": item.get("file") or "",
                "id": item.get("id") or "",
                "display_name": item.get("display_name") or "",
                "reasons": [p["message"] for p in item.get("problems") or []],
            }
            for item in entries.rejected(data.resolved)
        ],
        "entries_dir": ((data.resolved or {}).get("entries") or {}).get("dir"),
        "skipped": list((data.resolved or {}).get("skipped") or []),
    }


def _lineage_chain(data: SiteData, variant: str) -> list[dict[str, str]]:
    chain, current, seen = [], variant, set()
    while current and current not in seen:
        seen.add(current)
        method, parent = data.lineage.get(current, ("", ""))
        href = f"../{data.variant_pages[current]}" if current in data.variant_pages else ""
        chain.append({"variant": current, "method": method, "href": href})
        current = parent
    return list(reversed(chain))


def _teacher_source(data: SiteData) -> str:
    """Where the teacher's weights come from, as the resolved config says ('' without one)."""
    teacher = ((data.resolved or {}).get("config") or {}).get("teacher")
    source = teacher.get("source") if isinstance(teacher, Mapping) else None
    if not isinstance(source, Mapping):
        return ""
    parts = [f"{key} {source[key]}" for key in ("kind", "package", "id", "revision", "path", "file") if source.get(key)]
    if source.get("sha256"):
        parts.append(f"sha256 {str(source['sha256'])[:12]}…")
    return "source: " + ", ".join(parts) if parts else ""


def _teacher_context(data: SiteData) -> dict[str, str]:
    """What the family's teacher is (its display schema's label) and where its weights come from."""
    return {"label": data.schema.teacher_label, "source": _teacher_source(data)}


def _fmt_value(data: SiteData, metric: str, value: float | None) -> str:
    if value is None:
        return EM_DASH
    fmt = data.schema.metrics.get(metric)
    return format_number(value, fmt.decimals if fmt else 4, fmt.thousands if fmt else False)


def _row_parts(data: SiteData, task: str, version: str, metric: str, unit: str) -> RowParts:
    fmt = _display(data, metric)
    order = list(data.schema.metrics)
    schema_order = order.index(metric) if metric in order else len(order)
    where = _where(data.schema.task_label(task), version)
    return RowParts(
        (task == SYSTEM_TASK, task, _version_key(version), schema_order, metric),
        fmt,
        f'<tr><td>{_escape(where)}</td><th scope="row" title="{_escape(metric)}">{_escape(fmt.display_name)}</th>',
        f"<td>{_escape(unit)}</td>",
    )


def _all_metrics(data: SiteData, records: list[dict[str, Any]], contended: Contention | None = None) -> Markup:
    """Every number of a variant, in task then schema order, each with its CI, n and how it was measured; with
    `contended`, the numbers its load guard taints marked †."""
    shared, measurements = data.metric_row_parts, data.escaped_measurements
    lines = []
    for r in records:
        key = (r["task"], r["task_version"] or "", r["metric"], r["unit"] or "")
        parts = shared.get(key)
        if parts is None:
            parts = shared[key] = _row_parts(data, *key)
        lines.append((parts, r))
    lines.sort(key=lambda line: line[0].sort_key)
    rows = []
    for parts, r in lines:
        cell = _metric_cell(r, None, parts.fmt, False, data.texts)
        if contended is not None and r["task"] == SYSTEM_TASK:
            cell = _contended_cell(cell, parts.fmt, contended)
        numbers = data.texts(r, parts.fmt)
        ci = EM_DASH if numbers.ci_low is None else f"[{numbers.ci_low}, {numbers.ci_high}]"
        # the interval has its own column; what the cell says about it ("no measurable change") stays
        value = cell.text if numbers.ci_low is None else cell.text.replace(f" {ci}", "", 1)
        error = r["error"] or ("failed without an error message" if r["status"] != "ok" else "")
        if error:
            how = f'<span class="failed-text">{_escape(error)}</span>'
        else:
            measurement = r["measurement"] or ""
            how = measurements.get(measurement)
            if how is None:
                how = measurements[measurement] = _escape(measurement)
        css = "num" if cell.state == "ok" else f"num {cell.state}"
        title = f' title="{_escape(cell.title)}"' if "contended" in cell.state else ""
        # Built here, not in the template: 1 000 pages × 100 numbers would otherwise dominate the render time.
        rows.append(
            f'{parts.start}<td class="{css}"{title}>{_escape(value)}</td><td class="num">{_escape(ci)}</td>'
            f'{parts.unit}<td class="num">{"" if r["n"] is None else r["n"]}</td><td>{how}</td></tr>'
        )
    return Markup("\n".join(rows))


def _index_context(
    data: SiteData,
    recs: dict[tuple[str, str], dict[tuple[str, float], Recommendation]],
    cards: dict[tuple[str, str], list[Scorecard]],
    overview_figures: list[figures.Figure],
    scatter_figures: dict[tuple[str, str, str], figures.Figure],
    release: str | None,
) -> dict[str, Any]:
    schema = data.schema
    columns, header_groups, shown = _columns(data)
    displays = _column_displays(data, columns)
    main_results = {g.hardware: data.pareto_of(g) for g in data.main_groups()}
    hardware = {c.variant: c.hardware for g in data.groups for c in g.candidates}
    rows = []
    for variant in data.variants:
        method, parent = data.lineage[variant]
        fp = hardware.get(variant) or next(
            iter(_distinct(r["hardware_fingerprint"] for r in data.by_variant[variant])), ""
        )
        rows.append(
            {
                "variant": variant,
                "href": data.variant_pages[variant],
                "title": "",  # the artefact's sha256 is on the variant page (100 bytes × 1 000 rows here)
                "is_teacher": variant == TEACHER,
                "method": method,
                "parent": parent,
                "hardware": fp,
                "hardware_label": data.hardware_label(fp),
                "cells": _cells_html(_row_cells(data, variant, displays, tooltips=False)),
                "front": Markup(_probability_cell(main_results.get(fp), variant).html) if main_results else None,
            }
        )
    unshown = sorted({(t, v, m) for (_, t, v, m) in data.index} - shown)
    unknown = sorted({m for (_, _, _, m) in data.index if m not in schema.metrics})
    main_fmt = schema.metrics[schema.main_metric]
    main_label = schema.task_label(schema.main_task) + (f" v{data.main_version}" if data.main_version else "")
    chosen_anywhere = {r.chosen for by in recs.values() for r in by.values() if r.chosen}
    return {
        "title": schema.title,
        "description": schema.description,
        "noise_floors": _noise_floors(data),
        "teacher": _teacher_context(data),
        "schema_file": schema.file_label,
        "energy_label": data.rank_metrics.energy_label,
        "main_metric": f"{main_fmt.display_name} on {main_label}",
        "main_missing": data.main_version is None and bool(data.records),
        "main_task": schema.task_label(schema.main_task),
        "header_groups": header_groups,
        "columns": [c for _, _, c in columns],
        "rows": rows,
        "show_front": bool(main_results),
        "methods": sorted({r["method"] for r in rows if r["method"]}),
        "hardware_choices": [
            {"value": fp, "label": data.hardware_label(fp)}
            for fp in sorted({r["hardware"] for r in rows if r["hardware"]}, key=data.hardware_label)
        ],
        "tasks": [{"key": t, "label": schema.task_label(t)} for t in _distinct(t for t, _ in data.task_versions)],
        "task_links": [
            {"label": schema.task_label(t) + (f" v{v}" if v else ""), "href": data.task_pages[(t, v)]}
            for t, v in data.task_versions
        ],
        "failures": _failure_groups(data.records),
        "unshown_count": len(unshown),
        "unshown": _unshown(data, unshown),
        "unknown": unknown,
        "provenance": _provenance(data.records, data.source, data.provenance_cache),
        "source": data.source.name,
        "paretos": [_pareto_context(data, r, "") for r in main_results.values()],
        "recommendations": [
            {"label": _on(data, main_label, hw), "tables": _recommendation_context(data, by, "")}
            for (_, hw), by in recs.items()
        ],
        "scorecards": [
            {
                "label": _on(data, main_label, hw),
                "rows": _scorecard_rows(data, group_cards, "", chosen_anywhere),
                "passing": sum(c.status == "pass" for c in group_cards),
                "total": len(group_cards),
            }
            for (_, hw), group_cards in cards.items()
        ],
        "sla": data.sla is not None,
        # The seed's 2×2 opens the page, beside the decision; the Figures section has the scatter of each machine.
        "overview_figures": [_figure(f, "") for f in overview_figures],
        "figures": [
            _figure(f, "")
            for key, f in scatter_figures.items()
            if key[0] == schema.main_task and key[1] == data.main_version
        ],
        "release": release,
        "empty": not data.records,
        **_entries_context(data, ""),
    }


def _noise_floor_text(group: Group, metric: str) -> str | None:
    """The A/A noise floor of a group's paired speedups in words, or None for results without one.

    >>> from suite.rank import Measure
    >>> group = Group("sst2", "1.0", "hw", (), {"speedup_p50": Measure(0.99, "x", 0.97, 1.02)}, "teacher")
    >>> _noise_floor_text(group, "speedup_p50")
    'Noise floor (A/A: teacher vs a second copy of itself): 0.99× [0.97, 1.02], CI width 5 %'
    """
    floor = group.noise_floor.get(metric)
    if floor is None or floor.value is None:
        return None
    text = f"Noise floor (A/A: {group.reference or 'the reference'} vs a second copy of itself): {floor.value:.2f}×"
    if floor.ci_low is not None and floor.ci_high is not None:
        width = interval_width_pct(floor.ci_low, floor.ci_high)
        text += f" [{floor.ci_low:.2f}, {floor.ci_high:.2f}], CI width {round(width, 1):g} %"
    return text


def _noise_floors(data: SiteData) -> list[dict[str, Any]]:
    """The noise floor of each machine of the main task (the reference's A/A speedup); none for older results."""
    floors, seen = [], set()
    groups = data.main_groups()
    for group in groups:
        text = _noise_floor_text(group, data.rank_metrics.speedup)
        if text is not None and group.hardware not in seen:
            seen.add(group.hardware)
            where = _hardware_html(data, group.hardware) if len({g.hardware for g in groups}) > 1 else ""
            floors.append({"text": text, "where": Markup(where)})
    return floors


def _op_profile(data: SiteData, records: list[dict[str, Any]], contended: Contention | None) -> dict[str, Any] | None:
    """Where the time goes: each operator's share of the profiled self time, highest first and `other` last, with
    the profiled time per query (per decoded token for a causal LM), the achieved GFLOP/s and the GFLOP per sample
    (where FLOPs were counted); None without a profile."""
    system = [r for r in records if r["task"] == SYSTEM_TASK]
    shares = [r for r in system if r["metric"].startswith(OP_SHARE) and r["status"] == "ok" and r["value"] is not None]
    if not shares:
        return None
    version = max({r["task_version"] or "" for r in shares}, key=_version_key)  # the newest profile
    shares = [r for r in shares if (r["task_version"] or "") == version]
    shares.sort(key=lambda r: (r["metric"] == OP_SHARE + OTHER_OPS, -r["value"], r["metric"]))
    figures = {
        r["metric"]: r
        for r in system
        if (r["task_version"] or "") == version and r["status"] == "ok" and r["value"] is not None
    }
    unit = "token" if "profiled_ms_per_token" in figures else "query"  # a causal LM's profile is per decoded token
    per = "token" if unit == "token" else "sample"  # FLOPs: per decoded token, or per sample of a classifier query
    profiled = figures.get(f"profiled_ms_per_{unit}")

    def shown(metric: str, unit: str) -> str:
        row = figures.get(metric)
        if row is None:
            return EM_DASH
        mark = f" {CONTENDED_MARK}" if contended and contended.taints(metric, row["unit"] or "") else ""
        return f"{_fmt_value(data, metric, row['value'])} {unit}{mark}"

    return {
        "rows": [
            {
                "op": (op := r["metric"].removeprefix(OP_SHARE)),
                "note": data.schema.operator_notes.get(op, ""),
                "other": r["metric"] == OP_SHARE + OTHER_OPS,
                "share": _fmt_value(data, r["metric"], r["value"]),
                "ms": EM_DASH if profiled is None else f"{profiled['value'] * r['value'] / 100:.3f}",
            }
            for r in shares
        ],
        "unit": unit,
        "profiled_ms": shown(f"profiled_ms_per_{unit}", f"ms per {unit}"),
        # no "achieved —" sentence where no FLOPs were counted (a job before the llm family counted them)
        "achieved_gflops": shown("achieved_gflops", "GFLOP/s") if f"gflops_per_{per}" in figures else None,
        "flops_per_unit": shown(f"gflops_per_{per}", f"GFLOP per {per}"),
        "measurement": shares[0]["measurement"] or "",
    }


def _system_row(data: SiteData, variant: str, metric: str) -> dict[str, Any] | None:
    """A variant's system row of `metric`, of the newest system version that has one."""
    for version in data.system_versions:
        row = data.index.get((variant, SYSTEM_TASK, version, metric))
        if row is not None:
            return row
    return None


def _unshown(data: SiteData, unshown: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """The numbers the index table leaves out, per task version (with its page, where they are columns), each by its
    display name with the name in the results on hover."""
    by_task: dict[tuple[str, str], list[dict[str, str]]] = {}
    for task, version, metric in unshown:
        fmt = data.schema.metrics.get(metric)
        by_task.setdefault((task, version), []).append({"name": metric, "label": fmt.header if fmt else metric})
    return [
        {
            "where": _where(data.schema.task_label(task), version) if task != SYSTEM_TASK else "measurements",
            "href": data.task_pages.get((task, version), ""),
            "metrics": metrics,
        }
        for (task, version), metrics in by_task.items()
    ]


def _cards_by_variant(cards: dict[tuple[str, str], list[Scorecard]]) -> dict[str, Scorecard]:
    """Each variant's scorecard for its page: the first, when the main task was measured on several machines."""
    by_variant: dict[str, Scorecard] = {}
    for group_cards in cards.values():
        for card in group_cards:
            by_variant.setdefault(card.variant, card)
    return by_variant


def _variant_context(
    data: SiteData,
    variant: str,
    recs: dict[tuple[str, str], dict[tuple[str, float], Recommendation]],
    cards: Mapping[str, Scorecard],
) -> dict[str, Any]:
    """`cards`: each variant's scorecard (_cards_by_variant)."""
    records = data.by_variant[variant]
    method, parent = data.lineage[variant]
    memberships = []
    for group in data.groups:
        if group.candidate(variant) is None:
            continue
        result = data.pareto_of(group)
        entry = result.entry(variant)
        if entry is None:
            status = f"not ranked: {dict(result.unranked).get(variant, '')}"
        elif entry.on_front:
            status = f"on the front; P(on the front) {entry.probability:.0%}"
        else:
            status = f"dominated by {', '.join(entry.dominated_by[:5])}; P(on the front) {entry.probability:.0%}"
            if entry.tied_with:
                status += f"; a tie with {', '.join(entry.tied_with[:5])} (intervals overlap wherever they are better)"
        memberships.append(
            {"label": _on(data, _where(group.task, group.task_version), group.hardware), "status": status}
        )
    verdicts = []
    for (version, hw), by in recs.items():
        for tolerance in data.schema.tolerances:
            for priority in PRIORITIES:
                verdict = by[(priority, tolerance)].verdict(variant)
                if verdict is not None:
                    verdicts.append(
                        {
                            "where": _on(data, f"v{version}", hw),
                            "tolerance": f"{tolerance:g}",
                            "priority": priority,
                            "outcome": verdict.outcome,
                            "reason": verdict.reason,
                        }
                    )
    card = cards.get(variant)
    recipe = _resolved_recipe(data, variant)
    contended = data.contended.get(variant)
    return {
        "title": f"{variant} · {data.schema.title}",
        "variant": variant,
        "teacher": _teacher_context(data) if variant == TEACHER else None,
        "method": method,
        "parent": parent,
        "lineage": _lineage_chain(data, variant),
        "children": [{"variant": v, "href": f"../{data.variant_pages[v]}"} for v in data.children.get(variant, [])],
        "recipe": json.dumps(recipe, indent=2, sort_keys=True) if recipe else None,
        "metrics": _all_metrics(data, records, contended),
        "contended": contended._asdict() if contended else None,
        "op_profile": _op_profile(data, records, contended),
        "metric_count": len(records),
        "failures": _failures(records),
        "provenance": _provenance(records, data.source, data.provenance_cache),
        "memberships": memberships,
        "verdicts": verdicts,
        "card": card,
        "sla": data.sla is not None,
        "entry": next(
            (_entry_context(data, item, "../") for item in entries.accepted(data.resolved) if item["id"] == variant),
            None,
        ),
    }


def _task_context(data: SiteData, task: str, version: str, scatter: dict[tuple[str, str, str], figures.Figure]) -> dict:
    schema = data.schema
    present = data.metrics_by_tv.get((task, version), set())
    # columns.task first, then every other number of the task (its slices, described by a pattern, or undescribed)
    names = [m for m in schema.task_columns if m in present] + sorted(present - set(schema.task_columns))
    headers = [
        {"text": fmt.header, "title": f"{m}: {fmt.description}" if fmt.description else m}
        if (fmt := schema.metrics.get(m))
        else {"text": m, "title": f"{m}: not described in {schema.file_label}"}
        for m in names
    ]
    main_metric = data.ranking_metric(task, version)
    maximize = data.maximize(main_metric)
    displays = [_display(data, m) for m in names]
    index = data.index
    # the family's speedup (a system row: the Pareto front's speed axis), with its interval, after the task's numbers
    speedup = data.rank_metrics.speedup
    speedup_fmt = _display(data, speedup)
    if any(speedup in data.metrics_by_tv.get((SYSTEM_TASK, v), set()) for v in data.system_versions):
        headers.append({"text": speedup_fmt.header, "title": f"{speedup}: {speedup_fmt.description}"})
    else:
        speedup_fmt = None

    def row_cells(variant: str) -> Markup:
        cells = [_metric_cell(index.get((variant, task, version, f.name)), None, f, True, data.texts) for f in displays]
        if speedup_fmt is not None:
            cells.append(_metric_cell(_system_row(data, variant, speedup), None, speedup_fmt, True, data.texts))
        return _cells_html(cells)

    rankings = []
    for group in (g for g in data.groups if g.task == task and g.task_version == version):
        result = data.pareto_of(group)
        # Adjacent ranks whose intervals overlap are not distinguishable (suite.rank.standings): each line says so.
        places = standings(
            {c.variant: index.get((c.variant, task, version, main_metric)) for c in group.candidates}, maximize
        )
        ties = sum(place.tie for place in places)
        rows = [
            {
                "rank": str(place.position) if place.ranked else EM_DASH,
                "variant": place.variant,
                "href": f"../{data.variant_pages[place.variant]}",
                "tie": place.tie,
                "front": Markup(_probability_cell(result, place.variant).html),
                "cells": row_cells(place.variant),
            }
            for place in places
        ]
        figure = scatter.get((task, version, group.hardware))
        rankings.append(
            {
                "label": _on(data, _where(group.task, group.task_version), group.hardware),
                "rows": rows,
                "ties": ties,
                "pairs": max(sum(r["rank"] != EM_DASH for r in rows) - 1, 0),
                "pareto": _pareto_context(data, result, "../"),
                "figure": _figure(figure, "../") if figure else None,
            }
        )
    definition = _resolved_task(data, task)
    task_records = data.records_by_task.get((task, version), [])
    return {
        "title": f"{schema.task_label(task)} v{version} · {schema.title}",
        "task": schema.task_label(task),
        "name": task,
        "version": version,
        "definition": json.dumps(definition, indent=2, sort_keys=True) if definition else None,
        "data_sha256": _distinct(r["data_sha256"] for r in task_records),
        "measurements": _distinct(r["measurement"] for r in task_records if r["metric"] == main_metric)[:3],
        "main_metric": schema.metrics[main_metric].display_name if main_metric in schema.metrics else main_metric,
        "order": "highest first" if maximize else "lowest first",
        "headers": headers,
        "rankings": rankings,
        "other_versions": [
            {"label": _where(t, v), "href": f"../{data.task_pages[(t, v)]}"}
            for t, v in data.task_versions
            if t == task and v != version
        ],
    }


def _main_task_on(data: SiteData, version: str, hw: str) -> Markup:
    """The heading of one machine's section on the recommendations and scorecard pages."""
    return _on(data, _where(data.schema.task_label(data.schema.main_task), version), hw)


def _recommendations_page(
    data: SiteData, recs: dict[tuple[str, str], dict[tuple[str, float], Recommendation]]
) -> dict[str, Any]:
    """recommendations.html: the tables of every machine and why each of the first WHY_ROWS variants was (not)
    chosen."""
    schema, sla = data.schema, data.sla
    return {
        "title": f"Recommendations · {schema.title}",
        "groups": [
            {
                "label": _main_task_on(data, version, hw),
                "tables": _recommendation_context(data, by, ""),
                "variants": [
                    {
                        "variant": v,
                        "href": data.variant_pages[v],
                        "verdicts": [[by[(p, t)].verdict(v) for p in PRIORITIES] for t in schema.tolerances],
                    }
                    for v in [v for v in data.variants if by[(PRIORITIES[0], schema.tolerances[0])].verdict(v)][
                        :WHY_ROWS
                    ]
                ],
                "more": max(
                    0,
                    sum(1 for v in data.variants if by[(PRIORITIES[0], schema.tolerances[0])].verdict(v)) - WHY_ROWS,
                ),
            }
            for (version, hw), by in recs.items()
        ],
        "priorities": PRIORITIES,
        "tolerances": [f"{t:g}" for t in schema.tolerances],
        "sla": _sla_context(sla),
        "energy_label": data.rank_metrics.energy_label,
        "quality_label": data.rank_metrics.quality_label,
        "latency_label": data.rank_metrics.tail_latency_label,
    }


def _scorecard_page(data: SiteData, cards: dict[tuple[str, str], list[Scorecard]]) -> dict[str, Any]:
    """scorecard.html: every student's scorecard, per machine."""
    schema, sla = data.schema, data.sla
    return {
        "title": f"SLA scorecard · {schema.title}",
        "groups": [
            {
                "label": _main_task_on(data, version, hw),
                "rows": _scorecard_rows(data, group_cards, ""),
            }
            for (version, hw), group_cards in cards.items()
        ],
        "sla": _sla_context(sla),
    }
