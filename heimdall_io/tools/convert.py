"""Format migration: a bundle rewritten to another format version or the upstream dialect.

The payload streams from the reader's decoder into the encoder and is never held: the
input is read twice, once for the whole document (the seek past the payload that
``inspect`` does, so metadata after the payload is found too) and once for the payload.
Standard input is first spooled to a temporary file. Checksums the source declares (or
that the first pass computed) are written before the payload and checked against it.

Targets:

- ``1.0.0``: the seed's format: no checksum fields, no signatures; a decimal string
  ``version`` becomes an integer, as the seed writes it.
- ``1.1.0``: the current format; unknown fields are kept (also converting from upstream).
- ``1.2.0``: 1.1.0 plus signatures; by the spec a writer labels a bundle 1.2.0 only when
  it has signatures, so one without is written as 1.1.0, with a warning.
- ``upstream``: the dialect of the upstream Heimdall service (:mod:`.upstream`), written
  as a 1.1.0 document; opset, shapes and parameter count missing from the bundle are read
  from the ONNX payload (decoded to a temporary file for that).

Signatures are removed by ``strip_signatures`` and whenever the target has none. A source
without ``format_version`` (the upstream service's loader does not need one) is read as
1.0.0.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..codec import (
    BundleInfo,
    BundleReader,
    ChunkStream,
    Digests,
    ExternalSource,
    Limits,
    inspect_bundle,
    is_seekable,
    write_bundle,
)
from ..codec.compression import NONE
from ..errors import ConversionError
from ..files.paths import atomic_output, open_input, spooled_copy
from ..format.document import CHECKSUM_KEYS, FORMAT_1_0, FORMAT_1_1
from ..onnx.metadata import OnnxInfo, read_onnx_info
from .upstream import UpstreamOverrides, needs_onnx_info, to_upstream

__all__ = ["FORMAT_1_2", "TARGETS", "UPSTREAM", "ConvertResult", "convert", "target_document"]

FORMAT_1_2 = "1.2.0"
UPSTREAM = "upstream"
#: What ``--to`` takes.
TARGETS = (FORMAT_1_0, FORMAT_1_1, FORMAT_1_2, UPSTREAM)
_SIGNED = "signatures"
_EXTERNAL = "external_data"

Progress = Callable[[int], None] | None


@dataclass
class ConvertResult:
    """What :func:`convert` wrote."""

    source_version: str
    #: The ``format_version`` written (the upstream dialect is a 1.1.0 document).
    format_version: str
    warnings: list[str] = field(default_factory=list)
    digests: Digests | None = None
    bytes_out: int = 0


@dataclass(frozen=True)
class Target:
    """A document ready to encode: its header, its version, whether checksums are written."""

    header: dict[str, Any]
    format_version: str
    checksums: bool
    warnings: list[str]


def target_document(
    document: Mapping[str, Any],
    to: str,
    *,
    strip_signatures: bool = False,
    overrides: UpstreamOverrides | None = None,
    onnx_info: OnnxInfo | None = None,
) -> Target:
    """The document (no payload) as ``to`` wants it; see the module docstring.

    Raises:
        ConversionError: an unknown target, or a value the target needs is missing.
    """
    if to not in TARGETS:
        raise ConversionError(f"cannot convert to {to!r}: the targets are {', '.join(TARGETS)}")
    doc = {k: v for k, v in document.items()}
    model = {k: v for k, v in (doc.get("model") or {}).items() if k not in CHECKSUM_KEYS}
    doc["model"] = model
    warnings: list[str] = []
    external = bool(model.get(_EXTERNAL))
    if external and to != FORMAT_1_2:
        raise ConversionError(
            f"model.external_data: a model with external data is carried by format 1.2.0"
            f" only, not {to}"
        )
    keep_signatures = to == FORMAT_1_2 and not strip_signatures
    if _SIGNED in doc and not keep_signatures:
        if not strip_signatures:
            warnings.append(f"signatures removed: format {to} has none")
        del doc[_SIGNED]
    if to == UPSTREAM:
        header, more = to_upstream(doc, overrides, onnx_info)
        return Target(header, FORMAT_1_1, True, warnings + more)
    if to == FORMAT_1_0:
        version = model.get("version")
        if isinstance(version, str) and re.fullmatch(r"[0-9]{1,18}", version):
            model["version"] = int(version)
        return Target(doc, FORMAT_1_0, False, warnings)
    if to == FORMAT_1_2 and _SIGNED not in doc and not external:
        warnings.append("written as 1.1.0: format 1.2.0 is only written with signatures")
        to = FORMAT_1_1
    return Target(doc, to, True, warnings)


def passed_through(reader: BundleReader, info: BundleInfo) -> list[ExternalSource]:
    """The external data files of the bundle ``reader`` reads, for an encoder: each opened
    in turn as the next file of the reader (the encoder asks in bundle order), streamed
    through and checked against what ``info`` declares."""
    files = reader.iter_external()

    @contextlib.contextmanager
    def next_file() -> Iterator[BinaryIO]:
        _, chunks = next(files)
        yield ChunkStream(chunks)  # type: ignore[misc]

    return [ExternalSource(e.path, e.size or 0, next_file, e.md5, e.sha256)
            for e in info.external]  # fmt: skip


def convert(
    bundle_path: str,
    out_path: str,
    *,
    to: str,
    strip_signatures: bool = False,
    overrides: UpstreamOverrides | None = None,
    compression: str = NONE,
    level: int = 3,
    force: bool = False,
    limits: Limits | None = None,
    progress: Progress = None,
) -> ConvertResult:
    """Rewrite the bundle at ``bundle_path`` (``-``: stdin) to ``out_path`` in format ``to``.

    The output is written atomically and only once the payload was verified.

    Example:

    ```python
    from heimdall_io.tools.convert import convert

    result = convert("model.heimdall", "model-1.0.0.heimdall", to="1.0.0")
    print(result.source_version, "->", result.format_version, result.warnings)
    ```
    """
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(open_input(bundle_path))
        if not is_seekable(src):
            src = stack.enter_context(spooled_copy(src))
        start = src.tell()
        # The upstream service's loader needs no format_version: its bundles may lack one.
        info = inspect_bundle(src, limits=limits, default_version=FORMAT_1_0)
        overrides = overrides or UpstreamOverrides()
        payload: BinaryIO | None = None
        onnx_info = None
        if to == UPSTREAM and needs_onnx_info(info.document, overrides):
            # Opset, shapes or parameter count come from the model itself.
            payload = stack.enter_context(tempfile.TemporaryFile())
            src.seek(start)
            reader = BundleReader(src, limits=limits, default_version=FORMAT_1_0)
            reader.copy_payload(payload, progress)
            payload.seek(0)
            onnx_info = read_onnx_info(payload)
            payload.seek(0)
        target = target_document(info.document, to, strip_signatures=strip_signatures,
                                 overrides=overrides, onnx_info=onnx_info)  # fmt: skip
        if payload is None:
            src.seek(start)
            reader = BundleReader(src, limits=limits, default_version=FORMAT_1_0)
            payload = reader.open_payload(progress)
        out = stack.enter_context(atomic_output(out_path, force=force))
        written = write_bundle(
            out, target.header, payload, size=info.payload_size, md5=info.md5,
            sha256=info.sha256, compression=compression, level=level,
            format_version=target.format_version, checksums=target.checksums,
            external=passed_through(reader, info),
        )  # fmt: skip
        return ConvertResult(info.format_version, target.format_version, target.warnings,
                             written.digests, written.bytes_out)  # fmt: skip
