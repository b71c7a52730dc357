"""Running the CLI as a user does, for the tests of the tool and registry commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HEIMDALL = [sys.executable, "-m", "heimdall_io"]
_STORAGE_VARIABLES = ("HEIMDALL_DATABASE_URL", "HEIMDALL_STORAGE_URL", "HEIMDALL_DEBUG")


def run(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """``heimdall ARGS`` in ``cwd``, its registry and store under ``cwd/home``."""
    env = {k: v for k, v in os.environ.items() if k not in _STORAGE_VARIABLES}
    env["HEIMDALL_HOME"] = str(cwd / "home")
    return subprocess.run(
        [*HEIMDALL, *args],
        cwd=cwd,
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def ok(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = run(*args, cwd=cwd)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


# VmHWM, not ru_maxrss: ru_maxrss survives exec and so counts the forking parent's memory.
MEMORY_PROBE = """
import re, sys
from heimdall_cli.main import cli
try:
    cli(sys.argv[1:], standalone_mode=False)
finally:
    status = open("/proc/self/status").read()
    print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) >> 10, file=sys.stderr)
"""


def peak_mib(*args: str, cwd: Path) -> int:
    """``heimdall ARGS`` in this process's interpreter; its peak resident memory in MiB."""
    proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return int(proc.stderr.strip().splitlines()[-1])
