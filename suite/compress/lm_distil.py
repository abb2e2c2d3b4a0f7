"""Causal-LM students by layer dropping + logit distillation, on a corpus the teacher wrote itself.

The corpus: seeded, batched sampling by the teacher from short generic prompts (no task evaluates it: distilling on
WikiText's validation text made a student score *better* than its teacher on WikiText test, because the corpus had the
evaluation set's distribution). `teacher_targets` writes it once per run with the teacher's top-k next-token log-probs
at every position (Parquet with the corpus sha256 in its metadata); every student that distils reads it.

Which layers go: the least important by Block Influence (Men et al., "ShortGPT", 2024): 1 − cos(h_in, h_out) of each
decoder layer over the corpus tokens; a layer that barely turns its input is cheap to drop. Evenly spaced dropping was
measured catastrophic (perplexity 25 → 190 000 for every third layer), contiguous middle blocks mild (25 → 65).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from suite.compress.base import METHODS, Arch, BuildContext, Method
from suite.families import LLM
from suite.formats import FORMAT_FP32

TOP_K = 64  # teacher log-probs kept per position (sparse KD: the rest of the vocabulary carries ~no mass)
META_PREFIX = "suite."
# Short, generic openings: the teacher's continuations are the corpus (none is a task's text).
PROMPTS = (
    "The",
    "In the beginning",
    "Here is a short story about",
    "Scientists have found that",
    "My favourite recipe is",
    "The history of",
    "Yesterday I went to",
    "How to",
    "One of the most important",
    "When I was young",
    "The city of",
    "A good way to learn",
    "Many people believe that",
    "The weather today",
    "In this article we",
    "There was once a",
)
SAMPLING = {"do_sample": True, "temperature": 1.0, "top_p": 0.95, "top_k": 0}


def _decoder_layers(module: Any) -> Any:
    return module.model.layers


def generate_corpus(module: Any, tokenizer: Any, samples: int, length: int, batch_size: int, seed: int) -> np.ndarray:
    """`samples` sequences of exactly `length` tokens (prompt included), sampled by the model from PROMPTS in turn,
    `batch_size` at a time (prompts left-padded; EOS suppressed so every sequence runs to full length)."""
    import torch

    torch.manual_seed(seed)
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(samples)]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    rows: list[np.ndarray] = []
    try:
        with torch.inference_mode():
            for start in range(0, samples, batch_size):
                batch = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True)
                new = length - 1  # the shortest prompt is one token
                out = module.generate(
                    **batch, max_new_tokens=new, min_new_tokens=new, pad_token_id=tokenizer.pad_token_id, **SAMPLING
                )
                for row, mask in zip(out, batch["attention_mask"], strict=True):
                    pads = int((mask == 0).sum())
                    rows.append(row[pads : pads + length].numpy())
    finally:
        tokenizer.padding_side = side
    return np.stack(rows).astype(np.int64)


def teacher_targets(module: Any, tokenizer: Any, settings: Any, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(corpus token ids [n, L], top-k token ids [n, L-1, k], their log-probs [n, L-1, k]) of the teacher."""
    import torch

    corpus = generate_corpus(
        module, tokenizer, settings.max_train_samples or 64, settings.max_length, settings.batch_size, seed
    )
    ids, logprobs = [], []
    with torch.inference_mode():
        for start in range(0, len(corpus), settings.batch_size):
            batch = torch.from_numpy(corpus[start : start + settings.batch_size])
            logits = module(input_ids=batch).logits[:, :-1].float()
            top = torch.log_softmax(logits, dim=-1).topk(TOP_K, dim=-1)
            ids.append(top.indices.numpy().astype(np.int32))
            logprobs.append(top.values.numpy().astype(np.float32))
    return corpus, np.concatenate(ids), np.concatenate(logprobs)


def write_targets(path: Path, corpus: np.ndarray, ids: np.ndarray, logprobs: np.ndarray, meta: dict[str, Any]) -> None:
    import pyarrow as pa

    from suite.provenance import sha256_json
    from suite.results import write_table

    n = len(corpus)
    table = pa.table(
        {
            "idx": pa.array(np.arange(n, dtype=np.int64)),
            "input_ids": [row.tolist() for row in corpus],
            "topk_ids": [row.reshape(-1).tolist() for row in ids],
            "topk_logprobs": [row.reshape(-1).tolist() for row in logprobs],
        }
    )
    meta = {**meta, "corpus_sha256": sha256_json(corpus.tolist()), "top_k": TOP_K, "shape": list(corpus.shape)}
    write_table(table.replace_schema_metadata({META_PREFIX + k: json.dumps(v) for k, v in meta.items()}), path)


