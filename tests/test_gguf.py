"""GGUF students run by llama.cpp (the optional `.[gguf]` extra): the writer's tensor layout, llama.cpp's logits and
lm-eval scores against the torch model's, and the plan's skip when the extra is absent (tested in every install)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.tiny_models import tiny_llama

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_lm():
    from suite.families.llm import load_source

    module, tokenizer, _ = load_source(tiny_llama(), seed=5)
    return module, tokenizer


# --- without the extra: skipped, with the reason, and nothing else lost ---------------------------------------------


def test_variants_whose_method_is_unavailable_are_skipped_with_their_descendants(monkeypatch):
    from suite.compress.gguf_llamacpp import GgufQuantize
    from suite.plan import unavailable_variants
    from suite.specs import VariantSpec

    monkeypatch.setattr(GgufQuantize, "unavailable", classmethod(lambda cls: "needs the .[gguf] extra"))
    variants = (
        VariantSpec(id="bf16", parent="teacher", method="cast", params={"dtype": "bfloat16"}),
        VariantSpec(id="q8", parent="teacher", method="gguf_quantize", params={"type": "Q8_0"}),
        VariantSpec(id="q8-child", parent="q8", method="cast", params={}),
    )
    assert unavailable_variants(variants) == [
        {"id": "q8", "method": "gguf_quantize", "reason": "needs the .[gguf] extra"},
        {"id": "q8-child", "method": "cast", "reason": "its parent 'q8' is not built: needs the .[gguf] extra"},
    ]


def test_a_track_without_the_extra_lists_the_gguf_variant_as_skipped_and_keeps_the_others(tmp_path, monkeypatch):
    from suite.compress.gguf_llamacpp import GgufQuantize
    from suite.plan import load_file
    from tests.conftest import MIRROR

    monkeypatch.delenv("SUITE_DATA_MIRROR", raising=False)
    monkeypatch.setattr(GgufQuantize, "unavailable", classmethod(lambda cls: "needs the .[gguf] extra"))
    config = yaml.safe_load((REPO / "tests" / "tiny" / "config" / "llm.yaml").read_text())
    config["data"]["mirror"] = str(MIRROR)
    config["variants"].append({"id": "q8", "parent": "teacher", "method": "gguf_quantize", "params": {"type": "Q8_0"}})
    path = tmp_path / "llm.yaml"
    path.write_text(yaml.safe_dump(config))
    cfg = load_file(path, REPO)
    assert "q8" not in [v.id for v in cfg.variants] and "torchao-int8-wo" in [v.id for v in cfg.variants]
    assert cfg.raw["skipped"] == [{"id": "q8", "method": "gguf_quantize", "reason": "needs the .[gguf] extra"}]


def test_a_bad_gguf_type_is_refused_naming_the_field():
    from suite.compress.gguf_llamacpp import GgufQuantize

    with pytest.raises(ValueError, match=r"^type: 'Q3_XS' is not offered"):
        GgufQuantize.parse_params({"type": "Q3_XS"})


def test_the_rotary_reordering_pairs_each_dimension_with_its_rotation_partner():
    """transformers rotates dimension i with i + d/2 of each head; llama.cpp rotates adjacent pairs (2i, 2i + 1)."""
    from suite.compress.gguf_llamacpp import rotary_rows_to_interleaved

    rows = np.arange(2 * 8).reshape(16, 1)  # 2 heads of 8 dims: pairs (0, 4), (1, 5), ... in each head
    out = rotary_rows_to_interleaved(rows, heads=2).ravel().tolist()
    assert out == [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15]


# --- with the extra ------------------------------------------------------------------------------------------------

needs_extra = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="the .[gguf] extra (llama-cpp-python) is not installed"
)


@pytest.fixture(scope="module")
def f32_gguf(tiny_lm, tmp_path_factory):
    from suite.compress.gguf_llamacpp import write_f32_gguf

    module, tokenizer = tiny_lm
    path = tmp_path_factory.mktemp("gguf") / "f32.gguf"
    write_f32_gguf(module, tokenizer, path, "tiny")
    return path


def _context(path: Path, logits_all: bool = True):
    import llama_cpp

    return llama_cpp.Llama(model_path=str(path), n_ctx=256, n_threads=1, logits_all=logits_all, verbose=False)


def _both_logits(tiny_lm, gguf_file: Path, text: str) -> tuple[np.ndarray, np.ndarray]:
    """(llama.cpp's, the torch model's) logits at every position of `text`."""
    module, tokenizer = tiny_lm
    ids = tokenizer(text)["input_ids"]
    with torch.inference_mode():
        expected = module(input_ids=torch.tensor([ids])).logits[0].numpy()
    context = _context(gguf_file)
    try:
        context.eval(ids)
        return np.asarray(context.scores[: len(ids)]), expected
    finally:
        context.close()


@needs_extra
def test_an_f32_gguf_gives_the_torch_models_logits_at_every_position(tiny_lm, f32_gguf):
    got, expected = _both_logits(tiny_lm, f32_gguf, "The quick brown fox jumps over the lazy dog, again and again.")
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-3, rtol=1e-3)


@needs_extra
def test_q8_0_keeps_the_greedy_tokens_and_is_about_a_quarter_of_f32(tiny_lm, f32_gguf, tmp_path):
    from suite.compress.gguf_llamacpp import quantize, tensor_types

    out = tmp_path / "q8.gguf"
    quantize(f32_gguf, out, "Q8_0", threads=1)
    assert tensor_types(out)["Q8_0"] >= 4 * 7  # every layer's seven matrices (norms stay F32)
    assert out.stat().st_size < 0.5 * f32_gguf.stat().st_size
    got, expected = _both_logits(tiny_lm, out, "A small model of a cat and a dog")
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.9
    assert np.abs(got - expected).max() < 0.2


@needs_extra
def test_lm_eval_scores_through_llama_cpp_equal_the_hf_models(tiny_lm, f32_gguf):
    """The same requests through lm-eval's HF model (torch) and the suite's llama.cpp model (F32 GGUF)."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from suite.compress.gguf_llamacpp import llama_cpp_lm

    module, tokenizer = tiny_lm
    pairs = [("The cat sat on the", " mat"), ("Water boils at", " one hundred degrees"), ("", "Hello there")]
    requests = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]
    rolling = [Instance("loglikelihood_rolling", {}, ("A short document. It has two sentences.",), 0)]
    hf = HFLM(pretrained=module, tokenizer=tokenizer, batch_size=1)
    context = _context(f32_gguf)
    try:
        ours = llama_cpp_lm(context, tokenizer, 256)
        for expected, got in zip(hf.loglikelihood(requests), ours.loglikelihood(requests), strict=True):
            assert got[0] == pytest.approx(expected[0], abs=2e-3) and got[1] == expected[1]
        assert ours.loglikelihood_rolling(rolling)[0] == pytest.approx(hf.loglikelihood_rolling(rolling)[0], abs=5e-3)
    finally:
        context.close()


