"""`suite quick`: one model against the configured teacher on chosen tasks, in one process, without Snakemake.

The same code as the workflow's jobs, called in a row: an import of a local or pinned-Hub model is `build_variant`
with the `import` method (the entries' path: sha256 and header checks, no remote code), the evaluation is
`pipeline.evaluate` for both models, the system figures are `measure.size_rows` and `measure.latency_rows`
(the model timed paired with the teacher, in interleaved rounds), and the teacher-relative figures come from
`pipeline.gather`. The leaderboard itself is built by `snakemake`: nothing here is written under results/.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from suite.errors import SuiteInputError
from suite.provenance import sha256_file
from suite.results import to_table, write_table
from suite.specs import TEACHER, SuiteConfig, VariantSpec

HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)@(?P<revision>[0-9a-f]{40})$")
WHAT_MODEL_IS = (
    "give a directory with config.json + model.safetensors, a Hub id pinned as owner/name@<40-hex commit> "
    "(with --sha256), or the name of a variant built under the results directory"
)


@dataclasses.dataclass(frozen=True)
class Candidate:
    """The model to benchmark: its variant id and artefact directory, and the config that knows it."""

    variant: str
    directory: Path
    cfg: SuiteConfig
    source: str  # what the user named, as they named it


def teacher_directory(cfg: SuiteConfig, results: Path) -> Path:
    """The built teacher of the config's track; quick compares with it and never builds it."""
    from suite.artefacts import VARIANT_JSON, build_failure, read_record

    directory = results / cfg.family / "models" / TEACHER
    build = f"snakemake --cores {cfg.threads} {directory}"
    if not (directory / VARIANT_JSON).is_file():
        raise SuiteInputError(
            str(directory), "teacher", "is not built (suite quick compares with the teacher, it does not build it)",
            f"build it once with `{build}`, or give --results the directory of a run that built it",
        )  # fmt: skip
    failure = build_failure(read_record(directory))
    if failure is not None:
        raise SuiteInputError(str(directory), "teacher", f"its build failed: {failure}", f"fix it and run `{build}`")
    return directory


def _variant_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return f"quick-{slug or 'model'}"


def resolve_candidate(
    cfg: SuiteConfig, model: str, results: Path, work: Path, teacher_dir: Path, sha256: str | None = None
) -> Candidate:
    """A built variant of the config by name, or a local / pinned Hub model imported like a community entry."""
    from suite.artefacts import VARIANT_JSON
    from suite.pipeline import build_variant

    built = results / cfg.family / "models" / model
    if model in cfg.variant_ids and (built / VARIANT_JSON).is_file():
        return Candidate(model, built, cfg, f"built variant {built}")
    hub = HUB_ID.match(model)
    if hub is not None:
        if not sha256:
            raise SuiteInputError(
                model, "--sha256", "a Hub model needs the sha256 of its model.safetensors",
                "give --sha256 (the Hub shows it on the file's page; check-entry needs it too)",
            )  # fmt: skip
        params = {"source": "hub", "repo": hub["repo"], "revision": hub["revision"], "sha256": sha256}
        variant = _variant_id(hub["repo"].split("/")[-1])
    else:
        directory = Path(model)
        if not directory.is_dir():
            raise SuiteInputError(
                model, "MODEL", "is neither a directory nor a pinned Hub id nor a built variant", WHAT_MODEL_IS
            )
        if (directory / VARIANT_JSON).is_file():
            raise SuiteInputError(
                model, "MODEL", "is an artefact of a run (it has variant.json)",
                "name it by its variant id with --results pointing at that run's results directory",
            )  # fmt: skip
        weights = directory / "model.safetensors"
        if not (directory / "config.json").is_file() or not weights.is_file():
            raise SuiteInputError(model, "MODEL", "has no config.json and model.safetensors", WHAT_MODEL_IS)
        digest = sha256_file(weights)
        if sha256 and sha256 != digest:
            raise SuiteInputError(str(weights), "--sha256", f"the file has {digest}, not {sha256}", "check the file")
        params = {"source": "local", "path": str(directory.resolve()), "sha256": digest}
        variant = _variant_id(directory.resolve().name)
    spec = VariantSpec(id=variant, parent=TEACHER, method="import", params=params)
    with_model = dataclasses.replace(cfg, variants=(*cfg.variants, spec))
    out = work / "models" / variant
    record = build_variant(with_model, variant, teacher_dir, out)
    if record.get("status") == "failed":
        raise SuiteInputError(model, "MODEL", f"could not be imported: {record.get('error')}", WHAT_MODEL_IS)
    return Candidate(variant, out, with_model, model)


