"""The import policy over HTTP: a real ``heimdall serve`` with HEIMDALL_TRUSTED_KEYS (and
HEIMDALL_REQUIRE_SIGNATURE). A rejected bundle is 403 and registers nothing; an accepted
one shows its signer in the model detail and the audit; a misconfigured policy stops the
server from starting."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heimdall_io import errors
from heimdall_io.api.errors import map_error
from heimdall_io.service import ExportOptions, Service
from heimdall_io.signing import SignatureError, UntrustedSignatureError, keys
from heimdall_io.storage.localdir import LocalObjectStore
from heimdall_io.storage.sqlite import SqliteRegistry
from tests.signing.helpers import FAST
from tests.support.servers import HeimdallServer, ServerUnavailable
from tests.support.synthetic import synthetic_model_bytes

from .helpers import API_ADMIN_KEY, MODELS, client, export_ok, objects


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Trusted and untrusted keys, and bundles made with them by a local registry."""
    root = tmp_path_factory.mktemp("signing-material")
    trusted = root / "trusted"
    info = keys.generate("team", trusted, **FAST)
    assert info.secret_path is not None
    team = keys.load_secret_key(info.secret_path)
    stranger = keys.new_secret_key()
    service = Service(SqliteRegistry(root / "r.db"), LocalObjectStore(root / "objects"))
    try:
        model_id = service.register(
            io.BytesIO(synthetic_model_bytes(20_000, seed=9)), name="Net", version=1,
            sections={"training_config": {"epochs": 10}},
        ).model_id  # fmt: skip

        def export(*signers: keys.SecretKey) -> bytes:
            options = ExportOptions(sign_with=signers)
            return b"".join(service.export_stream(model_id, options))

        signed = export(team)
        bundles = {
            "unsigned": export(),
            "stranger": export(stranger),
            "signed": signed,
            "tampered": signed.replace(b'"epochs":10', b'"epochs":11', 1),
        }
    finally:
        service.close()
    return {"trusted": trusted, "team": team, "bundles": bundles}


@contextlib.contextmanager
def server(factory: Any, material: dict[str, Any], name: str, require: bool) -> Iterator[Any]:
    env = {"HEIMDALL_API_KEYS": f"{API_ADMIN_KEY}:admin",
           "HEIMDALL_TRUSTED_KEYS": str(material["trusted"])}  # fmt: skip
    if require:
        env["HEIMDALL_REQUIRE_SIGNATURE"] = "true"
    started = factory(env, name)
    try:
        yield started
    finally:
        started.stop()


def post(http: Any, bundle: bytes) -> Any:
    return http.post(f"{MODELS}/import", content=bundle,
                     headers={"Content-Type": "application/json"})  # fmt: skip


def test_signature_errors_map_to_403() -> None:
    for error in (SignatureError("bad"), UntrustedSignatureError("bad")):
        err = map_error(error, "import")
        assert (err.status, err.detail) == (403, "Signature rejected: bad")
    assert map_error(errors.ChecksumMismatchError("x"), "import").status == 400


def test_required_signature_over_http(heimdall_server_factory: Any, material: Any) -> None:
    bundles, team = material["bundles"], material["team"]
    with server(heimdall_server_factory, material, "signing-required", True) as srv, \
            client(srv) as http:  # fmt: skip
        before = objects(srv)
        reasons = {
            "unsigned": "the bundle is not signed",
            "stranger": "signed only by keys that are not trusted",
            "tampered": "bundle signature invalid",
        }
        for name, reason in reasons.items():
            r = post(http, bundles[name])
            assert r.status_code == 403, (name, r.text)
            assert r.json()["detail"].startswith("Signature rejected: rejected: ")
            assert reason in r.json()["detail"]
        assert http.get(MODELS).json() == [] and objects(srv) == before
        r = post(http, bundles["signed"])
        assert r.status_code == 201, r.text
        model_id = r.json()["model_id"]
        detail = http.get(f"{MODELS}/{model_id}").json()
        signing = detail["extra"]["signing"]
        assert signing["status"] == "valid" and signing["signer_key_id"] == team.key_id
        assert detail["extra"]["signatures"][0]["key_name"] == "team"  # the web page reads it
        audit = http.get("/api/v1/training/audit").json()
        assert audit[0]["action"] == "import" and audit[0]["signer_key_id"] == team.key_id
        assert [e["result"] for e in audit[1:4]] == ["error"] * 3
        # The server's export carries the signature as provenance; unsigned itself, it
        # does not satisfy the requirement on the way back in.
        again = export_ok(http, model_id).content
        provenance = json.loads(again)["bundle_metadata"]["provenance"]
        assert provenance[0]["signatures"][0]["key_id"] == team.key_id
        assert post(http, again).status_code == 403


def test_trusted_keys_without_requirement(heimdall_server_factory: Any, material: Any) -> None:
    bundles = material["bundles"]
    with server(heimdall_server_factory, material, "signing-checked", False) as srv, \
            client(srv) as http:  # fmt: skip
        assert post(http, bundles["tampered"]).status_code == 403
        assert http.get(MODELS).json() == []
        created = post(http, bundles["unsigned"])
        assert created.status_code == 201
        shown = http.get(f"{MODELS}/{created.json()['model_id']}").json()
        assert "signing" not in (shown["extra"] or {})
        by_stranger = post(http, bundles["stranger"]).json()
        shown = http.get(f"{MODELS}/{by_stranger['model_id']}").json()
        assert shown["extra"]["signing"]["status"] == "unknown-key"


def test_a_misconfigured_policy_stops_the_server(tmp_path: Path) -> None:
    srv = HeimdallServer(tmp_path, {"HEIMDALL_REQUIRE_SIGNATURE": "true"})
    with pytest.raises(ServerUnavailable, match="needs trusted keys"):
        srv.start(timeout=20)
    srv.stop()
