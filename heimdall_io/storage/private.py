"""Files and directories only their owner may read: the registry, the objects, their home.

Models and their metadata are the user's; nothing heimdall-io creates is readable by other
users of the machine. Directories it creates are 0700, files 0600 (whatever the umask,
which can only take permissions away). What exists already is left as it is: an operator
who shares a directory with a group on purpose keeps it shared.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "make_private_dirs", "make_private_file"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dirs(path: str | os.PathLike[str]) -> None:
    """Create ``path`` and its missing parents, each 0700 (``mkdir -p -m 700`` at every
    level, unlike :meth:`pathlib.Path.mkdir`, which gives the parents the default mode)."""
    path = Path(path)
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not directory.is_dir():
                raise
            # created meanwhile by another process: its mode is its creator's


def make_private_file(path: str | os.PathLike[str]) -> None:
    """Create ``path`` empty and 0600 unless it exists (then nothing changes)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    os.close(fd)
