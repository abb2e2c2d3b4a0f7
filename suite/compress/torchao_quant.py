"""torchao INT8 quantisation of Linear layers (the maintained PyTorch path) and its safetensors format "torchao-int8".

Two methods: `torchao_int8_dynamic` (Int8DynamicActivationInt8WeightConfig: int8 weights per output channel,
activations quantised per token on the fly) and `torchao_int8_weight_only` (Int8WeightOnlyConfig). torchao keeps the
nn.Linear modules and swaps their weights for `Int8Tensor` subclasses, so the artefact stores each weight's int8
data, scales and zero points as plain tensors, with JSON metadata that names the tensor class and its attributes
(torchao's own safetensors flattening, which rebuilds only an allow-list of classes: no pickle, no code). The loader
rebuilds the float model from config.json and assigns the stored tensors: the round trip is bit-exact.

With `compile: true` the loaded variant runs through `torch.compile(dynamic=True)`; compilation happens on the first
forward of every process that loads the variant, once for batch 1 and once for larger batches (dynamic shapes: no
recompile across sequence lengths); measured on 2 cores, 45 s per graph with a cold inductor cache, 15 s warm.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from suite.compress.base import METHODS, Method
from suite.compress.structured_prune import apply_layout_if_pruned, write_layout_if_pruned
from suite.families import CLASSIFIER, LLM, model_from_config
from suite.formats import FORMAT_FP32, FORMAT_HALF, FORMAT_PRUNED, FORMATS, ArtefactFormat
from suite.models import WEIGHTS_FILE, TorchClassifier
from suite.provenance import canonical_safetensors

FORMAT_TORCHAO_INT8 = "torchao-int8"
# parent formats both methods can quantise (a half-precision parent keeps its dtype for what stays float)
INPUT_FORMATS = frozenset({FORMAT_FP32, FORMAT_PRUNED, FORMAT_HALF})
QUANT_JSON = "quantization.json"
CONFIGS = ("Int8DynamicActivationInt8WeightConfig", "Int8WeightOnlyConfig")  # what the format can rebuild
HEAD_NAMES = frozenset({"classifier", "pre_classifier", "lm_head"})  # module-name parts of an output head
# Safetensors metadata keys the suite adds next to torchao's own (one key per tensor name, plus "tensor_names").
META_FORMAT, META_CONFIG, META_VERSION = "suite.format", "suite.torchao_config", "suite.torchao_version"


def import_torchao() -> Any:
    """The torchao package (its harmless CPU-machine log lines are filtered, see above)."""
    import torchao
    import torchao.quantization

    return torchao


def _safetensors_support() -> Any:
    """torchao's safetensors (de)serialisation of its tensor subclasses (an allow-list of classes, no pickle)."""
    from torchao.prototype.safetensors import safetensors_support

    return safetensors_support


def _config(name: str) -> Any:
    """A torchao config by class name; inductor settings are left alone (they are process-wide, see the loader)."""
    quantization = import_torchao().quantization
    return getattr(quantization, name)(set_inductor_config=False)


def _is_head(name: str) -> bool:
    return bool(HEAD_NAMES & set(name.split(".")))


def quantize_linears(module: Any, config_name: str, include_classifier: bool) -> list[str]:
    """Quantise the module's nn.Linear layers in place with torchao's `quantize_`; the names of those quantised."""
    import torch

    quantization = import_torchao().quantization
    selected = sorted(
        name
        for name, layer in module.named_modules()
        if isinstance(layer, torch.nn.Linear) and (include_classifier or not _is_head(name))
    )
    chosen = set(selected)
    quantization.quantize_(module, _config(config_name), filter_fn=lambda _layer, fqn: fqn in chosen)
    return selected


def _torchao_tensors(value: Any) -> list[Any]:
    """The plain tensors inside a torchao tensor subclass (int8 data, scales, zero points, …)."""
    names = [*value.tensor_data_names, *getattr(value, "optional_tensor_data_names", [])]
    return [t for t in (getattr(value, n, None) for n in names) if t is not None]


