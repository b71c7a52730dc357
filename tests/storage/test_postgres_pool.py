"""The PostgreSQL registry's pool and timeouts: a locked table or a busy pool fails fast
with RegistryUnavailableError (HTTP 503), and the registry recovers (issue 8, item 5)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from heimdall_io.errors import CommitUnknownError, ConfigError, RegistryUnavailableError
from heimdall_io.storage.dbsettings import DatabaseSettings, split_database_url
from heimdall_io.storage.postgres import PostgresRegistry

from .test_contract import make_record

psycopg = pytest.importorskip("psycopg")


def timed(call: Any) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        call()
    except BaseException as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


@contextlib.contextmanager
def models_table_locked(pg_url: str) -> Iterator[None]:
    """Another session holds an ACCESS EXCLUSIVE lock on ``models`` until the block ends."""
    locker = psycopg.connect(pg_url)
    try:
        locker.execute("LOCK TABLE models IN ACCESS EXCLUSIVE MODE")
        yield
    finally:
        locker.rollback()
        locker.close()


def test_locked_table_fails_within_the_lock_timeout_then_recovers(pg_url: str) -> None:
    settings = DatabaseSettings(lock_timeout=1, pool_size=3, pool_timeout=3)
    record = make_record()
    with PostgresRegistry(pg_url, settings=settings) as registry, PostgresRegistry(pg_url) as other:
        registry.add(record)
        with models_table_locked(pg_url):
            calls = [
                lambda: registry.get(record.model_id),
                lambda: registry.list(limit=10),
                lambda: registry.add(make_record(1)),
                lambda: registry.referenced_keys(),
            ] * 2  # more callers than connections: some wait for the pool as well
            with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
                outcomes = list(pool.map(timed, calls))
            for elapsed, exc in outcomes:
                assert isinstance(exc, RegistryUnavailableError), exc
                assert elapsed < 6, f"took {elapsed:.1f} s"  # lock 1 s x waves, pool 3 s
                assert str(exc).startswith(f"database unavailable: {registry.url}: ")
                assert "\n" not in str(exc)
            assert any("lock timeout" in str(exc) for _, exc in outcomes)
            registry.ping()  # the health check does not touch the locked table
            registry.audit()  # nor does the audit history
        # released: every session works again, the pool's connections included
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            assert all(pool.map(lambda _: registry.get(record.model_id) == record, range(6)))
        assert other.get(record.model_id) == record
        registry.add(make_record(2))
        assert len(other.list()) == 2


def test_statement_timeout(pg_url: str) -> None:
    settings = DatabaseSettings(statement_timeout=0.5, lock_timeout=0)  # lock waits: unbounded
    with PostgresRegistry(pg_url, settings=settings) as registry:
        registry.ping()
        with models_table_locked(pg_url):
            elapsed, exc = timed(registry.list)
        assert isinstance(exc, RegistryUnavailableError)
        assert "statement timeout" in str(exc) and elapsed < 3
        assert registry.list() == []


def test_pool_timeout_and_size(pg_url: str, pg_admin_url: str) -> None:
    settings = DatabaseSettings(lock_timeout=2, pool_size=2, pool_timeout=0.5)
    with PostgresRegistry(pg_url, settings=settings) as registry:
        registry.ping()
        with models_table_locked(pg_url), concurrent.futures.ThreadPoolExecutor(2) as pool:
            blocked = [pool.submit(timed, registry.list) for _ in range(2)]  # both conns
            time.sleep(0.5)
            elapsed, exc = timed(registry.audit)  # no connection free
            with psycopg.connect(pg_admin_url) as admin:
                (backends,) = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                    "AND application_name = 'heimdall-io'",
                    (pg_url.rsplit("/", 1)[1],),
                ).fetchone()
            results = [f.result() for f in blocked]
        assert isinstance(exc, RegistryUnavailableError)
        assert str(exc) == f"database unavailable: {registry.url}: no connection within 0.5 s"
        assert elapsed < 2
        assert backends == 2  # the pool never grows past its size
        assert all(isinstance(e, RegistryUnavailableError) for _, e in results)
        assert registry.audit() == []


def test_session_settings_reach_the_server(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEIMDALL_DB_STATEMENT_TIMEOUT", "12")
    monkeypatch.setenv("HEIMDALL_DB_LOCK_TIMEOUT", "3")
    with PostgresRegistry(pg_url + "?lock_timeout=1.5") as registry:
        assert registry.settings == DatabaseSettings(statement_timeout=12, lock_timeout=1.5)
        with registry._transaction() as cur:
            cur.execute("SHOW statement_timeout")
            assert cur.fetchone() == ("12s",)
            cur.execute("SHOW lock_timeout")
            assert cur.fetchone() == ("1500ms",)


def test_ping_is_bounded(pg_url: str) -> None:
    settings = DatabaseSettings(pool_size=1, pool_timeout=30, lock_timeout=0)
    with PostgresRegistry(pg_url, settings=settings) as registry:
        registry.ping()
        worker = threading.Thread(target=timed, args=(registry.list,))  # holds the one conn
        try:
            with models_table_locked(pg_url):
                worker.start()
                time.sleep(0.3)
                elapsed, exc = timed(registry.ping)
        finally:
            if worker.is_alive():  # started: it ends now that the lock is released
                worker.join()
        assert isinstance(exc, RegistryUnavailableError) and elapsed < 7


# -- settings ---------------------------------------------------------------------------


def test_settings_from_url_environment_and_defaults() -> None:
    url, settings = split_database_url("postgresql://u:p@h:5432/db", {})
    assert url == "postgresql://u:p@h:5432/db"
    assert settings == DatabaseSettings(
        statement_timeout=30, lock_timeout=5, pool_size=10, pool_timeout=10
    )
    env = {"HEIMDALL_DB_POOL_SIZE": "4", "HEIMDALL_DB_LOCK_TIMEOUT": "0",
           "HEIMDALL_DB_STATEMENT_TIMEOUT": "60", "HEIMDALL_DB_POOL_TIMEOUT": "2.5"}  # fmt: skip
    url, settings = split_database_url(
        "postgresql://h/db?sslmode=require&pool_size=20&options=-c%20search_path%3Dx", env
    )
    assert url == "postgresql://h/db?sslmode=require&options=-c%20search_path%3Dx"
    assert settings == DatabaseSettings(
        statement_timeout=60, lock_timeout=0, pool_size=20, pool_timeout=2.5
    )
    assert DatabaseSettings.milliseconds(0) == 0
    assert DatabaseSettings.milliseconds(0.0001) == 1
    assert DatabaseSettings.milliseconds(1.5) == 1500


@pytest.mark.parametrize(
    ("url", "env", "message"),
    [
        ("postgresql://h/db?pool_size=0", {}, "pool_size must be at least 1"),
        ("postgresql://h/db?pool_size=many", {}, "pool_size must be a whole number"),
        ("postgresql://h/db?lock_timeout=-1", {}, "lock_timeout must be at least 0 seconds"),
        ("postgresql://h/db?lock_timeout=1&lock_timeout=2", {}, "given twice"),
        ("postgresql://h/db?pool_timeout=0", {}, "pool_timeout must be positive"),
        ("postgresql://h/db", {"HEIMDALL_DB_STATEMENT_TIMEOUT": "soon"},
         "HEIMDALL_DB_STATEMENT_TIMEOUT must be a number"),
        ("postgresql://h/db", {"HEIMDALL_DB_POOL_SIZE": "-3"}, "HEIMDALL_DB_POOL_SIZE must be"),
    ],
)  # fmt: skip
def test_bad_settings(url: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        split_database_url(url, env)


# -- a connection lost while committing ---------------------------------------------------

KILL_AT_COMMIT = """
CREATE FUNCTION heimdall_test_die() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER heimdall_test_die AFTER INSERT ON models
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION heimdall_test_die();
"""


def test_connection_lost_while_committing_is_commit_unknown(pg_url: str) -> None:
    """The server goes away during COMMIT (a deferred trigger kills its own backend): the
    outcome is unknown to the client, which must hear so (CommitUnknownError), not a plain
    failure it might undo work for."""
    with PostgresRegistry(pg_url) as registry:
        registry.ping()
        with psycopg.connect(pg_url) as conn:
            conn.execute(KILL_AT_COMMIT)
        registry.acquire_lease("imported/a.onnx", "me", 60)
        record = make_record(onnx_path="imported/a.onnx")
        with pytest.raises(CommitUnknownError, match="while committing"):
            registry.add(record, lease_owner="me")
        with psycopg.connect(pg_url) as conn:
            conn.execute("DROP TRIGGER heimdall_test_die ON models")
        # whatever happened, row and lease are consistent: the row took the lease or not
        committed = record.model_id in {r.model_id for r in registry.list()}
        assert committed == (registry.leases() == [])
