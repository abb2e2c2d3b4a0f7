"""The Markdown summary: teacher first, variants by accuracy, CIs and failures shown."""

import math
from datetime import UTC, datetime

import pyarrow as pa

from suite.results import Row, to_table, write_table
from suite.summary import markdown_table

PROV = {"suite_version": "0", "seed": 1, "threads": 2, "timestamp": datetime(2026, 1, 1, tzinfo=UTC)}


def test_markdown_table(tmp_path):
    rows = [
        Row("teacher", "accuracy", 90.0, "%", True, task="sst2", task_version="1.0", ci_low=88.0, ci_high=92.0),
        Row("small", "accuracy", 89.5, "%", True, task="sst2", task_version="1.0", ci_low=87.25, ci_high=91.5),
        Row("worse", "accuracy", 80.0, "%", True, task="sst2", task_version="1.0"),
        Row("teacher", "latency_p50_ms", 10.0, "ms", False),
        Row("small", "latency_p50_ms", 4.0, "ms", False),
        Row("worse", "latency_p50_ms", math.nan, "ms", False, status="failed", error="boom"),
    ]
    write_table(to_table(rows, {"method": "m"}, PROV), tmp_path / "r.parquet")
    lines = markdown_table(tmp_path / "r.parquet").splitlines()
    assert lines[:2] == ["Hardware: not recorded", ""]  # rows without cpu_model or hardware_description
    assert [line.split(" | ")[0] for line in lines[4:]] == ["| `teacher`", "| `small`", "| `worse`"]
    assert "| 90.00 [88.00, 92.00] |" in lines[4] and "| 10.00 |" in lines[4]
    assert "| 89.50 [87.25, 91.50] |" in lines[5] and "| 4.00 |" in lines[5]
    assert "| failed |" in lines[6] and "| — |" in lines[6]  # failed p50, unmeasured size


MACHINE = "Test CPU @ 3.0GHz, 2 of 16 logical cores, AVX2"


def _paired(
    variant: str, speedup: tuple[float, float, float], contended: float = 0.0, shared: float | None = None
) -> list[Row]:
    """`shared` None: no `oversubscribed` row (results from before it was written)."""
    value, low, high = speedup
    return [
        *([] if shared is None else [Row(variant, "oversubscribed", shared, "flag", False)]),
        Row(variant, "accuracy", 90.0, "%", True, task="sst2", task_version="1.0", ci_low=88.0, ci_high=92.0),
        Row(variant, "latency_p50_ms", 10.0 / value, "ms", False),
        Row(variant, "speedup_p50", value, "x", True, ci_low=low, ci_high=high, n=30),
        Row(variant, "contended", contended, "flag", False),
        Row(variant, "host_other_cpu_pct", 35.0 if contended and shared != 0.0 else 1.0, "%", False),
    ]


def test_markdown_table_names_the_hardware_and_reads_speedups_with_their_interval(tmp_path):
    prov = {**PROV, "hardware_description": MACHINE, "hardware_fingerprint": "f" * 16}
    # two nodes of one hardware type (host_id, results schema v7): one machine's numbers, on two hosts
    quiet = _paired("teacher", (0.99, 0.97, 1.02)) + _paired("same", (1.02, 0.98, 1.05), 1.0, 0.0)
    one = pa.concat_tables(
        [
            to_table(quiet, {"method": "m"}, {**prov, "host_id": "a" * 16}),
            to_table(_paired("fast", (1.3, 1.2, 1.4), 1.0), {"method": "m"}, {**prov, "host_id": "b" * 16}),
        ]
    )
    write_table(one, tmp_path / "r.parquet")
    lines = markdown_table(tmp_path / "r.parquet").splitlines()
    assert lines[0] == f"Hardware: {MACHINE} (2 hosts of this hardware)"
    by_variant = {line.split(" | ")[0]: line for line in lines if line.startswith("| `")}
    # `same` was contended by a drift alone: its latency is marked, its paired speedup stands
    assert "| 1.02× [0.98, 1.05] · no measurable change |" in by_variant["| `same`"]
    assert "| 9.80 † |" in by_variant["| `same`"]
    # `fast` has no oversubscribed row (older results): read as shared CPUs, its speedup is marked too
    assert "| 1.30× [1.20, 1.40] † |" in by_variant["| `fast`"] and "| 7.69 † |" in by_variant["| `fast`"]
    assert lines[-2:] == [
        "† `same`: timed on a contended host (other processes' CPU 1.0 %); its absolute timings are not judged against "
        "SLAs; its paired speedups stand: no other work shared the CPUs and both models were timed in the same rounds",
        "† `fast`: timed on a contended host (other processes' CPU 35.0 %); its absolute timings are not judged "
        "against SLAs, nor are its speedups ranked: other work shared the CPUs, which slows models unlike, so pairing "
        "does not cancel it",
    ]
    # two machines: a column instead
    other = to_table(
        _paired("remote", (1.1, 1.05, 1.15)), {"method": "m"}, {**prov, "hardware_description": "Other CPU"}
    )
    write_table(pa.concat_tables([one, other]), tmp_path / "two.parquet")
    lines = markdown_table(tmp_path / "two.parquet").splitlines()
    assert lines[0].startswith("| variant | method | hardware |")
    assert lines[2].startswith(f"| `teacher` | m | {MACHINE} |")
    assert next(line for line in lines if line.startswith("| `remote`")).startswith("| `remote` | m | Other CPU |")
