"""Compressed-model benchmark suite: build variants of a teacher, evaluate tasks, measure, rank and render."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("compressed-model-suite")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+src"
