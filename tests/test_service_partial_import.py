"""Partial import: --no-config ... --no-samples leave sections out; the audit names them."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heimdall_io.service import ExportOptions, ImportOptions, Service
from heimdall_io.storage.localdir import LocalObjectStore
from tests.support.synthetic import synthetic_model_bytes

SECTIONS = {
    "training_config": {"epochs": 100, "batch_size": 32},
    "performance_metrics": {"val_loss": [0.4, 0.3], "best_epoch": 2},
    "normalization_stats": {"feature_means": [0.1], "feature_stds": [1.0]},
    "sample_predictions": [{"input": [1.0], "error_meters": 3.0}],
}


@pytest.fixture
def service(registry: Any, tmp_path: Path) -> Iterator[Service]:
    store = LocalObjectStore(tmp_path / "objects")
    yield Service(registry, store, actor="test")
    store.close()


@pytest.fixture
def bundle(service: Service) -> bytes:
    record = service.register(io.BytesIO(synthetic_model_bytes(4096)), name="net",
                              sections=SECTIONS)  # fmt: skip
    return b"".join(service.export_stream(record.model_id))


def test_skipped_sections_are_not_stored(service: Service, bundle: bytes) -> None:
    options = ImportOptions(include_config=False, include_samples=False)
    record = service.import_bundle(io.BytesIO(bundle), options=options).record
    assert set(record.training_metrics or {}) == {"performance_metrics", "normalization_stats"}
    stored = service.get_model(record.model_id)
    assert stored.training_metrics == record.training_metrics
    entry = service.history(1)[0]
    assert (entry.action, entry.result, entry.model_id) == ("import", "ok", record.model_id)
    assert entry.detail == "skipped training_config, sample_predictions"
    # An export of the partial import has only what was kept.
    doc = json.loads(b"".join(service.export_stream(record.model_id, ExportOptions())))
    assert "training_config" not in doc and "sample_predictions" not in doc
    assert doc["performance_metrics"] == SECTIONS["performance_metrics"]


def test_skipping_everything_and_absent_sections(service: Service) -> None:
    record = service.register(io.BytesIO(synthetic_model_bytes(4096)), name="net",
                              sections={"training_config": {"epochs": 1}})  # fmt: skip
    bundle = b"".join(service.export_stream(record.model_id))
    options = ImportOptions(False, False, False, False)
    imported = service.import_bundle(io.BytesIO(bundle), options=options).record
    assert imported.training_metrics is None
    assert service.history(1)[0].detail == (
        "skipped training_config (not in the bundle: performance_metrics, "
        "normalization_stats, sample_predictions)"
    )


def test_full_import_records_no_skip(service: Service, bundle: bytes) -> None:
    record = service.import_bundle(io.BytesIO(bundle)).record
    assert set(record.training_metrics or {}) == set(SECTIONS)
    assert service.history(1)[0].detail is None
