"""Options of signing and verification that several commands share, and the key loading
behind them. Loaded by `heimdall --help`: imports only click and the standard library.

Keys are named as `heimdall key generate NAME` made them (NAME in the key directory:
--dir, else $HEIMDALL_KEY_DIR, else the user's config dir) or by a path to a key file.
An encrypted secret key's passphrase comes from $HEIMDALL_KEY_PASSPHRASE, else it is
asked on the terminal; with neither, the command fails with one line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .options import stack

if TYPE_CHECKING:
    from heimdall_io.signing import SecretKey, TrustedKeys


def key_dir(given: str | None) -> Path:
    """The key directory: --dir if given, else $HEIMDALL_KEY_DIR or the config dir."""
    from heimdall_io.signing import default_key_dir

    return Path(given).expanduser() if given else default_key_dir()


def key_dir_option(f: Any) -> Any:
    return click.option(
        "--dir",
        "directory",
        type=click.Path(file_okay=False),
        help="Key directory [env: HEIMDALL_KEY_DIR; default: <user config dir>/heimdall/keys].",
    )(f)


def asker(what: str) -> Callable[[], str | None]:
    """A passphrase source for ``what``: $HEIMDALL_KEY_PASSPHRASE, else the terminal (asked
    only if the key turns out to be encrypted), else None (the library then says so)."""

    def ask() -> str | None:
        from heimdall_io.signing import env_passphrase

        passphrase = env_passphrase()
        if passphrase is None and sys.stdin.isatty():
            passphrase = click.prompt(
                f"Passphrase for {what}", hide_input=True, err=True, default="", show_default=False
            )
        return passphrase or None

    return ask


def load_secret_keys(refs: tuple[str, ...], directory: str | None = None) -> list[SecretKey]:
    """The secret keys ``refs`` name, opened (one clear error line for each failure)."""
    if not refs:
        return []  # without loading the signing package (PyNaCl): most exports sign nothing
    from heimdall_io.signing import open_secret_key

    where = key_dir(directory)
    return [open_secret_key(ref, where, asker(f"key {ref}")) for ref in refs]


def sign_option(f: Any) -> Any:
    """--sign KEY (repeatable), passed on as ``sign: tuple[str, ...]``."""
    return click.option(
        "--sign",
        "sign",
        multiple=True,
        metavar="KEY",
        help="Sign the bundle with this key (a name in the key directory, or a .key file);"
        " repeat for several signatures. Writes format 1.2.0.",
    )(f)


def verification_options(f: Any) -> Any:
    """--key PUB (repeatable) and --trusted-keys PATH, passed on as ``key`` and
    ``trusted_keys``."""
    return stack(
        click.option(
            "-k",
            "--key",
            multiple=True,
            metavar="PUB",
            help="Check signatures with this public key (a .pub file, or a name in the key"
            " directory); repeatable.",
        ),
        click.option(
            "--trusted-keys",
            metavar="PATH",
            help="Check signatures with the keys in this directory (*.pub) or file.",
        ),
    )(f)


def load_trusted(keys: tuple[str, ...], trusted_keys: str | None) -> TrustedKeys | None:
    """The keys --key and --trusted-keys name, together; None if neither was given."""
    from heimdall_io.signing import TrustedKeys, open_public_keys

    found: list[Any] = []
    sources = []
    if trusted_keys:
        loaded = TrustedKeys.load(trusted_keys)
        found += [loaded[k] for k in loaded]
        sources.append(loaded.source)
    if keys:
        loaded = open_public_keys(keys, key_dir(None))
        found += [loaded[k] for k in loaded]
        sources.append(loaded.source)
    if not sources:
        return None
    return TrustedKeys(found, source=", ".join(sources))
