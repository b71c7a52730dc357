"""Detached ``.minisig`` signatures, checked against the real `minisign` in both directions.

Never skipped under CI=true: a missing binary fails there (tests.conftest.unavailable).
"""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from heimdall_io.errors import FileAccessError
from heimdall_io.signing import keys, minisign
from heimdall_io.signing.errors import SignatureError, UntrustedSignatureError
from heimdall_io.signing.trust import TrustedKeys

from .helpers import fast_key, minisign_binary


@pytest.fixture(scope="module")
def binary() -> str:
    return minisign_binary()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "model.heimdall"
    path.write_bytes(os.urandom(3 << 20) + b"tail")  # several hashing chunks
    return path


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), input=stdin, text=True, capture_output=True)


def test_minisign_verifies_our_signature(tmp_path: Path, data: Path, binary: str) -> None:
    key = fast_key("k", tmp_path)
    sig = minisign.sign_file(data, key, trusted_comment="heimdall model tiny v3\tsha256:abc")
    assert sig == tmp_path / "model.heimdall.minisig"
    done = run(binary, "-V", "-p", str(tmp_path / "k.pub"), "-m", str(data))
    assert done.returncode == 0, done.stderr
    assert "Trusted comment: heimdall model tiny v3\tsha256:abc" in done.stdout
    # Default trusted comment, as minisign's own.
    minisign.sign_file(data, key)
    done = run(binary, "-V", "-p", str(tmp_path / "k.pub"), "-m", str(data))
    assert done.returncode == 0 and "\tfile:model.heimdall\thashed" in done.stdout


def change_a_byte_of_the_file(data: Path, sig: Path) -> None:
    with data.open("r+b") as f:
        f.seek(1 << 20)
        byte = f.read(1)
        f.seek(1 << 20)
        f.write(bytes([byte[0] ^ 1]))


def change_the_trusted_comment(data: Path, sig: Path) -> None:
    sig.write_text(sig.read_text().replace("release 1", "release 2"))


@pytest.mark.parametrize(
    ("trusted_comment", "tamper", "minisign_says", "we_say"),
    [
        pytest.param(
            None,
            change_a_byte_of_the_file,
            "Signature verification failed",
            "signature verification failed",
            id="changed-file",
        ),
        pytest.param(
            "release 1",
            change_the_trusted_comment,
            "Comment signature verification failed",
            "trusted comment was changed",
            id="changed-trusted-comment",
        ),
    ],
)
def test_minisign_and_we_reject_our_tampered_signature(
    tmp_path: Path,
    data: Path,
    binary: str,
    trusted_comment: str | None,
    tamper: Callable[[Path, Path], None],
    minisign_says: str,
    we_say: str,
) -> None:
    key = fast_key("k", tmp_path)
    sig = minisign.sign_file(data, key, trusted_comment=trusted_comment)
    tamper(data, sig)
    done = run(binary, "-V", "-p", str(tmp_path / "k.pub"), "-m", str(data))
    assert done.returncode != 0 and minisign_says in done.stderr
    with pytest.raises(SignatureError, match=we_say):
        minisign.verify_file(data, key.public)


def test_we_verify_minisigns_signature_made_with_an_unencrypted_key(
    tmp_path: Path, data: Path, binary: str
) -> None:
    pub, sec = tmp_path / "m.pub", tmp_path / "m.key"
    assert run(binary, "-G", "-W", "-p", str(pub), "-s", str(sec)).returncode == 0
    done = run(binary, "-S", "-s", str(sec), "-m", str(data), "-t", "from minisign")
    assert done.returncode == 0, done.stderr
    result = minisign.verify_file(data, keys.load_public_key(pub))
    assert result.trusted_comment == "from minisign"
    assert result.key_id == keys.load_public_key(pub).key_id
    # With a trusted directory, the key is named after its file.
    assert minisign.verify_file(data, TrustedKeys.load(tmp_path)).key_name == "m"


