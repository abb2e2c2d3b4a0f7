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
LLM = "llm"  # causal language models (suite/families/llm.py)

# Every system measurement `suite.measure` knows, in the order it runs them (per_token: the llm family's TTFT/TPOT).
ALL_MEASUREMENTS = ("size", "latency", "throughput", "flops", "profile", "per_token", "memory", "energy")


class ModelFamily(ABC):
    NAME: ClassVar[str]
    DESCRIPTION: ClassVar[str]
    FULL_PRECISION_FORMAT: ClassVar[str]  # the format the teacher is saved in (suite.formats)
    MEASUREMENTS: ClassVar[tuple[str, ...]]  # which of ALL_MEASUREMENTS apply to this family's variants
    AUTO_CLASS: ClassVar[str]  # the transformers auto class that builds the family's models from a config
    ARCHITECTURE_SUFFIX: ClassVar[str]  # config.json "architectures" of the family's models end with it

    @abstractmethod
    def wrap(self, module: Any, tokenizer: Any, fmt: str, runner: Any = None) -> Any:
        """A loaded torch module behind the family's interface (what tasks and timers call)."""

    @abstractmethod
    def teacher_arch(self, source: ModelSource) -> dict[str, int] | None:
        """The teacher's shape (layers, heads, widths) for checks at workflow load; None where it is unknown offline."""

    def teacher_vocab_size(self, source: ModelSource) -> int | None:
        """The number of tokens of the teacher's tokenizer, read offline without loading it (what a submitted
        model's vocab_size must reach); None where it is unknown offline or the family takes no submitted weights."""
        return None

    @abstractmethod
    def build_teacher(
        self, cfg: SuiteConfig, train_task: TaskSpec | None, train_data: TaskData | None
    ) -> tuple[Any, Any, dict[str, Any] | None]:
        """(what FULL_PRECISION_FORMAT saves, tokenizer, what the build records in variant.json's `build`, e.g. the
        training log or the source's quantisation, or None) for the config's teacher."""


# Every module of suite/families/ registers its family; the registry imports them all on first use.
FAMILIES: Registry[type[ModelFamily]] = Registry("model family", plugins=("suite.families",))


def family_of_model_config(config: Any, module: Any = None) -> ModelFamily:
    """The family whose models a transformers config describes (by its `architectures`, or the class of `module` for
    a model built in memory, whose config names none until it is saved), e.g. for a format's loader that serves more
    than one family."""
    architectures = list(getattr(config, "architectures", None) or [])
    if module is not None:
        architectures.append(type(module).__name__)
    for name in FAMILIES.names():
        family = FAMILIES.get(name)()
        if any(a.endswith(family.ARCHITECTURE_SUFFIX) for a in architectures):
            return family
    raise ValueError(f"no model family has architectures {architectures}")


def model_from_config(config: Any) -> tuple[Any, ModelFamily]:
    """An untrained module of the config's architecture (weights assigned by the caller) and its family."""
    import transformers

    family = family_of_model_config(config)
    return getattr(transformers, family.AUTO_CLASS).from_config(config), family
