"""Benchmark `suite render` on synthetic results: N variants × M tasks (default 1 000 × 20), with gaps and failures."""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from suite.results import SCHEMA, write_table  # noqa: E402
from suite.site import render_site  # noqa: E402

METHODS = ("dynamic_quant", "l1_unstructured", "distill", "static_quant")


def synthetic(variants: int, tasks: int, seed: int = 0) -> pa.Table:
    """Results shaped like the workflow's: task rows with CIs, system rows; ~1 % failed, ~1 % NaN, ~2 % missing."""
    rng = np.random.default_rng(seed)
    names = ["teacher"] + [f"variant-{i:04d}" for i in range(1, variants)]
    columns: dict[str, list] = {name: [] for name in SCHEMA.names}
    provenance = {
        "suite_version": "0.1.0",
        "git_commit": "0" * 40,
        "config_hash": "c" * 64,
        "data_sha256": "d" * 64,
        "seed": 42,
        "library_versions": json.dumps({"python": "3.11", "torch": "2.13.0"}),
        "cpu_model": "Synthetic CPU",
        "cpu_cores": 16,
        "threads": 2,
        "gpu": "",
        "hardware_fingerprint": "bench000000000000",
        "timestamp": datetime(2025, 1, 1, tzinfo=UTC),
    }

    def add(variant: str, i: int, task: str, version: str, metric: str, value: float, unit: str, **kw: object) -> None:
        row = {name: None for name in SCHEMA.names}
        row.update(provenance)
        row.update(
            variant=variant,
            teacher="teacher-model",
            parent=None if i == 0 else "teacher",
            method="teacher" if i == 0 else METHODS[i % len(METHODS)],
            task=task,
            task_version=version,
            metric=metric,
            value=value,
            unit=unit,
            higher_is_better=metric in ("accuracy", "macro_f1", "agreement"),
            status="ok",
            measurement="synthetic",
            artefact_sha256=f"{i:064x}",
        )
        row.update(kw)
        for name, value_ in row.items():
            if name in columns:
                columns[name].append(value_)

    base_latency, base_size = 10.0, 90.0
    for i, variant in enumerate(names):
        latency = base_latency if i == 0 else float(rng.uniform(2, 14))
        size = base_size if i == 0 else float(rng.choice([22.5, 45.0, 90.0]) * rng.uniform(0.9, 1.0))
        for t in range(tasks):
            if i and rng.random() < 0.02:
                continue  # a task missing for this variant: shown as a gap
            accuracy = 88.0 if i == 0 else float(88.0 - abs(rng.normal(0, 2)))
            if i and rng.random() < 0.01:
                accuracy = math.nan
            task = "sst2" if t == 0 else f"task{t:02d}"  # the schema's main task, so every section renders
            common = {"n": 872}
            add(variant, i, task, "1.0", "accuracy", accuracy, "%", ci_low=accuracy - 2, ci_high=accuracy + 2, **common)
            add(variant, i, task, "1.0", "macro_f1", accuracy - 0.4, "%", ci_low=accuracy - 2.5, ci_high=accuracy + 1.5)
            add(variant, i, task, "1.0", "accuracy_drop_pts", 88.0 - accuracy, "points", ci_low=-1.0, ci_high=3.0)
            add(variant, i, task, "1.0", "agreement", 97.0, "%")
            add(variant, i, task, "1.0", "nonfinite_rate", 0.0, "%")
        failed = i and rng.random() < 0.01
        add(variant, i, "system", "", "latency_mean_ms", latency * 1.05, "ms")
        add(variant, i, "system", "", "latency_std_ms", latency * 0.1, "ms")
        if failed:
            add(variant, i, "system", "", "latency_p50_ms", math.nan, "ms", status="failed", error="RuntimeError: x")
        else:
            add(variant, i, "system", "", "latency_p50_ms", latency, "ms")
        add(variant, i, "system", "", "latency_p90_ms", latency * 1.3, "ms")
        add(variant, i, "system", "", "latency_p99_ms", latency * 1.6, "ms")
        add(variant, i, "system", "", "speedup_p50", base_latency / latency, "x")
        add(variant, i, "system", "", "size_mb", size, "MiB")
        add(variant, i, "system", "", "size_reduction_pct", 100 * (1 - size / base_size), "%")
        add(variant, i, "system", "", "param_mb", size, "MiB")
        add(variant, i, "system", "", "sparsity", 0.0, "%")
    return pa.table(columns, schema=SCHEMA)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--output", help="site directory (default: a temporary directory, removed afterwards)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        parquet = Path(tmp) / "leaderboard.parquet"
        table = synthetic(args.variants, args.tasks)
        write_table(table, parquet)
        out = Path(args.output) if args.output else Path(tmp) / "site"
        start, cpu_start = time.perf_counter(), time.process_time()
        index = render_site(parquet, out, ROOT / "leaderboard" / "schema.yaml")
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        files = [p for p in out.rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in files)
        print(
            # CPU seconds beside the wall clock: on a shared machine the wall clock includes waiting for a core.
            f"{args.variants} variants × {args.tasks} tasks ({table.num_rows:,} rows): rendered in {seconds:.2f} s "
            f"({cpu_seconds:.2f} s of CPU); "
            f"index.html {index.stat().st_size / 1e6:.2f} MB; {len(files)} files, {total / 1e6:.1f} MB in all"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
