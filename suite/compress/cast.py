"""Half-precision casts (FP16, BF16) of every floating-point weight: the variants NaN/inf stability is run on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.compress.base import METHODS, Method
from suite.families import CLASSIFIER, LLM, family_of_model_config
from suite.formats import FORMAT_FP32, FORMAT_HALF, FORMATS, ArtefactFormat
from suite.models import WEIGHTS_FILE

DTYPES = ("float16", "bfloat16")


@dataclass(frozen=True)
class CastParams:
    dtype: str = "float16"
    """Target dtype of every floating-point parameter and buffer: float16 or bfloat16."""

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype: '{self.dtype}' is not supported (use one of {list(DTYPES)})")


@METHODS.register
class Cast(Method):
    """Cast all floating-point weights to float16 or bfloat16 (inference in that dtype; logits read back as FP32)."""

    NAME = "cast"
    INPUT_FORMATS = frozenset({FORMAT_FP32})
    OUTPUT_FORMAT = FORMAT_HALF
    Params = CastParams
    FAMILIES = frozenset({CLASSIFIER, LLM})

    def apply(self, parent: Any, params: CastParams, ctx: Any) -> Any:
        import torch

        return parent.module.to(getattr(torch, params.dtype)).eval()


# --- the artefact format -----------------------------------------------------------------------------------------


def _save_half(module: Any, directory: Path) -> None:
    """float16/bfloat16 safetensors as they are (half the FP32 size); config.json records the dtype."""
    module.save_pretrained(str(directory), safe_serialization=True)


def _load_half(directory: Path, tokenizer: Any) -> Any:
    import torch
    import transformers
    from safetensors import safe_open
    from transformers import AutoConfig

    # the dtype is read from the weights themselves, so a config without `dtype` cannot silently upcast to FP32
    with safe_open(str(directory / WEIGHTS_FILE), framework="pt") as weights:
        dtypes = {weights.get_slice(k).get_dtype() for k in weights.keys()}  # noqa: SIM118  (safe_open is no dict)
    floating = sorted(d for d in dtypes if d in ("F16", "BF16"))
    if len(floating) != 1:
        raise ValueError(f"{directory / WEIGHTS_FILE}: expected float16 or bfloat16 weights, found {sorted(dtypes)}")
    dtype = torch.float16 if floating[0] == "F16" else torch.bfloat16
    family = family_of_model_config(AutoConfig.from_pretrained(str(directory), local_files_only=True))
    module = getattr(transformers, family.AUTO_CLASS).from_pretrained(
        str(directory), local_files_only=True, use_safetensors=True, trust_remote_code=False, dtype=dtype
    )
    return family.wrap(module, tokenizer, FORMAT_HALF)


@FORMATS.register
class HalfFormat(ArtefactFormat):
    """float16 or bfloat16 safetensors of a classifier or causal LM, loaded in the dtype the weights hold."""

    NAME = FORMAT_HALF
    save = staticmethod(_save_half)
    load = staticmethod(_load_half)
