"""Numbers from settings (environment variables, URL query values), checked one way.

A setting that is present but not a valid number is a ConfigError naming it, never a
silent default: an operator's typo must not turn a timeout off.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .errors import ConfigError

__all__ = ["parse_count", "parse_seconds"]


def parse_count(name: str, text: str, parse: Callable[[str], int] = int) -> int:
    """A whole number of at least 1 (``parse`` may accept units, e.g. sizes).

    >>> parse_count("HEIMDALL_DB_POOL_SIZE", "10")
    10
    """
    try:
        value = parse(text.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {text!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, not {text!r}")
    return value


def parse_seconds(
    name: str, text: str, *, allow_zero: bool = False, maximum: float = math.inf
) -> float:
    """A finite number of seconds, above 0 (or 0 with ``allow_zero``), at most ``maximum``.

    >>> parse_seconds("HEIMDALL_IMPORT_LEASE_SECONDS", "2.5")
    2.5
    """
    try:
        value = float(text.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {text!r}") from None
    low_ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and low_ok and value <= maximum):
        least = "at least 0" if allow_zero else "more than 0"
        most = "" if maximum == math.inf else f" and at most {maximum:g}"
        raise ConfigError(f"{name} must be {least}{most} seconds, not {text!r}")
    return value
