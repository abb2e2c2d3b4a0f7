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


def test_measure_rows(cfg, artefact, peak, tmp_path, monkeypatch):
    monkeypatch.setenv("KMP_BLOCKTIME", "7")  # recorded, not acted on: libgomp was set up when torch loaded
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))  # a cache location: not a timing setting
    measure(cfg, "teacher", artefact, peak, tmp_path / "out.parquet", reference_dir=artefact)
    table = pq.read_table(tmp_path / "out.parquet").to_pandas().set_index("metric")
    assert (table.status == "ok").all(), table[table.status != "ok"].error.to_dict()
    # the teacher's own job: A/A against a second, independently loaded copy, in interleaved rounds
    aa = table.loc["speedup_p50"]
    assert aa.ci_low <= aa.value <= aa.ci_high and aa.n >= 20 and "A/A" in aa.measurement
    assert table.loc["throughput_speedup@bs4", "n"] >= 10
    assert table.loc["contended", "value"] in (0.0, 1.0) and "calibration loop" in table.loc["contended", "measurement"]
    assert table.loc["host_other_cpu_pct", "value"] >= 0.0 and table.loc["host_steal_pct", "value"] >= 0.0
    shares = table[table.index.str.startswith("op_time_share@")]
    assert shares.value.sum() == pytest.approx(100.0, abs=0.01) and table.loc["profiled_ms_per_query", "value"] > 0
    assert table.host_id.str.fullmatch(r"[0-9a-f]{16}").all()
    env = json.loads(table.runtime_env.iloc[0])
    assert env["KMP_BLOCKTIME"] == "7" and "TORCHINDUCTOR_CACHE_DIR" not in env and table.runtime_env.nunique() == 1
    assert "per round the mean batch time of 'teacher'" in table.loc["throughput_speedup@bs4", "measurement"]
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


def test_flops_are_counted_once_per_input_shape_with_the_mean_of_counting_every_query(artefact):
    from suite.artefacts import load_artefact
    from suite.measure import flops_rows

    model, _ = load_artefact(artefact)
    texts = ["good", "bad", "a fine film", "not good at all", "a dull one", "so good"]
    queries = [model.encode([t], 32) for t in texts]
    by_query = [model.flops(q)[0] for q in queries]
    lengths = [q["input_ids"].shape[1] for q in queries]
    assert len(set(lengths)) < len(texts)  # some queries share a shape

    calls = []
    counted = model.flops

    def flops(query):
        calls.append(query["input_ids"].shape[1])
        return counted(query)

    model.flops = flops
    row = flops_rows("teacher", model, queries, {}, latency_p50_ms=None, threads=1)[0]
    assert sorted(calls) == sorted(set(lengths))  # one count per distinct shape
    assert row.value == pytest.approx(sum(by_query) / len(by_query) / 1e9, rel=1e-12)
    assert f"mean over 6 real queries (counted once per input shape: {len(set(lengths))})" in row.measurement


def test_broken_artefact_is_recorded_as_failed(cfg, artefact, peak, tmp_path):
    (artefact / "model.safetensors").write_bytes(b"not a safetensors file")
    record = json.loads((artefact / VARIANT_JSON).read_text())
    measure(cfg, "teacher", artefact, peak, tmp_path / "out.parquet")
    table = pq.read_table(tmp_path / "out.parquet").to_pandas()
    assert set(table.status) == {"failed"}
    assert all(math.isnan(v) for v in table.value)
    assert table.error.str.len().min() > 0 and table.artefact_sha256.iloc[0] == record["artefact_sha256"]


def test_a_reference_that_does_not_load_leaves_the_variant_timed_alone_and_its_speedups_failed(
    cfg, artefact, peak, tmp_path
):
    import shutil

    reference = tmp_path / "reference"
    shutil.copytree(artefact, reference)
    (reference / "model.safetensors").write_bytes(b"not a safetensors file")
    measure(cfg, "teacher", artefact, peak, tmp_path / "out.parquet", reference_dir=reference)
    table = pq.read_table(tmp_path / "out.parquet").to_pandas().set_index("metric")
    failed = set(table.index[table.status == "failed"])
    assert failed == {"speedup_p50", "speedup_mean", "reference_latency_p50_ms", "reference_latency_mean_ms",
                      "throughput_speedup@bs1", "throughput_speedup@bs4"}  # fmt: skip
    assert table.loc["speedup_p50", "error"].startswith("not timed against the reference 'teacher', which did not load")
    assert table.loc["latency_p50_ms", "value"] > 0 and "timed alone" in table.loc["latency_p50_ms", "measurement"]


def test_a_reference_of_another_family_is_refused_with_the_fix(cfg, artefact, tmp_path):
    from suite.families.llm import CausalLM
    from suite.measure import load_reference
    from suite.models import Classifier

    assert load_reference(cfg, "int8", tmp_path / "int8", artefact, Classifier).model is not None
    reference = load_reference(cfg, "a-language-model", tmp_path / "lm", artefact, CausalLM)
    assert reference.model is None and reference.id == "teacher"
    assert reference.error == (
        f"{artefact} loads as a TorchClassifier, not a CausalLM like the variant: name a reference of this family in "
        "latency.reference"
    )


def test_a_peak_probed_on_another_machine_type_is_refused_naming_both(cfg, artefact, tmp_path):
    from suite.provenance import hardware

    peak = tmp_path / "peak.json"
    peak.write_text(json.dumps({"peak_gflops": 100.0, "method": "test", "hardware_fingerprint": "0123456789abcdef",
                                "hardware_description": "Other CPU, 64 of 64 logical cores"}))  # fmt: skip
    measure(cfg, "teacher", artefact, peak, tmp_path / "out.parquet", reference_dir=artefact)
    row = pq.read_table(tmp_path / "out.parquet").to_pandas().set_index("metric").loc["pct_of_peak_flops"]
    here = hardware(cfg.threads)["hardware_fingerprint"]
    assert row.status == "failed" and "0123456789abcdef (Other CPU, 64 of 64 logical cores)" in row.error
    assert f"ran on {here}" in row.error


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
