"""The reader accepts every bundle a JSON library would, not only the ones we write.

Bundles here are written by hand (``json.dumps`` and string surgery): payload key first,
last or in the middle of ``model``; ``model`` first; any whitespace; base64 with ``\\/``,
``\\n`` (76-column wrapping) and ``\\u002F`` escapes; format 1.0.0 without checksums; the
earlier Heimdall implementation's drifted schema.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from heimdall_io import BundleReader, inspect_bundle, read_bundle, write_bundle
from heimdall_io.format.document import CHECKSUM_KEYS, PAYLOAD_KEY
from tests.format.examples import (
    PLACEHOLDER,
    drifted_document,
    original_document,
    without_payload,
)

from .streams import ShortReads


class CountingFile(io.FileIO):
    """A file that counts the bytes read through it."""

    bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, b: Any) -> int:
        n = super().readinto(b)
        self.bytes_read += n
        return n


def b64(payload: bytes) -> str:
    return base64.b64encode(payload).decode()


def render(doc: dict[str, Any], payload_text: str, **dumps: Any) -> bytes:
    """``json.dumps(doc)`` with ``payload_text`` (raw JSON string content) as the payload."""
    text = json.dumps(doc, **dumps)
    assert text.count(f'"{PLACEHOLDER}"') == 1
    return text.replace(f'"{PLACEHOLDER}"', f'"{payload_text}"').encode()


def read(data: bytes | io.RawIOBase) -> tuple[bytes, Any]:
    src = io.BytesIO(data) if isinstance(data, bytes) else data
    out = io.BytesIO()
    info = read_bundle(src, out)  # type: ignore[arg-type]
    return out.getvalue(), info


def strip_written(doc: dict[str, Any]) -> dict[str, Any]:
    """A document minus what our writer sets itself (version, checksums)."""
    doc = copy.deepcopy(doc)
    doc.pop("format_version")
    for key in CHECKSUM_KEYS:
        doc["model"].pop(key, None)
    return doc


def assert_reads_as(data: bytes, payload: bytes, document: dict[str, Any]) -> Any:
    got, info = read(data)
    assert got == payload
    assert info.document == without_payload(document)
    assert info.md5 == hashlib.md5(payload).hexdigest()
    assert info.sha256 == hashlib.sha256(payload).hexdigest()
    # And the same through a pipe that returns a few bytes per read.
    for seed in range(3):
        got2, info2 = read(ShortReads(data, 7, seed))
        assert got2 == payload
        assert info2.document == info.document
    return info


# A payload whose base64 has many '/' and '+' (so escapes are frequent).
_rng = random.Random(5)
PAYLOAD = bytes(_rng.choice([0xFF, 0xFB, 0xEF, 0xBE, 0x3F, 0x00]) for _ in range(3001))
assert "/" in b64(PAYLOAD) and "+" in b64(PAYLOAD) and b64(PAYLOAD).endswith("=")


# -- layout -------------------------------------------------------------------------------


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_payload_key_anywhere_in_model(position: str) -> None:
    doc = original_document()
    fields = [(k, v) for k, v in doc["model"].items() if k != PAYLOAD_KEY]
    at = {"first": 0, "middle": len(fields) // 2, "last": len(fields)}[position]
    fields.insert(at, (PAYLOAD_KEY, PLACEHOLDER))
    doc["model"] = dict(fields)
    assert list(doc["model"]).index(PAYLOAD_KEY) == at
    assert_reads_as(render(doc, b64(PAYLOAD)), PAYLOAD, doc)


@pytest.mark.parametrize("payload_position", ["first", "last"])
def test_model_section_first(payload_position: str) -> None:
    doc = original_document()
    model = doc.pop("model")
    if payload_position == "first":
        model = {PAYLOAD_KEY: model.pop(PAYLOAD_KEY), **model}
    else:
        model[PAYLOAD_KEY] = model.pop(PAYLOAD_KEY)
    doc = {"model": model, **doc}
    assert next(iter(doc)) == "model"
    info = assert_reads_as(render(doc, b64(PAYLOAD)), PAYLOAD, doc)
    assert info.header.format_version == "1.0.0"


@pytest.mark.parametrize(
    "dumps",
    [
        {"indent": 4},
        {"indent": "\t"},
        {"indent": 1, "separators": (" ,  ", " :\t ")},
        {"separators": (",", ":")},
        {"ensure_ascii": False, "indent": 2},
    ],
)
def test_whitespace_and_indentation(dumps: dict[str, Any]) -> None:
    doc = original_document()
    doc["bundle_metadata"]["description"] = "Modèle façade — 東京 😀"
    data = render(doc, b64(PAYLOAD), **dumps)
    assert_reads_as(data, PAYLOAD, doc)
    # CRLF line endings and blank lines around the document are whitespace too.
    assert_reads_as(b"\r\n \t" + data.replace(b"\n", b"\r\n") + b"\r\n\n ", PAYLOAD, doc)


def emit(value: Any, ws: Any, payload_text: str) -> str:
    """JSON text of ``value`` with ``ws()`` between every pair of tokens."""
    if value == PLACEHOLDER:
        return f'"{payload_text}"'
    if isinstance(value, dict):
        items = [
            f"{ws()}{json.dumps(k)}{ws()}:{ws()}{emit(v, ws, payload_text)}{ws()}"
            for k, v in value.items()
        ]
        return "{" + ",".join(items) + ws() + "}"
    if isinstance(value, list):
        return "[" + ws() + ",".join(ws() + emit(v, ws, payload_text) + ws() for v in value) + "]"
    return json.dumps(value)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    ws_chars=st.lists(st.sampled_from([" ", "\t", "\n", "\r"]), min_size=1, max_size=4),
    style=st.sampled_from(["plain", "slash", "wrap76", "wrap64crlf", "unicode"]),
    drifted=st.booleans(),
)
def test_random_whitespace_and_escapes(
    seed: int, ws_chars: list[str], style: str, drifted: bool
) -> None:
    rng = random.Random(seed)
    payload = rng.randbytes(rng.randint(0, 2000))
    doc = drifted_document() if drifted else original_document()
    model = list(doc["model"].items())
    rng.shuffle(model)
    doc["model"] = dict(model)

    def ws() -> str:
        return "".join(rng.choice(ws_chars) for _ in range(rng.choice([0, 0, 1, 2, 9])))

    data = emit(doc, ws, escape(b64(payload), style, rng)).encode()
    assert_reads_as(data, payload, doc)


def wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)]


def escape(text: str, style: str, rng: random.Random | None = None) -> str:
    """Base64 text as other JSON writers spell it (the content of a JSON string)."""
    if style == "plain":
        return text
    if style == "slash":  # PHP, some Java libraries
        return text.replace("/", "\\/")
    if style == "wrap76":  # MIME: a newline every 76 columns
        return "\\n".join(wrap(text, 76))
    if style == "wrap64crlf":  # PEM-like with CRLF
        return "\\r\\n".join(wrap(text, 64)) + "\\r\\n"
    if style == "unicode" and rng is None:  # \u escapes for every '/', '+' and '='
        return text.replace("/", "\\u002F").replace("+", "\\u002b").replace("=", "\\u003D")
    if style == "unicode":  # \u escapes for some characters, either case
        return "".join(
            (f"\\u{ord(c):04X}" if rng.random() < 0.5 else f"\\u{ord(c):04x}")
            if c in "/+=" or rng.random() < 0.05
            else c
            for c in text
        )
    raise AssertionError(style)


@pytest.mark.parametrize("style", ["slash", "wrap76", "wrap64crlf", "unicode"])
def test_escaped_base64(style: str) -> None:
    doc = original_document()
    text = escape(b64(PAYLOAD), style)
    assert "\\" in text
    assert_reads_as(render(doc, text), PAYLOAD, doc)


def test_json_standard_escapes_of_a_line_break() -> None:
    """``\\u000A`` is the same JSON string as ``\\n``: both are dropped."""
    doc = original_document()
    lines = wrap(b64(PAYLOAD), 76)
    for sep in ("\\u000a", "\\u000D\\u000A", "\\t"):
        assert_reads_as(render(doc, sep.join(lines)), PAYLOAD, doc)


@pytest.mark.parametrize("style", ["slash", "wrap76", "unicode"])
def test_escaped_base64_across_the_decoder_read_size(tmp_path: Path, style: str) -> None:
    """Multi-MiB escaped payload from a file: escapes straddle the decoder's reads."""
    payload = random.Random(11).randbytes((5 << 20) + 1)
    doc = original_document()
    path = tmp_path / "escaped.heimdall"
    path.write_bytes(render(doc, escape(b64(payload), style)))
    with open(path, "rb") as f:
        out = io.BytesIO()
        info = read_bundle(f, out)
    assert out.getvalue() == payload
    assert info.md5 == hashlib.md5(payload).hexdigest()


