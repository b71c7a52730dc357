"""The signing commands as the user runs them (``python -m heimdall_io``, real processes):
keys, pack/export --sign, sign, verify, inspect, import under the policy, show and
history, the minisign interop in both directions, and the A -> B -> C chain across three
registries. Every failure is one ``Error:`` line and exit 1, and never shows a secret.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from heimdall_io.signing import keys
from tests.signing.helpers import FAST, minisign_binary
from tests.support.servers import STORAGE_VARIABLES
from tests.support.synthetic import synthetic_model_bytes

HEIMDALL = [sys.executable, "-m", "heimdall_io"]
_UNSET = (*STORAGE_VARIABLES, "HEIMDALL_DEBUG", "HEIMDALL_TRUSTED_KEYS",
          "HEIMDALL_REQUIRE_SIGNATURE", "HEIMDALL_KEY_PASSPHRASE", "HEIMDALL_KEY_DIR")  # fmt: skip


class Workspace:
    """A directory with a key directory and registries in it; runs `heimdall` there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.keys = root / "keys"
        self.env = {k: v for k, v in os.environ.items() if k not in _UNSET}
        self.env.update(HEIMDALL_HOME=str(root / "home"), HEIMDALL_KEY_DIR=str(self.keys))
        self.model = root / "model.onnx"
        self.model.write_bytes(synthetic_model_bytes(8192, seed=5))

    def run(self, *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
            ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return subprocess.run(
            [*HEIMDALL, *args], cwd=self.root, env={**self.env, **(env or {})},
            input=stdin.decode() if stdin is not None else "", capture_output=True, text=True,
            timeout=180,
        )  # fmt: skip

    def ok(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        done = self.run(*args, **kw)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def fails(self, *args: str, words: tuple[str, ...] = (), **kw: Any) -> str:
        """Exit 1 with exactly one `Error:` line on stderr (no traceback); returns it."""
        done = self.run(*args, **kw)
        assert done.returncode == 1, (args, done.returncode, done.stdout, done.stderr)
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
        for word in words:
            assert word in lines[0], lines[0]
        return lines[0]

    def registry(self, name: str) -> list[str]:
        return ["--database-url", f"sqlite:///{self.root / name}.db",
                "--storage-url", str(self.root / f"{name}-objects")]  # fmt: skip

    def models(self, name: str) -> list[dict[str, Any]]:
        return json.loads(self.ok("list", "--json", *self.registry(name)).stdout)  # type: ignore[no-any-return]

    def fast_key(self, name: str, passphrase: str | None = None) -> keys.SecretKey:
        info = keys.generate(name, self.keys, passphrase, **FAST)
        assert info.secret_path is not None
        return keys.load_secret_key(info.secret_path, passphrase)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def secret_line(path: Path) -> str:
    return path.read_text().splitlines()[1]


def flip(path: Path, out: Path, needle: bytes, replacement: bytes) -> Path:
    data = path.read_bytes()
    assert needle in data
    out.write_bytes(data.replace(needle, replacement, 1))
    return out


# -- keys -----------------------------------------------------------------------------------------


def test_key_generate_list_export_public(ws: Workspace) -> None:
    done = ws.ok("key", "generate", "team", "--no-passphrase")
    key_id = done.stdout.strip()
    secret, public = ws.keys / "team.key", ws.keys / "team.pub"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert keys.load_public_key(public).key_id == key_id
    listed = ws.ok("key", "list").stdout
    assert "team" in listed and key_id in listed and "unencrypted" in listed
    as_json = json.loads(ws.ok("key", "list", "--json").stdout)
    assert as_json["key_id"] == key_id and as_json["encrypted"] is False
    assert ws.ok("key", "export-public", "team").stdout == public.read_text()
    for out in (done, ws.ok("key", "list"), ws.ok("key", "export-public", "team")):
        assert secret_line(secret) not in out.stdout + out.stderr
    # --dir instead of the environment's directory.
    other = ws.root / "elsewhere"
    ws.ok("key", "generate", "ci", "--no-passphrase", "--dir", str(other))
    assert (other / "ci.key").exists() and "ci" not in ws.ok("key", "list").stdout


def test_key_generate_encrypts_with_the_passphrase_from_the_environment(ws: Workspace) -> None:
    """One real (1 GiB, about a second) scrypt run: minisign's own parameters."""
    done = ws.ok("key", "generate", "release", env={"HEIMDALL_KEY_PASSPHRASE": "s3cret pass"})
    assert "s3cret" not in done.stdout + done.stderr
    secret = keys.load_secret_key(ws.keys / "release.key", "s3cret pass")
    assert secret.key_id == done.stdout.strip()
    assert "encrypted" in ws.ok("key", "list").stdout


def test_key_errors_are_one_line(ws: Workspace) -> None:
    ws.ok("key", "generate", "team", "--no-passphrase")
    ws.fails("key", "generate", "team", "--no-passphrase", words=("already exists",))
    ws.fails("key", "generate", "x", words=("HEIMDALL_KEY_PASSPHRASE", "--no-passphrase"))
    ws.fails("key", "generate", "../evil", "--no-passphrase", words=("invalid key name",))
    ws.fails("key", "export-public", "nobody", words=("no key named 'nobody'",))
    assert "No keys" in ws.ok("key", "list", "--dir", str(ws.root / "none")).stderr


def test_missing_key_and_wrong_passphrase(ws: Workspace) -> None:
    ws.fast_key("enc", "right")
    bundle = str(ws.root / "m.heimdall")
    pack_signed_by = ("pack", str(ws.model), "-o", bundle, "--sign")
    ws.fails(*pack_signed_by, "nobody", words=("no secret key named 'nobody'", str(ws.keys)))
    ws.fails(*pack_signed_by, "./nokey.key", words=("secret key not found",))
    ws.fails(
        *pack_signed_by,
        "enc",
        words=("is encrypted: a passphrase is required", "HEIMDALL_KEY_PASSPHRASE"),
    )
    line = ws.fails(
        *pack_signed_by,
        "enc",
        env={"HEIMDALL_KEY_PASSPHRASE": "wrong"},
        words=("wrong passphrase",),
    )
    assert "right" not in line and not Path(bundle).exists()
    ws.ok(*pack_signed_by, "enc", env={"HEIMDALL_KEY_PASSPHRASE": "right"})
    ws.fails("verify", bundle, "--key", "nobody", words=("no public key named 'nobody'",))


# -- pack --sign, inspect, verify, sign -------------------------------------------------------


def test_pack_sign_inspect_verify(ws: Workspace) -> None:
    team, release = ws.fast_key("team"), ws.fast_key("release")
    stranger = ws.fast_key("stranger")
    bundle = ws.root / "m.heimdall"
    ws.ok("pack", str(ws.model), "-o", str(bundle), "--sign", "team", "--sign", "release")
    doc = json.loads(bundle.read_text())
    assert doc["format_version"] == "1.2.0"
    assert [e["key_id"] for e in doc["signatures"]] == [team.key_id, release.key_id]
    shown = ws.ok("inspect", str(bundle)).stdout
    assert f"key {team.key_id} (ed25519)" in shown and "not verified here" in shown
    ok = ws.ok("verify", str(bundle), "--key", "team").stdout
    assert ok.startswith("OK ") and f"Signature: valid: signed by {team.key_id} (team)" in ok
    ok = ws.ok("verify", str(bundle), "--trusted-keys", str(ws.keys / "release.pub")).stdout
    assert f"signed by {release.key_id} (release)" in ok
    report = json.loads(ws.ok("verify", str(bundle), "--key", "team", "--json").stdout)
    assert report["ok"] and report["checks"]["signature"] is True
    assert report["signatures"]["signer_key_id"] == team.key_id
    # Not signed by the key asked for: unknown-key, exit 1.
    ws.fails("verify", str(bundle), "--key", "stranger",
             words=("unknown-key", team.key_id, "none of them trusted"))  # fmt: skip
    assert stranger.key_id not in doc["signatures"][0]["key_id"]
    # Without keys the signatures are listed, unchecked, and the exit code is the old one.
    assert "not checked" in ws.ok("verify", str(bundle)).stdout


def test_unsigned_bundles_fail_verification_with_keys(ws: Workspace) -> None:
    ws.fast_key("team")
    bundle = ws.root / "u.heimdall"
    ws.ok("pack", str(ws.model), "-o", str(bundle))
    assert json.loads(bundle.read_text())["format_version"] == "1.1.0"
    ws.fails("verify", str(bundle), "--key", "team", words=("unsigned",))
    ws.ok("verify", str(bundle))


def test_tampered_metadata_or_payload_is_invalid(ws: Workspace) -> None:
    ws.fast_key("team")
    bundle = ws.root / "m.heimdall"
    ws.ok("pack", str(ws.model), "-o", str(bundle), "--name", "Net", "--sign", "team")
    metadata = flip(bundle, ws.root / "meta.heimdall", b'"model_name":"Net"', b'"model_name":"Nat"')
    ws.fails("verify", str(metadata), "--key", "team",
             words=("signature invalid", "does not match"))  # fmt: skip
    data = bundle.read_bytes()
    at = data.index(b'"onnx_model_base64":"') + 200
    payload = ws.root / "payload.heimdall"
    payload.write_bytes(data[:at] + (b"A" if data[at : at + 1] != b"A" else b"B") + data[at + 1 :])
    ws.fails("verify", str(payload), "--key", "team", words=("invalid", "mismatch"))


def test_sign_adds_a_release_signature_to_a_bundle(ws: Workspace) -> None:
    team, release = ws.fast_key("team"), ws.fast_key("release")
    bundle, both = ws.root / "m.heimdall", ws.root / "both.heimdall"
    ws.ok("pack", str(ws.model), "-o", str(bundle), "--zstd", "--sign", "team")
    ws.ok("sign", str(bundle), "--key", "release", "-o", str(both))
    report = json.loads(ws.ok("verify", str(both), "--trusted-keys", str(ws.keys),
                              "--json").stdout)  # fmt: skip
    assert [s["status"] for s in report["signatures"]["signatures"]] == ["valid", "valid"]
    signed_by = [s["key_id"] for s in report["signatures"]["signatures"]]
    assert signed_by == [team.key_id, release.key_id]
    assert report["compression"] == "zstd"
    usage = ws.run("sign", str(bundle), "--key", "release")  # embedded needs -o
    assert usage.returncode == 2 and "needs -o OUT (or --detached)" in usage.stderr


# -- minisign, both directions --------------------------------------------------------------------


def test_minisign_verifies_our_detached_signature(ws: Workspace) -> None:
    binary = minisign_binary()
    ws.fast_key("team")
    ws.ok("sign", "--detached", str(ws.model), "--key", "team", "-t", "release 7")
    sig = ws.root / "model.onnx.minisig"
    done = subprocess.run([binary, "-V", "-p", str(ws.keys / "team.pub"), "-m", str(ws.model)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Trusted comment: release 7" in done.stdout
    assert "release 7" in ws.ok("verify", str(ws.model), "--key", "team",
                                "--detached", str(sig)).stdout  # fmt: skip
    flip(ws.model, ws.model, b"heimdall-io-synthetic", b"heimdall-io-synthetiC")
    ws.fails("verify", str(ws.model), "--key", "team", "--detached", str(sig),
             words=("signature verification failed",))  # fmt: skip


def test_we_verify_minisigns_signatures_and_use_its_keys(ws: Workspace) -> None:
    binary = minisign_binary()
    pub, sec = ws.root / "m.pub", ws.root / "m.key"
    assert subprocess.run([binary, "-G", "-W", "-p", str(pub), "-s", str(sec)],
                          capture_output=True).returncode == 0  # fmt: skip
    # A minisign signature of any file, checked with --detached.
    done = subprocess.run([binary, "-S", "-s", str(sec), "-m", str(ws.model), "-t", "by minisign"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    sig = str(ws.model) + ".minisig"
    out = ws.ok("verify", str(ws.model), "--key", str(pub), "--detached", sig).stdout
    assert "valid: signed by" in out and "by minisign" in out
    # A minisign key signs a bundle; a .minisig beside the bundle is checked too.
    bundle = ws.root / "m.heimdall"
    ws.ok("pack", str(ws.model), "-o", str(bundle), "--sign", str(sec))
    subprocess.run([binary, "-S", "-s", str(sec), "-m", str(bundle)], check=True,
                   capture_output=True)  # fmt: skip
    out = ws.ok("verify", str(bundle), "--key", str(pub)).stdout
    assert "Signature: valid" in out and "Detached: " in out and ".minisig: valid" in out
    ws.ok("key", "generate", "other", "--no-passphrase")
    ws.fails("verify", str(ws.model), "--key", "other", "--detached", sig,
             words=("not a trusted key",))  # fmt: skip


# -- the registry: export --sign, import under the policy, show, history --------------------------


def test_policy_over_the_cli(ws: Workspace) -> None:
    team = ws.fast_key("team")
    ws.fast_key("stranger")
    trusted = ws.root / "trusted"
    trusted.mkdir()
    (trusted / "team.pub").write_text((ws.keys / "team.pub").read_text())
    policy = {"HEIMDALL_TRUSTED_KEYS": str(trusted), "HEIMDALL_REQUIRE_SIGNATURE": "true"}
    a, b = ws.registry("a"), ws.registry("b")
    model_id = ws.ok("register", str(ws.model), "--name", "Net", "-q", *a).stdout.strip()
    for name, sign in (("unsigned", ()), ("stranger", ("--sign", "stranger")),
                       ("team", ("--sign", "team"))):  # fmt: skip
        ws.ok("export", model_id, "-o", f"{name}.heimdall", "-q", *sign, *a)
    ws.fails("import", "unsigned.heimdall", *b, env=policy, words=("rejected", "not signed"))
    ws.fails("import", "stranger.heimdall", *b, env=policy, words=("not trusted",))
    flip(ws.root / "team.heimdall", ws.root / "bad.heimdall", b'"model_name":"Net"',
         b'"model_name":"Nat"')  # fmt: skip
    ws.fails("import", "bad.heimdall", *b, env={"HEIMDALL_TRUSTED_KEYS": str(trusted)},
             words=("signature invalid",))  # fmt: skip
    assert ws.models("b") == [] and not list((ws.root / "b-objects").rglob("*.onnx"))
    imported = ws.ok("import", "team.heimdall", *b, env=policy).stdout
    assert f"Signature: valid: signed by {team.key_id} (team)" in imported
    (record,) = ws.models("b")
    show = ws.ok("show", record["model_id"], *b).stdout
    assert f"signature:         valid: signed by {team.key_id} (team)" in show
    history = [json.loads(line) for line in ws.ok("history", "--json", *b).stdout.splitlines()]
    assert [(e["action"], e["result"], e["signer_key_id"]) for e in history] == [
        ("import", "ok", team.key_id), ("import", "error", None), ("import", "error", None),
        ("import", "error", None),
    ]  # fmt: skip
    exports = [json.loads(line) for line in ws.ok("history", "--json", *a).stdout.splitlines()]
    assert [e["signer_key_id"] for e in exports if e["action"] == "export"] == [
        team.key_id, keys.load_public_key(ws.keys / "stranger.pub").key_id, None]  # fmt: skip
    # A misconfigured policy is one line too.
    ws.fails("import", "team.heimdall", *b, env={"HEIMDALL_REQUIRE_SIGNATURE": "true"},
             words=("needs trusted keys",))  # fmt: skip


def test_a_b_c_across_three_registries(ws: Workspace) -> None:
    """Signed at A, imported and re-signed at B, imported at C: C shows A as the first
    signer; an unsigned re-export from C still carries both."""
    key_a, key_b = ws.fast_key("a"), ws.fast_key("b")
    policy = {"HEIMDALL_TRUSTED_KEYS": str(ws.keys), "HEIMDALL_REQUIRE_SIGNATURE": "true"}
    a, b, c = ws.registry("a"), ws.registry("b"), ws.registry("c")
    model_id = ws.ok("register", str(ws.model), "--name", "Net", "-q", *a).stdout.strip()
    ws.ok("export", model_id, "-o", "a.heimdall", "--sign", "a", *a)
    ws.ok("import", "a.heimdall", *b, env=policy)
    (on_b,) = ws.models("b")
    out = ws.ok("export", on_b["model_id"], "-o", "b.heimdall", "--sign", "b", *b).stdout
    assert f"Signed by: {key_b.key_id}" in out and "Provenance: 1" in out
    imported = ws.ok("import", "b.heimdall", *c, env=policy).stdout
    assert f"valid: signed by {key_b.key_id} (b)" in imported
    assert "provenance 1 (heimdall-io" in imported and f"signed by {key_a.key_id} (a)" in imported
    (on_c,) = ws.models("c")
    show = ws.ok("show", on_c["model_id"], *c).stdout
    assert f"provenance:        1. valid: key {key_a.key_id}" in show
    assert on_c["extra"]["signing"]["provenance"][0]["signer_key_id"] == key_a.key_id
    ws.ok("export", on_c["model_id"], "-o", "c.heimdall", "-q", *c)
    shown = ws.ok("inspect", "c.heimdall").stdout
    assert "Provenance (earlier signers, oldest first):" in shown
    assert f"1. key {key_a.key_id}" in shown and f"2. key {key_b.key_id}" in shown
    done = ws.run("verify", "c.heimdall", "--trusted-keys", str(ws.keys), "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    # Unsigned itself: verify with keys fails, yet both earlier signers check out.
    assert report["signatures"]["status"] == "unsigned" and report["ok"] is False
    assert [p["status"] for p in report["signatures"]["provenance"]] == ["valid", "valid"]
