"""ONNX export and ONNX Runtime INT8 variants: the "onnx" artefact format and the methods that build it."""