# -- format 1.0.0, checksums ---------------------------------------------------------------


def test_1_0_0_without_checksums_computes_them() -> None:
    doc = original_document()
    data = render(doc, b64(PAYLOAD), indent=2)
    info = assert_reads_as(data, PAYLOAD, doc)
    assert info.format_version == "1.0.0"
    assert info.declared.md5 is None and info.declared.size is None
    assert info.verified
    assert info.payload_size == len(PAYLOAD)

    md5 = hashlib.md5(PAYLOAD).hexdigest()
    sha256 = hashlib.sha256(PAYLOAD).hexdigest()
    sources: list[Any] = [
        lambda: io.BytesIO(data),  # seekable: skip, then decode to compute
        lambda: ShortReads(data, 4096),  # a pipe
        lambda: io.BytesIO(zstandard.ZstdCompressor().compress(data)),
        lambda: io.BytesIO(gzip.compress(data)),
    ]
    for make in sources:
        src = make()
        try:
            inspected = inspect_bundle(src)
        finally:
            src.close()
        assert (inspected.payload_size, inspected.md5, inspected.sha256) == (
            len(PAYLOAD),
            md5,
            sha256,
        )
        assert inspected.verified
        assert inspected.document == without_payload(doc)


@pytest.mark.parametrize("where", ["before", "after", "split"])
def test_checksums_before_or_after_the_payload(where: str) -> None:
    sums = {
        "onnx_size_bytes": len(PAYLOAD),
        "onnx_md5": hashlib.md5(PAYLOAD).hexdigest(),
        "onnx_sha256": hashlib.sha256(PAYLOAD).hexdigest(),
    }
    doc = original_document()
    doc["format_version"] = "1.1.0"
    model = {k: v for k, v in doc["model"].items() if k != PAYLOAD_KEY}
    if where == "before":
        model.update(sums)
        model[PAYLOAD_KEY] = PLACEHOLDER
    elif where == "after":
        model[PAYLOAD_KEY] = PLACEHOLDER
        model.update(sums)
    else:
        model["onnx_size_bytes"] = sums["onnx_size_bytes"]
        model[PAYLOAD_KEY] = PLACEHOLDER
        model["onnx_sha256"] = sums["onnx_sha256"]
        model["onnx_md5"] = sums["onnx_md5"]
    doc["model"] = model
    data = render(doc, b64(PAYLOAD))
    info = assert_reads_as(data, PAYLOAD, doc)
    assert (info.declared.size, info.declared.md5, info.declared.sha256) == tuple(sums.values())
    inspected = inspect_bundle(io.BytesIO(data))
    assert (inspected.payload_size, inspected.md5, inspected.sha256) == tuple(sums.values())


