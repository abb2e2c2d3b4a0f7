"""NaN/inf stability: stress inputs (empty, whitespace, maximum and extreme length, repeated tokens, unicode,
control characters) through the model; any non-finite logit or exception fails the task without crashing the run.

Generator `stress`, data file `inputs` (YAML): `inputs` (type + text) and `repeated` (type, unit, times: the unit
repeated `times` times). Gather adds `nonfinite_rate@all_inputs`: the share over every task's inputs plus these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from suite.data import Instance, TaskData
from suite.errors import SuiteInputError
from suite.results import Row
from suite.specs import EvaluateSpec, TaskSpec
from suite.tasks.base import (
    GENERATORS,
    TASK_KINDS,
    Columns,
    TaskKind,
    predictions_table,
    rate_row,
    sliced,
    unique_logits,
)


@GENERATORS.named("stress")
def generate(task: TaskSpec, base: TaskData | None) -> list[Instance]:
    assert task.generator is not None
    spec = task.generator.data.get("inputs") or {}
    where = str(Path(task.path).parent / task.generator.files.get("inputs", "inputs"))
    instances = []
    for i, item in enumerate(spec.get("inputs") or []):
        if not isinstance(item, dict) or "type" not in item or not isinstance(item.get("text"), str):
            raise SuiteInputError(where, f"inputs[{i}]", "expected {type: …, text: …}")
        instances.append(Instance(item["text"], slice=item["type"]))
    for i, item in enumerate(spec.get("repeated") or []):
        if not isinstance(item, dict) or not {"type", "unit", "times"} <= set(item):
            raise SuiteInputError(where, f"repeated[{i}]", "expected {type: …, unit: …, times: …}")
        instances.append(Instance(item["unit"] * int(item["times"]), slice=item["type"]))
    return instances


@TASK_KINDS.register
class Stability(TaskKind):
    """Share of stress inputs with a non-finite logit, per input type; a model error counts as non-finite."""

    NAME = "stability"
    NEEDS_DATASET = False
    NEEDS_GENERATOR = True

    def predict(self, model: Any, variant: str, task: TaskSpec, data: TaskData, spec: EvaluateSpec) -> pa.Table:
        try:
            return predictions_table(variant, task, data, unique_logits(model, data.texts, spec))
        except Exception:  # retry one input at a time: a failing input is recorded, the others still count
            pass
        width = len(task.labels)
        logits = np.full((len(data.texts), width), np.nan)
        meta: list[dict[str, Any]] = []
        for i, text in enumerate(data.texts):
            try:
                logits[i] = np.asarray(model.predict_logits([text], 1, spec.max_length)).reshape(-1)[:width]
                meta.append({})
            except Exception as exc:
                meta.append({"error": f"{type(exc).__name__}: {exc}"[:300]})
        return predictions_table(variant, task, data, logits, meta=meta)

    def score(self, predictions: pa.Table, variant: str, task: TaskSpec, spec: EvaluateSpec, seed: int) -> list[Row]:
        cols = Columns(predictions)
        bad = ~cols.finite
        rows = []
        for name in dict.fromkeys(cols.slice.tolist()):
            mask = cols.slice == name
            rows.append(
                rate_row(
                    variant,
                    task,
                    sliced("nonfinite_rate", name),
                    bad[mask],
                    higher_is_better=False,
                    how=f"share of '{name}' stress inputs with a NaN or inf logit (or a model error)",
                )
            )
        rows.append(nonfinite_summary(variant, task, bad, cols.slice, cols.meta, "stress inputs", None))
        return rows


def nonfinite_summary(
    variant: str,
    task: TaskSpec,
    bad: np.ndarray,
    kinds: np.ndarray,
    meta: list[dict[str, Any]],
    what: str,
    slice_name: str | None,
) -> Row:
    """The task's verdict: status 'failed' with the offending input types when any logit is non-finite."""
    error = None
    if bad.any():
        types = sorted({str(k) for k in kinds[bad]})
        errors = sorted({m["error"] for m, b in zip(meta, bad, strict=True) if b and m.get("error")})
        error = f"non-finite logits on {int(bad.sum())} of {len(bad)} {what} ({', '.join(types)})"
        if errors:
            error += f"; model errors: {errors[0]}"
    return rate_row(
        variant,
        task,
        sliced("nonfinite_rate", slice_name),
        bad,
        higher_is_better=False,
        how=f"share of {what} with a NaN or inf logit (or a model error); any makes the variant fail this task",
        status="failed" if bad.any() else "ok",
        error=error,
    )
