"""Bad input: the right HeimdallError subclass, a one-line message, bounded time and memory.

Never a success on a damaged bundle, never an exception that is not a HeimdallError.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from heimdall_io import BundleReader, Limits, inspect_bundle, read_bundle, write_bundle
from heimdall_io.errors import (
    BundleError,
    ChecksumMismatchError,
    DuplicateKeyError,
    HeimdallError,
    InvalidBase64Error,
    LimitExceededError,
    MalformedBundleError,
    PayloadTooLargeError,
    SchemaError,
    TruncatedBundleError,
    UnsupportedVersionError,
)

from .streams import ShortReads

PAYLOAD = bytes(range(256)) * 4 + b"\xff\xfe"  # 1026 bytes: base64 ends in '='
B64 = base64.b64encode(PAYLOAD).decode()
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


def document(**model_extra: Any) -> dict[str, Any]:
    return {
        "format_version": "1.1.0",
        "bundle_metadata": {"bundle_id": "b-1", "created_at": "2025-01-01T00:00:00Z"},
        "training_config": {"epochs": 3, "optimizer": "Adam"},
        "model": {"model_name": "m", "version": 1, "onnx_model_base64": B64, **model_extra},
    }


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def good_bundle(compression: str = "none") -> bytes:
    header = document()
    del header["model"]["onnx_model_base64"]
    out = io.BytesIO()
    write_bundle(out, header, io.BytesIO(PAYLOAD), compression=compression)
    return out.getvalue()


def read_error(data: bytes | io.RawIOBase, limits: Limits | None = None) -> HeimdallError:
    """Read to the end; return the HeimdallError raised (fail on success or other errors)."""
    src = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        read_bundle(src, io.BytesIO(), limits=limits)  # type: ignore[arg-type]
    except HeimdallError as e:
        assert "\n" not in str(e) and "\r" not in str(e), repr(str(e))
        assert str(e).strip()
        return e
    raise AssertionError("a bad bundle was read successfully")


def assert_error(
    data: bytes, exc: type[HeimdallError], match: str | None = None, **kw: Any
) -> None:
    e = read_error(data, **kw)
    assert isinstance(e, exc), f"{type(e).__name__}: {e}"
    if match is not None:
        assert match in str(e), str(e)
    # The same through a pipe returning 3 bytes per read.
    e2 = read_error(ShortReads(data, 3, fixed=True), **kw)
    assert type(e2) is type(e), f"{type(e2).__name__}: {e2}"


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


# -- schema ------------------------------------------------------------------------------------


def drop(path: str) -> bytes:
    doc: Any = document()
    *parents, last = path.split(".")
    target = doc
    for p in parents:
        target = target[p]
    del target[last]
    return dumps(doc)


@pytest.mark.parametrize(
    "path",
    [
        "format_version",
        "bundle_metadata",
        "model",
        "model.model_name",
        "model.onnx_model_base64",
        "model.version",
        "bundle_metadata.bundle_id",
        "bundle_metadata.created_at",
    ],
)
def test_missing_required_field(path: str) -> None:
    assert_error(drop(path), SchemaError, path.split(".")[-1])


def replace(path: str, value: Any) -> bytes:
    doc: Any = document()
    *parents, last = path.split(".")
    target = doc
    for p in parents:
        target = target[p]
    target[last] = value
    return dumps(doc)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("model.version", [1]),
        ("model.version", None),
        ("model.input_shape", "1x3x224x224"),
        ("model.output_shape", {"a": 1}),
        ("model.model_name", 42),
        ("model.onnx_opset", "14"),
        ("model.onnx_size_bytes", -1),
        ("model.onnx_md5", "not-hex"),
        ("model.onnx_sha256", MD5),
        ("format_version", 1.0),
        ("format_version", None),
        ("bundle_metadata", "exported"),
        ("bundle_metadata", None),
        ("bundle_metadata.bundle_id", 7),
        ("training_config", [1, 2]),
        ("training_config.epochs", "ten"),
        ("performance_metrics", {"train_loss": "low"}),
        ("normalization_stats", "none"),
        ("sample_predictions", {"input": 1}),
        ("sample_predictions", [{"error_meters": "far"}]),
    ],
)
def test_wrong_types(path: str, value: Any) -> None:
    assert_error(replace(path, value), SchemaError)


@pytest.mark.parametrize("value", [[{"model_name": "m"}], "model", None, 3])
def test_model_not_an_object(value: Any) -> None:
    doc = document()
    doc["model"] = value
    assert_error(dumps(doc), SchemaError)


def test_schema_error_in_a_section_fails_before_the_payload() -> None:
    doc = document()
    doc["training_config"]["epochs"] = "ten"
    with pytest.raises(SchemaError, match="training_config"):
        BundleReader(io.BytesIO(dumps(doc)))


# -- duplicate keys --------------------------------------------------------------------------


def test_duplicate_payload_is_never_preferred() -> None:
    other = base64.b64encode(b"a different, valid model").decode()
    other_md5 = hashlib.md5(b"a different, valid model").hexdigest()
    head = (
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"model":{"model_name":"m","version":1,'
    )
    for body in (
        f'"onnx_model_base64":"{B64}","onnx_model_base64":"{other}"}}}}',
        f'"onnx_model_base64":"{other}","onnx_model_base64":"{B64}"}}}}',
        # checksums that match the second payload: preferring it would "verify"
        f'"onnx_md5":"{other_md5}","onnx_model_base64":"{B64}","onnx_model_base64":"{other}"}}}}',
        f'"onnx_model_base64":"{B64}","x":1,"onnx_model_base64":"{B64}"}}}}',
    ):
        assert_error((head + body).encode(), DuplicateKeyError, "onnx_model_base64")


@pytest.mark.parametrize(
    "raw",
    [
        # duplicated model, with or without a second payload
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"},'
        '"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"}}',
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"},'
        '"model":{"model_name":"m","version":1}}',
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"model":[],"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"}}',
        # duplicated top-level keys
        '{"format_version":"1.1.0","format_version":"1.0.0","bundle_metadata":{"bundle_id":"b",'
        '"created_at":"t"},"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"}}',
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"training_config":{},"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"},'
        '"training_config":{}}',
        # inside a metadata section, and deeper
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","bundle_id":"c",'
        '"created_at":"t"},"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"}}',
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"training_config":{"epochs":1,"epochs":2},'
        '"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"}}',
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"sample_predictions":[{"input":{"a":{"x":1,"x":1}}}],'
        '"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"}}',
        # inside model, around the payload
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"model":{"model_name":"m","model_name":"n","version":1,"onnx_model_base64":"QUJD"}}',
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"model":{"model_name":"m","version":1,"onnx_size_bytes":3,"onnx_model_base64":"QUJD",'
        '"onnx_size_bytes":3}}',
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"model":{"model_name":"m","version":1,"input_shape":[{"a":1,"a":2}],'
        '"onnx_model_base64":"QUJD"}}',
    ],
)
def test_duplicate_keys(raw: str) -> None:
    assert_error(raw.encode(), DuplicateKeyError)


# -- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"format_version":"1.1.0","training_config":' + b"[" * 100_000,
        b'{"format_version":"1.1.0","training_config":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"format_version":"1.1.0","sample_predictions":' + b'{"a":' * 100_000,
        b'{"model":{"input_shape":' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
        b'{"x":"' + b"[" * 10 + b'",' + b'"y":' + b"[{" * 50_000,
    ],
)
def test_deep_nesting_fails_quickly(raw: bytes) -> None:
    t = time.perf_counter()
    assert_error(raw, LimitExceededError, "nested")
    assert time.perf_counter() - t < 2


def test_deep_nesting_at_the_document_root() -> None:
    assert isinstance(read_error(b"[" * 100_000), MalformedBundleError)


def test_nesting_limit_boundary() -> None:
    limits = Limits(max_depth=5)
    ok = document()
    ok["training_config"]["x"] = [[1]]  # root > training_config > [ > [ : depth 4
    read_bundle(io.BytesIO(dumps(ok)), io.BytesIO(), limits=limits)
    deep = document()
    deep["training_config"]["x"] = [[[[1]]]]
    assert_error(dumps(deep), LimitExceededError, limits=limits)
    # Brackets inside strings are not nesting.
    strings = document()
    strings["training_config"]["x"] = ["[[[[[[{{{{{", {"k": "]]]]}}}"}]
    read_bundle(io.BytesIO(dumps(strings)), io.BytesIO(), limits=limits)


@pytest.mark.parametrize(
    "section",
    [
        {"description": "x" * 5000},
        {"notes": ["y" * 100] * 60},
        {"many": {str(i): i for i in range(1000)}},
    ],
)
def test_metadata_section_over_the_bound(section: dict[str, Any]) -> None:
    limits = Limits(max_metadata_bytes=4096)
    doc = document()
    doc["training_config"].update(section)
    assert_error(dumps(doc), LimitExceededError, "4,096 bytes", limits=limits)
    # The same metadata is fine under the default bound.
    read_bundle(io.BytesIO(dumps(doc)), io.BytesIO())


def test_metadata_bound_counts_all_sections_and_whitespace() -> None:
    limits = Limits(max_metadata_bytes=4096)
    doc = document()
    for i in range(10):
        doc[f"x_section_{i}"] = {"v": "z" * 500}  # each small, together over
    assert_error(dumps(doc), LimitExceededError, limits=limits)
    padded = dumps(document()).replace(b'"model"', b" " * 5000 + b'"model"')
    assert_error(padded, LimitExceededError, limits=limits)
    # The payload itself does not count.
    big = document()
    big["model"]["onnx_model_base64"] = base64.b64encode(bytes(100_000)).decode()
    read_bundle(io.BytesIO(dumps(big)), io.BytesIO(), limits=limits)


def test_metadata_bound_on_a_long_scalar() -> None:
    limits = Limits(max_metadata_bytes=4096)
    raw = b'{"format_version":"1.1.0","training_config":{"epochs":' + b"1" * 100_000 + b"}}"
    assert_error(raw, LimitExceededError, limits=limits)


def test_payload_over_max_payload_bytes() -> None:
    limits = Limits(max_payload_bytes=len(PAYLOAD) - 1)
    with pytest.raises(PayloadTooLargeError):
        read_bundle(io.BytesIO(good_bundle()), io.BytesIO(), limits=limits)
    read_bundle(
        io.BytesIO(good_bundle()), io.BytesIO(), limits=Limits(max_payload_bytes=len(PAYLOAD))
    )


CHILD = textwrap.dedent(
    """
    import resource, sys, time
    import heimdall_io as hio

    class Null:
        def write(self, b):
            return len(b)

    t = time.perf_counter()
    try:
        with open(sys.argv[1], "rb") as f:
            hio.read_bundle(f, Null())
        result = "success"
    except hio.HeimdallError as e:
        result = type(e).__name__ + ": " + str(e)
    except BaseException as e:
        result = "OTHER " + type(e).__name__ + ": " + str(e)
    print(result)
    print(time.perf_counter() - t)
    # Peak RSS of this process image. ru_maxrss would also count the parent's RSS at
    # fork time (Linux keeps it across execve), so prefer VmHWM.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1])
    except OSError:
        pass
    print(peak)
    """
)


def read_in_child(path: Path) -> tuple[str, float, int]:
    """Read a bundle in a fresh process: (outcome, seconds, peak RSS in MiB)."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    outcome, seconds, rss = proc.stdout.splitlines()
    return outcome, float(seconds), int(rss) >> 10