# -- the earlier implementation's schema ---------------------------------------------------


def test_drifted_schema_is_accepted_and_every_field_kept() -> None:
    doc = drifted_document()
    data = render(doc, b64(PAYLOAD), indent=2)
    info = assert_reads_as(data, PAYLOAD, doc)
    header = info.header
    assert header.model.version == "3"
    assert header.model.output_shape == [[1, 2], [1, 2]]
    assert header.bundle_metadata.created_by == "heimdall-backend"
    assert header.bundle_metadata.heimdall_version == "0.9.3"
    assert header.bundle_metadata.exported_by is None
    assert header.training_config is not None
    assert header.training_config.dataset_names == ["urban", "rural"]
    assert header.performance_metrics is not None
    assert header.performance_metrics.onnx_speedup_factor == 2.5
    assert header.sample_predictions is not None
    assert header.sample_predictions[0].input_metadata == {"station": "A", "freq_mhz": 145.5}

    # read -> write -> read keeps every field (nulls included).
    out = io.BytesIO()
    write_bundle(out, info.document, io.BytesIO(PAYLOAD))
    payload2, info2 = read(out.getvalue())
    assert payload2 == PAYLOAD
    assert strip_written(info2.document) == strip_written(info.document)
    assert info2.document["training_config"]["early_stopping_patience"] is None
    assert info2.document["performance_metrics"]["best_epoch"] is None


def test_unknown_fields_survive_read_then_write() -> None:
    doc = original_document()
    doc["x_exporter_extras"] = {"git_sha": "abc", "nested": [{"k": [1, 2, {"z": None}]}]}
    doc["model"]["x_quantized"] = True
    doc["training_config"]["scheduler"] = {"name": "cosine", "t_max": 50}
    doc["sample_predictions"][0]["x_weight"] = 0.5
    _, info = read(render(doc, b64(PAYLOAD), indent=1))
    out = io.BytesIO()
    write_bundle(out, info.document, io.BytesIO(PAYLOAD), compression="zstd")
    _, info2 = read(out.getvalue())
    assert strip_written(info2.document) == strip_written(without_payload(doc))


