"""The API on PostgreSQL + SeaweedFS (S3): the seed's round trip, and an interrupted upload
that leaves neither a row nor an object. Marked integration; under CI=true never skipped."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tests.support.synthetic import synthetic_model_bytes

from .helpers import (
    API_ADMIN_KEY,
    MODELS,
    client,
    export_ok,
    raw_exchange,
    register_model,
    request_head,
    round_trip,
    wait_for,
)


def _bucket_keys(seaweedfs: Any, s3_url: str) -> set[str]:
    bucket = s3_url.split("://", 1)[1].split("?", 1)[0]
    c = seaweedfs.client()
    if not c.bucket_exists(bucket):
        return set()
    return {o.object_name for o in c.list_objects(bucket, recursive=True)}


def test_round_trip_on_postgres_and_s3(
    heimdall_server_factory: Any, pg_url: str, s3_url: str, seaweedfs: Any, tmp_path: Path
) -> None:
    server = heimdall_server_factory(
        {
            "HEIMDALL_API_KEYS": f"{API_ADMIN_KEY}:admin",
            "HEIMDALL_DATABASE_URL": pg_url,
            "HEIMDALL_STORAGE_URL": s3_url,
            "HEIMDALL_S3_ACCESS_KEY": seaweedfs.access_key,
            "HEIMDALL_S3_SECRET_KEY": seaweedfs.secret_key,
        },
        "pg-s3",
    )
    try:
        with client(server) as http:
            assert http.get("/healthz").json() == {"registry": "ok", "store": "ok"}
        data = synthetic_model_bytes(3 << 20, seed=21)  # a multipart upload or two
        path = tmp_path / "localization.onnx"
        path.write_bytes(data)
        model_id = register_model(server, path)
        round_trip(server, model_id, hashlib.md5(data).hexdigest())
        keys = _bucket_keys(seaweedfs, s3_url)
        assert any(k.startswith("imported/") for k in keys)
        assert any(k.startswith("models/") for k in keys)

        # A client that goes away mid-upload: no row, no object (the upload is aborted).
        with client(server) as http:
            bundle = export_ok(http, model_id).content
            before = {m["model_id"] for m in http.get(MODELS).json()}
        head = request_head("POST", f"{MODELS}/import", Content_Length=str(len(bundle)))
        raw_exchange(server, head, [bundle[: len(bundle) // 2]], read_response=False)

        def aborted() -> bool:
            with client(server) as http:
                entries = http.get("/api/v1/training/audit", params={"limit": 3}).json()
            return any("disconnected" in (e["detail"] or "") for e in entries)

        wait_for(aborted, what="the aborted import in the audit history")
        with client(server) as http:
            assert {m["model_id"] for m in http.get(MODELS).json()} == before
        assert _bucket_keys(seaweedfs, s3_url) == keys
    finally:
        server.stop()
