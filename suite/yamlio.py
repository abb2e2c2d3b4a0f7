"""YAML and JSON Schema reading, one style for config, tasks, entries and the display schema."""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from suite.errors import SuiteInputError

REPO_ROOT = Path(__file__).resolve().parent.parent


def path_str(path: Iterable[Any]) -> str:
    """A JSON path as people write it: `variants[2].params`.

    >>> path_str(["variants", 2, "params"])
    'variants[2].params'
    >>> path_str([])
    ''
    """
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# Limits of every YAML file the suite reads (configs, tasks, entries, display schemas): far above any real one, far
# below what a hostile file needs to stall a workflow load (a 20-line alias bomb expands to billions of nodes).
MAX_YAML_BYTES = 1 << 20
MAX_YAML_NODES = 200_000  # scalars, sequences and mappings, with every alias expanded
MAX_YAML_DEPTH = 64


class YamlLimitError(ValueError):
    """A YAML document over the size, expansion or nesting limits: `problem` says which, `fix` what to do."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}: {fix}")
        self.problem, self.fix = problem, fix

    def input_error(self, label: str) -> SuiteInputError:
        """The same as the suite's one-line input error, naming the file."""
        return SuiteInputError(label, None, f"the file {self.problem}", self.fix)


def _too_large() -> YamlLimitError:
    return YamlLimitError(f"is larger than {MAX_YAML_BYTES} bytes", "split it or shorten it")


def _too_deep() -> YamlLimitError:
    return YamlLimitError(f"nests deeper than {MAX_YAML_DEPTH} levels", "flatten it")


def safe_load_bounded(text: str) -> Any:
    """`yaml.safe_load` with limits checked before anything is constructed: size, nesting depth, and the number of
    nodes once every alias is expanded (counted on the composed graph, each anchored node once, so a bomb is
    refused in microseconds instead of expanding).

    >>> safe_load_bounded("a: [1, 2]")
    {'a': [1, 2]}
    >>> rows = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    >>> rows += [f"{k}: &{k} [{', '.join(['*' + p] * 10)}]" for p, k in zip("abcdef", "bcdefg")]
    >>> safe_load_bounded(chr(10).join(rows))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    suite.yamlio.YamlLimitError: expands to ... nodes through its aliases (limit 200000): write the values out or ...
    """
    if len(text.encode("utf-8")) > MAX_YAML_BYTES:
        raise _too_large()
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise _too_deep() from None
        if node is not None:
            _check_graph(node)
            return loader.construct_document(node)
        return None
    finally:
        loader.dispose()


def _check_graph(root: yaml.Node) -> None:
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_YAML_DEPTH:
            raise _too_deep()
        if id(node) in sizes:
            return sizes[id(node)]  # an alias of a node already counted: its expanded size again
        sizes[id(node)] = 1  # in progress: a recursive alias counts once here (safe_load refuses to build it anyway)
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        else:
            total = 1
        sizes[id(node)] = total
        return total

    total = size(root, 0)
    if total > MAX_YAML_NODES:
        raise YamlLimitError(
            f"expands to {total} nodes through its aliases (limit {MAX_YAML_NODES})",
            "write the values out or remove the aliases",
        )


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping, read within the limits of `safe_load_bounded`; anything else is a
    SuiteInputError naming the file."""
    try:
        if path.stat().st_size > MAX_YAML_BYTES:  # before reading it
            raise _too_large()
        data = safe_load_bounded(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteInputError(str(path), None, "file not found") from None
    except YamlLimitError as exc:
        raise exc.input_error(str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SuiteInputError(str(path), None, f"malformed YAML{where}", "fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise SuiteInputError(str(path), None, "expected a mapping at the top level")
    return data


@functools.cache
def _validator_class() -> type:
    """A Draft 2020-12 validator that also fills in each property's `default` (as Snakemake's validate does)."""
    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": set_defaults})


@dataclass(frozen=True)
class SchemaError:
    """One violation: where (a JSON path, '' for the top level), jsonschema's message and the schema's description."""

    field: str
    message: str
    description: str | None
    error: jsonschema.ValidationError


def schema_errors(instance: Any, schema: dict[str, Any]) -> tuple[Any, list[SchemaError]]:
    """A copy of `instance` with the schema's defaults filled in, and every violation, shallowest first.

    >>> schema = {"type": "object", "properties": {"n": {"type": "integer", "default": 3}}}
    >>> schema_errors({}, schema)
    ({'n': 3}, [])
    >>> [e.field for e in schema_errors({"n": "x"}, schema)[1]]
    ['n']
    """
    instance = copy.deepcopy(instance)
    validator = _validator_class()(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.absolute_path), list(e.absolute_path)))
    return instance, [
        SchemaError(
            path_str(e.absolute_path),
            e.message,
            e.schema.get("description") if isinstance(e.schema, dict) else None,
            e,
        )
        for e in errors
    ]


def validate(instance: dict[str, Any], schema_file: Path, file_label: str) -> dict[str, Any]:
    """Validate against a YAML JSON Schema, filling defaults; the first error names the file and the field."""
    schema = read_yaml(schema_file)
    filled, errors = schema_errors(instance, schema)
    if errors:
        best = jsonschema.exceptions.best_match(e.error for e in errors)
        chosen = next(e for e in errors if e.error is best)
        shown = schema_file.relative_to(REPO_ROOT) if schema_file.is_relative_to(REPO_ROOT) else schema_file
        raise SuiteInputError(
            file_label, chosen.field or "(top level)", chosen.message, chosen.description or f"see {shown}"
        )
    return filled
