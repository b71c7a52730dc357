"""What reading a bundle tells: its document, and what is known of its payload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..format.document import BundleHeader
from .checksums import Digests


@dataclass(frozen=True)
class Declared:
    """What a bundle says about its payload (each may be absent in format 1.0.0)."""

    size: int | None = None
    md5: str | None = None
    sha256: str | None = None


class _Facts:
    """Size and digests of a payload: computed if it was decoded, else as declared."""

    declared: Declared
    digests: Digests | None

    @property
    def size(self) -> int | None:
        """Size of the decoded payload: computed if it was decoded, else as declared."""
        return self.digests.size if self.digests else self.declared.size

    @property
    def md5(self) -> str | None:
        """MD5 of the decoded payload: computed if it was decoded, else as declared."""
        return self.digests.md5 if self.digests else self.declared.md5

    @property
    def sha256(self) -> str | None:
        """SHA-256 of the decoded payload: computed if it was decoded, else as declared."""
        return self.digests.sha256 if self.digests else self.declared.sha256

    @property
    def verified(self) -> bool:
        """True when the checksums were computed (and matched any declared)."""
        return self.digests is not None


@dataclass(frozen=True)
class ExternalInfo(_Facts):
    """One ``model.external_data`` file: its path, what the bundle declares, what was read."""

    path: str
    declared: Declared
    #: Computed while decoding; None when the data was skipped (inspect).
    digests: Digests | None = None


def declared_external(entry: dict[str, Any]) -> Declared:
    """What an external data entry declares about its file."""
    return Declared(entry.get("size_bytes"), entry.get("md5"), entry.get("sha256"))


@dataclass(frozen=True)
class BundleInfo(_Facts):
    """A bundle read to the end: its document (payload excluded) and payload facts.

    Example:

    ```python
    from heimdall_io import read_bundle

    with open("model.heimdall", "rb") as f, open("model.onnx", "wb") as out:
        info = read_bundle(f, out)
    print(info.header.model.model_name, info.payload_size, info.md5, info.verified)
    ```
    """

    format_version: str
    compression: str
    #: The JSON document in file order, without ``model.onnx_model_base64``.
    document: dict[str, Any]
    #: The same, validated and typed.
    header: BundleHeader
    declared: Declared
    #: Computed while decoding; None when the payload was skipped (inspect).
    digests: Digests | None
    #: Where the payload's base64 text starts, in the uncompressed bundle.
    payload_offset: int
    #: The files of ``model.external_data`` (format 1.2.0), in bundle order.
    external: tuple[ExternalInfo, ...] = ()

    @property
    def payload_size(self) -> int | None:
        """Size of the decoded payload: computed if it was decoded, else as declared."""
        return self.size
