"""Per-token serving latency of a causal LM: time to first token at a fixed prompt length and time per output token
over a greedy KV-cached decode, with the latency tracker's warm-up, both minimums and statistics.

The model is any callable with the transformers causal-LM convention: `model(input_ids=…, past_key_values=…,
use_cache=True)` returns an object with `.logits` (batch, positions, vocab) and `.past_key_values`. Decoding is greedy
and of a forced length (EOS is an ordinary token here), so every variant does the same work on the same token ids.
"""

from __future__ import annotations

import hashlib
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from suite.trackers.latency import LatencyResult, measure_latency


def prompt_windows(token_ids: Sequence[int], length: int, count: int, seed: int) -> list[list[int]]:
    """`count` windows of exactly `length` consecutive tokens at seeded offsets of `token_ids`.

    >>> prompt_windows(list(range(10)), 4, 2, seed=0)
    [[5, 6, 7, 8], [4, 5, 6, 7]]
    """
    if length < 1 or count < 1:
        raise ValueError(f"prompt windows need length >= 1 and count >= 1, got {length} and {count}")
    if len(token_ids) < length:
        raise ValueError(
            f"the reference task's text has {len(token_ids)} tokens, fewer than a {length}-token prompt: "
            "lower decode.prompt_lengths or use a reference task with more text"
        )
    starts = np.random.default_rng(seed).integers(0, len(token_ids) - length + 1, size=count)
    return [[int(t) for t in token_ids[s : s + length]] for s in starts]


