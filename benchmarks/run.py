"""End-to-end benchmarks of the `heimdall` CLI against md5sum, zstd and a seed-style peer,
registry export/import (embedded; PostgreSQL + S3) and the REST API, into one RESULTS.md.

    python benchmarks/run.py                          # 64MiB and 512MiB, 5 runs each
    python benchmarks/run.py --sizes 64MiB,512MiB,2GiB --runs 3
    python benchmarks/run.py --quick --runs 1 --out /tmp/RESULTS.md   # CI smoke
    python benchmarks/run.py --sections floors,registry --registry-backends embedded
    python benchmarks/run.py --sections external --sizes 4GiB --runs 1   # issue 14

Synthetic ONNX models are written to the work dir (default bench-data/, gitignored) and
reused while their size matches (they are deterministic). Every command runs as its own
subprocess, timed wall-clock; peak RSS is the child's ru_maxrss (see harness.py). Outputs
are deleted before every run. The page cache is never dropped: all numbers are warm.

Adding rows: write a function ``section(bench, model)`` that calls ``bench.run(...)`` and
append it to SIZE_SECTIONS (or ``section(bench)`` to GLOBAL_SECTIONS); its rows appear in
the tables. Targets are functions ``(bench, models) -> list[Check]`` in TARGETS.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    RSS_METHOD,
    Result,
    Spec,
    fmt_size,
    idle_gate,
    machine_info,
    markdown_table,
    measure_interleaved,
    package_version,
    remove,
    run_once,
    tool_versions,
)

from heimdall_io.sizes import parse_size

HERE = Path(__file__).resolve().parent

DEFAULT_SIZES = "64MiB,512MiB"
QUICK_SIZES = "1MiB,4MiB"
PACKAGES = ("heimdall-io", "pybase64", "zstandard", "msgspec", "orjson", "click", "onnx", "numpy")
ZSTD_LEVEL = 3
_PY_ZSTD = (
    "import sys, zstandard\n"
    "with open(sys.argv[1], 'rb') as i, open(sys.argv[2], 'wb') as o:\n"
    f"    zstandard.ZstdCompressor(level={ZSTD_LEVEL}).copy_stream(i, o)\n"
)


# -- data model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """One synthetic ONNX model and the directory for its outputs."""

    size: int
    path: Path
    dir: Path

    @property
    def label(self) -> str:
        return fmt_size(self.size)


@dataclass
class Measurement:
    op: str
    group: str
    cmd: list[str]
    result: Result
    size: int  # model size, 0 for size-independent rows
    output_bytes: int | None = None


@dataclass(frozen=True)
class Job:
    """A command a section wants measured; the jobs of one size are run interleaved."""

    op: str
    group: str
    cmd: list[str]
    #: Deleted before every run; its size after the last run is reported.
    output: Path | None = None
    runs: int | None = None
    env: dict[str, str] | None = None
    #: Called before every run (after ``output`` is deleted), outside the timing.
    before: Callable[[], object] | None = None


@dataclass(frozen=True)
class Check:
    target: str
    size: str
    measured: str
    limit: str
    ok: bool | None  # None: reported, not judged


@dataclass
class Bench:
    """What a section needs: the settings, the commands, and where results go."""

    workdir: Path
    runs: int
    warmup: int
    quick: bool
    python: str
    heimdall: list[str]
    zstd: list[str]
    zstd_note: str
    #: Before each measured run, wait up to idle_timeout s for this idle fraction (0: off).
    min_idle: float = 0.0
    idle_timeout: float = 0.0
    results: dict[tuple[str, int], Measurement] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Called with the op about to run before every run (None after the last), e.g. to
    #: attribute a server's CPU time to the command it served.
    run_hooks: list[Callable[[str | None], None]] = field(default_factory=list)
    #: Called (and then cleared) after the jobs of a model size ran: snapshots, clean-up.
    after_size: list[Callable[[Model], None]] = field(default_factory=list)
    #: Called at the very end even after an error (servers, databases); LIFO.
    teardown: list[Callable[[], None]] = field(default_factory=list)
    #: Sections that render themselves: name -> markdown, appended to RESULTS.md.
    extra_markdown: dict[str, str] = field(default_factory=dict)
    #: Registry rows: op -> (backend label, operation); see the registry section.
    registry_ops: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Registry storage after each size's runs: (size label, backend label, facts).
    registry_usage: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    #: The S3 server's share: "op|size" -> (its CPU s per measured run, its peak RSS MiB).
    server_stats: dict[str, tuple[list[float], float]] = field(default_factory=dict)
    #: Which registry back-ends to measure (registry_bench.BACKENDS).
    registry_backends: tuple[str, ...] = ()
    #: Descriptions of the registry back-ends measured (for the notes).
    registry_backend_notes: list[str] = field(default_factory=list)
    #: Model size for the HTTP section (0: the largest of --sizes), and the model seed.
    http_size: int = 0
    seed: int = 0
    #: An older release's `heimdall` (--baseline), measured beside this one; its label.
    baseline: list[str] = field(default_factory=list)
    baseline_label: str = ""

    def run(
        self,
        op: str,
        group: str,
        cmd: list[str],
        model: Model | None = None,
        output: Path | None = None,
        runs: int | None = None,
        env: dict[str, str] | None = None,
    ) -> Measurement:
        """Measure one command now, on its own (not interleaved), and record it as a row."""
        job = Job(op, group, cmd, output, runs, env)
        return self.run_jobs([job], model)[0]

    def _before(self, job: Job) -> Callable[[], None] | None:
        steps: list[Callable[[], object]] = []
        if job.output is not None:
            steps.append(remove(job.output))
        if job.before is not None:
            steps.append(job.before)
        hooks = list(self.run_hooks)
        if not steps and not hooks:
            return None

        def before() -> None:
            for hook in hooks:
                hook(job.op)
            for step in steps:
                step()
            if steps:
                # What deleting the last run's output leaves to the kernel (journal commits,
                # discards of freed blocks on a discard-mounted disk) happens here, untimed,
                # rather than during this run's own writes and fsyncs.
                os.sync()

        return before

    def run_jobs(self, jobs: list[Job], model: Model | None = None) -> list[Measurement]:
        """Measure ``jobs`` round-robin (see harness.measure_interleaved); record the rows."""
        specs = [Spec(j.cmd, j.env, self._before(j), j.runs) for j in jobs]
        size = model.size if model else 0
        where = f"[{model.label}] " if model else ""

        def done(i: int, result: Result) -> None:
            print(
                f"  {where}{jobs[i].op}: median {result.median_s:.3f} s "
                f"(runs {', '.join(f'{s:.3f}' for s in result.runs_s)}), "
                f"peak RSS {result.peak_rss_mib:.1f} MiB",
                file=sys.stderr,
                flush=True,
            )

        gate = idle_gate(self.min_idle, self.idle_timeout) if self.min_idle > 0 else None
        # Every run finds its inputs in memory: the model, its bundles and the registries'
        # objects (harness.warm_files says why).
        warm = [] if model is None else [
            model.dir, *(self.workdir / part / model.label for part in ("registry", "baseline"))
        ]  # fmt: skip
        try:
            results = measure_interleaved(
                specs, self.runs, warmup=self.warmup, on_result=done, gate=gate, warm=warm
            )
        finally:
            for hook in self.run_hooks:
                hook(None)
        out = []
        for job, result in zip(jobs, results, strict=True):
            m = Measurement(job.op, job.group, job.cmd, result, size)
            if job.output is not None:
                m.output_bytes = job.output.stat().st_size
            self.results[(job.op, size)] = m
            out.append(m)
        return out

    def get(self, op: str, size: int = 0) -> Measurement | None:
        return self.results.get((op, size))

    def ops(self, sized: bool, registry: bool | None = None) -> list[str]:
        """Row names in the order first measured (``registry``: only / no registry rows)."""
        seen: dict[str, None] = {}
        for (op, size), _ in self.results.items():
            if (size != 0) == sized and (registry is None or
                                         (op in self.registry_ops) == registry):  # fmt: skip
                seen.setdefault(op)
        return list(seen)

    def display(self, cmd: list[str]) -> str:
        """A command as a reader would type it: short names, paths relative to the work dir."""
        out: list[str] = []
        work = str(self.workdir) + "/"
        for i, part in enumerate(cmd):
            key, eq, value = part.partition("=")  # dd's if=PATH of=PATH
            if part == self.python:
                out.append("python")
            elif i == 0 and os.path.isabs(part):
                out.append(os.path.basename(part))
            elif part == str(HERE / "seed_peer.py"):
                out.append("benchmarks/seed_peer.py")
            elif part.startswith(work):
                out.append("$WORK/" + shlex.quote(part[len(work) :]))
            elif eq and value.startswith(work):
                out.append(f"{key}=$WORK/" + shlex.quote(value[len(work) :]))
            else:
                out.append(shlex.quote(part))
        return " ".join(out)


# -- set-up -------------------------------------------------------------------------------


def find_heimdall(python: str) -> list[str]:
    beside = Path(python).parent / "heimdall"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("heimdall")
    return [found] if found else [python, "-m", "heimdall_io"]


_COMPILE = (
    "import compileall, os, heimdall_io, heimdall_cli\n"
    "for m in (heimdall_io, heimdall_cli):\n"
    "    compileall.compile_dir(os.path.dirname(m.__file__), quiet=1)\n"
)


def compile_bytecode(heimdall: list[str]) -> str:
    """Write the .pyc files of the heimdall-io that ``heimdall`` runs, as installing a wheel
    does: an editable install run with PYTHONDONTWRITEBYTECODE=1 (set on some machines)
    would otherwise compile every module from source in every timed command. Returns the
    Python it used."""
    exe = Path(heimdall[0])
    python = str(exe.parent / "python") if exe.name == "heimdall" else heimdall[0]
    subprocess.run([python, "-c", _COMPILE], check=True, capture_output=True)
    return python


def find_zstd(python: str) -> tuple[list[str], str]:
    """(command prefix taking ``SRC -o DST``-like args, note) for the zstd floor."""
    found = shutil.which("zstd")
    if found:
        return [found, f"-{ZSTD_LEVEL}", "-q", "-f"], ""
    return [python, "-c", _PY_ZSTD], (
        "The zstd CLI was not found: the zstd floor is python-zstandard's "
        f"ZstdCompressor(level={ZSTD_LEVEL}).copy_stream, not `zstd -{ZSTD_LEVEL}`."
    )


def zstd_cmd(bench: Bench, src: Path, dst: Path) -> list[str]:
    if bench.zstd[:2] == [bench.python, "-c"]:
        return [*bench.zstd, str(src), str(dst)]
    return [*bench.zstd, str(src), "-o", str(dst)]


def make_model(workdir: Path, size: int, seed: int) -> Model:
    """The synthetic model of ``size`` bytes, written unless a file of that size exists."""
    label = fmt_size(size)
    mdir = workdir / label
    (mdir / "out").mkdir(parents=True, exist_ok=True)
    path = mdir / f"model-{label}-seed{seed}.onnx"
    if not (path.exists() and path.stat().st_size == size):
        from tests.support.synthetic import write_synthetic_model

        print(f"writing {path} ...", file=sys.stderr, flush=True)
        tmp = path.with_suffix(".part")
        with open(tmp, "wb") as f:
            write_synthetic_model(f, size, seed=seed)
        tmp.replace(path)
    return Model(size, path, mdir)


def registry_versions(backends: tuple[str, ...]) -> dict[str, str]:
    """Versions of what the registry back-ends run on (servers included)."""
    info = {name: package_version(name) for name in ("psycopg", "minio")}
    if "postgres-s3" in backends:
        import registry_bench as rb

        from tests.support.servers import weed_binary

        try:
            import psycopg

            with psycopg.connect(rb.PG_ADMIN_URL, connect_timeout=5) as conn:
                row = conn.execute("SHOW server_version").fetchone()
            info["PostgreSQL server"] = str(row[0]) if row else "?"
        except Exception as exc:  # reported; the section then fails loudly
            info["PostgreSQL server"] = f"unreachable ({type(exc).__name__})"
        weed = weed_binary()
        info["SeaweedFS"] = (tool_versions({"w": [weed, "version"]})["w"] if weed
                             else "not found")  # fmt: skip
    return info


def git_state() -> str:
    """HEAD of the repo and whether the code measured differs from it."""
    import subprocess

    root = HERE.parent

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                             check=False)  # fmt: skip
        return out.stdout.strip() if out.returncode == 0 else ""

    head = git("log", "-1", "--format=%h %s")
    if not head:
        return "not a git checkout"
    dirty = git("status", "--porcelain", "--", "heimdall_io", "cli")
    changed = len(dirty.splitlines())
    return head + (f" (+ {changed} uncommitted file(s) in heimdall_io/ or cli/)" if changed else "")


def _prepare(bench: Bench, cmd: list[str]) -> None:
    """Run a set-up command once (not measured)."""
    run_once(cmd)


# -- sections: each adds rows -------------------------------------------------------------


def _on_servers(bench: Bench, job: Job) -> bool:
    """Whether ``job`` talks to the benchmark's S3 server (a registry row on PostgreSQL + S3,
    or the plain client's upload)."""
    backend = bench.registry_ops.get(job.op, ("",))[0]
    return "S3" in backend


