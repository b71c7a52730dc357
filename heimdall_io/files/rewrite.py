"""A bundle's metadata rewritten around the same payload: e.g. a signature added.

    rewrite("model.heimdall", "signed.heimdall", lambda h: sign_document(h, release_key))

The new header gets the payload's size and digests in ``model`` before ``transform`` sees
it, so a signature made there covers them. The payload then streams from the old bundle
into the new one and is checked twice on the way: by the reader against the digests the
old bundle declares, and by the encoder against those the new header declares. A
mismatch aborts the write, so the output exists only if its payload is the one signed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from ..codec import BundleReader, Limits, is_seekable, write_bundle
from ..format.document import CHECKSUM_KEYS
from .bundles import PackResult, Progress
from .paths import atomic_output, open_input, spooled_copy

Transform = Callable[[dict[str, Any]], dict[str, Any]]


def rewrite(
    bundle_path: str,
    out_path: str,
    transform: Transform,
    *,
    force: bool = False,
    limits: Limits | None = None,
    progress: Progress = None,
) -> PackResult:
    """Write ``transform(header)`` with the payload of ``bundle_path`` to ``out_path``.

    The output keeps the input's compression. ``-`` reads stdin (spooled to a temporary
    file: the bundle is read twice) or writes stdout.
    """
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(open_input(bundle_path))
        if not is_seekable(src):
            src = stack.enter_context(spooled_copy(src))
        start = src.tell()
        reader = BundleReader(src, limits=limits)
        model = reader.document.get("model")
        ahead = isinstance(model, dict) and all(model.get(k) is not None for k in CHECKSUM_KEYS)
        # Declared digests are checked on the second pass; without them, compute them now.
        info = reader.skip_payload() if ahead else reader.finish()
        digests = {"size": info.payload_size, "md5": info.md5, "sha256": info.sha256}
        header = dict(info.document)
        declared = dict(zip(CHECKSUM_KEYS, digests.values(), strict=True))
        header["model"] = {**header["model"], **declared}
        header = transform(header)
        src.seek(start)
        again = BundleReader(src, limits=limits)
        out = stack.enter_context(atomic_output(out_path, force=force))
        result = write_bundle(
            out, header, again.open_payload(progress), compression=again.compression,
            **digests,
        )  # fmt: skip
        return PackResult(header, result)


__all__ = ["rewrite"]
