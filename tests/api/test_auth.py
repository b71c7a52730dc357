"""API keys: parsing, constant-time lookup, actors; 401/403 over real HTTP."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from heimdall_io.api.auth import (
    ANONYMOUS,
    ApiKeys,
    actor_for,
    authenticate,
    parse_keys,
    parse_keys_file,
)
from heimdall_io.api.errors import ApiError
from heimdall_io.errors import ConfigError

from .helpers import API_ADMIN_KEY, API_READ_KEY, HeimdallServer, client

MODELS = "/api/v1/training/models"


def test_parse_keys() -> None:
    assert parse_keys("k1:admin, k2:read ,") == {"k1": "admin", "k2": "read"}
    assert parse_keys("a:b:c:READ") == {"a:b:c": "read"}  # the role is after the last colon
    for bad in ("k1", ":admin", "k1:root", "k 1:read"):
        with pytest.raises(ConfigError):
            parse_keys(bad)


def test_parse_keys_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("# operators\nk1:admin\n\n  k2:read  # not a comment: part of the role\n")
    with pytest.raises(ConfigError, match="line 4"):
        parse_keys_file(path)
    path.write_text("# operators\nk1:admin\n\n  k2:read\n")
    assert parse_keys_file(path) == {"k1": "admin", "k2": "read"}
    with pytest.raises(ConfigError, match="cannot read"):
        parse_keys_file(tmp_path / "missing")


def test_from_env(tmp_path: Path) -> None:
    assert ApiKeys.from_env({}) is None
    path = tmp_path / "keys"
    path.write_text("k3:read\n")
    keys = ApiKeys.from_env({"HEIMDALL_API_KEYS": "k1:admin", "HEIMDALL_API_KEYS_FILE": str(path)})
    assert keys is not None and len(keys) == 2
    assert keys.lookup("k3") is not None and keys.lookup("k1") is not None
    assert "k1" not in repr(keys) and "k3" not in repr(keys)
    path.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="holds no key"):
        ApiKeys.from_env({"HEIMDALL_API_KEYS_FILE": str(path)})


def test_lookup_and_actor() -> None:
    keys = ApiKeys({"secret-a": "admin", "secret-r": "read"})
    a = keys.lookup("secret-a")
    assert a is not None and a.role == "admin"
    assert a.actor == "api:" + hashlib.sha256(b"secret-a").hexdigest()[:12] == actor_for("secret-a")
    assert keys.lookup("secret-") is None and keys.lookup("") is None
    assert keys.lookup("secret-a\x00") is None and keys.lookup("\udcff") is None


def test_authenticate() -> None:
    keys = ApiKeys({"secret-a": "admin", "secret-r": "read"})
    assert authenticate(None, None, "admin").actor == ANONYMOUS
    assert authenticate(keys, "Bearer secret-r", "read").role == "read"
    assert authenticate(keys, "bearer   secret-a ", "admin").role == "admin"
    for header, status in [(None, 401), ("Basic c2VjcmV0", 401), ("Bearer", 401),
                           ("Bearer nope", 401), ("Bearer secret-r", 403)]:  # fmt: skip
        with pytest.raises(ApiError) as err:
            authenticate(keys, header, "admin")
        assert err.value.status == status
        if status == 401:
            assert err.value.headers["WWW-Authenticate"].startswith("Bearer")


def test_constant_time_compares_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    import heimdall_io.api.auth as auth

    calls: list[int] = []
    real = auth.hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    keys = ApiKeys({f"k{i}": "read" for i in range(5)})
    for presented in ("k0", "k4", "zz"):
        calls.clear()
        keys.lookup(presented)
        assert len(calls) == 5  # no early exit on a match


# -- over HTTP -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", MODELS), ("GET", f"{MODELS}/{{id}}"), ("GET", f"{MODELS}/{{id}}/export"),
     ("GET", "/api/v1/training/audit"), ("POST", f"{MODELS}/import"),
     ("DELETE", f"{MODELS}/{{id}}")],
)  # fmt: skip
@pytest.mark.parametrize("key", [None, "wrong-key", "Basic"])
def test_401_without_a_valid_key(
    heimdall_server: HeimdallServer, method: str, path: str, key: str | None
) -> None:
    headers = {}
    if key == "Basic":
        headers["Authorization"] = f"Basic {API_ADMIN_KEY}"
    elif key:
        headers["Authorization"] = f"Bearer {key}"
    with client(heimdall_server, None) as http:
        r = http.request(method, path.replace("{id}", str(uuid.uuid4())), headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith('Bearer realm="heimdall"')
    assert r.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"), [("POST", f"{MODELS}/import"), ("DELETE", f"{MODELS}/{{id}}")]
)
def test_403_read_key_on_admin_routes(
    heimdall_server: HeimdallServer, method: str, path: str
) -> None:
    with client(heimdall_server, API_READ_KEY) as http:
        r = http.request(method, path.replace("{id}", str(uuid.uuid4())), content=b"{}")
    assert r.status_code == 403
    assert "admin" in r.json()["detail"]


def test_read_key_may_read(heimdall_server: HeimdallServer) -> None:
    with client(heimdall_server, API_READ_KEY) as http:
        assert http.get(MODELS).status_code == 200
        assert http.get("/api/v1/training/audit").status_code == 200
        assert http.get(f"{MODELS}/{uuid.uuid4()}/export").status_code == 404


def test_open_routes(heimdall_server: HeimdallServer) -> None:
    for path in ("/healthz", "/openapi.json"):
        assert httpx.get(heimdall_server.url(path)).status_code == 200


def test_keys_file_and_anonymous_server(heimdall_server_factory: Any, tmp_path: Path) -> None:
    """HEIMDALL_API_KEYS_FILE works alone; a server without keys is open (api:anonymous)."""
    keys = tmp_path / "keys"
    keys.write_text("# ops\nfile-admin-key:admin\n")
    server = heimdall_server_factory({"HEIMDALL_API_KEYS_FILE": str(keys)}, "keysfile")
    with client(server, None) as http:
        assert http.get(MODELS).status_code == 401
    with client(server, "file-admin-key") as http:
        assert http.get(MODELS).status_code == 200
    server.stop()
    open_server = heimdall_server_factory({}, "open")
    with client(open_server, None) as http:
        assert http.get(MODELS).status_code == 200
        assert http.post(f"{MODELS}/import", content=b"{}").status_code == 400
        entries = http.get("/api/v1/training/audit").json()
    assert entries[0]["actor"] == ANONYMOUS
    open_server.stop()


def test_bad_key_config_fails_at_start(tmp_path: Path) -> None:
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "heimdall_io", "serve", "--port", "1"],
        env={"HEIMDALL_HOME": str(tmp_path), "HEIMDALL_API_KEYS": "k1:superuser",
             "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1
    assert "unknown role 'superuser'" in r.stderr
    assert "k1" not in r.stderr.replace("entry 1", "")
