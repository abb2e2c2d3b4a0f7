"""Compression methods; importing this package registers them all (none imports torch at import time)."""

from suite.compress import (  # noqa: F401  (registration of the methods and of the formats they write)
    cast,
    distill,
    dynamic_quant,
    import_model,
    onnx,
    prune_unstructured,
    sparse24,
    structured_prune,
    torchao_quant,
)
from suite.compress.base import METHODS, BuildContext, Method

__all__ = ["METHODS", "BuildContext", "Method"]
