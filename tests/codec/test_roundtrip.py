"""Round trips through the codec: whatever is written is read back identical.

Metadata of any shape (unknown fields in every section, unicode, nesting) and payloads of
any size, written with any chunk size and compression, read back through every reader
entry point: ``read_bundle``, ``iter_payload``, the ``payload`` file object, and a pipe
that returns a few bytes per read (which puts a buffer boundary at every byte).
"""

from __future__ import annotations

import copy
import hashlib
import io
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heimdall_io import (
    BundleEncoder,
    BundleReader,
    Digests,
    inspect_bundle,
    read_bundle,
    write_bundle,
)
from heimdall_io.format.document import CHECKSUM_KEYS, FORMAT_VERSION, PAYLOAD_KEY
from tests.format.examples import original_document, without_payload
from tests.support.strategies import json_value_strategy

from .streams import ShortReads

COMPRESSIONS = ["none", "zstd", "gzip"]


# -- helpers ----------------------------------------------------------------------------


def original_header(**extra_sections: Any) -> dict[str, Any]:
    """The original design's 1.0.0 example without payload, with symbolic dimensions (as
    pack reads them from ONNX files) and ``extra_sections`` added."""
    doc = without_payload(original_document())
    doc["model"].update(input_shape=["batch", 3, 224, 224], output_shape=["batch", 2])
    doc.update(extra_sections)
    return doc


def digests_of(payload: bytes) -> Digests:
    return Digests(
        len(payload), hashlib.md5(payload).hexdigest(), hashlib.sha256(payload).hexdigest()
    )


def expected_document(header: dict[str, Any], payload: bytes) -> dict[str, Any]:
    """What a reader must return for ``header`` written by us: 1.1.0, checksums added."""
    doc = copy.deepcopy(header)
    doc["format_version"] = FORMAT_VERSION
    d = digests_of(payload)
    doc["model"].update(onnx_size_bytes=d.size, onnx_md5=d.md5, onnx_sha256=d.sha256)
    return doc


def encode(header: Any, payload: bytes, **options: Any) -> bytes:
    out = io.BytesIO()
    write_bundle(out, header, io.BytesIO(payload), **options)
    return out.getvalue()


def read_all(data: bytes | io.RawIOBase, how: str = "read_bundle") -> tuple[bytes, Any]:
    """Read a bundle with one of the reader entry points; (payload, BundleInfo)."""
    src = io.BytesIO(data) if isinstance(data, bytes) else data
    if how == "read_bundle":
        out = io.BytesIO()
        info = read_bundle(src, out)  # type: ignore[arg-type]
        return out.getvalue(), info
    reader = BundleReader(src)  # type: ignore[arg-type]
    if how == "iter_payload":
        chunks = list(reader.iter_payload())
        assert all(isinstance(c, bytes) and c for c in chunks)
        payload = b"".join(chunks)
    elif how == "payload":
        stream = reader.payload
        parts = []
        while part := stream.read(65521):  # a prime: never aligned to a chunk
            parts.append(part)
        payload = b"".join(parts)
    elif how == "copy_payload":
        out = io.BytesIO()
        reader.copy_payload(out)
        payload = out.getvalue()
    else:  # pragma: no cover
        raise AssertionError(how)
    return payload, reader.finish()


def assert_round_trip(header: dict[str, Any], payload: bytes, data: Any, how: str) -> None:
    got, info = read_all(data, how)
    assert got == payload
    assert info.document == expected_document(header, payload)
    assert PAYLOAD_KEY not in info.document["model"]
    assert info.digests == digests_of(payload)
    assert (info.payload_size, info.md5, info.sha256) == tuple(
        getattr(digests_of(payload), k) for k in ("size", "md5", "sha256")
    )
    assert info.verified


# -- hypothesis strategies ---------------------------------------------------------------

# Keys the format does not name, so any value is valid for them.
extra_keys = st.text(min_size=0, max_size=12).map(lambda s: "x-" + s)
json_values = json_value_strategy(
    integers=st.integers(), text_size=40, key_size=10, container_size=5, max_leaves=20
)
extra_fields = st.dictionaries(extra_keys, json_values, max_size=4)
SECTIONS = [
    "bundle_metadata",
    "model",
    "training_config",
    "performance_metrics",
    "normalization_stats",
]


@st.composite
def headers(draw: st.DrawFn) -> dict[str, Any]:
    doc = original_header()
    for section in SECTIONS:
        doc[section].update(draw(extra_fields))
    doc["sample_predictions"][0].update(draw(extra_fields))
    doc["model"]["model_name"] = draw(st.text(max_size=30))
    doc["bundle_metadata"]["description"] = draw(st.text(max_size=60))
    for key, value in draw(extra_fields).items():  # unknown top-level sections
        doc.setdefault(key, value)
    # Any section but model may be left out.
    for section in draw(
        st.sets(
            st.sampled_from(
                [
                    "training_config",
                    "performance_metrics",
                    "normalization_stats",
                    "sample_predictions",
                ]
            )
        )
    ):
        del doc[section]
    return doc


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=64))
    size = draw(st.integers(0, 300_000))
    return random.Random(draw(st.integers(0, 2**32))).randbytes(size)


