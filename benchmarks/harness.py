"""Measuring commands: wall time and peak RSS of child processes, plus machine facts.

    from harness import measure
    r = measure(["md5sum", "model.onnx"], runs=5)
    print(r.median_s, r.peak_rss_mib)

Each run is one subprocess, timed from spawn to reap with ``time.perf_counter``; its peak
RSS is the child's ``ru_maxrss`` from ``os.wait4`` (its own, or that of any descendant it
waited for, whichever is larger), taken by a small parent: see ``RSS_METHOD``. Nothing
here drops the page cache: measurements are warm.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

#: The repository root. Every benchmark script imports this module first (its own folder
#: is on sys.path, as a script's is), so putting the root on sys.path here lets them all
#: import ``tests.support``: the servers and synthetic models the tests use as well.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MIB = 1 << 20


@dataclass(frozen=True)
class Result:
    """Timings of one command: all runs, their median, and the peak RSS over the runs."""

    median_s: float
    runs_s: list[float]
    peak_rss_mib: float
    #: Peak RSS of each run.
    rss_runs_mib: list[float]
    #: User + system CPU seconds of each run (above 1 x wall time means parallel work).
    cpu_runs_s: list[float]
    #: Idle fraction of the machine's CPUs just before each run, when a gate measured it.
    idle_before: list[float] = field(default_factory=list)

    @property
    def cpu_median_s(self) -> float:
        return statistics.median(self.cpu_runs_s)

    @property
    def min_s(self) -> float:
        return min(self.runs_s)


class CommandFailed(RuntimeError):
    """A measured command exited non-zero."""


# Why not Popen + os.wait4 directly: a child's ru_maxrss starts at the RSS of the process
# it was forked (or vforked) from, so from this Python process (tens of MiB once numpy or
# heimdall_io is imported) every small command would report at least that. The child is
# therefore forked by a small process: GNU time when present (floor ~2 MiB), else this
# launcher, a bare interpreter (floor ~10 MiB) that forks, execs, and reports os.wait4.
_LAUNCHER = """
import os, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
t = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    except OSError as e:
        os.write(2, f"{cmd[0]}: {e}\\n".encode())
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t
with open(out, "w") as f:
    f.write(f"{wall} {ru.ru_maxrss} {ru.ru_utime + ru.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status) & 255)
"""
GNU_TIME = "/usr/bin/time"


def _gnu_time_usable() -> bool:
    if not os.access(GNU_TIME, os.X_OK):
        return False
    try:
        out = subprocess.run([GNU_TIME, "-f", "%M", "true"], capture_output=True, text=True,
                             timeout=10, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stderr.strip().isdigit()


#: How peak RSS is obtained: "gnu-time" or "launcher" (see above).
RSS_METHOD = "gnu-time" if _gnu_time_usable() else "launcher"


def run_once(
    cmd: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> tuple[float, float, float]:
    """Run ``cmd`` once: (wall seconds, peak RSS MiB, CPU seconds). Raises CommandFailed.

    Wall time is taken here around the whole spawn (GNU time) or inside the launcher
    around fork..wait4; stdout is discarded, stderr kept for the error message.
    """
    full_env = None if env is None else {**os.environ, **env}
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as stats:
        if RSS_METHOD == "gnu-time":
            wrapped = [GNU_TIME, "-o", stats.name, "-f", "%M %U %S", *cmd]
        else:
            wrapped = [sys.executable, "-I", "-S", "-c", _LAUNCHER, stats.name, *cmd]
        start = time.perf_counter()
        proc = subprocess.run(
            wrapped, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            env=full_env, cwd=cwd, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read()[-2000:].decode(errors="replace")
            raise CommandFailed(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
        fields = stats.read().strip().splitlines()[-1].split()
    if RSS_METHOD == "gnu-time":
        rss_kib, cpu = float(fields[0]), float(fields[1]) + float(fields[2])
    else:
        wall, rss_kib, cpu = float(fields[0]), float(fields[1]), float(fields[2])
    # Linux reports ru_maxrss in KiB.
    return wall, rss_kib / 1024, cpu


def measure(
    cmd: Sequence[str],
    runs: int = 5,
    env: Mapping[str, str] | None = None,
    before: Callable[[], object] | None = None,
    *,
    warmup: int = 0,
    cwd: str | os.PathLike[str] | None = None,
) -> Result:
    """Run ``cmd`` ``warmup`` + ``runs`` times; time and peak RSS of the last ``runs``.

    ``env`` is added to the current environment. ``before`` runs before every run, outside
    the timing (e.g. to delete the previous run's output so every run writes a new file).
    """
    if runs < 1:
        raise ValueError("runs must be >= 1")
    walls: list[float] = []
    rss: list[float] = []
    cpu: list[float] = []
    for i in range(warmup + runs):
        if before is not None:
            before()
        wall, peak, cpu_s = run_once(cmd, env, cwd)
        if i >= warmup:
            walls.append(wall)
            rss.append(peak)
            cpu.append(cpu_s)
    return Result(statistics.median(walls), walls, max(rss), rss, cpu)


def _cpu_times() -> tuple[int, int]:
    """(idle + iowait, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return values[3] + values[4], sum(values)


def cpu_idle(window: float = 0.5) -> float:
    """Fraction of all CPUs left idle over the next ``window`` seconds (1.0: none used)."""
    idle0, total0 = _cpu_times()
    time.sleep(window)
    idle1, total1 = _cpu_times()
    return (idle1 - idle0) / max(total1 - total0, 1)


def idle_gate(min_idle: float, timeout: float, window: float = 0.5) -> Callable[[], float]:
    """A gate for :func:`measure_interleaved`: wait (up to ``timeout`` s) for a quiet machine.

    On a machine shared with other users a run that starts while they use the CPUs measures
    them as much as the command. The gate samples /proc/stat until the CPUs were at least
    ``min_idle`` idle over ``window`` s, or ``timeout`` passes; it returns the last sample.
    """

    def gate() -> float:
        deadline = time.monotonic() + timeout
        while True:
            idle = cpu_idle(window)
            if idle >= min_idle or time.monotonic() >= deadline:
                return idle

    return gate


@dataclass(frozen=True)
class Spec:
    """One command for :func:`measure_interleaved` (fields as for :func:`measure`)."""

    cmd: Sequence[str]
    env: Mapping[str, str] | None = None
    before: Callable[[], object] | None = None
    #: Measured runs of this command; default the ``runs`` given to measure_interleaved.
    runs: int | None = None


#: Directories :func:`warm_files` leaves alone: a server's data (SeaweedFS volumes, which
#: the server caches as it sees fit) and outputs of earlier runs (never read again).
WARM_SKIP = frozenset({"seaweedfs", "out"})


def warm_files(paths: Sequence[str | os.PathLike[str]]) -> None:
    """Read every regular file in ``paths`` (directories walked) into the page cache.

    Some machines page out whatever was not touched for a while (seen here: DAMON's
    ``pageout`` of memory idle for 60 s), so an input left idle between two runs of a
    round may come from the disk in one run and from memory in the next. Read before each
    run, every command finds its inputs in memory, as md5sum and the other peers do.
    """
    for top in paths:
        for root, dirs, names in os.walk(top) if os.path.isdir(top) else [("", [], [top])]:
            dirs[:] = [d for d in dirs if d not in WARM_SKIP]
            for name in names:
                path = os.path.join(root, name)
                with contextlib.suppress(OSError):
                    if not stat.S_ISREG(os.stat(path).st_mode):
                        continue  # a FIFO or socket would block or fail
                    with open(path, "rb", buffering=0) as f:
                        while f.read(8 << 20):
                            pass


def measure_interleaved(
    specs: Sequence[Spec],
    runs: int = 5,
    *,
    warmup: int = 0,
    cwd: str | os.PathLike[str] | None = None,
    on_result: Callable[[int, Result], object] | None = None,
    gate: Callable[[], float] | None = None,
    warm: Sequence[str | os.PathLike[str]] = (),
) -> list[Result]:
    """Measure several commands round-robin: A B C A B C ... rather than A A A B B B.

    On a shared machine the load drifts; interleaving spreads that drift evenly over the
    commands, so ratios between them (pack vs md5sum) are fairer than with back-to-back
    blocks. ``on_result(i, result)`` is called as soon as spec ``i`` has all its runs.
    ``warm`` (see :func:`warm_files`) is read after ``before``, then ``gate`` (see
    :func:`idle_gate`) runs, before every measured run.
    """
    if runs < 1:
        raise ValueError("runs must be >= 1")
    want = [s.runs or runs for s in specs]
    walls: list[list[float]] = [[] for _ in specs]
    rss: list[list[float]] = [[] for _ in specs]
    cpu: list[list[float]] = [[] for _ in specs]
    idle: list[list[float]] = [[] for _ in specs]
    results: list[Result | None] = [None] * len(specs)
    for round_ in range(warmup + max(want, default=0)):
        for i, spec in enumerate(specs):
            if round_ >= warmup + want[i]:
                continue
            if spec.before is not None:
                spec.before()
            warm_files(warm)
            if gate is not None and round_ >= warmup:
                idle[i].append(gate())
            wall, peak, cpu_s = run_once(spec.cmd, spec.env, cwd)
            if round_ < warmup:
                continue
            walls[i].append(wall)
            rss[i].append(peak)
            cpu[i].append(cpu_s)
            if len(walls[i]) == want[i]:
                results[i] = Result(
                    statistics.median(walls[i]), walls[i], max(rss[i]), rss[i], cpu[i], idle[i]
                )
                if on_result is not None:
                    on_result(i, results[i])
    return [r for r in results if r is not None]


def remove(*paths: str | os.PathLike[str]) -> Callable[[], None]:
    """A ``before`` callback deleting ``paths`` (missing ones are fine)."""

    def before() -> None:
        for p in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)

    return before


# -- machine description ------------------------------------------------------------------


def _first(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return None


def _tool_version(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if text else None


def filesystem_of(path: str | os.PathLike[str]) -> str:
    """Filesystem type and mount point holding ``path`` (from /proc/mounts)."""
    real = os.path.realpath(path)
    best = ("", "?", "")
    try:
        with open("/proc/mounts", encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 4:
                    continue
                mnt, fstype, opts = parts[1], parts[2], parts[3]
                inside = real == mnt or real.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) >= len(best[0]):
                    best = (mnt, fstype, opts)
    except OSError:
        return "?"
    mnt, fstype, opts = best
    return f"{fstype} (mounted at {mnt}, {opts})"


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


#: The CPU features the codec's C libraries choose their code paths by: pybase64's SIMD
#: (SSE/AVX2/AVX-512), OpenSSL's SHA-256 (SHA-NI) and AES, zstd's BMI2.
_FLAGS = ("sse4_2", "avx", "avx2", "bmi2", "avx512f", "avx512bw", "avx512vl", "avx512vbmi",
          "sha_ni", "aes", "vaes")  # fmt: skip


def cpu_flags() -> str:
    """Which of the CPU features that matter here this CPU has (Linux), else "?"."""
    line = _first("/proc/cpuinfo", "flags")
    if line is None:
        return "?"
    have = set(line.split())
    return " ".join(f for f in _FLAGS if f in have) or "none of " + " ".join(_FLAGS)


def machine_info(workdir: str | os.PathLike[str], packages: Sequence[str] = ()) -> dict[str, str]:
    """Facts for a results header: CPU, cores, RAM, kernel, Python, packages, filesystem."""
    mem_kib = _first("/proc/meminfo", "MemTotal")
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    info = {
        "Date (UTC)": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "CPU": _first("/proc/cpuinfo", "model name") or platform.processor() or "?",
        "CPU flags (SIMD, hashing)": cpu_flags(),
        "Cores": f"{os.cpu_count()} online, {usable} usable by this process",
        "RAM": (f"{int(mem_kib.split()[0]) / (1 << 20):.1f} GiB" if mem_kib else "?"),
        "Kernel": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "Work dir filesystem": filesystem_of(workdir),
        "Load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    for name in packages:
        info[name] = package_version(name)
    return info


def tool_versions(tools: Mapping[str, list[str]]) -> dict[str, str]:
    """``{label: first line of `cmd` output}`` for tools such as ``zstd --version``."""
    return {label: _tool_version(cmd) or "not found" for label, cmd in tools.items()}


# -- formatting -------------------------------------------------------------------------


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table; numbers right-aligned."""
    text_rows = [[str(c) for c in row] for row in rows]

    def numeric(col: int) -> bool:
        cells = [r[col] for r in text_rows if r[col] not in ("", "-", "n/a")]
        return bool(cells) and all(_looks_numeric(c) for c in cells)

    aligns = ["---:" if numeric(i) else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(aligns) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in text_rows]
    return "\n".join(lines)


def _looks_numeric(cell: str) -> bool:
    cell = cell.rstrip("x%").replace(",", "")
    try:
        float(cell)
    except ValueError:
        return False
    return True


def fmt_size(n: int) -> str:
    """``67108864`` -> ``64MiB``; ``1536`` -> ``1.5KiB``."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            value = n / (1 << shift)
            return f"{value:g}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return f"{n}B"
