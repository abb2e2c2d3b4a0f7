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
