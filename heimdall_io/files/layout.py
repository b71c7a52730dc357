"""Model directories: an ONNX file and its external data files, read and written.

A model saved with external data (``onnx.save_model(..., save_as_external_data=True)``) is
a directory: one ``.onnx`` file and the files its tensors' ``location`` names, relative
to it. :func:`read_model_directory` lists one for ``pack``; :class:`StagedDirectory`
writes one for ``unpack``: every file goes into a fresh temporary directory beside the
destination, each path checked before its first byte (relative, no ``..``, unique, no
links: the temporary directory holds only what was created there), and the whole moves
into place only once the bundle has been read and verified. On any failure the temporary
directory is removed: nothing half-written remains.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import FileAccessError, InvalidModelError, NotFoundError, SchemaError
from ..format.document import SAFE_PATH_PATTERN
from ..onnx.external import check_external_locations
from .paths import _umask

__all__ = ["DEFAULT_MODEL_FILE", "ModelDirectory", "StagedDirectory", "read_model_directory"]

#: The main model's name in a directory when the bundle does not say (``model.onnx_file``).
DEFAULT_MODEL_FILE = "model.onnx"
_SAFE_PATH = re.compile(SAFE_PATH_PATTERN)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def safe_path(path: str) -> bool:
    """Whether ``path`` is relative, ``/``-separated, without ``..``/``.``/empty segments."""
    return isinstance(path, str) and _SAFE_PATH.search(path) is not None


@dataclass(frozen=True)
class ModelDirectory:
    """A model directory: its main ONNX file and its other files (relative path, size)."""

    root: str
    model_file: str
    files: tuple[tuple[str, int], ...]

    @property
    def model_path(self) -> str:
        return os.path.join(self.root, self.model_file)

    def path(self, relative: str) -> str:
        return os.path.join(self.root, *relative.split("/"))


def read_model_directory(root: str) -> ModelDirectory:
    """List a model directory: exactly one ``.onnx`` file at its top, every other regular
    file (in subdirectories too, sorted) as external data. Links and special files are
    refused (a bundle carries files, not links), as are names a bundle cannot carry; every
    external tensor's ``location`` must name one of the files.

    Raises:
        NotFoundError, FileAccessError: the directory cannot be read.
        InvalidModelError: no or several ``.onnx`` files, a link, a location not found.
    """
    if not os.path.isdir(root):
        raise NotFoundError(f"Model directory not found: {root}")
    models, files = [], []
    try:
        for here, dirs, names in os.walk(root, onerror=_raise):
            for name in sorted(dirs + names):
                full = os.path.join(here, name)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                mode = os.lstat(full).st_mode
                if stat.S_ISDIR(mode):
                    continue
                if not stat.S_ISREG(mode):
                    raise InvalidModelError(f"{rel} in the model directory is not a regular file")
                if not safe_path(rel):
                    raise InvalidModelError(f"{rel!r}: a bundle cannot carry this file name")
                if here == root and name.endswith(".onnx"):
                    models.append(rel)
                else:
                    files.append((rel, os.lstat(full).st_size))
            dirs.sort()
    except PermissionError as e:
        raise FileAccessError(f"Permission denied: {e.filename}") from None
    if len(models) != 1:
        found = ", ".join(models) if models else "none"
        raise InvalidModelError(
            f"a model directory holds exactly one .onnx file at its top (found: {found})"
        )
    layout = ModelDirectory(root, models[0], tuple(sorted(files)))
    check_external_locations(layout.model_path, [p for p, _ in layout.files])
    return layout


def _raise(error: OSError) -> None:
    raise error


class StagedDirectory:
    """A directory written atomically: files go to a temporary directory beside ``target``,
    which replaces ``target`` (missing or empty; with ``force``, files are moved into it)
    by :meth:`commit`; :meth:`discard` removes everything.

    >>> with StagedDirectory("out", force=False) as staged:
    ...     with staged.create("model.onnx") as f: f.write(data)
    ...     staged.commit()
    """

    def __init__(self, target: str, *, force: bool = False) -> None:
        self.target, self.force = target, force
        if os.path.lexists(target) and not os.path.isdir(target):
            raise FileAccessError(f"Not a directory: {target}")
        if os.path.isdir(target) and os.listdir(target) and not force:
            raise FileAccessError(f"Directory not empty: {target}. Pass --force to write into it")
        parent = os.path.dirname(os.path.abspath(target))
        name = os.path.basename(os.path.normpath(target)) or "model"
        try:
            self.tmp = tempfile.mkdtemp(prefix=f".{name}.", suffix=".part", dir=parent)
        except FileNotFoundError:
            raise NotFoundError(f"Directory not found: {parent}") from None
        except PermissionError:
            raise FileAccessError(f"Permission denied: {target}") from None
        self.paths: list[str] = []

    @contextlib.contextmanager
    def create(self, path: str) -> Iterator[BinaryIO]:
        """A new file at ``path`` in the directory; checked before it is created."""
        if not safe_path(path):
            raise SchemaError(f"invalid bundle: unsafe path {path!r}")
        if path in self.paths:
            raise SchemaError(f"invalid bundle: duplicate path {path!r}")
        parts = path.split("/")
        try:
            os.makedirs(os.path.join(self.tmp, *parts[:-1]), exist_ok=True)
            fd = os.open(os.path.join(self.tmp, *parts), os.O_WRONLY | os.O_CREAT | os.O_EXCL
                         | _NOFOLLOW, 0o666)  # fmt: skip
        except OSError:  # "a" and "a/b": one is a file, the other needs it as a directory
            raise SchemaError(f"invalid bundle: path {path!r} conflicts with another") from None
        self.paths.append(path)
        with os.fdopen(fd, "wb") as f:
            yield f

    def commit(self) -> None:
        """Move the files into ``target``."""
        if not os.path.isdir(self.target) or not os.listdir(self.target):
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(self.target)
            os.chmod(self.tmp, 0o777 & ~_umask())
            os.rename(self.tmp, self.target)
            return
        for path in self.paths:
            dest = self.target
            for part in path.split("/")[:-1]:
                dest = os.path.join(dest, part)
                if os.path.islink(dest) or (os.path.exists(dest) and not os.path.isdir(dest)):
                    raise FileAccessError(f"Not a directory: {dest}")
                os.makedirs(dest, exist_ok=True)
            final = os.path.join(self.target, *path.split("/"))
            if os.path.isdir(final) and not os.path.islink(final):
                raise FileAccessError(f"Is a directory: {final}")
            os.replace(os.path.join(self.tmp, *path.split("/")), final)
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> StagedDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()
