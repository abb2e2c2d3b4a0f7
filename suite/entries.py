"""Community entries (leaderboard/entries/<id>.yaml): schema and safety checks, PASS/FAIL with every reason.

Nothing from an entry is imported or executed: the YAML is read with `yaml.safe_load`, and weights are read only as
bytes (their sha256 and the safetensors JSON header). A valid entry becomes a variant of the run (parent: the
teacher); an invalid one is recorded with its reasons, shown on the site, and never blocks the others.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
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
MAX_CONFIG_BYTES = 2**20  # a model's config.json is a few kilobytes
# Bits per element of every dtype safetensors (0.8) reads; the sub-byte ones pack, so a tensor's bits fill whole bytes.
SAFETENSORS_DTYPE_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32}
SAFETENSORS_DTYPE_BITS |= {"U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64, "F4": 4, "F6_E2M3": 6}
SAFETENSORS_DTYPE_BITS |= {"F6_E3M2": 6, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8}
SAFETENSORS_DTYPES = frozenset(SAFETENSORS_DTYPE_BITS)
MAX_TENSOR_RANK = 16  # dimensions of one tensor; real weights have at most 5
MAX_TENSOR_ELEMENTS = 2**63 - 1  # what torch's int64 sizes hold, also for a tensor with a zero dimension
# Name suffixes of the word-embedding matrix [vocab_size, hidden_size] in transformers' architectures (BERT-like,
# Llama-like, GPT-2); a config's `embedding_size` or `word_embed_proj_dim` is its width instead, where it has one.
EMBEDDING_SUFFIXES = ("word_embeddings.weight", "embed_tokens.weight", "wte.weight")
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
    teacher_vocab_size: int | None = None  # len() of the teacher's tokenizer; None: unknown offline, not checked


def sha256_bytes_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tokenizer_vocab_size(directory: Path) -> int | None:
    """The number of tokens of the tokenizer saved in `directory` (`len()` of it once loaded): the distinct tokens
    of its tokenizer.json's vocabulary and added tokens, read as data without loading transformers. None where the
    directory holds no readable tokenizer.json; the entries' vocab_size is then checked at build only.
    """
    try:
        data = json.loads((Path(directory) / "tokenizer.json").read_text("utf-8"))
        vocab = data["model"]["vocab"]  # {token: id} (WordPiece, BPE, WordLevel) or [[piece, score], ...] (Unigram)
        tokens = set(vocab) if isinstance(vocab, dict) else {piece for piece, _score in vocab}
        tokens |= {added["content"] for added in data.get("added_tokens") or ()}
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    return len(tokens)


def _short(value: Any, limit: int = 60) -> str:
    """repr() of a value from a submission, cut to `limit` characters so that a hostile one cannot flood a message."""
    return _short_text(repr(value), limit)


def _short_text(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tensor_span(name: str, info: Any, data_bytes: int) -> tuple[int, int]:
    """[begin, end) of one tensor's bytes in the data section, after its header entry is checked field by field."""
    tensor = f"tensor {_short(name)}"
    if not isinstance(info, dict):
        raise ValueError(f"{tensor} is {_short(info)}, not an object of dtype, shape and data_offsets")
    missing = [key for key in ("dtype", "shape", "data_offsets") if key not in info]
    if missing:
        raise ValueError(f"{tensor} lacks {', '.join(missing)}: not a safetensors file")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPE_BITS:
        raise ValueError(f"{tensor}: dtype {_short(dtype)} is not one of {', '.join(sorted(SAFETENSORS_DTYPES))}")
    if not (
        isinstance(shape, list)
        and len(shape) <= MAX_TENSOR_RANK
        and all(type(size) is int and size >= 0 for size in shape)  # type(): a bool is no size, nor is 2.0
    ):
        raise ValueError(
            f"{tensor}: shape {_short(shape)} is not a list of at most {MAX_TENSOR_RANK} non-negative integers"
        )
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(type(offset) is int and offset >= 0 for offset in offsets)
        and offsets[0] <= offsets[1]
    ):
        raise ValueError(
            f"{tensor}: data_offsets {_short(offsets)} is not [begin, end], two non-negative integers with begin <= end"
        )
    begin, end = offsets
    if math.prod(size for size in shape if size) > MAX_TENSOR_ELEMENTS:
        raise ValueError(f"{tensor}: shape {_short(shape)} has more than 2**63 - 1 elements")
    bits = math.prod(shape) * SAFETENSORS_DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != end - begin:
        needs = f"{bits // 8} bytes" if bits % 8 == 0 else f"{bits} bits (not whole bytes)"
        raise ValueError(
            f"{tensor}: shape {shape} of {dtype} needs {needs}, but data_offsets [{begin}, {end}] hold "
            f"{end - begin} bytes"
        )
    if end > data_bytes:
        raise ValueError(
            f"{tensor}: data_offsets [{begin}, {end}] end past the file's {data_bytes} bytes of tensor data: truncated"
        )
    return begin, end


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file, checked field by field as safetensors checks it (raises ValueError
    naming the tensor and the field); the tensors are not read.

    Every tensor has a known `dtype`, a `shape` of non-negative integers and `data_offsets` holding exactly
    dtype × shape bytes; the tensors lie back to back from byte 0 and fill the data section; `__metadata__` maps
    strings to strings. A pickle renamed to .safetensors fails first: its first 8 bytes are not a plausible length.
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
    except (UnicodeDecodeError, ValueError, RecursionError):  # ValueError: also an integer of over 4300 digits
        raise ValueError("its header is not JSON: not a safetensors file") from None
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object: not a safetensors file")
    metadata = header.get("__metadata__")
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(value, str) for value in metadata.values())
    ):
        raise ValueError(f"__metadata__ {_short(metadata)} is not a mapping of strings to strings")
    data_bytes = size - 8 - length
    spans = sorted(
        (*_tensor_span(name, info, data_bytes), name) for name, info in header.items() if name != "__metadata__"
    )
    end, previous = 0, None
    for begin, stop, name in spans:
        if begin < end:
            raise ValueError(
                f"tensor {_short(name)}: data_offsets [{begin}, {stop}] overlap tensor {_short(previous)}'s, which "
                f"end at byte {end}"
            )
        if begin > end:
            after = f"after tensor {_short(previous)}" if previous is not None else "at the start of the data"
            raise ValueError(
                f"tensor {_short(name)}: data_offsets [{begin}, {stop}] leave bytes {end} to {begin} {after} unused"
            )
        end, previous = stop, name
    if end != data_bytes:
        raise ValueError(f"tensor data ends at byte {end}, but the file holds {data_bytes}: truncated or padded")
    return header


