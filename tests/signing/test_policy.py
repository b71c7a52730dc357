"""The import policy from HEIMDALL_TRUSTED_KEYS and HEIMDALL_REQUIRE_SIGNATURE."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from heimdall_io.errors import BundleError, ConfigError
from heimdall_io.signing import keys
from heimdall_io.signing.embedded import sign_document
from heimdall_io.signing.errors import SignatureError, SigningKeyError, UntrustedSignatureError
from heimdall_io.signing.policy import ImportPolicy, parse_bool
from heimdall_io.signing.provenance import carry_provenance
from heimdall_io.signing.verify import Status

from .documents import PAYLOAD, make_document, payload_digests
from .helpers import fast_key


@pytest.fixture
def keydir(tmp_path: Path) -> Path:
    return tmp_path / "trusted"


@pytest.fixture
def team(keydir: Path) -> keys.SecretKey:
    return fast_key("team", keydir)


@pytest.fixture
def stranger(tmp_path: Path) -> keys.SecretKey:
    return fast_key("stranger", tmp_path / "elsewhere")


def env(keydir: Path | None, require: str | None = None) -> dict[str, str]:
    out = {}
    if keydir is not None:
        out["HEIMDALL_TRUSTED_KEYS"] = str(keydir)
    if require is not None:
        out["HEIMDALL_REQUIRE_SIGNATURE"] = require
    return out


def test_no_policy_accepts_everything(team: keys.SecretKey) -> None:
    policy = ImportPolicy.from_env({})
    assert not policy.active
    assert policy.check(make_document()).status is Status.UNSIGNED
    tampered = sign_document(make_document(), team)
    tampered["model"]["model_name"] = "x"
    # Nothing is trusted, so nothing can be checked: the signer is just unknown.
    assert policy.check(tampered).status is Status.UNKNOWN_KEY


def test_trusted_keys_without_requirement(
    keydir: Path, team: keys.SecretKey, stranger: Any
) -> None:
    policy = ImportPolicy.from_env(env(keydir))
    assert policy.active and not policy.require_signature
    assert policy.check(make_document()).status is Status.UNSIGNED
    assert policy.check(sign_document(make_document(), stranger)).status is Status.UNKNOWN_KEY
    verdict = policy.check(sign_document(make_document(), team), payload_digests(PAYLOAD))
    assert verdict.status is Status.VALID and verdict.signer_key_id == team.key_id
    assert verdict.signatures.checks[0].key_name == "team"  # named after team.pub


def test_a_bad_signature_is_always_rejected(keydir: Path, team: keys.SecretKey) -> None:
    tampered = sign_document(make_document(), team)
    tampered["training_config"]["epochs"] = 51
    for require in ("false", "true"):
        with pytest.raises(SignatureError) as e:
            ImportPolicy.from_env(env(keydir, require)).check(tampered)
        assert not isinstance(e.value, UntrustedSignatureError)
        assert str(e.value) == (
            f"rejected: bundle signature invalid: key {team.key_id} (team): the signature"
            " does not match the bundle's metadata"
        )
    with pytest.raises(SignatureError, match="payload is not the one"):
        ImportPolicy.from_env(env(keydir)).check(
            sign_document(make_document(), team), payload_digests(b"other")
        )


def test_required_signature(keydir: Path, team: keys.SecretKey, stranger: Any) -> None:
    policy = ImportPolicy.from_env(env(keydir, "true"))
    with pytest.raises(UntrustedSignatureError) as e:
        policy.check(make_document())
    assert str(e.value) == (
        "rejected: the bundle is not signed; HEIMDALL_REQUIRE_SIGNATURE=true requires a"
        f" signature by a key in HEIMDALL_TRUSTED_KEYS ({keydir})"
    )
    with pytest.raises(UntrustedSignatureError, match=f"only by keys that are not trusted "
                       f"\\({stranger.key_id}\\)"):  # fmt: skip
        policy.check(sign_document(make_document(), stranger))
    both = sign_document(make_document(), [stranger, team])
    assert policy.check(both).signer_key_id == team.key_id
    assert issubclass(UntrustedSignatureError, BundleError)


def test_provenance_alone_does_not_satisfy_a_requirement(
    keydir: Path, team: keys.SecretKey
) -> None:
    imported = sign_document(make_document(), team)
    reexported = carry_provenance(copy.deepcopy(imported), imported)  # unsigned re-export
    policy = ImportPolicy.from_env(env(keydir, "true"))
    with pytest.raises(UntrustedSignatureError, match="not signed"):
        policy.check(reexported)
    verdict = ImportPolicy.from_env(env(keydir)).check(reexported)
    assert [c.status for c in verdict.provenance] == [Status.VALID]
    reexported["bundle_metadata"]["provenance"][0]["metadata"]["model"]["version"] = 4
    with pytest.raises(SignatureError, match=r"^rejected: provenance 0 \(heimdall-io"):
        ImportPolicy.from_env(env(keydir)).check(reexported)


def test_a_single_key_file(keydir: Path, team: keys.SecretKey) -> None:
    policy = ImportPolicy.from_env(env(keydir / "team.pub", "1"))
    assert policy.check(sign_document(make_document(), team)).status is Status.VALID


@pytest.mark.parametrize(
    ("environ", "error", "message"),
    [
        ({"HEIMDALL_REQUIRE_SIGNATURE": "true"}, ConfigError, "needs trusted keys: set HEIMDALL_"),
        (
            {"HEIMDALL_TRUSTED_KEYS": "/nonexistent/keys"},
            SigningKeyError,
            "trusted keys not found: /nonexistent/keys",
        ),
        (
            {"HEIMDALL_REQUIRE_SIGNATURE": "maybe"},
            ConfigError,
            "HEIMDALL_REQUIRE_SIGNATURE must be true or false, got 'maybe'",
        ),
    ],
)
def test_configuration_errors(environ: dict[str, str], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        ImportPolicy.from_env(environ)


def test_booleans() -> None:
    for text in ("1", "true", "TRUE", " yes ", "on"):
        assert parse_bool("X", text) is True
    for text in (None, "", "0", "false", "No", "off"):
        assert parse_bool("X", text) is False


def test_from_env_reads_the_process_environment(
    keydir: Path, team: keys.SecretKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEIMDALL_TRUSTED_KEYS", str(keydir))
    monkeypatch.setenv("HEIMDALL_REQUIRE_SIGNATURE", "true")
    policy = ImportPolicy.from_env()
    assert policy.require_signature and policy.trusted is not None
    assert list(policy.trusted) == [team.key_id]
