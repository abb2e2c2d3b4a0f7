"""Provenance shared by every result row: code version, config hash, hardware fingerprint, library versions."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Callable, Mapping
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


# The instruction-set extensions that decide which kernels run (oneDNN, fbgemm and ONNX Runtime pick their int8 and
# bf16 paths by them): /proc/cpuinfo's flag (x86 `flags`, Arm `Features`) and the name a reader knows.
ISA_FLAGS = (
    ("avx2", "AVX2"),
    ("avx512f", "AVX512F"),
    ("avx512_vnni", "AVX512-VNNI"),
    ("avx512_bf16", "AVX512-BF16"),
    ("amx_bf16", "AMX-BF16"),
    ("amx_int8", "AMX-INT8"),
    ("asimd", "NEON"),
    ("asimddp", "NEON-DOT"),
    ("sve", "SVE"),
    ("bf16", "BF16"),
)


def isa_extensions(cpuinfo: str) -> tuple[str, ...]:
    """The ISA_FLAGS a /proc/cpuinfo text lists, by their reader's names, in ISA_FLAGS order.

    >>> isa_extensions("flags\t\t: fpu sse4_2 avx2 avx512f avx512_bf16 amx_tile")
    ('AVX2', 'AVX512F', 'AVX512-BF16')
    """
    present: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            present.update(value.split())
    return tuple(name for flag, name in ISA_FLAGS if flag in present)


@cache
def cpu_isa() -> tuple[str, ...] | None:
    """The CPU's ISA extensions (ISA_FLAGS) from /proc/cpuinfo; None where there is no such file (not Linux)."""
    try:
        return isa_extensions(Path("/proc/cpuinfo").read_text())
    except OSError:
        return None


def describe_hardware(cpu: str, cores: int, threads: int | None, isa: tuple[str, ...] | None, gpu: str | None) -> str:
    """The machine in a reader's words: CPU model, logical cores used of those available, ISA extensions, GPU.

    >>> describe_hardware("AMD EPYC 9B14", 4, 2, ("AVX2", "AVX512F", "AVX512-BF16"), None)
    'AMD EPYC 9B14, 2 of 4 logical cores, AVX2 AVX512F AVX512-BF16'
    >>> describe_hardware("Neoverse", 8, None, None, "NVIDIA H200")
    'Neoverse, 8 logical cores, ISA extensions not recorded, GPU NVIDIA H200'
    """
    used = f"{threads} of {cores} logical cores" if threads else f"{cores} logical cores"
    if isa is None:
        extensions = "ISA extensions not recorded"
    else:
        extensions = " ".join(isa) or f"none of {', '.join(name for _, name in ISA_FLAGS)}"
    return ", ".join([cpu, used, extensions] + ([f"GPU {gpu}"] if gpu else []))


def hardware(threads: int, device: str = "cpu") -> dict[str, Any]:
    """The hardware columns of the results schema; the description names the GPU only when the rows ran on one."""
    cores = os.cpu_count() or 0
    gpu = gpu_name()
    fingerprint_source = {"cpu": cpu_model(), "cores": cores, "gpu": gpu, "machine": platform.machine()}
    return {
        "cpu_model": cpu_model(),
        "cpu_cores": cores,
        "threads": threads,
        "gpu": gpu,
        "hardware_fingerprint": sha256_json(fingerprint_source)[:16],
        "hardware_description": describe_hardware(
            cpu_model(), cores, threads, cpu_isa(), gpu if device.startswith("cuda") else None
        ),
    }


# Environment variables that change how the runtimes schedule threads, wait for work, allocate or pick kernels, and so
# what a latency means (OMP_WAIT_POLICY=PASSIVE alone nearly doubled the teacher's p50 on a 2-core VM): recorded with
# every row, so two runs' numbers are seen to come from two configurations. Names that end in a directory or file
# setting (caches, logs) do not change a timing and are left out.
RUNTIME_ENV_PREFIXES = (
    "OMP_", "GOMP_", "KMP_", "MKL_", "OPENBLAS_", "ONEDNN_", "DNNL_", "ORT_", "ATEN_CPU_CAPABILITY", "TORCHINDUCTOR_",
    "PYTORCH_", "CUDA_VISIBLE_DEVICES", "LD_PRELOAD", "MALLOC_", "GLIBC_TUNABLES",
)  # fmt: skip
_NOT_TIMING = ("_DIR", "_PATH", "_FILE")


def runtime_env(environ: Mapping[str, str] | None = None) -> str:
    """The timing-relevant environment variables set for this process (RUNTIME_ENV_PREFIXES), as a sorted JSON object;
    "{}" when none is set.

    >>> runtime_env({"OMP_WAIT_POLICY": "PASSIVE", "HOME": "/root", "TORCHINDUCTOR_CACHE_DIR": "/tmp/x"})
    '{"OMP_WAIT_POLICY": "PASSIVE"}'
    """
    environ = os.environ if environ is None else environ
    chosen = {
        name: value
        for name, value in environ.items()
        if name.startswith(RUNTIME_ENV_PREFIXES) and not name.endswith(_NOT_TIMING)
    }
    return json.dumps(dict(sorted(chosen.items())))


def describe_runtime_env(recorded: str | None) -> str:
    """A row's `runtime_env` in a reader's words: "" when none was set or the row predates it (results schema v8).

    >>> describe_runtime_env('{"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}')
    'runtime env OMP_WAIT_POLICY=PASSIVE KMP_BLOCKTIME=0'
    >>> describe_runtime_env("{}"), describe_runtime_env(None)
    ('', '')
    """
    chosen = json.loads(recorded) if recorded else {}
    return "runtime env " + " ".join(f"{name}={value}" for name, value in chosen.items()) if chosen else ""


def host_id(salt: str = "compressed-model-benchmark") -> str:
    """A salted hash of this host's identity (machine-id and host name): rows from two nodes of one type (one
    hardware fingerprint) can be told apart without publishing either name."""
    machine = ""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            machine = Path(path).read_text().strip()
            break
        except OSError:
            continue
    return hashlib.sha256(f"{salt}\0{machine}\0{platform.node()}".encode()).hexdigest()[:16]


def provenance(
    *,
    config_hash: str,
    artefact_sha256: str,
    data_sha256: str,
    seed: int,
    threads: int,
    device: str = "cpu",
) -> dict[str, Any]:
    """The provenance columns of the results schema for rows written now (`device`: the config's, cpu or cuda)."""
    return {
        "suite_version": __version__,
        "git_commit": git_commit(),
        "config_hash": config_hash,
        "artefact_sha256": artefact_sha256,
        "data_sha256": data_sha256,
        "seed": seed,
        "library_versions": json.dumps(library_versions(), sort_keys=True),
        "environment_lock": lock_status(),
        **hardware(threads, device),
        "host_id": host_id(),
        "runtime_env": runtime_env(),
        "timestamp": datetime.now(UTC),
    }
