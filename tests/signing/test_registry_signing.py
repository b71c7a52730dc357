"""Signatures through the registry: export --sign, the import policy, the audit history,
provenance across instances, and tamper mutants of whole exported bundles.

Every rejection must leave nothing behind: no row, no object (the policy runs on the
metadata before the payload reaches the store, and again once the codec has checked the
payload against the signed digests, before the row is written).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heimdall_io.errors import BundleError, ConfigError
from heimdall_io.service import ExportOptions, Service
from heimdall_io.signing import ImportPolicy, SignatureError, UntrustedSignatureError, keys
from heimdall_io.signing.canonical import canonical_bytes
from heimdall_io.signing.trust import TrustedKeys
from heimdall_io.storage.localdir import LocalObjectStore
from heimdall_io.storage.sqlite import SqliteRegistry
from tests.support.synthetic import synthetic_model_bytes

from .bundles import read

A, B, C, STRANGER = (keys.new_secret_key() for _ in range(4))
TRUSTED = TrustedKeys([A.public, B.public, C.public])
MODEL = synthetic_model_bytes(4096, seed=3)
SECTIONS = {
    "training_config": {"epochs": 10, "learning_rate": 0.001, "optimizer": "Adam"},
    "performance_metrics": {"val_loss": [0.5, 0.25], "best_val_loss": 0.25},
}

#: Text a registry can store (no NUL: PostgreSQL refuses it; no lone surrogates).
STORABLE = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))

CHECKED = ImportPolicy(TRUSTED)
REQUIRED = ImportPolicy(TRUSTED, require_signature=True)
NONE = ImportPolicy()


@contextlib.contextmanager
def instance(where: Path, policy: ImportPolicy = NONE) -> Iterator[Service]:
    """A registry + store in ``where`` with an import policy."""
    service = Service(SqliteRegistry(where / "r.db"), LocalObjectStore(where / "objects"),
                      actor="test", import_policy=policy)  # fmt: skip
    try:
        yield service
    finally:
        service.close()


def empty(service: Service) -> bool:
    return service.list_models() == [] and list(service.store.list()) == []


def register(service: Service, sections: dict[str, Any] | None = None) -> str:
    record = service.register(io.BytesIO(MODEL), name="Net", version=2,
                              sections=SECTIONS if sections is None else sections)  # fmt: skip
    return record.model_id


def export(service: Service, model_id: str, *signers: keys.SecretKey, **options: Any) -> bytes:
    stream = service.export_stream(model_id, ExportOptions(sign_with=signers, **options))
    return b"".join(stream)


def import_(service: Service, bundle: bytes, **kw: Any) -> Any:
    return service.import_bundle(io.BytesIO(bundle), **kw)


# -- export --sign, import, the audit ----------------------------------------------------------


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    sections=st.fixed_dictionaries({"training_config": st.fixed_dictionaries({
        "epochs": st.integers(0, 10**6), "optimizer": st.text(STORABLE, max_size=12),
        "learning_rate": st.floats(allow_nan=False, allow_infinity=False)})}),
    description=st.none() | st.text(STORABLE, max_size=20),
    compression=st.sampled_from(["none", "zstd", "gzip"]),
    signers=st.sampled_from([(A,), (A, B)]),
)  # fmt: skip
def test_signed_export_import_round_trips(
    tmp_path_factory: pytest.TempPathFactory, sections: dict[str, Any], description: Any,
    compression: str, signers: tuple[keys.SecretKey, ...],
) -> None:  # fmt: skip
    root = tmp_path_factory.mktemp("round-trip")
    (root / "a").mkdir()
    (root / "b").mkdir()
    with instance(root / "a") as at_a, instance(root / "b", REQUIRED) as at_b:
        model_id = register(at_a, sections)
        bundle = export(at_a, model_id, *signers, description=description,
                        compression=compression)  # fmt: skip
        result = import_(at_b, bundle)
        assert result.verdict.signer_key_id == A.key_id
        record = at_b.get_model(result.record.model_id)
        signing = record.extra["signing"]
        assert signing["status"] == "valid" and signing["signer_key_id"] == A.key_id
        own = record.extra["signatures"]
        assert [(s["key_id"], s["status"]) for s in own] == [(k.key_id, "valid") for k in signers]
        assert all("signature" not in s and s["algorithm"] == "ed25519" for s in own)
        assert record.training_metrics == sections
        exported = next(e for e in at_a.history() if e.action == "export")
        assert exported.signer_key_id == ",".join(k.key_id for k in signers)
        imported = next(e for e in at_b.history() if e.action == "import")
        assert imported.signer_key_id == A.key_id and "valid" in (imported.detail or "")
        with at_b.store.open(record.onnx_path or "") as f:
            assert f.read() == MODEL


def test_unsigned_exports_stay_1_1_0(tmp_path: Path) -> None:
    with instance(tmp_path) as service:
        document, _ = read(export(service, register(service)))
        assert document["format_version"] == "1.1.0" and "signatures" not in document
        entry = next(e for e in service.history() if e.action == "export")
        assert entry.signer_key_id is None


def test_signing_with_a_format_conversion(tmp_path: Path) -> None:
    """--to 1.2.0 signs as usual; another target has no signatures, so signing refuses it,
    and an unsigned conversion carries no provenance (formats before 1.2.0 have none)."""
    with instance(tmp_path / "a") as at_a, instance(tmp_path / "b", CHECKED) as at_b:
        document, _ = read(export(at_a, register(at_a), A, to="1.2.0"))
        assert document["format_version"] == "1.2.0" and document["signatures"]
        on_b = import_(at_b, export(at_a, register(at_a), A)).record
        with pytest.raises(ConfigError, match=r"cannot sign an export to 1\.1\.0"):
            export(at_b, on_b.model_id, B, to="1.1.0")
        document, _ = read(export(at_b, on_b.model_id, to="1.1.0"))
        assert document["format_version"] == "1.1.0"
        assert "provenance" not in document["bundle_metadata"]
        document, _ = read(export(at_b, on_b.model_id))
        assert document["format_version"] == "1.2.0"
        assert document["bundle_metadata"]["provenance"][0]["signatures"][0]["key_id"] == A.key_id


def test_audit_signer_on_every_registry(registry: Any, tmp_path: Path) -> None:
    """The signer column through both SQL registries (SQLite and PostgreSQL)."""
    store = LocalObjectStore(tmp_path / "objects")
    service = Service(registry, store, actor="test", import_policy=CHECKED)
    model_id = register(service)
    bundle = export(service, model_id, B)
    service.import_bundle(io.BytesIO(bundle))
    entries = {e.action: e for e in service.history()}
    assert entries["export"].signer_key_id == B.key_id
    assert entries["import"].signer_key_id == B.key_id
    store.close()


# -- the policy ---------------------------------------------------------------------------------


class CountingStore(LocalObjectStore):
    """A local store that counts the objects imports begin to write."""

    puts = 0

    def put(self, key: str, data: Any, length: int | None = None) -> int:
        type(self).puts += 1
        return super().put(key, data, length)


def test_rejected_before_the_payload_reaches_the_store(tmp_path: Path) -> None:
    with instance(tmp_path / "a") as at_a:
        model_id = register(at_a)
        unsigned, by_stranger = export(at_a, model_id), export(at_a, model_id, STRANGER)
    registry = SqliteRegistry(tmp_path / "b.db")
    store = CountingStore(tmp_path / "b-objects")
    with Service(registry, store, import_policy=REQUIRED) as at_b:
        CountingStore.puts = 0
        with pytest.raises(UntrustedSignatureError, match="not signed"):
            import_(at_b, unsigned)
        with pytest.raises(UntrustedSignatureError, match=f"not trusted \\({STRANGER.key_id}\\)"):
            import_(at_b, by_stranger)
        assert CountingStore.puts == 0 and empty(at_b)
        errors = [e for e in at_b.history() if e.result == "error"]
        assert len(errors) == 2 and all("rejected" in (e.detail or "") for e in errors)


def test_policy_outcomes(tmp_path: Path) -> None:
    with instance(tmp_path / "a") as at_a:
        model_id = register(at_a)
        by_stranger = export(at_a, model_id, STRANGER)
        by_a = export(at_a, model_id, A)
    tampered = by_a.replace(b'"epochs":10', b'"epochs":11', 1)
    assert tampered != by_a
    for name, policy in (("checked", CHECKED), ("required", REQUIRED), ("none", NONE)):
        with instance(tmp_path / name, policy) as at_b:
            if policy.active:  # with trusted keys a bad signature is always rejected
                with pytest.raises(SignatureError, match="signature invalid"):
                    import_(at_b, tampered)
                assert empty(at_b)
            else:  # nothing trusted: nothing can be checked, nothing is rejected
                record = import_(at_b, tampered).record
                assert record.extra["signing"]["status"] == "unknown-key"
                assert record.extra["signing"]["checked"] is False
                at_b.delete(record.model_id)
            if policy.require_signature:
                with pytest.raises(UntrustedSignatureError):
                    import_(at_b, by_stranger)
            else:
                result = import_(at_b, by_stranger)
                assert result.verdict.signer_key_id is None
                assert str(result.verdict.status) == "unknown-key"
            assert import_(at_b, by_a).verdict.signer_key_id == (A.key_id if policy.active
                                                                 else None)  # fmt: skip


def test_signatures_after_the_payload_do_not_count(tmp_path: Path) -> None:
    """A signed bundle puts its signatures before the payload; moved after it, the
    import checks the metadata it has before storing anything, and finds none."""
    with instance(tmp_path / "a") as at_a:
        bundle = export(at_a, register(at_a), A)
    document, _ = read(bundle)
    start = bundle.index(b'"signatures":')
    end = bundle.index(b',"model":{')
    block = bundle[start:end]
    moved = bundle[: start - 1] + bundle[end:-2] + b"," + block + b"}\n"  # after "model"
    assert read(moved)[0]["signatures"] == document["signatures"]
    with instance(tmp_path / "b", REQUIRED) as at_b:
        with pytest.raises(UntrustedSignatureError, match="not signed"):
            import_(at_b, moved)
        assert empty(at_b)


# -- provenance: A -> B -> C --------------------------------------------------------------------


def test_a_model_moved_a_b_c_shows_who_signed_it_first(tmp_path: Path) -> None:
    dirs = [tmp_path / n for n in "abc"]
    for d in dirs:
        d.mkdir()
    with instance(dirs[0], REQUIRED) as at_a, instance(dirs[1], REQUIRED) as at_b, \
            instance(dirs[2], REQUIRED) as at_c:  # fmt: skip
        from_a = export(at_a, register(at_a), A)
        on_b = import_(at_b, from_a).record
        from_b = export(at_b, on_b.model_id, B)
        document, _ = read(from_b)
        assert [e["signatures"][0]["key_id"] for e in
                document["bundle_metadata"]["provenance"]] == [A.key_id]  # fmt: skip
        assert "signatures" not in on_b.extra.get("top", {})  # not carried as a field
        on_c = import_(at_c, from_b)
        signing = at_c.get_model(on_c.record.model_id).extra["signing"]
        assert signing["signer_key_id"] == B.key_id
        assert [p["signer_key_id"] for p in signing["provenance"]] == [A.key_id]
        assert signing["provenance"][0]["exported_by"].startswith("heimdall-io")
        # C re-exports unsigned: A and B both stay on record, oldest first.
        from_c = export(at_c, on_c.record.model_id)
        document, _ = read(from_c)
        assert document["format_version"] == "1.2.0" and "signatures" not in document
        chain = document["bundle_metadata"]["provenance"]
        assert [e["signatures"][0]["key_id"] for e in chain] == [A.key_id, B.key_id]
        # Provenance alone does not satisfy a requirement: someone re-exported the model.
        with pytest.raises(UntrustedSignatureError, match="not signed"):
            import_(at_a, from_c)
    with instance(dirs[0], CHECKED) as at_a:
        verdict = import_(at_a, from_c).verdict
        assert [p.verification.signer_key_id for p in verdict.provenance] == [A.key_id, B.key_id]


def test_tampered_provenance_is_rejected(tmp_path: Path) -> None:
    with instance(tmp_path / "a") as at_a, instance(tmp_path / "b", CHECKED) as at_b:
        on_b = import_(at_b, export(at_a, register(at_a), A)).record
        from_b = export(at_b, on_b.model_id)  # unsigned, A's signature in provenance
    # bundle_metadata comes first: the first "epochs" is in A's recorded view.
    tampered = from_b.replace(b'"epochs":10', b'"epochs":12', 1)
    document, _ = read(tampered)
    assert document["training_config"]["epochs"] == 10
    with instance(tmp_path / "c", CHECKED) as at_c:
        with pytest.raises(SignatureError, match=r"^rejected: provenance 1 \(heimdall-io"):
            import_(at_c, tampered)
        assert empty(at_c)
        assert import_(at_c, from_b).verdict.provenance[0].verification.signer_key_id == A.key_id


# -- tamper mutants, end to end -----------------------------------------------------------------


def test_every_byte_of_an_exported_bundle_is_covered(tmp_path: Path) -> None:
    """Flip a bit of each byte of an exported, signed bundle and import it where a
    signature by the trusted key is required: it registers only if its signed view and
    payload are unchanged (a flip in the entry's unsigned claims, or a number's ``e`` to
    ``E``), and a rejected mutant leaves no row and no object. (Where signatures are not
    required, a mutant that renames ``signatures`` is an unsigned bundle, and accepted
    as one: tests/signing/test_embedded.py covers verification itself.)"""
    with instance(tmp_path / "a") as at_a:
        model_id = at_a.register(io.BytesIO(synthetic_model_bytes(600, seed=1)), name="m",
                                 sections={"training_config": {"epochs": 1}}).model_id  # fmt: skip
        bundle = export(at_a, model_id, A)
    original, _ = read(bundle)
    view = canonical_bytes(original)
    entries = (bundle.index(b'"signatures":['), bundle.index(b'],"model":{'))
    accepted = []
    with instance(tmp_path / "b", REQUIRED) as at_b:
        for index in range(len(bundle) - 1):  # the final LF is whitespace
            mutated = bytearray(bundle)
            mutated[index] ^= 1 << (index % 8)
            try:
                result = import_(at_b, bytes(mutated), validate=False)
            except BundleError:
                assert empty(at_b), index
                continue
            accepted.append(index)
            assert result.verdict.signer_key_id == A.key_id, index
            assert canonical_bytes(result.info.document) == view, index
            at_b.delete(result.record.model_id)
    outside = [i for i in accepted if not entries[0] <= i < entries[1]]
    assert all(bundle[i : i + 1] in (b"e", b" ") for i in outside), outside
    assert len(accepted) < len(bundle) // 10
