"""Versioned schema migrations of the registries, as plain SQL files.

Files are named ``<dialect>_<NNNN>_<name>.sql`` (``sqlite_0001_initial.sql``,
``postgres_0001_initial.sql``); the number is the version recorded in the
``heimdall_schema_migrations`` table once the file has run. Never edit a released file:
add the next number instead.

The table records *which* versions ran, not the highest: every known version it lacks
runs, in version order, even below one that already ran. Branches developed side by side
can therefore number their migrations apart (0002 for one, 0003 for another) and a
database that ran 0003 first still gets 0002 later. Such migrations must not depend on
each other.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import NamedTuple

_NAME = re.compile(r"^(?P<dialect>[a-z]+)_(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


class Migration(NamedTuple):
    version: int
    name: str
    sql: str


def load(dialect: str) -> list[Migration]:
    """The migrations of ``dialect`` ("sqlite" or "postgres"), in version order."""
    found: dict[int, Migration] = {}
    for entry in resources.files(__name__).iterdir():
        match = _NAME.match(entry.name)
        if match is None or match["dialect"] != dialect:
            continue
        version = int(match["version"])
        if version in found:
            raise RuntimeError(f"two {dialect} migrations with version {version}")
        found[version] = Migration(version, match["name"], entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]
