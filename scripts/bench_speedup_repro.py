"""Benchmark of the speedup itself: is a variant's speedup over the teacher the same in two independent passes?

Over the built artefacts of a run (results/<track>/models/*), each pass runs in a fresh interpreter and measures
every variant two ways, with the track's own latency settings:
- unpaired (the way before paired timing): the teacher timed alone once at the start of the pass, each variant timed
  alone in its turn; speedup = teacher p50 / variant p50;
- paired (suite.measure.latency_rows, what the measure jobs run): the variant and the teacher loaded in one process
  and timed in interleaved rounds; speedup_p50 with its bootstrap CI.
The teacher itself is measured against a second, independently loaded copy (A/A). Targets: for every variant the two
passes' paired speedups within 5 % of each other, and the A/A speedup within [0.97, 1.03] in both passes. The
improvement factor is the spread of the unpaired ratios between passes over that of the paired ones (median of
|pass 1 / pass 2 - 1| over the variants).

    python scripts/bench_speedup_repro.py [--results results] [--track classifier] [--busy 1] [--json out.json]

`--busy N` runs N other CPU-bound processes (a `python -c` busy loop each) for the whole benchmark: the loaded case.
Each pass times at the scheduling priority a measure job sets (the track's `load_guard.nice`); `--nice N` times at
nice N instead (`--nice 0`: the default priority, as before priorities were raised).
A script, not a timed test: nothing else may run on the machine (besides --busy).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

PAIRED_TOLERANCE = 0.05
AA_RANGE = (0.97, 1.03)
BUSY_LOOP = "while True: pass"


def track_for_timing(results: Path, track: str, nice: int | None = None) -> tuple[Any, list[str], Path]:
    """A run's track set up in this process for timing as its measure jobs are (priority, threads, device): its
    resolved config, the reference task's sentences and the folder of its built models. `nice`: instead of the
    config's load_guard.nice."""
    from suite.config import read_resolved
    from suite.pipeline import _torch_setup
    from suite.tasks import load_task_data
    from suite.trackers.host import timing_priority

    cfg = read_resolved(results / track / "config.resolved.json")
    priority = timing_priority(cfg.load_guard.nice if nice is None else nice)
    print(f"  {priority.describe()}", flush=True)
    _torch_setup(cfg.threads, cfg.device)
    texts = load_task_data(cfg.reference_task, cfg.data_mirror, cfg.data_cache).texts
    return cfg, texts, results / track / "models"


def paired_latency_rows(cfg: Any, texts: list[str], variant: str, model: Any, teacher: Any, teacher_queries: list[Any]
                        ) -> dict[str, Any]:  # fmt: skip
    """suite.measure.latency_rows as the measure jobs run it, by metric: `model` timed paired with the loaded teacher
    (an A/A comparison when `model` is the teacher's own artefact, loaded a second time)."""
    from suite.measure import Reference, latency_queries, latency_rows

    queries = latency_queries(model, texts, cfg.latency, cfg.evaluate.max_length, cfg.seed)
    reference = Reference("teacher", teacher, same_artefact=variant == "teacher")
    rows = latency_rows(variant, model, queries, cfg.latency, cfg.threads, cfg.seed, reference, teacher_queries)
    return {r.metric: r for r in rows}


def one_pass(results: Path, track: str, variants: list[str], nice: int | None = None) -> dict:
    """One pass in this process: the teacher alone, then per variant alone and paired (A/A for the teacher)."""
    from suite.artefacts import load_artefact
    from suite.measure import latency_queries
    from suite.trackers.latency import measure_latency

    cfg, texts, models = track_for_timing(results, track, nice)
    spec, max_length = cfg.latency, cfg.evaluate.max_length

    def alone_p50(model) -> float:
        queries = latency_queries(model, texts, spec, max_length, cfg.seed)
        with model.inference():
            result = measure_latency(model.forward, queries, warmup_runs=spec.warmup_runs, min_runs=spec.min_runs,
                                     min_seconds=spec.min_seconds, sync=model.synchronize())  # fmt: skip
        return float(np.median(result.samples_ms))

    teacher, _ = load_artefact(models / "teacher", cfg.device)
    teacher_queries = latency_queries(teacher, texts, spec, max_length, cfg.seed)
    teacher_alone = alone_p50(teacher)
    out = {"teacher_alone_p50_ms": teacher_alone, "variants": {}}
    for variant in variants:
        started = time.perf_counter()
        model, _ = load_artefact(models / variant, cfg.device)  # the teacher's A/A copy: a second, independent load
        mine = alone_p50(model)
        rows = paired_latency_rows(cfg, texts, variant, model, teacher, teacher_queries)
        paired = rows["speedup_p50"]
        out["variants"][variant] = {
            "unpaired": teacher_alone / mine,
            "paired": paired.value,
            "paired_ci": [paired.ci_low, paired.ci_high],
            "rounds": paired.n,
            "alone_p50_ms": mine,
            "paired_p50_ms": rows["latency_p50_ms"].value,
            "seconds": time.perf_counter() - started,
        }
        took = time.perf_counter() - started
        print(f"  {variant}: unpaired {teacher_alone / mine:.3f}, paired {paired.value:.3f} "
              f"[{paired.ci_low:.3f}, {paired.ci_high:.3f}] ({took:.0f} s)", flush=True)  # fmt: skip
        del model
    return out


