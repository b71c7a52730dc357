"""S3ObjectStore specifics, against real SeaweedFS servers (tests/support/servers.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from heimdall_io.errors import ConfigError, NotFoundError, ObjectStoreError
from heimdall_io.storage.s3 import S3ObjectStore, list_incomplete_uploads
from tests.support.proxy import CuttingProxy
from tests.support.servers import SeaweedFS, dead_port, unique_bucket
from tests.support.streams import (
    MiB,
    PatternStream,
    expected_sha256,
    peak_of_round_trip,
    sha256_of,
)

#: A store that is down must fail within this many seconds.
FAST = 5.0


def incomplete_uploads(server: SeaweedFS, bucket: str) -> list[Any]:
    return list_incomplete_uploads(server.client(), bucket)


def fails_fast(call: Callable[[], object], match: str) -> ObjectStoreError:
    start = time.monotonic()
    with pytest.raises(ObjectStoreError, match=match) as excinfo:
        call()
    elapsed = time.monotonic() - start
    assert elapsed < FAST, f"took {elapsed:.1f} s"
    assert "\n" not in str(excinfo.value)
    return excinfo.value


def drain(store: S3ObjectStore) -> None:
    list(store.list())


@pytest.fixture
def bucket(seaweedfs: SeaweedFS) -> Any:
    name = unique_bucket()
    yield name
    seaweedfs.remove_bucket(name)


def test_bucket_is_created_on_first_use(seaweedfs: SeaweedFS, bucket: str) -> None:
    client = seaweedfs.client()
    assert not client.bucket_exists(bucket)
    store = seaweedfs.store(bucket)
    assert store.url == f"s3://{bucket}?endpoint={seaweedfs.endpoint}"
    store.ping()
    assert client.bucket_exists(bucket)
    store.put("a/x.onnx", PatternStream(10))
    assert [i.key for i in store.list()] == ["a/x.onnx"]


def test_reads_of_a_missing_bucket(seaweedfs: SeaweedFS, bucket: str) -> None:
    store = seaweedfs.store(bucket)
    assert list(store.list()) == []
    with pytest.raises(NotFoundError):
        store.open("a/x.onnx")
    store.delete("a/x.onnx")


def test_large_put_is_a_multipart_upload(seaweedfs: SeaweedFS, bucket: str) -> None:
    store = seaweedfs.store(bucket)
    size = 3 * store.part_size + 1
    assert store.put("big.onnx", PatternStream(size, seed=5)) == size
    stat = seaweedfs.client().stat_object(bucket, "big.onnx")
    assert stat.size == size
    assert stat.etag is not None and stat.etag.endswith("-4")  # four parts
    with store.open("big.onnx") as stream:
        assert sha256_of(stream, 4 * MiB)[:2] == (expected_sha256(size, seed=5), size)


@pytest.mark.parametrize("fail_at", [2 * MiB, 20 * MiB], ids=["before-upload", "multipart"])
def test_failing_source_aborts_the_upload(seaweedfs: SeaweedFS, bucket: str, fail_at: int) -> None:
    store = seaweedfs.store(bucket)
    error = ConnectionResetError("client went away")
    with pytest.raises(ConnectionResetError) as excinfo:
        store.put("imported/x.onnx", PatternStream(40 * MiB, fail_at=fail_at, fail_with=error))
    assert excinfo.value is error
    assert excinfo.value.__context__ is None  # nothing chained onto the caller's exception
    assert list(store.list()) == []
    assert incomplete_uploads(seaweedfs, bucket) == []
    assert not store.exists("imported/x.onnx")


@pytest.mark.parametrize("parallel", [1, 2, 3])
def test_memory_stays_flat(seaweedfs: SeaweedFS, bucket: str, parallel: int) -> None:
    # parallel parts uploading + the one being read (+ the reader's own chunk)
    store = seaweedfs.store(bucket, parallel_parts=parallel)
    peak = peak_of_round_trip(store, "big.onnx", 48 * MiB)
    assert peak < (parallel + 2) * store.part_size, f"peak {peak / MiB:.1f} MiB"


@pytest.mark.parametrize(
    ("parts", "extra", "etag_suffix"),
    [(0, 0, None), (0, 1, None), (1, 0, None), (2, 0, "-2"), (5, 3, "-6")],
    ids=["empty", "one-byte", "one-full-part", "two-full-parts", "six-parts"],
)
def test_part_boundaries(
    seaweedfs: SeaweedFS, bucket: str, parts: int, extra: int, etag_suffix: str | None
) -> None:
    store = seaweedfs.store(bucket)
    size = parts * store.part_size + extra
    assert store.put("x.onnx", PatternStream(size, seed=3), length=size) == size
    stat = seaweedfs.client().stat_object(bucket, "x.onnx")
    assert stat.size == size and stat.etag is not None
    if etag_suffix is None:
        assert "-" not in stat.etag  # one plain PUT
    else:
        assert stat.etag.endswith(etag_suffix)
    with store.open("x.onnx") as stream:
        assert sha256_of(stream, 4 * MiB)[:2] == (expected_sha256(size, seed=3), size)


def test_source_returning_more_than_asked(seaweedfs: SeaweedFS, bucket: str) -> None:
    class Generous(PatternStream):
        def read(self, n: int = -1) -> bytes:
            read = super().read
            return b"".join(read(MiB) for _ in range(7))  # 7 MiB whatever is asked

    store = seaweedfs.store(bucket)
    size = 3 * store.part_size + 12345
    assert store.put("x.onnx", Generous(size, seed=4)) == size
    with store.open("x.onnx") as stream:
        assert sha256_of(stream, 4 * MiB)[:2] == (expected_sha256(size, seed=4), size)


@pytest.mark.parametrize("length", [None, 10 * MiB, 30 * MiB], ids=["unknown", "short", "long"])
def test_declared_length_is_checked(seaweedfs: SeaweedFS, bucket: str, length: int | None) -> None:
    store = seaweedfs.store(bucket)
    stream = PatternStream(20 * MiB)
    if length is None:
        assert store.put("x.onnx", stream, length=length) == 20 * MiB
        return
    with pytest.raises(ObjectStoreError, match="size mismatch"):
        store.put("x.onnx", stream, length=length)
    assert list(store.list()) == []
    assert incomplete_uploads(seaweedfs, bucket) == []


def test_part_failing_while_others_are_in_flight(seaweedfs: SeaweedFS, bucket: str) -> None:
    # Every connection to the store dies after 12 MiB sent: with parts of 5 MiB on a few
    # connections, the first parts are stored, then one fails while others are uploading.
    # Nothing may remain: no object, no parts (the multipart upload is aborted).
    store = seaweedfs.store(bucket)
    store.ping()
    with CuttingProxy(seaweedfs.ports["s3"], cut_up=12 * MiB, cuts=None) as proxy:
        via_proxy = S3ObjectStore(
            bucket, f"127.0.0.1:{proxy.port}", seaweedfs.access_key, seaweedfs.secret_key,
            False, parallel_parts=3, retries=0,
        )  # fmt: skip
        source = PatternStream(80 * MiB)
        with pytest.raises(ObjectStoreError, match=r"cannot write x\.onnx|unavailable"):
            via_proxy.put("x.onnx", source)
        assert proxy.cut_count >= 1
        assert source.position < 80 * MiB  # it stopped reading at the failure
    assert list(store.list()) == []
    assert incomplete_uploads(seaweedfs, bucket) == []
    assert not store.exists("x.onnx")


def test_wrong_credentials(seaweedfs: SeaweedFS, bucket: str) -> None:
    store = S3ObjectStore(
        bucket, f"127.0.0.1:{seaweedfs.ports['s3']}", "nobody", "wrong-secret", False
    )
    error = fails_fast(lambda: store.put("a.onnx", PatternStream(1)), "object store error: ")
    assert "wrong-secret" not in str(error)


def test_invalid_configuration() -> None:
    with pytest.raises(ConfigError, match="bucket name"):
        S3ObjectStore("Not_A_Bucket", "127.0.0.1:9000", "a", "b", False)
    with pytest.raises(ConfigError, match="together"):
        S3ObjectStore("bucket", "127.0.0.1:9000", "a", None, False)
    store = S3ObjectStore("bucket", "https://s3.example.com", None, None, False)
    assert store.endpoint_url == "https://s3.example.com"


def test_nothing_listening_fails_within_seconds() -> None:
    port = dead_port()
    store = S3ObjectStore("heimdall-models", f"127.0.0.1:{port}", "a", "b", False)
    message = f"^object store unavailable: http://127\\.0\\.0\\.1:{port}: connection refused$"
    fails_fast(store.ping, message)
    fails_fast(lambda: store.put("a.onnx", PatternStream(10)), message)
    fails_fast(lambda: store.open("a.onnx"), message)
    fails_fast(lambda: store.exists("a.onnx"), message)
    fails_fast(lambda: store.delete("a.onnx"), message)
    fails_fast(lambda: drain(store), message)


def test_store_going_down(seaweedfs_private: SeaweedFS) -> None:
    server = seaweedfs_private
    store = server.store("heimdall-models")
    store.put("a/big.onnx", PatternStream(24 * MiB))
    store.put("a/small.onnx", PatternStream(10))
    stream = store.open("a/big.onnx")
    assert len(stream.read(MiB)) == MiB

    server.kill()

    # The rest of the download fails (whatever the socket buffers still held).
    start = time.monotonic()
    with pytest.raises(ObjectStoreError, match="object store unavailable"):
        while stream.read(MiB):
            pass
    assert time.monotonic() - start < FAST
    stream.close()

    message = f"^object store unavailable: {server.endpoint}: connection refused$"
    fails_fast(lambda: store.put("a/new.onnx", PatternStream(10)), message)
    fails_fast(lambda: store.open("a/small.onnx"), message)
    fails_fast(lambda: store.exists("a/small.onnx"), message)
    fails_fast(lambda: drain(store), message)
    fails_fast(lambda: store.delete("a/small.onnx"), message)
    fails_fast(store.ping, message)


def test_store_dying_during_an_upload(seaweedfs_private: SeaweedFS) -> None:
    server = seaweedfs_private
    store = server.store("heimdall-models")
    store.ping()

    class KillingStream(PatternStream):
        def read(self, n: int = -1) -> bytes:
            if self.position >= 10 * MiB and server.running:
                server.kill()
            return super().read(n)

    start = time.monotonic()
    with pytest.raises(ObjectStoreError, match="object store unavailable"):
        store.put("a/x.onnx", KillingStream(40 * MiB))
    assert time.monotonic() - start < 3 * FAST