def check_weights_dir(
    directory: Path, sha256: str | None, max_weights_mb: float, teacher_vocab_size: int | None = None
) -> list[EntryProblem]:
    """Safetensors only, no pickle, sha256 and size of model.safetensors, no remote code in config.json, and a
    config.json that transformers can build and that agrees with the weights and the teacher's tokenizer.

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
    header: dict[str, Any] | None = None  # once model.safetensors' header is read and sound
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
                header = safetensors_header(weights)
            except ValueError as exc:
                problems.append(
                    EntryProblem(
                        f"{where}.path",
                        f"{WEIGHTS_FILE}: {exc}",
                        "save it with safetensors (save_pretrained, or safetensors.torch.save_file)",
                    )
                )
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
    elif config.stat().st_size > MAX_CONFIG_BYTES:
        problems.append(
            EntryProblem(
                f"{where}.path",
                f"{CONFIG_FILE} is {config.stat().st_size} bytes, over the limit of {MAX_CONFIG_BYTES}",
                "save the model's own config.json (save_pretrained writes a few kilobytes)",
            )
        )
    else:
        try:
            model_config = json.loads(config.read_text("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError and its kin
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
            else:
                problems.extend(
                    EntryProblem(f"{where}.path", problem, fix)
                    for problem, fix in model_config_problems(model_config, header, teacher_vocab_size)
                )
    return problems


def _positive_int(config: Mapping[str, Any], key: str) -> int | None:
    value = config.get(key)
    return value if type(value) is int and value > 0 else None


def model_config_problems(
    config: Mapping[str, Any], header: Mapping[str, Any] | None, teacher_vocab_size: int | None
) -> list[tuple[str, str]]:
    """(problem, fix) for what in a submission's config.json would fail at build: a model_type transformers does not
    ship, a vocab_size or hidden_size that is no positive integer or smaller than the teacher tokenizer's vocabulary,
    and a word-embedding matrix in the safetensors `header` whose shape contradicts them.

    Conservative: a key the config does not declare, a quantised model and an unknown teacher vocabulary (None) are
    not checked; only clear contradictions are refused.
    """
    problems: list[tuple[str, str]] = []
    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        what = "has no 'model_type'" if model_type is None else f"has model_type {_short(model_type)}, not a name"
        return [
            (
                f"{CONFIG_FILE} {what}: transformers cannot tell which architecture to build",
                'set "model_type" to the architecture\'s name (e.g. "bert"), as save_pretrained writes it',
            )
        ]
    # Imported here: transformers' configuration module imports torch (about 1.4 s), paid only for a local entry.
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    if model_type not in CONFIG_MAPPING_NAMES:
        close = difflib.get_close_matches(model_type, list(CONFIG_MAPPING_NAMES), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        problems.append(
            (
                f"{CONFIG_FILE} has model_type {_short(model_type)}, which is not an architecture transformers "
                f"ships{hint}",
                "use an architecture that transformers ships and save the model with save_pretrained",
            )
        )
    for key in ("vocab_size", "hidden_size"):
        if key in config and _positive_int(config, key) is None:
            problems.append(
                (f"{CONFIG_FILE} has {key} {_short(config[key])}, not a positive integer", f"set {key} of the model")
            )
    vocab_size = _positive_int(config, "vocab_size")
    if vocab_size is not None and teacher_vocab_size is not None and vocab_size < teacher_vocab_size:
        problems.append(
            (
                f"{CONFIG_FILE} has vocab_size {vocab_size}, smaller than the teacher tokenizer's "
                f"{teacher_vocab_size} tokens; entries use the teacher's tokenizer",
                "start from the teacher's vocabulary (model.resize_token_embeddings(len(tokenizer)) and save again)",
            )
        )
    if header is None or config.get("quantization_config"):  # packed quantised weights have other shapes
        return problems
    width_key = next((k for k in ("embedding_size", "word_embed_proj_dim") if k in config), "hidden_size")
    declared = {0: ("rows", "vocab_size", vocab_size), 1: ("columns", width_key, _positive_int(config, width_key))}
    for name, info in header.items():
        if name == "__metadata__" or not name.endswith(EMBEDDING_SUFFIXES) or len(info["shape"]) != 2:
            continue
        shape = info["shape"]
        wrong = [f"{n} {what} ({key})" for axis, (what, key, n) in declared.items() if n not in (None, shape[axis])]
        if wrong:
            problems.append(
                (
                    f"{WEIGHTS_FILE}'s word embeddings {_short(name)} have shape {shape}, but {CONFIG_FILE} declares "
                    f"{' and '.join(wrong)}",
                    "submit the config.json saved with these weights (save_pretrained writes both)",
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
        problems = check_weights_dir(directory, spec["sha256"], ctx.max_weights_mb, ctx.teacher_vocab_size)
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

# What `suite new-entry` writes in a text field it was given no value for: a marked placeholder that check-entry
# refuses, so an entry cannot be submitted with it. field -> (placeholder, the option that fills it).
PLACEHOLDER_MARK = "TODO:"
PLACEHOLDERS = {
    "display_name": ("TODO: how the site names the model (plain text)", "--display-name"),
    "submitter": ("TODO: your name and a GitHub handle or e-mail address", "--submitter"),
    "licence": ("TODO: SPDX licence id of the weights, e.g. Apache-2.0", "--licence"),
    "method_description": ("TODO: how you compressed the teacher (method, data, hyper-parameters)", "--description"),
}


def unsafe_characters(text: str, allow: str = "") -> list[str]:
    r"""The control (Cc) and format (Cf: bidi overrides, zero-width joiners, ...) characters of `text`, as U+XXXX.

    >>> unsafe_characters("Tiny\u202eBERT\x00")
    ['U+202E', 'U+0000']
    >>> unsafe_characters("two\nlines", allow="\n")
    []
    """
    return [f"U+{ord(c):04X}" for c in text if c not in allow and unicodedata.category(c) in ("Cc", "Cf")]


def check_entry(path: Path, ctx: EntryContext, schema: dict[str, Any] | None = None) -> EntryResult:
    """Every check of one entry file but uniqueness across entries (see `check_entries`). Never raises: whatever
    goes wrong while checking the entry is one more of its problems, so that it cannot stop the others."""
    path = Path(path)
    try:  # the file as named, even where it is a link: its directory is resolved, not the file
        file = str(Path(_label(path.parent, ctx.root)) / path.name)
    except (OSError, RuntimeError, ValueError):  # a symlink loop (RuntimeError before Python 3.13), a NUL
        file = str(path)
    result = EntryResult(file=file, id=None)
    try:
        _check_entry(path, ctx, schema or _schema(), result)
    except Exception as exc:  # a checker bug or an input no check foresaw: this entry's problem, not the run's
        lines = str(exc).strip().splitlines()
        result.add(
            None,
            f"could not be checked: {type(exc).__name__}: {_short_text(lines[0] if lines else '')}",
            "check the entry's fields and files against leaderboard/entry.schema.yaml; if they look right, report "
            "this message to the suite's maintainers",
        )
    if result.problems:
        result.variant = None
    return result


def _check_entry(path: Path, ctx: EntryContext, schema: dict[str, Any], result: EntryResult) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        result.add(None, "file not found", "give the path of an entry YAML file")
        return
    except UnicodeDecodeError as exc:
        result.add(None, f"cannot be read as UTF-8 text ({exc})", "save the file as UTF-8")
        return
    except OSError as exc:  # a directory, a link to nowhere or in a loop, no permission
        result.add(None, f"cannot be read ({exc.strerror or exc})", "make it a regular, readable file")
        return
    try:
        data = safe_load_bounded(text)
    except YamlLimitError as exc:
        result.add(None, f"the file {exc.problem}", exc.fix)
        return
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        result.add(None, f"malformed YAML{where}: {problem}", "fix the YAML syntax (e.g. `yamllint`)")
        return
    if not isinstance(data, dict):
        result.add(None, f"expected a mapping of fields at the top level, got {type(data).__name__}", "see the example")
        return
    if isinstance(data.get("id"), str):
        result.id = data["id"]
    entry, problems = _schema_problems(data, schema)
    result.problems.extend(problems)
    result.entry = entry
    failed_fields = {p.field for p in problems}
    for name in TEXT_FIELDS:
        value = entry.get(name)
        if not isinstance(value, str):
            continue  # a wrong type is the schema's problem, reported above
        if value.startswith(PLACEHOLDER_MARK):
            result.add(
                name,
                f"is still a placeholder ({_short_text(value, 80)!r})",
                f"write the {name.replace('_', ' ')} in its place (`suite new-entry` fills it from "
                f"{PLACEHOLDERS[name][1]})",
            )
            failed_fields.add(name)
            continue
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


def check_entries(
    files: Iterable[Path], ctx: EntryContext, others: Iterable[Path] = ()
) -> tuple[list[EntryResult], list[EntryResult]]:
    """Check `files`, and ids unique across them and `others` (the entries directory): (results, other results).

    Both entries that share an id fail, each naming the other's file, so neither silently wins.
    """
    schema = _schema()
    files = [Path(f) for f in files]
    mine = {_resolved(f) for f in files}
    rest = [Path(f) for f in others if _resolved(Path(f)) not in mine]
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


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: check_entry reports the file it cannot read
        return path.absolute()


def entry_files(directory: Path) -> list[Path]:
    """The entry files of `directory`: every *.yaml / *.yml but a directory, so that a broken link is reported (the
    file cannot be read), not skipped."""
    return sorted(p for p in Path(directory).iterdir() if p.suffix in (".yaml", ".yml") and not p.is_dir())


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


# --- writing an entry (`suite new-entry`) ------------------------------------------------------------------------


def entry_id_from(name: str) -> str:
    """An entry id made from a directory name: lower case, each run of other characters one '-', at most 64.

    >>> entry_id_from("MiniLM_SST2.int8 (v2)/")
    'minilm-sst2-int8-v2'
    """
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].rstrip("-")


def new_entry(
    directory: Path,
    out: Path,
    *,
    entry_id: str,
    teacher: str,
    tasks: Iterable[str],
    text: Mapping[str, str | None],
) -> dict[str, Any]:
    """The entry of a local model directory (config.json + model.safetensors) to be written to `out`: its path
    relative to `out`'s directory and the sha256 of its weights filled in; `text` gives the TEXT_FIELDS, a None
    one is left as its marked placeholder (which `check_entry` refuses). Nothing of the directory is loaded."""
    directory = Path(directory)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (directory / name).is_file():
            raise SuiteInputError(
                str(directory),
                None,
                f"has no {name}: an entry's model is config.json + model.safetensors",
                "save the model with save_pretrained(DIR) (it writes safetensors by default)",
            )
    path = Path(os.path.relpath(directory.resolve(), Path(out).resolve().parent)).as_posix()
    entry: dict[str, Any] = {"id": entry_id}
    for name in ("display_name", "submitter", "licence"):
        entry[name] = text.get(name) or PLACEHOLDERS[name][0]
    entry["teacher"] = teacher
    entry["model"] = {"local": {"path": path, "sha256": sha256_bytes_of(directory / WEIGHTS_FILE)}}
    entry["method_description"] = text.get("method_description") or PLACEHOLDERS["method_description"][0]
    entry["tasks"] = list(tasks)
    return entry


def entry_yaml(entry: Mapping[str, Any]) -> str:
    """An entry as the YAML file a person then edits, with a header saying what to do with it."""
    header = (
        "# A community entry written by `suite new-entry`; every field is described in leaderboard/entry.schema.yaml\n"
        f"# and CONTRIBUTING.md. Replace each value that starts with '{PLACEHOLDER_MARK}' (check-entry refuses them),\n"
        "# optionally add self_reported numbers, then check it:  suite check-entry <this file>\n"
    )
    return header + yaml.safe_dump(dict(entry), sort_keys=False, allow_unicode=True, width=100, default_flow_style=None)


# --- what the rest of the suite asks of entries -----------------------------------------------------------------


def accepted(resolved: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return list(((resolved or {}).get("entries") or {}).get("accepted") or [])


def rejected(resolved: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return list(((resolved or {}).get("entries") or {}).get("rejected") or [])


def entry_variants(resolved: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [a["variant"] for a in accepted(resolved)]
