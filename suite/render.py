"""The static leaderboard site (pages, SVG figures, downloads, releases) rendered from the results Parquet only."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import hashlib
import io
import json
import math
import operator
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import pyarrow as pa
import pyarrow.csv as pa_csv
import yaml
from markupsafe import Markup

from suite import entries, figures
from suite.errors import SuiteInputError
from suite.rank import (
    PRIORITIES,
    SYSTEM_TASK,
    Group,
    ParetoResult,
    Recommendation,
    Scorecard,
    SlaTargets,
    Tolerance,
    build_groups,
    pareto,
    recommend,
    scorecard,
    version_key,
)
from suite.results import atomic_write, read_results
from suite.specs import TEACHER

GROUPS = ("quality", "fidelity", "latency", "size", "memory", "energy")
TEMPLATE = "index.html.j2"
LABELS = ("front_probability", "on_front", "hardware", "scorecard", "recommendation")
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
    other_task_columns: tuple[str, ...] = ()
    tolerances: tuple[float, ...] = (0.5, 1.0, 2.0)
    labels: Mapping[str, str] = field(default_factory=dict)

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
    known_groups = list(groups)  # the built-in groups and any the schema adds

    metrics: dict[str, MetricDisplay] = {}
    for name, entry in metrics_raw.items():
        where = f"metrics.{name}."
        group = _require(entry, "group", str, path, where)
        if group not in groups:
            raise SuiteInputError(str(path), f"{where}group", f"is {group!r}", f"use one of {known_groups}")
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
    for kind in ("task", "system", "other_tasks"):
        listed = _require(columns, kind, list, path, "columns.")
        unknown = [m for m in listed if m not in metrics]
        if unknown:
            raise SuiteInputError(str(path), f"columns.{kind}", f"lists {unknown}", "describe them under metrics")
        column_lists[kind] = tuple(listed)

    recommendations = _require(raw, "recommendations", dict, path, "")
    tolerances = _require(recommendations, "tolerances_pts", list, path, "recommendations.")
    if not tolerances or not all(isinstance(t, int | float) and not isinstance(t, bool) and t >= 0 for t in tolerances):
        raise SuiteInputError(
            str(path), "recommendations.tolerances_pts", f"is {tolerances!r}", "list accuracy points, e.g. [0.5, 1, 2]"
        )
    labels = _require(raw, "labels", dict, path, "")
    missing_labels = [k for k in LABELS if k not in labels]
    if missing_labels:
        raise SuiteInputError(str(path), "labels", f"lacks {missing_labels}", "name each of them")
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
        other_task_columns=column_lists["other_tasks"],
        tolerances=tuple(float(t) for t in tolerances),
        labels={str(k): str(v) for k, v in labels.items()},
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
    # Eight significant digits order every pair of values that print differently, at a third of repr's bytes.
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return f"{value:.8g}"


UNSTABLE_MARK = "⚠"
UNSTABLE_TITLE = "unstable timing: IQR / median > 0.1 in this run (see the variant page)"


def _escape(text: str) -> str:
    """markupsafe.escape's output (quotes as &#34; and &#39;, like every other escaped text of the site) as a plain
    str: no Markup object per string, 1.5× as fast (tables escape hundreds of thousands of strings)."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;").replace('"', "&#34;")
    )


# Tooltips repeat ("validation; n = 872" on 20 000 cells): each distinct one is escaped once.
_escape_title = functools.lru_cache(maxsize=4096)(_escape)


class Cell(NamedTuple):
    """One table cell: its text, its tooltip, the value the sort script uses and its CSS state."""

    text: str
    title: str = ""
    sort_value: str | None = None  # a number as _sort_value writes it
    state: str = "ok"  # ok | failed | missing | nonfinite | estimate | unstable

    @property
    def html(self) -> str:
        """The <td>, escaped; built here rather than by a template macro: tables of 20 000 cells render 5× faster.
        Pages join a row's cells and mark the row safe once (`_cells_html`)."""
        # Sortable tables right-align their cells in CSS, so an ok cell carries no class (1 000 rows × 40 cells).
        css = "" if self.state == "ok" else f' class="{self.state}"'
        title = f' title="{_escape_title(self.title)}"' if self.title else ""
        # A sort value is digits, '.', 'e', signs or "Infinity" (_sort_value): nothing to escape.
        value = f' data-value="{self.sort_value}"' if self.sort_value is not None else ""
        return f"<td{css}{title}{value}>{_escape(self.text)}</td>"


def _cells_html(cells: Iterable[Cell]) -> Markup:
    # Every text in a cell is escaped by Cell.html, so the joined row is safe markup.
    return Markup("".join([cell.html for cell in cells]))


@dataclass(frozen=True)
class Column:
    key: str  # metric name
    header: str
    description: str
    group_label: str
    group: str  # CSS class of the group
    task: str = ""  # the task the column belongs to ('' for system columns), for the page's task filter


def _measurement_title(row: Mapping[str, Any]) -> str:
    return _joined_title(row.get("measurement") or "", row.get("n"))