def floors(bench: Bench, model: Model) -> list[Job]:
    """md5sum (the floor for pack/unpack) and zstd (the floor for --zstd)."""
    out = model.dir / "out" / "floor.zst"
    return [
        Job("md5sum", "floor", ["md5sum", str(model.path)]),
        Job(f"zstd -{ZSTD_LEVEL}", "floor", zstd_cmd(bench, model.path, out), out),
    ]


def heimdall_ops(bench: Bench, model: Model) -> list[Job]:
    """pack, pack --zstd, unpack (both bundles), inspect (both), verify."""
    h = bench.heimdall
    m, out = str(model.path), model.dir / "out"
    plain, packed = model.dir / "bundle.heimdall", model.dir / "bundle.zst.heimdall"
    _prepare(bench, [*h, "pack", m, "-o", str(plain), "-q", "-f"])
    _prepare(bench, [*h, "pack", m, "-o", str(packed), "-q", "-f", "--zstd"])
    o = {name: out / name for name in ("pack.heimdall", "pack.zst.heimdall", "unpack.onnx",
                                        "unpack-zst.onnx")}  # fmt: skip
    return [
        Job("heimdall pack", "heimdall",
            [*h, "pack", m, "-o", str(o["pack.heimdall"]), "-q", "-f"], o["pack.heimdall"]),
        Job("heimdall pack --zstd", "heimdall",
            [*h, "pack", m, "-o", str(o["pack.zst.heimdall"]), "-q", "-f", "--zstd"],
            o["pack.zst.heimdall"]),
        Job("heimdall unpack", "heimdall",
            [*h, "unpack", str(plain), "-o", str(o["unpack.onnx"]), "-q", "-f"], o["unpack.onnx"]),
        Job("heimdall unpack (zstd bundle)", "heimdall",
            [*h, "unpack", str(packed), "-o", str(o["unpack-zst.onnx"]), "-q", "-f"],
            o["unpack-zst.onnx"]),
        Job("heimdall inspect", "heimdall", [*h, "inspect", str(plain)]),
        Job("heimdall inspect (zstd bundle)", "heimdall", [*h, "inspect", str(packed)]),
        Job("heimdall verify", "heimdall", [*h, "verify", str(plain), "-q"]),
    ]  # fmt: skip


