"""The operator profiler tracker: shares and `other` on hand-made times, ONNX Runtime traces, and real profiled passes
of a tiny BERT in torch (FP32, dynamic INT8) and in ONNX Runtime (FP32 export, dynamic INT8)."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from suite.artefacts import load_artefact, save_artefact
from suite.compress import METHODS, BuildContext
from suite.formats import FORMAT_FP32
from suite.models import TorchClassifier, load_source_model, load_tokenizer
from suite.trackers.profile import (
    merge_names,
    metric_name,
    op_shares,
    ort_trace_profile,
    profile_rows,
    torch_cpu_key_times,
    torch_key_times,
)
from tests.tiny_models import LABELS, TEXTS, TINY

MATMULS = {"aten::addmm", "aten::linear", "aten::mm", "aten::matmul", "aten::bmm", "quantized::linear_dynamic"}


def tiny_module():
    module = load_source_model(TINY, LABELS, seed=0).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # random init leaves biases at zero, and the ONNX exporter merges equal tensors
        for p in module.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    return module


def build(method: str, parent_dir: Path, out_dir: Path):
    """A variant as suite.pipeline builds it (load the parent, apply, save), reloaded; for methods that need no data."""
    parent, _ = load_artefact(parent_dir)
    cls = METHODS.get(method)
    cfg = SimpleNamespace(seed=0, evaluate=SimpleNamespace(max_length=32))
    record = json.loads((parent_dir / "variant.json").read_text())
    ctx = BuildContext(cfg=cfg, variant_id=out_dir.name, parent_dir=parent_dir, parent_record=record)
    save_artefact(
        cls().apply(parent, cls.parse_params({}), ctx),
        parent.tokenizer,
        cls.OUTPUT_FORMAT,
        out_dir,
        {"id": out_dir.name},
    )
    return load_artefact(out_dir)[0]


def shares_of(rows) -> dict[str, float]:
    return {r.metric.removeprefix("op_time_share@"): r.value for r in rows if r.metric.startswith("op_time_share@")}


def check_rows(rows, queries: int, top_k: int) -> dict[str, float]:
    """What every profile's rows hold: top_k + other shares adding up to 100, and the ms per query; n everywhere."""
    shares = shares_of(rows)
    assert len(shares) == top_k + 1 and "other" in shares
    assert sum(shares.values()) == pytest.approx(100.0, abs=0.01)
    assert all(0 <= v <= 100 for v in shares.values())
    top = [v for k, v in shares.items() if k != "other"]
    assert top == sorted(top, reverse=True)
    assert [r.metric for r in rows][-1] == "profiled_ms_per_query"
    per_query = rows[-1]
    assert per_query.unit == "ms" and per_query.higher_is_better is False and per_query.value > 0
    for row in rows[:-1]:
        assert row.unit == "%" and row.higher_is_better is None
    for row in rows:
        assert row.n == queries and row.status == "ok" and row.variant == "v"
        assert f"{queries} batch-1 queries after 3 warm-up queries" in row.measurement
        assert "self time" in row.measurement and "profiler overhead" in row.measurement
    return shares


def test_top_k_and_other_from_hand_made_self_times():
    assert op_shares({"a": 50, "b": 30, "c": 15, "d": 5}, top_k=2) == [("a", 50.0), ("b", 30.0), ("other", 20.0)]
    # ties by name, `other` kept at 0 when every operator is in the top k
    assert op_shares({"y": 1.0, "x": 1.0}, top_k=3) == [("x", 50.0), ("y", 50.0), ("other", 0.0)]
    with pytest.raises(ValueError, match="no operator time"):
        op_shares({"a": 0.0}, top_k=2)
    with pytest.raises(ValueError, match="top_k"):
        op_shares({"a": 1.0}, top_k=0)


def test_metric_names_keep_the_profilers_names():
    assert metric_name("aten::_sparse_semi_structured_linear") == "op_time_share@aten::_sparse_semi_structured_linear"
    assert metric_name("quantized::linear_dynamic") == "op_time_share@quantized::linear_dynamic"
    assert metric_name("Torch-Compiled Region: 0/0") == "op_time_share@Torch-Compiled_Region:_0_0"


