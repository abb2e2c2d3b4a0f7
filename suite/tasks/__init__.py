"""Task kinds and generators; importing this package registers them (no torch import at import time)."""

from suite.tasks import checklist, classification, fairness, perturbation, stability  # noqa: F401  (registration)
from suite.tasks.base import GENERATORS, TASK_KINDS, TaskKind

__all__ = ["GENERATORS", "TASK_KINDS", "TaskKind"]
