"""Turning results into text: human tables and --json documents."""

from __future__ import annotations

from typing import Any

import click


def mib(n: int | None) -> str:
    if n is None:
        return "unknown"
    return f"{n:,} bytes ({n / 2**20:,.2f} MiB)"


def echo_json(obj: Any) -> None:
    import orjson

    click.echo(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


def echo_json_line(obj: Any) -> None:
    import orjson

    click.echo(orjson.dumps(obj).decode())


def _short(value: Any) -> str:
    if isinstance(value, list):
        if len(value) > 6 or any(isinstance(v, (dict, list)) for v in value):
            return f"[{len(value)} items]"
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, dict):
        return f"{{{len(value)} fields}}"
    return str(value)


def info_json(info: Any) -> dict[str, Any]:
    """A BundleInfo as the JSON that `inspect --json` and `verify --json` print."""
    return {
        "format_version": info.format_version,
        "compression": info.compression,
        "payload": {
            "size_bytes": info.payload_size,
            "md5": info.md5,
            "sha256": info.sha256,
            "checksums": "verified" if info.verified else "declared",
            "offset": info.payload_offset,
        },
        "document": info.document,
    }


def echo_info(info: Any, source: str) -> None:
    doc = info.document
    meta = doc.get("bundle_metadata", {})
    model = doc.get("model", {})
    w = click.echo
    w(f"Bundle: {source}")
    packing = "uncompressed" if info.compression == "none" else info.compression
    w(f"  Format:       {info.format_version} ({packing})")
    for key, value in meta.items():
        w(f"  {key + ':':<13} {_short(value)}")
    w("Model:")
    for key, value in model.items():
        if key in ("onnx_size_bytes", "onnx_md5", "onnx_sha256"):
            continue
        w(f"  {key + ':':<17} {_short(value)}")
    w("Payload:")
    state = "verified" if info.verified else "declared"
    w(f"  Size:    {mib(info.payload_size)}")
    w(f"  MD5:     {info.md5 or 'not recorded'} ({state})")
    w(f"  SHA-256: {info.sha256 or 'not recorded'} ({state})")
    for name, value in doc.items():
        if name in ("format_version", "bundle_metadata", "model"):
            continue
        w(f"{name}:")
        if isinstance(value, dict):
            for key, v in value.items():
                w(f"  {key + ':':<26} {_short(v)}")
        elif isinstance(value, list):
            w(f"  {len(value)} entries")
        else:
            w(f"  {_short(value)}")
