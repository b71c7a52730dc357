"""API keys: who may call what, and under which name the audit history records them.

Keys come from ``HEIMDALL_API_KEYS`` (``key1:admin,key2:read``) and/or the file named by
``HEIMDALL_API_KEYS_FILE`` (one ``key:role`` per line; blank lines and ``#`` comments
ignored). With no key configured the API is open and every caller is ``api:anonymous``.

With keys, a request carries ``Authorization: Bearer <key>``:

* ``read`` keys may list and show models, export them and read the audit history;
* ``admin`` keys may also import and delete.

A missing or unknown key is 401 (with ``WWW-Authenticate: Bearer``); a read key on an
admin route is 403. ``/healthz`` and ``/openapi.json`` stay open (a load balancer's probe
carries no key, and the description holds no data).

A key is an RFC 6750 ``b64token`` of 16 to 512 characters: ASCII letters, digits and
``- . _ ~ + /``, optionally ending in ``=`` padding (``openssl rand -base64 32`` makes
one). Anything else is refused when the keys are configured, with a ConfigError that
states the rule and where the entry is, never the key. One alphabet, ASCII, so a key has
one byte form: the configured key and the header's token (which the server decodes as
Latin-1) are compared as the same bytes, and a token outside the alphabet simply matches
no key (401), whatever bytes it holds.

The presented key is compared with *every* configured key with :func:`hmac.compare_digest`
on SHA-256 digests (equal lengths, no early exit), so the time taken does not depend on
which key matched or how much of one did. Keys are never logged: the audit history and the
logs name a caller by :func:`actor_for`, ``api:`` + the first 12 hex digits of the key's
SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from heimdall_io.errors import ConfigError

from .errors import ApiError

Role = Literal["read", "admin"]
ROLES: tuple[Role, ...] = ("read", "admin")
ANONYMOUS = "api:anonymous"
KEYS_ENV = "HEIMDALL_API_KEYS"
KEYS_FILE_ENV = "HEIMDALL_API_KEYS_FILE"
_RANK = {"read": 0, "admin": 1}
MIN_KEY_LENGTH = 16
MAX_KEY_LENGTH = 512
#: The rule a key must follow, as a ConfigError states it.
KEY_RULE = (
    f"an API key must be {MIN_KEY_LENGTH} to {MAX_KEY_LENGTH} characters of ASCII letters, "
    "digits and - . _ ~ + /, optionally ending in = (an RFC 6750 b64token)"
)
_KEY = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_HTTP_SPACE = " \t"


def valid_key(key: str) -> bool:
    """Whether ``key`` follows :data:`KEY_RULE`.

    >>> valid_key("0123456789abcdef"), valid_key("0123456789abcdé=")
    (True, False)
    """
    return MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH and _KEY.fullmatch(key) is not None


def check_key(key: str, where: str) -> None:
    """ConfigError (stating the rule and ``where``, not the key) unless ``key`` is valid."""
    if not valid_key(key):
        raise ConfigError(f"{where}: {KEY_RULE}")


def actor_for(key: str) -> str:
    """The name a key's requests are audited under: ``api:<12 hex of sha256(key)>``."""
    return "api:" + hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Principal:
    actor: str
    role: Role


def _parse_entry(text: str, where: str) -> tuple[str, Role]:
    key, sep, role = text.strip().rpartition(":")
    key, role = key.strip(), role.strip().lower()
    if not sep or not key:
        raise ConfigError(f"{where}: expected KEY:ROLE (role read or admin)")
    if role not in ROLES:
        raise ConfigError(f"{where}: unknown role {role!r} (use read or admin)")
    check_key(key, where)
    return key, cast(Role, role)


def parse_keys(spec: str, where: str = KEYS_ENV) -> dict[str, Role]:
    """``key1:admin,key2:read`` -> ``{"key1": "admin", "key2": "read"}``."""
    keys: dict[str, Role] = {}
    for n, item in enumerate(spec.split(","), 1):
        if not item.strip():
            continue
        key, role = _parse_entry(item, f"{where} entry {n}")
        keys[key] = role
    return keys