def seed_peer_ops(bench: Bench, model: Model) -> list[Job]:
    """The seed-style whole-buffer peer on the same model."""
    peer = [bench.python, str(HERE / "seed_peer.py")]
    m, out = str(model.path), model.dir / "out"
    seed_bundle = model.dir / "seed.heimdall"
    _prepare(bench, [*peer, "pack", m, "-o", str(seed_bundle)])
    o1, o2 = out / "seed.heimdall", out / "seed.onnx"
    return [
        Job("seed peer pack", "seed peer", [*peer, "pack", m, "-o", str(o1)], o1),
        Job("seed peer unpack", "seed peer", [*peer, "unpack", str(seed_bundle), "-o", str(o2)],
            o2),
    ]  # fmt: skip


def startup(bench: Bench) -> list[Job]:
    """`heimdall --help` against the import of click alone."""
    runs = max(3 * bench.runs, 5)
    return [
        Job("python -c 'import click'", "startup", [bench.python, "-c", "import click"],
            runs=runs),
        Job("heimdall --help", "startup", [*bench.heimdall, "--help"], runs=runs),
    ]  # fmt: skip


def registry_ops(bench: Bench, model: Model) -> list[Job]:
    """`heimdall export` and `heimdall import` (with and without onnx.checker) on each
    registry back-end (registry_bench.py), interleaved with md5sum on the same ONNX file.

    Per size and back-end: a fresh registry and store, the model registered (not measured),
    one bundle exported from the embedded registry as the input of every import. Imports
    make a new model each; the models they made are deleted before the next import (not
    measured). After the runs: what is stored, then everything is removed again.
    """
    import registry_bench as rb

    h = bench.heimdall
    root = bench.workdir / "registry" / model.label
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    backends: list[rb.Backend] = []

    def close_all() -> None:
        while backends:
            backends.pop().close()

    bench.teardown.append(close_all)
    meter: rb.ServerMeter | None = None
    weed: rb.SeaweedFS | None = None
    for key in bench.registry_backends:
        if key == "embedded":
            backends.append(rb.embedded_backend(root / "embedded"))
        elif key == "postgres-s3":
            backend, weed = rb.postgres_s3_backend(root / "postgres-s3")
            backends.append(backend)
            meter = rb.ServerMeter(weed.pid)
        else:
            raise ValueError(f"unknown registry back-end {key!r}: {', '.join(rb.BACKENDS)}")
    bundle = root / "import-input.heimdall"
    jobs: list[Job] = []
    exports: list[Path] = []
    if "embedded" in bench.registry_backends:
        # What a durable write of the model costs on this disk: the embedded store fsyncs
        # every object it writes (md5sum only reads, from the page cache).
        copy = root / "dd-floor.onnx"
        op = "dd bs=4M conv=fsync (copy + fsync: write floor)"
        bench.registry_ops[op] = ("-", op)
        jobs.append(Job(op, "registry", ["dd", f"if={model.path}", f"of={copy}", "bs=4M",
                                         "conv=fsync", "status=none"], copy))  # fmt: skip
    for backend in backends:
        model_id = rb.register(h, backend, model.path)
        if not bundle.exists():
            rb.export(h, backend, model_id, bundle)
        out = model.dir / "out" / f"registry-{backend.key}.heimdall"
        exports.append(out)
        rows = [
            ("export", Job("", "registry", [*h, "export", model_id, "-o", str(out), "-f", "-q"],
                           out, env=backend.env)),
            ("import --no-validate",
             Job("", "registry", [*h, "import", str(bundle), "--no-validate", "-q"],
                 env=backend.env, before=backend.delete_models_except)),
            ("import (onnx.checker)",
             Job("", "registry", [*h, "import", str(bundle), "-q"],
                 env=backend.env, before=backend.delete_models_except)),
        ]  # fmt: skip
        for what, job in rows:
            op = f"heimdall {what} [{backend.label}]"
            bench.registry_ops[op] = (backend.label, f"heimdall {what}")
            jobs.append(dataclasses.replace(job, op=op))
        if backend.key == "postgres-s3" and weed is not None:
            # The floor of an S3 import (issue 9): the plain client uploading the ONNX file.
            op, server = f"{FPUT} [{backend.label}]", weed

            def drop(server: rb.SeaweedFS = server) -> None:
                with contextlib.suppress(Exception):
                    server.client().remove_object(rb.S3_BUCKET, "bench-fput/model.onnx")

            bench.registry_ops[op] = (backend.label, FPUT)
            jobs.append(Job(op, "registry", [bench.python, str(HERE / "fput.py"), weed.endpoint,
                                             rb.S3_BUCKET, str(model.path),
                                             "bench-fput/model.onnx"],
                            env=backend.env, before=drop))  # fmt: skip

    if meter is not None:
        server_meter = meter
        bench.run_hooks.append(server_meter.switch)

    def after(model: Model) -> None:
        if meter is not None:
            bench.run_hooks.remove(server_meter.switch)
            skip = bench.warmup
            for op, cpu in server_meter.cpu_s.items():
                if op in bench.registry_ops and "S3" in bench.registry_ops[op][0]:
                    key = f"{op}|{model.size}"
                    bench.server_stats[key] = (cpu[skip:], server_meter.peak_mib.get(op, 0.0))
        for backend in backends:
            count, onnx_bytes = backend.stored()
            backend.compact()
            db_bytes, object_bytes = backend.usage()
            facts = {"models": str(count), "their ONNX bytes": f"{onnx_bytes:,}",
                     "registry bytes": f"{db_bytes:,}", "objects on disk": f"{object_bytes:,}",
                     "x ONNX bytes": f"{object_bytes / max(onnx_bytes, 1):.4f}x"}  # fmt: skip
            bench.registry_usage.append((model.label, backend.label, facts))
            if backend.describe not in bench.registry_backend_notes:
                bench.registry_backend_notes.append(backend.describe)
        close_all()
        bench.teardown.remove(close_all)
        shutil.rmtree(root, ignore_errors=True)
        with contextlib.suppress(OSError):
            root.parent.rmdir()  # only if no other size's directory is left
        for out in exports:  # their sizes are recorded (Output sizes)
            out.unlink(missing_ok=True)

    bench.after_size.append(after)
    return jobs


