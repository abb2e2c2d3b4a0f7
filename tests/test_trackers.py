"""Trackers with known answers: percentile bounds, throughput on a fake clock, FLOPs of a known network, energy
method labels, and peak memory in a fresh process."""

import numpy as np
import pytest
import torch
from scipy.stats import binom

from suite.trackers.energy import describe_method
from suite.trackers.flops import forward_flops, matmul_peak_gflops
from suite.trackers.latency import LatencyResult, percentile_upper_bound, timer_overhead_ns
from suite.trackers.throughput import measure_throughput


def test_upper_bound_is_the_first_order_statistic_reaching_the_confidence():
    samples = np.arange(1.0, 1001.0)  # 1..1000 ms
    bound = percentile_upper_bound(samples, 0.99, 0.95)
    k = int(bound)  # the k-th smallest sample is k ms here
    assert binom.cdf(k - 1, 1000, 0.99) >= 0.95 > binom.cdf(k - 2, 1000, 0.99)
    assert bound > np.percentile(samples, 99)  # conservative
    assert percentile_upper_bound(np.arange(1.0, 101.0), 0.99, 0.95) == float("inf")  # 100 samples cannot bound p99


def test_iqr_cv_and_instability():
    steady = LatencyResult(np.array([10.0, 10.1, 9.9, 10.0, 10.05, 9.95] * 20), 1.0)
    assert not steady.unstable
    noisy = LatencyResult(np.array([5.0, 10.0, 15.0, 20.0] * 20), 1.0)
    summary = noisy.summary()
    assert summary["latency_iqr_ms"] == pytest.approx(16.25 - 8.75)
    assert summary["latency_cv_pct"] == pytest.approx(100 * np.std([5, 10, 15, 20] * 20, ddof=1) / 12.5)
    assert noisy.unstable  # IQR / median = 7.5 / 12.5 > 0.1


def test_timer_overhead_is_small_and_positive():
    assert 0 < timer_overhead_ns() < 50_000


class Clock:
    def __init__(self):
        self.now = 0

    def __call__(self):
        return self.now


def test_throughput_on_a_fake_clock():
    clock = Clock()
    cost_ns = {8: 40_000_000, 2: 10_000_000}  # a batch of 8 takes 40 ms, a batch of 2 takes 10 ms

    def run(batch):
        clock.now += cost_ns[len(batch)]

    batches = [list(range(8)), list(range(8)), list(range(2))]  # 18 samples per pass in 90 ms
    rate, samples = measure_throughput(run, batches, [8, 8, 2], warmup_batches=2, min_seconds=0.25, clock=clock)
    assert samples == 18 * 3  # whole passes until >= 0.25 s: 3 passes = 0.27 s
    assert rate == pytest.approx(200.0)  # 18 samples / 0.09 s


def test_flops_of_a_known_network_fp32_and_dynamic_int8():
    from suite.compress.dynamic_quant import quantize_dynamic_linear

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(16, 32)
            self.b = torch.nn.Linear(32, 4)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)))

    net = Net().eval()
    x = {"x": torch.randn(3, 5, 16)}  # 15 rows
    expected = 2 * 15 * (16 * 32 + 32 * 4)
    assert forward_flops(net, x) == expected
    assert forward_flops(quantize_dynamic_linear(net), x) == expected  # counted by shape, not by the flop counter


def test_peak_probe_reports_a_positive_rate():
    peak = matmul_peak_gflops(threads=1, size=128, seconds=0.05)
    assert peak["peak_gflops"] > 0 and "128x128" in peak["method"]


class CPU:
    def __init__(self, mode):
        self._mode = mode


class RAM:
    pass


class GPU:
    pass


def test_energy_method_labels():
    assert describe_method(type("T", (), {"_hardware": [CPU("intel_rapl"), GPU()]})()) == (
        "CPU: RAPL energy counters; GPU: NVML energy counter",
        False,
    )
    text, estimate = describe_method(type("T", (), {"_hardware": [CPU("cpu_load"), RAM()]})())
    assert estimate and "CPU-load estimate" in text and "RAM: CodeCarbon's power model (estimate)" in text
    assert describe_method(type("T", (), {"_hardware": [CPU("constant")]})()) == ("CPU: TDP constant", True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (CUDA-event timing)")
def test_cuda_event_latency():
    from suite.trackers.latency import measure_latency_cuda

    a = torch.randn(1024, 1024, device="cuda")
    result = measure_latency_cuda(lambda x: x @ x, [a], warmup_runs=3, min_runs=20, min_seconds=0.1)
    assert result.runs >= 20 and (result.samples_ms > 0).all()


def test_flops_count_cpu_attention_by_hand():
    """torch's counter has no formula for CPU scaled-dot-product attention; ours does, so SDPA and eager agree."""
    from transformers import BertConfig, BertForSequenceClassification

    kwargs = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
    sdpa = BertForSequenceClassification(BertConfig(**kwargs)).eval()
    eager = BertForSequenceClassification(BertConfig(**kwargs, attn_implementation="eager")).eval()
    x = {"input_ids": torch.randint(0, 100, (1, 10)), "attention_mask": torch.ones(1, 10, dtype=torch.long)}
    length, hidden, inner = 10, 32, 64
    per_layer = (
        3 * 2 * length * hidden * hidden  # Q, K, V projections
        + 2 * 2 * length * length * hidden  # Q·Kᵀ and A·V over both heads
        + 2 * length * hidden * hidden  # attention output projection
        + 2 * 2 * length * hidden * inner  # FFN up and down
    )
    expected = 2 * per_layer + 2 * hidden * hidden + 2 * hidden * 2  # + pooler (first token) + classifier
    assert forward_flops(sdpa, x) == forward_flops(eager, x) == expected == 355_456


def test_decode_flops_per_token_equal_torchs_count_of_a_cached_decode_step():
    """The config's count of one decoded token is what torch's flop counter counts for a KV-cached step of the tiny
    llama (grouped-query attention: 4 query, 2 key/value heads) after a 12-token prompt: 13 keys."""
    from torch.utils.flop_counter import FlopCounterMode

    from suite.families.llm import load_source
    from suite.trackers.decode import decode_step, first_token, forward_convention
    from suite.trackers.flops import decode_flops_per_token, extra_flop_formulas
    from tests.tiny_models import tiny_llama

    module, _, _ = load_source(tiny_llama(), seed=5)
    module.eval()
    convention = forward_convention(module)  # the cache argument this transformers takes (no deprecated name)
    with torch.inference_mode():
        _, _, cache = first_token(module, torch.arange(1, 13)[None], convention)
        with FlopCounterMode(display=False, custom_mapping=extra_flop_formulas()) as counter:
            decode_step(module, torch.tensor([[5]]), cache, convention)
    counted, how = decode_flops_per_token(module.config, context=13)
    # 4 layers x (q/k/v 2*32*(4+2+2)*8 + o 2*32*32 + attention 4*4*8*13 + MLP 3*2*32*64) + head 2*32*49152
    assert counter.get_total_flops() == counted == 4 * (4096 + 2048 + 1664 + 12288) + 3_145_728 == 3_226_112
    assert "4 query and 2 key/value heads of 8" in how and "mean context of 13 keys" in how


def test_decode_flops_refuse_a_layout_they_cannot_count_from_the_config():
    from types import SimpleNamespace

    from suite.trackers.flops import decode_flops_per_token

    with pytest.raises(ValueError, match=r"decoder layouts \['llama', 'mistral', 'qwen2'\].*model_type is 'gpt2'"):
        decode_flops_per_token(SimpleNamespace(model_type="gpt2", n_embd=8), context=4)
