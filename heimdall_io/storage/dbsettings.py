"""How long the PostgreSQL registry waits, and how many connections it keeps.

Every setting comes from the database URL's query, else the environment, else the default
(durations in seconds; 0 turns a PostgreSQL timeout off)::

    URL query            environment                      default  what
    statement_timeout    HEIMDALL_DB_STATEMENT_TIMEOUT    30       longest statement
    lock_timeout         HEIMDALL_DB_LOCK_TIMEOUT         5        longest wait for a lock
    pool_size            HEIMDALL_DB_POOL_SIZE            10       connections per process
    pool_timeout         HEIMDALL_DB_POOL_TIMEOUT         10       longest wait for one

    postgresql://heimdall@db:5432/heimdall?lock_timeout=2&pool_size=20

These query parameters are heimdall-io's: they are taken out of the URL before it reaches
libpq (whose own parameters, e.g. ``sslmode``, pass through unchanged). A registry call
that runs into one of the limits fails with RegistryUnavailableError (HTTP 503).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from heimdall_io.errors import ConfigError
from heimdall_io.setting_values import parse_count, parse_seconds

__all__ = ["DatabaseSettings", "split_database_url"]


def _seconds(name: str, text: str) -> float:
    return parse_seconds(name, text, allow_zero=True)


def _count(name: str, text: str) -> float:
    return parse_count(name, text)


#: URL query parameter -> (environment variable, default, parser).
_SETTINGS: dict[str, tuple[str, float, Callable[[str, str], float]]] = {
    "statement_timeout": ("HEIMDALL_DB_STATEMENT_TIMEOUT", 30.0, _seconds),
    "lock_timeout": ("HEIMDALL_DB_LOCK_TIMEOUT", 5.0, _seconds),
    "pool_size": ("HEIMDALL_DB_POOL_SIZE", 10, _count),
    "pool_timeout": ("HEIMDALL_DB_POOL_TIMEOUT", 10.0, _seconds),
}


@dataclass(frozen=True)
class DatabaseSettings:
    """Timeouts (seconds) and pool size of a PostgreSQL registry."""

    statement_timeout: float = 30.0
    lock_timeout: float = 5.0
    pool_size: int = 10
    pool_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.pool_timeout <= 0:
            raise ConfigError("pool_timeout must be positive")

    @staticmethod
    def milliseconds(seconds: float) -> int:
        """A PostgreSQL timeout setting: whole milliseconds, at least 1 unless 0 (off)."""
        return 0 if seconds == 0 else max(1, round(seconds * 1000))


def split_database_url(
    url: str, environ: Mapping[str, str] | None = None
) -> tuple[str, DatabaseSettings]:
    """``url`` without heimdall-io's query parameters, and the settings (URL, environment,
    defaults); ConfigError for a malformed or repeated value."""
    env = os.environ if environ is None else environ
    parts = urlsplit(url)
    kept: list[str] = []
    from_url: dict[str, str] = {}
    for item in parts.query.split("&") if parts.query else []:
        name = unquote(item.partition("=")[0])
        if name not in _SETTINGS:
            kept.append(item)  # libpq's: passed on exactly as written
            continue
        if name in from_url:
            raise ConfigError(f"database URL parameter {name!r} given twice")
        from_url[name] = unquote(item.partition("=")[2])
    values: dict[str, float] = {}
    for name, (variable, default, parse) in _SETTINGS.items():
        if name in from_url:
            values[name] = parse(name, from_url[name])
        elif env.get(variable, "").strip():
            values[name] = parse(variable, env[variable].strip())
        else:
            values[name] = default
    settings = DatabaseSettings(
        statement_timeout=values["statement_timeout"],
        lock_timeout=values["lock_timeout"],
        pool_size=int(values["pool_size"]),
        pool_timeout=values["pool_timeout"],
    )
    return urlunsplit(parts._replace(query="&".join(kept))), settings
