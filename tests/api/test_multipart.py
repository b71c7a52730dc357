"""Uploads as users send them: the raw body whatever its Content-Type (curl --data-binary
sends a form type), and multipart/form-data, one import per file (201 all, else 207)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from heimdall_io.api.multipart import MultipartFiles
from heimdall_io.errors import MalformedBundleError, PayloadTooLargeError
from tests.support.synthetic import synthetic_model_bytes, write_external_model

from .helpers import MODELS, HeimdallServer, client, export_ok, register_model

LIMIT = 600_000


@pytest.fixture(scope="module")
def server(heimdall_server_factory: Any) -> HeimdallServer:
    """Open API, an import limit of LIMIT bytes per file."""
    return heimdall_server_factory({"HEIMDALL_MAX_IMPORT_BYTES": str(LIMIT)},  # type: ignore[no-any-return]
                                   "multipart")  # fmt: skip


@pytest.fixture(scope="module")
def bundle(server: HeimdallServer, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("mp") / "small.onnx"
    path.write_bytes(synthetic_model_bytes(100_000, seed=4))
    model_id = register_model(server, path)
    with client(server, key=None) as http:
        return export_ok(http, model_id).content


def _ids(server: HeimdallServer) -> set[str]:
    with client(server, key=None) as http:
        return {m["model_id"] for m in http.get(MODELS).json()}


@pytest.mark.parametrize("ctype", ["application/x-www-form-urlencoded", "text/plain", None,
                                   "application/octet-stream"])  # fmt: skip
def test_raw_body_whatever_the_content_type(server: HeimdallServer, bundle: bytes,
                                            ctype: str | None) -> None:  # fmt: skip
    headers = {"Content-Type": ctype} if ctype else {}
    with client(server, key=None) as http:
        r = http.post(f"{MODELS}/import", content=bundle, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["model_name"].endswith("(Imported)")


def test_batch_all_ok_201(server: HeimdallServer, bundle: bytes) -> None:
    files = [("file", ("a.heimdall", bundle)), ("files", ("b.heimdall", bundle))]
    with client(server, key=None) as http:
        r = http.post(f"{MODELS}/import", files=files, data={"note": "not a file"},
                      params={"validate": "false"})  # fmt: skip
    assert r.status_code == 201, r.text
    results = r.json()["results"]
    assert [(x["status"], x["filename"], x["field"]) for x in results] == [
        (201, "a.heimdall", "file"), (201, "b.heimdall", "files")]  # fmt: skip
    assert {x["model_id"] for x in results} <= _ids(server)


def test_batch_partial_207_each_all_or_nothing(server: HeimdallServer, bundle: bytes) -> None:
    before = _ids(server)
    cut = bundle[: len(bundle) // 2]
    big = b" " * (LIMIT + 1)
    files = [("file", ("ok.heimdall", bundle)), ("file", ("cut.heimdall", cut)),
             ("file", ("big.heimdall", big)), ("file", ("ok2.heimdall", bundle))]  # fmt: skip
    with client(server, key=None) as http:
        r = http.post(f"{MODELS}/import", files=files)
    assert r.status_code == 207, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 400, 413, 201]
    assert results[1]["detail"].startswith("Invalid bundle format: ")
    created = _ids(server) - before
    assert created == {results[0]["model_id"], results[3]["model_id"]}


def test_no_file_part_400(server: HeimdallServer) -> None:
    with client(server, key=None) as http:
        r = http.post(f"{MODELS}/import", data={"a": "b"}, files=[("x", ("", b""))])
        r2 = http.post(f"{MODELS}/import", content=b"--x\r\n",
                       headers={"Content-Type": "multipart/form-data"})  # fmt: skip
    assert r.status_code in (400, 207)
    assert r2.status_code == 400 and "boundary" in r2.json()["detail"]


def _body(parts: list[tuple[str, str | None, bytes]], boundary: str = "BOUND") -> bytes:
    out = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


class _Pieces:
    """A body delivered in pieces of ``n`` bytes (every split point gets exercised)."""

    def __init__(self, data: bytes, n: int) -> None:
        self._src, self._n = io.BytesIO(data), n

    def read(self, _: int) -> bytes:
        return self._src.read(self._n)


@pytest.mark.parametrize("piece", [1, 3, 7, 64, 1 << 20])
def test_multipart_files_splits_anywhere(piece: int) -> None:
    parts = [("a", "one.heimdall", b"first\r\n--BOUN not a boundary"), ("note", None, b"text"),
             ("b", "two.heimdall", b""), ("c", "three.heimdall", b"x" * 1000)]  # fmt: skip
    files = MultipartFiles(_Pieces(_body(parts), piece), b"BOUND", None)
    got = []
    while (found := files.next_file()) is not None:
        part, reader = found
        data = b""
        while chunk := reader.read(5):
            data += chunk
        got.append((part.field, part.filename, data))
    assert got == [(n, f, d) for n, f, d in parts if f]


def test_multipart_files_skips_an_unread_file_and_limits_each() -> None:
    parts = [("a", "one", b"1" * 100), ("b", "two", b"2" * 10)]
    files = MultipartFiles(_Pieces(_body(parts), 13), b"BOUND", 50)
    part, reader = files.next_file() or (None, None)
    assert reader is not None
    with pytest.raises(PayloadTooLargeError):
        while reader.read(20):
            pass
    part, reader = files.next_file() or (None, None)
    assert part is not None and reader is not None and part.filename == "two"
    data = b""
    while chunk := reader.read(100):
        data += chunk
    assert data == b"2" * 10
    assert files.next_file() is None


def test_multipart_files_truncated() -> None:
    body = _body([("a", "one", b"1" * 100)])[:120]
    files = MultipartFiles(_Pieces(body, 8), b"BOUND", None)
    _, reader = files.next_file() or (None, None)
    assert reader is not None
    with pytest.raises(MalformedBundleError):
        while reader.read(10):
            pass
    assert files.broken


def test_results_are_json_lines_friendly(server: HeimdallServer, bundle: bytes) -> None:
    with client(server, key=None) as http:
        r = http.post(f"{MODELS}/import", files={"file": ("m.heimdall", bundle)})
    assert r.status_code == 201
    json.dumps(r.json())
    assert r.json()["results"][0]["onnx_size_bytes"] == 100_000


def test_a_bundle_with_external_data_in_a_batch(
    server: HeimdallServer, bundle: bytes, tmp_path: Path
) -> None:
    """A model directory's bundle imports from a form like any other: all its files."""
    sizes = write_external_model(tmp_path / "net", 200_000, files=2, subdir="data")
    packed = tmp_path / "net.heimdall"
    subprocess.run([sys.executable, "-m", "heimdall_io", "pack", str(tmp_path / "net"), "-o",
                    str(packed), "--name", "FormNet", "-q"], check=True)  # fmt: skip
    files = [("file", ("net.heimdall", packed.read_bytes())), ("file", ("b.heimdall", bundle))]
    with client(server, key=None) as http:
        r = http.post(f"{MODELS}/import", files=files)
        assert r.status_code == 201, r.text
        first = r.json()["results"][0]
        detail = http.get(f"{MODELS}/{first['model_id']}").json()
    stored = {f["path"]: (f["size_bytes"], f["md5"]) for f in detail["external_data"]}
    assert stored == {
        p: (n, hashlib.md5((tmp_path / "net" / p).read_bytes()).hexdigest())
        for p, n in sizes.items() if p != "model.onnx"
    }  # fmt: skip
