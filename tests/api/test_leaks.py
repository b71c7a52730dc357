"""Public bodies name no server (issue 8, item 9): with PostgreSQL and S3 (SeaweedFS) gone,
``/healthz`` (open without a key) says "unavailable" and every 5xx says what failed, never
the database URL, user, host, port or name, the S3 endpoint or the bucket; the server log
has the details, under the ref the body gives."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.support.synthetic import synthetic_model_bytes

from .helpers import MODELS, client, export_ok, register_model
from .proxy import TcpProxy

REF = re.compile(r"\(ref ([0-9a-f]{8})\)$")


def _public(r: httpx.Response, secrets: list[str]) -> str:
    """The body of ``r``, checked for every secret; the ref of a 5xx detail."""
    for secret in secrets:
        assert secret not in r.text, (secret, r.text)
    return r.text


def _ref(r: httpx.Response, status: int, public: str) -> str:
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert detail.startswith(public), detail
    match = REF.search(detail)
    assert match, detail
    return match.group(1)


def test_public_bodies_name_no_server(
    heimdall_server_factory: Any, pg_url: str, s3_url: str, seaweedfs: Any, tmp_path: Any
) -> None:
    pg_proxy, pg_proxied = TcpProxy.for_url(pg_url, 5432)
    s3_proxy = TcpProxy(seaweedfs.host, int(seaweedfs.endpoint.rsplit(":", 1)[1]))
    bucket = s3_url.split("://", 1)[1].split("?", 1)[0]
    server = heimdall_server_factory(
        {"HEIMDALL_DATABASE_URL": pg_proxied,
         "HEIMDALL_STORAGE_URL": f"s3://{bucket}?endpoint=http://127.0.0.1:{s3_proxy.port}",
         "HEIMDALL_S3_ACCESS_KEY": seaweedfs.access_key,
         "HEIMDALL_S3_SECRET_KEY": seaweedfs.secret_key,
         "HEIMDALL_HEALTH_TIMEOUT": "3"},
        "leaks",
    )  # fmt: skip
    pg = urlsplit(pg_url)
    secrets = ["postgresql", "127.0.0.1", "localhost", str(pg_proxy.port), str(s3_proxy.port),
               str(pg.port or 5432), (pg.path or "/x")[1:], f"{pg.username}@", bucket,
               "s3://", "http://", str(server.home)]  # fmt: skip
    try:
        path = tmp_path / "m.onnx"
        path.write_bytes(synthetic_model_bytes(64 << 10, seed=51))
        model_id = register_model(server, path, name="Leaky", sections={})
        with client(server, None) as http:
            bundle = export_ok(http, model_id).content
        refs = []

        s3_proxy.cut()  # the object store goes away
        r = httpx.get(server.url("/healthz"), timeout=30)
        assert r.status_code == 503 and r.json() == {"registry": "ok", "store": "unavailable"}
        _public(r, secrets)
        with client(server, None) as http:
            r = http.get(f"{MODELS}/{model_id}/export")
            refs.append(_ref(r, 500, "Failed to download ONNX model"))
            _public(r, secrets)
            r = http.post(f"{MODELS}/import", content=bundle)
            refs.append(_ref(r, 500, "Failed to upload ONNX to object store"))
            _public(r, secrets)

        pg_proxy.cut()  # and the database
        r = httpx.get(server.url("/healthz"), timeout=30)
        assert r.status_code == 503
        assert r.json() == {"registry": "unavailable", "store": "unavailable"}
        _public(r, secrets)
        with client(server, None) as http:
            for path in (MODELS, f"{MODELS}/{model_id}", "/api/v1/training/audit"):
                r = http.get(path)
                # A database that stopped answering is unavailable (503, retry later).
                refs.append(_ref(r, 503, "Database unavailable, try again later"))
                assert r.headers["Retry-After"]
                _public(r, secrets)

        log = server.log_path.read_text()
        for ref in refs:
            line = next(line for line in log.splitlines() if f"[ref {ref}]" in line)
            assert str(s3_proxy.port) in line or str(pg_proxy.port) in line, line
        assert "health: registry unavailable" in log and "health: store unavailable" in log
    finally:
        server.stop()
        pg_proxy.close()
        s3_proxy.close()
