"""Import leases: what keeps gc away from the object of an import (or registration) in flight.

Before the first byte of a new object reaches the store, the writer records a lease on its
key in the registry; a small timer thread renews it every third of its duration while the
writer runs; the model row is written in the same transaction that deletes the lease
(:meth:`~heimdall_io.storage.base.Registry.add` with ``lease_owner``), which fails if gc has
claimed the lease meanwhile. gc never removes an object with a live lease, whatever its
age, and removes an object whose lease expired (its writer was killed, or stalled longer
than the lease) only after claiming (deleting) the lease: so a model row never appears
for an object gc removed. ``HEIMDALL_IMPORT_LEASE_SECONDS`` (default 300) is how long a
killed import's object stays protected.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Mapping

from ..errors import HeimdallError
from ..setting_values import parse_seconds
from ..storage.base import Registry

__all__ = ["DEFAULT_LEASE_SECONDS", "LEASE_SECONDS_ENV", "ObjectLease", "lease_seconds_from_env"]

LEASE_SECONDS_ENV = "HEIMDALL_IMPORT_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 300.0

log = logging.getLogger(__name__)


def _host() -> str:
    """This machine's name (os.uname spares the socket module's import where it exists)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def lease_seconds_from_env(environ: Mapping[str, str] | None = None) -> float:
    """``$HEIMDALL_IMPORT_LEASE_SECONDS`` (ConfigError unless a positive number), else 300."""
    raw = (os.environ if environ is None else environ).get(LEASE_SECONDS_ENV, "").strip()
    return parse_seconds(LEASE_SECONDS_ENV, raw) if raw else DEFAULT_LEASE_SECONDS


def _new_owner() -> str:
    """Who holds a lease: host and process (for an operator reading the table), and a
    random part (unique per lease)."""
    return f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class ObjectLease:
    """A lease on one object key, renewed by a daemon thread until :meth:`close`.

    >>> lease = ObjectLease.acquire(registry, "imported/net-1-abcd.onnx", 300)
    >>> try:
    ...     store.put(lease.key, data)
    ...     registry.add(record, entry, lease_owner=lease.owner); lease.taken()
    ... finally:
    ...     lease.close()  # releases the lease unless the model row took it
    """

    def __init__(self, registry: Registry, key: str, seconds: float, owner: str) -> None:
        self.registry, self.key, self.seconds, self.owner = registry, key, seconds, owner
        self._stop = threading.Event()
        self._taken = False
        self.lost = False  # set once a renewal found the lease gone (claimed by gc)
        self._thread = threading.Thread(
            target=self._renew, name=f"heimdall-lease-{owner[-12:]}", daemon=True
        )

    @classmethod
    def acquire(cls, registry: Registry, key: str, seconds: float) -> ObjectLease:
        """Record the lease (RegistryError if the key is leased already) and start renewing."""
        lease = cls(registry, key, seconds, _new_owner())
        registry.acquire_lease(key, lease.owner, seconds)
        lease._thread.start()
        return lease

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                if not self.registry.renew_lease(self.key, self.owner, self.seconds):
                    self.lost = True
                    log.warning("import lease on %s was claimed by gc", self.key)
                    return
            except HeimdallError as exc:  # try again at the next tick; it may still expire
                log.warning("cannot renew the import lease on %s: %s", self.key, exc)

    def taken(self) -> None:
        """The model row took the lease (deleted it in its transaction)."""
        self._taken = True
        self._stop.set()

    def abandon(self) -> None:
        """Stop renewing and leave the lease to expire (the row may have taken it: a commit
        whose outcome is unknown); gc then removes the object unless a row has it."""
        self._taken = True
        self._stop.set()

    def close(self) -> None:
        """Stop renewing; release the lease unless the model row took it (best effort: an
        unreleased lease expires, and gc then removes what the writer left)."""
        self._stop.set()
        if not self._taken:
            try:
                self.registry.release_lease(self.key, self.owner)
            except HeimdallError as exc:
                log.warning("cannot release the import lease on %s: %s", self.key, exc)

    def __enter__(self) -> ObjectLease:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
