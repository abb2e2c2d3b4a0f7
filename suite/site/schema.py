"""The display schema, leaderboard/schema.yaml: how the site names and prints each metric, validated on loading."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

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
    family: str = "classifier"  # the model family whose rows (results' `family`) this schema displays
    section: str = ""  # the family's name in the navigation between families' sections
    teacher_label: str = ""  # what the teacher is, printed beside its name (e.g. dequantised GGUF weights)
    mean_of: tuple[tuple[str, str], ...] = ()  # the main metric as the mean of these (task, metric) rows

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
    )
