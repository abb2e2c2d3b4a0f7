"""System measurements of a real (tiny) artefact, and a broken artefact recorded as failed rows, not a crash."""

import json
import math
import os

import pyarrow.parquet as pq
import pytest
import yaml

from suite.artefacts import VARIANT_JSON, save_artefact
from suite.compress.dynamic_quant import FORMAT_FP32
from suite.config import load
from suite.models import load_source_model, load_tokenizer
from suite.pipeline import measure


@pytest.fixture
def cfg(repo, mirror, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUITE_DATA_MIRROR", raising=False)
    config = yaml.safe_load((repo / "tests" / "tiny" / "config" / "config.yaml").read_text())
    config["data"]["mirror"] = str(mirror)
    config["latency"] = {"sample_size": 5, "warmup_runs": 1, "min_runs": 10, "min_seconds": 0.05}
    return load(config, repo)


@pytest.fixture
def artefact(cfg, tmp_path):
    source = cfg.teacher.source
    model = load_source_model(source, {0: "negative", 1: "positive"}, seed=0)
    save_artefact(model, load_tokenizer(source), FORMAT_FP32, tmp_path / "m", {"id": "teacher", "method": "teacher"})
    return tmp_path / "m"


def test_measure_rows(cfg, artefact, tmp_path):
    measure(cfg, "teacher", artefact, tmp_path / "out.parquet")
    table = pq.read_table(tmp_path / "out.parquet").to_pandas().set_index("metric")
    assert (table.status == "ok").all()
    assert table.loc["latency_p50_ms", "n"] >= 10
    assert table.loc["latency_p50_ms", "value"] <= table.loc["latency_p99_ms", "value"]
    weights = os.path.getsize(artefact / "model.safetensors") / (1 << 20)
    assert table.loc["size_mb", "value"] == pytest.approx(weights)
    assert table.loc["sparsity", "value"] == 0.0
    assert "perf_counter_ns" in table.loc["latency_p50_ms", "measurement"]


def test_broken_artefact_is_recorded_as_failed(cfg, artefact, tmp_path):
    (artefact / "model.safetensors").write_bytes(b"not a safetensors file")
    record = json.loads((artefact / VARIANT_JSON).read_text())
    measure(cfg, "teacher", artefact, tmp_path / "out.parquet")
    table = pq.read_table(tmp_path / "out.parquet").to_pandas()
    assert set(table.status) == {"failed"}
    assert all(math.isnan(v) for v in table.value)
    assert table.error.str.len().min() > 0 and table.artefact_sha256.iloc[0] == record["artefact_sha256"]
