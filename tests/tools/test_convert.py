"""convert: 1.0.0, 1.1.0 and 1.2.0 targets, streaming, signatures, odd source layouts."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from heimdall_io import ChecksumMismatchError, ConversionError, read_bundle, write_bundle
from heimdall_io.tools.convert import convert, target_document
from tests.support.synthetic import synthetic_model_bytes

MODEL = synthetic_model_bytes(8192, seed=2)
SIGNATURE = {"algorithm": "ed25519", "key_id": "0123456789abcdef", "signature": "c2ln"}


def header(**extra: Any) -> dict[str, Any]:
    return {
        "format_version": "1.1.0",
        "bundle_metadata": {"bundle_id": "b-1", "created_at": "2025-01-01T00:00:00Z"},
        "training_config": {"epochs": 3, "x_custom": {"a": 1}},
        **extra,
        "model": {"model_name": "net", "version": "7", "x_model": True},
    }


def bundle_file(tmp_path: Path, name: str = "in.heimdall", **options: Any) -> Path:
    out = io.BytesIO()
    write_bundle(out, options.pop("header", None) or header(), io.BytesIO(MODEL), **options)
    path = tmp_path / name
    path.write_bytes(out.getvalue())
    return path


def read(path: Path) -> tuple[dict[str, Any], bytes]:
    sink = io.BytesIO()
    with path.open("rb") as f:
        info = read_bundle(f, sink)
    return info.document, sink.getvalue()


def test_to_1_0_0_has_no_checksums_and_an_integer_version(tmp_path: Path) -> None:
    src = bundle_file(tmp_path)
    result = convert(str(src), str(tmp_path / "out.heimdall"), to="1.0.0")
    assert (result.source_version, result.format_version, result.warnings) == ("1.1.0", "1.0.0", [])
    raw = json.loads((tmp_path / "out.heimdall").read_bytes())  # the seed's own recipe
    assert raw["format_version"] == "1.0.0"
    assert base64.b64decode(raw["model"]["onnx_model_base64"]) == MODEL
    assert not {"onnx_size_bytes", "onnx_md5", "onnx_sha256"} & set(raw["model"])
    assert raw["model"]["version"] == 7
    assert raw["training_config"] == {"epochs": 3, "x_custom": {"a": 1}}
    assert raw["model"]["x_model"] is True
    assert result.digests is not None and result.digests.md5 == hashlib.md5(MODEL).hexdigest()


def test_1_0_0_back_to_1_1_0_writes_checksums_first(tmp_path: Path) -> None:
    src = bundle_file(tmp_path)
    convert(str(src), str(tmp_path / "old.heimdall"), to="1.0.0")
    result = convert(str(tmp_path / "old.heimdall"), str(tmp_path / "new.heimdall"), to="1.1.0")
    assert result.source_version == "1.0.0"
    text = (tmp_path / "new.heimdall").read_bytes()
    model = json.loads(text)["model"]
    assert model["onnx_md5"] == hashlib.md5(MODEL).hexdigest()
    # Known in advance (the first pass computed them): written before the payload.
    assert text.index(b'"onnx_sha256"') < text.index(b'"onnx_model_base64"')
    document, payload = read(tmp_path / "new.heimdall")
    assert payload == MODEL and document["format_version"] == "1.1.0"


def test_1_2_0_keeps_signatures_and_lower_versions_drop_them(tmp_path: Path) -> None:
    src = bundle_file(tmp_path, header=header(signatures=[SIGNATURE]), size=len(MODEL),
                      md5=hashlib.md5(MODEL).hexdigest(),
                      sha256=hashlib.sha256(MODEL).hexdigest())  # fmt: skip
    kept = convert(str(src), str(tmp_path / "12.heimdall"), to="1.2.0")
    assert (kept.format_version, kept.warnings) == ("1.2.0", [])
    document, payload = read(tmp_path / "12.heimdall")
    assert document["signatures"] == [SIGNATURE] and payload == MODEL
    assert list(document).index("signatures") < list(document).index("model")
    stripped = convert(str(src), str(tmp_path / "s.heimdall"), to="1.2.0", strip_signatures=True)
    assert stripped.format_version == "1.1.0"  # nothing of 1.2.0 left
    assert "signatures" not in read(tmp_path / "s.heimdall")[0]
    lower = convert(str(src), str(tmp_path / "11.heimdall"), to="1.1.0")
    assert lower.warnings == ["signatures removed: format 1.1.0 has none"]
    assert "signatures" not in read(tmp_path / "11.heimdall")[0]


def test_1_2_0_without_signatures_is_written_as_1_1_0(tmp_path: Path) -> None:
    result = convert(str(bundle_file(tmp_path)), str(tmp_path / "o.heimdall"), to="1.2.0")
    assert result.format_version == "1.1.0"
    assert result.warnings == ["written as 1.1.0: format 1.2.0 is only written with signatures"]


def test_compressed_in_compressed_out(tmp_path: Path) -> None:
    src = bundle_file(tmp_path, compression="zstd")
    convert(str(src), str(tmp_path / "o.heimdall"), to="1.0.0", compression="gzip", level=9)
    assert (tmp_path / "o.heimdall").read_bytes()[:2] == b"\x1f\x8b"
    document, payload = read(tmp_path / "o.heimdall")
    assert document["format_version"] == "1.0.0" and payload == MODEL


def test_metadata_after_the_payload_is_found(tmp_path: Path) -> None:
    # Another writer's member order: model (payload first) before the sections.
    b64 = base64.b64encode(MODEL).decode()
    text = (
        '{"model": {"onnx_model_base64": "' + b64 + '", "model_name": "late", "version": 2},'
        ' "format_version": "1.0.0", "performance_metrics": {"val_loss": [0.5, 0.4]},'
        ' "bundle_metadata": {"bundle_id": "x", "created_at": "2020-01-01"}}'
    )
    (tmp_path / "late.heimdall").write_text(text)
    convert(str(tmp_path / "late.heimdall"), str(tmp_path / "o.heimdall"), to="1.1.0")
    document, payload = read(tmp_path / "o.heimdall")
    assert payload == MODEL
    assert document["performance_metrics"] == {"val_loss": [0.5, 0.4]}
    assert list(document)[-1] == "model"


def test_a_bad_payload_writes_nothing(tmp_path: Path) -> None:
    src = bundle_file(tmp_path)
    doc = json.loads(src.read_bytes())
    doc["model"]["onnx_md5"] = "0" * 32
    src.write_text(json.dumps(doc))
    with pytest.raises(ChecksumMismatchError):
        convert(str(src), str(tmp_path / "o.heimdall"), to="1.0.0")
    assert not list(tmp_path.glob("*o.heimdall*"))


def test_unknown_targets_and_external_data() -> None:
    doc = header()
    targets = r"the targets are 1\.0\.0, 1\.1\.0, 1\.2\.0, upstream"
    with pytest.raises(ConversionError, match=targets):
        target_document(doc, "2.0.0")
    doc["model"]["external_data"] = [{"path": "w.bin"}]
    with pytest.raises(ConversionError, match="external data"):
        target_document(doc, "1.1.0")


def test_real_signatures_stay_valid_through_a_1_2_0_conversion(tmp_path: Path) -> None:
    from heimdall_io import signing
    from heimdall_io.signing.keys import new_secret_key

    key = new_secret_key()
    digests = {"size": len(MODEL), "md5": hashlib.md5(MODEL).hexdigest(),
               "sha256": hashlib.sha256(MODEL).hexdigest()}  # fmt: skip
    doc = header()
    doc["model"].update(onnx_size_bytes=digests["size"], onnx_md5=digests["md5"],
                        onnx_sha256=digests["sha256"])  # fmt: skip
    signed = signing.sign_document(doc, key)
    src = bundle_file(tmp_path, header=signed, format_version="1.2.0", **digests)
    trusted = signing.TrustedKeys([key.public])

    def status(path: Path) -> Any:
        sink = io.BytesIO()
        with path.open("rb") as f:
            info = read_bundle(f, sink)
        return signing.verify_document(info.document, trusted, payload=info.digests).status

    assert status(src) == signing.Status.VALID
    # Recompressed, still 1.2.0: the signed metadata is untouched.
    convert(str(src), str(tmp_path / "z.heimdall"), to="1.2.0", compression="zstd")
    assert status(tmp_path / "z.heimdall") == signing.Status.VALID
    # Below 1.2.0 the signatures go (format_version, which they cover, changes).
    result = convert(str(src), str(tmp_path / "old.heimdall"), to="1.0.0")
    assert result.warnings == ["signatures removed: format 1.0.0 has none"]
    assert "signatures" not in read(tmp_path / "old.heimdall")[0]
