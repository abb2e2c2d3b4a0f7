"""ONNX export of an eager FP32 torch classifier (torch.onnx dynamo exporter), checked against its parent."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from suite.compress.base import METHODS, BuildContext, Method
from suite.compress.onnx.runtime import FORMAT_ONNX, OPTIMIZATION_LEVELS, OnnxBuild, max_logit_difference
from suite.formats import FORMAT_FP32

# Eager FP32 torch formats the exporter reads (their loaders return a TorchClassifier with `.module`); a new eager
# FP32 format is added here. "torch-pruned" is suite/compress/structured_prune.py's (named, not imported).
TORCH_FP32_FORMATS = frozenset({FORMAT_FP32, "torch-pruned"})
DEFAULT_OPSET = 18  # the dynamo exporter's own opset (torchlib): no version conversion of the graph
MIN_OPSET = 17  # LayerNormalization is one op from 17 on
MAX_OPSET = 21
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
LARGE_MODEL_BYTES = 2 * 10**9  # weights above this go to model.onnx.data (a protobuf file cannot exceed 2 GiB)
# The traced batch: two sentences of different lengths, so padding and the attention mask are in the trace.
TRACE_TEXTS = ("an example sentence for the exporter .", "a second , longer example sentence so that the batch pads .")
# Sentences the export is checked on (padded batch and one by one) against the torch parent.
CHECK_TEXTS = (
    "a charming and often affecting journey .",
    "unflinchingly bleak and desperate",
    "it 's a film",
    "the acting , costumes , music , cinematography and sound are all astounding given the production 's "
    "austere locales .",
    "bad",
    "although the plot is thin , the performances carry the film for most of its running time .",
)
CHECK_MAX_LENGTH = 128


@dataclass(frozen=True)
class OnnxExportParams:
    opset: int = DEFAULT_OPSET
    """ONNX opset of the exported graph, 17-21; 18 is the exporter's own (others go through a version conversion)."""
    graph_optimization_level: str = "all"
    """ONNX Runtime graph optimisations when the artefact runs: disabled, basic, extended or all
    (written to onnx_runtime.json; the INT8 methods keep their parent's)."""
    check_atol: float = 1e-3
    """Largest |logit difference| to the torch parent allowed on the check sentences; larger fails the build."""

    def __post_init__(self) -> None:
        if isinstance(self.opset, bool) or not isinstance(self.opset, int) or not MIN_OPSET <= self.opset <= MAX_OPSET:
            raise ValueError(f"opset: {self.opset!r} is not an integer in [{MIN_OPSET}, {MAX_OPSET}]")
        if self.graph_optimization_level not in OPTIMIZATION_LEVELS:
            raise ValueError(
                f"graph_optimization_level: '{self.graph_optimization_level}' is not one of {list(OPTIMIZATION_LEVELS)}"
            )
        if isinstance(self.check_atol, bool) or not isinstance(self.check_atol, int | float) or not self.check_atol > 0:
            raise ValueError(f"check_atol: {self.check_atol!r} is not a positive number")


def _strip_metadata(model: Any) -> None:
    """Drop the exporter's per-node metadata (stack traces with local paths, FX names) from the exported onnx_ir
    model: it makes the artefact's hash depend on where it was built and adds ~1 % to the file."""
    for node in model.graph.all_nodes():  # subgraphs included
        node.metadata_props.clear()
        for value in node.outputs:
            value.metadata_props.clear()
    for value in [*model.graph.inputs, *model.graph.outputs, *model.graph.initializers.values()]:
        value.metadata_props.clear()


@contextmanager
def _exporter_notes_contained() -> Iterator[None]:
    """Notes the exporter emits on every export, none of which concerns this model: optional torchvision ops it
    skips, that the two axis names are shared by all inputs (the intent), a pytree deprecation inside torch."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*The axis name: .* will not be used.*", category=UserWarning)
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
            yield
    finally:
        registration.setLevel(level)


def export_onnx(module: Any, sample: dict[str, Any], path: Any, opset: int) -> dict[str, Any]:
    """Export `module` (a Hugging Face sequence classifier) with dynamic batch and sequence axes; logits out."""
    import torch

    names = list(sample)
    unknown = [n for n in names if n not in MODEL_INPUTS]
    if unknown:
        raise ValueError(f"the tokenizer produces inputs {unknown}; the exporter handles {list(MODEL_INPUTS)}")

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = module

        def forward(self, input_ids: Any, attention_mask: Any = None, token_type_ids: Any = None) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with _exporter_notes_contained():
        program = torch.onnx.export(
            Logits().eval(),
            (),
            kwargs=sample,
            input_names=names,
            output_names=["logits"],
            dynamic_shapes={name: {0: batch, 1: sequence} for name in names},
            opset_version=opset,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    _strip_metadata(program.model)
    weight_bytes = sum(p.numel() * p.element_size() for p in module.parameters())
    external = weight_bytes > LARGE_MODEL_BYTES
    program.save(str(path), external_data=external)
    return {"inputs": names, "external_data": external}


@METHODS.register
class OnnxExport(Method):
    """Export to ONNX (torch.onnx dynamo exporter, dynamic batch and sequence axes), run by ONNX Runtime in FP32."""

    NAME = "onnx_export"
    INPUT_FORMATS = TORCH_FP32_FORMATS
    OUTPUT_FORMAT = FORMAT_ONNX
    Params = OnnxExportParams

    def apply(self, parent: Any, params: OnnxExportParams, ctx: BuildContext) -> OnnxBuild:
        import onnx
        import onnxruntime
        import onnxscript
        import torch

        from suite.compress.onnx.graph import op_counts
        from suite.compress.onnx.runtime import OnnxClassifier

        module = parent.module.eval()
        config = json.loads(module.config.to_json_string(use_diff=False))
        build = OnnxBuild.new(config, {"graph_optimization_level": params.graph_optimization_level})
        sample = parent.encode(list(TRACE_TEXTS), CHECK_MAX_LENGTH)
        exported = export_onnx(module, {k: v.cpu() for k, v in sample.items()}, build.model_path, params.opset)
        onnx.checker.check_model(str(build.model_path), full_check=True)
        exported_model = OnnxClassifier(build.directory, parent.tokenizer)
        diff = max_logit_difference(exported_model, parent, list(CHECK_TEXTS), CHECK_MAX_LENGTH)
        if not diff <= params.check_atol:
            raise ValueError(
                f"variant '{ctx.variant_id}': the ONNX export differs from its torch parent by {diff:.3g} in the "
                f"logits (check_atol {params.check_atol:g}); the export is wrong, or raise check_atol"
            )
        ctx.info.update(
            {
                "exporter": "torch.onnx.export(dynamo=True)",
                "torch": torch.__version__,
                "onnx": onnx.__version__,
                "onnxscript": onnxscript.__version__,
                "onnxruntime": onnxruntime.__version__,
                "opset": params.opset,
                "inputs": exported["inputs"],
                "dynamic_axes": {"0": "batch", "1": "sequence"},
                "output": "logits",
                "external_data": exported["external_data"],
                "onnx_checker": "passed (full_check)",
                "graph_ops": op_counts(onnx.load(str(build.model_path), load_external_data=False)),
                "graph_optimization_level": params.graph_optimization_level,
                "check": {
                    "max_abs_logit_diff_vs_parent": diff,
                    "sentences": len(CHECK_TEXTS),
                    "how": "padded batch and one at a time, onnxruntime CPU vs the torch parent",
                },
                "session": exported_model.session_settings,
            }
        )
        return build
