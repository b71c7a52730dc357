"""`heimdall diff A B [--json]`: diff(1)'s exit codes, the report, flat memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import ok, peak_mib, run
from tests.support.public_models import silero_vad_path
from tests.support.synthetic import synthetic_model_bytes, write_synthetic_model


@pytest.fixture
def bundles(tmp_path: Path) -> Path:
    (tmp_path / "m1.onnx").write_bytes(synthetic_model_bytes(16 << 10, seed=1))
    (tmp_path / "m2.onnx").write_bytes(synthetic_model_bytes(16 << 10, seed=2))
    (tmp_path / "m1.json").write_text(json.dumps({"val_loss": [0.5] * 99 + [0.31]}))
    (tmp_path / "m2.json").write_text(json.dumps({"val_loss": [0.5] * 119 + [0.27]}))
    for n in ("1", "2"):
        ok("pack", f"m{n}.onnx", "-o", f"m{n}.heimdall", "--name", "net", "--metrics",
           f"m{n}.json", "-q", cwd=tmp_path)  # fmt: skip
    return tmp_path


def test_same_different_and_trouble(bundles: Path) -> None:
    same = run("diff", "m1.heimdall", "m1.heimdall", cwd=bundles)
    assert same.returncode == 0 and same.stdout.startswith("No differences")
    proc = run("diff", "m1.heimdall", "m2.heimdall", cwd=bundles)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "--- m1.heimdall (1.1.0, uncompressed)"
    assert "  ~ val_loss: 100 -> 120 epochs, last 0.31 -> 0.27" in lines
    assert any(line.startswith("payload: different (by streaming)") for line in lines)
    assert "  tensors: 0 added, 0 removed, 3 changed, 1 unchanged" in lines  # W, B, padding
    missing = run("diff", "m1.heimdall", "nope.heimdall", cwd=bundles)
    assert missing.returncode == 2
    assert missing.stderr == "Error: Bundle file not found: nope.heimdall\n"
    (bundles / "bad.heimdall").write_text('{"format_version": "1.1.0"')
    assert run("diff", "m1.heimdall", "bad.heimdall", cwd=bundles).returncode == 2
    assert run("diff", "m1.heimdall", cwd=bundles).returncode == 2  # usage


def test_json_report_and_ignore(bundles: Path) -> None:
    proc = run("diff", "m1.heimdall", "m2.heimdall", "--json", "--no-onnx",
               "--ignore", "bundle_metadata", cwd=bundles)  # fmt: skip
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["same"] is False and report["model"] is None
    assert "bundle_metadata" not in report["sections"]
    (change,) = report["sections"]["performance_metrics"]["changes"]
    assert change["path"] == "performance_metrics.val_loss"
    assert change["summary"] == "100 -> 120 epochs, last 0.31 -> 0.27"
    assert report["payload"] == {"identical": False, "method": "declared checksums"}
    assert report["a"]["sha256"] != report["b"]["sha256"]


def test_stdin_and_compressed(bundles: Path) -> None:
    ok("convert", "m1.heimdall", "-o", "m1z.heimdall", "--to", "1.1.0", "--zstd", "-q",
       cwd=bundles)  # fmt: skip
    proc = run("diff", "-", "m1z.heimdall", cwd=bundles,
               stdin=(bundles / "m1.heimdall").read_bytes())  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # stdin is decoded (a pipe is read once); the zstd bundle declares its checksums.
    assert "(payload identical, by declared checksums and streaming)" in proc.stdout


def test_silero_vad_against_a_synthetic_model(tmp_path: Path) -> None:
    (tmp_path / "vad.onnx").write_bytes(silero_vad_path().read_bytes())
    (tmp_path / "m.onnx").write_bytes(synthetic_model_bytes(16 << 10))
    ok("pack", "vad.onnx", "-o", "vad.heimdall", "-q", cwd=tmp_path)
    ok("pack", "m.onnx", "-o", "m.heimdall", "-q", cwd=tmp_path)
    report = json.loads(run("diff", "vad.heimdall", "m.heimdall", "--json", cwd=tmp_path).stdout)
    changes = {c["path"]: c for c in report["model"]["changes"]}
    assert changes["opset"]["summary"] == "16 -> 17"
    assert changes["inputs.state"]["kind"] == "removed"
    assert changes["outputs.Y"]["kind"] == "added"
    assert len(report["model"]["tensors"]["removed"]) == 341
    assert report["model"]["tensors"]["removed"][0]["a"]["kind"] == "constant"


@pytest.mark.slow
def test_diff_runs_in_flat_memory(tmp_path: Path) -> None:
    size = 160 << 20
    for seed in (1, 2):
        with (tmp_path / f"{seed}.onnx").open("wb") as f:
            write_synthetic_model(f, size, seed=seed)
        ok("pack", f"{seed}.onnx", "-o", f"{seed}.heimdall", "-q", cwd=tmp_path)
    peak = peak_mib("diff", "1.heimdall", "2.heimdall", cwd=tmp_path)
    assert peak < 64, f"peak RSS {peak} MiB comparing two {size >> 20} MiB models"
