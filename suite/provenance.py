"""Provenance shared by every result row: code version, config hash, hardware fingerprint, library versions."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Callable
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


LOAD_CACHE_DIR = "results/cache/load"  # relative to the working directory: the workflow's, for Snakemake
LOAD_CACHE_ENV = "SUITE_LOAD_CACHE"  # another directory for it


def file_stamp(path: str | Path) -> list[Any]:
    """What says a file is unchanged without reading it: its resolved path, size and modification time (ns)."""
    resolved = Path(path).resolve()
    try:
        stat = resolved.stat()
    except OSError:
        return [str(resolved), None, None]
    return [str(resolved), stat.st_size, stat.st_mtime_ns]


def load_cache(kind: str, key: Any, compute: Callable[[], Any]) -> Any:
    """`compute()` (JSON), remembered under results/cache/load/ by `key` (which holds the `file_stamp`s of the files
    it read): what the workflow's load learns from files (data checked, a GGUF's architecture), computed once and not
    again by every cluster job that re-reads the workflow. A job verifies the bytes it reads itself (sha256); this
    only spares the load from doing it again for files whose path, size and mtime have not moved."""
    directory = Path(os.environ.get(LOAD_CACHE_ENV) or LOAD_CACHE_DIR)
    path = directory / f"{kind}-{sha256_json(key)[:40]}.json"
    try:
        return json.loads(path.read_text())["value"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    value = compute()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"kind": kind, "key": key, "value": value}, sort_keys=True))
        tmp.replace(path)
    except OSError:  # a read-only checkout still loads, only without the cache
        pass
    return value


def canonical_safetensors(path: str | Path) -> None:
    """Rewrite a safetensors file's JSON header with sorted keys and no spaces, in place, so that the same tensors and
    metadata always give the same bytes (safetensors keeps the metadata in a hash map: its order varies between
    processes). The tensor data, and its offsets (relative to the end of the header), are unchanged.

    >>> import tempfile, struct
    >>> p = Path(tempfile.mkdtemp()) / "t.safetensors"
    >>> head = b'{"__metadata__": {"b": "1", "a": "2"}}'
    >>> _ = p.write_bytes(struct.pack("<Q", len(head)) + head)
    >>> canonical_safetensors(p); p.read_bytes()[8:].rstrip()
    b'{"__metadata__":{"a":"2","b":"1"}}'
    """
    import struct

    path = Path(path)
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header with spaces to an 8-byte boundary
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + length :])


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


LOCK_FILE = Path(__file__).resolve().parent.parent / "constraints.txt"


@cache
def lock_status(lock_file: Path = LOCK_FILE) -> str:
    """Whether the installed libraries are the versions constraints.txt pins (what the README's install uses): "matches
    constraints.txt (N packages)", or what differs, or that there is no lock to compare with.

    >>> lock_status(Path("/nonexistent/constraints.txt"))
    'no lock file (/nonexistent/constraints.txt)'
    """
    try:
        lines = Path(lock_file).read_text(encoding="utf-8").splitlines()
    except OSError:
        return f"no lock file ({lock_file})"
    differ, missing, checked = [], [], 0
    for line in lines:
        name, sep, pinned = line.split("#", 1)[0].strip().partition("==")
        if not sep:
            continue
        try:
            installed = version(name)
        except PackageNotFoundError:
            missing.append(name)  # an optional extra (e.g. llama-cpp-python) need not be installed
            continue
        checked += 1
        if installed.split("+", 1)[0] != pinned.split("+", 1)[0]:
            differ.append(f"{name} {installed} (locked {pinned})")
    if differ:
        return f"differs from {Path(lock_file).name}: " + ", ".join(differ)
    return f"matches {Path(lock_file).name} ({checked} packages; {len(missing)} locked ones not installed)"


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
        "environment_lock": lock_status(),
        **hardware(threads),
        "timestamp": datetime.now(UTC),
    }
