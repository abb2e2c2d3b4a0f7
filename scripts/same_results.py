"""Do two results Parquets hold the same rows, apart from provenance and what timing moves? (a refactoring's proof)

Usage: python scripts/same_results.py OLD.parquet NEW.parquet [--ignore-column COL …]

Rows are matched on (variant, task, task_version, metric). Every row must exist in both. For each pair, every column
but the provenance columns (git commit, timestamp, versions, hardware; `config_hash` is compared, unless ignored) is
compared exactly, NaN equal to NaN. Rows whose number is a timing or a resident-memory reading, which no two runs
share, are compared only on their identity, status and unit: latency, throughput, energy, speedups, the FLOP rate
(FLOPs over a measured latency), the timer overhead and peak RSS. Exit 0 when identical, 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import math
import sys

import pyarrow.parquet as pq

KEY = ("variant", "task", "task_version", "metric")
PROVENANCE = {
    "suite_version",
    "git_commit",
    "library_versions",
    "cpu_model",
    "cpu_cores",
    "threads",
    "gpu",
    "hardware_fingerprint",
    "hardware_description",
    "timestamp",
}
# metric-name prefixes whose values come from a clock or the kernel's RSS counter
TIMED = (
    "latency_",
    "throughput_",
    "energy_",
    "co2e_",
    "speedup_",
    "achieved_gflops",
    "pct_of_peak_flops",
    "timer_overhead_pct",
    "peak_rss_mb",
    "model_rss_mb",
)
TIMED_COLUMNS = {"value", "ci_low", "ci_high", "n", "measurement", "error"}


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def compare(old_path: str, new_path: str, ignore: set[str]) -> list[str]:
    old = {tuple(r[k] for k in KEY): r for r in pq.read_table(old_path).to_pylist()}
    new = {tuple(r[k] for k in KEY): r for r in pq.read_table(new_path).to_pylist()}
    problems = [f"only in OLD: {k}" for k in sorted(old.keys() - new.keys(), key=str)]
    problems += [f"only in NEW: {k}" for k in sorted(new.keys() - old.keys(), key=str)]
    for key in sorted(old.keys() & new.keys(), key=str):
        a, b = old[key], new[key]
        timed = key[3].startswith(TIMED)
        for column in a:
            if column in PROVENANCE or column in ignore or (timed and column in TIMED_COLUMNS):
                continue
            if not _same(a[column], b.get(column)):
                problems.append(f"{key} {column}: {a[column]!r} != {b.get(column)!r}")
    timed_rows = sum(k[3].startswith(TIMED) for k in old.keys() & new.keys())
    print(
        f"OLD {len(old)} rows, NEW {len(new)} rows, {len(old.keys() & new.keys())} matched "
        f"({timed_rows} timing/RSS rows compared on identity, status and unit only)"
    )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--ignore-column", action="append", default=[], help="a further column not to compare")
    parser.add_argument("--show", type=int, default=20, help="how many differences to print in full (default 20)")
    args = parser.parse_args()
    problems = compare(args.old, args.new, set(args.ignore_column))
    for problem in problems[: args.show]:
        print(problem)
    if len(problems) > args.show:
        print(f"… and {len(problems) - args.show} more")
    by_column = collections.Counter(
        (p.split(") ", 1)[1].split(":", 1)[0], p.split("'")[1]) for p in problems if not p.startswith("only in")
    )
    for (column, variant), count in sorted(by_column.items()):
        print(f"  {column} differs on {count} rows of {variant}")
    print("identical" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
