"""A submitted model's own weights (a community entry): safetensors from a local directory or a pinned Hub commit.

Nothing of the submission runs: only config.json and model.safetensors are read (for the Hub, only those two files
are downloaded), their sha256 and size are checked before the weights are loaded, `trust_remote_code` is False and
the architecture must be one transformers ships. The teacher's tokenizer is used, so the model must share its
vocabulary; its labels are the teacher's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.compress.base import METHODS, Method
from suite.formats import FORMAT_FP32

HUB_FILES = ("config.json", "model.safetensors")


@dataclass(frozen=True)
class ImportParams:
    source: str
    """'local' (a directory) or 'hub' (a repository at a pinned commit)."""
    sha256: str
    """sha256 of model.safetensors, checked before the weights are read."""
    path: str | None = None
    """source=local: the directory holding config.json and model.safetensors."""
    repo: str | None = None
    """source=hub: the repository id, owner/name."""
    revision: str | None = None
    """source=hub: the full 40-hex commit."""
    max_weights_mb: float = 1024.0
    """Size limit of model.safetensors in MiB (config entries.max_weights_mb)."""

    def __post_init__(self) -> None:
        if self.source not in ("local", "hub"):
            raise ValueError(f"source: '{self.source}' is neither 'local' nor 'hub'")
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256 or ""):
            raise ValueError(f"sha256: '{self.sha256}' is not 64 lower-case hex digits")
        if self.source == "local" and not self.path:
            raise ValueError("path: a local source needs the directory of its weights")
        if self.source == "hub":
            if not self.repo:
                raise ValueError("repo: a Hub source needs the repository id")
            if not re.fullmatch(r"[0-9a-f]{40}", self.revision or ""):
                raise ValueError(f"revision: '{self.revision}' is not pinned (give the full 40-hex commit)")
        if not self.max_weights_mb > 0:
            raise ValueError(f"max_weights_mb: {self.max_weights_mb} is not positive")


def fetch_hub(params: ImportParams, cache_dir: str | None = None) -> Path:
    """Download config.json and model.safetensors of repo@revision, refusing an oversized file before download."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    url = hf_hub_url(params.repo, "model.safetensors", revision=params.revision)
    size = get_hf_file_metadata(url).size
    if size is not None and size > params.max_weights_mb * 2**20:
        raise ValueError(
            f"{params.repo}@{params.revision}: model.safetensors is {size / 2**20:.1f} MiB, over the size limit of "
            f"{params.max_weights_mb:g} MiB (config entries.max_weights_mb)"
        )
    paths = [hf_hub_download(params.repo, name, revision=params.revision, cache_dir=cache_dir) for name in HUB_FILES]
    return Path(paths[-1]).parent


@METHODS.register
class ImportModel(Method):
    """A submitted model's own safetensors weights (local or pinned Hub commit) with the teacher's tokenizer."""

    NAME = "import"
    INPUT_FORMATS = frozenset({FORMAT_FP32})  # the parent is the teacher: its tokenizer and labels are used
    OUTPUT_FORMAT = FORMAT_FP32
    Params = ImportParams

    def derive_arch(self, parent_arch: Any, params: ImportParams) -> Any:
        return None  # the submission's own architecture, known once its config is read

    def apply(self, parent: Any, params: ImportParams, ctx: Any) -> Any:
        from suite.entries import check_weights_dir
        from suite.models import load_source_model
        from suite.specs import ModelSource

        label = f"entry '{ctx.variant_id}'"
        directory = Path(params.path or "") if params.source == "local" else fetch_hub(params)
        problems = check_weights_dir(directory, params.sha256, params.max_weights_mb)
        if problems:
            raise ValueError("; ".join(p.message(label) for p in problems))
        config = parent.module.config
        labels = {int(k): v for k, v in config.id2label.items()}
        source = ModelSource(kind="local", path=str(directory), sha256=params.sha256)
        module = load_source_model(source, labels, ctx.cfg.seed, label=label, field="model")
        vocabulary = len(parent.tokenizer)
        if getattr(module.config, "vocab_size", vocabulary) < vocabulary:
            raise ValueError(
                f"{label}: the model's vocab_size {module.config.vocab_size} is smaller than the teacher tokenizer's "
                f"{vocabulary} tokens; entries use the teacher's tokenizer"
            )
        where = f"{params.repo}@{params.revision}" if params.source == "hub" else str(directory)
        ctx.info["import"] = {"source": params.source, "from": where, "sha256": params.sha256}
        return module.eval()
