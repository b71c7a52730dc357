"""A real MLflow tracking server for the tests: ``mlflow server`` on a free loopback port,
a SQLite backend store and a local artifact root (served through the tracking server, as
``mlflow-artifacts:``), in its own directory.

Like :mod:`tests.support.servers`, nothing here imports pytest: a server that cannot be
had raises :class:`~tests.support.servers.ServerUnavailable`, which ``tests/conftest.py``
turns into a skip (a failure under ``CI=true``). ``mlflow server`` comes with the full
``mlflow`` package (the ``dev`` extra installs it); the client side needs only
``mlflow-skinny`` (the ``mlflow`` extra).

The server starts in about 30 s (its database migrations), so the tests share one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.servers import STORAGE_VARIABLES, ServerUnavailable, free_ports, log_tail

MLFLOW_START_TIMEOUT = 180.0

#: MLflow's own client settings that must not leak from the caller into a test.
_CLIENT_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "HEIMDALL_MLFLOW_URI")


def mlflow_server_command() -> list[str]:
    """``python -m mlflow`` of this interpreter (ServerUnavailable without the server)."""
    # Found, not imported: the server's modules are heavy and warn on import.
    # (mlflow-skinny, the client, has mlflow.server but not what it runs on.)
    for module in ("mlflow.server", "sqlalchemy", "alembic", "flask"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        if not found:
            raise ServerUnavailable(
                f"the MLflow tracking server is not installed (no {module}): pip install mlflow"
            )
    return [sys.executable, "-m", "mlflow"]


class MlflowServer:
    """A running ``mlflow server``: its ``uri``, directory, log and process group."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.log_path = workdir / "mlflow.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def uri(self) -> str:
        """``http://127.0.0.1:PORT``, the tracking (and registry) URI."""
        return f"http://{self.host}:{self.port}"

    @property
    def artifact_root(self) -> Path:
        """Where the server keeps artifacts (``mlflow-artifacts:/`` resolves here)."""
        return self.workdir / "artifacts"

    def start(self, timeout: float = MLFLOW_START_TIMEOUT) -> MlflowServer:
        command = mlflow_server_command()
        deadline = time.monotonic() + timeout
        error = "did not start"
        for _attempt in range(3):  # a port taken between choosing and binding: retry
            self.port = free_ports(1, self.host)[0]
            self._launch(command)
            error = self._wait_ready(deadline) or ""
            if not error:
                return self
            self.stop(grace=0)
            if time.monotonic() >= deadline:
                break
        raise ServerUnavailable(f"mlflow server did not start: {error}\n{self.log_tail()}")

    def _launch(self, command: list[str]) -> None:
        self.artifact_root.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if k not in STORAGE_VARIABLES and k not in _CLIENT_VARIABLES}  # fmt: skip
        # No background job runner (a huey consumer with five workers) on a 2-core machine.
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*command, "server", "--host", self.host, "--port", str(self.port),
                 "--backend-store-uri", f"sqlite:///{self.workdir / 'mlflow.sqlite3'}",
                 "--artifacts-destination", str(self.artifact_root), "--workers", "1"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=self.workdir, start_new_session=True,  # its own process group: see stop()
            )  # fmt: skip

    def _wait_ready(self, deadline: float) -> str | None:
        """None once the server answers a registry query (its database is migrated)."""
        probe = self.uri + "/api/2.0/mlflow/registered-models/search?max_results=1"
        error = "timed out"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return f"exited with status {self.process.returncode}"
            try:
                with urllib.request.urlopen(probe, timeout=5) as response:
                    if response.status == 200:
                        return None
            except (OSError, urllib.error.URLError) as exc:
                error = str(exc)
            time.sleep(0.5)
        return f"not ready after {MLFLOW_START_TIMEOUT:.0f} s ({error})"

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the server's process group (the CLI, the uvicorn it runs), SIGKILL to
        what is left after ``grace`` seconds; idempotent. The leader is reaped last: until
        then its id cannot be reused, so the signals reach only this server's processes."""
        proc = self.process
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while _live_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _live_members(proc.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)


def _live_members(pgid: int) -> list[int]:
    """The processes of group ``pgid`` that have not exited (zombies left out)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry))
    return members
