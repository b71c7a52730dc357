"""Faithful ONNX metadata through the registry: shapes per tensor, names, parameter counts.

input_shape and output_shape are INTEGER[] columns: a flat shape of ints fits; symbolic dims
become -1 there and a list of shapes (several inputs or outputs) does not fit at all. What
the columns cannot hold is kept in ``record.extra["model"]``, so an export writes back what
was read. Checked on both registries (the SQL types differ), with the local store.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from onnx import helper

from heimdall_io.service import Service
from heimdall_io.storage.localdir import LocalObjectStore
from tests.onnx.models import make_value
from tests.support.public_models import SILERO_VAD_PARAMETERS, silero_vad_path
from tests.support.synthetic import synthetic_model_bytes


@pytest.fixture
def service(registry: Any, tmp_path: Path) -> Iterator[Service]:
    store = LocalObjectStore(tmp_path / "objects")
    yield Service(registry, store, actor="test")
    store.close()


def two_heads() -> bytes:
    """The upstream Heimdall's shape: one input, position + uncertainty heads."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["position"]),
         helper.make_node("Identity", ["X"], ["uncertainty"])],
        "heads", [make_value("X", ["batch", 2])],
        [make_value("position", [1, 2]), make_value("uncertainty", [1, 2])],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def round_trip(service: Service, data: bytes) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """Register, export, import, export again: the two bundles' ``model`` and the import."""
    record = service.register(io.BytesIO(data), name="net")
    first = json.loads(b"".join(service.export_stream(record.model_id)))
    imported = service.import_bundle(io.BytesIO(json.dumps(first).encode())).record
    second = json.loads(b"".join(service.export_stream(imported.model_id)))
    return first["model"], second["model"], imported


FIELDS = ("input_shape", "output_shape", "input_names", "output_names", "parameters_count")


def test_two_heads_round_trip(service: Service) -> None:
    first, second, imported = round_trip(service, two_heads())
    assert first["output_shape"] == [[1, 2], [1, 2]]
    assert first["input_shape"] == ["batch", 2]
    assert first["output_names"] == ["position", "uncertainty"]
    assert {k: second[k] for k in FIELDS} == {k: first[k] for k in FIELDS}
    # The columns hold what fits; extra holds the exact values.
    assert imported.input_shape == [-1, 2] and imported.output_shape is None
    assert imported.extra["model"]["output_shape"] == [[1, 2], [1, 2]]
    assert service.get_model(imported.model_id).extra == imported.extra


def test_flat_shapes_stay_in_the_columns(service: Service) -> None:
    first, second, imported = round_trip(service, synthetic_model_bytes(4096))
    assert (first["input_shape"], first["output_shape"]) == ([1, 16], [1, 2])
    assert (imported.input_shape, imported.output_shape) == ([1, 16], [1, 2])
    assert "input_shape" not in imported.extra["model"]
    assert {k: second[k] for k in FIELDS} == {k: first[k] for k in FIELDS}


def test_silero_vad_round_trip(service: Service) -> None:
    first, second, imported = round_trip(service, silero_vad_path().read_bytes())
    assert first["parameters_count"] == SILERO_VAD_PARAMETERS
    assert first["input_shape"] == [[None, None], [2, None, 128], []]
    assert first["output_shape"] == [[None, 1], [None, None, None]]
    assert first["input_names"] == ["input", "state", "sr"]
    assert imported.parameters_count == SILERO_VAD_PARAMETERS
    assert {k: second[k] for k in FIELDS} == {k: first[k] for k in FIELDS}
