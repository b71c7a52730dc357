"""The REST API over loopback HTTP: export and import of a large model with curl, side by
side with curl fetching the same bundle bytes from ``python -m http.server``.

    python benchmarks/run.py --sections http           # as a section of RESULTS.md
    python benchmarks/http_bench.py --size 64MiB --runs 1 --out /tmp/http.md   # on its own

One run: a synthetic model is registered in a fresh HEIMDALL_HOME, ``heimdall serve`` and
``python -m http.server`` start on free loopback ports, and these curl commands are
measured round-robin (harness.measure_interleaved), each a fresh subprocess:

* ``GET http.server``: the exported bundle file, served by the standard library (floor);
* ``GET export``: the API encoding the same bundle from the stored ONNX on the fly;
* ``POST import (validate=false)``: the bundle streamed in (curl -T), decoded, hashed and
  stored; ``POST import``: the same with onnx.checker (the API's default);
* the ``heimdall`` CLI doing the same export and imports on the same registry (what the
  HTTP rows are held to: at most 1.3x);
* ``heimdall push`` of the model to a second server B, and ``heimdall pull`` of it from
  the first into B's registry (held to 1.5x a CLI export plus a CLI import).

Each server's peak RSS is its VmHWM, reset (``/proc/<pid>/clear_refs``) before every run
and read before the next, so the figure belongs to the command in its row. Models created
by imports are deleted between runs. The function :func:`http_benchmark` returns the
markdown section: ``run.py``'s ``http`` section puts it into ``benchmarks/RESULTS.md``;
``main`` here prints it (and writes ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from harness import (
    Result,
    Spec,
    fmt_size,
    machine_info,
    markdown_table,
    measure_interleaved,
    package_version,
    remove,
    tool_versions,
)

from heimdall_io.sizes import parse_size
from tests.support.servers import HeimdallServer, free_ports

HERE = Path(__file__).resolve().parent

MODELS = "/api/v1/training/models"
PACKAGES = ("heimdall-io", "starlette", "uvicorn", "h11", "httptools", "uvloop", "pybase64")


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s")


class Peak:
    """A process's peak RSS (VmHWM), reset on demand."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def read_mib(self) -> float:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM")

    def reset(self) -> None:
        with open(f"/proc/{self.pid}/clear_refs", "w") as f:
            f.write("5")  # "reset the peak resident set size"


