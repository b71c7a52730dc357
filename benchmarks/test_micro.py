"""Micro-benchmarks of the codec's hot loops, with pytest-benchmark.

Not collected by the default test run (pytest's testpaths is ``tests``). To measure:

    pytest benchmarks/test_micro.py --benchmark-enable

With the repo default ``--benchmark-disable`` every benchmark body runs once, as a smoke
test (tests/test_benchmarks_smoke.py does that). Each test records the bytes it moves in
``extra_info["bytes"]``, so throughput is bytes / mean.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
from collections.abc import Iterator
from typing import Any

import pybase64
import pytest

from heimdall_io import BundleReader, Hasher, inspect_bundle, read_bundle, write_bundle
from heimdall_io.codec.encoder import CHUNK
from heimdall_io.format.header import new_header

MIB = 1 << 20
HASH_BYTES = 64 * MIB
BUNDLE_BYTES = 16 * MIB


def _random_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


@pytest.fixture(scope="module")
def chunk() -> bytes:
    """One encoder chunk (3 MiB: a multiple of 3, so it encodes without padding)."""
    return _random_bytes(CHUNK, 1)


@pytest.fixture(scope="module")
def hash_chunks() -> list[bytes]:
    """64 MiB as the encoder hands it to the Hasher: immutable 3 MiB chunks."""
    data = _random_bytes(HASH_BYTES, 2)
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


@pytest.fixture(scope="module")
def payload() -> bytes:
    return _random_bytes(BUNDLE_BYTES, 3)


@pytest.fixture(scope="module")
def header() -> dict[str, Any]:
    return new_header({"model_name": "micro", "version": 1, "framework": "onnx"})


@pytest.fixture
def devnull() -> Iterator[io.BufferedWriter]:
    with open(os.devnull, "wb") as f:
        yield f


def _bundle(header: dict[str, Any], payload: bytes, compression: str = "none") -> bytes:
    out = io.BytesIO()
    write_bundle(out, header, io.BytesIO(payload), size=len(payload), compression=compression)
    return out.getvalue()


# -- base64 -------------------------------------------------------------------------------


def test_b64encode_3mib(benchmark: Any, chunk: bytes) -> None:
    benchmark.extra_info["bytes"] = len(chunk)
    out = benchmark(pybase64.b64encode, chunk)
    assert len(out) == len(chunk) // 3 * 4


def test_b64decode_3mib(benchmark: Any, chunk: bytes) -> None:
    text = pybase64.b64encode(chunk)
    benchmark.extra_info["bytes"] = len(chunk)
    assert benchmark(pybase64.b64decode, text, validate=True) == chunk


def test_b64decode_3mib_memoryview(benchmark: Any, chunk: bytes) -> None:
    """As the decoder calls it: on a memoryview slice of the read buffer."""
    view = memoryview(b"x" + pybase64.b64encode(chunk) + b"x")[1:-1]
    benchmark.extra_info["bytes"] = len(chunk)
    assert benchmark(pybase64.b64decode, view, validate=True) == chunk


# -- checksums ----------------------------------------------------------------------------


def _hash_all(chunks: list[bytes], threaded: bool) -> str:
    with Hasher(threaded=threaded) as h:
        for c in chunks:
            h.update(c)
        return h.digests().sha256


def test_hasher_64mib_threaded(benchmark: Any, hash_chunks: list[bytes]) -> None:
    """MD5 and SHA-256 on their own threads (as pack and unpack use it)."""
    benchmark.extra_info["bytes"] = HASH_BYTES
    expected = hashlib.sha256(b"".join(hash_chunks)).hexdigest()
    assert benchmark(_hash_all, hash_chunks, True) == expected


def test_hasher_64mib_inline(benchmark: Any, hash_chunks: list[bytes]) -> None:
    benchmark.extra_info["bytes"] = HASH_BYTES
    benchmark(_hash_all, hash_chunks, False)


@pytest.mark.parametrize("name", ["md5", "sha256"])
def test_hashlib_64mib(benchmark: Any, hash_chunks: list[bytes], name: str) -> None:
    """The floor for the Hasher: one hashlib digest, inline."""

    def run() -> str:
        h = hashlib.new(name)
        for c in hash_chunks:
            h.update(c)
        return h.hexdigest()

    benchmark.extra_info["bytes"] = HASH_BYTES
    benchmark(run)


# -- encoder ------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_write_bundle_16mib_devnull(
    benchmark: Any, header: dict[str, Any], payload: bytes, devnull: Any, compression: str
) -> None:
    def run() -> int:
        result = write_bundle(
            devnull, header, io.BytesIO(payload), size=len(payload), compression=compression
        )
        return result.bytes_out

    benchmark.extra_info["bytes"] = len(payload)
    assert benchmark(run) > len(payload) // 2


def test_write_bundle_16mib_bytesio(benchmark: Any, header: dict[str, Any], payload: bytes) -> None:
    def run() -> int:
        out = io.BytesIO()
        write_bundle(out, header, io.BytesIO(payload), size=len(payload))
        return out.tell()

    benchmark.extra_info["bytes"] = len(payload)
    assert benchmark(run) > len(payload) * 4 // 3


# -- decoder ------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_read_bundle_16mib_devnull(
    benchmark: Any, header: dict[str, Any], payload: bytes, devnull: Any, compression: str
) -> None:
    bundle = _bundle(header, payload, compression)
    benchmark.extra_info["bytes"] = len(payload)
    info = benchmark(lambda: read_bundle(io.BytesIO(bundle), devnull))
    assert info.payload_size == len(payload)


def test_read_bundle_16mib_bytesio(benchmark: Any, header: dict[str, Any], payload: bytes) -> None:
    bundle = _bundle(header, payload)

    def run() -> bytes:
        out = io.BytesIO()
        read_bundle(io.BytesIO(bundle), out)
        return out.getvalue()

    benchmark.extra_info["bytes"] = len(payload)
    assert benchmark(run) == payload


# -- scanner ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def metadata_heavy() -> bytes:
    """A bundle whose metadata (~10 MB of JSON) dwarfs its payload (1 KiB)."""
    rng = random.Random(4)
    epochs = 50_000
    sections = {
        "training_config": {"epochs": epochs, "batch_size": 32, "learning_rate": 1e-3,
                            "optimizer": "Adam", "dataset_ids": [f"ds-{i}" for i in range(500)]},
        "performance_metrics": {
            name: [rng.random() for _ in range(epochs)]
            for name in ("train_loss", "val_loss", "train_rmse", "val_rmse")
        },
        "normalization_stats": {
            "feature_means": [rng.random() for _ in range(20_000)],
            "feature_stds": [rng.random() for _ in range(20_000)],
        },
        "sample_predictions": [
            {
                "sample_id": i,
                "input": [rng.random() for _ in range(64)],
                "input_metadata": {"station": f"s{i % 17}", "note": 'quoted "text" \\ here'},
                "ground_truth": {"lat": 45.0, "lon": 9.0},
                "prediction": {"lat": 45.0 + rng.random() / 1e3, "lon": 9.0},
                "error_meters": rng.random() * 50,
            }
            for i in range(2_000)
        ],
    }  # fmt: skip
    header = new_header({"model_name": "metadata-heavy", "version": 1}, sections=sections)
    return _bundle(header, _random_bytes(1024, 5))


def test_scanner_metadata_heavy_read(benchmark: Any, metadata_heavy: bytes) -> None:
    """Parse every section and decode the payload: the scanner's per-token work."""

    def run() -> int:
        info = BundleReader(io.BytesIO(metadata_heavy)).finish()
        return len(info.document["sample_predictions"])

    benchmark.extra_info["bytes"] = len(metadata_heavy)
    assert benchmark(run) == 2_000


def test_scanner_metadata_heavy_inspect(benchmark: Any, metadata_heavy: bytes) -> None:
    benchmark.extra_info["bytes"] = len(metadata_heavy)
    info = benchmark(lambda: inspect_bundle(io.BytesIO(metadata_heavy)))
    assert info.declared.size == 1024
