"""Size, MD5 and SHA-256 of a stream: equal to hashlib's, however the bytes are chunked."""

from __future__ import annotations

import hashlib
import io
import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heimdall_io import BundleEncoder, Digests, Hasher
from heimdall_io.codec.checksums import digest_stream
from heimdall_io.errors import ChecksumMismatchError, HeimdallError

HEADER = {
    "format_version": "1.1.0",
    "bundle_metadata": {"bundle_id": "b", "created_at": "t"},
    "model": {"model_name": "m", "version": 1},
}


def reference(data: bytes) -> Digests:
    return Digests(len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())


@st.composite
def chunkings(draw: st.DrawFn) -> list[bytes]:
    """Chunks below and above the 64 KiB threading threshold, in any order."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    sizes = draw(
        st.lists(st.sampled_from([0, 1, 3, 100, 65535, 65536, 65537, 300_000]), max_size=8)
    )
    return [rng.randbytes(n) for n in sizes]


@settings(max_examples=40, deadline=None)
@given(chunks=chunkings(), threaded=st.booleans())
def test_hasher_matches_hashlib(chunks: list[bytes], threaded: bool) -> None:
    with Hasher(threaded=threaded) as h:
        for c in chunks:
            h.update(c)
        assert h.size == sum(map(len, chunks))
        d = h.digests()
    assert d == reference(b"".join(chunks))
    assert h.digests() is d  # idempotent


def test_hasher_many_large_chunks_back_pressure() -> None:
    """More chunks than the bounded queues hold: the producer waits, nothing is lost."""
    data = random.Random(4).randbytes(40 << 20)
    with Hasher() as h:
        view = memoryview(data)
        for i in range(0, len(data), 1 << 20):
            h.update(bytes(view[i : i + (1 << 20)]))
        assert h.digests() == reference(data)


def hash_threads() -> int:
    return sum(t.name.startswith("heimdall-") and t.is_alive() for t in threading.enumerate())


def test_hasher_threads_stop() -> None:
    before = hash_threads()
    h = Hasher()
    h.update(bytes(1 << 20))
    assert hash_threads() == before + 1
    h.close()
    h.close()  # twice is fine
    assert hash_threads() == before
    with pytest.raises(RuntimeError), Hasher() as h2:
        h2.update(bytes(1 << 20))
        raise RuntimeError("consumer failed")
    assert hash_threads() == before
    # A reader abandoned mid-payload stops its threads when the iterator is closed.
    from heimdall_io import BundleReader, write_bundle

    out = io.BytesIO()
    write_bundle(out, HEADER, io.BytesIO(bytes(20 << 20)))
    chunks = BundleReader(io.BytesIO(out.getvalue())).iter_payload()
    next(chunks), next(chunks)  # the first chunk is small: hashed inline
    assert hash_threads() == before + 1
    chunks.close()
    assert hash_threads() == before


def test_empty() -> None:
    with Hasher() as h:
        h.update(b"")
        assert h.digests() == reference(b"")


def test_digest_stream() -> None:
    data = random.Random(5).randbytes(3_000_001)
    assert digest_stream(io.BytesIO(data)) == reference(data)
    assert digest_stream(io.BytesIO(data), chunk_size=7) == reference(data)
    assert digest_stream(io.BytesIO(b"")) == reference(b"")


def test_check_accepts_matching_and_missing_values() -> None:
    d = reference(b"model")
    d.check()
    d.check(size=5, md5=d.md5, sha256=d.sha256)
    d.check(md5=d.md5.upper(), sha256=d.sha256.upper())  # hex case does not matter
    d.check(size=None, md5=None, sha256=d.sha256)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"size": 6}, ["size", "6", "5"]),
        ({"md5": "0" * 32}, ["MD5", "0" * 32]),
        ({"sha256": "f" * 64}, ["SHA-256", "f" * 64]),
        ({"size": 5, "md5": hashlib.md5(b"other").hexdigest()}, ["MD5"]),
    ],
)
def test_check_mismatch(kwargs: dict[str, object], words: list[str]) -> None:
    d = reference(b"model")
    with pytest.raises(ChecksumMismatchError) as info:
        d.check(**kwargs, what="model")  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("model ")
    for word in words:
        assert word in message


# -- the encoder checks what it is told ----------------------------------------------------


@pytest.mark.parametrize("field", ["size", "md5", "sha256"])
@pytest.mark.parametrize("compression", ["none", "zstd", "gzip"])
def test_encoder_refuses_a_wrong_declared_checksum(field: str, compression: str) -> None:
    payload = random.Random(6).randbytes(200_000)
    known = {
        "size": len(payload),
        "md5": hashlib.md5(payload).hexdigest(),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    known[field] = {"size": len(payload) - 1, "md5": "0" * 32, "sha256": "0" * 64}[field]
    if field == "md5":  # with the SHA-256 known, the MD5 is taken as given (next test)
        del known["sha256"]
    chunks: list[bytes] = []
    encoder = BundleEncoder(HEADER, io.BytesIO(payload), compression=compression, **known)  # type: ignore[arg-type]
    with pytest.raises(ChecksumMismatchError):
        for chunk in encoder:
            chunks.append(chunk)
    # What was produced is never a complete bundle.
    from heimdall_io import read_bundle

    with pytest.raises(HeimdallError):
        read_bundle(io.BytesIO(b"".join(chunks)), io.BytesIO())


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_with_both_digests_known_only_sha256_checks_the_bytes(compression: str) -> None:
    """A registered model's export: SHA-256 proves the bytes those digests came from, so
    the slower MD5 is not computed again; a changed byte is still caught."""
    payload = random.Random(8).randbytes(300_000)
    known = {"size": len(payload), "md5": hashlib.md5(payload).hexdigest().upper(),
             "sha256": hashlib.sha256(payload).hexdigest()}  # fmt: skip
    encoder = BundleEncoder(HEADER, io.BytesIO(payload), compression=compression, **known)  # type: ignore[arg-type]
    b"".join(encoder)
    assert encoder.result.digests == reference(payload)
    changed = payload[:1000] + bytes([payload[1000] ^ 1]) + payload[1001:]
    broken = BundleEncoder(HEADER, io.BytesIO(changed), compression=compression, **known)  # type: ignore[arg-type]
    with pytest.raises(ChecksumMismatchError, match="SHA-256 mismatch"):
        b"".join(broken)


def test_a_hasher_without_md5_gives_size_and_sha256() -> None:
    payload = random.Random(9).randbytes(1 << 20)
    for busy in (False, True):
        with Hasher(md5=False, busy_caller=busy) as h:
            for i in range(0, len(payload), 100_000):
                h.update(payload[i : i + 100_000])
        d = h.digests()
        assert (d.size, d.md5, d.sha256) == (len(payload), "", hashlib.sha256(payload).hexdigest())


def test_encoder_digests_match_hashlib() -> None:
    payload = random.Random(7).randbytes(5_000_000)
    encoder = BundleEncoder(HEADER, io.BytesIO(payload), chunk_size=3 * 333_333)
    b"".join(encoder)
    assert encoder.result.digests == reference(payload)


def test_busy_caller_hashes_both_on_threads() -> None:
    data = random.Random(9).randbytes(5 << 20)
    before = hash_threads()
    with Hasher(busy_caller=True) as h:
        h.update(data[:100])  # small: inline
        for i in range(100, len(data), 1 << 20):
            h.update(data[i : i + (1 << 20)])
            assert hash_threads() == before + 2
        assert h.digests() == reference(data)
    assert hash_threads() == before
