"""The one registry: duplicates raise, unknown names suggest the closest known one."""

import pytest

from suite.compress import METHODS
from suite.registry import Registry, UnknownNameError


def test_duplicate_name_raises():
    registry: Registry[type] = Registry("thing")

    class A:
        NAME = "a"

    class OtherA:
        NAME = "a"

    assert registry.register(A) is A
    with pytest.raises(ValueError, match="duplicate thing name 'a'"):
        registry.register(OtherA)
    with pytest.raises(ValueError, match="duplicate thing name 'a'"):
        registry.add("a", int)


def test_register_takes_the_name_from_the_class_and_refuses_a_class_without_one():
    registry: Registry[type] = Registry("thing")

    class NoName:
        pass

    with pytest.raises(TypeError, match="has no NAME"):
        registry.register(NoName)
    assert registry.names() == []


def test_plugins_are_imported_on_the_first_look_up_only(monkeypatch):
    imported = []
    registry: Registry[type] = Registry("thing", plugins=("first.plugin", "second.plugin"))

    def fake_import(name):
        imported.append(name)
        registry.add(name.split(".")[0], object)

    monkeypatch.setattr("suite.registry.importlib.import_module", fake_import)
    assert imported == []  # declaring the registry imports nothing
    assert registry.names() == ["first", "second"]
    assert "first" in registry and registry.get("second") is object
    assert imported == ["first.plugin", "second.plugin"]  # once


def test_every_registered_name_is_the_class_name_attribute():
    from suite.families import FAMILIES
    from suite.formats import FORMATS
    from suite.tasks import TASK_KINDS

    for registry in (METHODS, TASK_KINDS, FORMATS, FAMILIES):
        for name in registry:
            assert name == registry.get(name).NAME
    assert set(FORMATS.names()) == {
        "gguf-llamacpp", "onnx", "torch-dynamic-int8", "torch-fp32", "torch-half", "torch-pruned", "torchao-int8"
    }  # fmt: skip


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="did you mean 'dynamic_quant'"):
        METHODS.get("dynamic_quan")


def test_seed_methods_are_registered():
    assert {"dynamic_quant", "l1_unstructured"} <= set(METHODS.names())
