"""POST .../import?include_config=false&...: a partial import over HTTP, audited."""

from __future__ import annotations

import pytest

from tests.support.synthetic import synthetic_model_bytes

from .helpers import MODELS, HeimdallServer, client, export_ok, import_ok, register_model


@pytest.fixture(scope="module")
def bundle(heimdall_server: HeimdallServer, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("partial") / "partial.onnx"
    path.write_bytes(synthetic_model_bytes(8192, seed=5))
    model_id = register_model(heimdall_server, path, name="Partial")
    with client(heimdall_server) as http:
        return export_ok(http, model_id).content


def test_import_query_leaves_sections_out(heimdall_server: HeimdallServer, bundle: bytes) -> None:
    with client(heimdall_server) as http:
        params = {"include_config": "false", "include_normalization": "0"}
        created = import_ok(http, bundle, params=params)
        model = http.get(f"{MODELS}/{created['model_id']}").json()
        assert set(model["training_metrics"]) == {"performance_metrics", "sample_predictions"}
        entries = http.get("/api/v1/training/audit", params={"limit": 20}).json()
        entry = next(e for e in entries if e["model_id"] == created["model_id"])
        assert entry["action"] == "import"
        assert entry["detail"] == "skipped training_config, normalization_stats"


def test_import_query_values_are_checked(heimdall_server: HeimdallServer, bundle: bytes) -> None:
    with client(heimdall_server) as http:
        r = http.post(f"{MODELS}/import", content=bundle, params={"include_samples": "maybe"},
                      headers={"Content-Type": "application/json"})  # fmt: skip
        assert r.status_code == 422
        assert "include_samples must be true, false, 1 or 0" in r.json()["detail"]
