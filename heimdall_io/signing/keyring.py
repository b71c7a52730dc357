"""Where keys live and how commands name them: a key directory, and names or paths.

    directory = default_key_dir()              # $HEIMDALL_KEY_DIR, else <config dir>/keys
    key = open_secret_key("release", directory, passphrase=ask)   # release.key, or a path
    trusted = open_public_keys(["release", "ci.pub"], directory)  # TrustedKeys

A key is named by its NAME in the key directory (``NAME.key`` and ``NAME.pub``, as
``heimdall key generate NAME`` writes them) or by a path to a key file: anything with a
``/`` or ending in ``.key``/``.pub`` is a path. The configuration directory is the
platform's (``$XDG_CONFIG_HOME/heimdall`` or ``~/.config/heimdall`` on Linux).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import PassphraseError, SigningKeyError
from .keys import (
    PUBLIC_SUFFIX,
    SECRET_SUFFIX,
    Passphrase,
    PublicKey,
    SecretKey,
    key_paths,
    load_public_key,
    load_secret_key,
    parse_public_keys,
)
from .trust import TrustedKeys

KEY_DIR_ENV = "HEIMDALL_KEY_DIR"
PASSPHRASE_ENV = "HEIMDALL_KEY_PASSPHRASE"
APP_NAME = "heimdall"


def default_key_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$HEIMDALL_KEY_DIR``, else ``keys`` in the user's configuration directory."""
    env = os.environ if environ is None else environ
    override = (env.get(KEY_DIR_ENV) or "").strip()
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME)) / "keys"


def env_passphrase(environ: Mapping[str, str] | None = None) -> str | None:
    """``$HEIMDALL_KEY_PASSPHRASE`` if it is set (an empty value counts as unset)."""
    env = os.environ if environ is None else environ
    return env.get(PASSPHRASE_ENV) or None


def is_path(ref: str) -> bool:
    """Whether a key reference is a path rather than a name in the key directory."""
    return "/" in ref or os.sep in ref or ref.endswith((SECRET_SUFFIX, PUBLIC_SUFFIX))


def _missing(ref: str, directory: Path, what: str) -> SigningKeyError:
    return SigningKeyError(
        f"no {what} named {ref!r} in {directory} (`heimdall key list` shows the keys there;"
        f" give a path to use a key file elsewhere)"
    )


def secret_key_path(ref: str, directory: str | os.PathLike[str]) -> Path:
    """The secret key file ``ref`` names: a path, or ``NAME.key`` in ``directory``."""
    if is_path(ref):
        return Path(ref).expanduser()
    path = key_paths(ref, directory)[0]
    if not path.is_file():
        raise _missing(ref, Path(directory), "secret key")
    return path


def open_secret_key(
    ref: str, directory: str | os.PathLike[str], passphrase: Passphrase = None
) -> SecretKey:
    """The secret key ``ref`` names; ``passphrase`` (or a function asked for one) opens an
    encrypted one. PassphraseError names the variable that can supply it."""
    path = secret_key_path(ref, directory)
    try:
        return load_secret_key(path, passphrase)
    except PassphraseError as e:
        if "required" in str(e):
            raise PassphraseError(f"{e} (set {PASSPHRASE_ENV})") from None
        raise


def open_public_key(ref: str, directory: str | os.PathLike[str]) -> PublicKey:
    """The public key ``ref`` names: a ``.pub`` path or ``NAME.pub`` in ``directory``,
    named after its file."""
    if is_path(ref):
        path = Path(ref).expanduser()
        if path.suffix == SECRET_SUFFIX:
            raise SigningKeyError(f"{path} is a secret key: give its .pub file")
    else:
        path = key_paths(ref, directory)[1]
        if not path.is_file():
            raise _missing(ref, Path(directory), "public key")
    key = load_public_key(path)
    return PublicKey(key.keynum, key.key, path.stem)


def open_public_keys(refs: Iterable[str], directory: str | os.PathLike[str]) -> TrustedKeys:
    """The keys ``refs`` name, as a trusted set (a file of several keys gives them all)."""
    keys: list[PublicKey] = []
    sources = []
    for ref in refs:
        sources.append(ref)
        if is_path(ref) and not ref.endswith(SECRET_SUFFIX):
            path = Path(ref).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise SigningKeyError(f"public key not found: {path}") from None
            except (OSError, UnicodeDecodeError) as e:
                raise SigningKeyError(f"cannot read public key {path}: {e}") from None
            found = parse_public_keys(text, f"public key {path}")
            if not found:
                raise SigningKeyError(f"no public key in {path}")
            name = path.stem if len(found) == 1 else None
            keys += [PublicKey(k.keynum, k.key, name or k.comment) for k in found]
        else:
            keys.append(open_public_key(ref, directory))
    return TrustedKeys(keys, source=", ".join(sources))
