"""Registry back-ends for the benchmarks: the embedded default, and PostgreSQL + SeaweedFS S3.

``run.py``'s ``registry`` section measures ``heimdall export`` and ``heimdall import``
against each :class:`Backend` this module sets up:

* ``embedded``: a fresh ``HEIMDALL_HOME`` (SQLite + a local object directory), the default
  a user gets with no configuration;
* ``postgres-s3``: a fresh PostgreSQL database (created here, dropped at the end) and a
  ``weed server -s3`` on free loopback ports with its own data directory and an S3
  identity (started here, stopped at the end).

The servers run on this same 2-core machine: their CPU time is not part of the measured
command's CPU seconds (``ServerMeter`` reports the S3 server's separately).
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PG_ADMIN_URL = os.environ.get(
    "HEIMDALL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
S3_ACCESS_KEY = "heimdallbench"
S3_SECRET_KEY = "heimdallbench-secret-key"
S3_BUCKET = "heimdall-models"
#: Variables that choose the storage; all are set (empty when unused) for every command so
#: that the caller's environment cannot leak into a back-end.
STORAGE_VARIABLES = (
    "HEIMDALL_HOME",
    "HEIMDALL_DATABASE_URL",
    "HEIMDALL_STORAGE_URL",
    "HEIMDALL_S3_ACCESS_KEY",
    "HEIMDALL_S3_SECRET_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)
BACKENDS = ("embedded", "postgres-s3")


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


def dir_bytes(path: Path) -> int:
    """Bytes allocated on disk under ``path`` (like ``du -sb`` but of blocks: st_blocks)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


# -- PostgreSQL ---------------------------------------------------------------------------


class PostgresDatabase:
    """A fresh database on the server of ``PG_ADMIN_URL``; :meth:`drop` removes it."""

    def __init__(self, admin_url: str = PG_ADMIN_URL) -> None:
        import psycopg
        from psycopg import sql

        self.admin_url = admin_url
        self.name = f"heimdall_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        parts = urlsplit(admin_url)
        self.url = urlunsplit((parts.scheme, parts.netloc, "/" + self.name, parts.query, ""))

    def size_bytes(self) -> int:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT pg_database_size(%s)", (self.name,)).fetchone()
        return int(row[0]) if row else 0

    def drop(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )


# -- SeaweedFS ----------------------------------------------------------------------------

# One volume per collection (bucket) instead of seven, as in tests/conftest.py.
_MASTER_TOML = """\
[master.volume_growth]
copy_1 = 1
copy_2 = 2
copy_3 = 3
copy_other = 1
"""


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL me if the benchmark dies (no orphaned servers)."""
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG


def weed_binary() -> str | None:
    """The ``weed`` executable: next to this Python's scripts first (not a pyenv shim)."""
    for candidate in (Path(sysconfig.get_path("scripts")) / "weed",
                      Path(sys.executable).parent / "weed"):  # fmt: skip
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("weed")


