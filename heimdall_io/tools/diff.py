"""Two bundles compared: metadata, payload identity, and the ONNX models when they differ.

The payloads are compared by the checksums both bundles declare when they do (an
uncompressed bundle of ours is then read without its payload: a seek). Otherwise, or to
compare the models, the payloads are decoded by streaming into temporary files (never into
memory) and hashed on the way; the model comparison reads those files with the
wire-format reader (:mod:`.model_diff`). Memory stays flat at any model size.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..codec import BundleInfo, BundleReader, Limits, inspect_bundle, is_seekable
from ..files.paths import open_input
from .document_diff import SectionDiff, diff_documents
from .model_diff import ModelDiff, diff_models

__all__ = ["BundleDiff", "PayloadDiff", "Side", "diff_bundles"]


@dataclass(frozen=True)
class Side:
    """One bundle as compared: where it is, its format and wrapping, its payload facts."""

    path: str
    format_version: str
    compression: str
    size: int | None
    md5: str | None
    sha256: str | None


@dataclass(frozen=True)
class PayloadDiff:
    """Whether the payloads are identical, and how that was found out."""

    identical: bool
    #: ``declared checksums`` (neither payload decoded), ``streaming`` (both decoded and
    #: hashed) or ``declared checksums and streaming`` (one bundle declares none).
    method: str


@dataclass
class BundleDiff:
    """Everything :func:`diff_bundles` found; ``same`` is what the exit code reports."""

    a: Side
    b: Side
    sections: list[SectionDiff]
    payload: PayloadDiff
    #: None when the payloads are identical or the model comparison was not asked for.
    model: ModelDiff | None = None
    ignored: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        """True when every section and the payload are the same (the wrapping may differ)."""
        return self.payload.identical and all(s.status == "same" for s in self.sections)


class _Bundle:
    """One side's bundle: its info, and its payload decoded to a temporary file if needed."""

    def __init__(self, path: str, limits: Limits | None, stack: contextlib.ExitStack) -> None:
        self.path, self.limits, self._stack = path, limits, stack
        self.payload_path: str | None = None
        self._src: BinaryIO | None = None
        src = stack.enter_context(open_input(path))
        if is_seekable(src):
            self._src, self._start = src, src.tell()
            self.info = inspect_bundle(src, limits=limits)  # reads no payload if it can
        else:  # a pipe can be read once: decode it now
            self._start = 0
            self.info = self._decode(src)

    def decode(self) -> BundleInfo:
        """Decode the payload to a temporary file (once); the verified info."""
        if self.payload_path is None:
            assert self._src is not None
            self._src.seek(self._start)
            self.info = self._decode(self._src)
        return self.info

    def _decode(self, src: Any) -> BundleInfo:
        tmp = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="heimdall-diff-"))
        self.payload_path = os.path.join(tmp, "model.onnx")
        with open(self.payload_path, "wb") as out:
            return BundleReader(src, limits=self.limits).copy_payload(out)

    @property
    def side(self) -> Side:
        i = self.info
        return Side(self.path, i.format_version, i.compression, i.payload_size, i.md5, i.sha256)


def _same_payload(a: BundleInfo, b: BundleInfo) -> bool | None:
    """By the strongest digest both bundles have (declared or computed); None if none."""
    for name in ("sha256", "md5"):
        da, db = getattr(a, name), getattr(b, name)
        if da is not None and db is not None:
            sizes = (a.payload_size, b.payload_size)
            return bool(da == db) and (None in sizes or sizes[0] == sizes[1])
    return None


def diff_bundles(
    path_a: str,
    path_b: str,
    *,
    ignore: Iterable[str] = (),
    models: bool = True,
    limits: Limits | None = None,
) -> BundleDiff:
    """Compare the bundles at ``path_a`` and ``path_b`` (one of them may be ``-``: stdin).

    Args:
        ignore: dotted paths left out of the metadata comparison (``bundle_metadata``,
            ``training_config.epochs``).
        models: compare the ONNX models when the payloads differ (decodes both).

    Raises:
        BundleError: a bundle is invalid (a declared checksum that does not match the
            payload, when it is decoded, included).

    Example:

    ```python
    from heimdall_io.tools.diff import diff_bundles

    d = diff_bundles("v1.heimdall", "v2.heimdall", ignore=["bundle_metadata"])
    print(d.same, d.payload.identical, d.payload.method)
    ```
    """
    ignored = list(ignore)
    with contextlib.ExitStack() as stack:
        a = _Bundle(path_a, limits, stack)
        b = _Bundle(path_b, limits, stack)
        identical = _same_payload(a.info, b.info)
        if identical is None or (not identical and models):
            # Checksums to compute, or models to compare: decode both (verified).
            a.decode()
            b.decode()
            identical = bool(_same_payload(a.info, b.info))
        streamed = (a.info.verified, b.info.verified)
        method = {(True, True): "streaming", (False, False): "declared checksums"}.get(
            streamed, "declared checksums and streaming"
        )
        model = None
        if not identical and models:
            assert a.payload_path is not None and b.payload_path is not None
            model = diff_models(a.payload_path, b.payload_path)
        return BundleDiff(
            a.side, b.side, diff_documents(a.info.document, b.info.document, ignored),
            PayloadDiff(identical, method), model, ignored,
        )  # fmt: skip
