"""The one mapping of library errors to status codes and details."""

from __future__ import annotations

import pytest

from heimdall_io import errors as e
from heimdall_io.api.errors import ApiError, Operation, map_error, operation


def mapped(exc: e.HeimdallError, op: Operation) -> tuple[int, str]:
    err = map_error(exc, op)
    return err.status, err.detail


@pytest.mark.parametrize(
    "error",
    [e.MalformedBundleError, e.ChecksumMismatchError, e.InvalidModelError,
     e.DecompressionBombError],
)  # fmt: skip
def test_a_bad_bundle_is_400(error: type[e.HeimdallError]) -> None:
    assert mapped(error("why"), "import") == (400, "Invalid bundle format: why")


def test_a_bundle_over_the_limit_is_413() -> None:
    assert mapped(e.PayloadTooLargeError("big"), "import") == (413, "Bundle too large: big")


@pytest.mark.parametrize("op", ["lookup", "delete"])
def test_a_missing_model_is_404(op: Operation) -> None:
    assert mapped(e.NotFoundError("Model x not found"), op) == (404, "Model not found")


def test_a_registered_model_without_its_object_is_500_on_export() -> None:
    exc = e.NotFoundError("object not found: k")
    assert mapped(exc, "export") == (500, "Failed to download ONNX model: object not found: k")


# The seed's details name what failed, so they differ by operation.
@pytest.mark.parametrize(
    ("exc", "op", "detail"),
    [
        (e.ObjectStoreError("down"), "import", "Failed to upload ONNX to object store: down"),
        (e.ObjectStoreError("down"), "export", "Failed to download ONNX model: down"),
        (e.RegistryError("down"), "import", "Failed to register model: down"),
        (e.RegistryError("down"), "lookup", "Database error: down"),
        (e.RegistryError("down"), "list", "Database error: down"),
        (e.ConfigError("bad url"), "health", "health failed: bad url"),
    ],
)
def test_a_backend_failure_is_500(exc: e.HeimdallError, op: Operation, detail: str) -> None:
    assert mapped(exc, op) == (500, detail)


def test_a_detail_is_one_line() -> None:
    exc = e.RegistryError("line one\nline two")
    assert mapped(exc, "audit") == (500, "Database error: line one")


def test_operation_converts_only_library_errors() -> None:
    with pytest.raises(ApiError) as err, operation("import"):
        raise e.TruncatedBundleError("cut")
    assert err.value.status == 400
    assert isinstance(err.value.__cause__, e.TruncatedBundleError)
    with pytest.raises(KeyError), operation("import"):
        raise KeyError("not ours")
