"""The MLflow adapter without a server: how sections map to params, metrics and tags and
back, the link kept in the audit, URIs, how the object is staged, and a missing client."""

from __future__ import annotations

import doctest
import hashlib
import io
import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from heimdall_io.errors import ChecksumMismatchError, ConfigError
from heimdall_io.mlflow import client, fetch, links, mapping, publish
from heimdall_io.mlflow.links import MlflowLink
from heimdall_io.mlflow.mapping import (
    METRIC_LISTS_TAG,
    param_text,
    param_value,
    performance_metrics,
    run_data,
    training_config,
)
from heimdall_io.storage.base import ModelRecord
from tests.support.imports import assert_imported_lazily

from .helpers import SIGNER, make_bundle, sections


@pytest.mark.parametrize("module", [client, fetch, links, mapping, publish])
def test_docstring_examples(module: Any) -> None:
    result = doctest.testmod(module)
    assert result.failed == 0


def record(**sections_: Any) -> ModelRecord:
    return ModelRecord(
        model_id="6f1c1d2e-0000-4000-8000-000000000001", model_name="Net (Imported)", version=3,
        onnx_md5="0" * 32, onnx_sha256="1" * 64, onnx_size_bytes=10,
        source_model_id="6f1c1d2e-0000-4000-8000-000000000002",
        training_metrics=sections_ or None,
        extra={"source_bundle": {"bundle_id": "b-1"},
               "top": {"signatures": [{"signer": SIGNER, "key_id": "01"}]}},
    )  # fmt: skip


def test_params_are_text_that_comes_back_as_the_config() -> None:
    config = sections()["training_config"] | {"nested": {"a": [1, 2]}, "text": "1e-3"}
    data = run_data(record(training_config=config), {"training_config": config})
    assert data.params == {
        "epochs": "7", "batch_size": "32", "learning_rate": "0.001", "optimizer": "Adam",
        "early_stopping": "true", "dataset_names": '["north", "south"]',
        "nested": '{"a": [1, 2]}', "text": "1e-3",
    }  # fmt: skip
    assert training_config(data.params) == config


@pytest.mark.parametrize("text", ["5", "0.01", "1e-3", "[64,32]", "[64, 32]", "True", "true",
                                  "null", "Adam", '"quoted"', "", " 5", "1.0", "NaN"])  # fmt: skip
def test_any_param_text_survives_a_round_trip(text: str) -> None:
    assert param_text(param_value(text)) == text


def test_lists_become_histories_and_numbers_single_values() -> None:
    metrics = {"train_loss": [0.5, None, 0.3], "best_epoch": 2, "acc": 0.9,
               "one_epoch": [0.7], "notes": "fine", "flag": True}  # fmt: skip
    data = run_data(record(), {"performance_metrics": metrics})
    assert sorted(data.metrics) == sorted([
        ("train_loss", 0.5, 0), ("train_loss", 0.3, 2), ("best_epoch", 2.0, 0),
        ("acc", 0.9, 0), ("one_epoch", 0.7, 0),
    ])  # fmt: skip
    assert json.loads(data.tags[METRIC_LISTS_TAG]) == ["train_loss", "one_epoch"]
    assert any("'notes'" in s for s in data.skipped)
    assert any("'flag'" in s for s in data.skipped)
    back = performance_metrics(
        {k: [(step, 1, v) for key, v, step in data.metrics if key == k]
         for k in ("train_loss", "best_epoch", "acc", "one_epoch")},
        data.tags,
    )  # fmt: skip
    assert back == {"train_loss": [0.5, None, 0.3], "best_epoch": 2, "acc": 0.9,
                    "one_epoch": [0.7]}  # fmt: skip


def test_a_native_history_keeps_its_steps_and_the_latest_value_per_step() -> None:
    history = [(0, 10, 1.0), (1, 10, 0.5), (1, 20, 0.4), (3, 10, 0.2)]
    assert performance_metrics({"loss": history}, {}) == {"loss": [1.0, 0.4, None, 0.2]}
    assert performance_metrics({"score": [(0, 1, float("nan"))]}, {}) == {"score": None}


def test_names_and_values_mlflow_refuses_are_left_out_with_a_reason() -> None:
    config = {"ok": 1, "bad%name": 2, "../up": 3, "long": "x" * 7000}
    data = run_data(record(), {"training_config": config})
    assert data.params == {"ok": "1"}
    assert len(data.skipped) == 3


