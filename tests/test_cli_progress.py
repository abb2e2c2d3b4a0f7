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
    measure(cfg, "teacher", tmp_path / "m", tmp_path / "peak.json", tmp_path / "out.parquet", tmp_path / "m")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("measure teacher: ")]
    text = [line.removeprefix("measure teacher: ") for line in lines]
    # first the priority it times at (load_guard.nice: -20 where the host allows it; else why not)
    said = r"timed at nice -?\d+(?: \(load_guard\.nice\): .*|: load_guard\.nice -20 was refused .*)"
    assert re.fullmatch(said, text[0]), text[0]
    text = text[1:]
    assert text[0] == (
        f"loading {tmp_path / 'm'} on cpu; measurements: size, latency, throughput, flops, profile, memory"
    )
    assert re.fullmatch(r"loaded in \d+\.\d s: TorchClassifier, 872 task texts", text[1])
    assert text[2] == "reference: A/A: 'teacher' against a second, independently loaded copy of itself"
    # each step: announced with what it runs, then its time and its headline number
    assert text[3] == "[1/6] size: weights on disk and in memory"
    assert re.fullmatch(r"\[1/6\] size in \d+\.\d s: size_mb [\d.e+-]+ MiB; 5 rows", text[4])
    assert text[5] == (
        "[2/6] latency: 5 queries of batch 1 from 872 task texts, paired with 'teacher' in rounds of 2 untimed + 8 "
        "timed queries each; 1 warm-up, then >= 20 rounds, >= 10 queries and >= 0.05 s per model"
    )
    runs = re.fullmatch(r"\[2/6\] latency in \d+\.\d s: latency_mean_ms [\d.e+-]+ ms \(n=(\d+)\); \d+ rows", text[6])
    assert runs and int(runs.group(1)) >= 10, text  # how many queries were timed
    assert text[7] == (
        "[3/6] throughput: batch sizes [1, 4] over 8 sentences, paired with 'teacher' batch by batch, >= 0.05 s per "
        "model each"
    )
    assert text[9].startswith("load guard: contended ") and "calibration loop" in text[9]  # after the timed steps
    assert text[10] == "[4/6] flops: FLOPs of the 5 latency queries"
    assert text[12] == "[5/6] profile: one profiled pass of up to 50 of the 5 latency queries (operator self time)"
    assert text[14] == "[6/6] memory: peak RSS of a fresh process predicting 872 task texts"
    assert re.fullmatch(r"\d+ rows in \d+\.\d s", text[16]) and len(text) == 17
