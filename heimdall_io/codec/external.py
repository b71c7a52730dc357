"""The files of ``model.external_data`` (format 1.2.0), read after the main payload.

Each entry's data is a payload of its own: streamed from the scanner's buffer, decoded
and hashed like the main one (:mod:`.payload`, :class:`.checksums.Hasher`), and checked
against the entry's declared size and digests once the entry is closed (they may follow
the data). On an uncompressed seekable file, skipping an entry whose size is declared is
a seek, so ``inspect`` reads no payload byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from ..format.document import EXTERNAL_DATA_KEY, EXTERNAL_PAYLOAD_KEY
from .info import ExternalInfo, declared_external
from .payload import decode_hashed, skip_string
from .scanner import Scanner
from .walker import DocumentWalker

Progress = Callable[[int], None] | None


class ExternalFiles:
    """The external data entries of one :class:`~.decoder.BundleReader`, in bundle order.

    ``pending`` is the entry whose data the scanner stands at (None: no more entries).
    """

    def __init__(self, scan: Scanner, walker: DocumentWalker, read_size: int) -> None:
        self._scan, self._walker, self._read_size = scan, walker, read_size
        self.pending: dict[str, Any] | None = None
        #: The entries read (or skipped) so far.
        self.done: list[ExternalInfo] = []

    def _where(self) -> str:
        return f"model.{EXTERNAL_DATA_KEY}[{len(self.done)}].{EXTERNAL_PAYLOAD_KEY}"

    def chunks(self, busy: bool, max_size: int | None, progress: Progress) -> Iterator[bytes]:
        """The decoded data of ``pending``; at its end, the entry is checked and the walk
        moves on to the next entry (or the end of the document)."""
        entry = self.pending
        assert entry is not None
        digests = yield from decode_hashed(self._scan, self._read_size, self._where(),
                                           busy=busy, max_size=max_size, progress=progress,
                                           what="file")  # fmt: skip
        self._advance(entry, digests)

    def _advance(self, entry: dict[str, Any], digests: Any) -> None:
        self.pending = self._walker.past_payload()  # the rest of the entry: its digests
        declared = declared_external(entry)
        if digests is not None:
            digests.check(size=declared.size, md5=declared.md5, sha256=declared.sha256,
                          what=f"external data file {entry['path']!r}")  # fmt: skip
        self.done.append(ExternalInfo(entry["path"], declared, digests))

    def skip(self, src: BinaryIO, start: int, seekable: bool) -> None:
        """Move past every remaining entry without decoding it (a seek when it can)."""
        scan = self._scan
        while (entry := self.pending) is not None:
            offset, size = self._walker.external_offset, entry.get("size_bytes")
            skipped = False
            if seekable and isinstance(size, int) and size >= 0:
                end = offset + 4 * ((size + 2) // 3)
                src.seek(start + end)
                if src.read(1) == b'"':
                    scan.reset(end + 1)
                    skipped = True
                else:
                    src.seek(start + offset)
                    scan.reset(offset)
            if not skipped:
                skip_string(scan, self._read_size, self._where())
            self._advance(entry, None)

    def drain(self, busy: bool, max_size: int | None) -> None:
        """Decode and check every remaining entry, keeping none of it."""
        while self.pending is not None:
            for _ in self.chunks(busy, max_size, None):
                pass
