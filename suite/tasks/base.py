"""A task kind: a NAME, `predict` (model + data -> per-instance predictions) and `score` (predictions -> rows)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from suite.data import MIRROR_HINT, NO_LABEL, Instance, TaskData, load_split, mirror_path
from suite.errors import SuiteInputError
from suite.families.base import CLASSIFIER
from suite.metrics import metric_ci, task_metric
from suite.provenance import sha256_file, sha256_json
from suite.registry import Registry
from suite.results import Row
from suite.specs import EvaluateSpec, TaskSpec

# Metric names on a part of a task are `<metric>@<slice>` (e.g. accuracy@typo_s2, failure_rate@mft_negation,
# positive_rate@gender=female): the part before '@' fixes the unit and direction, the part after names the slice.
SLICE_SEP = "@"


def sliced(metric: str, slice_name: str | None) -> str:
    """`accuracy`, or `accuracy@typo_s2` for a slice.

    >>> sliced("accuracy", "typo_s2")
    'accuracy@typo_s2'
    """
    return f"{metric}{SLICE_SEP}{slice_name}" if slice_name else metric


class TaskKind(ABC):
    NAME: ClassVar[str]
    NEEDS_DATASET: ClassVar[bool] = True  # reads a dataset split (perturbations start from one)
    NEEDS_GENERATOR: ClassVar[bool] = False  # builds its instances with a registered generator
    FAMILIES: ClassVar[frozenset[str]] = frozenset({CLASSIFIER})  # the model families it can score (suite.families)

    def predict(self, model: Any, variant: str, task: TaskSpec, data: TaskData, spec: EvaluateSpec) -> pa.Table:
        """Per-instance predictions in PREDICTIONS_SCHEMA, in the data's order."""
        return predictions_table(variant, task, data, unique_logits(model, data.texts, spec))

    @abstractmethod
    def score(self, predictions: pa.Table, variant: str, task: TaskSpec, spec: EvaluateSpec, seed: int) -> list[Row]:
        """Metric rows computed from the predictions alone (so any metric can be recomputed later)."""

    def main_mask(self, cols: Columns) -> np.ndarray:
        """The instances the task's unsliced metrics (accuracy, …) are computed on."""
        return cols.labelled

    def teacher_relative(
        self, teacher: pa.Table, student: pa.Table, task: TaskSpec, spec: EvaluateSpec, seed: int
    ) -> list[Row] | None:
        """Fidelity rows of a student against the teacher from both prediction tables, or None for the classifier
        figures of suite.fidelity.teacher_relative (accuracy drop, McNemar, agreement, KL, badges, slices)."""
        return None

    def extra_teacher_relative(
        self, teacher: pa.Table, student: pa.Table, task: TaskSpec, spec: EvaluateSpec, seed: int
    ) -> list[Row]:
        """Fidelity rows of the kind's own, added to the classifier figures (a contrast task's group figures)."""
        return []

    def load_data(self, task: TaskSpec, mirror: str | None, cache_dir: str) -> TaskData | None:
        """The kind's own instances (a contrast task's groups), or None for `load_task_data`'s: the split, or what
        the task's generator builds."""
        if task.contrast is not None:
            raise SuiteInputError(
                task.path,
                "contrast",
                f"a '{self.NAME}' task does not group its instances",
                "use kind: contrast, or remove the contrast section",
            )
        return None


# Every module of suite/tasks/ registers its task kinds and generators; the registries import them on first use.
TASK_PLUGINS = ("suite.tasks",)
TASK_KINDS: Registry[type[TaskKind]] = Registry("task kind", plugins=TASK_PLUGINS)

# A generator builds a generated task's instances: (task, its dataset split or None) -> instances.
Generator = Callable[[TaskSpec, TaskData | None], list[Instance]]
GENERATORS: Registry[Generator] = Registry("generator", plugins=TASK_PLUGINS)

