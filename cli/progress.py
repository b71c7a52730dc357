"""A progress line on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
import time


class Progress:
    """Callable with a byte count; draws ``label done/total MiB (pct) rate`` at most 10x/s."""

    def __init__(self, label: str, total: int | None, enabled: bool) -> None:
        self.label = label
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self.done = 0
        self.start = time.monotonic()
        self._last = 0.0

    def __call__(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        mib = self.done / 2**20
        rate = mib / max(now - self.start, 1e-6)
        if self.total:
            pct = 100 * self.done / self.total
            text = f"{self.label} {mib:,.0f}/{self.total / 2**20:,.0f} MiB ({pct:.0f}%)"
        else:
            text = f"{self.label} {mib:,.0f} MiB"
        sys.stderr.write(f"\r{text}  {rate:,.0f} MiB/s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self._last:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
