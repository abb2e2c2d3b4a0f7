"""Compression methods; importing this package registers them all (none imports torch at import time)."""

from suite.compress import cast, dynamic_quant, import_model, prune_unstructured  # noqa: F401  (registration)
from suite.compress.base import METHODS, BuildContext, Method

__all__ = ["METHODS", "BuildContext", "Method"]
