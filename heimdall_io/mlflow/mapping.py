"""Bundle sections <-> an MLflow run's params, metrics and tags (no MLflow import here).

* ``training_config`` -> params. A string is logged as it is, anything else as JSON; a
  param comes back as the JSON value only when that JSON is exactly the logged text, so
  every param string survives a round trip MLflow -> heimdall -> MLflow unchanged.
* ``performance_metrics`` -> metrics. A per-epoch list is a metric history, step = the
  epoch's index in the list (``best_epoch`` counts the same way); a number is one value
  at step 0. The tag ``heimdall.metric_lists`` names the lists, so a one-epoch list
  comes back as a list. Entries that are null (or not numbers) are left out.
* The rest of the record -> ``heimdall.*`` tags: model id, source model id, bundle id,
  MD5, SHA-256 and signers where present.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..storage.base import ModelRecord

#: MLflow's limits (mlflow.utils.validation).
MAX_KEY_LENGTH = 250
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000
_KEY = re.compile(r"^[/\w.\- :]+$")
#: A metric history longer than this is not spread over its steps (gaps as null).
MAX_STEPS = 1_000_000

TAG_PREFIX = "heimdall."
METRIC_LISTS_TAG = "heimdall.metric_lists"


@dataclass
class RunData:
    """What goes into one MLflow run; ``skipped`` says what could not, and why."""

    params: dict[str, str] = field(default_factory=dict)
    #: (key, value, step)
    metrics: list[tuple[str, float, int]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def valid_key(key: str) -> bool:
    """Whether MLflow takes ``key`` as a param, metric or tag name.

    >>> valid_key("learning_rate"), valid_key("a/../b"), valid_key("loss%")
    (True, False, False)
    """
    if not key or len(key) > MAX_KEY_LENGTH or not _KEY.match(key):
        return False
    parts = key.split("/")
    return not key.startswith("/") and all(p not in ("", ".", "..") for p in parts)


def param_text(value: Any) -> str:
    """A config value as a param string: strings as they are, the rest as JSON.

    >>> param_text("Adam"), param_text(0.001), param_text(True), param_text([1, 2])
    ('Adam', '0.001', 'true', '[1, 2]')
    """
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def param_value(text: str) -> Any:
    """A param string as a config value: JSON only if it reads back exactly as written.

    >>> param_value("32"), param_value("0.001"), param_value("1e-3"), param_value("Adam")
    (32, 0.001, '1e-3', 'Adam')
    """
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if param_text(value) == text and not isinstance(value, str) else text


def run_data(record: ModelRecord, sections: Mapping[str, Any]) -> RunData:
    """The params, metrics and tags of the run that registers ``record`` in MLflow."""
    data = RunData()
    config = sections.get("training_config")
    if isinstance(config, Mapping):
        for key, value in config.items():
            text = param_text(value)
            if not valid_key(key):
                data.skipped.append(f"param {key!r}: not a valid MLflow name")
            elif len(text) > MAX_PARAM_LENGTH:
                data.skipped.append(f"param {key!r}: longer than {MAX_PARAM_LENGTH} characters")
            else:
                data.params[key] = text
    lists = []
    metrics = sections.get("performance_metrics")
    if isinstance(metrics, Mapping):
        for key, value in metrics.items():
            if not valid_key(key):
                data.skipped.append(f"metric {key!r}: not a valid MLflow name")
            elif _number(value) is not None:
                data.metrics.append((key, _number(value), 0))  # type: ignore[arg-type]
            elif isinstance(value, list):
                lists.append(key)
                data.metrics.extend(
                    (key, v, step)
                    for step, v in ((i, _number(x)) for i, x in enumerate(value))
                    if v is not None
                )
            elif value is not None:
                data.skipped.append(f"metric {key!r}: neither a number nor a list of numbers")
    data.tags = record_tags(record)
    if lists:
        data.tags[METRIC_LISTS_TAG] = json.dumps(lists)
    return data


def record_tags(record: ModelRecord) -> dict[str, str]:
    """The ``heimdall.*`` tags of a record: ids, checksums, bundle and signers."""
    extra = record.extra or {}
    bundle = extra.get("source_bundle") if isinstance(extra.get("source_bundle"), dict) else {}
    top = extra.get("top") if isinstance(extra.get("top"), dict) else {}
    tags = {
        "heimdall.model_id": record.model_id,
        "heimdall.model_name": record.model_name,
        "heimdall.version": str(record.version),
        "heimdall.source_model_id": record.source_model_id,
        "heimdall.bundle_id": (bundle or {}).get("bundle_id"),
        "heimdall.onnx_md5": record.onnx_md5,
        "heimdall.onnx_sha256": record.onnx_sha256,
        "heimdall.onnx_size_bytes": (
            str(record.onnx_size_bytes) if record.onnx_size_bytes is not None else None
        ),
        "heimdall.architecture": record.architecture,
        "heimdall.signer": ", ".join(bundle_signers(top or {}, bundle or {})) or None,
    }
    return {k: v[:MAX_TAG_LENGTH] for k, v in tags.items() if isinstance(v, str) and v}


def bundle_signers(top: dict[str, Any], bundle_metadata: dict[str, Any]) -> list[str]:
    """Who signed the bundle a model came in, and (``bundle_metadata.provenance``) the
    bundles before it, oldest first, each named once."""
    names: list[str] = []
    provenance = bundle_metadata.get("provenance")
    for entry in provenance if isinstance(provenance, list) else []:
        names += signers(entry.get("signatures") if isinstance(entry, dict) else None)
    names += signers(top.get("signatures"))
    return list(dict.fromkeys(names))


def signers(signatures: Any) -> list[str]:
    """Who signed a bundle, as its ``signatures`` entries claim: ``signer`` or the key id.

    >>> signers([{"signer": "ci", "key_id": "01"}, {"key_id": "0807060504030201"}])
    ['ci', 'key 0807060504030201']
    """
    names = []
    for entry in signatures if isinstance(signatures, list) else []:
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("signer"), str) and entry["signer"]:
            names.append(entry["signer"])
        elif isinstance(entry.get("key_id"), str):
            names.append(f"key {entry['key_id']}")
    return names


def training_config(params: Mapping[str, str]) -> dict[str, Any]:
    """A run's params as ``training_config``."""
    return {key: param_value(text) for key, text in params.items()}


