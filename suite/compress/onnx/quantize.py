"""ONNX Runtime INT8 quantisation of an "onnx" parent: dynamic (weights only) and static (calibrated, QDQ)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from typing import Any

import numpy as np

from suite.compress.base import METHODS, BuildContext, Method
from suite.compress.onnx.export import CHECK_MAX_LENGTH, CHECK_TEXTS, TORCH_FP32_FORMATS, OnnxExport, OnnxExportParams
from suite.compress.onnx.runtime import FORMAT_ONNX, OnnxBuild, max_logit_difference

# Op types each quantiser can quantise (onnxruntime.quantization.registry, ORT 1.32): IntegerOps for dynamic, QDQ
# for static. Kept here so a config is checked at load without importing onnxruntime.
DYNAMIC_OP_TYPES = frozenset({"Attention", "Conv", "EmbedLayerNormalization", "Gather", "LSTM", "MatMul", "Transpose"})
STATIC_OP_TYPES = frozenset(
    {
        "AveragePool", "BatchNormalization", "Clip", "Conv", "ConvTranspose", "CumSum", "Flatten", "Gather",
        "GatherElements", "Gemm", "InstanceNormalization", "LayerNormalization", "MatMul", "MaxPool", "Pad", "Relu",
        "Reshape", "Resize", "Slice", "Split", "Squeeze", "TopK", "Transpose", "Unsqueeze", "Where",
    }
)  # fmt: skip
CALIBRATION_METHODS = ("MinMax", "Entropy", "Percentile")
ACTIVATION_TYPES = {"int8": "QInt8", "uint8": "QUInt8"}


def _bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: {value!r} is not true or false")


def _op_types(params: Any, allowed: frozenset[str]) -> None:
    value = params.op_types
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise ValueError(f"op_types: {value!r} is not a non-empty list of ONNX op types")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ValueError(f"op_types: {unknown} cannot be quantised here (choose from {sorted(allowed)})")
    object.__setattr__(params, "op_types", tuple(value))  # a YAML list becomes a tuple (frozen, hashable)


@dataclass(frozen=True)
class OrtDynamicInt8Params:
    op_types: tuple[str, ...] = ("MatMul", "Gather")
    """Op types to quantise. MatMul covers every Linear (Gemm is rewritten to MatMul) but not the attention products
    of two activations; Gather covers the embedding tables, most of a small encoder's bytes."""
    per_channel: bool = False
    """One scale per output channel of each weight instead of one per tensor."""
    reduce_range: bool = False
    """7-bit weights, for CPUs without VNNI where 8-bit u8s8 products can saturate."""

    def __post_init__(self) -> None:
        _op_types(self, DYNAMIC_OP_TYPES)
        _bool("per_channel", self.per_channel)
        _bool("reduce_range", self.reduce_range)


@dataclass(frozen=True)
class OrtStaticInt8Params:
    calibration_size: int = 256
    """Training sentences the activation ranges are calibrated on (seeded sample, one sentence per run)."""
    calibration_method: str = "MinMax"
    """How ranges are chosen from the calibration activations: MinMax, Entropy or Percentile (99.999)."""
    op_types: tuple[str, ...] = ("MatMul", "Gemm", "Gather")
    """Op types to quantise (QDQ pairs around them): the matrix products, attention included, and embeddings."""
    per_channel: bool = False
    """One scale per output channel of each weight instead of one per tensor."""
    reduce_range: bool = False
    """7-bit weights, for CPUs without VNNI where 8-bit u8s8 products can saturate."""
    activation_type: str = "uint8"
    """Activation type: uint8 (U8S8) or int8 (S8S8, ORT's own default). On our AVX-512 VNNI CPU the teacher's S8S8
    QDQ graph ran about 4x slower than U8S8 at batch 1 (interleaved runs), at the same SST-2 accuracy."""

    def __post_init__(self) -> None:
        size = self.calibration_size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 100_000:
            raise ValueError(f"calibration_size: {size!r} is not an integer in [1, 100000]")
        if self.calibration_method not in CALIBRATION_METHODS:
            raise ValueError(
                f"calibration_method: '{self.calibration_method}' is not one of {list(CALIBRATION_METHODS)}"
            )
        _op_types(self, STATIC_OP_TYPES)
        _bool("per_channel", self.per_channel)
        _bool("reduce_range", self.reduce_range)
        if self.activation_type not in ACTIVATION_TYPES:
            raise ValueError(f"activation_type: '{self.activation_type}' is not one of {list(ACTIVATION_TYPES)}")