@pytest.mark.parametrize(
    "place",
    ["top_before_model", "top_after_model", "training_config", "nested_deeper", "in_model_nested"],
)
def test_onnx_model_base64_elsewhere_is_ordinary_metadata(place: str) -> None:
    decoy = "this is *not* the payload!"
    doc = original_document()
    if place == "top_before_model":
        doc = {PAYLOAD_KEY: decoy, **doc}
    elif place == "top_after_model":
        doc[PAYLOAD_KEY] = decoy
    elif place == "training_config":
        doc["training_config"][PAYLOAD_KEY] = decoy
    elif place == "nested_deeper":
        doc["sample_predictions"][0]["input"] = {"a": [{PAYLOAD_KEY: decoy}]}
    else:
        doc["model"]["x_previous"] = {PAYLOAD_KEY: decoy, "model": {PAYLOAD_KEY: decoy}}
    info = assert_reads_as(render(doc, b64(PAYLOAD)), PAYLOAD, doc)
    assert decoy in json.dumps(info.document)
    out = io.BytesIO()
    write_bundle(out, info.document, io.BytesIO(PAYLOAD))
    payload2, info2 = read(out.getvalue())
    assert payload2 == PAYLOAD
    assert strip_written(info2.document) == strip_written(info.document)


# -- inspect ---------------------------------------------------------------------------------


class Zeros(io.RawIOBase):
    """``size`` zero bytes as a stream, without holding them."""

    def __init__(self, size: int) -> None:
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self._left)
        b[:n] = bytes(n)
        self._left -= n
        return n


@pytest.mark.parametrize("known", ["size", "all"])
def test_inspect_reads_only_a_few_kib_of_a_64_mib_bundle(tmp_path: Path, known: str) -> None:
    size = 64 << 20
    header = {k: v for k, v in original_document().items()}
    header["model"] = {k: v for k, v in header["model"].items() if k != PAYLOAD_KEY}
    path = tmp_path / "big.heimdall"
    options: dict[str, Any] = {"size": size}
    if known == "all":  # as a registry export writes it: every checksum before the payload
        zeros = bytes(size)
        options.update(md5=hashlib.md5(zeros).hexdigest(), sha256=hashlib.sha256(zeros).hexdigest())
        del zeros
    with open(path, "wb") as out:
        result = write_bundle(out, header, Zeros(size), **options)
    assert path.stat().st_size > 85 << 20
    with CountingFile(path) as counting:
        info = inspect_bundle(counting)  # type: ignore[arg-type]
    assert counting.bytes_read < 16 << 10, counting.bytes_read
    assert not info.verified  # declared, not computed
    assert result.digests is not None
    assert (info.payload_size, info.md5, info.sha256) == (
        size,
        result.digests.md5,
        result.digests.sha256,
    )
    assert info.document["model"]["model_name"] == "LocalizationNet"


def test_inspect_bundle_not_at_offset_zero() -> None:
    """A bundle inside a larger file, read from its start position."""
    header = without_payload(original_document())
    out = io.BytesIO()
    out.write(b"some other data before the bundle")
    start = out.tell()
    write_bundle(out, header, io.BytesIO(PAYLOAD), size=len(PAYLOAD))
    out.seek(start)
    info = inspect_bundle(out)
    assert info.payload_size == len(PAYLOAD)
    assert info.md5 == hashlib.md5(PAYLOAD).hexdigest()
    # 1.0.0 without checksums, after a prefix: inspect must re-read from the same start.
    old = io.BytesIO(b"x" * 1000 + render(original_document(), b64(PAYLOAD)))
    old.seek(1000)
    info = inspect_bundle(old)
    assert info.md5 == hashlib.md5(PAYLOAD).hexdigest()


def test_skip_payload_when_the_declared_size_is_wrong_falls_back_to_scanning() -> None:
    """A declared size that does not land on the closing quote is not trusted for a seek."""
    doc = original_document()
    doc["format_version"] = "1.1.0"
    doc["model"] = {"onnx_size_bytes": len(PAYLOAD) + 3, **doc["model"]}
    data = render(doc, b64(PAYLOAD))
    reader = BundleReader(io.BytesIO(data))
    info = reader.skip_payload()
    assert info.document["performance_metrics"]["best_epoch"] == 2
    assert info.declared.size == len(PAYLOAD) + 3
