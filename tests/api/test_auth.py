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
    KEY_RULE,
    ApiKeys,
    actor_for,
    authenticate,
    parse_keys,
    parse_keys_file,
    valid_key,
)
from heimdall_io.api.errors import ApiError
from heimdall_io.errors import ConfigError

from .helpers import (
    API_ADMIN_KEY,
    API_READ_KEY,
    HeimdallServer,
    client,
    raw_exchange,
    request_head,
)

MODELS = "/api/v1/training/models"
K1, K2, K3 = "key-one-0123456789", "key-two-0123456789", "key-three-01234567"
SECRET_A, SECRET_R = "secret-a-0123456789", "secret-r-0123456789"


def test_parse_keys() -> None:
    assert parse_keys(f"{K1}:admin, {K2}:read ,") == {K1: "admin", K2: "read"}
    assert parse_keys(f"{K1}:READ") == {K1: "read"}
    for bad in (K1, ":admin", f"{K1}:root", "key 1-0123456789abcdef:read",
                f"a:{K1}:read"):  # fmt: skip
        with pytest.raises(ConfigError):
            parse_keys(bad)


def test_parse_keys_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# operators\n{K1}:admin\n\n  {K2}:read  # not a comment: part of the role\n")
    with pytest.raises(ConfigError, match="line 4"):
        parse_keys_file(path)
    path.write_text(f"# operators\n{K1}:admin\n\n  {K2}:read\n")
    assert parse_keys_file(path) == {K1: "admin", K2: "read"}
    with pytest.raises(ConfigError, match="cannot read"):
        parse_keys_file(tmp_path / "missing")


def test_from_env(tmp_path: Path) -> None:
    assert ApiKeys.from_env({}) is None
    path = tmp_path / "keys"
    path.write_text(f"{K3}:read\n")
    keys = ApiKeys.from_env(
        {"HEIMDALL_API_KEYS": f"{K1}:admin", "HEIMDALL_API_KEYS_FILE": str(path)}
    )
    assert keys is not None and len(keys) == 2
    assert keys.lookup(K3) is not None and keys.lookup(K1) is not None
    assert K1 not in repr(keys) and K3 not in repr(keys)
    path.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="holds no key"):
        ApiKeys.from_env({"HEIMDALL_API_KEYS_FILE": str(path)})


def test_lookup_and_actor() -> None:
    keys = ApiKeys({SECRET_A: "admin", SECRET_R: "read"})
    a = keys.lookup(SECRET_A)
    assert a is not None and a.role == "admin"
    assert a.actor == "api:" + hashlib.sha256(SECRET_A.encode()).hexdigest()[:12]
    assert a.actor == actor_for(SECRET_A)
    assert keys.lookup(SECRET_A[:-1]) is None and keys.lookup("") is None
    assert keys.lookup(SECRET_A + "\x00") is None and keys.lookup("\udcff") is None


# -- the key alphabet (RFC 6750 b64token, 16 to 512 characters) ------------------------------

GOOD_KEYS = [
    "0123456789abcdef",  # the shortest
    "Ab0-._~+/Ab0-._~+/",  # every symbol
    "c2VjcmV0LWtleS0wMTIzNDU2Nzg5==",  # base64 with its padding
    "x" * 512,  # the longest
]
BAD_KEYS = [
    "0123456789abcde",  # too short
    "x" * 513,  # too long
    "clé-secrète-0123456789",  # non-ASCII: configured as UTF-8, sent as Latin-1 or not at all
    "key=with=inner=padding",  # "=" only at the end
    "key with a space 0123",
    "key:with:colons:0123456",
    'key"quoted"0123456789',
    "key,with,comma,0123456",
    "tab\tinside-0123456789",
    "nul\x00inside-0123456789",
    "ключ-0123456789abcdef",
]


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_keys_in_the_alphabet_are_accepted(key: str) -> None:
    assert valid_key(key)
    keys = ApiKeys({key: "admin"})
    assert authenticate(keys, f"Bearer {key}", "admin").actor == actor_for(key)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_keys_outside_the_alphabet_are_refused_at_configuration(key: str, tmp_path: Path) -> None:
    """A ConfigError that states the rule and where, never the key."""
    assert not valid_key(key)
    with pytest.raises(ConfigError) as err:
        ApiKeys({key: "admin"})
    assert KEY_RULE in str(err.value) and key not in str(err.value)
    if "," not in key:
        with pytest.raises(ConfigError) as err:
            ApiKeys.from_env({"HEIMDALL_API_KEYS": f"{K1}:read,{key}:admin"})
        message = str(err.value)
        assert "entry 2" in message and KEY_RULE in message and key.strip() not in message
    if "\n" not in key and "#" not in key:
        path = tmp_path / "keys"
        path.write_text(f"{K1}:read\n{key}:admin\n", encoding="utf-8")
        with pytest.raises(ConfigError) as err:
            parse_keys_file(path)
        assert "line 2" in str(err.value) and key.strip() not in str(err.value)


