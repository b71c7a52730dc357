"""spec/openapi.json: it matches the app's routes, it is up to date, and the live server
honours it (schemathesis)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from starlette.routing import Route

from heimdall_io.api import create_app
from heimdall_io.api.openapi import build
from heimdall_io.api.spec import SPEC_PATH
from tests.conftest import unavailable

from .helpers import API_ADMIN_KEY, client

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def app_routes() -> set[tuple[str, str]]:
    app = create_app(service_factory=lambda actor: None)  # type: ignore[arg-type,return-value]
    out = set()
    for route in app.routes:
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":  # Starlette adds HEAD to every GET
                out.add((method.lower(), route.path))
    return out


def spec_routes(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m, path) for path, item in spec["paths"].items() for m in item if m in METHODS}


def test_spec_matches_the_routes() -> None:
    committed = json.loads(SPEC_PATH.read_text())
    assert spec_routes(committed) == app_routes()
    assert len(app_routes()) == 13


def test_committed_spec_is_current() -> None:
    r = subprocess.run([sys.executable, "-m", "heimdall_io.api.spec", "--check"],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert SPEC_PATH.read_text() == json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def test_check_detects_a_stale_file(tmp_path: Path) -> None:
    from heimdall_io.api.spec import main

    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")
    assert main(["--check", "--path", str(stale)]) == 1
    assert main(["--write", "--path", str(stale)]) == 0
    assert main(["--check", "--path", str(stale)]) == 0


def test_schemas_come_from_the_msgspec_types() -> None:
    schemas = build()["components"]["schemas"]
    assert {"ModelRecord", "AuditEntry", "ImportResponse", "ErrorBody", "Health"} <= set(schemas)
    assert "onnx_sha256" in schemas["ModelRecord"]["properties"]
    assert "model_id" in schemas["ImportResponse"]["required"]


def test_served_spec_is_the_committed_one(heimdall_server: Any) -> None:
    with client(heimdall_server, None) as http:
        assert http.get("/openapi.json").json() == json.loads(SPEC_PATH.read_text())


def test_schemathesis(heimdall_server_factory: Any) -> None:
    """Property-based requests from the spec, with an admin key: no 5xx anywhere."""
    if importlib.util.find_spec("schemathesis") is None:
        unavailable("schemathesis is not installed: pip install -e '.[dev]'")
    server = heimdall_server_factory(
        {"HEIMDALL_API_KEYS": f"{API_ADMIN_KEY}:admin"}, "schemathesis"
    )  # its own server: the fuzzer deletes the models it finds
    cli = "from schemathesis.cli import schemathesis; schemathesis()"
    r = subprocess.run(
        [sys.executable, "-c", cli, "run", str(SPEC_PATH), "--url", server.base_url,
         "--header", f"Authorization: Bearer {API_ADMIN_KEY}",
         "--checks", "not_a_server_error", "--max-examples", "20", "--workers", "1",
         "--request-timeout", "30", "--seed", "1"],
        capture_output=True, text=True, timeout=120, cwd=server.workdir,
    )  # fmt: skip
    tail = "\n".join((r.stdout + r.stderr).splitlines()[-40:])
    assert r.returncode == 0, tail
    assert "passed" in r.stdout
    assert server.running
    server.stop()
