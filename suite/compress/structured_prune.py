"""Structured pruning: whole attention heads and FFN neurons removed physically, and the "torch-pruned" format.

Transformers v5 has no `prune_heads`, so the shrinking is done here on BERT-style encoders (the teacher family:
`<base>.encoder.layer[i]` with `attention.self.{query,key,value}`, `attention.output.dense`, `intermediate.dense`,
`output.dense`): the Q/K/V Linears lose the removed heads' output rows, the attention output Linear their input
columns, and the FFN Linears the removed neurons' rows and columns, so the model really is smaller and faster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from suite.compress.base import METHODS, Arch, BuildContext, Method
from suite.distill import DistilSpec
from suite.families import CLASSIFIER, family_of_model_config
from suite.formats import FORMAT_FP32, FORMAT_PRUNED, FORMATS, ArtefactFormat
from suite.models import WEIGHTS_FILE, TorchClassifier, tokenize

PRUNING_JSON = "pruning.json"
SCOPES = ("global", "per_layer")
IMPORTANCES = ("taylor", "magnitude")


# --- the architecture ---------------------------------------------------------------------------------------------


def encoder_layers(module: Any) -> list[Any]:
    """The encoder's transformer blocks of a BERT-style model; ValueError naming what is missing otherwise."""
    base = getattr(module, "base_model", module)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None:
        raise ValueError(
            f"{type(module).__name__} has no <base>.encoder.layer list: structured methods support BERT-style "
            "encoders only (BERT, RoBERTa, MiniLM); use another method for this teacher"
        )
    for i, layer in enumerate(layers):
        for path in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            if _get(layer, path) is None:
                raise ValueError(f"{type(module).__name__}: encoder layer {i} has no {path} (not a BERT-style block)")
        if _get(layer, "intermediate.dense") is None or _get(layer, "output.dense") is None:
            raise ValueError(f"{type(module).__name__}: encoder layer {i} has no intermediate.dense/output.dense")
    return list(layers)


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _set(obj: Any, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        obj = getattr(obj, part)
    setattr(obj, last, value)


def pruning_layout(module: Any) -> dict[str, Any]:
    """Per encoder layer: attention heads kept, head dim, FFN intermediate size (what pruning.json records)."""
    layers = []
    for layer in encoder_layers(module):
        attention = layer.attention.self
        layers.append(
            {
                "heads": int(attention.num_attention_heads),
                "head_dim": int(attention.attention_head_size),
                "intermediate_size": int(layer.intermediate.dense.out_features),
            }
        )
    return {"format_version": 1, "hidden_size": int(module.config.hidden_size), "layers": layers}


def _empty_linear(in_features: int, out_features: int, like: Any) -> Any:
    import torch

    return torch.nn.Linear(
        in_features, out_features, bias=like.bias is not None, dtype=like.weight.dtype, device=like.weight.device
    )


def _set_heads(layer: Any, heads: int, head_dim: int) -> None:
    """BertSelfAttention reshapes with -1 heads of attention_head_size; keep its head-count attributes true."""
    attention = layer.attention.self
    attention.num_attention_heads = heads
    attention.attention_head_size = head_dim
    attention.all_head_size = heads * head_dim
    attention.scaling = head_dim**-0.5


def apply_pruning_layout(module: Any, layout: dict[str, Any]) -> Any:
    """Give a freshly built model the pruned shapes of `layout` (weights uninitialised: load a state dict next)."""
    layers = encoder_layers(module)
    if len(layout["layers"]) != len(layers):
        raise ValueError(f"{PRUNING_JSON}: {len(layout['layers'])} layers, but the model config has {len(layers)}")
    for layer, shape in zip(layers, layout["layers"], strict=True):
        width = shape["heads"] * shape["head_dim"]
        hidden = layer.attention.self.query.in_features
        for path in ("attention.self.query", "attention.self.key", "attention.self.value"):
            _set(layer, path, _empty_linear(hidden, width, _get(layer, path)))
        _set(layer, "attention.output.dense", _empty_linear(width, hidden, layer.attention.output.dense))
        _set_heads(layer, shape["heads"], shape["head_dim"])
        ffn = shape["intermediate_size"]
        _set(layer, "intermediate.dense", _empty_linear(hidden, ffn, layer.intermediate.dense))
        _set(layer, "output.dense", _empty_linear(ffn, hidden, layer.output.dense))
    return module


def _select(linear: Any, index: Any, dim: int) -> Any:
    """A new Linear with only the output rows (dim 0) or input columns (dim 1) in `index`."""
    import torch

    weight = linear.weight.detach().index_select(dim, index).clone()
    out_features, in_features = weight.shape
    new = torch.nn.Linear(in_features, out_features, bias=linear.bias is not None, dtype=weight.dtype)
    new = new.to(weight.device)
    with torch.no_grad():
        new.weight.copy_(weight)
        if linear.bias is not None:
            new.bias.copy_(linear.bias.detach().index_select(0, index) if dim == 0 else linear.bias.detach())
    return new


def prune_encoder(module: Any, keep_heads: list[list[int]], keep_neurons: list[list[int]]) -> Any:
    """Physically keep only the listed heads and FFN neurons of each encoder layer (indices into its current ones)."""
    import torch

    layers = encoder_layers(module)
    if len(keep_heads) != len(layers) or len(keep_neurons) != len(layers):
        raise ValueError(f"prune_encoder: need one keep list per layer ({len(layers)})")
    for i, (layer, heads, neurons) in enumerate(zip(layers, keep_heads, keep_neurons, strict=True)):
        attention = layer.attention.self
        head_dim = attention.attention_head_size
        if not heads or len(set(heads)) != len(heads) or not all(0 <= h < attention.num_attention_heads for h in heads):
            raise ValueError(f"layer {i}: keep_heads {heads} must be distinct heads of {attention.num_attention_heads}")
        if not neurons or not all(0 <= n < layer.intermediate.dense.out_features for n in neurons):
            raise ValueError(f"layer {i}: keep_neurons must be non-empty indices of the intermediate layer")
        rows = torch.tensor([h * head_dim + d for h in sorted(heads) for d in range(head_dim)], dtype=torch.long)
        for path in ("attention.self.query", "attention.self.key", "attention.self.value"):
            _set(layer, path, _select(_get(layer, path), rows, 0))
        _set(layer, "attention.output.dense", _select(layer.attention.output.dense, rows, 1))
        _set_heads(layer, len(heads), head_dim)
        kept = torch.tensor(sorted(set(neurons)), dtype=torch.long)
        _set(layer, "intermediate.dense", _select(layer.intermediate.dense, kept, 0))
        _set(layer, "output.dense", _select(layer.output.dense, kept, 1))
    return module


# --- the artefact format -----------------------------------------------------------------------------------------


def save_pruned(module: Any, directory: Path) -> None:
    """Safetensors weights in their pruned shapes, the unpruned config.json, and pruning.json with the shapes."""
    from safetensors.torch import save_file

    module.config.save_pretrained(str(directory))
    tensors = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    save_file(tensors, str(Path(directory) / WEIGHTS_FILE), metadata={"format": FORMAT_PRUNED})
    (Path(directory) / PRUNING_JSON).write_text(json.dumps(pruning_layout(module), indent=2) + "\n")


def write_layout_if_pruned(module: Any, directory: Path) -> bool:
    """For formats derived from a pruned model (INT8 of torch-pruned): write pruning.json if the shapes differ from
    config.json's (the config keeps the unpruned sizes). True if it wrote one. Only BERT-style encoders (the
    classifier family) are ever pruned structurally."""
    if family_of_model_config(module.config, module).NAME != CLASSIFIER:
        return False
    layout = pruning_layout(module)
    config = module.config
    full = config.hidden_size // config.num_attention_heads
    if all(
        (layer["heads"], layer["head_dim"], layer["intermediate_size"])
        == (config.num_attention_heads, full, config.intermediate_size)
        for layer in layout["layers"]
    ):
        return False
    (Path(directory) / PRUNING_JSON).write_text(json.dumps(layout, indent=2) + "\n")
    return True


def apply_layout_if_pruned(module: Any, directory: Path) -> Any:
    """The loaders' counterpart: give a model built from config.json the shapes of directory/pruning.json, if any."""
    layout_file = Path(directory) / PRUNING_JSON
    return apply_pruning_layout(module, json.loads(layout_file.read_text())) if layout_file.is_file() else module


def load_pruned_module(directory: Path) -> Any:
    """The pruned torch module of a torch-pruned artefact: built from config.json, shaped by pruning.json, strict."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification

    directory = Path(directory)
    layout_file = directory / PRUNING_JSON
    if not layout_file.is_file():
        raise ValueError(f"{directory}: a {FORMAT_PRUNED} artefact needs {PRUNING_JSON}; rebuild the variant")
    config = AutoConfig.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False)
    module = AutoModelForSequenceClassification.from_config(config)
    apply_pruning_layout(module, json.loads(layout_file.read_text()))
    module.load_state_dict(load_file(str(directory / WEIGHTS_FILE)), strict=True)
    return module.eval()


def _load_pruned(directory: Path, tokenizer: Any) -> TorchClassifier:
    return TorchClassifier(module=load_pruned_module(directory), tokenizer=tokenizer, format=FORMAT_PRUNED)


# --- importance --------------------------------------------------------------------------------------------------


def taylor_importance(
    module: Any, tokenizer: Any, texts: list[str], labels: np.ndarray, batch_size: int, max_length: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """First-order Taylor importance (Michel et al., 2019): E_x |∂L/∂ξ| of a gate ξ = 1 on each head / FFN neuron.

    L is the cross-entropy with the gold labels (the KL to the teacher has zero gradient where the model is the
    teacher). Per sentence, ∂L/∂ξ_h = Σ_tokens Σ_dims(h) a·∂L/∂a for the head's context vector a (the input of the
    attention output Linear); for a neuron, of its activation (the input of the FFN output Linear). Returns one array
    of head scores and one of neuron scores per layer (a pruned parent's layers differ in size).
    """
    import torch
    import torch.nn.functional as F

    layers = encoder_layers(module)
    head_scores = [np.zeros(layer.attention.self.num_attention_heads) for layer in layers]
    neuron_scores = [np.zeros(layer.intermediate.dense.out_features) for layer in layers]
    gates: dict[tuple[str, int], Any] = {}

    def gate(kind: str, i: int, groups: int):
        def hook(_module: Any, args: tuple) -> tuple:
            x = args[0]
            g = torch.ones(x.shape[0], 1, groups, 1, dtype=x.dtype, device=x.device, requires_grad=True)
            gates[(kind, i)] = g
            return ((x.unflatten(-1, (groups, -1)) * g).flatten(-2),)

        return hook

    handles = []
    for i, layer in enumerate(layers):
        handles.append(layer.attention.output.dense.register_forward_pre_hook(gate("head", i, len(head_scores[i]))))
        handles.append(layer.output.dense.register_forward_pre_hook(gate("neuron", i, len(neuron_scores[i]))))
    was_training = module.training
    flags = [(p, p.requires_grad) for p in module.parameters()]
    module.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    device = next(module.parameters()).device
    gold = torch.as_tensor(np.asarray(labels, dtype=np.int64), device=device)
    try:
        for start in range(0, len(texts), batch_size):
            encoding = tokenize(
                tokenizer,
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            logits = module(**{k: v.to(device) for k, v in encoding.items()}).logits
            loss = F.cross_entropy(logits, gold[start : start + batch_size], reduction="sum")
            keys = sorted(gates)
            grads = torch.autograd.grad(loss, [gates[k] for k in keys])
            for (kind, i), grad in zip(keys, grads, strict=True):
                target = head_scores if kind == "head" else neuron_scores
                target[i] += grad.abs().sum(dim=(0, 1, 3)).double().cpu().numpy()
            gates.clear()
    finally:
        for handle in handles:
            handle.remove()
        for p, flag in flags:
            p.requires_grad_(flag)
        module.train(was_training)
    return head_scores, neuron_scores


def layer_magnitudes(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """One layer's weight-magnitude scores: a head's ‖W_V rows‖·‖W_O columns‖, a neuron's ‖W_1 row‖·‖W_2 column‖."""
    attention = layer.attention.self
    n, d = attention.num_attention_heads, attention.attention_head_size
    value = attention.value.weight.detach().reshape(n, d, -1).flatten(1).norm(dim=1)
    output = layer.attention.output.dense.weight.detach().reshape(-1, n, d).transpose(0, 1).flatten(1).norm(dim=1)
    w1 = layer.intermediate.dense.weight.detach().norm(dim=1)
    w2 = layer.output.dense.weight.detach().norm(dim=0)
    return (value * output).double().cpu().numpy(), (w1 * w2).double().cpu().numpy()


def magnitude_importance(module: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weight-magnitude importance of each layer's heads and FFN neurons (layer_magnitudes)."""
    scores = [layer_magnitudes(layer) for layer in encoder_layers(module)]
    return [h for h, _ in scores], [n for _, n in scores]


def choose_kept(scores: list[np.ndarray], fraction: float, scope: str) -> list[list[int]]:
    """Indices to keep per layer after removing `fraction` of the units with the lowest scores (≥ 1 kept per layer).

    per_layer: round(fraction·n) units of each layer. global: round(fraction·total) units over all layers, scores
    divided by their layer's ℓ2 norm first (Michel et al., 2019), lowest first, skipping a layer's last unit.
    Ties break by (layer, index), so the choice is deterministic.

    >>> choose_kept([np.array([3.0, 1.0, 2.0])], 0.34, "per_layer")
    [[0, 2]]
    """
    if scope == "per_layer":
        kept = []
        for s in scores:
            remove = min(round(fraction * len(s)), len(s) - 1)
            order = sorted(range(len(s)), key=lambda j, s=s: (s[j], j))
            kept.append(sorted(order[remove:]))
        return kept
    normalised = [s / (np.linalg.norm(s) or 1.0) for s in scores]
    units = sorted(((float(s[j]), i, j) for i, s in enumerate(normalised) for j in range(len(s))))
    to_remove = round(fraction * len(units))
    left = [len(s) for s in scores]
    removed: set[tuple[int, int]] = set()
    for _, i, j in units:
        if len(removed) >= to_remove:
            break
        if left[i] > 1:
            removed.add((i, j))
            left[i] -= 1
    return [[j for j in range(len(s)) if (i, j) not in removed] for i, s in enumerate(scores)]


# --- the method --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PruneStructuredParams(DistilSpec):
    """Which heads and neurons go, and the recovery distillation on the teacher's logits (DistilSpec's params)."""

    head_fraction: float = 0.0
    """Share of attention heads removed, in [0, 1); at least one head per layer always stays."""
    ffn_fraction: float = 0.0
    """Share of FFN intermediate neurons removed, in [0, 1); at least one of head_fraction/ffn_fraction is > 0."""
    scope: str = "global"
    """global (layer-normalised scores ranked over the whole encoder) or per_layer (the same share in each layer)."""
    importance: str = "taylor"
    """taylor (first-order gate gradient on training sentences, Michel et al. 2019) or magnitude (weight norms)."""
    importance_samples: int = 512
    """Training sentences (the first of the teacher-logits sample) the Taylor scores are averaged over."""
    max_train_samples: int | None = 4000
    """Recovery: sentences distilled on after pruning (the first N of the teacher-logits sample); 0: no recovery."""

    MIN_TRAIN_SAMPLES = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("head_fraction", "ffn_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise ValueError(f"{name}: {value!r} is out of range (a fraction in [0, 1))")
        if self.head_fraction == 0 and self.ffn_fraction == 0:
            raise ValueError("head_fraction: both head_fraction and ffn_fraction are 0; set one above 0")
        if self.scope not in SCOPES:
            raise ValueError(f"scope: '{self.scope}' is not one of {list(SCOPES)}")
        if self.importance not in IMPORTANCES:
            raise ValueError(f"importance: '{self.importance}' is not one of {list(IMPORTANCES)}")
        if isinstance(self.importance_samples, bool) or not isinstance(self.importance_samples, int):
            raise ValueError(f"importance_samples: {self.importance_samples!r} is not an integer")
        if self.importance_samples < 1:
            raise ValueError(f"importance_samples: {self.importance_samples} is out of range (must be >= 1)")


@METHODS.register
class PruneStructured(Method):
    """Remove the least important attention heads and FFN neurons physically, then recover by distillation."""

    NAME = "prune_structured"
    INPUT_FORMATS = frozenset({FORMAT_FP32, FORMAT_PRUNED})
    OUTPUT_FORMAT = FORMAT_PRUNED
    Params = PruneStructuredParams
    NEEDS_TEACHER_LOGITS = True

    def check(self, params: PruneStructuredParams, parent_arch: Arch | None) -> None:
        heads = (parent_arch or {}).get("num_attention_heads")
        if heads is not None and params.scope == "per_layer" and round(params.head_fraction * heads) >= heads:
            raise ValueError(
                f"head_fraction: {params.head_fraction} of {heads} heads per layer removes all of them; "
                "at least one head per layer stays (lower it)"
            )

    def derive_arch(self, parent_arch: Arch | None, params: PruneStructuredParams) -> Arch | None:
        if parent_arch is None:
            return None
        arch = {k: v for k, v in parent_arch.items() if k in ("num_hidden_layers", "hidden_size")}
        if params.scope == "per_layer":  # the same shape in every layer: still one number each
            for key, fraction in (
                ("num_attention_heads", params.head_fraction),
                ("intermediate_size", params.ffn_fraction),
            ):
                if key in parent_arch:
                    arch[key] = parent_arch[key] - min(round(fraction * parent_arch[key]), parent_arch[key] - 1)
        return arch

    def apply(self, parent: Any, params: PruneStructuredParams, ctx: BuildContext) -> Any:
        import time

        from suite.distill import distil, student_training_data

        module = parent.module
        before = sum(p.numel() for p in module.parameters())
        start = time.perf_counter()
        sample = max(params.importance_samples, params.max_train_samples or 0)
        texts, labels, logits, meta = student_training_data(ctx, sample)
        max_length = params.max_length or int(meta["max_length"])
        if params.importance == "taylor":
            n = params.importance_samples
            heads, neurons = taylor_importance(module, parent.tokenizer, texts[:n], labels[:n], 32, max_length)
        else:
            heads, neurons = magnitude_importance(module)
        keep_heads = (
            choose_kept(heads, params.head_fraction, params.scope)
            if params.head_fraction > 0
            else [list(range(len(h))) for h in heads]
        )
        keep_neurons = (
            choose_kept(neurons, params.ffn_fraction, params.scope)
            if params.ffn_fraction > 0
            else [list(range(len(n))) for n in neurons]
        )
        prune_encoder(module, keep_heads, keep_neurons)
        after = sum(p.numel() for p in module.parameters())
        ctx.info["pruning"] = {
            "importance": params.importance,
            "importance_samples": params.importance_samples if params.importance == "taylor" else 0,
            "scope": params.scope,
            "kept_heads": keep_heads,
            "heads_per_layer": [len(h) for h in keep_heads],
            "intermediate_per_layer": [len(n) for n in keep_neurons],
            "head_scores": [np.round(h, 6).tolist() for h in heads],
            "params_before": before,
            "params_after": after,
            "seconds": round(time.perf_counter() - start, 1),
        }
        recovery = params.max_train_samples or 0
        if recovery > 0:
            ctx.info["training"] = distil(
                module,
                parent.tokenizer,
                texts[:recovery],
                labels[:recovery],
                logits[:recovery],
                params,
                ctx.cfg.seed,
                max_length=max_length,
            )
        ctx.info["teacher_logits"] = {k: meta.get(k) for k in ("teacher_artefact_sha256", "sample_size", "max_length")}
        return module.eval()


@FORMATS.register
class PrunedFormat(ArtefactFormat):
    """The structurally pruned FP32 torch model."""

    NAME = FORMAT_PRUNED
    save = staticmethod(save_pruned)
    load = staticmethod(_load_pruned)
