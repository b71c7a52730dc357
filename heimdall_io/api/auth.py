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
    if any(c.isspace() for c in key):
        raise ConfigError(f"{where}: an API key must not contain whitespace")
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
        for key, role in items:
            if role not in ROLES:
                raise ConfigError(f"unknown API key role {role!r} (use read or admin)")
            if not key:
                raise ConfigError("an API key must not be empty")
            digest = hashlib.sha256(key.encode()).digest()
            self._entries.append((digest, Principal(actor_for(key), role)))
        if not self._entries:
            raise ConfigError("no API keys configured")

    def __len__(self) -> int:
        return len(self._entries)

    def count(self, role: Role) -> int:
        return sum(1 for _, p in self._entries if p.role == role)

    def lookup(self, presented: str) -> Principal | None:
        """The principal of ``presented``, compared against every key in constant time."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found: Principal | None = None
        for known, principal in self._entries:  # no early exit
            if hmac.compare_digest(digest, known):
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
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
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
    "ApiKeys",
    "Principal",
    "Role",
    "actor_for",
    "authenticate",
    "parse_keys",
    "parse_keys_file",
]
