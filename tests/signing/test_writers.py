"""Signed bundles as heimdall-io writes them: the encoder's version and layout, pack
--sign, re-signing an existing bundle, and the JSON Schema of what is written.

Hypothesis drives pack round trips: any metadata, compression and set of keys gives a
1.2.0 bundle whose signatures precede ``model`` and whose digests precede the payload,
that verifies from its metadata alone (inspect) and with the decoded payload (read).
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heimdall_io import read_bundle, write_bundle
from heimdall_io.codec import header_document
from heimdall_io.errors import ChecksumMismatchError
from heimdall_io.files import bundles as files
from heimdall_io.files.rewrite import rewrite
from heimdall_io.format.header import new_header
from heimdall_io.signing import keys
from heimdall_io.signing.embedded import sign_document
from heimdall_io.signing.provenance import carry_provenance
from heimdall_io.signing.trust import TrustedKeys
from heimdall_io.signing.verify import Status, verify_document
from tests.support.synthetic import synthetic_model_bytes

from .documents import PAYLOAD, digests_of, json_values, make_document

TEAM, RELEASE = keys.new_secret_key(), keys.new_secret_key()
TRUSTED = TrustedKeys([TEAM.public, RELEASE.public])
MODEL = synthetic_model_bytes(2048, seed=7)
SCHEMA = json.loads((Path(__file__).parents[2] / "spec" / "bundle.schema.json").read_text())


def written(header: dict[str, Any], payload: bytes = PAYLOAD, **options: Any) -> bytes:
    out = io.BytesIO()
    write_bundle(out, header, io.BytesIO(payload), **options)
    return out.getvalue()


def read(raw: bytes) -> Any:
    out = io.BytesIO()
    info = read_bundle(io.BytesIO(raw), out)
    return info, out.getvalue()


def advance(payload: bytes = PAYLOAD) -> dict[str, Any]:
    d = digests_of(payload)
    return {"size": d["onnx_size_bytes"], "md5": d["onnx_md5"], "sha256": d["onnx_sha256"]}


# -- the encoder ------------------------------------------------------------------------------


def test_unsigned_headers_are_written_as_1_1_0_whatever_they_say() -> None:
    doc = make_document()
    doc["format_version"] = "1.2.0"
    assert header_document(doc)["format_version"] == "1.1.0"
    assert json.loads(written(doc))["format_version"] == "1.1.0"
    doc["signatures"] = []  # an empty array is no signature
    assert header_document(doc)["format_version"] == "1.1.0"


def test_signed_and_provenance_headers_are_1_2_0() -> None:
    signed = sign_document(make_document(), TEAM)
    assert header_document(signed)["format_version"] == "1.2.0"
    carried = carry_provenance(make_document(), signed)  # an unsigned re-export
    assert "signatures" not in carried
    assert header_document(carried)["format_version"] == "1.2.0"


def test_signatures_stand_before_model_and_digests_before_the_payload() -> None:
    raw = written(sign_document(make_document(), [TEAM, RELEASE]))
    text = raw.decode()
    assert text.index('"signatures":[') < text.index('"model":{')
    payload_at = text.index('"onnx_model_base64"')
    for field in ("onnx_size_bytes", "onnx_md5", "onnx_sha256"):
        assert text.index(f'"{field}"') < payload_at
    info, payload = read(raw)
    assert payload == PAYLOAD and info.format_version == "1.2.0"
    result = verify_document(info.document, TRUSTED, payload=info.digests)
    assert result.status is Status.VALID
    assert result.valid_key_ids == [TEAM.key_id, RELEASE.key_id]


def test_a_signed_header_needs_its_digests_in_advance() -> None:
    signed = sign_document(make_document(), TEAM)
    del signed["model"]["onnx_md5"]
    with pytest.raises(ValueError, match="before the payload"):
        written(signed)
    # Given to the encoder, they are written before the payload (and checked).
    info, _ = read(written(signed, **advance()))
    assert info.declared.md5 == hashlib.md5(PAYLOAD).hexdigest()
    with pytest.raises(ValueError, match="signed header declares onnx_size_bytes"):
        written(sign_document(make_document(), TEAM), size=1)


def test_a_payload_other_than_the_signed_one_is_never_written_whole() -> None:
    signed = sign_document(make_document(), TEAM)
    with pytest.raises(ChecksumMismatchError):
        written(signed, payload=PAYLOAD[:-1] + b"y")


# -- the JSON Schema ---------------------------------------------------------------------------


def test_the_schema_describes_signed_bundles() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(SCHEMA)
    signed = sign_document(make_document(), TEAM, signer="ci")
    at_b = sign_document(carry_provenance(make_document(), signed), RELEASE)
    for doc in (signed, at_b):
        whole = json.loads(written(doc))
        assert list(validator.iter_errors(whole)) == []
    bad = json.loads(written(signed))
    bad["signatures"][0]["key_id"] = "E1447D40061F5663"
    assert list(validator.iter_errors(bad))  # the schema says 16 lowercase hex digits...
    info, _ = read(json.dumps(bad).encode())  # ...the reader leaves that to the verifier
    assert verify_document(info.document, TRUSTED).status is Status.INVALID


# -- pack --sign, hypothesis ------------------------------------------------------------------

metadata = st.fixed_dictionaries(
    {
        "description": st.none() | st.text(max_size=30),
        "name": st.text(min_size=1, max_size=20).filter(lambda s: s.strip() == s and s),
        "version": st.integers(1, 10**6),
        "x_extra": json_values,
    }
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    meta=metadata,
    compression=st.sampled_from(["none", "zstd", "gzip"]),
    signers=st.sampled_from([(TEAM,), (RELEASE,), (TEAM, RELEASE)]),
)
def test_pack_sign_round_trips(meta: dict[str, Any], compression: str, signers: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model, out = Path(tmp) / "m.onnx", Path(tmp) / "m.heimdall"
        model.write_bytes(MODEL)
        done = files.pack(
            str(model), str(out),
            model={"model_name": meta["name"], "version": meta["version"]},
            sections={"training_config": {"epochs": 3, "x_extra": meta["x_extra"]}},
            description=meta["description"], compression=compression,
            sign=lambda header: sign_document(header, list(signers)),
        )  # fmt: skip
        assert done.header["format_version"] == "1.2.0"
        # From the metadata alone (inspect skips or never decodes a declared payload)...
        inspected = files.inspect(str(out))
        assert inspected.format_version == "1.2.0" and not inspected.verified  # not decoded
        result = verify_document(inspected.document, TRUSTED)
        assert result.status is Status.VALID
        assert result.valid_key_ids == [k.key_id for k in signers]
        # ...and with the decoded payload.
        info, payload = read(out.read_bytes())
        assert payload == MODEL
        assert verify_document(info.document, TRUSTED, payload=info.digests).status is Status.VALID
        assert info.document["training_config"]["x_extra"] == meta["x_extra"]


def test_pack_without_sign_is_unchanged(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(MODEL)
    files.pack(str(model), str(tmp_path / "m.heimdall"), model={"model_name": "m"})
    text = (tmp_path / "m.heimdall").read_text()
    assert '"format_version":"1.1.0"' in text and "signatures" not in text
    # pack knows only the size in advance: the digests follow the payload.
    assert text.index('"onnx_md5"') > text.index('"onnx_model_base64"')


# -- re-signing an existing bundle --------------------------------------------------------------


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_a_release_signature_added_to_a_team_signed_bundle(
    tmp_path: Path, compression: str
) -> None:
    unsigned = tmp_path / "u.heimdall"
    # Digests after the payload, as pack writes them: rewrite computes them first.
    unsigned.write_bytes(written(new_header({"model_name": "m", "version": 1}),
                                 compression=compression))  # fmt: skip
    team, both = tmp_path / "team.heimdall", tmp_path / "both.heimdall"
    rewrite(str(unsigned), str(team), lambda h: sign_document(h, TEAM))
    rewrite(str(team), str(both), lambda h: sign_document(h, RELEASE))
    info, payload = read(both.read_bytes())
    assert payload == PAYLOAD and info.compression == compression
    result = verify_document(info.document, TRUSTED, payload=info.digests)
    assert result.valid_key_ids == [TEAM.key_id, RELEASE.key_id]
    assert (
        read(team.read_bytes())[0].document["bundle_metadata"] == info.document["bundle_metadata"]
    )


def test_rewrite_refuses_a_bundle_whose_payload_differs_from_its_digests(tmp_path: Path) -> None:
    doc = make_document()
    raw = written(doc, **advance()).replace(b"AAEC", b"AAED", 1)  # a payload byte changed
    src, out = tmp_path / "bad.heimdall", tmp_path / "out.heimdall"
    src.write_bytes(raw)
    with pytest.raises(ChecksumMismatchError):
        rewrite(str(src), str(out), lambda h: sign_document(h, TEAM))
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.heimdall"]
