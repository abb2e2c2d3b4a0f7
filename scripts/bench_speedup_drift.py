"""Where does a paired speedup's pass-to-pass spread come from: the time it was taken, a reload, or the process?

`bench_speedup_repro.py` compares two passes, each a fresh process. This script separates the causes. It runs
`--processes` fresh processes one after the other. Each loads the teacher and the classifier variants (`--variants`,
six by default) once and takes three paired estimates of each (bench_speedup_repro.paired_latency_rows:
suite.measure.latency_rows, what the measure jobs run):
- loop 1: right after loading;
- loop 2: the same loaded models, about 45 s later;
- loop 3: after loading the teacher and every variant again, in the same process.
Two processes' loop 1 are about 2.5 min apart. If the loops of one process differ as much as two processes do, the
spread comes from the host over time, not from the process (memory layout, thread placement): then more fresh
processes per job (as pyperf runs) would not steady the speedup. The printed spreads are the largest ratio - 1 over
the processes (max / min - 1 across processes and over all estimates).

    python scripts/bench_speedup_drift.py [--processes 4] [--results results] [--variants teacher bf16 ...]

A script, not a timed test: nothing else may run on the machine. About 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = ["teacher", "ort-int8", "int8-dynamic", "bf16", "onnx-fp32", "distil-4l"]
LOOPS = 3  # the third reloads every model first


def worker(results: Path, out: Path, variants: list[str]) -> None:
    """One process: LOOPS paired estimates per variant, written to `out` as {variant: [[speedup, ci_low, ci_high,
    reference p50 ms, variant p50 ms, unix time], ...]}."""
    from bench_speedup_repro import paired_latency_rows, track_for_timing  # beside this script

    from suite.artefacts import load_artefact
    from suite.measure import latency_queries

    cfg, texts, models = track_for_timing(results, "classifier")

    def load_all():
        teacher, _ = load_artefact(models / "teacher", cfg.device)
        return teacher, {v: load_artefact(models / v, cfg.device)[0] for v in variants}

    teacher, loaded = load_all()
    estimates: dict[str, list[list[float]]] = {v: [] for v in variants}
    for loop in range(LOOPS):
        if loop == LOOPS - 1:
            del teacher, loaded
            teacher, loaded = load_all()
        teacher_queries = latency_queries(teacher, texts, cfg.latency, cfg.evaluate.max_length, cfg.seed)
        for variant in variants:
            rows = paired_latency_rows(cfg, texts, variant, loaded[variant], teacher, teacher_queries)
            s, ref_p50, p50 = rows["speedup_p50"], rows["reference_latency_p50_ms"].value, rows["latency_p50_ms"].value
            estimates[variant].append([s.value, s.ci_low, s.ci_high, ref_p50, p50, time.time()])
            print(f"{loop} {variant} {s.value:.3f} [{s.ci_low:.3f},{s.ci_high:.3f}] ref {ref_p50:.2f} mine {p50:.2f}",
                  flush=True)  # fmt: skip
    out.write_text(json.dumps(estimates))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--out", type=Path, default=Path("/tmp"), help="where each process writes its JSON")
    parser.add_argument("--variants", nargs="+", default=VARIANTS, help=f"default: {' '.join(VARIANTS)}")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # one process, into this JSON file
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.results, args.worker, args.variants)
        return 0
    processes = []
    for number in range(args.processes):
        out = args.out / f"bench_speedup_drift_{number}.json"
        subprocess.run([sys.executable, __file__, "--results", str(args.results), "--worker", str(out), "--variants",
                        *args.variants], check=True)  # fmt: skip
        processes.append(json.loads(out.read_text()))
    print("\nper variant, per process: loop 1, loop 2 (same models), loop 3 (reloaded); then the largest spreads")
    for variant in args.variants:
        by_process = [[e[0] for e in p[variant]] for p in processes]
        same = max(abs(loops[1] / loops[0] - 1) for loops in by_process)
        reloaded = max(abs(loops[2] / loops[1] - 1) for loops in by_process)
        firsts, every = [loops[0] for loops in by_process], [x for loops in by_process for x in loops]
        across, overall = max(firsts) / min(firsts) - 1, max(every) / min(every) - 1
        print(f"{variant:<14} " + "  ".join(" ".join(f"{x:.3f}" for x in loops) for loops in by_process)
              + f"   loop 1 vs 2 {100 * same:.1f} %, 2 vs 3 {100 * reloaded:.1f} %, loop 1 across processes "
              f"{100 * across:.1f} %, all {100 * overall:.1f} %")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
