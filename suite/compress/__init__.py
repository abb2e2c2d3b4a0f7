"""Compression methods. The METHODS registry imports the modules that implement them on first use (no torch import)."""

from suite.compress.base import METHODS, BuildContext, Method

__all__ = ["METHODS", "BuildContext", "Method"]
