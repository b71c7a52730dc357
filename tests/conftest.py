"""Shared pytest fixtures of heimdall-io: the ONE conftest of the test suite.

Keep it organised by section; add new fixtures to the section they belong to (or a new
section at the end), with a docstring saying what they yield. The servers themselves
(start, readiness, stop) are in ``tests/support/servers.py``, which the benchmarks share.

1. Availability rule and helpers
     ``unavailable(msg)``: skip, or fail when the environment variable CI is true.
2. PostgreSQL (a real server; default postgresql://postgres@127.0.0.1:5432/postgres,
   override with HEIMDALL_TEST_POSTGRES_URL)
     ``pg_admin_url`` (session)    URL of the maintenance database; skips if unreachable
     ``pg_url`` (function)         URL of a fresh, empty database, dropped afterwards
3. SeaweedFS (a real S3 server, ``weed server -s3`` on free loopback ports)
     ``seaweedfs`` (session)         a :class:`SeaweedFS`: endpoint, access_key, secret_key,
                                     url, url_for(bucket), store(bucket), client()
     ``seaweedfs_private`` (function) a dedicated instance a test may ``kill()``/``stop()``
     ``s3_url`` (function)           ``s3://<fresh bucket>?endpoint=...`` on ``seaweedfs``,
                                     with HEIMDALL_S3_ACCESS_KEY/SECRET_KEY set; bucket
                                     emptied and removed afterwards
4. Storage adapters
     ``heimdall_env`` (function)   HEIMDALL_HOME in a temporary directory, the other
                                   HEIMDALL_*/AWS_* variables unset; yields the home Path
     ``registry`` (function, params "sqlite", "postgres")  an open Registry, closed after
     ``store`` (function, params "local", "s3")            an open ObjectStore, closed after
5. Markers
     Tests using PostgreSQL, SeaweedFS or MLflow are marked ``integration`` automatically,
     so ``pytest -m "not integration"`` runs without servers.
6. HTTP server (see that section)
7. Browser (headless Chromium via selenium, ``tests/support/browser.py``)
     ``browser`` (session)         a started :class:`Browser`: ``driver``, downloads in a
                                   temporary folder, ``screenshot(name)`` into
                                   test-output/screenshots (HEIMDALL_TEST_OUTPUT overrides
                                   test-output); a failing browser test leaves a
                                   ``FAILED-<test>.png`` there
8. MLflow (a real tracking server, ``mlflow server`` with SQLite and local artifacts)
     ``mlflow_server`` (session)   a started :class:`MlflowServer` (tests/support/mlflow_server.py):
                                   uri, artifact_root; shared, so use unique model names
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import (
    DEFAULT_PG_ADMIN_URL,
    STORAGE_VARIABLES,
    HeimdallServer,
    SeaweedFS,
    ServerUnavailable,
    check_postgres,
    pg_database,
    unique_bucket,
)

# ---------------------------------------------------------------------------------------
# 1. Availability rule and helpers
# ---------------------------------------------------------------------------------------


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(message: str) -> None:
    """A test dependency (server, binary) is missing: fail under CI=true, skip otherwise."""
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@contextlib.contextmanager
def available() -> Iterator[None]:
    """Around starting a server: :class:`ServerUnavailable` becomes :func:`unavailable`."""
    try:
        yield
    except ServerUnavailable as exc:
        unavailable(str(exc))


# ---------------------------------------------------------------------------------------
# 2. PostgreSQL
# ---------------------------------------------------------------------------------------

PG_ADMIN_URL = os.environ.get("HEIMDALL_TEST_POSTGRES_URL", DEFAULT_PG_ADMIN_URL)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """URL of the server's maintenance database (skip/fail if the server is unreachable)."""
    with available():
        check_postgres(PG_ADMIN_URL)
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database (dropped after the test)."""
    with pg_database(pg_admin_url) as url:
        yield url


# ---------------------------------------------------------------------------------------
# 3. SeaweedFS (S3)
# ---------------------------------------------------------------------------------------


def _seaweedfs(workdir: Path) -> SeaweedFS:
    with available():
        return SeaweedFS(workdir).start()
    raise AssertionError  # unreachable: unavailable() raised


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One SeaweedFS S3 server for the whole session (do not kill it: use seaweedfs_private)."""
    server = _seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def seaweedfs_private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A dedicated SeaweedFS instance for one test, which may kill() or stop() it."""
    server = _seaweedfs(tmp_path_factory.mktemp("seaweedfs-private"))
    try:
        yield server
    finally:
        server.stop(grace=0)


@pytest.fixture
def s3_url(seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``s3://<fresh bucket>?endpoint=http://127.0.0.1:PORT`` on the session SeaweedFS.

    HEIMDALL_S3_ACCESS_KEY/HEIMDALL_S3_SECRET_KEY are set for the test (subprocesses
    inherit them), so ``open_store(s3_url)`` works as is.
    """
    monkeypatch.setenv("HEIMDALL_S3_ACCESS_KEY", seaweedfs.access_key)
    monkeypatch.setenv("HEIMDALL_S3_SECRET_KEY", seaweedfs.secret_key)
    bucket = unique_bucket()
    yield seaweedfs.url_for(bucket)
    seaweedfs.remove_bucket(bucket)


