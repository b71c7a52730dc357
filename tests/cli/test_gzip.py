"""`--gzip` beside `--zstd` on pack and export; `--level` applies to both."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest

from tests.cli.helpers import ok, run
from tests.support.synthetic import synthetic_model_bytes


@pytest.fixture
def model(tmp_path: Path) -> bytes:
    data = synthetic_model_bytes(64 << 10, compressible=True)
    (tmp_path / "m.onnx").write_bytes(data)
    return data


def test_pack_gzip_is_read_by_any_gunzip(tmp_path: Path, model: bytes) -> None:
    ok("pack", "m.onnx", "-o", "fast.heimdall", "--gzip", "--level", "1", "-q", cwd=tmp_path)
    ok("pack", "m.onnx", "-o", "best.heimdall", "--gzip", "--level", "9", "-q", cwd=tmp_path)
    fast = (tmp_path / "fast.heimdall").read_bytes()
    best = (tmp_path / "best.heimdall").read_bytes()
    assert fast[:2] == best[:2] == b"\x1f\x8b"
    assert len(best) < len(fast)  # the level reached zlib
    doc = json.loads(gzip.decompress(best))
    assert base64.b64decode(doc["model"]["onnx_model_base64"]) == model
    ok("unpack", "best.heimdall", "-o", "back.onnx", "-q", cwd=tmp_path)
    assert (tmp_path / "back.onnx").read_bytes() == model
    assert "(gzip)" in ok("inspect", "best.heimdall", cwd=tmp_path).stdout


def test_export_gzip_and_zstd(tmp_path: Path, model: bytes) -> None:
    model_id = ok("register", "m.onnx", "--name", "net", cwd=tmp_path).stdout.strip()
    ok("export", model_id, "-o", "g.heimdall", "--gzip", "-q", cwd=tmp_path)
    ok("export", model_id, "-o", "z.heimdall", "--zstd", "--level", "19", "-q", cwd=tmp_path)
    assert (tmp_path / "g.heimdall").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "z.heimdall").read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    for name in ("g.heimdall", "z.heimdall"):
        ok("unpack", name, "-o", f"{name}.onnx", "-q", cwd=tmp_path)
        assert (tmp_path / f"{name}.onnx").read_bytes() == model


def test_gzip_level_out_of_range(tmp_path: Path, model: bytes) -> None:
    proc = run("pack", "m.onnx", "-o", "x.heimdall", "--gzip", "--level", "12", cwd=tmp_path)
    assert proc.returncode == 2 and "gzip levels are 1-9" in proc.stderr
    assert not (tmp_path / "x.heimdall").exists()
