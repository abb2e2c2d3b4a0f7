"""Seeded, deterministic (on CPU) fine-tuning of the teacher with length-bucketed batches and a progress bar."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np

from suite.data import TaskData
from suite.specs import FinetuneSpec


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def length_bucketed_batches(lengths: list[int], batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Batches of similar-length examples (little padding), in a seeded random order.

    >>> length_bucketed_batches([5, 1, 3, 2], 2, np.random.default_rng(0))  # doctest: +SKIP
    [[2, 0], [1, 3]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def finetune(model: Any, tokenizer: Any, data: TaskData, spec: FinetuneSpec, seed: int) -> dict[str, Any]:
    """Fine-tune `model` in place; returns the training log (steps, final loss, examples seen)."""
    import torch
    from tqdm import tqdm

    seed_everything(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rng = np.random.default_rng(seed)
    indices = np.arange(len(data.texts))
    if spec.max_train_samples is not None and spec.max_train_samples < len(indices):
        indices = np.sort(rng.permutation(len(indices))[: spec.max_train_samples])
    texts = [data.texts[i] for i in indices]
    labels = data.labels[indices]
    lengths = [len(t) for t in texts]

    if spec.freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=spec.learning_rate, weight_decay=spec.weight_decay)
    batches_per_epoch = math.ceil(len(texts) / spec.batch_size)
    total_steps = max(1, math.ceil(spec.epochs * batches_per_epoch))
    warmup = max(1, int(spec.warmup_ratio * total_steps))

    def schedule(step: int) -> float:
        return min(1.0, (step + 1) / warmup) * max(0.0, (total_steps - step) / total_steps)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
    model.train()
    losses: list[float] = []
    step = 0
    bar = tqdm(total=total_steps, desc="fine-tune", unit="step", mininterval=5.0)
    while step < total_steps:
        for batch in length_bucketed_batches(lengths, spec.batch_size, rng):
            if step >= total_steps:
                break
            encoding = tokenizer(
                [texts[i] for i in batch],
                padding=True,
                truncation=True,
                max_length=spec.max_length,
                return_tensors="pt",
            )
            out = model(**encoding, labels=torch.as_tensor(labels[batch]))
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimiser.step()
            scheduler.step()
            optimiser.zero_grad(set_to_none=True)
            losses.append(float(out.loss))
            step += 1
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    bar.close()
    model.eval()
    return {
        "steps": total_steps,
        "examples": len(texts),
        "final_loss_mean_last_50": float(np.mean(losses[-50:])),
    }
