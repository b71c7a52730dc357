"""Signed bundles: Ed25519 keys in minisign's formats, embedded and detached signatures.

spec/bundle-format.md, "Signatures", is the normative description.
"""
