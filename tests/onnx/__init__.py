"""Tests of heimdall_io.onnx: one module per module of the package."""