@functools.lru_cache(maxsize=4096)  # a run's rows share a few measurement texts and sizes
def _joined_title(measurement: str, n: int | None) -> str:
    parts = [measurement]
    if n is not None:
        parts.append(f"n = {n}")
    return "; ".join(p for p in parts if p)


def _is_estimate(row: Mapping[str, Any]) -> bool:
    # Energy on a CPU without power counters is modelled: the `estimate` column says so (results schema v2); older
    # files said it in the measurement text only.
    return bool(row.get("estimate")) or _says_estimate(row.get("measurement") or "")


@functools.lru_cache(maxsize=4096)
def _says_estimate(text: str) -> bool:
    return "stimate" in text.lower() and bool(re.search(r"\bestimate", text, re.IGNORECASE))


class Texts(NamedTuple):
    """A row's numbers as the site prints them (its metric's decimals); None where the row has no such number."""

    value: str | None
    ci_low: str | None  # both or neither: an interval is printed only when it has both ends
    ci_high: str | None
    sort_value: str | None


def number_texts(row: Mapping[str, Any], fmt: MetricDisplay) -> Texts:
    """The printed value, interval and sort value of one row.

    >>> number_texts({"value": 91.0555, "ci_low": 89.1, "ci_high": None}, MetricDisplay("a", "A", "%", "%", "q", 2))
    Texts(value='91.06', ci_low=None, ci_high=None, sort_value='91.0555')
    """
    value, low, high = row["value"], row.get("ci_low"), row.get("ci_high")
    if low is None or high is None:
        low_text = high_text = None
    else:
        low_text = format_number(low, fmt.decimals, fmt.thousands)
        high_text = format_number(high, fmt.decimals, fmt.thousands)
    if value is None:
        return Texts(None, low_text, high_text, None)
    return Texts(format_number(value, fmt.decimals, fmt.thousands), low_text, high_text, _sort_value(value))


def _metric_cell(
    row: Mapping[str, Any] | None,
    spread_row: Mapping[str, Any] | None,
    fmt: MetricDisplay,
    tooltips: bool = True,
    texts: Callable[[Mapping[str, Any], MetricDisplay], Texts] = number_texts,
) -> Cell:
    """A formatted cell; without tooltips (the big index table) the measurement text stays on the variant page.
    `texts` formats a row's numbers (SiteData.texts: once per row, however many pages show it)."""
    if row is None:
        return Cell(EM_DASH, NOT_MEASURED, None, "missing")
    if row["status"] != "ok":
        return Cell("failed", row.get("error") or "failed without an error message", None, "failed")
    value = row["value"]
    if value is None:
        return Cell(EM_DASH, f"{NOT_MEASURED} (status ok but no value)", None, "missing")
    numbers = texts(row, fmt)
    text = numbers.value
    title = _measurement_title(row) if tooltips else ""
    if fmt.show_ci and numbers.ci_low is not None:
        text += f" [{numbers.ci_low}, {numbers.ci_high}]"
    if fmt.spread is not None:
        if spread_row is not None and spread_row["status"] == "ok" and spread_row["value"] is not None:
            text += f" ± {format_number(spread_row['value'], fmt.decimals, fmt.thousands)}"
        else:
            title = "; ".join(t for t in (title, f"{fmt.spread}: {NOT_MEASURED}") if t)
    state = "ok" if math.isfinite(value) else "nonfinite"
    if _is_estimate(row):
        text, state = f"≈ {text}", "estimate"
        title = "; ".join(t for t in ("estimate", title) if t)
    return Cell(text, title, numbers.sort_value, state)


# --- data -------------------------------------------------------------------------------------------------------


# "1.10" is newer than "1.9"; cached: 100 000 rows share a handful of versions.
_version_key = functools.cache(version_key)


def _distinct(values: Iterable[Any]) -> list[Any]:
    # A dict keeps first-seen order at hash speed (1 000 variants × 100 000 rows must not be quadratic).
    return list(dict.fromkeys(v for v in values if v is not None and v != ""))


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


def _main_version(task_versions: list[tuple[str, str]], schema: LeaderboardSchema) -> str | None:
    """The newest version of the main task, or None when the results hold none (the page then says so)."""
    versions = [v for t, v in task_versions if t == schema.main_task]
    return max(versions, key=_version_key) if versions else None


def _rank_key(value: float | None, variant: str) -> tuple:
    # Unranked (not measured, failed, NaN) rows go last, in name order, so they are shown but never ranked.
    if value is None or not math.isfinite(value):
        return (1, 0.0, variant)
    return (0, -value, variant)