chunk_sizes = st.one_of(
    st.integers(1, 40).map(lambda n: 3 * n), st.integers(1, 1 << 20).map(lambda n: 3 * n)
)


# -- properties ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=headers(),
    payload=payloads(),
    chunk_size=chunk_sizes,
    compression=st.sampled_from(COMPRESSIONS),
    declare=st.booleans(),
    how=st.sampled_from(["read_bundle", "iter_payload", "payload", "copy_payload"]),
)
def test_any_metadata_and_payload_round_trip(
    header: dict[str, Any],
    payload: bytes,
    chunk_size: int,
    compression: str,
    declare: bool,
    how: str,
) -> None:
    d = digests_of(payload)
    known = {"size": d.size, "md5": d.md5, "sha256": d.sha256} if declare else {}
    data = encode(header, payload, chunk_size=chunk_size, compression=compression, **known)
    assert_round_trip(header, payload, data, how)


@settings(max_examples=40, deadline=None)
@given(
    header=headers(),
    payload=st.binary(max_size=700),
    compression=st.sampled_from(COMPRESSIONS),
    most=st.integers(1, 7),
    seed=st.integers(0, 1000),
    how=st.sampled_from(["read_bundle", "iter_payload", "payload"]),
)
def test_pipe_with_short_reads(
    header: dict[str, Any], payload: bytes, compression: str, most: int, seed: int, how: str
) -> None:
    """A non-seekable source returning 1..7 bytes per read: every buffer boundary."""
    data = encode(header, payload, compression=compression, chunk_size=3)
    assert_round_trip(header, payload, ShortReads(data, most, seed), how)


@settings(max_examples=30, deadline=None)
@given(payload=st.binary(max_size=3000), most=st.integers(1, 50), chunk_size=chunk_sizes)
def test_payload_source_with_short_reads(payload: bytes, most: int, chunk_size: int) -> None:
    """The writer's payload stream may return fewer bytes than asked, in any pattern."""
    out = io.BytesIO()
    write_bundle(out, original_header(), ShortReads(payload, most), chunk_size=chunk_size)
    assert_round_trip(original_header(), payload, out.getvalue(), "read_bundle")


def test_every_short_read_pattern_on_a_small_bundle() -> None:
    """Each fixed read size 1..9 over a small bundle with checksums before the payload."""
    payload = bytes(range(256)) * 3 + b"\xfb\xff"  # '+' and '/' in its base64
    d = digests_of(payload)
    header = original_header()
    data = encode(header, payload, size=d.size, md5=d.md5, sha256=d.sha256, chunk_size=6)
    for most in range(1, 10):

        class Fixed(ShortReads):
            def readinto(self, b: Any, most: int = most) -> int:
                n = min(len(b), most, len(self._data) - self._pos)
                b[:n] = self._data[self._pos : self._pos + n]
                self._pos += n
                return n

        assert_round_trip(header, payload, Fixed(data), "iter_payload")


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize(
    ("size", "chunk_size"),
    [
        ((4 << 20) + 1, 3 << 20),  # the base64 crosses the decoder's read boundaries
        ((3 << 20) * 2, 3 << 20),  # exact multiple of the chunk
        ((5 << 20) - 1, 3 * 1000),  # many small chunks, non-multiple of 3 in size
    ],
)
def test_multi_mib_payloads(size: int, chunk_size: int, compression: str) -> None:
    payload = random.Random(size).randbytes(size)
    data = encode(original_header(), payload, chunk_size=chunk_size, compression=compression)
    assert_round_trip(original_header(), payload, data, "read_bundle")


def test_multi_mib_payload_through_short_reads_and_payload_stream() -> None:
    payload = random.Random(7).randbytes((6 << 20) + 2)

    class Chunky(ShortReads):  # odd-sized reads of up to 100 KiB
        def readinto(self, b: Any) -> int:
            n = min(len(b), self._rng.randint(1, 100_000), len(self._data) - self._pos)
            b[:n] = self._data[self._pos : self._pos + n]
            self._pos += n
            return n

    data = encode(original_header(), payload)
    assert_round_trip(original_header(), payload, Chunky(data), "payload")


def test_empty_payload() -> None:
    data = encode(original_header(), b"")
    assert b'"onnx_model_base64":""' in data
    for how in ("read_bundle", "iter_payload", "payload", "copy_payload"):
        assert_round_trip(original_header(), b"", data, how)


