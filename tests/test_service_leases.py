"""Import leases against gc: an import in flight never loses its object, a dead one's is
collected once its lease expires, and no model row ever lacks its object (issue 8, item 1).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import hashlib
import io
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heimdall_io.errors import HeimdallError, LeaseLostError, ObjectStoreError
from heimdall_io.service import Service
from heimdall_io.service.leases import ObjectLease
from heimdall_io.storage.config import open_adapters
from heimdall_io.storage.localdir import LocalObjectStore
from heimdall_io.storage.sqlite import SqliteRegistry
from tests.support.servers import STORAGE_VARIABLES
from tests.support.synthetic import synthetic_model_bytes

ZERO = dt.timedelta(0)


class PausingReader(io.RawIOBase):
    """A bundle that stops for ``pause`` seconds once ``at`` bytes have been read (a client
    sending the end of its body late), calling ``during`` (if any) at the start of it."""

    def __init__(self, data: bytes, at: int, pause: float, during: Any = None) -> None:
        self._src = io.BytesIO(data)
        self._at, self._pause, self._during = at, pause, during
        self.paused = threading.Event()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        pos = self._src.tell()
        if pos >= self._at and not self.paused.is_set():
            self.paused.set()
            if self._during is not None:
                self._during()
            time.sleep(self._pause)
        limit = 1 << 16 if n is None or n < 0 else min(n, 1 << 16)
        if pos < self._at:
            limit = min(limit, self._at - pos)  # stop exactly at the pause
        return self._src.read(limit)


def make_bundle(size: int, seed: int) -> tuple[bytes, str]:
    """A bundle of a synthetic model of about ``size`` bytes, and the model's MD5."""
    import tempfile

    model = synthetic_model_bytes(size, seed=seed)
    with Service(SqliteRegistry(":memory:"), LocalObjectStore(tempfile.mkdtemp())) as service:
        record = service.register(io.BytesIO(model), name=f"lease-{seed}", version=1)
        return b"".join(service.export_stream(record.model_id)), hashlib.md5(model).hexdigest()


@pytest.fixture(scope="module")
def bundle() -> tuple[bytes, str]:
    return make_bundle(1 << 20, seed=11)


