"""The `suite` command explains itself: help for every verb and option, --version, `suite tasks`, `suite table`'s
default task, and one error line (no traceback) for a missing or wrong Parquet given to any verb that reads one."""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from suite.cli import build_parser, main
from suite.results import SCHEMA_VERSION, Row, to_table, write_table

REPO = Path(__file__).resolve().parent.parent
TINY_CONFIG = REPO / "tests" / "tiny" / "config" / "config.yaml"
PROV = {"suite_version": "0", "seed": 1, "threads": 2, "timestamp": datetime(2026, 1, 1, tzinfo=UTC)}


def verbs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_verb_and_every_option_has_help():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helped = {choice.dest: choice.help for choice in subparsers._choices_actions}
    found = verbs(parser)
    assert {"tasks", "new-entry", "table", "check-entry", "measure", "gather"} <= set(found)
    missing = []
    for name, sub in {"suite": parser, **found}.items():
        if name != "suite" and not (helped.get(name) or "").strip():
            missing.append(f"verb {name}: no help in `suite --help`")
        if not (sub.description or "").strip():
            missing.append(f"{name}: no description in its --help")
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}: no help")
    assert missing == []


def test_version_names_the_package_and_the_results_schema(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == (
        f"suite {version('compressed-model-suite')} (compressed-model-suite; results schema v{SCHEMA_VERSION})\n"
    )


# --- suite tasks --------------------------------------------------------------------------------------------------


def task_rows(out: str) -> dict[str, list[str]]:
    """`suite tasks` output as task -> its cells (columns are separated by at least two spaces)."""
    lines = out.splitlines()
    assert lines[0].split() == ["task", "version", "kind", "instances", "data", "tracks"]
    return {line.split()[0]: [c.strip() for c in line.split("  ") if c.strip()] for line in lines[1:-1]}


def test_tasks_lists_every_task_with_its_instances(mirror, monkeypatch, capsys):
    monkeypatch.setenv("SUITE_DATA_MIRROR", str(mirror))
    assert main(["tasks", "--config", str(TINY_CONFIG)]) == 0
    out = capsys.readouterr().out
    rows = task_rows(out)
    assert set(rows) == {p.name for p in (REPO / "tasks").iterdir() if (p / f"{p.name}.yaml").is_file()}
    assert rows["sst2"] == ["sst2", "1.1", "classification", "872", "sst2/dev.tsv", "classifier"]
    assert rows["stability-stress"][3:] == ["15", "generated (stress: inputs.yaml)", "classifier"]
    assert rows["uci-amazon"][-1] == "-"  # not a task of the tiny config
    assert out.splitlines()[-1].startswith(f"data mirror: {Path(mirror).resolve()}")


def test_tasks_says_when_the_mirror_lacks_a_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SUITE_DATA_MIRROR", str(tmp_path))  # an empty mirror: nothing is fetched from the Hub
    assert main(["tasks", "--config", str(TINY_CONFIG)]) == 0
    rows = task_rows(capsys.readouterr().out)
    assert rows["sst2"][3:5] == ["not counted: file not in the mirror", "sst2/dev.tsv (MISSING)"]
    assert rows["checklist-sentiment"][3] == "1,100"  # generated from files beside the task: no mirror needed


def test_tasks_reports_an_unknown_task_of_the_config(tmp_path, monkeypatch, capsys):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["tasks"] = ["stability-stress", "sst3"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("SUITE_DATA_MIRROR", str(tmp_path))
    assert main(["tasks", "--config", str(path)]) == 2
    done = capsys.readouterr()
    assert task_rows(done.out)["sst3"] == ["sst3", "invalid (below)", "classifier"]
    assert done.err.splitlines() == [
        f"error: {path}: field 'tasks': unknown task 'sst3'; did you mean 'sst2'? (known: "
        + ", ".join(sorted(p.name for p in (REPO / "tasks").iterdir() if (p / f"{p.name}.yaml").is_file()))
        + ") — fix: add tasks/sst3/sst3.yaml or fix the name"
    ]


# --- suite table --------------------------------------------------------------------------------------------------


@pytest.fixture
def results(tmp_path) -> Path:
    rows = [
        Row("teacher", "accuracy", 90.0, "%", True, task="sst2", task_version="1.1", ci_low=88.0, ci_high=92.0),
        Row("small", "accuracy", 89.0, "%", True, task="sst2", task_version="1.1"),
        Row("teacher", "accuracy", 80.0, "%", True, task="uci-amazon", task_version="1.0"),
        Row("small", "accuracy", 70.0, "%", True, task="uci-amazon", task_version="1.0"),
        Row("teacher", "latency_p50_ms", 10.0, "ms", False),
        Row("small", "latency_p50_ms", math.nan, "ms", False, status="failed", error="boom"),
    ]
    path = tmp_path / "results.parquet"
    write_table(to_table(rows, {"method": "m"}, {**PROV, "hardware_description": MACHINE}), path)
    return path


MACHINE = "Test CPU @ 3.0GHz, 2 of 16 logical cores, AVX2"


def test_table_shows_the_main_task_and_the_hardware_and_says_so(results, capsys):
    assert main(["table", "--input", str(results)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"Task `sst2` (the main task of leaderboard/schema.yaml; --task picks another), from {results}:"
    )
    assert lines[2] == f"Hardware: {MACHINE}"  # every row on one machine: a line, not a column
    assert lines[6].startswith("| `teacher` | m | 90.00 [88.00, 92.00] |")
    assert main(["table", "--input", str(results), "--task", "uci-amazon"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"Task `uci-amazon` (given by --task), from {results}:"
    assert lines[6].startswith("| `teacher` | m | 80.00 |")


def test_table_unknown_task_is_one_line_with_did_you_mean(results):
    done = subprocess.run(
        [sys.executable, "-m", "suite", "table", "--input", str(results), "--task", "sst"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        f"error: {results}: unknown task 'sst'; did you mean 'sst2'? (known: sst2, uci-amazon) — fix: pass --task "
        "with a task of the file\n"
    )


# --- a missing or wrong Parquet -----------------------------------------------------------------------------------


def bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, what the error line says about it)."""
    text = tmp_path / "text.parquet"
    text.write_text("not parquet")
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"a": [1]}), other)
    return {
        "missing": (tmp_path / "missing.parquet", "file not found"),
        "text": (text, "not a Parquet file"),
        "other": (other, "columns of"),
        "directory": (tmp_path, "is a directory"),
    }


VERBS = {
    "table": lambda f, ok, out: ["table", "--input", f],
    "recommend": lambda f, ok, out: ["recommend", "--input", f],
    "compare-old": lambda f, ok, out: ["compare", f, ok],
    "compare-new": lambda f, ok, out: ["compare", ok, f],
    "render": lambda f, ok, out: ["render", "--input", f, "--output", out],
    "run-status": lambda f, ok, out: ["run-status", "--input", f],
    "combine": lambda f, ok, out: ["combine", "--input", ok, f, "--output", out],
    "gather-metrics": lambda f, ok, out: ["gather", "--config", str(TINY_CONFIG), "--metrics", f, "--output", out],
    "gather-predictions": lambda f, ok, out: [
        *("gather", "--config", str(TINY_CONFIG), "--metrics", ok, "--predictions", f, "--output", out)
    ],
}


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_a_bad_parquet_is_one_error_line_naming_it(tmp_path, results, mirror, monkeypatch, verb):
    monkeypatch.setenv("SUITE_DATA_MIRROR", str(mirror))  # gather plans the tiny config
    cases = bad_inputs(tmp_path)
    for name in ("missing", "other") if verb.startswith("gather") else sorted(cases):  # gather: a slower load each
        path, problem = cases[name]
        args = VERBS[verb](str(path), str(results), str(tmp_path / "out"))
        done = subprocess.run(
            [sys.executable, "-m", "suite", *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "TQDM_DISABLE": "1"},
        )
        errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert done.returncode == 2, (verb, name, done.stderr)
        assert "Traceback" not in done.stderr, (verb, name, done.stderr)
        assert len(errors) == 1 and errors[0].startswith(f"error: {path}: "), (verb, name, done.stderr)
        assert problem in errors[0] and " — fix: give " in errors[0], (verb, name, errors[0])
        if verb == "gather-predictions" and name == "other":
            assert "not a predictions Parquet: 8 of the 8 columns of the predictions schema" in errors[0]
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
