"""The `>>>` examples in the benchmark scripts (scripts/ is not a package, so pytest's doctest collector skips it)."""

import doctest
import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.mark.parametrize("name", ["bench_speedup_regimes"])
def test_doctests(name, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))  # the scripts import their neighbours
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    result = doctest.testmod(module)
    assert result.attempted >= 3 and result.failed == 0
