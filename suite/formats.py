"""Artefact formats: how each kind of variant is written to and read from disk (one saver and one loader each).

A saver writes the weights (and model config) of what a method built into a directory; `suite.artefacts.save_artefact`
adds the tokenizer and variant.json. A loader returns a `suite.models.Classifier` for a directory. Formats register
themselves where they are implemented (suite/artefacts.py for torch eager formats, suite/compress/* for the others).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from suite.registry import Registry

FORMAT_FP32 = "torch-fp32"
FORMAT_DYNAMIC_INT8 = "torch-dynamic-int8"
FORMAT_HALF = "torch-half"  # float16 or bfloat16 safetensors; the dtype is in config.json and variant.json
FORMAT_PRUNED = "torch-pruned"  # FP32, heads/FFN neurons removed; pruning.json has the shapes (structured_prune)
FORMAT_ONNX = "onnx"  # model.onnx (+ external data), run by ONNX Runtime (suite/compress/onnx)

# Formats whose kernels exist on CPU only (refused at workflow load when the config asks for device: cuda).
CPU_ONLY_FORMATS = {FORMAT_DYNAMIC_INT8: "torch.ao dynamic INT8 kernels (fbgemm/qnnpack) run on CPU only"}

Saver = Callable[[Any, Path], None]  # (what Method.apply built, directory)
Loader = Callable[[Path, Any], Any]  # (directory, tokenizer) -> Classifier

SAVERS: Registry[Saver] = Registry("artefact format")
LOADERS: Registry[Loader] = Registry("artefact format")
