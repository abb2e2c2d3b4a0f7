"""A task kind: a NAME, `predict` (model + data -> per-instance predictions) and `score` (predictions -> rows)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import pyarrow as pa

from suite.data import TaskData
from suite.registry import Registry
from suite.results import Row
from suite.specs import EvaluateSpec, TaskSpec


class TaskKind(ABC):
    NAME: ClassVar[str]

    @abstractmethod
    def predict(self, model: Any, variant: str, task: TaskSpec, data: TaskData, spec: EvaluateSpec) -> pa.Table:
        """Per-instance predictions in PREDICTIONS_SCHEMA, in the data's order."""

    @abstractmethod
    def score(self, predictions: pa.Table, variant: str, task: TaskSpec, spec: EvaluateSpec, seed: int) -> list[Row]:
        """Metric rows computed from the predictions alone (so any metric can be recomputed later)."""


TASK_KINDS: Registry[type[TaskKind]] = Registry("task kind")

PREDICTIONS_SCHEMA = pa.schema(
    [
        ("variant", pa.string()),
        ("task", pa.string()),
        ("task_version", pa.string()),
        ("idx", pa.int64()),
        ("label", pa.int64()),
        ("pred", pa.int64()),  # -1 where the logits were not finite
        ("probs", pa.list_(pa.float64())),
        ("finite", pa.bool_()),
    ]
)
