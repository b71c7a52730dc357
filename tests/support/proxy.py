"""A TCP proxy on loopback that cuts connections mid-transfer, for the resume tests.

    with CuttingProxy(server.port, cut_down=1 << 20, cuts=2) as proxy:
        url = proxy.url("/api/v1/...")     # the first 2 connections die after 1 MiB down

``cut_down``/``cut_up``: after that many bytes server->client (or client->server) on a
connection, both sides of it are closed at once. Only the first ``cuts`` connections are
cut (``cuts=None``: every one); connections past ``accept_limit`` are closed at once.
It counts the bytes it forwarded each way, so a test can
check what a client actually fetched. It listens on 127.0.0.1 only and forwards only to
127.0.0.1; threads stop when it is closed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

__all__ = ["CuttingProxy"]


class CuttingProxy:
    host = "127.0.0.1"

    def __init__(
        self,
        upstream_port: int,
        *,
        cut_down: int | None = None,
        cut_up: int | None = None,
        cuts: int | None = 1,
        accept_limit: int | None = None,
    ) -> None:
        self.upstream_port = upstream_port
        #: Connections past this many are closed at once (a server gone for good).
        self.accept_limit = accept_limit
        self.cut_down, self.cut_up, self.cuts = cut_down, cut_up, cuts
        self.connections = 0
        self.cut_count = 0
        self.bytes_down = 0
        self.bytes_up = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server((self.host, 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True, name="cutting-proxy")
        self._thread.start()

    def url(self, path: str = "") -> str:
        return f"http://{self.host}:{self.port}{path}"

    @property
    def base_url(self) -> str:
        return self.url()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.connections += 1
                cut = self.cuts is None or self.connections <= self.cuts
                refused = self.accept_limit is not None and self.connections > self.accept_limit
            if refused:
                client.close()
                continue
            try:
                upstream = socket.create_connection((self.host, self.upstream_port), timeout=10)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.settimeout(None)
            self._sockets += [client, upstream]
            pair = (client, upstream)
            down = self.cut_down if cut else None
            up = self.cut_up if cut else None
            threading.Thread(target=self._pump, args=(upstream, client, down, "down", pair),
                             daemon=True).start()  # fmt: skip
            threading.Thread(target=self._pump, args=(client, upstream, up, "up", pair),
                             daemon=True).start()  # fmt: skip

    def _pump(self, src: socket.socket, dst: socket.socket, limit: int | None, way: str,
              pair: tuple[socket.socket, socket.socket]) -> None:  # fmt: skip
        sent = 0
        try:
            while True:
                want = 65536 if limit is None else min(65536, limit - sent)
                if want <= 0:
                    with self._lock:
                        self.cut_count += 1
                    break
                data = src.recv(want)
                if not data:
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
                sent += len(data)
                with self._lock:
                    if way == "down":
                        self.bytes_down += len(data)
                    else:
                        self.bytes_up += len(data)
        except OSError:
            pass
        for s in pair:  # a cut, or an error: both directions die
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()

    def __enter__(self) -> CuttingProxy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
