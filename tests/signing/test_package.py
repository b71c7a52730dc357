"""The public face of heimdall_io.signing, and its packaging."""

from __future__ import annotations

from pathlib import Path

import heimdall_io.signing as signing

from .documents import make_document

ROOT = Path(__file__).resolve().parents[2]


def test_public_names_resolve() -> None:
    for name in signing.__all__:
        assert getattr(signing, name) is not None, name


def test_packaged_with_pynacl() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    base = text.split("dependencies = [", 1)[1].split("]", 1)[0]
    assert '"pynacl>=1.5"' in base
    assert '"heimdall_io.signing",' in text.split("packages = [", 1)[1].split("]", 1)[0]


def test_the_docstring_example(tmp_path: Path) -> None:
    info = signing.generate("release", tmp_path, passphrase="pw", opslimit=32768, memlimit=1 << 24)
    assert info.secret_path is not None
    key = signing.load_secret_key(info.secret_path, "pw")
    doc = signing.sign_document(make_document(), key)
    result = signing.verify_document(doc, signing.TrustedKeys.load(tmp_path))
    assert result.describe() == f"valid: signed by {key.key_id} (release)"
    assert signing.ImportPolicy.from_env({}).check(doc).status is signing.Status.UNKNOWN_KEY
