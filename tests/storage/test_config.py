"""open_registry / open_store: URL forms, environment variables, defaults, lazy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from heimdall_io.errors import ConfigError, ObjectStoreError
from heimdall_io.storage.base import ObjectStore, Registry
from heimdall_io.storage.config import heimdall_home, open_registry, open_store
from heimdall_io.storage.localdir import LocalObjectStore
from heimdall_io.storage.postgres import PostgresRegistry
from heimdall_io.storage.s3 import S3ObjectStore
from heimdall_io.storage.sqlite import SqliteRegistry
from tests.support.streams import PatternStream

from .test_contract import make_record


def closing(obj: Any) -> Any:
    obj.close()
    return obj


# -- defaults and environment ----------------------------------------------------------


def test_defaults_live_in_heimdall_home(heimdall_env: Path) -> None:
    registry = closing(open_registry(None))
    store = closing(open_store(None))
    assert isinstance(registry, SqliteRegistry)
    assert Path(registry.path) == heimdall_env / "registry.sqlite3"
    assert (heimdall_env / "registry.sqlite3").is_file()
    assert isinstance(store, LocalObjectStore)
    assert store.root == heimdall_env / "objects"
    assert (heimdall_env / "objects").is_dir()


def test_home_defaults_to_the_user_data_dir(
    heimdall_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HEIMDALL_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert heimdall_home() == tmp_path / "xdg" / "heimdall"


def test_environment_urls_are_used_when_no_argument(
    heimdall_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HEIMDALL_DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("HEIMDALL_STORAGE_URL", f"file://{tmp_path}/env-objects")
    registry = closing(open_registry(None))
    store = closing(open_store(None))
    assert Path(registry.path) == tmp_path / "env.db"
    assert store.root == tmp_path / "env-objects"
    # an explicit argument wins over the environment
    assert Path(closing(open_registry(str(tmp_path / "arg.db"))).path) == tmp_path / "arg.db"


# -- registry URLs ---------------------------------------------------------------------


# The ways a local URL may name a path, relative to {tmp} (the working directory): both
# openers take every one, each with its own scheme, and their adapter creates the path.
LOCAL_URL_FORMS = [
    ("{scheme}:///{tmp}/abs", "abs"),  # four slashes: one leading slash, not POSIX's "//"
    ("{scheme}://{tmp}/abs", "abs"),
    ("{scheme}://localhost{tmp}/abs", "abs"),
    ("{scheme}:rel", "rel"),
    ("{scheme}:sub/dir/rel", "sub/dir/rel"),
    ("{tmp}/plain", "plain"),
    ("plain-relative", "plain-relative"),
    ("  {tmp}/spaces  ", "spaces"),
]


@pytest.mark.parametrize(("form", "relative"), LOCAL_URL_FORMS)
@pytest.mark.parametrize("kind", ["registry", "store"])
def test_local_url_forms(
    heimdall_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    kind: str,
    form: str,
    relative: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    scheme = "sqlite" if kind == "registry" else "file"
    url, path = form.format(scheme=scheme, tmp=tmp_path), tmp_path / relative
    if kind == "registry":
        registry = open_registry(url)
        try:
            assert isinstance(registry, SqliteRegistry)
            assert Path(registry.path) == path
            registry.add(make_record())
        finally:
            registry.close()
        assert path.is_file()
    else:
        store = open_store(url)
        assert isinstance(store, LocalObjectStore)
        assert store.root == path
        assert path.is_dir()


def test_registry_home_relative_path(
    heimdall_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    registry = closing(open_registry("~/reg.db"))
    assert Path(registry.path) == tmp_path / "reg.db"


def test_sqlite_memory() -> None:
    registry = open_registry("sqlite::memory:")
    try:
        assert registry.url == "sqlite::memory:"
        registry.add(make_record())
        assert len(registry.list()) == 1
    finally:
        registry.close()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "PostgreSQL"])
def test_postgres_urls_open_lazily(scheme: str) -> None:
    registry = open_registry(f"{scheme}://user:secret@127.0.0.1:1/heimdall")
    assert isinstance(registry, PostgresRegistry)  # nothing connected yet
    assert "secret" not in registry.url
    registry.close()


def test_postgres_url_against_a_server(pg_url: str) -> None:
    registry = open_registry(pg_url)
    try:
        record = make_record()
        registry.add(record)
        assert registry.get(record.model_id) == record
    finally:
        registry.close()


@pytest.mark.parametrize(
    "url",
    ["mysql://u@h/db", "http://example.com/db", "s3://bucket", "sqlite://host/x.db", "sqlite:", ""],
)
def test_bad_registry_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        open_registry(url)


def test_unknown_scheme_message_hides_the_rest_of_the_url() -> None:
    with pytest.raises(ConfigError, match="unsupported registry URL scheme 'mysql'") as excinfo:
        open_registry("mysql://user:hunter2@host/db")
    assert "hunter2" not in str(excinfo.value)


# -- store URLs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "bucket", "endpoint", "region"),
    [
        ("s3://models?endpoint=http://127.0.0.1:8333", "models", "http://127.0.0.1:8333", None),
        ("s3://?endpoint=http://127.0.0.1:8333", "heimdall-models", "http://127.0.0.1:8333", None),
        (
            "s3:///?endpoint=https://s3.example.com",
            "heimdall-models",
            "https://s3.example.com",
            None,
        ),
        (
            "s3://b-1?endpoint=https://s3.example.com:9000&region=eu-west-1",
            "b-1",
            "https://s3.example.com:9000",
            "eu-west-1",
        ),
        ("s3://aws-bucket", "aws-bucket", "https://s3.amazonaws.com", None),
    ],
)
def test_s3_urls(
    heimdall_env: Path, url: str, bucket: str, endpoint: str, region: str | None
) -> None:
    store = open_store(url)
    assert isinstance(store, S3ObjectStore)
    assert store.bucket == bucket
    assert store.endpoint_url == endpoint
    assert store.url == f"s3://{bucket}?endpoint={endpoint}" + (
        f"&region={region}" if region else ""
    )
    store.close()


@pytest.mark.parametrize(
    "url",
    [
        "s3://Bad_Bucket?endpoint=http://127.0.0.1:1",
        "s3://b?endpoint=ftp://127.0.0.1:1",
        "s3://b?endpoint=127.0.0.1:9000",
        "s3://b?endpoint=http://127.0.0.1:1/path",
        "s3://b?endpoint=http://127.0.0.1:1&endpoint=http://127.0.0.1:2",
        "s3://b?endpoint=http://127.0.0.1:1&secure=true",
        "s3://b/prefix?endpoint=http://127.0.0.1:1",
        "s3://key:secret@b?endpoint=http://127.0.0.1:1",
        "ftp://host/dir",
        "file://otherhost/dir",
        "",
    ],
)
def test_bad_store_urls(heimdall_env: Path, url: str) -> None:
    with pytest.raises(ConfigError):
        open_store(url)


def test_incomplete_credentials(heimdall_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEIMDALL_S3_ACCESS_KEY", "only-the-access-key")
    with pytest.raises(ConfigError, match="HEIMDALL_S3_SECRET_KEY"):
        open_store("s3://b?endpoint=http://127.0.0.1:1")


def test_s3_url_against_a_server(s3_url: str) -> None:
    store = open_store(s3_url)
    try:
        assert store.put("a/b.onnx", PatternStream(1000)) == 1000
        assert [i.key for i in store.list()] == ["a/b.onnx"]
    finally:
        store.close()


def test_aws_credentials_are_the_fallback(
    heimdall_env: Path, monkeypatch: pytest.MonkeyPatch, seaweedfs: Any
) -> None:
    url = seaweedfs.url_for("heimdall-config-aws")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs.secret_key)
    closing(open_store(url)).ping()
    # HEIMDALL_S3_* win over AWS_*
    monkeypatch.setenv("HEIMDALL_S3_ACCESS_KEY", "wrong")
    monkeypatch.setenv("HEIMDALL_S3_SECRET_KEY", "wrong-secret")
    with pytest.raises(ObjectStoreError):
        closing(open_store(url)).ping()
    seaweedfs.remove_bucket("heimdall-config-aws")


# -- optional dependencies -------------------------------------------------------------


def test_missing_psycopg_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    monkeypatch.delitem(sys.modules, "heimdall_io.storage.postgres")
    with pytest.raises(ConfigError) as excinfo:
        open_registry("postgresql://u@127.0.0.1/db")
    assert str(excinfo.value) == (
        "PostgreSQL support needs psycopg: pip install 'heimdall-io[postgres]'"
    )


def test_missing_minio_is_a_config_error(
    heimdall_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "minio", None)
    monkeypatch.delitem(sys.modules, "heimdall_io.storage.s3")
    with pytest.raises(
        ConfigError, match=r"S3 support needs minio: pip install 'heimdall-io\[s3\]'"
    ):
        open_store("s3://b?endpoint=http://127.0.0.1:1")


def test_config_imports_no_optional_package() -> None:
    code = (
        "import sys\n"
        "import heimdall_io.storage.config as c\n"
        "heavy = {'psycopg', 'minio', 'urllib3', 'heimdall_io.storage.postgres',"
        " 'heimdall_io.storage.s3', 'sqlite3'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_adapters_satisfy_the_protocols(tmp_path: Path) -> None:
    registry: Registry = SqliteRegistry(tmp_path / "r.db")
    store: ObjectStore = LocalObjectStore(tmp_path / "o")
    postgres: Registry = PostgresRegistry("postgresql://u@127.0.0.1:1/db")
    s3: ObjectStore = S3ObjectStore("bucket", "127.0.0.1:1", None, None, False)
    for adapter in (registry, store, postgres, s3):
        adapter.close()