def baseline_ops(bench: Bench, model: Model) -> list[Job]:
    """The --baseline release's pack, unpack, export and import on the same model."""
    if not bench.baseline:
        return []
    import baseline_bench

    root = bench.workdir / "baseline" / model.label
    commands = baseline_bench.baseline_commands(bench.baseline, model.path, root,
                                                model.dir / "out")  # fmt: skip
    jobs = []
    for what, registry, cmd, output, env, before in commands:
        op = f"heimdall {what} ({bench.baseline_label})"
        if registry:
            bench.registry_ops[op] = (f"embedded ({bench.baseline_label})", f"heimdall {what}")
        jobs.append(Job(op, "baseline", cmd, output, env=env, before=before))  # type: ignore[arg-type]

    def after(model: Model) -> None:
        shutil.rmtree(root, ignore_errors=True)

    bench.after_size.append(after)
    return jobs


def http(bench: Bench) -> None:
    """The REST API over loopback HTTP vs curl from `python -m http.server` (http_bench.py)."""
    import http_bench

    size = bench.http_size
    model = make_model(bench.workdir, size, bench.seed)
    gate = idle_gate(bench.min_idle, bench.idle_timeout) if bench.min_idle > 0 else None
    bench.extra_markdown["http"] = http_bench.http_benchmark(
        bench.workdir, size, bench.runs, bench.warmup, gate=gate, model_path=model.path,
        min_idle=bench.min_idle, heading="##", full_machine=False,
    )  # fmt: skip


def external(bench: Bench, model: Model) -> None:
    """A model with external data: pack DIR, unpack -o DIR, import, export vs md5sum of the
    same files (external_bench.py); its own table, its own rounds."""
    import external_bench

    gate = idle_gate(bench.min_idle, bench.idle_timeout) if bench.min_idle > 0 else None
    text = external_bench.external_benchmark(bench.workdir, model.size, bench.runs,
                                             bench.warmup, bench.heimdall, gate)  # fmt: skip
    previous = bench.extra_markdown.get("external")
    bench.extra_markdown["external"] = f"{previous}\n{text}" if previous else text


def external_targets(bench: Bench, models: list[Model]) -> list[Check]:
    import external_bench as eb

    checks = []
    for (op, label), (_, rss, ratio) in eb.RESULTS.items():
        if op.startswith("md5sum"):
            continue
        judged = parse_size(label) >= TIME_TARGET_SIZE  # start-up weighs on small ones
        limit = f"<= {eb.RATIO_LIMIT}x" if judged else _AT_TARGET_SIZE.format(eb.RATIO_LIMIT)
        checks.append(Check(f"{op} (external data) peak RSS", label, f"{rss:.0f} MiB",
                            f"<= {eb.RSS_LIMIT_MIB} MiB", rss <= eb.RSS_LIMIT_MIB))  # fmt: skip
        checks.append(Check(f"{op} (external data) time vs md5sum", label, f"{ratio:.2f}x",
                            limit, ratio <= eb.RATIO_LIMIT if judged else None))  # fmt: skip
    return checks


# A section returns Jobs (measured interleaved with every other section's jobs of the same
# size, after all sections have set up) or None if it measured its rows itself (bench.run).
SIZE_SECTIONS: dict[str, Callable[[Bench, Model], list[Job] | None]] = {
    "floors": floors,
    "heimdall": heimdall_ops,
    "seed": seed_peer_ops,
    "registry": registry_ops,
    "external": external,
    "baseline": baseline_ops,
}
GLOBAL_SECTIONS: dict[str, Callable[[Bench], list[Job] | None]] = {
    "startup": startup,
    "http": http,
}
#: Sections --quick leaves out unless --sections names them (they start servers).
NOT_QUICK = ("http", "external")
#: Sections that need no single-file model (the default ones are written only if another
#: section runs).
OWN_MODELS = ("external",)


# -- targets ------------------------------------------------------------------------------


def _ratio(a: Measurement | None, b: Measurement | None) -> float | None:
    if a is None or b is None or b.result.median_s <= 0:
        return None
    return a.result.median_s / b.result.median_s


def _best_ratio(a: Measurement | None, b: Measurement | None) -> str:
    """Fastest run over fastest run: what the machine allows when nothing else runs."""
    if a is None or b is None or b.result.min_s <= 0:
        return ""
    return f" (fastest runs: {a.result.min_s / b.result.min_s:.2f}x)"


#: The issues state the time limits (x md5sum) for a 512 MiB model; below that size
#: interpreter start-up (a fixed cost per command) weighs on every ratio, so they are
#: reported, not judged.
TIME_TARGET_SIZE = 512 << 20
_AT_TARGET_SIZE = "(<= {}x at 512MiB)"


def speed_targets(bench: Bench, models: list[Model]) -> list[Check]:
    checks = []
    limits = [
        ("heimdall pack", 1.25),
        ("heimdall unpack", 1.25),
        ("heimdall pack --zstd", 2.0),
        ("heimdall unpack (zstd bundle)", 2.0),
    ]
    for model in models:
        floor = bench.get("md5sum", model.size)
        judged = model.size >= TIME_TARGET_SIZE
        for op, limit in limits:
            m = bench.get(op, model.size)
            r = _ratio(m, floor)
            if r is not None:
                checks.append(Check(f"{op} time vs md5sum", model.label,
                                    f"{r:.2f}x{_best_ratio(m, floor)}",
                                    f"<= {limit}x" if judged else _AT_TARGET_SIZE.format(limit),
                                    r <= limit if judged else None))  # fmt: skip
        for op in ("heimdall verify",):
            r = _ratio(bench.get(op, model.size), floor)
            if r is not None:
                m = bench.get(op, model.size)
                assert m is not None
                checks.append(Check(f"{op} time vs md5sum (onnx.checker: exempt)", model.label,
                                    f"{r:.2f}x, {m.result.median_s:.2f} s", "-", None))  # fmt: skip
    return checks


