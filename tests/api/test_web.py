"""The web page's server side over HTTP: the page and its files (with their security
headers), the role endpoint, and signed download links. The page itself runs in a real
browser in tests/web."""

from __future__ import annotations

import fnmatch
import hashlib
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from starlette.datastructures import QueryParams

from heimdall_io.api.auth import ApiKeys, Principal, actor_for
from heimdall_io.api.downloads import LINK_TTL_SECONDS, canonical_query, check_token, make_token
from heimdall_io.api.errors import ApiError
from heimdall_io.api.web import ASSET_NAME, CSP, STATIC_DIR
from tests.support.synthetic import synthetic_model_bytes

from .helpers import (
    API_ADMIN_KEY,
    API_READ_KEY,
    MODELS,
    HeimdallServer,
    client,
    export_ok,
    payload_md5,
    register_model,
)

ROOT = Path(__file__).resolve().parents[2]
ASSETS = sorted(p.name for p in STATIC_DIR.iterdir() if p.name != "index.html")


@pytest.fixture(scope="module")
def model_id(heimdall_server: HeimdallServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("web") / "web.onnx"
    path.write_bytes(synthetic_model_bytes(64 << 10, seed=5))
    return register_model(heimdall_server, path, name="WebNet")


# -- the page and its files ---------------------------------------------------------------


def test_page_is_served_with_a_strict_csp(heimdall_server: HeimdallServer) -> None:
    r = httpx.get(heimdall_server.url("/"))  # no key: the page holds no data
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    csp = r.headers["content-security-policy"]
    assert csp == CSP
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["require-trusted-types-for"] == "'script'"
    assert "unsafe" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"


def test_page_has_no_inline_script_or_style_and_its_files_are_served(
    heimdall_server: HeimdallServer,
) -> None:
    html = httpx.get(heimdall_server.url("/")).text
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    refs = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert {"/static/app.js", "/static/app.css", "/static/favicon.svg"} <= set(refs)
    for ref in refs:
        assert httpx.get(heimdall_server.url(ref)).status_code == 200, ref
    # Every module the scripts import is a file that is served.
    for name in ASSETS:
        if name.endswith(".js"):
            for imported in re.findall(r'from "\./([^"]+)"', (STATIC_DIR / name).read_text()):
                assert imported in ASSETS, f"{name} imports {imported}"


@pytest.mark.parametrize("name", ASSETS)
def test_static_files(heimdall_server: HeimdallServer, name: str) -> None:
    assert ASSET_NAME.fullmatch(name), f"{name}: not a name web.py serves"
    r = httpx.get(heimdall_server.url(f"/static/{name}"))
    assert r.status_code == 200
    assert r.content == (STATIC_DIR / name).read_bytes()
    expected = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}
    assert r.headers["content-type"].startswith(expected[name.rsplit(".", 1)[1]])
    assert r.headers["x-content-type-options"] == "nosniff"
    again = httpx.get(
        heimdall_server.url(f"/static/{name}"), headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    "path",
    ["/static/nope.js", "/static/index.html", "/static/..%2Fweb.py", "/static/%2e%2e%2fapp.py",
     "/static/App.js", "/static/app.js.map", "/static/.hidden.js", "/static/"],
)  # fmt: skip
def test_nothing_else_is_served_from_static(heimdall_server: HeimdallServer, path: str) -> None:
    r = httpx.get(heimdall_server.url(path))
    assert r.status_code == 404
    assert r.json() == {"detail": "Not found"}


def test_scripts_never_parse_html() -> None:
    """Metadata is hostile: the scripts build the DOM from text nodes only."""
    sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
        r"createContextualFragment|DOMParser|srcdoc|javascript:"
    )
    for name in ASSETS:
        if name.endswith(".js"):
            found = sinks.findall((STATIC_DIR / name).read_text())
            assert not found, f"{name}: {found}"


def test_static_files_are_package_data() -> None:
    """A non-editable install ships every file of the page."""
    # (pyproject.toml read with a pattern: tomllib is Python 3.11+, this project 3.10+)
    text = (ROOT / "pyproject.toml").read_text()
    line = re.search(r'^"heimdall_io\.api" = \[(.*)\]$', text, re.M)
    assert line, "no package-data for heimdall_io.api in pyproject.toml"
    patterns = re.findall(r'"([^"]+)"', line.group(1))
    for path in STATIC_DIR.iterdir():
        relative = f"static/{path.name}"
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative


# -- the role endpoint --------------------------------------------------------------------

ROLE = "/api/v1/auth/role"


@pytest.mark.parametrize(
    ("key", "role"), [(None, "anonymous"), (API_READ_KEY, "read"), (API_ADMIN_KEY, "admin")]
)
def test_role_of_a_key(heimdall_server: HeimdallServer, key: str | None, role: str) -> None:
    with client(heimdall_server, key) as http:
        r = http.get(ROLE)
    assert r.status_code == 200
    assert r.json() == {"role": role, "keys_required": True, "max_import_bytes": 100 << 20}
    assert r.headers["cache-control"] == "no-store"


def test_role_of_an_unknown_key_is_401(heimdall_server: HeimdallServer) -> None:
    with client(heimdall_server, "not-a-key") as http:
        r = http.get(ROLE)
    assert r.status_code == 401
    assert r.json() == {"detail": "Invalid API key"}


def test_role_on_an_open_server(heimdall_server_factory: Any) -> None:
    server = heimdall_server_factory({"HEIMDALL_MAX_IMPORT_BYTES": "1GiB"}, "web-open")
    try:
        r = httpx.get(server.url(ROLE))
        assert r.json() == {"role": "admin", "keys_required": False, "max_import_bytes": 1 << 30}
    finally:
        server.stop()


