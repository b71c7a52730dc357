"""Signed bundles: Ed25519 keys in minisign's formats, embedded and detached signatures.

    from heimdall_io import signing

    info = signing.generate("release", keydir, passphrase="...")        # release.key/.pub
    key = signing.load_secret_key(info.secret_path, "...")
    doc = signing.sign_document(doc, key)                               # format 1.2.0
    result = signing.verify_document(doc, signing.TrustedKeys.load(keydir))
    signing.ImportPolicy.from_env().check(doc)                          # raises if rejected

Modules, one job each: ``canonical`` (what is signed, RFC 8785), ``keys`` (key files),
``trust`` (trusted key sets), ``embedded`` (the ``signatures`` array), ``verify``
(checking it), ``provenance`` (signatures kept across re-exports), ``policy`` (the
import policy from the environment), ``minisign`` (detached ``.minisig`` files),
``errors``. spec/bundle-format.md, "Signatures", is the normative description.
"""

from __future__ import annotations

from .canonical import MESSAGE_PREFIX, canonical_bytes, jcs, signed_view, signing_message
from .embedded import FORMAT_VERSION_SIGNED, sign_document, signature_entry, strip_signatures
from .errors import (
    CanonicalFormError,
    PassphraseError,
    SignatureError,
    SigningKeyError,
    UntrustedSignatureError,
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
from .provenance import carry_provenance, record_provenance, verify_provenance
from .trust import TrustedKeys
from .verify import SignatureCheck, Status, Verification, verify_document

__all__ = [
    "FORMAT_VERSION_SIGNED",
    "MESSAGE_PREFIX",
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
    "canonical_bytes",
    "carry_provenance",
    "export_public",
    "generate",
    "jcs",
    "list_keys",
    "load_public_key",
    "load_secret_key",
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
