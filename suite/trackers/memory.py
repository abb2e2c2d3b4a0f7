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
    probe_module: str = "suite.memory_probe",
) -> dict[str, Any]:
    """Run `python -m <probe_module>` in a new interpreter and read back its peak RSS (MiB).

    The probe (suite/memory_probe.py) loads the artefact, so it lives on the floor that knows artefacts; this
    tracker only starts it and reads its one line of JSON.
    """
    cmd = [
        sys.executable,
        "-m",
        probe_module,
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


def rss_mib() -> float:
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
