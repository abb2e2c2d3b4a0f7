"""The display schema, leaderboard/schema.yaml: how the site names and prints each metric, validated on loading."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite.errors import SuiteInputError
from suite.yamlio import REPO_ROOT, read_yaml, validate

DISPLAY_SCHEMA = REPO_ROOT / "leaderboard" / "display.schema.yaml"  # the JSON Schema of leaderboard/schema.yaml


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
    unit_field: str = ""  # the schema field its unit comes from, for errors: metrics.<name>.unit unless a pattern's

    @property
    def header(self) -> str:
        return f"{self.display_name} ({self.unit_label})" if self.unit_label else self.display_name

    @property
    def unit_source(self) -> str:
        return self.unit_field or f"metrics.{self.name}.unit"


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_REFERENCE = re.compile(r"\{([a-z_][a-z0-9_]*)(?:\.(display_name|description))?\}")
# Fields a pattern without `like` gives itself; with `like`, any of them overrides the described metric's.
_OWN_FIELDS = ("unit", "group", "decimals", "show_ci")


@dataclass(frozen=True)
class MetricPattern:
    """A family of metric names (schema.yaml's `metric_patterns`): each `{part}` of the pattern matches any text
    without '@'; `like` names the part that must be a metric of `metrics`, whose display the names inherit.

    >>> slices = MetricPattern("metric_patterns[0]", "{metric}@{slice}", "metric", {
    ...     "display_name": "{metric.display_name} · {slice}", "description": "{metric.description} On {slice}."})
    >>> accuracy = MetricDisplay("accuracy", "Accuracy", "%", "%", "quality", 2, description="Share correct.")
    >>> shown = slices.describe("accuracy@typo_s2", {"accuracy": accuracy})
    >>> shown.display_name, shown.unit, shown.description, shown.unit_source
    ('Accuracy · typo_s2', '%', 'Share correct. On typo_s2.', 'metrics.accuracy.unit (via metric_patterns[0])')
    >>> slices.describe("latency@bs8", {"accuracy": accuracy}) is None  # `latency` is not a described metric
    True
    """

    where: str  # metric_patterns[<i>]
    pattern: str
    like: str | None
    entry: Mapping[str, Any]

    @property
    def regex(self) -> re.Pattern[str]:
        parts = re.split(r"(\{[a-z_][a-z0-9_]*\})", self.pattern)
        return re.compile(
            "".join(f"(?P<{p[1:-1]}>[^@]+)" if _PLACEHOLDER.fullmatch(p) else re.escape(p) for p in parts)
        )

    def describe(self, name: str, metrics: Mapping[str, MetricDisplay]) -> MetricDisplay | None:
        """The display of `name`, or None when the pattern does not match it (or `like` is not a known metric)."""
        found = self.regex.fullmatch(name)
        if found is None:
            return None
        parts = found.groupdict()
        base = metrics.get(parts[self.like]) if self.like else None
        if self.like and base is None:
            return None

        def fill(text: str) -> str:
            def one(ref: re.Match[str]) -> str:
                part, attribute = ref.group(1), ref.group(2)
                return getattr(base, attribute) if attribute else parts[part]

            return _REFERENCE.sub(one, text)

        entry = self.entry
        inherited: dict[str, Any] = {}
        if base is not None:
            inherited = {k: getattr(base, k) for k in ("unit", "unit_label", "group", "decimals", "thousands")}
            inherited["show_ci"] = base.show_ci
        unit = str(entry.get("unit", inherited.get("unit", "")))
        return MetricDisplay(
            name=name,
            display_name=fill(entry["display_name"]),
            unit=unit,
            unit_label=str(entry.get("unit_label", unit if "unit" in entry else inherited.get("unit_label", unit))),
            group=str(entry.get("group", inherited.get("group"))),
            decimals=int(entry.get("decimals", inherited.get("decimals", 2))),
            thousands=bool(entry.get("thousands", inherited.get("thousands", False))),
            show_ci=bool(entry.get("show_ci", inherited.get("show_ci", False))),
            description=fill(str(entry["description"])),
            unit_field=f"{self.where}.unit"
            if base is None or "unit" in entry
            else f"{base.unit_source} (via {self.where})",
        )


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
    family: str = "classifier"  # the model family whose rows (results' `family`) this schema displays
    section: str = ""  # the family's name in the navigation between families' sections
    teacher_label: str = ""  # what the teacher is, printed beside its name (e.g. dequantised GGUF weights)
    mean_of: tuple[tuple[str, str], ...] = ()  # the main metric as the mean of these (task, metric) rows
    patterns: tuple[MetricPattern, ...] = ()  # families of metric names (`metric_patterns`), first match wins
    operator_notes: Mapping[str, str] = field(default_factory=dict)  # operator name -> what it stands for

    def describing(self, names: Iterable[str]) -> LeaderboardSchema:
        """This schema with a display for each of `names` that a pattern describes (the slices, batch sizes …
        of the results at hand); names of `metrics` keep their own, names nothing describes stay undescribed."""
        derived = {}
        for name in sorted(set(names) - set(self.metrics)):
            shown = next((d for p in self.patterns if (d := p.describe(name, self.metrics)) is not None), None)
            if shown is not None:
                derived[name] = shown
        return dataclasses.replace(self, metrics={**self.metrics, **derived}) if derived else self

    def task_label(self, task: str) -> str:
        return self.task_names.get(task, task)

    @property
    def file_label(self) -> str:
        """The file as the pages name it: leaderboard/schema.yaml."""
        return f"{self.path.parent.name}/{self.path.name}" if self.path.parent.name else self.path.name


def load_schema(schema_path: Path) -> LeaderboardSchema:
    """Read leaderboard/schema.yaml and check it against display.schema.yaml, then the references between its
    fields; every problem names the file, the field and the fix."""
    path = Path(schema_path)
    try:
        raw = read_yaml(path)
    except OSError as exc:  # read_yaml names a missing file; a directory or an unreadable file arrives here
        raise SuiteInputError(str(path), None, f"cannot be read ({exc})", "fix the file") from exc
    raw = validate(raw, DISPLAY_SCHEMA, str(path))
    groups = raw["groups"]
    known_groups = list(groups)  # the built-in groups and any the schema adds

    metrics: dict[str, MetricDisplay] = {}
    for name, entry in raw["metrics"].items():
        where = f"metrics.{name}."
        group = entry["group"]
        if group not in groups:
            raise SuiteInputError(str(path), f"{where}group", f"is {group!r}", f"use one of {known_groups}")
        decimals = entry["decimals"]
        if not isinstance(decimals, int):  # JSON Schema's integer admits 2.0, which no format string takes
            raise SuiteInputError(str(path), f"{where}decimals", f"is {decimals!r}", "write a whole number, e.g. 2")
        metrics[name] = MetricDisplay(
            name=name,
            display_name=entry["display_name"],
            unit=entry["unit"],
            unit_label=str(entry.get("unit_label", entry["unit"])),
            group=group,
            decimals=decimals,
            thousands=bool(entry.get("thousands", False)),
            show_ci=entry["show_ci"],
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
        listed = raw["columns"][kind]
        unknown = [m for m in listed if m not in metrics]
        if unknown:
            raise SuiteInputError(str(path), f"columns.{kind}", f"lists {unknown}", "describe them under metrics")
        column_lists[kind] = tuple(listed)

    patterns = tuple(
        _pattern(path, i, entry, metrics, groups) for i, entry in enumerate(raw.get("metric_patterns") or [])
    )

    tolerances = raw["recommendations"]["tolerances_pts"]
    if not all(t >= 0 for t in tolerances):  # NaN: JSON Schema's minimum lets it through
        raise SuiteInputError(
            str(path), "recommendations.tolerances_pts", f"is {tolerances!r}", "list accuracy points, e.g. [0.5, 1, 2]"
        )
    main = raw["main_metric"]
    if main["metric"] not in column_lists["task"]:
        raise SuiteInputError(
            str(path), "main_metric.metric", f"{main['metric']!r} is not in columns.task", "add it to columns.task"
        )
    return LeaderboardSchema(
        path=path,
        title=raw["site"]["title"],
        description=raw["site"]["description"],
        main_task=main["task"],
        main_metric=main["metric"],
        task_names={str(k): str(v) for k, v in (raw.get("tasks") or {}).items()},
        groups={str(k): str(v) for k, v in groups.items()},
        task_columns=column_lists["task"],
        system_columns=column_lists["system"],
        metrics=metrics,
        other_task_columns=column_lists["other_tasks"],
        tolerances=tuple(float(t) for t in tolerances),
        labels={str(k): str(v) for k, v in raw["labels"].items()},
        family=str(raw.get("family") or "classifier"),
        section=str(raw["site"].get("section") or raw.get("family") or "classifier"),
        teacher_label=str((raw.get("teacher") or {}).get("label") or ""),
        mean_of=tuple((str(p["task"]), str(p["metric"])) for p in main.get("mean_of") or ()),
        patterns=patterns,
        operator_notes={str(k): str(v) for k, v in (raw.get("operators") or {}).items()},
    )


def _pattern(
    path: Path, index: int, entry: Mapping[str, Any], metrics: Mapping[str, MetricDisplay], groups: Mapping[str, Any]
) -> MetricPattern:
    """One entry of `metric_patterns`, its references checked: parts, `like`, the fields it must give, its group."""
    where = f"metric_patterns[{index}]"
    pattern, like = entry["pattern"], entry.get("like")
    parts = _PLACEHOLDER.findall(pattern)
    if not parts:
        raise SuiteInputError(
            str(path),
            f"{where}.pattern",
            f"{pattern!r} has no {{part}}",
            "name the varying part, e.g. {metric}@{slice}",
        )
    if len(set(parts)) != len(parts) or re.search(r"\{[a-z_][a-z0-9_]*\}\{", pattern):
        raise SuiteInputError(
            str(path),
            f"{where}.pattern",
            f"{pattern!r} repeats a part or puts two side by side",
            "give each part its own name and some text between two parts",
        )
    if like is not None and like not in parts:
        raise SuiteInputError(
            str(path), f"{where}.like", f"is {like!r}, not a part of the pattern", f"use one of {parts}"
        )
    if like is None:
        missing = [k for k in _OWN_FIELDS if k not in entry]
        if missing:
            raise SuiteInputError(
                str(path),
                where,
                f"has no `like` and no {missing}",
                "give them, or `like: <part>` to inherit a metric's",
            )
    if "group" in entry and entry["group"] not in groups:
        raise SuiteInputError(str(path), f"{where}.group", f"is {entry['group']!r}", f"use one of {list(groups)}")
    if "decimals" in entry and not isinstance(entry["decimals"], int):
        raise SuiteInputError(
            str(path), f"{where}.decimals", f"is {entry['decimals']!r}", "write a whole number, e.g. 2"
        )
    for key in ("display_name", "description"):
        for ref in _REFERENCE.finditer(str(entry[key])):
            part, attribute = ref.group(1), ref.group(2)
            if part not in parts or (attribute and part != like):
                fix = f"use {{{like}.display_name}} or {{{like}.description}}" if like else "use the pattern's parts"
                raise SuiteInputError(str(path), f"{where}.{key}", f"refers to {ref.group(0)}", f"{fix} ({parts})")
    return MetricPattern(where, pattern, like, dict(entry))
