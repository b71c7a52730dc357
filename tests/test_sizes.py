"""heimdall_io.sizes: the one parser of sizes (CLI, API settings, benchmarks, test tools)."""

from __future__ import annotations

import pytest

from heimdall_io.sizes import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4096", 4096),
        ("100B", 100),
        ("3KiB", 3 << 10),
        ("64k", 64 << 10),
        ("64MiB", 64 << 20),
        ("64 mib", 64 << 20),
        ("2GiB", 2 << 30),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MiB", "-1", "64MB", "1e6", "1.5GiB", "64 MiB extra"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_format_size() -> None:
    assert format_size(64 << 20) == "64 MiB"
    assert format_size(1234) == "1,234 bytes"
