"""The regression gate `suite compare OLD NEW`: thresholds, CI overlap, failed rows, new/missing rows, exit codes."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from suite.compare import DEFAULT_THRESHOLDS, Threshold, compare, threshold_for, to_markdown, with_overrides
from suite.results import Row, to_table, write_table

REPO = Path(__file__).resolve().parent.parent


def results(path: Path, rows: list[Row], fingerprint: str = "f" * 16) -> Path:
    prov = {"hardware_fingerprint": fingerprint, "timestamp": datetime(2025, 1, 1, tzinfo=UTC)}
    write_table(to_table(rows, {"teacher": "t", "parent": "teacher", "method": "m"}, prov), path)
    return path


def acc(variant: str, value: float, ci: float | None = None, status: str = "ok") -> Row:
    low, high = (value - ci, value + ci) if ci is not None else (None, None)
    return Row(
        variant,
        "accuracy",
        value,
        "%",
        True,
        task="sst2",
        task_version="1.1",
        ci_low=low,
        ci_high=high,
        status=status,
        error="boom" if status != "ok" else None,
    )


def system(variant: str, metric: str, value: float, unit: str = "ms", higher: bool | None = False) -> Row:
    return Row(variant, metric, value, unit, higher)


@pytest.fixture
def old(tmp_path: Path) -> Path:
    return results(
        tmp_path / "old.parquet",
        [
            acc("a", 90.0),
            acc("b", 90.0, ci=2.0),
            acc("c", 90.0),
            system("a", "latency_p50_ms", 10.0),
            system("b", "latency_p50_ms", 10.0),
            system("a", "size_mb", 100.0, "MiB"),
            system("b", "size_mb", 100.0, "MiB"),
            system("a", "mcnemar_p", 0.5, "", None),
            system("gone", "size_mb", 1.0, "MiB"),
        ],
    )


def test_thresholds_and_directions(tmp_path: Path, old: Path):
    new = results(
        tmp_path / "new.parquet",
        [
            acc("a", 89.0),  # −1.0 pt, no CI: regression
            acc("b", 89.0, ci=2.0),  # −1.0 pt inside overlapping CIs: not significant
            acc("c", 91.0),  # +1.0 pt: improvement
            system("a", "latency_p50_ms", 10.5),  # +5 %: within 10 %
            system("b", "latency_p50_ms", 12.0),  # +20 %: regression
            system("a", "size_mb", 100.5, "MiB"),  # +0.5 %: within 1 %
            system("b", "size_mb", 98.0, "MiB"),  # −2 %: improvement
            system("a", "mcnemar_p", 0.1, "", None),  # no direction: changed
            system("new-one", "size_mb", 1.0, "MiB"),
        ],
    )
    result = compare(old, new)
    verdicts = {(c.key[0], c.key[2]): c.verdict for c in result.changes}
    assert verdicts == {
        ("a", "accuracy"): "regression",
        ("b", "accuracy"): "not_significant",
        ("c", "accuracy"): "improvement",
        ("b", "latency_p50_ms"): "regression",
        ("b", "size_mb"): "improvement",
        ("a", "mcnemar_p"): "changed",
        ("new-one", "size_mb"): "new",
        ("gone", "size_mb"): "missing",
    }
    assert result.matched == 8 and result.exit_code == 1
    report = to_markdown(result)
    assert "**2 regressions** beyond the thresholds. 8 rows matched" in report
    assert "| `a` | `sst2` | `accuracy` | 90 | 89 | -1 pts (-1.1 %) | ±0.5 |  |" in report
    assert "| `b` | `system` | `latency_p50_ms` | 10 | 12 | +2 `ms` (+20.0 %) | ±10 % |  |" in report
    assert "### Not significant (overlapping confidence intervals) (1)" in report
    assert "### New rows (1)" in report and "### Missing rows (1)" in report
    # with the CI rule off, the move inside overlapping CIs counts too
    assert len(compare(old, new, use_ci=False).regressions) == 3


def test_failed_and_nonfinite_rows_are_always_regressions(tmp_path: Path):
    old = results(tmp_path / "old.parquet", [acc("a", 90.0), acc("b", 90.0)])
    new = results(tmp_path / "new.parquet", [acc("a", 90.0, status="failed"), acc("b", float("nan"))])
    result = compare(old, new)
    assert [(c.key[0], c.reason) for c in result.regressions] == [("a", "now failed: boom"), ("b", "became non-finite")]


def test_identical_runs_pass_and_other_hardware_matches_nothing(tmp_path: Path, old: Path):
    result = compare(old, old)
    assert result.exit_code == 0 and result.changes == [] and result.matched == 9
    assert "**No regression**" in to_markdown(result)
    other = results(tmp_path / "other.parquet", [acc("a", 80.0)], fingerprint="e" * 16)
    result = compare(old, other, allow_missing=True)  # b, c and gone are not in `other`
    assert result.matched == 0 and result.exit_code == 0
    assert "share no hardware fingerprint" in result.notes[-1]


def test_threshold_matching_and_overrides():
    assert threshold_for("accuracy@typo_s3", DEFAULT_THRESHOLDS) == Threshold("accuracy*", abs=0.5)
    assert threshold_for("latency_p99_ms", DEFAULT_THRESHOLDS) == Threshold("latency_*_ms", rel_pct=10.0)
    assert threshold_for("throughput_bs1_sps", DEFAULT_THRESHOLDS) == Threshold("*", rel_pct=5.0)
    custom = with_overrides(DEFAULT_THRESHOLDS, accuracy_pts=2.0, default_pct=50.0)
    assert threshold_for("accuracy", custom) == Threshold("accuracy*", abs=2.0)
    assert threshold_for("throughput_bs1_sps", custom) == Threshold("*", rel_pct=50.0)
    with pytest.raises(ValueError, match="exactly one of abs or rel_pct"):
        Threshold("x", abs=1.0, rel_pct=1.0)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "suite", "compare", *args], capture_output=True, text=True, cwd=REPO)


def test_cli_exit_codes_flags_and_yaml_thresholds(tmp_path: Path, old: Path):
    new = results(tmp_path / "new.parquet", [acc("a", 89.0), system("b", "latency_p50_ms", 10.5)])
    done = run(str(old), str(new))
    assert done.returncode == 1 and done.stdout.startswith("## Benchmark comparison: `old.parquet` → `new.parquet`")
    assert "**1 regression**" in done.stdout
    done = run(str(old), str(new), "--accuracy-pts", "2", "--allow-missing", "--output", str(tmp_path / "report.md"))
    assert done.returncode == 0 and "**No regression**" in done.stdout
    assert (tmp_path / "report.md").read_text() == done.stdout
    thresholds = tmp_path / "thresholds.yaml"
    thresholds.write_text("thresholds:\n  - {metric: 'latency_*', rel_pct: 1}\n  - {metric: '*', abs: 100}\n")
    done = run(str(old), str(new), "--thresholds", str(thresholds))
    assert done.returncode == 1 and "| `b` | `system` | `latency_p50_ms` | 10 | 10.5 |" in done.stdout


def test_cli_bad_input_exits_2(tmp_path: Path, old: Path):
    done = run(str(old), str(tmp_path / "missing.parquet"))
    assert done.returncode == 2 and "missing.parquet: file not found" in done.stderr
    (tmp_path / "junk.parquet").write_text("not parquet")
    done = run(str(old), str(tmp_path / "junk.parquet"))
    assert done.returncode == 2 and "junk.parquet: not a results Parquet" in done.stderr
    thresholds = tmp_path / "t.yaml"
    thresholds.write_text("thresholds:\n  - {metric: accuracy, abs: 1, rel_pct: 2}\n")
    done = run(str(old), str(old), "--thresholds", str(thresholds))
    assert done.returncode == 2 and "field 'thresholds[0]'" in done.stderr
    table = pa.table({"x": [1]})
    import pyarrow.parquet as pq

    pq.write_table(table, tmp_path / "other.parquet")
    done = run(str(old), str(tmp_path / "other.parquet"))
    assert done.returncode == 2 and "not a results Parquet" in done.stderr
