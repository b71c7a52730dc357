"""The registry commands as a user runs them (a real process, a real registry): metadata
printed to a terminal cannot carry escapes, and values the registry cannot store are one
clear error line, never "unexpected ..." (issue 8, items 6 and 12)."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.synthetic import synthetic_model_bytes

HEIMDALL = [sys.executable, "-m", "heimdall_io"]
EVIL = "\x1b]0;TITLE\x07evil\x9b2J\x1b[31m"  # a title change, CSI (C1 and ESC [)
RAW_CONTROLS = (b"\x1b", b"\x07", b"\xc2\x9b")  # ESC, BEL, U+009B in UTF-8


def heimdall(*args: str | bytes, cwd: Path, env: dict[str, str] | None = None) -> Any:
    environment = {k: v for k, v in os.environ.items() if k != "HEIMDALL_DEBUG"}
    environment.update(env or {})
    return subprocess.run(
        [*HEIMDALL, *args], cwd=cwd, capture_output=True, timeout=120, env=environment
    )


def ok(proc: Any) -> bytes:
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout + proc.stderr


def one_error_line(proc: Any, *words: str) -> str:
    stderr = proc.stderr.decode()
    assert proc.returncode == 1, (proc.returncode, stderr)
    assert "Traceback" not in stderr and "unexpected" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    for word in words:
        assert word in lines[0], stderr
    return lines[0]


def raw_bundle(model_json: str) -> bytes:
    """A bundle whose ``model`` metadata is the raw JSON members ``model_json``."""
    payload = base64.b64encode(synthetic_model_bytes(4096, seed=5)).decode()
    return (
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        f'"model":{{{model_json},"onnx_model_base64":"{payload}"}}}}'
    ).encode()


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, heimdall_env: Path) -> dict[str, str]:
    """The environment of a fresh registry: the embedded one, or a PostgreSQL database."""
    if request.param == "sqlite":
        return {}
    return {"HEIMDALL_DATABASE_URL": request.getfixturevalue("pg_url")}


def test_terminal_escapes_in_metadata_are_escaped(tmp_path: Path, env: dict[str, str]) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(synthetic_model_bytes(4096, seed=4))
    out = ok(heimdall("register", "m.onnx", "--name", EVIL, "--architecture", EVIL,
                      "--description", EVIL, cwd=tmp_path, env=env))  # fmt: skip
    registered = out.decode().strip()
    (tmp_path / "evil.heimdall").write_bytes(
        raw_bundle(f'"model_name":{json.dumps(EVIL)},"version":1')
    )
    printed = [out]
    printed.append(ok(heimdall("import", "evil.heimdall", cwd=tmp_path, env=env)))
    printed.append(ok(heimdall("list", cwd=tmp_path, env=env)))
    printed.append(ok(heimdall("show", registered, cwd=tmp_path, env=env)))
    printed.append(ok(heimdall("export", registered, "-o", "x.heimdall", cwd=tmp_path, env=env)))
    printed.append(ok(heimdall("history", cwd=tmp_path, env=env)))
    for text in printed:
        for control in RAW_CONTROLS:
            assert control not in text, text
    listing = printed[2].decode()
    assert "\\x1b]0;TITLE\\x07evil" in listing  # escaped, as `cat -v` would show it
    # --json stays exact: JSON escapes the controls itself.
    models = json.loads(ok(heimdall("list", "--json", cwd=tmp_path, env=env)))
    assert {m["model_name"] for m in models} == {EVIL, EVIL + " (Imported)"}
    deleted = ok(heimdall("delete", registered, cwd=tmp_path, env=env))
    assert not any(control in deleted for control in RAW_CONTROLS)


def test_a_failed_import_shows_escaped_in_history(tmp_path: Path, heimdall_env: Path) -> None:
    (tmp_path / "bad.heimdall").write_bytes(raw_bundle(
        f'"model_name":{json.dumps(EVIL)},"version":1,"architecture":"\\ud800"'))  # fmt: skip
    one_error_line(heimdall("import", "bad.heimdall", cwd=tmp_path), "model.architecture")
    history = ok(heimdall("history", cwd=tmp_path))
    assert b"lone surrogate (\\ud800)" in history
    assert not any(control in history for control in RAW_CONTROLS)


@pytest.mark.parametrize(
    ("members", "words"),
    [
        ('"model_name":"m","version":1,"architecture":"Res\\ud800Net"',
         ("model.architecture", "lone surrogate")),
        ('"model_name":"m","version":1,"framework":"\\udfff"', ("model.framework",)),
        ('"model_name":"a\\u0000b","version":1', ("model.model_name", "NUL")),
        ('"model_name":"m","version":1,"parameters_count":123456789012345678901234',
         ("model.parameters_count", "64-bit")),
        ('"model_name":"' + "n" * 250 + '","version":1', ("model.model_name", "250 characters")),
        ('"model_name":"m","version":1,"x":[NaN]', ("NaN", "model.x")),
    ],
)  # fmt: skip
def test_unstorable_bundles_fail_import_and_verify_alike(
    tmp_path: Path, heimdall_env: Path, members: str, words: tuple[str, ...]
) -> None:
    (tmp_path / "bad.heimdall").write_bytes(raw_bundle(members))
    imported = one_error_line(heimdall("import", "bad.heimdall", cwd=tmp_path), *words)
    verified = one_error_line(heimdall("verify", "bad.heimdall", cwd=tmp_path), *words)
    assert imported == verified
    assert json.loads(ok(heimdall("list", "--json", cwd=tmp_path))) == []


def test_register_refuses_what_the_registry_cannot_store(
    tmp_path: Path, heimdall_env: Path
) -> None:
    (tmp_path / "m.onnx").write_bytes(synthetic_model_bytes(4096, seed=4))
    # A name that is not UTF-8 reaches Python as a lone surrogate (surrogateescape).
    proc = heimdall("register", "m.onnx", "--name", b"caf\xe9", cwd=tmp_path)
    one_error_line(proc, "model.model_name", "lone surrogate (\\udce9)")
    proc = heimdall("register", "m.onnx", "--name", "n" * 256, cwd=tmp_path)
    one_error_line(proc, "model.model_name", "256 characters")
    (tmp_path / "metrics.json").write_text('{"val_loss": [0.5, NaN]}')
    proc = heimdall("register", "m.onnx", "--name", "m", "--metrics", "metrics.json", cwd=tmp_path)
    one_error_line(proc, "--metrics", "NaN is not a JSON number")
    assert json.loads(ok(heimdall("list", "--json", cwd=tmp_path))) == []
    ok(heimdall("register", "m.onnx", "--name", "n" * 255, cwd=tmp_path))


def test_unencodable_text_has_a_message() -> None:
    from heimdall_cli.errors import message_for

    try:
        "caf\udce9".encode()
    except UnicodeEncodeError as e:
        assert message_for(e) == (
            "text with a lone surrogate (\\udce9) is not valid Unicode: use UTF-8 text"
        )


def test_export_with_force_writes_into_dev_null(tmp_path: Path, heimdall_env: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(synthetic_model_bytes(4096, seed=4))
    model_id = ok(heimdall("register", "m.onnx", "--name", "m", cwd=tmp_path)).decode().strip()
    before = os.stat(os.devnull)
    ok(heimdall("export", model_id, "-o", os.devnull, "--force", cwd=tmp_path))
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
