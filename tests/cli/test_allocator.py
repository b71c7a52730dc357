"""cli.allocator: glibc malloc thresholds set at start-up, unless the environment has some."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
from heimdall_cli.allocator import tune_malloc

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_thresholds_are_set_on_glibc() -> None:
    # In a child process, so that this test process keeps its allocator as it was.
    code = "from heimdall_cli.allocator import tune_malloc; print(tune_malloc())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize("variable", ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"])
def test_the_environment_wins(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "131072")
    assert tune_malloc() is False
