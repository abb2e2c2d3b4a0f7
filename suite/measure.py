"""System measurements of one variant: latency, throughput, memory, FLOPs, energy, size, parameters, sparsity; for a
causal LM, per-token serving latency (TTFT, TPOT) in place of the classifier's per-query timers."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from suite.errors import exception_line
from suite.families import FAMILIES
from suite.families.llm import CausalLM
from suite.models import Classifier, weights_size_bytes
from suite.results import Row
from suite.specs import DecodeSpec, EnergySpec, LatencySpec, LoadGuardSpec, SuiteConfig, ThroughputSpec
from suite.trackers.decode import (
    DecodeResult,
    first_token,
    forward_convention,
    greedy_decode,
    ids_digest,
    measure_decode,
    measure_ttft,
    prompt_tensor,
    prompt_windows,
)
from suite.trackers.energy import measure_energy
from suite.trackers.host import HostLoad, LoadGuard, Priority, contended_consequence, current_priority
from suite.trackers.latency import UNSTABLE_IQR_OVER_MEDIAN, LatencyResult, measure_latency, timer_overhead_ns
from suite.trackers.memory import peak_rss_in_subprocess
from suite.trackers.paired import CANDIDATE, REFERENCE, PairedResult, measure_paired
from suite.trackers.profile import decode_profile_rows, profile_rows
from suite.trackers.throughput import length_bucketed, measure_throughput

MIB = float(1 << 20)
PROMPTS_PER_LENGTH = 8  # distinct prompt windows per prompt length, cycled over the timed runs
PERCENTILE_STATS = ("p50", "p90", "p99", "mean")  # of TTFT and TPOT, from suite.trackers.latency's summary

Step = tuple[tuple[tuple[str, str], ...], Callable[[], list[Row]]]  # (metrics recorded as failed if it raises, step)


def size_rows(variant: str, directory: Path, model: Classifier | CausalLM) -> list[Row]:
    """Weights on disk and in memory, parameter counts and sparsity (both interfaces have `weight_stats`)."""
    stats = model.weight_stats()
    return [
        Row(
            variant,
            "size_mb",
            weights_size_bytes(directory) / MIB,
            "MiB",
            False,
            measurement="bytes of the artefact's weight files on disk (safetensors, GGUF, ONNX graph and its external "
            "data; tokenizer and metadata excluded), MiB = 2^20 bytes",
        ),
        Row(
            variant,
            "param_mb",
            stats["param_mb"],
            "MiB",
            False,
            measurement="bytes of parameters + buffers in memory (quantised weights at their int8 size), 2^20 bytes",
        ),
        Row(
            variant,
            "param_count",
            stats["param_count"],
            "count",
            False,
            measurement="elements of all weight tensors (quantised included), index buffers excluded",
        ),
        Row(
            variant,
            "nonzero_param_count",
            stats["nonzero_param_count"],
            "count",
            False,
            measurement="non-zero elements of those tensors (quantised: int value != zero point)",
        ),
        Row(
            variant,
            "sparsity",
            stats["sparsity"],
            "%",
            None,
            measurement="share of zero weights over all Linear layers' weight matrices",
        ),
    ]


def latency_queries(model: Classifier, texts: list[str], spec: LatencySpec, max_length: int, seed: int) -> list[Any]:
    """A seeded sample of the task's real sentences, pre-tokenised, `batch_size` per query (realistic length mix)."""
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(texts), size=min(spec.sample_size, len(texts)), replace=False)
    return [
        model.encode([texts[j] for j in sample[i : i + spec.batch_size]], max_length)
        for i in range(0, len(sample), spec.batch_size)
    ]


@dataclass(frozen=True)
class Reference:
    """What a variant is timed against in its own process (the config's `latency.reference`, the teacher by
    default): the reference's id and its model, loaded independently of the variant's, so the reference's own job
    is an A/A comparison (`same_artefact`); `model` is None when it did not load, with the reason in `error`."""

    id: str
    model: Any = None
    error: str | None = None
    same_artefact: bool = False

    def compared_with(self) -> str:
        if self.same_artefact:
            return f"A/A: '{self.id}' against a second, independently loaded copy of itself"
        return f"paired with '{self.id}'"


def _unpaired_error(reference: Reference) -> str:
    return f"not timed against the reference '{reference.id}', which did not load: {reference.error}"


def _latency_summary_rows(variant: str, result: LatencyResult, spec: LatencySpec, how: str) -> list[Row]:
    """The absolute latency figures of one model's samples: percentiles with their upper bounds, spread, the
    instability flag and the timer's share."""
    overhead_ms = timer_overhead_ns() / 1e6
    how = f"{how} (timer overhead {overhead_ms * 1e3:.2f} us)"
    units = {"latency_cv_pct": "%"}
    summary = result.summary(spec.confidence)
    rows = [
        Row(
            variant,
            name,
            value,
            units.get(name, "ms"),
            False,
            n=result.runs,
            measurement=how
            if "upper" not in name
            else f"{how}; {round(spec.confidence * 100)} % upper confidence bound from order statistics (inf: too few "
            f"queries for the bound)",
        )
        for name, value in summary.items()
    ]
    p50 = summary["latency_p50_ms"]
    rows.append(
        Row(
            variant,
            "latency_unstable",
            float(result.unstable),
            "flag",
            False,
            n=result.runs,
            measurement=f"1 when IQR / median > {UNSTABLE_IQR_OVER_MEDIAN} "
            f"(here {summary['latency_iqr_ms'] / p50:.3f})",
        )
    )
    rows.append(
        Row(
            variant,
            "timer_overhead_pct",
            100 * overhead_ms / p50,
            "%",
            False,
            measurement="median cost of timing an empty call / latency p50",
        )
    )
    return rows


