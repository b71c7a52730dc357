"""Object keys: the rules every object store enforces, whatever keeps the bytes.

A key is a relative POSIX path ("imported/name-1-abcd.onnx"). The rules are those of the
strictest store (a directory tree), so that a key valid in one store is valid in all of
them and objects can move between stores unchanged.
"""

from __future__ import annotations

from heimdall_io.errors import ObjectStoreError

__all__ = ["TEMP_PREFIX", "check_key", "check_prefix"]

#: Name prefix of in-progress uploads in a directory store; such files are never listed,
#: so no key may name one.
TEMP_PREFIX = ".tmp-"


def check_prefix(prefix: str) -> str:
    """A listing prefix: like a key, but may be empty or end with "/"."""
    if not isinstance(prefix, str):
        raise ObjectStoreError(f"invalid key prefix: {prefix!r}")
    if prefix == "":
        return prefix
    check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def check_key(key: str) -> str:
    """``key`` if it is a safe relative POSIX path, else ObjectStoreError.

    Rejected: empty, absolute, "..", "." or empty segments ("a//b", "a/"), backslashes,
    NUL and other control characters, and names of temporary files.
    """
    if not isinstance(key, str) or not key:
        raise ObjectStoreError(f"invalid object key: {key!r}")
    reason = None
    if key.startswith("/"):
        reason = "absolute"
    elif "\\" in key:
        reason = "backslash"
    elif any(ord(c) < 32 or ord(c) == 127 for c in key):
        reason = "control character"
    elif ".." in key:
        reason = '".."'
    else:
        segments = key.split("/")
        if any(s in ("", ".") for s in segments):
            reason = "empty segment"
        elif segments[-1].startswith(TEMP_PREFIX):
            reason = f"{TEMP_PREFIX!r} names are reserved"
    if reason is not None:
        raise ObjectStoreError(f"invalid object key ({reason}): {key!r}")
    return key