# ---------------------------------------------------------------------------------------
# 4. Storage adapters
# ---------------------------------------------------------------------------------------


@pytest.fixture
def heimdall_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HEIMDALL_HOME in a fresh temporary directory, the other storage variables unset."""
    for name in STORAGE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "heimdall-home"
    monkeypatch.setenv("HEIMDALL_HOME", str(home))
    return home


@pytest.fixture(params=["sqlite", "postgres"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An open Registry: SQLite in tmp_path, or PostgreSQL in a fresh database."""
    if request.param == "sqlite":
        from heimdall_io.storage.sqlite import SqliteRegistry

        reg: Any = SqliteRegistry(tmp_path / "registry.sqlite3")
    else:
        from heimdall_io.storage.postgres import PostgresRegistry

        reg = PostgresRegistry(request.getfixturevalue("pg_url"))
    try:
        yield reg
    finally:
        reg.close()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An open ObjectStore: a directory in tmp_path, or a fresh bucket on SeaweedFS."""
    if request.param == "local":
        from heimdall_io.storage.localdir import LocalObjectStore

        obj_store: Any = LocalObjectStore(tmp_path / "objects")
    else:
        server: SeaweedFS = request.getfixturevalue("seaweedfs")
        bucket = unique_bucket()
        obj_store = server.store(bucket)
        request.addfinalizer(lambda: server.remove_bucket(bucket))
    try:
        yield obj_store
    finally:
        obj_store.close()


# ---------------------------------------------------------------------------------------
# 5. Markers
# ---------------------------------------------------------------------------------------

_SERVER_FIXTURES = frozenset(
    {"pg_admin_url", "pg_url", "seaweedfs", "seaweedfs_private", "s3_url", "mlflow_server"}
)
_SERVER_PARAMS = {"registry": "postgres", "store": "s3"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        if fixtures & _SERVER_FIXTURES or any(
            params.get(name) == value for name, value in _SERVER_PARAMS.items()
        ):
            item.add_marker(pytest.mark.integration)


# ---------------------------------------------------------------------------------------
# 6. HTTP server (`heimdall serve` in a subprocess, on a free loopback port)
# ---------------------------------------------------------------------------------------
#
#   ``heimdall_server_factory`` (session)  ``start(env=..., name=...)`` -> HeimdallServer;
#                                          every server it started is stopped at the end
#   ``heimdall_server`` (session)          one server for the API tests: SQLite + local
#                                          objects in its own HEIMDALL_HOME, API keys
#                                          API_ADMIN_KEY (admin) and API_READ_KEY (read)

API_ADMIN_KEY = "test-admin-key-0123456789"
API_READ_KEY = "test-read-key-0123456789"


@pytest.fixture(scope="session")
def heimdall_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``start(env=None, name="server")`` -> a started HeimdallServer in a fresh directory
    (HEIMDALL_HOME inside it unless env says otherwise); all are stopped at session end."""
    servers: list[HeimdallServer] = []

    def start(env: dict[str, str] | None = None, name: str = "server") -> HeimdallServer:
        server = HeimdallServer(tmp_path_factory.mktemp(name), env or {})
        servers.append(server)
        with available():
            return server.start()
        raise AssertionError  # unreachable: unavailable() raised

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="session")
def heimdall_server(heimdall_server_factory: Any) -> HeimdallServer:
    """The shared API server: SQLite + local objects, keys API_ADMIN_KEY / API_READ_KEY."""
    return heimdall_server_factory(  # type: ignore[no-any-return]
        {"HEIMDALL_API_KEYS": f"{API_ADMIN_KEY}:admin,{API_READ_KEY}:read"}, "heimdall-api"
    )


# ---------------------------------------------------------------------------------------
# 7. Browser (headless Chromium, selenium)
# ---------------------------------------------------------------------------------------

TEST_OUTPUT = Path(
    os.environ.get("HEIMDALL_TEST_OUTPUT") or Path(__file__).resolve().parent.parent / "test-output"
)
SCREENSHOTS = TEST_OUTPUT / "screenshots"


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the session (Debian's chromium + chromium-driver)."""
    from tests.support.browser import Browser

    workdir = tmp_path_factory.mktemp("browser")
    started = Browser(workdir, workdir / "downloads", SCREENSHOTS)
    with available():
        started.start()
    try:
        yield started
    finally:
        started.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing browser test leaves a screenshot of the page as it was."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    funcargs = getattr(item, "funcargs", {})
    if report.when == "call" and report.failed and "browser" in funcargs:
        name = "FAILED-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)
        with contextlib.suppress(Exception):
            funcargs["browser"].screenshot(name)


# ---------------------------------------------------------------------------------------
# 8. MLflow tracking server (tests/support/mlflow_server.py)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One ``mlflow server`` for the session (SQLite backend store, local artifact root, a
    free loopback port); stopped at the end. Tests share it: give models unique names."""
    from tests.support.mlflow_server import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    with available():
        server.start()
    try:
        yield server
    finally:
        server.stop()