def latency_rows(
    variant: str,
    model: Classifier,
    queries: list[Any],
    spec: LatencySpec,
    threads: int,
    seed: int,
    reference: Reference,
    reference_queries: list[Any] | None = None,
) -> list[Row]:
    """Model-forward latency per query (tokenisation excluded), timed paired with the reference in one process
    (suite.trackers.paired): the variant's absolute figures from its paired samples; `speedup_p50` / `speedup_mean`
    as paired estimates (per round the reference's median (mean) over the variant's, the median over rounds, a
    seeded bootstrap 95 % CI over rounds); the reference's own p50/mean from the same rounds. Without a loaded
    reference the variant is timed alone and the speedups fail with the reason (none is made up)."""
    sample = (
        f"batch {spec.batch_size}, model forward only on {len(queries)} pre-tokenised queries sampled (seed {seed}) "
        f"from the task's sentences"
    )
    if reference.model is None:
        with model.inference():
            alone = measure_latency(
                model.forward,
                queries,
                warmup_runs=spec.warmup_runs,
                min_runs=spec.min_runs,
                min_seconds=spec.min_seconds,
                sync=model.synchronize(),
            )
        how = (
            f"{sample}; {spec.warmup_runs} warm-up queries, then until >= {spec.min_runs} queries and "
            f">= {spec.min_seconds} s; time.perf_counter_ns per query; torch threads {threads}; timed alone "
            f"({_unpaired_error(reference)}); {alone.runs} queries in {alone.wall_seconds:.2f} s"
        )
        failed = [("speedup_p50", "x"), ("speedup_mean", "x"), ("reference_latency_p50_ms", "ms"),
                  ("reference_latency_mean_ms", "ms")]  # fmt: skip
        unpaired = _failed(variant, tuple(failed), _unpaired_error(reference))
        return _latency_summary_rows(variant, alone, spec, how) + unpaired
    theirs_model = reference.model
    their_queries = reference_queries if reference_queries is not None else queries
    sync = model.synchronize() or theirs_model.synchronize()
    with model.inference(), theirs_model.inference():
        result = measure_paired(
            lambda i: theirs_model.forward(their_queries[i]),
            lambda i: model.forward(queries[i]),
            list(range(len(queries))),
            warmup_runs=spec.warmup_runs,
            block=spec.paired_block,
            switch_warmup=spec.paired_switch_warmup,
            min_rounds=spec.paired_min_rounds,
            min_runs=spec.min_runs,
            min_seconds=spec.min_seconds,
            seed=seed,
            sync=sync,
        )
    mine, theirs = result.samples(CANDIDATE), result.samples(REFERENCE)
    how = (
        f"{reference.compared_with()} in one process: {len(result.rounds)} rounds, each {spec.paired_switch_warmup} "
        f"untimed + {spec.paired_block} timed queries of each model on the same inputs, in a seeded random order "
        f"per round (seed {seed}); {sample}; {spec.warmup_runs} warm-up queries each, then until "
        f">= {spec.paired_min_rounds} rounds and, per model, >= {spec.min_runs} queries and >= {spec.min_seconds} s; "
        f"time.perf_counter_ns per query; torch threads {threads}; {mine.runs} + {theirs.runs} queries in "
        f"{result.wall_seconds:.2f} s"
    )
    rows = _latency_summary_rows(variant, mine, spec, how)
    for statistic, metric in (("median", "speedup_p50"), ("mean", "speedup_mean")):
        rows.append(_paired_speedup_row(variant, metric, result, statistic, "latency", reference.id, seed, how))
    reference_summary = theirs.summary(spec.confidence)
    for name in ("latency_p50_ms", "latency_mean_ms"):
        rows.append(
            Row(
                variant,
                f"reference_{name}",
                reference_summary[name],
                "ms",
                False,
                n=theirs.runs,
                measurement=f"'{reference.id}' in the same rounds; {how}",
            )
        )
    return rows


def throughput_rows(
    variant: str,
    model: Classifier,
    texts: list[str],
    spec: ThroughputSpec,
    max_length: int,
    seed: int,
    reference: Reference,
    min_rounds: int = 10,
) -> list[Row]:
    """Samples per second at each batch size over length-bucketed real sentences (tokenisation excluded), timed
    paired with the reference: rounds of one batch of each model, the same batch, in a seeded random order, until
    each model has >= `min_seconds` and there are >= `min_rounds` rounds. `throughput_speedup@bs<k>`: per round
    the reference's batch time over the variant's, the median over rounds with a seeded bootstrap 95 % CI."""
    rng = np.random.default_rng(seed)
    sample = [texts[i] for i in rng.choice(len(texts), size=min(spec.sample_size, len(texts)), replace=False)]
    rows = []
    for batch_size in spec.batch_sizes:
        groups = length_bucketed(sample, batch_size)
        batches = [model.encode(group, max_length) for group in groups]
        sizes = [len(g) for g in groups]
        what = f"batch {batch_size}, {len(sample)} sentences (seed {seed}) length-bucketed; tokenisation excluded"
        metric = f"throughput_bs{batch_size}_sps"
        if reference.model is None:
            with model.inference():
                rate, samples = measure_throughput(
                    model.forward,
                    batches,
                    sizes,
                    warmup_batches=min(3, len(batches)),
                    min_seconds=spec.min_seconds,
                    sync=model.synchronize(),
                )
            how = f"{what}; timed alone, whole passes for >= {spec.min_seconds} s ({_unpaired_error(reference)})"
            rows.append(Row(variant, metric, rate, "samples/s", True, n=samples, measurement=how))
            rows += _failed(variant, ((f"throughput_speedup@bs{batch_size}", "x"),), _unpaired_error(reference))
            continue
        theirs_model = reference.model
        their_batches = [theirs_model.encode(group, max_length) for group in groups]
        with model.inference(), theirs_model.inference():
            result = measure_paired(
                lambda i, m=theirs_model, b=their_batches: m.forward(b[i]),
                lambda i, b=batches: model.forward(b[i]),
                list(range(len(batches))),
                warmup_runs=min(3, len(batches)),
                block=1,
                min_rounds=min_rounds,
                min_runs=1,
                min_seconds=spec.min_seconds,
                seed=seed,
                sync=model.synchronize() or theirs_model.synchronize(),
            )
        counted = sum(sizes[i] for used in result.inputs_used for i in used)
        seconds = {which: sum(pair[which].sum() for pair in result.rounds) / 1e3 for which in (CANDIDATE, REFERENCE)}
        how = (
            f"{what}; {reference.compared_with()} in one process: {len(result.rounds)} rounds of one batch of each "
            f"model (the same batch, seeded random order), until >= {min_rounds} rounds and >= {spec.min_seconds} s "
            f"per model; {counted} samples in {seconds[CANDIDATE]:.2f} s"
        )
        rows.append(Row(variant, metric, counted / seconds[CANDIDATE], "samples/s", True, n=counted, measurement=how))
        rows.append(
            _paired_speedup_row(
                variant,
                f"throughput_speedup@bs{batch_size}",
                result,
                "mean",
                "batch time",
                reference.id,
                seed,
                f"the reference ran {counted / seconds[REFERENCE]:.1f} samples/s in the same rounds; {how}",
            )
        )
    return rows