def test_a_compiled_graphs_share_keeps_one_name_across_compiles():
    # torch.profiler names each Inductor graph call after the graph's cache key (as torch 2.13 writes it; three
    # graphs for a compiled decode: prefill, first decode, later decodes) and each Dynamo region after its counters;
    # one metric each, summed.
    self_us = [
        ("## Call CompiledFxGraph fh4ijyftfhgzzwdnxszd7ww2a3kjawjyjxdmf6nowaln2v2pxn2s ##", 500.0),
        ("## Call CompiledFxGraph c3xq2 ##", 200.0),
        ("aten::mm", 250.0),
        ("Torch-Compiled Region: 0/1", 30.0),
        ("Torch-Compiled Region: 0/2", 20.0),
    ]
    merged = merge_names(self_us)
    assert merged == {"inductor::compiled_graph": 700.0, "aten::mm": 250.0, "dynamo::compiled_region": 50.0}
    assert op_shares(merged, top_k=2) == [("inductor::compiled_graph", 70.0), ("aten::mm", 25.0), ("other", 5.0)]


class Averaged:
    """A row of torch.profiler's key_averages() with the fields the tracker reads."""

    def __init__(self, key, self_cpu, cpu=0.0, count=1, device=torch.autograd.DeviceType.CPU, self_device=0.0):
        self.key, self.self_cpu_time_total, self.cpu_time_total, self.count = key, self_cpu, cpu, count
        self.device_type, self.self_device_time_total = device, self_device


def test_torch_rows_drop_the_profilers_own_and_count_device_time_once():
    averages = [
        Averaged("ProfilerStep*", 400.0, cpu=1000.0, count=4),
        Averaged("[memory]", 0.0),
        Averaged("aten::linear", 50.0, self_device=0.0),
        Averaged("aten::addmm", 450.0, self_device=300.0),
        Averaged("aten::gelu", 100.0, self_device=100.0),
        Averaged("sm90_gemm_kernel", 0.0, device=torch.autograd.DeviceType.CUDA, self_device=300.0),
    ]
    ops, outside, steps_us, steps = torch_key_times(averages, device=False)
    assert ops == {"aten::linear": 50.0, "aten::addmm": 450.0, "aten::gelu": 100.0}
    assert (outside, steps_us, steps) == (400.0, 1000.0, 4)
    ops, *_ = torch_key_times(averages, device=True)  # the kernel's 300 µs is aten::addmm's, not counted again
    assert ops == {"aten::addmm": 300.0, "aten::gelu": 100.0}


def test_the_raw_event_self_times_equal_torchs_own_key_averages_on_a_real_profile():
    """torch_cpu_key_times reads the profiler's raw events instead of building torch's event tree (25 s for a 60-step
    decode of a 135M LM): on a tiny BERT's and a tiny llama's profiled passes it must give key_averages' figures."""
    from torch.profiler import ProfilerActivity, profile, schedule

    from suite.families.llm import load_source
    from tests.tiny_models import tiny_llama

    torch.set_num_threads(2)  # the benchmark's threads: intra-op work on a second thread too
    bert = TorchClassifier(tiny_module(), load_tokenizer(TINY), FORMAT_FP32)
    llama, _, _ = load_source(tiny_llama(), seed=5)
    encoding = bert.encode(TEXTS, 32)
    runs = {
        "bert": lambda: bert.forward(encoding),
        "llama": lambda: llama(input_ids=torch.arange(1, 17)[None]),
    }
    for name, run in runs.items():
        with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU], schedule=schedule(
            wait=0, warmup=1, active=5, repeat=1)) as prof:  # fmt: skip
            for _ in range(6):
                run()
                prof.step()
        fast = torch_cpu_key_times(prof)
        ops, outside, steps_us, steps = torch_key_times(prof.key_averages(), device=False)
        assert steps == fast[3] == 5, name
        assert fast[0].keys() == ops.keys() and len(ops) > 5, name
        for op, value in ops.items():
            assert fast[0][op] == pytest.approx(value, rel=1e-9, abs=1e-6), (name, op)
        assert (fast[1], fast[2]) == (pytest.approx(outside), pytest.approx(steps_us)), name


