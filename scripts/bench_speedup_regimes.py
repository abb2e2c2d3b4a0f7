"""Does a paired speedup stay put while one process times it for minutes? The time series behind the drift.

`bench_speedup_drift.py` showed that some paired speedups differ between two estimates taken 45 s apart in one
process, with the same loaded models. This script looks inside such a stretch. It loads the teacher once and, for
each `--variants NAME:ROUNDS`, times the variant paired with it (suite.trackers.paired.measure_paired with the
track's latency settings: the same blocks, switch warm-up and seed as a measure job) for ROUNDS rounds instead of
the job's minimum. It prints the rounds in `--segments` consecutive segments: the seconds since the start, the two
models' median latencies and the median per-round speedup. A measure job's estimate covers only the first few
segments' worth of time (about 40 rounds).

    python scripts/bench_speedup_regimes.py --variants torchao-int8-wo:500 bf16:300 [--json out.json]

`--cache-probe` adds a probe of the shared last-level cache after every round: single-threaded random gathers over a
12 MiB buffer (timed on the second of two passes, so it reads from the L3 if this guest's share of it holds the
buffer) and over a 512 MiB one (DRAM). Each segment then also shows both probes' medians, and the script prints how
the probes correlate with the teacher's latency and with the speedup over the segments: whether the state a speedup
is in follows the cache that other tenants of the host share.

A script, not a timed test: nothing else may run on the machine. About 3 minutes per 500 rounds of
`torchao-int8-wo` on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def cache_probe(small_mib: int = 12, large_mib: int = 512, gathers: int = 1 << 21) -> Callable[[], list[float]]:
    """A probe of the last-level cache: [ms for `gathers` random reads over `small_mib` (warm, second of two passes),
    ms for the same over `large_mib`], single-threaded (the caller's thread count is put back)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    buffers = [torch.rand(mib * 2**20 // 4, generator=generator) for mib in (small_mib, large_mib)]
    indices = [torch.randint(0, b.numel(), (gathers,), generator=generator) for b in buffers]

    def probe() -> list[float]:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            torch.take(buffers[0], indices[0])  # first pass: bring the small buffer into the cache
            times = []
            for buffer, index in zip(buffers, indices, strict=True):
                started = time.perf_counter()
                torch.take(buffer, index)
                times.append((time.perf_counter() - started) * 1e3)
            return times
        finally:
            torch.set_num_threads(threads)

    return probe


def time_series(
    results: Path, track: str, plan: list[tuple[str, int]], nice: int | None, probe: Callable[[], list[float]] | None
) -> dict:
    """Per variant: each round's per-model samples (ms), order and seconds since that variant's start, and with a
    `probe` its result after each round (`probe_ms`)."""
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
        probes: list[list[float]] = []
        started = time.perf_counter()

        def progress(
            n: int,
            count: int,
            stamps: list[float] = stamps,
            probes: list[list[float]] = probes,
            started: float = started,
        ) -> None:
            stamps.append(time.perf_counter() - started)
            if probe is not None:
                probes.append(probe())

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
                progress=progress,
            )
        out[variant] = {
            "reference_ms": [pair[0].tolist() for pair in result.rounds],
            "variant_ms": [pair[1].tolist() for pair in result.rounds],
            "orders": [list(order) for order in result.orders],
            "seconds": stamps,
        }
        if probe is not None:
            out[variant]["probe_ms"] = probes
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
        for part in _parts(len(ratio), count)
    ]  # fmt: skip


def _parts(rounds: int, count: int) -> list[np.ndarray]:
    """The round indices of `count` consecutive segments (fewer when there are fewer rounds), as both tables split."""
    return [part for part in np.array_split(np.arange(rounds), count) if part.size]


def probe_segments(series: dict, count: int) -> list[tuple[float, float]]:
    """(small-buffer probe median ms, large-buffer probe median ms) per consecutive segment, as `segments` splits."""
    probes = np.array(series["probe_ms"])
    return [
        (float(np.median(probes[part, 0])), float(np.median(probes[part, 1]))) for part in _parts(len(probes), count)
    ]


def correlations(rows: list[tuple[float, float, float, float]], probes: list[tuple[float, float]]) -> dict[str, float]:
    """Pearson correlations over segments: each probe with the teacher's median latency and with the speedup.

    >>> rows = [(0.0, 10.0, 5.0, 2.0), (1.0, 12.0, 5.0, 2.4), (2.0, 14.0, 7.0, 2.0)]
    >>> {k: round(v, 3) for k, v in correlations(rows, [(1.0, 9.0), (2.0, 9.0), (3.0, 10.0)]).items()}
    {'teacher~small': 1.0, 'speedup~small': 0.0, 'teacher~large': 0.866, 'speedup~large': -0.5}
    """
    teacher = np.array([row[1] for row in rows])
    speedup = np.array([row[3] for row in rows])
    out = {}
    for k, name in enumerate(("small", "large")):
        probe = np.array([p[k] for p in probes])
        out[f"teacher~{name}"] = float(np.corrcoef(teacher, probe)[0, 1])
        out[f"speedup~{name}"] = float(np.corrcoef(speedup, probe)[0, 1])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--track", default="classifier")
    parser.add_argument("--variants", nargs="+", required=True, help="NAME:ROUNDS, e.g. torchao-int8-wo:500")
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--nice", type=int, help="time at this nice value (default: the track's load_guard.nice)")
    parser.add_argument("--json", type=Path, help="write every round here")
    parser.add_argument("--cache-probe", action="store_true", help="probe the shared cache after every round")
    args = parser.parse_args(argv)
    plan = []
    for item in args.variants:
        name, _, rounds = item.partition(":")
        if not rounds.isdigit() or int(rounds) < 2:
            parser.error(f"--variants {item}: write NAME:ROUNDS with ROUNDS >= 2, e.g. {name or 'bf16'}:300")
        plan.append((name, int(rounds)))
    series = time_series(args.results, args.track, plan, args.nice, cache_probe() if args.cache_probe else None)
    for variant, rounds in series.items():
        whole = segments(rounds, 1)[0][3]  # the median over every round
        print(f"\n{variant}: {len(rounds['seconds'])} rounds in {rounds['seconds'][-1]:.0f} s, median speedup "
              f"{whole:.3f}")  # fmt: skip
        rows = segments(rounds, args.segments)
        probed = "probe_ms" in rounds
        probes = probe_segments(rounds, args.segments) if probed else [None] * len(rows)
        header = f"{'from':>8} {'teacher p50':>12} {'variant p50':>12} {'speedup':>8}"
        print(header + (f" {'12 MiB probe':>13} {'512 MiB probe':>14}" if probed else ""))
        for (start, reference, mine, speedup), probe in zip(rows, probes, strict=True):
            line = f"{start:>7.1f}s {reference:>9.2f} ms {mine:>9.2f} ms {speedup:>8.3f}"
            print(line + (f" {probe[0]:>10.2f} ms {probe[1]:>11.2f} ms" if probe else ""))
        if probed:
            print("correlation over the segments: " + ", ".join(
                f"{name} {value:+.2f}" for name, value in correlations(rows, probes).items()))  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(series))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