@needs_extra
def test_a_gguf_student_saves_loads_and_decodes_through_the_timers_convention(tiny_lm, tmp_path):
    from types import SimpleNamespace

    from suite.artefacts import load_artefact, save_artefact
    from suite.compress.gguf_llamacpp import GgufCausalLM, GgufQuantize
    from suite.trackers.decode import forward_convention, greedy_decode

    module, tokenizer = tiny_lm
    save_artefact(module, tokenizer, "torch-fp32", tmp_path / "teacher", {"id": "teacher", "recipe": {}})
    parent, _ = load_artefact(tmp_path / "teacher")
    cfg = SimpleNamespace(teacher=SimpleNamespace(source=tiny_llama()), threads=1, label="test")
    ctx = SimpleNamespace(cfg=cfg, variant_id="q8", info={})
    built = GgufQuantize().apply(parent, GgufQuantize.parse_params({"type": "Q8_0"}), ctx)
    assert ctx.info["gguf_type"] == "Q8_0" and ctx.info["pre_tokenizer"].startswith("default")
    save_artefact(built, tokenizer, GgufQuantize.OUTPUT_FORMAT, tmp_path / "q8", {"id": "q8", "recipe": {}})
    student, record = load_artefact(tmp_path / "q8")
    assert isinstance(student, GgufCausalLM) and record["format"] == "gguf-llamacpp"
    assert student.weight_stats()["param_count"] == pytest.approx(sum(p.numel() for p in module.parameters()), rel=0.01)
    prompt = tokenizer("Once upon a time")["input_ids"]
    runner = student.callable
    assert forward_convention(runner).logits_to_keep
    with torch.inference_mode():
        expected = module.generate(torch.tensor([prompt]), max_new_tokens=6, do_sample=False, min_new_tokens=6)
    got = greedy_decode(runner, prompt, 6, convention=forward_convention(runner))
    assert len(got) == 6 and got == greedy_decode(runner, prompt, 6, convention=forward_convention(runner))
    assert sum(a == b for a, b in zip(got, expected[0, len(prompt) :].tolist(), strict=True)) >= 5
    with pytest.raises(ValueError, match="cannot run on cuda"):
        student.to_device("cuda")
    student.close()


@needs_extra
def test_a_gguf_students_decode_is_profiled_by_ggml_operation(tiny_lm, f32_gguf):
    from suite.compress.gguf_llamacpp import GGML_NO_OPS, GgufCausalLM
    from suite.formats import FORMAT_GGUF
    from suite.trackers.profile import decode_profile_rows

    module, tokenizer = tiny_lm
    student = GgufCausalLM(module=None, tokenizer=tokenizer, format=FORMAT_GGUF, path=f32_gguf, config=module.config)
    prompt = tokenizer("Once upon a time there was")["input_ids"]
    try:
        result = student.decode_op_profile(prompt, new_tokens=10, warmup_steps=3)
        # 10 tokens: the first from the (untimed) prefill, 3 warm-up steps, 6 timed steps
        assert result.queries == 6
        assert "MUL_MAT" in result.self_us and not GGML_NO_OPS & set(result.self_us)
        assert all(us > 0 for us in result.self_us.values())
        # every node is timed inside its decode step: the nodes' time is at most the steps' wall time
        assert 0 < result.total_ms_per_query <= result.wall_ms_per_query
        assert result.outside_us == pytest.approx((result.wall_ms_per_query - result.total_ms_per_query) * 6e3)
        # the tiny model's 4 layers: at least its 7 projections per layer and the output head are computed per token
        nodes = int(result.profiler.split(" computed graph nodes")[0].rsplit(" ", 1)[1])
        assert nodes >= 4 * 7 + 1
        rows = decode_profile_rows("q8", student, prompt, new_tokens=10, top_k=4)
        shares = {r.metric.split("@", 1)[1]: r.value for r in rows if r.metric.startswith("op_time_share@")}
        assert len(shares) == 5 and sum(shares.values()) == pytest.approx(100.0, abs=0.01)
        assert rows[-1].metric == "profiled_ms_per_token" and {r.n for r in rows} == {6}
        assert "llama.cpp's graph eval callback" in rows[-1].measurement
        with pytest.raises(ValueError, match=r"raise decode\.new_tokens to at least 5"):
            student.decode_op_profile(prompt, new_tokens=4, warmup_steps=3)
    finally:
        student.close()
