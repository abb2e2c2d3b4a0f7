"""Community entries (leaderboard/entries/<id>.yaml): schema and safety checks, PASS/FAIL with every reason.

Nothing from an entry is imported or executed: the YAML is read with `yaml.safe_load`, and weights are read only as
bytes (their sha256 and the safetensors JSON header). A valid entry becomes a variant of the run (parent: the
teacher); an invalid one is recorded with its reasons, shown on the site, and never blocks the others.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from suite.errors import SuiteInputError
from suite.registry import UnknownNameError
from suite.specs import TEACHER
from suite.yamlio import REPO_ROOT, YamlLimitError, read_yaml, safe_load_bounded, schema_errors

ENTRY_SCHEMA = REPO_ROOT / "leaderboard" / "entry.schema.yaml"
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
REVISION_PATTERN = re.compile(r"^[0-9a-f]{40}$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
# Formats that unpickle (or otherwise execute) when loaded, or that the suite does not read: an entry holding any of
# them is refused, even beside a model.safetensors, so that no later tool can pick the wrong file.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz")
OTHER_WEIGHT_SUFFIXES = (".h5", ".msgpack", ".gguf", ".onnx", ".keras", ".tflite")
MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit on the JSON header
SAFETENSORS_DTYPES = {"BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"}
SAFETENSORS_DTYPES |= {"F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "U1", "C64"}
IMPORT_METHOD = "import"  # the method a `local` or `hub` entry builds with (suite/compress/import_model.py)


@dataclass(frozen=True)
class EntryProblem:
    """One reason an entry fails: the field and the fix, as every suite error names them."""

    field: str | None
    problem: str
    fix: str | None = None

    def message(self, file: str) -> str:
        return str(SuiteInputError(file, self.field, self.problem, self.fix))


@dataclass
class EntryResult:
    """The verdict on one entry file: PASS with the variant it becomes, or FAIL with every reason."""

    file: str  # as given (relative to the repository root where possible)
    id: str | None
    problems: list[EntryProblem] = field(default_factory=list)
    entry: dict[str, Any] | None = None  # the validated entry (defaults filled) when it parsed
    variant: dict[str, Any] | None = None  # {id, parent, method, params} when it passed

    @property
    def passed(self) -> bool:
        return not self.problems

    def add(self, field_: str | None, problem: str, fix: str | None = None) -> None:
        self.problems.append(EntryProblem(field_, problem, fix))

    def reasons(self) -> list[str]:
        return [p.message(self.file) for p in self.problems]

    def summary(self) -> str:
        if not self.passed or self.entry is None or self.variant is None:
            return f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        model = self.entry["model"]
        kind = next(iter(model))
        what = {
            "recipe": lambda m: f"recipe {m['method']} {json.dumps(m.get('params') or {}, sort_keys=True)}",
            "local": lambda m: f"local safetensors {m['path']}",
            "hub": lambda m: f"Hub {m['id']}@{m['revision'][:12]}",
        }[kind](model[kind])
        return f"{what} on teacher {self.entry['teacher']}; tasks {', '.join(self.entry['tasks'])}"

    def to_json(self) -> dict[str, Any]:
        """What the resolved config records: the accepted entry, or the rejected one's reasons."""
        out: dict[str, Any] = {"file": self.file, "id": self.id, "passed": self.passed}
        if self.passed:
            out["entry"] = self.entry
            out["variant"] = self.variant
        else:
            display = (self.entry or {}).get("display_name")
            out["display_name"] = display if isinstance(display, str) else None
            out["problems"] = [
                {"field": p.field, "problem": p.problem, "fix": p.fix, "message": p.message(self.file)}
                for p in self.problems
            ]
        return out


# (method name, params) -> the problems of a built-in recipe applied to the teacher ([] when it applies); the plan
# layer supplies it from the method registry, so this module needs no compression code.
RecipeCheck = Callable[[str, Mapping[str, Any]], list["EntryProblem"]]


