"""The one registry: duplicates raise, unknown names suggest the closest known one."""

import pytest

from suite.compress import METHODS
from suite.registry import Registry, UnknownNameError


def test_duplicate_name_raises():
    registry: Registry[int] = Registry("thing")
    registry.register("a")(1)
    with pytest.raises(ValueError, match="duplicate thing name 'a'"):
        registry.register("a")(2)


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="did you mean 'dynamic_quant'"):
        METHODS.get("dynamic_quan")


def test_seed_methods_are_registered():
    assert {"dynamic_quant", "l1_unstructured"} <= set(METHODS.names())
