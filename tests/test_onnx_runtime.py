"""ONNX export and ONNX Runtime INT8 variants: numerics against torch, size, calibration, checks, FLOPs, threads."""

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
import torch

from suite.artefacts import load_artefact, save_artefact
from suite.compress import METHODS, BuildContext
from suite.compress.onnx import export as onnx_export
from suite.compress.onnx.runtime import THREADS_ENV, OnnxClassifier
from suite.errors import SuiteInputError
from suite.formats import FORMAT_FP32
from suite.models import TorchClassifier, load_source_model, load_tokenizer, weights_size_bytes
from suite.plan import load
from suite.provenance import sha256_file
from suite.specs import LatencySpec, ThroughputSpec
from tests.tiny_models import LABELS, TINY

TEXTS = [
    "a charming and often affecting journey .",
    "unflinchingly bleak and desperate",
    "it 's a film",
    "the acting , costumes , music , cinematography and sound are all astounding .",
    "bad",
    "although the plot is thin , the performances carry the film .",
    "a gorgeous , witty , seductive movie .",
    "the movie is a disaster from start to finish , with no redeeming qualities whatsoever",
    "it never quite comes together",
    "one of the year 's best",
    "flat , boring and far too long",
    "a moving tribute to friendship",
]
TRAIN_TEXTS = [f"{t} {i}" for i, t in enumerate(TEXTS * 4)]


class TinyContext(BuildContext):
    """A BuildContext whose training data is a handful of sentences (no data mirror needed)."""

    def train_data(self):
        return SimpleNamespace(texts=TRAIN_TEXTS, source="test:TRAIN_TEXTS", data_sha256="0" * 64)


def tiny_context(variant_id: str, parent_dir: Path) -> TinyContext:
    cfg = SimpleNamespace(seed=0, evaluate=SimpleNamespace(max_length=32))
    record = json.loads((parent_dir / "variant.json").read_text())
    return TinyContext(cfg=cfg, variant_id=variant_id, parent_dir=parent_dir, parent_record=record)


def build(method: str, parent_dir: Path, out_dir: Path, params: dict | None = None):
    """What suite.pipeline.build_variant does: load the parent, apply, save with the build info; then reload."""
    parent, _ = load_artefact(parent_dir)
    cls = METHODS.get(method)
    ctx = tiny_context(out_dir.name, parent_dir)
    built = cls().apply(parent, cls.parse_params(params or {}), ctx)
    save_artefact(built, parent.tokenizer, cls.OUTPUT_FORMAT, out_dir, {"id": out_dir.name, "build": ctx.info})
    return load_artefact(out_dir)


def tiny_module(seed: int = 0):
    module = load_source_model(TINY, LABELS, seed=seed).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # random init leaves biases at zero, and the exporter merges equal tensors
        for p in module.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    return module


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The tiny teacher, its FP32 ONNX export, ORT dynamic INT8 and static INT8 (16 calibration sentences)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("onnx")
    save_artefact(tiny_module(), load_tokenizer(TINY), FORMAT_FP32, root / "teacher", {"id": "teacher"})
    out = {"root": root}
    out["onnx"] = build("onnx_export", root / "teacher", root / "onnx")
    out["dynamic"] = build("ort_dynamic_int8", root / "onnx", root / "dynamic")
    out["static"] = build("ort_static_int8", root / "onnx", root / "static", {"calibration_size": 16})
    out["teacher"] = load_artefact(root / "teacher")
    return out


