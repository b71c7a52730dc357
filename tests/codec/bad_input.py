"""Helpers of the bad-input tests: a small valid bundle, and reading one expecting failure.

Every error must be a HeimdallError with a one-line message, raised the same way whatever
the reads look like (whole, or a few bytes at a time through a pipe).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from typing import Any

from heimdall_io import Limits, read_bundle, write_bundle
from heimdall_io.errors import HeimdallError

from .streams import ShortReads

PAYLOAD = bytes(range(256)) * 4 + b"\xff\xfe"  # 1026 bytes: base64 ends in '='
B64 = base64.b64encode(PAYLOAD).decode()
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


def document(**model_extra: Any) -> dict[str, Any]:
    return {
        "format_version": "1.1.0",
        "bundle_metadata": {"bundle_id": "b-1", "created_at": "2025-01-01T00:00:00Z"},
        "training_config": {"epochs": 3, "optimizer": "Adam"},
        "model": {"model_name": "m", "version": 1, "onnx_model_base64": B64, **model_extra},
    }


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def good_bundle(compression: str = "none") -> bytes:
    header = document()
    del header["model"]["onnx_model_base64"]
    out = io.BytesIO()
    write_bundle(out, header, io.BytesIO(PAYLOAD), compression=compression)
    return out.getvalue()


def read_error(data: bytes | io.RawIOBase, limits: Limits | None = None) -> HeimdallError:
    """Read to the end; return the HeimdallError raised (fail on success or other errors)."""
    src = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        read_bundle(src, io.BytesIO(), limits=limits)  # type: ignore[arg-type]
    except HeimdallError as e:
        assert "\n" not in str(e) and "\r" not in str(e), repr(str(e))
        assert str(e).strip()
        return e
    raise AssertionError("a bad bundle was read successfully")


def assert_error(
    data: bytes, exc: type[HeimdallError], match: str | None = None, **kw: Any
) -> None:
    e = read_error(data, **kw)
    assert isinstance(e, exc), f"{type(e).__name__}: {e}"
    if match is not None:
        assert match in str(e), str(e)
    # The same through a pipe returning 3 bytes per read.
    e2 = read_error(ShortReads(data, 3, fixed=True), **kw)
    assert type(e2) is type(e), f"{type(e2).__name__}: {e2}"
