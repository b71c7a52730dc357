"""Input streams that exercise every buffer boundary of the reader."""

from __future__ import annotations

import io
import random
from typing import Any


class ShortReads(io.RawIOBase):
    """A non-seekable stream returning 1..``most`` bytes per read (varying, seeded), or
    exactly ``most`` (fewer at the end) when ``fixed``."""

    def __init__(self, data: bytes, most: int = 7, seed: int = 0, *, fixed: bool = False):
        self._data = memoryview(data)
        self._pos = 0
        self._rng = random.Random(seed)
        self._most = most
        self._fixed = fixed

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        size = self._most if self._fixed else self._rng.randint(1, self._most)
        n = min(len(b), size, len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n
