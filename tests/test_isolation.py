"""Isolation: a job that fails leaves the record of why as its outputs, the variant's later jobs record failed rows
with that reason, NaN on any task fails the task, and the run's verdict says what failed."""

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture
def cfg(tiny_config, repo):
    from suite.plan import load

    tiny_config["tasks"] = ["sst2", "stability-stress"]
    return load(tiny_config, repo)


TRACEBACK_LOG = """loading model
Traceback (most recent call last):
  File "x.py", line 1, in <module>
OSError: We couldn't connect to 'https://huggingface.co'
error: OSError: We couldn't connect to 'https://huggingface.co'
"""


@pytest.mark.parametrize(
    ("log", "status", "expected"),
    [
        (TRACEBACK_LOG, 1, "OSError: We couldn't connect to 'https://huggingface.co'"),
        ("step 1\nstep 2\n", 137, "killed by signal 9 (SIGKILL: out of memory, or a time limit?); last output: step 2"),
        ("", 3, "exit status 3: it printed nothing"),
        ("Segmentation fault\n", 1, "exit status 1: Segmentation fault"),
    ],
)
def test_the_reason_of_a_failed_job_is_read_from_its_log(tmp_path, log, status, expected):
    from suite.pipeline import failure_reason

    path = tmp_path / "job.log"
    path.write_text(log)
    assert failure_reason(path, status) == expected