def test_a_token_outside_the_alphabet_matches_nothing() -> None:
    """What a server hands over for a non-ASCII header (decoded as Latin-1) never matches,
    and never raises: the bytes are compared, not two different decodings of them."""
    keys = ApiKeys({SECRET_A: "admin"})
    utf8_as_latin1 = "secret-a-0123456789é".encode().decode("latin-1")
    for token in (utf8_as_latin1, "secret-a-0123456789\xa0", "\udcff" * 20, "é" * 20):
        assert keys.lookup(token) is None
        with pytest.raises(ApiError) as err:
            authenticate(keys, f"Bearer {token}", "read")
        assert err.value.status == 401
    # Only HTTP whitespace is trimmed: a Latin-1 NBSP is part of the token.
    with pytest.raises(ApiError):
        authenticate(keys, f"Bearer {SECRET_A}\xa0", "read")
    assert authenticate(keys, f"Bearer \t{SECRET_A} \t", "read").role == "admin"


def test_authenticate() -> None:
    keys = ApiKeys({SECRET_A: "admin", SECRET_R: "read"})
    assert authenticate(None, None, "admin").actor == ANONYMOUS
    assert authenticate(keys, f"Bearer {SECRET_R}", "read").role == "read"
    assert authenticate(keys, f"bearer   {SECRET_A} ", "admin").role == "admin"
    for header, status in [(None, 401), ("Basic c2VjcmV0", 401), ("Bearer", 401),
                           ("Bearer nope", 401), (f"Bearer {SECRET_R}", 403)]:  # fmt: skip
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
    keys = ApiKeys({f"key-{i}-0123456789abcdef": "read" for i in range(5)})
    for presented in ("key-0-0123456789abcdef", "key-4-0123456789abcdef", "zz", "é" * 20):
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
    keys.write_text("# ops\nfile-admin-key-0123456789:admin\n")
    server = heimdall_server_factory({"HEIMDALL_API_KEYS_FILE": str(keys)}, "keysfile")
    with client(server, None) as http:
        assert http.get(MODELS).status_code == 401
    with client(server, "file-admin-key-0123456789") as http:
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
        env={"HEIMDALL_HOME": str(tmp_path), "HEIMDALL_API_KEYS": f"{K1}:superuser",
             "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1
    assert "unknown role 'superuser'" in r.stderr
    assert K1 not in r.stderr


def test_key_alphabet_over_http(heimdall_server_factory: Any) -> None:
    """A key with every allowed symbol works; a token with non-ASCII bytes (UTF-8 or
    Latin-1 on the wire) is a plain 401, never a 500; a bad key stops the server at start."""
    key = "Ab0-._~+/Ab0-._~+/xyz=="
    server = heimdall_server_factory({"HEIMDALL_API_KEYS": f"{key}:read"}, "alphabet")
    with client(server, key) as http:
        assert http.get(MODELS).status_code == 200
    head = request_head("GET", MODELS, None, Connection="close")
    for token in (
        "Ab0-._~+/Ab0-._~+/xyz==é".encode(),
        b"Ab0-._~+/Ab0-._~+/xyz==\xe9",
        b"\xff" * 20,
    ):
        raw = head.replace(b"Connection:", b"Authorization: Bearer " + token + b"\r\nConnection:")
        response = raw_exchange(server, raw)
        assert response.startswith(b"HTTP/1.1 401 "), response[:200]
    server.stop()


def test_non_ascii_key_config_fails_at_start(tmp_path: Path) -> None:
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "heimdall_io", "serve", "--port", "1"],
        env={"HEIMDALL_HOME": str(tmp_path), "HEIMDALL_API_KEYS": "clé-secrète-0123456789:admin",
             "PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1
    assert "RFC 6750" in r.stderr and "entry 1" in r.stderr
    assert "secr" not in r.stderr
