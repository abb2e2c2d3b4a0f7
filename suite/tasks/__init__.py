"""Task kinds and generators. Their registries import the modules that implement them on first use (no torch import)."""

from suite.tasks.base import GENERATORS, TASK_KINDS, TaskKind, load_task_data

__all__ = ["GENERATORS", "TASK_KINDS", "TaskKind", "load_task_data"]
