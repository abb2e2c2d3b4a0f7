"""Distilled students: fewer layers taken from the teacher (DistilBERT-style), or a narrower config, then KD-trained."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from suite.compress.base import METHODS, Arch, BuildContext, Method
from suite.distill import DistilSpec
from suite.formats import FORMAT_FP32

SELECTIONS = ("uniform", "every_other", "bottom")
INITS = ("teacher", "random")


def select_layers(parent_layers: int, layers: int, selection: str | list[int] | tuple[int, ...]) -> list[int]:
    """Which of the parent's layers (0-based) the student starts from.

    uniform: evenly spaced, first and last always kept: round-half-up of linspace(0, L−1, k), as Shleifer & Rush
    (2020) copy layers (12→6: 0 2 4 7 9 11). every_other: 0, 2, 4, … (DistilBERT's choice; needs k ≤ ⌈L/2⌉).
    bottom: 0 … k−1, i.e. the top layers dropped (Sajjad et al., 2023, "On the effect of dropping layers of
    pre-trained transformer models"). A list names the layers itself (strictly increasing).

    >>> select_layers(6, 3, "uniform"), select_layers(6, 3, "every_other"), select_layers(6, 2, "bottom")
    ([0, 3, 5], [0, 2, 4], [0, 1])
    """
    if not 1 <= layers <= parent_layers:
        raise ValueError(f"layers: {layers} is out of range (1 to the parent's {parent_layers} layers)")
    if isinstance(selection, list | tuple):
        chosen = [int(i) for i in selection]
        if len(chosen) != layers:
            raise ValueError(f"layer_selection: {len(chosen)} layers listed, but layers is {layers}")
        if any(not 0 <= i < parent_layers for i in chosen):
            raise ValueError(f"layer_selection: {chosen} names layers outside 0..{parent_layers - 1}")
        if any(b <= a for a, b in itertools.pairwise(chosen)):
            raise ValueError(f"layer_selection: {chosen} is not strictly increasing")
        return chosen
    if selection == "uniform":
        if layers == 1:
            return [0]
        return [int(np.floor(i * (parent_layers - 1) / (layers - 1) + 0.5)) for i in range(layers)]
    if selection == "every_other":
        if 2 * (layers - 1) >= parent_layers:
            raise ValueError(
                f"layer_selection: every_other gives at most {(parent_layers + 1) // 2} of {parent_layers} layers, "
                f"not {layers} (use uniform)"
            )
        return list(range(0, 2 * layers, 2))
    if selection == "bottom":
        return list(range(layers))
    raise ValueError(f"layer_selection: '{selection}' is not one of {list(SELECTIONS)} or a list of layer indices")


def _encoder_prefix(module: Any) -> str:
    """The state-dict prefix of the encoder's layer list, e.g. 'bert.encoder.layer'."""
    import torch

    layers = module.config.num_hidden_layers
    for name, child in module.named_modules():
        if isinstance(child, torch.nn.ModuleList) and len(child) == layers and name.endswith("layer"):
            return name
    raise ValueError(f"{type(module).__name__}: no encoder layer list of {layers} layers found")


def layer_student(parent_module: Any, chosen: list[int]) -> Any:
    """A copy of the parent with only the `chosen` encoder layers (embeddings, pooler, classifier kept as they are)."""
    config = copy.deepcopy(parent_module.config)
    config.num_hidden_layers = len(chosen)
    student = type(parent_module)(config)
    prefix = _encoder_prefix(parent_module) + "."
    state = {}
    for key, value in parent_module.state_dict().items():
        if key.startswith(prefix):
            layer, _, rest = key[len(prefix) :].partition(".")
            if int(layer) in chosen:
                state[f"{prefix}{chosen.index(int(layer))}.{rest}"] = value.detach().clone()
        else:
            state[key] = value.detach().clone()
    student.load_state_dict(state, strict=True)
    return student.eval()


def _check_int(name: str, value: Any, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: {value!r} is not an integer")
    if value < low:
        raise ValueError(f"{name}: {value} is out of range (must be >= {low})")


@dataclass(frozen=True, kw_only=True)
class DistilLayersParams(DistilSpec):
    """A student with fewer layers, initialised from the parent's, trained on the teacher's logits."""

    layers: int
    """Encoder layers of the student (1 to the parent's number of layers)."""
    layer_selection: str | list[int] = "bottom"
    """bottom (0 … k−1: the top layers dropped; on the MiniLM SST-2 teacher 4 layers reached 88.1 % against 87.3 %
    for uniform), uniform (evenly spaced, first and last kept), every_other (DistilBERT: 0, 2, 4, …) or a list."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("layers", self.layers)
        selection = self.layer_selection
        if isinstance(selection, list | tuple):
            if len(selection) != self.layers or any(isinstance(i, bool) or not isinstance(i, int) for i in selection):
                raise ValueError(f"layer_selection: {selection!r} must list exactly `layers` ({self.layers}) integers")
        elif selection not in SELECTIONS:
            raise ValueError(f"layer_selection: '{selection}' is not one of {list(SELECTIONS)} or a list of indices")


def _train(student: Any, parent: Any, params: DistilSpec, ctx: BuildContext) -> None:
    from suite.distill import distil, student_training_data

    texts, labels, logits, meta = student_training_data(ctx, params.max_train_samples)
    ctx.info["training"] = distil(
        student, parent.tokenizer, texts, labels, logits, params, ctx.cfg.seed, max_length=int(meta["max_length"])
    )
    ctx.info["teacher_logits"] = {k: meta.get(k) for k in ("teacher_artefact_sha256", "sample_size", "max_length")}


def _parent_layers(parent: Any) -> int:
    return int(parent.module.config.num_hidden_layers)


@METHODS.register
class DistilLayers(Method):
    """Keep some of the parent's layers (with its embeddings, pooler and classifier) and distil from the teacher."""

    NAME = "distil_layers"
    INPUT_FORMATS = frozenset({FORMAT_FP32})
    OUTPUT_FORMAT = FORMAT_FP32
    Params = DistilLayersParams
    NEEDS_TEACHER_LOGITS = True

    def check(self, params: DistilLayersParams, parent_arch: Arch | None) -> None:
        if parent_arch and "num_hidden_layers" in parent_arch:
            select_layers(parent_arch["num_hidden_layers"], params.layers, params.layer_selection)

    def derive_arch(self, parent_arch: Arch | None, params: DistilLayersParams) -> Arch | None:
        return None if parent_arch is None else {**parent_arch, "num_hidden_layers": params.layers}

    def apply(self, parent: Any, params: DistilLayersParams, ctx: BuildContext) -> Any:
        import torch

        chosen = select_layers(_parent_layers(parent), params.layers, params.layer_selection)
        torch.manual_seed(ctx.cfg.seed)
        student = layer_student(parent.module, chosen)
        ctx.info["student"] = {
            "layers": params.layers,
            "parent_layers": chosen,
            "init": "parent's embeddings, chosen layers, pooler and classifier",
            "params": int(sum(p.numel() for p in student.parameters())),
        }
        _train(student, parent, params, ctx)
        return student.eval()


@dataclass(frozen=True, kw_only=True)
class DistilConfigParams(DistilSpec):
    """A narrower student built from a config, initialised from the parent where shapes allow, then distilled."""

    layers: int
    """Encoder layers (1 to the parent's number of layers)."""
    hidden_size: int
    """Width of the residual stream (≤ the parent's; a multiple of num_attention_heads)."""
    num_attention_heads: int
    """Attention heads per layer."""
    intermediate_size: int
    """FFN width."""
    init: str = "teacher"
    """teacher (projected from the parent, see DistilConfig) or random (seeded)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("layers", "hidden_size", "num_attention_heads", "intermediate_size"):
            _check_int(name, getattr(self, name))
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size: {self.hidden_size} is not a multiple of num_attention_heads ({self.num_attention_heads})"
            )
        if self.init not in INITS:
            raise ValueError(f"init: '{self.init}' is not one of {list(INITS)}")


def embedding_projection(word_embeddings: Any, width: int) -> Any:
    """(parent width, width): the top right-singular vectors of the word-embedding matrix (uncentred PCA), signs fixed.

    E ≈ E·P·Pᵀ keeps the most energy of the parent's embeddings that any `width`-dimensional linear map can.
    """
    import torch

    e = word_embeddings.detach().double()
    values, vectors = torch.linalg.eigh(e.T @ e)  # ascending; the right-singular vectors of E
    top = vectors[:, torch.argsort(values, descending=True)[:width]]
    signs = torch.sign(top.gather(0, top.abs().argmax(dim=0, keepdim=True)))  # largest entry positive
    return (top * signs).to(word_embeddings.dtype)


def project_from_parent(student: Any, parent: Any, chosen: list[int]) -> dict[str, Any]:
    """Initialise a narrower BERT-style student from the parent; returns what was initialised how.

    P = the embedding projection (parent width × student width). Word, position and token-type embeddings become
    E·P (one map for all three, so their sum maps consistently). Where each student layer's head dim equals the
    parent's and it has no more heads or FFN neurons, layer i starts from parent layer chosen[i]: its
    highest-magnitude heads and neurons (structured_prune.layer_magnitudes), with the residual-stream side of every
    Linear mapped through P (W_q ← W_q[heads]·P, W_o ← Pᵀ·W_o[:, heads], b_o ← Pᵀ·b_o; FFN alike); pooler
    Pᵀ·W·P and classifier W·P likewise. LayerNorms keep their fresh init (γ = 1, β = 0): normalisation over a
    different width has no linear counterpart. Anything else keeps the seeded random init.
    """
    import torch

    from suite.compress.structured_prune import encoder_layers, layer_magnitudes

    s_cfg, p_cfg = student.config, parent.config
    done: dict[str, Any] = {"embeddings": "random", "layers": "random", "pooler": "random", "classifier": "random"}
    if s_cfg.hidden_size > p_cfg.hidden_size:
        return done
    p_emb, s_emb = parent.base_model.embeddings, student.base_model.embeddings
    proj = embedding_projection(p_emb.word_embeddings.weight, s_cfg.hidden_size)
    with torch.no_grad():
        for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
            src, dst = getattr(p_emb, name, None), getattr(s_emb, name, None)
            if src is not None and dst is not None and src.weight.shape[0] == dst.weight.shape[0]:
                dst.weight.copy_(src.weight @ proj)
        done["embeddings"] = "word/position/token-type embeddings · P (top singular directions of the word embeddings)"
        p_head_dim = p_cfg.hidden_size // p_cfg.num_attention_heads
        s_head_dim = s_cfg.hidden_size // s_cfg.num_attention_heads
        if (
            s_head_dim == p_head_dim
            and s_cfg.num_attention_heads <= p_cfg.num_attention_heads
            and s_cfg.intermediate_size <= p_cfg.intermediate_size
        ):
            p_layers, s_layers = encoder_layers(parent), encoder_layers(student)
            for s_layer, j in zip(s_layers, chosen, strict=True):
                p_layer = p_layers[j]
                head_scores, neuron_scores = layer_magnitudes(p_layer)
                heads = sorted(np.argsort(-head_scores, kind="stable")[: s_cfg.num_attention_heads].tolist())
                neurons = sorted(np.argsort(-neuron_scores, kind="stable")[: s_cfg.intermediate_size].tolist())
                rows = torch.tensor([h * p_head_dim + d for h in heads for d in range(p_head_dim)])
                for name in ("query", "key", "value"):
                    src, dst = getattr(p_layer.attention.self, name), getattr(s_layer.attention.self, name)
                    dst.weight.copy_(src.weight[rows] @ proj)
                    dst.bias.copy_(src.bias[rows])
                src, dst = p_layer.attention.output.dense, s_layer.attention.output.dense
                dst.weight.copy_(proj.T @ src.weight[:, rows])
                dst.bias.copy_(proj.T @ src.bias)
                kept = torch.tensor(neurons)
                src, dst = p_layer.intermediate.dense, s_layer.intermediate.dense
                dst.weight.copy_(src.weight[kept] @ proj)
                dst.bias.copy_(src.bias[kept])
                src, dst = p_layer.output.dense, s_layer.output.dense
                dst.weight.copy_(proj.T @ src.weight[:, kept])
                dst.bias.copy_(proj.T @ src.bias)
            done["layers"] = {"parent_layers": chosen, "heads_and_neurons": "highest weight magnitude", "via": "P"}
        p_pool, s_pool = getattr(parent.base_model, "pooler", None), getattr(student.base_model, "pooler", None)
        if p_pool is not None and s_pool is not None:
            s_pool.dense.weight.copy_(proj.T @ p_pool.dense.weight @ proj)
            s_pool.dense.bias.copy_(proj.T @ p_pool.dense.bias)
            done["pooler"] = "Pᵀ·W·P"
        p_cls, s_cls = getattr(parent, "classifier", None), getattr(student, "classifier", None)
        if isinstance(p_cls, torch.nn.Linear) and isinstance(s_cls, torch.nn.Linear):
            s_cls.weight.copy_(p_cls.weight @ proj)
            s_cls.bias.copy_(p_cls.bias)
            done["classifier"] = "W·P"
    return done


@METHODS.register
class DistilConfig(Method):
    """A narrower student (layers, width, heads, FFN from the params), initialised from the parent, then distilled."""

    NAME = "distil_config"
    INPUT_FORMATS = frozenset({FORMAT_FP32})
    OUTPUT_FORMAT = FORMAT_FP32
    Params = DistilConfigParams
    NEEDS_TEACHER_LOGITS = True

    def check(self, params: DistilConfigParams, parent_arch: Arch | None) -> None:
        if not parent_arch:
            return
        if "num_hidden_layers" in parent_arch and params.layers > parent_arch["num_hidden_layers"]:
            raise ValueError(
                f"layers: {params.layers} is out of range (1 to the parent's {parent_arch['num_hidden_layers']} layers)"
            )
        if "hidden_size" in parent_arch and params.hidden_size > parent_arch["hidden_size"]:
            raise ValueError(
                f"hidden_size: {params.hidden_size} is wider than the parent's {parent_arch['hidden_size']}"
            )

    def derive_arch(self, parent_arch: Arch | None, params: DistilConfigParams) -> Arch | None:
        return {
            "num_hidden_layers": params.layers,
            "num_attention_heads": params.num_attention_heads,
            "hidden_size": params.hidden_size,
            "intermediate_size": params.intermediate_size,
        }

    def apply(self, parent: Any, params: DistilConfigParams, ctx: BuildContext) -> Any:
        import torch

        parent_layers = _parent_layers(parent)
        self.check(params, {"num_hidden_layers": parent_layers, "hidden_size": parent.module.config.hidden_size})
        config = copy.deepcopy(parent.module.config)
        config.num_hidden_layers = params.layers
        config.hidden_size = params.hidden_size
        config.num_attention_heads = params.num_attention_heads
        config.intermediate_size = params.intermediate_size
        torch.manual_seed(ctx.cfg.seed)
        student = type(parent.module)(config)
        chosen = select_layers(parent_layers, params.layers, "uniform")
        init = project_from_parent(student, parent.module, chosen) if params.init == "teacher" else {"all": "random"}
        ctx.info["student"] = {
            "config": {k: getattr(config, k) for k in ("num_hidden_layers", "hidden_size", "num_attention_heads")}
            | {"intermediate_size": config.intermediate_size},
            "init": init,
            "params": int(sum(p.numel() for p in student.parameters())),
        }
        _train(student, parent, params, ctx)
        return student.eval()
