"""The canonical form: RFC 8785 byte for byte, and the signed view of a bundle document.

Vectors: RFC 8785 §3.2.2 and Appendix B, the JCS reference test data
(github.com/cyberphone/json-canonicalization, testdata/, Apache-2.0), and
data/es6_numbers.txt: 5428 doubles as node's JSON.stringify writes them
(data/numgen.js regenerates it).
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heimdall_io.codec.scanner import loads
from heimdall_io.errors import HeimdallError, SchemaError
from heimdall_io.signing.canonical import (
    MAX_SAFE_INTEGER,
    MESSAGE_PREFIX,
    as_written,
    canonical_bytes,
    es_number,
    jcs,
    provenance_digest,
    signed_view,
    signing_message,
    view_message,
)
from heimdall_io.signing.errors import CanonicalFormError

from .documents import PAYLOAD, digests_of, json_values, make_document

DATA = Path(__file__).parent / "data"


def canon(text: str) -> str:
    return jcs(json.loads(text)).decode("utf-8")


# -- RFC 8785 vectors ---------------------------------------------------------------------

JCS_VECTORS = {
    # RFC 8785 §3.2.2 (also testdata/input/values.json)
    "values": (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}',
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    ),
    "arrays": ('[56, {"d": true, "10": null, "1": [ ]}]', '[56,{"1":[],"10":null,"d":true}]'),
    "french": (
        '{"peach": "This sorting order", "péché": "is wrong according to French",'
        ' "pêche": "but canonicalization MUST", "sin": "ignore locale"}',
        '{"peach":"This sorting order","péché":"is wrong according to French",'
        '"pêche":"but canonicalization MUST","sin":"ignore locale"}',
    ),
    "structures": (
        '{"1": {"f": {"f": "hi","F": 5} ,"\\n": 56.0}, "10": { }, "": "empty", "a": { },'
        ' "111": [ {"e": "yes","E": "no" } ], "A": { }}',
        '{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{"E":"no","e":"yes"}],'
        '"A":{},"a":{}}',
    ),
    # No Unicode normalization: A + U+030A stays two characters.
    "unicode": ('{"Unnormalized Unicode":"A\\u030a"}', '{"Unnormalized Unicode":"A\u030a"}'),
    # RFC 8785 §3.2.3 (sorting by UTF-16 code units) + testdata/input/weird.json
    "weird": (
        '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\u000a": "Newline", "1": "One",'
        ' "\\u0080": "Control\\u007f", "\\ud83d\\ude02": "Smiley",'
        ' "\\u00f6": "Latin Small Letter O With Diaeresis",'
        ' "\\ufb33": "Hebrew Letter Dalet With Dagesh", "</script>": "Browser Challenge"}',
        '{"\\n":"Newline","\\r":"Carriage Return","1":"One","</script>":"Browser Challenge",'
        '"\u0080":"Control\u007f","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign",'
        '"\U0001f602":"Smiley","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    ),
}


@pytest.mark.parametrize("name", sorted(JCS_VECTORS))
def test_rfc8785_vectors(name: str) -> None:
    text, expected = JCS_VECTORS[name]
    assert canon(text) == expected


def test_weird_vector_bytes() -> None:
    """testdata/outhex/weird.txt: raw U+0080 and DEL, sorting across the BMP and beyond."""
    expected = bytes.fromhex(
        "7b225c6e223a224e65776c696e65222c225c72223a2243617272696167652052657475726e222c223122"
        "3a224f6e65222c223c2f7363726970743e223a2242726f77736572204368616c6c656e6765222c22c280"
        "223a22436f6e74726f6c7f222c22c3b6223a224c6174696e20536d616c6c204c6574746572204f205769"
        "746820446961657265736973222c22e282ac223a224575726f205369676e222c22f09f9882223a22536d"
        "696c6579222c22efacb3223a22486562726577204c65747465722044616c657420576974682044616765"
        "7368227d"
    )
    assert jcs(json.loads(JCS_VECTORS["weird"][0])) == expected


def test_rfc8785_values_utf8_bytes() -> None:
    """The §3.2.2 example's exact bytes (its hex listing)."""
    expected = bytes.fromhex(
        "7b226c69746572616c73223a5b6e756c6c2c747275652c66616c73655d2c226e756d62657273223a5b"
        "3333333333333333332e333333333333332c31652b33302c342e352c302e3030322c31652d32375d2c"
        "22737472696e67223a22e282ac245c75303030665c6e4127425c225c5c5c5c5c222f227d"
    )
    assert jcs(json.loads(JCS_VECTORS["values"][0])) == expected


