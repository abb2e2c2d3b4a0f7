"""What an ONNX graph holds: weight statistics from its initializers, MatMul/Gemm FLOPs from inferred shapes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

MIB = float(1 << 20)

# Matrix-product ops and the input indices of their A and B operands.
MATMUL_OPERANDS = {
    "MatMul": (0, 1),
    "MatMulInteger": (0, 1),
    "QLinearMatMul": (0, 3),
    "Gemm": (0, 1),
}
# The zero-point input index for each quantised operand (op type, operand index) -> zero-point index.
ZERO_POINT_OF = {
    ("DequantizeLinear", 0): 2,
    ("MatMulInteger", 0): 2,
    ("MatMulInteger", 1): 3,
    ("QLinearMatMul", 0): 2,
    ("QLinearMatMul", 3): 5,
}
# Inputs that are quantisation bookkeeping (scales, zero points), not parameters.
QUANT_PARAM_INPUTS = {
    "DequantizeLinear": (1, 2),
    "QuantizeLinear": (1, 2),
    "MatMulInteger": (2, 3),
    "QLinearMatMul": (1, 2, 4, 5, 6, 7),
}
EIGHT_BIT = (np.int8, np.uint8)


def _constants(model: Any, base_dir: Path | None) -> dict[str, np.ndarray]:
    """Every initializer and Constant-node tensor by name (external data read from `base_dir`)."""
    from onnx import numpy_helper

    base = str(base_dir) if base_dir is not None else ""
    tensors = {t.name: numpy_helper.to_array(t, base) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    tensors[node.output[0]] = numpy_helper.to_array(attr.t, base)
    return tensors


class GraphIndex:
    """Producers and consumers of every value of a graph's top level."""

    def __init__(self, model: Any) -> None:
        self.producer: dict[str, Any] = {}
        self.consumers: dict[str, list[tuple[Any, int]]] = {}
        for node in model.graph.node:
            for name in node.output:
                self.producer[name] = node
            for index, name in enumerate(node.input):
                self.consumers.setdefault(name, []).append((node, index))


def _zero_point(name: str, index: GraphIndex, tensors: dict[str, np.ndarray]) -> Any:
    """The zero point an 8-bit tensor is read with (0 when it is read as plain integers)."""
    for node, position in index.consumers.get(name, []):
        zp_index = ZERO_POINT_OF.get((node.op_type, position))
        if zp_index is not None:
            if len(node.input) > zp_index and node.input[zp_index] in tensors:
                zp = tensors[node.input[zp_index]].astype(np.int32)
                axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
                if zp.ndim == 1 and zp.size > 1 and node.op_type == "DequantizeLinear":
                    shape = [1] * tensors[name].ndim
                    shape[axis] = zp.size
                    zp = zp.reshape(shape)  # per-channel along `axis`
                return zp
            return 0
        if node.op_type == "Gather" and position == 0:  # quantised embeddings: Gather, then DequantizeLinear
            return _zero_point(node.output[0], index, tensors)
    return 0


def _weight_operand(name: str, index: GraphIndex, tensors: dict[str, np.ndarray]) -> str | None:
    """The constant a matrix-product operand reads, directly or through a DequantizeLinear (QDQ)."""
    if name in tensors:
        return name
    producer = index.producer.get(name)
    if producer is not None and producer.op_type == "DequantizeLinear" and producer.input[0] in tensors:
        return producer.input[0]
    return None


def weight_stats(model: Any, base_dir: Path | None = None) -> dict[str, float]:
    """Bytes of all constants, parameter counts (scalars and quantisation scales/zero points excluded; int64/int32
    shape and index constants excluded) and the zero share of MatMul/Gemm weight matrices (8-bit: value == zero
    point)."""
    tensors = _constants(model, base_dir)
    index = GraphIndex(model)
    bookkeeping = {
        node.input[i]
        for node in model.graph.node
        for i in QUANT_PARAM_INPUTS.get(node.op_type, ())
        if i < len(node.input)
    }

    def nonzero(name: str) -> int:
        array = tensors[name]
        if array.dtype in EIGHT_BIT:
            return int(np.count_nonzero(array.astype(np.int32) - _zero_point(name, index, tensors)))
        return int(np.count_nonzero(array))

    total_bytes = sum(a.nbytes for a in tensors.values())
    params = [
        name
        for name, a in tensors.items()
        if name not in bookkeeping and a.size > 1 and (a.dtype.kind == "f" or a.dtype in EIGHT_BIT)
    ]
    weights = set()
    for node in model.graph.node:
        operands = MATMUL_OPERANDS.get(node.op_type)
        if operands is not None:
            for i in operands:
                weight = _weight_operand(node.input[i], index, tensors)
                if weight is not None and tensors[weight].ndim == 2:
                    weights.add(weight)
    weight_total = sum(tensors[w].size for w in weights)
    weight_zero = sum(tensors[w].size - nonzero(w) for w in weights)
    return {
        "param_mb": total_bytes / MIB,
        "param_count": float(sum(tensors[n].size for n in params)),
        "nonzero_param_count": float(sum(nonzero(n) for n in params)),
        "sparsity": 100.0 * weight_zero / weight_total if weight_total else 0.0,
    }