@pytest.fixture(params=["sqlite-local", "postgres-s3"])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(database URL, storage URL): embedded, or PostgreSQL + SeaweedFS."""
    if request.param == "sqlite-local":
        yield f"sqlite:///{tmp_path}/registry.sqlite3", str(tmp_path / "objects")
    else:
        yield request.getfixturevalue("pg_url"), request.getfixturevalue("s3_url")


def cli_env(database_url: str, storage_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in STORAGE_VARIABLES}
    env.update(HEIMDALL_DATABASE_URL=database_url, HEIMDALL_STORAGE_URL=storage_url)
    for name in ("HEIMDALL_S3_ACCESS_KEY", "HEIMDALL_S3_SECRET_KEY"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def heimdall_gc(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "heimdall_io", "gc", *args], env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


def exported_md5(service: Service, model_id: str) -> str:
    import base64
    import json

    doc = json.loads(b"".join(service.export_stream(model_id)))
    return hashlib.md5(base64.b64decode(doc["model"]["onnx_model_base64"])).hexdigest()


def stalled_import(service: Service, data: bytes, where: str, stall: Any, pause: float = 0) -> Any:
    """Import ``data``, calling ``stall`` (then pausing ``pause`` s) at ``where``: mid-payload
    or before the closing bytes (the upload in flight), or while the model is validated
    (the object whole in the store, not yet referenced: a slow checker or database)."""
    if where == "validation":
        checker_calls: list[str] = []

        def checker(path: str) -> None:
            checker_calls.append(path)
            stall()
            time.sleep(pause)

        service._ctx.check_model = checker
        result = service.import_bundle(io.BytesIO(data), validate=True)
        assert len(checker_calls) == 1
        return result
    at = len(data) - 3 if where == "tail" else len(data) // 2
    return service.import_bundle(PausingReader(data, at, pause, stall), validate=False)


@pytest.mark.parametrize("where", ["mid-payload", "tail", "validation"])
def test_late_tail_survives_gc_min_age_0(
    where: str, urls: tuple[str, str], bundle: tuple[bytes, str]
) -> None:
    """The issue's reproduction: the end of the body arrives 2.5 s late (or the object
    waits 2.5 s for its row) while ``heimdall gc --min-age 0`` runs; the import succeeds
    and exports."""
    data, md5 = bundle
    gc_output: list[str] = []
    env = cli_env(*urls)
    registry, store = open_adapters(*urls)
    with Service(registry, store, actor="test") as service:

        def run_gc() -> None:
            gc_output.append(heimdall_gc(env, "--min-age", "0"))

        result = stalled_import(service, data, where, run_gc, pause=2.5)
        assert gc_output == [""]  # nothing removed
        assert exported_md5(service, result.record.model_id) == md5
        assert service.registry.leases() == []  # the row took the lease
        assert service.gc(min_age=ZERO).removed == []
        assert exported_md5(service, result.record.model_id) == md5


def test_killed_import_lease_expires_then_gc_removes(
    bundle: tuple[bytes, str], heimdall_env: Path, tmp_path: Path
) -> None:
    """SIGKILL a ``heimdall import`` mid-stream: its lease protects the upload from
    ``gc --min-age 0`` until it expires; then gc (even with the default --min-age)
    removes the upload and the lease."""
    data, _md5 = bundle
    env = {**os.environ, "HEIMDALL_IMPORT_LEASE_SECONDS": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "heimdall_io", "import", "-", "--no-validate", "-q"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write(data[: len(data) // 2])
    proc.stdin.flush()
    objects = heimdall_env / "objects"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(objects.rglob(".tmp-*")):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    killed_at = time.monotonic()
    with Service.from_config() as service:
        [lease] = service.registry.leases()
        assert any(objects.rglob(".tmp-*"))  # the unfinished upload
        gc_env = {k: v for k, v in os.environ.items()}
        heimdall_gc(gc_env, "--min-age", "0")
        if time.monotonic() - killed_at < 1.5:  # the lease (2 s) was certainly live
            assert any(objects.rglob(".tmp-*")), "gc removed an upload with a live lease"
            assert [x.object_key for x in service.registry.leases()] == [lease.object_key]
        time.sleep(max(0.0, killed_at + 2.5 - time.monotonic()))
        assert [x.expired for x in service.registry.leases()] == [True]
        heimdall_gc(gc_env)  # default --min-age (1 h): an expired lease is no protection
        assert not any(p.is_file() for p in objects.rglob("*"))
        assert service.registry.leases() == []
        assert service.list_models() == []


@pytest.mark.parametrize("where", ["mid-payload", "validation"])
def test_import_that_lost_its_lease_registers_nothing(
    where: str,
    urls: tuple[str, str],
    bundle: tuple[bytes, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stalled import whose renewal stopped: its lease expires, gc claims it and removes
    the object (or the upload), and the import, when it resumes, fails instead of
    registering a row without its object."""
    monkeypatch.setattr(ObjectLease, "_renew", lambda self: None)
    data, _md5 = bundle
    registry, store = open_adapters(*urls)
    with Service(registry, store, actor="test", lease_seconds=1) as service:
        removed: list[str] = []

        def gc_after_expiry() -> None:
            time.sleep(1.5)
            removed.extend(o.key for o in service.gc(min_age=dt.timedelta(hours=1)).removed)

        with pytest.raises((LeaseLostError, ObjectStoreError)) as excinfo:
            stalled_import(service, data, where, gc_after_expiry)
        if where == "validation":  # the object was whole: gc removed it, the row failed
            assert isinstance(excinfo.value, LeaseLostError)
            assert re.search(r"lease on imported/.* expired", str(excinfo.value))
            assert len(removed) == 1
        assert service.list_models() == []
        assert list(service.store.list("")) == []
        assert service.store.list_incomplete() == []
        assert service.registry.leases() == []
        assert service.history(1)[0].result == "error"


