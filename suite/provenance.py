"""Provenance shared by every result row: code version, config hash, hardware fingerprint, library versions."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from suite import __version__

TRACKED_LIBRARIES = (
    "torch",
    "transformers",
    "datasets",
    "tokenizers",
    "safetensors",
    "numpy",
    "scikit-learn",
    "pyarrow",
    "onnx",
    "onnxruntime",
    "torchao",
    "codecarbon",
    "snakemake",
)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hash of a JSON-serialisable object in canonical form (sorted keys, no whitespace)."""
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@cache
def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in TRACKED_LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


@cache
def git_commit(root: str | None = None) -> str:
    """HEAD commit of the suite's checkout, with '-dirty' when tracked files are modified; 'unknown' outside git."""
    cwd = root or str(Path(__file__).resolve().parent.parent)
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


@cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_name() -> str:
    """Name of the first CUDA device, or 'none'. Imports torch only when the job already loaded it."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return "not checked (torch not loaded)"
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"


def hardware(threads: int) -> dict[str, Any]:
    cores = os.cpu_count() or 0
    gpu = gpu_name()
    fingerprint_source = {"cpu": cpu_model(), "cores": cores, "gpu": gpu, "machine": platform.machine()}
    return {
        "cpu_model": cpu_model(),
        "cpu_cores": cores,
        "threads": threads,
        "gpu": gpu,
        "hardware_fingerprint": sha256_json(fingerprint_source)[:16],
    }


def provenance(
    *,
    config_hash: str,
    artefact_sha256: str,
    data_sha256: str,
    seed: int,
    threads: int,
) -> dict[str, Any]:
    """The provenance columns of the results schema for rows written now."""
    return {
        "suite_version": __version__,
        "git_commit": git_commit(),
        "config_hash": config_hash,
        "artefact_sha256": artefact_sha256,
        "data_sha256": data_sha256,
        "seed": seed,
        "library_versions": json.dumps(library_versions(), sort_keys=True),
        **hardware(threads),
        "timestamp": datetime.now(UTC),
    }
