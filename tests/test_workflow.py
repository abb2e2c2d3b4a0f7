"""The tiny workflow config through Snakemake end to end: every rule, the Parquet, the site, and reruns."""

import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

pytestmark = pytest.mark.workflow  # runs a whole Snakemake DAG

REPO = Path(__file__).resolve().parent.parent
VARIANTS = {
    *("teacher", "int8-dynamic", "pruned-30", "pruned-30-int8", "bf16"),
    *("distil-1l", "heads-ffn-50", "heads-ffn-50-ort-int8", "torchao-int8", "sparse-24"),
}
TASKS = {"sst2", "sst2-perturb", "checklist-sentiment", "stability-stress", "eec-fairness"}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def tiny_run(tiny_workflow: Path, tmp_path_factory) -> Path:
    """The session's one run of the tiny DAG (conftest's tiny_workflow), copied: this module edits its config."""
    from tests.conftest import copy_run

    return copy_run(tiny_workflow, tmp_path_factory.mktemp("tiny") / "tiny")


def test_leaderboard_has_every_variant_and_metric(tiny_run: Path):
    table = pq.read_table(tiny_run / "results" / "leaderboard.parquet").to_pandas()
    assert set(table.variant) == VARIANTS
    required = {
        "accuracy",
        "macro_f1",
        "latency_mean_ms",
        "latency_std_ms",
        "latency_p50_ms",
        "latency_p99_ms",
        "size_mb",
        "param_mb",
        "sparsity",
        "speedup_p50",
        "size_reduction_pct",
        "accuracy_drop_pts",
    }
    for variant, rows in table.groupby("variant"):
        assert required <= set(rows.metric), variant
    assert (table.status == "ok").all()
    assert set(table.task) == TASKS | {"system"}
    acc = table[(table.metric == "accuracy") & (table.task == "sst2")].set_index("variant")
    assert (acc.n == 872).all()  # the whole SST-2 dev set
    assert (acc.ci_low <= acc.value).all() and (acc.value <= acc.ci_high).all()
    sparsity = table[table.metric == "sparsity"].set_index("variant").value
    assert sparsity["pruned-30"] == pytest.approx(30.0, abs=0.05)  # 30 % of each tensor, rounded to whole weights
    assert sparsity["pruned-30-int8"] == pytest.approx(30.0, abs=1.0)  # int8 rounding adds a few zeros
    assert acc.value["teacher"] > 65  # the tiny teacher learned SST-2 (75.1 % when its config was chosen)
    drop = table[(table.metric == "accuracy_drop_pts") & (table.task == "sst2")].set_index("variant").value
    assert drop["teacher"] == 0.0
    value = {(r.variant, r.metric): r.value for r in table.itertuples() if r.task in ("sst2", "system")}
    for variant in VARIANTS:  # derived figures agree with their inputs
        assert value[(variant, "accuracy_drop_pts")] == pytest.approx(
            value[("teacher", "accuracy")] - value[(variant, "accuracy")]
        )
    system = table[table.task == "system"]
    for variant, rows in system.groupby("variant"):  # every variant timed paired with the teacher, in its own job
        by = rows.set_index("metric")
        speedup = by.loc["speedup_p50"]
        assert speedup.ci_low <= speedup.value <= speedup.ci_high and speedup.n >= 20, variant
        assert speedup.measurement.startswith("paired: per round the median latency of 'teacher'"), variant
        assert ("A/A" in speedup.measurement) == (variant == "teacher"), variant  # the teacher: against its copy
        assert by.loc["reference_latency_p50_ms"].value > 0
        for batch in (1, 8):
            assert by.loc[f"throughput_speedup@bs{batch}"].n >= 10 and by.loc[f"throughput_bs{batch}_sps"].value > 0
        assert (
            by.loc["contended"].value in (0.0, 1.0)
            and "load guard over the timed steps" in by.loc["contended"].measurement
        )
        shares = rows[rows.metric.str.startswith("op_time_share@")]
        assert len(shares) >= 2 and shares.value.sum() == pytest.approx(100.0, abs=0.01), variant
    assert value[("int8-dynamic", "param_mb")] < value[("teacher", "param_mb")]
    for column in (
        "git_commit",
        "config_hash",
        "artefact_sha256",
        "data_sha256",
        "cpu_model",
        "library_versions",
        "host_id",
    ):
        assert table[column].notna().all() and (table[column] != "").all(), column
    assert (table.threads == 1).all() and (table.seed == 7).all()


