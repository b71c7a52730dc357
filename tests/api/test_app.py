"""The REST API over real HTTP: `heimdall serve` in a subprocess (tests/conftest.py)."""

from __future__ import annotations

import gzip
import io
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard

from heimdall_io.codec import read_bundle
from tests.support.synthetic import synthetic_model_bytes

from .helpers import (
    API_ADMIN_KEY,
    API_READ_KEY,
    MODELS,
    SECTIONS,
    HeimdallServer,
    client,
    export_ok,
    import_ok,
    objects,
    payload_md5,
    raw_exchange,
    register_model,
    request_head,
    round_trip,
    wait_for,
)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "localization.onnx"
    path.write_bytes(synthetic_model_bytes(256 << 10, seed=11))
    return path


@pytest.fixture(scope="module")
def model_id(heimdall_server: HeimdallServer, model_file: Path) -> str:
    return register_model(heimdall_server, model_file)


def _model_ids(http: httpx.Client) -> set[str]:
    r = http.get(MODELS, params={"limit": 1000})
    assert r.status_code == 200
    return {m["model_id"] for m in r.json()}


# -- the seed's round trip ------------------------------------------------------------------


def test_seed_round_trip(heimdall_server: HeimdallServer, model_id: str, model_file: Path) -> None:
    import hashlib

    round_trip(heimdall_server, model_id, hashlib.md5(model_file.read_bytes()).hexdigest())


def test_round_trip_compressed_bodies(heimdall_server: HeimdallServer, model_id: str) -> None:
    """zstd export; zstd and gzip imports, by magic bytes and with Content-Encoding."""
    with client(heimdall_server) as http:
        r = export_ok(http, model_id, compression="zstd", level=5)
        assert r.headers["content-type"] == "application/zstd"
        assert r.headers["content-disposition"].endswith('.heimdall"')
        plain = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(r.content)).read()
        md5 = payload_md5(plain)
        assert import_ok(http, r.content)["onnx_md5"] == md5
        assert import_ok(http, r.content, headers={"Content-Encoding": "zstd"})["onnx_md5"] == md5
        gz = gzip.compress(plain)
        assert import_ok(http, gz, headers={"Content-Encoding": "gzip"})["onnx_md5"] == md5
        g = export_ok(http, model_id, compression="gzip")
        assert g.headers["content-type"] == "application/gzip"
        assert payload_md5(gzip.decompress(g.content)) == md5
        # The header must agree with the body.
        bad = http.post(f"{MODELS}/import", content=plain, headers={"Content-Encoding": "gzip"})
        assert bad.status_code == 400
        assert "not gzip" in bad.json()["detail"]
        br = http.post(f"{MODELS}/import", content=plain, headers={"Content-Encoding": "br"})
        assert br.status_code == 415


def test_selective_export(heimdall_server: HeimdallServer, model_id: str) -> None:
    with client(heimdall_server) as http:
        r = export_ok(http, model_id, include_config="false", include_samples="0",
                    include_metrics="true", description="Production model v1.2")  # fmt: skip
        doc = json.loads(r.content)
        assert "training_config" not in doc and "sample_predictions" not in doc
        assert doc["performance_metrics"] == SECTIONS["performance_metrics"]
        assert doc["normalization_stats"] == SECTIONS["normalization_stats"]
        assert doc["bundle_metadata"]["description"] == "Production model v1.2"
        doc = json.loads(export_ok(http, model_id, num_samples=2, include_normalization=0).content)
        assert doc["sample_predictions"] == SECTIONS["sample_predictions"][:2]
        assert "normalization_stats" not in doc
        # Minimal bundles still import.
        minimal = export_ok(http, model_id, include_config=0, include_metrics=0,
                          include_normalization=0, include_samples=0).content  # fmt: skip
        created = import_ok(http, minimal)
        shown = http.get(f"{MODELS}/{created['model_id']}").json()
        assert not shown["training_metrics"]