def test_fp32_export_matches_torch(built):
    teacher, _ = built["teacher"]
    model, record = built["onnx"]
    assert isinstance(model, OnnxClassifier) and record["format"] == "onnx"
    for batch_size in (1, 5, 12):  # one sentence (no padding) up to padded batches of mixed lengths
        np.testing.assert_allclose(
            model.predict_logits(TEXTS, batch_size, 32), teacher.predict_logits(TEXTS, batch_size, 32), atol=1e-4
        )
    graph = onnx.load(str(model.model_path))
    dims = {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.graph.input}
    assert dims == {n: ["batch", "sequence"] for n in ("input_ids", "token_type_ids", "attention_mask")}
    assert [o.name for o in graph.graph.output] == ["logits"]
    assert not any(n.metadata_props for n in graph.graph.node)  # no stack traces with local paths
    encoding = model.encode(TEXTS[:3], 32)
    assert list(encoding) == model.input_names and all(v.dtype == np.int64 for v in encoding.values())
    assert model.logits(encoding).dtype == np.float32
    saved = json.loads((model.directory / "config.json").read_text())
    assert saved["id2label"] == {"0": "negative", "1": "positive"}
    build = record["build"]
    assert build["opset"] == 18 and build["exporter"] == "torch.onnx.export(dynamo=True)"
    assert build["onnx_checker"] == "passed (full_check)" and build["external_data"] is False
    assert build["check"]["max_abs_logit_diff_vs_parent"] < 1e-4
    assert set(record["weights"]) | set(record["other_files"]) >= {
        "model.onnx",
        "config.json",
        "onnx_runtime.json",
        "tokenizer.json",
    }


def test_dynamic_int8_shrinks_and_agrees(built):
    fp32, _ = built["onnx"]
    int8, record = built["dynamic"]
    ratio = weights_size_bytes(fp32.directory) / weights_size_bytes(int8.directory)
    assert ratio > 3.5  # embeddings (Gather) included: only biases and LayerNorm stay float
    a, b = fp32.predict_logits(TEXTS, 4, 32), int8.predict_logits(TEXTS, 4, 32)
    assert np.mean(a.argmax(1) == b.argmax(1)) >= 0.8
    assert np.max(np.abs(a - b)) < 0.1
    build = record["build"]
    # 2 layers x 6 Linear + pooler + classifier as MatMulInteger; word, position and token-type tables in 8 bits;
    # the 2 x 2 attention products of two activations stay float
    assert build["quantised_nodes"] == {"Gather (8-bit table)": 3, "MatMul (as MatMulInteger)": 14}
    assert build["float_nodes_left"] == {"MatMul": 4}
    assert build["op_types_to_quantize"] == ["MatMul", "Gather"] and build["weight_type"] == "QInt8"
    fp32_stats, int8_stats = fp32.weight_stats(), int8.weight_stats()
    assert int8_stats["param_count"] == fp32_stats["param_count"]
    assert fp32_stats["param_mb"] / int8_stats["param_mb"] > 3.5


def test_static_int8_calibrates_and_runs(built):
    fp32, _ = built["onnx"]
    static, record = built["static"]
    graph = onnx.load(str(static.model_path))
    assert sum(n.op_type == "DequantizeLinear" for n in graph.graph.node) > 20  # QDQ format
    calibration = record["build"]["calibration"]
    assert calibration == {
        "method": "MinMax",
        "sentences": 16,
        "seed": 0,
        "max_length": 32,
        "batch_size": 1,
        "data": "test:TRAIN_TEXTS",
        "data_sha256": "0" * 64,
    }
    assert record["build"]["quantised_nodes"] == {"Gather (QDQ)": 3, "Gemm (QDQ)": 2, "MatMul (QDQ)": 16}
    a, b = fp32.predict_logits(TEXTS, 4, 32), static.predict_logits(TEXTS, 4, 32)
    assert np.isfinite(b).all() and np.mean(a.argmax(1) == b.argmax(1)) >= 0.8
    assert weights_size_bytes(fp32.directory) / weights_size_bytes(static.directory) > 3.5


@pytest.mark.parametrize("calibration_method", ["Entropy", "Percentile"])
def test_histogram_calibration_takes_sentences_of_any_length(built, tmp_path, calibration_method, capsys):
    params = {"calibration_size": 8, "calibration_method": calibration_method}
    model, record = build("ort_static_int8", built["root"] / "onnx", tmp_path / "static", params)
    assert record["build"]["calibration"]["method"] == calibration_method
    assert record["build"]["calibration"]["sentences"] == 8
    assert np.isfinite(model.predict_logits(TEXTS, 4, 32)).all()
    assert "histogram" not in capsys.readouterr().out  # the calibrator's progress lines are kept out of the log


