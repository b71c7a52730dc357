"""The errors of signing and verification, as subclasses of the library's hierarchy.

    HeimdallError
    ├── BundleError
    │   ├── SchemaError
    │   │   └── CanonicalFormError      the document has no canonical form (NaN, 2^53+1, ...)
    │   └── SignatureError              a signature does not verify: tampered or forged
    │       └── UntrustedSignatureError unsigned, or signed by no trusted key, under a policy
    │                                   that requires a signature
    └── ConfigError
        └── SigningKeyError             a key file is missing, malformed or of the wrong kind
            └── PassphraseError         an encrypted secret key without, or with a wrong,
                                        passphrase

Every message is one line naming the file or the key id, fit for ``Error: ...`` and exit 1.
"""

from __future__ import annotations

from ..errors import BundleError, ConfigError, SchemaError


class CanonicalFormError(SchemaError):
    """The document cannot be put in canonical form, so it cannot be signed or verified."""


class SignatureError(BundleError):
    """A signature does not verify against the bundle (or file) it claims to sign."""


class UntrustedSignatureError(SignatureError):
    """Signatures are required, and no trusted key signed this bundle."""


class SigningKeyError(ConfigError):
    """A signing or verification key cannot be used: missing, malformed, wrong kind."""


class PassphraseError(SigningKeyError):
    """An encrypted secret key was opened without a passphrase or with a wrong one."""