def parse_keys_file(path: str | os.PathLike[str]) -> dict[str, Role]:
    """One ``key:role`` per line; blank lines and ``#`` comments are ignored."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{KEYS_FILE_ENV}: cannot read {path}: {e.strerror or e}") from None
    keys: dict[str, Role] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, role = _parse_entry(line, f"{path} line {n}")
        keys[key] = role
    return keys


class ApiKeys:
    """The configured keys (held as SHA-256 digests) and their roles."""

    def __init__(self, keys: Mapping[str, Role] | Iterable[tuple[str, Role]]) -> None:
        items = keys.items() if isinstance(keys, Mapping) else keys
        self._entries: list[tuple[bytes, Principal]] = []
        for n, (key, role) in enumerate(items, 1):
            if role not in ROLES:
                raise ConfigError(f"unknown API key role {role!r} (use read or admin)")
            check_key(key, f"API key {n}")
            digest = hashlib.sha256(key.encode("ascii")).digest()
            self._entries.append((digest, Principal(actor_for(key), role)))
        if not self._entries:
            raise ConfigError("no API keys configured")

    def __len__(self) -> int:
        return len(self._entries)

    def count(self, role: Role) -> int:
        return sum(1 for _, p in self._entries if p.role == role)

    def lookup(self, presented: str) -> Principal | None:
        """The principal of ``presented``, compared against every key in constant time.

        A token outside the key alphabet matches nothing (it is still compared, against
        the digest of no key, so that the time taken is the same).
        """
        raw = presented.encode("ascii") if valid_key(presented) else None
        digest = hashlib.sha256(raw if raw is not None else b"").digest()  # b"": no key's
        found: Principal | None = None
        for known, principal in self._entries:  # no early exit
            if hmac.compare_digest(digest, known) and raw is not None:
                found = principal
        return found

    def derived_secret(self, actor: str, purpose: bytes) -> tuple[Principal, bytes] | None:
        """The principal named ``actor`` (see :func:`actor_for`) and a secret for ``purpose``
        that only a server holding its key can compute: HMAC-SHA256(sha256(key), purpose).
        None if no configured key has that name. Signed download links use it: every
        replica with the same keys accepts them, and removing a key voids them."""
        for digest, principal in self._entries:
            if principal.actor == actor:  # names are public (the audit shows them)
                return principal, hmac.new(digest, purpose, hashlib.sha256).digest()
        return None

    def __repr__(self) -> str:  # never the keys themselves
        return f"ApiKeys({self.count('admin')} admin, {self.count('read')} read)"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiKeys | None:
        """Keys from HEIMDALL_API_KEYS and HEIMDALL_API_KEYS_FILE; None if neither is set."""
        env = os.environ if environ is None else environ
        keys: dict[str, Role] = {}
        spec, path = env.get(KEYS_ENV, ""), env.get(KEYS_FILE_ENV, "")
        if spec.strip():
            keys.update(parse_keys(spec))
        if path.strip():
            keys.update(parse_keys_file(path.strip()))
            if not keys:
                raise ConfigError(f"{KEYS_FILE_ENV}: {path} holds no key")
        if not keys:
            return None
        return cls(keys)


def _unauthorized(detail: str, error: str | None = None) -> ApiError:
    challenge = 'Bearer realm="heimdall"'
    if error:
        challenge += f', error="{error}"'
    return ApiError(401, detail, {"WWW-Authenticate": challenge})


def authenticate(keys: ApiKeys | None, authorization: str | None, need: Role) -> Principal:
    """The caller of a request, or ApiError 401/403. ``keys`` None: the API is open."""
    if keys is None:
        return Principal(ANONYMOUS, "admin")
    if not authorization:
        raise _unauthorized("Missing API key: send Authorization: Bearer <key>")
    # HTTP whitespace only: str.strip() would also take Latin-1 bytes such as NBSP away.
    scheme, _, token = authorization.strip(_HTTP_SPACE).partition(" ")
    token = token.strip(_HTTP_SPACE)
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized(
            "Invalid Authorization header: expected Bearer <key>", "invalid_request"
        )
    principal = keys.lookup(token)
    if principal is None:
        raise _unauthorized("Invalid API key", "invalid_token")
    if _RANK[principal.role] < _RANK[need]:
        raise ApiError(403, f"This API key may not do this (needs the {need} role)")
    return principal


__all__ = [
    "ANONYMOUS",
    "KEYS_ENV",
    "KEYS_FILE_ENV",
    "KEY_RULE",
    "MAX_KEY_LENGTH",
    "MIN_KEY_LENGTH",
    "ApiKeys",
    "Principal",
    "Role",
    "actor_for",
    "authenticate",
    "check_key",
    "parse_keys",
    "parse_keys_file",
    "valid_key",
]
