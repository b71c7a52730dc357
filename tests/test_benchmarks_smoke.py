"""CI smoke test of benchmarks/: the runner and the micro-benchmarks still work.

It does not judge performance: `benchmarks/run.py --quick` measures 1 MiB and 4 MiB models
once each (where interpreter start-up dominates), the registry section on the embedded
default only (no PostgreSQL or S3 server), and the micro-benchmarks run once each with
pytest-benchmark disabled, so it stays short enough for every CI run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"

pytest.importorskip("onnx")  # the synthetic models and `heimdall verify` need it
pytest.importorskip("pytest_benchmark")


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    )
    return proc


def test_run_quick_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    _run(
        [sys.executable, str(BENCH / "run.py"), "--quick", "--runs", "1",
         "--out", str(out), "--workdir", str(tmp_path / "bench-data")],
        timeout=180,
    )  # fmt: skip
    text = out.read_text(encoding="utf-8")
    for heading in ("## Machine", "## Results", "## Output sizes", "## Targets", "## All runs"):
        assert heading in text
    for header in (
        "| operation | 1MiB median s | x md5sum | CPU s | peak RSS MiB |",
        "| target | size | measured | limit | result |",
        "| output | 1MiB bytes | x ONNX | 4MiB bytes | x ONNX |",
    ):
        assert header in text
    for row in ("| md5sum |", "| heimdall pack |", "| heimdall unpack |", "| heimdall inspect |",
                "| heimdall verify |", "| seed peer pack |", "| heimdall --help |"):  # fmt: skip
        assert row in text
    # The registry section, quick mode: the embedded default only (no servers).
    assert "## Registry: export and import" in text
    for row in (
        "| heimdall export | embedded |",
        "| heimdall import --no-validate | embedded |",
        "| heimdall import (onnx.checker) | embedded |",
        "| 4MiB | embedded | 2 |",
    ):
        assert row in text
    assert "PostgreSQL + S3" not in text
    assert "REST API over loopback HTTP" not in text  # --quick leaves the http section out
    assert not (tmp_path / "bench-data" / "registry" / "1MiB").exists()  # cleaned up
    # The committed results stay untouched.
    assert out.resolve() != (BENCH / "RESULTS.md").resolve()


def test_micro_benchmarks_run_once() -> None:
    proc = _run(
        [sys.executable, "-m", "pytest", str(BENCH / "test_micro.py"), "--benchmark-disable",
         "-q", "-p", "no:cacheprovider", "-o", "addopts="],
        timeout=180,
    )  # fmt: skip
    assert " passed" in proc.stdout
    assert "failed" not in proc.stdout


def test_external_section_runs(tmp_path: Path) -> None:
    """The large-model section (issue 14) at a tiny size: its table, byte-identical outputs."""
    out = tmp_path / "RESULTS.md"
    _run(
        [sys.executable, str(BENCH / "run.py"), "--sections", "external", "--sizes", "2MiB",
         "--runs", "1", "--warmup", "0", "--idle-gate", "0", "--out", str(out),
         "--workdir", str(tmp_path / "bench-data")],
        timeout=180,
    )  # fmt: skip
    text = out.read_text(encoding="utf-8")
    assert "## Large models (external data), 2MiB" in text
    for op in ("heimdall unpack -o DIR", "heimdall export"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {op} |"))
        assert row.rstrip().endswith("| yes |"), row
    assert "(external data) peak RSS | 2MiB" in text
