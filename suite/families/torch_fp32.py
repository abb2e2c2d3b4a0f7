"""The full-precision torch format both families save their teachers in: `save_pretrained` safetensors of any
transformers model, loaded with the auto class of the family its config's `architectures` names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from suite.families.base import family_of_model_config
from suite.formats import FORMAT_FP32, FORMATS, ArtefactFormat


def _save_fp32(module: Any, directory: Path) -> None:
    module.save_pretrained(str(directory), safe_serialization=True)


def _load_fp32(directory: Path, tokenizer: Any) -> Any:
    import transformers
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False)
    family = family_of_model_config(config)
    module = getattr(transformers, family.AUTO_CLASS).from_pretrained(
        str(directory), local_files_only=True, use_safetensors=True, trust_remote_code=False
    )
    return family.wrap(module, tokenizer, FORMAT_FP32)


@FORMATS.register
class Fp32Format(ArtefactFormat):
    """FP32 safetensors of a classifier or a causal LM (what `save_pretrained` writes)."""

    NAME = FORMAT_FP32
    save = staticmethod(_save_fp32)
    load = staticmethod(_load_fp32)
