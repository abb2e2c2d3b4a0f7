"""Task kind `lm_eval`: a causal LM scored by lm-evaluation-harness on a seeded subset, one prediction row per doc.

The task file names lm-eval's own task YAML beside it (`generator.files.lm_eval`, embedded at load like every
generator file) and the mirror files its generator turns into docs (`data_files`, suite/tasks/llm_data.py). At run
time the docs are written to a JSONL in a temporary directory, the YAML gets `dataset_kwargs.data_files` pointing at
it, and lm-eval runs offline on that directory alone (`include_defaults=False`: the default index costs 8–14 s).

Prediction rows, by lm-eval output type:
- multiple_choice: label = gold index, logits = lm-eval's per-choice log-likelihoods, probs = their softmax,
  pred = argmax (-1 when not finite), meta = lm-eval's per-sample `acc`/`acc_norm`; BLiMP's slice = paradigm.
- loglikelihood_rolling: label = pred = -1, logits = [the document's total log-likelihood], meta = {words, bytes}
  (what lm-eval's word/byte perplexities divide by).
- generate_until: label = pred = -1, meta = {response, exact_match (the first filter's), exact_match_by_filter,
  first_32_tokens (token ids of the response's first 32 tokens)}.
Every meta also holds `lm_eval_version`, so `score` (which reads the table alone) can name it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from suite.data import TaskData
from suite.errors import SuiteInputError
from suite.families.base import LLM
from suite.results import Row, task_row
from suite.specs import EvaluateSpec, TaskSpec
from suite.tasks.base import (
    PREDICTIONS_SCHEMA,
    TASK_KINDS,
    Columns,
    TaskKind,
    bootstrap_mean,
    sliced,
    softmax,
)

LM_EVAL_FILE = "lm_eval"  # the generator file role that holds lm-eval's task YAML
MULTIPLE_CHOICE, ROLLING, GENERATE = "multiple_choice", "loglikelihood_rolling", "generate_until"
# lm-eval output type -> the metrics this kind reproduces from the per-sample logs
OUTPUT_METRICS: dict[str, tuple[str, ...]] = {
    MULTIPLE_CHOICE: ("acc", "acc_norm"),
    ROLLING: ("word_perplexity", "byte_perplexity", "bits_per_byte"),
    GENERATE: ("exact_match",),
}
LM_BATCH_SIZE = 8  # at most this many sequences per forward: log-softmax over a 49k vocabulary is large per token
FIRST_TOKENS = 32  # generated tokens compared with the teacher's (greedy_match_pct in suite.fidelity)
WIKITEXT_NOTE = (
    "tokenised WikiText-2 v1 test file (not comparable with published lm-eval wikitext numbers, which use the raw "
    "file and a detokeniser)"
)


def lm_eval_config(task: TaskSpec) -> dict[str, Any]:
    """The task's lm-eval YAML as embedded at load."""
    assert task.generator is not None
    return dict(task.generator.data[LM_EVAL_FILE])


def eval_split(config: dict[str, Any]) -> str:
    """The split lm-eval scores: the YAML's test split, else its validation split."""
    return config.get("test_split") or config["validation_split"]


def batch_size(spec: EvaluateSpec) -> int:
    return max(1, min(spec.batch_size, LM_BATCH_SIZE))


