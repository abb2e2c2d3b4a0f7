"""Classification tasks: logits over the split, registered metrics with bootstrap CIs, per-instance predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from suite.data import TaskData
from suite.metrics import METRICS, bootstrap_ci
from suite.results import Row
from suite.specs import EvaluateSpec, TaskSpec
from suite.tasks.base import PREDICTIONS_SCHEMA, TASK_KINDS, TaskKind


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax that keeps NaN/inf rows as NaN instead of raising.

    >>> softmax(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    """
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=1, keepdims=True)


def predictions_table(variant: str, task: TaskSpec, labels: np.ndarray, logits: np.ndarray) -> pa.Table:
    """Labels, predicted labels (-1 for non-finite logits, which count as wrong) and probabilities."""
    logits = np.asarray(logits, dtype=np.float64)
    finite = np.isfinite(logits).all(axis=1)
    preds = np.where(finite, np.nan_to_num(logits, nan=-np.inf).argmax(axis=1), -1)
    n = len(labels)
    return pa.Table.from_pydict(
        {
            "variant": [variant] * n,
            "task": [task.name] * n,
            "task_version": [task.version] * n,
            "idx": np.arange(n, dtype=np.int64),
            "label": np.asarray(labels, dtype=np.int64),
            "pred": preds.astype(np.int64),
            "probs": [list(map(float, p)) for p in softmax(logits)],
            "finite": finite,
        },
        schema=PREDICTIONS_SCHEMA,
    )


@TASK_KINDS.register("classification")
class Classification(TaskKind):
    NAME = "classification"

    def predict(self, model: Any, variant: str, task: TaskSpec, data: TaskData, spec: EvaluateSpec) -> pa.Table:
        logits = model.predict_logits(data.texts, spec.batch_size, spec.max_length, progress=True)
        return predictions_table(variant, task, data.labels, logits)

    def score(self, predictions: pa.Table, variant: str, task: TaskSpec, spec: EvaluateSpec, seed: int) -> list[Row]:
        predictions = predictions.sort_by("idx")
        labels = predictions["label"].to_numpy()
        preds = predictions["pred"].to_numpy()
        finite = predictions["finite"].to_numpy(zero_copy_only=False)
        n = len(preds)
        ci_text = f"{round(spec.confidence * 100)} % percentile bootstrap CI, {spec.bootstrap_resamples} resamples"
        rows = []
        for name in task.metrics:
            metric = METRICS.get(name)
            low, high = bootstrap_ci(
                metric.fn, labels, preds, resamples=spec.bootstrap_resamples, confidence=spec.confidence, seed=seed
            )
            rows.append(
                Row(
                    variant=variant,
                    task=task.name,
                    task_version=task.version,
                    metric=name,
                    value=metric.fn(labels, preds) * metric.scale,
                    unit=metric.unit,
                    higher_is_better=metric.higher_is_better,
                    ci_low=low * metric.scale,
                    ci_high=high * metric.scale,
                    n=n,
                    measurement=f"'{task.split}' split, {n} instances; {ci_text}, seed {seed}",
                )
            )
        rows.append(
            Row(
                variant=variant,
                task=task.name,
                task_version=task.version,
                metric="nonfinite_rate",
                value=100.0 * float(np.mean(~finite)) if n else float("nan"),
                unit="%",
                higher_is_better=False,
                n=n,
                measurement="share of instances with a NaN or inf logit (scored as wrong predictions)",
            )
        )
        return rows
