"""Test streams: deterministic content of any size, produced and checked in small chunks.

For the object store and registry tests (and any other that needs a large source it can
also make fail halfway): nothing is ever held whole, so memory tests measure the code
under test, not the stream.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from typing import Any

MiB = 1024 * 1024


def pattern_block(seed: int = 0) -> bytes:
    """1 MiB of pseudo-random bytes (from SHA-256), different per seed."""
    out = bytearray()
    counter = 0
    while len(out) < MiB:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:MiB])


class PatternStream:
    """A readable binary stream of ``size`` bytes that never holds more than one block.

    Records the largest ``read`` size asked for; raises ``fail_with`` once ``fail_at``
    bytes have been returned (to simulate a source failing halfway).
    """

    def __init__(
        self,
        size: int,
        seed: int = 0,
        *,
        fail_at: int | None = None,
        fail_with: BaseException | None = None,
    ) -> None:
        self.size = size
        self.position = 0
        self.block = pattern_block(seed)
        self.fail_at = fail_at
        self.fail_with = fail_with if fail_with is not None else RuntimeError("source failed")
        self.max_read = 0
        self.reads = 0

    def read(self, n: int = -1) -> bytes:
        self.reads += 1
        if n is None or n < 0:
            n = self.size - self.position
        self.max_read = max(self.max_read, n)
        if self.fail_at is not None and self.position >= self.fail_at:
            raise self.fail_with
        n = min(n, self.size - self.position, MiB)  # short reads, like a socket
        if self.fail_at is not None:
            n = min(n, max(self.fail_at - self.position, 1))
        start = self.position % MiB
        chunk = (self.block[start:] + self.block[:start])[:n]
        self.position += len(chunk)
        return chunk

    def readable(self) -> bool:
        return True


def expected_sha256(size: int, seed: int = 0) -> str:
    digest = hashlib.sha256()
    stream = PatternStream(size, seed)
    while chunk := stream.read(MiB):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_of(readable: object, chunk_size: int = MiB) -> tuple[str, int, int]:
    """(sha256 hex, byte count, largest chunk returned) of a stream, read in chunks."""
    digest = hashlib.sha256()
    total = 0
    largest = 0
    while True:
        chunk = readable.read(chunk_size)  # type: ignore[attr-defined]
        if not chunk:
            break
        digest.update(chunk)
        total += len(chunk)
        largest = max(largest, len(chunk))
    return digest.hexdigest(), total, largest


def peak_of_round_trip(store: Any, key: str, size: int) -> int:
    """Put ``size`` pattern bytes into ``store`` under ``key`` and read them back (checked);
    the peak of Python allocations meanwhile (tracemalloc), in bytes."""
    tracemalloc.start()
    try:
        store.put(key, PatternStream(size))
        with store.open(key) as stream:
            digest, total, _ = sha256_of(stream, 4 * MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (digest, total) == (expected_sha256(size), size)
    return peak
