"""Writeback: a file's pages go to the kernel and the disk while it is written."""

from __future__ import annotations

import hashlib
import io
import os
import sys
from pathlib import Path

import pytest

from heimdall_io.storage import writeback
from heimdall_io.storage.localdir import LocalObjectStore
from heimdall_io.storage.writeback import Writeback


@pytest.mark.skipif(sys.platform != "linux", reason="sync_file_range is Linux's")
def test_sync_file_range_is_found_on_linux() -> None:
    assert writeback._sync_file_range() is not None


def test_a_full_window_is_flushed_to_the_kernel(tmp_path: Path) -> None:
    path = tmp_path / "object"
    with open(path, "wb", buffering=1 << 20) as out:
        wb = Writeback(out, window=4096)
        out.write(b"a" * 1000)
        wb.wrote(1000)
        assert path.stat().st_size == 0  # below the window: still in Python's buffer
        out.write(b"b" * 5000)
        wb.wrote(5000)
        assert path.stat().st_size == 6000  # a window's worth: handed to the kernel
        for _ in range(5):  # later windows wait for the ones before
            out.write(b"c" * 5000)
            wb.wrote(5000)
        assert path.stat().st_size == 31000
    assert path.read_bytes() == b"a" * 1000 + b"b" * 5000 + b"c" * 25000


def test_store_writes_objects_of_several_windows_intact(tmp_path: Path) -> None:
    block = os.urandom(1 << 20)
    size = writeback.WINDOW * 2 + (5 << 20)  # two windows and a part
    source = io.BytesIO(block * (size // len(block)))
    store = LocalObjectStore(tmp_path / "store")
    assert store.put("models/big.onnx", source) == size
    with store.open("models/big.onnx") as f:
        assert hashlib.md5(f.read()).digest() == hashlib.md5(source.getvalue()).digest()


def _resident(path: Path) -> list[bool]:
    """Which of the file's pages are in the page cache (mincore over a mapping of it)."""
    import ctypes
    import mmap

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long
    )  # fmt: skip
    libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    size = path.stat().st_size
    pages = -(-size // mmap.PAGESIZE)
    vec = (ctypes.c_ubyte * pages)()
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert addr not in (None, ctypes.c_void_p(-1).value)
        try:
            assert libc.mincore(addr, size, vec) == 0, ctypes.get_errno()
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)
    return [bool(v & 1) for v in vec]


@pytest.mark.skipif(sys.platform != "linux", reason="sync_file_range is Linux's")
@pytest.mark.parametrize("drop", [True, False])
def test_windows_on_disk_leave_the_page_cache_unless_kept(tmp_path: Path, drop: bool) -> None:
    path = tmp_path / "object"
    window = 1 << 20
    with open(path, "wb") as out:
        wb = Writeback(out, window=window, drop=drop)
        for _ in range(8):
            out.write(os.urandom(window))
            wb.wrote(window)
        out.flush()
        os.fsync(out.fileno())
    resident = _resident(path)
    first = resident[: len(resident) * 6 // 8]  # windows 1-6: on disk before the last two
    if drop:
        assert sum(first) == 0
    else:
        assert all(first)
    assert path.stat().st_size == 8 * window
