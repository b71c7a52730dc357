"""What the transfer tests share: the CLI run against one server's registry, with a
remotes config of the test's own, and small HTTP look-ups."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.support.servers import HeimdallServer

MODELS = "/api/v1/training/models"


def heimdall(
    server: HeimdallServer, config: Path, *args: str, check: bool = True,
    env: dict[str, str] | None = None, timeout: float = 180,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``heimdall ARGS`` on ``server``'s registry and store, remotes in ``config``."""
    environ = {**server.env, "XDG_CONFIG_HOME": str(config), **(env or {})}
    command = [sys.executable, "-m", "heimdall_io", *args]
    result = subprocess.run(command, env=environ, cwd=server.workdir, capture_output=True,
                            text=True, timeout=timeout)  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(f"heimdall {' '.join(args)} failed: {result.stderr}")
    return result


def models(server: HeimdallServer, key: str | None = None) -> dict[str, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    r = httpx.get(server.url(MODELS), headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return {m["model_id"]: m for m in r.json()}


def imported_objects(server: HeimdallServer) -> list[Path]:
    root = server.home / "objects" / "imported"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def json_line(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