def test_ort_trace_parser_on_a_hand_written_trace():
    events = [
        {"cat": "Session", "name": "model_loading_uri", "ts": 0, "dur": 500, "args": {}},
        {"cat": "Session", "name": "model_run", "ts": 1000, "dur": 100, "args": {}},  # warm-up
        {"cat": "Node", "name": "n0_kernel_time", "ts": 1010, "dur": 90, "args": {"op_name": "MatMulInteger"}},
        {"cat": "Session", "name": "model_run", "ts": 2000, "dur": 110, "args": {}},
        {"cat": "Node", "name": "n0_fence_before", "ts": 2001, "dur": 1, "args": {"op_name": "MatMulInteger"}},
        {"cat": "Node", "name": "n0_kernel_time", "ts": 2002, "dur": 60, "args": {"op_name": "MatMulInteger"}},
        {"cat": "Node", "name": "n1_kernel_time", "ts": 2070, "dur": 25, "args": {"op_name": "Attention"}},
        {"cat": "Session", "name": "model_run", "ts": 3000, "dur": 90, "args": {}},
        {"cat": "Node", "name": "n0_kernel_time", "ts": 3002, "dur": 40, "args": {"op_name": "MatMulInteger"}},
        {"cat": "Node", "name": "n1_kernel_time", "ts": 3050, "dur": 25, "args": {"op_name": "Attention"}},
        {"cat": "Node", "name": "n2_kernel_time", "ts": 3080, "dur": 10, "args": {"op_name": "QLinearMatMul"}},
    ]
    ops, runs = ort_trace_profile(events, skip_runs=1)
    assert ops == {"MatMulInteger": 100.0, "Attention": 50.0, "QLinearMatMul": 10.0}
    assert runs == [110.0, 90.0]
    assert op_shares(ops, top_k=1) == [("MatMulInteger", 62.5), ("other", 37.5)]
    with pytest.raises(ValueError, match="none after the 3 warm-up runs"):
        ort_trace_profile(events, skip_runs=3)


@pytest.fixture(scope="module")
def tiny_torch():
    torch.set_num_threads(1)
    model = TorchClassifier(module=tiny_module(), tokenizer=load_tokenizer(TINY), format=FORMAT_FP32)
    return model, [model.encode([t], 32) for t in TEXTS]  # batch-1 queries


def test_torch_fp32_profile(tiny_torch):
    model, queries = tiny_torch
    rows = profile_rows("v", model, queries, top_k=5)
    shares = check_rows(rows, len(queries), top_k=5)
    assert MATMULS & set(shares), shares
    assert not any(k.startswith("ProfilerStep") for k in shares)
    assert "torch.profiler (CPU activity)" in rows[0].measurement and "self CPU time" in rows[0].measurement
    # max_queries caps the pass
    assert {r.n for r in profile_rows("v", model, queries, top_k=2, max_queries=2)} == {2}


def test_torch_dynamic_int8_profile_names_the_quantised_linear(tiny_torch):
    from suite.compress.dynamic_quant import quantize_dynamic_linear

    model, queries = tiny_torch
    quantised = TorchClassifier(quantize_dynamic_linear(tiny_module()).eval(), model.tokenizer, "torch-dynamic-int8")
    shares = check_rows(profile_rows("v", quantised, queries, top_k=4), len(queries), top_k=4)
    assert "quantized::linear_dynamic" in shares, shares


