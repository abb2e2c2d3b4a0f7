"""System measurements of a real (tiny) artefact, and a broken artefact recorded as failed rows, not a crash."""

import json
import math
import os

import pyarrow.parquet as pq
import pytest

from suite.artefacts import VARIANT_JSON, save_artefact
from suite.formats import FORMAT_FP32
from suite.models import load_source_model, load_tokenizer
from suite.pipeline import measure
from suite.plan import load


@pytest.fixture
def cfg(tiny_config, repo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tiny_config
    config["latency"] = {"sample_size": 5, "warmup_runs": 1, "min_runs": 10, "min_seconds": 0.05}
    config["throughput"] = {"batch_sizes": [1, 4], "sample_size": 8, "min_seconds": 0.05}
    config["energy"] = {"seconds": 1.0, "measure_power_secs": 0.5}
    config["tasks"] = ["sst2"]
    return load(config, repo)


@pytest.fixture
def peak(tmp_path):
    path = tmp_path / "peak.json"
    path.write_text(json.dumps({"peak_gflops": 100.0, "method": "test"}))
    return path


@pytest.fixture
def artefact(cfg, tmp_path):
    source = cfg.teacher.source
    model = load_source_model(source, {0: "negative", 1: "positive"}, seed=0)
    save_artefact(model, load_tokenizer(source), FORMAT_FP32, tmp_path / "m", {"id": "teacher", "method": "teacher"})
    return tmp_path / "m"


def test_measure_rows(cfg, artefact, peak, tmp_path):
    measure(cfg, "teacher", artefact, peak, tmp_path / "out.parquet")
    table = pq.read_table(tmp_path / "out.parquet").to_pandas().set_index("metric")
    assert (table.status == "ok").all(), table[table.status != "ok"].error.to_dict()
    assert table.loc["latency_p50_ms", "n"] >= 10
    assert table.loc["latency_p50_ms", "value"] <= table.loc["latency_p99_ms", "value"]
    weights = os.path.getsize(artefact / "model.safetensors") / (1 << 20)
    assert table.loc["size_mb", "value"] == pytest.approx(weights)
    assert table.loc["sparsity", "value"] == 0.0
    assert "perf_counter_ns" in table.loc["latency_p50_ms", "measurement"]
    assert table.loc["latency_p90_upper_ms", "value"] >= table.loc["latency_p90_ms", "value"]
    assert table.loc["latency_unstable", "value"] in (0.0, 1.0)
    assert table.loc["throughput_bs4_sps", "value"] > 0 and table.loc["throughput_bs4_sps", "n"] >= 8
    # the fresh process holds torch plus the model: more than the weights alone, less than a few GiB
    assert weights < table.loc["peak_rss_mb", "value"] < 4096
    assert 0 < table.loc["model_rss_mb", "value"] < table.loc["peak_rss_mb", "value"]
    gflops = table.loc["gflops_per_sample", "value"]
    assert table.loc["achieved_gflops", "value"] == pytest.approx(gflops / (table.loc["latency_p50_ms", "value"] / 1e3))
    assert table.loc["pct_of_peak_flops", "value"] == pytest.approx(table.loc["achieved_gflops", "value"])  # peak 100
    energy = table.loc["energy_per_1k_queries_j"]
    assert energy.value > 0 and "CodeCarbon" in energy.measurement and energy.estimate  # no RAPL on CI machines


def test_broken_artefact_is_recorded_as_failed(cfg, artefact, peak, tmp_path):
    (artefact / "model.safetensors").write_bytes(b"not a safetensors file")
    record = json.loads((artefact / VARIANT_JSON).read_text())
    measure(cfg, "teacher", artefact, peak, tmp_path / "out.parquet")
    table = pq.read_table(tmp_path / "out.parquet").to_pandas()
    assert set(table.status) == {"failed"}
    assert all(math.isnan(v) for v in table.value)
    assert table.error.str.len().min() > 0 and table.artefact_sha256.iloc[0] == record["artefact_sha256"]


def test_peak_rss_is_the_fresh_process_not_the_parent(artefact, tmp_path):
    from suite.trackers.memory import peak_rss_in_subprocess

    texts = tmp_path / "texts.json"
    texts.write_text(json.dumps(["a good film", "a bad film"]))
    first = peak_rss_in_subprocess(artefact, texts, 2, 32, 1)["peak_rss_mb"]
    ballast = bytearray(800 << 20)  # the parent now peaks 800 MiB higher (ru_maxrss would pass that on)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page so it is resident
    second = peak_rss_in_subprocess(artefact, texts, 2, 32, 1)["peak_rss_mb"]
    del ballast
    assert abs(second - first) < 100 and second < 800
