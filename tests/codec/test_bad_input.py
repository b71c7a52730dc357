"""Bad input: the right HeimdallError subclass, a one-line message, bounded time.

Never a success on a damaged bundle, never an exception that is not a HeimdallError.
Documents of a bad shape are in test_bad_documents.py, size and depth bounds in
test_limits.py; the helpers all three share are in bad_input.py.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from heimdall_io import BundleReader, inspect_bundle, read_bundle, write_bundle
from heimdall_io.errors import (
    BundleError,
    ChecksumMismatchError,
    HeimdallError,
    InvalidBase64Error,
    LimitExceededError,
    MalformedBundleError,
    SchemaError,
    TruncatedBundleError,
    UnsupportedVersionError,
)

from .bad_input import (
    B64,
    MD5,
    PAYLOAD,
    SHA256,
    assert_error,
    document,
    dumps,
    good_bundle,
    read_error,
)
from .streams import ShortReads

# -- not a bundle --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b" \n\t",
        b"hello",
        b"<html></html>",
        b"[1, 2]",
        b"null",
        b'"string"',
        b"{",
        b"{}",
        b'{"format_version": "1.1.0"}',
        b"\xef\xbb\xbf{}",
        b"\x00\x00\x00\x00",
        b"{'single': 'quotes'}",
        b'{"a" 1}',
        b'{"a": 1,}',
        b'{"a": 1 "b": 2}',
        '{"a": "\udcff"}'.encode("utf-8", "surrogateescape"),
        b"\x1f\x8b",
        b"\x28\xb5\x2f\xfd",
        b"\x28\xb5\x2f\xfd" + b"garbage" * 10,
        b"\x1f\x8b\x08\x00garbage" * 5,
    ],
)
def test_not_a_bundle(data: bytes) -> None:
    e = read_error(data)
    assert isinstance(e, BundleError)


def test_empty_input() -> None:
    assert_error(b"", MalformedBundleError, "empty")


# -- truncation ------------------------------------------------------------------------------


def test_truncation_at_every_byte_offset() -> None:
    data = good_bundle()
    start = data.index(b'"onnx_model_base64":"') + len(b'"onnx_model_base64":"')
    end = data.index(b'"', start)
    for cut in range(len(data) - 1):  # the last byte is a newline: cutting it is harmless
        e = read_error(data[:cut])
        assert isinstance(e, BundleError), (cut, e)
        if start <= cut <= end:  # inside the payload
            assert isinstance(e, TruncatedBundleError), (cut, e)
    read_bundle(io.BytesIO(data[:-1]), io.BytesIO())  # only whitespace removed


def test_truncation_never_completes_the_payload_stream() -> None:
    """A consumer of iter_payload must never see the end of a cut bundle without an error."""
    data = good_bundle()
    for cut in range(data.index(b"model_base64"), len(data) - 1, 7):
        try:
            reader = BundleReader(io.BytesIO(data[:cut]))
            for _ in reader.iter_payload():
                pass
        except BundleError:
            continue
        raise AssertionError(f"payload completed for a bundle cut at {cut}")


def test_truncation_with_checksums_before_the_payload_and_short_reads() -> None:
    header = document()
    del header["model"]["onnx_model_base64"]
    out = io.BytesIO()
    write_bundle(out, header, io.BytesIO(PAYLOAD), size=len(PAYLOAD), md5=MD5, sha256=SHA256)
    data = out.getvalue()
    for cut in range(0, len(data) - 1, 3):
        e = read_error(ShortReads(data[:cut], 5, fixed=True))
        assert isinstance(e, BundleError), (cut, e)


@pytest.mark.parametrize("compression", ["zstd", "gzip"])
def test_compressed_truncation(compression: str) -> None:
    payload = random.Random(3).randbytes(200_000)
    header = document()
    del header["model"]["onnx_model_base64"]
    out = io.BytesIO()
    write_bundle(out, header, io.BytesIO(payload), compression=compression)
    data = out.getvalue()
    rng = random.Random(0)
    cuts = (
        set(range(0, 64))
        | set(range(len(data) - 64, len(data)))
        | {rng.randrange(len(data)) for _ in range(150)}
    )
    for cut in sorted(cuts):
        e = read_error(data[:cut])
        assert isinstance(e, BundleError), (cut, e)
    if compression == "zstd":  # cut inside the content checksum: still truncated
        assert isinstance(read_error(data[:-2]), TruncatedBundleError)


def test_gzip_made_by_the_gzip_module_truncated() -> None:
    data = gzip.compress(good_bundle())
    for cut in (10, len(data) // 2, len(data) - 8, len(data) - 1):
        assert isinstance(read_error(data[:cut]), BundleError)


# -- invalid base64 --------------------------------------------------------------------------


def with_payload_text(text: str) -> bytes:
    return dumps(document()).replace(B64.encode(), text.encode())


@pytest.mark.parametrize(
    "text",
    [
        B64[:100] + "!" + B64[101:],  # a character outside the alphabet
        B64[:100] + "-" + B64[101:],  # URL-safe alphabet
        B64[:100] + "_" + B64[101:],
        B64[:100] + " " + B64[101:],  # a space
        B64[:100] + "é" + B64[101:],  # non-ASCII
        "AA==AAAA",  # padding in the middle
        "AAA=AAAA",
        "A===",
        "====",
        B64 + "A",  # length not a multiple of 4
        B64[:-1],
        "A",
        "AAAAA",
        B64[:8] + "\\\\" + B64[10:],  # an escaped backslash
        B64[:8] + "\\x41" + B64[12:],  # not a JSON escape
        B64[:8] + "\\\\u0041" + B64[15:],
        B64[:8] + '\\"' + B64[10:],  # an escaped quote
        B64[:8] + "\\ud800" + B64[14:],  # a lone surrogate escape
        B64[:8] + "\\u00e9" + B64[14:],  # a non-ASCII escape
        B64[:8] + "\\b\\f" + B64[12:],
    ],
)
def test_invalid_base64(text: str) -> None:
    e = read_error(with_payload_text(text))
    assert isinstance(e, (InvalidBase64Error, MalformedBundleError)), f"{type(e).__name__}: {e}"
    for n in (1, 2, 3, 5, 7):
        assert type(read_error(ShortReads(with_payload_text(text), n, fixed=True))) is type(e)


def test_data_after_padding_across_chunk_boundaries() -> None:
    """``QUI=`` then more base64, whatever the read sizes: never decoded silently."""
    for first in ("QUI=", "QQ==", "QUJD" * 5 + "QQ=="):
        for rest in ("QUJD", "QQ==", "QUJDRA==", "Q", "=", "==", "=QUJD"):
            data = with_payload_text(first + rest)
            for n in range(1, 12):
                e = read_error(ShortReads(data, n, fixed=True))
                assert isinstance(e, InvalidBase64Error), (first, rest, n, e)
            assert isinstance(read_error(data), InvalidBase64Error)


def test_data_after_padding_at_the_first_buffer_boundary(tmp_path: Path) -> None:
    """The same in a real file, with the padded group around every offset near 8 KiB / 64 KiB."""
    for boundary in (8 << 10, 64 << 10):
        for shift in range(-6, 7):
            prefix_len = len(with_payload_text("@").split(b"@")[0])
            n_groups = (boundary + shift - prefix_len) // 4
            text = "QUJD" * n_groups + "QQ==" + "QUJD" * 4
            path = tmp_path / "pad.heimdall"
            path.write_bytes(with_payload_text(text))
            with open(path, "rb") as f:
                e = read_error(f)  # type: ignore[arg-type]
            assert isinstance(e, InvalidBase64Error), (boundary, shift, e)


def test_payload_that_is_not_a_string() -> None:
    for value in (None, 1, [B64], {"b64": B64}, True):
        doc = document()
        doc["model"]["onnx_model_base64"] = value
        assert_error(dumps(doc), SchemaError)


# -- checksums -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("onnx_size_bytes", len(PAYLOAD) + 1),
        ("onnx_size_bytes", 0),
        ("onnx_md5", "0" * 32),
        ("onnx_md5", hashlib.md5(PAYLOAD[:-1]).hexdigest()),
        ("onnx_sha256", "f" * 64),
    ],
)
@pytest.mark.parametrize("where", ["before", "after"])
def test_checksum_mismatch(field: str, value: Any, where: str) -> None:
    sums = {"onnx_size_bytes": len(PAYLOAD), "onnx_md5": MD5, "onnx_sha256": SHA256}
    sums[field] = value
    doc = document()
    model = doc["model"]
    payload = model.pop("onnx_model_base64")
    doc["model"] = (
        {**model, **sums, "onnx_model_base64": payload}
        if where == "before"
        else {**model, "onnx_model_base64": payload, **sums}
    )
    name = {"onnx_size_bytes": "size", "onnx_md5": "MD5", "onnx_sha256": "SHA-256"}[field]
    assert_error(dumps(doc), ChecksumMismatchError, name)
    # The payload stream must fail at its end, not end cleanly.
    stream = BundleReader(io.BytesIO(dumps(doc))).payload
    with pytest.raises(ChecksumMismatchError):
        stream.read()


def test_checksum_mismatch_in_a_compressed_bundle() -> None:
    doc = document(onnx_md5="0" * 32)
    for data in (gzip.compress(dumps(doc)), zstandard.ZstdCompressor().compress(dumps(doc))):
        assert isinstance(read_error(data), ChecksumMismatchError)


# -- versions, trailing data, keys in messages --------------------------------------------------


@pytest.mark.parametrize("version", ["2.0.0", "0.9.0", "10.0", "", "v1"])
def test_unsupported_format_version(version: str) -> None:
    doc = document()
    doc["format_version"] = version
    assert_error(dumps(doc), UnsupportedVersionError, repr(version))
    # Also when format_version comes after the payload.
    late = {
        "model": doc["model"],
        "bundle_metadata": doc["bundle_metadata"],
        "format_version": version,
    }
    assert_error(dumps(late), UnsupportedVersionError)


def test_unsupported_version_fails_before_the_payload() -> None:
    doc = document()
    doc["format_version"] = "2.0.0"
    with pytest.raises(UnsupportedVersionError):
        BundleReader(io.BytesIO(dumps(doc)))


def test_minor_versions_are_accepted() -> None:
    doc = document()
    doc["format_version"] = "1.7.3"
    read_bundle(io.BytesIO(dumps(doc)), io.BytesIO())


@pytest.mark.parametrize("trailer", [b"x", b"{}", b"\n}", b" ,", b"\x00", b"null", b"\n{...}\n"])
def test_trailing_garbage(trailer: bytes) -> None:
    assert_error(good_bundle() + trailer, MalformedBundleError, "after the bundle")


def test_trailing_garbage_after_a_payload_skipped_by_seek() -> None:
    header = document()
    del header["model"]["onnx_model_base64"]
    out = io.BytesIO()
    write_bundle(out, header, io.BytesIO(PAYLOAD), size=len(PAYLOAD), md5=MD5, sha256=SHA256)
    with pytest.raises(MalformedBundleError):
        inspect_bundle(io.BytesIO(out.getvalue() + b"garbage"))


def test_trailing_whitespace_is_fine() -> None:
    read_bundle(io.BytesIO(good_bundle() + b" \r\n\t\n"), io.BytesIO())


@pytest.mark.parametrize("key", ["a\nb", "line\r\nbreak", "sep\u2028x", "k" * 5000])
def test_messages_stay_on_one_line_whatever_the_keys(key: str) -> None:
    raw = ('{"format_version":"1.1.0",' + json.dumps(key) + ":tru}").encode()
    e = read_error(raw)
    assert isinstance(e, MalformedBundleError)
    assert len(str(e)) < 600
    raw = (
        '{"format_version":"1.1.0","model":{' + json.dumps(key) + ":[" + "[" * 70 + "}}"
    ).encode()
    assert isinstance(read_error(raw), LimitExceededError)


def test_lone_surrogate_key_in_a_typed_section() -> None:
    raw = (
        b'{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t",'
        b'"\\udc00":1},"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"}}'
    )
    assert_error(raw, SchemaError)


# -- fuzzing: damaged bundles never escape as other exceptions --------------------------------


@settings(max_examples=300, deadline=None)
@given(
    compression=st.sampled_from(["none", "zstd", "gzip"]),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["flip", "insert", "delete"]),
            st.integers(0, 10**6),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_damaged_bundles_fail_cleanly(compression: str, edits: list[tuple[str, int, int]]) -> None:
    data = bytearray(good_bundle(compression))
    for op, pos, byte in edits:
        pos %= len(data) + 1
        if op == "insert":
            data[pos:pos] = bytes([byte])
        elif pos < len(data):
            if op == "flip":
                data[pos] ^= byte or 1
            else:
                del data[pos]
    out = io.BytesIO()
    try:
        info = read_bundle(io.BytesIO(bytes(data)), out)
    except HeimdallError as e:
        assert "\n" not in str(e)
        return
    # Accepted: the edits hit metadata or whitespace; a declared MD5 was checked, so the
    # payload can only differ if the edits also removed that declaration.
    assert out.getvalue() == PAYLOAD or info.declared.md5 is None
    assert info.md5 == hashlib.md5(out.getvalue()).hexdigest()