def write_chunks(path: Path, head: bytes, chunk: bytes, count: int, tail: bytes) -> None:
    with open(path, "wb") as f:
        f.write(head)
        for _ in range(count):
            f.write(chunk)
        f.write(tail)


@pytest.mark.slow
def test_section_over_the_default_64_mib_bound_with_bounded_memory(tmp_path: Path) -> None:
    head = (
        b'{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        b'"training_config":{"notes":"'
    )
    path = tmp_path / "big-section.heimdall"
    write_chunks(path, head, b"a" * (1 << 20), 70, b'"},"model":{}}')
    outcome, seconds, rss = read_in_child(path)
    assert outcome.startswith("LimitExceededError: training_config larger than 64 MiB"), outcome
    assert rss < 200, f"peak RSS {rss} MiB"
    assert seconds < 5

    # The same size as many small values in a list (the container scanner).
    head = (
        b'{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        b'"sample_predictions":['
    )
    path.unlink()
    write_chunks(path, head, b'{"input":"' + b"x" * 1000 + b'"},', 70 << 10, b"{}]}")
    outcome, seconds, rss = read_in_child(path)
    assert outcome.startswith("LimitExceededError: sample_predictions larger"), outcome
    assert rss < 200, f"peak RSS {rss} MiB"
    assert seconds < 5


def zstd_file(path: Path, head: bytes, chunk: bytes, count: int, tail: bytes) -> None:
    """Stream ``head + chunk * count + tail`` into a zstd file, never holding it whole."""
    with open(path, "wb") as f, zstandard.ZstdCompressor().stream_writer(f, closefd=False) as w:
        w.write(head)
        for _ in range(count):
            w.write(chunk)
        w.write(tail)


HEAD = (
    b'{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
    b'"model":{"model_name":"bomb","version":1,"onnx_model_base64":"'
)


@pytest.mark.slow
def test_zstd_bomb_of_base64_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.heimdall"
    zstd_file(path, HEAD, b"A" * (1 << 20), 2048, b'"}}')  # 2 GiB of base64
    assert path.stat().st_size < 512 << 10
    outcome, seconds, rss = read_in_child(path)
    assert outcome.startswith("DecompressionBombError"), outcome
    assert rss < 200, f"peak RSS {rss} MiB"
    assert seconds < 10


@pytest.mark.slow
def test_zstd_bomb_of_whitespace_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    """2 GiB of spaces between tokens: stopped by the metadata bound (a LimitExceededError)."""
    path = tmp_path / "spaces.heimdall"
    zstd_file(path, b"{", b" " * (1 << 20), 2048, b"}")
    outcome, seconds, rss = read_in_child(path)
    assert outcome.startswith(("LimitExceededError", "DecompressionBombError")), outcome
    assert rss < 200, f"peak RSS {rss} MiB"
    assert seconds < 10
    # And spaces inside the base64 are simply invalid base64, found at once.
    path.unlink()
    zstd_file(path, HEAD, b" " * (1 << 20), 2048, b'"}}')
    outcome, seconds, rss = read_in_child(path)
    assert outcome.startswith("InvalidBase64Error"), outcome
    assert seconds < 2


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
