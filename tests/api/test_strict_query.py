"""Integers in query strings and headers are strict (issue 8, item 7): a malformed one is
422 (400 for Content-Length) naming the parameter, never a 500, and the keep-alive
connection stays usable."""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import quote

import pytest
from starlette.datastructures import Headers
from starlette.requests import Request

from heimdall_io.api.errors import ApiError
from heimdall_io.api.query import content_length, strict_int

from .helpers import API_ADMIN_KEY, MODELS, HeimdallServer, register_model

MALFORMED = [
    "--5", "+5", " 5", "5 ", "5.0", "1e3", "0x10", "5_0", "--1", "-", "", "1,2",
    "\uff15",  # FULLWIDTH DIGIT FIVE: isdigit() says yes, int() agrees, we do not
    "\u0665",  # ARABIC-INDIC DIGIT FIVE
    "\u00b2",  # SUPERSCRIPT TWO: isdigit() yes, int() raises
    "5\x00", "9" * 13, "9" * 5000,
]  # fmt: skip
OUT_OF_RANGE = ["99999999999", "-1"]


@pytest.mark.parametrize("value", MALFORMED)
def test_strict_int_refuses(value: str) -> None:
    assert strict_int(value) is None


@pytest.mark.parametrize(("value", "number"), [("0", 0), ("5", 5), ("-3", -3), ("007", 7)])
def test_strict_int_accepts(value: str, number: int) -> None:
    assert strict_int(value) == number


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "headers": Headers(raw=raw).raw})


@pytest.mark.parametrize("value", ["5.0", "+5", "-5", "\u00b2", "1" * 20, "", "0x10"])
def test_content_length_is_strict(value: str) -> None:
    with pytest.raises(ApiError) as err:
        content_length(_request({"Content-Length": value}))
    assert err.value.status == 400 and "Content-Length" in err.value.detail
    assert content_length(_request({"Content-Length": " 42 "})) == 42
    assert content_length(_request({})) is None


@pytest.fixture(scope="module")
def model_id(heimdall_server: HeimdallServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.support.synthetic import synthetic_model_bytes

    path = tmp_path_factory.mktemp("strict") / "m.onnx"
    path.write_bytes(synthetic_model_bytes(16 << 10, seed=4))
    return register_model(heimdall_server, path, name="Strict", sections={})


def _targets(model_id: str) -> list[tuple[str, str]]:
    export = f"{MODELS}/{model_id}/export"
    return [("/api/v1/training/audit", "limit"), (MODELS, "limit"), (MODELS, "offset"),
            (export, "num_samples"), (export, "level")]  # fmt: skip


def test_malformed_integers_are_422_on_one_connection(
    heimdall_server: HeimdallServer, model_id: str
) -> None:
    """Every query integer of the API, every malformed spelling: 422 naming it, on one
    keep-alive connection that is never closed, and a good request on it afterwards."""
    conn = http.client.HTTPConnection(heimdall_server.host, heimdall_server.port, timeout=30)
    headers = {"Authorization": f"Bearer {API_ADMIN_KEY}"}
    conn.connect()
    sock = conn.sock
    try:
        for path, name in _targets(model_id):
            for value in MALFORMED + OUT_OF_RANGE:
                conn.request("GET", f"{path}?{name}={quote(value, safe='')}", headers=headers)
                r = conn.getresponse()
                body: Any = r.read()
                assert r.status == 422, (path, name, value, body)
                assert body.startswith(f'{{"detail":"{name} must be an integer from '.encode())
                assert r.getheader("connection") != "close"
                assert conn.sock is sock, "the server closed the connection"
        conn.request("GET", f"{MODELS}/{model_id}/export?num_samples=0&level=19", headers=headers)
        r = conn.getresponse()
        assert r.status == 200 and r.read().startswith(b"{")
        assert conn.sock is sock
    finally:
        conn.close()
