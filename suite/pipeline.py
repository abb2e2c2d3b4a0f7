"""The jobs the workflow runs, one function per rule: build the teacher and variants, evaluate, measure, gather."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from suite.data import load_split
from suite.errors import SuiteInputError, exception_line
from suite.provenance import provenance
from suite.results import NONFINITE_ERROR, Row, read_results, to_table, write_table
from suite.specs import TEACHER, SuiteConfig, TaskSpec
from suite.tasks import load_task_data

# --- build ---------------------------------------------------------------------------------------------------


def _torch_setup(threads: int, device: str) -> None:
    """Every job that runs a model: its thread count, and the device it was configured for, checked here, on the
    host that runs the job (a cluster's login node that submits it may have no GPU)."""
    import torch

    torch.set_num_threads(threads)
    if device.startswith("cuda") and not torch.cuda.is_available():
        import socket

        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise RuntimeError(
            f"device is {device}, but torch {torch.__version__} on host {socket.gethostname()} sees no CUDA device "
            f"(CUDA_VISIBLE_DEVICES={visible!r}, torch built with CUDA {torch.version.cuda}): give the job a GPU "
            "(the track's resources.<stage>.gpu; a profile's slurm_extra/gres) and a CUDA build of torch, "
            "or set device: cpu"
        )


def build_teacher(cfg: SuiteConfig, out_dir: Path) -> dict[str, Any]:
    from suite.artefacts import save_artefact
    from suite.families import FAMILIES

    _torch_setup(cfg.threads, cfg.device)
    teacher = cfg.teacher
    family = FAMILIES.get(cfg.family)()
    data = None
    if teacher.finetune is not None and cfg.train_task is not None:
        data = load_split(cfg.train_task, teacher.finetune.split, cfg.data_mirror, cfg.data_cache)
    data_sha256 = data.data_sha256 if data is not None else None
    model, tokenizer, build = family.build_teacher(cfg, cfg.train_task, data)
    source = {k: v for k, v in vars(teacher.source).items() if v not in (None, {}, [])}
    source.pop("tokenizer", None)
    recipe = {
        "method": "finetune" if teacher.finetune else "as_is",
        "source": source,
        "finetune": vars(teacher.finetune) if teacher.finetune else None,
        "finetune_data_sha256": data_sha256,
        "seed": cfg.seed,
    }
    return save_artefact(
        model,
        tokenizer,
        family.FULL_PRECISION_FORMAT,
        out_dir,
        {
            "id": TEACHER,
            "teacher": teacher.id,
            "parent": None,
            "method": "teacher",
            "lineage": [TEACHER],
            "recipe": recipe,
            "build": build,
            **_build_env(),
        },
    )


def _build_env() -> dict[str, Any]:
    from suite import __version__
    from suite.provenance import git_commit, library_versions

    return {"suite_version": __version__, "git_commit": git_commit(), "library_versions": library_versions()}


def build_variant(
    cfg: SuiteConfig, variant_id: str, parent_dir: Path, out_dir: Path, teacher_logits: Path | None = None
) -> dict[str, Any]:
    from suite.artefacts import build_failure, load_artefact, read_record, save_artefact, save_failed_artefact
    from suite.compress import METHODS, BuildContext

    _torch_setup(cfg.threads, cfg.device)
    spec = cfg.variant(variant_id)
    method = METHODS.get(spec.method)()
    params = method.parse_params(spec.params)
    if method.NEEDS_TEACHER_LOGITS and teacher_logits is None:
        raise ValueError(f"variant '{variant_id}': method '{spec.method}' needs --teacher-logits")
    upstream = build_failure(read_record(parent_dir))
    if upstream is not None:
        upstream = f"its parent '{spec.parent}' was not built ({upstream})"
    elif teacher_logits is not None and (logits_failure := output_failure(teacher_logits)) is not None:
        upstream = f"the teacher's distillation targets were not computed ({logits_failure})"
    if upstream is not None:  # recorded, not raised: the variant's rows say why, the rest of the run goes on
        print(f"variant {variant_id} not built: {upstream}")
        return save_failed_artefact(out_dir, failed_build_record(cfg, variant_id), "build", upstream)
    parent, parent_record = load_artefact(parent_dir)
    ctx = BuildContext(
        cfg=cfg,
        variant_id=variant_id,
        parent_dir=Path(parent_dir),
        parent_record=parent_record,
        teacher_logits=teacher_logits,
    )
    built = method.apply(parent, params, ctx)
    record: dict[str, Any] = {
        "id": spec.id,
        "teacher": cfg.teacher.id,
        "parent": spec.parent,
        "parent_artefact_sha256": parent_record["artefact_sha256"],
        "method": spec.method,
        "lineage": cfg.lineage(spec.id),
        "recipe": {"method": spec.method, "params": dict(vars(params))},
        "build": ctx.info or None,
        **_build_env(),
    }
    if teacher_logits is not None:
        from suite.provenance import sha256_file

        record["teacher_logits_sha256"] = sha256_file(teacher_logits)
    return save_artefact(built, parent.tokenizer, method.OUTPUT_FORMAT, out_dir, record)


def compute_teacher_logits(cfg: SuiteConfig, teacher_dir: Path, out: Path) -> None:
    """What every distilling student of the track learns from, computed once: for a classifier, the teacher's logits
    over a seeded sample of its training split; for a causal LM, a corpus the teacher samples and its top-k
    next-token log-probs over it (suite.compress.lm_distil)."""
    import time

    from suite.artefacts import load_artefact
    from suite.compress import BuildContext
    from suite.distill import META_PREFIX, sample_indices
    from suite.families import LLM

    _torch_setup(cfg.threads, cfg.device)
    settings = cfg.distillation
    teacher, record = load_artefact(teacher_dir, cfg.device)
    if cfg.family == LLM:
        from suite.compress.lm_distil import compute_teacher_targets

        compute_teacher_targets(teacher, settings, cfg.seed, out, record["artefact_sha256"])
        return
    data = BuildContext(cfg=cfg, variant_id=TEACHER, parent_dir=Path(teacher_dir), parent_record=record).train_data()
    idx = sample_indices(len(data.texts), settings.max_train_samples, cfg.seed)
    start = time.perf_counter()
    logits = teacher.predict_logits(
        [data.texts[i] for i in idx], settings.batch_size, settings.max_length, progress=True
    ).astype(np.float32)
    seconds = time.perf_counter() - start
    n, classes = logits.shape
    column = pa.ListArray.from_arrays(
        pa.array(np.arange(0, n * classes + 1, classes, dtype=np.int32)), pa.array(logits.reshape(-1))
    )
    table = pa.table({"idx": pa.array(idx.astype(np.int64)), "logits": column})
    metadata = {
        "teacher_artefact_sha256": record["artefact_sha256"],
        "data_sha256": data.data_sha256,
        "data_source": data.source,
        "seed": cfg.seed,
        "sample_size": n,
        "max_length": settings.max_length,
        "batch_size": settings.batch_size,
    }
    write_table(table.replace_schema_metadata({META_PREFIX + k: json.dumps(v) for k, v in metadata.items()}), out)
    print(f"teacher logits: {n} sentences in {seconds:.1f} s ({n / max(seconds, 1e-9):.0f} sentences/s)")


# --- failures: recorded as the job's outputs, so one variant's failure never stops the others --------------------

FAILED_STATUS = "failed"  # the `suite.status` metadata of a Parquet (or `status` of a JSON) a failed job left


def failed_build_record(cfg: SuiteConfig, variant_id: str) -> dict[str, Any]:
    """What variant.json says of a variant that was not built: its place in the run, no files."""
    if variant_id == TEACHER:
        return {"id": TEACHER, "teacher": cfg.teacher.id, "parent": None, "method": "teacher", "lineage": [TEACHER]}
    spec = cfg.variant(variant_id)
    return {
        "id": spec.id,
        "teacher": cfg.teacher.id,
        "parent": spec.parent,
        "method": spec.method,
        "lineage": cfg.lineage(spec.id),
        "recipe": {"method": spec.method, "params": spec.params},
    }


SIGNALS = {9: "SIGKILL: out of memory, or a time limit?", 15: "SIGTERM", 6: "SIGABRT", 11: "SIGSEGV"}


def failure_reason(log: Path, exit_status: int) -> str:
    """One line on why a job failed, from its log: the last `error: …` line the suite's CLI printed (else the last
    line), with the exit status when a signal ended it."""
    try:
        with open(log, "rb") as fh:
            fh.seek(max(0, Path(log).stat().st_size - 65536))
            lines = [line.strip() for line in fh.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    errors = [line[len("error: ") :] for line in lines if line.startswith("error: ")]
    reason = errors[-1] if errors else lines[-1] if lines else "it printed nothing"
    if exit_status > 128:
        signal = exit_status - 128
        reason = f"killed by signal {signal} ({SIGNALS.get(signal, 'see the log')}); last output: {reason}"
    elif not errors:
        reason = f"exit status {exit_status}: {reason}"
    return reason if len(reason) <= 600 else reason[:597] + "..."


def output_failure(path: Path) -> str | None:
    """Why a job's Parquet or JSON output is the record of a failure (record_failure), or None."""
    path = Path(path)
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        if not (isinstance(data, dict) and data.get("status") == FAILED_STATUS):
            return None
        return data.get("error") or "failed"
    metadata = pq.read_schema(path).metadata or {}
    if metadata.get(b"suite.status", b"").decode() != FAILED_STATUS:
        return None
    return metadata.get(b"suite.error", b"failed").decode()


def _failed_table(cfg: SuiteConfig, rows: list[Row], record: dict[str, Any]) -> pa.Table:
    record = {**record, "artefact_sha256": record.get("artefact_sha256")}  # None when nothing was built
    return to_table(rows, _lineage(record, cfg), _provenance(cfg, record, None, cfg.threads))


def _write_failed_evaluation(
    cfg: SuiteConfig, variant_id: str, reason: str, record: dict[str, Any], metrics: Path, predictions: Path
) -> None:
    from suite.tasks.base import PREDICTIONS_SCHEMA

    write_table(_failed_table(cfg, _failed_task_rows(cfg, variant_id, reason), record), Path(metrics))
    write_table(PREDICTIONS_SCHEMA.empty_table(), Path(predictions))


def _failed_task_rows(cfg: SuiteConfig, variant_id: str, reason: str) -> list[Row]:
    """Every metric of every task of the variant, failed with `reason`."""
    return [
        row for name in cfg.variant_tasks(variant_id) for row in _failed_rows_of(variant_id, cfg.task(name), reason)
    ]


def _failed_rows_of(variant_id: str, task: TaskSpec, reason: str) -> list[Row]:
    """Every metric of one task, failed with `reason`, with its unit and direction where the suite defines the
    metric (lm-eval's are the task's own: no unit)."""
    from suite.metrics import metric_header

    rows = []
    for m in task.metrics:
        name, unit, higher = metric_header(task, m)
        rows.append(
            Row(variant_id, name, math.nan, unit, higher, task=task.name, task_version=task.version, status="failed",
                error=reason)
        )  # fmt: skip
    return rows


def _record_or_plan(cfg: SuiteConfig, variant_id: str, model: Path | None) -> dict[str, Any]:
    """The variant.json of the artefact the failed job read (its hash goes on the rows), else the planned record."""
    from suite.artefacts import read_record

    planned = failed_build_record(cfg, variant_id)
    try:
        return {**planned, **read_record(model)} if model is not None else planned
    except (OSError, ValueError):
        return planned


def _failed_measure_rows(cfg: SuiteConfig, variant_id: str, reason: str) -> list[Row]:
    from suite.measure import failed_rows, wanted_measurements

    return failed_rows(variant_id, wanted_measurements(cfg), cfg.decode, reason)


def record_failure(
    cfg: SuiteConfig,
    stage: str,
    variant_id: str | None,
    reason: str,
    output: Path | None = None,
    metrics: Path | None = None,
    predictions: Path | None = None,
    model: Path | None = None,
) -> None:
    """The outputs of a job that failed, recording why (the workflow runs this when a job's command fails):
    a build leaves a failed artefact, an evaluation failed rows for every task metric, a measurement failed rows
    for its headline metrics, the teacher's targets and the peak probe a marked file. Downstream jobs read the
    reason and record it in turn; gather and render run with what succeeded."""
    from suite.artefacts import save_failed_artefact
    from suite.results import write_json

    print(f"{stage} of {variant_id or 'the track'} failed: {reason}")
    if stage == "build":
        save_failed_artefact(Path(output), failed_build_record(cfg, variant_id), stage, reason)
    elif stage == "evaluate":
        record = _record_or_plan(cfg, variant_id, model)
        _write_failed_evaluation(cfg, variant_id, f"evaluate failed: {reason}", record, metrics, predictions)
    elif stage == "measure":
        write_table(
            _failed_table(
                cfg,
                _failed_measure_rows(cfg, variant_id, f"measure failed: {reason}"),
                _record_or_plan(cfg, variant_id, model),
            ),
            Path(output),
        )
    elif stage in ("teacher-logits", "probe-peak"):
        if Path(output).suffix == ".json":
            write_json({"status": FAILED_STATUS, "stage": stage, "error": reason}, Path(output))
        else:
            metadata = {"suite.status": FAILED_STATUS, "suite.error": reason}
            write_table(pa.table({"idx": pa.array([], pa.int64())}).replace_schema_metadata(metadata), Path(output))
    else:
        raise ValueError(f"unknown stage {stage!r}")


# --- evaluate / measure ---------------------------------------------------------------------------------------


def _lineage(record: dict[str, Any], cfg: SuiteConfig) -> dict[str, Any]:
    return {"family": cfg.family, "teacher": cfg.teacher.id, "parent": record.get("parent"), "method": record["method"]}


def _provenance(
    cfg: SuiteConfig, record: dict[str, Any], data_sha256: str, threads: int | None = None
) -> dict[str, Any]:
    """The provenance columns of a variant's rows on one data set (evaluate and measure)."""
    return provenance(
        config_hash=cfg.config_hash,
        artefact_sha256=record["artefact_sha256"],
        data_sha256=data_sha256,
        seed=cfg.seed,
        threads=cfg.threads if threads is None else threads,
        device=cfg.device,
    )


def evaluate(cfg: SuiteConfig, variant_id: str, model_dir: Path, predictions_out: Path, metrics_out: Path) -> None:
    """Every task of one variant in one process (one model load): per-instance predictions, then their metrics.

    Both files hold all the variant's tasks; the predictions' metadata records, per task, the artefact and data
    hashes the metrics' provenance repeats.
    """
    from suite.artefacts import build_failure, load_artefact, read_record
    from suite.tasks import TASK_KINDS
    from suite.tasks.base import PREDICTIONS_SCHEMA

    threads = cfg.evaluate_threads
    built = read_record(model_dir)
    failure = build_failure(built)
    if failure is not None:  # nothing to evaluate: every task metric failed, with the build's reason
        print(f"variant {variant_id} was not built: {failure}")
        _write_failed_evaluation(cfg, variant_id, failure, built, metrics_out, predictions_out)
        return
    _torch_setup(threads, cfg.device)
    model, record = load_artefact(model_dir, cfg.device)
    lineage = _lineage(record, cfg)
    predictions, metrics, sources = [], [], {}
    for name in cfg.variant_tasks(variant_id):
        task = cfg.task(name)
        kind = TASK_KINDS.get(task.kind)()
        data = load_task_data(task, cfg.data_mirror, cfg.data_cache)
        try:
            table = kind.predict(model, variant_id, task, data, cfg.evaluate)
            rows = kind.score(table, variant_id, task, cfg.evaluate, cfg.seed)
        except Exception as exc:  # one task failing on one variant is a result; the variant's other tasks go on
            reason = exception_line(exc)
            print(f"task {name} failed on {variant_id}: {reason}")
            rows = _failed_rows_of(variant_id, task, reason)
        else:
            predictions.append(table)
            rows = nonfinite_verdict(table, rows)
        metrics.append(to_table(rows, lineage, _provenance(cfg, record, data.data_sha256, threads)))
        sources[name] = {"data_sha256": data.data_sha256, "source": data.source}
    metadata = {"suite.artefact_sha256": record["artefact_sha256"], "suite.tasks": json.dumps(sources, sort_keys=True)}
    empty = PREDICTIONS_SCHEMA.empty_table()
    write_table(pa.concat_tables(predictions or [empty]).replace_schema_metadata(metadata), predictions_out)
    write_table(pa.concat_tables(metrics), metrics_out)


def nonfinite_verdict(predictions: pa.Table, rows: list[Row]) -> list[Row]:
    """A task on which the model gave non-finite logits (NaN/inf) for any instance: every metric of the task failed,
    naming the share, so that no number made from NaN is shown as a result or ranked. The values stay (the
    non-finite share is itself one of them); stress inputs of a stability task count like any other."""
    import dataclasses

    finite = predictions["finite"].to_numpy(zero_copy_only=False) if "finite" in predictions.column_names else None
    if finite is None or finite.all() or not len(finite):
        return rows
    bad = int((~finite).sum())
    reason = f"{NONFINITE_ERROR} on {bad} of {len(finite)} instances ({100 * bad / len(finite):.1f} %)"
    return [
        dataclasses.replace(r, status="failed", error=r.error if r.status != "ok" and r.error else reason) for r in rows
    ]


def measure(
    cfg: SuiteConfig, variant_id: str, model_dir: Path, peak_file: Path, out: Path, reference_dir: Path | None = None
) -> None:
    """Every system measurement of one variant (on the reference task's sentences), timed paired with the reference
    artefact `reference_dir` (the config's `latency.reference`); failures become 'failed' rows."""
    from suite.artefacts import build_failure, read_record
    from suite.measure import measure_variant
    from suite.trackers.host import timing_priority

    record = read_record(model_dir)
    failure = build_failure(record)
    if failure is not None:  # nothing to time: the headline measurements failed, with the build's reason
        print(f"variant {variant_id} was not built: {failure}")
        write_table(_failed_table(cfg, _failed_measure_rows(cfg, variant_id, failure), record), out)
        return
    # before any model or thread pool exists: the threads started later inherit the priority
    priority = timing_priority(cfg.load_guard.nice)
    print(f"measure {variant_id}: {priority.describe()}", flush=True)
    _torch_setup(cfg.threads, cfg.device)
    # the reference task: the first with real sentences (generated sets such as stress inputs are not a realistic
    # length mix)
    task = cfg.reference_task
    if task is None:
        raise SuiteInputError(cfg.label, "tasks", "measuring needs a task with a dataset for its inputs", "add one")
    data = load_task_data(task, cfg.data_mirror, cfg.data_cache)
    peak = json.loads(Path(peak_file).read_text())
    rows = measure_variant(cfg, variant_id, model_dir, data.texts, peak, reference_dir, priority)
    write_table(to_table(rows, _lineage(record, cfg), _provenance(cfg, record, data.data_sha256)), out)


def probe_peak(cfg: SuiteConfig, out: Path) -> None:
    """The machine's matmul peak, with the hardware fingerprint it belongs to."""
    from suite.provenance import hardware
    from suite.results import write_json
    from suite.trackers.flops import matmul_peak_gflops

    _torch_setup(cfg.threads, cfg.device)
    write_json({**matmul_peak_gflops(cfg.threads), **hardware(cfg.threads)}, out)


# --- gather ---------------------------------------------------------------------------------------------------


def _derived(
    base: dict[str, Any], metric: str, value: float, unit: str, higher: bool, how: str, **extra: Any
) -> dict[str, Any]:
    return {
        **base,
        "metric": metric,
        "value": value,
        "unit": unit,
        "higher_is_better": higher,
        "ci_low": None,
        "ci_high": None,
        "status": "ok",
        "error": None,
        "measurement": how,
        **extra,
    }


# (measured metric, derived speedup, whether teacher/variant (a time) or variant/teacher (a rate), how): ratios of
# two jobs' figures. The classifier's measure jobs write paired speedups themselves (suite.measure.latency_rows);
# these two are derived only for results written before paired timing.
UNPAIRED_LATENCY_SPEEDUPS = (
    ("latency_p50_ms", "speedup_p50", True, "unpaired: teacher latency_p50_ms / variant latency_p50_ms"),
    ("latency_mean_ms", "speedup_mean", True, "unpaired: teacher latency_mean_ms / variant latency_mean_ms"),
)
# the per-token measurements of the llm family: its measure jobs write them paired (suite.measure.per_token_rows);
# derived only for results written before paired per-token timing
SPEEDUPS = (
    ("decode_tokens_per_s", "decode_speedup", False, "variant decode_tokens_per_s / teacher decode_tokens_per_s"),
    ("ttft_p50_ms_128", "ttft_speedup_128", True, "teacher ttft_p50_ms_128 / variant ttft_p50_ms_128"),
    ("ttft_p50_ms_512", "ttft_speedup_512", True, "teacher ttft_p50_ms_512 / variant ttft_p50_ms_512"),
)


def combine(track_files: list[Path], out: Path) -> None:
    """The tracks' results (one results/<family>/leaderboard.parquet each) as one table, checked against the schema."""
    write_table(read_results(track_files), out)


def gather(cfg: SuiteConfig, metric_files: list[Path], prediction_files: list[Path], out: Path) -> None:
    """All rows into one table, plus what is derived against the teacher: speedup, size reduction, and per task the
    paired fidelity figures of suite.fidelity (accuracy drop, McNemar, agreement, KL, badges, slice deltas)."""
    table = read_results(metric_files)
    derived: list[dict[str, Any]] = []
    system_rows = {
        (r["variant"], r["metric"]): r for r in table.filter(pa.compute.field("task") == "system").to_pylist()
    }

    def ok_value(variant: str, metric: str) -> float | None:
        row = system_rows.get((variant, metric))
        return row["value"] if row is not None and row["status"] == "ok" else None

    teacher_size = ok_value(TEACHER, "size_mb")
    for variant in cfg.variant_ids:
        size_row = system_rows.get((variant, "size_mb"))
        # a measured (paired) speedup stays as measured, failed or not; a ratio of two jobs' figures is derived only
        # where none is (results written before paired timing), and only within one machine
        unpaired = [] if (variant, "speedup_p50") in system_rows else list(UNPAIRED_LATENCY_SPEEDUPS)
        for metric, derived_metric, teacher_over_variant, what in unpaired + list(SPEEDUPS):
            if (variant, derived_metric) in system_rows:
                continue
            row, teacher_row = system_rows.get((variant, metric)), system_rows.get((TEACHER, metric))
            if not (row and row["status"] == "ok" and row["value"] and teacher_row and teacher_row["status"] == "ok"):
                continue
            if row["hardware_fingerprint"] != teacher_row["hardware_fingerprint"]:
                theirs, mine = teacher_row, row
                error = (
                    f"{variant}'s {metric} was measured on hardware {mine['hardware_fingerprint']} "
                    f"({mine.get('hardware_description') or '?'}), the teacher's on {theirs['hardware_fingerprint']} "
                    f"({theirs.get('hardware_description') or '?'}): no ratio across two machine types; measure "
                    "both on one type (a cluster profile that sends every measure job to one node type)"
                )
                derived.append(_derived(row, derived_metric, math.nan, "x", True, what, status="failed", error=error))
                continue
            teacher_value = teacher_row["value"]
            ratio = teacher_value / row["value"] if teacher_over_variant else row["value"] / teacher_value
            derived.append(_derived(row, derived_metric, ratio, "x", True, what))
        if size_row and size_row["status"] == "ok" and teacher_size:
            derived.append(
                _derived(
                    size_row,
                    "size_reduction_pct",
                    100 * (1 - size_row["value"] / teacher_size),
                    "%",
                    True,
                    "100 × (1 − variant size_mb / teacher size_mb)",
                )
            )
    derived += _task_derived(cfg, table, [t for p in prediction_files for t in _per_task(read_predictions(p))])
    if derived:
        table = pa.concat_tables([table, pa.Table.from_pylist(derived, schema=table.schema)])
    write_table(table, out)


def _row_derived(base: dict[str, Any], row: Row) -> dict[str, Any]:
    """A derived Row as a result record with `base`'s lineage and provenance."""
    return _derived(
        base,
        row.metric,
        row.value,
        row.unit,
        bool(row.higher_is_better) if row.higher_is_better is not None else None,
        row.measurement,
        ci_low=row.ci_low,
        ci_high=row.ci_high,
        n=row.n,
        status=row.status,
        error=row.error,
    )


def read_predictions(path: Path) -> pa.Table:
    """A predictions Parquet (`suite evaluate --predictions`), or one error line naming the file and the fix."""
    from suite.results import read_parquet, require_columns
    from suite.tasks.base import PREDICTIONS_SCHEMA

    what, fix = (
        "a predictions Parquet",
        "give the predictions file `suite evaluate` wrote (results/<family>/predictions/)",
    )
    table = read_parquet(path, what, fix)
    # logits, slice, ref and meta came later: older files without them are read (suite.tasks.base.Columns)
    required = [n for n in PREDICTIONS_SCHEMA.names if n not in ("logits", "slice", "ref", "meta")]
    require_columns(table, path, required, what, "the predictions schema (suite/tasks/base.py)", fix)
    return table


def _per_task(predictions: pa.Table) -> list[pa.Table]:
    """A variant's predictions file (all its tasks) as one table per task."""
    if not predictions.num_rows:
        return []
    tasks = pa.compute.unique(predictions["task"]).to_pylist()
    return [predictions.filter(pa.compute.equal(predictions["task"], t)) for t in tasks]


def _readiness(
    cfg: SuiteConfig, by_key: dict[tuple[str, str], pa.Table], rows_by_key: dict[tuple[str, str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Deployment readiness of every variant against its own parent (an export against the model it was exported
    from), on the reference task (the first with a data set; SST-2 dev in the default config): max |Δ logit| and
    agreement."""
    from suite.fidelity import parent_readiness
    from suite.tasks.base import Columns

    task = cfg.reference_task
    if task is None:  # a run of generated tasks only has no parent to compare exports against on real sentences
        return []
    derived = []
    for spec in cfg.variants:
        student, parent = by_key.get((task.name, spec.id)), by_key.get((task.name, spec.parent))
        base = next(iter(rows_by_key.get((task.name, spec.id), {}).values()), None)
        if student is None or parent is None or base is None:
            continue
        student_cols, parent_cols = Columns(student), Columns(parent)
        if student_cols.logits is None or parent_cols.logits is None:
            continue  # predictions written before logits were stored
        delta, agree = parent_readiness(student_cols.logits, parent_cols.logits)
        how = f"against the parent '{spec.parent}' on the same {len(student_cols)} inputs of {task.name}"
        derived.append(_derived(base, "parent_max_abs_logit_delta", delta, "logit", False, f"max |Δ logit| {how}"))
        derived.append(_derived(base, "parent_agreement", agree, "%", True, f"same predicted label {how}"))
    return derived


def _task_derived(cfg: SuiteConfig, table: pa.Table, prediction_tables: list[pa.Table]) -> list[dict[str, Any]]:
    """Per task, every variant against the teacher (suite.fidelity), and non-finite logits over all task inputs."""
    from suite.fidelity import teacher_relative
    from suite.tasks import TASK_KINDS
    from suite.tasks.base import Columns
    from suite.tasks.stability import nonfinite_summary

    by_key: dict[tuple[str, str], pa.Table] = {}
    for predictions in prediction_tables:
        if predictions.num_rows:
            key = (predictions["task"][0].as_py(), predictions["variant"][0].as_py())
            by_key[key] = predictions
    rows_by_key: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row in table.filter(pa.compute.field("task") != "system").to_pylist():
        rows_by_key.setdefault((row["task"], row["variant"]), {})[row["metric"]] = row
    derived: list[dict[str, Any]] = []
    for task in cfg.tasks:
        kind = TASK_KINDS.get(task.kind)()
        teacher_table = by_key.get((task.name, TEACHER))
        teacher_rows = rows_by_key.get((task.name, TEACHER))
        if teacher_table is None or not teacher_rows:
            continue
        teacher = Columns(teacher_table)
        main = kind.main_mask(teacher)
        slice_names = set(teacher.slice.tolist())

        def slice_mask(name: str, teacher: Columns = teacher, names: set = slice_names) -> np.ndarray | None:
            return teacher.slice == name if name in names else None

        for variant in cfg.variant_ids:
            student_table, student_rows = by_key.get((task.name, variant)), rows_by_key.get((task.name, variant))
            if student_table is None or not student_rows:
                continue
            if next(iter(student_rows.values()))["data_sha256"] != next(iter(teacher_rows.values()))["data_sha256"]:
                raise ValueError(f"task {task.name}: {variant} and the teacher were scored on different data")
            own = kind.teacher_relative(teacher_table, student_table, task, cfg.evaluate, cfg.seed)
            if own is not None:  # a task kind with its own fidelity figures (lm-eval tasks)
                base = next(iter(student_rows.values()))
                derived += [_row_derived(base, row) for row in own]
                continue
            try:
                derived += teacher_relative(
                    cfg, main, slice_mask, teacher, Columns(student_table), teacher_rows, student_rows, _derived
                )
                extra = kind.extra_teacher_relative(teacher_table, student_table, task, cfg.evaluate, cfg.seed)
            except ValueError as exc:
                raise ValueError(f"task {task.name}, variant {variant}: {exc}") from None
            derived += [_row_derived(next(iter(student_rows.values())), row) for row in extra]
    derived += _readiness(cfg, by_key, rows_by_key)
    nonfinite = {
        key: row["error"]
        for key, rows in rows_by_key.items()
        for row in rows.values()
        if (row["error"] or "").startswith(NONFINITE_ERROR)
    }
    # figures made from non-finite logits (fidelity, readiness) fail with the task's own reason
    derived = [
        {**d, "status": "failed", "error": nonfinite[(d["task"], d["variant"])]}
        if (d["task"], d["variant"]) in nonfinite
        else d
        for d in derived
    ]
    # A stability task also reports non-finite logits over every input the variant saw in any task.
    for task in (t for t in cfg.tasks if t.kind == "stability"):
        for variant in cfg.variant_ids:
            base = rows_by_key.get((task.name, variant), {}).get("nonfinite_rate")
            tables = [t for (name, v), t in by_key.items() if v == variant and name in {x.name for x in cfg.tasks}]
            if base is None or not tables:
                continue
            finite = np.concatenate([t["finite"].to_numpy(zero_copy_only=False) for t in tables])
            kinds = np.concatenate([np.array([t["task"][0].as_py()] * t.num_rows, dtype=object) for t in tables])
            row = nonfinite_summary(
                variant, task, ~finite, kinds, [{}] * len(finite), f"inputs of all {len(tables)} tasks", "all_inputs"
            )
            derived.append(
                _derived(
                    base,
                    row.metric,
                    row.value,
                    row.unit,
                    False,
                    row.measurement,
                    n=row.n,
                    status=row.status,
                    error=row.error,
                )
            )
    return derived
