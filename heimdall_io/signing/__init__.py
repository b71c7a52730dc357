"""Signed bundles: Ed25519 keys in minisign's formats, embedded and detached signatures.

    from heimdall_io import signing

    info = signing.generate("release", keydir, passphrase="...")        # release.key/.pub
    key = signing.load_secret_key(info.secret_path, "...")
    doc = signing.sign_document(doc, key)                               # format 1.2.0
    result = signing.verify_document(doc, signing.TrustedKeys.load(keydir))
    signing.ImportPolicy.from_env().check(doc)                          # raises if rejected

Modules, one job each: ``canonical`` (what is signed, RFC 8785), ``keys`` (key files),
``trust`` (trusted key sets), ``keyring`` (the key directory, keys by name or path),
``embedded`` (the ``signatures`` array), ``verify``
(checking it), ``provenance`` (signatures kept across re-exports), ``policy`` (the
import policy from the environment), ``minisign`` (detached ``.minisig`` files),
``errors``. spec/bundle-format.md, "Signatures", is the normative description.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .canonical import MESSAGE_PREFIX, canonical_bytes, jcs, signed_view, signing_message
    from .embedded import FORMAT_VERSION_SIGNED, sign_document, signature_entry, strip_signatures
    from .errors import (
        CanonicalFormError,
        PassphraseError,
        SignatureError,
        SigningKeyError,
        UntrustedSignatureError,
    )
    from .keyring import (
        KEY_DIR_ENV,
        PASSPHRASE_ENV,
        default_key_dir,
        env_passphrase,
        open_public_key,
        open_public_keys,
        open_secret_key,
    )
    from .keys import (
        KeyInfo,
        PublicKey,
        SecretKey,
        export_public,
        generate,
        list_keys,
        load_public_key,
        load_secret_key,
    )
    from .minisign import sign_file, verify_file
    from .policy import ImportPolicy, Verdict
    from .provenance import (
        attach_provenance,
        carry_provenance,
        record_provenance,
        verify_provenance,
    )
    from .trust import TrustedKeys
    from .verify import SignatureCheck, Status, Verification, verify_document

# Keys (PyNaCl), minisign files and the rest load on first use: an import or export that
# meets no signature needs none of them.
_LAZY = {
    "CanonicalFormError": ".errors",
    "FORMAT_VERSION_SIGNED": ".embedded",
    "ImportPolicy": ".policy",
    "KEY_DIR_ENV": ".keyring",
    "KeyInfo": ".keys",
    "MESSAGE_PREFIX": ".canonical",
    "PASSPHRASE_ENV": ".keyring",
    "PassphraseError": ".errors",
    "PublicKey": ".keys",
    "SecretKey": ".keys",
    "SignatureCheck": ".verify",
    "SignatureError": ".errors",
    "SigningKeyError": ".errors",
    "Status": ".verify",
    "TrustedKeys": ".trust",
    "UntrustedSignatureError": ".errors",
    "Verdict": ".policy",
    "Verification": ".verify",
    "attach_provenance": ".provenance",
    "canonical_bytes": ".canonical",
    "carry_provenance": ".provenance",
    "default_key_dir": ".keyring",
    "env_passphrase": ".keyring",
    "export_public": ".keys",
    "generate": ".keys",
    "jcs": ".canonical",
    "list_keys": ".keys",
    "load_public_key": ".keys",
    "load_secret_key": ".keys",
    "open_public_key": ".keyring",
    "open_public_keys": ".keyring",
    "open_secret_key": ".keyring",
    "record_provenance": ".provenance",
    "sign_document": ".embedded",
    "sign_file": ".minisign",
    "signature_entry": ".embedded",
    "signed_view": ".canonical",
    "signing_message": ".canonical",
    "strip_signatures": ".embedded",
    "verify_document": ".verify",
    "verify_file": ".minisign",
    "verify_provenance": ".provenance",
}

__all__ = [
    "FORMAT_VERSION_SIGNED",
    "KEY_DIR_ENV",
    "MESSAGE_PREFIX",
    "PASSPHRASE_ENV",
    "CanonicalFormError",
    "ImportPolicy",
    "KeyInfo",
    "PassphraseError",
    "PublicKey",
    "SecretKey",
    "SignatureCheck",
    "SignatureError",
    "SigningKeyError",
    "Status",
    "TrustedKeys",
    "UntrustedSignatureError",
    "Verdict",
    "Verification",
    "attach_provenance",
    "canonical_bytes",
    "carry_provenance",
    "default_key_dir",
    "env_passphrase",
    "export_public",
    "generate",
    "jcs",
    "list_keys",
    "load_public_key",
    "load_secret_key",
    "open_public_key",
    "open_public_keys",
    "open_secret_key",
    "record_provenance",
    "sign_document",
    "sign_file",
    "signature_entry",
    "signed_view",
    "signing_message",
    "strip_signatures",
    "verify_document",
    "verify_file",
    "verify_provenance",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
