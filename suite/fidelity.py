"""Fidelity to the teacher, instance by instance: accuracy drop, McNemar, agreement, KL, MLPerf badges, slice deltas."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from suite.metrics import accuracy, bootstrap, paired_bootstrap_diff
from suite.results import Row, task_row
from suite.specs import EvaluateSpec, SuiteConfig, TaskSpec

# MLPerf's closed-division accuracy targets: a compressed model must keep 99 % (or 99.9 %) of the reference's.
BADGES = {"mlperf_99": 99.0, "mlperf_99_9": 99.9}
KL_FLOOR = 1e-12  # student probabilities are floored so a confident miss gives a large, finite KL


def flip_rate(pred: np.ndarray, ref_pred: np.ndarray) -> np.ndarray:
    """Per instance, whether the prediction differs from a reference prediction (its unperturbed sentence's).

    >>> flip_rate(np.array([1, 0, 1]), np.array([1, 1, 1])).tolist()
    [False, True, False]
    """
    return np.asarray(pred) != np.asarray(ref_pred)


def agreement(pred_a: np.ndarray, pred_b: np.ndarray) -> float:
    """Share of instances with the same predicted label (a non-finite prediction, -1, agrees with nothing).

    >>> agreement(np.array([1, 0, -1]), np.array([1, 1, -1]))
    0.3333333333333333
    """
    pred_a, pred_b = np.asarray(pred_a), np.asarray(pred_b)
    return float(np.mean((pred_a == pred_b) & (pred_a >= 0))) if len(pred_a) else float("nan")


def parent_readiness(student_logits: np.ndarray, parent_logits: np.ndarray) -> tuple[float, float]:
    """Deployment readiness of a variant against its parent on the same inputs: (max |Δ logit|, agreement %).

    Non-finite logits on either side make the delta infinite (a broken export is never "close").

    >>> parent_readiness(np.array([[0.0, 1.0], [2.0, 0.0]]), np.array([[0.0, 1.5], [2.0, 2.5]]))
    (2.5, 50.0)
    """
    student_logits, parent_logits = np.asarray(student_logits, float), np.asarray(parent_logits, float)
    if student_logits.shape != parent_logits.shape or not len(student_logits):
        raise ValueError(f"logits of shape {student_logits.shape} and {parent_logits.shape} cannot be compared")
    delta = np.abs(student_logits - parent_logits)
    max_delta = float(np.max(delta)) if np.isfinite(delta).all() else math.inf
    pred = lambda x: np.where(np.isfinite(x).all(axis=1), np.nan_to_num(x, nan=-np.inf).argmax(axis=1), -1)  # noqa: E731
    return max_delta, 100 * agreement(pred(student_logits), pred(parent_logits))


def mcnemar_p(teacher_correct: np.ndarray, student_correct: np.ndarray) -> float:
    """Exact (binomial) two-sided McNemar p-value of paired correctness: are the discordant pairs balanced?

    b = teacher right and student wrong, c = the reverse; p = min(1, 2 · P(X ≤ min(b, c))), X ~ Bin(b + c, ½).

    >>> mcnemar_p(np.array([1, 1, 1, 1, 0]), np.array([0, 0, 0, 1, 1]))  # b=3 c=1: 2 · (1 + 4) / 16
    0.625
    """
    teacher_correct, student_correct = np.asarray(teacher_correct, bool), np.asarray(student_correct, bool)
    b = int(np.sum(teacher_correct & ~student_correct))
    c = int(np.sum(~teacher_correct & student_correct))
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))  # exact integers: no underflow for large n
    return min(1.0, 2 * tail / 2**n)


def kl_divergence(teacher_probs: np.ndarray, student_probs: np.ndarray) -> np.ndarray:
    """Per-instance KL(teacher ‖ student) in nats; NaN where either distribution is non-finite.

    >>> kl_divergence(np.array([[0.5, 0.5]]), np.array([[0.5, 0.5]])).tolist()
    [0.0]
    >>> round(float(kl_divergence(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]]))[0]), 4)  # log 2
    0.6931
    """
    p = np.asarray(teacher_probs, dtype=np.float64)
    q = np.clip(np.asarray(student_probs, dtype=np.float64), KL_FLOOR, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    out = terms.sum(axis=1)
    out[~(np.isfinite(p).all(axis=1) & np.isfinite(q).all(axis=1))] = np.nan
    return out


# Sliced score rows compared with the teacher's: base metric -> (delta metric, sign, unit). sign -1: teacher −
# variant (a drop), +1: variant − teacher (a change); the delta keeps the slice: accuracy@typo_s2 ->
# accuracy_drop_pts@typo_s2.
SLICE_DELTAS: dict[str, tuple[str, int, str, bool]] = {
    "accuracy": ("accuracy_drop_pts", -1, "points", False),
    "flip_rate": ("flip_rate_change_pts", +1, "points", False),
    "failure_rate": ("failure_rate_change_pts", +1, "points", False),
    "dp_diff": ("dp_diff_change", +1, "points", False),
    "p_positive_gap": ("p_positive_gap_change", +1, "points", False),
    "nonfinite_rate": ("nonfinite_rate_change_pts", +1, "points", False),
}

DerivedRow = Callable[..., dict[str, Any]]


def teacher_relative(
    cfg: SuiteConfig,
    main_mask: np.ndarray,
    slice_mask: Callable[[str], np.ndarray | None],
    teacher: Any,
    student: Any,
    teacher_rows: dict[str, dict[str, Any]],
    student_rows: dict[str, dict[str, Any]],
    derive: DerivedRow,
) -> list[dict[str, Any]]:
    """Rows comparing one variant with the teacher on one task (both as suite.tasks.base.Columns).

    main_mask selects the instances the task's unsliced metrics use; slice_mask(name) those of a slice (None when
    the slice is not a set of instances, e.g. 'worst_slice'); *_rows map metric name -> score row; derive(base,
    metric, value, unit, higher, how, **extra) builds a result row.
    """
    if not np.array_equal(teacher.label, student.label) or not np.array_equal(teacher.slice, student.slice):
        raise ValueError("the variant and the teacher were evaluated on different instances")
    resamples, confidence, seed = cfg.evaluate.bootstrap_resamples, cfg.evaluate.confidence, cfg.seed
    base = next(iter(student_rows.values()))
    n_all = len(student)
    out = [
        derive(
            base,
            "agreement",
            100 * agreement(teacher.pred, student.pred),
            "%",
            True,
            "share of instances where the variant predicts the teacher's label",
            n=n_all,
        )
    ]
    kl = kl_divergence(teacher.probs, student.probs) if n_all else np.array([])
    finite_kl = kl[np.isfinite(kl)]
    out.append(
        derive(
            base,
            "kl_teacher_student",
            float(finite_kl.mean()) if len(finite_kl) else float("nan"),
            "nats",
            False,
            f"mean KL(teacher ‖ variant) of the class probabilities over {len(finite_kl)} instances with finite "
            f"probabilities (variant probabilities floored at {KL_FLOOR})",
            n=len(finite_kl),
        )
    )
    labelled = main_mask & (teacher.label >= 0)
    if labelled.any() and "accuracy" in student_rows:
        labels, t_pred, s_pred = teacher.label[labelled], teacher.pred[labelled], student.pred[labelled]
        n = len(labels)
        t_acc, s_acc = accuracy(labels, t_pred), accuracy(labels, s_pred)
        low, high = paired_bootstrap_diff(
            accuracy, labels, t_pred, s_pred, resamples=resamples, confidence=confidence, seed=seed
        )
        acc_base = student_rows["accuracy"]
        out.append(
            derive(
                acc_base,
                "accuracy_drop_pts",
                100 * (t_acc - s_acc),
                "points",
                False,
                f"teacher accuracy − variant accuracy in points on the same {n} instances; paired bootstrap CI "
                f"({resamples} resamples, seed {seed})",
                ci_low=100 * low,
                ci_high=100 * high,
                n=n,
            )
        )
        out.append(
            derive(
                acc_base,
                "mcnemar_p",
                mcnemar_p(t_pred == labels, s_pred == labels),
                "p",
                None,
                "exact two-sided McNemar test of paired correctness against the teacher (binomial on the "
                "discordant instances); small p: the accuracies differ beyond chance",
                n=n,
            )
        )
        retained = 100 * s_acc / t_acc if t_acc > 0 else float("nan")
        out.append(
            derive(
                acc_base,
                "accuracy_retained_pct",
                retained,
                "%",
                True,
                "100 × variant accuracy / teacher accuracy on the same instances",
                n=n,
            )
        )
        for badge, target in BADGES.items():
            out.append(
                derive(
                    acc_base,
                    badge,
                    float(retained >= target) if math.isfinite(retained) else float("nan"),
                    "pass",
                    True,
                    f"1 when the variant keeps ≥ {target} % of the teacher's accuracy (MLPerf's target), else 0",
                    n=n,
                )
            )
    for metric, row in student_rows.items():
        name, _, slice_name = metric.partition("@")
        if not slice_name or name not in SLICE_DELTAS or metric not in teacher_rows:
            continue
        delta_name, sign, unit, higher = SLICE_DELTAS[name]
        t_value, s_value = teacher_rows[metric]["value"], row["value"]
        extra: dict[str, Any] = {"n": row["n"]}
        how = f"{'teacher − variant' if sign < 0 else 'variant − teacher'} {metric}"
        mask = slice_mask(slice_name)
        if name == "accuracy" and mask is not None and mask.any():
            labels = teacher.label[mask]
            low, high = paired_bootstrap_diff(
                accuracy,
                labels,
                teacher.pred[mask],
                student.pred[mask],
                resamples=resamples,
                confidence=confidence,
                seed=seed,
            )
            extra.update(ci_low=100 * low, ci_high=100 * high)
            how += f" on the same {int(mask.sum())} instances; paired bootstrap CI ({resamples} resamples)"
        value = sign * (s_value - t_value) if None not in (s_value, t_value) else float("nan")
        out.append(derive(row, f"{delta_name}@{slice_name}", value, unit, higher, how, **extra))
    return out


# --- the llm track: lm_eval prediction tables (suite/tasks/lm_eval.py) against the teacher's -------------------------


def _lm_columns(table: pa.Table) -> dict[str, Any]:
    """The columns of an lm_eval prediction table (pyarrow) that the teacher-relative figures use, in idx order."""
    table = table.sort_by("idx")
    logits = table["logits"].to_pylist()
    probs = table["probs"].to_pylist()
    return {
        "variant": table["variant"][0].as_py() if table.num_rows else "",
        "label": table["label"].to_numpy(),
        "pred": table["pred"].to_numpy(),
        "logits": logits,
        "probs": np.array(probs, dtype=np.float64) if probs and all(len(p) == len(probs[0]) for p in probs) else None,
        "slice": table["slice"].to_pylist(),
        "meta": [json.loads(m) if m else {} for m in table["meta"].to_pylist()],
    }


def flip_counts(labels: np.ndarray, teacher_pred: np.ndarray, student_pred: np.ndarray) -> tuple[int, int]:
    """(correct → wrong, wrong → correct): instances the teacher gets right and the student wrong, and the reverse
    (Dutta et al., NeurIPS 2024: accuracy can hide flips that cancel out).

    >>> flip_counts(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 1]), np.array([1, 1, 1, 1]))
    (1, 1)
    """
    t_ok, s_ok = np.asarray(teacher_pred) == labels, np.asarray(student_pred) == labels
    return int(np.sum(t_ok & ~s_ok)), int(np.sum(~t_ok & s_ok))


def word_perplexity_ratio(teacher_ll: np.ndarray, student_ll: np.ndarray, words: np.ndarray) -> float:
    """Student word perplexity / teacher word perplexity on the same documents: exp((Σll_t − Σll_s) / Σwords).

    >>> round(word_perplexity_ratio(np.array([-10.0]), np.array([-12.0]), np.array([2])), 4)  # exp(1)
    2.7183
    """
    return math.exp((float(np.sum(teacher_ll)) - float(np.sum(student_ll))) / float(np.sum(words)))


def lm_teacher_relative(
    task: TaskSpec, teacher_table: pa.Table, student_table: pa.Table, spec: EvaluateSpec, seed: int
) -> list[Row]:
    """Rows comparing a student with the teacher on one lm_eval task, from both prediction tables (same instances).

    Multiple choice: flips_correct_to_wrong and flips_wrong_to_correct (% of instances), agreement (%),
    kl_teacher_student (mean KL(teacher ‖ student) of the choice distributions, nats), acc_drop_pts (teacher acc −
    student acc, paired bootstrap CI). Rolling log-likelihood: perplexity_ratio (student / teacher word perplexity,
    paired bootstrap CI over documents). Generation: greedy_match_pct (% of prompts whose first 32 generated tokens
    equal the teacher's).
    """
    t, s = _lm_columns(teacher_table), _lm_columns(student_table)
    n = len(t["label"])
    if n != len(s["label"]) or not np.array_equal(t["label"], s["label"]) or t["slice"] != s["slice"]:
        raise ValueError(f"task '{task.name}': the student and the teacher were evaluated on different instances")
    resamples, confidence = spec.bootstrap_resamples, spec.confidence
    boot = {"resamples": resamples, "confidence": confidence, "seed": seed}
    paired = f"paired bootstrap CI ({resamples} resamples, seed {seed})"

    def row(metric: str, value: float, unit: str, higher: bool | None, how: str, **extra: Any) -> Row:
        how = f"{how}; student against the teacher on the same {n} instances"
        return task_row(s["variant"], task, metric, value, unit, higher, how, **{"n": n, **extra})

    if n and all("response" in m for m in s["meta"]):  # generate_until
        same = np.array(
            [a["first_32_tokens"] == b["first_32_tokens"] for a, b in zip(t["meta"], s["meta"], strict=True)],
            dtype=np.float64,
        )
        low, high = bootstrap(lambda i: float(same[i].mean()), n, **boot)
        return [
            row(
                "greedy_match_pct",
                100 * float(same.mean()),
                "%",
                True,
                f"share of prompts whose first 32 greedy tokens equal the teacher's ({int(same.sum())} of {n}); "
                f"percentile bootstrap CI ({resamples} resamples, seed {seed})",
                ci_low=100 * low,
                ci_high=100 * high,
            )
        ]
    if n and all("words" in m for m in s["meta"]):  # loglikelihood_rolling
        t_ll = np.array([x[0] for x in t["logits"]], dtype=np.float64)
        s_ll = np.array([x[0] for x in s["logits"]], dtype=np.float64)
        words = np.array([m["words"] for m in t["meta"]], dtype=np.float64)
        low, high = bootstrap(lambda i: word_perplexity_ratio(t_ll[i], s_ll[i], words[i]), n, **boot)
        return [
            row(
                "perplexity_ratio",
                word_perplexity_ratio(t_ll, s_ll, words),
                "x",
                False,
                f"student word perplexity / teacher word perplexity over {int(words.sum())} words of {n} "
                f"documents; {paired} over documents",
                ci_low=low,
                ci_high=high,
            )
        ]
    labels, t_pred, s_pred = t["label"], t["pred"], s["pred"]
    c2w, w2c = flip_counts(labels, t_pred, s_pred)
    rows = [
        row(
            "flips_correct_to_wrong",
            100 * c2w / n if n else float("nan"),
            "%",
            False,
            f"instances the teacher gets right and the student wrong: {c2w} of {n} (Dutta et al., NeurIPS 2024)",
        ),
        row(
            "flips_wrong_to_correct",
            100 * w2c / n if n else float("nan"),
            "%",
            None,
            f"instances the teacher gets wrong and the student right: {w2c} of {n} (Dutta et al., NeurIPS 2024)",
        ),
        row(
            "agreement",
            100 * agreement(t_pred, s_pred),
            "%",
            True,
            "share of instances where the student picks the teacher's choice",
        ),
    ]
    kl = (
        kl_divergence(t["probs"], s["probs"])
        if n and t["probs"] is not None and s["probs"] is not None
        else np.array([])
    )
    finite_kl = kl[np.isfinite(kl)]
    rows.append(
        row(
            "kl_teacher_student",
            float(finite_kl.mean()) if len(finite_kl) else float("nan"),
            "nats",
            False,
            f"mean KL(teacher ‖ student) of the softmax over the choices' log-likelihoods, {len(finite_kl)} "
            f"instances with finite probabilities (student probabilities floored at {KL_FLOOR})",
            n=len(finite_kl),
        )
    )
    low, high = paired_bootstrap_diff(accuracy, labels, t_pred, s_pred, **boot)
    rows.append(
        row(
            "acc_drop_pts",
            100 * (accuracy(labels, t_pred) - accuracy(labels, s_pred)) if n else float("nan"),
            "points",
            False,
            f"teacher acc − student acc in points (over instances); {paired}",
            ci_low=100 * low,
            ci_high=100 * high,
        )
    )
    return rows
