"""The S3 object store (``minio`` client): SeaweedFS, MinIO, AWS S3, ...

Puts are streamed as multipart uploads in parts of :data:`PART_SIZE` bytes, a few uploading
while the next is read (:mod:`heimdall_io.storage.s3_upload`), so memory stays flat
whatever the object size; if the source stream fails, the multipart upload is aborted and
the source's exception reaches the caller unchanged. Reads stream the HTTP response.
Timeouts and retries are short, so that a store that is down fails within seconds, and
every client error becomes a one-line :class:`ObjectStoreError`.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import io
import os
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

import certifi
import urllib3
from minio import Minio
from minio.datatypes import Upload
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import check_bucket_name
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
    SSLError,
)

from heimdall_io.errors import ConfigError, NotFoundError, ObjectStoreError
from heimdall_io.storage.base import (
    Closable,
    IncompleteUpload,
    ObjectInfo,
    purge_incomplete_uploads,
    utcnow,
)
from heimdall_io.storage.keys import check_key, check_prefix
from heimdall_io.storage.s3_upload import PARALLEL_PARTS, PartSource, upload

__all__ = ["PART_SIZE", "S3ObjectStore", "abort_incomplete_upload", "list_incomplete_uploads"]

#: Size of each multipart upload part: S3's minimum (objects up to 48.8 GiB). An upload
#: holds ``parallel_parts + 1`` part buffers (:mod:`heimdall_io.storage.s3_upload`).
PART_SIZE = 5 * 1024 * 1024
_MISSING_KEY = frozenset({"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"})
_MISSING_BUCKET = frozenset({"NoSuchBucket"})
_BUCKET_EXISTS = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})


class _ResponseReader(io.RawIOBase):
    """An object's HTTP response body as a raw binary stream; close releases the connection."""

    def __init__(self, response: Any, store: S3ObjectStore, key: str) -> None:
        self._response = response
        self._store = store
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        view = memoryview(buffer).cast("B")
        try:
            data = self._response.read(len(view))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _client_error(self._store, f"cannot read {self._key}", exc) from exc
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                self._response.close()
                self._response.release_conn()
        super().close()


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if isinstance(current, MaxRetryError) and current.reason is not None:
            current = current.reason
        else:
            current = current.__cause__ or current.__context__


def _reason(exc: BaseException) -> tuple[bool, str]:
    """(is the store unreachable?, a short reason) for a client exception."""
    for item in _chain(exc):
        if isinstance(item, ConnectionRefusedError) or (
            isinstance(item, NewConnectionError) and "refused" in str(item).lower()
        ):
            return True, "connection refused"
        if isinstance(item, NameResolutionError):
            return True, "unknown host"
        if isinstance(item, SSLError):
            return True, f"TLS error: {str(item).splitlines()[0]}"
        if isinstance(item, NewConnectionError):
            return True, "cannot connect"
        if isinstance(item, ConnectTimeoutError):
            return True, "connection timed out"
        if isinstance(item, ReadTimeoutError | TimeoutError):
            return True, "timed out"
        if isinstance(item, ProtocolError | ConnectionError):
            return True, "connection lost"
        if isinstance(item, ResponseError):
            return True, "server error (too many retries)"
        if isinstance(item, S3Error):
            return False, f"{item.code}: {item.message}" if item.message else str(item.code)
        if isinstance(item, ServerError):
            return True, f"server error: HTTP {item.status_code}"
        if isinstance(item, InvalidResponseError):
            return False, "invalid response from the server"
    first = str(exc).strip().splitlines()
    return False, first[0] if first else type(exc).__name__


def _client_error(store: S3ObjectStore, what: str, exc: BaseException) -> ObjectStoreError:
    """``exc`` of the client as a one-line error: "unavailable" (naming only the endpoint)
    when the server could not be reached, else what failed on which store, and why."""
    unavailable, reason = _reason(exc)
    if unavailable:
        return ObjectStoreError(f"object store unavailable: {store.endpoint_url}: {reason}")
    return ObjectStoreError(f"object store error: {store.url}: {what}: {reason}")


