"""Import checks in a fresh interpreter, where the test process's own imports do not count."""

from __future__ import annotations

import subprocess
import sys


def assert_imported_lazily(module: str, setup: str, *, until: str | None = None) -> None:
    """After ``setup`` runs, ``module`` is not imported; after ``until`` (if given), it is."""
    code = f"import sys\n{setup}\nassert {module!r} not in sys.modules, '{module} imported'\n"
    if until is not None:
        code += f"{until}\nassert {module!r} in sys.modules, '{module} not imported'\n"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
