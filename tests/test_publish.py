"""The publishing path (scripts/publish.py and .github/workflows/leaderboard.yml): its steps run here on the tiny
config, as CI runs them, and the workflow file calls nothing but those steps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / ".github" / "workflows"
sys.path.insert(0, str(REPO / "scripts"))
from publish import MARKER  # noqa: E402

from tests.conftest import copy_run, git, publish  # noqa: E402

BAD_ENTRY = """\
id: Bad_Entry
display_name: an entry that names no model
submitter: tests/test_publish.py
licence: Apache-2.0
teacher: tiny-bert
tasks: [sst2]
"""


@pytest.fixture(scope="module")
def checkout(tiny_workflow: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git checkout holding the tiny config, with the site published by `publish.py main` (the session's one run
    of the tiny DAG, copied: this module's tests commit to it and re-run it)."""
    return copy_run(tiny_workflow, tmp_path_factory.mktemp("checkout") / "checkout")


@pytest.mark.workflow
def test_main_publishes_the_site_the_workflow_rendered(checkout: Path) -> None:
    site = checkout / "public" / "site"
    index = (site / "index.html").read_text("utf-8")
    assert "<h1>Compressed-model leaderboard</h1>" in index
    assert (site / "downloads" / "leaderboard.parquet").read_bytes() == (
        checkout / "results" / "leaderboard.parquet"
    ).read_bytes()
    assert not (checkout / "public" / "comment.md").read_text("utf-8").strip().removeprefix(MARKER)  # all passed


@pytest.mark.workflow
def test_every_metric_of_the_tiny_run_is_described(checkout: Path) -> None:
    """leaderboard/schema.yaml describes every metric a real run writes (by name or by a metric_patterns entry), so
    the site shows none under its raw name."""
    from suite.site import load_schema

    names = set(pq.read_table(checkout / "results" / "leaderboard.parquet").column("metric").to_pylist())
    assert any("@" in name for name in names)  # slices are there to describe
    schema = load_schema(REPO / "leaderboard" / "schema.yaml").describing(names)
    assert sorted(names - set(schema.metrics)) == []
    index = (checkout / "public" / "site" / "index.html").read_text("utf-8")
    assert "not described in" not in index
    from suite.rank import row_hardware

    table = pq.read_table(checkout / "results" / "leaderboard.parquet")
    assert table.column("hardware_description").null_count == 0 and table.column("runtime_env").null_count == 0
    system = table.filter(pc.equal(table["task"], "system")).slice(0, 1).to_pylist()[0]
    # the machine in words in the table, with the timing-relevant environment variables the job ran under, if any
    assert f">{row_hardware(system)}</td>" in index