# RFC 8785 Appendix B: IEEE 754 bits -> ECMAScript form.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def _double(bits: str) -> float:
    return struct.unpack(">d", bytes.fromhex(bits.rjust(16, "0")))[0]


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_rfc8785_appendix_b_numbers(bits: str, expected: str) -> None:
    assert es_number(_double(bits)) == expected
    assert jcs(_double(bits)) == expected.encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_rfc8785_appendix_b_non_finite_are_errors(bits: str) -> None:
    with pytest.raises(CanonicalFormError, match="NaN and infinities"):
        jcs({"x": [_double(bits)]})


def test_es6_numbers_as_node_writes_them() -> None:
    lines = (DATA / "es6_numbers.txt").read_text().splitlines()
    assert len(lines) > 5000
    wrong = []
    for line in lines:
        bits, expected = line.split(",")
        if es_number(_double(bits)) != expected:
            wrong.append(line)
    assert wrong == []


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_es_number_round_trips_and_is_json(x: float) -> None:
    text = es_number(x)
    assert float(text) == x
    assert float(json.loads(text)) == x
    assert text == es_number(float(text))


def test_integers() -> None:
    assert jcs([0, -0, 1, -1, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == (
        b"[0,0,1,-1,9007199254740991,-9007199254740991]"
    )
    # An integral float and an integer are the same JSON number.
    assert jcs([1.0, 100.0, 1e21, -0.0]) == b"[1,100,1e+21,0]"


@pytest.mark.parametrize(
    "n", [MAX_SAFE_INTEGER + 2, -MAX_SAFE_INTEGER - 2, 2**64, -(10**30) - 1, 10**400]
)
def test_integers_that_a_double_cannot_carry_are_refused(n: int) -> None:
    with pytest.raises(CanonicalFormError, match=r"beyond ±\(2\^53 - 1\) and would lose"):
        jcs({"model": {"parameters_count": n}})


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (2**53, "9007199254740992"),
        (-(2**53), "-9007199254740992"),
        (10**20, "100000000000000000000"),
        (295147905179352830000, "295147905179352830000"),
        (10**21, "1e+21"),
        (10**30, "1e+30"),
    ],
)
def test_large_integers_written_as_their_double_are_kept(n: int, text: str) -> None:
    """What an ECMAScript writer writes for a large double reads back (in Python) as an
    integer: it keeps its canonical form, so such a bundle still verifies."""
    assert jcs(n) == text.encode()
    assert jcs(json.loads(json.dumps(float(n)))) == text.encode()


def test_string_escaping() -> None:
    controls = "".join(chr(c) for c in range(0x20))
    assert jcs(controls + '"\\/\x7f\u2028\u2029é😂') == (
        b'"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r'
        b"\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018"
        b'\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\"\\\\/\x7f'
        + "\u2028\u2029é😂".encode()
        + b'"'
    )


def test_keys_sort_by_utf16_code_units_not_code_points() -> None:
    # U+FB33 (one unit 0xFB33) sorts after U+1F602 (units 0xD83D 0xDE02) in UTF-16,
    # though its code point is smaller.
    assert (
        jcs({"\ufb33": 1, "\U0001f602": 2, "a": 3}) == '{"a":3,"\U0001f602":2,"\ufb33":1}'.encode()
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("\ud800", "lone surrogate"),
        ({"\udc00": 1}, "lone surrogate"),
        ({1: "x"}, "key is not a string"),
        ({"x": {1, 2}}, "set is not a JSON value"),
        ({"x": b"bytes"}, "bytes is not a JSON value"),
    ],
)
def test_values_without_canonical_form(value: Any, message: str) -> None:
    with pytest.raises(CanonicalFormError, match=message):
        jcs(value)


def test_canonical_form_errors_are_heimdall_schema_errors() -> None:
    assert issubclass(CanonicalFormError, SchemaError)
    assert issubclass(CanonicalFormError, HeimdallError)


def test_nesting_is_bounded() -> None:
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    with pytest.raises(CanonicalFormError, match="nested deeper"):
        jcs(deep)