def test_document_keeps_unknown_fields_and_file_order() -> None:
    header = original_header(x_top={"nested": [1, {"deep": ["é", "😀"]}]})
    header["model"]["x_model"] = {"unicode": "ñ ü 中文 \u2028 \x00"}
    header["bundle_metadata"]["x_meta"] = [None, True, 1.5e300, -0.0, 2**80]
    payload = b"onnx"
    _, info = read_all(encode(header, payload))
    assert info.document == expected_document(header, payload)
    # Sections first, model last; inside model the checksums come last here.
    assert list(info.document)[:2] == ["format_version", "bundle_metadata"]
    assert list(info.document)[-1] == "model"
    assert list(info.document["model"])[-3:] == list(CHECKSUM_KEYS)


def test_lone_surrogate_in_metadata_round_trips() -> None:
    """A reader accepts "\\ud800" (valid JSON); writing the document back must work."""
    raw = (
        b'{"format_version":"1.0.0","bundle_metadata":{"bundle_id":"b","created_at":"t",'
        b'"description":"\\ud800 half"},"x_top":{"\\udc00":"\\udbff"},'
        b'"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"}}'
    )
    _, info = read_all(raw)
    assert info.document["bundle_metadata"]["description"] == "\ud800 half"
    again = encode(info.document, b"ABC")
    payload, info2 = read_all(again)
    assert payload == b"ABC"
    assert info2.document["bundle_metadata"] == info.document["bundle_metadata"]
    assert info2.document["x_top"] == {"\udc00": "\udbff"}


def test_encoder_is_an_iterable_of_the_same_bytes() -> None:
    payload = random.Random(1).randbytes(100_000)
    for compression in COMPRESSIONS:
        enc = BundleEncoder(
            original_header(), io.BytesIO(payload), compression=compression, chunk_size=3 * 4096
        )
        data = b"".join(enc)
        assert enc.result.bytes_out == len(data)
        assert enc.result.digests == digests_of(payload)
        # Bundle ids and timestamps come from the header, so the bytes are deterministic.
        assert data == encode(
            original_header(), payload, compression=compression, chunk_size=3 * 4096
        )
        assert_round_trip(original_header(), payload, data, "read_bundle")


def test_chunk_size_must_be_a_multiple_of_3() -> None:
    with pytest.raises(ValueError, match="multiple of 3"):
        BundleEncoder(original_header(), io.BytesIO(b""), chunk_size=4)


def test_progress_counts_every_byte() -> None:
    payload = random.Random(2).randbytes(1_000_003)
    seen: list[int] = []
    data = io.BytesIO()
    write_bundle(
        data, original_header(), io.BytesIO(payload), chunk_size=3000, progress=seen.append
    )
    assert sum(seen) == len(payload)
    read: list[int] = []
    reader = BundleReader(io.BytesIO(data.getvalue()))
    reader.copy_payload(io.BytesIO(), progress=read.append)
    assert sum(read) == len(payload)


def test_metadata_is_available_before_the_payload() -> None:
    payload = b"\x00" * 1000
    reader = BundleReader(io.BytesIO(encode(original_header(), payload)))
    assert reader.document["model"]["model_name"] == "LocalizationNet"
    assert reader.document["training_config"]["epochs"] == 100
    assert b"".join(reader.iter_payload()) == payload
    with pytest.raises(RuntimeError):
        list(reader.iter_payload())


# -- real ONNX models ------------------------------------------------------------------------


def onnx_helper_model() -> bytes:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(32, dtype=np.float32).reshape(16, 2), name="W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "tiny",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["batch", 2])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_onnx_helper_model_round_trip_is_byte_identical(compression: str) -> None:
    import onnx

    model_bytes = onnx_helper_model()
    data = encode(original_header(), model_bytes, compression=compression)
    got, info = read_all(data)
    assert got == model_bytes
    assert info.md5 == hashlib.md5(model_bytes).hexdigest()
    onnx.checker.check_model(onnx.load_from_string(got))


def test_synthetic_multi_mib_model_round_trip_is_byte_identical(tmp_path: Any) -> None:
    from tests.support.synthetic import write_synthetic_model

    src = tmp_path / "model.onnx"
    with open(src, "wb") as f:
        write_synthetic_model(f, (3 << 20) + 12345, seed=3)
    model_bytes = src.read_bytes()
    bundle = tmp_path / "model.heimdall"
    with open(src, "rb") as onnx_file, open(bundle, "wb") as out:
        result = write_bundle(out, original_header(), onnx_file, size=len(model_bytes))
    assert result.digests == digests_of(model_bytes)
    dst = tmp_path / "back.onnx"
    with open(bundle, "rb") as f, open(dst, "wb") as out:
        info = read_bundle(f, out)
    assert dst.read_bytes() == model_bytes
    assert info.md5 == hashlib.md5(model_bytes).hexdigest()
    assert info.sha256 == hashlib.sha256(model_bytes).hexdigest()
    with open(bundle, "rb") as f:
        inspected = inspect_bundle(f)
    assert (inspected.payload_size, inspected.md5) == (len(model_bytes), info.md5)

    import onnx

    onnx.checker.check_model(str(dst))
