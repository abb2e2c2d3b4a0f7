"""Seeded, deterministic (on CPU) fine-tuning of the teacher with length-bucketed batches and a progress bar."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import numpy as np

from suite.data import TaskData
from suite.models import input_chars, tokenize
from suite.specs import FinetuneSpec


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def length_bucketed_batches(lengths: list[int], batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Batches of similar-length examples (little padding), in a seeded random order.

    >>> length_bucketed_batches([5, 1, 3, 2], 2, np.random.default_rng(0))  # buckets [1, 3] and [2, 0], shuffled
    [[1, 3], [2, 0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def train_steps(
    params: list[Any],
    optimiser: Any,
    lengths: list[int],
    batch_size: int,
    epochs: float,
    warmup_ratio: float,
    rng: np.random.Generator,
    batch_loss: Callable[[list[int]], tuple[Any, tuple[float, ...]]],
    desc: str,
) -> tuple[list[tuple[float, ...]], int]:
    """The training loop fine-tuning and distillation share: `epochs` passes over length-bucketed batches in a seeded
    order, linear warm-up then linear decay of the learning rate, gradient-norm clipping at 1, a progress bar.

    `batch_loss(batch indices)` returns the loss to minimise and the floats to log (the first is shown on the bar).
    Returns the logged floats of every step and the number of steps.
    """
    import torch
    from tqdm import tqdm

    total_steps = max(1, math.ceil(epochs * math.ceil(len(lengths) / batch_size)))
    warmup = max(1, int(warmup_ratio * total_steps))

    def schedule(step: int) -> float:
        return min(1.0, (step + 1) / warmup) * max(0.0, (total_steps - step) / total_steps)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
    losses: list[tuple[float, ...]] = []
    step = 0
    bar = tqdm(total=total_steps, desc=desc, unit="step", mininterval=5.0)
    while step < total_steps:
        for batch in length_bucketed_batches(lengths, batch_size, rng):
            if step >= total_steps:
                break
            loss, logged = batch_loss(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimiser.step()
            scheduler.step()
            optimiser.zero_grad(set_to_none=True)
            losses.append(logged)
            step += 1
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{np.mean([x[0] for x in losses[-50:]]):.4f}")
    bar.close()
    return losses, total_steps


def finetune(model: Any, tokenizer: Any, data: TaskData, spec: FinetuneSpec, seed: int) -> dict[str, Any]:
    """Fine-tune `model` in place; returns the training log (steps, final loss, examples seen)."""
    import torch

    seed_everything(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rng = np.random.default_rng(seed)
    indices = np.arange(len(data.texts))
    if spec.max_train_samples is not None and spec.max_train_samples < len(indices):
        indices = np.sort(rng.permutation(len(indices))[: spec.max_train_samples])
    texts = [data.texts[i] for i in indices]
    labels = data.labels[indices]
    lengths = [input_chars(t) for t in texts]

    if spec.freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=spec.learning_rate, weight_decay=spec.weight_decay)

    def batch_loss(batch: list[int]) -> tuple[Any, tuple[float, ...]]:
        encoding = tokenize(
            tokenizer,
            [texts[i] for i in batch],
            padding=True,
            truncation=True,
            max_length=spec.max_length,
            return_tensors="pt",
        )
        out = model(**encoding, labels=torch.as_tensor(labels[batch]))
        return out.loss, (float(out.loss.detach()),)

    model.train()
    losses, total_steps = train_steps(
        params, optimiser, lengths, spec.batch_size, spec.epochs, spec.warmup_ratio, rng, batch_loss, "fine-tune"
    )
    model.eval()
    return {
        "steps": total_steps,
        "examples": len(texts),
        "final_loss_mean_last_50": float(np.mean([x[0] for x in losses[-50:]])),
    }
