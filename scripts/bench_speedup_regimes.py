"""Does a paired speedup stay put while one process times it for minutes? The time series behind the drift.

`bench_speedup_drift.py` showed that some paired speedups differ between two estimates taken 45 s apart in one
process, with the same loaded models. This script looks inside such a stretch. It loads the teacher once and, for
each `--variants NAME:ROUNDS`, times the variant paired with it (suite.trackers.paired.measure_paired with the
track's latency settings: the same blocks, switch warm-up and seed as a measure job) for ROUNDS rounds instead of
the job's minimum. It prints the rounds in `--segments` consecutive segments: the seconds since the start, the two
models' median latencies and the median per-round speedup. A measure job's estimate covers only the first few
segments' worth of time (about 40 rounds).

    python scripts/bench_speedup_regimes.py --variants torchao-int8-wo:500 bf16:300 [--json out.json]

A script, not a timed test: nothing else may run on the machine. About 3 minutes per 500 rounds of
`torchao-int8-wo` on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def time_series(results: Path, track: str, plan: list[tuple[str, int]], nice: int | None) -> dict:
    """Per variant: each round's per-model samples (ms), order and seconds since that variant's start."""
    from bench_speedup_repro import track_for_timing  # beside this script

    from suite.artefacts import load_artefact
    from suite.measure import latency_queries
    from suite.trackers.paired import measure_paired

    cfg, texts, models = track_for_timing(results, track, nice)
    spec = cfg.latency
    teacher, _ = load_artefact(models / "teacher", cfg.device)
    teacher_queries = latency_queries(teacher, texts, spec, cfg.evaluate.max_length, cfg.seed)
    out = {}
    for variant, rounds in plan:
        model, _ = load_artefact(models / variant, cfg.device)  # "teacher": a second, independent copy (A/A)
        queries = latency_queries(model, texts, spec, cfg.evaluate.max_length, cfg.seed)
        stamps: list[float] = []
        started = time.perf_counter()
        with teacher.inference(), model.inference():
            result = measure_paired(
                lambda i: teacher.forward(teacher_queries[i]),
                lambda i, model=model, queries=queries: model.forward(queries[i]),
                list(range(len(queries))),
                warmup_runs=spec.warmup_runs,
                block=spec.paired_block,
                switch_warmup=spec.paired_switch_warmup,
                min_rounds=rounds,
                min_runs=1,
                min_seconds=0.0,
                seed=cfg.seed,
                progress=lambda n, count, stamps=stamps, started=started: stamps.append(time.perf_counter() - started),
            )
        out[variant] = {
            "reference_ms": [pair[0].tolist() for pair in result.rounds],
            "variant_ms": [pair[1].tolist() for pair in result.rounds],
            "orders": [list(order) for order in result.orders],
            "seconds": stamps,
        }
        del model
    return out


def segments(series: dict, count: int) -> list[tuple[float, float, float, float]]:
    """(start s, reference median ms, variant median ms, median per-round speedup) per consecutive segment.

    >>> rounds = {"reference_ms": [[2.0], [2.0], [4.0], [4.0]], "variant_ms": [[1.0], [1.0], [1.0], [1.0]],
    ...           "seconds": [0.5, 1.0, 1.5, 2.0]}
    >>> segments(rounds, 2)
    [(0.5, 2.0, 1.0, 2.0), (1.5, 4.0, 1.0, 4.0)]
    """
    reference = np.array([np.median(r) for r in series["reference_ms"]])
    variant = np.array([np.median(r) for r in series["variant_ms"]])
    seconds = np.array(series["seconds"])
    ratio = reference / variant
    return [
        (float(seconds[part[0]]), float(np.median(reference[part])), float(np.median(variant[part])),
         float(np.median(ratio[part])))
        for part in np.array_split(np.arange(len(ratio)), count)
        if part.size
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--track", default="classifier")
    parser.add_argument("--variants", nargs="+", required=True, help="NAME:ROUNDS, e.g. torchao-int8-wo:500")
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--nice", type=int, help="time at this nice value (default: the track's load_guard.nice)")
    parser.add_argument("--json", type=Path, help="write every round here")
    args = parser.parse_args(argv)
    plan = []
    for item in args.variants:
        name, _, rounds = item.partition(":")
        if not rounds.isdigit() or int(rounds) < 2:
            parser.error(f"--variants {item}: write NAME:ROUNDS with ROUNDS >= 2, e.g. {name or 'bf16'}:300")
        plan.append((name, int(rounds)))
    series = time_series(args.results, args.track, plan, args.nice)
    for variant, rounds in series.items():
        whole = segments(rounds, 1)[0][3]  # the median over every round
        print(f"\n{variant}: {len(rounds['seconds'])} rounds in {rounds['seconds'][-1]:.0f} s, median speedup "
              f"{whole:.3f}")  # fmt: skip
        print(f"{'from':>8} {'teacher p50':>12} {'variant p50':>12} {'speedup':>8}")
        for start, reference, mine, speedup in segments(rounds, args.segments):
            print(f"{start:>7.1f}s {reference:>9.2f} ms {mine:>9.2f} ms {speedup:>8.3f}")
    if args.json:
        args.json.write_text(json.dumps(series))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
