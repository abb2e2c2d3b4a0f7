"""Classification metrics (one function each, with an example) and seeded bootstrap confidence intervals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from suite.registry import Registry
from suite.specs import TaskSpec

MetricFn = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class Metric:
    name: str
    fn: MetricFn  # (y_true, y_pred) -> value, or (y_true, probs) -> value when uses_probs
    unit: str
    higher_is_better: bool
    scale: float = 1.0  # 100 for metrics reported in percent
    uses_probs: bool = False  # calibration metrics read the probabilities, not the predicted labels
    how: str = ""  # appended to a row's measurement text: where a metric from outside the suite was computed

    def compute(self, y_true: np.ndarray, y_pred: np.ndarray, probs: np.ndarray | None) -> float:
        """The metric in its base unit (a fraction for percentages)."""
        if self.uses_probs:
            if probs is None:
                raise ValueError(f"metric '{self.name}' needs probabilities")
            return self.fn(y_true, probs)
        return self.fn(y_true, y_pred)


METRICS: Registry[Metric] = Registry("metric")


def register(
    name: str, unit: str, higher_is_better: bool, scale: float = 1.0, uses_probs: bool = False
) -> Callable[[MetricFn], MetricFn]:
    def decorate(fn: MetricFn) -> MetricFn:
        METRICS.add(name, Metric(name, fn, unit, higher_is_better, scale, uses_probs))
        return fn

    return decorate


@register("accuracy", unit="%", higher_is_better=True, scale=100.0)
def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of exact matches.

    >>> accuracy(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]))
    0.75
    """
    y_true = np.asarray(y_true)
    return float(np.mean(y_true == np.asarray(y_pred))) if len(y_true) else float("nan")


@register("macro_f1", unit="%", higher_is_better=True, scale=100.0)
def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over the classes present in y_true or y_pred (F1 of an empty class is 0).

    >>> round(macro_f1(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])), 4)  # F1(0)=2/3, F1(1)=0.8
    0.7333
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    scores = []
    for label in np.union1d(y_true, y_pred):
        tp = np.sum((y_pred == label) & (y_true == label))
        fp = np.sum((y_pred == label) & (y_true != label))
        fn = np.sum((y_pred != label) & (y_true == label))
        denominator = 2 * tp + fp + fn
        scores.append(0.0 if denominator == 0 else 2 * tp / denominator)
    return float(np.mean(scores)) if scores else float("nan")


@register("mcc", unit="", higher_is_better=True)
def mcc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Matthews correlation coefficient (Gorodkin's K-class form; the usual formula for two classes), in [-1, 1].

    A prediction of -1 (non-finite logits) is its own wrong class. 0 when a marginal is constant (undefined).

    >>> round(mcc(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0])), 4)  # tp=1 tn=2 fp=0 fn=1: 2/sqrt(1*2*3*2)
    0.5774
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = np.union1d(y_true, y_pred)
    if len(y_true) == 0:
        return float("nan")
    t = (y_true[:, None] == labels[None, :]).sum(axis=0).astype(np.float64)  # true count per class
    p = (y_pred[:, None] == labels[None, :]).sum(axis=0).astype(np.float64)  # predicted count per class
    n = float(len(y_true))
    correct = float(np.sum(y_true == y_pred))
    denominator = np.sqrt((n * n - p @ p) * (n * n - t @ t))
    return float((correct * n - t @ p) / denominator) if denominator > 0 else 0.0


@register("ece", unit="%", higher_is_better=False, scale=100.0, uses_probs=True)
def ece(y_true: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error: the |accuracy − confidence| gap over 15 equal-width confidence bins, weighted
    by bin size (Guo et al. 2017). Confidence is the top probability; instances with non-finite probabilities are
    left out (they are counted by `nonfinite_rate`).

    >>> # one instance per bin: (|1 − .9| + |0 − .8| + |1 − .6| + |1 − .7|) / 4
    >>> round(ece(np.array([1, 0, 1, 1]), np.array([[0.1, 0.9], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])), 4)
    0.4
    """
    y_true, probs = np.asarray(y_true), np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) == 0:
        return float("nan")
    finite = np.isfinite(probs).all(axis=1)
    y_true, probs = y_true[finite], probs[finite]
    if len(y_true) == 0:
        return float("nan")
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    # bins (0, 1/15], (1/15, 2/15], …: a confidence of exactly 1 falls in the last bin
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        total += in_bin.sum() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(total / len(y_true))


def task_metric(task: TaskSpec, name: str) -> Metric:
    """A metric a task names: a registered one, or the local 🤗 evaluate module its metric_info describes
    (`evaluate:<path>`, suite.metrics.external), loaded offline on first use."""
    info = task.metric_info.get(name)
    if info is None:
        return METRICS.get(name)
    from suite.metrics.external import module_metric_fn

    how = f"; evaluate module {info.script} (sha256 {info.sha256[:16]}), result key '{info.key}'"
    fn = module_metric_fn(info, name, task.path)
    return Metric(info.name, fn, info.unit, info.higher_is_better, info.scale, how=how)


def metric_header(task: TaskSpec, name: str) -> tuple[str, str, bool | None]:
    """(row name, unit, higher_is_better) of a task's metric, without loading anything: what a failed row records.
    A metric the suite does not define (lm-eval's own) has no unit and no direction."""
    info = task.metric_info.get(name)
    if info is not None:
        return info.name, info.unit, info.higher_is_better
    if name in METRICS:
        metric = METRICS.get(name)
        return name, metric.unit, metric.higher_is_better
    return name, "", None


def bootstrap(
    stat: Callable[[np.ndarray], float], n: int, *, resamples: int, confidence: float, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap interval of stat(indices) over `resamples` seeded resamples of n instances."""
    if n == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    stats = np.array([stat(i) for i in idx], dtype=np.float64)
    stats = stats[np.isfinite(stats)]
    if len(stats) == 0:
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return float(low), float(high)


def metric_ci(
    metric: Metric,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    probs: np.ndarray | None,
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> tuple[float, float]:
    """Bootstrap interval of a registered metric (labels or probabilities resampled together)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return bootstrap(
        lambda i: metric.compute(y_true[i], y_pred[i], None if probs is None else probs[i]),
        len(y_true),
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )


def paired_bootstrap_diff(
    fn: MetricFn,
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> tuple[float, float]:
    """Interval of fn(a) − fn(b) resampling the same instances for both (paired), e.g. the teacher and a student."""
    y_true, pred_a, pred_b = np.asarray(y_true), np.asarray(pred_a), np.asarray(pred_b)
    return bootstrap(
        lambda i: fn(y_true[i], pred_a[i]) - fn(y_true[i], pred_b[i]),
        len(y_true),
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )
