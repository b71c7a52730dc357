"""Bundles as files: pack, unpack, inspect and verify paths (``-`` for stdio)."""
