"""System measurements of one variant: latency, throughput, memory, FLOPs, energy, size, parameters, sparsity."""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from suite.families import FAMILIES
from suite.models import Classifier, weights_size_bytes
from suite.results import Row
from suite.specs import EnergySpec, LatencySpec, SuiteConfig, ThroughputSpec
from suite.trackers.energy import measure_energy
from suite.trackers.latency import UNSTABLE_IQR_OVER_MEDIAN, measure_latency, timer_overhead_ns
from suite.trackers.memory import peak_rss_in_subprocess
from suite.trackers.throughput import length_bucketed, measure_throughput

MIB = float(1 << 20)


def size_rows(variant: str, directory: Path, model: Classifier) -> list[Row]:
    stats = model.weight_stats()
    return [
        Row(
            variant,
            "size_mb",
            weights_size_bytes(directory) / MIB,
            "MiB",
            False,
            measurement="bytes of the artefact's weight files on disk (safetensors, ONNX graph and its external data; "
            "tokenizer and metadata excluded), MiB = 2^20 bytes",
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


def latency_rows(
    variant: str, model: Classifier, queries: list[Any], spec: LatencySpec, threads: int, seed: int
) -> list[Row]:
    """Model-forward latency per query (tokenisation excluded), with spread, bounds and an instability flag."""
    with model.inference():
        result = measure_latency(
            model.forward,
            queries,
            warmup_runs=spec.warmup_runs,
            min_runs=spec.min_runs,
            min_seconds=spec.min_seconds,
            sync=model.synchronize(),
        )
    overhead_ms = timer_overhead_ns() / 1e6
    how = (
        f"batch {spec.batch_size}, model forward only on {len(queries)} pre-tokenised queries sampled (seed {seed}) "
        f"from the task's sentences; {spec.warmup_runs} warm-up queries, then until >= {spec.min_runs} queries and "
        f">= {spec.min_seconds} s; time.perf_counter_ns per query (timer overhead {overhead_ms * 1e3:.2f} us); "
        f"torch threads {threads}; {result.runs} queries in {result.wall_seconds:.2f} s"
    )
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


def throughput_rows(
    variant: str, model: Classifier, texts: list[str], spec: ThroughputSpec, max_length: int, seed: int
) -> list[Row]:
    """Samples per second at each batch size over length-bucketed real sentences (tokenisation excluded)."""
    rng = np.random.default_rng(seed)
    sample = [texts[i] for i in rng.choice(len(texts), size=min(spec.sample_size, len(texts)), replace=False)]
    rows = []
    for batch_size in spec.batch_sizes:
        groups = length_bucketed(sample, batch_size)
        batches = [model.encode(group, max_length) for group in groups]
        with model.inference():
            rate, samples = measure_throughput(
                model.forward,
                batches,
                [len(g) for g in groups],
                warmup_batches=min(3, len(batches)),
                min_seconds=spec.min_seconds,
                sync=model.synchronize(),
            )
        rows.append(
            Row(
                variant,
                f"throughput_bs{batch_size}_sps",
                rate,
                "samples/s",
                True,
                n=samples,
                measurement=f"batch {batch_size}, {len(sample)} sentences (seed {seed}) length-bucketed, "
                f"whole passes for >= {spec.min_seconds} s; tokenisation excluded",
            )
        )
    return rows


def flops_rows(
    variant: str, model: Classifier, queries: list[Any], peak: dict[str, Any], latency_p50_ms: float | None
) -> list[Row]:
    """FLOPs per sample over the latency queries' length mix, and achieved GFLOP/s against the machine's peak."""
    counted = [model.flops(q) for q in queries]
    per_sample = float(np.mean([n / model.rows(q) for (n, _), q in zip(counted, queries, strict=True)]))
    how = f"{counted[0][1]}, mean over {len(queries)} real queries" if counted else "no queries"
    rows = [Row(variant, "gflops_per_sample", per_sample / 1e9, "GFLOP", False, n=len(queries), measurement=how)]
    if latency_p50_ms:
        achieved = per_sample / 1e9 / (latency_p50_ms / 1e3)
        rows.append(
            Row(
                variant,
                "achieved_gflops",
                achieved,
                "GFLOP/s",
                True,
                measurement="gflops_per_sample / latency p50 at batch 1",
            )
        )
        rows.append(
            Row(
                variant,
                "pct_of_peak_flops",
                100 * achieved / peak["peak_gflops"],
                "%",
                True,
                measurement=f"achieved_gflops / machine peak {peak['peak_gflops']:.1f} GFLOP/s ({peak['method']})",
            )
        )
    return rows


def memory_rows(
    variant: str, model_dir: Path, texts: list[str], batch_size: int, max_length: int, threads: int, device: str = "cpu"
) -> list[Row]:
    """Peak RSS of a fresh interpreter that loads the variant and predicts the task's inputs."""
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts))
        probe = peak_rss_in_subprocess(model_dir, texts_file, batch_size, max_length, threads, device)
    how = (
        f"VmHWM (peak RSS) of a fresh process that loads the artefact and predicts {len(texts)} task inputs at batch "
        f"{batch_size}; the process with torch, transformers and onnxruntime imported but no model used "
        f"{probe['baseline_rss_mb']:.0f} MiB"
    )
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


