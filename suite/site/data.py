"""The results as the site uses them: rows indexed once, provenance, page names, and what suite.rank derives."""

from __future__ import annotations

import functools
import hashlib
import json
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa

from suite.errors import SuiteInputError
from suite.rank import (
    SYSTEM_TASK,
    Contention,
    FamilyMetrics,
    Group,
    Objective,
    ParetoResult,
    Recommendation,
    Scorecard,
    SlaTargets,
    build_groups,
    contended_variants,
    family_metrics,
    hardware_labels,
    mean_rows,
    paretos,
    rank_key,
    recommendations,
    scorecards,
    usable_value,
    version_key,
)
from suite.site.formatting import NOT_MEASURED, Texts, _where, number_texts
from suite.site.schema import LeaderboardSchema, MetricDisplay
from suite.specs import TEACHER

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
        if record["status"] != "ok" and not record["unit"]:
            continue  # a number that failed before it was computed has no unit
        if fmt is not None and record["unit"] != fmt.unit:
            raise SuiteInputError(
                str(schema.path),
                fmt.unit_source,
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


HOST_ID = "host_id"  # which node of a hardware type (results schema v7); read where present, never required
RUNTIME_ENV = "runtime_env"  # timing-relevant environment variables (results schema v8); likewise
PROVENANCE_FIELDS = (
    ("Suite version", "suite_version"),
    ("Git commit", "git_commit"),
    ("Config hash", "config_hash"),
    ("CPU model", "cpu_model"),
    ("CPU cores", "cpu_cores"),
    ("Torch threads", "threads"),
    ("GPU", "gpu"),
    ("Hardware", "hardware_description"),
    ("Hardware fingerprint", "hardware_fingerprint"),
    ("Host (salted hash)", HOST_ID),
    ("Timing environment variables", RUNTIME_ENV),  # provenance.runtime_env: "{}" when none was set
    ("Seed", "seed"),
    ("Libraries vs constraints.txt", "environment_lock"),
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
    # Nodes of one hardware type differ without making numbers incomparable (the fingerprint would differ too):
    # marked on their line, not warned about.
    hosts = next(i for (_, key), i in zip(PROVENANCE_FIELDS, items, strict=True) if key == HOST_ID)
    return {
        "items": items,
        "libraries": library_items,
        "differs": any(i["differs"] for i in items if i is not hosts) or any(i["differs"] for i in library_items),
    }


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


class RowParts(NamedTuple):
    """What a number's line on a variant page shares with other variants' lines (pages._row_parts builds it)."""

    sort_key: tuple  # task (system last), version, schema order of the metric, metric
    fmt: MetricDisplay
    start: str  # "<tr>", the task cell and the metric's header cell, escaped
    unit: str  # the unit's cell, escaped


@dataclass
class SiteData:
    """The results, indexed once, and what suite.rank derives from them (the Pareto results of every group)."""

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
    rank_metrics: FamilyMetrics = field(default_factory=lambda: family_metrics("classifier"))
    directions: dict[str, bool] = field(default_factory=dict)  # metric -> higher is better (from the rows)
    hardware: dict[str, str] = field(default_factory=dict)  # fingerprint -> the machine in words (hardware_labels)
    # variant -> (why its timings are not judged or ranked, with the figures; the load guard's whole text): the
    # variants whose `contended` row is 1 (contended_variants)
    contended: dict[str, Contention] = field(default_factory=dict)
    # Built once and shared by the pages that show them: id(row) -> Texts (see `texts`), provenance blocks (see
    # _provenance), ...
    texts_by_row: dict[int, Texts] = field(default_factory=dict, repr=False)
    provenance_cache: dict[tuple, dict[str, Any]] = field(default_factory=dict, repr=False)
    # ... and what a number's line on a variant page shares with other variants' (see _all_metrics).
    metric_row_parts: dict[tuple[str, str, str, str], RowParts] = field(default_factory=dict, repr=False)
    escaped_measurements: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def family(self) -> str:
        return self.schema.family

    @functools.cached_property
    def system_versions(self) -> list[str]:
        """The versions of the 'system' rows, newest first."""
        versions = [v for t, v in self.metrics_by_tv if t == SYSTEM_TASK]
        return sorted(versions, key=_version_key, reverse=True)

    def ranking_metric(self, task: str, version: str) -> str:
        """The metric a task version's page ranks by (_ranking_metric)."""
        return _ranking_metric(self.schema, self.metrics_by_tv.get((task, version), set()))

    def maximize(self, metric: str) -> bool:
        """Whether higher is better, as the rows say (higher when they do not)."""
        return self.directions.get(metric, True)

    def hardware_label(self, fingerprint: str) -> str:
        """A fingerprint in words; a group without one (rank's "unknown hardware") keeps its own name."""
        return self.hardware.get(fingerprint, fingerprint)

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


def _ranking_metric(schema: LeaderboardSchema, present: set[str]) -> str:
    """The metric a task version is ranked by: the main metric where it has it, else the first of columns.task that
    it has, else the first of its other metrics by name ('' when it has none)."""
    if schema.main_metric in present:
        return schema.main_metric
    listed = [m for m in schema.task_columns if m in present]
    return (listed or sorted(m for m in present if m not in schema.task_columns) or [""])[0]


def _collect(
    records: list[dict[str, Any]],
    schema: LeaderboardSchema,
    source: Path,
    sla: SlaTargets | None,
    resolved: Mapping[str, Any] | None,
    resamples: int,
    seed: int,
) -> SiteData:
    # Names a pattern describes (accuracy@typo_s2, throughput_bs64_sps …) get their display for this render.
    schema = schema.describing({r["metric"] for r in records})
    if schema.mean_of:
        # The main metric as the mean of several tasks' rows (llm: piqa and blimp accuracy): shown, ranked and
        # recommended like a measured row, and its measurement text says it is derived.
        records = records + mean_rows(records, schema.mean_of, schema.main_task, schema.main_metric)
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
    main_values = {
        variant: usable_value(index.get((variant, schema.main_task, main_version or "", schema.main_metric)))
        for variant in by_variant
    }
    directions: dict[str, bool] = {}
    for record in records:
        if record["higher_is_better"] is not None:
            directions.setdefault(record["metric"], bool(record["higher_is_better"]))
    main_maximize = directions.get(schema.main_metric, True)
    ordered = [v for v in by_variant if v == TEACHER]
    ordered += sorted((v for v in by_variant if v != TEACHER), key=lambda v: rank_key(main_values[v], v, main_maximize))
    groups = build_groups(records)
    fm = family_metrics(schema.family)

    def objectives(group: Group) -> tuple[Objective, ...]:
        # Each task version is ranked on its own quality metric (the llm's piqa on acc, wikitext2 on perplexity),
        # with the family's speed and size axes.
        # The classifier's groups keep accuracy (a task without it is left unranked, saying so).
        present = metrics_by_tv.get((group.task, group.task_version), set())
        quality = fm.quality if schema.family == "classifier" else _ranking_metric(schema, present) or fm.quality
        if quality == fm.quality:
            return fm.objectives
        return (Objective(quality, directions.get(quality, True), True), *fm.objectives[1:])

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
        paretos(groups, resamples, seed, adaptive=True, objectives=objectives),
        variant_pages,
        task_pages,
        sla,
        resolved,
        lineage,
        fm,
        directions,
        hardware_labels(records),
        contended_variants(records),
    )


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


def read_records(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of a results table as dicts, only those the suite measured: self-reported numbers (`verified` false)
    are never shown as a result nor ranked; they come from the entries."""
    for name in (HOST_ID, RUNTIME_ENV):  # results before schema v7 / v8 (read_results adds them; a plain table may not)
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
    # Column-wise conversion, then rows: three times faster than Table.to_pylist() on 100 000 rows.
    names = table.column_names  # a new list on every access
    values = [_python_values(table.column(name)) for name in names]
    records = [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]
    return [r for r in records if r.get("verified") is not False]


def main_recommendations(data: SiteData) -> dict[tuple[str, str], dict[tuple[str, float], Recommendation]]:
    """The main task's recommendations, per machine, for every priority and every tolerance of the schema."""
    sla = data.sla
    return {
        (group.task_version, group.hardware): recommendations(
            group,
            data.schema.tolerances,
            sla.max_latency_p99_ms if sla else None,
            sla.max_peak_rss_mb if sla else None,
            data.rank_metrics,
        )
        for group in data.main_groups()
    }


def main_scorecards(data: SiteData) -> dict[tuple[str, str], list[Scorecard]]:
    """The main task's scorecards, per machine: every student against the SLA targets."""
    return {(g.task_version, g.hardware): scorecards(g, data.sla, data.rank_metrics) for g in data.main_groups()}
