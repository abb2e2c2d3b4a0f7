"""Classification tasks (SST-2, OOD and adversarial sets): registered metrics with bootstrap CIs per instance set."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from suite.results import Row
from suite.specs import EvaluateSpec, TaskSpec
from suite.tasks.base import TASK_KINDS, Columns, TaskKind, metric_rows, nonfinite_row


@TASK_KINDS.register
class Classification(TaskKind):
    """A labelled dataset split scored with the task's metrics (accuracy, macro-F1, MCC, ECE)."""

    NAME = "classification"

    def score(self, predictions: pa.Table, variant: str, task: TaskSpec, spec: EvaluateSpec, seed: int) -> list[Row]:
        cols = Columns(predictions)
        everything = np.ones(len(cols), dtype=bool)
        rows = metric_rows(variant, task, spec, seed, cols, everything, None, f"'{task.split}' split")
        return [*rows, nonfinite_row(variant, task, cols)]
