"""`heimdall import --no-config --no-metrics --no-normalization --no-samples`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import ok
from tests.support.synthetic import synthetic_model_bytes


def test_partial_import_from_the_cli(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(synthetic_model_bytes(4096))
    (tmp_path / "config.json").write_text(json.dumps({"epochs": 3}))
    (tmp_path / "metrics.json").write_text(json.dumps({"val_loss": [0.5]}))
    (tmp_path / "norm.json").write_text(json.dumps({"feature_means": [0.0]}))
    (tmp_path / "samples.json").write_text(json.dumps([{"error_meters": 1.0}]))
    model_id = ok("register", "m.onnx", "--name", "net", "--training-config", "config.json",
                  "--metrics", "metrics.json", "--normalization", "norm.json",
                  "--samples", "samples.json", cwd=tmp_path).stdout.strip()  # fmt: skip
    ok("export", model_id, "-o", "b.heimdall", "-q", cwd=tmp_path)
    line = ok("import", "b.heimdall", "--json", "--no-metrics", "--no-samples",
              cwd=tmp_path).stdout  # fmt: skip
    new_id = json.loads(line)["model_id"]
    shown = json.loads(ok("show", new_id, "--json", cwd=tmp_path).stdout)
    assert set(shown["training_metrics"]) == {"training_config", "normalization_stats"}
    history = [json.loads(x) for x in ok("history", "--json", cwd=tmp_path).stdout.splitlines()]
    assert history[0]["action"] == "import"
    assert history[0]["detail"] == "skipped performance_metrics, sample_predictions"
