"""Garbage collection: objects no model references, and abandoned uploads.

What an object's fate depends on (unreferenced objects only; a model's object is never
touched):

* a live import lease: kept, whatever its age (an import or registration in flight);
* an expired lease: removed, once gc has claimed (deleted) the lease, so that its import,
  should it still be running, can no longer register a row for it;
* no lease: removed if older than ``min_age`` (left by a failed cleanup, or by a
  heimdall-io from before leases).

Incomplete uploads (temporary files, multipart uploads) follow the same rules by the key
they were writing.

A model with external data is several objects: its ONNX object and, under that key's
prefix, one per file (``imported/net-1-abcd.onnx``, ``imported/net-1-abcd/weights.bin``).
Its import holds one lease, on the ONNX object's key, which covers them all
(:func:`~.records.owning_key`); its row references every one of them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..storage.base import ObjectInfo, utcnow
from .context import Context
from .records import IMPORTED_PREFIX, REGISTERED_PREFIX, owning_key


@dataclass(frozen=True)
class GcResult:
    """What gc removed (or, on a dry run, would remove).

    Example::

        result = service.gc(min_age=dt.timedelta(hours=1), dry_run=True)
        print(len(result.removed), "objects no model references")
    """

    #: Objects no model references.
    removed: list[ObjectInfo]
    #: Unfinished uploads removed (left by killed processes; 0 on a dry run).
    incomplete_purged: int = 0


def collect_garbage(ctx: Context, *, min_age: dt.timedelta, dry_run: bool = False) -> GcResult:
    """Remove unreferenced objects: those whose import lease expired, and those with no
    lease older than ``min_age``; never one with a live lease."""
    cutoff = utcnow() - min_age
    # The order of these reads is what makes gc safe against an import committing
    # meanwhile (its row inserted and its lease deleted in one transaction):
    # 1. objects, then incomplete uploads: each was begun after its lease was taken;
    # 2. leases: an object of 1 without one here had lost it before this read, so its
    #    import had either committed by then or failed (or gc claimed the lease);
    # 3. referenced keys, read after 2, therefore see the row of every import that
    #    committed before 2. Reading them first would miss a row committed between the
    #    reads, whose lease would be gone by 2: a new model's object would be removed.
    objects = [obj for prefix in (IMPORTED_PREFIX, REGISTERED_PREFIX)
               for obj in ctx.store.list(prefix)]  # fmt: skip
    uploads = ctx.store.list_incomplete()
    leases = {lease.object_key: lease for lease in ctx.registry.leases()}
    referenced = ctx.registry.referenced_keys()

    old = {o.key for o in objects
           if owning_key(o.key) not in leases and o.last_modified <= cutoff}  # fmt: skip
    expired = {key for key, lease in leases.items() if lease.expired}
    if dry_run:
        doomed = (old | _covered(objects, expired)) - referenced
        return GcResult([o for o in objects if o.key in doomed])
    # Claimed leases are ours: their imports can no longer register (a row committed since
    # 3 would have taken its lease, so it cannot be among them).
    claimed = set(ctx.registry.claim_expired_leases()) - referenced
    doomed = (old - referenced) | _covered(objects, claimed)
    removed = [o for o in objects if o.key in doomed]
    for key in sorted(doomed):  # claimed ones not listed: written after 1, remove them too
        ctx.store.delete(key)
    purged = 0
    for upload in uploads:
        owner = owning_key(upload.key) if upload.key else None
        if owner in claimed or (owner not in leases and upload.started <= cutoff):
            ctx.store.abort_incomplete(upload)
            purged += 1
    return GcResult(removed, purged)


def _covered(objects: list[ObjectInfo], keys: set[str]) -> set[str]:
    """``keys`` and the listed objects their leases cover (a model's external data)."""
    return keys | {o.key for o in objects if owning_key(o.key) in keys}
