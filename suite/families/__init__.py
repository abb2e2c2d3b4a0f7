"""Model families: what kind of model a run benchmarks, and so which loader, task kinds, methods and trackers apply."""

from suite.families.base import CLASSIFIER, FAMILIES, LLM, ModelFamily, family_of_model_config, model_from_config

__all__ = ["CLASSIFIER", "FAMILIES", "LLM", "ModelFamily", "family_of_model_config", "model_from_config"]
