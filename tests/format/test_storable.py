"""format.storable: the rules of what a registry can store, named by field (issue 8, item 6).
The databases themselves are exercised in tests/test_service_storable.py."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from heimdall_io.errors import SchemaError
from heimdall_io.format.storable import check_storable, storable_text

DOC: dict[str, Any] = {
    "format_version": "1.1.0",
    "bundle_metadata": {"bundle_id": "b", "created_at": "t"},
    "training_config": {"epochs": 3},
    "sample_predictions": [{"sample_id": 1}, {"sample_id": "s2"}],
    "model": {"model_name": "Net", "version": 1, "input_shape": ["batch", 16]},
}


def with_value(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DOC)
    *parents, last = path.split(".")
    target: Any = doc
    for p in parents:
        target = target[int(p)] if isinstance(target, list) else target.setdefault(p, {})
    target[last] = value
    return doc


def error(doc: dict[str, Any], **kw: Any) -> str:
    with pytest.raises(SchemaError) as caught:
        check_storable(doc, **kw)
    message = str(caught.value)
    assert message.isprintable() and message.isascii(), message
    return message


def test_a_plain_document_passes() -> None:
    check_storable(DOC)
    # Text that merely looks like an escape is text.
    check_storable(with_value("x.note", "\\u0000 \\ud800"))


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("x.a b", "\ud800", "x['a b']: a lone surrogate (\\ud800)"),
        ("x.list", [1, {"k": "a\x00"}], "x.list[1].k: a NUL character"),
        ("sample_predictions.1.sample_id", 1 << 63, "sample_predictions[1].sample_id"),
        ("performance_metrics.best_epoch", -(1 << 63) - 1, "performance_metrics.best_epoch"),
        ("x.f", float("inf"), "x.f: a number too large"),
        ("model.output_shape", [1, 1 << 31], "model.output_shape[1]: 2147483648"),
        ("model.version", "--5", "model.version: '--5' looks like a number"),
    ],
)
def test_problems_name_their_field(path: str, value: Any, named: str) -> None:
    assert named in error(with_value(path, value))


def test_keys_are_checked_and_never_quoted_raw() -> None:
    message = error(with_value("x", {"ok": {"bad\x00\x1b": 1}}))
    assert message == "invalid bundle: a key in x.ok: a NUL character (\\u0000) cannot be stored"
    assert "a key in the top-level object" in error({**DOC, "\udcff": 1})


def test_huge_integers_are_summarised() -> None:
    message = error(with_value("model.parameters_count", 10**100))
    assert "a 101-digit integer is outside the 64-bit integer range" in message


def test_name_suffix() -> None:
    name = with_value("model.model_name", "n" * 250)
    assert "250 characters" in error(name)
    check_storable(name, name_suffix="")  # registered under its own name: 255 at most
    assert "256 characters" in error(with_value("model.model_name", "n" * 256), name_suffix="")


def test_storable_text() -> None:
    assert storable_text("ok é ✓") == "ok é ✓"
    assert storable_text("a\x00b\ud800") == "a\\x00b\\ud800"