def list_incomplete_uploads(client: Minio, bucket: str, prefix: str | None = None) -> list[Upload]:
    """The multipart uploads of ``bucket`` (under ``prefix``) begun and never completed.

    minio has no public API to list or abort incomplete multipart uploads, so this and
    :func:`abort_incomplete_upload` call its private methods (as does
    :mod:`heimdall_io.storage.s3_upload`): a minio release that changes them breaks there.
    """
    return list(client._list_multipart_uploads(bucket, prefix=prefix).uploads)


def abort_incomplete_upload(client: Minio, bucket: str, key: str, upload_id: str) -> None:
    """Abort one incomplete multipart upload (private minio API: see above)."""
    client._abort_multipart_upload(bucket, key, upload_id)


def _incomplete(uploads: list[Upload]) -> list[IncompleteUpload]:
    return [
        IncompleteUpload(key=u.object_name, started=u.initiated_time, token=u.upload_id)
        for u in uploads
        if u.upload_id and u.object_name and u.initiated_time is not None
    ]


def _check_settings(
    bucket: str, part_size: int, access_key: str | None, secret_key: str | None
) -> None:
    """ConfigError unless S3 would accept the bucket name and part size, and the keys pair."""
    try:
        check_bucket_name(bucket, strict=True)
    except ValueError:
        raise ConfigError(f"invalid S3 bucket name: {bucket!r}") from None
    if not 5 * 1024 * 1024 <= part_size <= 5 * 1024**3:
        raise ConfigError("S3 part size must be between 5 MiB and 5 GiB")
    if (access_key is None) != (secret_key is None):
        raise ConfigError("S3 access key and secret key must be given together")


