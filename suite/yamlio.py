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


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping; anything else is a SuiteInputError naming the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteInputError(str(path), None, "file not found") from None
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