def test_encrypted_minisign_key_signs_and_loads(tmp_path: Path, data: Path, binary: str) -> None:
    """minisign -G with a password (scrypt at 1 GiB, a few seconds): its signature verifies
    here, and its secret key file decrypts here with the same password."""
    pub, sec = tmp_path / "e.pub", tmp_path / "e.key"
    done = run(binary, "-G", "-p", str(pub), "-s", str(sec), stdin="pa55 word\npa55 word\n")
    assert done.returncode == 0, done.stderr
    done = run(binary, "-S", "-s", str(sec), "-m", str(data), stdin="pa55 word\n")
    assert done.returncode == 0, done.stderr
    public = keys.load_public_key(pub)
    assert minisign.verify_file(data, public).key_id == public.key_id
    secret = keys.load_secret_key(sec, "pa55 word")
    assert secret.public == public
    # And a signature we make with minisign's encrypted key, minisign verifies.
    (tmp_path / "other").write_bytes(b"other")
    minisign.sign_file(tmp_path / "other", secret)
    assert run(binary, "-V", "-p", str(pub), "-m", str(tmp_path / "other")).returncode == 0


def test_unknown_key_and_key_sets(tmp_path: Path, data: Path) -> None:
    a, b = fast_key("a", tmp_path), fast_key("b", tmp_path)
    minisign.sign_file(data, a)
    with pytest.raises(UntrustedSignatureError, match=f"made by key {a.key_id}, which is not"):
        minisign.verify_file(data, b.public)
    assert minisign.verify_file(data, [b.public, a.public]).key_id == a.key_id
    assert minisign.verify_file(data, {a.key_id: a.public}).key_id == a.key_id


def test_legacy_signatures_are_refused_with_a_reason(
    tmp_path: Path, data: Path, binary: str
) -> None:
    pub, sec = tmp_path / "m.pub", tmp_path / "m.key"
    run(binary, "-G", "-W", "-p", str(pub), "-s", str(sec))
    done = run(binary, "-S", "-l", "-s", str(sec), "-m", str(data))
    assert done.returncode == 0, done.stderr
    with pytest.raises(SignatureError, match="legacy minisign signature"):
        minisign.verify_file(data, keys.load_public_key(pub))


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda t: "", "fewer than four lines"),
        (lambda t: t.replace("untrusted comment:", "comment:", 1), "first line"),
        (lambda t: t.replace("\ntrusted comment: ", "\ntrusted: ", 1), "third line"),
        (lambda t: t.replace("RU", "R!", 1), "invalid base64"),
        (lambda t: t.replace("trusted comment: x", "trusted comment: x\x01"), "unprintable"),
    ],
)
def test_malformed_signature_files(
    tmp_path: Path, data: Path, mangle: Callable[[str], str], message: str
) -> None:
    key = fast_key("k", tmp_path)
    sig = minisign.sign_file(data, key, trusted_comment="x")
    sig.write_text(mangle(sig.read_text()))
    with pytest.raises(SignatureError, match=message):
        minisign.verify_file(data, key.public)


def test_missing_files(tmp_path: Path, data: Path) -> None:
    key = fast_key("k", tmp_path)
    with pytest.raises(FileAccessError, match="signature not found"):
        minisign.verify_file(data, key.public)
    with pytest.raises(FileAccessError, match="file not found"):
        minisign.sign_file(tmp_path / "nope", key)


def test_crlf_signature_files_are_read(tmp_path: Path, data: Path) -> None:
    key = fast_key("k", tmp_path)
    sig = minisign.sign_file(data, key, trusted_comment="windows")
    sig.write_bytes(sig.read_bytes().replace(b"\n", b"\r\n"))
    assert minisign.verify_file(data, key.public).trusted_comment == "windows"


def test_trusted_comment_rules(tmp_path: Path) -> None:
    key = fast_key("k", tmp_path)
    for bad in ("two\nlines", "cr\r", "bell\x07", "x" * 9000):
        with pytest.raises(ValueError):
            minisign.sign_stream(io.BytesIO(b""), key, bad)


class CountingStream(io.RawIOBase):
    """A large stream that is generated, never held: records the biggest read."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.biggest = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            raise AssertionError("read everything at once")
        self.biggest = max(self.biggest, n)
        n = min(n, self.left)
        self.left -= n
        return b"\xa5" * n


def test_hashing_streams_in_chunks(tmp_path: Path) -> None:
    """Memory stays flat: the file is read a chunk at a time, never whole."""
    key = fast_key("k", tmp_path)
    stream = CountingStream(64 << 20)
    sig = minisign.sign_stream(stream, key, "big")  # type: ignore[arg-type]
    assert stream.left == 0 and stream.biggest == minisign.CHUNK
    again = CountingStream(64 << 20)
    assert minisign.verify_stream(again, sig, key.public).trusted_comment == "big"  # type: ignore[arg-type]
    assert minisign.Minisig.parse(sig.to_text()) == sig
