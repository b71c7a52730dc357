"""RangedReader over a fake source: resumes after cuts, refuses a changed object, gives
up after its retries, and reads in windows for inspect."""

from __future__ import annotations

import io

import pytest

from heimdall_io.errors import RemoteError
from heimdall_io.transfer.ranged import Opened, RangedReader, TransientError

DATA = bytes(range(256)) * 1000  # 256,000 bytes


class _Body:
    def __init__(self, data: bytes, cut_after: int | None, error: bool) -> None:
        self._src = io.BytesIO(data)
        self._left = cut_after
        self._error = error

    def read(self, n: int) -> bytes:
        if self._left is not None:
            if self._left <= 0:
                if self._error:
                    raise TransientError("connection reset")
                return b""
            n = min(n, self._left)
            self._left -= n
        return self._src.read(n)

    def close(self) -> None:
        pass


class Fake:
    """Serves DATA; the first ``cuts`` bodies end after ``cut_after`` bytes."""

    what = "fake"

    def __init__(self, cut_after: int | None = None, cuts: int = 0, *, etag: str = '"a"',
                 ranges: bool = True, error: bool = False) -> None:  # fmt: skip
        self.cut_after, self.cuts, self.etag, self.ranges, self.error = (
            cut_after, cuts, etag, ranges, error)  # fmt: skip
        self.requests: list[tuple[int, int | None]] = []

    def open(self, start: int, stop: int | None, etag: str | None) -> Opened:
        self.requests.append((start, stop))
        cut = self.cut_after if len(self.requests) <= self.cuts else None
        end = len(DATA) if stop is None else min(stop, len(DATA))
        first = start if self.ranges else 0
        if not self.ranges:
            end = len(DATA)  # a server without ranges sends it all
        return Opened(_Body(DATA[first:end], cut, self.error), first, len(DATA), self.etag,
                      self.ranges, whole=not self.ranges)  # fmt: skip


def _read_all(reader: RangedReader, n: int = 10_000) -> bytes:
    out = []
    while chunk := reader.read(n):
        out.append(chunk)
    return b"".join(out)


def _no_sleep(_: float) -> None:
    pass


@pytest.mark.parametrize("error", [False, True])
def test_resumes_after_cuts(error: bool) -> None:
    source = Fake(cut_after=50_000, cuts=3, error=error)
    reader = RangedReader(source, sleep=_no_sleep)
    assert _read_all(reader) == DATA
    assert reader.resumed == 3
    assert [start for start, _ in source.requests] == [0, 50_000, 100_000, 150_000]


def test_gives_up_without_progress() -> None:
    """Cuts that still gain bytes go on (above); three in a row that gain none give up."""
    source = Fake(cut_after=1000, cuts=1)
    reader = RangedReader(source, retries=3, sleep=_no_sleep)
    reader.read(1000)
    source.cut_after, source.cuts = 0, 100
    with pytest.raises(RemoteError, match="connection closed after 1000 bytes"):
        _read_all(reader)
    assert source.requests == [(0, None), (1000, None), (1000, None)]  # 3 failures


def test_refuses_a_changed_object() -> None:
    source = Fake(cut_after=1000, cuts=1)
    reader = RangedReader(source, sleep=_no_sleep)
    reader.read(1000)
    source.etag = '"b"'
    with pytest.raises(RemoteError, match="changed"):
        _read_all(reader)


def test_no_resume_without_ranges() -> None:
    source = Fake(cut_after=1000, cuts=1, ranges=False)
    reader = RangedReader(source, sleep=_no_sleep)
    assert not reader.seekable()
    with pytest.raises(RemoteError):
        _read_all(reader)


def test_window_and_seek() -> None:
    source = Fake()
    reader = RangedReader(source, window=1000, sleep=_no_sleep)
    assert reader.seekable()
    assert reader.read(600) == DATA[:600]
    reader.seek(200_000)
    assert reader.read(100) == DATA[200_000:200_100]
    reader.seek(-10, io.SEEK_END)
    assert reader.read(100) == DATA[-10:]
    assert reader.read(100) == b""
    # Every request was bounded: nothing near the whole object was fetched.
    assert all(stop is not None and stop - start <= 16_000 for start, stop in source.requests)
    assert reader.bytes_received < 3000


def test_window_on_a_server_without_ranges_streams() -> None:
    """inspect asks for a window; a server that sends everything is read as one stream."""
    source = Fake(ranges=False)
    reader = RangedReader(source, window=1000, sleep=_no_sleep)
    assert not reader.seekable()
    assert _read_all(reader) == DATA
    assert source.requests == [(0, 1000)]