def _is_torchao(value: Any) -> bool:
    from torchao.utils import TorchAOBaseTensor

    return isinstance(value, TorchAOBaseTensor)


def torchao_weight_stats(module: Any) -> dict[str, float]:
    """As suite.trackers.weights.torch_weight_stats, with torchao weights at the bytes of their int8 data + scales
    (+ zero points) and their zeros counted where the int value equals the zero point (dequantised value is 0)."""
    import torch

    import_torchao()
    total_bytes = param_count = nonzero = 0
    state, _ = _untied_state(module)  # a tied lm_head counts once
    for key, value in state.items():
        if _is_torchao(value):
            total_bytes += sum(t.numel() * t.element_size() for t in _torchao_tensors(value))
            param_count += value.numel()
            nonzero += int(torch.count_nonzero(value.dequantize()))
            continue
        total_bytes += value.numel() * value.element_size()
        if value.is_floating_point() and not key.endswith(("position_ids", "token_type_ids")):
            param_count += value.numel()
            nonzero += int(torch.count_nonzero(value))
    linear_zero = linear_total = 0
    for layer in module.modules():
        if isinstance(layer, torch.nn.Linear):
            weight = layer.weight.detach()
            weight = weight.dequantize() if _is_torchao(weight) else weight
            linear_total += weight.numel()
            linear_zero += int(weight.numel() - torch.count_nonzero(weight))
    return {
        "param_mb": total_bytes / float(1 << 20),
        "param_count": float(param_count),
        "nonzero_param_count": float(nonzero),
        "sparsity": 100.0 * linear_zero / linear_total if linear_total else 0.0,
    }