def shape_skeleton(model: Any) -> Any:
    """The graph without weight data, for cheap shape inference: large constants become typed graph inputs."""
    import onnx
    from onnx import helper

    skeleton = onnx.ModelProto()  # built field by field: CopyFrom would copy the weights too
    skeleton.ir_version = model.ir_version
    skeleton.opset_import.extend(model.opset_import)
    graph = skeleton.graph
    graph.name = model.graph.name
    graph.node.extend(model.graph.node)
    graph.input.extend(model.graph.input)
    graph.output.extend(model.graph.output)
    for tensor in model.graph.initializer:
        if tensor.data_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32) and not tensor.external_data:
            graph.initializer.append(tensor)  # shape constants: their values feed Reshape/Slice shape inference
        else:
            graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    return skeleton


def _shape_of(name: str, shapes: dict[str, list[int | None]]) -> list[int] | None:
    shape = shapes.get(name)
    if shape is None or any(d is None for d in shape):
        return None
    return shape  # type: ignore[return-value]


def matmul_flops(skeleton: Any, input_shapes: dict[str, tuple[int, ...]]) -> int:
    """2·M·K·N (times broadcast batch dims) of every MatMul/MatMulInteger/QLinearMatMul/Gemm, with shapes inferred
    after the graph inputs are fixed to `input_shapes`. ONNX Runtime's symbolic shape inference is used: onnx's own
    loses the batch dimension of exported transformers at batch 1 (a broadcast of 1 against an unknown size).
    Raises if an operand's shape stays unknown."""
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    model = onnx.ModelProto()
    model.CopyFrom(skeleton)
    for value in model.graph.input:
        if value.name in input_shapes:
            dims = value.type.tensor_type.shape.dim
            for dim, size in zip(dims, input_shapes[value.name], strict=True):
                dim.Clear()
                dim.dim_value = int(size)
    inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=False, guess_output_rank=False)
    shapes: dict[str, list[int | None]] = {}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        if value.type.tensor_type.HasField("shape"):
            shapes[value.name] = [
                d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim
            ]
    for tensor in inferred.graph.initializer:
        shapes[tensor.name] = list(tensor.dims)
    total = 0
    for node in inferred.graph.node:
        operands = MATMUL_OPERANDS.get(node.op_type)
        if operands is None:
            continue
        a, b = (_shape_of(node.input[i], shapes) for i in operands)
        if a is None or b is None:
            raise ValueError(
                f"node '{node.name}' ({node.op_type}): operand shapes not inferred for inputs {input_shapes} "
                f"({node.input[operands[0]]}: {shapes.get(node.input[operands[0]])}, "
                f"{node.input[operands[1]]}: {shapes.get(node.input[operands[1]])})"
            )
        if node.op_type == "Gemm":
            attrs = {x.name: x.i for x in node.attribute}
            m, k = (a[1], a[0]) if attrs.get("transA") else (a[0], a[1])
            n = b[0] if attrs.get("transB") else b[1]
            total += 2 * m * k * n
            continue
        a2 = [1, *a] if len(a) == 1 else a
        b2 = [*b, 1] if len(b) == 1 else b
        batch = np.broadcast_shapes(tuple(a2[:-2]), tuple(b2[:-2]))
        total += 2 * int(np.prod(batch, dtype=np.int64)) * a2[-2] * a2[-1] * b2[-1]
    return int(total)


def quantised_summary(model: Any, op_types: tuple[str, ...]) -> dict[str, Any]:
    """Which nodes of `op_types` run quantised (integer ops, QDQ-fed, 8-bit Gather tables) and which still compute in
    float (matrix products, and nodes reading a float weight; shape arithmetic is not counted)."""
    from onnx import TensorProto

    tensors_8bit = {t.name for t in model.graph.initializer if t.data_type in (TensorProto.UINT8, TensorProto.INT8)}
    floating = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE)
    float_weights = {t.name for t in model.graph.initializer if t.data_type in floating}
    index = GraphIndex(model)
    quantised: Counter[str] = Counter()
    float_left: Counter[str] = Counter()
    for node in model.graph.node:
        if node.op_type in ("MatMulInteger", "QLinearMatMul"):
            quantised[f"MatMul (as {node.op_type})"] += 1
        elif node.op_type in op_types:
            fed = [index.producer.get(name) for name in node.input]
            if any(p is not None and p.op_type == "DequantizeLinear" for p in fed):
                quantised[f"{node.op_type} (QDQ)"] += 1
            elif node.op_type == "Gather" and node.input[0] in tensors_8bit:
                quantised["Gather (8-bit table)"] += 1
            elif node.op_type in MATMUL_OPERANDS or any(name in float_weights for name in node.input):
                float_left[node.op_type] += 1
    int8_bytes = sum(int(np.prod(t.dims, dtype=np.int64)) for t in model.graph.initializer if t.name in tensors_8bit)
    return {
        "quantised_nodes": dict(sorted(quantised.items())),
        "float_nodes_left": dict(sorted(float_left.items())),
        "int8_initializers": len(tensors_8bit),
        "int8_initializer_mb": int8_bytes / MIB,
    }


def op_counts(model: Any) -> dict[str, int]:
    return dict(sorted(Counter(node.op_type for node in model.graph.node).items()))