def test_list_and_show(heimdall_server: HeimdallServer, model_id: str) -> None:
    with client(heimdall_server, API_READ_KEY) as http:
        models = http.get(MODELS, params={"limit": 1000}).json()
        listed = next(m for m in models if m["model_id"] == model_id)
        assert "training_metrics" not in listed and "extra" not in listed  # a summary
        shown = http.get(f"{MODELS}/{model_id}")
        assert shown.status_code == 200
        assert shown.headers["content-type"] == "application/json"
        record = shown.json()
        assert record["model_name"] == "LocalizationNet" and record["version"] == 3
        assert record["training_metrics"]["training_config"] == SECTIONS["training_config"]
        upper = http.get(f"{MODELS}/{model_id.upper()}")  # any UUID spelling, canonicalised
        assert upper.status_code == 200 and upper.json()["model_id"] == model_id


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/export"])
def test_unknown_model_404(heimdall_server: HeimdallServer, suffix: str) -> None:
    with client(heimdall_server) as http:
        r = http.get(f"{MODELS}/{uuid.uuid4()}{suffix}")
    assert r.status_code == 404
    assert r.json() == {"detail": "Model not found"}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (f"{MODELS}/not-a-uuid", {}),
        (f"{MODELS}/not-a-uuid/export", {}),
        (f"{MODELS}/{{id}}/export", {"include_config": "maybe"}),
        (f"{MODELS}/{{id}}/export", {"include_samples": ""}),
        (f"{MODELS}/{{id}}/export", {"num_samples": "-1"}),
        (f"{MODELS}/{{id}}/export", {"num_samples": "five"}),
        (f"{MODELS}/{{id}}/export", {"compression": "brotli"}),
        (f"{MODELS}/{{id}}/export", {"compression": "zstd", "level": "22"}),
        (f"{MODELS}/{{id}}/export", {"description": "x" * 5000}),
        ("/api/v1/training/audit", {"limit": "0"}),
        ("/api/v1/training/audit", {"limit": "many"}),
    ],
)
def test_malformed_request_422(
    heimdall_server: HeimdallServer, model_id: str, path: str, params: dict[str, str]
) -> None:
    with client(heimdall_server) as http:
        r = http.get(path.replace("{id}", model_id), params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


def test_delete_malformed_id_422(heimdall_server: HeimdallServer) -> None:
    with client(heimdall_server) as http:
        assert http.delete(f"{MODELS}/123").status_code == 422
        assert http.delete(f"{MODELS}/{uuid.uuid4()}").json() == {"detail": "Model not found"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json at all", "Invalid bundle format"),
        (b'{"format_version": "1.0.0", "model": {"model_name": "x", "onnx_model_base64": "AAA',
         "truncated"),
        (b'{"format_version": "1.0.0", "bundle_metadata": {"bundle_id": "b", "created_at": "t"}, '
         b'"model": {"model_name": "x", "version": 1, "onnx_model_base64": "@@@@"}}', "base64"),
        (b"", "empty"),
    ],
)  # fmt: skip
def test_invalid_bundle_400(heimdall_server: HeimdallServer, body: bytes, reason: str) -> None:
    with client(heimdall_server) as http:
        before, files = _model_ids(http), objects(heimdall_server)
        r = http.post(
            f"{MODELS}/import", content=body, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400, r.text
        detail = r.json()["detail"]
        assert detail.startswith("Invalid bundle format: ")
        assert reason.lower() in detail.lower()
        assert _model_ids(http) == before
    assert objects(heimdall_server) == files


def test_validate_flag(heimdall_server: HeimdallServer, model_id: str) -> None:
    """A payload that is not ONNX: 400 with onnx.checker, imported with ?validate=false."""
    from heimdall_io.codec import write_bundle

    out = io.BytesIO()
    from heimdall_io.format.header import new_header

    header = new_header({"model_name": "NotOnnx", "version": 1})
    write_bundle(out, header, io.BytesIO(b"\x08\x07 definitely not a model" * 100))
    with client(heimdall_server) as http:
        before = _model_ids(http)
        r = http.post(f"{MODELS}/import", content=out.getvalue())
        assert r.status_code == 400
        assert "invalid ONNX model" in r.json()["detail"]
        assert _model_ids(http) == before
        r = http.post(f"{MODELS}/import", params={"validate": "false"}, content=out.getvalue())
        assert r.status_code == 201, r.text
        assert (
            http.post(f"{MODELS}/import", params={"validate": "no"}, content=b"{}").status_code
            == 422
        )


def test_form_upload_is_a_multipart_import(heimdall_server: HeimdallServer) -> None:
    """A form upload is parsed (tests/api/test_multipart.py has the rest): one result."""
    with client(heimdall_server) as http:
        r = http.post(f"{MODELS}/import", files={"file": ("m.heimdall", b"{}")})
    assert r.status_code == 207
    (result,) = r.json()["results"]
    assert result["status"] == 400 and result["filename"] == "m.heimdall"


def test_unknown_route_and_method(heimdall_server: HeimdallServer, model_id: str) -> None:
    with client(heimdall_server) as http:
        r = http.get("/api/v1/nothing")
        assert r.status_code == 404 and r.json() == {"detail": "Not found"}
        r = http.put(f"{MODELS}/{model_id}")
        assert r.status_code == 405 and "detail" in r.json()


def _limit(server: HeimdallServer) -> int:
    return int(server.env.get("HEIMDALL_MAX_IMPORT_BYTES", 100 * 1024 * 1024))


def test_import_too_large_content_length_413(heimdall_server: HeimdallServer) -> None:
    """Refused from the header alone: nothing of the body is read."""
    size = _limit(heimdall_server) + 1
    head = request_head("POST", f"{MODELS}/import", Content_Length=str(size))
    response = raw_exchange(heimdall_server, head, [b'{"format_version": '])
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]
    assert b"over the limit" in response


