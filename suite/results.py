"""The one results schema (tidy long rows with provenance) and atomic Parquet/JSON writes."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = 8  # 2: `estimate`; 3: `verified`; 4: `family`; 5: `environment_lock`; 6: `hardware_description`;
# 7: `host_id`; 8: `runtime_env`

# Provenance columns are the same for every row a job writes; `Row` holds the measurement itself.
PROVENANCE_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("suite_version", pa.string()),
    ("git_commit", pa.string()),
    ("config_hash", pa.string()),
    ("artefact_sha256", pa.string()),
    ("data_sha256", pa.string()),
    ("seed", pa.int64()),
    ("library_versions", pa.string()),  # JSON object {package: version}
    ("environment_lock", pa.string()),  # whether the installed libraries are constraints.txt's (provenance.lock_status)
    ("cpu_model", pa.string()),
    ("cpu_cores", pa.int64()),
    ("threads", pa.int64()),
    ("gpu", pa.string()),
    ("hardware_fingerprint", pa.string()),
    ("hardware_description", pa.string()),  # the machine in words (provenance.describe_hardware); null before v6
    ("host_id", pa.string()),  # salted hash of the host (provenance.host_id): which node of a type; null before v7
    ("runtime_env", pa.string()),  # JSON {name: value} of the timing-relevant env vars set (provenance.runtime_env)
    ("timestamp", pa.timestamp("us", tz="UTC")),
)

ROW_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("variant", pa.string()),
    ("family", pa.string()),  # the model family (suite.families) of the run: classifier, llm; null before v4
    ("teacher", pa.string()),
    ("parent", pa.string()),
    ("method", pa.string()),
    ("task", pa.string()),
    ("task_version", pa.string()),
    ("metric", pa.string()),
    ("value", pa.float64()),
    ("unit", pa.string()),
    ("higher_is_better", pa.bool_()),
    ("ci_low", pa.float64()),
    ("ci_high", pa.float64()),
    ("n", pa.int64()),
    ("status", pa.string()),  # "ok" | "failed"
    ("error", pa.string()),
    ("measurement", pa.string()),  # how the number was obtained
    ("estimate", pa.bool_()),  # true when the number is modelled rather than measured (e.g. energy without RAPL)
    ("verified", pa.bool_()),  # true when the suite measured it; false for a community entry's self-reported number
)

SCHEMA = pa.schema(
    [pa.field(name, dtype) for name, dtype in ROW_FIELDS + PROVENANCE_FIELDS],
    metadata={"suite.results.schema_version": str(SCHEMA_VERSION)},
)
COLUMNS = tuple(SCHEMA.names)
# Columns added after v1: files written before them read with nulls there (older runs stay readable).
ADDED_COLUMNS = frozenset(
    {"estimate", "verified", "family", "environment_lock", "hardware_description", "host_id", "runtime_env"}
)


# The error of every number of a task on which the model gave non-finite outputs (suite.pipeline.nonfinite_verdict);
# suite.rank keeps a variant with any such task out of every ranking and recommendation.
NONFINITE_ERROR = "non-finite logits (NaN/inf)"


@dataclass(frozen=True)
class Row:
    """One number: a metric of a variant on a task (or on the 'system' pseudo-task for measurements)."""

    variant: str
    metric: str
    value: float
    unit: str
    higher_is_better: bool | None
    task: str = "system"
    task_version: str = ""
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    status: str = "ok"
    error: str | None = None
    measurement: str = ""
    estimate: bool | None = None
    verified: bool = True  # measured by the suite; False only for numbers a submitter reported (suite.entries)
    extra: Mapping[str, Any] = field(default_factory=dict)  # overrides of lineage/provenance for this row


def task_row(
    variant: str, task: Any, metric: str, value: float, unit: str, higher: bool | None, how: str, **extra: Any
) -> Row:
    """A Row of a task (anything with `name` and `version`, e.g. a TaskSpec): the one way task kinds and the
    fidelity figures write theirs; `extra` is any other Row field (ci_low, ci_high, n, status, …)."""
    return Row(
        variant=variant,
        task=task.name,
        task_version=task.version,
        metric=metric,
        value=value,
        unit=unit,
        higher_is_better=higher,
        measurement=how,
        **extra,
    )


def _clean_float(value: float | None) -> float | None:
    # NaN and inf are data (a variant that overflows is a result), so they are kept as floats; only None is null.
    return None if value is None else float(value)


def to_table(rows: Iterable[Row], lineage: Mapping[str, Any], provenance: Mapping[str, Any]) -> pa.Table:
    """Build a table in SCHEMA from rows plus the lineage (family, teacher, parent, method) and provenance shared by
    all."""
    records = []
    for row in rows:
        record: dict[str, Any] = {name: None for name in COLUMNS}
        record.update({k: lineage.get(k) for k in ("family", "teacher", "parent", "method")})
        record.update(provenance)
        record.update(
            variant=row.variant,
            task=row.task,
            task_version=row.task_version,
            metric=row.metric,
            value=_clean_float(row.value),
            unit=row.unit,
            higher_is_better=row.higher_is_better,
            ci_low=_clean_float(row.ci_low),
            ci_high=_clean_float(row.ci_high),
            n=row.n,
            status=row.status,
            error=row.error,
            measurement=row.measurement,
            estimate=row.estimate,
            verified=row.verified,
        )
        record.update(row.extra)
        unknown = set(record) - set(COLUMNS)
        if unknown:
            raise KeyError(f"columns not in the results schema: {sorted(unknown)}")
        records.append(record)
    return pa.Table.from_pylist(records, schema=SCHEMA)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call write(temp) for a temp file beside `path`, then rename it over `path`: no reader sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(table: pa.Table, path: str | Path) -> None:
    """Write a Parquet file atomically (temp file in the same directory, then rename)."""
    atomic_write(Path(path), lambda tmp: pq.write_table(table, tmp))


def write_json(obj: Any, path: str | Path) -> None:
    """Write JSON atomically; NaN/inf are refused (JSON has no such numbers), so callers store them in Parquet."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, allow_nan=False)
            fh.write("\n")

    atomic_write(Path(path), write)