def built_variants(results: Path, track: str) -> list[str]:
    """The run's variants whose artefacts built, teacher first (its A/A)."""
    from suite.artefacts import VARIANT_JSON, build_failure, read_record
    from suite.config import read_resolved

    cfg = read_resolved(results / track / "config.resolved.json")
    built = []
    for variant in cfg.variant_ids:
        directory = results / track / "models" / variant
        if (directory / VARIANT_JSON).is_file() and build_failure(read_record(directory)) is None:
            built.append(variant)
    return built


def spread(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--track", default="classifier")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--busy", type=int, default=0, help="other CPU-bound processes to run beside it (loaded case)")
    parser.add_argument("--variants", nargs="*", help="a subset (default: every built variant)")
    parser.add_argument("--nice", type=int, help="time at this nice value (default: the track's load_guard.nice)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # one pass, into this JSON file
    args = parser.parse_args(argv)
    variants = args.variants or built_variants(args.results, args.track)
    if args.worker:
        args.worker.write_text(json.dumps(one_pass(args.results, args.track, variants, args.nice)))
        return 0

    busy = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(args.busy)]
    started = time.time()
    passes = []
    try:
        for number in range(1, args.passes + 1):
            print(f"pass {number} (fresh process), {len(variants)} variants, {args.busy} busy loops beside", flush=True)
            out = Path(f"/tmp/bench_speedup_pass{number}.json")
            command = [sys.executable, __file__, "--results", str(args.results), "--track", args.track,
                       "--worker", str(out), "--variants", *variants]  # fmt: skip
            command += [] if args.nice is None else ["--nice", str(args.nice)]
            subprocess.run(command, check=True)
            passes.append(json.loads(out.read_text()))
    finally:
        for process in busy:
            process.kill()
            process.wait()
    first, second = passes[0]["variants"], passes[1]["variants"]
    print(f"\n{'variant':<24} {'unpaired 1':>10} {'unpaired 2':>10} {'diff':>7}   {'paired 1':>22} "
          f"{'paired 2':>22} {'diff':>7}")  # fmt: skip
    unpaired_diffs, paired_diffs, failures = [], [], []
    for variant in variants:
        a, b = first[variant], second[variant]
        du, dp = abs(a["unpaired"] / b["unpaired"] - 1), abs(a["paired"] / b["paired"] - 1)
        unpaired_diffs.append(du)
        paired_diffs.append(dp)
        ci = [f"{x['paired']:.3f} [{x['paired_ci'][0]:.3f},{x['paired_ci'][1]:.3f}]" for x in (a, b)]
        print(f"{variant:<24} {a['unpaired']:>10.3f} {b['unpaired']:>10.3f} {100 * du:>6.1f}%   {ci[0]:>22} "
              f"{ci[1]:>22} {100 * dp:>6.1f}%")  # fmt: skip
        if dp > PAIRED_TOLERANCE:
            failures.append(
                f"{variant}: paired speedups {a['paired']:.3f} and {b['paired']:.3f} differ {100 * dp:.1f} %"
            )
    for number, run in enumerate(passes, 1):
        aa = run["variants"].get("teacher", {}).get("paired")
        if aa is None or not AA_RANGE[0] <= aa <= AA_RANGE[1]:
            failures.append(f"pass {number}: A/A speedup {aa} outside {list(AA_RANGE)}")
    factor = spread(unpaired_diffs) / spread(paired_diffs) if spread(paired_diffs) > 0 else float("inf")
    print(f"\nmedian |pass 1 / pass 2 - 1|: unpaired {100 * spread(unpaired_diffs):.2f} %, paired "
          f"{100 * spread(paired_diffs):.2f} %; improvement factor {factor:.1f}x; "
          f"max paired {100 * max(paired_diffs):.2f} %")  # fmt: skip
    print(
        f"A/A (teacher vs a second copy): pass 1 {first['teacher']['paired']:.3f}, "
        f"pass 2 {second['teacher']['paired']:.3f}"
    )
    print(
        f"teacher alone p50: pass 1 {passes[0]['teacher_alone_p50_ms']:.3f} ms, "
        f"pass 2 {passes[1]['teacher_alone_p50_ms']:.3f} ms"
    )
    nice = "the track's load_guard.nice" if args.nice is None else f"nice {args.nice}"
    print(f"wall time {time.time() - started:.0f} s, {args.busy} busy loops beside, timed at {nice}")
    print("targets: " + ("MET" if not failures else "MISSED: " + "; ".join(failures)))
    if args.json:
        args.json.write_text(json.dumps({"passes": passes, "busy": args.busy, "nice": args.nice, "failures": failures,
                                         "improvement_factor": factor}, indent=1))  # fmt: skip
    return 0 if not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