def test_gc_rules(tmp_path: Path) -> None:
    """Live lease: kept whatever min_age; expired lease: removed whatever min_age (once
    claimed); no lease: min_age decides; referenced: never."""
    with Service(SqliteRegistry(tmp_path / "r.db"), LocalObjectStore(tmp_path / "o")) as service:
        registry, store = service.registry, service.store
        for name in ("live", "expired", "none", "young"):
            store.put(f"imported/{name}.onnx", io.BytesIO(name.encode()))
        registry.acquire_lease("imported/live.onnx", "a", 60)
        registry.acquire_lease("imported/expired.onnx", "b", 0.05)
        registry.acquire_lease("imported/never-written.onnx", "c", 0.05)
        old = time.time() - 7200
        for name in ("live", "expired", "none"):
            os.utime(tmp_path / "o" / "imported" / f"{name}.onnx", (old, old))
        time.sleep(0.1)
        hour = dt.timedelta(hours=1)
        dry = service.gc(min_age=hour, dry_run=True)
        assert [o.key for o in dry.removed] == ["imported/expired.onnx", "imported/none.onnx"]
        assert len(registry.leases()) == 3  # a dry run claims nothing
        removed = service.gc(min_age=hour).removed
        assert [o.key for o in removed] == ["imported/expired.onnx", "imported/none.onnx"]
        assert [x.object_key for x in registry.leases()] == ["imported/live.onnx"]
        assert [o.key for o in service.gc(min_age=ZERO).removed] == ["imported/young.onnx"]
        assert [o.key for o in store.list("")] == ["imported/live.onnx"]
        registry.release_lease("imported/live.onnx", "a")
        assert [o.key for o in service.gc(min_age=ZERO).removed] == ["imported/live.onnx"]


def test_registration_holds_a_lease_too(tmp_path: Path) -> None:
    """register streams into the store like an import: gc --min-age 0 meanwhile is safe."""
    model = synthetic_model_bytes(1 << 20, seed=3)
    with Service(SqliteRegistry(tmp_path / "r.db"), LocalObjectStore(tmp_path / "o")) as service:
        seen: list[Any] = []

        class Slow(io.BytesIO):
            def read(self, n: int | None = -1) -> bytes:
                data = super().read(n)
                if not data and not seen:
                    seen.append(service.registry.leases())
                    seen.append(service.gc(min_age=ZERO).removed)
                return data

        record = service.register(Slow(model), name="slow")
        assert [x.object_key for x in seen[0]] == [record.onnx_path]
        assert seen[1] == []
        assert service.registry.leases() == []
        assert service.store.exists(record.onnx_path or "")


