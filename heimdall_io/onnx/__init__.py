"""ONNX without loading weights: a protobuf wire-format reader, skeletons, the checker."""
