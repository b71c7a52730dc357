"""Building the metadata of a new bundle (pack, register, export).

This module names the package version (``exported_by``), so it imports ``heimdall_io``;
``heimdall_io.format`` does not import it in turn, which keeps the import graph acyclic.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from ..version import __version__
from .document import FORMAT_VERSION

EXPORTED_BY = f"heimdall-io {__version__}"
#: Top-level sections besides bundle_metadata and model, in the order they are written.
SECTIONS = ("training_config", "performance_metrics", "normalization_stats", "sample_predictions")


def now_iso() -> str:
    """The current UTC time as ISO 8601 with a ``Z`` suffix, as ``created_at`` holds it.

    Example:

    ```python
    from heimdall_io.format.header import now_iso

    now_iso()   # e.g. "2025-01-15T10:30:00.123456Z"
    ```
    """
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def bundle_metadata(description: str | None = None) -> dict[str, Any]:
    """A fresh ``bundle_metadata`` section: a new bundle id, now, and this exporter.

    Example:

    ```python
    from heimdall_io.format.header import bundle_metadata

    meta = bundle_metadata("nightly export")
    print(meta["bundle_id"], meta["created_at"], meta["exported_by"])
    ```
    """
    meta: dict[str, Any] = {
        "bundle_id": str(uuid.uuid4()),
        "created_at": now_iso(),
        "exported_by": EXPORTED_BY,
    }
    if description is not None:
        meta["description"] = description
    return meta


def new_header(
    model: Mapping[str, Any],
    *,
    description: str | None = None,
    sections: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A bundle header: fresh bundle_metadata, the given sections, ``model`` last.

    ``model`` holds the model fields (no payload); ``sections`` maps section names to
    values (None values are left out); ``extra`` adds top-level fields the format does
    not name (kept from an imported bundle).

    Example:

    ```python
    from heimdall_io.format.header import new_header

    header = new_header(
        {"model_name": "LocalizationNet", "version": 1},
        description="trained on the north sites",
        sections={"training_config": {"epochs": 100}},
    )
    assert list(header)[-1] == "model"
    ```
    """
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "bundle_metadata": bundle_metadata(description),
    }
    for name, value in (sections or {}).items():
        if value is not None:
            doc[name] = value
    for name, value in (extra or {}).items():
        doc.setdefault(name, value)
    doc["model"] = dict(model)
    return doc
