"""Model families: what kind of model a run benchmarks, and so which loader, task kinds, methods and trackers apply."""

from suite.families.base import CLASSIFIER, FAMILIES, ModelFamily

__all__ = ["CLASSIFIER", "FAMILIES", "ModelFamily"]