PREDICTIONS_SCHEMA = pa.schema(
    [
        ("variant", pa.string()),
        ("task", pa.string()),
        ("task_version", pa.string()),
        ("idx", pa.int64()),
        ("label", pa.int64()),  # -1: no gold label (generated stress/INV/DIR/neutral instances)
        ("pred", pa.int64()),  # -1 where the logits were not finite
        ("probs", pa.list_(pa.float64())),
        ("logits", pa.list_(pa.float64())),  # raw logits (NaN/inf kept): deployment readiness against the parent
        ("finite", pa.bool_()),
        ("slice", pa.string()),  # generated tasks: perturbation_s<severity>, checklist test, stress type, emotion
        ("ref", pa.int64()),  # the idx this instance is compared with (unperturbed sentence, INV/DIR base); -1 none
        ("meta", pa.string()),  # JSON object of instance attributes (fairness groups, checklist case, errors)
    ]
)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax that keeps NaN/inf rows as NaN instead of raising.

    >>> softmax(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    """
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=1, keepdims=True)


def unique_logits(model: Any, texts: list[str], spec: EvaluateSpec) -> np.ndarray:
    """Logits in input order, computing each distinct text once (perturbations often leave a sentence as it is)."""
    distinct = list(dict.fromkeys(texts))
    logits = np.asarray(model.predict_logits(distinct, spec.batch_size, spec.max_length, progress=True))
    where = {text: i for i, text in enumerate(distinct)}
    return logits[[where[t] for t in texts]] if len(texts) else logits


def predictions_table(
    variant: str, task: TaskSpec, data: TaskData, logits: np.ndarray, meta: list[dict[str, Any]] | None = None
) -> pa.Table:
    """Labels, predicted labels (-1 for non-finite logits, which count as wrong) and probabilities."""
    labels = data.labels
    n = len(labels)
    logits = np.asarray(logits, dtype=np.float64).reshape(n, -1) if n else np.zeros((0, len(task.labels)))
    finite = np.isfinite(logits).all(axis=1)
    preds = np.where(finite, np.nan_to_num(logits, nan=-np.inf).argmax(axis=1), -1)
    metas = meta or data.meta or [{}] * n
    return pa.Table.from_pydict(
        {
            "variant": [variant] * n,
            "task": [task.name] * n,
            "task_version": [task.version] * n,
            "idx": np.arange(n, dtype=np.int64),
            "label": np.asarray(labels, dtype=np.int64),
            "pred": preds.astype(np.int64),
            "probs": [list(map(float, p)) for p in softmax(logits)],
            "logits": [list(map(float, row)) for row in logits],
            "finite": finite,
            "slice": data.slices if data.slices is not None else [None] * n,
            "ref": data.refs if data.refs is not None else np.full(n, -1, dtype=np.int64),
            "meta": [json.dumps(m, sort_keys=True) if m else None for m in metas],
        },
        schema=PREDICTIONS_SCHEMA,
    )


class Columns:
    """The prediction columns a scorer needs, as numpy arrays in idx order."""

    def __init__(self, table: pa.Table) -> None:
        table = table.sort_by("idx")
        self.label = table["label"].to_numpy()
        self.pred = table["pred"].to_numpy()
        self.finite = table["finite"].to_numpy(zero_copy_only=False)
        probs = table["probs"].to_pylist()
        width = max((len(p) for p in probs), default=0)
        self.probs = np.array(probs, dtype=np.float64).reshape(len(probs), width)
        names = table.column_names
        self.logits = (
            np.array(table["logits"].to_pylist(), dtype=np.float64).reshape(len(probs), width)
            if "logits" in names
            else None
        )
        n = table.num_rows
        self.slice = np.array(table["slice"].to_pylist() if "slice" in names else [None] * n, dtype=object)
        self.ref = table["ref"].to_numpy() if "ref" in names else np.full(n, -1, dtype=np.int64)
        raw_meta = table["meta"].to_pylist() if "meta" in names else [None] * n
        self.meta = [json.loads(m) if m else {} for m in raw_meta]

    def __len__(self) -> int:
        return len(self.label)

    @property
    def labelled(self) -> np.ndarray:
        return self.label != NO_LABEL

    @property
    def p_positive(self) -> np.ndarray:
        """Probability of the highest label (positive in binary sentiment)."""
        return self.probs[:, -1] if self.probs.size else np.zeros(len(self))


def metric_rows(
    variant: str,
    task: TaskSpec,
    spec: EvaluateSpec,
    seed: int,
    cols: Columns,
    mask: np.ndarray,
    slice_name: str | None,
    what: str,
) -> list[Row]:
    """The task's metrics with bootstrap CIs on the instances in `mask` (named `<metric>@<slice>` for a slice)."""
    labels, preds, probs = cols.label[mask], cols.pred[mask], cols.probs[mask]
    n = len(labels)
    ci_text = f"{round(spec.confidence * 100)} % percentile bootstrap CI, {spec.bootstrap_resamples} resamples"
    rows = []
    for name in task.metrics:
        metric = task_metric(task, name)  # registered, or a task's own evaluate module
        value = metric.compute(labels, preds, probs) if n else float("nan")
        low, high = metric_ci(
            metric, labels, preds, probs, resamples=spec.bootstrap_resamples, confidence=spec.confidence, seed=seed
        )
        rows.append(
            Row(
                variant=variant,
                task=task.name,
                task_version=task.version,
                metric=sliced(metric.name, slice_name),
                value=value * metric.scale,
                unit=metric.unit,
                higher_is_better=metric.higher_is_better,
                ci_low=low * metric.scale,
                ci_high=high * metric.scale,
                n=n,
                measurement=f"{what}, {n} instances; {ci_text}, seed {seed}{metric.how}",
            )
        )
    return rows


def rate_row(
    variant: str,
    task: TaskSpec,
    metric: str,
    hits: np.ndarray,
    *,
    higher_is_better: bool,
    how: str,
    spec: EvaluateSpec | None = None,
    seed: int = 0,
    status: str = "ok",
    error: str | None = None,
) -> Row:
    """A percentage of instances (failure rate, flip rate, non-finite rate), with a bootstrap CI when spec is given."""
    hits = np.asarray(hits, dtype=np.float64)
    n = len(hits)
    low = high = None
    if spec is not None and n:
        low, high = (
            100 * v
            for v in bootstrap_mean(hits, resamples=spec.bootstrap_resamples, confidence=spec.confidence, seed=seed)
        )
    return Row(
        variant=variant,
        task=task.name,
        task_version=task.version,
        metric=metric,
        value=100.0 * float(hits.mean()) if n else float("nan"),
        unit="%",
        higher_is_better=higher_is_better,
        ci_low=low,
        ci_high=high,
        n=n,
        status=status,
        error=error,
        measurement=how,
    )


def bootstrap_mean(values: np.ndarray, *, resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of a mean, vectorised (rates over thousands of instances stay fast)."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def nonfinite_row(variant: str, task: TaskSpec, cols: Columns) -> Row:
    return rate_row(
        variant,
        task,
        "nonfinite_rate",
        ~cols.finite,
        higher_is_better=False,
        how="share of instances with a NaN or inf logit (scored as wrong predictions)",
    )


def load_task_data(task: TaskSpec, mirror: str | None, cache_dir: str) -> TaskData:
    """The instances a task evaluates: its kind's own (contrast groups), its split, or what its generator builds
    (from that split, if it has one)."""
    own = TASK_KINDS.get(task.kind)().load_data(task, mirror, cache_dir)
    if own is not None:
        return own
    base = load_split(task, task.split, mirror, cache_dir) if task.dataset is not None and task.split else None
    if base is not None and task.generator is not None and task.dataset is not None and task.dataset.pairs:
        raise SuiteInputError(
            task.path,
            "dataset.text_fields",
            f"generator '{task.generator.name}' builds instances from single texts, not sentence pairs",
            "derive the generated task from a dataset with one text_field",
        )
    if task.data_files:  # raw mirror files its generator parses (the llm track's lm_eval tasks), checked by sha256
        base = _load_data_files(task, mirror)
    if task.generator is None:
        if base is None:
            raise SuiteInputError(task.path, "dataset", f"task '{task.name}' has neither a dataset nor a generator")
        return base
    instances = GENERATORS.get(task.generator.name)(task, base)
    if not instances:
        raise SuiteInputError(task.path, "generator.params", f"generator '{task.generator.name}' produced no instances")
    for i, instance in enumerate(instances):
        if instance.label != NO_LABEL and instance.label not in task.labels:
            raise SuiteInputError(
                task.path,
                "labels",
                f"generated instance {i} has label {instance.label}, outside the label set {sorted(task.labels)}",
            )
    source = f"generated:{task.generator.name}(seed {task.generator.seed})"
    if base is not None:
        source += f" from {base.source}"
    return TaskData.from_instances(instances, source)


def _load_data_files(task: TaskSpec, mirror: str | None) -> TaskData:
    """A task's `data_files` read whole from the mirror after their sha256 check: one text per role, in order."""
    if not mirror:
        raise SuiteInputError(
            task.path, "data_files", f"task '{task.name}' reads files from the data mirror", MIRROR_HINT
        )
    texts, meta = [], []
    paths = [f.path for f in task.data_files.values()]
    for role, entry in task.data_files.items():
        path = mirror_path(mirror, entry.path, task.path, f"data_files.{role}.path")
        if not path.is_file():
            raise SuiteInputError(
                str(path), f"data_files.{role}.path in {task.path}", "file is missing from the data mirror", MIRROR_HINT
            )
        digest = sha256_file(path)
        if digest != entry.sha256:
            raise SuiteInputError(
                str(path),
                f"data_files.{role}.sha256 in {task.path}",
                f"sha256 mismatch: file has {digest}, task expects {entry.sha256}",
                "restore the original file (see the mirror's PROVENANCE.md); never edit the expected digest to match",
            )
        texts.append(path.read_text(encoding="utf-8"))
        meta.append({"role": role, "path": entry.path})
    return TaskData(
        texts=texts,
        labels=np.full(len(texts), NO_LABEL, dtype=np.int64),
        data_sha256=sha256_json({role: f.sha256 for role, f in task.data_files.items()}),
        source="mirror:" + (",".join(paths) if len(paths) <= 4 else f"{len(paths)} files in {Path(paths[0]).parent}/"),
        meta=meta,
    )
