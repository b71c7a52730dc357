"""Detached signatures in minisign's ``.minisig`` format: `minisign -V` checks ours, we
check its.

    untrusted comment: <text>
    base64("ED" || keynum (8) || Ed25519(BLAKE2b-512(file)))
    trusted comment: <text>
    base64(Ed25519(signature (64) || trusted comment))

The file is hashed in chunks (minisign's "prehashed" ``ED`` algorithm), so memory stays
flat whatever its size. The legacy ``Ed`` algorithm (the whole file signed directly)
would need the file in memory and is refused.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import nacl.hashlib

from ..errors import FileAccessError
from ..fileaccess import open_readable
from .errors import SignatureError, UntrustedSignatureError
from .keys import COMMENT_PREFIX, PublicKey, SecretKey, key_id_of

HASHED = b"ED"
LEGACY = b"Ed"
TRUSTED_PREFIX = "trusted comment: "
SUFFIX = ".minisig"
CHUNK = 1 << 20
#: minisign's limit for a trusted comment (TRUSTEDCOMMENTMAXBYTES less the prefix).
TRUSTED_COMMENT_MAX = 8192 - len(TRUSTED_PREFIX) - 1

Keys = PublicKey | Mapping[str, PublicKey] | Iterable[PublicKey]


def blake2b_512(stream: BinaryIO, chunk_size: int = CHUNK) -> bytes:
    """BLAKE2b-512 of everything ``stream`` still holds, read ``chunk_size`` at a time."""
    h = nacl.hashlib.blake2b(digest_size=64)
    read = stream.read
    while chunk := read(chunk_size):
        h.update(chunk)
    return h.digest()


def _printable(comment: str) -> bool:
    return all(c == "\t" or (c >= " " and c != "\x7f") for c in comment)


@dataclass(frozen=True)
class Minisig:
    """A parsed ``.minisig`` file."""

    algorithm: bytes
    keynum: bytes
    signature: bytes
    trusted_comment: str
    global_signature: bytes
    untrusted_comment: str = ""

    @property
    def key_id(self) -> str:
        return key_id_of(self.keynum)

    def to_text(self) -> str:
        sig = base64.b64encode(self.algorithm + self.keynum + self.signature).decode()
        glob = base64.b64encode(self.global_signature).decode()
        return (
            f"{COMMENT_PREFIX}{self.untrusted_comment}\n{sig}\n"
            f"{TRUSTED_PREFIX}{self.trusted_comment}\n{glob}\n"
        )

    @classmethod
    def parse(cls, data: bytes | str, source: str = "signature") -> Minisig:
        def bad(why: str) -> SignatureError:
            return SignatureError(f"{source}: not a minisign signature ({why})")

        if isinstance(data, str):
            data = data.encode("utf-8")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise bad("not UTF-8") from None
        lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
        if len(lines) < 4:
            raise bad("fewer than four lines")
        comment, sig_line, trusted, global_line = lines[:4]
        if not comment.startswith(COMMENT_PREFIX):
            raise bad(f"the first line does not start with {COMMENT_PREFIX!r}")
        if not trusted.startswith(TRUSTED_PREFIX):
            raise bad(f"the third line does not start with {TRUSTED_PREFIX!r}")
        trusted_comment = trusted[len(TRUSTED_PREFIX) :]
        if "\r" in trusted_comment or not _printable(trusted_comment):
            raise bad("the trusted comment has unprintable characters")
        try:
            raw = base64.b64decode(sig_line.strip(), validate=True)
            global_signature = base64.b64decode(global_line.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise bad("invalid base64") from None
        if len(raw) != 2 + 8 + 64 or len(global_signature) != 64:
            raise bad("wrong length")
        algorithm = raw[:2]
        if algorithm == LEGACY:
            raise SignatureError(
                f"{source}: a legacy minisign signature (the whole file signed, `minisign -l`):"
                " only prehashed signatures are supported; sign again without -l"
            )
        if algorithm != HASHED:
            raise bad(f"unsupported algorithm {algorithm!r}")
        return cls(algorithm, raw[2:10], raw[10:], trusted_comment, global_signature,
                   comment[len(COMMENT_PREFIX) :])  # fmt: skip


def sign_stream(
    stream: BinaryIO,
    key: SecretKey,
    trusted_comment: str,
    untrusted_comment: str | None = None,
) -> Minisig:
    """The minisign signature of the bytes of ``stream``."""
    if "\n" in trusted_comment or "\r" in trusted_comment or not _printable(trusted_comment):
        raise ValueError("a trusted comment is one line of printable characters")
    if len(trusted_comment.encode()) > TRUSTED_COMMENT_MAX:
        raise ValueError(f"a trusted comment has at most {TRUSTED_COMMENT_MAX} bytes")
    if untrusted_comment is None:
        untrusted_comment = f"signature from heimdall-io secret key {key.key_id.upper()}"
    if "\n" in untrusted_comment or "\r" in untrusted_comment:
        raise ValueError("an untrusted comment is one line")
    signature = key.sign(blake2b_512(stream))
    global_signature = key.sign(signature + trusted_comment.encode())
    return Minisig(HASHED, key.keynum, signature, trusted_comment, global_signature,
                   untrusted_comment)  # fmt: skip


def default_trusted_comment(path: Path) -> str:
    """What minisign writes when given none: the time and the file's name."""
    return f"timestamp:{int(time.time())}\tfile:{path.name}\thashed"


