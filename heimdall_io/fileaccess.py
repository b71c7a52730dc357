"""Opening a local file for reading, with one wording for what can go wrong."""

from __future__ import annotations

import os
from typing import BinaryIO

from .errors import FileAccessError, HeimdallError, NotFoundError

__all__ = ["open_readable"]


def open_readable(
    path: str | os.PathLike[str],
    what: str,
    *,
    error: type[HeimdallError] = FileAccessError,
    missing: type[HeimdallError] = NotFoundError,
) -> BinaryIO:
    """``path`` opened for binary reading; ``missing`` or ``error`` (naming ``what``) if not.

    >>> open_readable("nope.onnx", "Model file")
    Traceback (most recent call last):
    heimdall_io.errors.NotFoundError: Model file not found: nope.onnx
    """
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise missing(f"{what} not found: {os.fspath(path)}") from None
    except PermissionError:
        raise error(f"{what} {os.fspath(path)}: permission denied") from None
    except IsADirectoryError:
        raise error(f"{what} {os.fspath(path)} is a directory") from None