@TASK_KINDS.register
class LmEvalKind(TaskKind):
    NAME = "lm_eval"
    NEEDS_DATASET = False
    NEEDS_GENERATOR = True  # the generator turns mirror files into the seeded subset of lm-eval docs
    FAMILIES: ClassVar[frozenset[str]] = frozenset({LLM})

    @staticmethod
    def check_definition(data: dict[str, Any], path: str) -> None:
        """The task's lm-eval YAML (embedded as generator file `lm_eval`) and its metrics, at workflow load."""
        generator = data.get("generator") or {}
        files = generator.get("files") or {}
        if LM_EVAL_FILE not in files:
            raise SuiteInputError(
                path,
                f"generator.files.{LM_EVAL_FILE}",
                "an lm_eval task needs lm-evaluation-harness's task YAML",
                f"add e.g. {data['name']}.lm_eval.yaml beside the task and name it here",
            )
        where = str(Path(path).parent / files[LM_EVAL_FILE])
        config = (generator.get("data") or {}).get(LM_EVAL_FILE) or {}
        if not isinstance(config.get("task"), str) or not config["task"]:
            raise SuiteInputError(where, "task", "lm-eval's task name is missing", "add `task: <name>`")
        output_type = config.get("output_type")
        if output_type not in OUTPUT_METRICS:
            raise SuiteInputError(
                where,
                "output_type",
                f"unknown or unsupported output type {output_type!r}",
                f"use one of {sorted(OUTPUT_METRICS)}",
            )
        if config.get("dataset_path") != "json":
            raise SuiteInputError(
                where, "dataset_path", "the suite feeds lm-eval its prepared JSONL", "set dataset_path: json"
            )
        if not (config.get("test_split") or config.get("validation_split")):
            raise SuiteInputError(where, "test_split", "names no split to score", "set test_split: test")
        if config.get("num_fewshot"):
            raise SuiteInputError(
                where, "num_fewshot", "the prepared subset has no few-shot split", "set num_fewshot: 0"
            )
        allowed = OUTPUT_METRICS[output_type]
        listed = []
        for i, item in enumerate(config.get("metric_list") or []):
            name = item.get("metric") if isinstance(item, dict) else None
            if name not in allowed:
                raise SuiteInputError(
                    where,
                    f"metric_list[{i}].metric",
                    f"unknown metric {name!r} for output type {output_type}",
                    f"use {', '.join(allowed)}",
                )
            listed.append(name)
        for i, metric in enumerate(data["metrics"]):
            if metric not in listed:
                raise SuiteInputError(
                    path,
                    f"metrics[{i}]",
                    f"'{metric}' is not in the metric_list of {where} ({listed})",
                    "name a metric that lm-eval computes for this task",
                )

    def predict(self, model: Any, variant: str, task: TaskSpec, data: TaskData, spec: EvaluateSpec) -> pa.Table:
        results = run_lm_eval(model, task, data, spec)
        return predictions_from_results(results, variant, task, data, model.tokenizer)

    def score(self, predictions: pa.Table, variant: str, task: TaskSpec, spec: EvaluateSpec, seed: int) -> list[Row]:
        cols = Columns(predictions)
        output_type = lm_eval_config(task)["output_type"]
        if output_type == MULTIPLE_CHOICE:
            return choice_rows(cols, variant, task, spec, seed)
        if output_type == ROLLING:
            return perplexity_rows(cols, variant, task, spec, seed)
        return generation_rows(cols, variant, task, spec, seed)

    def teacher_relative(
        self, teacher: pa.Table, student: pa.Table, task: TaskSpec, spec: EvaluateSpec, seed: int
    ) -> list[Row] | None:
        """Flips, agreement, KL over the choices and the paired accuracy drop; perplexity ratio; greedy match."""
        from suite.fidelity import lm_teacher_relative

        return lm_teacher_relative(task, teacher, student, spec, seed)


# --- running lm-eval ------------------------------------------------------------------------------------------


