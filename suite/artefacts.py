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


def artefact_files(directory: Path) -> dict[str, str]:
    """sha256 of every file of the artefact except variant.json."""
    return {
        str(p.relative_to(directory)): sha256_file(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != VARIANT_JSON
    }


def save_artefact(built: Any, tokenizer: Any, fmt: str, out_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Write weights, tokenizer and variant.json into a temp dir, then move it to out_dir (atomic for Snakemake)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        FORMATS.get(fmt).save(built, tmp)
        tokenizer.save_pretrained(str(tmp))
        files = artefact_files(tmp)
        record = {
            **record,
            "format": fmt,
            "recipe_hash": sha256_json(record.get("recipe", {})),
            "files": files,
            "artefact_sha256": sha256_json(files),
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


def load_artefact(directory: str | Path, device: str = "cpu") -> tuple[Classifier, dict[str, Any]]:
    """Load any variant artefact behind the Classifier interface on `device`, with its variant.json record."""
    from transformers import AutoTokenizer

    directory = Path(directory)
    record = read_record(directory)
    tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False)
    return FORMATS.get(record["format"]).load(directory, tokenizer).to_device(device), record
