"""The embedded object store: one file per key under a root directory.

Keys are relative POSIX paths ("imported/name-1-abcd.onnx"). A put streams into a
temporary file next to its target (named ``.tmp-<name>.<random>``, never listed), fsyncs
it and links it into place only once complete, so a reader never sees a partial object
and an existing object is never overwritten. Directories are created 0700, objects 0600.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from heimdall_io.errors import NotFoundError, ObjectStoreError
from heimdall_io.storage.base import (
    Closable,
    IncompleteUpload,
    ObjectInfo,
    purge_incomplete_uploads,
)
from heimdall_io.storage.keys import TEMP_PREFIX, check_key, check_prefix
from heimdall_io.storage.private import make_private_dirs
from heimdall_io.storage.writeback import Writeback

__all__ = ["CHUNK_SIZE", "LocalObjectStore"]

#: Bytes read from the source per ``read`` call during a put.
CHUNK_SIZE = 4 * 1024 * 1024
#: Longest object name kept in a temporary file's name (the rest of 255 is for the prefix
#: and mkstemp's random part); a longer one's upload cannot be told apart by gc's leases.
_MAX_NAME_IN_TEMP = 200


def _temp_prefix(name: str) -> str:
    """``.tmp-<name>.``: the object an upload is for can be read back from its temp file."""
    return f"{TEMP_PREFIX}{name}." if len(name) <= _MAX_NAME_IN_TEMP else TEMP_PREFIX


def _key_of_temp(rel_dir: str, filename: str) -> str | None:
    """The key a temporary file was written for, if its name says (see :func:`_temp_prefix`)."""
    name, dot, _random = filename[len(TEMP_PREFIX) :].rpartition(".")
    if not dot or not name:
        return None
    return name if rel_dir == "." else f"{rel_dir}/{name}"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class LocalObjectStore(Closable):
    """An :class:`~heimdall_io.storage.base.ObjectStore` in a directory (created if missing)."""

    has_local_files = True

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.abspath(os.path.expanduser(os.fspath(root))))
        self.url = self.root.as_uri()
        try:
            make_private_dirs(self.root)
        except OSError as exc:
            raise ObjectStoreError(self._message("cannot create the store directory", exc)) from exc
        self._real_root = self.root.resolve()

    def _message(self, what: str, exc: OSError) -> str:
        return f"{what}: {self.url}: {exc.strerror or exc}"

    def _path(self, key: str) -> Path:
        """The file of ``key``, checked to lie inside the root (symlinks resolved)."""
        check_key(key)
        path = self.root.joinpath(*key.split("/"))
        resolved = path.resolve()
        if not resolved.is_relative_to(self._real_root) or resolved == self._real_root:
            raise ObjectStoreError(f"invalid object key (outside the store): {key!r}")
        return path

    # -- ObjectStore ---------------------------------------------------------------

    def put(self, key: str, data: BinaryIO, length: int | None = None) -> int:
        target = self._path(key)
        if target.exists():
            raise ObjectStoreError(f"object exists: {key}")
        try:
            make_private_dirs(target.parent)
            fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(target.name), dir=target.parent)
        except OSError as exc:
            raise ObjectStoreError(self._message(f"cannot write {key}", exc)) from exc
        tmp = Path(tmp_name)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                writeback = Writeback(out)
                while True:
                    chunk = data.read(CHUNK_SIZE)  # exceptions reach the caller unchanged
                    if not chunk:
                        break
                    try:
                        out.write(chunk)
                        writeback.wrote(len(chunk))  # the disk starts while we decode
                    except OSError as exc:
                        raise ObjectStoreError(self._message(f"cannot write {key}", exc)) from exc
                    size += len(chunk)
                if length is not None and size != length:
                    raise ObjectStoreError(
                        f"size mismatch writing {key}: expected {length} bytes, got {size}"
                    )
                try:
                    out.flush()
                    os.fsync(out.fileno())
                except OSError as exc:
                    raise ObjectStoreError(self._message(f"cannot write {key}", exc)) from exc
            try:
                os.link(tmp, target)  # fails rather than replace an existing object
            except FileExistsError:
                raise ObjectStoreError(f"object exists: {key}") from None
            except OSError as exc:
                raise ObjectStoreError(self._message(f"cannot write {key}", exc)) from exc
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        _fsync_dir(target.parent)
        return size

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFoundError(f"object not found: {key}") from None
        except OSError as exc:
            raise ObjectStoreError(self._message(f"cannot read {key}", exc)) from exc

    def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens if it does not exist (as in S3)."""
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            pass
        except OSError as exc:
            raise ObjectStoreError(self._message(f"cannot delete {key}", exc)) from exc

    def local_path(self, key: str) -> str | None:
        """The file holding ``key``, for tools that need a path (onnx.checker)."""
        path = self._path(key)
        if not path.is_file():
            raise NotFoundError(f"object not found: {key}")
        return str(path)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_incomplete(self) -> builtins.list[IncompleteUpload]:
        """The temporary files of uploads in flight or never finished (a killed process)."""
        found: builtins.list[IncompleteUpload] = []
        for dirpath, _dirnames, filenames in os.walk(self.root):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if not name.startswith(TEMP_PREFIX):
                    continue
                try:
                    mtime = os.stat(os.path.join(dirpath, name)).st_mtime
                except FileNotFoundError:
                    continue  # completed or removed meanwhile
                found.append(
                    IncompleteUpload(
                        key=_key_of_temp(rel, name),
                        started=dt.datetime.fromtimestamp(mtime, dt.timezone.utc),
                        token=name if rel == "." else f"{rel}/{name}",
                    )
                )
        return found

    def abort_incomplete(self, upload: IncompleteUpload) -> None:
        """Remove the temporary file (a completed upload's object is its own hard link)."""
        segments = upload.token.split("/")
        if not segments[-1].startswith(TEMP_PREFIX) or any(s in ("", ".", "..") for s in segments):
            raise ObjectStoreError(f"not an incomplete upload: {upload.token!r}")
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(self.root.joinpath(*segments))

    def purge_incomplete(self, older_than: dt.datetime) -> int:
        """Delete temporary files of uploads last written before ``older_than``."""
        return purge_incomplete_uploads(self, older_than)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix`` (a plain string prefix), in key order."""
        check_prefix(prefix)
        # Walk only the deepest directory the prefix lies entirely inside.
        base_key = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self.root.joinpath(*base_key.split("/")) if base_key else self.root
        found: list[ObjectInfo] = []
        try:
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames.sort()
                rel = Path(dirpath).relative_to(self.root).as_posix()
                for name in filenames:
                    if name.startswith(TEMP_PREFIX):
                        continue
                    key = name if rel == "." else f"{rel}/{name}"
                    if not key.startswith(prefix):
                        continue
                    try:
                        st = os.stat(os.path.join(dirpath, name))
                    except FileNotFoundError:
                        continue  # deleted meanwhile
                    found.append(
                        ObjectInfo(
                            key=key,
                            size=st.st_size,
                            last_modified=dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc),
                        )
                    )
        except OSError as exc:
            raise ObjectStoreError(self._message("cannot list", exc)) from exc
        found.sort(key=lambda info: info.key)
        yield from found

    def ping(self) -> None:
        if not self.root.is_dir():
            raise ObjectStoreError(f"object store unavailable: {self.url}: not a directory")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise ObjectStoreError(f"object store unavailable: {self.url}: not writable")

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"
