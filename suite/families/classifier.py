"""The classifier family: a sequence-classification encoder (today MiniLM on SST-2), its FP32 format and teacher."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suite.errors import SuiteInputError
from suite.families.base import CLASSIFIER, FAMILIES, ModelFamily
from suite.formats import FORMAT_FP32
from suite.models import Classifier, TorchClassifier, load_source_model, load_tokenizer

if TYPE_CHECKING:
    from suite.data import TaskData
    from suite.specs import ModelSource, SuiteConfig, TaskSpec

ARCH_KEYS = ("num_hidden_layers", "num_attention_heads", "hidden_size", "intermediate_size")


def _source_dir(source: ModelSource) -> Path | None:
    """The directory of a package or local source (config.json, tokenizer files); None for other kinds, or for a
    package that is not installed (reported with its fix when the teacher is loaded)."""
    if source.kind == "local":
        return Path(source.path or "")
    if source.kind != "package":
        return None
    try:
        module = importlib.import_module(source.package or "")
    except ImportError:
        return None
    return Path(module.get_model_path() if hasattr(module, "get_model_path") else module.MODEL_DIR)


@FAMILIES.register
class ClassifierFamily(ModelFamily):
    NAME = CLASSIFIER
    DESCRIPTION = "sequence classifier (encode -> logits over a task's labels), behind suite.models.Classifier"
    FULL_PRECISION_FORMAT = FORMAT_FP32
    MEASUREMENTS = ("size", "latency", "throughput", "flops", "profile", "memory", "energy")
    AUTO_CLASS = "AutoModelForSequenceClassification"
    ARCHITECTURE_SUFFIX = "ForSequenceClassification"

    def wrap(self, module: Any, tokenizer: Any, fmt: str, runner: Any = None) -> Classifier:
        return TorchClassifier(module=module.eval(), tokenizer=tokenizer, format=fmt, runner=runner)

    def teacher_arch(self, source: ModelSource) -> dict[str, int] | None:
        if source.kind == "random_init":  # BertConfig's defaults filled in: once, not at every workflow load
            from suite.provenance import load_cache

            def bert_config() -> dict[str, Any]:
                from transformers import BertConfig

                return BertConfig(**source.model_config).to_dict()

            config = load_cache("bert-config", {"model_config": source.model_config}, bert_config)
        elif (directory := _source_dir(source)) is not None:
            config_file = directory / "config.json"
            if not config_file.is_file():
                return None
            config = json.loads(config_file.read_text())
        else:
            return None
        return {k: int(config[k]) for k in ARCH_KEYS if k in config}

    def teacher_vocab_size(self, source: ModelSource) -> int | None:
        from suite.entries import tokenizer_vocab_size

        if source.kind == "random_init":
            return None if source.tokenizer is None else self.teacher_vocab_size(source.tokenizer)
        directory = _source_dir(source)
        return None if directory is None else tokenizer_vocab_size(directory)

    def build_teacher(
        self, cfg: SuiteConfig, train_task: TaskSpec | None, train_data: TaskData | None
    ) -> tuple[Any, Any, dict[str, Any] | None]:
        from suite.train import finetune

        if train_task is None or train_task.dataset is None:
            raise SuiteInputError(
                cfg.label, "teacher.finetune.task", "a classifier teacher needs a task with a dataset for its labels"
            )
        tokenizer = load_tokenizer(cfg.teacher.source)
        model = load_source_model(cfg.teacher.source, train_task.dataset.labels, cfg.seed)
        training = None
        if cfg.teacher.finetune is not None and train_data is not None:
            training = finetune(model, tokenizer, train_data, cfg.teacher.finetune, cfg.seed)
        return model.eval(), tokenizer, {"training": training} if training is not None else None
