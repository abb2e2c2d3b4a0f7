"""Benchmark of the latency harness itself, on the teacher: agreement with torch.utils.benchmark, repeatability and
the harness's own overhead. A script, not a timed test: run it on a quiet machine and read the ratios.

    python scripts/bench_latency.py --model results/models/teacher [--config config/config.yaml]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="results/models/teacher")
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import torch
    import torch.utils.benchmark as tb

    from suite.artefacts import load_artefact
    from suite.data import load_split
    from suite.measure import latency_queries
    from suite.plan import load_file
    from suite.trackers.latency import measure_latency, timer_overhead_ns

    cfg = load_file(args.config)
    torch.set_num_threads(cfg.threads)
    task = cfg.tasks[0]
    texts = load_split(task, task.split, cfg.data_mirror, cfg.data_cache).texts
    model, _ = load_artefact(args.model)
    queries = latency_queries(model, texts, cfg.latency, cfg.evaluate.max_length, cfg.seed)
    spec = cfg.latency

    def suite_p50() -> float:
        with torch.inference_mode():
            result = measure_latency(
                model.forward,
                queries,
                warmup_runs=spec.warmup_runs,
                min_runs=spec.min_runs,
                min_seconds=spec.min_seconds,
            )
        return float(np.median(result.samples_ms))

    # torch.utils.benchmark times one statement; cycling through the same queries keeps the length mix identical.
    state = {"i": 0}

    def one_query() -> None:
        model.forward(queries[state["i"] % len(queries)])
        state["i"] += 1

    timer = tb.Timer(stmt="one_query()", globals={"one_query": one_query}, num_threads=cfg.threads)

    def torch_median() -> float:
        with torch.inference_mode():
            state["i"] = 0
            return timer.blocked_autorange(min_run_time=spec.min_seconds).median * 1e3

    started = time.perf_counter()
    # Interleaved, so drift of the machine (frequency, neighbours) affects both harnesses alike.
    p50s, torch_medians = [], []
    for _ in range(args.repeats):
        p50s.append(suite_p50())
        torch_medians.append(torch_median())
    overhead_ms = timer_overhead_ns() / 1e6
    suite_p50_mean = float(np.mean(p50s))
    torch_median_mean = float(np.mean(torch_medians))
    report = {
        "model": args.model,
        "threads": cfg.threads,
        "queries": len(queries),
        "suite_p50_ms": p50s,
        "torch_utils_benchmark_median_ms": torch_medians,
        "ratio_suite_p50_over_torch_median": suite_p50_mean / torch_median_mean,
        "suite_p50_cv_pct": 100 * float(np.std(p50s, ddof=1) / suite_p50_mean),
        "timer_overhead_us": overhead_ms * 1e3,
        "timer_overhead_pct_of_p50": 100 * overhead_ms / suite_p50_mean,
        "seconds": time.perf_counter() - started,
    }
    checks = {
        "p50 within ±5 % of torch.utils.benchmark median": abs(report["ratio_suite_p50_over_torch_median"] - 1) <= 0.05,
        "p50 CV over repeats <= 5 %": report["suite_p50_cv_pct"] <= 5.0,
        "harness overhead < 1 % of latency": report["timer_overhead_pct_of_p50"] < 1.0,
    }
    print(json.dumps(report, indent=2))
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main())
