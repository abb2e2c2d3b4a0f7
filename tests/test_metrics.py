"""Metrics against values computed by hand, and the bootstrap intervals' determinism and coverage."""

import doctest

import numpy as np
import pytest
from sklearn.metrics import f1_score

import suite.metrics
from suite.metrics import METRICS, accuracy, macro_f1, metric_ci, paired_bootstrap_diff


def test_doctests():
    assert doctest.testmod(suite.metrics).failed == 0


def test_accuracy_by_hand():
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1])
    p = np.array([1, 0, 0, 1, 0, 1, 1, 0, 1, 0])
    assert accuracy(y, p) == pytest.approx(7 / 10)


def test_macro_f1_by_hand_and_against_sklearn():
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1])
    p = np.array([1, 0, 0, 1, 0, 1, 1, 0, 1, 0])
    # class 1: tp=4 fp=1 fn=2 -> F1 = 8/11; class 0: tp=3 fp=2 fn=1 -> F1 = 6/9
    assert macro_f1(y, p) == pytest.approx((8 / 11 + 6 / 9) / 2)
    assert macro_f1(y, p) == pytest.approx(f1_score(y, p, average="macro"))


def test_non_finite_predictions_count_as_wrong():
    assert accuracy(np.array([0, 1]), np.array([-1, 1])) == 0.5


def test_registry_units():
    assert METRICS.get("accuracy").unit == "%"
    assert METRICS.get("accuracy").scale == 100.0


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.where(rng.random(500) < 0.8, y, 1 - y)
    a = metric_ci(METRICS.get("accuracy"), y, p, None, resamples=500, confidence=0.95, seed=3)
    b = metric_ci(METRICS.get("accuracy"), y, p, None, resamples=500, confidence=0.95, seed=3)
    assert a == b
    assert a[0] < accuracy(y, p) < a[1]
    # normal approximation of the binomial: half-width ~ 1.96 * sqrt(.8 * .2 / 500) = 0.035
    assert (a[1] - a[0]) / 2 == pytest.approx(0.035, abs=0.008)


def test_paired_difference_of_identical_predictions_is_zero():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0, 1, 0, 0, 1])
    assert paired_bootstrap_diff(accuracy, y, p, p, resamples=200, confidence=0.95, seed=0) == (0.0, 0.0)


def test_mcc_by_hand_and_against_sklearn():
    from sklearn.metrics import matthews_corrcoef

    from suite.metrics import mcc

    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1])
    p = np.array([1, 0, 0, 1, 0, 1, 1, 0, 1, 0])
    # tp=4 tn=3 fp=1 fn=2: (4·3 − 1·2) / sqrt(5 · 6 · 4 · 5) = 10 / sqrt(600)
    assert mcc(y, p) == pytest.approx(10 / np.sqrt(600))
    assert mcc(y, p) == pytest.approx(matthews_corrcoef(y, p))
    assert mcc(np.array([0, 1, 1]), np.array([1, 1, 1])) == 0.0  # constant prediction: defined as 0


def test_ece_by_hand():
    from suite.metrics import ece

    y = np.array([1, 1, 0, 0])
    probs = np.array([[0.05, 0.95], [0.05, 0.95], [0.3, 0.7], [0.8, 0.2]])
    # bin (14/15, 1]: conf .95, acc 1 -> gap .05 × 2; bin (10/15, 11/15]: conf .7, acc 0 -> .7; bin (11/15, 12/15]:
    # conf .8, acc 1 -> .2. ECE = (2 · .05 + .7 + .2) / 4 = .25
    assert ece(y, probs) == pytest.approx(0.25)
    assert ece(y, np.vstack([probs[:3], [np.nan, np.nan]])) == pytest.approx((2 * 0.05 + 0.7) / 3)  # NaN row left out
    assert METRICS.get("ece").uses_probs and METRICS.get("ece").higher_is_better is False
