"""Peak memory of a fresh process that loads a variant and runs the task inputs (so no variant sees another's)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def peak_rss_in_subprocess(
    model_dir: Path,
    texts_file: Path,
    batch_size: int,
    max_length: int,
    threads: int,
    device: str = "cpu",
    timeout_s: float = 900,
) -> dict[str, Any]:
    """Run `python -m suite.trackers.memory` in a new interpreter and read back its peak RSS (MiB)."""
    cmd = [
        sys.executable,
        "-m",
        "suite.trackers.memory",
        str(model_dir),
        str(texts_file),
        str(batch_size),
        str(max_length),
        str(threads),
        device,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory probe exited with {done.returncode}: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _rss_mib() -> float:
    """Peak RSS of this process so far, in MiB.

    VmHWM belongs to the address space that execve created, so it starts fresh in the child; ru_maxrss does not:
    Linux carries the parent's peak across fork + exec, which would add the measuring job's own model to the figure.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    raise RuntimeError("peak RSS needs /proc/self/status (VmHWM); not available on this platform")


def _probe(
    model_dir: str, texts_file: str, batch_size: int, max_length: int, threads: int, device: str = "cpu"
) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    # Every backend's runtime is imported before the baseline, so model_rss_mb compares models, not libraries.
    import onnxruntime  # noqa: F401
    import transformers  # noqa: F401

    baseline = _rss_mib()  # the interpreter with torch, transformers and onnxruntime imported, before the model exists
    from suite.artefacts import load_artefact

    model, _ = load_artefact(model_dir, device)
    loaded = _rss_mib()
    texts = json.loads(Path(texts_file).read_text())
    model.predict_logits(texts, batch_size, max_length)
    result = {"peak_rss_mb": _rss_mib(), "baseline_rss_mb": baseline, "after_load_rss_mb": loaded}
    if device.startswith("cuda"):
        result["cuda_max_memory_allocated_mb"] = torch.cuda.max_memory_allocated() / (1 << 20)
    return result


if __name__ == "__main__":
    model_dir, texts_file, batch_size, max_length, threads, device = sys.argv[1:7]
    print(json.dumps(_probe(model_dir, texts_file, int(batch_size), int(max_length), int(threads), device)))