def chosen_tasks(cfg: SuiteConfig, tasks: list[str] | None) -> SuiteConfig:
    """The config cut to the chosen tasks (default: the main task, the first with real sentences)."""
    import difflib

    if not tasks:
        main = cfg.reference_task or cfg.tasks[0]
        tasks = [main.name]
    known = [t.name for t in cfg.tasks]
    for name in tasks:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise SuiteInputError(cfg.label, "--tasks", f"no task '{name}' in this config", f"{hint}known: {known}")
    return dataclasses.replace(cfg, tasks=tuple(t for t in cfg.tasks if t.name in tasks))


def run_quick(
    cfg: SuiteConfig,
    model: str,
    *,
    tasks: list[str] | None = None,
    results: Path = Path("results"),
    sha256: str | None = None,
    device: str | None = None,
    work: Path | None = None,
) -> dict[str, Any]:
    """Benchmark `model` against the teacher: accuracy with CIs and fidelity per task, paired latency and size.
    Returns the summary `print_summary` shows (and `--json` prints), with every row."""
    from suite.artefacts import load_artefact
    from suite.measure import Reference, latency_queries, latency_rows, size_rows
    from suite.pipeline import _lineage, _provenance, _torch_setup, evaluate, gather
    from suite.tasks import load_task_data
    from suite.trackers.host import priority_while

    if device is not None:
        cfg = dataclasses.replace(cfg, device=device)
    if cfg.family != "classifier":
        raise SuiteInputError(
            cfg.label, "family", f"suite quick benchmarks classifier models; this config's family is {cfg.family}",
            "use the workflow (snakemake) for this track",
        )  # fmt: skip
    cfg = chosen_tasks(cfg, tasks)
    teacher_dir = teacher_directory(cfg, results)
    owned = tempfile.TemporaryDirectory(prefix="suite-quick-") if work is None else None
    work = Path(owned.name) if owned is not None else work
    try:
        candidate = resolve_candidate(cfg, model, results, work, teacher_dir, sha256)
        cfg = candidate.cfg
        metric_files, prediction_files = [], []
        for variant, directory in ((TEACHER, teacher_dir), (candidate.variant, candidate.directory)):
            metrics, predictions = work / f"{variant}.metrics.parquet", work / f"{variant}.predictions.parquet"
            evaluate(cfg, variant, directory, predictions, metrics)
            metric_files.append(metrics)
            prediction_files.append(predictions)
        _torch_setup(cfg.threads, cfg.device)
        task = cfg.reference_task or cfg.tasks[0]
        data = load_task_data(task, cfg.data_mirror, cfg.data_cache)
        teacher, teacher_record = load_artefact(teacher_dir, cfg.device)
        student, record = load_artefact(candidate.directory, cfg.device)
        max_length = cfg.evaluate.max_length
        with priority_while(cfg.load_guard.nice) as priority:  # as a measure job times; put back afterwards
            paired = latency_rows(
                candidate.variant, student, latency_queries(student, data.texts, cfg.latency, max_length, cfg.seed),
                cfg.latency, cfg.threads, cfg.seed, Reference(TEACHER, teacher),
                latency_queries(teacher, data.texts, cfg.latency, max_length, cfg.seed),
            )  # fmt: skip
        measured = {
            TEACHER: (size_rows(TEACHER, teacher_dir, teacher), teacher_record),
            candidate.variant: (size_rows(candidate.variant, candidate.directory, student) + paired, record),
        }
        for variant, (rows, rec) in measured.items():
            path = work / f"{variant}.measure.parquet"
            write_table(to_table(rows, _lineage(rec, cfg), _provenance(cfg, rec, data.data_sha256)), path)
            metric_files.append(path)
        out = work / "quick.parquet"
        gather(cfg, metric_files, prediction_files, out)
        table = pq.read_table(out)
        return summarise(table, cfg, candidate, record, teacher_record, task.name, priority.describe())
    finally:
        if owned is not None:
            owned.cleanup()