def flops_rows(
    variant: str,
    model: Classifier,
    queries: list[Any],
    peak: dict[str, Any],
    latency_p50_ms: float | None,
    threads: int,
    device: str = "cpu",
) -> list[Row]:
    """FLOPs per sample over the latency queries' length mix, and achieved GFLOP/s against the peak probed on the
    same hardware fingerprint (a peak of another machine type is refused, naming both).

    A forward pass's FLOPs are a function of its input shapes (every format counts them from operator shapes), so each
    distinct shape is counted once and weighted by how many queries have it: the mean is that of counting every
    query, and a variant slower than its reference is not run once per query under the counter."""
    by_shape: dict[tuple[Any, ...], tuple[int, str]] = {}
    counted = []
    for query in queries:
        shape = input_shapes(query)
        if shape not in by_shape:
            by_shape[shape] = model.flops(query)
        counted.append(by_shape[shape])
    per_sample = float(np.mean([n / model.rows(q) for (n, _), q in zip(counted, queries, strict=True)]))
    how = (
        f"{counted[0][1]}, mean over {len(queries)} real queries (counted once per input shape: {len(by_shape)})"
        if counted
        else "no queries"
    )
    rows = [Row(variant, "gflops_per_sample", per_sample / 1e9, "GFLOP", False, n=len(queries), measurement=how)]
    if latency_p50_ms:
        how = "gflops_per_sample / latency p50 at batch 1"
        rows += _achieved_rows(variant, per_sample, latency_p50_ms, how, peak, threads, device)
    return rows


def input_shapes(query: Any) -> tuple[Any, ...]:
    """The shapes of a query's inputs (a mapping of arrays or tensors), as a hashable key; any other query is its own
    key.

    >>> input_shapes({"input_ids": np.zeros((1, 7)), "attention_mask": np.ones((1, 7))})
    (('attention_mask', (1, 7)), ('input_ids', (1, 7)))
    """
    if not isinstance(query, Mapping):
        return (id(query),)
    return tuple(sorted((str(name), tuple(np.shape(value))) for name, value in query.items()))


def decode_flops_rows(
    variant: str,
    model: CausalLM,
    context: float,
    peak: dict[str, Any],
    tpot_p50_ms: float | None,
    threads: int,
    device: str = "cpu",
) -> list[Row]:
    """A causal LM's FLOPs per decoded token at the timed decode's mean context (`context` keys), counted from its
    architecture's config, and achieved GFLOP/s at its median time per output token against the peak probed on the
    same hardware fingerprint."""
    from suite.trackers.flops import decode_flops_per_token

    config = model.architecture()
    if config is None:
        raise ValueError(f"{type(model).__name__} (format '{model.format}') has no architecture config to count from")
    per_token, how = decode_flops_per_token(config, context)
    rows = [Row(variant, "gflops_per_token", per_token / 1e9, "GFLOP", False, measurement=how)]
    if tpot_p50_ms:
        how = "gflops_per_token / TPOT p50 (batch-1 decode)"
        rows += _achieved_rows(variant, per_token, tpot_p50_ms, how, peak, threads, device)
    return rows


def _achieved_rows(
    variant: str, flops: float, p50_ms: float, how: str, peak: dict[str, Any], threads: int, device: str
) -> list[Row]:
    """`achieved_gflops` (`flops` per query or token over its median time) and `pct_of_peak_flops` against the peak
    probed on this job's hardware fingerprint (a peak of another machine type, or none, fails that row with why)."""
    from suite.provenance import hardware

    achieved = flops / 1e9 / (p50_ms / 1e3)
    rows = [Row(variant, "achieved_gflops", achieved, "GFLOP/s", True, measurement=how)]
    here = hardware(threads, device)
    probed_on = peak.get("hardware_fingerprint")
    if "peak_gflops" in peak and probed_on not in (None, here["hardware_fingerprint"]):
        error = (
            f"the peak was probed on hardware {probed_on} ({peak.get('hardware_description') or '?'}), this job "
            f"ran on {here['hardware_fingerprint']} ({here['hardware_description']}): no percentage across two "
            "machine types; run probe_peak on this type (snakemake --forcerun probe_peak, or a profile that "
            "sends probe_peak and measure to one node type)"
        )
        rows.append(Row(variant, "pct_of_peak_flops", math.nan, "%", True, status="failed", error=error))
    elif "peak_gflops" in peak:
        how = f"achieved_gflops / machine peak {peak['peak_gflops']:.1f} GFLOP/s ({peak['method']})"
        rows.append(Row(variant, "pct_of_peak_flops", 100 * achieved / peak["peak_gflops"], "%", True, measurement=how))
    else:  # the probe job failed (suite.pipeline.record_failure): this one figure fails with its reason
        error = f"the machine's peak was not probed: {peak.get('error') or 'no peak in the probe file'}"
        rows.append(Row(variant, "pct_of_peak_flops", math.nan, "%", True, status="failed", error=error))
    return rows


def memory_rows(
    variant: str, model_dir: Path, texts: list[str], batch_size: int, max_length: int, threads: int, device: str = "cpu"
) -> list[Row]:
    """Peak RSS of a fresh interpreter that loads the variant and predicts the task inputs."""
    probe = _probe(model_dir, texts, batch_size, max_length, threads, device)
    how = (
        f"VmHWM (peak RSS) of a fresh process that loads the artefact and predicts {len(texts)} task inputs at batch "
        f"{batch_size}; the process with torch, transformers and onnxruntime imported but no model used "
        f"{probe['baseline_rss_mb']:.0f} MiB"
    )
    return _memory_rows(variant, probe, how)


def decode_memory_rows(
    variant: str, model_dir: Path, prompt: Sequence[int], new_tokens: int, threads: int, device: str = "cpu"
) -> list[Row]:
    """Peak RSS of a fresh interpreter that loads the causal LM and generates `new_tokens` greedy tokens after
    `prompt` (weights, KV cache and the prefill's activations)."""
    workload = {"prompt_ids": list(prompt), "new_tokens": new_tokens}
    probe = _probe(model_dir, workload, 1, len(prompt) + new_tokens, threads, device)
    how = (
        f"VmHWM (peak RSS) of a fresh process that loads the artefact and generates {new_tokens} greedy tokens "
        f"(KV cache, EOS ignored) after a {len(prompt)}-token prompt at batch 1, torch threads {threads}; the process "
        f"with torch, transformers and onnxruntime imported but no model used {probe['baseline_rss_mb']:.0f} MiB"
    )
    return _memory_rows(variant, probe, how)


