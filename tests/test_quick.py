"""`suite quick`: one model against the built teacher in one process, through the workflow's own steps."""

import json
import os
import shutil
from pathlib import Path

import pytest

from suite.errors import SuiteInputError


@pytest.fixture
def quick_setup(tiny_config, tiny_teacher, repo, tmp_path):
    """The tiny config cut to SST-2 with short timing, and a results directory holding its built teacher."""
    from suite.plan import load

    tiny_config["tasks"] = ["sst2"]
    tiny_config["latency"] = {
        "sample_size": 16, "warmup_runs": 2, "min_runs": 20, "min_seconds": 0.05, "paired_block": 5,
        "paired_min_rounds": 6,
    }  # fmt: skip
    cfg = load(tiny_config, repo)
    results = tmp_path / "results"
    teacher = results / cfg.family / "models" / "teacher"
    shutil.copytree(tiny_teacher, teacher)
    record = json.loads((teacher / "variant.json").read_text())  # as build_teacher writes it (not hashed)
    record.update(method="teacher", parent=None, lineage=["teacher"], teacher=cfg.teacher.id)
    (teacher / "variant.json").write_text(json.dumps(record))
    return cfg, results


def test_quick_benchmarks_a_local_model_directory_against_the_teacher(quick_setup, tiny_teacher, tmp_path):
    """The teacher's own weights as a user's checkpoint: the same accuracy to the last digit, full agreement, the
    same size, and a paired speedup whose interval holds its estimate."""
    from suite.quick import print_summary, run_quick

    cfg, results = quick_setup
    mine = tmp_path / "My Model"
    mine.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_teacher / name, mine / name)
    nice_before = os.getpriority(os.PRIO_PROCESS, 0)
    summary = run_quick(cfg, str(mine), results=results)
    assert summary["model"] == "quick-my-model" and summary["timed_on"] == "sst2"
    assert summary["priority"].startswith("timed at nice ")  # the track's load_guard.nice, or why it was refused
    assert os.getpriority(os.PRIO_PROCESS, 0) == nice_before  # put back: the caller's process goes on
    accuracy = summary["tasks"]["sst2"]["metrics"]["accuracy"]
    assert accuracy["model"]["value"] == accuracy["teacher"]["value"]
    assert accuracy["model"]["ci_low"] <= accuracy["model"]["value"] <= accuracy["model"]["ci_high"]
    relative = summary["tasks"]["sst2"]["teacher_relative"]
    assert relative["accuracy_drop_pts"]["value"] == 0.0 and relative["agreement"]["value"] == 100.0
    assert relative["mcnemar_p"]["value"] == 1.0 and relative["kl_teacher_student"]["value"] == pytest.approx(0.0)
    system = summary["system"]
    assert system["size_mb"]["model"]["value"] == system["size_mb"]["teacher"]["value"]
    assert system["size_reduction_pct"]["model"]["value"] == 0.0
    speedup = system["speedup_p50"]["model"]
    assert speedup["ci_low"] <= speedup["value"] <= speedup["ci_high"] and speedup["n"] >= 6
    assert system["latency_p50_ms"]["teacher"]["value"] > 0  # the teacher's, from the same rounds
    rows = summary["rows"]
    assert {r["variant"] for r in rows} == {"teacher", "quick-my-model"} and json.dumps(rows)
    paired = next(r for r in rows if r["metric"] == "speedup_p50")
    assert paired["measurement"].startswith("paired: per round the median latency of 'teacher'")
    text = print_summary(summary)
    assert f"({summary['priority']})" in text
    assert "task sst2" in text and "speedup_p50" in text and "the leaderboard is built by `snakemake`" in text
    assert not list(results.glob("classifier/models/quick-*"))  # nothing of quick's under results/


def test_quick_takes_a_built_variant_by_name(quick_setup, tmp_path):
    from suite.pipeline import build_variant
    from suite.quick import run_quick

    cfg, results = quick_setup
    models = results / cfg.family / "models"
    build_variant(cfg, "pruned-30", models / "teacher", models / "pruned-30")
    summary = run_quick(cfg, "pruned-30", results=results, tasks=["sst2"])
    assert summary["model"] == "pruned-30" and summary["source"].startswith("built variant")
    assert summary["system"]["size_mb"]["model"]["value"] == summary["system"]["size_mb"]["teacher"]["value"]
    assert summary["tasks"]["sst2"]["metrics"]["accuracy"]["model"]["value"] is not None


@pytest.mark.parametrize(
    ("model", "options", "expected"),
    [
        ("nowhere/at-all", {}, "is neither a directory nor a pinned Hub id nor a built variant"),
        ("owner/name@" + "a" * 40, {}, "needs the sha256 of its model.safetensors"),
        ("EMPTY", {}, "has no config.json and model.safetensors"),
        ("teacher-dir", {}, "is an artefact of a run"),
        ("pruned-30", {"tasks": ["sst-2"]}, "did you mean 'sst2'"),
    ],
)
def test_quick_refuses_what_it_cannot_run_with_one_clear_error(quick_setup, tmp_path, model, options, expected):
    from suite.quick import run_quick

    cfg, results = quick_setup
    if model == "EMPTY":
        model = str(tmp_path / "empty")
        Path(model).mkdir()
    if model == "teacher-dir":
        model = str(results / cfg.family / "models" / "teacher")
    with pytest.raises(SuiteInputError, match=expected):
        run_quick(cfg, model, results=results, **options)


def test_quick_needs_a_built_teacher_and_says_how_to_build_it(quick_setup, tmp_path):
    from suite.quick import run_quick

    cfg, _ = quick_setup
    with pytest.raises(SuiteInputError, match=r"is not built .* `snakemake --cores \d+ .*models/teacher`"):
        run_quick(cfg, "pruned-30", results=tmp_path / "no-results")
