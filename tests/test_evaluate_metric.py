"""Metrics from outside: a task's `evaluate:<path>` metric, a local 🤗 evaluate module loaded offline, scored and
bootstrapped like a registered one, and every bad field refused when the task file is read."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml

from suite.config import load_task_dict, parse_task
from suite.errors import SuiteInputError
from suite.families import FAMILIES
from suite.metrics import metric_header, task_metric
from suite.metrics.external import load_module
from suite.plan import check_task
from suite.specs import EvaluateSpec
from suite.tasks.base import PREDICTIONS_SCHEMA
from suite.tasks.classification import Classification

REPO = Path(__file__).resolve().parent.parent

# An evaluate.Metric subclass computing accuracy, as a user would write one.
MODULE = '''"""Accuracy, as a user's own evaluate module."""
import datasets
import evaluate


class MyAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="share of exact matches",
            citation="",
            inputs_description="predictions, references: class ids",
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references):
        return {"acc": sum(p == r for p, r in zip(predictions, references)) / len(references), "n": len(references)}
'''

METRIC = "evaluate:metrics/my_accuracy"
INFO = {METRIC: {"key": "acc", "unit": "%", "direction": "higher", "scale": 100, "name": "my_accuracy"}}


def write_task(root: Path, metrics: list[str], metric_info: dict | None, module: bool = True) -> None:
    """tasks/sst2 (the real file), and tasks/mine deriving from it with `metrics` and `metric_info`."""
    (root / "tasks" / "sst2").mkdir(parents=True)
    shutil.copy(REPO / "tasks" / "schema.yaml", root / "tasks" / "schema.yaml")
    shutil.copy(REPO / "tasks" / "sst2" / "sst2.yaml", root / "tasks" / "sst2" / "sst2.yaml")
    task_dir = root / "tasks" / "mine"
    task_dir.mkdir()
    task = {"include": "sst2", "name": "mine", "version": "1.0", "metrics": metrics}
    if metric_info is not None:
        task["metric_info"] = metric_info
    (task_dir / "mine.yaml").write_text(yaml.safe_dump(task), encoding="utf-8")
    if module:
        (task_dir / "metrics" / "my_accuracy").mkdir(parents=True)
        (task_dir / "metrics" / "my_accuracy" / "my_accuracy.py").write_text(MODULE, encoding="utf-8")


def read_task(root: Path):
    data, includes = load_task_dict(root, "mine", "config.yaml", "tasks[0]")
    return data, parse_task(data, "tasks/mine/mine.yaml", includes)


def predictions(labels: np.ndarray, preds: np.ndarray) -> pa.Table:
    n = len(labels)
    probs = [[0.9, 0.1] if p == 0 else [0.1, 0.9] for p in preds]
    return pa.Table.from_pydict(
        {
            "variant": ["v"] * n,
            "task": ["mine"] * n,
            "task_version": ["1.0"] * n,
            "idx": np.arange(n),
            "label": labels,
            "pred": preds,
            "probs": probs,
            "logits": probs,
            "finite": [True] * n,
            "slice": [None] * n,
            "ref": [-1] * n,
            "meta": [None] * n,
        },
        schema=PREDICTIONS_SCHEMA,
    )


def test_module_scores_like_the_builtin_accuracy(tmp_path):
    write_task(tmp_path, ["accuracy", METRIC], INFO)
    data, task = read_task(tmp_path)
    info = task.metric_info[METRIC]
    assert info.script == "tasks/mine/metrics/my_accuracy/my_accuracy.py" and info.source == MODULE
    assert data["metric_info"][METRIC]["sha256"] == info.sha256  # embedded in the definition: a change re-runs
    check_task(data, "tasks/mine/mine.yaml", FAMILIES.get("classifier")())  # the plan accepts the metric

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    preds = np.where(rng.random(300) < 0.8, labels, 1 - labels)
    spec = EvaluateSpec(threads=1, batch_size=8, max_length=32, bootstrap_resamples=200, confidence=0.95)
    rows = {r.metric: r for r in Classification().score(predictions(labels, preds), "v", task, spec, seed=7)}
    builtin, mine = rows["accuracy"], rows["my_accuracy"]
    assert mine.value == builtin.value == pytest.approx(100 * np.mean(labels == preds))
    assert (mine.ci_low, mine.ci_high) == (builtin.ci_low, builtin.ci_high)  # same resamples, same CI
    assert builtin.ci_low < builtin.value < builtin.ci_high
    assert (mine.unit, mine.higher_is_better, mine.n) == ("%", True, 300)
    assert "evaluate module tasks/mine/metrics/my_accuracy/my_accuracy.py" in mine.measurement
    assert metric_header(task, METRIC) == ("my_accuracy", "%", True)  # what a failed task's row records


def test_module_loads_without_the_network(tmp_path, monkeypatch):
    write_task(tmp_path, [METRIC], INFO)
    _, task = read_task(tmp_path)
    attempts = []

    def no_network(self, address):
        attempts.append(address)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    load_module.cache_clear()
    metric = task_metric(task, METRIC)
    assert metric.compute(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]), None) == 0.75
    assert attempts == []


def test_a_key_the_module_does_not_return(tmp_path):
    write_task(tmp_path, [METRIC], {METRIC: {**INFO[METRIC], "key": "f1"}})
    _, task = read_task(tmp_path)
    with pytest.raises(SuiteInputError) as error:
        task_metric(task, METRIC).compute(np.array([0, 1]), np.array([0, 1]), None)
    assert str(error.value) == (
        f"tasks/mine/mine.yaml: field 'metric_info.{METRIC}.key': tasks/mine/metrics/my_accuracy/my_accuracy.py "
        "returned no 'f1' (it returned ['acc', 'n']) — fix: name one of them"
    )


@pytest.mark.parametrize(
    ("metrics", "info", "field", "problem"),
    [
        ([METRIC], None, "metric_info", f"metric '{METRIC}' has no metric_info"),
        (["evaluate:../sst2/x"], None, "metrics[0]", "'../sst2/x' leads outside the task's directory"),
        (["evaluate:/etc/passwd"], None, "metrics[0]", "is not a local path inside the task's directory"),
        (["evaluate:accuracy"], None, "metrics[0]", "no evaluate module at tasks/mine/accuracy"),
        (["evaluate:https://x.org/m.py"], None, "metrics[0]", "is not a local path"),
        (["accuracy"], INFO, f"metric_info.{METRIC}", "describes no metric of `metrics`"),
        (["accuracy", METRIC], {METRIC: {**INFO[METRIC], "name": "accuracy"}}, "metric_info", "two metrics are named"),
    ],
)
def test_bad_fields_are_refused_when_the_task_is_read(tmp_path, metrics, info, field, problem):
    write_task(tmp_path, metrics, info)
    with pytest.raises(SuiteInputError) as error:
        read_task(tmp_path)
    assert error.value.file == "tasks/mine/mine.yaml" and error.value.field == field
    assert problem in error.value.problem and error.value.fix


def test_metric_info_is_validated_by_the_schema(tmp_path):
    write_task(tmp_path, [METRIC], {METRIC: {"key": "acc", "unit": "%", "direction": "up"}})
    with pytest.raises(SuiteInputError) as error:
        read_task(tmp_path)
    assert "direction" in str(error.value) and "tasks/mine/mine.yaml" in str(error.value)
