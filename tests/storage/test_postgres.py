"""PostgreSQL-specific behaviour of PostgresRegistry, against a real server."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest

from heimdall_io.errors import NotFoundError, RegistryError, RegistryUnavailableError
from heimdall_io.storage.base import AuditEntry
from heimdall_io.storage.dbsettings import DatabaseSettings
from heimdall_io.storage.postgres import PostgresRegistry, redact_url
from tests.support.servers import dead_port

from .test_contract import full_record, make_record

psycopg = pytest.importorskip("psycopg")

# The table exactly as the Heimdall seed creates it.
SEED_MODELS_DDL = """
CREATE TABLE models (model_id UUID PRIMARY KEY, model_name VARCHAR(255) NOT NULL,
version INTEGER NOT NULL, status VARCHAR(50) NOT NULL, architecture VARCHAR(100),
framework VARCHAR(50), onnx_path TEXT, onnx_opset INTEGER, input_shape INTEGER[],
output_shape INTEGER[], parameters_count BIGINT, training_metrics JSONB,
created_at TIMESTAMPTZ DEFAULT NOW(), updated_at TIMESTAMPTZ DEFAULT NOW());
"""


def columns(url: str, table: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s",
            (table,),
        ).fetchall()
    return dict(rows)


def test_schema_and_migration_table(pg_url: str) -> None:
    with PostgresRegistry(pg_url) as registry:
        registry.ping()
    models = columns(pg_url, "models")
    assert models["model_id"] == "uuid"
    assert models["input_shape"] == "ARRAY"
    assert models["training_metrics"] == "jsonb"
    assert models["extra"] == "jsonb"
    assert models["created_at"] == "timestamp with time zone"
    assert {"description", "onnx_size_bytes", "onnx_md5", "onnx_sha256", "source_model_id"} <= set(
        models
    )
    audit = columns(pg_url, "audit_log")
    assert audit["id"] == "bigint" and audit["model_id"] == "uuid"
    with psycopg.connect(pg_url) as conn:
        versions = conn.execute("SELECT version FROM heimdall_schema_migrations").fetchall()
        assert versions == [(1,), (2,)]
    assert columns(pg_url, "import_leases") == {
        "object_key": "text",
        "owner": "text",
        "expires_at": "timestamp with time zone",
    }


def test_upgrades_a_seed_database(pg_url: str) -> None:
    seed_id = uuid.uuid4()
    with psycopg.connect(pg_url) as conn:
        conn.execute(SEED_MODELS_DDL)
        conn.execute(
            "INSERT INTO models (model_id, model_name, version, status, architecture, "
            "framework, onnx_path, onnx_opset, input_shape, output_shape, parameters_count, "
            "training_metrics) VALUES (%s, 'seed-model', 3, 'completed', 'MLP', 'pytorch', "
            "'/models/seed.onnx', 13, '{-1,784}', '{-1,10}', 101770, "
            """'{"training_config": {"epochs": 5}, "performance_metrics": {"accuracy": 0.97}}')""",
            (seed_id,),
        )
    with PostgresRegistry(pg_url) as registry:
        seed = registry.get(str(seed_id))
        assert seed.model_name == "seed-model" and seed.version == 3
        assert isinstance(seed.version, int)
        assert seed.input_shape == [-1, 784] and seed.output_shape == [-1, 10]
        assert seed.training_metrics == {
            "training_config": {"epochs": 5},
            "performance_metrics": {"accuracy": 0.97},
        }
        assert seed.extra is None and seed.onnx_sha256 is None
        assert seed.created_at.tzinfo == dt.timezone.utc
        record = full_record()
        registry.add(record)
        assert registry.get(record.model_id) == record
        assert [r.model_id for r in registry.list()] == [
            str(seed_id),
            record.model_id,
        ]  # newest first
    assert "extra" in columns(pg_url, "models")
    with PostgresRegistry(pg_url) as again:  # idempotent
        assert len(again.list()) == 2


def test_concurrent_first_use_migrates_once(pg_url: str) -> None:
    registries = [PostgresRegistry(pg_url) for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(registries))

    def first_use(registry: PostgresRegistry) -> None:
        try:
            barrier.wait()
            registry.add(make_record())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(r,)) for r in registries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for registry in registries:
        registry.close()
    assert errors == []
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM heimdall_schema_migrations").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM models").fetchone() == (4,)


def test_newer_schema_is_refused(pg_url: str) -> None:
    PostgresRegistry(pg_url).ping()
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO heimdall_schema_migrations (version) VALUES (999)")
    with pytest.raises(RegistryError, match="newer than this heimdall-io"):
        PostgresRegistry(pg_url).list()


def test_nothing_listening_is_a_one_line_registry_error() -> None:
    port = dead_port()
    registry = PostgresRegistry(f"postgresql://postgres:s3cret@127.0.0.1:{port}/heimdall")
    assert registry.url == f"postgresql://postgres@127.0.0.1:{port}/heimdall"
    start = time.monotonic()
    with pytest.raises(RegistryError) as excinfo:
        registry.get(str(uuid.uuid4()))
    assert time.monotonic() - start < 5
    assert str(excinfo.value) == (
        f"database unavailable: postgresql://postgres@127.0.0.1:{port}/heimdall: connection refused"
    )
    with pytest.raises(RegistryError, match="database unavailable"):
        registry.ping()


def test_unknown_database_is_a_registry_error(pg_admin_url: str) -> None:
    url = pg_admin_url.rsplit("/", 1)[0] + "/heimdall_no_such_database"
    with pytest.raises(RegistryError, match='database "heimdall_no_such_database" does not'):
        PostgresRegistry(url).list()


def test_server_closing_the_connection(pg_url: str, pg_admin_url: str) -> None:
    name = pg_url.rsplit("/", 1)[1]

    def terminate(admin: psycopg.Connection) -> None:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = 'heimdall-io'",
            (name,),
        )

    # (3 s: the pool may have to wait out the back-off of a connection attempt that the
    # termination hit, about 1 s)
    settings = DatabaseSettings(pool_timeout=3)
    with (
        PostgresRegistry(pg_url, settings=settings) as registry,
        psycopg.connect(pg_admin_url, autocommit=True) as admin,
    ):
        record = make_record()
        registry.add(record)
        terminate(admin)
        # the pool checks a connection before lending it: a closed one is replaced
        assert registry.get(record.model_id) == record
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            terminate(admin)
            started = time.monotonic()
            with pytest.raises(RegistryUnavailableError) as excinfo:
                registry.get(record.model_id)
            assert time.monotonic() - started < 6
            assert str(excinfo.value) == (
                f"database unavailable: {registry.url}: no connection within 3 s"
            )
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        # back: the pool reconnects (after its back-off)
        deadline = time.monotonic() + 30
        while True:
            try:
                assert registry.get(record.model_id) == record
                break
            except RegistryUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def test_failure_mid_transaction_rolls_back(pg_url: str) -> None:
    with PostgresRegistry(pg_url) as registry:
        record = make_record()
        with pytest.raises(RegistryError, match="not a UUID"):
            registry.add(record, AuditEntry(action="register", result="ok", model_id="bad"))
        with pytest.raises(NotFoundError):
            registry.get(record.model_id)
        # a statement failing inside the transaction (NUL is not allowed in JSONB text)
        broken = make_record(1, extra={"nul": "a\x00b"})
        with pytest.raises(RegistryError, match=r"^registry error: "):
            registry.add(broken, AuditEntry(action="register", result="ok"))
        assert registry.list() == [] and registry.audit() == []
        registry.add(record)
        assert registry.list() == [record]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u@h:5432/db"),
        ("postgres://u@h/db?sslmode=require&password=x", "postgres://u@h/db"),
        ("postgresql://h", "postgresql://h"),
        ("postgresql://u:p@[::1]:5433/db", "postgresql://u@[::1]:5433/db"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
