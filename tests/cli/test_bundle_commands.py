"""The bundle-file commands of the CLI: pack, unpack, inspect, verify.

Run as the user runs them (``python -m heimdall_io``, a real process): exit codes, exactly
one ``Error:`` line on stderr, no traceback, and no output or temporary file left behind.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard

from heimdall_io import write_bundle
from tests.support.synthetic import synthetic_model_bytes

ENV = {k: v for k, v in os.environ.items() if k != "HEIMDALL_DEBUG"}
HEIMDALL = [sys.executable, "-m", "heimdall_io"]


def heimdall(
    *args: str, cwd: Path, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*HEIMDALL, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=120,
        env=ENV,
    )


def start(*args: str, cwd: Path, **pipes: Any) -> subprocess.Popen[bytes]:
    """``heimdall ARGS`` running in the background, stderr captured."""
    return subprocess.Popen([*HEIMDALL, *args], cwd=cwd, env=ENV, stderr=subprocess.PIPE, **pipes)


def assert_one_error_line(proc: subprocess.CompletedProcess[bytes], *words: str) -> str:
    stderr = proc.stderr.decode()
    assert proc.returncode == 1, (proc.returncode, stderr)
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), stderr
    for word in words:
        assert word in lines[0], stderr
    return lines[0]


def leftovers(directory: Path, name: str) -> list[str]:
    """The output and any temporary file of an atomic write of ``name``."""
    return sorted(
        p.name
        for p in directory.iterdir()
        if p.name == name or (p.name.startswith(f".{name}.") and p.name.endswith(".part"))
    )


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A small valid ONNX model: X[batch, 16] -> Y[batch, 2], opset 14."""
    path = tmp_path / "m.onnx"
    path.write_bytes(
        synthetic_model_bytes(4096, opset=14, input_shape=("batch", 16), output_shape=("batch", 2))
    )
    return path


