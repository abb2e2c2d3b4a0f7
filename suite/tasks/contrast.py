"""Contrast sets (Gardner et al. 2020): groups of an original and its minimal edits, scored group by group.

A contrast task's instances come in groups: row i of the task's split and row i of `contrast.contrast_split` (two
files of equal length, as allenai/contrast-sets ships IMDb's dev_original.tsv / dev_contrast.tsv), or the rows of the
split that share `contrast.group_field`. Each instance's slice is `original` or `contrast` (an edit), its `ref` the
index of its group's original and its `meta` the group id; the predictions also record, per instance, its tokens and
whether `evaluate.max_length` truncated it (full reviews are hundreds of words).

Rows: the task's metrics on every instance, on the originals (`<metric>@original`) and on the edits
(`<metric>@contrast`), `contrast_consistency` (share of groups whose every instance is predicted right),
`truncated_share` and `nonfinite_rate`; every CI is a seeded percentile bootstrap that resamples groups. Against the
teacher, besides the classifier figures (suite.fidelity, which give `accuracy_drop_pts@original` and `@contrast`):
`contrast_consistency_drop_pts` (paired, resampling groups) and `flip_agreement` (share of groups where the variant's
prediction changes from the original to each edit exactly where the teacher's does).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from suite.data import Instance, TaskData, load_split
from suite.errors import SuiteInputError
from suite.metrics import bootstrap, task_metric
from suite.models import tokenize
from suite.results import Row, task_row
from suite.specs import EvaluateSpec, TaskSpec
from suite.tasks.base import (
    TASK_KINDS,
    Columns,
    TaskKind,
    bootstrap_mean,
    nonfinite_row,
    predictions_table,
    sliced,
    unique_logits,
)

ORIGINAL, CONTRAST = "original", "contrast"  # the slices: a group's original and its edits
GROUP = "group"  # the meta key of an instance's group id


def groups_of(meta: list[dict[str, Any]]) -> np.ndarray:
    """The group number of each instance (0, 1, … in order of first appearance) from its meta's group id.

    >>> groups_of([{"group": "b"}, {"group": "b"}, {"group": "a"}]).tolist()
    [0, 0, 1]
    """
    numbers: dict[Any, int] = {}
    return np.array([numbers.setdefault(m[GROUP], len(numbers)) for m in meta], dtype=np.int64)


def consistency(correct: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Per group, whether every one of its instances is right (Gardner et al.'s contrast consistency).

    >>> consistency(np.array([True, True, True, False, False, True]), np.array([0, 0, 1, 1, 2, 2])).tolist()
    [True, False, False]
    """
    wrong = np.bincount(group, weights=~np.asarray(correct, dtype=bool), minlength=int(group.max(initial=-1)) + 1)
    return wrong == 0


def flip_agreement(
    teacher_pred: np.ndarray, student_pred: np.ndarray, group: np.ndarray, ref: np.ndarray
) -> np.ndarray:
    """Per group, whether the student's prediction changes from the original to each edit exactly where the
    teacher's does (an edit has ref = its original's index; the original has ref -1).

    >>> t = np.array([0, 1, 0, 0])  # group 0: the teacher flips on the edit; group 1: it does not
    >>> s = np.array([0, 1, 1, 1])  # the student flips in group 0 too, and keeps its (wrong) label in group 1
    >>> flip_agreement(t, s, np.array([0, 0, 1, 1]), np.array([-1, 0, -1, 2])).tolist()
    [True, True]
    >>> flip_agreement(t, np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1]), np.array([-1, 0, -1, 2])).tolist()
    [False, False]
    """
    edits = ref >= 0
    same = (teacher_pred[edits] != teacher_pred[ref[edits]]) == (student_pred[edits] != student_pred[ref[edits]])
    disagreements = np.bincount(group[edits], weights=~same, minlength=int(group.max(initial=-1)) + 1)
    return disagreements == 0