def size_targets(bench: Bench, models: list[Model]) -> list[Check]:
    checks = []
    for model in models:
        m = bench.get("heimdall pack --zstd", model.size)
        if m is not None and m.output_bytes is not None:
            r = m.output_bytes / model.size
            checks.append(Check("pack --zstd output size vs ONNX", model.label, f"{r:.4f}x",
                                "<= 1.01x", r <= 1.01))  # fmt: skip
        m = bench.get("heimdall inspect", model.size)
        if m is not None:
            s = m.result.median_s
            checks.append(Check("inspect (uncompressed) time", model.label, f"{s:.3f} s",
                                "<= 0.2 s", s <= 0.2))  # fmt: skip
    return checks


def memory_targets(bench: Bench, models: list[Model]) -> list[Check]:
    checks = []
    judged = ("heimdall pack", "heimdall pack --zstd", "heimdall unpack",
              "heimdall unpack (zstd bundle)", "heimdall inspect",
              "heimdall inspect (zstd bundle)")  # fmt: skip
    for model in models:
        for op in judged:
            m = bench.get(op, model.size)
            if m is not None:
                rss = m.result.peak_rss_mib
                checks.append(Check(f"{op} peak RSS", model.label, f"{rss:.1f} MiB",
                                    "<= 80 MiB", rss <= 80))  # fmt: skip
        m = bench.get("heimdall verify", model.size)
        if m is not None:
            rss = m.result.peak_rss_mib
            checks.append(Check("heimdall verify peak RSS (onnx.checker: exempt)", model.label,
                                f"{rss:.1f} MiB", "-", None))  # fmt: skip
    return checks


def peer_targets(bench: Bench, models: list[Model]) -> list[Check]:
    checks = []
    for model in models:
        for op in ("pack", "unpack"):
            ours, peer = (
                bench.get(f"heimdall {op}", model.size),
                bench.get(f"seed peer {op}", model.size),
            )
            if ours is None or peer is None:
                continue
            speed = peer.result.median_s / ours.result.median_s
            best = peer.result.min_s / ours.result.min_s
            mem = peer.result.peak_rss_mib / ours.result.peak_rss_mib
            # The issue states its targets for the 512 MiB model; smaller sizes are shown.
            judged = model.size >= TIME_TARGET_SIZE
            label = _AT_TARGET_SIZE.replace("<=", ">=")
            checks.append(Check(f"{op}: seed peer time / ours", model.label,
                                f"{speed:.1f}x (fastest runs: {best:.1f}x)",
                                ">= 5x" if judged else label.format(5),
                                speed >= 5 if judged else None))  # fmt: skip
            checks.append(Check(f"{op}: seed peer peak RSS / ours", model.label, f"{mem:.1f}x",
                                ">= 10x" if judged else label.format(10),
                                mem >= 10 if judged else None))  # fmt: skip
    return checks


def startup_targets(bench: Bench, models: list[Model]) -> list[Check]:
    r = _ratio(bench.get("heimdall --help"), bench.get("python -c 'import click'"))
    if r is None:
        return []
    return [Check("heimdall --help vs python -c 'import click'", "-", f"{r:.2f}x", "<= 2x",
                  r <= 2)]  # fmt: skip


FPUT = "minio fput_object of the ONNX file"


def s3_import_targets(bench: Bench, models: list[Model]) -> list[Check]:
    """An import into SeaweedFS takes <= 1.3x a plain minio fput_object (issue 9)."""
    checks = []
    for model in models:
        for label in dict.fromkeys(lb for lb, _ in bench.registry_ops.values() if "S3" in lb):
            floor = bench.get(f"{FPUT} [{label}]", model.size)
            for what in ("import --no-validate", "import (onnx.checker)"):
                m = bench.get(f"heimdall {what} [{label}]", model.size)
                r = _ratio(m, floor)
                if m is None or r is None:
                    continue
                limit = "<= 1.3x" if model.size >= TIME_TARGET_SIZE else _AT_TARGET_SIZE.format(1.3)
                met = r <= 1.3 if model.size >= TIME_TARGET_SIZE else None
                measured = f"{r:.2f}x, {m.result.median_s:.2f} s"
                checks.append(Check(f"heimdall {what} [{label}] time vs {FPUT}", model.label,
                                    measured, limit, met))  # fmt: skip
    return checks


def registry_targets(bench: Bench, models: list[Model]) -> list[Check]:
    """Export and import stream: peak RSS <= 80 MiB (onnx.checker exempt) on every back-end;
    on the embedded default, each takes <= 1.5 x md5sum at 512 MiB."""
    checks = []
    labels = dict.fromkeys(label for label, _ in bench.registry_ops.values() if label != "-")
    for model in models:
        floor = bench.get("md5sum", model.size)
        for label in labels:
            for what in ("export", "import --no-validate", "import (onnx.checker)"):
                op = f"heimdall {what} [{label}]"
                m = bench.get(op, model.size)
                if m is None:
                    continue
                rss = m.result.peak_rss_mib
                if "onnx.checker" in what:
                    checks.append(Check(f"{op} peak RSS (onnx.checker: exempt)", model.label,
                                        f"{rss:.1f} MiB", "-", None))  # fmt: skip
                else:
                    checks.append(Check(f"{op} peak RSS", model.label, f"{rss:.1f} MiB",
                                        "<= 80 MiB", rss <= 80))  # fmt: skip
                r = _ratio(m, floor)
                if r is None:
                    continue
                measured = f"{r:.2f}x{_best_ratio(m, floor)}, {m.result.median_s:.2f} s"
                if label == "embedded" and model.size >= TIME_TARGET_SIZE:
                    checks.append(Check(f"{op} time vs md5sum", model.label, measured,
                                        "<= 1.5x", r <= 1.5))  # fmt: skip
                elif label == "embedded":
                    checks.append(Check(f"{op} time vs md5sum", model.label, measured,
                                        _AT_TARGET_SIZE.format(1.5), None))  # fmt: skip
                else:
                    checks.append(Check(f"{op} time vs md5sum", model.label, measured,
                                        "- (target: embedded only)", None))  # fmt: skip
    return checks


def baseline_targets(bench: Bench, models: list[Model]) -> list[Check]:
    """This release against --baseline, per operation: within 5% (issue 7), or faster."""
    checks = []
    for model in models:
        for what in ("pack", "unpack", "export", "import --no-validate", "import (onnx.checker)"):
            old = bench.get(f"heimdall {what} ({bench.baseline_label})", model.size)
            new_op = f"heimdall {what}" + (" [embedded]" if what[:2] in ("ex", "im") else "")
            ratio = _ratio(bench.get(new_op, model.size), old)
            if ratio is None:
                continue
            judged = model.size >= TIME_TARGET_SIZE
            checks.append(Check(f"{what}: this / {bench.baseline_label}", model.label,
                                f"{ratio:.2f}x", "<= 1.05x" if judged else "(shown)",
                                ratio <= 1.05 if judged else None))  # fmt: skip
    return checks


