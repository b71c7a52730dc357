"""What the HTTP tests share: clients, registering models through the CLI, raw sockets."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import API_ADMIN_KEY, API_READ_KEY, HeimdallServer

__all__ = [
    "API_ADMIN_KEY",
    "API_READ_KEY",
    "SECTIONS",
    "HeimdallServer",
    "client",
    "export_ok",
    "import_ok",
    "objects",
    "payload_md5",
    "raw_exchange",
    "register_model",
    "request_head",
    "round_trip",
    "wait_for",
]

SECTIONS: dict[str, Any] = {
    "training_config": {"epochs": 100, "batch_size": 32, "learning_rate": 0.001,
                        "optimizer": "Adam", "loss_function": "GaussianNLLLoss",
                        "early_stopping": True, "early_stopping_patience": 10},
    "performance_metrics": {"train_loss": [0.5, 0.3, 0.2], "val_loss": [0.6, 0.4, 0.25],
                            "best_epoch": 3, "best_val_loss": 0.25, "final_val_loss": 0.25},
    "normalization_stats": {"feature_means": [0.1, 0.2], "feature_stds": [1.0, 2.0]},
    "sample_predictions": [
        {"input": {"i": i}, "ground_truth": {"lat": 45.0, "lon": 9.0},
         "prediction": {"lat": 45.001, "lon": 9.001}, "error_meters": float(i)}
        for i in range(8)
    ],
}  # fmt: skip


def client(server: HeimdallServer, key: str | None = API_ADMIN_KEY, **kw: Any) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=120, **kw)


def register_model(
    server: HeimdallServer,
    model: Path,
    name: str = "LocalizationNet",
    version: int = 3,
    sections: dict[str, Any] | None = None,
) -> str:
    """``heimdall register`` with the server's environment; returns the new model id."""
    sections = SECTIONS if sections is None else sections
    flags = {
        "training_config": "--training-config",
        "performance_metrics": "--metrics",
        "normalization_stats": "--normalization",
        "sample_predictions": "--samples",
    }
    args = ["register", str(model), "--name", name, "--version", str(version),
            "--architecture", "LocalizationNet", "-q"]  # fmt: skip
    for section, value in sections.items():
        path = model.parent / f"{model.stem}-{section}.json"
        path.write_text(json.dumps(value))
        args += [flags[section], str(path)]
    result = server.cli(*args)
    return result.stdout.strip().splitlines()[-1]


MODELS = "/api/v1/training/models"


def export_ok(http: httpx.Client, model_id: str, **params: Any) -> httpx.Response:
    r = http.get(f"{MODELS}/{model_id}/export", params=params)
    assert r.status_code == 200, r.text
    return r


def import_ok(http: httpx.Client, bundle: bytes, **kw: Any) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    r = http.post(f"{MODELS}/import", content=bundle, headers=headers, **kw)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def round_trip(server: HeimdallServer, model_id: str, expected_md5: str) -> None:
    """The seed's procedure: export, import, export again; same ONNX MD5, same metadata."""
    with client(server) as http:
        first = export_ok(http, model_id)
        assert first.headers["content-type"] == "application/json"
        disposition = first.headers["content-disposition"]
        assert disposition == 'attachment; filename="LocalizationNet-v3.heimdall"'
        created = import_ok(http, first.content)
        assert created["model_name"] == "LocalizationNet (Imported)"
        assert created["source_model_id"] == model_id
        assert created["onnx_md5"] == expected_md5
        assert created["onnx_path"].startswith("imported/")
        again = export_ok(http, created["model_id"])
        assert again.headers["content-disposition"] == (
            'attachment; filename="LocalizationNet (Imported)-v3.heimdall"'
        )
        shown = http.get(f"{MODELS}/{created['model_id']}").json()
        assert shown["onnx_sha256"] == created["onnx_sha256"]
    assert payload_md5(first.content) == payload_md5(again.content) == expected_md5
    a, b = json.loads(first.content), json.loads(again.content)
    for section in SECTIONS:
        assert (
            a[section]
            == b[section]
            == (SECTIONS[section][:5] if section == "sample_predictions" else SECTIONS[section])
        )
    for key in ("version", "architecture", "framework", "onnx_opset", "input_shape",
                "output_shape", "parameters_count"):  # fmt: skip
        assert a["model"][key] == b["model"][key]
    assert b["model"]["model_name"] == a["model"]["model_name"] + " (Imported)"


def payload_md5(bundle: bytes) -> str:
    """The seed's check: json.load, base64-decode onnx_model_base64, MD5."""
    doc = json.loads(bundle)
    return hashlib.md5(base64.b64decode(doc["model"]["onnx_model_base64"])).hexdigest()


def objects(server: HeimdallServer) -> set[str]:
    """Every file under the server's object directory (temporary files included)."""
    root = server.home / "objects"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def request_head(method: str, path: str, key: str | None = API_ADMIN_KEY, **headers: str) -> bytes:
    """An HTTP/1.1 request head; header names from keywords (``Content_Length=``)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def raw_exchange(
    server: HeimdallServer,
    head: bytes,
    parts: Iterable[bytes] = (),
    *,
    read_response: bool = True,
    timeout: float = 30,
) -> bytes:
    """Send ``head`` and ``parts`` on a raw socket; return what the server answered
    (until it closes) or, with ``read_response`` false, close right after sending."""
    sock = socket.create_connection((server.host, server.port), timeout=timeout)
    try:
        sock.sendall(head)
        for part in parts:
            try:
                sock.sendall(part)
            except OSError:  # the server answered and closed early
                break
        if not read_response:
            return b""
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)
    finally:
        sock.close()


def wait_for(predicate: Callable[[], Any], timeout: float = 15, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