def test_flops_match_the_torch_counter(built):
    """The graph's count equals torch's flop counter on the same model with explicit (eager) attention matmuls;
    torch's counter does not see CPU SDPA, so it is compared on the eager implementation."""
    from suite.trackers.flops import forward_flops

    teacher, _ = built["teacher"]
    eager = copy.deepcopy(teacher.module)
    eager.set_attn_implementation("eager")
    fp32, _ = built["onnx"]
    int8, _ = built["dynamic"]
    static, _ = built["static"]
    for texts in (TEXTS[:1], TEXTS[:5], TEXTS):
        expected = forward_flops(eager, teacher.encode(texts, 32))
        encoding = fp32.encode(texts, 32)
        counted, how = fp32.flops(encoding)
        assert counted == pytest.approx(expected, rel=0.01)
        assert how.startswith("ONNX graph MatMul/Gemm shapes")
        assert int8.flops(encoding)[0] == counted and static.flops(encoding)[0] == counted


def test_weight_stats_match_torch_and_count_pruned_zeros(built, tmp_path):
    from suite.trackers.weights import torch_weight_stats

    teacher, _ = built["teacher"]
    fp32, _ = built["onnx"]
    torch_stats, onnx_stats = torch_weight_stats(teacher.module), fp32.weight_stats()
    assert onnx_stats["param_count"] == torch_stats["param_count"]
    assert onnx_stats["param_mb"] == pytest.approx(torch_stats["param_mb"], rel=0.01)
    assert onnx_stats["sparsity"] == 0.0
    # a chain pruned-50 -> onnx_export -> ort_dynamic_int8: the zeros are found in float and in int8 weights
    pruning = METHODS.get("l1_unstructured")
    pruned = pruning().apply(
        TorchClassifier(tiny_module(), None, FORMAT_FP32), pruning.parse_params({"amount": 0.5}), None
    )
    save_artefact(pruned, teacher.tokenizer, FORMAT_FP32, tmp_path / "pruned", {"id": "pruned"})
    pruned_onnx, _ = build("onnx_export", tmp_path / "pruned", tmp_path / "pruned-onnx")
    assert pruned_onnx.weight_stats()["sparsity"] == pytest.approx(torch_weight_stats(pruned)["sparsity"], abs=0.01)
    pruned_int8, _ = build("ort_dynamic_int8", tmp_path / "pruned-onnx", tmp_path / "pruned-int8")
    assert pruned_int8.weight_stats()["sparsity"] >= 50.0


def test_thread_count_is_fixed_and_recorded(built, monkeypatch):
    fp32, record = built["onnx"]
    assert record["build"]["session"]["intra_op_num_threads"] == 1  # the fixture's torch.set_num_threads(1)
    monkeypatch.setenv(THREADS_ENV, "3")
    model, _ = load_artefact(fp32.directory)
    assert model.threads == 3
    assert model.session_settings["intra_op_num_threads"] == 3
    assert model.session_settings["intra_op_num_threads_from"] == "$SUITE_THREADS"
    assert model.session_settings["inter_op_num_threads"] == 1
    assert model.session_settings["execution_mode"] == "ORT_SEQUENTIAL"
    monkeypatch.setenv(THREADS_ENV, "two")
    with pytest.raises(ValueError, match=r"\$SUITE_THREADS: 'two' is not a positive whole number"):
        load_artefact(fp32.directory)


def test_cuda_without_the_provider_is_refused(built):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    fp32, _ = built["onnx"]
    with pytest.raises(ValueError, match="no CUDAExecutionProvider"):
        load_artefact(fp32.directory, device="cuda")


