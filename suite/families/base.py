"""A model family: a NAME, its full-precision format, its teacher build and the measurements that apply to it.

The family is the seam a second kind of model (causal language models next to today's classifiers) plugs into. The
plan layer asks it, never an `if kind ==` in the pipeline: a task kind or a method applies to a run when its
`FAMILIES` names the run's family (`config.family`); the teacher is built by the family; the family's format loads
every full-precision artefact; `MEASUREMENTS` says which system trackers measure its variants.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from suite.registry import Registry

if TYPE_CHECKING:
    from suite.data import TaskData
    from suite.specs import ModelSource, SuiteConfig, TaskSpec

CLASSIFIER = "classifier"  # the family every method and task kind written before the second family serves

# Every system measurement `suite.measure` knows, in the order it runs them.
ALL_MEASUREMENTS = ("size", "latency", "throughput", "flops", "memory", "energy")


class ModelFamily(ABC):
    NAME: ClassVar[str]
    DESCRIPTION: ClassVar[str]
    FULL_PRECISION_FORMAT: ClassVar[str]  # the format the teacher is saved in (suite.formats)
    MEASUREMENTS: ClassVar[tuple[str, ...]]  # which of ALL_MEASUREMENTS apply to this family's variants

    @abstractmethod
    def teacher_arch(self, source: ModelSource) -> dict[str, int] | None:
        """The teacher's shape (layers, heads, widths) for checks at workflow load; None where it is unknown offline."""

    @abstractmethod
    def build_teacher(
        self, cfg: SuiteConfig, train_task: TaskSpec | None, train_data: TaskData | None
    ) -> tuple[Any, Any, dict[str, Any] | None]:
        """(what FULL_PRECISION_FORMAT saves, tokenizer, training log or None) for the config's teacher."""


# Every module of suite/families/ registers its family; the registry imports them all on first use.
FAMILIES: Registry[type[ModelFamily]] = Registry("model family", plugins=("suite.families",))
