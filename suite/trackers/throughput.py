"""Offline throughput: samples per second at a batch size, over length-bucketed real inputs."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any


def length_bucketed(texts: Sequence[Any], batch_size: int) -> list[list[Any]]:
    """Batches of similar-length texts (sorted by length; a sentence pair by both texts), so padding stays small as
    in a real offline job.

    >>> length_bucketed(["ccc", "a", "bb", "dddd"], 2)
    [['a', 'bb'], ['ccc', 'dddd']]
    >>> length_bucketed([("ccc", "d"), ("a", "b")], 1)
    [[('a', 'b')], [('ccc', 'd')]]
    """
    ordered = sorted(texts, key=lambda t: len(t) if isinstance(t, str) else sum(len(part) for part in t))
    return [list(ordered[i : i + batch_size]) for i in range(0, len(ordered), batch_size)]


def measure_throughput(
    run: Callable[[Any], Any],
    batches: Sequence[Any],
    sizes: Sequence[int],
    *,
    warmup_batches: int,
    min_seconds: float,
    sync: Callable[[], None] | None = None,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> tuple[float, int]:
    """Run whole passes over the batches until min_seconds; return (samples per second, samples processed)."""
    if not batches:
        raise ValueError("throughput needs at least one batch")
    for i in range(warmup_batches):
        run(batches[i % len(batches)])
    if sync:
        sync()
    samples = 0
    start = clock()
    while True:
        for batch, size in zip(batches, sizes, strict=True):
            run(batch)
            samples += size
        if sync:
            sync()
        elapsed = clock() - start
        if elapsed >= min_seconds * 1e9:
            return samples / (elapsed / 1e9), samples
