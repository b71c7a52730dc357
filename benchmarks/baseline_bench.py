"""An older heimdall-io, measured in the same rounds as this one (``run.py --baseline``).

A refactoring claims "no regression beyond noise"; on a shared machine whose load drifts,
only the same commands timed side by side in one run can show it. Install the older
release in a virtualenv of its own (``pip install DIR`` of a ``git archive REV``) and pass
its ``heimdall`` executable: its pack, unpack, export and import run interleaved with the
current ones on the same model, each on an embedded registry (HEIMDALL_HOME) of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from registry_bench import storage_env


def _run(cmd: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True,
                          check=False)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"baseline {' '.join(cmd[1:3])} failed:\n{proc.stderr}")
    return proc.stdout


def baseline_commands(
    heimdall: list[str], model_path: Path, root: Path, out: Path
) -> list[tuple[str, bool, list[str], Path | None, dict[str, str] | None, object]]:
    """(row, is_registry_row, command, output, env, before) for the older ``heimdall``."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    m = str(model_path)
    bundle = root / "input.heimdall"
    _run([*heimdall, "pack", m, "-o", str(bundle), "-q", "-f"], {})
    export_env = storage_env(HEIMDALL_HOME=str(root / "export-home"))
    made = _run([*heimdall, "register", m, "--name", "Bench", "--json", "-q"], export_env)
    model_id = json.loads(made.strip().splitlines()[-1])["model_id"]
    # Imports start from the same empty registry every time (its schema already made).
    template, home = root / "import-template", root / "import-home"
    _run([*heimdall, "list"], storage_env(HEIMDALL_HOME=str(template)))
    import_env = storage_env(HEIMDALL_HOME=str(home))

    def fresh_import_home() -> None:
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(template, home)

    o = {name: out / f"baseline-{name}" for name in ("pack.heimdall", "unpack.onnx",
                                                     "export.heimdall")}  # fmt: skip
    return [
        ("pack", False, [*heimdall, "pack", m, "-o", str(o["pack.heimdall"]), "-q", "-f"],
         o["pack.heimdall"], None, None),
        ("unpack", False, [*heimdall, "unpack", str(bundle), "-o", str(o["unpack.onnx"]), "-q",
                           "-f"], o["unpack.onnx"], None, None),
        ("export", True, [*heimdall, "export", model_id, "-o", str(o["export.heimdall"]), "-f",
                          "-q"], o["export.heimdall"], export_env, None),
        ("import --no-validate", True, [*heimdall, "import", str(bundle), "--no-validate", "-q"],
         None, import_env, fresh_import_home),
        ("import (onnx.checker)", True, [*heimdall, "import", str(bundle), "-q"], None,
         import_env, fresh_import_home),
    ]  # fmt: skip


def installed_version(heimdall: list[str]) -> str:
    """What the older install says of itself (``heimdall --version``)."""
    try:
        return _run([*heimdall, "--version"], {}).strip()
    except (RuntimeError, OSError) as exc:
        return f"unknown ({exc})"