def test_many_imports_against_repeated_gc_on_postgres_and_s3(pg_url: str, s3_url: str) -> None:
    """The issue's reproduction in one process: 24 concurrent imports (their tails a little
    late) while gc --min-age 0 runs again and again: every model keeps its object."""
    bundles = [make_bundle(256 << 10, seed=100 + i) for i in range(24)]
    registry, store = open_adapters(pg_url, s3_url)
    stop = threading.Event()
    gc_runs = 0
    with Service(registry, store, actor="test") as service:

        def gc_loop() -> None:
            nonlocal gc_runs
            while not stop.is_set():
                service.gc(min_age=ZERO)
                gc_runs += 1

        def one(i: int) -> tuple[str, str]:
            data, md5 = bundles[i]
            pause = random.Random(i).uniform(0.05, 0.6)
            at = len(data) - random.Random(i).choice([3, len(data) // 2])
            src = PausingReader(data, at, pause)
            return service.import_bundle(src, validate=False).record.model_id, md5

        collector = threading.Thread(target=gc_loop)
        collector.start()
        try:
            with concurrent.futures.ThreadPoolExecutor(24) as pool:
                results = list(pool.map(one, range(24)))
        finally:
            stop.set()
            collector.join()
        assert gc_runs >= 3
        assert len(service.list_models()) == 24
        for model_id, md5 in results:
            assert exported_md5(service, model_id) == md5
        assert service.registry.leases() == []
        assert service.gc(min_age=ZERO).removed == []
        referenced = service.registry.referenced_keys()
        assert {o.key for o in service.store.list("")} == referenced


def test_lease_seconds_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from heimdall_io.errors import ConfigError
    from heimdall_io.service.leases import lease_seconds_from_env

    assert lease_seconds_from_env({}) == 300
    assert lease_seconds_from_env({"HEIMDALL_IMPORT_LEASE_SECONDS": " 2.5 "}) == 2.5
    for bad in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(ConfigError, match="HEIMDALL_IMPORT_LEASE_SECONDS"):
            lease_seconds_from_env({"HEIMDALL_IMPORT_LEASE_SECONDS": bad})
    monkeypatch.setenv("HEIMDALL_IMPORT_LEASE_SECONDS", "7")
    with Service(SqliteRegistry(tmp_path / "r.db"), LocalObjectStore(tmp_path / "o")) as service:
        lease = service._ctx.lease("imported/x.onnx")
        try:
            [row] = service.registry.leases()
            remaining = (row.expires_at - dt.datetime.now(dt.timezone.utc)).total_seconds()
            assert 5 < remaining <= 7
        finally:
            lease.close()
        assert service.registry.leases() == []


def test_renewal_keeps_a_long_import_alive(tmp_path: Path, bundle: tuple[bytes, str]) -> None:
    """An import longer than its lease: renewed every third of it, never expired."""
    data, md5 = bundle
    with Service(
        SqliteRegistry(tmp_path / "r.db"), LocalObjectStore(tmp_path / "o"), lease_seconds=0.6
    ) as service:
        expired: list[bool] = []

        def watch() -> None:
            for _ in range(10):
                expired.extend(x.expired for x in service.registry.leases())
                service.gc(min_age=ZERO)
                time.sleep(0.15)

        src = PausingReader(data, len(data) - 3, 0, watch)  # 1.5 s stalled, lease 0.6 s
        record = service.import_bundle(src, validate=False).record
        assert expired and not any(expired)
        assert exported_md5(service, record.model_id) == md5


def test_lease_renewal_survives_registry_errors(tmp_path: Path) -> None:
    class Flaky(SqliteRegistry):
        calls = 0

        def renew_lease(self, key: str, owner: str, seconds: float) -> bool:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise HeimdallError("database blip")
            return super().renew_lease(key, owner, seconds)

    registry = Flaky(tmp_path / "r.db")
    lease = ObjectLease.acquire(registry, "imported/x.onnx", 0.3)
    try:
        time.sleep(0.5)
        assert Flaky.calls >= 2 and not lease.lost
    finally:
        lease.close()
        registry.close()


def test_commit_of_unknown_outcome_keeps_the_object(
    pg_url: str, tmp_path: Path, bundle: tuple[bytes, str]
) -> None:
    """The database connection drops while the row commits: the import cannot know
    whether the model exists, so it keeps the object and leaves its lease to expire; gc
    then removes the object only if no row took it. Never a row without its object."""
    import psycopg

    from heimdall_io.errors import CommitUnknownError
    from tests.storage.test_postgres_pool import KILL_AT_COMMIT

    data, md5 = bundle
    registry, store = open_adapters(pg_url, str(tmp_path / "objects"))
    with Service(registry, store, actor="test", lease_seconds=1) as service:
        service.registry.ping()
        with psycopg.connect(pg_url) as conn:
            conn.execute(KILL_AT_COMMIT)
        with pytest.raises(CommitUnknownError):
            service.import_bundle(io.BytesIO(data), validate=False)
        with psycopg.connect(pg_url) as conn:
            conn.execute("DROP TRIGGER heimdall_test_die ON models")
        assert len(list(service.store.list(""))) == 1  # kept: it may be a model's
        time.sleep(1.2)
        service.gc(min_age=ZERO)
        rows = service.list_models()
        assert {r.onnx_path for r in rows} == {o.key for o in service.store.list("")}
        for row in rows:
            assert exported_md5(service, row.model_id) == md5
        assert service.registry.leases() == []
