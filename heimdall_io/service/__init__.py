"""The service layer: register, list, export, import, delete, history, gc.

The CLI and the HTTP API are thin shells over :class:`Service`. It speaks bundles to the
codec and records/streams to the storage adapters; it never holds a payload in memory.
Each operation is a module of its own (importing, exporting, registering, gc) over a
:class:`~heimdall_io.service.context.Context`; records.py maps rows to documents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .context import ModelChecker, Progress
    from .exporting import ExportOptions, ExportStream
    from .facade import Service
    from .gc import GcResult
    from .importing import ImportOptions, ImportResult
    from .records import sections_of

__all__ = [
    "ExportOptions",
    "ExportStream",
    "GcResult",
    "ImportOptions",
    "ImportResult",
    "ModelChecker",
    "Progress",
    "Service",
    "sections_of",
]

# Imported on first use: a command loads the one operation it runs (export: no decoder).
_WHERE = {
    "ExportOptions": ".exporting",
    "ExportStream": ".exporting",
    "GcResult": ".gc",
    "ImportOptions": ".importing",
    "ImportResult": ".importing",
    "ModelChecker": ".context",
    "Progress": ".context",
    "Service": ".facade",
    "sections_of": ".records",
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