def test_the_cli_ends_an_unexpected_error_with_one_error_line(capsys, tmp_path):
    from suite.cli import main

    (tmp_path / "bad.json").write_text("{}")
    assert main(["gather", "--resolved", str(tmp_path / "bad.json"), "--metrics", "x", "--output", "y"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: KeyError: 'config'"


def test_a_failed_build_is_an_artefact_that_says_why_and_cannot_be_loaded(cfg, tmp_path):
    from suite.artefacts import ArtefactNotBuiltError, load_artefact, read_record
    from suite.pipeline import record_failure

    out = tmp_path / "models" / "bf16"
    record_failure(cfg, "build", "bf16", "OSError: no Hub here", output=out)
    assert [p.name for p in out.iterdir()] == ["variant.json"]
    record = read_record(out)
    assert (record["status"], record["stage"], record["error"]) == ("failed", "build", "OSError: no Hub here")
    assert (record["parent"], record["method"], record["artefact_sha256"]) == ("teacher", "cast", None)
    with pytest.raises(ArtefactNotBuiltError, match=r"variant 'bf16' was not built \(build failed: OSError: no Hub"):
        load_artefact(out)


def test_a_child_of_a_failed_build_is_recorded_as_failed_naming_its_parent(cfg, tmp_path):
    from suite.artefacts import read_record
    from suite.pipeline import build_variant, record_failure

    record_failure(cfg, "build", "pruned-30", "MemoryError: ", output=tmp_path / "pruned-30")
    build_variant(cfg, "pruned-30-int8", tmp_path / "pruned-30", tmp_path / "pruned-30-int8")
    record = read_record(tmp_path / "pruned-30-int8")
    assert record["status"] == "failed"
    assert record["error"] == "its parent 'pruned-30' was not built (build failed: MemoryError: )"


def test_evaluating_and_measuring_a_failed_build_records_every_task_metric_failed(cfg, tmp_path):
    from suite.pipeline import evaluate, measure, record_failure
    from suite.results import read_results

    record_failure(cfg, "build", "bf16", "OSError: no Hub here", output=tmp_path / "bf16")
    evaluate(cfg, "bf16", tmp_path / "bf16", tmp_path / "pred.parquet", tmp_path / "metrics.parquet")
    rows = read_results([tmp_path / "metrics.parquet"]).to_pylist()
    expected = {(t.name, m) for t in cfg.tasks for m in t.metrics}
    assert {(r["task"], r["metric"]) for r in rows} == expected
    assert all(r["status"] == "failed" and math.isnan(r["value"]) for r in rows)
    assert {r["error"] for r in rows} == {"build failed: OSError: no Hub here"}
    assert {r["artefact_sha256"] for r in rows} == {None} and {r["method"] for r in rows} == {"cast"}
    assert pq.read_table(tmp_path / "pred.parquet").num_rows == 0
    measure(cfg, "bf16", tmp_path / "bf16", tmp_path / "peak.json", tmp_path / "measure.parquet")
    rows = read_results([tmp_path / "measure.parquet"]).to_pylist()
    assert {r["metric"] for r in rows} == {"latency_p50_ms", "size_mb", "peak_rss_mb"}
    assert {(r["status"], r["error"]) for r in rows} == {("failed", "build failed: OSError: no Hub here")}


def test_a_crashed_evaluation_or_measurement_leaves_failed_rows_with_the_artefact_hash(cfg, artefact, tmp_path):
    from suite.artefacts import read_record
    from suite.pipeline import record_failure
    from suite.results import read_results

    kwargs = {"model": artefact, "metrics": tmp_path / "m.parquet", "predictions": tmp_path / "p.parquet"}
    record_failure(cfg, "evaluate", "teacher", "killed by signal 9", **kwargs)
    rows = read_results([tmp_path / "m.parquet"]).to_pylist()
    assert {r["error"] for r in rows} == {"evaluate failed: killed by signal 9"}
    assert {r["artefact_sha256"] for r in rows} == {read_record(artefact)["artefact_sha256"]}
    record_failure(cfg, "measure", "teacher", "RuntimeError: x", model=artefact, output=tmp_path / "s.parquet")
    rows = read_results([tmp_path / "s.parquet"]).to_pylist()
    assert {(r["task"], r["status"], r["error"]) for r in rows} == {
        ("system", "failed", "measure failed: RuntimeError: x")
    }


def test_failed_teacher_targets_fail_the_distilled_student_and_a_failed_probe_only_its_figure(cfg, artefact, tmp_path):
    from suite.artefacts import read_record
    from suite.measure import flops_rows
    from suite.pipeline import build_variant, output_failure, record_failure

    logits = tmp_path / "teacher_logits.parquet"
    record_failure(cfg, "teacher-logits", None, "MemoryError: ", output=logits)
    assert output_failure(logits) == "MemoryError: "
    build_variant(cfg, "distil-1l", artefact, tmp_path / "distil-1l", logits)
    assert read_record(tmp_path / "distil-1l")["error"] == (
        "the teacher's distillation targets were not computed (MemoryError: )"
    )
    peak = tmp_path / "peak.json"
    record_failure(cfg, "probe-peak", None, "RuntimeError: no BLAS", output=peak)
    assert output_failure(peak) == "RuntimeError: no BLAS"

    class Model:
        def flops(self, query):
            return 2e9, "counted"

        def rows(self, query):
            return 1

    rows = flops_rows("teacher", Model(), ["q"], json.loads(peak.read_text()), latency_p50_ms=10.0, threads=1)
    assert [(r.metric, r.status) for r in rows] == [
        ("gflops_per_sample", "ok"),
        ("achieved_gflops", "ok"),
        ("pct_of_peak_flops", "failed"),
    ]
    assert rows[1].value == pytest.approx(200.0)
    assert rows[2].error == "the machine's peak was not probed: RuntimeError: no BLAS"


def test_non_finite_logits_on_any_instance_fail_every_metric_of_the_task_naming_the_share():
    from suite.pipeline import nonfinite_verdict
    from suite.results import Row

    rows = [Row("v", "accuracy", 75.0, "%", True, task="sst2"), Row("v", "nonfinite_rate", 25.0, "%", False)]
    table = pa.table({"finite": [True, False, True, True]})
    out = nonfinite_verdict(table, rows)
    assert [(r.metric, r.value, r.status) for r in out] == [
        ("accuracy", 75.0, "failed"),
        ("nonfinite_rate", 25.0, "failed"),
    ]
    assert {r.error for r in out} == {"non-finite logits (NaN/inf) on 1 of 4 instances (25.0 %)"}
    assert nonfinite_verdict(pa.table({"finite": [True, True]}), rows) == rows


def test_a_variant_with_non_finite_outputs_on_any_task_is_never_ranked_on_any_task():
    from suite.rank.groups import build_groups

    def record(variant, task, metric, value, status="ok", error=None):
        return {
            "variant": variant, "task": task, "task_version": "1", "metric": metric, "value": value,
            "status": status, "error": error, "unit": "%", "ci_low": None, "ci_high": None, "n": 10,
            "measurement": "", "estimate": False, "method": "m", "parent": "teacher", "hardware_fingerprint": "hw",
        }  # fmt: skip

    nan = "non-finite logits (NaN/inf) on 3 of 40 instances (7.5 %)"
    records = [
        record("teacher", "sst2", "accuracy", 90.0),
        record("v", "sst2", "accuracy", 89.0),  # fine on the main task ...
        record("v", "stress", "nonfinite_rate", 7.5, "failed", nan),  # ... NaN on stress inputs
        record("w", "sst2", "accuracy", 88.0),
    ]
    (group,) = [g for g in build_groups(records) if g.task == "sst2"]
    assert group.candidate("v").value("accuracy") is None
    assert group.candidate("v").problem("accuracy") == f"accuracy failed: stress: {nan}"
    assert group.candidate("w").value("accuracy") == 88.0 and group.teacher.value("accuracy") == 90.0


def test_the_run_status_lists_failures_by_variant_and_reason_and_rejected_entries(tmp_path):
    from suite.provenance import provenance
    from suite.results import Row, to_table, write_table
    from suite.summary import run_status

    lineage = {"family": "classifier", "teacher": "t", "parent": "teacher", "method": "m"}
    prov = provenance(config_hash="c", artefact_sha256=None, data_sha256=None, seed=0, threads=1)
    ok = [Row("teacher", "accuracy", 90.0, "%", True, task="sst2")]
    failed = [
        Row("fp16", m, math.nan, "", None, task=t, status="failed", error="build failed: OSError: x")
        for t in ("sst2", "stress")
        for m in ("accuracy", "macro_f1", "nonfinite_rate")
    ]
    path = tmp_path / "leaderboard.parquet"
    write_table(to_table(ok, lineage, prov), path)
    assert run_status(path, []) == ("run status: ok (1 numbers of 1 variants, none failed)", False)
    write_table(to_table(ok + failed, lineage, prov), path)
    resolved = tmp_path / "config.resolved.json"
    problem = {"field": "id", "message": "entries/x.yaml: field 'id': bad (fix: rename)"}
    resolved.write_text(json.dumps({"entries": {"rejected": [{"file": "entries/x.yaml", "problems": [problem]}]}}))
    text, failed_any = run_status(path, [resolved])
    assert failed_any
    assert text.splitlines() == [
        "run status: FAILED (1 of 2 variants have failed numbers, 1 entry rejected); the leaderboard and site hold "
        "the rest",
        "failed numbers, by variant and reason:",
        "  fp16: 6 numbers failed (sst2 accuracy, sst2 macro_f1, sst2 nonfinite_rate, stress accuracy and 2 more): "
        "build failed: OSError: x",
        "rejected entries (nothing of them was run):",
        "  entries/x.yaml: field 'id': bad (fix: rename)",
    ]


def test_a_job_refuses_a_resolved_config_rewritten_after_it_was_planned(cfg, tmp_path, monkeypatch, capsys):
    from suite.cli import main
    from suite.config import PLANNED_CONFIG_HASHES, write_resolved

    resolved = tmp_path / "config.resolved.json"
    write_resolved(cfg, resolved)
    monkeypatch.setenv(PLANNED_CONFIG_HASHES, "classifier=" + "0" * 64)
    assert main(["check-config", "--resolved", str(resolved)]) == 2
    err = capsys.readouterr().err
    assert f"error: {resolved}: field 'config_hash': is {cfg.config_hash}, but this job was planned with config " in err
    assert "run snakemake again" in err
    monkeypatch.setenv(PLANNED_CONFIG_HASHES, f"classifier={cfg.config_hash}")
    assert main(["check-config", "--resolved", str(resolved)]) == 0


def test_gather_keeps_paired_speedups_and_refuses_a_ratio_across_two_machine_types(cfg, tmp_path):
    """A measured (paired) speedup is kept as measured; an unpaired ratio (old results) is derived only within one
    hardware fingerprint, and refused otherwise, naming both."""
    from suite.pipeline import gather
    from suite.provenance import provenance
    from suite.results import Row, to_table, write_table

    prov = provenance(config_hash="c", artefact_sha256=None, data_sha256=None, seed=0, threads=1)
    here = {**prov, "hardware_fingerprint": "aaaaaaaaaaaaaaaa", "hardware_description": "CPU A"}
    there = {**prov, "hardware_fingerprint": "bbbbbbbbbbbbbbbb", "hardware_description": "CPU B"}
    lineage = {"family": "classifier", "teacher": "t", "parent": "teacher", "method": "m"}
    tables = {
        "teacher": (here, [Row("teacher", "latency_p50_ms", 8.0, "ms", False),
                           Row("teacher", "speedup_p50", 0.99, "x", True, ci_low=0.97, ci_high=1.02, n=40),
                           Row("teacher", "decode_tokens_per_s", 20.0, "tokens/s", True)]),
        "int8-dynamic": (here, [Row("int8-dynamic", "latency_p50_ms", 3.0, "ms", False),
                                Row("int8-dynamic", "speedup_p50", 2.5, "x", True, ci_low=2.4, ci_high=2.6, n=40),
                                Row("int8-dynamic", "decode_tokens_per_s", 50.0, "tokens/s", True),
                                Row("int8-dynamic", "decode_speedup", 2.4, "x", True, ci_low=2.3, ci_high=2.6)]),
        "pruned-30": (here, [Row("pruned-30", "latency_p50_ms", 4.0, "ms", False),  # written before paired timing
                             Row("pruned-30", "decode_tokens_per_s", 30.0, "tokens/s", True)]),
        "bf16": (there, [Row("bf16", "latency_p50_ms", 2.0, "ms", False)]),  # another machine type, unpaired
    }  # fmt: skip
    files = []
    for variant, (provenance_of, rows) in tables.items():
        files.append(tmp_path / f"{variant}.parquet")
        write_table(to_table(rows, lineage, provenance_of), files[-1])
    gather(cfg, files, [], tmp_path / "all.parquet")
    rows = pq.read_table(tmp_path / "all.parquet").to_pandas()
    speedup = rows[rows.metric == "speedup_p50"].set_index("variant")
    assert len(speedup) == 4  # one each: measured ones kept, no second derived row beside them
    assert speedup.loc["int8-dynamic", "value"] == 2.5 and speedup.loc["int8-dynamic", "ci_low"] == 2.4
    assert speedup.loc["teacher", "value"] == 0.99  # the A/A row, not a derived 1.0
    assert speedup.loc["pruned-30", "value"] == 2.0 and speedup.loc["pruned-30", "measurement"].startswith("unpaired")
    refused = speedup.loc["bf16"]
    assert refused.status == "failed" and math.isnan(refused.value)
    assert "bbbbbbbbbbbbbbbb (CPU B), the teacher's on aaaaaaaaaaaaaaaa (CPU A)" in refused.error
    # per-token speedups alike: a paired decode_speedup stays as measured, an old result's is the ratio of rates
    decode = rows[rows.metric == "decode_speedup"].set_index("variant")
    assert sorted(decode.index) == ["int8-dynamic", "pruned-30", "teacher"]  # one row each
    assert decode.loc["int8-dynamic", "value"] == 2.4 and decode.loc["int8-dynamic", "ci_low"] == 2.3
    assert decode.loc["pruned-30", "value"] == 1.5 and decode.loc["teacher", "value"] == 1.0
