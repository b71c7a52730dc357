"""Registry back-ends for the benchmarks: the embedded default, and PostgreSQL + SeaweedFS S3.

``run.py``'s ``registry`` section measures ``heimdall export`` and ``heimdall import``
against each :class:`Backend` this module sets up:

* ``embedded``: a fresh ``HEIMDALL_HOME`` (SQLite + a local object directory), the default
  a user gets with no configuration;
* ``postgres-s3``: a fresh PostgreSQL database (created here, dropped at the end) and a
  ``weed server -s3`` on free loopback ports with its own data directory and an S3
  identity (started here, stopped at the end).

The servers (``tests/support/servers.py``, as in the tests) run on the machine that
measures: their CPU time is not part of the measured command's CPU seconds
(``ServerMeter`` reports the S3 server's separately).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from heimdall_io.storage.config import DEFAULT_BUCKET
from tests.support.servers import (
    DEFAULT_PG_ADMIN_URL,
    STORAGE_VARIABLES,
    PostgresDatabase,
    SeaweedFS,
)

PG_ADMIN_URL = os.environ.get("HEIMDALL_BENCH_POSTGRES_URL", DEFAULT_PG_ADMIN_URL)
S3_ACCESS_KEY = "heimdallbench"
S3_SECRET_KEY = "heimdallbench-secret-key"
S3_BUCKET = DEFAULT_BUCKET
#: Volumes large enough for the largest model measured (the tests' are small).
S3_VOLUME_SIZE_LIMIT_MB = 1024
BACKENDS = ("embedded", "postgres-s3")


def dir_bytes(path: Path) -> int:
    """Bytes allocated on disk under ``path`` (like ``du -sb`` but of blocks: st_blocks)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


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


def storage_env(**values: str) -> dict[str, str]:
    """Every storage variable set (empty when unused), so that the caller's environment
    cannot leak into a back-end; then ``values``."""
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
        key="embedded", label="embedded", env=storage_env(HEIMDALL_HOME=str(home)),
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
    weed = SeaweedFS(
        weed_dir,
        access_key=S3_ACCESS_KEY,
        secret_key=S3_SECRET_KEY,
        volume_size_limit_mb=S3_VOLUME_SIZE_LIMIT_MB,
    ).start()
    try:
        db = PostgresDatabase(PG_ADMIN_URL, prefix="heimdall_bench")
    except BaseException:
        weed.stop()
        raise
    env = storage_env(
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
