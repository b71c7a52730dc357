"""The set of public keys a verifier trusts, by key id: from a file, a directory or keys.

trusted = TrustedKeys.load("/etc/heimdall/trusted")     # every *.pub in it
trusted = TrustedKeys.load("team.pub")                  # one file, one or more keys
key = trusted.get("e1447d40061f5663")
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .errors import SigningKeyError
from .keys import PUBLIC_SUFFIX, PublicKey, parse_public_keys, read_key_file


class TrustedKeys(Mapping[str, PublicKey]):
    """Public keys by key id; each has a name (its file's stem, or its comment)."""

    def __init__(self, keys: Iterable[PublicKey] = (), *, source: str = "trusted keys") -> None:
        self.source = source
        self._keys: dict[str, PublicKey] = {}
        for key in keys:
            known = self._keys.get(key.key_id)
            if known is not None and known.key != key.key:
                raise SigningKeyError(f"{source}: two different keys share the key id {key.key_id}")
            self._keys.setdefault(key.key_id, key)

    def __getitem__(self, key_id: str) -> PublicKey:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def name(self, key_id: str) -> str | None:
        """The name under which key ``key_id`` is trusted, if it is."""
        key = self._keys.get(key_id)
        return (key.comment or None) if key is not None else None

    def __repr__(self) -> str:
        return f"TrustedKeys({self.source!r}, {sorted(self._keys)})"

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrustedKeys:
        """Keys from a file (minisign ``.pub`` files, concatenated or not, or base64 lines)
        or a directory (its ``*.pub`` files, not recursive). Keys from a directory are
        named after their file. An empty set is an error: it could only reject."""
        path = Path(path)
        keys: list[PublicKey] = []
        if path.is_dir():
            for file in sorted(path.glob("*" + PUBLIC_SUFFIX)):
                for key in parse_public_keys(
                    read_key_file(file, "trusted keys"), f"public key {file}"
                ):
                    keys.append(PublicKey(key.keynum, key.key, file.stem))
            what = f"{path} (no *{PUBLIC_SUFFIX} files)"
        else:
            keys = parse_public_keys(read_key_file(path, "trusted keys"), f"public key file {path}")
            if len(keys) == 1:  # a single .pub file: named after the file, as in a directory
                keys = [PublicKey(keys[0].keynum, keys[0].key, path.stem)]
            what = str(path)
        if not keys:
            raise SigningKeyError(f"no public keys in {what}")
        return cls(keys, source=str(path))
