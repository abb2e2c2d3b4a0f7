"""Knowledge distillation: the teacher-logits file (written by the teacher_logits job) and the seeded student loop."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from suite.models import input_chars, tokenize
from suite.train import seed_everything, train_steps

if TYPE_CHECKING:
    from suite.compress.base import BuildContext

META_PREFIX = "suite."  # the prefix of the teacher-logits Parquet's metadata keys


def sample_indices(n: int, max_samples: int | None, seed: int) -> np.ndarray:
    """A seeded random order of the split's rows, cut at `max_samples`: any prefix of it is itself a random sample.

    >>> sample_indices(5, 3, 0).tolist()
    [2, 4, 3]
    """
    order = np.random.default_rng(seed).permutation(n)
    return order if max_samples is None else order[:max_samples]


def read_teacher_logits(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(idx (n,) int64 rows of the split, logits (n, classes) float32, metadata) of a teacher_logits file."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if set(table.column_names) != {"idx", "logits"}:
        raise ValueError(f"{path}: expected columns idx and logits, found {table.column_names}; re-run teacher-logits")
    meta = {
        k.decode()[len(META_PREFIX) :]: json.loads(v)
        for k, v in (table.schema.metadata or {}).items()
        if k.decode().startswith(META_PREFIX)
    }
    idx = table["idx"].to_numpy().astype(np.int64)
    flat = table["logits"].combine_chunks()
    lengths = flat.value_lengths().to_numpy()
    if len(idx) and (lengths != lengths[0]).any():
        raise ValueError(f"{path}: logits rows differ in length; re-run teacher-logits")
    logits = flat.flatten().to_numpy().astype(np.float32).reshape(len(idx), -1 if len(idx) else 0)
    return idx, logits, meta


# --- student training -----------------------------------------------------------------------------------------


def _check_number(name: str, value: Any, low: float, high: float | None, low_open: bool, integer: bool) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ValueError(f"{name}: {value!r} is not {'an integer' if integer else 'a number'}")
    if (value <= low if low_open else value < low) or (high is not None and value > high):
        bound = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        raise ValueError(f"{name}: {value!r} is out of range (must be {bound})")


@dataclass(frozen=True, kw_only=True)
class DistilSpec:
    """How a student is trained on the teacher's logits (the shared params of every distilling method)."""

    temperature: float = 2.0
    """Softmax temperature T of the soft targets (> 0); the KD term is scaled by T²."""
    alpha: float = 0.5
    """Weight of the KD term in [0, 1]; the cross-entropy with the gold labels gets 1 − alpha."""
    epochs: float = 1.0
    """Passes over the student's training sentences (> 0; fractions allowed)."""
    max_train_samples: int | None = None
    """The first N sentences of the teacher-logits sample (a seeded random subset); None: all of it."""
    learning_rate: float = 1e-4
    """Peak AdamW learning rate (linear warm-up, then linear decay to zero)."""
    batch_size: int = 32
    """Sentences per step (length-bucketed batches)."""
    max_length: int | None = None
    """Tokens per sentence; None: the max_length the teacher's logits were computed with."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    warmup_ratio: float = 0.06
    """Share of the steps with a linear learning-rate warm-up."""
    freeze_word_embeddings: bool = True
    """Keep the word-embedding matrix fixed (fewer optimiser updates; the vocabulary's rare rows stay the teacher's)."""

    MIN_TRAIN_SAMPLES: ClassVar[int] = 1

    def __post_init__(self) -> None:
        _check_number("temperature", self.temperature, 0, None, low_open=True, integer=False)
        _check_number("alpha", self.alpha, 0, 1, low_open=False, integer=False)
        _check_number("epochs", self.epochs, 0, None, low_open=True, integer=False)
        if self.max_train_samples is not None:
            _check_number("max_train_samples", self.max_train_samples, self.MIN_TRAIN_SAMPLES, None, False, True)
        _check_number("learning_rate", self.learning_rate, 0, None, low_open=True, integer=False)
        _check_number("batch_size", self.batch_size, 1, None, low_open=False, integer=True)
        if self.max_length is not None:
            _check_number("max_length", self.max_length, 8, None, low_open=False, integer=True)
        _check_number("weight_decay", self.weight_decay, 0, None, low_open=False, integer=False)
        _check_number("warmup_ratio", self.warmup_ratio, 0, 1, low_open=False, integer=False)
        if not isinstance(self.freeze_word_embeddings, bool):
            raise ValueError(f"freeze_word_embeddings: {self.freeze_word_embeddings!r} is not true or false")

    def training_settings(self) -> dict[str, Any]:
        """The training params alone (what the training log records beside the method's own params)."""
        from dataclasses import fields

        return {f.name: getattr(self, f.name) for f in fields(DistilSpec)}


def kd_loss(student_logits: Any, teacher_logits: Any, labels: Any, temperature: float, alpha: float) -> tuple:
    """alpha·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1 − alpha)·CE(s, labels), batch means; returns (loss, kd, ce).

    The T² keeps the soft-target gradients' scale independent of T (Hinton et al., 2015).
    """
    import torch.nn.functional as F

    t = float(temperature)
    kd = F.kl_div(
        F.log_softmax(student_logits / t, dim=-1),
        F.log_softmax(teacher_logits / t, dim=-1),
        log_target=True,
        reduction="batchmean",
    ) * (t * t)
    ce = F.cross_entropy(student_logits, labels)
    return alpha * kd + (1.0 - alpha) * ce, kd, ce


def distil(
    student_module: Any,
    tokenizer: Any,
    texts: list[str],
    labels: np.ndarray,
    teacher_logits: np.ndarray,
    spec: DistilSpec,
    seed: int,
    max_length: int = 128,
) -> dict[str, Any]:
    """Train `student_module` in place on the teacher's logits (and the gold labels); returns the training log.

    Seeded and deterministic on CPU (as suite.train.finetune): length-bucketed batches in a seeded order, AdamW with
    linear warm-up and decay, gradient-norm clipping at 1. `max_length` applies where spec.max_length is None.
    """
    import torch

    if not (len(texts) == len(labels) == len(teacher_logits)) or not texts:
        raise ValueError(
            f"distil: {len(texts)} texts, {len(labels)} labels and {len(teacher_logits)} teacher logits "
            "(need the same, non-zero number)"
        )
    seed_everything(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rng = np.random.default_rng(seed)
    length = spec.max_length or max_length
    device = next(student_module.parameters()).device
    teacher = torch.as_tensor(np.asarray(teacher_logits, dtype=np.float32), device=device)
    gold = torch.as_tensor(np.asarray(labels, dtype=np.int64), device=device)
    lengths = [input_chars(t) for t in texts]

    embeddings = student_module.get_input_embeddings().weight
    embeddings.requires_grad_(not spec.freeze_word_embeddings)
    params = [p for p in student_module.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=spec.learning_rate, weight_decay=spec.weight_decay)

    def batch_loss(batch: list[int]) -> tuple[Any, tuple[float, ...]]:
        encoding = tokenize(
            tokenizer, [texts[i] for i in batch], padding=True, truncation=True, max_length=length, return_tensors="pt"
        )
        logits = student_module(**{k: v.to(device) for k, v in encoding.items()}).logits
        rows = torch.as_tensor(batch, device=device)
        loss, kd, ce = kd_loss(logits, teacher[rows], gold[rows], spec.temperature, spec.alpha)
        return loss, (loss.item(), kd.item(), ce.item())

    student_module.train()
    start = time.perf_counter()
    losses, total_steps = train_steps(
        params, optimiser, lengths, spec.batch_size, spec.epochs, spec.warmup_ratio, rng, batch_loss, "distil"
    )
    seconds = time.perf_counter() - start
    student_module.eval()
    embeddings.requires_grad_(True)
    last = np.asarray(losses[-50:])
    return {
        "steps": total_steps,
        "examples": len(texts),
        "max_length": length,
        "trainable_params": int(sum(p.numel() for p in params)),
        "final_loss_mean_last_50": float(last[:, 0].mean()),
        "final_kd_mean_last_50": float(last[:, 1].mean()),
        "final_ce_mean_last_50": float(last[:, 2].mean()),
        "seconds": round(seconds, 1),
        "settings": spec.training_settings(),
    }


def student_training_data(
    ctx: BuildContext, max_train_samples: int | None
) -> tuple[list[str], np.ndarray, np.ndarray, dict[str, Any]]:
    """The first `max_train_samples` sentences of the teacher-logits sample: texts, gold labels, logits, metadata.

    The logits file must come from the same training split (data sha256) and, where the parent is the teacher
    itself, from the same teacher artefact; anything else raises with the fix.
    """
    from suite.specs import TEACHER

    if ctx.teacher_logits is None:
        raise ValueError(
            f"variant '{ctx.variant_id}': this method needs the teacher_logits artefact (--teacher-logits)"
        )
    idx, logits, meta = read_teacher_logits(ctx.teacher_logits)
    data = ctx.train_data()
    if meta.get("data_sha256") != data.data_sha256:
        raise ValueError(
            f"{ctx.teacher_logits}: computed on data {meta.get('data_sha256')}, but the training split is "
            f"{data.data_sha256}; re-run the teacher_logits rule"
        )
    parent = ctx.parent_record
    if parent.get("id") == TEACHER and meta.get("teacher_artefact_sha256") != parent["artefact_sha256"]:
        raise ValueError(
            f"{ctx.teacher_logits}: computed from teacher artefact {meta.get('teacher_artefact_sha256')}, but "
            f"{ctx.parent_dir} is {parent['artefact_sha256']}; re-run the teacher_logits rule"
        )
    if max_train_samples is not None:
        if max_train_samples > len(idx):
            raise ValueError(
                f"max_train_samples: {max_train_samples} exceeds the {len(idx)} sentences of {ctx.teacher_logits}; "
                "lower it or raise distillation.max_train_samples in the config"
            )
        idx, logits = idx[:max_train_samples], logits[:max_train_samples]
    return [data.texts[i] for i in idx], data.labels[idx], logits, meta
