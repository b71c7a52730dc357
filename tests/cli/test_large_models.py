"""Models with external data through the bundle commands: pack DIR, unpack -o DIR (byte
for byte), inspect (lists the files), verify; hostile paths refused before any byte is
written; a lone .onnx that needs its files refused."""

from __future__ import annotations

import filecmp
import json
import os
from pathlib import Path

import pytest

from tests.cli.helpers import ok, run
from tests.support.synthetic import write_external_model


def _same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(_same_tree(a / d, b / d) for d in cmp.common_dirs)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    write_external_model(tmp_path / "m", 2 << 20, files=3, subdir="data", model_file="net.onnx")
    return tmp_path / "m"


def test_pack_unpack_round_trip_byte_for_byte(tmp_path: Path, model_dir: Path) -> None:
    ok("pack", "m", "-o", "m.heimdall", "--name", "big", cwd=tmp_path)
    info = json.loads(ok("inspect", "m.heimdall", "--json", cwd=tmp_path).stdout)
    assert info["format_version"] == "1.2.0"
    assert [e["path"] for e in info["external_data"]] == [f"data/weights_{i}.bin" for i in range(3)]
    assert info["document"]["model"]["onnx_file"] == "net.onnx"
    text = ok("inspect", "m.heimdall", cwd=tmp_path).stdout
    assert "External data: 3 files" in text and "data/weights_2.bin" in text
    ok("unpack", "m.heimdall", "-o", "out", cwd=tmp_path)
    assert _same_tree(model_dir, tmp_path / "out")
    assert "onnx.checker passed" in ok("verify", "m.heimdall", cwd=tmp_path).stdout
    ok("pack", "m", "-o", "z.heimdall", "--zstd", cwd=tmp_path)
    ok("unpack", "z.heimdall", "-o", "out2/", cwd=tmp_path)
    assert _same_tree(model_dir, tmp_path / "out2")


def test_unpack_refuses_a_non_empty_directory(tmp_path: Path, model_dir: Path) -> None:
    ok("pack", "m", "-o", "m.heimdall", cwd=tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep").write_text("x")
    proc = run("unpack", "m.heimdall", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "not empty" in proc.stderr
    ok("unpack", "m.heimdall", "-o", "out", "-f", cwd=tmp_path)
    assert (tmp_path / "out" / "keep").exists() and (tmp_path / "out" / "net.onnx").exists()


@pytest.mark.parametrize("path", ["../evil.bin", "/tmp/evil.bin", "data/../../evil.bin",
                                  "net.onnx", "data/weights_0.bin/x"])  # fmt: skip
def test_hostile_paths_write_nothing(tmp_path: Path, model_dir: Path, path: str) -> None:
    ok("pack", "m", "-o", "m.heimdall", cwd=tmp_path)
    doc = json.loads((tmp_path / "m.heimdall").read_bytes())
    doc["model"]["external_data"][-1]["path"] = path
    (tmp_path / "bad.heimdall").write_text(json.dumps(doc))
    before = sorted(os.listdir(tmp_path))
    proc = run("unpack", "bad.heimdall", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert sorted(os.listdir(tmp_path)) == before  # no output, no temporary directory
    assert not (tmp_path.parent / "evil.bin").exists()


def test_damaged_last_file_writes_nothing(tmp_path: Path, model_dir: Path) -> None:
    ok("pack", "m", "-o", "m.heimdall", cwd=tmp_path)
    doc = json.loads((tmp_path / "m.heimdall").read_bytes())
    doc["model"]["external_data"][-1]["md5"] = "0" * 32
    (tmp_path / "bad.heimdall").write_text(json.dumps(doc))
    proc = run("unpack", "bad.heimdall", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 1 and "MD5 mismatch" in proc.stderr
    assert not any(p.startswith((".out", "out")) for p in os.listdir(tmp_path))


def test_single_file_output_refuses_external_data(tmp_path: Path, model_dir: Path) -> None:
    ok("pack", "m", "-o", "m.heimdall", cwd=tmp_path)
    doc = json.loads((tmp_path / "m.heimdall").read_bytes())
    del doc["model"]["onnx_file"]  # another writer's bundle: no file name declared
    (tmp_path / "other.heimdall").write_text(json.dumps(doc))
    proc = run("unpack", "other.heimdall", "-o", "model.onnx", cwd=tmp_path)
    assert proc.returncode == 1 and "-o DIR/" in proc.stderr
    assert not (tmp_path / "model.onnx").exists()
    ok("unpack", "other.heimdall", "-o", "d/", cwd=tmp_path)
    assert (tmp_path / "d" / "model.onnx").read_bytes() == (model_dir / "net.onnx").read_bytes()


def test_lone_onnx_with_external_data_is_refused(tmp_path: Path, model_dir: Path) -> None:
    proc = run("pack", "m/net.onnx", "-o", "x.heimdall", cwd=tmp_path)
    assert proc.returncode == 1 and "pack its directory" in proc.stderr
    assert not (tmp_path / "x.heimdall").exists()


def test_directory_with_a_missing_file_or_a_link(tmp_path: Path, model_dir: Path) -> None:
    (model_dir / "data" / "weights_1.bin").unlink()
    proc = run("pack", "m", "-o", "x.heimdall", cwd=tmp_path)
    assert proc.returncode == 1 and "not a file of the bundle" in proc.stderr
    os.symlink("weights_0.bin", model_dir / "data" / "weights_1.bin")
    proc = run("pack", "m", "-o", "x.heimdall", cwd=tmp_path)
    assert proc.returncode == 1 and "not a regular file" in proc.stderr
    assert not (tmp_path / "x.heimdall").exists()


def test_convert_keeps_external_data_in_1_2_only(tmp_path: Path, model_dir: Path) -> None:
    ok("pack", "m", "-o", "m.heimdall", cwd=tmp_path)
    ok("convert", "m.heimdall", "-o", "c.heimdall", "--to", "1.2.0", "--zstd", cwd=tmp_path)
    ok("unpack", "c.heimdall", "-o", "out", cwd=tmp_path)
    assert _same_tree(model_dir, tmp_path / "out")
    for target in ("1.0.0", "1.1.0", "upstream"):
        proc = run("convert", "m.heimdall", "-o", "x.heimdall", "--to", target, cwd=tmp_path)
        assert proc.returncode == 1 and "format 1.2.0 only" in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1
    assert not (tmp_path / "x.heimdall").exists()