@contextmanager
def _quantiser_output_contained() -> Iterator[None]:
    """The quantiser logs notes on the root logger ("consider pre-processing") and prints progress to stdout (one
    line per calibration sentence for the histogram methods): keep the log to errors, stderr untouched."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


# An ONNX parent is quantised as it is; an eager torch parent is exported first with onnx_export's defaults, so that
# `distil-3L -> ort-int8` is one config entry (the export's record lands in variant.json under build.export).
INPUT_FORMATS = frozenset({FORMAT_ONNX}) | TORCH_FP32_FORMATS


def onnx_parent(parent: Any, ctx: BuildContext) -> tuple[Any, OnnxBuild | None]:
    """The parent as an OnnxClassifier (exported here when it is an eager torch model) and the build that holds it."""
    if parent.format == FORMAT_ONNX:
        return parent, None
    from suite.compress.base import BuildContext as Context
    from suite.compress.onnx.runtime import OnnxClassifier

    export_ctx = Context(
        cfg=ctx.cfg, variant_id=ctx.variant_id, parent_dir=ctx.parent_dir, parent_record=ctx.parent_record
    )
    build = OnnxExport().apply(parent, OnnxExportParams(), export_ctx)
    ctx.info["export"] = {"method": OnnxExport.NAME, "params": dict(vars(OnnxExportParams())), **export_ctx.info}
    return OnnxClassifier(build.directory, parent.tokenizer), build


def _finish(build: OnnxBuild, parent: Any, op_types: tuple[str, ...], ctx: BuildContext) -> dict[str, Any]:
    """Check the quantised graph, and describe what was quantised and how far its logits moved from the parent."""
    import onnx
    import onnxruntime

    from suite.compress.onnx.graph import quantised_summary
    from suite.compress.onnx.runtime import OnnxClassifier

    onnx.checker.check_model(str(build.model_path), full_check=True)
    quantised = OnnxClassifier(build.directory, parent.tokenizer)
    summary = quantised_summary(onnx.load(str(build.model_path), load_external_data=False), op_types)
    if not summary["quantised_nodes"]:
        raise ValueError(f"variant '{ctx.variant_id}': no node of op types {list(op_types)} was quantised")
    return {
        "onnxruntime": onnxruntime.__version__,
        "op_types_to_quantize": list(op_types),
        **summary,
        "external_data": parent.external_data,
        "onnx_checker": "passed (full_check)",
        "check": {
            "max_abs_logit_diff_vs_parent": max_logit_difference(
                quantised, parent, list(CHECK_TEXTS), CHECK_MAX_LENGTH
            ),
            "sentences": len(CHECK_TEXTS),
        },
        "session": quantised.session_settings,
    }


@METHODS.register
class OrtDynamicInt8(Method):
    """ONNX Runtime dynamic quantisation: INT8 weights, activations quantised per batch at run time."""

    NAME = "ort_dynamic_int8"
    INPUT_FORMATS = INPUT_FORMATS
    OUTPUT_FORMAT = FORMAT_ONNX
    Params = OrtDynamicInt8Params

    def apply(self, parent: Any, params: OrtDynamicInt8Params, ctx: BuildContext) -> OnnxBuild:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        parent, _export = onnx_parent(parent, ctx)
        build = OnnxBuild.new(parent.config, parent.runtime)
        with _quantiser_output_contained():
            quantize_dynamic(
                parent.model_path,
                build.model_path,
                op_types_to_quantize=list(params.op_types),
                per_channel=params.per_channel,
                reduce_range=params.reduce_range,
                weight_type=QuantType.QInt8,
                use_external_data_format=parent.external_data,
                extra_options={"MatMulConstBOnly": True},  # only products with a constant weight
            )
        ctx.info.update(
            {
                "quantizer": "onnxruntime.quantization.quantize_dynamic",
                "weight_type": "QInt8",
                "activation_type": "QUInt8 (dynamic, per batch)",
                "per_channel": params.per_channel,
                "reduce_range": params.reduce_range,
                **_finish(build, parent, params.op_types, ctx),
            }
        )
        return build


def calibration_inputs(parent: Any, texts: list[str], size: int, seed: int, max_length: int) -> list[dict[str, Any]]:
    """`size` sentences drawn without replacement with `seed`, encoded one per run (no padding in the ranges)."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(texts), size=min(size, len(texts)), replace=False)
    return [parent.encode([texts[i]], max_length) for i in chosen]


