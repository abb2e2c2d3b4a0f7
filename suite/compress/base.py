"""A compression method: a NAME, the artefact formats it reads and writes, validated params, and one `apply`."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from suite.data import load_split
from suite.errors import SuiteInputError
from suite.families.base import CLASSIFIER
from suite.registry import Registry
from suite.tasks.base import load_task_data

if TYPE_CHECKING:
    from suite.data import TaskData
    from suite.models import Classifier
    from suite.specs import SuiteConfig

# The architecture facts methods validate against at workflow load (from the teacher's model config, then passed
# down the chain through `derive_arch`): num_hidden_layers, num_attention_heads, hidden_size, intermediate_size.
Arch = dict[str, int]


@dataclass
class BuildContext:
    """What a method may use besides its parent: the config, the parent's record, the teacher's logits, data, and a
    log for variant.json."""

    cfg: SuiteConfig
    variant_id: str
    parent_dir: Path
    parent_record: dict[str, Any]  # the parent's variant.json, as the pipeline loaded it with the parent
    teacher_logits: Path | None = None  # the teacher_logits artefact (methods with NEEDS_TEACHER_LOGITS)
    info: dict[str, Any] = field(default_factory=dict)  # recorded in variant.json under "build" (training log, …)

    def train_data(self) -> TaskData:
        """The split the teacher was fine-tuned on (e.g. SST-2 train), read through the data mirror."""
        task, finetune = self.cfg.train_task, self.cfg.teacher.finetune
        if task is None or finetune is None:
            raise SuiteInputError(
                self.cfg.label,
                "teacher.finetune",
                f"variant '{self.variant_id}' trains on the teacher's training split, but the teacher is not "
                "fine-tuned",
                "give teacher.finetune a task, or drop the variants that train",
            )
        return load_split(task, finetune.split, self.cfg.data_mirror, self.cfg.data_cache)

    def eval_data(self) -> TaskData:
        """The reference task's evaluation data (the first task with a dataset, e.g. SST-2 dev): for export checks
        against the parent."""
        task = self.cfg.reference_task
        if task is None:
            raise SuiteInputError(
                self.cfg.label, "tasks", f"variant '{self.variant_id}' needs a task with a dataset", "add one"
            )
        return load_task_data(task, self.cfg.data_mirror, self.cfg.data_cache)


class Method(ABC):
    NAME: ClassVar[str]
    INPUT_FORMATS: ClassVar[frozenset[str]]  # artefact formats of the parent this method can start from
    OUTPUT_FORMAT: ClassVar[str]
    Params: ClassVar[type]  # a frozen dataclass; its __post_init__ raises ValueError naming the bad field
    NEEDS_TEACHER_LOGITS: ClassVar[bool] = False  # the workflow then passes the teacher_logits artefact
    FAMILIES: ClassVar[frozenset[str]] = frozenset({CLASSIFIER})  # the model families it applies to (suite.families)

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this environment cannot build the method's variants (an optional extra is not installed), or None.
        The plan then lists such a variant, and its descendants, as skipped with this reason and builds the others."""
        return None

    @classmethod
    def parse_params(cls, params: dict[str, Any]) -> Any:
        """Build the Params dataclass; unknown keys and bad values raise ValueError('<field>: <problem>')."""
        known = {f.name for f in dataclasses.fields(cls.Params)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown parameter of method '{cls.NAME}' (known: {sorted(known)})")
        try:
            return cls.Params(**params)
        except TypeError as exc:
            raise ValueError(f"params: {exc}") from None

    def check(self, params: Any, parent_arch: Arch | None) -> None:
        """Checks against the parent's architecture at workflow load; raise ValueError('<field>: <problem>').

        `parent_arch` is None where it is unknown before the build (a Hub teacher): `apply` checks again then.
        """
        return None

    def derive_arch(self, parent_arch: Arch | None, params: Any) -> Arch | None:
        """The architecture of what this method builds (the parent's unless the method changes its shape)."""
        return parent_arch

    @abstractmethod
    def apply(self, parent: Classifier, params: Any, ctx: BuildContext) -> Any:
        """Build the variant from its loaded parent; return what the OUTPUT_FORMAT's saver writes (suite.formats)."""


# Every module of suite/compress/ registers its methods; the registry imports them all on first use.
METHODS: Registry[type[Method]] = Registry("variant method", plugins=("suite.compress",))