@dataclass(frozen=True)
class EntryContext:
    """What entries are checked against: the run's teacher, tasks, variant ids, limits and the recipe check.

    Built by `suite.plan.entry_context` from the validated config.
    """

    teacher_id: str
    tasks: tuple[str, ...]
    variant_ids: frozenset[str]  # the config's own variants (an entry may not take their ids)
    check_recipe: RecipeCheck
    max_weights_mb: float  # config entries.max_weights_mb (its default is the schema's)
    root: Path = REPO_ROOT


def sha256_bytes_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file, checked for shape (raises ValueError); the tensors are not read.

    A pickle renamed to .safetensors fails here: its first 8 bytes are not a plausible header length.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ValueError(f"{size} bytes: too short for a safetensors file (8-byte header length first)")
        length = int.from_bytes(head, "little")
        if length < 2 or length > min(size - 8, MAX_HEADER_BYTES):
            raise ValueError(f"header length {length} does not fit the file's {size} bytes: not a safetensors file")
        raw = fh.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("its header is not JSON: not a safetensors file") from None
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object: not a safetensors file")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or {"dtype", "shape", "data_offsets"} - set(info):
            raise ValueError(f"tensor '{name}' lacks dtype, shape or data_offsets: not a safetensors file")
        if info["dtype"] not in SAFETENSORS_DTYPES:
            raise ValueError(f"tensor '{name}' has unknown dtype {info['dtype']!r}")
        offsets = info["data_offsets"]
        if not (isinstance(offsets, list) and len(offsets) == 2 and 0 <= offsets[0] <= offsets[1]):
            raise ValueError(f"tensor '{name}' has bad data_offsets {offsets!r}")
        end = max(end, int(offsets[1]))
    if end != size - 8 - length:
        raise ValueError(f"tensor data ends at byte {end}, but the file holds {size - 8 - length}: truncated or padded")
    return header


