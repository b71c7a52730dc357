"""Paths in and out: ``-`` for stdin/stdout, atomic outputs, errors that name the path."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..codec.streams import is_seekable
from ..errors import FileAccessError, NotFoundError
from ..fileaccess import open_readable

#: The path that means stdin (inputs) or stdout (outputs).
STDIO = "-"

__all__ = ["STDIO", "atomic_output", "is_seekable", "is_special", "open_input", "spooled_copy"]


@contextlib.contextmanager
def open_input(path: str, what: str = "Bundle file") -> Iterator[BinaryIO]:
    """Open ``path`` for reading (``-``: stdin). Missing -> NotFoundError naming ``what``.

    Example:

    ```python
    from heimdall_io.files.paths import open_input

    with open_input("model.onnx", "Model file") as f:   # or "-" for stdin
        head = f.read(16)
    ```
    """
    if path == STDIO:
        yield sys.stdin.buffer
        return
    with open_readable(path, what) as f:
        yield f


@contextlib.contextmanager
def atomic_output(path: str, *, force: bool = False) -> Iterator[BinaryIO]:
    """Write to a temporary file beside ``path``; rename it into place only on success.

    Nothing is left behind when the body raises. ``-`` writes to stdout. Without
    ``force`` an existing file is never replaced, even one that appears meanwhile. With
    ``force``, a FIFO or device (``/dev/null``) is written into, never replaced.

    Example:

    ```python
    from heimdall_io.files.paths import atomic_output

    with atomic_output("model.onnx", force=True) as out:
        out.write(onnx_bytes)   # model.onnx appears only if this block succeeds
    ```
    """
    if path == STDIO:
        out = sys.stdout.buffer
        yield out
        out.flush()
        return
    target = Path(path)
    if target.is_dir():
        raise FileAccessError(f"Is a directory: {path}")
    if target.exists() and not force:
        raise FileAccessError(f"File exists: {path}. Pass --force to overwrite it")
    if is_special(path):
        # A FIFO or a device is written into, as stdout is: replacing it with a regular
        # file would break whoever reads it (and cannot be undone).
        yield from _write_in_place(path)
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except FileNotFoundError:
        raise NotFoundError(f"Directory not found: {target.parent}") from None
    except PermissionError:
        raise FileAccessError(f"Permission denied: {path}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())
        if force:
            os.replace(tmp, target)
        else:
            # link() fails if the target appeared meanwhile: never clobber silently.
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise FileAccessError(
                    f"File exists: {path}. Pass --force to overwrite it"
                ) from None
            except OSError:  # no hard links on this filesystem
                os.replace(tmp, target)
            else:
                os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def is_special(path: str) -> bool:
    """Whether ``path`` is an existing FIFO, device or socket (not a file, not a directory).

    Example:

    ```python
    from heimdall_io.files.paths import is_special

    assert is_special("/dev/null") and not is_special("model.onnx")
    ```
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _write_in_place(path: str) -> Iterator[BinaryIO]:
    try:
        # No O_CREAT: if it went away meanwhile, nothing is created in its place.
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise FileAccessError(f"Cannot write to {path}: {e.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        yield out


def _umask() -> int:
    """The process umask, read without changing it.

    ``os.umask`` can only be read by setting it: two threads doing that at once (the API
    server exports in a thread pool) can leave the process with umask 0 for good.
    """
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _UMASK_AT_IMPORT


def _umask_at_import() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK_AT_IMPORT = _umask_at_import()


@contextlib.contextmanager
def spooled_copy(src: BinaryIO, chunk_size: int = 4 << 20) -> Iterator[BinaryIO]:
    """Copy a non-seekable stream into an anonymous temporary file, rewound.

    Example:

    ```python
    import sys
    from heimdall_io.files.paths import is_seekable, spooled_copy

    src = sys.stdin.buffer
    if not is_seekable(src):
        with spooled_copy(src) as copy:
            size = copy.seek(0, 2)
    ```
    """
    with tempfile.TemporaryFile() as tmp:
        while chunk := src.read(chunk_size):
            tmp.write(chunk)
        tmp.seek(0)
        yield tmp