def _failed(variant: str, metrics: tuple[tuple[str, str], ...], exc: BaseException) -> list[Row]:
    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return [Row(variant, m, math.nan, unit, False, status="failed", error=reason) for m, unit in metrics]


def measure_variant(
    cfg: SuiteConfig, variant: str, model_dir: Path, texts: list[str], peak: dict[str, Any]
) -> list[Row]:
    """The family's system measurements; each tracker that fails leaves 'failed' rows with its reason, the others go
    on."""
    from suite.artefacts import load_artefact

    try:
        model, _ = load_artefact(model_dir, cfg.device)
    except Exception as exc:  # a variant that cannot load is a result, not a crashed run
        return _failed(variant, (("latency_p50_ms", "ms"), ("size_mb", "MiB"), ("peak_rss_mb", "MiB")), exc)
    rows: list[Row] = []
    queries = latency_queries(model, texts, cfg.latency, cfg.evaluate.max_length, cfg.seed)
    # name (suite.families.base.ALL_MEASUREMENTS) -> (the metrics recorded as failed if it raises, the step)
    steps: dict[str, tuple[tuple[tuple[str, str], ...], Callable[[], list[Row]]]] = {
        "size": ((("size_mb", "MiB"),), lambda: size_rows(variant, model_dir, model)),
        "latency": (
            (("latency_p50_ms", "ms"),),
            lambda: latency_rows(variant, model, queries, cfg.latency, cfg.threads, cfg.seed),
        ),
        "throughput": (
            (("throughput_bs1_sps", "samples/s"),),
            lambda: throughput_rows(variant, model, texts, cfg.throughput, cfg.evaluate.max_length, cfg.seed),
        ),
        "flops": (
            (("gflops_per_sample", "GFLOP"),),
            lambda: flops_rows(variant, model, queries, peak, _ok_value(rows, "latency_p50_ms")),
        ),
        "memory": (
            (("peak_rss_mb", "MiB"),),
            lambda: memory_rows(
                variant, model_dir, texts, cfg.evaluate.batch_size, cfg.evaluate.max_length, cfg.threads, cfg.device
            ),
        ),
        "energy": (
            (("energy_per_1k_queries_j", "J"), ("co2e_per_1m_inferences_g", "g")),
            lambda: energy_rows(variant, model, queries, cfg.energy),
        ),
    }
    wanted = [name for name in FAMILIES.get(cfg.family).MEASUREMENTS if name != "energy" or cfg.energy.enabled]
    for name in wanted:
        failed_metrics, step = steps[name]
        try:
            rows += step()
        except Exception as exc:  # recorded with its reason; the remaining trackers still run
            rows += _failed(variant, failed_metrics, exc)
    return rows


def _ok_value(rows: list[Row], metric: str) -> float | None:
    return next((r.value for r in rows if r.metric == metric and r.status == "ok"), None)
