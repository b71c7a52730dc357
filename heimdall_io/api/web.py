"""The web page: ``GET /`` serves it, ``GET /static/<name>`` its scripts and styles, and
``GET /api/v1/auth/role`` tells it which actions to offer.

The page is static: plain ES modules and one style sheet in ``heimdall_io/api/static``,
shipped as package data, no build step and nothing from another origin. Its data comes
from the API with the key the user types in (kept in the tab's sessionStorage only).

It is sent with a strict Content-Security-Policy (:data:`CSP`): scripts, styles and
connections from this origin only, no inline script or style, no plugins, no framing, and
Trusted Types required, so that assigning HTML strings (``innerHTML``) throws: the
scripts build the DOM with ``createElement``/``textContent`` only, since model names and
every other metadata string are hostile input. ``Referrer-Policy: no-referrer`` keeps
download links (see :mod:`~heimdall_io.api.downloads`) out of other sites' logs.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from .auth import Principal, authenticate
from .errors import ApiError
from .handlers import ApiContext
from .openapi_web import RoleInfo

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: The Content-Security-Policy of the page.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
PAGE_HEADERS = {**_COMMON, "Content-Security-Policy": CSP, "X-Frame-Options": "DENY"}
_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: An asset's name: flat (no directories), lowercase, one of the types above.
ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.(?:js|css|svg)")
_JSON = msgspec.json.Encoder()
_cache: dict[str, tuple[bytes, str]] = {}


def asset(name: str) -> tuple[bytes, str] | None:
    """The bytes of ``static/<name>`` and their ETag (read once), or None."""
    if name not in _cache:
        if name != "index.html" and not ASSET_NAME.fullmatch(name):
            return None
        try:
            data = (STATIC_DIR / name).read_bytes()
        except OSError:
            return None
        _cache[name] = data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    return _cache[name]


def _file_response(
    request: Request, name: str, media_type: str, headers: dict[str, str]
) -> Response:
    found = asset(name)
    if found is None:
        raise ApiError(404, "Not found")
    data, etag = found
    headers = {**headers, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(data, headers=headers, media_type=media_type)


async def page(request: Request, ctx: ApiContext, who: Principal) -> Response:
    """``GET /``: the page, with its Content-Security-Policy."""
    return _file_response(request, "index.html", "text/html; charset=utf-8", PAGE_HEADERS)


async def static_asset(request: Request, ctx: ApiContext, who: Principal) -> Response:
    """``GET /static/{name}``: a script, style sheet or icon of the page (404 otherwise)."""
    name = request.path_params["name"]
    suffix = Path(name).suffix
    if suffix not in _MEDIA_TYPES:
        raise ApiError(404, "Not found")
    return _file_response(request, name, _MEDIA_TYPES[suffix], _COMMON)


async def auth_role(request: Request, ctx: ApiContext, who: Principal) -> Response:
    """``GET /api/v1/auth/role``: the role of the key sent (401 for an unknown one)."""
    header = request.headers.get("authorization")
    limit = ctx.max_import_bytes
    if ctx.keys is None:
        info = RoleInfo(role="admin", keys_required=False, max_import_bytes=limit)
    elif not header:
        info = RoleInfo(role="anonymous", keys_required=True, max_import_bytes=limit)
    else:
        role = authenticate(ctx.keys, header, "read").role
        info = RoleInfo(role=role, keys_required=True, max_import_bytes=limit)
    return Response(
        _JSON.encode(info), media_type="application/json", headers={"Cache-Control": "no-store"}
    )


__all__ = ["CSP", "PAGE_HEADERS", "STATIC_DIR", "asset", "auth_role", "page", "static_asset"]
