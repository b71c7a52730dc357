"""Two bundle documents (payloads excluded) compared section by section, field by field.

Objects are compared field by field (nested ones by dotted path); lists are summarized
rather than listed: a per-epoch series reads ``val_loss: 100 -> 120 epochs, last 0.31 ->
0.27``, other lists by their length and the items that differ. The payload's checksum
fields are left to the payload comparison.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..format.document import CHECKSUM_KEYS, PAYLOAD_KEY

__all__ = ["Change", "SectionDiff", "diff_documents", "summarize"]

_PER_EPOCH = "performance_metrics"


@dataclass(frozen=True)
class Change:
    """One field that differs: ``added`` (only in B), ``removed`` (only in A), ``changed``."""

    path: str
    kind: str
    a: Any = None
    b: Any = None
    summary: str = ""


@dataclass
class SectionDiff:
    """A top-level member: ``same``, ``added``, ``removed`` or ``changed`` (with its fields)."""

    name: str
    status: str
    changes: list[Change] = field(default_factory=list)


def diff_documents(
    a: Mapping[str, Any], b: Mapping[str, Any], ignore: Iterable[str] = ()
) -> list[SectionDiff]:
    """Every top-level member of either document, in A's order then B's; ``ignore`` lists
    dotted paths (a section, or a field in it) left out of the comparison.

    Example:

    ```python
    from heimdall_io.tools.document_diff import diff_documents

    for section in diff_documents(doc_a, doc_b, ignore=["bundle_metadata"]):
        for change in section.changes:
            print(section.name, change.path, change.summary)
    ```
    """
    ignored = tuple(ignore)
    out = []
    for name in [*a, *(k for k in b if k not in a)]:
        if _ignored(name, ignored):
            continue
        va, vb = _clean(name, a.get(name)), _clean(name, b.get(name))
        if va is None and vb is None:
            continue
        if va is None or vb is None:
            status = "added" if va is None else "removed"
            value = vb if va is None else va
            out.append(SectionDiff(name, status, [Change(name, status, va, vb, _brief(value))]))
            continue
        changes = list(_compare(name, va, vb, name, ignored))
        out.append(SectionDiff(name, "changed" if changes else "same", changes))
    return out


def _clean(name: str, value: Any) -> Any:
    if name == "model" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in CHECKSUM_KEYS and k != PAYLOAD_KEY}
    return value


def _ignored(path: str, ignored: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + ".") for p in ignored)


def _compare(path: str, a: Any, b: Any, section: str, ignored: tuple[str, ...]) -> Any:
    if _same(a, b) or _ignored(path, ignored):
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            sub = f"{path}.{key}"
            if _ignored(sub, ignored):
                continue
            if key not in b:
                yield Change(sub, "removed", a[key], None, _brief(a[key]))
            elif key not in a:
                yield Change(sub, "added", None, b[key], _brief(b[key]))
            else:
                yield from _compare(sub, a[key], b[key], section, ignored)
        return
    yield Change(path, "changed", a, b, summarize(a, b, per_epoch=section == _PER_EPOCH))


def _same(a: Any, b: Any) -> bool:
    # 1 and 1.0 are the same JSON number; NaN equals NaN here (both mean "no value").
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b) and (isinstance(a, (int, float)) == isinstance(b, (int, float)))


def summarize(a: Any, b: Any, *, per_epoch: bool = False) -> str:
    """A one-line account of how ``a`` became ``b``; lists are summarized.

    >>> summarize([0.5, 0.31], [0.5, 0.4, 0.27], per_epoch=True)
    '2 -> 3 epochs, last 0.31 -> 0.27'
    >>> summarize(100, 120)
    '100 -> 120'
    >>> summarize(["batch", 16], [1, 16])
    '["batch", 16] -> [1, 16]'
    """
    if isinstance(a, list) and isinstance(b, list):
        return _list_summary(a, b, per_epoch)
    return f"{_brief(a)} -> {_brief(b)}"


def _numeric(values: list[Any]) -> bool:
    return all((isinstance(v, (int, float)) and not isinstance(v, bool)) or v is None
               for v in values)  # fmt: skip


def _list_summary(a: list[Any], b: list[Any], per_epoch: bool) -> str:
    numeric = bool(a or b) and _numeric(a) and _numeric(b)
    unit = "epochs" if per_epoch and numeric else "items"
    short_a, short_b = _brief(a), _brief(b)
    if unit == "items" and not (short_a.endswith(" items]") or short_b.endswith(" items]")):
        return f"{short_a} -> {short_b}"  # short enough to show whole
    if len(a) != len(b):
        text = f"{len(a)} -> {len(b)} {unit}"
    else:
        differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if not _same(x, y)]
        text = f"{len(a)} {unit}, {len(differ)} differ"
        i = differ[0]
        if not numeric or i != len(a) - 1:
            where = f"epoch {i + 1}" if unit == "epochs" else f"[{i}]"
            text += f" (first at {where}: {_brief(a[i])} -> {_brief(b[i])})"
    if numeric and a and b:
        last_a, last_b = a[-1], b[-1]
        text += f", last {_brief(last_a)}"
        if not _same(last_a, last_b):
            text += f" -> {_brief(last_b)}"
    return text


def _brief(value: Any, limit: int = 60) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, list):
        text = json.dumps(value, default=str)
        return text if len(text) <= limit else f"[{len(value)} items]"
    if isinstance(value, dict):
        text = json.dumps(value, default=str)
        return text if len(text) <= limit else f"{{{len(value)} fields}}"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 4] + '..."'
