"""The bundle document around its payload: walked key by key, checked as it is parsed.

The walk keeps every member of the top-level object and of ``model`` (in file order, in
:attr:`DocumentWalker.document`), stops at the payload string and, once the payload has
been read or skipped, resumes after it. A typed section is checked as soon as it is
parsed, so a bad one fails before a large payload is decoded.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ..errors import DuplicateKeyError, MalformedBundleError, MetadataLimitError, SchemaError
from ..format.document import (
    EXTERNAL_DATA_KEY,
    EXTERNAL_PAYLOAD_KEY,
    PAYLOAD_KEY,
    BundleHeader,
)
from ..format.validation import (
    check_external_entry,
    check_section,
    check_version,
    validate_header,
)
from .info import Declared
from .scanner import Scanner


class DocumentWalker:
    """Walks one bundle document over ``scan``, stopping at the payload string.

    Example:

    ```python
    import io
    from heimdall_io.codec.scanner import Limits, Scanner
    from heimdall_io.codec.payload import skip_string
    from heimdall_io.codec.walker import DocumentWalker

    raw = b'{"model": {"model_name": "m", "onnx_model_base64": "QUJD"}, "x": 1}'
    scan = Scanner(io.BytesIO(raw), Limits())
    walker = DocumentWalker(scan)
    assert walker.to_payload()                  # at the payload's text
    skip_string(scan, 1 << 20, "payload")
    walker.past_payload()
    assert walker.document == {"model": {"model_name": "m"}, "x": 1}
    ```
    """

    def __init__(self, scan: Scanner, default_version: str | None = None) -> None:
        self.scan = scan
        #: Assumed when ``format_version`` is absent (a converter reading another dialect);
        #: None: its absence is an error, as the format requires.
        self.default_version = default_version
        #: The document in file order, without the payload.
        self.document: dict[str, Any] = {}
        #: ``document["model"]``, once the walk has entered it.
        self.model: dict[str, Any] | None = None
        #: Offset of the payload's text (just past its opening quote); -1 until found.
        self.payload_offset = -1
        #: True once the walk has gone past the payload string.
        self.payload_seen = False
        #: Offset of the current external data entry's text (past its opening quote).
        self.external_offset = -1
        self._steps = self._walk()

    def to_payload(self) -> bool:
        """Walk to the payload's text: True there, False if the document ended without it."""
        return next(self._steps, None) is not None

    def past_payload(self) -> dict[str, Any] | None:
        """Walk on; the caller has moved past the payload (or an external entry's) string.

        Returns the next ``model.external_data`` entry (its members so far: ``path`` and
        ``size_bytes`` at least), stopped at its data's text, or None at the end.
        """
        self.payload_seen = True
        step = next(self._steps, None)
        return step if isinstance(step, dict) else None

    def check(self) -> tuple[BundleHeader, Declared]:
        """The checks of a whole document: required fields, the header's types.

        Returns the typed header and what the document declares about its payload.
        """
        doc = self.document
        if "format_version" not in doc and self.default_version is not None:
            doc["format_version"] = self.default_version
        if "format_version" not in doc:
            raise SchemaError("invalid bundle: missing required field `format_version`")
        header = validate_header(doc)
        if not self.payload_seen:
            raise SchemaError(f"invalid bundle: missing required field `model.{PAYLOAD_KEY}`")
        model = doc["model"]
        declared = Declared(model.get("onnx_size_bytes"), model.get("onnx_md5"),
                            model.get("onnx_sha256"))  # fmt: skip
        return header, declared

    def _external(self, entries: list[dict[str, Any]]) -> Generator[dict[str, Any], None, None]:
        """``model.external_data``: yields each entry at its data's text."""
        scan, where = self.scan, f"model.{EXTERNAL_DATA_KEY}"
        if not scan.accept(b"[", where):
            raise SchemaError(f"invalid bundle: {where} must be an array")
        paths: set[str] = set()
        while not scan.accept(b"]", where):
            if entries:
                scan.expect(b",", where)
            if len(entries) >= scan.limits.max_members:
                raise MetadataLimitError(
                    f"{where} has more than {scan.limits.max_members:,} entries"
                )
            name = f"{where}[{len(entries)}]"
            if not scan.accept(b"{", name):
                raise SchemaError(f"invalid bundle: {name} must be an object")
            entry: dict[str, Any] = {}
            entries.append(entry)
            data_seen = False
            for key in scan.members(name):
                if key in entry or (key == EXTERNAL_PAYLOAD_KEY and data_seen):
                    raise DuplicateKeyError(f"duplicate key {key!r} in {name}")
                if key != EXTERNAL_PAYLOAD_KEY:
                    entry[key] = scan.read_value(f"{name}.{_name(key)}", 4)
                    continue
                if "path" not in entry or "size_bytes" not in entry:
                    raise SchemaError(
                        f"invalid bundle: {name} must have path and size_bytes before its data"
                    )
                path = check_external_entry(entry, name).path
                if path in paths:
                    raise SchemaError(f"invalid bundle: duplicate path in {where}: {path!r}")
                paths.add(path)
                if not scan.accept(b'"', f"{name}.{EXTERNAL_PAYLOAD_KEY}"):
                    raise SchemaError(f"{name}.{EXTERNAL_PAYLOAD_KEY} must be a string")
                self.external_offset = scan.offset
                yield entry
                data_seen = True
            if not data_seen:
                raise SchemaError(f"invalid bundle: missing required field `{name}.data_base64`")
            check_external_entry(entry, name)

    def _walk(self) -> Generator[bool | dict[str, Any], None, None]:
        scan = self.scan
        doc = self.document
        scan.expect(b"{", "start of bundle")
        for key in scan.members("top-level object"):
            if key in doc:
                raise DuplicateKeyError(f"duplicate key {key!r} in the top-level object")
            if key == "model" and scan.accept(b"{", "model"):
                model: dict[str, Any] = {}
                doc[key] = self.model = model
                for mkey in scan.members("model"):
                    if mkey in model or (mkey == PAYLOAD_KEY and self.payload_seen):
                        raise DuplicateKeyError(f"duplicate key {mkey!r} in model")
                    if mkey == PAYLOAD_KEY:
                        if not scan.accept(b'"', f"model.{PAYLOAD_KEY}"):
                            raise SchemaError(f"model.{PAYLOAD_KEY} must be a string")
                        self.payload_offset = scan.offset
                        yield True
                        self.payload_seen = True
                    elif mkey == EXTERNAL_DATA_KEY:
                        if not self.payload_seen:
                            raise SchemaError(
                                f"invalid bundle: model.{EXTERNAL_DATA_KEY} must follow"
                                f" model.{PAYLOAD_KEY}"
                            )
                        entries: list[dict[str, Any]] = []
                        model[mkey] = entries
                        yield from self._external(entries)
                    else:
                        model[mkey] = scan.read_value(f"model.{_name(mkey)}", 2)
            else:
                doc[key] = value = scan.read_value(_name(key), 1)
                if key == "format_version":
                    check_version(value)
                else:
                    check_section(key, value)
        if not scan.at_end():
            raise MalformedBundleError(f"unexpected data after the bundle at byte {scan.offset}")


def _name(key: str) -> str:
    """A key as it may appear in a one-line message."""
    return key if key.isprintable() and len(key) <= 200 else repr(key[:200])
