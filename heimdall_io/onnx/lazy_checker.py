"""The checker's entry points, importing :mod:`heimdall_io.onnx.checker` (and its
skeleton writer) only when a model is checked: the service layer names them as defaults,
and every registry command would otherwise load them at start-up."""

from __future__ import annotations

import threading

__all__ = ["check_model_file", "preload"]


def check_model_file(path: str) -> None:
    """:func:`heimdall_io.onnx.checker.check_model_file`, imported on first call.

    Example: ``check_model_file("model.onnx")`` (InvalidModelError if onnx rejects it).
    """
    from .checker import check_model_file as check

    check(path)


def preload() -> threading.Thread:
    """:func:`heimdall_io.onnx.checker.preload`, imported on first call.

    Example: ``preload()`` before streaming a model in, so that onnx loads meanwhile.
    """
    from .checker import preload as start

    return start()
