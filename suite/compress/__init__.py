"""Compression methods; importing this package registers them all (none imports torch at import time)."""

from suite.compress import cast, dynamic_quant, import_model, prune_unstructured  # noqa: F401  (registration)
from suite.compress import onnx as onnx_runtime  # noqa: F401  (registration: ONNX export, ORT INT8, format onnx)
from suite.compress.base import METHODS, BuildContext, Method

__all__ = ["METHODS", "BuildContext", "Method"]
