"""Untrusted input stays within bounds: nesting depth, metadata size, payload size,
decompression ratio; bounded time and memory even for multi-GiB bombs."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import zstandard

from heimdall_io import Limits, read_bundle
from heimdall_io.errors import LimitExceededError, MalformedBundleError, PayloadTooLargeError

from .bad_input import PAYLOAD, assert_error, document, dumps, good_bundle, read_error


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
def test_section_over_the_default_16_mib_bound_with_bounded_memory(tmp_path: Path) -> None:
    head = (
        b'{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        b'"training_config":{"notes":"'
    )
    path = tmp_path / "big-section.heimdall"
    write_chunks(path, head, b"a" * (1 << 20), 70, b'"},"model":{}}')
    outcome, seconds, rss = read_in_child(path)
    assert outcome.startswith("MetadataLimitError: training_config larger than 16 MiB"), outcome
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
    assert outcome.startswith("MetadataLimitError: sample_predictions larger"), outcome
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
    assert outcome.startswith(("MetadataLimitError", "DecompressionBombError")), outcome
    assert rss < 200, f"peak RSS {rss} MiB"
    assert seconds < 10
    # And spaces inside the base64 are simply invalid base64, found at once.
    path.unlink()
    zstd_file(path, HEAD, b" " * (1 << 20), 2048, b'"}}')
    outcome, seconds, rss = read_in_child(path)
    assert outcome.startswith("InvalidBase64Error"), outcome
    assert seconds < 2


# -- the budget of metadata values (issue 8, item 2) -----------------------------------------


def _flood(where: str, item: bytes, count: int) -> bytes:
    """A document whose metadata ``where`` holds an array of ``count`` copies of ``item``,
    before an invalid payload: reading that far would be an InvalidBase64Error."""
    flood = b"[" + b",".join([item] * count) + b"]"
    head = b'{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
    if where == "top":
        return head + b'"x":' + flood + b',"model":{"model_name":"m","version":1,' \
            b'"onnx_model_base64":"!!!!"}}'  # fmt: skip
    return head + b'"model":{"model_name":"m","version":1,"x":' + flood + \
        b',"onnx_model_base64":"!!!!"}}'  # fmt: skip


@pytest.mark.parametrize("where", ["top", "model"])
@pytest.mark.parametrize("item", [b"{}", b"[]", b"0", b'""', b'{"a":"b"}', b"[[]]"])
def test_a_flood_of_tiny_values_fails_fast_in_small_memory(where: str, item: bytes) -> None:
    """The review's bomb: ~5 million empty objects in a small gzip body. Refused before the
    payload (nothing of it decoded), before parsing, holding a few MiB at most."""
    import gzip
    import tracemalloc

    from heimdall_io import BundleReader
    from heimdall_io.errors import MetadataLimitError

    body = gzip.compress(_flood(where, item, 5_000_000))
    assert len(body) < 2 << 20
    t = time.perf_counter()
    with pytest.raises(MetadataLimitError, match="more than 1,000,000 JSON values"):
        BundleReader(io.BytesIO(body))  # raises while still before the payload
    assert time.perf_counter() - t < 5  # ~0.1-0.5 s on an idle machine
    tracemalloc.start()
    try:
        with pytest.raises(MetadataLimitError):
            BundleReader(io.BytesIO(body))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, f"peak {peak >> 20} MiB"  # the review saw 430 MiB


def _values(raw: bytes) -> int:
    return raw.count(b",") + raw.count(b"[") + raw.count(b"{")


def test_value_budget_boundary_counts_every_section() -> None:
    doc = document()
    doc["x_unknown"] = {"list": [1, 2, [3, {}]], "text": "a, b [c] {d}"}  # strings count too
    doc["model"]["extra"] = [{"k": None}] * 3
    raw = dumps(doc)
    budget = _values(raw)  # the payload (base64) holds none of the three bytes
    read_bundle(io.BytesIO(raw), io.BytesIO(), limits=Limits(max_metadata_values=budget))
    assert_error(
        raw, LimitExceededError, f"more than {budget - 1:,} JSON values",
        limits=Limits(max_metadata_values=budget - 1),
    )  # fmt: skip


def test_value_budget_counts_members_and_values_of_the_walked_objects() -> None:
    doc = document()
    for i in range(50):
        doc[f"x{i}"] = i  # scalar values: only the commas between members count
    raw = dumps(doc)
    budget = _values(raw)
    read_bundle(io.BytesIO(raw), io.BytesIO(), limits=Limits(max_metadata_values=budget))
    assert_error(raw, LimitExceededError, limits=Limits(max_metadata_values=budget - 1))


@pytest.mark.parametrize("where", ["top-level object", "model"])
def test_members_of_the_walked_objects_are_bounded(where: str) -> None:
    doc = document()
    target = doc if where == "top-level object" else doc["model"]
    members = max(len(doc), len(doc["model"]))
    read_bundle(io.BytesIO(dumps(doc)), io.BytesIO(), limits=Limits(max_members=members))
    for i in range(members + 1 - len(target)):
        target[f"x_more{i}"] = i
    assert_error(
        dumps(doc), LimitExceededError, f"{where} has more than {members:,} members",
        limits=Limits(max_members=members),
    )  # fmt: skip


def test_many_members_fail_fast() -> None:
    members = b"".join(b'"k%d":0,' % i for i in range(200_000))
    raw = b'{"format_version":"1.1.0","model":{' + members + b'"onnx_model_base64":"!!!!"}}'
    t = time.perf_counter()
    assert_error(raw, LimitExceededError, "model has more than 10,000 members")
    assert time.perf_counter() - t < 10  # twice (see assert_error); ~0.2 s each unloaded


def test_default_metadata_limits() -> None:
    limits = Limits()
    assert (limits.max_metadata_bytes, limits.max_metadata_values) == (16 << 20, 1_000_000)
    assert limits.max_members == 10_000
