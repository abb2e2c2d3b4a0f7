"""The "onnx" artefact format: model.onnx (+ external data) and the parent's config, run by ONNX Runtime."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from suite.formats import FORMAT_ONNX, FORMATS, ArtefactFormat
from suite.models import Classifier, tokenize

MODEL_FILE = "model.onnx"  # external data, when there is any, is model.onnx.data beside it
CONFIG_FILE = "config.json"  # the parent's model config: labels (id2label) and architecture facts
RUNTIME_FILE = "onnx_runtime.json"  # how the artefact is run: the graph optimisation level
THREADS_ENV = "SUITE_THREADS"
OPTIMIZATION_LEVELS = {
    "disabled": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}
FLOPS_HOW = (
    "ONNX graph MatMul/Gemm shapes: 2·M·K·N per MatMul, MatMulInteger, QLinearMatMul and Gemm (attention products "
    "included), shapes from ONNX Runtime's symbolic shape inference at the query's batch and sequence sizes"
)


def session_threads() -> tuple[int, str]:
    """ONNX Runtime intra-op threads: $SUITE_THREADS if set, else torch's thread count (set from the config's
    `threads` by every job), so ONNX and torch variants run with the same number of threads."""
    value = os.environ.get(THREADS_ENV)
    if value is not None:
        if not value.strip().isdigit() or int(value) < 1:
            raise ValueError(
                f"${THREADS_ENV}: '{value}' is not a positive whole number of threads (unset it or fix it)"
            )
        return int(value), f"${THREADS_ENV}"
    import torch

    return torch.get_num_threads(), "torch.get_num_threads()"


@dataclass
class OnnxBuild:
    """What the ONNX methods build and the "onnx" saver moves into an artefact: a working directory holding
    model.onnx (+ model.onnx.data), config.json and onnx_runtime.json. The directory is removed with this object."""

    directory: Path
    owner: Any = None  # the tempfile.TemporaryDirectory behind `directory`

    @classmethod
    def new(cls, config: dict[str, Any], runtime: dict[str, Any]) -> OnnxBuild:
        owner = tempfile.TemporaryDirectory(prefix="suite-onnx-")
        build = cls(Path(owner.name), owner)
        (build.directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        (build.directory / RUNTIME_FILE).write_text(json.dumps(runtime, indent=2, sort_keys=True) + "\n")
        return build

    @property
    def model_path(self) -> Path:
        return self.directory / MODEL_FILE


def _save_onnx(built: OnnxBuild, directory: Path) -> None:
    if not built.model_path.is_file():
        raise ValueError(f"{built.model_path}: the ONNX method wrote no {MODEL_FILE}")
    for path in sorted(built.directory.iterdir()):
        if path.name.startswith(MODEL_FILE) or path.name in (CONFIG_FILE, RUNTIME_FILE):
            shutil.move(str(path), str(Path(directory) / path.name))


def _load_onnx(directory: Path, tokenizer: Any) -> Classifier:
    return OnnxClassifier(Path(directory), tokenizer)


def _providers(device: str) -> list[Any]:
    import onnxruntime as ort

    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda" or device.startswith("cuda:"):
        available = ort.get_available_providers()
        if "CUDAExecutionProvider" not in available:
            raise ValueError(
                f"format '{FORMAT_ONNX}' cannot run on {device}: this onnxruntime {ort.__version__} build has no "
                f"CUDAExecutionProvider (available: {available}); install onnxruntime-gpu or use device: cpu"
            )
        # nodes without CUDA kernels run on CPU (ONNX Runtime's per-node placement), the rest on the GPU
        return [("CUDAExecutionProvider", {"device_id": int(device.partition(":")[2] or 0)}), "CPUExecutionProvider"]
    raise ValueError(f"format '{FORMAT_ONNX}': unknown device '{device}' (use cpu, cuda or cuda:N)")


class OnnxClassifier(Classifier):
    """An ONNX Runtime InferenceSession behind the Classifier interface: numpy int64 inputs in, numpy logits out."""

    format = FORMAT_ONNX

    def __init__(self, directory: Path, tokenizer: Any, device: str = "cpu") -> None:
        self.directory = Path(directory)
        self.tokenizer = tokenizer
        self.config: dict[str, Any] = json.loads((self.directory / CONFIG_FILE).read_text())
        self.runtime: dict[str, Any] = json.loads((self.directory / RUNTIME_FILE).read_text())
        level = self.runtime.get("graph_optimization_level", "all")
        if level not in OPTIMIZATION_LEVELS:
            raise ValueError(
                f"{self.directory / RUNTIME_FILE}: graph_optimization_level '{level}' is not one of "
                f"{list(OPTIMIZATION_LEVELS)}"
            )
        self._stats: dict[str, float] | None = None
        self._skeleton: Any = None
        self._open(device)

    @property
    def model_path(self) -> Path:
        return self.directory / MODEL_FILE

    @property
    def external_data(self) -> bool:
        return (self.directory / f"{MODEL_FILE}.data").is_file()

    def _open(self, device: str) -> None:
        import onnxruntime as ort

        threads, threads_from = session_threads()
        level = self.runtime.get("graph_optimization_level", "all")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPTIMIZATION_LEVELS[level])
        self.session = ort.InferenceSession(str(self.model_path), options, providers=_providers(device))
        if device != "cpu" and "CUDAExecutionProvider" not in self.session.get_providers():
            raise ValueError(f"{self.model_path}: ONNX Runtime did not enable CUDAExecutionProvider on {device}")
        self.device = device
        self.threads = threads
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_name = self.session.get_outputs()[0].name
        self.session_settings = {
            "onnxruntime": ort.__version__,
            "providers": self.session.get_providers(),
            "intra_op_num_threads": threads,
            "intra_op_num_threads_from": threads_from,
            "inter_op_num_threads": 1,
            "execution_mode": "ORT_SEQUENTIAL",
            "graph_optimization_level": level,
        }

    def to_device(self, device: str) -> Classifier:
        if device != self.device:
            self._open(device)
        return self

    def encode(self, texts: list[str], max_length: int) -> dict[str, Any]:
        encoding = tokenize(
            self.tokenizer, texts, padding=True, truncation=True, max_length=max_length, return_tensors="np"
        )
        missing = [name for name in self.input_names if name not in encoding]
        if missing:
            raise ValueError(f"{self.model_path}: the graph needs inputs {missing} that the tokenizer does not produce")
        return {name: np.asarray(encoding[name], dtype=np.int64) for name in self.input_names}

    def forward(self, encoding: dict[str, Any]) -> np.ndarray:
        return self.session.run([self.output_name], encoding)[0]

    def logits(self, encoding: dict[str, Any]) -> np.ndarray:
        return np.asarray(self.forward(encoding), dtype=np.float32)

    def _graph(self) -> Any:
        import onnx

        return onnx.load(str(self.model_path), load_external_data=False)

    def weight_stats(self) -> dict[str, float]:
        from suite.compress.onnx.graph import weight_stats

        if self._stats is None:
            self._stats = weight_stats(self._graph(), self.directory)
        return self._stats

    def flops(self, encoding: dict[str, Any]) -> tuple[int, str]:
        from suite.compress.onnx.graph import matmul_flops, shape_skeleton

        # one count per input shape: suite.measure.flops_rows calls this once per distinct shape
        shapes = {name: tuple(np.shape(encoding[name])) for name in self.input_names}
        if self._skeleton is None:
            self._skeleton = shape_skeleton(self._graph())
        return matmul_flops(self._skeleton, shapes), FLOPS_HOW


def max_logit_difference(candidate: Classifier, reference: Classifier, texts: list[str], max_length: int) -> float:
    """Largest |logit difference| on `texts`, as one padded batch and one sentence at a time."""
    diffs = [0.0]
    with candidate.inference(), reference.inference():
        for batch in [texts, *([t] for t in texts)]:
            a = candidate.logits(candidate.encode(batch, max_length))
            b = reference.logits(reference.encode(batch, max_length))
            diffs.append(float(np.max(np.abs(a - b))))
    return max(diffs)


@FORMATS.register
class OnnxFormat(ArtefactFormat):
    """The ONNX Runtime graph."""

    NAME = FORMAT_ONNX
    save = staticmethod(_save_onnx)
    load = staticmethod(_load_onnx)
