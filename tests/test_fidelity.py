"""Teacher-relative figures: McNemar against scipy's binomial test, KL, agreement, badges, slice deltas."""

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import binomtest

from suite.fidelity import agreement, flip_rate, kl_divergence, mcnemar_p, teacher_relative
from suite.tasks.base import PREDICTIONS_SCHEMA, Columns


@pytest.mark.parametrize(("b", "c"), [(3, 1), (10, 2), (0, 5), (40, 55), (0, 0), (7, 7)])
def test_mcnemar_matches_scipy_binomial_test(b, c):
    teacher = np.array([1] * b + [0] * c + [1] * 20 + [0] * 3, dtype=bool)
    student = np.array([0] * b + [1] * c + [1] * 20 + [0] * 3, dtype=bool)
    expected = binomtest(min(b, c), b + c, 0.5).pvalue if b + c else 1.0
    assert mcnemar_p(teacher, student) == pytest.approx(expected)


def test_kl_and_agreement():
    t = np.array([[0.9, 0.1], [0.2, 0.8]])
    s = np.array([[0.6, 0.4], [0.2, 0.8]])
    expected = 0.9 * np.log(0.9 / 0.6) + 0.1 * np.log(0.1 / 0.4)
    assert kl_divergence(t, s).tolist() == pytest.approx([expected, 0.0])
    assert np.isnan(kl_divergence(t, np.array([[np.nan, np.nan], [0.5, 0.5]]))[0])
    assert agreement(np.array([0, 1, 1, -1]), np.array([0, 1, 0, -1])) == 0.5
    assert flip_rate(np.array([0, 1]), np.array([1, 1])).tolist() == [True, False]


def columns(labels, preds, probs, slices=None) -> Columns:
    n = len(labels)
    return Columns(
        pa.Table.from_pydict(
            {
                "variant": ["v"] * n,
                "task": ["t"] * n,
                "task_version": ["1.0"] * n,
                "idx": list(range(n)),
                "label": labels,
                "pred": preds,
                "probs": probs,
                "logits": [[float(np.log(x)) for x in row] for row in probs],
                "finite": [True] * n,
                "slice": slices or [None] * n,
                "ref": [-1] * n,
                "meta": [None] * n,
            },
            schema=PREDICTIONS_SCHEMA,
        )
    )


def derive(base, metric, value, unit, higher, how, **extra):
    return {"metric": metric, "value": value, "unit": unit, **extra}


def test_teacher_relative_rows():
    from suite.plan import load_file
    from tests.conftest import REPO

    cfg = load_file(REPO / "tests" / "tiny" / "config" / "config.yaml", REPO)
    labels = [1, 1, 1, 1, 0, 0, 0, 0, 1, 0]
    t_pred = [1, 1, 1, 1, 0, 0, 0, 0, 1, 1]  # 9/10
    s_pred = [1, 1, 1, 0, 0, 0, 0, 0, 0, 1]  # 7/10
    probs = lambda preds: [[0.2, 0.8] if p else [0.8, 0.2] for p in preds]  # noqa: E731
    slices = ["a"] * 5 + ["b"] * 5
    teacher, student = columns(labels, t_pred, probs(t_pred), slices), columns(labels, s_pred, probs(s_pred), slices)
    row = lambda m, v: {"metric": m, "value": v, "n": 5}  # noqa: E731
    t_rows = {"accuracy": row("accuracy", 90.0), "accuracy@a": row("accuracy@a", 100.0)}
    s_rows = {"accuracy": row("accuracy", 70.0), "accuracy@a": row("accuracy@a", 80.0)}
    out = teacher_relative(
        cfg, np.ones(10, bool), lambda s: teacher.slice == s, teacher, student, t_rows, s_rows, derive
    )
    got = {r["metric"]: r for r in out}
    assert got["accuracy_drop_pts"]["value"] == pytest.approx(20.0)
    assert got["agreement"]["value"] == pytest.approx(80.0)
    assert got["mcnemar_p"]["value"] == pytest.approx(binomtest(0, 2, 0.5).pvalue)  # b=2, c=0
    assert got["accuracy_retained_pct"]["value"] == pytest.approx(100 * 7 / 9)
    assert got["mlperf_99"]["value"] == 0.0 and got["mlperf_99_9"]["value"] == 0.0
    assert got["kl_teacher_student"]["value"] == pytest.approx(2 * (0.8 - 0.2) * np.log(4) / 10)
    assert got["accuracy_drop_pts@a"]["value"] == pytest.approx(20.0)
    assert got["accuracy_drop_pts@a"]["ci_low"] <= 20.0 <= got["accuracy_drop_pts@a"]["ci_high"]
    # the teacher against itself: no drop, full agreement, both badges
    same = {
        r["metric"]: r
        for r in teacher_relative(cfg, np.ones(10, bool), lambda s: None, teacher, teacher, t_rows, t_rows, derive)
    }
    assert same["accuracy_drop_pts"]["value"] == 0.0 and same["mcnemar_p"]["value"] == 1.0
    assert same["mlperf_99_9"]["value"] == 1.0 and same["kl_teacher_student"]["value"] == 0.0


def test_different_instances_are_refused():
    from suite.plan import load_file
    from tests.conftest import REPO

    cfg = load_file(REPO / "tests" / "tiny" / "config" / "config.yaml", REPO)
    a = columns([1, 0], [1, 0], [[0.1, 0.9], [0.9, 0.1]])
    b = columns([0, 0], [1, 0], [[0.1, 0.9], [0.9, 0.1]])
    with pytest.raises(ValueError, match="different instances"):
        teacher_relative(cfg, np.ones(2, bool), lambda s: None, a, b, {"x": {}}, {"x": {}}, derive)


def test_parent_readiness_by_hand():
    from suite.fidelity import parent_readiness

    student = np.array([[0.1, 0.9], [2.0, -1.0], [0.0, 0.5], [1.0, 1.25]])
    parent = np.array([[0.0, 1.0], [1.0, 1.5], [0.0, 0.5], [1.0, 1.1]])
    delta, agree = parent_readiness(student, parent)
    assert delta == pytest.approx(2.5)  # row 2: |−1.0 − 1.5|
    assert agree == 75.0  # row 2 flips from label 1 to label 0
    delta, agree = parent_readiness(np.array([[np.nan, 0.0], [0.0, 1.0]]), np.array([[0.0, 1.0], [0.0, 1.0]]))
    assert delta == float("inf") and agree == 50.0  # a NaN logit is never "close" and agrees with nothing
    with pytest.raises(ValueError, match="cannot be compared"):
        parent_readiness(np.zeros((2, 2)), np.zeros((3, 2)))
