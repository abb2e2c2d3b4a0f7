"""Variant artefacts: a directory of safetensors weights, tokenizer and variant.json (lineage, recipe, hashes)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from suite.formats import FORMATS
from suite.models import Classifier
from suite.provenance import sha256_file, sha256_json

VARIANT_JSON = "variant.json"


# Not the artefact's: Snakemake's marker in every directory output (written after the build, its mtime the content)
NOT_HASHED = frozenset({VARIANT_JSON, ".snakemake_timestamp"})


def artefact_files(directory: Path) -> dict[str, str]:
    """sha256 of every file of the artefact except variant.json (and Snakemake's directory marker)."""
    return {
        str(p.relative_to(directory)): sha256_file(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not (p.parent == directory and p.name in NOT_HASHED)
    }


# The files that hold a model's weights (every format's: safetensors, ONNX and its external data, GGUF); the rest of
# an artefact (config.json, tokenizer, layout JSON) is listed separately: it carries library versions that move
# between installs while the model stays the same.
WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".onnx.data", ".gguf", ".bin", ".pt")


def artefact_identity(files: dict[str, str], recipe_hash: str) -> tuple[dict[str, str], dict[str, str], str]:
    """(weights, other files, artefact_sha256): the artefact's identity is the hash of its weights and its recipe,
    so the same recipe building the same weights has one sha256 whatever wrote config.json; the other files are
    hashed and checked at every load too, but listed apart.

    >>> identity = artefact_identity({"model.safetensors": "a" * 64, "config.json": "b" * 64}, "c" * 64)
    >>> list(identity[0]), list(identity[1])
    (['model.safetensors'], ['config.json'])
    >>> identity[2] == artefact_identity({"model.safetensors": "a" * 64, "config.json": "d" * 64}, "c" * 64)[2]
    True
    """
    weights = {name: digest for name, digest in files.items() if name.endswith(WEIGHT_SUFFIXES)}
    other = {name: digest for name, digest in files.items() if name not in weights}
    return weights, other, sha256_json({"weights": weights, "recipe_hash": recipe_hash})


def recorded_files(record: dict[str, Any]) -> dict[str, str] | None:
    """Every file's sha256 that a variant.json recorded (weights and other files; `files` in records before v2)."""
    if "weights" in record:
        weights, other = record.get("weights"), record.get("other_files")
        if not isinstance(weights, dict) or not isinstance(other, dict):
            return None
        return {**weights, **other}
    files = record.get("files")
    return files if isinstance(files, dict) else None


def save_artefact(built: Any, tokenizer: Any, fmt: str, out_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Write weights, tokenizer and variant.json into a temp dir, then move it to out_dir (atomic for Snakemake)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        FORMATS.get(fmt).save(built, tmp)
        tokenizer.save_pretrained(str(tmp))
        recipe_hash = sha256_json(record.get("recipe", {}))
        weights, other, identity = artefact_identity(artefact_files(tmp), recipe_hash)
        if not weights:
            raise ValueError(f"format '{fmt}' wrote no weight file (none ends with {', '.join(WEIGHT_SUFFIXES)})")
        record = {
            **record,
            "format": fmt,
            "recipe_hash": recipe_hash,
            "weights": weights,
            "other_files": other,
            "artefact_sha256": identity,
        }
        (tmp / VARIANT_JSON).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record


def read_record(directory: str | Path) -> dict[str, Any]:
    return json.loads((Path(directory) / VARIANT_JSON).read_text())


FAILED = "failed"  # variant.json `status` of an artefact whose build failed: the directory holds nothing else


def save_failed_artefact(out_dir: Path, record: dict[str, Any], stage: str, error: str) -> dict[str, Any]:
    """The record of a build that failed, as the artefact directory (variant.json only), so that the variant's
    evaluate and measure jobs record `failed` rows with the reason and the rest of the run goes on."""
    out_dir = Path(out_dir)
    record = {**record, "status": FAILED, "stage": stage, "error": error, "artefact_sha256": None}
    record = {k: v for k, v in record.items() if k not in ("files", "weights", "other_files")}
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    (tmp / VARIANT_JSON).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return record


def build_failure(record: dict[str, Any]) -> str | None:
    """Why the artefact was not built ("build failed: …"), or None for a built artefact."""
    if record.get("status") != FAILED:
        return None
    return f"{record.get('stage') or 'build'} failed: {record.get('error') or 'no error message'}"


class ArtefactNotBuiltError(RuntimeError):
    """The artefact is the record of a failed build (save_failed_artefact): there is nothing to load."""


class ArtefactIntegrityError(ValueError):
    """An artefact's files are not the ones its variant.json recorded at build time."""


def verify_artefact(directory: str | Path, record: dict[str, Any]) -> None:
    """Every file of the artefact against the sha256s its variant.json recorded when it was built: a changed, missing
    or added file is an ArtefactIntegrityError naming the variant, the file and both hashes."""
    directory = Path(directory)
    variant = record.get("id", directory.name)
    expected = recorded_files(record)
    fix = f"rebuild it (snakemake --forcerun {directory})"
    if not expected:
        raise ArtefactIntegrityError(f"{directory / VARIANT_JSON}: variant '{variant}' records no file hashes; {fix}")
    if "weights" in record:
        weights, _, identity = artefact_identity(expected, sha256_json(record.get("recipe", {})))
        if record.get("weights") != weights:
            identity = None  # a weight file listed among the other files, or the reverse
    else:  # a record written before the identity was weights + recipe: the hash of every file
        identity = sha256_json(expected)
    if identity != record.get("artefact_sha256"):
        raise ArtefactIntegrityError(
            f"{directory / VARIANT_JSON}: variant '{variant}': its weight and recipe hashes do not give its "
            f"artefact_sha256 {record.get('artefact_sha256')}; {fix}"
        )
    actual = artefact_files(directory)
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            raise ArtefactIntegrityError(f"{directory}: variant '{variant}': file {name} is missing; {fix}")
        if name not in expected:
            raise ArtefactIntegrityError(
                f"{directory}: variant '{variant}': file {name} was not part of the built artefact; remove it or {fix}"
            )
        if actual[name] != expected[name]:
            raise ArtefactIntegrityError(
                f"{directory}: variant '{variant}': file {name} has sha256 {actual[name]}, but variant.json records "
                f"{expected[name]} (changed after the build); {fix}"
            )


def load_artefact(directory: str | Path, device: str = "cpu") -> tuple[Classifier, dict[str, Any]]:
    """Load any variant artefact behind its family's interface on `device`, with its variant.json record, after
    checking every file against the hashes recorded at build time (`verify_artefact`): every row made from the model
    carries the artefact_sha256 of the bytes that were loaded."""
    from transformers import AutoTokenizer

    directory = Path(directory)
    record = read_record(directory)
    failure = build_failure(record)
    if failure is not None:
        raise ArtefactNotBuiltError(f"variant '{record.get('id', directory.name)}' was not built ({failure})")
    verify_artefact(directory, record)
    tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False)
    return FORMATS.get(record["format"]).load(directory, tokenizer).to_device(device), record