TARGETS: list[Callable[[Bench, list[Model]], list[Check]]] = [
    speed_targets,
    size_targets,
    memory_targets,
    peer_targets,
    startup_targets,
    registry_targets,
    s3_import_targets,
    external_targets,
    baseline_targets,
]


# -- report -------------------------------------------------------------------------------


def _size_headers(models: list[Model]) -> list[str]:
    """The column headers of :func:`_size_cells`."""
    return [h for m in models for h in (f"{m.label} median s", "x md5sum", "CPU s", "peak RSS MiB")]


def _size_cells(bench: Bench, op: str, models: list[Model]) -> list[object]:
    """Median time, its ratio to md5sum's, CPU seconds and peak RSS of ``op`` at each size."""
    cells: list[object] = []
    for model in models:
        m = bench.get(op, model.size)
        if m is None:
            cells += ["-", "-", "-", "-"]
            continue
        r = _ratio(m, bench.get("md5sum", model.size))
        cells += [
            f"{m.result.median_s:.3f}",
            f"{r:.2f}x" if r is not None else "-",
            f"{m.result.cpu_median_s:.2f}",
            f"{m.result.peak_rss_mib:.1f}",
        ]
    return cells


def main_table(bench: Bench, models: list[Model]) -> str:
    rows = [[op, *_size_cells(bench, op, models)] for op in bench.ops(sized=True, registry=False)]
    return markdown_table(["operation", *_size_headers(models)], rows)


def registry_table(bench: Bench, models: list[Model]) -> str:
    headers = ["operation", "back-end", *_size_headers(models)]
    rows: list[list[object]] = []
    floor_row: list[object] = ["md5sum (same ONNX file)", "-"]
    for model in models:
        m = bench.get("md5sum", model.size)
        floor_row += ([f"{m.result.median_s:.3f}", "1.00x", f"{m.result.cpu_median_s:.2f}",
                       f"{m.result.peak_rss_mib:.1f}"] if m else ["-"] * 4)  # fmt: skip
    rows.append(floor_row)
    for op in bench.ops(sized=True, registry=True):
        label, what = bench.registry_ops[op]
        rows.append([what, label, *_size_cells(bench, op, models)])
    return markdown_table(headers, rows)


def registry_server_table(bench: Bench, models: list[Model]) -> str:
    rows = []
    for op in bench.ops(sized=True, registry=True):
        label, what = bench.registry_ops[op]
        for model in models:
            stats = bench.server_stats.get(f"{op}|{model.size}")
            m = bench.get(op, model.size)
            if stats is None or m is None or not stats[0]:
                continue
            cpu, peak = stats
            rows.append([what, label, model.label, f"{m.result.median_s:.3f}",
                         f"{m.result.cpu_median_s:.2f}", f"{statistics.median(cpu):.2f}",
                         f"{peak:.0f}"])  # fmt: skip
    if not rows:
        return ""
    return markdown_table(["operation", "back-end", "size", "median s", "heimdall CPU s",
                           "S3 server CPU s", "S3 server peak RSS MiB"], rows)  # fmt: skip


def checker_cost_table(bench: Bench, models: list[Model]) -> str:
    """What validation adds to an import: median with onnx.checker minus without."""
    rows = []
    labels = dict.fromkeys(label for label, _ in bench.registry_ops.values() if label != "-")
    for model in models:
        floor = bench.get("md5sum", model.size)
        for label in labels:
            on = bench.get(f"heimdall import (onnx.checker) [{label}]", model.size)
            off = bench.get(f"heimdall import --no-validate [{label}]", model.size)
            if on is None or off is None or floor is None:
                continue
            extra = on.result.median_s - off.result.median_s
            rows.append([model.label, label, f"{off.result.median_s:.3f}",
                         f"{on.result.median_s:.3f}", f"{extra:+.3f}",
                         f"{extra / floor.result.median_s:+.2f}x",
                         f"{on.result.cpu_median_s - off.result.cpu_median_s:+.2f}",
                         f"{off.result.peak_rss_mib:.1f}",
                         f"{on.result.peak_rss_mib:.1f}"])  # fmt: skip
    return markdown_table(["size", "back-end", "--no-validate s", "validated s", "checker s",
                           "checker x md5sum", "checker CPU s", "RSS without MiB",
                           "RSS with MiB"], rows)  # fmt: skip


def registry_usage_table(bench: Bench) -> str:
    keys = ["models", "their ONNX bytes", "registry bytes", "objects on disk", "x ONNX bytes"]
    rows = [[size, label, *(facts.get(k, "-") for k in keys)]
            for size, label, facts in bench.registry_usage]  # fmt: skip
    return markdown_table(["size", "back-end", "models at the end", "their ONNX bytes",
                           "registry bytes", "objects on disk, bytes", "objects / ONNX"],
                          rows)  # fmt: skip


def registry_section(bench: Bench, models: list[Model]) -> list[str]:
    if not bench.registry_ops:
        return []
    parts = [
        "## Registry: export and import",
        "",
        "`heimdall export ID -o OUT -f -q` and `heimdall import BUNDLE [--no-validate] -q` on "
        "each back-end, interleaved in the same rounds as every row above (md5sum included). "
        "Per size and back-end: a fresh registry and store; the model is registered once "
        "(not measured); every import reads the same bundle, exported once from the "
        "embedded registry (not measured), and makes a new model (the previous imports are "
        "deleted before each import, outside the timing); every export writes a fresh file. "
        "Import without `--no-validate` runs onnx.checker (`heimdall_io.onnx.checker`: a "
        "skeleton of the model, its weights as external data) after storing the object. "
        "The `dd` row copies the ONNX file on the same filesystem and fsyncs it: the floor "
        "for a durable write, which the embedded store makes of every object it stores "
        "(an export's output is renamed into place, not fsynced).",
        "",
        registry_table(bench, models),
        "",
        "CPU s is the `heimdall` process only. Back-ends:",
        "",
        *[f"- {d}" for d in bench.registry_backend_notes],
    ]
    parts += ["", "### What onnx.checker costs an import", "",
              "Median of the validated import minus that of `--no-validate` (same back-end, "
              "same rounds): the checker's import, the skeleton, the check, and whatever "
              "the store makes it read again.", "", checker_cost_table(bench, models)]  # fmt: skip
    server = registry_server_table(bench, models)
    if server:
        parts += ["", "### The S3 server's share", "",
                  "SeaweedFS runs on the same 2 cores: its CPU seconds per run (median) and "
                  "its peak RSS (VmHWM, reset before each run), attributed to the command "
                  "that ran meanwhile. PostgreSQL's share (a few small statements) is not "
                  "metered.", "", server]  # fmt: skip
    parts += ["", "### Stored bytes", "",
              "After each size's runs: the registered model plus the last import. "
              "Objects are stored as plain ONNX (no base64): the object store holds about "
              "1.0x the ONNX bytes; the exported bundle (1.3333x, base64) is in Output "
              "sizes. Everything listed here is deleted after the size's runs.", "",
              registry_usage_table(bench)]  # fmt: skip
    return parts