@pytest.fixture
def packed(tmp_path: Path, model: Path) -> Path:
    proc = heimdall("pack", "m.onnx", "-o", "m.heimdall", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    return tmp_path / "m.heimdall"


HEADER = {
    "format_version": "1.1.0",
    "bundle_metadata": {"bundle_id": "b", "created_at": "2025-01-01T00:00:00Z"},
    "model": {"model_name": "m", "version": 1},
}


def bundle_bytes(payload: bytes, **options: Any) -> bytes:
    out = io.BytesIO()
    write_bundle(out, HEADER, io.BytesIO(payload), **options)
    return out.getvalue()


# -- happy paths ----------------------------------------------------------------------------


def test_pack_inspect_verify_unpack(tmp_path: Path, model: Path, packed: Path) -> None:
    onnx_bytes = model.read_bytes()
    md5 = hashlib.md5(onnx_bytes).hexdigest()
    sha256 = hashlib.sha256(onnx_bytes).hexdigest()

    # The bundle is plain JSON that the seed's own recipe can read.
    doc = json.loads(packed.read_bytes())
    assert base64.b64decode(doc["model"]["onnx_model_base64"]) == onnx_bytes
    assert doc["format_version"] == "1.1.0"
    assert doc["model"]["model_name"] == "m"
    assert doc["model"]["onnx_opset"] == 14

    proc = heimdall("inspect", "m.heimdall", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    assert "1.1.0" in text and md5 in text and "m" in text

    proc = heimdall("inspect", "--json", "m.heimdall", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["format_version"] == "1.1.0"
    assert info["compression"] == "none"
    assert info["payload"]["size_bytes"] == len(onnx_bytes)
    assert (info["payload"]["md5"], info["payload"]["sha256"]) == (md5, sha256)
    assert info["document"]["model"]["model_name"] == "m"
    assert "onnx_model_base64" not in info["document"]["model"]

    proc = heimdall("verify", "m.heimdall", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().startswith("OK")

    proc = heimdall("verify", "--json", "m.heimdall", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True
    assert result["checks"] == {"structure": True, "checksums": True, "onnx": True}
    assert result["payload"]["md5"] == md5

    proc = heimdall("unpack", "m.heimdall", "-o", "back.onnx", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "back.onnx").read_bytes() == onnx_bytes
    assert leftovers(tmp_path, "back.onnx") == ["back.onnx"]


def test_pack_with_metadata_options(tmp_path: Path, model: Path) -> None:
    (tmp_path / "train.json").write_text(json.dumps({"epochs": 7, "optimizer": "SGD"}))
    (tmp_path / "metrics.json").write_text(json.dumps({"train_loss": [0.5, 0.25]}))
    proc = heimdall(
        "pack",
        "m.onnx",
        "-o",
        "meta.heimdall",
        "--name",
        "Localizer ü",
        "--version",
        "4",
        "--architecture",
        "LocalizationNet",
        "--description",
        "for the field",
        "--training-config",
        "train.json",
        "--metrics",
        "metrics.json",
        "--zstd",
        "--level",
        "9",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    proc = heimdall("inspect", "--json", "meta.heimdall", cwd=tmp_path)
    info = json.loads(proc.stdout)
    doc = info["document"]
    assert info["compression"] == "zstd"
    assert doc["model"]["model_name"] == "Localizer ü"
    assert doc["model"]["version"] == 4
    assert doc["model"]["architecture"] == "LocalizationNet"
    assert doc["bundle_metadata"]["description"] == "for the field"
    assert doc["training_config"] == {"epochs": 7, "optimizer": "SGD"}
    assert doc["performance_metrics"] == {"train_loss": [0.5, 0.25]}
    assert info["payload"]["md5"] == hashlib.md5((tmp_path / "m.onnx").read_bytes()).hexdigest()


def test_pipe_pack_to_unpack(tmp_path: Path, model: Path) -> None:
    """heimdall pack m.onnx -o - | heimdall unpack - -o m2.onnx"""
    pack = start("pack", "m.onnx", "-o", "-", cwd=tmp_path, stdout=subprocess.PIPE)
    unpack = start("unpack", "-", "-o", "m2.onnx", cwd=tmp_path, stdin=pack.stdout)
    assert pack.stdout is not None
    pack.stdout.close()
    _, unpack_err = unpack.communicate(timeout=120)
    pack_err = pack.stderr.read() if pack.stderr else b""
    assert pack.wait(timeout=120) == 0, pack_err
    assert unpack.returncode == 0, unpack_err
    assert b"Traceback" not in pack_err + unpack_err
    assert (tmp_path / "m2.onnx").read_bytes() == model.read_bytes()


@pytest.mark.skipif(shutil.which("heimdall") is None, reason="console script not installed")
def test_pipe_with_the_console_script(tmp_path: Path, model: Path) -> None:
    proc = subprocess.run(
        "heimdall pack m.onnx -o - | heimdall unpack - -o m2.onnx",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        env=ENV,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m2.onnx").read_bytes() == model.read_bytes()


def test_stdin_to_stdout(tmp_path: Path, model: Path, packed: Path) -> None:
    proc = heimdall(
        "pack", "-", "-o", "-", "--name", "from-stdin", cwd=tmp_path, stdin=model.read_bytes()
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["model"]["model_name"] == "from-stdin"
    proc = heimdall("unpack", "-", "-o", "-", cwd=tmp_path, stdin=proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == model.read_bytes()


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_compressed_bundles_need_no_flag(
    tmp_path: Path, model: Path, packed: Path, kind: str
) -> None:
    """gzip as the seed's manual workaround (Python's gzip module); zstd from any tool."""
    plain = packed.read_bytes()
    name = f"m.heimdall.{kind}"
    data = (
        gzip.compress(plain)
        if kind == "gzip"
        else zstandard.ZstdCompressor(level=19).compress(plain)
    )
    (tmp_path / name).write_bytes(data)
    proc = heimdall("inspect", "--json", name, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["compression"] == kind
    assert info["payload"]["md5"] == hashlib.md5(model.read_bytes()).hexdigest()
    proc = heimdall("verify", name, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = heimdall("unpack", name, "-o", "out.onnx", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.onnx").read_bytes() == model.read_bytes()


def test_inspect_1_0_0_bundle_computes_checksums(tmp_path: Path, model: Path) -> None:
    onnx_bytes = model.read_bytes()
    doc = {
        "format_version": "1.0.0",
        "bundle_metadata": {"bundle_id": "b", "created_at": "t", "exported_by": "Heimdall"},
        "model": {
            "model_name": "old",
            "version": 1,
            "onnx_model_base64": base64.b64encode(onnx_bytes).decode(),
        },
    }
    (tmp_path / "old.heimdall").write_text(json.dumps(doc, indent=2))
    proc = heimdall("inspect", "--json", "old.heimdall", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["payload"]["md5"] == hashlib.md5(onnx_bytes).hexdigest()
    assert info["payload"]["checksums"] == "verified"
    assert heimdall("verify", "old.heimdall", cwd=tmp_path).returncode == 0


# -- refusing -------------------------------------------------------------------------------


def test_outputs_get_the_umask_permissions(tmp_path: Path, packed: Path) -> None:
    for umask in (0o022, 0o077):
        out = f"out-{umask:o}.onnx"
        proc = subprocess.run(
            [*HEIMDALL, "unpack", "m.heimdall", "-o", out],
            cwd=tmp_path,
            capture_output=True,
            env=ENV,
            timeout=120,
            preexec_fn=lambda umask=umask: os.umask(umask),  # type: ignore[misc]
        )
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / out).stat().st_mode & 0o777 == 0o666 & ~umask


def test_unpack_refuses_to_overwrite(tmp_path: Path, packed: Path, model: Path) -> None:
    out = tmp_path / "out.onnx"
    out.write_bytes(b"precious")
    proc = heimdall("unpack", "m.heimdall", "-o", "out.onnx", cwd=tmp_path)
    assert_one_error_line(proc, "File exists", "out.onnx", "Pass --force")
    assert out.read_bytes() == b"precious"
    assert leftovers(tmp_path, "out.onnx") == ["out.onnx"]
    proc = heimdall("unpack", "m.heimdall", "-o", "out.onnx", "--force", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == model.read_bytes()
    # pack refuses the same way.
    proc = heimdall("pack", "m.onnx", "-o", "m.heimdall", cwd=tmp_path)
    assert_one_error_line(proc, "File exists", "Pass --force")


class FifoReader:
    """Reads everything written to a FIFO, on a thread (opening it blocks until a writer)."""

    def __init__(self, path: Path) -> None:
        self.path, self.data = path, b""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with open(self.path, "rb") as f:
            self.data = f.read()

    def result(self) -> bytes:
        if self._thread.is_alive():  # the writer never opened it: let the reader go
            fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        self._thread.join(10)
        assert not self._thread.is_alive()
        return self.data


def test_force_writes_into_a_fifo(tmp_path: Path, packed: Path, model: Path) -> None:
    """--force onto a FIFO feeds it; it never becomes a regular file (issue 8, item 11)."""
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    proc = heimdall("unpack", "m.heimdall", "-o", "out.fifo", cwd=tmp_path)
    assert_one_error_line(proc, "File exists", "Pass --force")  # still needs --force
    for command, expected in (
        (["unpack", "m.heimdall", "-o", "out.fifo", "--force"], model.read_bytes()),
        (["pack", "m.onnx", "-o", "out.fifo", "--force", "-q"], None),
    ):
        reader = FifoReader(fifo)
        proc = heimdall(*command, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr.decode()
        data = reader.result()
        if expected is not None:
            assert data == expected
        else:
            assert json.loads(data)["model"]["model_name"] == "m"
        assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert leftovers(tmp_path, "out.fifo") == ["out.fifo"]


def test_a_bad_bundle_writes_nothing_into_a_fifo(tmp_path: Path) -> None:
    (tmp_path / "bad.heimdall").write_bytes(BAD["md5_mismatch"]())
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    reader = FifoReader(fifo)
    proc = heimdall("unpack", "bad.heimdall", "-o", "out.fifo", "--force", cwd=tmp_path)
    assert_one_error_line(proc, "MD5")
    assert reader.result() == b""
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_force_writes_into_dev_null(tmp_path: Path, packed: Path) -> None:
    before = os.stat(os.devnull)
    for command in (["unpack", "m.heimdall"], ["pack", "m.onnx", "-q"]):
        proc = heimdall(*command, "-o", os.devnull, "--force", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr.decode()
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert not list(Path("/dev").glob(".null.*.part"))


@pytest.mark.parametrize(
    "command",
    [
        ["unpack", "missing.heimdall", "-o", "x.onnx"],
        ["inspect", "missing.heimdall"],
        ["verify", "missing.heimdall"],
    ],
)
def test_missing_input(tmp_path: Path, command: list[str]) -> None:
    proc = heimdall(*command, cwd=tmp_path)
    line = assert_one_error_line(proc)
    assert line == "Error: Bundle file not found: missing.heimdall"
    assert leftovers(tmp_path, "x.onnx") == []


def test_missing_model_and_output_directory(tmp_path: Path, packed: Path) -> None:
    assert_one_error_line(
        heimdall("pack", "nope.onnx", "-o", "x.heimdall", cwd=tmp_path),
        "Model file not found: nope.onnx",
    )
    assert_one_error_line(
        heimdall("unpack", "m.heimdall", "-o", "no/such/dir/x.onnx", cwd=tmp_path), "not found"
    )


def test_verify_fails_for_a_payload_that_is_not_onnx(tmp_path: Path) -> None:
    (tmp_path / "junk.heimdall").write_bytes(bundle_bytes(b"definitely not a protobuf model"))
    proc = heimdall("verify", "junk.heimdall", cwd=tmp_path)
    line = assert_one_error_line(proc, "junk.heimdall", "invalid ONNX model")
    assert "/tmp" not in line and "model.onnx" not in line  # no temporary path
    proc = heimdall("verify", "--json", "junk.heimdall", cwd=tmp_path)
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert result["ok"] is False
    assert result["checks"] == {"structure": True, "checksums": True, "onnx": False}
    assert "invalid ONNX model" in result["error"]
    # The checksums were fine: inspect and unpack have nothing to complain about.
    assert heimdall("unpack", "junk.heimdall", "-o", "junk.onnx", cwd=tmp_path).returncode == 0


# -- bad bundles ----------------------------------------------------------------------------

GOOD = bundle_bytes(b"\x08\x07" * 3000)
B64 = base64.b64encode(b"\x08\x07" * 3000)


def _zstd_cut() -> bytes:
    data = zstandard.ZstdCompressor(write_checksum=True).compress(GOOD)
    return data[:-2]


def _deep() -> bytes:
    return b'{"format_version":"1.1.0","training_config":' + b"[" * 100_000


def _big_section() -> bytes:
    return (
        b'{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        b'"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"},'
        b'"training_config":{"notes":"' + b"n" * (65 << 20) + b'"}}'
    )


BAD: dict[str, Callable[[], bytes]] = {
    "not_json": lambda: b"this is not json\n",
    "empty": lambda: b"",
    "truncated_in_payload": lambda: GOOD[: len(GOOD) // 2],
    "truncated_after_payload": lambda: GOOD[:-5],
    "zstd_truncated": _zstd_cut,
    "gzip_truncated": lambda: gzip.compress(GOOD)[:-3],
    "invalid_base64": lambda: GOOD.replace(B64[100:104], b"!!!!"),
    "padding_in_the_middle": lambda: GOOD.replace(B64[100:104], b"AA=="),
    "checksum_mismatch": lambda: GOOD.replace(b'"onnx_size_bytes":6000', b'"onnx_size_bytes":6001'),
    "md5_mismatch": lambda: re.sub(
        rb'"onnx_md5":"[0-9a-f]{32}"', b'"onnx_md5":"' + b"0" * 32 + b'"', GOOD
    ),
    "missing_model_name": lambda: GOOD.replace(b'"model_name":"m",', b""),
    "version_as_list": lambda: GOOD.replace(b'"version":1', b'"version":[1]'),
    "duplicate_payload": lambda: GOOD.replace(
        b'"onnx_model_base64":"', b'"onnx_model_base64":"QUJD","onnx_model_base64":"'
    ),
    "duplicate_model": lambda: GOOD[:-3] + b'},"model":{"model_name":"x","version":1}}\n',
    "deep_nesting": _deep,
    "unsupported_version": lambda: GOOD.replace(
        b'"format_version":"1.1.0"', b'"format_version":"2.0.0"'
    ),
    "trailing_garbage": lambda: GOOD + b"garbage",
    "key_with_newline": lambda: GOOD.replace(b'"model_name"', b'"a\\nb":tru,"model_name"'),
    "metadata_over_64_mib": _big_section,
}


@pytest.mark.parametrize("name", list(BAD))
def test_unpack_bad_bundle(tmp_path: Path, name: str) -> None:
    data = BAD[name]()
    assert data != GOOD
    (tmp_path / "bad.heimdall").write_bytes(data)
    proc = heimdall("unpack", "bad.heimdall", "-o", "out.onnx", cwd=tmp_path)
    assert_one_error_line(proc)
    assert leftovers(tmp_path, "out.onnx") == []


@pytest.mark.parametrize(
    "name",
    [
        "not_json",
        "truncated_in_payload",
        "zstd_truncated",
        "checksum_mismatch",
        "duplicate_payload",
        "key_with_newline",
    ],
)
def test_verify_and_inspect_bad_bundle(tmp_path: Path, name: str) -> None:
    (tmp_path / "bad.heimdall").write_bytes(BAD[name]())
    assert_one_error_line(heimdall("verify", "bad.heimdall", cwd=tmp_path))
    if name != "checksum_mismatch":  # inspect reports declared checksums without decoding
        assert_one_error_line(heimdall("inspect", "bad.heimdall", cwd=tmp_path))


def test_unpack_to_stdout_writes_nothing_for_a_bad_bundle(tmp_path: Path) -> None:
    """stdout cannot be renamed into place: the model must be held back until verified."""
    for name in ("md5_mismatch", "truncated_after_payload", "trailing_garbage"):
        (tmp_path / "bad.heimdall").write_bytes(BAD[name]())
        proc = heimdall("unpack", "bad.heimdall", "-o", "-", cwd=tmp_path)
        assert_one_error_line(proc)
        assert proc.stdout == b"", name


def test_unpack_bad_bundle_from_stdin_leaves_nothing(tmp_path: Path) -> None:
    proc = heimdall("unpack", "-", "-o", "out.onnx", cwd=tmp_path, stdin=BAD["md5_mismatch"]())
    assert_one_error_line(proc, "MD5")
    assert leftovers(tmp_path, "out.onnx") == []


def test_inspect_prints_values_orjson_refuses(tmp_path: Path) -> None:
    # Valid JSON that orjson cannot write back: a 100-bit integer and a lone surrogate.
    path = tmp_path / "odd.heimdall"
    path.write_text(
        '{"format_version":"1.0.0","bundle_metadata":{"bundle_id":"b","created_at":"t",'
        '"note":"\\ud800"},"x_big":123456789012345678901234567890,'
        '"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"}}'
    )
    for args in (["inspect", "--json"], ["inspect"]):
        out = subprocess.run([*HEIMDALL, *args, str(path)], capture_output=True)
        assert out.returncode == 0, out.stderr
        assert b"123456789012345678901234567890" in out.stdout


def test_pack_from_stdin_with_shape_overrides(tmp_path: Path, model: Path) -> None:
    out = tmp_path / "s.heimdall"
    proc = subprocess.run(
        [*HEIMDALL, "pack", "-", "-o", str(out), "--name", "piped",
         "--input-shape", "batch,16", "--output-shape", "batch,2", "-q"],
        input=model.read_bytes(), capture_output=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_bytes())
    assert doc["model"]["input_shape"] == ["batch", 16]
    assert doc["model"]["output_shape"] == ["batch", 2]
    assert doc["model"]["onnx_size_bytes"] == model.stat().st_size
    bad = subprocess.run(
        [*HEIMDALL, "pack", str(model), "-o", str(tmp_path / "x"),
         "--input-shape", "1,,2"],
        capture_output=True,
    )  # fmt: skip
    assert bad.returncode == 2 and b"--input-shape" in bad.stderr