def test_the_timers_run_on_numpy_encodings(built):
    from suite.measure import Reference, flops_rows, latency_queries, latency_rows, size_rows, throughput_rows

    int8, _ = built["dynamic"]
    teacher, _ = built["teacher"]  # a torch model: the reference of an ONNX Runtime session, in one process
    spec = LatencySpec(
        batch_size=1,
        sample_size=6,
        warmup_runs=1,
        min_runs=5,
        min_seconds=0.0,
        confidence=0.95,
        paired_block=2,
        paired_min_rounds=2,
        paired_switch_warmup=1,
        reference="teacher",
    )
    queries = latency_queries(int8, TEXTS, spec, 32, seed=0)
    reference = Reference("teacher", teacher)
    their_queries = latency_queries(teacher, TEXTS, spec, 32, seed=0)
    rows = {r.metric: r for r in latency_rows("int8", int8, queries, spec, 1, 0, reference, their_queries)}
    assert rows["latency_p50_ms"].value > 0 and rows["latency_p50_ms"].n >= 5
    assert rows["speedup_p50"].ci_low <= rows["speedup_p50"].value <= rows["speedup_p50"].ci_high
    assert rows["reference_latency_p50_ms"].value > 0
    throughput = {
        r.metric: r for r in throughput_rows("int8", int8, TEXTS, ThroughputSpec((2,), 6, 0.0), 32, 0, reference)
    }
    assert throughput["throughput_bs2_sps"].value > 0 and throughput["throughput_speedup@bs2"].n >= 10
    flops = {r.metric: r for r in flops_rows("int8", int8, queries, {"peak_gflops": 1.0, "method": "x"}, 1.0, 1)}
    assert flops["gflops_per_sample"].value > 0
    sizes = {r.metric: r.value for r in size_rows("int8", int8.directory, int8)}
    assert sizes["size_mb"] == pytest.approx(weights_size_bytes(int8.directory) / 2**20)


def test_large_models_use_external_data(built, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "LARGE_MODEL_BYTES", 0)  # as if the model were over 2 GB
    teacher_dir = built["root"] / "teacher"
    fp32, record = build("onnx_export", teacher_dir, tmp_path / "onnx")
    assert record["build"]["external_data"] is True
    assert (fp32.directory / "model.onnx.data").is_file() and "model.onnx.data" in record["weights"]
    assert (fp32.directory / "model.onnx").stat().st_size < 100_000  # the graph only
    teacher, _ = built["teacher"]
    np.testing.assert_allclose(fp32.predict_logits(TEXTS, 4, 32), teacher.predict_logits(TEXTS, 4, 32), atol=1e-4)
    assert fp32.weight_stats() == built["onnx"][0].weight_stats()
    int8, _ = build("ort_dynamic_int8", tmp_path / "onnx", tmp_path / "int8")
    assert weights_size_bytes(fp32.directory) / weights_size_bytes(int8.directory) > 3.5
    assert int8.external_data


def test_export_is_reproducible(built, tmp_path):
    again, _ = build("onnx_export", built["root"] / "teacher", tmp_path / "again")
    assert sha256_file(again.model_path) == sha256_file(built["onnx"][0].model_path)


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("onnx_export", {"opset": 12}, "opset"),
        ("onnx_export", {"opset": "18"}, "opset"),
        ("onnx_export", {"graph_optimization_level": "max"}, "graph_optimization_level"),
        ("onnx_export", {"check_atol": 0}, "check_atol"),
        ("ort_dynamic_int8", {"op_types": ["Conv2d"]}, "op_types"),
        ("ort_dynamic_int8", {"op_types": []}, "op_types"),
        ("ort_dynamic_int8", {"per_channel": "yes"}, "per_channel"),
        ("ort_static_int8", {"calibration_size": 0}, "calibration_size"),
        ("ort_static_int8", {"calibration_size": 1.5}, "calibration_size"),
        ("ort_static_int8", {"calibration_method": "minmax"}, "calibration_method"),
        ("ort_static_int8", {"activation_type": "int4"}, "activation_type"),
        ("ort_static_int8", {"reduce_range": 1}, "reduce_range"),
        ("ort_static_int8", {"seed": 3}, "seed"),
    ],
)
def test_params_out_of_range_name_the_field(method, params, field):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        METHODS.get(method).parse_params(params)


def test_yaml_lists_become_tuples():
    params = METHODS.get("ort_static_int8").parse_params({"op_types": ["MatMul"]})
    assert params.op_types == ("MatMul",) and hash(params)


