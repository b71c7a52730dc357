"""The signing commands: `key generate|list|export-public` and `sign`.

Keys are minisign key pairs (NAME.key, mode 0600, and NAME.pub) in the key directory
(--dir, $HEIMDALL_KEY_DIR, or <user config dir>/heimdall/keys), so `minisign` uses them too.
No command prints secret key material.
"""

from __future__ import annotations

import click

from .errors import fail
from .options import force_option, quiet_option
from .signing_options import asker, key_dir, key_dir_option, load_secret_keys


@click.group()
def key() -> None:
    """Make and list signing keys (Ed25519, in minisign's formats)."""


def _new_passphrase(name: str) -> str:
    from heimdall_io.signing import PASSPHRASE_ENV, env_passphrase

    passphrase = env_passphrase()
    if passphrase is not None:
        return passphrase
    import sys

    if not sys.stdin.isatty():
        fail(f"a passphrase is needed for key {name}: set {PASSPHRASE_ENV}, run on a terminal"
             " to be asked, or pass --no-passphrase")  # fmt: skip
    text: str = click.prompt(
        f"Passphrase for the new key {name}", hide_input=True, confirmation_prompt=True, err=True
    )
    if not text:
        fail("the passphrase is empty (pass --no-passphrase for an unencrypted key)")
    return text


@key.command()
@click.argument("name")
@key_dir_option
@click.option(
    "--passphrase/--no-passphrase",
    "encrypt",
    default=True,
    show_default=True,
    help="Encrypt the secret key with a passphrase: $HEIMDALL_KEY_PASSPHRASE, else asked"
    " twice on the terminal.",
)
@force_option
def generate(name: str, directory: str | None, encrypt: bool, force: bool) -> None:
    """Write a new key pair NAME.key (mode 0600) and NAME.pub; print its key id."""
    from heimdall_io.signing import generate as generate_key
    from heimdall_io.signing.keys import check_name

    check_name(name)  # a bad name fails before any passphrase is asked for
    where = key_dir(directory)
    passphrase = _new_passphrase(name) if encrypt else None
    info = generate_key(name, where, passphrase, overwrite=force)
    click.echo(info.key_id)
    state = "encrypted" if encrypt else "NOT encrypted"
    click.echo(f"Secret key: {info.secret_path} (mode 0600, {state})", err=True)
    click.echo(f"Public key: {info.public_path} (share it: heimdall key export-public {name})",
               err=True)  # fmt: skip


@key.command(name="list")
@key_dir_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per key.")
def list_keys(directory: str | None, as_json: bool) -> None:
    """The keys in the key directory: name, key id, and which halves are there."""
    from heimdall_io.signing import list_keys as find_keys

    from .render import echo_json_line

    where = key_dir(directory)
    found = find_keys(where)
    if as_json:
        for k in found:
            secret, public = k.secret_path, k.public_path
            echo_json_line({"name": k.name, "key_id": k.key_id, "encrypted": k.encrypted,
                            "secret_key": str(secret) if secret else None,
                            "public_key": str(public) if public else None})  # fmt: skip
        return
    if not found:
        click.echo(f"No keys in {where} (heimdall key generate NAME makes one)", err=True)
        return
    click.echo(f"{'NAME':<24}  {'KEY ID':<16}  {'SECRET KEY':<13}  PUBLIC KEY")
    for k in found:
        state = "-" if k.secret_path is None else ("encrypted" if k.encrypted else "unencrypted")
        key_id = k.key_id or "? (encrypted)"
        click.echo(f"{k.name:<24}  {key_id:<16}  {state:<13}  {'yes' if k.public_path else '-'}")
    click.echo(f"({where})", err=True)


@key.command(name="export-public")
@click.argument("name")
@key_dir_option
@click.option("-o", "--output", help="Write the .pub file here instead of stdout.")
@force_option
def export_public(name: str, directory: str | None, output: str | None, force: bool) -> None:
    """Print the public key NAME (a name in the key directory, or a key file) as a
    minisign .pub file, for others to verify your signatures with."""
    from heimdall_io.files.paths import atomic_output
    from heimdall_io.signing import export_public as public_text

    text = public_text(name, key_dir(directory), asker(f"key {name}"))
    if output is None:
        click.echo(text, nl=False)
        return
    with atomic_output(output, force=force) as out:
        out.write(text.encode())


@click.command()
@click.argument("file")
@click.option(
    "--detached",
    is_flag=True,
    help="Write FILE.minisig (minisign's format, for any file) instead of adding a"
    " signature inside the bundle FILE.",
)
@click.option("-k", "--key", "key_ref", required=True, metavar="KEY",
              help="Secret key: a name in the key directory, or a .key file.")  # fmt: skip
@click.option("-o", "--output", help="Detached: the signature file (default FILE.minisig)."
              " Embedded: the signed bundle (`-`: stdout; required).")  # fmt: skip
@click.option("-t", "--trusted-comment", help="Detached: the signed comment (default: the time"
              " and the file's name, as minisign writes).")  # fmt: skip
@key_dir_option
@force_option
@quiet_option
def sign(
    file: str,
    detached: bool,
    key_ref: str,
    output: str | None,
    trusted_comment: str | None,
    directory: str | None,
    force: bool,
    quiet: bool,
) -> None:
    """Sign FILE with KEY.

    With --detached, write FILE.minisig, which `minisign -Vm FILE -p KEY.pub` verifies
    (as does `heimdall verify FILE --key KEY.pub`). Without it, FILE is a bundle and a
    signature is added inside it (others are kept: a team key, then a release key),
    written to -o: the bundle is read twice, its payload checked against the signed
    digests on the way.
    """
    (secret,) = load_secret_keys((key_ref,), directory)
    if detached:
        from heimdall_io.signing import sign_file

        try:
            path = sign_file(file, secret, trusted_comment=trusted_comment, sig_path=output)
        except ValueError as e:  # a comment minisign could not carry
            raise click.BadParameter(str(e), param_hint="--trusted-comment") from None
        if not quiet:
            click.echo(f"Signed {file} with key {secret.key_id}: {path}", err=True)
        return
    if output is None:
        raise click.UsageError("an embedded signature needs -o OUT (or --detached)")
    if trusted_comment is not None:
        raise click.UsageError("--trusted-comment applies to --detached")
    from heimdall_io.files.rewrite import rewrite
    from heimdall_io.signing import sign_document

    done = rewrite(file, output, lambda header: sign_document(header, secret), force=force)
    if not quiet:
        count = len(done.header.get("signatures") or [])
        click.echo(f"Signed {file} with key {secret.key_id} -> {output} ({count} signature"
                   f"{'s' if count != 1 else ''})", err=True)  # fmt: skip


COMMANDS = (key, sign)