def check_weights_dir(directory: Path, sha256: str | None, max_weights_mb: float) -> list[EntryProblem]:
    """Safetensors only, no pickle, sha256 and size of model.safetensors, no remote code in config.json.

    Shared by the entry checker (field names under `model.local`) and the `import` method, which checks again at
    build time (and for Hub entries, after download and before the weights are read).
    """
    problems: list[EntryProblem] = []
    where = "model.local"
    if not directory.is_dir():
        return [EntryProblem(f"{where}.path", f"{directory} is not a directory", "give the directory of the weights")]
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    root = directory.resolve()
    escaping = [p.relative_to(directory).as_posix() for p in files if not p.resolve().is_relative_to(root)]
    if escaping:  # a symlink to a file elsewhere on the machine: nothing outside the submission is read
        return [
            EntryProblem(
                f"{where}.path",
                f"{escaping} are links to files outside {directory}",
                "copy the files into the submission's directory instead of linking them",
            )
        ]
    pickles = [p.relative_to(directory).as_posix() for p in files if p.name.lower().endswith(PICKLE_SUFFIXES)]
    if pickles:
        problems.append(
            EntryProblem(
                f"{where}.path",
                f"pickle weights {pickles} (loading them can execute code); only safetensors are accepted",
                "convert to model.safetensors (safetensors.torch.save_file) and delete the pickle files",
            )
        )
    others = [p.relative_to(directory).as_posix() for p in files if p.name.lower().endswith(OTHER_WEIGHT_SUFFIXES)]
    if others:
        problems.append(
            EntryProblem(f"{where}.path", f"weights in other formats {others}", "submit model.safetensors only")
        )
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        sharded = [p.name for p in files if p.name.endswith(".safetensors")]
        hint = f" (found {sharded}: sharded weights are not supported)" if sharded else ""
        problems.append(
            EntryProblem(f"{where}.path", f"no {WEIGHTS_FILE} in {directory}{hint}", f"save one {WEIGHTS_FILE}")
        )
    else:
        size = weights.stat().st_size
        if size > max_weights_mb * 2**20:
            problems.append(
                EntryProblem(
                    f"{where}.path",
                    f"{WEIGHTS_FILE} is {size / 2**20:.1f} MiB, over the size limit of {max_weights_mb:g} MiB "
                    "(config entries.max_weights_mb); not hashed",
                    "submit a smaller model",
                )
            )
        else:
            try:
                safetensors_header(weights)
            except ValueError as exc:
                problems.append(EntryProblem(f"{where}.path", f"{WEIGHTS_FILE}: {exc}", "save it with safetensors"))
            if sha256 is not None:
                digest = sha256_bytes_of(weights)
                if digest != sha256:
                    problems.append(
                        EntryProblem(
                            f"{where}.sha256",
                            f"{WEIGHTS_FILE} has sha256 {digest}, the entry declares {sha256}",
                            "declare the sha256 of the file you submit (`sha256sum model.safetensors`)",
                        )
                    )
    config = directory / CONFIG_FILE
    if not config.is_file():
        problems.append(EntryProblem(f"{where}.path", f"no {CONFIG_FILE} in {directory}", "save the model's config"))
    else:
        try:
            model_config = json.loads(config.read_text("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(EntryProblem(f"{where}.path", f"{CONFIG_FILE} is not JSON ({exc})", "fix the file"))
        else:
            if not isinstance(model_config, dict):
                problems.append(EntryProblem(f"{where}.path", f"{CONFIG_FILE} is not a JSON object", "fix the file"))
            elif model_config.get("auto_map"):
                problems.append(
                    EntryProblem(
                        f"{where}.path",
                        f"{CONFIG_FILE} has 'auto_map': the model needs its repository's own Python code, which the "
                        "suite never runs",
                        "use an architecture that transformers ships",
                    )
                )
    return problems


# --- one entry --------------------------------------------------------------------------------------------------


def _schema() -> dict[str, Any]:
    return read_yaml(ENTRY_SCHEMA)


def _label(path: Path, root: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(path)


def _schema_problems(data: dict[str, Any], schema: dict[str, Any]) -> tuple[dict[str, Any], list[EntryProblem]]:
    instance, found = schema_errors(data, schema)
    problems = []
    for found_error in sorted(found, key=lambda e: (list(map(str, e.error.absolute_path)), e.message)):
        error = found_error.error
        where = found_error.field or None
        description = found_error.description
        if error.validator == "additionalProperties":
            known = sorted((error.schema.get("properties") or {}).keys())
            extra = sorted(set(error.instance) - set(known))
            for name in extra:
                field_ = f"{where}.{name}" if where else name
                problems.append(
                    EntryProblem(
                        field_,
                        str(UnknownNameError("field", name, known)),
                        "remove it (leaderboard/entry.schema.yaml lists every field)",
                    )
                )
            continue
        if error.validator == "pattern" and where == "id":
            problems.append(
                EntryProblem(
                    "id",
                    f"{error.instance!r} is not a valid id: lower-case letters, digits and '-' only, starting with a "
                    "letter or digit (no '/', '..', '.', '_' or capitals)",
                    "rename the entry (and its file) e.g. 'my-model-int8'",
                )
            )
            continue
        if error.validator in ("minProperties", "maxProperties") and where == "model":
            problems.append(
                EntryProblem("model", "needs exactly one of 'recipe', 'local' or 'hub'", "keep one model source")
            )
            continue
        problems.append(EntryProblem(where, error.message, description))
    return instance, problems


def _check_model(result: EntryResult, entry: dict[str, Any], file: Path, ctx: EntryContext) -> None:
    model = entry["model"]
    kind = next(iter(model))
    spec = model[kind]
    if kind == "recipe":
        method_name = spec["method"]
        problems = ctx.check_recipe(method_name, spec.get("params") or {})
        if problems:
            result.problems.extend(problems)
            return
        result.variant = {
            "id": entry["id"],
            "parent": TEACHER,
            "method": method_name,
            "params": dict(spec.get("params") or {}),
        }
        return
    if kind == "local":
        base = file.parent.resolve()
        directory = (base / spec["path"]).resolve()
        if Path(spec["path"]).is_absolute() or not directory.is_relative_to(base):
            result.add(
                "model.local.path",
                f"'{spec['path']}' leads outside the entry's directory ({base}; it resolves to {directory})",
                "put the weights in a directory beside the entry file and give its relative path",
            )
            return
        problems = check_weights_dir(directory, spec["sha256"], ctx.max_weights_mb)
        result.problems.extend(problems)
        params = {"source": "local", "path": str(directory), "sha256": spec["sha256"]}
    else:  # hub: nothing can be downloaded here; the import method checks the files before reading them
        if not REVISION_PATTERN.match(spec["revision"]):
            result.add(
                "model.hub.revision",
                f"revision {spec['revision']!r} is not pinned: branches and tags move",
                "give the full 40-hex commit id (the Hub's 'Files' tab → history)",
            )
        params = {"source": "hub", "repo": spec["id"], "revision": spec["revision"], "sha256": spec["sha256"]}
    if not result.problems:
        params["max_weights_mb"] = ctx.max_weights_mb
        result.variant = {"id": entry["id"], "parent": TEACHER, "method": IMPORT_METHOD, "params": params}


TEXT_FIELDS = ("display_name", "submitter", "licence", "method_description")  # free text shown on the site


def unsafe_characters(text: str, allow: str = "") -> list[str]:
    r"""The control (Cc) and format (Cf: bidi overrides, zero-width joiners, ...) characters of `text`, as U+XXXX.

    >>> unsafe_characters("Tiny\u202eBERT\x00")
    ['U+202E', 'U+0000']
    >>> unsafe_characters("two\nlines", allow="\n")
    []
    """
    return [f"U+{ord(c):04X}" for c in text if c not in allow and unicodedata.category(c) in ("Cc", "Cf")]


def check_entry(path: Path, ctx: EntryContext, schema: dict[str, Any] | None = None) -> EntryResult:
    """Every check of one entry file but uniqueness across entries (see `check_entries`)."""
    path = Path(path)
    result = EntryResult(file=_label(path, ctx.root), id=None)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        result.add(None, "file not found", "give the path of an entry YAML file")
        return result
    except (OSError, UnicodeDecodeError) as exc:
        result.add(None, f"cannot be read as UTF-8 text ({exc})", "save the file as UTF-8")
        return result
    try:
        data = safe_load_bounded(text)
    except YamlLimitError as exc:
        result.add(None, f"the file {exc.problem}", exc.fix)
        return result
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        result.add(None, f"malformed YAML{where}: {problem}", "fix the YAML syntax (e.g. `yamllint`)")
        return result
    if not isinstance(data, dict):
        result.add(None, f"expected a mapping of fields at the top level, got {type(data).__name__}", "see the example")
        return result
    if isinstance(data.get("id"), str):
        result.id = data["id"]
    entry, problems = _schema_problems(data, schema or _schema())
    result.problems.extend(problems)
    result.entry = entry
    failed_fields = {p.field for p in problems}
    for name in TEXT_FIELDS:
        value = entry.get(name)
        if not isinstance(value, str):
            continue  # a wrong type is the schema's problem, reported above
        bad = unsafe_characters(value, allow="\n\t" if name == "method_description" else "")
        if bad:
            result.add(
                name,
                f"contains control or bidirectional-formatting characters {bad} (they can hide or reorder text on "
                "the site)",
                "remove them",
            )
            failed_fields.add(name)

    if isinstance(entry.get("id"), str) and "id" not in failed_fields:
        if entry["id"] == TEACHER:
            result.add("id", "'teacher' is reserved for the teacher's own row", "rename the entry")
        elif entry["id"] in ctx.variant_ids:
            result.add("id", f"duplicate id '{entry['id']}': the config has a variant of that name", "rename it")
        if path.suffix in (".yaml", ".yml") and path.stem != entry["id"]:
            result.add("id", f"'{entry['id']}' differs from the file name '{path.name}'", f"name it {entry['id']}.yaml")
    name = entry.get("display_name")
    if isinstance(name, str) and re.search(r"[<>]", name):  # control characters: refused above, for every text field
        result.add("display_name", f"{name!r} contains HTML; a display name is plain text", "remove '<' and '>'")
    if entry.get("trust_remote_code") is True:
        result.add(
            "trust_remote_code",
            "is true: the suite never runs a submission's own Python code",
            "use an architecture that transformers ships and remove the field (or set it to false)",
        )
    teacher = entry.get("teacher")
    if isinstance(teacher, str) and teacher != ctx.teacher_id:
        result.add(
            "teacher",
            str(UnknownNameError("teacher", teacher, [ctx.teacher_id])),
            "entries compress the run's teacher (config teacher.id)",
        )
    tasks = entry.get("tasks")
    if isinstance(tasks, list):
        for i, task in enumerate(tasks):
            if isinstance(task, str) and task not in ctx.tasks:
                result.add(f"tasks[{i}]", str(UnknownNameError("task", task, list(ctx.tasks))), "name a run task")
    reported = entry.get("self_reported")
    if isinstance(reported, dict):
        for task, metrics in reported.items():
            if task != "system" and task not in ctx.tasks:
                known = [*ctx.tasks, "system"]
                result.add(f"self_reported.{task}", str(UnknownNameError("task", task, known)), "name a run task")
            for metric, value in (metrics or {}).items() if isinstance(metrics, dict) else ():
                if isinstance(value, int | float) and not math.isfinite(value):
                    result.add(f"self_reported.{task}.{metric}", f"is {value}", "report finite numbers only")
    model = entry.get("model")
    if isinstance(model, dict) and len(model) == 1 and not any(f and f.startswith("model") for f in failed_fields):
        _check_model(result, entry, path, ctx)
    if result.problems:
        result.variant = None
    return result


def check_entries(
    files: Iterable[Path], ctx: EntryContext, others: Iterable[Path] = ()
) -> tuple[list[EntryResult], list[EntryResult]]:
    """Check `files`, and ids unique across them and `others` (the entries directory): (results, other results).

    Both entries that share an id fail, each naming the other's file, so neither silently wins.
    """
    schema = _schema()
    files = [Path(f) for f in files]
    mine = {f.resolve() for f in files}
    rest = [Path(f) for f in others if Path(f).resolve() not in mine]
    results = [check_entry(f, ctx, schema) for f in files]
    other_results = [check_entry(f, ctx, schema) for f in rest]
    by_id: dict[str, list[EntryResult]] = {}
    for result in [*results, *other_results]:
        if result.id is not None:
            by_id.setdefault(result.id, []).append(result)
    for entry_id, same in by_id.items():
        if len(same) < 2:
            continue
        for result in same:
            elsewhere = ", ".join(r.file for r in same if r is not result)
            result.add("id", f"duplicate id '{entry_id}': also declared by {elsewhere}", "give each entry its own id")
            result.variant = None
    return results, other_results


def entry_files(directory: Path) -> list[Path]:
    return sorted(p for p in Path(directory).iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def entries_dir(validated: Mapping[str, Any], root: Path) -> Path | None:
    raw = (validated.get("entries") or {}).get("dir")
    if not raw:
        return None
    path = Path(raw)
    return path if path.is_absolute() else root / path


def collect(validated: Mapping[str, Any], root: Path, label: str, ctx: EntryContext) -> dict[str, Any]:
    """The entries block of the resolved config: every entry of the configured directory, accepted or rejected."""
    directory = entries_dir(validated, root)
    if directory is None:
        return {"dir": None, "accepted": [], "rejected": []}
    if not directory.is_dir():
        raise SuiteInputError(
            label, "entries.dir", f"{directory} is not a directory", "create it, or set entries.dir: null"
        )
    results, _ = check_entries(entry_files(directory), ctx)
    return {
        "dir": _label(directory, root),
        "accepted": [r.to_json() for r in results if r.passed],
        "rejected": [r.to_json() for r in results if not r.passed],
    }


# --- what the rest of the suite asks of entries -----------------------------------------------------------------


def accepted(resolved: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return list(((resolved or {}).get("entries") or {}).get("accepted") or [])


def rejected(resolved: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return list(((resolved or {}).get("entries") or {}).get("rejected") or [])


def entry_variants(resolved: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [a["variant"] for a in accepted(resolved)]
