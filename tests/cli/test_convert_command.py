"""`heimdall convert` and `heimdall export --to`: messages, exit codes, flat memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import ok, peak_mib, run
from tests.support.synthetic import write_synthetic_model
from tests.tools.upstream_client import UPSTREAM_SECTIONS, HeimdallBundle


@pytest.fixture
def packed(tmp_path: Path) -> Path:
    with (tmp_path / "m.onnx").open("wb") as f:
        write_synthetic_model(f, 16 << 10, input_shape=("batch", 16), output_shape=("batch", 2))
    for section, flag in (("training_config", "config"), ("performance_metrics", "metrics"),
                          ("sample_predictions", "samples")):  # fmt: skip
        (tmp_path / f"{flag}.json").write_text(json.dumps(UPSTREAM_SECTIONS[section]))
    ok("pack", "m.onnx", "-o", "m.heimdall", "--name", "net", "--training-config", "config.json",
       "--metrics", "metrics.json", "--samples", "samples.json", "-q", cwd=tmp_path)  # fmt: skip
    return tmp_path / "m.heimdall"


def test_convert_to_upstream_errors_then_succeeds(tmp_path: Path, packed: Path) -> None:
    proc = run("convert", "m.heimdall", "-o", "up.heimdall", "--to", "upstream", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == (
        "Error: model.model_id is missing and upstream requires it: pass --model-id\n"
    )
    proc = run("convert", "m.heimdall", "-o", "up.heimdall", "--to", "upstream", "--model-id",
               "m-1", "--architecture", "Net", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1 and "pass --input-shape" in proc.stderr  # "batch" is symbolic
    assert not (tmp_path / "up.heimdall").exists()
    proc = ok("convert", "m.heimdall", "-o", "up.heimdall", "--to", "upstream", "--model-id",
              "m-1", "--architecture", "Net", "--input-shape", "1,16", "--output-shape", "1,2",
              cwd=tmp_path)  # fmt: skip
    assert "-> up.heimdall (1.1.0, upstream dialect)" in proc.stderr
    loaded = HeimdallBundle.model_validate_json((tmp_path / "up.heimdall").read_bytes())
    assert loaded.model.output_shape == [[1, 2]] and loaded.training_config is not None


def test_convert_warns_about_left_out_sections(tmp_path: Path, packed: Path) -> None:
    (tmp_path / "thin.json").write_text(json.dumps({"epochs": 3}))
    ok("pack", "m.onnx", "-o", "thin.heimdall", "--training-config", "thin.json",
       "--input-shape", "1,16", "--output-shape", "1,2", "-q", cwd=tmp_path)  # fmt: skip
    proc = ok("convert", "thin.heimdall", "-o", "-", "--to", "upstream", "--model-id", "m",
              "--architecture", "Net", cwd=tmp_path)  # fmt: skip
    assert proc.stderr.startswith("warning: training_config left out (upstream requires all "
                                  "its fields): missing batch_size, learning_rate")  # fmt: skip
    HeimdallBundle.model_validate_json(proc.stdout)


def test_convert_from_stdin_to_1_0_0(tmp_path: Path, packed: Path) -> None:
    proc = run("convert", "-", "-o", "-", "--to", "1.0.0", cwd=tmp_path,
               stdin=packed.read_bytes())  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["format_version"] == "1.0.0" and "onnx_md5" not in doc["model"]


def test_convert_usage_errors(tmp_path: Path, packed: Path) -> None:
    proc = run("convert", "m.heimdall", "-o", "x.heimdall", "--to", "2.0.0", cwd=tmp_path)
    assert proc.returncode == 2 and "'2.0.0' is not one of" in proc.stderr
    proc = run("convert", "missing.heimdall", "-o", "x", "--to", "1.0.0", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr.startswith("Error: Bundle file not found")


def test_export_to_upstream_from_the_registry(tmp_path: Path, packed: Path) -> None:
    for name in ("config", "metrics"):
        (tmp_path / f"{name}.json").write_text(
            json.dumps(
                UPSTREAM_SECTIONS[
                    {"config": "training_config", "metrics": "performance_metrics"}[name]
                ]
            )
        )
    model_id = ok("register", "m.onnx", "--name", "net", "--architecture", "Net",
                  "--training-config", "config.json", "--metrics", "metrics.json",
                  cwd=tmp_path).stdout.strip()  # fmt: skip
    proc = run("export", model_id, "-o", "up.heimdall", "--to", "upstream", cwd=tmp_path)
    assert proc.returncode == 1 and "model.input_shape" in proc.stderr
    ok("export", model_id, "-o", "up.heimdall", "--to", "upstream", "--input-shape", "1,16",
       "--output-shape", "1,2", "-q", cwd=tmp_path)  # fmt: skip
    loaded = HeimdallBundle.model_validate_json((tmp_path / "up.heimdall").read_bytes())
    assert loaded.model.model_id == model_id and loaded.model.version == "1"
    assert loaded.performance_metrics is not None
    history = json.loads(ok("history", "--json", "-n", "1", cwd=tmp_path).stdout)
    assert (history["action"], history["result"]) == ("export", "ok")


@pytest.mark.slow
def test_convert_runs_in_flat_memory(tmp_path: Path) -> None:
    size = 160 << 20
    with (tmp_path / "big.onnx").open("wb") as f:
        write_synthetic_model(f, size, seed=1)
    ok("pack", "big.onnx", "-o", "big.heimdall", "-q", "--architecture", "A", cwd=tmp_path)
    peak = peak_mib("convert", "big.heimdall", "-o", "up.heimdall", "--to", "upstream",
                    "--model-id", "m", "-q", cwd=tmp_path)  # fmt: skip
    assert peak < 64, f"peak RSS {peak} MiB for a {size >> 20} MiB model"