def torchao_forward_flops(module: Any, encoding: dict[str, Any]) -> int:
    """FLOPs of one forward pass (a MAC counts 2): PyTorch's flop counter, with every Linear whose weight is a torchao
    tensor counted by shape (2·m·k·n) instead. The counter misses torchao's int8 matmul (`aten._int_mm`), and in the
    weight-only path it sees the matmul on the upcast weight; counting by shape gives both paths the FP32 count."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from suite.trackers.flops import extra_flop_formulas

    import_torchao()
    counter = FlopCounterMode(display=False, custom_mapping=extra_flop_formulas())
    seen_before: dict[int, int] = {}
    by_shape = 0

    def before(layer: Any, _inputs: tuple[Any, ...]) -> None:
        seen_before[id(layer)] = counter.get_total_flops()

    def after(layer: Any, inputs: tuple[Any, ...], _output: Any) -> None:
        nonlocal by_shape
        x = inputs[0]
        counted_inside = counter.get_total_flops() - seen_before.pop(id(layer))
        by_shape += 2 * (x.numel() // x.shape[-1]) * layer.in_features * layer.out_features - counted_inside

    layers = [m for m in module.modules() if isinstance(m, torch.nn.Linear) and _is_torchao(m.weight)]
    hooks = [h for m in layers for h in (m.register_forward_pre_hook(before), m.register_forward_hook(after))]
    try:
        with torch.inference_mode(), counter:
            module(**encoding)
    finally:
        for hook in hooks:
            hook.remove()
    return int(counter.get_total_flops()) + by_shape


class TorchaoClassifier(TorchClassifier):
    """A torchao-quantised module (eager, or torch.compile'd through `runner`): weight bytes and FLOPs that see
    through torchao's tensor subclasses."""

    def forward(self, encoding: dict[str, Any]) -> Any:
        # not `self.runner or self.module`: a torch.compile'd module raises TypeError when asked for its truth value
        runner = self.runner if self.runner is not None else self.module
        return runner(**encoding).logits

    def weight_stats(self) -> dict[str, float]:
        return torchao_weight_stats(self.module)

    def flops(self, encoding: dict[str, Any]) -> tuple[int, str]:
        return (
            torchao_forward_flops(self.module, encoding),
            "torch.utils.flop_counter (+ torchao INT8 Linear layers by shape), eager module",
        )


@dataclass(frozen=True)
class TorchaoInt8Params:
    include_classifier: bool = True
    """Quantise the output head too (classification head, or a causal LM's lm_head; the seed's INT8 quantised every
    Linear layer)."""
    compile: bool = False
    """Run the loaded variant through torch.compile(dynamic=True); every loading process compiles on first use."""

    def __post_init__(self) -> None:
        for name in ("include_classifier", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: {getattr(self, name)!r} is not a boolean (true or false)")


@dataclass
class TorchaoInt8Built:
    """What the torchao methods build and the "torchao-int8" saver writes."""

    module: Any
    config: str
    modules: list[str]
    compile: bool


class _TorchaoInt8(Method):
    CONFIG: ClassVar[str]
    INPUT_FORMATS = INPUT_FORMATS
    OUTPUT_FORMAT = FORMAT_TORCHAO_INT8
    Params = TorchaoInt8Params
    FAMILIES = frozenset({CLASSIFIER, LLM})

    def apply(self, parent: Any, params: TorchaoInt8Params, ctx: Any) -> TorchaoInt8Built:
        module = parent.module.eval()
        quantised = quantize_linears(module, self.CONFIG, params.include_classifier)
        return TorchaoInt8Built(module=module, config=self.CONFIG, modules=quantised, compile=params.compile)


@METHODS.register
class TorchaoInt8Dynamic(_TorchaoInt8):
    """torchao INT8 weights (per output channel) and INT8 activations quantised per token at run time."""

    NAME = "torchao_int8_dynamic"
    CONFIG = "Int8DynamicActivationInt8WeightConfig"


@METHODS.register
class TorchaoInt8WeightOnly(_TorchaoInt8):
    """torchao INT8 weights (per output channel), FP32 activations: the weight is upcast inside each matmul."""

    NAME = "torchao_int8_weight_only"
    CONFIG = "Int8WeightOnlyConfig"


def _save_torchao_int8(built: TorchaoInt8Built, directory: Path) -> None:
    """int8 data, scales and zero points as plain safetensors tensors; metadata names each tensor's torchao class and
    attributes, the config and the torchao version; quantization.json says the same for people and the runtime."""
    from safetensors.torch import save_file

    torchao = import_torchao()
    state, tied = _untied_state(built.module)
    tensors, metadata = _safetensors_support().flatten_tensor_state_dict(state)
    metadata.update({META_FORMAT: FORMAT_TORCHAO_INT8, META_CONFIG: built.config, META_VERSION: torchao.__version__})
    built.module.config.architectures = [type(built.module).__name__]  # what save_pretrained records; the loader
    built.module.config.save_pretrained(str(directory))  # builds the model (and picks its family) from it
    write_layout_if_pruned(built.module, directory)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(directory / WEIGHTS_FILE), metadata=metadata)
    canonical_safetensors(directory / WEIGHTS_FILE)  # its many metadata keys in one order: a reproducible sha256
    (directory / QUANT_JSON).write_text(
        json.dumps(
            {
                "scheme": f"torchao {built.config}, int8 per output channel, symmetric",
                "torchao_config": built.config,
                "torchao_version": torchao.__version__,
                "modules": built.modules,
                "tied": tied,
                "runtime": {"compile": built.compile, "dynamic_shapes": built.compile},
            },
            indent=2,
        )
        + "\n"
    )


def _untied_state(module: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The state dict with each tensor once (a causal LM's lm_head tied to its float embeddings is stored under the
    embedding's name only), and {dropped name: the name it is tied to} for the loader to tie again."""
    state, tied, seen = {}, {}, {}
    for key, value in module.state_dict().items():
        if not _is_torchao(value):
            where = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape))
            if where in seen:
                tied[key] = seen[where]
                continue
            seen[where] = key
        state[key] = value.detach()
    return state, tied


def _major_minor(version: str) -> str:
    return ".".join(version.split("+")[0].split(".")[:2])


def _load_torchao_int8(directory: Path, tokenizer: Any) -> Any:
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file
    from transformers import AutoConfig

    torchao = import_torchao()
    weights = directory / WEIGHTS_FILE
    with safe_open(str(weights), framework="pt") as handle:
        metadata = dict(handle.metadata() or {})
    if metadata.get(META_FORMAT) != FORMAT_TORCHAO_INT8 or metadata.get(META_CONFIG) not in CONFIGS:
        raise ValueError(
            f"{weights}: metadata {META_FORMAT}={metadata.get(META_FORMAT)!r}, {META_CONFIG}="
            f"{metadata.get(META_CONFIG)!r} is not a {FORMAT_TORCHAO_INT8} artefact of {list(CONFIGS)}; rebuild it"
        )
    saved_version = metadata[META_VERSION]
    if _major_minor(saved_version) != _major_minor(torchao.__version__):
        raise ValueError(
            f"{weights}: written by torchao {saved_version}, but torchao {torchao.__version__} is installed; its "
            f"tensor layout may differ: install torchao=={saved_version} or rebuild the variant"
        )
    quant = json.loads((directory / QUANT_JSON).read_text())
    runtime, tied = quant["runtime"], quant.get("tied", {})
    tensors_meta = {k: v for k, v in metadata.items() if not k.startswith("suite.")}
    state, leftover = _safetensors_support().unflatten_tensor_state_dict(load_file(str(weights)), tensors_meta)
    if leftover:
        raise ValueError(f"{weights}: tensors {sorted(leftover)[:5]} belong to no weight in its metadata")
    config = AutoConfig.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False)
    module, family = model_from_config(config)
    module = apply_layout_if_pruned(module, directory).eval()
    # assign=True puts the Int8Tensor weights in place of the float parameters (a copy into them would dequantise)
    missing, unexpected = module.load_state_dict(state, strict=False, assign=True)
    if sorted(missing) != sorted(tied) or unexpected:
        raise ValueError(f"{weights}: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}; rebuild it")
    if tied:  # stored once under the name they are tied to: tie them again
        module.tie_weights()
        for key, target in tied.items():
            if module.get_parameter(key) is not module.get_parameter(target):
                raise ValueError(f"{weights}: {key} is recorded as tied to {target}, but the model does not tie them")
    module.requires_grad_(False)
    runner = None
    if runtime["compile"]:
        # what torchao's configs set when they quantise, left out at build time because it is process-wide: the
        # loading process is this variant's own
        from torchao.quantization.utils import recommended_inductor_config_setter

        recommended_inductor_config_setter()
        with warnings.catch_warnings():  # torch.compile's first use imports torch.utils.mkldnn, which uses torch.jit
            warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit\.script_method.*")
            runner = torch.compile(module, dynamic=True)
        # Each first forward warns that Int8Tensor has no stable hash for AOT autograd's cache: it is why a warm
        # inductor cache still costs ~15 s per graph on 2 cores; a known torchao limit, not worth a line per load
        warnings.filterwarnings("ignore", category=UserWarning, message=r".*_stable_hash_for_caching.*")
    if family.NAME == CLASSIFIER:  # the classifier's interface counts FLOPs, which need torchao's own view
        return TorchaoClassifier(module=module, tokenizer=tokenizer, format=FORMAT_TORCHAO_INT8, runner=runner)
    model = family.wrap(module, tokenizer, FORMAT_TORCHAO_INT8, runner)
    model.stats = torchao_weight_stats
    return model


@FORMATS.register
class TorchaoInt8Format(ArtefactFormat):
    """The torchao INT8 torch model."""

    NAME = FORMAT_TORCHAO_INT8
    save = staticmethod(_save_torchao_int8)
    load = staticmethod(_load_torchao_int8)
