"""The one mapping of library errors to status codes and details (and what stays out of
them)."""

from __future__ import annotations

import re

import pytest

from heimdall_io import errors as e
from heimdall_io.api.bridge import UploadTimeoutError
from heimdall_io.api.errors import ApiError, Operation, map_error, operation
from heimdall_io.api.settings import RETRY_AFTER_SECONDS


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
    err = map_error(e.NotFoundError("object not found: k"), "export")
    assert err.status == 500
    assert re.fullmatch(r"Failed to download ONNX model \(ref [0-9a-f]{8}\)", err.detail)
    assert err.reason is not None and "object not found: k" in err.reason


# The seed's details name what failed, so they differ by operation; the reason (which may
# name the database server, the S3 endpoint or a path) goes only to the log, under a ref.
@pytest.mark.parametrize(
    ("exc", "op", "public"),
    [
        (e.ObjectStoreError("the reason"), "import", "Failed to upload ONNX to object store"),
        (e.ObjectStoreError("the reason"), "export", "Failed to download ONNX model"),
        (e.ObjectStoreError("the reason"), "delete", "Object store error"),
        (e.RegistryError("the reason"), "import", "Failed to register model"),
        (e.RegistryError("the reason"), "lookup", "Database error"),
        (e.RegistryError("the reason"), "list", "Database error"),
        (e.ConfigError("the reason"), "health", "health failed"),
    ],
)
def test_a_backend_failure_is_500_without_its_reason(
    exc: e.HeimdallError, op: Operation, public: str
) -> None:
    err = map_error(exc, op)
    assert err.status == 500
    match = re.fullmatch(re.escape(public) + r" \(ref ([0-9a-f]{8})\)", err.detail)
    assert match, err.detail
    assert "reason" not in err.detail
    assert err.reason == f"[ref {match.group(1)}] the reason"


LEAKY = "database unavailable: postgresql://heimdall@db.internal:5432/models: connection refused"


@pytest.mark.parametrize("op", ["lookup", "list", "audit", "export", "import", "delete"])
def test_a_registry_that_does_not_answer_is_503_with_retry_after(op: Operation) -> None:
    err = map_error(e.RegistryUnavailableError(LEAKY), op)
    assert err.status == 503
    assert err.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert err.detail.startswith("Database unavailable, try again later (ref ")
    for secret in ("postgresql", "heimdall@", "db.internal", "5432", "models"):
        assert secret not in err.detail


def test_a_stalled_upload_is_408_and_closes() -> None:
    err = map_error(UploadTimeoutError("nothing for 1 s"), "import")
    assert (err.status, err.detail) == (408, "Request body timeout: nothing for 1 s")
    assert err.headers == {"Connection": "close"}


def test_a_detail_is_one_line() -> None:
    exc = e.MalformedBundleError("line one\nline two")
    assert mapped(exc, "import") == (400, "Invalid bundle format: line one")


def test_operation_logs_the_reason_of_a_5xx(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level("ERROR", "heimdall_io.api"),
        pytest.raises(ApiError) as err,
        operation("list"),
    ):
        raise e.RegistryError(LEAKY)
    ref = err.value.detail.rsplit("ref ", 1)[1].rstrip(")")
    assert f"[ref {ref}]" in caplog.text and "db.internal" in caplog.text


def test_operation_converts_only_library_errors() -> None:
    with pytest.raises(ApiError) as err, operation("import"):
        raise e.TruncatedBundleError("cut")
    assert err.value.status == 400
    assert isinstance(err.value.__cause__, e.TruncatedBundleError)
    with pytest.raises(KeyError), operation("import"):
        raise KeyError("not ours")
