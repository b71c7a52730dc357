"""Nothing waits forever, and nothing waits on the event loop (issue 8, items 3, 4, 5):

* an upload that stalls mid-body gets 408 after HEIMDALL_REQUEST_BODY_TIMEOUT, its import
  slot is freed and its partial object removed;
* a client that drops an export while the audit table is locked does not stall the
  server (the close and its audit row run on a worker thread);
* ``/healthz`` answers within HEIMDALL_HEALTH_TIMEOUT, 503 with Retry-After, when the
  database stops answering.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from heimdall_io.api.settings import ServerSettings
from heimdall_io.errors import ConfigError
from tests.support.synthetic import synthetic_model_bytes

from .helpers import (
    API_READ_KEY,
    MODELS,
    HeimdallServer,
    client,
    export_ok,
    import_ok,
    objects,
    register_model,
    request_head,
    wait_for,
)
from .proxy import TcpProxy

AUDIT = "/api/v1/training/audit"
BODY_TIMEOUT = 1.0


def _read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _audit(server: HeimdallServer, key: str | None = None) -> list[dict[str, Any]]:
    with client(server, key) as http:
        return http.get(AUDIT, params={"limit": 10}).json()


# -- item 3: the request body timeout ---------------------------------------------------------


@pytest.fixture(scope="module")
def stall_server(heimdall_server_factory: Any) -> Iterator[HeimdallServer]:
    server = heimdall_server_factory(
        {"HEIMDALL_REQUEST_BODY_TIMEOUT": str(BODY_TIMEOUT),
         "HEIMDALL_MAX_CONCURRENT_IMPORTS": "1"},
        "body-timeout",
    )  # fmt: skip
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bundle(stall_server: HeimdallServer, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("stall") / "m.onnx"
    path.write_bytes(synthetic_model_bytes(2 << 20, seed=31))
    model_id = register_model(stall_server, path, name="Stall", sections={})
    with client(stall_server, None) as http:
        return export_ok(http, model_id).content


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_stalled_upload_gets_408_and_frees_its_slot(
    stall_server: HeimdallServer, bundle: bytes, framing: str
) -> None:
    """Half a body, then silence: 408 and the connection closed after the timeout; the
    one import slot goes to the import waiting for it; no object is left behind."""
    files = objects(stall_server)
    half = bundle[: len(bundle) // 2]
    if framing == "chunked":
        head = request_head("POST", f"{MODELS}/import", None, Transfer_Encoding="chunked")
        first = _chunk(half)
    else:
        head = request_head("POST", f"{MODELS}/import", None, Content_Length=str(len(bundle)))
        first = half
    sock = socket.create_connection((stall_server.host, stall_server.port))
    with sock, concurrent.futures.ThreadPoolExecutor(1) as pool:
        sock.sendall(head + first)
        started = time.monotonic()
        time.sleep(0.3)  # the stalled import holds the slot: the next one waits for it
        with client(stall_server, None) as http:
            waiting = pool.submit(import_ok, http, bundle)
            response = _read_until_closed(sock, timeout=30)
            elapsed = time.monotonic() - started
            created = waiting.result(timeout=30)
    assert response.startswith(b"HTTP/1.1 408 "), response[:300]
    assert b"Request body timeout" in response and b"sent nothing for 1 s" in response
    assert BODY_TIMEOUT <= elapsed < BODY_TIMEOUT + 10
    entries = _audit(stall_server)
    assert any(e["action"] == "import" and e["result"] == "error"
               and "sent nothing for 1 s" in (e["detail"] or "") for e in entries)  # fmt: skip
    expected = files | {created["onnx_path"]}
    wait_for(lambda: objects(stall_server) == expected, what="the partial object removed")


def test_a_slow_but_steady_upload_is_not_cut(stall_server: HeimdallServer, bundle: bytes) -> None:
    """The bound is per read: pieces 0.4 s apart, 2 s in all, with a 1 s timeout, succeed."""
    head = request_head("POST", f"{MODELS}/import", None, Content_Length=str(len(bundle)))
    step = len(bundle) // 5 + 1
    with socket.create_connection((stall_server.host, stall_server.port)) as sock:
        sock.sendall(head)
        for start in range(0, len(bundle), step):
            time.sleep(0.4)
            sock.sendall(bundle[start : start + step])
        sock.settimeout(30)
        response = sock.recv(65536)
    assert response.startswith(b"HTTP/1.1 201 "), response[:300]


# -- item 4: a dropped export's close never runs on the event loop ----------------------------


_AUDIT_ROWS = "SELECT model_id, detail FROM audit_log"


def _rows(cursor: Any) -> list[tuple[str, str]]:
    return [(str(model_id), detail or "") for model_id, detail in cursor]


@contextlib.contextmanager
def _audit_locked(server: HeimdallServer, pg_url: str | None) -> Iterator[Any]:
    """Another session holding the audit table: yields a function listing its rows as
    (model_id, detail) (that session may read it)."""
    if pg_url is None:
        conn = sqlite3.connect(server.home / "registry.sqlite3", isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield lambda: _rows(conn.execute(_AUDIT_ROWS))
        finally:
            conn.execute("ROLLBACK")
            conn.close()
    else:
        import psycopg

        with psycopg.connect(pg_url) as pg:
            pg.execute("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
            yield lambda: _rows(pg.execute(_AUDIT_ROWS))
            pg.rollback()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_dropped_export_does_not_block_the_event_loop(
    heimdall_server: HeimdallServer,
    heimdall_server_factory: Any,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    backend: str,
) -> None:
    pg_url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    server = heimdall_server
    if pg_url is not None:
        server = heimdall_server_factory({"HEIMDALL_DATABASE_URL": pg_url}, "export-drop-pg")
    path = tmp_path / "big.onnx"
    path.write_bytes(synthetic_model_bytes(24 << 20, seed=41))
    big = register_model(server, path, name="Dropped", sections={})
    key = API_READ_KEY if server is heimdall_server else None
    with socket.create_connection((server.host, server.port)) as sock:
        sock.sendall(request_head("GET", f"{MODELS}/{big}/export", key))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        locked = _audit_locked(server, pg_url)
        details = locked.__enter__()
    try:
        time.sleep(0.5)  # the server sees the disconnect; the close waits for the lock
        for _ in range(4):
            started = time.monotonic()
            r = httpx.get(server.url("/openapi.json"), timeout=5)
            assert r.status_code == 200 and time.monotonic() - started < 1.0
            time.sleep(0.25)
        rows = details()
        assert not any(m == big and "went away" in d for m, d in rows), "not waiting on the lock?"
    finally:
        locked.__exit__(None, None, None)

    def audited() -> bool:
        return any(e["action"] == "export" and e["model_id"] == big
                   and "went away" in (e["detail"] or "") for e in _audit(server, key))  # fmt: skip

    wait_for(audited, what="the dropped export's audit row, once the lock is gone")
    if server is not heimdall_server:
        server.stop()


# -- item 5: /healthz is bounded in time ------------------------------------------------------


def test_healthz_answers_in_time_when_the_database_stops_answering(
    heimdall_server_factory: Any, pg_url: str
) -> None:
    proxy, proxied = TcpProxy.for_url(pg_url, 5432)
    server = heimdall_server_factory(
        {"HEIMDALL_DATABASE_URL": proxied, "HEIMDALL_HEALTH_TIMEOUT": "1"}, "health-frozen"
    )
    try:
        assert httpx.get(server.url("/healthz")).json() == {"registry": "ok", "store": "ok"}
        proxy.freeze()  # connections stay open, nothing comes back
        started = time.monotonic()
        r = httpx.get(server.url("/healthz"), timeout=10)
        assert time.monotonic() - started < 3
        assert r.status_code == 503
        assert r.json() == {"registry": "unavailable", "store": "ok"}
        assert r.headers["retry-after"] == "5"
        # The first ping is still stuck: the next probes answer at once, start no thread.
        for _ in range(3):
            started = time.monotonic()
            r = httpx.get(server.url("/healthz"), timeout=10)
            assert r.status_code == 503 and time.monotonic() - started < 0.9
        assert httpx.get(server.url("/openapi.json"), timeout=2).status_code == 200
        proxy.thaw()
        wait_for(lambda: httpx.get(server.url("/healthz"), timeout=5).status_code == 200,
                 what="healthy again")  # fmt: skip
        log = server.log_path.read_text()
        assert "health: registry unavailable: no answer within 1 s" in log
    finally:
        proxy.thaw()
        server.stop()
        proxy.close()


# -- the settings -----------------------------------------------------------------------------


def test_timeout_settings() -> None:
    assert ServerSettings.from_env({}).request_body_timeout == 60
    assert ServerSettings.from_env({}).health_timeout == 5
    s = ServerSettings.from_env(
        {"HEIMDALL_REQUEST_BODY_TIMEOUT": "2.5", "HEIMDALL_HEALTH_TIMEOUT": " 1 "}
    )
    assert (s.request_body_timeout, s.health_timeout) == (2.5, 1)
    for bad in ("0", "-1", "nan", "inf", "1e9", "soon"):
        with pytest.raises(ConfigError, match="HEIMDALL_REQUEST_BODY_TIMEOUT"):
            ServerSettings.from_env({"HEIMDALL_REQUEST_BODY_TIMEOUT": bad})
