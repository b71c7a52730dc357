"""Byte sizes as people write them: ``104857600``, ``100MiB``, ``2GiB``, ``64k``."""

from __future__ import annotations

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20,
          "g": 1 << 30, "gib": 1 << 30}  # fmt: skip


def parse_size(text: str) -> int:
    """Bytes from a size with an optional binary unit (ValueError otherwise).

    >>> parse_size("100MiB")
    104857600
    """
    t = text.strip().lower().replace(" ", "")
    digits = t.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = t[len(digits) :]
    if not digits.isdigit() or unit not in _UNITS:
        raise ValueError(text)
    return int(digits) * _UNITS[unit]


def format_size(n: int) -> str:
    """``64 MiB`` for whole MiB, else ``1,234 bytes``."""
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else f"{n:,} bytes"
