"""Garbage collection: objects no model references, and abandoned uploads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..storage.base import ObjectInfo, utcnow
from .context import Context
from .records import IMPORTED_PREFIX, REGISTERED_PREFIX


@dataclass(frozen=True)
class GcResult:
    """What gc removed (or, on a dry run, would remove)."""

    #: Objects no model references.
    removed: list[ObjectInfo]
    #: Unfinished multipart uploads removed (left by killed processes; 0 on a dry run).
    incomplete_purged: int = 0


def collect_garbage(ctx: Context, *, min_age: dt.timedelta, dry_run: bool = False) -> GcResult:
    """Remove objects no model references, older than ``min_age``."""
    referenced = ctx.registry.referenced_keys()
    cutoff = utcnow() - min_age
    orphans = [
        obj
        for prefix in (IMPORTED_PREFIX, REGISTERED_PREFIX)
        for obj in ctx.store.list(prefix)
        if obj.key not in referenced and obj.last_modified <= cutoff
    ]
    if dry_run:
        return GcResult(orphans)
    for obj in orphans:
        ctx.store.delete(obj.key)
    return GcResult(orphans, ctx.store.purge_incomplete(cutoff))