def signature_path(path: str | os.PathLike[str]) -> Path:
    """``FILE.minisig`` beside ``FILE``."""
    path = Path(path)
    return path.with_name(path.name + SUFFIX)


def sign_file(
    path: str | os.PathLike[str],
    key: SecretKey,
    *,
    trusted_comment: str | None = None,
    untrusted_comment: str | None = None,
    sig_path: str | os.PathLike[str] | None = None,
) -> Path:
    """Write ``FILE.minisig`` (or ``sig_path``), replacing it atomically; returns its path."""
    path = Path(path)
    out = Path(sig_path) if sig_path is not None else signature_path(path)
    if trusted_comment is None:
        trusted_comment = default_trusted_comment(path)
    with open_readable(path, "file", missing=FileAccessError) as f:
        text = sign_stream(f, key, trusted_comment, untrusted_comment).to_text()
    try:
        fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    except OSError as e:
        raise FileAccessError(f"cannot write {out}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return out


@dataclass(frozen=True)
class DetachedVerification:
    """A detached signature that verified."""

    key_id: str
    trusted_comment: str
    key_name: str | None = None


def _find_key(keys: Keys, key_id: str) -> PublicKey | None:
    if isinstance(keys, PublicKey):
        return keys if keys.key_id == key_id else None
    if isinstance(keys, Mapping):
        return keys.get(key_id)
    return next((k for k in keys if k.key_id == key_id), None)


def verify_stream(
    stream: BinaryIO, minisig: Minisig, keys: Keys, source: str = "signature"
) -> DetachedVerification:
    """Check ``minisig`` over the bytes of ``stream`` with one of ``keys``; raises
    UntrustedSignatureError for an unknown key and SignatureError for a bad signature."""
    key = _find_key(keys, minisig.key_id)
    if key is None:
        raise UntrustedSignatureError(
            f"{source} was made by key {minisig.key_id}, which is not a trusted key"
        )
    if not key.verify(blake2b_512(stream), minisig.signature):
        raise SignatureError(f"{source}: signature verification failed (the file or the"
                             f" signature was changed) for key {minisig.key_id}")  # fmt: skip
    signed_comment = minisig.signature + minisig.trusted_comment.encode()
    if not key.verify(signed_comment, minisig.global_signature):
        raise SignatureError(f"{source}: the trusted comment was changed (key {minisig.key_id})")
    name = getattr(keys, "name", None)
    return DetachedVerification(
        minisig.key_id, minisig.trusted_comment, name(minisig.key_id) if callable(name) else None
    )


def verify_file(
    path: str | os.PathLike[str],
    keys: Keys,
    *,
    sig_path: str | os.PathLike[str] | None = None,
) -> DetachedVerification:
    """Check ``FILE.minisig`` (or ``sig_path``) against ``FILE``, as ``minisign -V`` does."""
    path = Path(path)
    sig = Path(sig_path) if sig_path is not None else signature_path(path)
    try:
        data = sig.read_bytes()
    except FileNotFoundError:
        raise FileAccessError(f"signature not found: {sig}") from None
    except PermissionError:
        raise FileAccessError(f"cannot read {sig}: permission denied") from None
    minisig = Minisig.parse(data, str(sig))
    with open_readable(path, "file", missing=FileAccessError) as f:
        return verify_stream(f, minisig, keys, str(sig))
