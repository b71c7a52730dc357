"""Turning results into text: human tables and --json documents."""

from __future__ import annotations

from typing import Any

import click


def mib(n: int | None) -> str:
    if n is None:
        return "unknown"
    return f"{n:,} bytes ({n / 2**20:,.2f} MiB)"


def _dumps(obj: Any, indent: bool) -> str:
    import orjson

    try:
        option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
        return orjson.dumps(obj, option=option, default=str).decode()
    except TypeError:
        # orjson refuses what valid bundles may hold: integers over 64 bits, lone
        # surrogates. The stdlib writes both (surrogates as \u escapes).
        import json

        return json.dumps(obj, indent=2 if indent else None, default=str)


def echo_json(obj: Any) -> None:
    click.echo(_dumps(obj, indent=True))


def echo_json_line(obj: Any) -> None:
    click.echo(_dumps(obj, indent=False))


def printable(text: str) -> str:
    """``text`` safe for any terminal: lone surrogates and controls escaped."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _short(value: Any) -> str:
    if isinstance(value, list):
        if len(value) > 6 or any(isinstance(v, (dict, list)) for v in value):
            return f"[{len(value)} items]"
        return printable("[" + ", ".join(str(v) for v in value) + "]")
    if isinstance(value, dict):
        return f"{{{len(value)} fields}}"
    return printable(str(value))


def shape_text(shape: Any) -> str:
    """``[1, ?, 128]`` (``?``: unknown dim); ``unknown`` for no shape."""
    if not isinstance(shape, list):
        return "unknown"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def tensor_list(names: Any, shape: Any) -> str | None:
    """``input [?, ?], state [2, ?, 128]``: names with their shapes (one shape per tensor
    when there are several, a flat shape for one), or None without names."""
    if not isinstance(names, list) or not names:
        return None
    if len(names) == 1:
        shapes = [shape]
    elif isinstance(shape, list) and len(shape) == len(names):
        shapes = shape
    else:
        shapes = [None] * len(names)
    return ", ".join(f"{name} {shape_text(s)}" for name, s in zip(names, shapes, strict=True))


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
        "external_data": [
            {"path": e.path, "size_bytes": e.size, "md5": e.md5, "sha256": e.sha256}
            for e in info.external
        ],
        "document": info.document,
    }


def echo_info(info: Any, source: str) -> None:
    doc = info.document
    meta = doc.get("bundle_metadata", {})
    model = doc.get("model", {})
    w = click.echo
    w(f"Bundle: {printable(source)}")
    packing = "uncompressed" if info.compression == "none" else info.compression
    w(f"  Format:       {info.format_version} ({packing})")
    for key, value in meta.items():
        w(f"  {printable(key) + ':':<13} {_short(value)}")
    w("Model:")
    for key, value in model.items():
        if key in ("onnx_size_bytes", "onnx_md5", "onnx_sha256", "input_names", "output_names",
                   "external_data"):  # fmt: skip
            continue
        w(f"  {printable(key) + ':':<17} {_short(value)}")
    for label, kind in (("Inputs", "input"), ("Outputs", "output")):
        tensors = tensor_list(model.get(f"{kind}_names"), model.get(f"{kind}_shape"))
        if tensors:
            w(f"  {label + ':':<17} {printable(tensors)}")
    w("Payload:")
    state = "verified" if info.verified else "declared"
    w(f"  Size:    {mib(info.payload_size)}")
    w(f"  MD5:     {info.md5 or 'not recorded'} ({state})")
    w(f"  SHA-256: {info.sha256 or 'not recorded'} ({state})")
    if info.external:
        total = sum(e.size or 0 for e in info.external)
        w(f"External data: {len(info.external)} files, {mib(total)} ({state})")
        for e in info.external:
            w(f"  {printable(e.path)}  {e.size:,} bytes  md5 {e.md5 or 'not recorded'}")
    for name, value in doc.items():
        if name in ("format_version", "bundle_metadata", "model", "signatures"):
            continue
        w(f"{printable(name)}:")
        if isinstance(value, dict):
            for key, v in value.items():
                w(f"  {printable(key) + ':':<26} {_short(v)}")
        elif isinstance(value, list):
            w(f"  {len(value)} entries")
        else:
            w(f"  {_short(value)}")