@pytest.mark.workflow
def test_a_pull_request_comment_holds_the_compare_table(checkout: Path, tmp_path: Path) -> None:
    """`pr` against a baseline where int8-dynamic was 10 points more accurate (its interval too, so the two do not
    overlap): nothing to re-run, and the comment is `suite compare`'s report with that regression in its table; the
    step's exit status is compare's 1."""
    table = pq.read_table(checkout / "results" / "leaderboard.parquet")
    mask = pc.and_(
        pc.and_(pc.equal(table["variant"], "int8-dynamic"), pc.equal(table["task"], "sst2")),
        pc.equal(table["metric"], "accuracy"),
    )
    old_value = pc.filter(table["value"], mask)[0].as_py()
    for column in ("value", "ci_low", "ci_high"):
        moved = pc.if_else(mask, pc.add(table[column], 10.0), table[column])
        table = table.set_column(table.schema.get_field_index(column), column, moved)
    baseline = tmp_path / "main.parquet"
    pq.write_table(table, baseline)
    out = tmp_path / "public"
    done = publish(
        "pr",
        *("--workdir", str(checkout), "--out", str(out), "--cores", "2"),
        *("--changed-entries-from", "HEAD", "--entry-config", "config/config.yaml", "--baseline", str(baseline)),
        cwd=checkout,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Nothing to be done" in done.stdout  # the incremental DAG: everything was up to date
    comment = (out / "comment.md").read_text("utf-8")
    assert comment.startswith(MARKER + "\n## Benchmark comparison: `main.parquet` → `leaderboard.parquet`")
    assert "**1 regression** beyond the thresholds" in comment
    assert "### Regressions (1)" in comment
    row = next(line for line in comment.splitlines() if line.startswith("| `int8-dynamic`"))
    assert "`accuracy`" in row and f"{old_value + 10:.4g}" in row and f"{old_value:.4g}" in row and "-10 pts" in row
    assert "Entry check" not in comment and "Workflow failed" not in comment  # no entry changed; the run passed
    assert (out / "site" / "index.html").is_file()


@pytest.mark.workflow
def test_a_bad_changed_entry_fails_the_check_with_check_entry_message(checkout: Path, tmp_path: Path) -> None:
    entry = checkout / "leaderboard" / "entries" / "bad-entry.yaml"
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text(BAD_ENTRY)
    git(checkout, "add", str(entry))
    git(checkout, "commit", "-q", "-m", "a bad entry")
    try:
        out = tmp_path / "public"
        args = ("--workdir", str(checkout), "--out", str(out), "--entry-config", "config/config.yaml")
        done = publish("check", *args, "--changed-entries-from", "HEAD~1", cwd=checkout)
        assert done.returncode == 1, done.stdout + done.stderr
        relative = "leaderboard/entries/bad-entry.yaml"
        expected = subprocess.run(
            [sys.executable, "-m", "suite", "check-entry", "--config", "config/config.yaml", relative],
            cwd=checkout,
            capture_output=True,
            text=True,
        )
        assert expected.returncode == 1 and f"FAIL {relative} (Bad_Entry)" in expected.stdout
        assert expected.stdout in done.stdout  # check-entry's own message, every reason
        comment = (out / "comment.md").read_text("utf-8")
        assert "## Entry check: **failed**" in comment and expected.stdout.strip() in comment
        # The pull request's steps stop at the check: nothing is run with a failing entry.
        done = publish("pr", *args, "--changed-entries-from", "HEAD~1", cwd=checkout)
        assert done.returncode == 1
        assert "snakemake" not in done.stdout and not (out / "run.md").exists()
        # Entries changed since HEAD (none): nothing to check, and the check passes.
        done = publish("check", *args, "--changed-entries-from", "HEAD", cwd=checkout)
        assert done.returncode == 0 and "nothing to check" in done.stdout
    finally:
        git(checkout, "rm", "-q", str(entry))
        git(checkout, "commit", "-q", "-m", "drop the bad entry")


def test_site_and_compare_say_what_is_missing(tmp_path: Path) -> None:
    """Before a run: no site to copy, no results to compare; each says so in one line, exit 2."""
    done = publish("site", "--workdir", str(tmp_path), "--out", str(tmp_path / "public"), cwd=tmp_path)
    assert done.returncode == 2 and "results/site/index.html does not exist" in done.stderr
    done = publish("compare", "--workdir", str(tmp_path), "--out", str(tmp_path / "public"), cwd=tmp_path)
    assert done.returncode == 2 and "results/leaderboard.parquet does not exist" in done.stderr


def test_no_baseline_is_said_in_the_comment(tmp_path: Path) -> None:
    """A first run (no results before it): the baseline step removes a stale baseline, compare says why nothing is
    compared and passes."""
    out = tmp_path / "public"
    out.mkdir()
    (out / "baseline.parquet").write_bytes(b"stale")
    done = publish("baseline", "--workdir", str(tmp_path), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0 and "no baseline" in done.stdout and not (out / "baseline.parquet").exists()
    results = tmp_path / "results" / "leaderboard.parquet"  # then the run writes its results
    results.parent.mkdir()
    pq.write_table(pa.table({"x": [1]}), results)  # compare never opens them without a baseline
    done = publish("compare", "--workdir", str(tmp_path), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0
    assert "There were no results before this run" in (out / "comment.md").read_text("utf-8")


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_the_workflow_runs_only_the_scripts_steps() -> None:
    """Every `run:` of the CI workflows is one scripts/publish.py subcommand, so CI and a local run cannot drift;
    between them the pull request and main runs use every step."""
    workflow = yaml.safe_load((WORKFLOWS / "leaderboard.yml").read_text("utf-8"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    subcommands = set(_subparsers()) - {"pr", "main"}  # the steps; pr and main run them in sequence, here
    used = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for step in _steps(yaml.safe_load(path.read_text("utf-8"))):
            if "run" in step:
                command = step["run"].strip()
                assert "\n" not in command, f"{path.name}: {step.get('name')}: one command per step"
                assert command.startswith("python scripts/publish.py "), f"{path.name}: {command}"
                used.append(command.split()[2])
    assert set(used) == subcommands
    uses = {step["uses"].split("@")[0] for step in _steps(workflow) if "uses" in step}
    assert {"actions/upload-pages-artifact", "actions/deploy-pages", "actions/cache/restore"} <= uses
    pages = next(s for s in _steps(workflow) if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert pages["with"]["path"] == "public/site"  # what `publish.py site --out public` writes


def test_the_comment_workflow_posts_what_the_script_wrote() -> None:
    workflow = yaml.safe_load((WORKFLOWS / "leaderboard-comment.yml").read_text("utf-8"))
    triggers = workflow.get("on", workflow.get(True))
    assert triggers["workflow_run"]["workflows"] == ["leaderboard"]
    script = next(s for s in _steps(workflow) if s.get("uses", "").startswith("actions/github-script"))["with"]
    assert "readFileSync('comment.md'" in script["script"] and "startsWith(marker)" in script["script"]
    upload = next(
        s
        for s in _steps(yaml.safe_load((WORKFLOWS / "leaderboard.yml").read_text("utf-8")))
        if s.get("with", {}).get("name") == "leaderboard-comment"
    )
    assert upload["with"]["path"].split() == ["public/comment.md", "public/pr-number.txt"]


def _subparsers() -> dict:
    from publish import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return dict(action.choices)
