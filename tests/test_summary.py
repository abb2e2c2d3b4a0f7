"""The Markdown summary: teacher first, variants by accuracy, CIs and failures shown."""

import math
from datetime import UTC, datetime

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
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| `teacher`", "| `small`", "| `worse`"]
    assert "| 90.00 [88.00, 92.00] |" in lines[2] and "| 10.00 |" in lines[2]
    assert "| 89.50 [87.25, 91.50] |" in lines[3] and "| 4.00 |" in lines[3]
    assert "| failed |" in lines[4] and "| — |" in lines[4]  # failed p50, unmeasured size