def performance_metrics(
    histories: Mapping[str, Iterable[tuple[int, int, float]]], tags: Mapping[str, str]
) -> dict[str, Any]:
    """A run's metric histories ``{key: [(step, timestamp, value), ...]}`` as
    ``performance_metrics``: one value at step 0 is a number, anything else a list by step.

    >>> performance_metrics({"loss": [(1, 5, 0.2), (0, 5, 0.5)], "best": [(0, 5, 2.0)]}, {})
    {'loss': [0.5, 0.2], 'best': 2}
    """
    try:
        listed = set(json.loads(tags.get(METRIC_LISTS_TAG, "[]")))
    except (ValueError, TypeError):
        listed = set()
    out: dict[str, Any] = {}
    for key, history in histories.items():
        latest: dict[int, tuple[int, float]] = {}
        for step, timestamp, value in history:
            if step >= 0 and (step not in latest or timestamp >= latest[step][0]):
                latest[step] = (timestamp, value)
        if not latest:
            continue
        if key not in listed and list(latest) == [0]:
            out[key] = _plain(latest[0][1])
            continue
        last = max(latest)
        if last < MAX_STEPS:
            out[key] = [_finite(latest[s][1]) if s in latest else None for s in range(last + 1)]
        else:
            out[key] = [_finite(latest[s][1]) for s in sorted(latest)]
    return out


def _number(value: Any) -> float | None:
    """A finite int or float (not a bool) as a float, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _plain(value: float) -> int | float | None:
    """A single metric value: MLflow stores every metric as a float, so an integral one
    comes back as an int (a bundle's ``best_epoch`` must be an integer)."""
    finite = _finite(value)
    if finite is not None and finite.is_integer() and abs(finite) < 2**53:
        return int(finite)
    return finite


def _finite(value: float) -> float | None:
    """NaN and the infinities as null: JSON has neither."""
    return value if math.isfinite(value) else None