def ids_digest(windows: Sequence[Sequence[int]]) -> str:
    """A short sha256 of prompt token ids, so identical prompts across variants can be checked from the results.

    >>> ids_digest([[1, 2, 3]])
    '7c8f50592903'
    """
    return hashlib.sha256(",".join(" ".join(map(str, w)) for w in windows).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ForwardConvention:
    """How a causal LM's forward takes and returns its KV cache, and whether it can skip the prompt's logits."""

    cache_arg: str = "past_key_values"  # transformers >= 5.x names it `cache` (past_key_values is deprecated)
    logits_to_keep: bool = False

    def kwargs(self, cache: Any = None) -> dict[str, Any]:
        out: dict[str, Any] = {"use_cache": True}
        if cache is not None:
            out[self.cache_arg] = cache
        if self.logits_to_keep:
            out["logits_to_keep"] = 1
        return out

    def describe(self) -> str:
        return "logits of the last position only" if self.logits_to_keep else "logits of every position"


def forward_convention(module: Any) -> ForwardConvention:
    """The convention of the module's forward (seen through a torch.compile wrapper). `logits_to_keep=1` where it is
    taken: a server needs the last position's logits only (as transformers' generate asks for), and the full
    (prompt × vocabulary) logits would add a large matmul to TTFT."""
    forward = getattr(getattr(module, "_orig_mod", module), "forward", None)
    try:
        parameters = inspect.signature(forward).parameters if forward is not None else {}
    except (TypeError, ValueError):
        parameters = {}
    return ForwardConvention(
        cache_arg="cache" if "cache" in parameters else "past_key_values",
        logits_to_keep="logits_to_keep" in parameters,
    )


def _next_token(out: Any) -> tuple[int, Any, Any]:
    token = out.logits[:, -1, :].argmax(dim=-1, keepdim=True)
    cache = getattr(out, "cache", None)
    return int(token), token, cache if cache is not None else out.past_key_values


def first_token(model: Callable[..., Any], input_ids: Any, convention: ForwardConvention) -> tuple[int, Any, Any]:
    """Prefill: one forward over the whole prompt (building the KV cache) and the greedy first token, copied to the
    host as a server would stream it. Returns (token id, token tensor, cache)."""
    return _next_token(model(input_ids=input_ids, **convention.kwargs()))


def decode_step(
    model: Callable[..., Any], token: Any, cache: Any, convention: ForwardConvention
) -> tuple[int, Any, Any]:
    """One KV-cached forward of the previous token and the greedy next one (on the host)."""
    return _next_token(model(input_ids=token, **convention.kwargs(cache)))


def prompt_tensor(prompt: Sequence[int], device: str) -> Any:
    import torch

    return torch.tensor([list(prompt)], dtype=torch.long, device=device)


def greedy_decode(
    model: Callable[..., Any],
    prompt: Sequence[int],
    new_tokens: int,
    *,
    device: str = "cpu",
    convention: ForwardConvention | None = None,
    step_ns: list[int] | None = None,
    sync: Callable[[], None] | None = None,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> list[int]:
    """Exactly `new_tokens` greedy tokens after `prompt` (the first from the prefill, the others one cached step
    each; EOS does not stop it). When `step_ns` is a list, each step after the first token appends its duration."""
    if new_tokens < 1:
        raise ValueError(f"a decode needs new_tokens >= 1, got {new_tokens}")
    convention = convention or ForwardConvention()
    tok, token, cache = first_token(model, prompt_tensor(prompt, device), convention)
    generated = [tok]
    for _ in range(new_tokens - 1):
        t0 = clock()
        tok, token, cache = decode_step(model, token, cache, convention)
        if sync:
            sync()
        t1 = clock()
        generated.append(tok)
        if step_ns is not None:
            step_ns.append(t1 - t0)
    return generated


def measure_ttft(
    model: Callable[..., Any],
    prompts: Sequence[Sequence[int]],
    *,
    warmup_runs: int,
    min_runs: int,
    min_seconds: float,
    device: str = "cpu",
    convention: ForwardConvention | None = None,
    sync: Callable[[], None] | None = None,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> LatencyResult:
    """Time to first token, one sample per run (prompts cycled): the prefill forward, the argmax of the last position
    and the token's copy to the host; the prompt tensor is built before the clock starts. Runs as
    `suite.trackers.latency.measure_latency` does: warm-up, then until both minimums are met."""
    if not prompts:
        raise ValueError("TTFT needs at least one prompt")
    if len({len(p) for p in prompts}) != 1:
        raise ValueError("TTFT prompts must all have the same length")
    convention = convention or ForwardConvention()
    inputs = [prompt_tensor(p, device) for p in prompts]
    return measure_latency(
        lambda ids: first_token(model, ids, convention),
        inputs,
        warmup_runs=warmup_runs,
        min_runs=min_runs,
        min_seconds=min_seconds,
        sync=sync,
        clock=clock,
    )


@dataclass(frozen=True)
class DecodeResult:
    """Per-step decode latencies, one row per run (runs × (new_tokens − 1) steps after the first token)."""

    step_ms: np.ndarray
    wall_seconds: float
    tokens: tuple[tuple[int, ...], ...]  # every run's generated ids (new_tokens each, the first included)

    @property
    def runs(self) -> int:
        return int(self.step_ms.shape[0])

    @property
    def tpot(self) -> LatencyResult:
        """Every step of every run pooled, for the latency module's percentiles and bounds."""
        return LatencyResult(samples_ms=self.step_ms.ravel(), wall_seconds=self.wall_seconds)

    @property
    def tokens_per_s_by_run(self) -> np.ndarray:
        """Tokens after the first / the time their steps took, per run."""
        return self.step_ms.shape[1] / (self.step_ms.sum(axis=1) / 1e3)

    @property
    def decode_tokens_per_s(self) -> float:
        """Mean over runs of each run's decode rate.

        >>> DecodeResult(np.array([[10.0, 10.0], [20.0, 20.0]]), 0.06, ((1, 2, 3), (1, 2, 3))).decode_tokens_per_s
        75.0
        """
        return float(np.mean(self.tokens_per_s_by_run))


def measure_decode(
    model: Callable[..., Any],
    prompts: Sequence[Sequence[int]],
    new_tokens: int,
    *,
    warmup_runs: int,
    min_runs: int,
    min_seconds: float,
    device: str = "cpu",
    convention: ForwardConvention | None = None,
    sync: Callable[[], None] | None = None,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> DecodeResult:
    """Time per output token: greedy decodes of exactly `new_tokens` tokens (prompts cycled), each step after the
    first token timed on its own. Warm-up decodes first, then until >= `min_runs` decodes and >= `min_seconds` of
    timed decodes (prefill included in the seconds, as it is part of each run's work)."""
    if not prompts:
        raise ValueError("a decode needs at least one prompt")
    if new_tokens < 2:
        raise ValueError(f"TPOT needs new_tokens >= 2 (the first token comes from the prefill), got {new_tokens}")
    for i in range(warmup_runs):
        greedy_decode(model, prompts[i % len(prompts)], new_tokens, device=device, convention=convention)
    if sync:
        sync()
    runs: list[list[int]] = []
    tokens: list[tuple[int, ...]] = []
    start = clock()
    elapsed = 0
    min_ns = min_seconds * 1e9
    i = 0
    while len(runs) < min_runs or elapsed < min_ns:
        steps: list[int] = []
        generated = greedy_decode(
            model,
            prompts[i % len(prompts)],
            new_tokens,
            device=device,
            convention=convention,
            step_ns=steps,
            sync=sync,
            clock=clock,
        )
        runs.append(steps)
        tokens.append(tuple(generated))
        elapsed = clock() - start
        i += 1
    return DecodeResult(
        step_ms=np.asarray(runs, dtype=np.float64) / 1e6, wall_seconds=elapsed / 1e9, tokens=tuple(tokens)
    )
