"""Download links: a URL that exports a model without an ``Authorization`` header.

A browser saves a large file by *navigating* to it: the body streams to disk and the
browser shows the progress. A navigation cannot send ``Authorization: Bearer <key>``, and
putting the key itself in the URL would write a long-lived secret into access logs and
the browser history. So, when API keys are configured, the page first asks::

    POST /api/v1/training/models/{id}/download-link?<export options>     (role read)
    -> {"url": "/api/v1/training/models/{id}/download?<options>&token=v1.…", ...}

and navigates to that URL, which streams exactly what ``GET .../export?<options>`` would.

The token is ``v1.<expires>.<actor>.<mac>``: ``expires`` is a Unix time
:data:`LINK_TTL_SECONDS` ahead, ``actor`` the audit name of the key that asked
(``api:`` + 12 hex of its SHA-256), and ``mac`` the base64url HMAC-SHA256, under a secret
derived from that key (:meth:`~heimdall_io.api.auth.ApiKeys.derived_secret`), of the model
id, the expiry and the canonical query (every parameter but ``token``, sorted). So a
token:

* is good for one model with one set of options, for a minute, then never again;
* is stateless: every replica with the same keys accepts it, and removing the key from
  the configuration voids its tokens at once;
* exports under the key's name in the audit history, with the key's role;
* may appear in a log, which then holds a URL that expired a minute later, never a key.

Within its minute a token can be used more than once (a browser may retry a download).
Without keys configured the API is open and ``.../download`` needs no token.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import re
import time
from urllib.parse import urlencode

import anyio.to_thread
import msgspec
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from .auth import ApiKeys, Principal
from .errors import ApiError, operation
from .handlers import ApiContext, export_model
from .openapi_web import DownloadLink
from .query import export_options, path_model_id

#: How long a download link works.
LINK_TTL_SECONDS = 60
#: What the HMAC secret is derived for: never the same secret as anything else.
PURPOSE = b"heimdall-io download link v1"
TOKEN_PARAM = "token"
_TOKEN = re.compile(r"v1\.(\d{1,12})\.(api:[0-9a-f]{12})\.([A-Za-z0-9_-]{43})")
_JSON = msgspec.json.Encoder()


def canonical_query(query: QueryParams) -> str:
    """Every query parameter but the token, sorted, URL-encoded: what a token covers.

    >>> canonical_query(QueryParams("num_samples=2&token=x&compression=zstd"))
    'compression=zstd&num_samples=2'
    """
    return urlencode(sorted((k, v) for k, v in query.multi_items() if k != TOKEN_PARAM))


def _mac(secret: bytes, model_id: str, expires: int, query: str) -> str:
    message = f"{model_id}\n{expires}\n{query}".encode()
    digest = hmac.new(secret, message, "sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_token(
    keys: ApiKeys, who: Principal, model_id: str, query: str, now: float | None = None
) -> tuple[str, int]:
    """A token for ``who`` to export ``model_id`` with ``query``, and its expiry time."""
    found = keys.derived_secret(who.actor, PURPOSE)
    if found is None:  # the caller authenticated with a key of this name: cannot happen
        raise ApiError(401, "Invalid API key")
    expires = int(now if now is not None else time.time()) + LINK_TTL_SECONDS
    return f"v1.{expires}.{who.actor}.{_mac(found[1], model_id, expires, query)}", expires


def check_token(
    keys: ApiKeys, token: str | None, model_id: str, query: str, now: float | None = None
) -> Principal:
    """The principal a valid ``token`` for ``model_id`` and ``query`` was made for, or
    ApiError 401 (missing, malformed, expired, or made for something else)."""
    if not token:
        raise ApiError(401, "Missing download token: ask the page for a new download link")
    match = _TOKEN.fullmatch(token)
    found = keys.derived_secret(match.group(2), PURPOSE) if match else None
    if match is None or found is None:
        raise ApiError(401, "Invalid download link: ask for a new one")
    expires = int(match.group(1))
    current = now if now is not None else time.time()
    if not hmac.compare_digest(_mac(found[1], model_id, expires, query), match.group(3)):
        raise ApiError(401, "Invalid download link: ask for a new one")
    if current > expires or expires > current + LINK_TTL_SECONDS + 5:
        raise ApiError(401, "Download link expired: ask for a new one")
    return found[0]


def _iso(timestamp: int) -> str:
    when = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
    return when.isoformat().replace("+00:00", "Z")


async def download_link(request: Request, ctx: ApiContext, who: Principal) -> Response:
    """``POST /api/v1/training/models/{model_id}/download-link?<options>`` (role read)."""
    model_id = path_model_id(request)
    export_options(request.query_params)  # a bad option is 422 now, not after navigating
    service = ctx.service(who.actor)
    with operation("lookup"):
        await anyio.to_thread.run_sync(service.get_model, model_id)
    query = canonical_query(request.query_params)
    params = query
    if ctx.keys is None:
        expires = int(time.time()) + LINK_TTL_SECONDS
    else:
        token, expires = make_token(ctx.keys, who, model_id, query)
        params = f"{query}&{TOKEN_PARAM}={token}" if query else f"{TOKEN_PARAM}={token}"
    url = f"/api/v1/training/models/{model_id}/download" + (f"?{params}" if params else "")
    body = DownloadLink(url=url, expires_in=LINK_TTL_SECONDS, expires_at=_iso(expires))
    return Response(
        _JSON.encode(body), media_type="application/json", headers={"Cache-Control": "no-store"}
    )


async def download(request: Request, ctx: ApiContext, who: Principal) -> Response:
    """``GET /api/v1/training/models/{model_id}/download?<options>&token=``: the export."""
    model_id = path_model_id(request)
    if ctx.keys is not None:
        token = request.query_params.get(TOKEN_PARAM)
        who = check_token(ctx.keys, token, model_id, canonical_query(request.query_params))
    return await export_model(request, ctx, who)


__all__ = [
    "LINK_TTL_SECONDS",
    "canonical_query",
    "check_token",
    "download",
    "download_link",
    "make_token",
]
