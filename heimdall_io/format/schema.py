"""The JSON Schema of a whole ``.heimdall`` document, generated from the format types.

Nothing about fields is written here: properties, types, required fields and their
descriptions all come from the msgspec types (``msgspec.json.schema``). This module adds
only the schema's dialect, ``$id`` and title.

    python -m heimdall_io.format.schema            # (re)write spec/bundle.schema.json
    python -m heimdall_io.format.schema --check    # exit 1 if the committed file is out of date

The schema describes the document's shape. What JSON Schema cannot say (no duplicate keys,
``format_version`` major 1, payload checksums, size and depth limits) is in
spec/bundle-format.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from .document import FORMAT_LATEST, BundleDocument

DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: The schema describes every 1.x document up to the latest version's.
SCHEMA_ID = f"urn:heimdall-io:bundle-schema:{FORMAT_LATEST}"
TITLE = f".heimdall bundle, format {FORMAT_LATEST}"
#: Where the generated schema is committed, in a source checkout.
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "spec" / "bundle.schema.json"


def bundle_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a bundle document, from ``BundleDocument``.

    Example:

    ```python
    from heimdall_io.format.schema import bundle_schema

    schema = bundle_schema()
    assert schema["$ref"] == "#/$defs/BundleDocument"
    ```
    """
    generated = msgspec.json.schema(BundleDocument)
    return {"$schema": DIALECT, "$id": SCHEMA_ID, "title": TITLE, **generated}


def render_schema() -> str:
    """:func:`bundle_schema` as stable text: sorted keys, 2-space indent, final newline.

    Example:

    ```python
    from pathlib import Path
    from heimdall_io.format.schema import render_schema

    stale = Path("spec/bundle.schema.json").read_text() != render_schema()
    ```
    """
    return json.dumps(bundle_schema(), indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m heimdall_io.format.schema [--check] [--path FILE]``; returns the exit code.

    Example:

    ```python
    from heimdall_io.format import schema

    if schema.main(["--check"]):   # 1: spec/bundle.schema.json is out of date
        schema.main([])            # rewrite it
    ```
    """
    parser = argparse.ArgumentParser(
        prog="python -m heimdall_io.format.schema",
        description="Write the bundle JSON Schema generated from heimdall_io.format.document.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the file differs from the generated schema",
    )
    parser.add_argument(
        "--path",
        type=Path,
        default=DEFAULT_PATH,
        help="schema file (default: spec/bundle.schema.json of this checkout)",
    )
    args = parser.parse_args(argv)
    path: Path = args.path
    text = render_schema()
    if args.check:
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != text:
            print(
                f"{path} is out of date with heimdall_io.format.document; "
                "run `python -m heimdall_io.format.schema` and commit it",
                file=sys.stderr,
            )
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