def read_parquet(path: str | Path, what: str, fix: str) -> pa.Table:
    """One Parquet file, for a verb that reads one (`what`: "a results Parquet", "a predictions Parquet"). A file that
    is missing, a directory or not Parquet raises SuiteInputError naming the file, what is wrong and `fix` (the CLI
    prints it as one line, without a traceback)."""
    from suite.errors import SuiteInputError

    label = str(path)
    if not Path(path).is_file():
        problem = f"is a directory, not {what}" if Path(path).is_dir() else "file not found"
        raise SuiteInputError(label, None, problem, fix)
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        # pyarrow's message repeats the path: keep its reason only, on one line.
        reason = " ".join(str(exc).split()).removeprefix(f"Could not open Parquet input source '{label}': ")
        raise SuiteInputError(label, None, f"not {what}: not a Parquet file ({reason})", fix) from None


def require_columns(table: pa.Table, path: str | Path, names: Sequence[str], what: str, schema: str, fix: str) -> None:
    """SuiteInputError naming the file when `table` lacks any of the columns `names` of `schema`."""
    from suite.errors import SuiteInputError

    missing = [name for name in names if name not in table.schema.names]
    if missing:
        shown = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
        raise SuiteInputError(
            str(path),
            None,
            f"not {what}: {len(missing)} of the {len(names)} columns of {schema} are missing ({shown})",
            fix,
        )


def read_results(paths: Iterable[str | Path]) -> pa.Table:
    """Read and concatenate result files, checking each against SCHEMA. A file that is missing, not Parquet or not in
    the schema raises SuiteInputError naming the file, what is wrong and the fix (the CLI prints it as one line)."""
    from suite.errors import SuiteInputError

    fix = "give a results Parquet that `suite gather` or `suite combine` wrote (e.g. results/leaderboard.parquet)"
    what = "a results Parquet"
    tables = []
    for path in paths:
        label = str(path)
        table = read_parquet(path, what, fix)
        for name in set(SCHEMA.names) - set(table.schema.names) & ADDED_COLUMNS:
            table = table.append_column(SCHEMA.field(name), pa.nulls(table.num_rows, SCHEMA.field(name).type))
        require_columns(table, label, SCHEMA.names, what, f"results schema v{SCHEMA_VERSION}", fix)
        repeated = sorted({name for name in table.schema.names if table.schema.names.count(name) > 1})
        if repeated:
            raise SuiteInputError(label, None, f"not a results Parquet: columns {repeated} appear more than once", fix)
        extra = sorted(set(table.schema.names) - set(SCHEMA.names))
        if extra:
            raise SuiteInputError(
                label,
                None,
                f"columns {extra} are not in the results schema v{SCHEMA_VERSION}",
                "re-run the job that wrote it with this version of the suite",
            )
        cast_errors = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)
        try:
            tables.append(table.select(SCHEMA.names).cast(SCHEMA))
        except cast_errors as exc:
            problem = f"not in the results schema v{SCHEMA_VERSION} ({' '.join(str(exc).split())})"
            for name in SCHEMA.names:  # name the column that does not cast
                try:
                    table.column(name).cast(SCHEMA.field(name).type)
                except cast_errors:
                    wrong = f"is {table.schema.field(name).type}, not {SCHEMA.field(name).type}"
                    problem = f"not in the results schema v{SCHEMA_VERSION}: column '{name}' {wrong}"
                    break
            raise SuiteInputError(label, None, problem, "re-run the job that wrote it") from None
    if not tables:
        return SCHEMA.empty_table()
    return pa.concat_tables(tables)