def test_tags_name_the_model_its_source_bundle_checksums_and_signer() -> None:
    tags = run_data(record(), {}).tags
    assert tags["heimdall.model_id"] == "6f1c1d2e-0000-4000-8000-000000000001"
    assert tags["heimdall.source_model_id"] == "6f1c1d2e-0000-4000-8000-000000000002"
    assert tags["heimdall.bundle_id"] == "b-1"
    assert tags["heimdall.onnx_md5"] == "0" * 32
    assert tags["heimdall.onnx_sha256"] == "1" * 64
    assert tags["heimdall.signer"] == SIGNER
    unsigned = ModelRecord(model_id="x", model_name="n", version=1)
    assert "heimdall.signer" not in run_data(unsigned, {}).tags
    moved = ModelRecord(model_id="x", model_name="n", version=1, extra={
        "source_bundle": {"provenance": [{"signatures": [{"signer": "lab", "key_id": "02"}]}]},
        "top": {"signatures": [{"key_id": "03"}, {"signer": "lab", "key_id": "02"}]},
    })  # fmt: skip
    assert run_data(moved, {}).tags["heimdall.signer"] == "lab, key 03"


def test_the_link_survives_the_audit_detail() -> None:
    link = MlflowLink(tracking_uri="http://127.0.0.1:5000", run_id="r1", experiment_id="1",
                      experiment_name="heimdall", model_name="Net", model_version="4",
                      tags={"a": "b"})  # fmt: skip
    detail = link.to_detail()
    assert detail.startswith("models:/Net/4 (run r1) {")
    assert MlflowLink.from_detail(detail) == link
    assert MlflowLink.from_detail("MLflow registration failed: ...") is None
    section = link.section()
    assert section["run_id"] == "r1" and section["model_uri"] == "models:/Net/4"


def test_tracking_uri_precedence_and_credentials() -> None:
    env = {"HEIMDALL_MLFLOW_URI": "http://a", "MLFLOW_TRACKING_URI": "http://b"}
    assert client.tracking_uri("http://c", env) == "http://c"
    assert client.tracking_uri(None, env) == "http://a"
    assert client.tracking_uri(None, {"MLFLOW_TRACKING_URI": "http://b"}) == "http://b"
    with pytest.raises(ConfigError, match="HEIMDALL_MLFLOW_URI"):
        client.tracking_uri(None, {})
    assert client.public_uri("http://u:p@host:5000") == "http://host:5000"


@pytest.mark.parametrize("uri", ["models:/Net", "runs:/abc/model", "models:/Net/x", "Net/1"])
def test_only_model_version_uris_are_taken(uri: str) -> None:
    with pytest.raises(ConfigError, match="models:/NAME/VERSION"):
        fetch.parse_model_uri(uri)
    assert fetch.parse_model_uri("models:/Net@champion") == ("Net", None, "champion")


class _Store:
    """An object store with no local files whose reads are watched."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.largest_read = 0

    def local_path(self, key: str) -> None:
        return None

    @contextmanager
    def open(self, key: str) -> Any:
        src = io.BytesIO(self.data)
        store = self

        class Reader:
            def read(self, n: int = -1) -> bytes:
                assert n > 0, "read the whole object at once"
                store.largest_read = max(store.largest_read, n)
                return src.read(n)

        yield Reader()


def test_a_remote_object_is_streamed_to_the_upload_file_in_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40_000  # 10 MB
    store = _Store(data)
    rec = ModelRecord(model_id="x", model_name="n", version=1, onnx_path="k",
                      onnx_md5=hashlib.md5(data).hexdigest())  # fmt: skip
    publish.stage_object(store, rec, str(tmp_path / "model.onnx"))  # type: ignore[arg-type]
    assert (tmp_path / "model.onnx").read_bytes() == data
    assert store.largest_read <= publish.CHUNK < len(data)
    rec.onnx_md5 = "0" * 32
    with pytest.raises(ChecksumMismatchError):
        publish.stage_object(store, rec, str(tmp_path / "again.onnx"))  # type: ignore[arg-type]


def test_without_the_mlflow_client_import_says_how_to_install_it(tmp_path: Path) -> None:
    """One line, exit 1, and nothing imported (the check runs before the first bundle)."""
    bundle = make_bundle(tmp_path)
    script = (
        "import sys; sys.modules['mlflow'] = None\n"  # what an install without the extra sees
        "from heimdall_cli.main import main\n"
        f"sys.argv = ['heimdall', 'import', {str(bundle.path)!r}, '--mlflow',"
        " '--mlflow-uri', 'http://127.0.0.1:9']\n"
        "main()\n"
    )
    env = {"HEIMDALL_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (
        "Error: MLflow support is not installed: pip install 'heimdall-io[mlflow]'\n"
    )
    listed = subprocess.run([sys.executable, "-m", "heimdall_io", "list", "--json"], env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert json.loads(listed.stdout) == []


def test_the_library_and_the_cli_do_not_import_mlflow_until_asked() -> None:
    assert_imported_lazily(
        "mlflow",
        "import heimdall_io, heimdall_io.mlflow, heimdall_io.api.app, heimdall_cli.main\n"
        "from click.testing import CliRunner\n"
        "CliRunner().invoke(heimdall_cli.main.cli, ['import', '--help'])",
    )
