"""``spec/openapi.json``, the committed OpenAPI description: print, write or check it.

::

    python -m heimdall_io.api.spec            # print the description
    python -m heimdall_io.api.spec --write    # (re)write spec/openapi.json
    python -m heimdall_io.api.spec --check    # exit 1 if spec/openapi.json is stale

A module of its own, imported by nothing else: ``python -m`` warns about a module that
its package has already imported, and :mod:`heimdall_io.api` imports
:mod:`heimdall_io.api.openapi` (the handlers encode its types).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .openapi import render

SPEC_PATH = Path(__file__).resolve().parents[2] / "spec" / "openapi.json"


def main(argv: list[str] | None = None) -> int:
    """The command line above; 0, or 1 if ``--check`` finds the file stale."""
    parser = argparse.ArgumentParser(prog="python -m heimdall_io.api.spec")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"write {SPEC_PATH}")
    group.add_argument("--check", action="store_true", help=f"fail if {SPEC_PATH} is stale")
    parser.add_argument("--path", type=Path, default=SPEC_PATH, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        args.path.write_text(text, encoding="utf-8")
        print(f"wrote {args.path}", file=sys.stderr)
        return 0
    if args.check:
        try:
            current = args.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != text:
            print(
                f"{args.path} is out of date: run python -m heimdall_io.api.spec --write",
                file=sys.stderr,
            )
            return 1
        return 0
    sys.stdout.write(text)
    return 0


__all__ = ["SPEC_PATH", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