def http_benchmark(
    workdir: Path,
    size: int,
    runs: int = 3,
    warmup: int = 1,
    *,
    gate: Callable[[], float] | None = None,
    min_idle: float = 0.0,
    model_path: Path | None = None,
    heading: str = "##",
    full_machine: bool = True,
) -> str:
    """Measure, and return the markdown section (its title at level ``heading``).

    ``gate`` (harness.idle_gate, for ``min_idle``) runs before every measured run;
    ``model_path``: an existing synthetic model of ``size`` bytes (else one is written);
    ``full_machine=False``: the machine table lists only what a report's own machine table
    lacks (server packages, curl, load averages of this part).
    """
    python = sys.executable
    info = machine_info(workdir, PACKAGES)  # before the run: its load average is "at start"
    if not full_machine:
        keep = ("Date (UTC)", "Load average at start", *PACKAGES[1:-1])
        info = {k: v for k, v in info.items() if k in keep}
    work = workdir.resolve() / "http"  # absolute: the CLI and the server run inside it
    shutil.rmtree(work, ignore_errors=True)
    (work / "serve").mkdir(parents=True)
    model = model_path.resolve() if model_path is not None else work / "model.onnx"
    bundle = work / "serve" / "bundle.heimdall"
    if model_path is None:
        from tests.support.synthetic import write_synthetic_model

        with open(model, "wb") as f:
            write_synthetic_model(f, size, seed=0)
    # SQLite + local objects in work/home; the API takes bundles of this size.
    limit = {"HEIMDALL_MAX_IMPORT_BYTES": str(4 * size + (64 << 20))}
    api = HeimdallServer(work, limit)
    (work / "b").mkdir()
    other = HeimdallServer(work / "b", limit)  # push/pull's other end, its own registry
    registered = api.cli("register", str(model), "--name", "Bench", "-q", timeout=None)
    model_id = registered.stdout.strip()
    api.cli("export", model_id, "-o", str(bundle), "-q", timeout=None)

    files_port = free_ports(1)[0]
    files = subprocess.Popen(
        [python, "-m", "http.server", str(files_port), "--bind", "127.0.0.1",
         "--directory", str(work / "serve")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        api.start()
        other.start()
        api_url, files_url = api.base_url, f"http://127.0.0.1:{files_port}"
        _wait_http(files_url + "/", files)
        peaks = {"api": Peak(api.pid), "files": Peak(files.pid), "b": Peak(other.pid)}

        def delete_on(url: str) -> Callable[[], None]:
            def delete() -> None:
                with urllib.request.urlopen(url + MODELS) as r:
                    models = json.load(r)
                for m in models:
                    if m["model_id"] != model_id:
                        req = urllib.request.Request(f"{url}{MODELS}/{m['model_id']}",
                                                     method="DELETE")  # fmt: skip
                        urllib.request.urlopen(req).close()

            return delete

        delete_imports, delete_b = delete_on(api_url), delete_on(other.base_url)
        heimdall = [python, "-m", "heimdall_io"]

        out = work / "out.heimdall"
        curl = ["curl", "-sS", "-f", "-o"]
        upload = ["curl", "-sS", "-f", "-o", os.devnull, "-X", "POST", "-T", str(bundle),
                  "-H", "Content-Type: application/json", "-H", "Expect:"]  # fmt: skip
        jobs: list[tuple[str, str, list[str], Callable[[], object] | None]] = [
            ("GET http.server (same bytes)", "files",
             [*curl, str(out), f"{files_url}/bundle.heimdall"], remove(out)),
            ("GET export", "api", [*curl, str(out), f"{api_url}{MODELS}/{model_id}/export"],
             remove(out)),
            ("POST import (validate=false)", "api",
             [*upload, f"{api_url}{MODELS}/import?validate=false"], delete_imports),
            ("POST import (onnx.checker)", "api",
             [*upload, f"{api_url}{MODELS}/import"], delete_imports),
            ("CLI export", "cli", [*heimdall, "export", model_id, "-o", str(out), "-q", "-f"],
             remove(out)),
            ("CLI import --no-validate", "cli",
             [*heimdall, "import", str(bundle), "--no-validate", "-q"], delete_imports),
            ("CLI import (onnx.checker)", "cli", [*heimdall, "import", str(bundle), "-q"],
             delete_imports),
            ("heimdall push (to B)", "b", [*heimdall, "push", model_id, other.base_url, "-q"],
             delete_b),
            ("heimdall pull (into B)", "api",
             [*heimdall, "pull", api_url, model_id, "-q"], delete_b),
        ]  # fmt: skip
        envs = {"heimdall pull (into B)": other.env}
        server_peak: dict[int, float] = {}
        last: list[int | None] = [None]

        def before_for(i: int, extra: Callable[[], object] | None) -> Callable[[], None]:
            def before() -> None:
                j = last[0]
                if j is not None and jobs[j][1] in peaks:
                    server_peak[j] = max(server_peak.get(j, 0.0), peaks[jobs[j][1]].read_mib())
                if extra is not None:
                    extra()
                if jobs[i][1] in peaks:
                    peaks[jobs[i][1]].reset()
                last[0] = i

            return before

        specs = [Spec(cmd, env=envs.get(label, api.env), before=before_for(i, extra))
                 for i, (label, _, cmd, extra) in enumerate(jobs)]  # fmt: skip
        started = time.monotonic()
        results = measure_interleaved(specs, runs, warmup=warmup, cwd=work, gate=gate,
                                      warm=[model, work])  # fmt: skip
        j = last[0]
        if j is not None and jobs[j][1] in peaks:
            server_peak[j] = max(server_peak.get(j, 0.0), peaks[jobs[j][1]].read_mib())
        elapsed = time.monotonic() - started
        delete_imports()
    finally:
        api.stop(grace=10)
        other.stop(grace=10)
        files.terminate()
        try:
            files.wait(timeout=10)
        except subprocess.TimeoutExpired:
            files.kill()
    bundle_size = bundle.stat().st_size
    shutil.rmtree(work, ignore_errors=True)
    info["Load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return _render(jobs, results, server_peak, size, bundle_size, runs, warmup, elapsed, info,
                   min_idle, heading)  # fmt: skip


def _render(
    jobs: list[tuple[str, str, list[str], Callable[[], object] | None]],
    results: list[Result],
    server_peak: dict[int, float],
    size: int,
    bundle_size: int,
    runs: int,
    warmup: int,
    elapsed: float,
    info: dict[str, str],
    min_idle: float = 0.0,
    heading: str = "##",
) -> str:
    floor = results[0].median_s
    rows = []
    servers = {"files": "python -m http.server", "api": "heimdall serve",
               "b": "heimdall serve (B)", "cli": "- (CLI)"}  # fmt: skip
    for i, ((label, server, _, _), r) in enumerate(zip(jobs, results, strict=True)):
        peak = server_peak.get(i)
        rows.append([
            label,
            servers[server],
            f"{r.median_s:.3f}",
            f"{r.min_s:.3f}",
            f"{bundle_size / r.median_s / 2**20:.0f}",
            f"{size / r.median_s / 2**20:.0f}",
            f"{r.median_s / floor:.2f}x",
            "-" if peak is None else f"{peak:.0f}",
            f"{r.peak_rss_mib:.0f}",
        ])  # fmt: skip
    targets = markdown_table(["target", "measured", "limit", "met"],
                             _targets(jobs, results, server_peak))  # fmt: skip
    info.update(tool_versions({"curl": ["curl", "--version"]}))
    info["uvicorn HTTP implementation"] = (
        "httptools" if package_version("httptools") != "not installed" else "h11 (pure Python)"
    )
    machine = markdown_table(["", ""], [[k, v] for k, v in info.items()])
    runs_rows = [[label, " ".join(f"{x:.3f}" for x in r.runs_s),
                  " ".join(f"{x:.2f}" for x in r.idle_before) or "-"]
                 for (label, _, _, _), r in zip(jobs, results, strict=True)]  # fmt: skip
    all_runs = markdown_table(["operation", "wall s per run", "CPU idle before each run"],
                              runs_rows)  # fmt: skip
    if min_idle > 0:
        idles = [x for r in results for x in r.idle_before]
        busy = sum(1 for x in idles if x < min_idle)
        gating = (f"Idle gate: before each measured run, a wait (bounded) for both CPUs to be "
                  f"at least {min_idle:.0%} idle over 0.5 s; {busy} of {len(idles)} runs "
                  "started without reaching that.")  # fmt: skip
    else:
        gating = "Idle gate off: runs started whatever else the machine was doing."
    sub = heading + "#"
    table = markdown_table(
        ["operation", "server", "median s", "min s", "bundle MiB/s", "model MiB/s",
         "x http.server", "server peak RSS MiB", "client peak RSS MiB"],
        rows,
    )  # fmt: skip
    return f"""{heading} REST API over loopback HTTP ({fmt_size(size)} model)

Written by `benchmarks/http_bench.py` (the `http` section of `benchmarks/run.py`): rerun
it rather than editing numbers by hand.

Method: a synthetic {fmt_size(size)} ONNX model (incompressible float32 weights) is
registered in a fresh SQLite + local-directory HEIMDALL_HOME; its uncompressed bundle is
{bundle_size:,} bytes. `heimdall serve` and `python -m http.server` run side by side on
loopback; each row is `curl` as a fresh subprocess, median of {runs} run(s) after {warmup}
warm-up round(s), all rows interleaved round-robin. `GET http.server` fetches the exported
bundle file itself: the same bytes, with no encoding work, as a floor for moving them over
loopback HTTP in Python. `GET export` encodes the bundle from the stored ONNX while
sending it (base64, MD5 + SHA-256 verified against the registry). Imports stream the
bundle in with `curl -T` (Content-Length known), decode, hash and store it, and register
a new model (deleted before the next run). Server peak RSS is the serving process's
VmHWM, reset before each run. Throughput in MiB/s of the bundle (bytes on the wire) and of
the model. Page cache warm. {gating} Total {elapsed:.0f} s.

{sub} Machine (HTTP part)

{machine}

{sub} Results

{table}

{sub} Targets (issue 9)

{targets}

`x http.server`: median time over that of `GET http.server`. The CLI rows run `heimdall`
on the same registry as the server; `push` sends the model from the server's registry to
a second `heimdall serve` (B, its own registry), `pull` brings it from the first server
into B's registry (its import runs in the CLI); both are held to a CLI export plus a CLI
import. Client peak RSS is curl's or the CLI's. The onnx.checker row shows
what validating an import costs (`heimdall_io.onnx.checker`: models over 8 MiB are checked as a
skeleton, so its memory does not grow with the model, but the stored object is read again);
the API runs at most one at a time (HEIMDALL_MAX_CONCURRENT_VALIDATIONS).

{sub} All HTTP runs

{all_runs}
"""


def _targets(
    jobs: list[tuple[str, str, list[str], Callable[[], object] | None]],
    results: list[Result],
    server_peak: dict[int, float],
) -> list[list[str]]:
    """Issue 9's limits: HTTP <= 1.3x the CLI, push/pull <= 1.5x export + import, RSS."""
    median = {label: r.median_s for (label, _, _, _), r in zip(jobs, results, strict=True)}
    rows = []
    local = median["CLI export"] + median["CLI import (onnx.checker)"]
    for what, over, limit in (
        ("GET export", median["CLI export"], 1.3),
        ("POST import (validate=false)", median["CLI import --no-validate"], 1.3),
        ("POST import (onnx.checker)", median["CLI import (onnx.checker)"], 1.3),
        ("heimdall push (to B)", local, 1.5),
        ("heimdall pull (into B)", local, 1.5),
    ):  # fmt: skip
        ratio = median[what] / over
        base = "CLI export + CLI import" if limit == 1.5 else "the CLI"
        rows.append([f"{what} vs {base}", f"{ratio:.2f}x", f"<= {limit}x",
                     "yes" if ratio <= limit else "NO"])  # fmt: skip
    api = [v for i, v in server_peak.items() if jobs[i][1] in ("api", "b")]
    if api:
        rows.append(["heimdall serve peak RSS", f"{max(api):.0f} MiB", "<= 100 MiB",
                     "yes" if max(api) <= 100 else "NO"])  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="512MiB", type=parse_size, help="e.g. 64MiB, 2GiB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=HERE.parent / "bench-data")
    parser.add_argument("--out", type=Path, help="also write the markdown here")
    args = parser.parse_args(argv)
    if shutil.which("curl") is None:
        parser.error("curl is not installed")
    text = http_benchmark(args.workdir, args.size, args.runs, args.warmup)
    if args.out is not None:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
