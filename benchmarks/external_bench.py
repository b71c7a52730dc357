"""Models with ONNX external data (issue 14): pack DIR, unpack -o DIR and a registry
import/export round trip, against `md5sum` of the same files, in the same rounds.

The model is written by the tests' own fixture (``tests.support.synthetic.
write_external_model``): a small ``model.onnx`` and data files of 1 GiB each (fewer for
smaller sizes), ``SIZE`` bytes together, under ``$WORK/external/<size>/model``. After the
runs every output is compared with the source files, byte for byte (``cmp``), and the
result is part of the table. Targets: peak RSS <= 80 MiB, wall time <= 1.3x md5sum.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from harness import Result, Spec, fmt_size, markdown_table, measure_interleaved, remove

RSS_LIMIT_MIB = 80
RATIO_LIMIT = 1.3
#: (op, size label) -> (median s, peak RSS MiB, ratio to md5sum); read by run.py's target.
RESULTS: dict[tuple[str, str], tuple[float, float, float]] = {}


def _model(root: Path, size: int) -> list[Path]:
    """The model directory (written unless present at that size); its files."""
    from tests.support.synthetic import write_external_model

    marker = root / ".complete"
    if not (marker.exists() and marker.read_text() == str(size)):
        shutil.rmtree(root, ignore_errors=True)
        print(f"writing {root} ...", file=sys.stderr, flush=True)
        write_external_model(root, size, files=max(1, size >> 30))
        marker.write_text(str(size))
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".complete")


def _same_tree(a: Path, b: Path) -> bool:
    def files(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                      if p.is_file() and p.name != ".complete")  # fmt: skip

    names = files(a)
    if names != files(b):
        return False
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def external_benchmark(
    workdir: Path,
    size: int,
    runs: int,
    warmup: int,
    heimdall: Sequence[str],
    gate: Callable[[], float] | None = None,
) -> str:
    """Measure and return the section's markdown."""
    label = fmt_size(size)
    base = workdir / "external" / label
    src = base / "model"
    files = _model(src, size)
    bundle, out, export = base / "m.heimdall", base / "out", base / "export.heimdall"
    home_import, home_export = base / "home-import", base / "home-export"
    h = list(heimdall)

    def env(home: Path) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HEIMDALL_")}
        return {**clean, "HEIMDALL_HOME": str(home)}

    # Set up (not measured): the bundle, and a registry holding the model for export.
    subprocess.run([*h, "pack", str(src), "-o", str(bundle), "-q", "-f"], check=True)
    shutil.rmtree(home_export, ignore_errors=True)
    model_id = subprocess.run([*h, "register", str(src), "--name", "big", "-q"],
                              env=env(home_export), check=True, capture_output=True,
                              text=True).stdout.strip()  # fmt: skip
    jobs = [
        ("md5sum (all files)", Spec(["md5sum", *map(str, files)])),
        ("heimdall pack DIR", Spec([*h, "pack", str(src), "-o", str(base / "p.heimdall"),
                                    "-q", "-f"], before=remove(base / "p.heimdall"))),
        ("heimdall unpack -o DIR", Spec([*h, "unpack", str(bundle), "-o", str(out), "-q"],
                                        before=lambda: shutil.rmtree(out, ignore_errors=True))),
        ("heimdall import", Spec([*h, "import", str(bundle)], env=env(home_import),
                                 before=lambda: shutil.rmtree(home_import, ignore_errors=True))),
        ("heimdall export", Spec([*h, "export", model_id, "-o", str(export), "-f", "-q"],
                                 env=env(home_export), before=remove(export))),
    ]  # fmt: skip

    def done(i: int, result: Result) -> None:
        print(f"  [external {label}] {jobs[i][0]}: median {result.median_s:.3f} s, "
              f"peak RSS {result.peak_rss_mib:.1f} MiB", file=sys.stderr, flush=True)  # fmt: skip

    results = measure_interleaved([s for _, s in jobs], runs, warmup=warmup, on_result=done,
                                  gate=gate)  # fmt: skip
    # Byte for byte: what unpack wrote, and the exported bundle unpacked (the registry
    # round trip: register, export; the import above stored the same bundle's files).
    checks = {"heimdall unpack -o DIR": _same_tree(src, out)}
    again = base / "export-out"
    shutil.rmtree(again, ignore_errors=True)
    subprocess.run([*h, "unpack", str(export), "-o", str(again), "-q"], check=True)
    checks["heimdall export"] = _same_tree(src, again)
    imported = subprocess.run([*h, "list", "--json"], env=env(home_import), check=True,
                              capture_output=True, text=True).stdout  # fmt: skip
    checks["heimdall import"] = '"model_id"' in imported
    floor = results[0].median_s
    rows = []
    for (op, _), result in zip(jobs, results, strict=True):
        ratio = result.median_s / floor if floor else float("nan")
        RESULTS[(op, label)] = (result.median_s, result.peak_rss_mib, ratio)
        same = checks.get(op)
        rows.append([op, f"{result.median_s:.2f}", f"{ratio:.2f}x",
                     f"{result.peak_rss_mib:.0f}", ", ".join(f"{s:.2f}" for s in result.runs_s),
                     "-" if same is None else ("yes" if same else "NO")])  # fmt: skip
    for path in (out, again, export, base / "p.heimdall", home_import):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else remove(path)()
    total = sum(p.stat().st_size for p in files)
    table = markdown_table(["operation", "median s", "vs md5sum", "peak RSS MiB", "runs s",
                            "byte-identical"], rows)  # fmt: skip
    return (
        f"## Large models (external data), {label}\n\n"
        f"A model saved with external data: {len(files)} files, {total:,} bytes "
        f"(`tests.support.synthetic.write_external_model`); {runs} runs, interleaved with "
        f"md5sum of the same files (median {floor:.2f} s). "
        f"Targets: peak RSS <= {RSS_LIMIT_MIB} MiB, time <= {RATIO_LIMIT}x md5sum.\n\n{table}\n"
    )
