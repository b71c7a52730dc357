"""Replicas: three ``heimdall serve`` processes on one PostgreSQL + SeaweedFS (S3), with
concurrent imports, exports and deletes on all of them, ``heimdall gc --min-age 0`` running
again and again, and one server SIGKILLed in the middle of an import (issue 8, Replicas).

Checked afterwards, once the killed import's lease has expired and ``heimdall gc`` (its
default --min-age: only the lease expiry makes the orphan collectable) has run:

* every acknowledged import (201) exports byte-identical (the ONNX MD5), unless it was
  deleted (then 404);
* no row without its object, no object (nor unfinished upload) without its row, no lease;
* the audit history has one entry per operation, precisely:
  - each acknowledged import M: exactly one ("import", "ok", M); and every ("import",
    "ok", M) is a model that exists now or has exactly one ("delete", "ok", M) entry (an
    import the killed server committed without answering would be one: allowed);
  - each acknowledged delete M: exactly one ("delete", "ok", M), and no row M;
  - each model M: as many ("export", "ok", M) as exports of M that completed (exports
    only go to the servers that stay up, so the count is exact);
  - the import killed with its server may leave no entry: the process died.
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from heimdall_io.service import Service
from heimdall_io.storage.config import open_adapters
from heimdall_io.storage.localdir import LocalObjectStore
from heimdall_io.storage.sqlite import SqliteRegistry
from tests.support.servers import STORAGE_VARIABLES
from tests.support.synthetic import synthetic_model_bytes

from .helpers import API_ADMIN_KEY, MODELS, client, request_head, wait_for

IMPORTS = 18
#: Short, so that the killed import's lease expires within the test; long enough that a
#: server's renewals (every third of it) keep up on a loaded two-core machine.
LEASE_SECONDS = 4
#: The first import of each server, before the rest: onnx loads (and, while its C
#: extension initialises, holds the GIL for seconds on a loaded machine).
WARM_UP = 3


@dataclass(frozen=True)
class Bundle:
    data: bytes
    md5: str


@dataclass
class Ledger:
    """What the clients saw acknowledged."""

    imported: dict[str, int] = field(default_factory=dict)  # model id -> bundle index
    deleted: set[str] = field(default_factory=set)
    exports: collections.Counter[str] = field(default_factory=collections.Counter)
    unacknowledged: list[str] = field(default_factory=list)  # why
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> list[Bundle]:
    """Bundles of models from 256 KiB to 2 MiB, each different."""
    out = []
    root = tmp_path_factory.mktemp("replica-bundles")
    with Service(SqliteRegistry(":memory:"), LocalObjectStore(root)) as service:
        for i in range(IMPORTS + 1):
            size = (256 << 10) + i * ((2 << 20) - (256 << 10)) // IMPORTS
            model = synthetic_model_bytes(size, seed=500 + i)
            record = service.register(_bytes_io(model), name=f"replica-{i}", version=1)
            data = b"".join(service.export_stream(record.model_id))
            out.append(Bundle(data, hashlib.md5(model).hexdigest()))
    return out


def _bytes_io(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def payload_md5(bundle: bytes) -> str:
    doc = json.loads(bundle)
    return hashlib.md5(base64.b64decode(doc["model"]["onnx_model_base64"])).hexdigest()


def late_tail(data: bytes, seed: int) -> Iterator[bytes]:
    """The body in chunks, its last bytes a little late (so gc runs meanwhile)."""
    rng = random.Random(seed)
    cut = len(data) - rng.choice([3, len(data) // 2])
    for start in range(0, cut, 256 << 10):
        yield data[start : min(start + (256 << 10), cut)]
    time.sleep(rng.uniform(0.05, 0.5))
    yield data[cut:]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "heimdall_io", *args], env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_three_replicas_one_killed(
    heimdall_server_factory: Any, pg_url: str, s3_url: str, seaweedfs: Any,
    bundles: list[Bundle],
) -> None:  # fmt: skip
    started = time.monotonic()
    env = {
        "HEIMDALL_API_KEYS": f"{API_ADMIN_KEY}:admin",
        "HEIMDALL_DATABASE_URL": pg_url,
        "HEIMDALL_STORAGE_URL": s3_url,
        "HEIMDALL_S3_ACCESS_KEY": seaweedfs.access_key,
        "HEIMDALL_S3_SECRET_KEY": seaweedfs.secret_key,
        "HEIMDALL_IMPORT_LEASE_SECONDS": str(LEASE_SECONDS),
        "HEIMDALL_DB_POOL_SIZE": "4",
    }
    servers = [heimdall_server_factory(env, f"replica-{n}") for n in "abc"]
    survivors, victim = servers[:2], servers[2]
    cli_env = {k: v for k, v in os.environ.items() if k not in STORAGE_VARIABLES}
    cli_env.update(env)
    registry, store = open_adapters(pg_url, s3_url)
    ledger = Ledger()
    try:
        acknowledged = threading.Semaphore(0)

        def work(i: int) -> None:
            server = servers[i % 3]
            other = survivors[(i + 1) % 2]
            bundle = bundles[i]
            try:
                with client(server) as http:
                    r = http.post(f"{MODELS}/import", content=late_tail(bundle.data, i),
                                  headers={"Content-Type": "application/json"})  # fmt: skip
            except httpx.HTTPError as exc:  # the victim, killed
                assert server is victim, exc
                with ledger.lock:
                    ledger.unacknowledged.append(f"import {i} on the victim: {exc!r}")
                return
            assert r.status_code == 201, r.text
            model_id = r.json()["model_id"]
            with ledger.lock:
                ledger.imported[model_id] = i
            acknowledged.release()
            with client(other) as http:
                r = http.get(f"{MODELS}/{model_id}/export")
                assert r.status_code == 200, r.text
                assert payload_md5(r.content) == bundle.md5
                with ledger.lock:
                    ledger.exports[model_id] += 1
                if i % 4 == 0:
                    r = http.delete(f"{MODELS}/{model_id}")
                    assert r.status_code == 200, r.text
                    with ledger.lock:
                        ledger.deleted.add(model_id)

        # -- each server's first import (and its export; the first one deleted) -----------
        for i in range(WARM_UP):
            work(i)

        # -- the import that dies with its server: half a body, then SIGKILL ----------------
        doomed = bundles[IMPORTS].data
        sock = socket.create_connection((victim.host, victim.port), timeout=30)
        sock.sendall(request_head("POST", f"{MODELS}/import", Content_Length=str(len(doomed))))
        sock.sendall(doomed[: len(doomed) // 2])

        def victim_lease() -> str | None:
            keys = [x.object_key for x in registry.leases() if f":{victim.pid}:" in x.owner]
            return keys[0] if keys else None

        doomed_key = wait_for(victim_lease, what="the victim's import lease")

        # -- concurrent imports, exports, deletes on all three; gc all along ----------------
        stop_gc = threading.Event()
        gc_runs: list[int] = []

        def gc_loop() -> None:
            while not stop_gc.is_set():
                result = cli(cli_env, "gc", "--min-age", "0")
                assert result.returncode == 0, result.stderr
                gc_runs.append(1)

        collector = threading.Thread(target=gc_loop)
        collector.start()
        try:
            with concurrent.futures.ThreadPoolExecutor(IMPORTS) as pool:
                futures = [pool.submit(work, i) for i in range(WARM_UP, IMPORTS)]
                deadline = time.monotonic() + 60
                for _ in range(WARM_UP + 4):  # a few imports through: kill a server mid-import
                    while not acknowledged.acquire(timeout=0.1):
                        for future in futures:  # a worker failed: its error, not a timeout
                            if future.done() and future.exception() is not None:
                                future.result()
                        assert time.monotonic() < deadline, "imports stalled"
                os.kill(victim.pid, signal.SIGKILL)
                victim.process.wait(10)  # type: ignore[union-attr]
                for future in futures:
                    future.result()
            while len(gc_runs) < 3:
                time.sleep(0.1)
        finally:
            stop_gc.set()
            collector.join()
            sock.close()

        # -- the killed import's lease expires; gc (default --min-age) collects -------------
        # (the gc loop above may have claimed it already, if it expired in time)
        wait_for(lambda: all(x.expired for x in registry.leases()), timeout=LEASE_SECONDS * 3,
                 what="the dead import's lease to expire")  # fmt: skip
        result = cli(cli_env, "gc")
        assert result.returncode == 0, result.stderr
        assert registry.leases() == []

        # -- every acknowledged import exports byte-identical, deleted ones are gone ---------
        assert len(ledger.imported) >= 10, ledger
        rows = {r.model_id: r for r in registry.list()}
        with client(survivors[0]) as http:
            for model_id, i in ledger.imported.items():
                r = http.get(f"{MODELS}/{model_id}/export")
                if model_id in ledger.deleted:
                    assert r.status_code == 404
                    assert model_id not in rows
                    continue
                assert r.status_code == 200, r.text
                assert payload_md5(r.content) == bundles[i].md5
                ledger.exports[model_id] += 1

        # -- no row without its object, no object without its row ---------------------------
        objects = {o.key for o in store.list("")}
        referenced = {r.onnx_path for r in rows.values()}
        assert referenced == objects
        assert store.list_incomplete() == []
        assert doomed_key not in objects and doomed_key not in referenced
        assert set(ledger.imported) - ledger.deleted <= set(rows)

        # -- the audit: one entry per operation (see the module docstring) ------------------
        def audit_counts() -> collections.Counter[tuple[str, str, str | None]]:
            return collections.Counter((e.action, e.result, e.model_id) for e in registry.audit())

        def exports_audited() -> bool:
            counts = audit_counts()
            return all(counts[("export", "ok", m)] == n for m, n in ledger.exports.items())

        wait_for(exports_audited, what="an audit entry for every completed export")
        counts = audit_counts()
        for model_id in ledger.imported:
            assert counts[("import", "ok", model_id)] == 1, model_id
        imported_ok = {m for (action, result, m) in counts if (action, result) == ("import", "ok")}
        for model_id in imported_ok:
            assert counts[("import", "ok", model_id)] == 1
            assert model_id in rows or counts[("delete", "ok", model_id)] == 1, model_id
        assert set(rows) == imported_ok - {m for (a, r, m) in counts if (a, r) == ("delete", "ok")}
        for model_id in ledger.deleted:
            assert counts[("delete", "ok", model_id)] == 1
        exported = {m: n for (a, r, m), n in counts.items() if (a, r) == ("export", "ok")}
        assert exported == dict(ledger.exports)
        assert all(s.running for s in survivors)
    finally:
        registry.close()
        store.close()
    assert time.monotonic() - started < 60
