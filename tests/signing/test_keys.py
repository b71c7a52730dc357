"""Key pairs in minisign's formats: generation, loading, listing, export, and interop with
the real `minisign` (keys it makes load here; keys made here sign with it)."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
from pathlib import Path

import pytest

from heimdall_io.errors import ConfigError, FileAccessError, HeimdallError
from heimdall_io.signing import keys
from heimdall_io.signing.errors import PassphraseError, SigningKeyError
from heimdall_io.signing.trust import TrustedKeys

from .helpers import FAST, fast_key, minisign_binary


def test_generate_writes_minisign_files(tmp_path: Path) -> None:
    info = keys.generate("release", tmp_path / "keys", **FAST)
    assert info.secret_path == tmp_path / "keys" / "release.key"
    assert info.public_path == tmp_path / "keys" / "release.pub"
    assert stat.S_IMODE(info.secret_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    pub_lines = info.public_path.read_text().splitlines()
    assert pub_lines[0] == f"untrusted comment: minisign public key {info.key_id.upper()}"
    raw = base64.b64decode(pub_lines[1])
    assert len(raw) == 42 and raw[:2] == b"Ed"
    assert raw[2:10][::-1].hex() == info.key_id  # key id: the keynum, little-endian
    sec_lines = info.secret_path.read_text().splitlines()
    assert sec_lines[0].startswith("untrusted comment: ")
    sec = base64.b64decode(sec_lines[1])
    assert len(sec) == 158 and sec[:6] == b"Ed\0\0B2"
    assert info.encrypted is False


def test_secret_key_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        info = keys.generate("k", tmp_path, **FAST)
    finally:
        os.umask(old)
    assert info.secret_path is not None
    assert stat.S_IMODE(info.secret_path.stat().st_mode) == 0o600


def test_round_trip_unencrypted_and_encrypted(tmp_path: Path) -> None:
    plain = fast_key("plain", tmp_path)
    secret = fast_key("secret", tmp_path, passphrase="correct horse")
    for key, name in ((plain, "plain"), (secret, "secret")):
        public = keys.load_public_key(tmp_path / f"{name}.pub")
        assert public == key.public
        assert public.verify(b"m", key.sign(b"m"))
        assert not public.verify(b"n", key.sign(b"m"))
    assert keys.list_keys(tmp_path)[1].encrypted is True
    raw = base64.b64decode((tmp_path / "secret.key").read_text().splitlines()[1])
    assert raw[2:4] == b"Sc"
    assert int.from_bytes(raw[38:46], "little") == FAST["opslimit"]
    assert int.from_bytes(raw[46:54], "little") == FAST["memlimit"]


def test_default_kdf_cost_is_minisigns() -> None:
    # minisign's encrypt_key: crypto_pwhash_scryptsalsa208sha256_{OPS,MEM}LIMIT_SENSITIVE
    assert (keys.OPSLIMIT, keys.MEMLIMIT) == (33554432, 1073741824)


def test_passphrase_as_a_callback_is_asked_only_when_needed(tmp_path: Path) -> None:
    fast_key("plain", tmp_path)
    fast_key("secret", tmp_path, passphrase="pw")
    asked: list[str] = []

    def ask() -> str:
        asked.append("x")
        return "pw"

    keys.load_secret_key(tmp_path / "plain.key", ask)
    assert asked == []
    keys.load_secret_key(tmp_path / "secret.key", ask)
    assert asked == ["x"]


@pytest.mark.parametrize("passphrase", [None, "wrong", b"wrong"])
def test_wrong_or_missing_passphrase_is_one_clear_line(tmp_path: Path, passphrase: object) -> None:
    fast_key("k", tmp_path, passphrase="right")
    with pytest.raises(PassphraseError) as e:
        keys.load_secret_key(tmp_path / "k.key", passphrase)  # type: ignore[arg-type]
    message = str(e.value)
    assert "\n" not in message and str(tmp_path / "k.key") in message
    assert ("wrong passphrase" if passphrase else "a passphrase is required") in message
    assert isinstance(e.value, SigningKeyError) and isinstance(e.value, ConfigError)


def test_missing_key_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match=r"^secret key not found: .*nope\.key$"):
        keys.load_secret_key(tmp_path / "nope.key")
    with pytest.raises(SigningKeyError, match=r"^public key not found: "):
        keys.load_public_key(tmp_path / "nope.pub")
    with pytest.raises(SigningKeyError, match="is a directory"):
        keys.load_secret_key(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a minisign secret key file"),
        ("untrusted comment: x\n!!!\n", "not valid base64"),
        ("untrusted comment: x\nRWQ=\n", r"not a minisign secret key \(2 bytes\)"),
    ],
)
def test_malformed_secret_keys(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.key").write_text(text)
    with pytest.raises(SigningKeyError, match=message):
        keys.load_secret_key(tmp_path / "bad.key")


def test_corrupted_secret_keys_are_detected(tmp_path: Path) -> None:
    fast_key("k", tmp_path)
    lines = (tmp_path / "k.key").read_text().splitlines()
    raw = bytearray(base64.b64decode(lines[1]))
    raw[80] ^= 1  # inside sk: its checksum no longer matches
    (tmp_path / "k.key").write_text(lines[0] + "\n" + base64.b64encode(raw).decode() + "\n")
    with pytest.raises(SigningKeyError, match="checksum mismatch"):
        keys.load_secret_key(tmp_path / "k.key")
    raw[126:158] = bytes(32)  # a zero checksum (as minisign -W writes): the public half
    (tmp_path / "k.key").write_text(lines[0] + "\n" + base64.b64encode(raw).decode() + "\n")
    with pytest.raises(SigningKeyError, match="public half does not match"):
        keys.load_secret_key(tmp_path / "k.key")


def test_public_key_is_not_a_secret_key(tmp_path: Path) -> None:
    fast_key("k", tmp_path)
    with pytest.raises(SigningKeyError, match="not a minisign secret key"):
        keys.load_secret_key(tmp_path / "k.pub")
    with pytest.raises(SigningKeyError, match="not a minisign public key"):
        keys.load_public_key(tmp_path / "k.key")


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    first = keys.generate("k", tmp_path, **FAST)
    with pytest.raises(FileAccessError, match="already exists"):
        keys.generate("k", tmp_path, **FAST)
    assert keys.load_public_key(tmp_path / "k.pub").key_id == first.key_id
    second = keys.generate("k", tmp_path, overwrite=True, **FAST)
    assert second.key_id != first.key_id
    assert keys.load_secret_key(tmp_path / "k.key").key_id == second.key_id


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "-x", "x.key", "x.pub", "é"])
def test_key_names_are_file_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(SigningKeyError, match="invalid key name"):
        keys.generate(name, tmp_path, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PassphraseError, match="empty"):
        keys.generate("k", tmp_path, "", **FAST)


def test_list_keys(tmp_path: Path) -> None:
    a = keys.generate("alpha", tmp_path, **FAST)
    b = keys.generate("beta", tmp_path, "pw", **FAST)
    (tmp_path / "alpha.pub").rename(tmp_path / "gamma.pub")  # a public key alone
    b.public_path.unlink()  # type: ignore[union-attr]  # an encrypted secret key alone
    (tmp_path / "notes.txt").write_text("not a key")
    found = {k.name: k for k in keys.list_keys(tmp_path)}
    assert sorted(found) == ["alpha", "beta", "gamma"]
    assert found["alpha"].key_id == a.key_id and found["alpha"].public_path is None
    assert found["alpha"].encrypted is False
    assert found["beta"].key_id is None and found["beta"].encrypted is True  # needs the pw
    assert found["gamma"].key_id == a.key_id and found["gamma"].secret_path is None
    assert keys.list_keys(tmp_path / "missing") == []


def test_export_public(tmp_path: Path) -> None:
    a = keys.generate("a", tmp_path, **FAST)
    keys.generate("b", tmp_path, "pw", **FAST)
    text = keys.export_public("a", tmp_path)
    assert text == (tmp_path / "a.pub").read_text()
    (tmp_path / "a.pub").unlink()  # rebuilt from the secret key, as minisign -R does
    assert keys.export_public("a", tmp_path) == text
    assert keys.export_public(tmp_path / "a.key") == text
    (tmp_path / "b.pub").unlink()
    with pytest.raises(PassphraseError):
        keys.export_public("b", tmp_path)
    assert keys.export_public("b", tmp_path, "pw").startswith("untrusted comment: ")
    with pytest.raises(SigningKeyError, match="no key named 'c'"):
        keys.export_public("c", tmp_path)
    assert a.key_id is not None and a.key_id.upper() in text


def test_trusted_keys_from_a_directory_a_file_and_a_bundle_of_keys(tmp_path: Path) -> None:
    a, b = fast_key("a", tmp_path / "d"), fast_key("b", tmp_path / "d")
    (tmp_path / "d" / "a.key").unlink()
    trusted = TrustedKeys.load(tmp_path / "d")
    assert set(trusted) == {a.key_id, b.key_id}
    assert trusted.name(a.key_id) == "a" and trusted.name("0" * 16) is None
    single = TrustedKeys.load(tmp_path / "d" / "b.pub")
    assert list(single) == [b.key_id] and single.name(b.key_id) == "b"
    both = tmp_path / "team.pub"
    both.write_text(
        "# the team's keys\n"
        + (tmp_path / "d" / "a.pub").read_text()
        + "\n"
        + b.public.to_base64()
        + "\n"
    )
    assert set(TrustedKeys.load(both)) == {a.key_id, b.key_id}


def test_trusted_keys_errors(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="trusted keys not found"):
        TrustedKeys.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SigningKeyError, match=r"no public keys in .*empty \(no \*\.pub files\)"):
        TrustedKeys.load(tmp_path / "empty")
    (tmp_path / "bad.pub").write_text("untrusted comment: x\nnot base64!\n")
    with pytest.raises(SigningKeyError, match="line 2: not valid base64"):
        TrustedKeys.load(tmp_path / "bad.pub")
    one = keys.new_secret_key().public
    clash = keys.PublicKey(one.keynum, bytes(32))
    with pytest.raises(SigningKeyError, match="share the key id"):
        TrustedKeys([one, clash])


def test_errors_are_heimdall_errors() -> None:
    assert issubclass(SigningKeyError, HeimdallError)
    assert issubclass(PassphraseError, SigningKeyError)
    assert "seed" not in repr(keys.new_secret_key())


# -- the real minisign --------------------------------------------------------------------


@pytest.fixture(scope="module")
def minisign() -> str:
    return minisign_binary()


def test_minisign_unencrypted_key_loads(tmp_path: Path, minisign: str) -> None:
    """minisign -G -W: no password, a zero checksum."""
    subprocess.run(
        [minisign, "-G", "-W", "-p", str(tmp_path / "m.pub"), "-s", str(tmp_path / "m.key")],
        check=True,
        capture_output=True,
    )
    secret = keys.load_secret_key(tmp_path / "m.key")
    public = keys.load_public_key(tmp_path / "m.pub")
    assert secret.public == public
    # minisign's id is ours (uppercase; minisign 0.11 does not zero-pad it to 16 digits).
    printed = (tmp_path / "m.pub").read_text().splitlines()[0].split()[-1]
    assert int(printed, 16) == int(public.key_id, 16)
    assert public.verify(b"x", secret.sign(b"x"))


def test_minisign_signs_with_our_keys(tmp_path: Path, minisign: str) -> None:
    """Our secret key files, plain and encrypted, are minisign's: it signs with them and
    checks the result against our public key files."""
    fast_key("plain", tmp_path)
    fast_key("secret", tmp_path, passphrase="s3cret")
    (tmp_path / "file").write_bytes(b"payload")
    for name, stdin in (("plain", None), ("secret", "s3cret\n")):
        sig = tmp_path / f"{name}.minisig"
        subprocess.run(
            [minisign, "-S", "-s", str(tmp_path / f"{name}.key"), "-m", str(tmp_path / "file"),
             "-x", str(sig)],
            input=stdin, text=True, check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [minisign, "-V", "-p", str(tmp_path / f"{name}.pub"), "-m", str(tmp_path / "file"),
             "-x", str(sig)],
            check=True, capture_output=True,
        )  # fmt: skip
    wrong = subprocess.run(
        [minisign, "-S", "-s", str(tmp_path / "secret.key"), "-m", str(tmp_path / "file")],
        input="not it\n", text=True, capture_output=True,
    )  # fmt: skip
    assert wrong.returncode != 0 and "Wrong password" in wrong.stderr + wrong.stdout
