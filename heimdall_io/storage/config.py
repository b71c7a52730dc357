"""Open a registry and an object store from URLs (or the environment, or the defaults).

Registry URLs::

    sqlite:///abs/path.db      sqlite:relative.db      /a/plain/path.db
    postgresql://user:password@host:5432/db            (also postgres://)
    postgresql://...?lock_timeout=2&pool_size=20       (see storage.dbsettings)

Object store URLs::

    file:///abs/dir            /a/plain/dir
    s3://BUCKET?endpoint=http://HOST:PORT[&region=REGION]   (https endpoint = TLS;
    s3://?endpoint=...  uses the bucket "heimdall-models")

S3 credentials come from ``HEIMDALL_S3_ACCESS_KEY``/``HEIMDALL_S3_SECRET_KEY``, else
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``. With no URL, ``HEIMDALL_DATABASE_URL`` and
``HEIMDALL_STORAGE_URL`` are read; without those, everything lives in ``$HEIMDALL_HOME``
(default: the platform's user data directory, e.g. ``~/.local/share/heimdall``):
``registry.sqlite3`` and ``objects/``.

The PostgreSQL and S3 adapters are imported only when asked for, so that neither psycopg
nor minio is needed (or paid for at start-up) by the embedded default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from heimdall_io.errors import ConfigError
from heimdall_io.storage.base import ObjectStore, Registry

__all__ = [
    "DEFAULT_BUCKET",
    "default_registry_url",
    "default_store_url",
    "heimdall_home",
    "open_registry",
    "open_store",
    "s3_credentials",
]

DEFAULT_BUCKET = "heimdall-models"
REGISTRY_FILE = "registry.sqlite3"
OBJECTS_DIR = "objects"

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")


def heimdall_home() -> Path:
    """``$HEIMDALL_HOME``, else the platform's user data directory for "heimdall"."""
    home = os.environ.get("HEIMDALL_HOME")
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("heimdall"))


def default_registry_url() -> str:
    """``$HEIMDALL_DATABASE_URL``, else the SQLite file in :func:`heimdall_home`."""
    return os.environ.get("HEIMDALL_DATABASE_URL") or str(heimdall_home() / REGISTRY_FILE)


def default_store_url() -> str:
    """``$HEIMDALL_STORAGE_URL``, else the ``objects`` directory in :func:`heimdall_home`."""
    return os.environ.get("HEIMDALL_STORAGE_URL") or str(heimdall_home() / OBJECTS_DIR)


def _scheme(url: str) -> str | None:
    """The URL scheme, lower-cased, or None for a plain path."""
    match = _SCHEME.match(url)
    if match is None:
        return None
    scheme = match["scheme"].lower()
    if len(scheme) == 1:  # a Windows drive letter, "C:\..."
        return None
    return scheme


def _path_after_scheme(url: str, scheme: str, what: str) -> str:
    """``sqlite:///abs``/``file:///abs`` -> ``/abs``; ``sqlite:rel`` -> ``rel``."""
    rest = url[len(scheme) + 1 :]
    if rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        if authority not in ("", "localhost"):
            raise ConfigError(f"{what} URL must not name a host: {url}")
        rest = slash + path
    rest = unquote(rest)
    if rest.startswith("//"):  # sqlite:////abs: one leading slash, not POSIX's "//"
        rest = "/" + rest.lstrip("/")
    if not rest:
        raise ConfigError(f"{what} URL has no path: {url}")
    return rest


def _url_and_scheme(
    url: str | None, default: Callable[[], str], what: str
) -> tuple[str, str | None]:
    """``url`` (``default()`` if None) stripped, and its scheme; ConfigError if empty."""
    url = (default() if url is None else url).strip()
    if not url:
        raise ConfigError(f"empty {what} URL")
    return url, _scheme(url)


def _local_path(url: str, scheme: str | None, local_scheme: str, what: str, forms: str) -> str:
    """The path of a plain path or a ``local_scheme:`` URL; ConfigError naming the accepted
    ``forms`` for any other scheme (and only the scheme: the rest may hold a password)."""
    if scheme == local_scheme:
        return _path_after_scheme(url, scheme, local_scheme)
    if scheme is None:
        return url
    raise ConfigError(f"unsupported {what} URL scheme {scheme!r}: use {forms}")