def _probe(
    model_dir: Path, workload: Any, batch_size: int, max_length: int, threads: int, device: str
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        inputs_file = Path(tmp) / "inputs.json"
        inputs_file.write_text(json.dumps(workload))
        return peak_rss_in_subprocess(model_dir, inputs_file, batch_size, max_length, threads, device)


def _memory_rows(variant: str, probe: dict[str, Any], how: str) -> list[Row]:
    rows = [
        Row(variant, "peak_rss_mb", probe["peak_rss_mb"], "MiB", False, measurement=how),
        Row(
            variant,
            "model_rss_mb",
            probe["peak_rss_mb"] - probe["baseline_rss_mb"],
            "MiB",
            False,
            measurement="peak_rss_mb minus the same process's RSS before the model was loaded",
        ),
    ]
    if "cuda_max_memory_allocated_mb" in probe:
        rows.append(
            Row(
                variant,
                "cuda_max_memory_allocated_mb",
                probe["cuda_max_memory_allocated_mb"],
                "MiB",
                False,
                measurement="torch.cuda.max_memory_allocated in the same fresh process",
            )
        )
    return rows


def energy_rows(variant: str, model: Classifier, queries: list[Any], spec: EnergySpec) -> list[Row]:
    with model.inference():
        result = measure_energy(
            model.forward,
            queries,
            seconds=spec.seconds,
            country_iso_code=spec.country_iso_code,
            measure_power_secs=spec.measure_power_secs,
        )
    how = f"{result.method}; {result.queries} batch-1 queries over {result.seconds:.1f} s"
    return [
        Row(
            variant,
            "energy_per_1k_queries_j",
            result.energy_per_1k_queries_j,
            "J",
            False,
            n=result.queries,
            measurement=how,
            estimate=result.estimate,
        ),
        Row(
            variant,
            "co2e_per_1m_inferences_g",
            result.co2e_per_1m_inferences_g,
            "g",
            False,
            n=result.queries,
            measurement=f"{how}; the country's grid carbon intensity",
            estimate=result.estimate,
        ),
    ]


# --- causal LMs: per-token serving latency ----------------------------------------------------------------------


def prompt_corpus(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """The reference task's texts as one token stream: each text and a newline, no special tokens, in data order."""
    encoded = tokenizer([t + "\n" for t in texts], add_special_tokens=False)["input_ids"]
    return [int(t) for ids in encoded for t in ids]


def per_token_metrics(spec: DecodeSpec) -> tuple[tuple[str, str], ...]:
    """(name, unit) of every per_token row, in the order they are written."""
    rows: list[tuple[str, str]] = []
    for length in spec.prompt_lengths:
        rows += [(f"ttft_{stat}_ms_{length}", "ms") for stat in PERCENTILE_STATS]
        rows.append((f"prefill_tokens_per_s_{length}", "tokens/s"))
    rows += [(f"tpot_{stat}_ms", "ms") for stat in PERCENTILE_STATS]
    rows.append(("decode_tokens_per_s", "tokens/s"))
    return tuple(rows)


def _percentile_rows(
    variant: str, names: dict[str, str], result: LatencyResult, confidence: float, how: str, n: int
) -> list[Row]:
    """p50/p90/p99/mean rows under `names` (stat -> metric); p90 and p99 carry their order-statistic upper bounds
    in the measurement text."""
    summary = result.summary(confidence)
    rows = []
    for stat, metric in names.items():
        text = f"{how}; {stat} of {n} samples"
        if stat in ("p50", "p90", "p99"):
            text += " (linear interpolation)"
        if stat in ("p90", "p99"):
            text += (
                f"; {round(confidence * 100)} % upper confidence bound from order statistics "
                f"{summary[f'latency_{stat}_upper_ms']:.4g} ms (inf: too few samples for the bound)"
            )
        rows.append(Row(variant, metric, summary[f"latency_{stat}_ms"], "ms", False, n=n, measurement=text))
    return rows


def _spread(result: LatencyResult, overhead_ms: float) -> str:
    summary = result.summary()
    p50 = summary["latency_p50_ms"]
    iqr_ratio = summary["latency_iqr_ms"] / p50 if p50 else float("nan")
    return (
        f"IQR / median {iqr_ratio:.3f}{' (UNSTABLE' if result.unstable else ' (stable'}: flagged above "
        f"{UNSTABLE_IQR_OVER_MEDIAN}); timer overhead {overhead_ms * 1e3:.2f} us = "
        f"{100 * overhead_ms / p50 if p50 else float('nan'):.3f} % of p50"
    )


def per_token_rows(
    variant: str,
    model: CausalLM,
    prompts: dict[int, list[list[int]]],
    spec: DecodeSpec,
    threads: int,
    seed: int,
    reference: Reference | None = None,
    reference_prompts: dict[int, list[list[int]]] | None = None,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> list[Row]:
    """TTFT and prefill tokens/s at each prompt length; TPOT and decode tokens/s over a greedy decode of
    `spec.new_tokens` tokens after a prompt of the first length.

    With a loaded `reference` (the job's `latency.reference`; a second copy of itself in the reference's own job:
    A/A) both models are timed in one process in interleaved rounds (suite.trackers.paired) on the same text (in
    each model's own tokens: `reference_prompts`), and the paired `ttft_speedup_<length>` and `decode_speedup` rows
    carry a bootstrap CI over rounds, beside the reference's own figures from the same rounds. A reference that did
    not load leaves the variant timed alone and those rows failed with the reason; without a reference (None) the
    variant is timed alone and no speedup is written."""
    module = model.callable
    convention = forward_convention(module)
    sync = model.synchronize()
    overhead_ms = timer_overhead_ns() / 1e6
    paired = reference is not None and reference.model is not None
    timing = "time.perf_counter_ns" + (", torch.cuda.synchronize before each stop" if sync else "")
    if paired:
        minimums = (
            f"{reference.compared_with()} in one process: rounds of {spec.paired_switch_warmup} untimed + "
            f"{spec.paired_block} timed runs of each model on the same prompts, in a seeded random order per round "
            f"(seed {seed}); {spec.warmup_runs} warm-up runs each, then until >= {spec.paired_min_rounds} rounds and, "
            f"per model, >= {spec.min_runs} runs and >= {spec.min_seconds} s; {timing}; torch threads {threads}; "
            f"device {model.device}"
        )
    else:
        minimums = (
            f"{spec.warmup_runs} warm-up runs, then until >= {spec.min_runs} runs and >= {spec.min_seconds} s; "
            f"{timing}; torch threads {threads}; device {model.device}"
            + (f"; timed alone ({_unpaired_error(reference)})" if reference is not None else "")
        )
    theirs = _TheirDecoder(reference, reference_prompts or prompts, spec, clock) if paired else None
    timing_args = {"warmup_runs": spec.warmup_runs, "min_runs": spec.min_runs, "min_seconds": spec.min_seconds}
    paired_args = {**timing_args, "block": spec.paired_block, "switch_warmup": spec.paired_switch_warmup,
                   "min_rounds": spec.paired_min_rounds, "seed": seed, "clock": clock}  # fmt: skip
    rows: list[Row] = []
    with model.inference(), theirs.model.inference() if theirs else contextlib.nullcontext():
        for length, windows in prompts.items():
            if theirs:
                inputs = [prompt_tensor(w, model.device) for w in windows]
                result = measure_paired(
                    theirs.ttft(length),
                    lambda i, inputs=inputs: first_token(module, inputs[i], convention),
                    list(range(len(windows))),
                    sync=sync or theirs.sync,
                    **paired_args,
                )
                ttft, their_ttft = result.samples(CANDIDATE), result.samples(REFERENCE)
                runs_text = f"{ttft.runs} + {their_ttft.runs} runs in {result.wall_seconds:.2f} s"
            else:
                ttft = measure_ttft(module, windows, device=model.device, convention=convention, sync=sync,
                                    clock=clock, **timing_args)  # fmt: skip
                runs_text = f"{ttft.runs} runs in {ttft.wall_seconds:.2f} s"
            how = (
                f"time to first token: prompt of exactly {length} tokens ({len(windows)} windows of the reference "
                f"task's text, seed {seed}, ids sha256 {ids_digest(windows)}), one prefill forward with KV cache, "
                f"{convention.describe()}, greedy argmax, token id copied to the host; {minimums}; {runs_text}; "
                f"{_spread(ttft, overhead_ms)}"
            )
            names = {s: f"ttft_{s}_ms_{length}" for s in PERCENTILE_STATS}
            rows += _percentile_rows(variant, names, ttft, spec.confidence, how, ttft.runs)
            rows.append(
                Row(
                    variant,
                    f"prefill_tokens_per_s_{length}",
                    float(np.mean(length / (ttft.samples_ms / 1e3))),
                    "tokens/s",
                    True,
                    n=ttft.runs,
                    measurement=f"{how}; {length} / TTFT per run, mean over runs",
                )
            )
            if theirs:
                rows.append(_paired_speedup_row(variant, f"ttft_speedup_{length}", result, "median",
                                                f"TTFT at {length} tokens", reference.id, seed, how))  # fmt: skip
                rows.append(Row(variant, f"reference_ttft_p50_ms_{length}", float(np.median(their_ttft.samples_ms)),
                                "ms", False, n=their_ttft.runs,
                                measurement=f"'{reference.id}' in the same rounds; {how}"))  # fmt: skip
            elif reference is not None:
                rows += _failed(variant, ((f"ttft_speedup_{length}", "x"), (f"reference_ttft_p50_ms_{length}", "ms")),
                                _unpaired_error(reference))  # fmt: skip
        length = spec.prompt_lengths[0]
        windows = prompts[length]
        if theirs:
            mine = _decoder(module, windows, model.device, spec.new_tokens, convention, sync, clock)
            result = measure_paired(theirs.decode(length), mine, list(range(len(windows))), self_timed=True,
                                    **paired_args)  # fmt: skip
            decode = _decode_result(result.details[CANDIDATE], result.wall_seconds)
            their_decode = _decode_result(result.details[REFERENCE], result.wall_seconds)
            runs_text = f"{decode.runs} + {their_decode.runs} runs in {result.wall_seconds:.2f} s"
        else:
            decode = measure_decode(module, windows, spec.new_tokens, device=model.device, convention=convention,
                                    sync=sync, clock=clock, **timing_args)  # fmt: skip
            runs_text = f"{decode.runs} runs in {decode.wall_seconds:.2f} s"
    steps = spec.new_tokens - 1
    tpot = decode.tpot
    how = (
        f"time per output token: greedy decode of exactly {spec.new_tokens} tokens (EOS ignored) with KV cache after "
        f"a {length}-token prompt (ids sha256 {ids_digest(windows)}), the {steps} steps after the first token each "
        f"timed (one cached forward, argmax, token id to the host); {minimums}; {runs_text}; samples pooled over "
        f"runs and steps (steps of one run are not independent: the bounds are indicative); "
        f"{_spread(tpot, overhead_ms)}"
    )
    names = {s: f"tpot_{s}_ms" for s in PERCENTILE_STATS}
    rows += _percentile_rows(variant, names, tpot, spec.confidence, how, tpot.runs)
    rows.append(
        Row(
            variant,
            "decode_tokens_per_s",
            decode.decode_tokens_per_s,
            "tokens/s",
            True,
            n=decode.runs,
            measurement=f"{how}; {steps} tokens after the first / the time of their steps, per run, mean over runs",
        )
    )
    if theirs:
        rows.append(_paired_speedup_row(variant, "decode_speedup", result, "median",
                                        "time per output token (mean over a decode's steps)", reference.id, seed,
                                        how))  # fmt: skip
        rows.append(Row(variant, "reference_tpot_p50_ms", float(np.median(their_decode.step_ms)), "ms", False,
                        n=their_decode.step_ms.size,
                        measurement=f"'{reference.id}' in the same rounds; {how}"))  # fmt: skip
    elif reference is not None:
        rows += _failed(variant, (("decode_speedup", "x"), ("reference_tpot_p50_ms", "ms")),
                        _unpaired_error(reference))  # fmt: skip
    return rows


def _paired_speedup_row(
    variant: str,
    metric: str,
    result: PairedResult,
    statistic: str,
    what: str,
    reference_id: str,
    seed: int,
    how: str,
) -> Row:
    """A paired speedup: per round the reference's `statistic` (median, mean) of `what` over this variant's, the
    median over rounds, with a seeded bootstrap 95 % CI over rounds."""
    estimate, low, high = result.speedup(statistic, seed=seed)
    return Row(
        variant,
        metric,
        estimate,
        "x",
        True,
        ci_low=low,
        ci_high=high,
        n=len(result.rounds),
        measurement=f"paired: per round the {statistic} {what} of '{reference_id}' / this variant's, median over "
        f"{len(result.rounds)} rounds, 95 % CI from a seeded bootstrap over rounds; {how}",
    )


def _decoder(
    module: Any,
    prompts: list[list[int]],
    device: str,
    new_tokens: int,
    convention: Any,
    sync: Any,
    clock: Callable[[], int],
) -> Callable[[int], tuple[float, tuple[list[int], tuple[int, ...]]]]:
    """A self-timed greedy decode for measure_paired: (the summed ns of its steps after the first token, (the steps'
    ns, the generated ids)); the prefill runs but is not part of the sample (TTFT is measured on its own). Every
    decode has the same number of steps, so a ratio of two sums is the ratio of the mean times per output token, and
    the sums count toward the minimum seconds."""

    def run(i: int) -> tuple[float, tuple[list[int], tuple[int, ...]]]:
        steps: list[int] = []
        tokens = greedy_decode(module, prompts[i], new_tokens, device=device, convention=convention, step_ns=steps,
                               sync=sync, clock=clock)  # fmt: skip
        return float(np.sum(steps)), (steps, tuple(tokens))

    return run


def _decode_result(details: Sequence[tuple[list[int], tuple[int, ...]]], wall_seconds: float) -> DecodeResult:
    return DecodeResult(
        step_ms=np.asarray([steps for steps, _ in details], dtype=np.float64) / 1e6,
        wall_seconds=wall_seconds,
        tokens=tuple(tokens for _, tokens in details),
    )


class _TheirDecoder:
    """The reference's side of paired per-token timing: its prefill and its self-timed decode on its own prompts."""

    def __init__(self, reference: Reference, prompts: dict[int, list[list[int]]], spec: DecodeSpec, clock: Any):
        self.model = reference.model
        self.module = self.model.callable
        self.convention = forward_convention(self.module)
        self.sync = self.model.synchronize()
        self.prompts, self.spec, self.clock = prompts, spec, clock

    def ttft(self, length: int) -> Callable[[int], Any]:
        inputs = [prompt_tensor(w, self.model.device) for w in self.prompts[length]]
        return lambda i: first_token(self.module, inputs[i], self.convention)

    def decode(self, length: int) -> Callable[[int], Any]:
        return _decoder(self.module, self.prompts[length], self.model.device, self.spec.new_tokens, self.convention,
                        self.sync, self.clock)  # fmt: skip


def decode_energy_rows(
    variant: str, model: CausalLM, prompts: list[list[int]], new_tokens: int, spec: EnergySpec
) -> list[Row]:
    """Energy and CO2e per generated token over repeated greedy decodes (prefill of each prompt included)."""
    module = model.callable
    convention = forward_convention(module)
    with model.inference():
        result = measure_energy(
            lambda prompt: greedy_decode(module, prompt, new_tokens, device=model.device, convention=convention),
            prompts,
            seconds=spec.seconds,
            country_iso_code=spec.country_iso_code,
            measure_power_secs=spec.measure_power_secs,
        )
    tokens = result.queries * new_tokens
    how = (
        f"{result.method}; {result.queries} greedy decodes of {new_tokens} tokens (EOS ignored) after a "
        f"{len(prompts[0])}-token prompt over {result.seconds:.1f} s = {tokens} generated tokens; the prompts' "
        f"prefill is included and divided over the generated tokens"
        + ("; an ESTIMATE, not a measurement" if result.estimate else "")
    )
    return [
        Row(
            variant,
            "energy_per_1k_tokens_j",
            1000.0 * result.energy_j / tokens,
            "J",
            False,
            n=tokens,
            measurement=how,
            estimate=result.estimate,
        ),
        Row(
            variant,
            "co2e_per_1m_tokens_g",
            1e6 * result.emissions_g / tokens,
            "g",
            False,
            n=tokens,
            measurement=f"{how}; the country's grid carbon intensity",
            estimate=result.estimate,
        ),
    ]


# --- the steps ----------------------------------------------------------------------------------------------------


def _failed(variant: str, metrics: tuple[tuple[str, str], ...], exc: BaseException | str) -> list[Row]:
    reason = exc if isinstance(exc, str) else exception_line(exc)
    return [Row(variant, m, math.nan, unit, False, status="failed", error=reason) for m, unit in metrics]


def failed_rows(variant: str, wanted: list[str], decode: DecodeSpec, reason: str) -> list[Row]:
    """The headline measurements of a variant that could not be measured at all, failed with `reason`."""
    return _failed(variant, _load_failure_metrics(wanted, decode), reason)


def _load_failure_metrics(wanted: list[str], decode: DecodeSpec) -> tuple[tuple[str, str], ...]:
    """The headline metrics recorded as failed when the artefact does not load (before its interface is known)."""
    headline = {
        "latency": ("latency_p50_ms", "ms"),
        "per_token": (f"ttft_p50_ms_{decode.prompt_lengths[0]}", "ms"),
        "size": ("size_mb", "MiB"),
        "memory": ("peak_rss_mb", "MiB"),
    }
    return tuple(metric for name, metric in headline.items() if name in wanted)


def _classifier_steps(
    cfg: SuiteConfig,
    variant: str,
    model_dir: Path,
    model: Classifier,
    texts: list[str],
    peak: dict[str, Any],
    rows: list[Row],
    reference: Reference,
) -> dict[str, Step]:
    max_length = cfg.evaluate.max_length
    queries = latency_queries(model, texts, cfg.latency, max_length, cfg.seed)
    # the same sentences in the reference's own encoding (its tokenizer may differ)
    their_queries = (
        latency_queries(reference.model, texts, cfg.latency, max_length, cfg.seed) if reference.model else None
    )
    return {
        "size": ((("size_mb", "MiB"),), lambda: size_rows(variant, model_dir, model)),
        "latency": (
            (("latency_p50_ms", "ms"), ("speedup_p50", "x"), ("speedup_mean", "x")),
            lambda: latency_rows(variant, model, queries, cfg.latency, cfg.threads, cfg.seed, reference, their_queries),
        ),
        "throughput": (
            (("throughput_bs1_sps", "samples/s"), ("throughput_speedup@bs1", "x")),
            lambda: throughput_rows(variant, model, texts, cfg.throughput, max_length, cfg.seed, reference),
        ),
        "flops": (
            (("gflops_per_sample", "GFLOP"),),
            lambda: flops_rows(
                variant, model, queries, peak, _ok_value(rows, "latency_p50_ms"), cfg.threads, cfg.device
            ),
        ),
        "profile": (
            (("profiled_ms_per_query", "ms"),),
            lambda: profile_rows(variant, model, queries),
        ),
        "memory": (
            (("peak_rss_mb", "MiB"),),
            lambda: memory_rows(
                variant, model_dir, texts, cfg.evaluate.batch_size, max_length, cfg.threads, cfg.device
            ),
        ),
        "energy": (
            (("energy_per_1k_queries_j", "J"), ("co2e_per_1m_inferences_g", "g")),
            lambda: energy_rows(variant, model, queries, cfg.energy),
        ),
    }


def _causal_lm_steps(
    cfg: SuiteConfig,
    variant: str,
    model_dir: Path,
    model: CausalLM,
    texts: list[str],
    peak: dict[str, Any],
    rows: list[Row],
    reference: Reference,
) -> dict[str, Step]:
    spec = cfg.decode
    # Tokenised once, on first use, inside the steps that need it: a prompt length the task's text cannot fill fails
    # per_token only, and memory and energy (first length) still run. The windows: the same ids for every variant
    # of one tokenizer; the reference's are cut from the same text in its own tokens.
    corpus = functools.cache(lambda: prompt_corpus(model.tokenizer, texts))
    windows = functools.cache(lambda length: prompt_windows(corpus(), length, PROMPTS_PER_LENGTH, cfg.seed))
    their_corpus = functools.cache(lambda: prompt_corpus(reference.model.tokenizer, texts))
    their_windows = functools.cache(lambda length: prompt_windows(their_corpus(), length, PROMPTS_PER_LENGTH, cfg.seed))
    first = spec.prompt_lengths[0]
    return {
        "size": ((("size_mb", "MiB"),), lambda: size_rows(variant, model_dir, model)),
        "per_token": (
            per_token_metrics(spec),
            lambda: per_token_rows(
                variant,
                model,
                {n: windows(n) for n in spec.prompt_lengths},
                spec,
                cfg.threads,
                cfg.seed,
                reference,
                {n: their_windows(n) for n in spec.prompt_lengths} if reference.model is not None else None,
            ),
        ),
        "flops": (
            (("gflops_per_token", "GFLOP"),),
            # the timed decodes' steps attend over the prompt and the tokens before them: first + 1 ... first +
            # new_tokens - 1 keys, new_tokens / 2 more than the prompt on average
            lambda: decode_flops_rows(
                variant,
                model,
                first + spec.new_tokens / 2,
                peak,
                _ok_value(rows, "tpot_p50_ms"),
                cfg.threads,
                cfg.device,
            ),
        ),
        "profile": (
            (("profiled_ms_per_token", "ms"),),
            lambda: decode_profile_rows(variant, model, windows(first)[0], spec.new_tokens),
        ),
        "memory": (
            (("peak_rss_mb", "MiB"),),
            lambda: decode_memory_rows(variant, model_dir, windows(first)[0], spec.new_tokens, cfg.threads, cfg.device),
        ),
        "energy": (
            (("energy_per_1k_tokens_j", "J"), ("co2e_per_1m_tokens_g", "g")),
            lambda: decode_energy_rows(variant, model, windows(first), spec.new_tokens, cfg.energy),
        ),
    }


def wanted_measurements(cfg: SuiteConfig) -> list[str]:
    """The family's measurements this config asks for (energy only when enabled)."""
    return [name for name in FAMILIES.get(cfg.family).MEASUREMENTS if name != "energy" or cfg.energy.enabled]


TIMED_STEPS = ("latency", "throughput", "per_token")  # the steps the load guard brackets


def load_reference(
    cfg: SuiteConfig, variant: str, model_dir: Path, reference_dir: Path | None, interface: type = Classifier
) -> Reference:
    """The reference a variant is timed against, loaded on its own (a second copy when the variant is the
    reference: A/A). A reference that did not build, does not load or is not a model of the variant's interface
    (a Classifier, a CausalLM) is recorded with the reason."""
    from suite.artefacts import build_failure, load_artefact, read_record

    reference_id = cfg.latency.reference
    if reference_dir is None:
        return Reference(reference_id, error="no reference artefact was given to this job")
    same = variant == reference_id or Path(reference_dir).resolve() == Path(model_dir).resolve()
    try:
        failure = build_failure(read_record(reference_dir))
        if failure is not None:
            return Reference(reference_id, error=f"its build failed: {failure}", same_artefact=same)
        model, _ = load_artefact(reference_dir, cfg.device)
    except Exception as exc:  # the variant is still measured alone; the speedups fail with this reason
        return Reference(reference_id, error=exception_line(exc), same_artefact=same)
    if not isinstance(model, interface):
        why = (
            f"{reference_dir} loads as a {type(model).__name__}, not a {interface.__name__} like the variant: name a "
            "reference of this family in latency.reference"
        )
        return Reference(reference_id, error=why, same_artefact=same)
    return Reference(reference_id, model, same_artefact=same)


def measure_variant(
    cfg: SuiteConfig,
    variant: str,
    model_dir: Path,
    texts: list[str],
    peak: dict[str, Any],
    reference_dir: Path | None = None,
    priority: Priority | None = None,
) -> list[Row]:
    """The family's system measurements, run by the loaded model's interface (a Classifier's per-query timers paired
    with the reference, a CausalLM's per-token ones); the timed steps run under the load guard; each tracker that
    fails leaves 'failed' rows with its reason, the others go on. `priority`: what the job's
    `suite.trackers.host.timing_priority` got (None: this caller set none; the rows give the current one)."""
    from suite.artefacts import load_artefact

    wanted = wanted_measurements(cfg)
    job_started = time.perf_counter()
    _log(variant, f"loading {model_dir} on {cfg.device}; measurements: {', '.join(wanted)}")
    try:
        model, _ = load_artefact(model_dir, cfg.device)
    except Exception as exc:  # a variant that cannot load is a result, not a crashed run
        _log(variant, f"could not load the artefact: {exception_line(exc)}")
        return _failed(variant, _load_failure_metrics(wanted, cfg.decode), exc)
    _log(
        variant, f"loaded in {time.perf_counter() - job_started:.1f} s: {type(model).__name__}, {len(texts)} task texts"
    )
    rows: list[Row] = []
    if not isinstance(model, (CausalLM, Classifier)):
        raise TypeError(f"{model_dir}: a {type(model).__name__} is neither a Classifier nor a CausalLM")
    interface = CausalLM if isinstance(model, CausalLM) else Classifier
    reference = load_reference(cfg, variant, model_dir, reference_dir, interface)
    _log(variant, f"reference: {reference.compared_with()}" + (f"; NOT LOADED: {reference.error}"
                                                                if reference.model is None else ""))  # fmt: skip
    # name (suite.families.base.ALL_MEASUREMENTS) -> (the metrics recorded as failed if it raises, the step)
    if isinstance(model, CausalLM):
        steps = _causal_lm_steps(cfg, variant, model_dir, model, texts, peak, rows, reference)
    else:
        steps = _classifier_steps(cfg, variant, model_dir, model, texts, peak, rows, reference)
    unknown = [name for name in wanted if name not in steps]
    if unknown:
        raise ValueError(
            f"family '{cfg.family}' lists measurements {unknown} that a {type(model).__name__} has no step for "
            f"(it has {sorted(steps)}): fix MEASUREMENTS in suite/families/{cfg.family}.py or add the step here"
        )
    workloads = _workloads(cfg, len(texts), isinstance(model, CausalLM))
    timed = [name for name in wanted if name in TIMED_STEPS]
    guard = LoadGuard()
    for number, name in enumerate(wanted, 1):
        failed_metrics, step = steps[name]
        if timed and name == timed[0]:
            guard.start()
        # progress lines go between the steps: every timed region lies inside a step
        _log(variant, f"[{number}/{len(wanted)}] {name}: {workloads[name]}")
        started = time.perf_counter()
        try:
            new = step()
        except Exception as exc:  # recorded with its reason; the remaining trackers still run
            new = _failed(variant, failed_metrics, exc)
        rows += new
        _log(variant, f"[{number}/{len(wanted)}] {name} in {time.perf_counter() - started:.1f} s: {_headline(new)}")
        if timed and name == timed[-1]:
            load = guard.stop()
            guarded = load_guard_rows(variant, load, cfg.load_guard, timed, priority or current_priority())
            rows += guarded
            _log(variant, f"load guard: {_headline(guarded)}; {load.describe()}")
    _log(variant, f"{len(rows)} rows in {time.perf_counter() - job_started:.1f} s")
    return rows


def load_guard_rows(
    variant: str, load: HostLoad, limits: LoadGuardSpec, steps: list[str], priority: Priority
) -> list[Row]:
    """`contended` (1 when the host went over any limit while the timed steps ran), `oversubscribed` (1 when over a
    limit on sharing its CPUs: other processes' CPU, steal, runnable tasks), the figures behind them, and the
    scheduling priority the job timed at (`timing_nice`)."""
    over, shared = load.exceeded(limits), load.oversubscribed(limits)
    verdict = "quiet: within every load_guard limit"
    if over:
        consequence = contended_consequence(bool(shared))
        verdict = f"contended: {'; '.join(over)} (limits in the config's load_guard); {consequence}"
    how = f"load guard over the timed steps ({', '.join(steps)}): {load.describe()}; {priority.describe()}"
    figures = (
        ("host_other_cpu_pct", load.other_cpu_pct, "%"),
        ("host_steal_pct", load.steal_pct, "%"),
        ("calibration_drift_pct", load.calibration_drift_pct, "%"),
    )
    rows = [
        Row(variant, "contended", float(bool(over)), "flag", False, measurement=f"{verdict}; {how}"),
        Row(variant, "oversubscribed", float(bool(shared)), "flag", False, measurement=how),
    ]
    # without /proc a figure is not measured; the contended row's text says so ("not measurable here")
    rows += [Row(variant, metric, value, unit, False, measurement=how) for metric, value, unit in figures
             if value is not None]  # fmt: skip
    if priority.nice is not None:
        rows.append(Row(variant, "timing_nice", float(priority.nice), "nice", False, measurement=how))
    return rows


def _log(variant: str, text: str) -> None:
    """One progress line of the measure job in its log (as the evaluate job shows its progress)."""
    print(f"measure {variant}: {text}", flush=True)


def _workloads(cfg: SuiteConfig, n_texts: int, causal_lm: bool) -> dict[str, str]:
    """What each measurement step runs, from the config, for the progress lines: which inputs, how many queries."""
    lat, thr, energy, dec = cfg.latency, cfg.throughput, cfg.energy, cfg.decode
    queries = math.ceil(min(lat.sample_size, n_texts) / lat.batch_size)
    if causal_lm:
        return {
            "size": "weights on disk and in memory",
            "per_token": f"TTFT at prompt lengths {list(dec.prompt_lengths)} and TPOT over {dec.new_tokens} new "
            f"tokens, paired with '{lat.reference}' in rounds of {dec.paired_switch_warmup} untimed + "
            f"{dec.paired_block} timed runs each; {dec.warmup_runs} warm-up runs, then >= {dec.paired_min_rounds} "
            f"rounds, >= {dec.min_runs} runs and >= {dec.min_seconds} s per model each",
            "flops": f"FLOPs per decoded token from the architecture's config, {dec.new_tokens} tokens after a "
            f"{dec.prompt_lengths[0]}-token prompt",
            "profile": f"one profiled greedy decode of {dec.new_tokens} tokens after a {dec.prompt_lengths[0]}-token "
            "prompt (operator self time of its decode steps)",
            "memory": f"peak RSS of a fresh process generating {dec.new_tokens} tokens",
            "energy": f"greedy decodes of {dec.new_tokens} tokens for {energy.seconds} s",
        }
    return {
        "size": "weights on disk and in memory",
        "latency": f"{queries} queries of batch {lat.batch_size} from {n_texts} task texts, paired with "
        f"'{lat.reference}' in rounds of {lat.paired_switch_warmup} untimed + {lat.paired_block} timed queries each; "
        f"{lat.warmup_runs} warm-up, then >= {lat.paired_min_rounds} rounds, >= {lat.min_runs} queries and "
        f">= {lat.min_seconds} s per model",
        "throughput": f"batch sizes {list(thr.batch_sizes)} over {min(thr.sample_size, n_texts)} sentences, paired "
        f"with '{lat.reference}' batch by batch, >= {thr.min_seconds} s per model each",
        "flops": f"FLOPs of the {queries} latency queries",
        "profile": f"one profiled pass of up to 50 of the {queries} latency queries (operator self time)",
        "memory": f"peak RSS of a fresh process predicting {n_texts} task texts",
        "energy": f"batch-1 queries for {energy.seconds} s",
    }


def _headline(rows: list[Row]) -> str:
    """The first row of a step for its progress line: value, unit and how many queries or samples it counts."""
    if not rows:
        return "no rows"
    first = rows[0]
    if first.status != "ok":
        return f"{first.metric} {first.status}: {first.error}"
    counted = f" (n={first.n})" if first.n is not None else ""
    return f"{first.metric} {first.value:.4g} {first.unit}{counted}; {len(rows)} rows"


def _ok_value(rows: list[Row], metric: str) -> float | None:
    return next((r.value for r in rows if r.metric == metric and r.status == "ok"), None)