def test_chains_are_checked_against_input_formats(tiny_config: dict, repo: Path):
    chain = [
        {"id": "onnx", "parent": "teacher", "method": "onnx_export"},
        {"id": "ort-int8", "parent": "onnx", "method": "ort_dynamic_int8"},
        {"id": "ort-static", "parent": "onnx", "method": "ort_static_int8", "params": {"calibration_size": 8}},
        {"id": "pruned-30-onnx", "parent": "pruned-30", "method": "onnx_export"},
    ]
    cfg = load({**tiny_config, "variants": [*tiny_config["variants"], *chain]}, repo, "my.yaml")
    assert cfg.lineage("ort-int8") == ["teacher", "onnx", "ort-int8"]
    wrong = [
        ({"id": "x", "parent": "int8-dynamic", "method": "ort_dynamic_int8"}, "torch-dynamic-int8"),
        ({"id": "x", "parent": "int8-dynamic", "method": "onnx_export"}, "torch-dynamic-int8"),
        ({"id": "x", "parent": "onnx", "method": "onnx_export"}, "onnx"),
        ({"id": "x", "parent": "onnx", "method": "dynamic_quant"}, "onnx"),
    ]
    for variant, parent_format in wrong:
        config = {**tiny_config, "variants": [*tiny_config["variants"], *chain, variant]}
        with pytest.raises(SuiteInputError, match=f"cannot start from a '{parent_format}' parent"):
            load(copy.deepcopy(config), repo, "my.yaml")
    bad = {"id": "x", "parent": "onnx", "method": "ort_static_int8", "params": {"calibration_method": "KL"}}
    with pytest.raises(SuiteInputError) as info:
        load({**tiny_config, "variants": [*tiny_config["variants"], *chain, bad]}, repo, "my.yaml")
    assert info.value.field == f"variants[{len(tiny_config['variants']) + len(chain)}].params.calibration_method"


def test_pipeline_builds_the_chain_with_lineage(built, tiny_config: dict, repo: Path, tmp_path):
    """suite.pipeline.build_variant with the real BuildContext: calibration on the mirror's SST-2 train split."""
    from suite.pipeline import build_variant

    chain = [
        {"id": "onnx", "parent": "teacher", "method": "onnx_export"},
        {"id": "ort-static", "parent": "onnx", "method": "ort_static_int8", "params": {"calibration_size": 8}},
    ]
    cfg = load({**tiny_config, "variants": chain}, repo, "my.yaml")
    build_variant(cfg, "onnx", built["root"] / "teacher", tmp_path / "onnx")
    record = build_variant(cfg, "ort-static", tmp_path / "onnx", tmp_path / "ort-static")
    assert record["lineage"] == ["teacher", "onnx", "ort-static"] and record["format"] == "onnx"
    assert record["recipe"]["params"]["calibration_size"] == 8
    calibration = record["build"]["calibration"]
    assert calibration["sentences"] == 8 and calibration["seed"] == cfg.seed
    assert calibration["data"].startswith("mirror:sst2/train")
    model, _ = load_artefact(tmp_path / "ort-static")
    assert np.isfinite(model.predict_logits(TEXTS, 4, 32)).all()


def test_ort_int8_from_a_torch_parent_exports_first(built, tiny_config: dict, repo: Path, tmp_path):
    """`distil-3L -> ort-int8` is one config entry: the torch parent is exported with onnx_export's defaults, then
    quantised; the export's record is kept and the result matches the two-step chain's."""
    from suite.pipeline import build_variant

    chain = [
        {"id": "onnx", "parent": "teacher", "method": "onnx_export"},
        {"id": "ort-int8", "parent": "onnx", "method": "ort_dynamic_int8"},
        {"id": "ort-direct", "parent": "teacher", "method": "ort_dynamic_int8"},
    ]
    cfg = load({**tiny_config, "variants": chain}, repo, "my.yaml")
    build_variant(cfg, "onnx", built["root"] / "teacher", tmp_path / "onnx")
    build_variant(cfg, "ort-int8", tmp_path / "onnx", tmp_path / "ort-int8")
    record = build_variant(cfg, "ort-direct", built["root"] / "teacher", tmp_path / "ort-direct")
    assert record["lineage"] == ["teacher", "ort-direct"] and record["format"] == "onnx"
    assert record["build"]["export"]["method"] == "onnx_export" and record["build"]["export"]["opset"] == 18
    two_step, _ = load_artefact(tmp_path / "ort-int8")
    direct, _ = load_artefact(tmp_path / "ort-direct")
    np.testing.assert_allclose(direct.predict_logits(TEXTS, 4, 32), two_step.predict_logits(TEXTS, 4, 32), atol=1e-6)
