"""``POST /api/v1/training/models/import?mlflow=true`` on ``heimdall serve``, with the
server's HEIMDALL_MLFLOW_URI: registered, refused, or failed under each policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.conftest import API_ADMIN_KEY
from tests.support.servers import dead_port

from .helpers import client, make_bundle, md5_of, unique, version_files

IMPORT = "/api/v1/training/models/import"


def post(server: Any, bundle: Path, query: str) -> httpx.Response:
    with httpx.Client(base_url=server.base_url, timeout=120,
                      headers={"Authorization": f"Bearer {API_ADMIN_KEY}"}) as http:  # fmt: skip
        return http.post(f"{IMPORT}?{query}", content=bundle.read_bytes())


def models(server: Any) -> list[str]:
    with httpx.Client(base_url=server.base_url, timeout=60,
                      headers={"Authorization": f"Bearer {API_ADMIN_KEY}"}) as http:  # fmt: skip
        return [m["model_id"] for m in http.get("/api/v1/training/models").json()]


def test_import_with_mlflow_registers_the_model(
    mlflow_server: Any, heimdall_server_factory: Any, tmp_path: Path
) -> None:
    server = heimdall_server_factory(
        {"HEIMDALL_API_KEYS": f"{API_ADMIN_KEY}:admin", "HEIMDALL_MLFLOW_URI": mlflow_server.uri,
         "HEIMDALL_MLFLOW_EXPERIMENT": "heimdall-http"}, "mlflow-api",
    )  # fmt: skip
    name = unique("Http")
    bundle = make_bundle(tmp_path, name)
    response = post(server, bundle.path, "mlflow=true")
    assert response.status_code == 201, response.text
    body = response.json()
    link = body["mlflow"]
    assert "warnings" not in body
    assert (link["model_name"], link["model_version"]) == (name, "1")
    assert link["experiment_name"] == "heimdall-http"
    run = client(mlflow_server.uri).get_run(link["run_id"])
    assert run.data.tags["heimdall.model_id"] == body["model_id"]
    files = version_files(mlflow_server.uri, name, "1", tmp_path / "download")
    assert md5_of(files["model.onnx"]) == bundle.md5 == body["onnx_md5"]
    # Without ?mlflow the response is as it always was.
    plain = post(server, bundle.path, "validate=false").json()
    assert "mlflow" not in plain and "warnings" not in plain


def test_mlflow_failure_policies(heimdall_server_factory: Any, tmp_path: Path) -> None:
    server = heimdall_server_factory(
        {"HEIMDALL_API_KEYS": f"{API_ADMIN_KEY}:admin", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
         "HEIMDALL_MLFLOW_URI": f"http://127.0.0.1:{dead_port()}"}, "mlflow-api-down",
    )  # fmt: skip
    bundle = make_bundle(tmp_path, unique("Down"))
    stands = post(server, bundle.path, "mlflow=true")
    assert stands.status_code == 201, stands.text
    assert stands.json()["mlflow"] is None
    (warning,) = stands.json()["warnings"]
    assert "cannot connect" in warning and "the heimdall import stands" in warning
    failed = post(server, bundle.path, "mlflow_required=true")
    assert failed.status_code == 502, failed.text
    assert "rolled back" in failed.json()["detail"]
    assert models(server) == [stands.json()["model_id"]]


def test_mlflow_needs_a_uri_on_the_server(heimdall_server: Any, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, unique("NoUri"))
    before = models(heimdall_server)
    response = post(heimdall_server, bundle.path, "mlflow=true")
    assert response.status_code == 422
    assert "HEIMDALL_MLFLOW_URI" in response.json()["detail"]
    assert models(heimdall_server) == before