def startup_table(bench: Bench, models: list[Model]) -> str:
    rows = []
    for op in bench.ops(sized=False):
        m = bench.get(op)
        assert m is not None
        rows.append([op, f"{m.result.median_s:.3f}", f"{m.result.min_s:.3f}", len(m.result.runs_s),
                     f"{m.result.peak_rss_mib:.1f}"])  # fmt: skip
    return markdown_table(["command", "median s", "min s", "runs", "peak RSS MiB"], rows)


def output_table(bench: Bench, models: list[Model]) -> str:
    headers = ["output"]
    for model in models:
        headers += [f"{model.label} bytes", "x ONNX"]
    first: list[object] = ["ONNX model (input)"]
    for model in models:
        first += [f"{model.size:,}", "1.0000x"]
    rows = [first]
    for op in bench.ops(sized=True):
        if all(
            (m := bench.get(op, model.size)) is None or m.output_bytes is None for model in models
        ):
            continue
        row: list[object] = [op]
        for model in models:
            m = bench.get(op, model.size)
            if m is None or m.output_bytes is None:
                row += ["-", "-"]
            else:
                row += [f"{m.output_bytes:,}", f"{m.output_bytes / model.size:.4f}x"]
        rows.append(row)
    return markdown_table(headers, rows)


def targets_table(checks: list[Check]) -> str:
    verdict = {True: "PASS", False: "**FAIL**", None: "info"}
    rows = [[c.target, c.size, c.measured, c.limit, verdict[c.ok]] for c in checks]
    return markdown_table(["target", "size", "measured", "limit", "result"], rows)


def runs_table(bench: Bench) -> str:
    rows = []
    for m in bench.results.values():
        rows.append([
            m.op, fmt_size(m.size) if m.size else "-",
            " ".join(f"{s:.3f}" for s in m.result.runs_s),
            " ".join(f"{s:.2f}" for s in m.result.cpu_runs_s),
            " ".join(f"{s:.1f}" for s in m.result.rss_runs_mib),
            " ".join(f"{s:.2f}" for s in m.result.idle_before) or "-",
        ])  # fmt: skip
    return markdown_table(["operation", "size", "wall s per run", "CPU s per run",
                           "peak RSS MiB per run", "CPU idle before each run"],
                          rows)  # fmt: skip


def commands_list(bench: Bench) -> str:
    seen: dict[str, str] = {}
    for m in bench.results.values():
        seen.setdefault(m.op, bench.display(m.cmd))
    return "\n".join(f"- {op}: `{cmd}`" for op, cmd in seen.items())


def render(
    bench: Bench, models: list[Model], checks: list[Check], info: dict[str, str],
    command: str, elapsed: float,
) -> str:  # fmt: skip
    failed = [c for c in checks if c.ok is False]
    passed = [c for c in checks if c.ok is True]
    parts = [
        "# heimdall-io benchmarks",
        "",
        "Written by `benchmarks/run.py`: rerun it rather than editing numbers by hand.",
        "",
        f"Command: `{command}`",
        "",
        (
            f"Method: each command is a fresh subprocess (interpreter start-up included); "
            f"median of {bench.runs} run(s) after {bench.warmup} unmeasured warm-up run(s); "
            "the commands of one model size run interleaved (round-robin: A B C A B C ...) "
            "so that drifting load on this shared machine hits all of them alike (the rows "
            "that use the S3 server in a round of their own, after the others, so that the "
            "server's lingering disk work lands on none of the local commands); "
            "peak RSS is the highest `ru_maxrss` of the measured runs (see Notes); "
            "outputs are deleted before every run (so every run creates its file); the "
            "page cache is **not** dropped, and before every run the inputs (model, "
            "bundles, the registries' objects) are read into it, so reads are warm (this "
            "machine pages out files idle for a minute: `harness.warm_files`). "
            "Models are synthetic ONNX files (`tests.support.synthetic`, seed 0: random "
            "float32 weights, i.e. incompressible). `x md5sum` is the ratio of medians to "
            f"`md5sum` on the same ONNX file. Total benchmark time {elapsed:.0f} s."
        ),
        "",
        "## Machine",
        "",
        markdown_table(["", ""], list(info.items())),
        "",
        "## Results",
        "",
        main_table(bench, models),
        "",
        "CPU s: user + system CPU seconds of the process (median); more than the wall "
        "time means work ran on both cores. Wall time above CPU time (for a "
        "single-threaded command such as md5sum) is time spent waiting, mostly for a core "
        "taken by other processes on this shared machine.",
        "",
        startup_table(bench, models),
        "",
        *registry_section(bench, models),
        "",
        "## Output sizes",
        "",
        output_table(bench, models),
        "",
        *[p for md in bench.extra_markdown.values() for p in (md.rstrip("\n"), "")],
        f"## Targets: {len(passed)} pass, {len(failed)} fail",
        "",
        targets_table(checks),
    ]
    notes = list(bench.notes)
    if bench.min_idle > 0:
        idles = [x for m in bench.results.values() for x in m.result.idle_before]
        busy = sum(1 for x in idles if x < bench.min_idle)
        notes.append(
            f"Idle gate: before each measured run the benchmark waited (at most "
            f"{bench.idle_timeout:g} s) for both CPUs to be at least {bench.min_idle:.0%} idle "
            f"over 0.5 s; {busy} of {len(idles)} runs started without reaching that (the "
            "machine is shared with other sessions), see the last column of All runs."
        )
    else:
        notes.append("Idle gate off: runs started whatever else the machine was doing.")
    notes.append(
        "Time targets (x md5sum) are judged at 512 MiB, the size the issues state them for; "
        "at smaller sizes interpreter start-up (~0.1 s, see `heimdall --help`) weighs on "
        "every ratio and they are reported as info. Memory targets are judged at every size."
    )
    if bench.quick:
        notes.insert(0, "Quick mode (CI smoke): tiny models, so every ratio mostly measures "
                        "interpreter start-up; the targets are not meaningful here.")  # fmt: skip
    if notes:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    parts += ["", "## All runs", "", runs_table(bench), "", "## Commands", "",
              "`$WORK` is the work dir; `heimdall` the console script of this environment.", "",
              commands_list(bench), ""]  # fmt: skip
    return "\n".join(parts)


