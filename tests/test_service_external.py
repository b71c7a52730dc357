"""A model with external-data tensors is refused on import and by verify (issue 8, item 10).

The review's attack: the checker resolved external data against the store directory, so a
reference to a sibling object's file passed, and a bad reference's error showed the store
path. Now the model is refused before the checker runs, naming the tensor, no path.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from heimdall_io.codec import write_bundle
from heimdall_io.errors import InvalidModelError
from heimdall_io.files.bundles import verify
from heimdall_io.format.header import new_header
from heimdall_io.service import Service
from tests.support.synthetic import synthetic_model_bytes

MESSAGE = "model uses external data (tensor 'w'): not supported in a single-file bundle"


def external_model(location: str) -> bytes:
    weight = numpy_helper.from_array(np.ones((2, 2), np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in {"location": location, "offset": "0", "length": "16"}.items():
        weight.external_data.add(key=key, value=value)
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 2])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2, 2])
    graph = helper.make_graph([helper.make_node("Add", ["X", "w"], ["Y"])], "g", [x], [y], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def bundle(payload: bytes, name: str = "attacker") -> bytes:
    out = io.BytesIO()
    write_bundle(out, new_header({"model_name": name, "version": 1}), io.BytesIO(payload))
    return out.getvalue()


@pytest.fixture
def service(registry: Any, store: Any) -> Service:
    return Service(registry, store, actor="test")


def test_external_data_is_refused_on_import(service: Service) -> None:
    victim = service.import_bundle(io.BytesIO(bundle(synthetic_model_bytes(4096), "victim")))
    sibling = os.path.basename(victim.record.onnx_path or "")
    for location in (sibling, "../" + sibling, "/etc/hostname", "missing.bin"):
        with pytest.raises(InvalidModelError) as caught:
            service.import_bundle(io.BytesIO(bundle(external_model(location))))
        assert str(caught.value) == MESSAGE
    assert [r.model_id for r in service.list_models()] == [victim.record.model_id]
    assert [o.key for o in service.store.list("")] == [victim.record.onnx_path]
    errors = [e for e in service.history() if e.action == "import" and e.result == "error"]
    assert [e.detail for e in errors] == [MESSAGE] * 4


def test_external_data_in_a_payload_last_bundle(service: Service) -> None:
    """Metadata after the payload: the model is spooled to disk and checked there."""
    data = bundle(external_model("weights.bin"))
    head, _, payload = data.partition(b'"model":{')
    doc = onnx.ModelProto.FromString(external_model("weights.bin"))
    assert doc.graph.initializer[0].data_location == TensorProto.EXTERNAL
    members = payload.split(b',"onnx_model_base64":')
    reordered = head + b'"model":{"onnx_model_base64":' + members[1].rstrip(b"}\n") + b"," + \
        members[0] + b"}}"  # fmt: skip
    with pytest.raises(InvalidModelError, match="tensor 'w'"):
        service.import_bundle(io.BytesIO(reordered))
    assert service.list_models() == [] and list(service.store.list("")) == []


def test_verify_reports_the_same(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(bytes(16))  # beside the bundle: not its own
    path = tmp_path / "x.heimdall"
    path.write_bytes(bundle(external_model("weights.bin")))
    result = verify(str(path))
    assert not result.ok and result.model_error == MESSAGE
