"""Shared fixtures: the repository root, the data mirror and small hand-made task files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
MIRROR = Path(os.environ.get("SUITE_DATA_MIRROR", REPO.parent / "shared" / "data"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests run only when `-m` names them (`-m slow`); any other selection, or none, skips them."""
    if "slow" in (config.getoption("markexpr") or "").replace("not slow", ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


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
