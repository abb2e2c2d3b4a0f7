"""Artefact formats: how each kind of variant is written to and read from disk (one saver and one loader each).

A format's `save` writes the weights (and model config) of what a method built into a directory;
`suite.artefacts.save_artefact` adds the tokenizer and variant.json. Its `load` returns the model family's interface
(`suite.models.Classifier` for the classifier family) for a directory. Each format lives beside what writes it: the
family's full-precision format with the family (suite/families/), every other beside its method (suite/compress/).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from suite.registry import Registry

FORMAT_FP32 = "torch-fp32"
FORMAT_DYNAMIC_INT8 = "torch-dynamic-int8"
FORMAT_HALF = "torch-half"  # float16 or bfloat16 safetensors; the dtype is in config.json and variant.json
FORMAT_PRUNED = "torch-pruned"  # FP32, heads/FFN neurons removed; pruning.json has the shapes (structured_prune)
FORMAT_ONNX = "onnx"  # model.onnx (+ external data), run by ONNX Runtime (suite/compress/onnx)
FORMAT_GGUF = "gguf-llamacpp"  # model.gguf, run by llama.cpp's Python bindings (suite/compress/gguf_llamacpp.py)

# Formats whose kernels exist on CPU only (refused at workflow load when the config asks for device: cuda).
CPU_ONLY_FORMATS = {
    FORMAT_DYNAMIC_INT8: "torch.ao dynamic INT8 kernels (fbgemm/qnnpack) run on CPU only",
    FORMAT_GGUF: "the suite runs llama.cpp through its CPU build (the .[gguf] extra compiles no GPU backend)",
}


class ArtefactFormat(ABC):
    """How one kind of artefact is written and read: a NAME (recorded in variant.json), `save` and `load`."""

    NAME: ClassVar[str]

    @staticmethod
    @abstractmethod
    def save(built: Any, directory: Path) -> None:
        """Write what `Method.apply` built into `directory` (weights and model config; not the tokenizer)."""

    @staticmethod
    @abstractmethod
    def load(directory: Path, tokenizer: Any) -> Any:
        """The model in `directory` behind its family's interface (a `suite.models.Classifier` for classifiers)."""


# A format lives beside what writes it: a family's full-precision format with the family, the others with methods.
FORMATS: Registry[type[ArtefactFormat]] = Registry("artefact format", plugins=("suite.families", "suite.compress"))
