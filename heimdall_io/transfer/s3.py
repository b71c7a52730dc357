"""``s3://BUCKET/KEY`` bundle URLs: ranged, resumable reads and multipart writes.

The endpoint is ``?endpoint=http(s)://HOST:PORT`` in the URL, else the one of the object
store (``HEIMDALL_STORAGE_URL=s3://...?endpoint=...``), else AWS; ``?region=`` names a
region. Credentials are the store's (``HEIMDALL_S3_ACCESS_KEY``/``SECRET_KEY``, else
``AWS_ACCESS_KEY_ID``/``SECRET_ACCESS_KEY``, else anonymous). Reads are ranged GETs
through :class:`S3Source`; writes go through the store adapter's streaming multipart
upload, aborted if anything fails (:func:`s3_output`), so an object appears only whole.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from heimdall_io.errors import ConfigError, FileAccessError, NotFoundError, RemoteError

from .http import ResponseBody
from .ranged import Opened, TransientError

__all__ = ["S3Location", "S3Source", "parse_s3_url", "s3_output"]

AWS_ENDPOINT = "https://s3.amazonaws.com"
_MISSING = frozenset({"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound", "NoSuchBucket"})


@dataclass(frozen=True)
class S3Location:
    """Where an ``s3://`` bundle URL points."""

    bucket: str
    key: str
    endpoint_url: str  # http(s)://HOST:PORT
    region: str | None = None

    @property
    def what(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def _store_endpoint() -> str | None:
    url = os.environ.get("HEIMDALL_STORAGE_URL", "")
    if not url.lower().startswith("s3:"):
        return None
    values = parse_qs(urlsplit(url).query).get("endpoint")
    return values[0] if values else None


def parse_s3_url(url: str) -> S3Location:
    """``s3://BUCKET/KEY[?endpoint=URL][&region=R]`` (ConfigError if malformed).

    >>> parse_s3_url("s3://b/dir/m.heimdall?endpoint=http://127.0.0.1:9000").key
    'dir/m.heimdall'
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "s3" or "@" in parts.netloc:
        raise ConfigError(f"not an s3://BUCKET/KEY URL (credentials go in the environment): {url}")
    bucket, key = unquote(parts.netloc), unquote(parts.path.lstrip("/"))
    if not bucket or not key or key.endswith("/"):
        raise ConfigError(f"an s3:// bundle URL needs a bucket and a key: {url}")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"endpoint", "region"})
    if unknown:
        raise ConfigError(f"unknown s3:// URL parameter {unknown[0]!r}: use endpoint= and region=")
    endpoint = next(iter(query.get("endpoint") or []), "") or _store_endpoint() or AWS_ENDPOINT
    e = urlsplit(endpoint)
    if e.scheme not in ("http", "https") or not e.netloc or e.path not in ("", "/"):
        raise ConfigError(f"S3 endpoint must be http(s)://HOST:PORT: {endpoint}")
    region = next(iter(query.get("region") or []), "") or None
    return S3Location(bucket, key, f"{e.scheme}://{e.netloc}", region)


def _client(loc: S3Location) -> Any:
    import urllib3
    from minio import Minio

    from heimdall_io.storage.config import s3_credentials

    access, secret = s3_credentials()
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=10, read=60),
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[502, 503, 504]),
    )
    e = urlsplit(loc.endpoint_url)
    return Minio(e.netloc, access_key=access, secret_key=secret, secure=e.scheme == "https",
                 region=loc.region, http_client=http)  # fmt: skip


class S3Source:
    """An S3 object as a :class:`~heimdall_io.transfer.ranged.RangeSource` (ranged GETs)."""

    def __init__(self, loc: S3Location) -> None:
        self.loc = loc
        self.what = loc.what
        self._client = _client(loc)

    def open(self, start: int, stop: int | None, etag: str | None) -> Opened:
        import urllib3
        from minio.error import MinioException, S3Error

        length = 0 if stop is None else max(stop - start, 1)
        try:
            response = self._client.get_object(self.loc.bucket, self.loc.key, offset=start,
                                               length=length)  # fmt: skip
        except S3Error as exc:
            if exc.code in _MISSING:
                raise NotFoundError(f"Bundle not found: {self.what}") from None
            raise RemoteError(f"{self.what}: {exc.code}: {exc.message}") from None
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransientError(str(exc).splitlines()[0] if str(exc) else "S3 error") from None
        h = response.headers
        size: int | None = None
        first = start
        content_range = h.get("Content-Range")
        if content_range:  # bytes a-b/total
            span, _, total = content_range.partition("/")
            first = int(span.split()[-1].split("-")[0])
            size = int(total) if total.isdigit() else None
        elif h.get("Content-Length", "").isdigit():
            first, size = 0, int(h["Content-Length"])
        return Opened(
            ResponseBody(response), first, size, h.get("ETag"), True, whole=not content_range
        )


class _Upload:
    """A writable file whose bytes a thread streams into ``store.put`` (multipart)."""

    def __init__(self, store: Any, key: str) -> None:
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=8)
        self._rest = b""
        self._eof = False
        self.error: BaseException | None = None
        self.bytes_written = 0
        self._thread = threading.Thread(target=self._run, args=(store, key), daemon=True,
                                        name="heimdall-s3-upload")  # fmt: skip
        self._thread.start()

    def _run(self, store: Any, key: str) -> None:
        try:
            store.put(key, self)
        except BaseException as exc:
            self.error = exc

    def read(self, n: int = -1) -> bytes:  # the uploading thread's side
        if not self._rest:
            if self._eof:
                return b""
            item = self._queue.get()
            if item is None:
                self._eof = True
                return b""
            if isinstance(item, BaseException):
                raise item
            self._rest = item
        out, self._rest = (self._rest, b"") if n < 0 or n >= len(self._rest) else (
            self._rest[:n], self._rest[n:])  # fmt: skip
        return out

    def _put(self, item: bytes | BaseException | None) -> None:
        while True:
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    raise self.error or RemoteError("S3 upload stopped") from None

    def write(self, data: Any) -> int:
        if self.error is not None:
            raise self.error
        chunk = bytes(data)
        if chunk:
            self._put(chunk)
            self.bytes_written += len(chunk)
        return len(chunk)

    def flush(self) -> None:
        pass

    def finish(self, failure: BaseException | None) -> None:
        """End the upload: complete it (``failure`` None) or abort it."""
        try:
            self._put(failure)
        except BaseException:
            if failure is None:
                raise
        self._thread.join()
        if failure is None and self.error is not None:
            raise self.error


@contextlib.contextmanager
def s3_output(url: str, *, force: bool = False) -> Iterator[Any]:
    """A writable file that becomes the object at ``url`` only if the block succeeds."""
    from heimdall_io.storage.config import s3_credentials
    from heimdall_io.storage.s3 import S3ObjectStore

    loc = parse_s3_url(url)
    access, secret = s3_credentials()
    e = urlsplit(loc.endpoint_url)
    store = S3ObjectStore(loc.bucket, e.netloc, access, secret, e.scheme == "https", loc.region)
    try:
        if store.exists(loc.key):
            if not force:
                raise FileAccessError(f"Object exists: {loc.what}. Pass --force to overwrite it")
            store.delete(loc.key)
        upload = _Upload(store, loc.key)
        try:
            yield upload
        except BaseException as exc:
            upload.finish(exc)  # the upload is aborted; the caller's error goes on
            raise
        upload.finish(None)
    finally:
        store.close()
