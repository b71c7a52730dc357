"""heimdall-io: streaming export and import of Heimdall models as ``.heimdall`` bundles.

The codec is the heart of it::

    import heimdall_io as hio

    # write: metadata + a binary stream -> bundle
    with open("model.onnx", "rb") as onnx, open("model.heimdall", "wb") as out:
        hio.write_bundle(out, header, onnx)

    # read: bundle -> metadata + payload sink
    with open("model.heimdall", "rb") as f, open("model.onnx", "wb") as out:
        info = hio.read_bundle(f, out)

See README.md for the whole API and spec/bundle-format.md for the format.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .codec import (
    BundleEncoder,
    BundleInfo,
    BundleReader,
    Limits,
    inspect_bundle,
    read_bundle,
    write_bundle,
)
from .codec.checksums import Digests, Hasher
from .errors import *  # noqa: F403 - the hierarchy is public API
from .format.document import FORMAT_VERSION, BundleHeader

__all__ = [
    "FORMAT_VERSION",
    "BundleEncoder",
    "BundleHeader",
    "BundleInfo",
    "BundleReader",
    "Digests",
    "Hasher",
    "Limits",
    "__version__",
    "inspect_bundle",
    "read_bundle",
    "write_bundle",
]
