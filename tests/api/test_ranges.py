"""Exports of a known size: Content-Length (exactly the bytes sent), a strong ETag,
pinned bundle ids (same request, same bytes), Range/If-Range, HEAD; over real HTTP."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from heimdall_io.api.errors import ApiError
from heimdall_io.api.ranges import parse_range
from heimdall_io.codec import read_bundle
from tests.support.synthetic import synthetic_model_bytes

from .helpers import MODELS, HeimdallServer, client, raw_exchange, register_model, request_head


@pytest.fixture(scope="module")
def model(heimdall_server: HeimdallServer, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[str, bytes]:  # fmt: skip
    path = tmp_path_factory.mktemp("ranges") / "ranged.onnx"
    path.write_bytes(synthetic_model_bytes(700_001, seed=5))
    return register_model(heimdall_server, path), path.read_bytes()


def _export(model_id: str) -> str:
    return f"{MODELS}/{model_id}/export"


def test_content_length_is_the_bytes_sent(heimdall_server: HeimdallServer,
                                          model: tuple[str, bytes]) -> None:  # fmt: skip
    model_id, onnx = model
    raw = raw_exchange(heimdall_server, request_head("GET", _export(model_id), Connection="close"))
    head, _, body = raw.partition(b"\r\n\r\n")
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    headers = {k.lower(): v for k, v in headers.items()}
    assert "transfer-encoding" not in headers
    assert int(headers["content-length"]) == len(body)
    assert headers["etag"].startswith('"') and headers["accept-ranges"] == "none"
    import io

    sink = io.BytesIO()
    info = read_bundle(io.BytesIO(body), sink)
    assert sink.getvalue() == onnx and info.md5 == hashlib.md5(onnx).hexdigest()
    pinned = headers["content-location"]
    bundle_id = headers["x-heimdall-bundle-id"]
    assert pinned.endswith(f"bundle_id={bundle_id}")
    with client(heimdall_server) as http:
        again = http.get(pinned)
        assert again.status_code == 200 and again.headers["etag"] != headers["etag"]
        assert again.headers["x-heimdall-bundle-id"] == bundle_id


def test_pinned_exports_are_the_same_bytes(heimdall_server: HeimdallServer,
                                           model: tuple[str, bytes]) -> None:  # fmt: skip
    model_id, _ = model
    bundle_id = str(uuid.uuid4())
    with client(heimdall_server) as http:
        a = http.get(_export(model_id), params={"bundle_id": bundle_id})
        b = http.get(_export(model_id), params={"bundle_id": bundle_id.upper()})
        c = http.get(_export(model_id), params={"bundle_id": str(uuid.uuid4())})
        shown = http.get(f"{MODELS}/{model_id}").json()
        bad = http.get(_export(model_id), params={"bundle_id": "nope"})
    assert a.content == b.content and a.headers["etag"] == b.headers["etag"]
    assert c.headers["etag"] != a.headers["etag"]
    assert a.headers["accept-ranges"] == "bytes" and "content-location" not in a.headers
    import json

    meta = json.loads(a.content)["bundle_metadata"]
    assert meta["bundle_id"] == bundle_id
    assert meta["created_at"] == shown["created_at"]  # the model's, not now
    assert bad.status_code == 422


def test_ranges(heimdall_server: HeimdallServer, model: tuple[str, bytes]) -> None:
    model_id, _ = model
    params = {"bundle_id": str(uuid.uuid4())}
    with client(heimdall_server) as http:
        full = http.get(_export(model_id), params=params)
        size, etag = len(full.content), full.headers["etag"]
        for spec, (a, b) in {
            "bytes=0-0": (0, 1), "bytes=100-199": (100, 200), "bytes=-7": (size - 7, size),
            f"bytes={size - 1}-": (size - 1, size), "bytes=5000-": (5000, size),
            f"bytes=1000-{size + 50}": (1000, size), "bytes=333333-444444": (333333, 444445),
        }.items():  # fmt: skip
            r = http.get(
                _export(model_id), params=params, headers={"Range": spec, "If-Range": etag}
            )
            assert r.status_code == 206, (spec, r.text)
            assert r.content == full.content[a:b], spec
            assert r.headers["content-range"] == f"bytes {a}-{b - 1}/{size}"
            assert int(r.headers["content-length"]) == b - a
        r = http.get(_export(model_id), params=params, headers={"Range": f"bytes={size}-"})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}"
        # A stale If-Range, several ranges, another unit: the whole bundle.
        for headers in ({"Range": "bytes=5-", "If-Range": '"stale"'},
                        {"Range": "bytes=0-1,5-6"}, {"Range": "items=0-1"}):  # fmt: skip
            r = http.get(_export(model_id), params=params, headers=headers)
            assert r.status_code == 200 and r.content == full.content
        # Unpinned: a fresh bundle id each time, so a Range is ignored.
        r = http.get(_export(model_id), headers={"Range": "bytes=5-"})
        assert r.status_code == 200 and int(r.headers["content-length"]) == len(r.content)
        head = http.head(_export(model_id), params=params, headers={"Range": "bytes=10-19"})
        assert head.status_code == 206 and head.headers["content-length"] == "10"
        assert head.content == b""


def test_compressed_export_is_not_sized(heimdall_server: HeimdallServer,
                                        model: tuple[str, bytes]) -> None:  # fmt: skip
    model_id, _ = model
    with client(heimdall_server) as http:
        params = {"compression": "zstd", "bundle_id": str(uuid.uuid4())}
        r = http.get(_export(model_id), params=params, headers={"Range": "bytes=0-9"})
    assert r.status_code == 200 and "etag" not in r.headers
    assert r.headers.get("transfer-encoding") == "chunked"


def test_range_of_a_missing_object_gets_a_status(heimdall_server: HeimdallServer,
                                                 tmp_path: Path) -> None:  # fmt: skip
    path = tmp_path / "gone.onnx"
    path.write_bytes(synthetic_model_bytes(10_000, seed=9))
    model_id = register_model(heimdall_server, path, name="Gone")
    for obj in (heimdall_server.home / "objects").rglob("Gone-*"):
        obj.unlink()
    with client(heimdall_server) as http:
        r = http.get(_export(model_id), params={"bundle_id": str(uuid.uuid4())},
                     headers={"Range": "bytes=10-20"})  # fmt: skip
    assert r.status_code == 500 and "Failed to download ONNX model" in r.json()["detail"]


def test_parse_range() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=0-", 10) == (0, 10)
    assert parse_range("bytes = 2-3", 10) == (2, 4)
    assert parse_range("bytes=-20", 10) == (0, 10)
    assert parse_range("bytes=5-2", 10) is None
    assert parse_range("bytes=a-b", 10) is None
    assert parse_range("bytes=-", 10) is None
    for bad in ("bytes=10-", "bytes=-0", "bytes=99-100"):
        with pytest.raises(ApiError) as e:
            parse_range(bad, 10)
        assert e.value.status == 416
