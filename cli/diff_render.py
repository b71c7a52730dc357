"""`heimdall diff` output: the text report (diff-like) and the --json document."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from .render import printable

#: How many tensors of each kind the text report lists (--json lists them all).
MAX_TENSORS = 20
_MARK = {"added": "+", "removed": "-", "changed": "~"}


def _tensor_json(t: Any) -> dict[str, Any] | None:
    from heimdall_io.tools.model_diff import DTYPES

    if t is None:
        return None
    return {"kind": t.kind, "dtype": DTYPES.get(t.data_type or 0, t.data_type),
            "shape": list(t.dims), "elements": t.elements, "sha256": t.sha256,
            "external": t.external}  # fmt: skip


def diff_json(d: Any) -> dict[str, Any]:
    """The --json document of a BundleDiff."""
    model = None
    if d.model is not None:
        model = {
            "error": d.model.error,
            "changes": [dataclasses.asdict(c) for c in d.model.changes],
            "tensors": {kind: [{"key": t.key, "a": _tensor_json(t.a), "b": _tensor_json(t.b),
                                **({"what": list(t.what)} if kind == "changed" else {})}
                               for t in d.model.tensors if t.kind == kind]
                        for kind in ("added", "removed", "changed")},
            "unchanged_tensors": d.model.unchanged_tensors,
        }  # fmt: skip
    sections = {s.name: {"status": s.status,
                         "changes": [dataclasses.asdict(c) for c in s.changes]}
                for s in d.sections}  # fmt: skip
    return {
        "same": d.same,
        "a": dataclasses.asdict(d.a),
        "b": dataclasses.asdict(d.b),
        "ignored": d.ignored,
        "sections": sections,
        "payload": dataclasses.asdict(d.payload),
        "model": model,
    }


def _side(side: Any) -> str:
    wrapping = "uncompressed" if side.compression == "none" else side.compression
    return f"{printable(side.path)} ({side.format_version}, {wrapping})"


def _size(n: int | None) -> str:
    return "unknown size" if n is None else f"{n:,} bytes"


def echo_diff(d: Any) -> None:
    """The text report: one block per section that differs, then payload and model."""
    w = click.echo
    if d.same:
        how = d.payload.method
        w(f"No differences: {_side(d.a)} and {_side(d.b)} (payload identical, by {how})")
        return
    w(f"--- {_side(d.a)}")
    w(f"+++ {_side(d.b)}")
    for section in d.sections:
        if section.status == "same":
            continue
        if section.status != "changed":
            where = "B" if section.status == "added" else "A"
            summary = printable(section.changes[0].summary)
            w(f"{printable(section.name)}: only in {where}: {summary}")
            continue
        w(f"{printable(section.name)}:")
        for c in section.changes:
            path = c.path.split(".", 1)[1] if "." in c.path else c.path
            w(f"  {_MARK[c.kind]} {printable(path)}: {printable(c.summary)}")
    p, a, b = d.payload, d.a, d.b
    if p.identical:
        w(f"payload: identical ({_size(a.size)}, by {p.method})")
    else:
        w(f"payload: different (by {p.method}): {_size(a.size)} sha256 {(a.sha256 or '?')[:12]}"
          f" -> {_size(b.size)} sha256 {(b.sha256 or '?')[:12]}")  # fmt: skip
    if d.model is not None:
        _echo_model(d.model)


def _echo_model(m: Any) -> None:
    from heimdall_io.tools.model_diff import tensor_text

    w = click.echo
    if m.error is not None:
        w(f"onnx: not compared: {printable(m.error)}")
        return
    if m.same:
        w("onnx: no model-level difference (the bytes differ in metadata only)")
        return
    w("onnx:")
    for c in m.changes:
        w(f"  {_MARK[c.kind]} {printable(c.path)}: {printable(c.summary)}")
    counts = ", ".join(f"{m.count(k)} {k}" for k in ("added", "removed", "changed"))
    w(f"  tensors: {counts}, {m.unchanged_tensors} unchanged")
    for kind in ("added", "removed", "changed"):
        listed = [t for t in m.tensors if t.kind == kind]
        for t in listed[:MAX_TENSORS]:
            if kind == "changed":
                what = ", ".join(t.what)
                w(f"    ~ {printable(t.key)} ({what}): {tensor_text(t.a)} -> {tensor_text(t.b)}")
            else:
                w(f"    {_MARK[kind]} {printable(t.key)}: {tensor_text(t.a or t.b)}")
        if len(listed) > MAX_TENSORS:
            w(f"    ... and {len(listed) - MAX_TENSORS} more {kind} (--json lists all)")