PROVENANCE_FIELDS = (
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
_provenance_columns = operator.itemgetter(*(key for _, key in PROVENANCE_FIELDS), "library_versions")


def _provenance(
    records: list[dict[str, Any]], source: Path, cache: dict[tuple, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The provenance block of a set of rows; `cache` keeps the part built from each distinct set of provenance
    values (1 000 variant pages usually share one), so only the timestamps are read per page."""
    # Each distinct combination of values, in first-seen order: each column's distinct values keep the order of the
    # rows they first appear in.
    combinations = tuple(dict.fromkeys(map(_provenance_columns, records)))
    shared = cache.get(combinations) if cache is not None else None
    if shared is None:
        shared = _provenance_values(combinations, source)
        if cache is not None:
            cache[combinations] = shared
    stamps: list[datetime] = [r["timestamp"] for r in records if r["timestamp"] is not None]
    first = min(stamps).isoformat(timespec="seconds") if stamps else NOT_MEASURED
    last = max(stamps).isoformat(timespec="seconds") if stamps else NOT_MEASURED
    return {**shared, "first": first, "last": last}


def _provenance_values(combinations: tuple[tuple[Any, ...], ...], source: Path) -> dict[str, Any]:
    items = []
    for position, (label, _key) in enumerate(PROVENANCE_FIELDS):
        values = [str(v) for v in _distinct(c[position] for c in combinations)]
        items.append({"label": label, "values": values or [NOT_MEASURED], "differs": len(values) > 1})

    libraries: dict[str, list[str]] = {}
    for text in _distinct(c[-1] for c in combinations):
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
    return {
        "items": items,
        "libraries": library_items,
        "differs": any(i["differs"] for i in items) or any(i["differs"] for i in library_items),
    }


# --- site -------------------------------------------------------------------------------------------------------


def slug(name: str, taken: set[str]) -> str:
    """A file name for a variant or task page: its own name when that is safe, else a cleaned name plus a hash.

    >>> slug("int8-dynamic", set()), slug("<script>alert(1)</script>", set())
    ('int8-dynamic', 'script-alert-1-script-5c140d35')
    """
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.") or "x"
    if cleaned != name or cleaned in taken:
        cleaned = f"{cleaned[:60]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    taken.add(cleaned)
    return cleaned


def _where(task: str, version: str) -> str:
    return task + (f" v{version}" if version else "")


@dataclass
class SiteData:
    """The results, indexed once, and everything rank.py derives from them."""

    schema: LeaderboardSchema
    source: Path
    records: list[dict[str, Any]]
    index: dict[tuple[str, str, str, str], dict[str, Any]]
    by_variant: dict[str, list[dict[str, Any]]]
    variants: list[str]  # teacher first, then by the main metric, unranked last
    task_versions: list[tuple[str, str]]
    main_version: str | None
    metrics_by_tv: dict[tuple[str, str], set[str]]
    groups: list[Group]
    paretos: dict[tuple[str, str, str], ParetoResult]
    variant_pages: dict[str, str]
    task_pages: dict[tuple[str, str], str]
    sla: SlaTargets | None
    resolved: Mapping[str, Any] | None
    lineage: dict[str, tuple[str, str]] = field(default_factory=dict)  # variant -> (method, parent)
    # Built once and shared by the pages that show them: id(row) -> Texts (see `texts`), provenance blocks (see
    # _provenance), ...
    texts_by_row: dict[int, Texts] = field(default_factory=dict, repr=False)
    provenance_cache: dict[tuple, dict[str, Any]] = field(default_factory=dict, repr=False)
    # ... and what a number's line on a variant page shares with other variants' (see _all_metrics).
    metric_row_parts: dict[tuple[str, str, str, str], _RowParts] = field(default_factory=dict, repr=False)
    escaped_measurements: dict[str, str] = field(default_factory=dict, repr=False)

    def main_groups(self) -> list[Group]:
        return [g for g in self.groups if g.task == self.schema.main_task and g.task_version == self.main_version]

    def pareto_of(self, group: Group) -> ParetoResult:
        return self.paretos[(group.task, group.task_version, group.hardware)]

    def texts(self, row: Mapping[str, Any], fmt: MetricDisplay) -> Texts:
        """number_texts(row, fmt) formatted once per row: a row prints the same on the index, its task page and its
        variant page. `fmt` is always the display of the row's own metric, so the row alone is the key; rows live
        in `records` as long as this object, so their ids are never reused."""
        texts = self.texts_by_row.get(id(row))
        if texts is None:
            texts = self.texts_by_row[id(row)] = number_texts(row, fmt)
        return texts

    @functools.cached_property
    def records_by_task(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        by_task: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for record in self.records:
            by_task.setdefault((record["task"], record["task_version"] or ""), []).append(record)
        return by_task

    @functools.cached_property
    def children(self) -> dict[str, list[str]]:
        """Each variant's children, in the order of `variants`."""
        children: dict[str, list[str]] = {}
        for variant in self.variants:
            children.setdefault(self.lineage[variant][1], []).append(variant)
        return children


def _collect(
    records: list[dict[str, Any]],
    schema: LeaderboardSchema,
    source: Path,
    sla: SlaTargets | None,
    resolved: Mapping[str, Any] | None,
    resamples: int,
    seed: int,
) -> SiteData:
    _check_units(records, schema, source)
    index = _index_rows(records, source)
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_variant.setdefault(record["variant"], []).append(record)
    metrics_by_tv: dict[tuple[str, str], set[str]] = {}
    for _variant, task, version, metric in index:
        metrics_by_tv.setdefault((task, version), set()).add(metric)
    task_versions = sorted(
        (tv for tv in metrics_by_tv if tv[0] != SYSTEM_TASK),
        key=lambda tv: (tv[0] != schema.main_task, tv[0], _version_key(tv[1])),
    )
    main_version = _main_version(task_versions, schema)
    main_values: dict[str, float | None] = {}
    for variant in by_variant:
        row = index.get((variant, schema.main_task, main_version or "", schema.main_metric))
        main_values[variant] = row["value"] if row is not None and row["status"] == "ok" else None
    ordered = [v for v in by_variant if v == TEACHER]
    ordered += sorted((v for v in by_variant if v != TEACHER), key=lambda v: _rank_key(main_values[v], v))
    groups = build_groups(records)
    # NumPy releases the GIL in the array work of the bootstrap: two threads take the 20 groups of the benchmark from
    # 1.3 s to 0.8 s on 2 cores. Each group has its own seeded generator, so the results do not depend on the order.
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        results = pool.map(lambda g: pareto(g, resamples, seed, adaptive=True), groups)
        paretos = {(g.task, g.task_version, g.hardware): result for g, result in zip(groups, results, strict=True)}
    taken: set[str] = set()
    variant_pages = {v: f"variants/{slug(v, taken)}.html" for v in ordered}
    taken = set()
    task_pages = {tv: f"tasks/{slug(_where(*tv).replace(' ', '-'), taken)}.html" for tv in task_versions}
    lineage = {v: _lineage(rows, v, source) for v, rows in by_variant.items()}
    return SiteData(
        schema,
        source,
        records,
        index,
        by_variant,
        ordered,
        task_versions,
        main_version,
        metrics_by_tv,
        groups,
        paretos,
        variant_pages,
        task_pages,
        sla,
        resolved,
        lineage,
    )


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
                column = Column(name, header, "not described in leaderboard/schema.yaml", label, css, filter_task)
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
    for task, version, fmt in displays:
        row = index.get((variant, task, version, fmt.name))
        spread = index.get((variant, task, version, fmt.spread)) if fmt.spread else None
        cell = _metric_cell(row, spread, fmt, tooltips, data.texts)
        if cell.state == "ok" and fmt.name.startswith("latency_"):
            flag = index.get((variant, task, version, "latency_unstable"))
            if flag is not None and flag["status"] == "ok" and flag["value"] == 1:
                cell = cell._replace(text=f"{cell.text} {UNSTABLE_MARK}", title=UNSTABLE_TITLE, state="unstable")
        cells.append(cell)
    return cells


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


def _pareto_context(data: SiteData, result: ParetoResult, root: str) -> dict[str, Any]:
    schema = data.schema

    def name(metric: str) -> str:
        fmt = schema.metrics.get(metric)
        return fmt.header if fmt else metric

    axes = [f"{name(o.metric)} {'↑' if o.maximize else '↓'}" for o in result.objectives]
    entries = sorted(result.entries, key=lambda e: (not e.on_front, -e.probability, e.variant))
    return {
        "label": f"{schema.task_label(result.group.task)}"
        + (f" v{result.group.task_version}" if result.group.task_version else "")
        + f" on {result.group.hardware}",
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
            }
            for e in entries
            if not e.on_front and e.probability >= 0.05
        ],
        "unranked": [{"variant": v, "href": root + data.variant_pages[v], "why": why} for v, why in result.unranked],
        "resamples": result.resamples,
        "count": len(result.group.candidates),
    }


def _recommendations(data: SiteData) -> dict[tuple[str, str], dict[tuple[str, float], Recommendation]]:
    """The main task's recommendations, per machine, for every priority and every tolerance of the schema."""
    sla = data.sla
    out: dict[tuple[str, str], dict[tuple[str, float], Recommendation]] = {}
    for group in data.main_groups():
        out[(group.task_version, group.hardware)] = {
            (priority, tolerance): recommend(
                group,
                priority,
                Tolerance(tolerance),
                sla.max_latency_p99_ms if sla else None,
                sla.max_peak_rss_mb if sla else None,
            )
            for priority in PRIORITIES
            for tolerance in data.schema.tolerances
        }
    return out


def _scorecards(data: SiteData) -> dict[tuple[str, str], list[Scorecard]]:
    return {
        (g.task_version, g.hardware): [scorecard(g, c.variant, data.sla) for c in g.candidates if c.variant != TEACHER]
        for g in data.main_groups()
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


def _newest_version(data: SiteData, task: str) -> str:
    versions = [v for t, v in data.task_versions if t == task]
    return versions[-1] if versions else ""


def _self_reported(data: SiteData, variant: str, reported: Mapping[str, Mapping[str, float]]) -> list[dict[str, str]]:
    """Each self-reported number beside the suite's verified one, with the difference (reported − verified)."""
    out = []
    for task, metrics in reported.items():
        version = "" if task == SYSTEM_TASK else _newest_version(data, task)
        for metric, value in metrics.items():
            row = data.index.get((variant, task, version, metric))
            fmt = data.schema.metrics.get(metric)
            unit = (row or {}).get("unit") or (fmt.unit if fmt else "")
            verified, difference, verdict = EM_DASH, EM_DASH, NOT_MEASURED
            if row is not None and row["status"] != "ok":
                verified, verdict = "failed", row["error"] or "failed without an error message"
            elif row is not None and row["value"] is not None:
                measured = row["value"]
                verified = _fmt_value(data, metric, measured)
                if row.get("ci_low") is not None and row.get("ci_high") is not None:
                    low, high = _fmt_value(data, metric, row["ci_low"]), _fmt_value(data, metric, row["ci_high"])
                    verified += f" [{low}, {high}]"
                if math.isfinite(measured):
                    delta = value - measured
                    difference = ("+" if delta > 0 else "") + _fmt_value(data, metric, delta)
                    difference += " pts" if unit == "%" else f" {unit}" if unit else ""
                    if measured:
                        difference += f" ({100 * delta / abs(measured):+.1f} %)"
                    if row.get("ci_low") is not None and row.get("ci_high") is not None:
                        inside = row["ci_low"] <= value <= row["ci_high"]
                        verdict = "inside the verified CI" if inside else "outside the verified CI"
                    else:
                        shown = 0.5 * 10 ** -(fmt.decimals if fmt else 4)
                        verdict = "matches to the shown precision" if abs(delta) < shown else "differs"
                else:
                    verdict = "the verified value is not finite"
            where = _where(data.schema.task_label(task), version) if task != SYSTEM_TASK else "system"
            out.append(
                {
                    "where": where,
                    "metric": fmt.display_name if fmt else metric,
                    "unit": unit,
                    "reported": _fmt_value(data, metric, value),
                    "verified": verified,
                    "difference": difference,
                    "verdict": verdict,
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
    }


def _self_reported_parquet(data: SiteData) -> bytes | None:
    """Every self-reported number as rows of the results schema with `verified` false (a download of the site)."""
    import pyarrow.parquet as pq

    from suite.results import Row, to_table

    tables = []
    for item in entries.accepted(data.resolved):
        entry = item["entry"]
        rows = []
        for task, metrics in (entry.get("self_reported") or {}).items():
            version = "" if task == SYSTEM_TASK else _newest_version(data, task)
            for metric, value in metrics.items():
                fmt = data.schema.metrics.get(metric)
                verified = data.index.get((item["id"], task, version, metric))
                rows.append(
                    Row(
                        variant=item["id"],
                        metric=metric,
                        value=float(value),
                        unit=(verified or {}).get("unit") or (fmt.unit if fmt else ""),
                        higher_is_better=(verified or {}).get("higher_is_better"),
                        task=task,
                        task_version=version,
                        measurement=f"self-reported by {entry['submitter']} in {item.get('file')}; not verified",
                        verified=False,
                    )
                )
        if rows:
            variant_spec = item["variant"]
            lineage = {"teacher": entry["teacher"], "parent": variant_spec["parent"], "method": variant_spec["method"]}
            tables.append(to_table(rows, lineage, {}))
    if not tables:
        return None
    buffer = io.BytesIO()
    pq.write_table(pa.concat_tables(tables), buffer)
    return buffer.getvalue()


def _lineage_chain(data: SiteData, variant: str) -> list[dict[str, str]]:
    chain, current, seen = [], variant, set()
    while current and current not in seen:
        seen.add(current)
        method, parent = data.lineage.get(current, ("", ""))
        href = f"../{data.variant_pages[current]}" if current in data.variant_pages else ""
        chain.append({"variant": current, "method": method, "href": href})
        current = parent
    return list(reversed(chain))


def _fmt_value(data: SiteData, metric: str, value: float | None) -> str:
    if value is None:
        return EM_DASH
    fmt = data.schema.metrics.get(metric)
    return format_number(value, fmt.decimals if fmt else 4, fmt.thousands if fmt else False)


class _RowParts(NamedTuple):
    sort_key: tuple  # task (system last), version, schema order of the metric, metric
    fmt: MetricDisplay
    start: str  # "<tr>", the task cell and the metric's header cell, escaped
    unit: str  # the unit's cell, escaped


def _row_parts(data: SiteData, task: str, version: str, metric: str, unit: str) -> _RowParts:
    fmt = _display(data, metric)
    order = list(data.schema.metrics)
    schema_order = order.index(metric) if metric in order else len(order)
    where = _where(data.schema.task_label(task), version)
    return _RowParts(
        (task == SYSTEM_TASK, task, _version_key(version), schema_order, metric),
        fmt,
        f'<tr><td>{_escape(where)}</td><th scope="row" title="{_escape(metric)}">{_escape(fmt.display_name)}</th>',
        f"<td>{_escape(unit)}</td>",
    )


def _all_metrics(data: SiteData, records: list[dict[str, Any]]) -> Markup:
    """Every number of a variant, in task then schema order, each with its CI, n and how it was measured."""
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
        numbers = data.texts(r, parts.fmt)
        ci = EM_DASH if numbers.ci_low is None else f"[{numbers.ci_low}, {numbers.ci_high}]"
        error = r["error"] or ("failed without an error message" if r["status"] != "ok" else "")
        if error:
            how = f'<span class="failed-text">{_escape(error)}</span>'
        else:
            measurement = r["measurement"] or ""
            how = measurements.get(measurement)
            if how is None:
                how = measurements[measurement] = _escape(measurement)
        css = "num" if cell.state == "ok" else f"num {cell.state}"
        # Built here, not in the template: 1 000 pages × 100 numbers would otherwise dominate the render time.
        rows.append(
            f'{parts.start}<td class="{css}">{_escape(cell.text.split(" [")[0])}</td><td class="num">{_escape(ci)}</td>'
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
        "main_metric": f"{main_fmt.display_name} on {main_label}",
        "main_missing": data.main_version is None and bool(data.records),
        "main_task": schema.task_label(schema.main_task),
        "header_groups": header_groups,
        "columns": [c for _, _, c in columns],
        "rows": rows,
        "show_front": bool(main_results),
        "methods": sorted({r["method"] for r in rows if r["method"]}),
        "hardware_choices": sorted({r["hardware"] for r in rows if r["hardware"]}),
        "tasks": [{"key": t, "label": schema.task_label(t)} for t in _distinct(t for t, _ in data.task_versions)],
        "task_links": [
            {"label": schema.task_label(t) + (f" v{v}" if v else ""), "href": data.task_pages[(t, v)]}
            for t, v in data.task_versions
        ],
        "failures": _failures(data.records),
        "unshown": [{"metric": m, "where": _where(t, v)} for t, v, m in unshown],
        "unknown": unknown,
        "provenance": _provenance(data.records, data.source, data.provenance_cache),
        "source": data.source.name,
        "paretos": [_pareto_context(data, r, "") for r in main_results.values()],
        "recommendations": [
            {"label": f"{main_label} on {hw}", "tables": _recommendation_context(data, by, "")}
            for (_, hw), by in recs.items()
        ],
        "scorecards": [
            {
                "label": f"{main_label} on {hw}",
                "rows": _scorecard_rows(data, group_cards, "", chosen_anywhere),
                "passing": sum(c.status == "pass" for c in group_cards),
                "total": len(group_cards),
            }
            for (_, hw), group_cards in cards.items()
        ],
        "sla": data.sla is not None,
        "figures": [_figure(f, "") for f in overview_figures]
        + [
            _figure(f, "")
            for key, f in scatter_figures.items()
            if key[0] == schema.main_task and key[1] == data.main_version
        ],
        "release": release,
        "empty": not data.records,
        **_entries_context(data, ""),
    }


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
        memberships.append({"label": group.label, "status": status})
    verdicts = []
    for (version, hw), by in recs.items():
        for tolerance in data.schema.tolerances:
            for priority in PRIORITIES:
                verdict = by[(priority, tolerance)].verdict(variant)
                if verdict is not None:
                    verdicts.append(
                        {
                            "where": f"v{version} on {hw}",
                            "tolerance": f"{tolerance:g}",
                            "priority": priority,
                            "outcome": verdict.outcome,
                            "reason": verdict.reason,
                        }
                    )
    card = cards.get(variant)
    recipe = _resolved_recipe(data, variant)
    return {
        "title": f"{variant} · {data.schema.title}",
        "variant": variant,
        "method": method,
        "parent": parent,
        "lineage": _lineage_chain(data, variant),
        "children": [{"variant": v, "href": f"../{data.variant_pages[v]}"} for v in data.children.get(variant, [])],
        "recipe": json.dumps(recipe, indent=2, sort_keys=True) if recipe else None,
        "metrics": _all_metrics(data, records),
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
    names = [m for m in schema.task_columns if m in present] + sorted(m for m in present if m not in schema.metrics)
    headers = [schema.metrics[m].header if m in schema.metrics else m for m in names]
    main_metric = schema.main_metric if schema.main_metric in present else (names[0] if names else "")
    displays = [_display(data, m) for m in names]
    rankings = []
    for group in (g for g in data.groups if g.task == task and g.task_version == version):
        result = data.pareto_of(group)
        values: dict[str, float | None] = {}
        for candidate in group.candidates:
            row = data.index.get((candidate.variant, task, version, main_metric))
            values[candidate.variant] = row["value"] if row is not None and row["status"] == "ok" else None
        ordered = sorted(values, key=lambda v: _rank_key(values[v], v))
        rows, previous, ties = [], None, 0
        for position, variant in enumerate(ordered, start=1):
            row = data.index.get((variant, task, version, main_metric))
            value = values[variant]
            ranked = value is not None and math.isfinite(value)
            # MTEB's point: adjacent ranks whose intervals overlap are not distinguishable; say so on each line.
            tie = False
            if ranked and previous is not None and row["ci_low"] is not None and previous["ci_high"] is not None:
                tie = row["ci_high"] >= previous["ci_low"] and row["ci_low"] <= previous["ci_high"]
                ties += tie
            rows.append(
                {
                    "rank": str(position) if ranked else EM_DASH,
                    "variant": variant,
                    "href": f"../{data.variant_pages[variant]}",
                    "tie": tie,
                    "front": Markup(_probability_cell(result, variant).html),
                    "cells": _cells_html(
                        _metric_cell(data.index.get((variant, task, version, fmt.name)), None, fmt, True, data.texts)
                        for fmt in displays
                    ),
                }
            )
            previous = row if ranked else previous
        figure = scatter.get((task, version, group.hardware))
        rankings.append(
            {
                "label": group.label,
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
        "headers": headers,
        "rankings": rankings,
        "other_versions": [
            {"label": _where(t, v), "href": f"../{data.task_pages[(t, v)]}"}
            for t, v in data.task_versions
            if t == task and v != version
        ],
    }


# --- writing ----------------------------------------------------------------------------------------------------


WHY_ROWS = 100  # the recommendations page explains the first 100 variants; each variant's page has its own verdicts
RELEASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MANAGED = ("variants", "tasks", "figures", "downloads")  # directories render owns and prunes of stale files
SELF_REPORTED_FILE = "self_reported.parquet"  # community entries' own numbers (`verified` false), a site download


class _Environment(jinja2.Environment):
    """Jinja, with `row.name` on a context dict looking up the key first.

    Jinja tries the attribute first, and a dict has none, so every `row.name` raised and caught an AttributeError:
    2.5× slower, and the 1 000-variant site makes half a million lookups. A key now shadows a dict method of the
    same name (`d.items` is the key "items" when there is one); the templates call no dict methods.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def _environment(templates_dir: Path) -> jinja2.Environment:
    env = _Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=True,  # variant names and error texts come from results files: never trusted as markup
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def _inline(path: Path, tag: str) -> str:
    text = path.read_text("utf-8")
    # Inlined unescaped (it is our own file), so it must not be able to close its <style>/<script> element.
    if "</" in text:
        raise SuiteInputError(str(path), None, "contains '</'", f"remove it: the file is inlined in a <{tag}>")
    return text


def _python_values(column: pa.ChunkedArray) -> list[Any]:
    """column.to_pylist(), with each distinct timestamp converted once: a timezone-aware timestamp is slow to convert
    (a third of a second for 100 000 rows), and a run's rows share a few (one per job)."""
    if not pa.types.is_timestamp(column.type):
        return column.to_pylist()
    values: list[Any] = []
    for chunk in column.dictionary_encode().chunks:
        distinct = chunk.dictionary.to_pylist()
        values += [None if i is None else distinct[i] for i in chunk.indices.to_pylist()]
    return values


def read_resolved_config(path: Path) -> tuple[dict[str, Any], SlaTargets]:
    """The workflow's resolved config JSON (results/config.resolved.json) and its SLA targets."""
    try:
        resolved = json.loads(Path(path).read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SuiteInputError(
            str(path), None, f"cannot be read as JSON ({exc})", "re-run `suite resolve-config`"
        ) from exc
    if not isinstance(resolved, dict) or not isinstance(resolved.get("config"), dict):
        raise SuiteInputError(str(path), "config", "is missing", "pass the file the workflow wrote (--resolved)")
    return resolved, SlaTargets.from_mapping(resolved["config"].get("sla"), str(path))


@contextlib.contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """Pause Python's cycle collector: a render keeps 100 000 rows and their objects alive while it allocates
    millions of short-lived ones, and each full collection walks them all (about 1 s of a 7 s render of 1 000
    variants). A render leaves a few hundred objects in cycles, collected once it is done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@_cycle_collection_paused()
def render_site(
    leaderboard_parquet: Path,
    out_dir: Path,
    schema_path: Path,
    templates_dir: Path | None = None,
    static_dir: Path | None = None,
    resolved: Path | None = None,
    release: str | None = None,
    resamples: int = 1000,
) -> Path:
    """Render the site from the results Parquet into out_dir (or out_dir/releases/NAME); returns its index.html.

    Pages: index.html (leaderboard, Pareto front, recommendations, scorecard summary, figures), recommendations.html,
    scorecard.html, variants/<variant>.html, tasks/<task>-v<version>.html, figures/*.svg, downloads/ (the Parquet
    and a CSV). Every page inlines its stylesheet and script: the site needs no server and no network. `resolved` is
    the workflow's resolved config JSON: SLA targets, recipes and task definitions come from it when given.
    """
    schema_path = Path(schema_path)
    source = Path(leaderboard_parquet)
    templates_dir = Path(templates_dir) if templates_dir else schema_path.parent / "templates"
    static_dir = Path(static_dir) if static_dir else schema_path.parent / "static"
    schema = load_schema(schema_path)
    for name in ("style.css", "site.js"):
        if not (static_dir / name).is_file():
            raise SuiteInputError(str(static_dir), None, f"has no {name}, which every page inlines", "restore it")
    if release is not None and not RELEASE_NAME.match(release):
        raise SuiteInputError(
            None, "--release", f"{release!r} is not a release name", "use letters, digits, '.', '_' and '-' only"
        )
    resolved_config, sla = read_resolved_config(resolved) if resolved else (None, None)
    seed = int((resolved_config or {}).get("config", {}).get("seed", 42))
    table = read_results([source])
    # Column-wise conversion, then rows: three times faster than Table.to_pylist() on 100 000 rows.
    names = table.column_names  # a new list on every access
    values = [_python_values(table.column(name)) for name in names]
    records = [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]
    # Only what the suite measured is shown as a result and ranked; self-reported numbers come from the entries.
    records = [r for r in records if r.get("verified") is not False]
    data = _collect(records, schema, source, sla, resolved_config, resamples, seed)

    recs = _recommendations(data)
    cards = _scorecards(data)
    overview_figures = [
        figures.overview(g, data.pareto_of(g), f"overview-{slug(g.hardware, set())}.svg") for g in data.main_groups()
    ]
    taken: set[str] = set()
    scatter = {
        (g.task, g.task_version, g.hardware): figures.accuracy_latency(
            g, data.pareto_of(g), f"accuracy-latency-{slug(f'{g.task}-v{g.task_version}-{g.hardware}', taken)}.svg"
        )
        for g in data.groups
    }

    env = _environment(templates_dir)
    common = {
        "site_title": schema.title,
        "stylesheet": _inline(static_dir / "style.css", "style"),
        "script": _inline(static_dir / "site.js", "script"),
        "source": source.name,
        "release": release,
        "labels": schema.labels,
    }
    site_dir = Path(out_dir) / "releases" / release if release else Path(out_dir)
    files: dict[str, bytes] = {}

    def page(path: str, template: str, context: dict[str, Any]) -> None:
        root = "../" * path.count("/")
        html = env.get_template(template).render({**common, **context, "root": root})
        files[path] = html.encode("utf-8")

    index = _index_context(data, recs, cards, overview_figures, scatter, release)
    index["has_releases"] = (Path(out_dir) / "releases" / "index.html").is_file() or release is not None
    page("index.html", "index.html.j2", index)
    page(
        "recommendations.html",
        "recommendations.html.j2",
        {
            "title": f"Recommendations · {schema.title}",
            "groups": [
                {
                    "label": f"{_where(schema.task_label(schema.main_task), version)} on {hw}",
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
                        sum(1 for v in data.variants if by[(PRIORITIES[0], schema.tolerances[0])].verdict(v))
                        - WHY_ROWS,
                    ),
                }
                for (version, hw), by in recs.items()
            ],
            "priorities": PRIORITIES,
            "tolerances": [f"{t:g}" for t in schema.tolerances],
            "sla": _sla_context(sla),
        },
    )
    page(
        "scorecard.html",
        "scorecard.html.j2",
        {
            "title": f"SLA scorecard · {schema.title}",
            "groups": [
                {
                    "label": f"{_where(schema.task_label(schema.main_task), version)} on {hw}",
                    "rows": _scorecard_rows(data, group_cards, ""),
                }
                for (version, hw), group_cards in cards.items()
            ],
            "sla": _sla_context(sla),
        },
    )
    card_of = _cards_by_variant(cards)
    for variant in data.variants:
        page(data.variant_pages[variant], "variant.html.j2", _variant_context(data, variant, recs, card_of))
    for (task, version), path in data.task_pages.items():
        page(path, "task.html.j2", _task_context(data, task, version, scatter))
    for figure in [*overview_figures, *scatter.values()]:
        files[f"figures/{figure.name}"] = figure.svg.encode("utf-8")
    files["downloads/" + source.name] = source.read_bytes()
    csv_buffer = io.BytesIO()
    pa_csv.write_csv(table, csv_buffer)
    files["downloads/" + source.with_suffix(".csv").name] = csv_buffer.getvalue()
    self_reported = _self_reported_parquet(data)
    if self_reported is not None:
        files[f"downloads/{SELF_REPORTED_FILE}"] = self_reported
    if release:
        manifest = {
            "release": release,
            "source": source.name,
            "source_sha256": hashlib.sha256(files["downloads/" + source.name]).hexdigest(),
            "variants": len(data.variants),
            "tasks": [_where(t, v) for t, v in data.task_versions],
            "rendered_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        files["release.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()

    for path, content in files.items():
        atomic_write(site_dir / path, lambda tmp, content=content: Path(tmp).write_bytes(content))
    # Pages of variants or tasks that are gone would otherwise linger and be linked from nowhere.
    for directory in MANAGED:
        for stale in (site_dir / directory).glob("*"):
            if stale.is_file() and f"{directory}/{stale.name}" not in files:
                stale.unlink()
    if release:
        _write_release_index(Path(out_dir) / "releases", env, common)
    return site_dir / "index.html"


def _write_release_index(releases_dir: Path, env: jinja2.Environment, common: dict[str, Any]) -> None:
    releases = []
    for manifest_path in sorted(releases_dir.glob("*/release.json")):
        try:
            manifest = json.loads(manifest_path.read_text("utf-8"))
        except (OSError, json.JSONDecodeError):
            manifest = {"release": manifest_path.parent.name, "broken": True}
        releases.append(
            {
                "name": manifest_path.parent.name,
                "href": f"{manifest_path.parent.name}/index.html",
                "rendered": manifest.get("rendered_utc", NOT_MEASURED),
                "variants": manifest.get("variants", EM_DASH),
                "tasks": ", ".join(manifest.get("tasks", [])),
                "sha256": manifest.get("source_sha256", NOT_MEASURED),
            }
        )
    releases.sort(key=lambda r: r["rendered"], reverse=True)
    # The nav's links lead to the main site, one level up.
    context = {**common, "release": None, "root": "../", "title": f"Releases · {common['site_title']}"}
    html = env.get_template("releases.html.j2").render({**context, "releases": releases})
    atomic_write(releases_dir / "index.html", lambda tmp: Path(tmp).write_text(html, encoding="utf-8"))
