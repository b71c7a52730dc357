"""Write a file's pages to disk while it is still being written, not all at the final fsync.

An object is durable only once fsync returns. Left to the end, fsync of a large object
waits for every dirty page at once, after all the decoding is done: the disk is idle while
the CPU works, then the CPU while the disk works. :class:`Writeback` starts the disk on
each window of the file as soon as it is written (Linux ``sync_file_range``) and waits for
the window before it, so the two overlap, dirty memory stays at two windows whatever the
object's size, and the final fsync has only the last window left to wait for.

Once a window is on disk its pages are dropped from the page cache (``drop=True``, the
default: ``posix_fadvise(POSIX_FADV_DONTNEED)``, as ``dd oflag=nocache`` does). A stored
object is cold data: keeping gigabytes of it cached would evict what the machine does
read. It is also faster: the next window's writes take the pages just freed, which are in
use already, instead of fresh ones, whose first touch is costly (most of all in a virtual
machine, where the host backs a guest page only when it is first written).

Where ``sync_file_range`` does not exist (not Linux), it does nothing: fsync does it all.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["WINDOW", "Writeback"]

#: Bytes per window: big enough that one request keeps the disk busy, small enough that
#: two windows of dirty pages are little memory.
WINDOW = 32 << 20

# <linux/fs.h>
_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4

_SyncFileRange = Callable[[int, int, int, int], int]


@functools.cache
def _sync_file_range() -> _SyncFileRange | None:
    """libc's sync_file_range, loaded on the first large write (Linux only)."""
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return None
    import ctypes

    try:
        # The process's own symbols, libc's among them (ctypes.util.find_library would
        # run ldconfig in a subprocess to find the same library).
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function  # (a ctypes call releases the GIL: the decoder runs on meanwhile)


class Writeback:
    """Call :meth:`wrote` after each write to ``file``; fsync it at the end as usual.
    ``drop=False`` keeps the written pages in the page cache.

    >>> with open("object", "wb") as out:
    ...     writeback = Writeback(out)
    ...     for chunk in chunks:
    ...         out.write(chunk)
    ...         writeback.wrote(len(chunk))
    ...     out.flush()
    ...     os.fsync(out.fileno())   # waits for the last window only
    """

    def __init__(self, file: BinaryIO, window: int = WINDOW, *, drop: bool = True) -> None:
        self._file = file
        self._fd = file.fileno()
        self._window = window
        self._drop = drop and hasattr(os, "posix_fadvise")
        self._started = 0  # bytes whose write-out was started
        self._written = 0  # bytes written to the file
        self._previous = (0, 0)  # the window started before the last one: (offset, length)

    def wrote(self, n: int) -> None:
        """``n`` more bytes were written to the file."""
        self._written += n
        if self._written - self._started < self._window:
            return
        sync_file_range = _sync_file_range()  # loaded when the first window is full
        if sync_file_range is None:
            return
        self._file.flush()  # the kernel can write out only the pages it has
        start, length = self._started, self._written - self._started
        # Start this window; then wait for the one before (already on its way for a while),
        # which bounds the dirty pages to about two windows. A failure here changes
        # nothing: the final fsync reports any error, and does whatever was not done.
        sync_file_range(self._fd, start, length, _WRITE)
        offset, before = self._previous
        if before:
            sync_file_range(self._fd, offset, before, _WAIT_BEFORE | _WRITE | _WAIT_AFTER)
            if self._drop:  # clean now: the kernel can free its pages at once
                os.posix_fadvise(self._fd, offset, before, os.POSIX_FADV_DONTNEED)
        self._previous = (start, length)
        self._started = self._written
