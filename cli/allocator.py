"""glibc malloc settings for a process that streams models through large buffers.

The codec moves a model through buffers of about 1 MiB (file reads, base64 output,
request-body pieces, S3 part buffers), allocated and freed many times a second, often by
different threads. With glibc's defaults such a buffer is a fresh ``mmap`` or, once the
dynamic threshold has moved, comes from an arena whose free top is soon given back to
the kernel: either way its pages are faulted in and zeroed again for every buffer, which
measured at 10-20% of an import's CPU time (``heimdall serve`` and the CLI alike). Fixed
thresholds keep buffers up to :data:`MMAP_THRESHOLD` in the arenas, and let each arena
keep up to :data:`TRIM_THRESHOLD` free for the next one (4 and 32 MiB saved no more CPU,
and held more memory).

Settings given in the environment (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``)
win; on other C libraries this does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

MMAP_THRESHOLD = 2 << 20
TRIM_THRESHOLD = 8 << 20
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers
_M_MMAP_THRESHOLD = -3
_ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def tune_malloc() -> bool:
    """Apply the thresholds to this process (call it early, once); True if they were."""
    if not sys.platform.startswith("linux") or any(os.environ.get(v) for v in _ENVIRONMENT):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "tune_malloc"]
