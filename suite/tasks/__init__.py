"""Task kinds; importing this package registers them (no torch import at import time)."""

from suite.tasks import classification  # noqa: F401  (registration)
from suite.tasks.base import TASK_KINDS, TaskKind

__all__ = ["TASK_KINDS", "TaskKind"]