def open_registry(url: str | None = None) -> Registry:
    """A registry for ``url`` (see the module docstring); ConfigError if it is not one."""
    url, scheme = _url_and_scheme(url, default_registry_url, "registry")
    if scheme in ("postgresql", "postgres"):
        try:
            from heimdall_io.storage.postgres import PostgresRegistry
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] in ("psycopg", "psycopg_pool"):
                raise ConfigError(
                    "PostgreSQL support needs psycopg: pip install 'heimdall-io[postgres]'"
                ) from exc
            raise
        return PostgresRegistry(url)
    forms = "sqlite:///path, a path, or postgresql://..."
    path = _local_path(url, scheme, "sqlite", "registry", forms)
    from heimdall_io.storage.sqlite import SqliteRegistry

    return SqliteRegistry(path if path == ":memory:" else Path(path).expanduser())


def open_store(url: str | None = None) -> ObjectStore:
    """An object store for ``url`` (see the module docstring); ConfigError if it is not one."""
    url, scheme = _url_and_scheme(url, default_store_url, "object store")
    if scheme == "s3":
        return _open_s3(url)
    forms = "file:///dir, a directory, or s3://BUCKET?endpoint=http://HOST:PORT"
    path = _local_path(url, scheme, "file", "object store", forms)
    from heimdall_io.storage.localdir import LocalObjectStore

    return LocalObjectStore(Path(path).expanduser())


def _credentials() -> tuple[str | None, str | None]:
    for access_var, secret_var in (
        ("HEIMDALL_S3_ACCESS_KEY", "HEIMDALL_S3_SECRET_KEY"),
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    ):
        access, secret = os.environ.get(access_var), os.environ.get(secret_var)
        if access or secret:
            if not (access and secret):
                missing = secret_var if access else access_var
                raise ConfigError(f"S3 credentials incomplete: {missing} is not set")
            return access, secret
    return None, None  # anonymous access


def s3_credentials() -> tuple[str | None, str | None]:
    """The S3 access and secret key the store uses (``(None, None)``: anonymous)."""
    return _credentials()


def _open_s3(url: str) -> ObjectStore:
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise ConfigError(
            "S3 URL must not carry credentials: set HEIMDALL_S3_ACCESS_KEY and "
            "HEIMDALL_S3_SECRET_KEY"
        )
    bucket = unquote(parts.netloc) or DEFAULT_BUCKET
    if parts.path not in ("", "/"):
        raise ConfigError(f"S3 URL must not have a path (keys are chosen by heimdall): {url}")
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ConfigError(f"malformed S3 URL query: {url}") from None
    unknown = sorted(set(query) - {"endpoint", "region"})
    if unknown:
        raise ConfigError(f"unknown S3 URL parameter {unknown[0]!r}: use endpoint= and region=")
    for name, values in query.items():
        if len(values) != 1 or not values[0]:
            raise ConfigError(f"S3 URL parameter {name!r} needs exactly one value")
    endpoint_url = query.get("endpoint", ["https://s3.amazonaws.com"])[0]
    region = query.get("region", [None])[0]
    endpoint = urlsplit(endpoint_url)
    if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
        raise ConfigError(
            f"S3 endpoint must be http://HOST:PORT or https://HOST:PORT: {endpoint_url}"
        )
    if endpoint.path not in ("", "/") or endpoint.query or "@" in endpoint.netloc:
        raise ConfigError(f"S3 endpoint must be only a scheme, host and port: {endpoint_url}")
    access_key, secret_key = _credentials()
    try:
        from heimdall_io.storage.s3 import S3ObjectStore
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in ("minio", "urllib3", "certifi"):
            raise ConfigError("S3 support needs minio: pip install 'heimdall-io[s3]'") from exc
        raise
    return S3ObjectStore(
        bucket,
        endpoint.netloc,
        access_key,
        secret_key,
        secure=endpoint.scheme == "https",
        region=region,
    )


def open_adapters(
    database_url: str | None = None, storage_url: str | None = None
) -> tuple[Registry, ObjectStore]:
    """The registry, then the object store; the registry is closed if the store fails.

    ``open_adapters()`` opens the defaults (the environment, else :func:`heimdall_home`)::

        registry, store = open_adapters("sqlite:models.db", "/srv/objects")
    """
    registry = open_registry(database_url)
    try:
        store = open_store(storage_url)
    except BaseException:
        registry.close()
        raise
    return registry, store