@METHODS.register
class OrtStaticInt8(Method):
    """ONNX Runtime static quantisation (QDQ): INT8 weights and activations, ranges calibrated on training text."""

    NAME = "ort_static_int8"
    INPUT_FORMATS = INPUT_FORMATS
    OUTPUT_FORMAT = FORMAT_ONNX
    Params = OrtStaticInt8Params

    def apply(self, parent: Any, params: OrtStaticInt8Params, ctx: BuildContext) -> OnnxBuild:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )

        parent, _export = onnx_parent(parent, ctx)
        data = ctx.train_data()
        seed, max_length = ctx.cfg.seed, ctx.cfg.evaluate.max_length
        inputs = calibration_inputs(parent, list(data.texts), params.calibration_size, seed, max_length)

        class Sentences(CalibrationDataReader):
            """The calibration inputs, handed out in the range the quantiser sets (one sentence at a time)."""

            def __init__(self) -> None:
                self.position, self.end = 0, len(inputs)

            def __len__(self) -> int:
                return len(inputs)

            def set_range(self, start_index: int, end_index: int) -> None:
                self.position, self.end = start_index, end_index

            def get_next(self) -> dict[str, Any] | None:
                if self.position >= self.end:
                    return None
                self.position += 1
                return inputs[self.position - 1]

        build = OnnxBuild.new(parent.config, parent.runtime)
        with _quantiser_output_contained():
            quantize_static(
                parent.model_path,
                build.model_path,
                Sentences(),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=list(params.op_types),
                per_channel=params.per_channel,
                reduce_range=params.reduce_range,
                activation_type=getattr(QuantType, ACTIVATION_TYPES[params.activation_type]),
                weight_type=QuantType.QInt8,
                calibrate_method=getattr(CalibrationMethod, params.calibration_method),
                use_external_data_format=parent.external_data,
                # ranges are collected one sentence at a time: the histogram calibrators (Entropy, Percentile) stack
                # a call's activations into one array, which fails for sentences of different lengths
                extra_options={"CalibStridedMinMax": 1},
            )
        ctx.info.update(
            {
                "quantizer": "onnxruntime.quantization.quantize_static",
                "quant_format": "QDQ",
                "weight_type": "QInt8",
                "activation_type": ACTIVATION_TYPES[params.activation_type],
                "per_channel": params.per_channel,
                "reduce_range": params.reduce_range,
                "calibration": {
                    "method": params.calibration_method,
                    "sentences": len(inputs),
                    "seed": seed,
                    "max_length": max_length,
                    "batch_size": 1,
                    "data": data.source,
                    "data_sha256": data.data_sha256,
                },
                **_finish(build, parent, params.op_types, ctx),
            }
        )
        return build