def _http_pool(timeout: float, connect_timeout: float, retries: int) -> urllib3.PoolManager:
    """The client's connection pool: short waits and few retries, so that a store that is
    down fails within seconds; retries back off a little, and only on 5xx answers."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=timeout),
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(
            total=retries,
            backoff_factor=0.2,
            status_forcelist=[500, 502, 503, 504],
        ),
    )


class S3ObjectStore(Closable):
    """An :class:`~heimdall_io.storage.base.ObjectStore` in an S3 bucket.

    ``endpoint`` is ``host:port`` (or ``http(s)://host:port``, whose scheme then wins over
    ``secure``). The bucket is created on first use when missing. ``timeout`` bounds each
    wait for the server; ``retries`` is the number of retries of a failed request;
    ``parallel_parts`` the number of parts of a put uploading at once.
    """

    has_local_files = False

    def __init__(
        self,
        bucket: str,
        endpoint: str,
        access_key: str | None,
        secret_key: str | None,
        secure: bool,
        region: str | None = None,
        *,
        part_size: int = PART_SIZE,
        parallel_parts: int = PARALLEL_PARTS,
        timeout: float = 30.0,
        connect_timeout: float = 3.0,
        retries: int = 2,
    ) -> None:
        if "://" in endpoint:
            scheme, _, endpoint = endpoint.partition("://")
            secure = scheme.lower() == "https"
        endpoint = endpoint.rstrip("/")
        _check_settings(bucket, part_size, access_key, secret_key)
        self.bucket = bucket
        self.endpoint_url = f"{'https' if secure else 'http'}://{endpoint}"
        self.url = f"s3://{bucket}?endpoint={self.endpoint_url}" + (
            f"&region={region}" if region else ""
        )
        self.part_size = part_size
        self.parallel_parts = parallel_parts
        self._region = region
        self._http = _http_pool(timeout, connect_timeout, retries)
        try:
            self._client = Minio(
                endpoint,
                access_key=access_key,
                secret_key=secret_key,
                secure=secure,
                region=region,
                http_client=self._http,
            )
        except ValueError as exc:
            raise ConfigError(f"invalid S3 endpoint {self.endpoint_url}: {exc}") from None
        self._bucket_ready = False
        self._lock = threading.Lock()

    # -- bucket --------------------------------------------------------------------

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._lock:
            if self._bucket_ready:
                return
            try:
                if not self._client.bucket_exists(self.bucket):
                    try:
                        self._client.make_bucket(self.bucket, location=self._region)
                    except S3Error as exc:
                        if exc.code not in _BUCKET_EXISTS:
                            raise
            except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise _client_error(self, f"cannot create bucket {self.bucket}", exc) from exc
            self._bucket_ready = True

    # -- ObjectStore ---------------------------------------------------------------

    def put(self, key: str, data: BinaryIO, length: int | None = None) -> int:
        check_key(key)
        if self.exists(key):
            raise ObjectStoreError(f"object exists: {key}")
        source = PartSource(data, length)
        failure: BaseException | None = None
        try:
            upload(self._client, self.bucket, key, source, self.part_size, self.parallel_parts)
        except BaseException as exc:
            failure = exc
        if failure is None:
            return source.count
        if source.error is not None:
            raise source.error  # the caller's exception, unchanged (the upload was aborted)
        raise _client_error(self, f"cannot write {key}", failure) from failure

    def list_incomplete(self) -> builtins.list[IncompleteUpload]:
        """Multipart uploads initiated and neither completed nor aborted."""
        self._ensure_bucket()
        try:
            uploads = list_incomplete_uploads(self._client, self.bucket)
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _client_error(self, "cannot list incomplete uploads", exc) from exc
        return _incomplete(uploads)

    def abort_incomplete(self, upload: IncompleteUpload) -> None:
        """Abort the multipart upload (nothing happens if it completed meanwhile)."""
        if upload.key is None:
            raise ObjectStoreError(f"not an incomplete upload: {upload.token!r}")
        try:
            abort_incomplete_upload(self._client, self.bucket, upload.key, upload.token)
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            if isinstance(exc, S3Error) and exc.code in ("NoSuchUpload", *_MISSING_KEY):
                return  # completed or aborted meanwhile
            raise _client_error(self, f"cannot abort the upload of {upload.key}", exc) from exc

    def purge_incomplete(self, older_than: dt.datetime) -> int:
        """Abort multipart uploads started before ``older_than`` and never completed."""
        return purge_incomplete_uploads(self, older_than)

    def open(self, key: str) -> BinaryIO:
        check_key(key)
        try:
            response = self._client.get_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING_KEY or exc.code in _MISSING_BUCKET:
                raise NotFoundError(f"object not found: {key}") from None
            raise _client_error(self, f"cannot read {key}", exc) from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _client_error(self, f"cannot read {key}", exc) from exc
        return io.BufferedReader(_ResponseReader(response, self, key), 1024 * 1024)

    def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens if it does not exist."""
        check_key(key)
        try:
            self._client.remove_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING_KEY or exc.code in _MISSING_BUCKET:
                return
            raise _client_error(self, f"cannot delete {key}", exc) from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _client_error(self, f"cannot delete {key}", exc) from exc

    def local_path(self, key: str) -> str | None:
        """None: objects have no local file (callers download them)."""
        return None

    def exists(self, key: str) -> bool:
        check_key(key)
        self._ensure_bucket()
        try:
            self._client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING_KEY or exc.code in _MISSING_BUCKET:
                return False
            raise _client_error(self, f"cannot look up {key}", exc) from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _client_error(self, f"cannot look up {key}", exc) from exc
        return True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, in key order."""
        check_prefix(prefix)
        try:
            for obj in self._client.list_objects(
                self.bucket, prefix=prefix or None, recursive=True
            ):
                if obj.is_dir or obj.object_name is None:
                    continue
                yield ObjectInfo(
                    key=obj.object_name,
                    size=obj.size or 0,
                    last_modified=obj.last_modified or utcnow(),
                )
        except S3Error as exc:
            if exc.code in _MISSING_BUCKET:
                return
            raise _client_error(self, "cannot list", exc) from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _client_error(self, "cannot list", exc) from exc

    def ping(self) -> None:
        """Reach the server (and create the bucket if it is missing)."""
        self._bucket_ready = False
        self._ensure_bucket()

    def close(self) -> None:
        self._http.clear()

    def __repr__(self) -> str:
        return f"S3ObjectStore({self.url!r})"