def truncated(tokenizer: Any, texts: list[Any], max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """(tokens of each input with the special tokens, whether that exceeds max_length and is cut when encoded)."""
    ids = tokenize(tokenizer, texts, truncation=False, verbose=False)["input_ids"]
    tokens = np.array([len(x) for x in ids], dtype=np.int64)
    return tokens, tokens > max_length


@TASK_KINDS.register
class Contrast(TaskKind):
    """Groups of an original and its minimal edits (a contrast set), scored per group (see the module docstring)."""

    NAME = "contrast"

    def load_data(self, task: TaskSpec, mirror: str | None, cache_dir: str) -> TaskData:
        spec, dataset = task.contrast, task.dataset
        if spec is None or dataset is None or task.split is None:
            raise SuiteInputError(
                task.path,
                "contrast",
                "a contrast task says how its instances form groups",
                "add contrast: {contrast_split: <split of the edits>} or contrast: {group_field: <column>}",
            )
        if dataset.max_instances is not None:
            raise SuiteInputError(
                task.path,
                "dataset.max_instances",
                "a subset of rows would cut a contrast task's groups apart",
                "remove max_instances (and seed)",
            )
        if spec.contrast_split is not None:
            instances, source = self._by_rows(task, spec.contrast_split, mirror, cache_dir)
        else:
            instances, source = self._by_group(task, mirror, cache_dir)
        return TaskData.from_instances(instances, source)

    @staticmethod
    def _by_rows(task: TaskSpec, contrast_split: str, mirror: str | None, cache_dir: str) -> tuple[list, str]:
        """Row i of the task's split (the original) with row i of the contrast split (its edit)."""
        assert task.dataset is not None and task.split is not None
        if task.dataset.filter is not None:
            raise SuiteInputError(
                task.path,
                "dataset.filter",
                "a filter would drop different rows of the two files and pair the wrong ones",
                "remove the filter, or give the groups an id column (contrast.group_field) and filter that file",
            )
        originals = load_split(task, task.split, mirror, cache_dir)
        edits = load_split(task, contrast_split, mirror, cache_dir)
        if len(originals.texts) != len(edits.texts):
            raise SuiteInputError(
                task.path,
                "contrast.contrast_split",
                f"split '{task.split}' has {len(originals.texts)} rows and '{contrast_split}' {len(edits.texts)}; "
                "row i of one is the edit of row i of the other",
                "give two files of equal length, in the same order",
            )
        instances = []
        for i, (text, label, edit, edit_label) in enumerate(
            zip(originals.texts, originals.labels, edits.texts, edits.labels, strict=True)
        ):
            ref = len(instances)
            instances.append(Instance(text, int(label), ORIGINAL, -1, {GROUP: i}))
            instances.append(Instance(edit, int(edit_label), CONTRAST, ref, {GROUP: i}))
        return instances, f"{originals.source} + {edits.source} (row i with row i)"

    @staticmethod
    def _by_group(task: TaskSpec, mirror: str | None, cache_dir: str) -> tuple[list, str]:
        """The rows of the split that share a group id; the original first, then the edits in file order."""
        spec = task.contrast
        assert spec is not None and spec.group_field is not None and task.split is not None
        keep = {spec.group_field: "contrast.group_field"}
        if spec.role_field is not None:
            keep[spec.role_field] = "contrast.role_field"
        data = load_split(task, task.split, mirror, cache_dir, keep=keep)
        assert data.meta is not None
        members: dict[str, list[int]] = {}
        for i, meta in enumerate(data.meta):
            members.setdefault(meta[spec.group_field], []).append(i)
        instances = []
        for group, rows in members.items():
            if len(rows) < 2:
                raise SuiteInputError(
                    task.path,
                    "contrast.group_field",
                    f"group {group!r} has one row: a contrast group is an original and at least one edit",
                    "check the group ids in the data file, or the filter",
                )
            if spec.role_field is not None:
                firsts = [i for i in rows if data.meta[i][spec.role_field] == spec.original_value]
                if len(firsts) != 1:
                    raise SuiteInputError(
                        task.path,
                        "contrast.original_value",
                        f"group {group!r} has {len(firsts)} rows whose {spec.role_field} is {spec.original_value!r} "
                        "(a group has exactly one original)",
                        "fix the data file or contrast.original_value",
                    )
                rows = [firsts[0], *(i for i in rows if i != firsts[0])]
            ref = len(instances)
            for position, i in enumerate(rows):
                slice_name, ref_of = (ORIGINAL, -1) if position == 0 else (CONTRAST, ref)
                instances.append(Instance(data.texts[i], int(data.labels[i]), slice_name, ref_of, {GROUP: group}))
        return instances, f"{data.source} (grouped by {spec.group_field})"

    def predict(self, model: Any, variant: str, task: TaskSpec, data: TaskData, spec: EvaluateSpec) -> pa.Table:
        """Logits of every instance, and per instance its tokens and whether max_length truncated it."""
        logits = unique_logits(model, data.texts, spec)
        tokens, cut = truncated(model.tokenizer, data.texts, spec.max_length)
        meta = [
            {**m, "tokens": int(n), "truncated": bool(c)} for m, n, c in zip(data.meta or [], tokens, cut, strict=True)
        ]
        return predictions_table(variant, task, data, logits, meta)

    def score(self, predictions: pa.Table, variant: str, task: TaskSpec, spec: EvaluateSpec, seed: int) -> list[Row]:
        cols = Columns(predictions)
        group = groups_of(cols.meta)
        n_groups = int(group.max(initial=-1)) + 1
        ci_text = (
            f"{round(spec.confidence * 100)} % percentile bootstrap CI over the {n_groups} groups, "
            f"{spec.bootstrap_resamples} resamples, seed {seed}"
        )
        rows: list[Row] = []
        for slice_name, mask, what in (
            (None, np.ones(len(cols), dtype=bool), "the originals and their edits"),
            (ORIGINAL, cols.slice == ORIGINAL, "the originals"),
            (CONTRAST, cols.slice == CONTRAST, "the edits"),
        ):
            rows += _group_metric_rows(variant, task, spec, seed, cols, group, mask, slice_name, f"{what}; {ci_text}")
        whole = consistency(cols.pred == cols.label, group)
        low, high = bootstrap_mean(whole, resamples=spec.bootstrap_resamples, confidence=spec.confidence, seed=seed)
        rows.append(
            task_row(
                variant,
                task,
                "contrast_consistency",
                100 * float(whole.mean()) if n_groups else float("nan"),
                "%",
                True,
                f"share of the {n_groups} groups (an original and its edits) whose every instance is predicted right "
                f"(Gardner et al. 2020); {ci_text}",
                n=n_groups,
                ci_low=100 * low,
                ci_high=100 * high,
            )
        )
        cut = np.array([bool(m.get("truncated")) for m in cols.meta])
        tokens = np.array([int(m.get("tokens", 0)) for m in cols.meta])
        rows.append(
            task_row(
                variant,
                task,
                "truncated_share",
                100 * float(cut.mean()) if len(cut) else float("nan"),
                "%",
                None,
                f"share of instances longer than evaluate.max_length = {spec.max_length} tokens, which the model "
                f"sees cut ({int(cut.sum())} of {len(cut)}; the longest has {int(tokens.max(initial=0))} tokens)",
                n=len(cut),
            )
        )
        return [*rows, nonfinite_row(variant, task, cols)]

    def extra_teacher_relative(
        self, teacher: pa.Table, student: pa.Table, task: TaskSpec, spec: EvaluateSpec, seed: int
    ) -> list[Row]:
        t, s = Columns(teacher), Columns(student)
        group = groups_of(t.meta)
        if not np.array_equal(group, groups_of(s.meta)) or not np.array_equal(t.ref, s.ref):
            raise ValueError("the variant and the teacher were evaluated on different groups")
        n_groups = int(group.max(initial=-1)) + 1
        variant = student["variant"][0].as_py() if student.num_rows else ""
        boot = {"resamples": spec.bootstrap_resamples, "confidence": spec.confidence, "seed": seed}
        t_ok, s_ok = consistency(t.pred == t.label, group), consistency(s.pred == s.label, group)
        low, high = bootstrap(lambda g: float(t_ok[g].mean() - s_ok[g].mean()), n_groups, **boot)
        agree = flip_agreement(t.pred, s.pred, group, t.ref)
        a_low, a_high = bootstrap_mean(agree, **boot)
        paired = f"paired percentile bootstrap CI over the {n_groups} groups ({spec.bootstrap_resamples} resamples)"
        return [
            task_row(
                variant,
                task,
                "contrast_consistency_drop_pts",
                100 * float(t_ok.mean() - s_ok.mean()) if n_groups else float("nan"),
                "points",
                False,
                f"teacher contrast_consistency − variant contrast_consistency in points on the same groups; {paired}",
                n=n_groups,
                ci_low=100 * low,
                ci_high=100 * high,
            ),
            task_row(
                variant,
                task,
                "flip_agreement",
                100 * float(agree.mean()) if n_groups else float("nan"),
                "%",
                True,
                "share of groups where the variant's prediction changes from the original to each edit exactly "
                f"where the teacher's does ({int(agree.sum())} of {n_groups}); percentile bootstrap CI over groups",
                n=n_groups,
                ci_low=100 * a_low,
                ci_high=100 * a_high,
            ),
        ]


def _group_metric_rows(
    variant: str,
    task: TaskSpec,
    spec: EvaluateSpec,
    seed: int,
    cols: Columns,
    group: np.ndarray,
    mask: np.ndarray,
    slice_name: str | None,
    how: str,
) -> list[Row]:
    """The task's metrics on the instances in `mask`, each with a bootstrap CI that resamples whole groups (a drawn
    group brings all its instances in `mask`)."""
    chosen = np.flatnonzero(mask)
    n_groups = int(group.max(initial=-1)) + 1
    rows = []
    for name in task.metrics:
        metric = task_metric(task, name)  # registered, or a task's own evaluate module
        labels, preds, probs = cols.label[chosen], cols.pred[chosen], cols.probs[chosen]
        value = metric.compute(labels, preds, probs) if len(chosen) else float("nan")

        def stat(drawn: np.ndarray, metric: Any = metric) -> float:
            counts = np.bincount(drawn, minlength=n_groups)
            idx = np.repeat(chosen, counts[group[chosen]])
            return metric.compute(cols.label[idx], cols.pred[idx], cols.probs[idx]) if len(idx) else float("nan")

        low, high = bootstrap(stat, n_groups, resamples=spec.bootstrap_resamples, confidence=spec.confidence, seed=seed)
        rows.append(
            task_row(
                variant,
                task,
                sliced(metric.name, slice_name),
                value * metric.scale,
                metric.unit,
                metric.higher_is_better,
                f"{len(chosen)} instances: {how}{metric.how}",
                n=len(chosen),
                ci_low=low * metric.scale,
                ci_high=high * metric.scale,
            )
        )
    return rows
