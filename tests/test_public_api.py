"""The package root: every public name resolves, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import heimdall_io
from heimdall_io import errors


def test_every_public_name_resolves() -> None:
    for name in heimdall_io.__all__:
        assert getattr(heimdall_io, name) is not None, name


def test_every_error_class_is_public() -> None:
    classes = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.HeimdallError)
    }
    assert classes <= set(heimdall_io.__all__)


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        heimdall_io.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_import_loads_no_service_layer() -> None:
    # The CLI imports heimdall_io for each command: the service layer, database drivers,
    # signing keys (PyNaCl) and onnx load only when a command needs them.
    code = (
        "import sys, heimdall_io; "
        "heavy = [m for m in ('heimdall_io.service', 'heimdall_io.storage', 'nacl', 'onnx', "
        "'psycopg', 'minio') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_functions_and_classes_show_an_example() -> None:
    import inspect

    # BundleHeader and BundleDocument are excluded: their docstrings are the JSON Schema's
    # descriptions (spec/bundle.schema.json), where code examples do not belong.
    missing = []
    for name in heimdall_io.__all__:
        value = getattr(heimdall_io, name)
        is_type = inspect.isclass(value) and not issubclass(value, BaseException)
        if name in ("BundleHeader", "BundleDocument") or not (is_type or inspect.isfunction(value)):
            continue
        doc = inspect.getdoc(value) or ""
        if not any(mark in doc for mark in ("Example", ">>>")):
            missing.append(name)
    assert missing == []
