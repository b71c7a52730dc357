"""What a bundle signature signs: the canonical form of the document, byte for byte.

The *view* of a bundle document is the document without what a signature cannot or need
not cover: the ``signatures`` member itself and the payload strings (the payload is
covered by its declared size, MD5 and SHA-256, which the view keeps). Each
``bundle_metadata.provenance`` entry is replaced by ``"sha256:<hex>"``, the SHA-256 of its
own canonical JSON, so a chain of re-exports stays flat. The view is serialized with the
JSON Canonicalization Scheme (RFC 8785), and the signed message is
:data:`MESSAGE_PREFIX` followed by those bytes. spec/bundle-format.md, "Signatures",
states the same rules normatively.

    message = signing_message(document)        # bytes to Ed25519-sign or verify
    text = jcs({"b": 1, "a": [1.0, "€"]})      # b'{"a":[1,"\xe2\x82\xac"],"b":1}'
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from ..format.document import (
    CHECKSUM_KEYS,
    EXTERNAL_CHECKSUM_KEYS,
    EXTERNAL_DATA_KEY,
    EXTERNAL_PAYLOAD_KEY,
    PAYLOAD_KEY,
)
from .errors import CanonicalFormError

#: Domain separation: a bundle signature can never be mistaken for a signature of
#: anything else made with the same key (a minisign file signature, a later version).
MESSAGE_PREFIX = b"heimdall-bundle-signature-v1\n"
#: Top-level member holding the signatures; never part of what they sign.
SIGNATURES_KEY = "signatures"
#: ``bundle_metadata.provenance``: signatures a model was imported with.
PROVENANCE_KEY = "provenance"
#: Beyond ±(2^53 − 1) not every integer is an IEEE 754 double, so two implementations
#: could read one differently (RFC 8785 §3.2.2.3, RFC 7493): see :func:`_integer`.
MAX_SAFE_INTEGER = 2**53 - 1
#: Far deeper than any bundle a reader accepts (64 levels); guards the recursion.
MAX_DEPTH = 256

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}  # fmt: skip
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    return _ESCAPES.get(c) or f"\\u{ord(c):04x}"


def _string(s: str, where: str) -> bytes:
    try:
        return b'"' + _NEEDS_ESCAPE.sub(_escape, s).encode("utf-8") + b'"'
    except UnicodeEncodeError:
        raise CanonicalFormError(
            f"cannot canonicalize {where}: a string is not valid Unicode (a lone surrogate)"
        ) from None


def es_number(x: float) -> str:
    """``x`` as ECMAScript's Number::toString writes it (ECMA-262 §6.1.6.1.20).

    The digits are the shortest that round-trip (Python's ``repr`` computes the same
    ones); only their layout differs from Python's: ``1e+21``, ``1e-7``, ``0.000001``,
    ``100`` for ``100.0``, ``0`` for ``-0.0``.
    """
    if not math.isfinite(x):
        raise ValueError(f"{x!r} has no JSON form")
    if x == 0:
        return "0"
    r = repr(x)
    sign = "-" if r[0] == "-" else ""
    mantissa, _, exponent = r.lstrip("-").partition("e")
    integer, _, fraction = mantissa.partition(".")
    digits = integer + fraction
    # The value is 0.DIGITS × 10^n, i.e. the decimal point stands after n digits.
    n = len(integer) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + ("e+" if e >= 0 else "e-")
        text += str(abs(e))
    return sign + text


def _integer(n: int, where: str) -> str:
    """An integer as RFC 8785 writes the double it denotes, if no precision is lost.

    Up to ±(2^53 − 1) that is its decimal digits. Beyond, the integer must be exactly
    the value its canonical form writes (``100000000000000000000``, as an ECMAScript
    writer puts 1e20): otherwise two different integers would share a canonical form (an
    implementation reading numbers as doubles sees 2^53 + 1 as 2^53), and it is refused.
    """
    if -MAX_SAFE_INTEGER <= n <= MAX_SAFE_INTEGER:
        return str(n)
    try:
        text = es_number(float(n))
    except OverflowError:
        text = ""
    if not text or Decimal(text) != n:
        raise CanonicalFormError(
            f"cannot canonicalize {where}: the integer {n} is beyond ±(2^53 - 1) and would"
            " lose precision as a JSON number (write it as a string)"
        )
    return text


def _utf16_order(key: str) -> bytes:
    # Big-endian UTF-16 bytes compare as the code units do (RFC 8785 §3.2.3).
    return key.encode("utf-16-be", "surrogatepass")


def jcs(value: Any, where: str = "the document") -> bytes:
    """``value`` (parsed JSON: dict, list, str, int, float, bool, None) as RFC 8785 bytes.

    Raises CanonicalFormError for what has no canonical form: NaN and infinities, integers
    beyond ±(2^53 − 1) that are not exactly a double's canonical form, strings that are
    not valid Unicode, non-string keys, other types.
    """
    out: list[bytes] = []
    _emit(value, out.append, where, 0)
    return b"".join(out)


def _emit(value: Any, write: Callable[[bytes], object], where: str, depth: int) -> None:
    if value is None:
        write(b"null")
    elif value is True:
        write(b"true")
    elif value is False:
        write(b"false")
    elif isinstance(value, str):
        write(_string(value, where))
    elif isinstance(value, int):
        write(_integer(value, where).encode())
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalFormError(
                f"cannot canonicalize {where}: {value} is not a JSON number"
                " (NaN and infinities have no canonical form)"
            )
        write(es_number(value).encode())
    elif depth >= MAX_DEPTH:
        raise CanonicalFormError(f"cannot canonicalize {where}: nested deeper than {MAX_DEPTH}")
    elif isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise CanonicalFormError(f"cannot canonicalize {where}: an object key is not a string")
        write(b"{")
        for i, key in enumerate(sorted(value, key=_utf16_order)):
            if i:
                write(b",")
            write(_string(key, where))
            write(b":")
            _emit(value[key], write, where, depth + 1)
        write(b"}")
    elif isinstance(value, (list, tuple)):
        write(b"[")
        for i, item in enumerate(value):
            if i:
                write(b",")
            _emit(item, write, where, depth + 1)
        write(b"]")
    else:
        raise CanonicalFormError(
            f"cannot canonicalize {where}: {type(value).__name__} is not a JSON value"
        )


def provenance_digest(entry: Mapping[str, Any]) -> str:
    """``"sha256:<hex>"``: what stands for a provenance entry in the canonical form."""
    return "sha256:" + hashlib.sha256(jcs(entry, "a provenance entry")).hexdigest()


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise CanonicalFormError(f"cannot sign or verify this bundle: {message}")


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hex(value: Any, length: int) -> bool:
    return isinstance(value, str) and re.fullmatch(f"[0-9a-f]{{{length}}}", value) is not None


def signed_view(document: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a bundle document that its signatures cover, as a new dict.

    Removes ``signatures``, ``model.onnx_model_base64`` and every
    ``model.external_data[*].data_base64``; replaces each ``bundle_metadata.provenance``
    entry by its :func:`provenance_digest`. The payload checksums must be declared:
    ``model.onnx_size_bytes``, ``onnx_md5``, ``onnx_sha256`` and, per external data
    entry, ``size_bytes``, ``md5``, ``sha256``. ``document`` is not modified.
    """
    _require(isinstance(document, Mapping), "the document is not a JSON object")
    view = {k: v for k, v in document.items() if k != SIGNATURES_KEY}
    source = view.get("model")
    if not isinstance(source, Mapping):
        raise CanonicalFormError(
            "cannot sign or verify this bundle: `model` is missing or not an object"
        )
    model = {k: v for k, v in source.items() if k != PAYLOAD_KEY}
    size, md5, sha256 = (model.get(k) for k in CHECKSUM_KEYS)
    _require(
        _is_size(size) and _is_hex(md5, 32) and _is_hex(sha256, 64),
        "`model` must declare onnx_size_bytes, onnx_md5 and onnx_sha256",
    )
    if EXTERNAL_DATA_KEY in model:
        files = model[EXTERNAL_DATA_KEY]
        _require(isinstance(files, list), "`model.external_data` is not an array")
        stripped = []
        for entry in files:
            _require(isinstance(entry, Mapping), "a `model.external_data` entry is not an object")
            size, md5, sha256 = (entry.get(k) for k in EXTERNAL_CHECKSUM_KEYS)
            _require(
                _is_size(size) and _is_hex(md5, 32) and _is_hex(sha256, 64),
                "each `model.external_data` entry must declare size_bytes, md5 and sha256",
            )
            stripped.append({k: v for k, v in entry.items() if k != EXTERNAL_PAYLOAD_KEY})
        model[EXTERNAL_DATA_KEY] = stripped
    view["model"] = model
    meta = view.get("bundle_metadata")
    if isinstance(meta, Mapping) and PROVENANCE_KEY in meta:
        entries = meta[PROVENANCE_KEY]
        _require(isinstance(entries, list), "`bundle_metadata.provenance` is not an array")
        _require(
            all(isinstance(e, Mapping) for e in entries),
            "a `bundle_metadata.provenance` entry is not an object",
        )
        meta = dict(meta)
        meta[PROVENANCE_KEY] = [provenance_digest(e) for e in entries]
        view["bundle_metadata"] = meta
    return view


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of :func:`signed_view`: the document as its signatures see it."""
    return jcs(signed_view(document), "the bundle metadata")


def signing_message(document: Mapping[str, Any]) -> bytes:
    """The exact bytes an embedded signature signs: prefix + canonical bytes."""
    return MESSAGE_PREFIX + canonical_bytes(document)


def view_message(view: Mapping[str, Any]) -> bytes:
    """The message for a view that is already canonical-form data (a provenance entry's
    ``metadata``): prefix + its RFC 8785 bytes, with no further transformation."""
    return MESSAGE_PREFIX + jcs(view, "a provenance entry's metadata")


def as_written(value: Any) -> Any:
    """``value`` with NaN and infinities as None, as heimdall-io's writer writes them.

    Sign this form of a document, since a verifier sees what was written, not what was in
    the signer's memory.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: as_written(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_written(v) for v in value]
    return value
