"""Bundle locations: a path, ``-``, an ``s3://BUCKET/KEY`` or an ``http(s)://`` URL.

:func:`open_bundle` opens any of them for reading (remote ones resumable and, when the
server serves ranges, seekable); :func:`open_output` writes a path or an ``s3://`` object
that appears only when complete. Both have the signatures of
:func:`heimdall_io.files.paths.open_input` and :func:`~heimdall_io.files.paths.atomic_output`,
so the bundle-file operations take them as their openers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from heimdall_io.files.paths import atomic_output, open_input

if TYPE_CHECKING:
    from .ranged import RangedReader

__all__ = ["INSPECT_WINDOW", "is_url", "open_bundle", "open_output", "open_probe", "scheme_of"]

#: The first request of a probing read (inspect); later ones double, up to 1024 times it.
INSPECT_WINDOW = 64 << 10


def scheme_of(location: str) -> str | None:
    """``"s3"``, ``"http"`` or ``"https"`` for a bundle URL, else None (a path)."""
    head, sep, _ = location.partition("://")
    scheme = head.lower()
    return scheme if sep and scheme in ("s3", "http", "https") else None


def is_url(location: str) -> bool:
    return scheme_of(location) is not None


def open_reader(location: str, *, window: int | None = None) -> RangedReader:
    """A :class:`RangedReader` of a bundle URL (the caller closes it)."""
    # Imported here: a path needs neither urllib3 nor minio (the CLI stays quick).
    from .http import HttpSession, HttpSource
    from .ranged import RangedReader

    source: Any
    if scheme_of(location) == "s3":
        from .s3 import S3Source, parse_s3_url

        source = S3Source(parse_s3_url(location))
    else:
        source = HttpSource(HttpSession(), location)
    return RangedReader(source, window=window)


@contextlib.contextmanager
def open_bundle(location: str, what: str = "Bundle file") -> Iterator[BinaryIO]:
    """Read a bundle from a path, ``-`` or a URL (downloads resume after a cut)."""
    if not is_url(location):
        with open_input(location, what) as f:
            yield f
        return
    with open_reader(location) as reader:
        yield reader  # type: ignore[misc]


@contextlib.contextmanager
def open_probe(location: str, what: str = "Bundle file") -> Iterator[BinaryIO]:
    """:func:`open_bundle` for ``inspect``: remote reads in small ranges, so that seeking
    past an uncompressed payload fetches only the metadata around it."""
    if not is_url(location):
        with open_input(location, what) as f:
            yield f
        return
    with open_reader(location, window=INSPECT_WINDOW) as reader:
        yield reader  # type: ignore[misc]


@contextlib.contextmanager
def open_output(location: str, *, force: bool = False) -> Iterator[BinaryIO]:
    """Write a path or ``-`` (atomically) or an ``s3://`` object (a multipart upload,
    aborted on failure); http(s):// is not a place to write to."""
    scheme = scheme_of(location)
    if scheme is None:
        with atomic_output(location, force=force) as out:
            yield out
        return
    if scheme != "s3":
        from heimdall_io.errors import ConfigError

        raise ConfigError(f"cannot write to {scheme}:// (outputs: a path, - or s3://BUCKET/KEY)")
    from .s3 import s3_output

    with s3_output(location, force=force) as out:
        yield out