class SeaweedFS:
    """``weed server -s3`` (master, volume, filer, S3) on free loopback ports, in ``workdir``."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path, volume_size_limit_mb: int = 1024) -> None:
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("SeaweedFS not found: the `weed` binary is not installed")
        self.binary = binary
        self.workdir = workdir
        self.volume_size_limit_mb = volume_size_limit_mb
        self.process: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}
        self.log_path = workdir / "weed.log"
        self.data = workdir / "data"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.ports['s3']}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0) -> SeaweedFS:
        deadline = time.monotonic() + timeout
        error = "did not start"
        for _attempt in range(3):  # a port taken between choosing and binding: retry
            self._launch()
            error = self._wait_ready(deadline) or ""
            if not error:
                return self
            self.stop()
            if time.monotonic() >= deadline:
                break
        raise RuntimeError(f"SeaweedFS did not start: {error}\n{self.log_tail()}")

    def _launch(self) -> None:
        names = [f"{s}{x}" for s in ("master", "volume", "filer", "s3") for x in ("", "_grpc")]
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        self.data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        identity = {
            "name": "admin",
            "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        (self.workdir / "master.toml").write_text(_MASTER_TOML)
        p = self.ports
        command = [
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
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )  # fmt: skip

    def _wait_ready(self, deadline: float) -> str | None:
        """None once a small object can be written and read back, else why not."""
        import io

        import urllib3
        from minio import Minio

        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=1, read=20), retries=urllib3.Retry(total=0)
        )
        client = Minio(f"{self.host}:{self.ports['s3']}", access_key=S3_ACCESS_KEY,
                       secret_key=S3_SECRET_KEY, secure=False, http_client=http)  # fmt: skip
        bucket, error = "heimdall-readiness", "timed out"
        try:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    return f"weed exited with status {self.process.returncode}"
                try:
                    if not client.bucket_exists(bucket):
                        client.make_bucket(bucket)
                    client.put_object(bucket, "probe", io.BytesIO(b"ok"), 2)
                    response = client.get_object(bucket, "probe")
                    try:
                        if response.read() == b"ok":
                            client.remove_object(bucket, "probe")
                            return None
                    finally:
                        response.close()
                        response.release_conn()
                except Exception as exc:  # any failure: not ready yet
                    error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                time.sleep(0.2)
            return f"S3 not ready ({error})"
        finally:
            http.clear()

    def stop(self, grace: float = 2.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` s (the data is throw-away); idempotent."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=wait)
                    break
        for service in ("master", "volume", "filer", "s3"):  # weed leaves these behind
            port = self.ports.get(f"{service}_grpc")
            if port is not None:
                with contextlib.suppress(OSError):
                    os.unlink(f"/tmp/seaweedfs-{service}-grpc-{port}.sock")

    def vacuum(self) -> None:
        """Compact every volume now (deleted objects keep their space until then)."""
        import urllib.request

        url = f"http://{self.host}:{self.ports['master']}/vol/vacuum?garbageThreshold=0.0001"
        with urllib.request.urlopen(url, timeout=300) as r:
            r.read()

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class ServerMeter:
    """CPU seconds and peak RSS (VmHWM) of a server process, attributed to the command
    that ran while they accrued: call :meth:`switch` with the op about to run (None at the
    end). VmHWM is reset at every switch (``/proc/<pid>/clear_refs``)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu_s: dict[str, list[float]] = {}
        self.peak_mib: dict[str, float] = {}
        self._op: str | None = None
        self._cpu0 = 0.0
        self._tick = os.sysconf("SC_CLK_TCK")

    def _cpu(self) -> float:
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._tick  # utime, stime

    def _hwm_mib(self) -> float:
        with open(f"/proc/{self.pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def switch(self, op: str | None) -> None:
        try:
            cpu = self._cpu()
            if self._op is not None:
                self.cpu_s.setdefault(self._op, []).append(cpu - self._cpu0)
                self.peak_mib[self._op] = max(self.peak_mib.get(self._op, 0.0), self._hwm_mib())
            with open(f"/proc/{self.pid}/clear_refs", "w", encoding="ascii") as f:
                f.write("5")
        except OSError:
            return  # the server is gone: nothing to attribute
        self._op, self._cpu0 = op, cpu


# -- back-ends ----------------------------------------------------------------------------


@dataclass
class Backend:
    """One registry + object store, as the environment the `heimdall` CLI runs in."""

    key: str  # "embedded" | "postgres-s3"
    label: str
    env: dict[str, str]
    open_service: Callable[[], Any]
    #: (registry bytes, object store bytes on disk): see ``describe``.
    usage: Callable[[], tuple[int, int]]
    describe: str
    close: Callable[[], None] = lambda: None
    #: Reclaim the space of deleted objects (SeaweedFS: vacuum its volumes).
    compact: Callable[[], None] = lambda: None
    #: Model ids made by set-up (kept by :meth:`delete_models_except`).
    keep: set[str] = field(default_factory=set)

    def delete_models_except(self, keep: set[str] | None = None) -> int:
        """Delete every model but ``keep`` (default :attr:`keep`); how many went."""
        keep = self.keep if keep is None else keep
        service = self.open_service()
        try:
            gone = [m.model_id for m in service.list_models() if m.model_id not in keep]
            for model_id in gone:
                service.delete(model_id)
            return len(gone)
        finally:
            service.close()

    def stored(self) -> tuple[int, int]:
        """(models, sum of their ONNX sizes) in the registry."""
        service = self.open_service()
        try:
            models = service.list_models()
            return len(models), sum(m.onnx_size_bytes or 0 for m in models)
        finally:
            service.close()


def _storage_env(**values: str) -> dict[str, str]:
    env = dict.fromkeys(STORAGE_VARIABLES, "")
    env.update(values)
    return env


def embedded_backend(workdir: Path) -> Backend:
    """A fresh HEIMDALL_HOME under ``workdir`` (removed again by ``close``)."""
    home = workdir / "home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)

    def open_service() -> Any:
        from heimdall_io.service import Service
        from heimdall_io.storage.localdir import LocalObjectStore
        from heimdall_io.storage.sqlite import SqliteRegistry

        registry = SqliteRegistry(home / "registry.sqlite3")
        return Service(registry, LocalObjectStore(home / "objects"))

    def usage() -> tuple[int, int]:
        db = sum(p.stat().st_blocks * 512 for p in home.glob("registry.sqlite3*"))
        return db, dir_bytes(home / "objects")

    return Backend(
        key="embedded", label="embedded", env=_storage_env(HEIMDALL_HOME=str(home)),
        open_service=open_service, usage=usage,
        describe=("embedded: SQLite + local object directory in a fresh `HEIMDALL_HOME` (the "
                  "default; environment `HEIMDALL_HOME=$WORK/registry/SIZE/embedded/home`, "
                  "the other storage variables empty); registry bytes: the SQLite files, "
                  "objects: blocks allocated under `objects/`"),
        close=lambda: shutil.rmtree(home, ignore_errors=True),
    )  # fmt: skip


def postgres_s3_backend(workdir: Path) -> tuple[Backend, SeaweedFS]:
    """A fresh PostgreSQL database and a SeaweedFS S3 server (both removed by ``close``)."""
    weed_dir = workdir / "seaweedfs"
    shutil.rmtree(weed_dir, ignore_errors=True)
    weed_dir.mkdir(parents=True)
    weed = SeaweedFS(weed_dir).start()
    try:
        db = PostgresDatabase()
    except BaseException:
        weed.stop()
        raise
    env = _storage_env(
        HEIMDALL_HOME=str(workdir / "unused-home"),
        HEIMDALL_DATABASE_URL=db.url,
        HEIMDALL_STORAGE_URL=f"s3://{S3_BUCKET}?endpoint={weed.endpoint}",
        HEIMDALL_S3_ACCESS_KEY=S3_ACCESS_KEY,
        HEIMDALL_S3_SECRET_KEY=S3_SECRET_KEY,
    )

    def open_service() -> Any:
        from heimdall_io.service import Service
        from heimdall_io.storage.postgres import PostgresRegistry
        from heimdall_io.storage.s3 import S3ObjectStore

        return Service(PostgresRegistry(db.url), S3ObjectStore(
            S3_BUCKET, weed.endpoint, S3_ACCESS_KEY, S3_SECRET_KEY, False))  # fmt: skip

    def usage() -> tuple[int, int]:
        return db.size_bytes(), dir_bytes(weed.data)

    def close() -> None:
        try:
            db.drop()
        finally:
            weed.stop()
            shutil.rmtree(weed_dir, ignore_errors=True)

    backend = Backend(
        key="postgres-s3", label="PostgreSQL + S3", env=env, open_service=open_service,
        usage=usage, close=close, compact=weed.vacuum,
        describe=(f"PostgreSQL + S3: PostgreSQL at {urlsplit(PG_ADMIN_URL).netloc} (a fresh "
                  "database per model size, dropped afterwards) + SeaweedFS `weed server "
                  f"-s3` on free loopback ports (bucket `{S3_BUCKET}`, a fresh data "
                  "directory per model size, deleted afterwards), both on this machine "
                  "(environment `HEIMDALL_DATABASE_URL=postgresql://.../heimdall_bench_...`, "
                  f"`HEIMDALL_STORAGE_URL=s3://{S3_BUCKET}?endpoint=http://127.0.0.1:PORT`, "
                  "`HEIMDALL_S3_ACCESS_KEY`, `HEIMDALL_S3_SECRET_KEY`); "
                  "registry bytes: `pg_database_size` (an empty database is ~7.5 MB), "
                  "objects: blocks allocated under weed's data directory (volumes, filer "
                  "store, logs) after a vacuum"),
    )  # fmt: skip
    return backend, weed


def register(heimdall: list[str], backend: Backend, model: Path, name: str = "Bench") -> str:
    """Register ``model`` with the CLI (not measured); its id, also added to ``keep``."""
    proc = subprocess.run(
        [*heimdall, "register", str(model), "--name", name, "-q"],
        env={**os.environ, **backend.env}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"heimdall register failed ({backend.label}):\n{proc.stderr}")
    model_id = proc.stdout.strip().splitlines()[-1]
    backend.keep.add(model_id)
    return model_id


def export(heimdall: list[str], backend: Backend, model_id: str, out: Path) -> None:
    """``heimdall export`` once (not measured), e.g. to make the bundle imports read."""
    subprocess.run([*heimdall, "export", model_id, "-o", str(out), "-f", "-q"],
                   env={**os.environ, **backend.env}, check=True)  # fmt: skip
