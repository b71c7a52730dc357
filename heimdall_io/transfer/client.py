"""A client of a remote ``heimdall serve``: list, show, export (resumable), import (streamed).

Every export it opens is pinned (``?bundle_id=`` a fresh UUID), so the server answers with
``Content-Length``, a strong ETag and byte ranges, and a download cut anywhere resumes
where it stopped (:class:`~heimdall_io.transfer.ranged.RangedReader`); the bundle reader
that consumes it verifies the whole payload at the end. An import streams its body from
any iterable of chunks (with ``Content-Length`` when the size is known in advance, else
chunked) and is all or nothing on the server: a broken connection registers nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlencode

from heimdall_io.errors import HeimdallError, NotFoundError, RemoteError
from heimdall_io.service import ExportOptions

from .http import HttpSession, HttpSource, detail_of
from .ranged import RangedReader, TransientError
from .remotes import Remote

__all__ = ["MODELS", "RemoteClient", "export_query"]

MODELS = "/api/v1/training/models"
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')
_AUTH_HINT = (
    " (give the remote's key: --api-key, HEIMDALL_API_KEY or `heimdall remote add --key-file`)"
)


def export_query(options: ExportOptions, bundle_id: str | None = None) -> dict[str, str]:
    """The export endpoint's query for ``options``.

    >>> export_query(ExportOptions(include_samples=False))["include_samples"]
    'false'
    """
    query = {
        "include_config": str(options.include_config).lower(),
        "include_metrics": str(options.include_metrics).lower(),
        "include_normalization": str(options.include_normalization).lower(),
        "include_samples": str(options.include_samples).lower(),
        "num_samples": str(options.num_samples),
        "compression": options.compression,
    }
    if options.compression != "none":
        query["level"] = str(options.level)
    if options.description is not None:
        query["description"] = options.description
    if bundle_id is not None:
        query["bundle_id"] = bundle_id
    return query


class RemoteClient:
    """The HTTP API of one remote instance (see :mod:`heimdall_io.api`)."""

    def __init__(self, remote: Remote, session: HttpSession | None = None) -> None:
        self.remote = remote
        self.session = session or HttpSession()

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        key = self.remote.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def url(self, path: str, query: dict[str, str] | None = None) -> str:
        return self.remote.url + path + (f"?{urlencode(query)}" if query else "")

    def error(self, status: int, detail: str, what: str) -> HeimdallError:
        """The error for an HTTP error answer of the remote."""
        where = f"remote {self.remote.name}"
        if status == 404 and detail == "Model not found":
            return NotFoundError(f"Model {what} not found on {where}")
        hint = _AUTH_HINT if status == 401 else ""
        return RemoteError(f"{where}: HTTP {status}: {detail or 'error'}{hint}")

    def _json(self, path: str, what: str) -> Any:
        return self._page(path, what)[0]

    def _page(self, path: str, what: str) -> tuple[Any, str | None]:
        """The JSON answer to ``GET path``, and the path of the next page (a ``Link``
        header with rel="next"), if any."""
        response = self._request("GET", self.url(path))
        try:
            if response.status >= 400:
                raise self.error(response.status, detail_of(response), what)
            following = _LINK_NEXT.search(response.headers.get("Link") or "")
            return json.loads(response.read()), following[1] if following else None
        except ValueError:
            raise RemoteError(f"remote {self.remote.name}: not a JSON answer from {path}") from None
        finally:
            response.release_conn()

    def _request(self, method: str, url: str, **kw: Any) -> Any:
        try:
            return self.session.request(method, url, headers=self.headers, **kw)
        except TransientError as exc:
            raise RemoteError(f"remote {self.remote.name} ({self.remote.url}): {exc}") from None

    # -- the API --------------------------------------------------------------------------

    def list_models(self, page_size: int = 1000) -> list[dict[str, Any]]:
        """Every model, newest first, page after page (the list is paged by ``Link``)."""
        models: list[dict[str, Any]] = []
        path: str | None = f"{MODELS}?limit={page_size}"
        for _ in range(10_000):  # bounded: a server cannot make this loop forever
            if path is None:
                break
            page, path = self._page(path, "list")
            if not isinstance(page, list):
                raise RemoteError(f"remote {self.remote.name}: the model list is not an array")
            models.extend(page)
            if path is not None and not path.startswith(MODELS):
                raise RemoteError(f"remote {self.remote.name}: a next page elsewhere: {path}")
        return models

    def get_model(self, model_id: str) -> dict[str, Any]:
        model = self._json(f"{MODELS}/{quote(model_id, safe='')}", model_id)
        if not isinstance(model, dict):
            raise RemoteError(f"remote {self.remote.name}: the model is not a JSON object")
        return model

    def records(self, model_id: str | None = None) -> list[Any]:
        """Every model (or the one ``model_id``) as :class:`ModelRecord`s, as list/show
        print them."""
        import msgspec

        from heimdall_io.storage.base import ModelRecord

        raw = self.list_models() if model_id is None else [self.get_model(model_id)]
        try:
            return [msgspec.convert(m, ModelRecord, strict=False) for m in raw]
        except msgspec.ValidationError as exc:
            raise RemoteError(f"remote {self.remote.name}: unexpected model: {exc}") from None

    def open_export(self, model_id: str, options: ExportOptions) -> RangedReader:
        """The model's bundle as a resumable stream; ``options.bundle_id`` or a new one
        is pinned, so every request gets the same bytes."""
        bundle_id = options.bundle_id or str(uuid.uuid4())
        path = f"{MODELS}/{quote(model_id, safe='')}/export"
        source = HttpSource(
            self.session, self.url(path, export_query(options, bundle_id)), self.headers,
            what=f"remote {self.remote.name}: export of {model_id}",
            error=lambda status, detail, what: self.error(status, detail, model_id),
        )  # fmt: skip
        return RangedReader(source)

    def import_bundle(
        self,
        body: Iterable[bytes],
        length: int | None = None,
        *,
        validate: bool = True,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """POST the bundle whose bytes ``body`` yields; the new model's fields (201)."""
        url = self.url(f"{MODELS}/import", None if validate else {"validate": "false"})
        headers = {**self.headers, "Content-Type": content_type}
        try:
            response = self.session.request("POST", url, headers=headers, body=body,
                                            length=length)  # fmt: skip
        except TransientError as exc:
            raise RemoteError(
                f"remote {self.remote.name}: upload failed ({exc}); nothing was imported there"
            ) from None
        try:
            if response.status != 201:
                raise self.error(response.status, detail_of(response), "import")
            created: dict[str, Any] = json.loads(response.read())
            return created
        except ValueError:
            raise RemoteError(
                f"remote {self.remote.name}: not a JSON answer to the import"
            ) from None
        finally:
            response.release_conn()
