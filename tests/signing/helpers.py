"""Shared pieces of the signing tests: cheap keys and the minisign binary."""

from __future__ import annotations

import shutil
from pathlib import Path

import nacl.pwhash.scrypt as scrypt

from heimdall_io.signing import keys
from tests.conftest import unavailable

#: Cheap scrypt for keys made in tests (minisign's defaults take 1 GiB and seconds).
FAST = {"opslimit": scrypt.OPSLIMIT_MIN, "memlimit": scrypt.MEMLIMIT_MIN}


def fast_key(name: str, directory: Path, passphrase: str | None = None) -> keys.SecretKey:
    """A key pair written to ``directory`` (cheap scrypt), loaded back."""
    info = keys.generate(name, directory, passphrase, **FAST)
    assert info.secret_path is not None
    return keys.load_secret_key(info.secret_path, passphrase)


def minisign_binary() -> str:
    path = shutil.which("minisign")
    if path is None:
        unavailable("the minisign binary is missing (apt-get install minisign)")
        raise AssertionError("unreachable")
    return path