def test_import_too_large_chunked_413(heimdall_server: HeimdallServer, tmp_path: Path) -> None:
    """No Content-Length: counted while streaming, refused once past the limit."""
    limit = _limit(heimdall_server)
    with client(heimdall_server) as http:
        before, files = _model_ids(http), objects(heimdall_server)
    head = request_head("POST", f"{MODELS}/import", Transfer_Encoding="chunked")
    prefix = (
        b'{"format_version": "1.0.0", "bundle_metadata": {"bundle_id": "b", "created_at": '
        b'"t"}, "model": {"model_name": "Big", "version": 1, "onnx_model_base64": "'
    )
    block = b"A" * (1 << 20)

    def chunk(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data)

    def parts() -> Any:
        yield chunk(prefix)
        for _ in range(limit // len(block) + 2):
            yield chunk(block)
        # no terminating chunk: the server must have answered before this point

    response = raw_exchange(heimdall_server, head, parts())
    assert response.startswith(b"HTTP/1.1 413 "), response[:300]
    assert b"larger than the limit" in response
    with client(heimdall_server) as http:
        assert _model_ids(http) == before
    wait_for(lambda: objects(heimdall_server) == files, what="no object left behind")


def test_client_disconnect_mid_upload(heimdall_server: HeimdallServer, model_id: str) -> None:
    """Headers and half the body, then the client goes away: no row, no object."""
    with client(heimdall_server) as http:
        bundle = export_ok(http, model_id).content
        before, files = _model_ids(http), objects(heimdall_server)
        audit_before = http.get("/api/v1/training/audit").json()
    head = request_head("POST", f"{MODELS}/import", Content_Length=str(len(bundle)))
    raw_exchange(heimdall_server, head, [bundle[: len(bundle) // 2]], read_response=False)

    def aborted() -> bool:
        with client(heimdall_server) as http:
            entries = http.get("/api/v1/training/audit", params={"limit": 5}).json()
        new = [e for e in entries if e not in audit_before]
        return any(e["action"] == "import" and e["result"] == "error"
                   and "disconnected" in (e["detail"] or "") for e in new)  # fmt: skip

    wait_for(aborted, what="the aborted import in the audit history")
    with client(heimdall_server) as http:
        assert _model_ids(http) == before
    assert objects(heimdall_server) == files


def test_export_failure_mid_stream_aborts(heimdall_server: HeimdallServer, tmp_path: Path) -> None:
    """An object that no longer matches its checksums fails after the status line: the
    connection is cut, and the bytes received are not a complete bundle."""
    path = tmp_path / "victim.onnx"
    path.write_bytes(synthetic_model_bytes(8 << 20, seed=5))
    victim = register_model(heimdall_server, path, name="Victim", sections={})
    with client(heimdall_server) as http:
        key = http.get(f"{MODELS}/{victim}").json()["onnx_path"]
    obj = heimdall_server.home / "objects" / key
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different MD5
    obj.write_bytes(bytes(data))
    received = bytearray()
    with (
        client(heimdall_server) as http,
        pytest.raises(httpx.HTTPError),
        http.stream("GET", f"{MODELS}/{victim}/export") as r,
    ):
        assert r.status_code == 200
        for part in r.iter_raw():
            received += part
    assert len(received) > 0
    with pytest.raises(ValueError):
        json.loads(bytes(received))
    with pytest.raises(Exception):  # noqa: B017 - any codec error
        read_bundle(io.BytesIO(bytes(received)), io.BytesIO())
    with client(heimdall_server) as http:
        entries = http.get("/api/v1/training/audit", params={"limit": 5}).json()
    assert any(e["action"] == "export" and e["result"] == "error" and e["model_id"] == victim
               for e in entries)  # fmt: skip


def test_export_missing_object_500(heimdall_server: HeimdallServer, tmp_path: Path) -> None:
    """Before the first byte, a missing object is a proper status code."""
    path = tmp_path / "gone.onnx"
    path.write_bytes(synthetic_model_bytes(64 << 10, seed=6))
    gone = register_model(heimdall_server, path, name="Gone", sections={})
    with client(heimdall_server) as http:
        key = http.get(f"{MODELS}/{gone}").json()["onnx_path"]
        (heimdall_server.home / "objects" / key).unlink()
        r = http.get(f"{MODELS}/{gone}/export")
    assert r.status_code == 500
    detail = r.json()["detail"]
    assert detail.startswith("Failed to download ONNX model (ref ")
    assert key not in detail and str(heimdall_server.home) not in detail  # in the log only
    ref = detail.rsplit("ref ", 1)[1].rstrip(")")
    wait_for(lambda: f"[ref {ref}]" in heimdall_server.log_path.read_text(), what="the log")


# -- delete, audit, health, openapi --------------------------------------------------------


def test_delete(heimdall_server: HeimdallServer, model_id: str) -> None:
    with client(heimdall_server) as http:
        created = import_ok(http, export_ok(http, model_id).content)
        new_id = created["model_id"]
        assert created["onnx_path"] in objects(heimdall_server)
        r = http.delete(f"{MODELS}/{new_id}")
        assert r.status_code == 200 and r.json()["model_id"] == new_id
        assert created["onnx_path"] not in objects(heimdall_server)
        assert http.get(f"{MODELS}/{new_id}").status_code == 404
        assert http.delete(f"{MODELS}/{new_id}").status_code == 404


def test_audit_names_the_key(heimdall_server: HeimdallServer, model_id: str) -> None:
    from heimdall_io.api.auth import actor_for

    with client(heimdall_server, API_READ_KEY) as reader:
        export_ok(reader, model_id)
    with client(heimdall_server) as admin:
        created = import_ok(admin, export_ok(admin, model_id).content)
        entries = admin.get("/api/v1/training/audit", params={"limit": 3}).json()
    assert len(entries) == 3
    imported, exported, read_export = entries
    assert imported["action"] == "import" and imported["model_id"] == created["model_id"]
    assert imported["actor"] == actor_for(API_ADMIN_KEY)
    assert exported["action"] == "export" and exported["actor"] == actor_for(API_ADMIN_KEY)
    assert read_export["action"] == "export" and read_export["actor"] == actor_for(API_READ_KEY)
    assert read_export["model_id"] == model_id and read_export["result"] == "ok"
    assert API_ADMIN_KEY not in json.dumps(entries)
    assert API_ADMIN_KEY not in heimdall_server.log_path.read_text()


def test_healthz_and_openapi_are_open(heimdall_server: HeimdallServer) -> None:
    r = httpx.get(heimdall_server.url("/healthz"))
    assert r.status_code == 200 and r.json() == {"registry": "ok", "store": "ok"}
    spec = httpx.get(heimdall_server.url("/openapi.json"))
    assert spec.status_code == 200 and spec.json()["openapi"] == "3.1.0"


def test_healthz_503_names_the_failing_part(heimdall_server_factory: Any) -> None:
    """Only "unavailable" in the (open) body: the reason, with its path, is in the log."""
    server = heimdall_server_factory(None, "unhealthy")
    objects_dir = server.home / "objects"
    objects_dir.rename(server.home / "objects.moved")
    objects_dir.write_text("not a directory any more")
    r = httpx.get(server.url("/healthz"))
    assert r.status_code == 503
    assert r.json() == {"registry": "ok", "store": "unavailable"}
    assert r.headers["retry-after"].isdigit()
    assert str(server.home) not in r.text
    wait_for(lambda: "not a directory" in server.log_path.read_text(), what="the reason")
    server.stop()


def test_client_disconnect_mid_export(heimdall_server: HeimdallServer, tmp_path: Path) -> None:
    """A client that stops reading and goes away ends the export (audited as such)."""
    path = tmp_path / "big.onnx"
    path.write_bytes(synthetic_model_bytes(24 << 20, seed=9))
    big = register_model(heimdall_server, path, name="Big", sections={})
    head = request_head("GET", f"{MODELS}/{big}/export", API_READ_KEY)
    import socket

    with socket.create_connection((heimdall_server.host, heimdall_server.port)) as sock:
        sock.sendall(head)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")

    def went_away() -> bool:
        with client(heimdall_server) as http:
            entries = http.get("/api/v1/training/audit", params={"limit": 5}).json()
        return any(e["action"] == "export" and e["model_id"] == big and e["result"] == "error"
                   and "went away" in (e["detail"] or "") for e in entries)  # fmt: skip

    wait_for(went_away, what="the abandoned export in the audit history")


def test_head_export_reads_nothing(heimdall_server: HeimdallServer, model_id: str) -> None:
    with client(heimdall_server, API_READ_KEY) as http:
        audit_before = http.get("/api/v1/training/audit", params={"limit": 1}).json()
        r = http.head(f"{MODELS}/{model_id}/export")
        assert r.status_code == 200
        assert r.headers["content-disposition"].endswith('-v3.heimdall"')
        assert http.head(f"{MODELS}/{uuid.uuid4()}/export").status_code == 404
        assert http.get("/api/v1/training/audit", params={"limit": 1}).json() == audit_before
