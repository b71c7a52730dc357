"""``heimdall import --mlflow`` against a real MLflow tracking server: the run, the model
version and its artifacts, ``export --mlflow-metadata``, and the failure policy both ways
(MLflow unreachable, or refusing the registration half-way)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from heimdall_io import BundleReader
from tests.support.servers import dead_port

from .helpers import EPOCHS, SIGNER, Heimdall, client, histories, make_bundle, md5_of, unique
from .helpers import version_files as files_of

#: Tests that expect MLflow to be unreachable need not wait for MLflow's retries.
NO_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}


def bundle_document(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        return BundleReader(f).document


def test_import_registers_a_run_and_a_model_version(mlflow_server: Any, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    name = unique("Localization")
    heimdall = Heimdall(tmp_path / "home", HEIMDALL_MLFLOW_URI=mlflow_server.uri)
    line = heimdall.json_line("import", str(bundle.path), "--mlflow", "--mlflow-model-name", name)
    model_id, link = line["model_id"], line["mlflow"]
    assert link["model_name"] == name and link["model_version"] == "1"
    mlflow = client(mlflow_server.uri)

    # The registered version's artifacts: the model (its MD5), MLmodel, heimdall.json.
    version = mlflow.get_model_version(name, "1")
    assert version.run_id == link["run_id"]
    assert model_id in version.description and bundle.md5 in version.description
    files = files_of(mlflow_server.uri, name, "1", tmp_path / "download")
    assert sorted(files) == ["MLmodel", "heimdall.json", "model.onnx"]
    assert md5_of(files["model.onnx"]) == bundle.md5 == line["onnx_md5"]
    flavor = yaml.safe_load(files["MLmodel"].read_text())["flavors"]["onnx"]
    assert flavor["data"] == "model.onnx"

    # The run: params from training_config, metric histories one step per epoch, tags.
    run = mlflow.get_run(link["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params == {"epochs": "7", "batch_size": "32", "learning_rate": "0.001",
                               "optimizer": "Adam", "early_stopping": "true",
                               "dataset_names": '["north", "south"]'}  # fmt: skip
    metrics = histories(mlflow_server.uri, link["run_id"])
    expected = bundle.document["performance_metrics"]
    for key in ("train_loss", "val_loss"):
        assert len(metrics[key]) == EPOCHS
        assert metrics[key] == list(enumerate(expected[key]))
    assert metrics["best_epoch"] == [(0, EPOCHS - 1)]
    assert metrics["final_val_accuracy"] == [(0, 0.93)]
    tags = run.data.tags
    assert tags["heimdall.model_id"] == model_id
    assert tags["heimdall.source_model_id"] == bundle.document["model"]["model_id"]
    assert tags["heimdall.bundle_id"] == bundle.document["bundle_metadata"]["bundle_id"]
    assert tags["heimdall.onnx_md5"] == bundle.md5
    assert tags["heimdall.onnx_sha256"] == line["onnx_sha256"]
    assert tags["heimdall.signer"] == SIGNER
    assert version.tags["heimdall.model_id"] == model_id

    # The link is in the audit, and export --mlflow-metadata writes it into the bundle.
    entry = next(e for e in heimdall.history() if e["action"] == "mlflow")
    assert entry["result"] == "ok" and entry["model_id"] == model_id
    out = tmp_path / "linked.heimdall"
    heimdall.ok("export", model_id, "-o", str(out), "--mlflow-metadata", "-q")
    section = bundle_document(out)["mlflow"]
    assert section["run_id"] == link["run_id"]
    assert section["experiment_name"] == "heimdall"
    assert section["experiment_id"] == run.info.experiment_id
    assert (section["model_name"], section["model_version"]) == (name, "1")
    assert section["tags"]["heimdall.onnx_md5"] == bundle.md5
    plain = tmp_path / "plain.heimdall"
    heimdall.ok("export", model_id, "-o", str(plain), "-q")
    assert "mlflow" not in bundle_document(plain)


def test_a_second_import_is_the_next_version(mlflow_server: Any, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    name = unique("Versions")
    heimdall = Heimdall(tmp_path / "home", HEIMDALL_MLFLOW_URI=mlflow_server.uri)
    args = ("import", str(bundle.path), "--mlflow", "--mlflow-model-name", name)
    first, second = heimdall.json_line(*args), heimdall.json_line(*args)
    assert (first["mlflow"]["model_version"], second["mlflow"]["model_version"]) == ("1", "2")
    assert first["mlflow"]["run_id"] != second["mlflow"]["run_id"]


def test_unreachable_mlflow_leaves_the_import_standing(tmp_path: Path) -> None:
    """The default: a warning, an audit entry, exit 0, and the model is there."""
    bundle = make_bundle(tmp_path)
    heimdall = Heimdall(tmp_path / "home", **NO_RETRIES)
    uri = f"http://127.0.0.1:{dead_port()}"
    result = heimdall.ok("import", str(bundle.path), "--mlflow", "--mlflow-uri", uri, "--json")
    line = json.loads(result.stdout)
    assert line["mlflow"] is None
    warnings = result.stderr.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("Warning: MLflow registration of")
    assert "cannot connect" in warnings[0] and "the heimdall import stands" in warnings[0]
    assert [m["model_id"] for m in heimdall.models()] == [line["model_id"]]
    assert len(heimdall.objects()) == 1
    actions = [(e["action"], e["result"]) for e in heimdall.history()]
    assert actions == [("mlflow", "error"), ("import", "ok")]
    # Not linked: export --mlflow-metadata says so and writes no section.
    out = tmp_path / "out.heimdall"
    export = heimdall.ok("export", line["model_id"], "-o", str(out), "--mlflow-metadata", "-q")
    assert "not linked to MLflow" in export.stderr
    assert "mlflow" not in bundle_document(out)


def test_unreachable_mlflow_with_required_rolls_the_import_back(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    heimdall = Heimdall(tmp_path / "home", **NO_RETRIES)
    uri = f"http://127.0.0.1:{dead_port()}"
    result = heimdall.run("import", str(bundle.path), "--mlflow-required", "--mlflow-uri", uri)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: MLflow registration of"), lines
    assert "cannot connect" in lines[0] and "rolled back" in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert heimdall.models() == [] and heimdall.objects() == []
    actions = [(e["action"], e["result"]) for e in heimdall.history()]
    assert actions == [("delete", "ok"), ("mlflow", "error"), ("import", "ok")]


def test_refused_half_way_required_rolls_back_and_removes_the_run(
    mlflow_server: Any, tmp_path: Path
) -> None:
    """MLflow takes the run and its artifacts, then refuses the model name: the import is
    rolled back and the half-made run deleted."""
    bundle = make_bundle(tmp_path)
    experiment = unique("refused")
    heimdall = Heimdall(tmp_path / "home", HEIMDALL_MLFLOW_URI=mlflow_server.uri)
    result = heimdall.run(
        "import", str(bundle.path), "--mlflow-required", "--mlflow-model-name", "bad:name",
        "--mlflow-experiment", experiment,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Names cannot contain" in result.stderr and "rolled back" in result.stderr
    assert heimdall.models() == [] and heimdall.objects() == []
    from mlflow.entities import ViewType

    mlflow = client(mlflow_server.uri)
    exp = mlflow.get_experiment_by_name(experiment)
    runs = mlflow.search_runs([exp.experiment_id], run_view_type=ViewType.ALL)
    assert len(runs) == 1 and runs[0].info.lifecycle_stage == "deleted"
    assert runs[0].info.status == "FAILED"


def test_refused_half_way_by_default_keeps_the_import(mlflow_server: Any, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    heimdall = Heimdall(tmp_path / "home", HEIMDALL_MLFLOW_URI=mlflow_server.uri)
    result = heimdall.ok("import", str(bundle.path), "--mlflow", "--mlflow-model-name", "a/b")
    assert "Warning: MLflow registration" in result.stderr
    assert len(heimdall.models()) == 1 and len(heimdall.objects()) == 1


def test_import_mlflow_brings_a_heimdall_registration_back_whole(
    mlflow_server: Any, tmp_path: Path
) -> None:
    """heimdall -> MLflow -> heimdall: every section, the checksums and the types."""
    bundle = make_bundle(tmp_path)
    name = unique("Back")
    source = Heimdall(tmp_path / "a", HEIMDALL_MLFLOW_URI=mlflow_server.uri)
    source.json_line("import", str(bundle.path), "--mlflow", "--mlflow-model-name", name)
    target = Heimdall(tmp_path / "b", HEIMDALL_MLFLOW_URI=mlflow_server.uri)
    line = target.json_line("import-mlflow", f"models:/{name}/1")
    assert line["onnx_md5"] == bundle.md5
    assert (line["model_name"], line["version"]) == (name, 1)
    out = tmp_path / "back.heimdall"
    target.ok("export", line["model_id"], "-o", str(out), "-q")
    document = bundle_document(out)
    for section in ("training_config", "performance_metrics", "normalization_stats",
                    "sample_predictions"):  # fmt: skip
        assert document[section] == bundle.document[section], section
    assert document["model"]["architecture"] == "LocalizationNet"


def test_import_mlflow_of_a_missing_version_is_one_line(mlflow_server: Any, tmp_path: Path) -> None:
    heimdall = Heimdall(tmp_path / "home", HEIMDALL_MLFLOW_URI=mlflow_server.uri)
    result = heimdall.run("import-mlflow", f"models:/{unique('Nothing')}/1")
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and "not found" in result.stderr
    assert heimdall.models() == []
    assert [(e["action"], e["result"]) for e in heimdall.history()] == [("mlflow", "error")]


def test_an_s3_object_is_streamed_to_mlflow(
    mlflow_server: Any, seaweedfs: Any, s3_url: str, tmp_path: Path
) -> None:
    """A store without local files: the object goes to MLflow through a temporary file
    written chunk by chunk (and checked against the registry's MD5 on the way)."""
    bundle = make_bundle(tmp_path, size=9 << 20)
    name = unique("FromS3")
    heimdall = Heimdall(
        tmp_path / "home", HEIMDALL_MLFLOW_URI=mlflow_server.uri, HEIMDALL_STORAGE_URL=s3_url,
        HEIMDALL_S3_ACCESS_KEY=seaweedfs.access_key, HEIMDALL_S3_SECRET_KEY=seaweedfs.secret_key,
    )  # fmt: skip
    line = heimdall.json_line("import", str(bundle.path), "--mlflow", "--mlflow-model-name", name)
    assert line["onnx_path"].startswith("imported/")
    files = files_of(mlflow_server.uri, name, "1", tmp_path / "download")
    assert md5_of(files["model.onnx"]) == bundle.md5


def test_a_model_with_external_data_goes_to_mlflow_and_back_whole(
    mlflow_server: Any, tmp_path: Path
) -> None:
    """heimdall -> MLflow -> heimdall for a model saved with external data: its data files
    are artifacts beside model.onnx (where onnx.load looks), and come back byte for byte."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    from tests.support.synthetic import write_external_model

    sizes = write_external_model(tmp_path / "net", 3 << 20, files=2, subdir="data")
    name = unique("External")
    source = Heimdall(tmp_path / "a", HEIMDALL_MLFLOW_URI=mlflow_server.uri)
    source.ok("pack", str(tmp_path / "net"), "-o", str(tmp_path / "net.heimdall"), "-q")
    source.json_line("import", str(tmp_path / "net.heimdall"), "--mlflow",
                     "--mlflow-model-name", name)  # fmt: skip

    uri = mlflow_server.uri
    repo = get_artifact_repository(client(uri).get_model_version_download_uri(name, "1"),
                                   tracking_uri=uri, registry_uri=uri)  # fmt: skip
    listed = {f.path for f in repo.list_artifacts("data")}
    assert listed == {p for p in sizes if p.startswith("data/")} and len(listed) == 2
    (tmp_path / "mlflow").mkdir()
    for path in listed:
        got = Path(repo.download_artifacts(path, str(tmp_path / "mlflow")))
        assert got.read_bytes() == (tmp_path / "net" / path).read_bytes()

    target = Heimdall(tmp_path / "b", HEIMDALL_MLFLOW_URI=uri)
    line = target.json_line("import-mlflow", f"models:/{name}/1")
    target.ok("export", line["model_id"], "-o", str(tmp_path / "back.heimdall"), "-q")
    target.ok("unpack", str(tmp_path / "back.heimdall"), "-o", str(tmp_path / "back"), "-q")
    back = {p.relative_to(tmp_path / "back").as_posix(): p.read_bytes()
            for p in (tmp_path / "back").rglob("*") if p.is_file()}  # fmt: skip
    assert back == {p: (tmp_path / "net" / p).read_bytes() for p in sizes}
