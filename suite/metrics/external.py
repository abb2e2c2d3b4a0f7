"""Task metrics computed by a local 🤗 `evaluate` module (`evaluate:<path>` in a task's metrics), loaded offline."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from suite.errors import SuiteInputError
from suite.specs import MetricInfoSpec

# Set while a module loads, so that nothing of evaluate, datasets or huggingface_hub reaches the network.
OFFLINE_ENV = ("HF_HUB_OFFLINE", "HF_EVALUATE_OFFLINE", "HF_DATASETS_OFFLINE")


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """The offline switches of the Hugging Face libraries, on for the scope of the block and restored after it.

    evaluate reads HF_EVALUATE_OFFLINE once, when it is imported: its module-level flag is set as well, so that any
    download it tries (a `# From: <url>` import in a script) raises OfflineModeIsEnabled instead of connecting.
    """
    import evaluate.config

    saved_env = {name: os.environ.get(name) for name in OFFLINE_ENV}
    saved_flag = evaluate.config.HF_EVALUATE_OFFLINE
    os.environ.update(dict.fromkeys(OFFLINE_ENV, "1"))
    evaluate.config.HF_EVALUATE_OFFLINE = True
    try:
        yield
    finally:
        evaluate.config.HF_EVALUATE_OFFLINE = saved_flag
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@functools.cache
def load_module(script: str, source: str) -> Any:
    """The evaluate module of a script's text (embedded in the resolved config when the workflow loaded), loaded
    offline from a local file, once per process; its results are kept in memory (no cache files, no locks)."""
    import evaluate

    with tempfile.TemporaryDirectory(prefix="suite-evaluate-") as directory:
        file = Path(directory) / Path(script).name  # evaluate names the module after its script
        file.write_text(source, encoding="utf-8")
        with offline():
            return evaluate.load(str(file), keep_in_memory=True)  # evaluate copies the script into its module cache


def module_metric_fn(info: MetricInfoSpec, entry: str, task_file: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """(y_true, y_pred) -> the module's `compute(predictions=…, references=…)[key]` (class ids as ints): the function
    of a `suite.metrics.Metric`, so that it is scored and bootstrapped exactly like a registered metric. `entry` is
    the task's `metrics` item."""
    module = load_module(info.script, info.source)
    field = f"metric_info.{entry}.key"

    def compute(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        result = module.compute(predictions=np.asarray(y_pred).tolist(), references=np.asarray(y_true).tolist())
        if not isinstance(result, dict) or info.key not in result:
            keys = sorted(result) if isinstance(result, dict) else type(result).__name__
            raise SuiteInputError(
                task_file, field, f"{info.script} returned no '{info.key}' (it returned {keys})", "name one of them"
            )
        value = result[info.key]
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise SuiteInputError(
                task_file, field, f"{info.script}'s '{info.key}' is {value!r}, not a number", "name a numeric key"
            ) from None
        return number

    return compute