def test_every_task_kind_reports_its_metrics_and_fidelity(tiny_run: Path):
    table = pq.read_table(tiny_run / "results" / "leaderboard.parquet").to_pandas()
    tasks = table[table.task != "system"]
    assert tasks.groupby("task").task_version.nunique().max() == 1
    assert (tasks.data_sha256.str.len() == 64).all()  # file sha256, or sha256 of the generated instances
    metrics = {t: set(rows.metric) for t, rows in tasks[tasks.variant == "bf16"].groupby("task")}
    assert {"accuracy", "macro_f1", "mcc", "ece", "accuracy_drop_pts", "mcnemar_p", "agreement"} <= metrics["sst2"]
    assert {"kl_teacher_student", "accuracy_retained_pct", "mlperf_99", "mlperf_99_9"} <= metrics["sst2"]
    assert {"accuracy@typo_s3", "flip_rate@typo_s3", "accuracy@worst_case", "accuracy_drop_pts@casing_s3"} <= metrics[
        "sst2-perturb"
    ]
    assert {"failure_rate", "failure_rate@mft_negated_positive", "failure_rate_change_pts@inv_person_name"} <= metrics[
        "checklist-sentiment"
    ]
    assert {"nonfinite_rate", "nonfinite_rate@all_inputs", "nonfinite_rate@empty"} <= metrics["stability-stress"]
    assert {"dp_diff@gender", "dp_diff@race", "positive_rate@gender=female", "dp_diff_change@race"} <= metrics[
        "eec-fairness"
    ]
    teacher = tasks[(tasks.variant == "teacher") & (tasks.metric == "agreement")]
    assert (teacher.value == 100.0).all() and len(teacher) == len(TASKS)
    # fidelity tells students apart: the one-layer distilled student agrees less with the teacher than its INT8 copy
    # does, and its probabilities are further away (87.6 % and KL 0.086 against 100 % and 0.000 when measured)
    sst2 = tasks[tasks.task == "sst2"].set_index(["variant", "metric"]).value
    assert sst2[("distil-1l", "agreement")] < sst2[("int8-dynamic", "agreement")]
    assert sst2[("distil-1l", "kl_teacher_student")] > sst2[("int8-dynamic", "kl_teacher_student")]
    predictions = pq.read_table(tiny_run / "results" / "classifier" / "predictions" / "bf16.parquet")
    predictions = predictions.filter(pa.compute.equal(predictions["task"], "sst2-perturb"))
    assert predictions.num_rows
    assert {"label", "pred", "probs", "slice", "ref"} <= set(predictions.column_names)


def test_lineage_recorded_in_variant_json(tiny_run: Path):
    import json

    record = json.loads(
        (tiny_run / "results" / "classifier" / "models" / "pruned-30-int8" / "variant.json").read_text()
    )
    parent = json.loads((tiny_run / "results" / "classifier" / "models" / "pruned-30" / "variant.json").read_text())
    assert record["lineage"] == ["teacher", "pruned-30", "pruned-30-int8"]
    assert record["parent_artefact_sha256"] == parent["artefact_sha256"]
    assert record["teacher"] == "tiny-bert" and record["recipe"] == {
        "method": "dynamic_quant",
        "params": {"dtype": "qint8"},
    }


def test_site_has_one_row_per_variant(tiny_run: Path):
    html = (tiny_run / "results" / "site" / "index.html").read_text()
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert body.count("<tr") == len(VARIANTS)
    for variant in VARIANTS:
        assert f">{variant}<" in html


def test_nothing_to_do_after_a_run_and_a_recipe_change_reruns_only_its_descendants(tiny_run: Path):
    dry = snakemake(tiny_run, "-n", "--cores", "2")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
    config_file = tiny_run / "config" / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["variants"][1]["params"]["amount"] = 0.4  # pruned-30 (parent of pruned-30-int8)
    config_file.write_text(yaml.safe_dump(config))
    dry = snakemake(tiny_run, "-n", "--cores", "2", "--quiet", "rules")
    out = dry.stdout + dry.stderr
    assert dry.returncode == 0, out
    assert "build_variant        2" in out and "build_teacher" not in out


def test_bad_config_fails_at_load_with_one_clear_line(tmp_path: Path):
    from tests.conftest import MIRROR

    config = yaml.safe_load((REPO / "tests" / "tiny" / "config" / "config.yaml").read_text())
    config["data"]["mirror"] = str(MIRROR)
    config["variants"][0]["method"] = "dynamic_qaunt"
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    done = snakemake(tmp_path, "-n", "--cores", "1")
    assert done.returncode != 0
    out = done.stdout + done.stderr  # Snakemake prints load errors on stdout
    assert "config/config.yaml: field 'variants[0].method'" in out and "did you mean 'dynamic_quant'" in out
    assert not (tmp_path / "results" / "classifier" / "models").exists()
    shutil.rmtree(tmp_path / "config")


def test_the_snakemake_report_holds_the_site_and_the_results(tiny_run: Path, tmp_path: Path):
    import zipfile

    done = snakemake(tiny_run, "--report", str(tmp_path / "report.zip"))
    assert done.returncode == 0, done.stderr[-2000:]
    names = zipfile.ZipFile(tmp_path / "report.zip").namelist()
    raw = [n for n in names if "/data/raw/" in n]  # the files marked report() in rules/report.smk
    assert any(n.endswith("/leaderboard.parquet") and "/downloads/" not in n for n in raw)
    assert any(n.endswith("/index.html") for n in raw) and any(n.endswith("/figures/") or "/figures/" in n for n in raw)
    assert any(n.endswith("report.html") for n in names)
