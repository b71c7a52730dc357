"""``GET /healthz``: each part pinged in a worker thread, bounded in time, answered in
public words.

The registry and the object store are pinged at the same time, each in its own worker
thread, for at most ``timeout`` seconds (HEIMDALL_HEALTH_TIMEOUT, default 5). A ping that
does not answer in time is abandoned (its thread ends on its own) and its part reported
``"unavailable"``. While a part's earlier ping is still stuck, later probes do not start
another one but say ``"unavailable"`` at once: a hung database and a load balancer probing
every second must not pile up threads.

The route needs no key, so its body says only ``"ok"`` or ``"unavailable"``: the error
itself (which names the database's user, host and port, the S3 endpoint or a path) goes
to the server log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

import anyio
import anyio.to_thread

log = logging.getLogger("heimdall_io.api")

OK = "ok"
UNAVAILABLE = "unavailable"


class HealthCheck:
    """Pings parts with a time bound; at most one ping per part in flight."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._running: set[str] = set()

    async def check(self, parts: Mapping[str, Callable[[], None]]) -> dict[str, str]:
        """``{name: "ok" | "unavailable"}`` for each ``name: ping`` of ``parts``."""
        status: dict[str, str] = {}
        async with anyio.create_task_group() as tg:
            for name, ping in parts.items():
                tg.start_soon(self._probe, name, ping, status)
        return {name: status[name] for name in parts}

    async def _probe(self, name: str, ping: Callable[[], None], status: dict[str, str]) -> None:
        with self._lock:
            stuck = name in self._running
            self._running.add(name)
        if stuck:
            log.warning("health: %s unavailable: its previous ping has not returned", name)
            status[name] = UNAVAILABLE
            return

        def run() -> str | None:
            try:
                ping()
                return None
            except Exception as exc:  # any failure means unavailable; its text is logged
                return f"{type(exc).__name__}: {exc}".splitlines()[0]
            finally:
                with self._lock:
                    self._running.discard(name)

        error: str | None = f"no answer within {self.timeout:g} s"
        with anyio.move_on_after(self.timeout):
            error = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        if error is None:
            status[name] = OK
        else:
            log.warning("health: %s unavailable: %s", name, error)
            status[name] = UNAVAILABLE


__all__ = ["OK", "UNAVAILABLE", "HealthCheck"]