# -- download links -----------------------------------------------------------------------

KEYS = ApiKeys({"k-admin-0123456789": "admin", "k-read-0123456789": "read"})
READER = Principal(actor_for("k-read-0123456789"), "read")
MODEL = str(uuid.uuid4())


def test_token_round_trip_and_what_it_covers() -> None:
    query = canonical_query(QueryParams("include_samples=false&num_samples=2"))
    token, expires = make_token(KEYS, READER, MODEL, query, now=1000)
    assert expires == 1000 + LINK_TTL_SECONDS
    assert "k-read-0123456789" not in token
    assert check_token(KEYS, token, MODEL, query, now=1000) == READER
    assert check_token(KEYS, token, MODEL, query, now=expires) == READER
    failures = {
        "expired": (token, MODEL, query, expires + 1),
        "another model": (token, str(uuid.uuid4()), query, 1000),
        "other options": (token, MODEL, "include_samples=true&num_samples=2", 1000),
        "tampered expiry": (token.replace(f"v1.{expires}.", f"v1.{expires + 600}."), MODEL,
                            query, 1000),
        "missing": ("", MODEL, query, 1000),
        "garbage": ("v1.x.y.z", MODEL, query, 1000),
    }  # fmt: skip
    for what, (tok, model, q, now) in failures.items():
        with pytest.raises(ApiError) as err:
            check_token(KEYS, tok, model, q, now=now)
        assert err.value.status == 401, what
        assert "download" in err.value.detail.lower(), what


def test_token_dies_with_its_key() -> None:
    token, _ = make_token(KEYS, READER, MODEL, "", now=1000)
    others = ApiKeys({"k-admin-0123456789": "admin", "k-read-2-0123456789": "read"})
    with pytest.raises(ApiError):
        check_token(others, token, MODEL, "", now=1000)
    # The same keys on another replica: accepted.
    replica = ApiKeys({"k-read-0123456789": "read"})
    assert check_token(replica, token, MODEL, "", now=1000) == READER


def test_canonical_query_ignores_order_and_the_token() -> None:
    a = canonical_query(QueryParams("b=2&a=1&token=x"))
    assert a == canonical_query(QueryParams("a=1&b=2")) == "a=1&b=2"


def test_download_link_over_http(heimdall_server: HeimdallServer, model_id: str) -> None:
    options = {"include_samples": "false", "num_samples": "0", "description": "for <web> & co"}
    with client(heimdall_server, API_READ_KEY) as http:
        r = http.post(f"{MODELS}/{model_id}/download-link", params=options)
        assert r.status_code == 200, r.text
        link = r.json()
        expected = export_ok(http, model_id, **options).content
    assert link["expires_in"] == LINK_TTL_SECONDS
    url = urlsplit(link["url"])
    assert url.path == f"{MODELS}/{model_id}/download"
    params = dict(parse_qsl(url.query))
    assert API_READ_KEY not in link["url"]
    assert {k: v for k, v in params.items() if k != "token"} == options

    # A plain GET, no Authorization: the export with those options.
    got = httpx.get(heimdall_server.url(link["url"]))
    assert got.status_code == 200
    assert got.headers["content-disposition"] == 'attachment; filename="WebNet-v3.heimdall"'
    assert payload_md5(got.content) == payload_md5(expected)
    assert b'"sample_predictions"' not in got.content
    assert b"for <web> & co" in got.content

    # The audit names the key that asked for the link.
    with client(heimdall_server, API_READ_KEY) as http:
        entries = http.get("/api/v1/training/audit", params={"limit": 5}).json()
    assert any(e["action"] == "export" and e["model_id"] == model_id
               and e["actor"] == actor_for(API_READ_KEY) for e in entries)  # fmt: skip

    # Other options, another model, no token: 401.
    changed = {**params, "include_samples": "true"}
    base = f"{MODELS}/{model_id}/download"
    for path in (f"{base}?{urlencode(changed)}", f"{MODELS}/{uuid.uuid4()}/download?{url.query}",
                 f"{base}?include_samples=false"):  # fmt: skip
        r = httpx.get(heimdall_server.url(path))
        assert r.status_code == 401, path
        assert "download" in r.json()["detail"].lower()
    # A key does not replace the token on this route (use .../export with a key).
    with client(heimdall_server, API_ADMIN_KEY) as http:
        assert http.get(base).status_code == 401


def test_download_link_errors(heimdall_server: HeimdallServer, model_id: str) -> None:
    with client(heimdall_server, None) as http:
        assert http.post(f"{MODELS}/{model_id}/download-link").status_code == 401
    with client(heimdall_server, API_READ_KEY) as http:
        r = http.post(f"{MODELS}/{uuid.uuid4()}/download-link")
        assert (r.status_code, r.json()) == (404, {"detail": "Model not found"})
        r = http.post(f"{MODELS}/{model_id}/download-link", params={"compression": "rar"})
        assert r.status_code == 422
        assert "compression" in r.json()["detail"]
        assert http.post(f"{MODELS}/not-a-uuid/download-link").status_code == 422


def test_download_on_an_open_server(heimdall_server_factory: Any, tmp_path: Path) -> None:
    server = heimdall_server_factory({}, "web-open-download")
    try:
        path = tmp_path / "open.onnx"
        data = synthetic_model_bytes(32 << 10, seed=6)
        path.write_bytes(data)
        model_id = register_model(server, path)
        link = httpx.post(server.url(f"{MODELS}/{model_id}/download-link")).json()
        assert "token=" not in link["url"]
        got = httpx.get(server.url(link["url"]))
        assert got.status_code == 200
        assert payload_md5(got.content) == hashlib.md5(data).hexdigest()
    finally:
        server.stop()