def as_doubles(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        return {k: as_doubles(v) for k, v in value.items()}
    return [as_doubles(v) for v in value]


@given(json_values)
def test_jcs_is_json_that_parses_back_to_the_value(value: Any) -> None:
    text = jcs(value)
    # Equal as JSON values: every number is the double it denotes.
    assert as_doubles(loads(text, "canonical")) == as_doubles(value)
    assert jcs(json.loads(text)) == text  # a fixed point


@given(json_values, st.integers(0, 4), st.booleans())
def test_jcs_ignores_how_the_json_was_written(value: Any, indent: int, ascii_only: bool) -> None:
    """Any serialization of the same value (whitespace, escapes, member order) canonicalizes
    to the same bytes: what a signature survives."""
    written = json.dumps(value, indent=indent or None, ensure_ascii=ascii_only)
    reversed_members = json.loads(written, object_pairs_hook=lambda p: dict(reversed(p)))
    assert jcs(json.loads(written)) == jcs(value) == jcs(reversed_members)


# -- the signed view ----------------------------------------------------------------------


def test_view_drops_signatures_and_payloads_keeps_digests() -> None:
    doc = make_document()
    doc["signatures"] = [{"algorithm": "ed25519"}]
    doc["model"]["onnx_model_base64"] = "AAAA"
    doc["model"]["external_data"] = [
        {
            "path": "w.bin",
            "size_bytes": 3,
            "md5": "0" * 32,
            "sha256": "1" * 64,
            "data_base64": "AAAA",
        }
    ]
    view = signed_view(doc)
    assert "signatures" not in view
    assert "onnx_model_base64" not in view["model"]
    assert view["model"]["external_data"] == [
        {"path": "w.bin", "size_bytes": 3, "md5": "0" * 32, "sha256": "1" * 64}
    ]
    for key, value in digests_of(PAYLOAD).items():
        assert view["model"][key] == value
    # The input is untouched.
    assert doc["model"]["onnx_model_base64"] == "AAAA" and "signatures" in doc


def test_view_is_what_canonical_bytes_and_message_serialize() -> None:
    doc = make_document()
    assert canonical_bytes(doc) == jcs(signed_view(doc))
    assert signing_message(doc) == MESSAGE_PREFIX + canonical_bytes(doc)
    assert MESSAGE_PREFIX == b"heimdall-bundle-signature-v1\n"
    assert view_message(signed_view(doc)) == signing_message(doc)


def test_canonical_bytes_of_the_example() -> None:
    """A pinned example, for other implementations to compare with (also in the spec)."""
    doc = {
        "format_version": "1.2.0",
        "bundle_metadata": {"bundle_id": "b1", "created_at": "2025-01-01T00:00:00Z"},
        "signatures": [],
        "model": {
            "model_name": "tiny",
            "version": 1,
            "onnx_model_base64": "CAcSCGhlaW1kYWxsGgMwLjE=",
            "onnx_size_bytes": 17,
            "onnx_md5": "70208d4b2f559a226b04e5b9b0c1f466",
            "onnx_sha256": "51459b9c856c8abb4c7d27e0cae926b8433dfecfa0cc9f679efa94d860621aef",
        },
    }
    assert canonical_bytes(doc) == (
        b'{"bundle_metadata":{"bundle_id":"b1","created_at":"2025-01-01T00:00:00Z"},'
        b'"format_version":"1.2.0","model":{"model_name":"tiny",'
        b'"onnx_md5":"70208d4b2f559a226b04e5b9b0c1f466",'
        b'"onnx_sha256":"51459b9c856c8abb4c7d27e0cae926b8433dfecfa0cc9f679efa94d860621aef",'
        b'"onnx_size_bytes":17,"version":1}}'
    )


def test_provenance_entries_become_digests() -> None:
    entry = {"signatures": [], "metadata": {"format_version": "1.2.0"}}
    doc = make_document()
    doc["bundle_metadata"]["provenance"] = [entry]
    expected = (
        "sha256:"
        + hashlib.sha256(b'{"metadata":{"format_version":"1.2.0"},"signatures":[]}').hexdigest()
    )
    assert provenance_digest(entry) == expected
    assert signed_view(doc)["bundle_metadata"]["provenance"] == [expected]
    # The document keeps the entries themselves.
    assert doc["bundle_metadata"]["provenance"] == [entry]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["model"].pop("onnx_sha256"), "must declare onnx_size_bytes"),
        (lambda d: d["model"].__setitem__("onnx_md5", "ABC"), "must declare onnx_size_bytes"),
        (lambda d: d["model"].__setitem__("onnx_size_bytes", -1), "must declare"),
        (lambda d: d["model"].__setitem__("onnx_size_bytes", True), "must declare"),
        (lambda d: d.pop("model"), "`model` is missing"),
        (lambda d: d["model"].__setitem__("external_data", {}), "not an array"),
        (lambda d: d["model"].__setitem__("external_data", [{"path": "a"}]), "size_bytes, md5"),
        (lambda d: d["bundle_metadata"].__setitem__("provenance", {}), "not an array"),
        (lambda d: d["bundle_metadata"].__setitem__("provenance", ["sha256:00"]), "not an object"),
        (lambda d: d["training_config"].__setitem__("x", math.nan), "NaN and infinities"),
    ],
)
def test_documents_that_cannot_be_signed(change: Any, message: str) -> None:
    doc = make_document()
    change(doc)
    with pytest.raises(CanonicalFormError, match=message):
        canonical_bytes(doc)


def test_as_written_turns_non_finite_numbers_into_null() -> None:
    doc = make_document()
    doc["performance_metrics"]["train_loss"] = [1.0, math.nan, math.inf, -math.inf]
    written = as_written(doc)
    assert written["performance_metrics"]["train_loss"] == [1.0, None, None, None]
    assert b"null,null,null" in canonical_bytes(written)
    assert (
        doc["performance_metrics"]["train_loss"][1] != doc["performance_metrics"]["train_loss"][1]
    )