def run_lm_eval(model: Any, task: TaskSpec, data: TaskData, spec: EvaluateSpec) -> dict[str, Any]:
    """lm-eval's full output (results, samples, configs) for the task on the data's docs, offline and seeded."""
    assert task.generator is not None and data.meta is not None
    # before lm-eval imports datasets/huggingface_hub, which read these once; nothing here may touch the network
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    import yaml
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    config = lm_eval_config(task)
    seed = task.generator.seed
    with tempfile.TemporaryDirectory(prefix="suite-lm-eval-") as tmp:
        docs = Path(tmp) / "docs.jsonl"
        docs.write_text("".join(json.dumps(doc, sort_keys=True) + "\n" for doc in data.meta), encoding="utf-8")
        config["dataset_kwargs"] = {
            **(config.get("dataset_kwargs") or {}),
            "data_files": {eval_split(config): str(docs)},
            "cache_dir": str(Path(tmp) / "datasets"),
        }
        (Path(tmp) / "tasks").mkdir()
        (Path(tmp) / "tasks" / f"{config['task']}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        manager = TaskManager(include_path=str(Path(tmp) / "tasks"), include_defaults=False)
        lm = model.lm_eval_model(batch_size(spec))  # lm-eval's HF model, or the variant's runtime's own
        results = simple_evaluate(
            model=lm,
            tasks=[config["task"]],
            task_manager=manager,
            log_samples=True,
            bootstrap_iters=0,  # the suite's own seeded bootstrap gives the intervals
            random_seed=seed,
            numpy_random_seed=seed,
            torch_random_seed=seed,
            fewshot_random_seed=seed,
        )
    if results is None:
        raise RuntimeError("lm-eval returned no results (a non-zero rank of a distributed run)")
    return results


def _version() -> str:
    from importlib.metadata import version

    return version("lm_eval")


def predictions_from_results(
    results: dict[str, Any], variant: str, task: TaskSpec, data: TaskData, tokenizer: Any
) -> pa.Table:
    """lm-eval's per-sample logs as a table in PREDICTIONS_SCHEMA, one row per doc in the data's order."""
    config = lm_eval_config(task)
    name, output_type = config["task"], config["output_type"]
    by_doc: dict[int, list[dict[str, Any]]] = {}
    for sample in results["samples"][name]:
        by_doc.setdefault(int(sample["doc_id"]), []).append(sample)
    n = len(data.texts)
    if sorted(by_doc) != list(range(n)):
        raise RuntimeError(f"lm-eval scored {len(by_doc)} docs of task '{name}', the data has {n}")
    version = _version()
    labels, preds, logits, metas = [], [], [], []
    for i in range(n):
        samples = by_doc[i]
        meta: dict[str, Any] = {"lm_eval_version": version}
        if output_type == MULTIPLE_CHOICE:
            (sample,) = samples
            row = [float(ll) for ll, _ in sample["filtered_resps"]]
            finite = all(math.isfinite(x) for x in row)
            labels.append(int(sample["target"]))
            preds.append(int(np.argmax(row)) if finite else -1)
            meta.update({m: float(sample[m]) for m in OUTPUT_METRICS[MULTIPLE_CHOICE] if m in sample})
        elif output_type == ROLLING:
            (sample,) = samples
            # lm-eval logs (loglikelihood, count) per metric it computes; the counts are what it divides by
            words = sample["word_perplexity"][1] if "word_perplexity" in sample else None
            nbytes = next((sample[k][1] for k in ("byte_perplexity", "bits_per_byte") if k in sample), None)
            row = [float(sample["filtered_resps"][0])]
            labels.append(-1)
            preds.append(-1)
            meta.update(words=words, bytes=nbytes)
        else:
            response = samples[0]["resps"][0][0]
            ids = tokenizer(response, add_special_tokens=False)["input_ids"][:FIRST_TOKENS]
            by_filter = {s["filter"]: float(s["exact_match"]) for s in samples}
            row = []
            labels.append(-1)
            preds.append(-1)
            meta.update(
                response=response,
                exact_match=by_filter[samples[0]["filter"]],
                filter=samples[0]["filter"],
                exact_match_by_filter=by_filter,
                first_32_tokens=[int(t) for t in ids],
            )
        logits.append(row)
        metas.append(meta)
    probs = [softmax(np.array([r]))[0].tolist() if r else [] for r in logits]
    return pa.Table.from_pydict(
        {
            "variant": [variant] * n,
            "task": [task.name] * n,
            "task_version": [task.version] * n,
            "idx": np.arange(n, dtype=np.int64),
            "label": np.asarray(labels, dtype=np.int64),
            "pred": np.asarray(preds, dtype=np.int64),
            "probs": probs,  # a rolling row's one log-likelihood gives [1.0]: Columns needs logits and probs alike
            "logits": logits,
            "finite": [all(math.isfinite(x) for x in r) for r in logits],
            "slice": data.slices if data.slices is not None else [None] * n,
            "ref": np.full(n, -1, dtype=np.int64),
            "meta": [json.dumps(m, sort_keys=True) for m in metas],
        },
        schema=PREDICTIONS_SCHEMA,
    )


# --- scoring --------------------------------------------------------------------------------------------------


def _how(cols: Columns, task: TaskSpec, spec: EvaluateSpec, seed: int, what: str) -> str:
    assert task.generator is not None
    version = cols.meta[0].get("lm_eval_version", "unknown") if len(cols) else "unknown"
    size = task.generator.params.get("size")
    return (
        f"{what}; lm-evaluation-harness {version}, task '{lm_eval_config(task)['task']}', seeded subset "
        f"(generator.params.size {size}, seed {task.generator.seed}) of {len(cols)} instances; "
        f"{round(spec.confidence * 100)} % percentile bootstrap CI, {spec.bootstrap_resamples} resamples, seed {seed}"
    )


def _row(
    variant: str,
    task: TaskSpec,
    metric: str,
    value: float,
    ci: tuple[float, float] | None,
    unit: str,
    higher: bool,
    n: int,
    how: str,
) -> Row:
    low, high = (None, None) if ci is None else ci
    return task_row(variant, task, metric, value, unit, higher, how, ci_low=low, ci_high=high, n=n)


def _pct(interval: tuple[float, float]) -> tuple[float, float]:
    return 100 * interval[0], 100 * interval[1]


def choice_hits(cols: Columns, metric: str) -> np.ndarray:
    """Per instance 1.0/0.0: acc from the predicted and gold choice (a non-finite prediction is wrong), acc_norm
    as lm-eval scored it (log-likelihood per byte of the choice)."""
    if metric == "acc":
        return (cols.pred == cols.label).astype(np.float64)
    return np.array([float(m[metric]) for m in cols.meta], dtype=np.float64)


def stratified_mean_ci(
    hits: np.ndarray, groups: np.ndarray, *, resamples: int, confidence: float, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-group means, resampling within each group."""
    rng = np.random.default_rng(seed)
    means = np.zeros(resamples)
    names = list(dict.fromkeys(groups.tolist()))
    for name in names:
        values = hits[groups == name]
        means += values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    means /= len(names)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def choice_rows(cols: Columns, variant: str, task: TaskSpec, spec: EvaluateSpec, seed: int) -> list[Row]:
    """acc and acc_norm in %; with slices (BLiMP paradigms) one `acc@<paradigm>` each and `acc` = their mean."""
    boot = {"resamples": spec.bootstrap_resamples, "confidence": spec.confidence, "seed": seed}
    n = len(cols)
    has_slices = n > 0 and all(s is not None for s in cols.slice)
    rows = []
    for metric in task.metrics:
        hits = choice_hits(cols, metric)
        if not has_slices:
            value = 100 * float(hits.mean()) if n else float("nan")
            ci = _pct(bootstrap_mean(hits, **boot))
            how = _how(cols, task, spec, seed, f"lm-eval {metric} (share of docs scored right)")
            rows.append(_row(variant, task, metric, value, ci, "%", True, n, how))
            continue
        names = list(dict.fromkeys(cols.slice.tolist()))
        per_slice = {s: hits[cols.slice == s] for s in names}
        value = 100 * float(np.mean([v.mean() for v in per_slice.values()]))
        ci = _pct(stratified_mean_ci(hits, cols.slice, **boot))
        how = _how(
            cols, task, spec, seed, f"mean over {len(names)} slices of lm-eval {metric} (CI resampled within slices)"
        )
        rows.append(_row(variant, task, metric, value, ci, "%", True, n, how))
        for name, values in per_slice.items():
            ci = _pct(bootstrap_mean(values, **boot))
            how = _how(cols, task, spec, seed, f"lm-eval {metric} on slice {name}")
            rows.append(
                _row(variant, task, sliced(metric, name), 100 * float(values.mean()), ci, "%", True, len(values), how)
            )
    return rows


def perplexity(loglikelihoods: np.ndarray, counts: np.ndarray, metric: str) -> float:
    """lm-eval's corpus-level figures: exp(−Σll / Σwords), exp(−Σll / Σbytes), −Σll / Σbytes / ln 2.

    >>> round(perplexity(np.array([-10.0, -20.0]), np.array([5, 10]), "word_perplexity"), 4)  # exp(30 / 15)
    7.3891
    >>> round(perplexity(np.array([-10.0, -20.0]), np.array([5, 10]), "bits_per_byte"), 4)  # 2 / ln 2
    2.8854
    """
    mean = float(np.sum(loglikelihoods)) / float(np.sum(counts))
    return -mean / math.log(2) if metric == "bits_per_byte" else math.exp(-mean)


PERPLEXITY_COUNT = {"word_perplexity": "words", "byte_perplexity": "bytes", "bits_per_byte": "bytes"}
PERPLEXITY_UNIT = {"word_perplexity": "", "byte_perplexity": "", "bits_per_byte": "bits/byte"}


def perplexity_rows(cols: Columns, variant: str, task: TaskSpec, spec: EvaluateSpec, seed: int) -> list[Row]:
    """Word and byte perplexity and bits per byte over the documents (lower is better), bootstrap over documents."""
    ll = cols.logits[:, 0] if cols.logits is not None and len(cols) else np.zeros(0)
    rows = []
    for metric in task.metrics:
        counts = np.array([m[PERPLEXITY_COUNT[metric]] for m in cols.meta], dtype=np.float64)
        value = perplexity(ll, counts, metric) if len(cols) else float("nan")
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(cols), size=(spec.bootstrap_resamples, len(cols)))
        stats = [perplexity(ll[i], counts[i], metric) for i in idx] if len(cols) else [float("nan")]
        alpha = (1 - spec.confidence) / 2
        low, high = np.quantile(stats, [alpha, 1 - alpha])
        how = _how(
            cols,
            task,
            spec,
            seed,
            f"lm-eval {metric} over the documents' summed log-likelihoods ({int(counts.sum())} "
            f"{PERPLEXITY_COUNT[metric]}), CI resampling documents; {WIKITEXT_NOTE}",
        )
        rows.append(
            _row(
                variant, task, metric, value, (float(low), float(high)), PERPLEXITY_UNIT[metric], False, len(cols), how
            )
        )
    return rows


def generation_rows(cols: Columns, variant: str, task: TaskSpec, spec: EvaluateSpec, seed: int) -> list[Row]:
    """exact_match in % under the first filter of lm-eval's filter_list (its strict match for GSM8K)."""
    hits = np.array([float(m["exact_match"]) for m in cols.meta], dtype=np.float64)
    n = len(hits)
    ci = _pct(bootstrap_mean(hits, resamples=spec.bootstrap_resamples, confidence=spec.confidence, seed=seed))
    filt = cols.meta[0].get("filter", "none") if n else "none"
    how = _how(cols, task, spec, seed, f"lm-eval exact_match of greedy responses, filter '{filt}'")
    value = 100 * float(hits.mean()) if n else float("nan")
    return [_row(variant, task, "exact_match", value, ci, "%", True, n, how)]