# -- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help=f"comma-separated model sizes (default {DEFAULT_SIZES})")
    parser.add_argument(
        "--quick", action="store_true", help=f"tiny models ({QUICK_SIZES}), no warm-up: CI smoke"
    )
    parser.add_argument("--runs", type=int, default=5, help="measured runs per command")
    parser.add_argument("--warmup", type=int, help="unmeasured runs first (default 1, quick 0)")
    parser.add_argument("--workdir", type=Path, default=Path("bench-data"))
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--seed", type=int, default=0, help="synthetic model seed")
    parser.add_argument(
        "--sections",
        help=f"comma-separated sections to run (default: all, i.e. "
        f"{','.join([*SIZE_SECTIONS, *GLOBAL_SECTIONS])}; --quick: all but {','.join(NOT_QUICK)})",
    )
    parser.add_argument(
        "--registry-backends",
        help="registry back-ends for the registry section (default embedded,postgres-s3; "
        "--quick: embedded, no servers)",
    )
    parser.add_argument(
        "--http-size", help="model size for the http section (default: the largest of --sizes)"
    )
    parser.add_argument(
        "--baseline",
        metavar="HEIMDALL",
        help="an older release's `heimdall` executable (its own virtualenv): its pack, unpack, "
        "export and import run interleaved with this one's (see baseline_bench.py)",
    )
    parser.add_argument(
        "--baseline-label", default="baseline", help="what to call it in the tables (a commit)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target fails")
    parser.add_argument(
        "--idle-gate",
        type=float,
        default=None,
        metavar="FRACTION",
        help="before each run wait for the CPUs to be this idle (default 0.85, quick: off; 0 off)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="longest wait for --idle-gate before running anyway (default 10)",
    )
    args = parser.parse_args(argv)

    sizes_text = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    try:
        sizes = [parse_size(s) for s in sizes_text.split(",") if s.strip()]
        http_size = parse_size(args.http_size) if args.http_size else max(sizes)
    except ValueError as exc:
        parser.error(f"invalid size {exc}: use e.g. 64MiB, 2GiB")
    all_sections = [*SIZE_SECTIONS, *GLOBAL_SECTIONS]
    default_sections = [s for s in all_sections if not (args.quick and s in NOT_QUICK)]
    sections_text = args.sections or ",".join(default_sections)
    sections = [s.strip() for s in sections_text.split(",") if s.strip()]
    backends_text = args.registry_backends or ("embedded" if args.quick else
                                               "embedded,postgres-s3")  # fmt: skip
    registry_backends = tuple(b.strip() for b in backends_text.split(",") if b.strip())
    unknown = set(sections) - set(SIZE_SECTIONS) - set(GLOBAL_SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    zstd, zstd_note = find_zstd(python)
    bench = Bench(
        workdir=workdir,
        runs=args.runs,
        warmup=args.warmup if args.warmup is not None else (0 if args.quick else 1),
        quick=args.quick,
        python=python,
        heimdall=find_heimdall(python),
        zstd=zstd,
        zstd_note=zstd_note,
        min_idle=args.idle_gate if args.idle_gate is not None else (0.0 if args.quick else 0.85),
        idle_timeout=args.idle_timeout,
        registry_backends=registry_backends,
        http_size=http_size,
        seed=args.seed,
    )
    if args.baseline:
        import baseline_bench

        bench.baseline = [args.baseline]
        bench.baseline_label = args.baseline_label
        bench.notes.append(
            f"Rows marked ({args.baseline_label}) ran an older heimdall-io "
            f"({baseline_bench.installed_version(bench.baseline)}, its own virtualenv) in "
            "the same rounds, on an embedded registry of its own: the comparison that "
            "shows a change of speed without the machine's drift."
        )
    if zstd_note:
        bench.notes.append(zstd_note)
    for heimdall in (bench.heimdall, *([bench.baseline] if args.baseline else [])):
        compile_bytecode(heimdall)
    bench.notes.append(
        "Bytecode (.pyc) of each heimdall-io measured is compiled before the runs, as "
        "`pip install` of a wheel does, so no timed command compiles modules from source."
    )
    floor_rss = run_once(["true"])[1]
    bench.notes.append(
        f"Peak RSS taken via {'GNU time' if RSS_METHOD == 'gnu-time' else 'a fork launcher'} "
        f"(`harness.RSS_METHOD = {RSS_METHOD!r}`): the smallest value it can report (for "
        f"`true`) is {floor_rss:.1f} MiB."
    )
    info = machine_info(workdir, PACKAGES)
    try:
        import pybase64

        info["pybase64"] = pybase64.get_version()
    except ImportError:
        pass
    info["heimdall-io commit"] = git_state()
    info.update(tool_versions({"zstd CLI": ["zstd", "--version"],
                               "md5sum": ["md5sum", "--version"]}))  # fmt: skip
    if "registry" in sections:
        info.update(registry_versions(registry_backends))

    start = time.perf_counter()
    own = all(s in OWN_MODELS or s in GLOBAL_SECTIONS for s in sections)
    models = [Model(size, workdir / fmt_size(size) / "(not written)", workdir / fmt_size(size))
              if own else make_model(workdir, size, args.seed) for size in sizes]  # fmt: skip
    try:
        for model in models:
            print(f"== {model.label}: {model.path}", file=sys.stderr, flush=True)
            jobs: list[Job] = []
            for name, section in SIZE_SECTIONS.items():
                if name in sections:
                    jobs += section(bench, model) or []
            # The S3 rows run in a round-robin of their own, after the others: the server's
            # disk and CPU work (flushing, compaction) outlasts each upload and would land
            # on whichever local command came next in a shared round.
            served = [j for j in jobs if _on_servers(bench, j)]
            bench.run_jobs([j for j in jobs if j not in served], model)
            if served:
                bench.run_jobs(served, model)
            while bench.after_size:
                bench.after_size.pop(0)(model)
        jobs = []
        for name, gsection in GLOBAL_SECTIONS.items():
            if name in sections:
                print(f"== {name}", file=sys.stderr, flush=True)
                jobs += gsection(bench) or []
        bench.run_jobs(jobs)
    finally:
        while bench.teardown:
            bench.teardown.pop()()
    elapsed = time.perf_counter() - start
    info["Load average at start"] = info.pop("Load average at start")
    info["Load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

    checks = [c for target in TARGETS for c in target(bench, models)]
    command = "python benchmarks/run.py" + (" " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "")
    if argv is not None:
        command = "python benchmarks/run.py " + shlex.join(argv)
    text = render(bench, models, checks, info, command, elapsed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.out)
    failed = [c for c in checks if c.ok is False]
    print(f"wrote {args.out}: {len(checks) - len(failed)} checks ok or info, "
          f"{len(failed)} failed", file=sys.stderr)  # fmt: skip
    for c in failed:
        print(f"  FAIL {c.target} [{c.size}]: {c.measured} (limit {c.limit})", file=sys.stderr)
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
