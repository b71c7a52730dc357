"""Ed25519 key pairs in minisign's file formats, so keys work with the `minisign` tool too.

    public key file (NAME.pub)      secret key file (NAME.key, mode 0600)
    untrusted comment: <text>       untrusted comment: <text>
    base64(PUBLIC)                  base64(SECRET)

    PUBLIC = "Ed" || keynum (8) || pk (32)
    SECRET = "Ed" || kdf ("Sc" scrypt | "\\0\\0" none) || "B2"
             || salt (32) || opslimit (u64 LE) || memlimit (u64 LE)
             || (keynum (8) || sk (64: seed || pk) || chk (32)) XOR scrypt(passphrase)
    chk = BLAKE2b-256("Ed" || keynum || sk)

The keynum is 8 random bytes; the key id is those bytes read as a little-endian integer
in 16 lowercase hex digits: what minisign prints as "minisign public key 1A2B...".
Encrypted keys use scrypt (scryptsalsa208sha256) with minisign's parameters
(``OPSLIMIT_SENSITIVE``/``MEMLIMIT_SENSITIVE``: about a second and 1 GiB of memory).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.pwhash.scrypt as scrypt
import nacl.signing
import nacl.utils

from ..errors import FileAccessError
from ..fileaccess import open_readable
from .errors import PassphraseError, SigningKeyError

SIG_ALG = b"Ed"
KDF_SCRYPT = b"Sc"
KDF_NONE = b"\0\0"
CHK_ALG = b"B2"
COMMENT_PREFIX = "untrusted comment: "
SECRET_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"
#: minisign's scrypt parameters for new keys.
OPSLIMIT = scrypt.OPSLIMIT_SENSITIVE
MEMLIMIT = scrypt.MEMLIMIT_SENSITIVE
#: A key file asking for more memory than this is refused rather than tried.
MEMLIMIT_CEILING = 1 << 34

_KEYNUM, _PK, _SK, _CHK, _SALT = 8, 32, 64, 32, scrypt.SALTBYTES
_PUBLIC_LEN = 2 + _KEYNUM + _PK
_SECRET_LEN = 6 + _SALT + 16 + _KEYNUM + _SK + _CHK
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

#: A passphrase, or a function asked for one only when the key is encrypted (and which
#: may return None: there is none).
Passphrase = str | bytes | Callable[[], str | bytes | None] | None


def key_id_of(keynum: bytes) -> str:
    """16 lowercase hex digits: the keynum as a little-endian integer (minisign's key id)."""
    return keynum[::-1].hex()


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SigningKeyError(f"{what}: not valid base64") from None


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key with its minisign keynum."""

    keynum: bytes
    key: bytes
    #: The untrusted comment of its file, or a name: informational only.
    comment: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if len(self.keynum) != _KEYNUM or len(self.key) != _PK:
            raise SigningKeyError("a public key needs an 8-byte keynum and 32 key bytes")

    @property
    def key_id(self) -> str:
        return key_id_of(self.keynum)

    @property
    def key_base64(self) -> str:
        """The bare 32-byte key in base64 (a signature entry's ``public_key``)."""
        return base64.b64encode(self.key).decode()

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            nacl.signing.VerifyKey(self.key).verify(message, signature)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
            return False
        return True

    def to_base64(self) -> str:
        """The minisign public key string (``minisign -P <this>``)."""
        return base64.b64encode(SIG_ALG + self.keynum + self.key).decode()

    def to_text(self) -> str:
        """The content of a minisign ``.pub`` file."""
        return f"{COMMENT_PREFIX}minisign public key {self.key_id.upper()}\n{self.to_base64()}\n"

    @classmethod
    def from_base64(cls, text: str, source: str = "public key", comment: str = "") -> PublicKey:
        raw = _b64decode(text, source)
        if len(raw) != _PUBLIC_LEN:
            raise SigningKeyError(f"{source}: not a minisign public key ({len(raw)} bytes)")
        if raw[:2] != SIG_ALG:
            raise SigningKeyError(f"{source}: unsupported key algorithm {raw[:2]!r}")
        return cls(raw[2 : 2 + _KEYNUM], raw[2 + _KEYNUM :], comment)


@dataclass(frozen=True, repr=False)
class SecretKey:
    """An Ed25519 secret key (its 32-byte seed) with its minisign keynum."""

    keynum: bytes
    seed: bytes
    public: PublicKey

    @property
    def key_id(self) -> str:
        return key_id_of(self.keynum)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return nacl.signing.SigningKey(self.seed).sign(message).signature

    def __repr__(self) -> str:
        return f"SecretKey(key_id={self.key_id!r})"


def new_secret_key(comment: str = "") -> SecretKey:
    """A fresh random key pair."""
    signing = nacl.signing.SigningKey.generate()
    keynum = nacl.utils.random(_KEYNUM)
    public = PublicKey(keynum, bytes(signing.verify_key), comment)
    return SecretKey(keynum, bytes(signing), public)


def _checksum(keynum: bytes, sk: bytes) -> bytes:
    return nacl.hash.blake2b(
        SIG_ALG + keynum + sk, digest_size=_CHK, encoder=nacl.encoding.RawEncoder
    )


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    raw = passphrase.encode() if isinstance(passphrase, str) else passphrase
    if not raw:
        raise PassphraseError("the passphrase is empty")
    return raw


def _kdf(passphrase: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return scrypt.kdf(_KEYNUM + _SK + _CHK, passphrase, salt, opslimit, memlimit)


def secret_key_text(
    secret: SecretKey,
    passphrase: str | bytes | None = None,
    *,
    opslimit: int = OPSLIMIT,
    memlimit: int = MEMLIMIT,
) -> str:
    """The content of a minisign secret key file, encrypted when a passphrase is given."""
    sk = secret.seed + secret.public.key
    plain = secret.keynum + sk + _checksum(secret.keynum, sk)
    if passphrase is None:
        body = SIG_ALG + KDF_NONE + CHK_ALG + bytes(_SALT + 16) + plain
        comment = "minisign unencrypted secret key"
    else:
        salt = nacl.utils.random(_SALT)
        password = _passphrase_bytes(passphrase)
        while True:  # as minisign: halve the cost until the machine can afford it
            try:
                stream = _kdf(password, salt, opslimit, memlimit)
                break
            except (MemoryError, nacl.exceptions.RuntimeError):
                opslimit, memlimit = opslimit // 2, memlimit // 2
                if opslimit < scrypt.OPSLIMIT_MIN or memlimit < scrypt.MEMLIMIT_MIN:
                    raise SigningKeyError(
                        "not enough memory to derive a key from the passphrase"
                    ) from None
        limits = opslimit.to_bytes(8, "little") + memlimit.to_bytes(8, "little")
        body = SIG_ALG + KDF_SCRYPT + CHK_ALG + salt + limits + _xor(plain, stream)
        comment = "minisign encrypted secret key"
    return f"{COMMENT_PREFIX}{comment}\n{base64.b64encode(body).decode()}\n"


def parse_secret_key(
    text: str, passphrase: Passphrase = None, source: str = "secret key"
) -> SecretKey:
    """A secret key from the content of a minisign secret key file."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or not lines[0].startswith("untrusted comment:"):
        raise SigningKeyError(f"{source}: not a minisign secret key file")
    raw = _b64decode(lines[1], source)
    if len(raw) != _SECRET_LEN:
        raise SigningKeyError(f"{source}: not a minisign secret key ({len(raw)} bytes)")
    sig_alg, kdf, chk_alg = raw[0:2], raw[2:4], raw[4:6]
    if sig_alg != SIG_ALG or chk_alg != CHK_ALG:
        raise SigningKeyError(f"{source}: unsupported key algorithm {sig_alg!r}/{chk_alg!r}")
    salt, rest = raw[6 : 6 + _SALT], raw[6 + _SALT :]
    opslimit, memlimit = int.from_bytes(rest[:8], "little"), int.from_bytes(rest[8:16], "little")
    keynum_sk = rest[16:]
    if kdf == KDF_SCRYPT:
        if callable(passphrase):
            passphrase = passphrase()
        if passphrase is None:
            raise PassphraseError(f"{source} is encrypted: a passphrase is required")
        if memlimit > MEMLIMIT_CEILING or opslimit > MEMLIMIT_CEILING:
            raise SigningKeyError(f"{source}: implausible scrypt parameters")
        try:
            stream = _kdf(_passphrase_bytes(passphrase), salt, opslimit, memlimit)
        except (MemoryError, nacl.exceptions.RuntimeError, nacl.exceptions.ValueError):
            raise SigningKeyError(f"{source}: cannot derive its key (out of memory?)") from None
        keynum_sk = _xor(keynum_sk, stream)
    elif kdf != KDF_NONE:
        raise SigningKeyError(f"{source}: unsupported key derivation {kdf!r}")
    keynum, sk, chk = keynum_sk[:_KEYNUM], keynum_sk[_KEYNUM:-_CHK], keynum_sk[-_CHK:]
    # minisign -W leaves the checksum of an unencrypted key zero; any other must match.
    if (kdf == KDF_SCRYPT or chk != bytes(_CHK)) and chk != _checksum(keynum, sk):
        if kdf == KDF_SCRYPT:
            raise PassphraseError(f"wrong passphrase for {source}")
        raise SigningKeyError(f"{source}: checksum mismatch (corrupted key file)")
    seed, pk = sk[:32], sk[32:]
    if bytes(nacl.signing.SigningKey(seed).verify_key) != pk:
        raise SigningKeyError(f"{source}: corrupted key (its public half does not match)")
    return SecretKey(keynum, seed, PublicKey(keynum, pk))


def parse_public_keys(text: str, source: str = "public key file") -> list[PublicKey]:
    """Every public key in ``text``: minisign ``.pub`` files, one or several concatenated,
    or bare base64 lines. Blank lines and lines starting with ``#`` are ignored; an
    ``untrusted comment:`` line becomes the comment of the key after it."""
    keys: list[PublicKey] = []
    comment = ""
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("untrusted comment:"):
            comment = line[len("untrusted comment:") :].strip()
            continue
        keys.append(PublicKey.from_base64(line, f"{source}, line {number}", comment))
        comment = ""
    return keys


def read_key_file(path: Path, what: str) -> str:
    """The text of a key file; SigningKeyError naming ``what`` if it cannot be read."""
    with open_readable(path, what, error=SigningKeyError, missing=SigningKeyError) as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SigningKeyError(f"{what} {path}: not a minisign key file") from None


def load_secret_key(path: str | os.PathLike[str], passphrase: Passphrase = None) -> SecretKey:
    """The secret key in a minisign secret key file; ``passphrase`` if it is encrypted."""
    path = Path(path)
    return parse_secret_key(read_key_file(path, "secret key"), passphrase, f"secret key {path}")


def load_public_key(path: str | os.PathLike[str]) -> PublicKey:
    """The one public key in a minisign ``.pub`` file."""
    path = Path(path)
    keys = parse_public_keys(read_key_file(path, "public key"), f"public key {path}")
    if len(keys) != 1:
        raise SigningKeyError(f"public key {path}: expected one key, found {len(keys)}")
    return keys[0]


def check_name(name: str) -> str:
    """``name`` if it can name a key file (letters, digits, ``.``, ``_``, ``-``)."""
    if not _NAME.fullmatch(name) or name.endswith((SECRET_SUFFIX, PUBLIC_SUFFIX)):
        raise SigningKeyError(
            f"invalid key name {name!r}: use letters, digits, '.', '_' and '-'"
            " (at most 128, not starting with '.' or '-', without .key/.pub)"
        )
    return name


def key_paths(name: str, directory: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(secret key path, public key path) of key ``name`` in ``directory``."""
    base = Path(directory) / check_name(name)
    return base.with_name(base.name + SECRET_SUFFIX), base.with_name(base.name + PUBLIC_SUFFIX)


def _write_new(path: Path, text: str, mode: int, overwrite: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise FileAccessError(f"{path} already exists (remove it or choose another name)") from None
    except PermissionError:
        raise FileAccessError(f"cannot write {path}: permission denied") from None
    try:
        os.fchmod(fd, mode)  # also when it existed, and whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


@dataclass(frozen=True)
class KeyInfo:
    """A key pair (or half of one) found in a key directory."""

    name: str
    key_id: str | None
    secret_path: Path | None
    public_path: Path | None
    #: Whether the secret key is passphrase-protected (None without a secret key file).
    encrypted: bool | None


def generate(
    name: str,
    directory: str | os.PathLike[str],
    passphrase: str | bytes | None = None,
    *,
    overwrite: bool = False,
    opslimit: int = OPSLIMIT,
    memlimit: int = MEMLIMIT,
) -> KeyInfo:
    """Write a new key pair ``NAME.key`` (mode 0600) and ``NAME.pub`` into ``directory``.

    With a passphrase the secret key is encrypted as minisign encrypts it. Refuses to
    replace existing files unless ``overwrite``. The directory is created (mode 0700).
    """
    secret_path, public_path = key_paths(name, directory)
    if not overwrite:
        for path in (secret_path, public_path):
            if path.exists():
                raise FileAccessError(f"{path} already exists (remove it or choose another name)")
    try:
        secret_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise FileAccessError(
            f"cannot create key directory {secret_path.parent}: {e.strerror}"
        ) from None
    secret = new_secret_key()
    text = secret_key_text(secret, passphrase, opslimit=opslimit, memlimit=memlimit)
    _write_new(secret_path, text, 0o600, overwrite)
    try:
        _write_new(public_path, secret.public.to_text(), 0o644, overwrite)
    except BaseException:
        secret_path.unlink()
        raise
    return KeyInfo(name, secret.key_id, secret_path, public_path, passphrase is not None)


def _secret_info(path: Path) -> tuple[str | None, bool | None]:
    """(key id, encrypted) of a secret key file without decrypting it; Nones if unreadable."""
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        raw = base64.b64decode(lines[1].strip(), validate=True)
    except (OSError, UnicodeDecodeError, IndexError, binascii.Error, ValueError):
        return None, None
    if len(raw) != _SECRET_LEN:
        return None, None
    encrypted = raw[2:4] == KDF_SCRYPT
    # The keynum is encrypted too: only an unencrypted key tells its id without the pair.
    return (None if encrypted else key_id_of(raw[6 + _SALT + 16 : 6 + _SALT + 16 + _KEYNUM])), (
        encrypted
    )


def list_keys(directory: str | os.PathLike[str]) -> list[KeyInfo]:
    """The keys in ``directory`` (``*.key`` and ``*.pub`` files), sorted by name."""
    directory = Path(directory)
    try:
        paths = sorted(p for p in directory.iterdir() if p.suffix in (SECRET_SUFFIX, PUBLIC_SUFFIX))
    except FileNotFoundError:
        return []
    except (NotADirectoryError, PermissionError) as e:
        raise FileAccessError(f"cannot list keys in {directory}: {e.strerror}") from None
    names = sorted({p.stem for p in paths if _NAME.fullmatch(p.stem)})
    found = []
    for name in names:
        secret_path, public_path = key_paths(name, directory)
        has_secret, has_public = secret_path.is_file(), public_path.is_file()
        key_id, encrypted = _secret_info(secret_path) if has_secret else (None, None)
        if has_public:
            with contextlib.suppress(SigningKeyError):
                key_id = load_public_key(public_path).key_id
        found.append(
            KeyInfo(
                name,
                key_id,
                secret_path if has_secret else None,
                public_path if has_public else None,
                encrypted,
            )
        )
    return found


def export_public(
    key: str | os.PathLike[str],
    directory: str | os.PathLike[str] | None = None,
    passphrase: Passphrase = None,
) -> str:
    """The ``.pub`` file text of a key: by name in ``directory``, or a ``.pub``/``.key`` path.

    A secret key file alone is enough (its public half is inside it; an encrypted one
    needs its passphrase), as with ``minisign -R``.
    """
    if directory is not None and isinstance(key, str) and _NAME.fullmatch(key):
        secret_path, public_path = key_paths(key, directory)
        if public_path.is_file():
            return load_public_key(public_path).to_text()
        if secret_path.is_file():
            return load_secret_key(secret_path, passphrase).public.to_text()
        raise SigningKeyError(f"no key named {key!r} in {directory}")
    path = Path(key)
    if path.suffix == SECRET_SUFFIX:
        return load_secret_key(path, passphrase).public.to_text()
    return load_public_key(path).to_text()
