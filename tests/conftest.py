"""Shared fixtures: the repository root, the data mirror and small hand-made task files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
MIRROR = Path(os.environ.get("SUITE_DATA_MIRROR", REPO.parent / "shared" / "data"))
PUBLISH = REPO / "scripts" / "publish.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests run only when `-m` names them (`-m slow`); any other selection, or none, skips them."""
    if "slow" in (config.getoption("markexpr") or "").replace("not slow", ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _priority_restored():
    """A test that runs a measure job in this process (suite.pipeline.measure) raises this process's priority
    (load_guard.nice); every later test would run at it, and the load guard judges runnable tasks by it. Put back
    after each test: raising the nice value back never needs privileges."""
    from suite.trackers.host import priority_restored

    with priority_restored():
        yield


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def mirror() -> Path:
    if not (MIRROR / "sst2" / "dev.tsv").is_file():
        pytest.skip(f"data mirror not found at {MIRROR}")
    return MIRROR


@pytest.fixture
def tiny_config(repo: Path, mirror: Path, monkeypatch) -> dict:
    """The tiny workflow config (tests/tiny/config/config.yaml) as a dict a test may edit, reading the data mirror."""
    monkeypatch.delenv("SUITE_DATA_MIRROR", raising=False)
    config = yaml.safe_load((repo / "tests" / "tiny" / "config" / "config.yaml").read_text())
    config["data"]["mirror"] = str(mirror)
    return config


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A copy of the repository's config/ and tasks/ that a test may edit (the suite reads both from a root)."""
    for name in ("config", "tasks"):
        shutil.copytree(REPO / name, tmp_path / name)
    return tmp_path


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory):
    """A tiny FP32 classifier artefact, built once; each test works on its own copy."""
    from suite.artefacts import save_artefact
    from suite.models import load_source_model, load_tokenizer
    from tests.tiny_models import tiny_bert

    module = load_source_model(tiny_bert(), {0: "negative", 1: "positive"}, seed=0)
    tokenizer = load_tokenizer(tiny_bert())
    directory = tmp_path_factory.mktemp("artefacts") / "teacher"
    save_artefact(module, tokenizer, "torch-fp32", directory, {"id": "teacher", "recipe": {}})
    return directory


@pytest.fixture
def artefact(tiny_teacher, tmp_path):
    import shutil

    copy = tmp_path / "teacher"
    shutil.copytree(tiny_teacher, copy)
    return copy


def publish(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """scripts/publish.py with these arguments, as CI's publishing workflow calls it."""
    return subprocess.run([sys.executable, str(PUBLISH), *args], cwd=cwd, capture_output=True, text=True, timeout=1200)


def git(workdir: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(workdir), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True,
        capture_output=True,
    )


def failed_job_logs(workdir: Path) -> str:
    """The end of every job log that holds a traceback: why a job of the DAG failed."""
    logs = sorted((workdir / "results" / "logs").rglob("*.log"))
    return "".join(
        f"\n--- {log.relative_to(workdir)}\n{log.read_text(errors='replace')[-1500:]}"
        for log in logs
        if "Traceback" in log.read_text(errors="replace")
    )


def write_tiny_config(workdir: Path, name: str = "config.yaml") -> None:
    """tests/tiny/config/<name>, reading the data mirror, as <workdir>/config/config.yaml: a working directory for
    `snakemake --directory`."""
    config = yaml.safe_load((REPO / "tests" / "tiny" / "config" / name).read_text())
    config["data"]["mirror"] = str(MIRROR)
    (workdir / "config").mkdir()
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="session")
def tiny_workflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny config's whole DAG (tests/tiny/config/config.yaml), run once per session as a push to main runs it:
    `scripts/publish.py main` in a git checkout (snakemake --cores 2, then the site copied to public/). Never
    changed: a module takes its own copy (`copy_run`), so the several modules that read a tiny run pay for one."""
    if not (MIRROR / "sst2" / "dev.tsv").is_file():
        pytest.skip(f"data mirror not found at {MIRROR}")
    workdir = tmp_path_factory.mktemp("tiny-workflow")
    write_tiny_config(workdir)
    (workdir / ".gitignore").write_text("results/\n.snakemake/\npublic/\n")
    git(workdir, "init", "-q", "-b", "main")
    git(workdir, "add", ".")
    git(workdir, "commit", "-q", "-m", "base")
    done = publish("main", "--workdir", str(workdir), "--out", str(workdir / "public"), "--cores", "2", cwd=workdir)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + failed_job_logs(workdir)
    return workdir


def copy_run(run: Path, target: Path) -> Path:
    """A copy of a workflow's working directory that Snakemake sees as up to date: the results, the .snakemake
    metadata and the git history, every file's modification time kept (copytree copies with copy2)."""
    shutil.copytree(run, target, symlinks=True)
    return target
