"""Format 1.2.0's ``model.external_data``: each file a payload of its own, streamed and
verified like the main one; metadata before every payload; hostile entries refused."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
from typing import Any

import pytest

from heimdall_io import BundleReader, inspect_bundle
from heimdall_io.codec import BundleEncoder, ExternalSource
from heimdall_io.errors import (
    ChecksumMismatchError,
    DuplicateKeyError,
    SchemaError,
)
from heimdall_io.format.header import new_header

FILES = {"weights.bin": b"\x01\x02\x03" * 5000 + b"z", "sub/more.bin": b"", "x": b"ab"}


def _sources(files: dict[str, bytes], **known: Any) -> list[ExternalSource]:
    return [ExternalSource(p, len(b), lambda b=b: contextlib.nullcontext(io.BytesIO(b)), **known)
            for p, b in files.items()]  # fmt: skip


def _bundle(files: dict[str, bytes] = FILES, **options: Any) -> bytes:
    header = new_header({"model_name": "m", "version": 1})
    return b"".join(BundleEncoder(header, io.BytesIO(b"MAIN"), external=_sources(files),
                                  **options))  # fmt: skip


def _read_all(raw: bytes) -> tuple[bytes, dict[str, bytes], Any]:
    reader = BundleReader(io.BytesIO(raw))
    main = b"".join(reader.iter_payload())
    files = {path: b"".join(chunks) for path, chunks in reader.iter_external()}
    return main, files, reader.finish()


@pytest.mark.parametrize("compression", ["none", "zstd", "gzip"])
def test_round_trip_streams_every_file(compression: str) -> None:
    raw = _bundle(compression=compression)
    main, files, info = _read_all(raw)
    assert main == b"MAIN" and files == FILES
    assert info.format_version == "1.2.0"
    assert [e.path for e in info.external] == list(FILES)
    for entry in info.external:
        assert entry.md5 == hashlib.md5(FILES[entry.path]).hexdigest()
        assert entry.digests is not None


def test_layout_metadata_first_external_after_payload() -> None:
    doc = json.loads(_bundle())
    model = doc["model"]
    keys = list(model)
    assert keys.index("onnx_model_base64") < keys.index("external_data")
    assert keys[-2:] == ["onnx_md5", "onnx_sha256"]  # only main checksums follow
    for entry in model["external_data"]:
        ek = list(entry)
        assert ek[:2] == ["path", "size_bytes"] and ek.index("data_base64") == 2
        assert base64.b64decode(entry["data_base64"]) == FILES[entry["path"]]


def test_inspect_reads_no_payload_byte() -> None:
    raw = _bundle()
    info = inspect_bundle(io.BytesIO(raw))
    assert not info.verified and [e.size for e in info.external] == [len(b) for b in FILES.values()]
    assert all(e.digests is None for e in info.external)


def test_single_file_bundles_stay_1_1() -> None:
    assert json.loads(_bundle({}))["format_version"] == "1.1.0"


def test_finish_drains_and_verifies_unread_files() -> None:
    raw = _bundle()
    info = BundleReader(io.BytesIO(raw)).finish()
    assert len(info.external) == 3 and all(e.digests for e in info.external)


def _edit(raw: bytes, change: Any) -> bytes:
    doc = json.loads(raw)
    change(doc["model"])
    return json.dumps(doc).encode()


def _set(index: int, **values: Any) -> Any:
    def change(model: dict[str, Any]) -> None:
        model["external_data"][index].update(values)

    return change


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (_set(0, path="../escape"), SchemaError),
        (_set(0, path="/etc/passwd"), SchemaError),
        (_set(0, path="a/./b"), SchemaError),
        (_set(1, path="weights.bin"), SchemaError),  # duplicate
        (_set(0, size_bytes=-1), SchemaError),
        (_set(2, md5="0" * 32), ChecksumMismatchError),
        (_set(0, size_bytes=1), ChecksumMismatchError),
    ],
)
def test_hostile_or_damaged_entries_are_rejected(change: Any, error: type) -> None:
    raw = _edit(_bundle(), change)
    with pytest.raises(error):
        _read_all(raw)


def test_path_must_precede_data() -> None:
    raw = _bundle({"w": b"abc"})
    bad = raw.replace(b'{"path":"w","size_bytes":3,"data_base64":"YWJj"',
                      b'{"size_bytes":3,"data_base64":"YWJj","path":"w"')  # fmt: skip
    assert bad != raw
    with pytest.raises(SchemaError, match="before its data"):
        _read_all(bad)


def test_external_data_must_follow_the_payload() -> None:
    doc = json.loads(_bundle({"w": b"abc"}))
    model = doc["model"]
    doc["model"] = {"external_data": model.pop("external_data"), **model}
    with pytest.raises(SchemaError, match="must follow"):
        _read_all(json.dumps(doc).encode())


def test_duplicate_data_key() -> None:
    raw = _bundle({"w": b"abc"})
    bad = raw.replace(b'"data_base64":"YWJj"', b'"data_base64":"YWJj","data_base64":"YWJj"')
    with pytest.raises(DuplicateKeyError):
        _read_all(bad)


def test_encoder_checks_known_digests() -> None:
    header = new_header({"model_name": "m", "version": 1})
    sources = _sources({"w": b"abc"}, md5="0" * 32)
    with pytest.raises(ChecksumMismatchError):
        b"".join(BundleEncoder(header, io.BytesIO(b"MAIN"), external=sources))


def test_sized_layout_and_every_range() -> None:
    """With every size and digest known (a registry's export), the bundle's length is known
    before a byte is encoded and any range is cut without encoding what precedes it."""
    from heimdall_io.codec.checksums import digest_stream
    from heimdall_io.codec.ranges import iter_range, plain_length

    header = new_header({"model_name": "m", "version": 1})  # one bundle id for every encoder

    def encoder() -> BundleEncoder:
        sources = []
        for path, data in FILES.items():
            d = digest_stream(io.BytesIO(data))
            sources.append(ExternalSource(path, len(data), lambda b=data: contextlib.nullcontext(
                io.BytesIO(b)), d.md5, d.sha256))  # fmt: skip
        d = digest_stream(io.BytesIO(b"MAIN"))
        return BundleEncoder(header, io.BytesIO(b"MAIN"), external=sources, size=d.size,
                             md5=d.md5, sha256=d.sha256)  # fmt: skip

    whole = b"".join(encoder())
    assert plain_length(encoder()) == len(whole)
    n = len(whole)
    for start in range(0, n, 997):
        for stop in (start, min(n, start + 1), min(n, start + 4001), n):
            assert b"".join(iter_range(encoder(), start, stop)) == whole[start:stop]
