"""The one mapping of library errors to status codes and details."""

from __future__ import annotations

import pytest

from heimdall_io import errors as e
from heimdall_io.api.errors import ApiError, map_error, operation


@pytest.mark.parametrize(
    ("exc", "op", "status", "detail"),
    [
        (e.MalformedBundleError("bad"), "import", 400, "Invalid bundle format: bad"),
        (e.ChecksumMismatchError("md5"), "import", 400, "Invalid bundle format: md5"),
        (e.InvalidModelError("onnx"), "import", 400, "Invalid bundle format: onnx"),
        (e.DecompressionBombError("boom"), "import", 400, "Invalid bundle format: boom"),
        (e.PayloadTooLargeError("big"), "import", 413, "Bundle too large: big"),
        (e.NotFoundError("Model x not found"), "lookup", 404, "Model not found"),
        (e.NotFoundError("Model x not found"), "delete", 404, "Model not found"),
        (e.NotFoundError("object not found: k"), "export", 500,
         "Failed to download ONNX model: object not found: k"),
        (e.ObjectStoreError("down"), "import", 500, "Failed to upload ONNX to object store: down"),
        (e.RegistryError("down"), "import", 500, "Failed to register model: down"),
        (e.ObjectStoreError("down"), "export", 500, "Failed to download ONNX model: down"),
        (e.RegistryError("down"), "lookup", 500, "Database error: down"),
        (e.RegistryError("down"), "list", 500, "Database error: down"),
        (e.ConfigError("bad url"), "health", 500, "health failed: bad url"),
        (e.RegistryError("line one\nline two"), "audit", 500, "Database error: line one"),
    ],
)  # fmt: skip
def test_map_error(exc: e.HeimdallError, op: str, status: int, detail: str) -> None:
    err = map_error(exc, op)  # type: ignore[arg-type]
    assert (err.status, err.detail) == (status, detail)


def test_operation_converts_only_library_errors() -> None:
    with pytest.raises(ApiError) as err, operation("import"):
        raise e.TruncatedBundleError("cut")
    assert err.value.status == 400
    assert isinstance(err.value.__cause__, e.TruncatedBundleError)
    with pytest.raises(KeyError), operation("import"):
        raise KeyError("not ours")