def test_other_models_are_refused_by_class_name():
    class Elsewhere:
        format = "gguf"

    with pytest.raises(ValueError, match="no operator profiler for Elsewhere"):
        profile_rows("v", Elsewhere(), [{"input_ids": np.zeros((1, 3))}])
    with pytest.raises(ValueError, match="no queries"):
        profile_rows("v", Elsewhere(), [])


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory):
    """The tiny teacher's ONNX export and its ORT dynamic INT8 quantisation (a few seconds)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("profile-onnx")
    save_artefact(tiny_module(), load_tokenizer(TINY), FORMAT_FP32, root / "teacher", {"id": "teacher"})
    return build("onnx_export", root / "teacher", root / "onnx"), build(
        "ort_dynamic_int8", root / "onnx", root / "int8"
    )


def test_onnx_runtime_profile_of_the_export(onnx_models):
    model, _ = onnx_models
    queries = [model.encode([t], 32) for t in TEXTS]
    session = model.session
    rows = profile_rows("v", model, queries, top_k=6)
    assert model.session is session  # the model's own session is back, unprofiled
    assert not session.get_session_options().enable_profiling
    shares = check_rows(rows, len(queries), top_k=6)
    assert {"MatMul", "FusedMatMul", "Gemm", "FusedGemm", "Attention"} & set(shares), shares
    assert "ONNX Runtime" in rows[0].measurement and "CPUExecutionProvider" in rows[0].measurement


def test_onnx_runtime_profile_of_dynamic_int8(onnx_models):
    _, model = onnx_models
    queries = [model.encode([t], 32) for t in TEXTS[:2]]
    shares = check_rows(profile_rows("v", model, queries, top_k=20), 2, top_k=20)
    assert {"MatMulInteger", "DynamicQuantizeMatMul", "DynamicQuantizeLinear"} & set(shares), shares


def test_real_ort_trace_files_parse(onnx_models, tmp_path: Path):
    """The parser reads ONNX Runtime's own trace file (this version's event names and fields)."""
    import onnxruntime as ort

    model, _ = onnx_models
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp_path / "trace")
    session = ort.InferenceSession(str(model.model_path), options, providers=["CPUExecutionProvider"])
    query = model.encode([TEXTS[0]], 32)
    for _ in range(2):
        session.run(None, query)
    events = json.loads(Path(session.end_profiling()).read_text())
    ops, runs = ort_trace_profile(events, skip_runs=1)
    assert len(runs) == 1 and 0 < sum(ops.values()) <= runs[0]


# --- a causal LM: the decode steps of one greedy decode ------------------------------------------------------------


def test_a_causal_lm_profile_records_one_step_per_decoded_token():
    from suite.families.llm import CausalLM
    from suite.trackers.profile import decode_profile_rows
    from tests.test_decode import tiny_llama

    torch.set_num_threads(1)
    model = CausalLM(module=tiny_llama(), tokenizer=None, format=FORMAT_FP32)
    rows = decode_profile_rows("v", model, list(range(1, 17)), new_tokens=10, top_k=4)
    shares = shares_of(rows)
    assert len(shares) == 5 and sum(shares.values()) == pytest.approx(100.0, abs=0.01)
    assert MATMULS & set(shares), shares
    per_token = rows[-1]
    assert (per_token.metric, per_token.unit, per_token.higher_is_better) == ("profiled_ms_per_token", "ms", False)
    assert per_token.value > 0
    # 10 tokens: the first from the (untraced) prefill, 3 warm-up steps dropped, 6 steps recorded (checked inside)
    assert {r.n for r in rows} == {6}
    assert (
        "one greedy decode of 10 tokens after a 16-token prompt, the prefill untraced and 3 warm-up decode steps "
        "dropped: 6 decode steps of one token each at batch 1" in per_token.measurement
    )
    assert "ms per token over" in per_token.measurement and "ms per token wall" in per_token.measurement
    with pytest.raises(ValueError, match=r"raise decode\.new_tokens to at least 5"):
        decode_profile_rows("v", model, [1, 2, 3], new_tokens=4)


def test_a_causal_lm_without_a_torch_module_is_refused_by_class_name():
    from suite.trackers.profile import decode_profile_rows

    class LlamaCppLM:
        module, format = None, "gguf"

    with pytest.raises(ValueError, match="no operator profiler for LlamaCppLM \\(format 'gguf'\\)"):
        decode_profile_rows("v", LlamaCppLM(), [1, 2, 3], new_tokens=8)
