"""The measure job's log says what it measures, on how many queries, and how long each step took."""

from __future__ import annotations

import json
import re

import pytest

from suite.artefacts import save_artefact
from suite.formats import FORMAT_FP32
from suite.models import load_source_model, load_tokenizer
from suite.pipeline import measure
from suite.plan import load


@pytest.fixture
def cfg(tiny_config, repo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny_config["latency"] = {"sample_size": 5, "warmup_runs": 1, "min_runs": 10, "min_seconds": 0.05}
    tiny_config["throughput"] = {"batch_sizes": [1, 4], "sample_size": 8, "min_seconds": 0.05}
    tiny_config["energy"] = {"enabled": False}
    tiny_config["tasks"] = ["sst2"]
    return load(tiny_config, repo)


def test_measure_logs_each_step_with_its_workload_and_time(cfg, tmp_path, capsys):
    source = cfg.teacher.source
    model = load_source_model(source, {0: "negative", 1: "positive"}, seed=0)
    save_artefact(model, load_tokenizer(source), FORMAT_FP32, tmp_path / "m", {"id": "teacher", "method": "teacher"})
    (tmp_path / "peak.json").write_text(json.dumps({"peak_gflops": 100.0, "method": "test"}))
    measure(cfg, "teacher", tmp_path / "m", tmp_path / "peak.json", tmp_path / "out.parquet")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("measure teacher: ")]
    text = [line.removeprefix("measure teacher: ") for line in lines]
    assert text[0] == f"loading {tmp_path / 'm'} on cpu; measurements: size, latency, throughput, flops, memory"
    assert re.fullmatch(r"loaded in \d+\.\d s: TorchClassifier, 872 task texts", text[1])
    # each step: announced with what it runs, then its time and its headline number
    assert text[2] == "[1/5] size: weights on disk and in memory"
    assert re.fullmatch(r"\[1/5\] size in \d+\.\d s: size_mb [\d.e+-]+ MiB; 5 rows", text[3])
    assert text[4] == (
        "[2/5] latency: 5 queries of batch 1 from 872 task texts; 1 warm-up, then >= 10 queries and >= 0.05 s"
    )
    runs = re.fullmatch(r"\[2/5\] latency in \d+\.\d s: latency_mean_ms [\d.e+-]+ ms \(n=(\d+)\); \d+ rows", text[5])
    assert runs and int(runs.group(1)) >= 10, text  # how many queries were timed
    assert text[6] == "[3/5] throughput: batch sizes [1, 4] over 8 sentences, >= 0.05 s each"
    assert text[8] == "[4/5] flops: FLOPs of the 5 latency queries"
    assert text[10] == "[5/5] memory: peak RSS of a fresh process predicting 872 task texts"
    assert re.fullmatch(r"\d+ rows in \d+\.\d s", text[12]) and len(text) == 13