def _plain(value: Any) -> Any:
    """A cell as JSON: timestamps in ISO 8601, NaN/inf as the strings "nan"/"inf"/"-inf" (strict JSON has none)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _number(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    keys = ("value", "ci_low", "ci_high", "unit", "status", "error", "n")
    return {k: row[k] for k in keys if row.get(k) is not None}


SYSTEM = (
    "size_mb", "size_reduction_pct", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_mean_ms",
    "speedup_p50", "speedup_mean",
)  # fmt: skip


def summarise(
    table: Any,
    cfg: SuiteConfig,
    candidate: Candidate,
    record: dict[str, Any],
    teacher_record: dict[str, Any],
    timed_on: str,
    priority: str,
) -> dict[str, Any]:
    rows = [{k: _plain(v) for k, v in r.items()} for r in table.to_pylist()]
    by = {(r["variant"], r["task"], r["metric"]): r for r in rows}
    tasks: dict[str, Any] = {}
    for task in cfg.tasks:
        declared = {
            metric: {
                "teacher": _number(by.get((TEACHER, task.name, metric))),
                "model": _number(by.get((candidate.variant, task.name, metric))),
            }
            for metric in task.metrics
        }
        fidelity = {  # the model's other figures on the task (against the teacher, per instance), slices left out
            r["metric"]: _number(r)
            for r in rows
            if r["variant"] == candidate.variant
            and r["task"] == task.name
            and r["metric"] not in declared
            and "@" not in r["metric"]
        }
        tasks[task.name] = {"version": task.version, "metrics": declared, "teacher_relative": fidelity}
    system = {
        metric: {
            "teacher": _number(by.get((TEACHER, "system", metric))),
            "model": _number(by.get((candidate.variant, "system", metric))),
        }
        for metric in SYSTEM
    }
    for metric in ("latency_p50_ms", "latency_mean_ms"):  # the teacher's, from the same paired rounds
        system[metric]["teacher"] = _number(by.get((candidate.variant, "system", f"reference_{metric}")))
    return {
        "model": candidate.variant,
        "source": candidate.source,
        "artefact_sha256": record.get("artefact_sha256"),
        "teacher": {"id": cfg.teacher.id, "artefact_sha256": teacher_record.get("artefact_sha256")},
        "device": cfg.device,
        "threads": cfg.threads,
        "timed_on": timed_on,
        "priority": priority,
        "tasks": tasks,
        "system": system,
        "note": "suite quick: one process, not a leaderboard run; the leaderboard is built by `snakemake`",
        "rows": rows,
    }


def _fmt(number: dict[str, Any] | None) -> str:
    if number is None:
        return "—"
    if number.get("status") == "failed":
        return f"failed: {number.get('error')}"
    value = number["value"]
    if isinstance(value, str):  # a non-finite value, written out
        return value
    text = f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    if "ci_low" in number and "ci_high" in number:
        text += f" [{number['ci_low']:.4g}, {number['ci_high']:.4g}]"
    return text + (f" {number['unit']}" if number.get("unit") not in (None, "", "count") else "")


def print_summary(summary: dict[str, Any]) -> str:
    """The summary as plain-text tables (what `suite quick` prints without --json)."""
    from suite.text import visible

    lines = [
        f"suite quick: {visible(summary['source'])} (as '{summary['model']}', artefact "
        f"{(summary['artefact_sha256'] or '')[:12]}) against the teacher '{visible(summary['teacher']['id'])}' "
        f"(artefact {(summary['teacher']['artefact_sha256'] or '')[:12]}); device {summary['device']}, "
        f"{summary['threads']} threads",
        "",
    ]
    for name, task in summary["tasks"].items():
        lines.append(f"task {name} v{task['version']}            teacher | model")
        for metric, pair in task["metrics"].items():
            lines.append(f"  {metric:<28} {_fmt(pair['teacher'])} | {_fmt(pair['model'])}")
        for metric, number in task["teacher_relative"].items():
            lines.append(f"  {metric:<28} {_fmt(number)}")
        lines.append("")
    lines.append(f"system (inputs: {summary['timed_on']})        teacher | model")
    for metric, pair in summary["system"].items():
        if pair["teacher"] is None and pair["model"] is None:
            continue
        lines.append(f"  {metric:<28} {_fmt(pair['teacher'])} | {_fmt(pair['model'])}")
    lines += [f"  ({summary['priority']})", "", summary["note"] + "."]
    return "\n".join(lines)