def read_targets(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = {
        k.decode()[len(META_PREFIX) :]: json.loads(v)
        for k, v in (table.schema.metadata or {}).items()
        if k.decode().startswith(META_PREFIX)
    }
    n, length = meta["shape"]
    corpus = np.array(table["input_ids"].to_pylist(), dtype=np.int64).reshape(n, length)
    ids = np.array(table["topk_ids"].to_pylist(), dtype=np.int64).reshape(n, length - 1, meta["top_k"])
    logprobs = np.array(table["topk_logprobs"].to_pylist(), dtype=np.float32).reshape(n, length - 1, meta["top_k"])
    return corpus, ids, logprobs, meta


def compute_teacher_targets(teacher: Any, settings: Any, seed: int, out: Path, teacher_sha256: str) -> None:
    """The corpus and the teacher's top-k log-probs over it, written once per run (rule teacher_logits)."""
    start = time.perf_counter()
    corpus, ids, logprobs = teacher_targets(teacher.module, teacher.tokenizer, settings, seed)
    meta = {
        "teacher_artefact_sha256": teacher_sha256,
        "corpus": f"teacher-generated: {len(corpus)} sequences × {corpus.shape[1]} tokens, sampled from "
        f"{len(PROMPTS)} generic prompts in turn ({SAMPLING}), seed {seed}",
        "prompts": list(PROMPTS),
        "seed": seed,
        "sample_size": len(corpus),
        "max_length": settings.max_length,
        "batch_size": settings.batch_size,
    }
    write_targets(out, corpus, ids, logprobs, meta)
    print(f"teacher corpus + top-{TOP_K} log-probs: {corpus.shape} in {time.perf_counter() - start:.1f} s")


# --- layer importance and the student -----------------------------------------------------------------------------


def block_influence(module: Any, corpus: np.ndarray, batch_size: int) -> np.ndarray:
    """Per decoder layer, the mean over corpus tokens of 1 − cos(layer input, layer output) (forward hooks on the
    layers themselves, so no final norm or embedding is mixed in)."""
    import torch

    layers = _decoder_layers(module)
    totals = np.zeros(len(layers))
    count = 0

    def hook(index: int) -> Any:
        def record(_layer: Any, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
            before = (args[0] if args else kwargs["hidden_states"]).float()
            after = (output[0] if isinstance(output, tuple) else output).float()
            totals[index] += float((1 - torch.nn.functional.cosine_similarity(before, after, dim=-1)).sum())

        return record

    handles = [layer.register_forward_hook(hook(i), with_kwargs=True) for i, layer in enumerate(layers)]
    try:
        with torch.inference_mode():
            for start in range(0, len(corpus), batch_size):
                batch = torch.from_numpy(corpus[start : start + batch_size])
                module(input_ids=batch)
                count += batch.numel()
    finally:
        for handle in handles:
            handle.remove()
    return totals / max(count, 1)


def drop_layers(module: Any, keep: list[int]) -> Any:
    """The module with only the decoder layers `keep` (in order), re-indexed for the KV cache; config updated."""
    import torch

    layers = _decoder_layers(module)
    module.model.layers = torch.nn.ModuleList([layers[i] for i in keep])
    for new, layer in enumerate(module.model.layers):
        layer.self_attn.layer_idx = new
    module.config.num_hidden_layers = len(keep)
    layer_types = getattr(module.config, "layer_types", None)
    if layer_types:
        module.config.layer_types = [layer_types[i] for i in keep]
    return module


@dataclass(frozen=True)
class DistilLmLayersParams:
    layers: int
    """Decoder layers the student keeps (the least important by Block Influence are dropped)."""
    steps: int = 20
    """Distillation steps (one batch each) after dropping; 0 for dropping alone."""
    batch_size: int = 4
    """Sequences per step."""
    learning_rate: float = 1.0e-4
    """AdamW learning rate (linear decay to 0)."""
    max_train_samples: int | None = None
    """Use only the first N corpus sequences (None: all)."""

    def __post_init__(self) -> None:
        for name in ("layers", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: {value!r} is not a positive integer")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise ValueError(f"steps: {self.steps!r} is not a non-negative integer")
        if not isinstance(self.learning_rate, int | float) or not self.learning_rate > 0:
            raise ValueError(f"learning_rate: {self.learning_rate!r} is not a positive number")


def sparse_kd_loss(student_logits: Any, top_ids: Any, top_logprobs: Any) -> Any:
    """Cross-entropy of the student against the teacher's top-k distribution (renormalised over its k tokens), mean
    over positions: KL(teacher_k ‖ student) up to the teacher's entropy, which does not depend on the student."""
    import torch

    teacher_p = torch.softmax(top_logprobs, dim=-1)
    student_logp = torch.log_softmax(student_logits.float(), dim=-1).gather(-1, top_ids)
    return -(teacher_p * student_logp).sum(-1).mean()


@METHODS.register
class DistilLmLayers(Method):
    """Drop the causal LM's least important decoder layers (Block Influence), then distil the teacher's next-token
    distribution on its own generated corpus (results/<track>/distill/teacher_logits.parquet)."""

    NAME = "distil_lm_layers"
    INPUT_FORMATS = frozenset({FORMAT_FP32})
    OUTPUT_FORMAT = FORMAT_FP32
    Params = DistilLmLayersParams
    NEEDS_TEACHER_LOGITS = True
    FAMILIES = frozenset({LLM})

    def check(self, params: DistilLmLayersParams, parent_arch: Arch | None) -> None:
        if parent_arch and params.layers >= parent_arch.get("num_hidden_layers", params.layers + 1):
            raise ValueError(
                f"layers: {params.layers} is not fewer than the parent's {parent_arch['num_hidden_layers']} layers"
            )

    def derive_arch(self, parent_arch: Arch | None, params: DistilLmLayersParams) -> Arch | None:
        return {**parent_arch, "num_hidden_layers": params.layers} if parent_arch else None

    def apply(self, parent: Any, params: DistilLmLayersParams, ctx: BuildContext) -> Any:
        import torch

        corpus, top_ids, top_logprobs, meta = read_targets(Path(ctx.teacher_logits or ""))
        if ctx.parent_record.get("artefact_sha256") != meta["teacher_artefact_sha256"]:
            raise ValueError(
                f"{ctx.teacher_logits} was computed from another teacher ({meta['teacher_artefact_sha256']}); "
                "distil_lm_layers starts from the teacher itself: make the variant's parent 'teacher'"
            )
        if params.max_train_samples:
            corpus, top_ids, top_logprobs = (a[: params.max_train_samples] for a in (corpus, top_ids, top_logprobs))
        module = parent.module
        total = len(_decoder_layers(module))
        self.check(params, {"num_hidden_layers": total})
        influence = block_influence(module, corpus, params.batch_size)
        keep = sorted(np.argsort(influence)[total - params.layers :].tolist())
        student = drop_layers(module, keep)
        start = time.perf_counter()
        losses = _train(student, corpus, top_ids, top_logprobs, params, ctx.cfg.seed)
        student.eval()
        ctx.info["layer_dropping"] = {
            "importance": "Block Influence (1 - cos(h_in, h_out)) over the teacher's corpus tokens",
            "block_influence": [round(float(v), 6) for v in influence],
            "kept_layers": keep,
            "dropped_layers": sorted(set(range(total)) - set(keep)),
        }
        ctx.info["training"] = {
            "objective": f"cross-entropy to the teacher's top-{meta['top_k']} next-token distribution (sparse KD)",
            "corpus": meta["corpus"],
            "corpus_sha256": meta["corpus_sha256"],
            "steps": params.steps,
            "batch_size": params.batch_size,
            "learning_rate": params.learning_rate,
            "loss_first": losses[0] if losses else None,
            "loss_last": losses[-1] if losses else None,
            "seconds": round(time.perf_counter() - start, 1),
            "torch_threads": torch.get_num_threads(),
        }
        return student


def _train(
    student: Any, corpus: np.ndarray, top_ids: np.ndarray, top_logprobs: np.ndarray, params: Any, seed: int
) -> list[float]:
    import torch

    if params.steps == 0:
        return []
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    student.train()
    optimiser = torch.optim.AdamW(student.parameters(), lr=params.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 1 - step / params.steps)
    losses = []
    for _ in range(params.steps):
        rows = rng.choice(len(corpus), size=min(params.batch_size, len(corpus)), replace=False)
        logits = student(input_ids=torch.from_numpy(corpus[rows])).logits[:, :-1]
        loss = sparse_kd_loss(logits, torch.from_numpy(top_ids[rows]), torch.from_numpy(top_logprobs[rows]))
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        losses.append(round(loss.item(), 4))
    return losses
