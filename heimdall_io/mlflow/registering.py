"""The failure policy of ``heimdall import --mlflow``: what an MLflow failure does to the
import it follows.

By default the heimdall import stands: the failure is a warning and an ``mlflow`` audit
entry with result ``error``. With ``required`` (``--mlflow-required``,
``?mlflow_required=true``) the import is rolled back (its row and object deleted) and
the failure is an :class:`~heimdall_io.errors.MlflowError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import HeimdallError, MlflowError
from ..service import Service
from ..storage.base import ModelRecord
from .links import MlflowLink, record_failure, record_link
from .publish import MlflowTarget, publish


@dataclass(frozen=True)
class Registration:
    """The MLflow side of one import: the link (None if MLflow failed) and warnings."""

    link: MlflowLink | None = None
    warnings: tuple[str, ...] = ()


def register_imported(service: Service, record: ModelRecord, target: MlflowTarget) -> Registration:
    """Register a just-imported model in MLflow, under the failure policy of ``target``."""
    try:
        link, skipped = publish(service, record, target)
    except HeimdallError as exc:
        message = f"MLflow registration of {record.model_id} failed: {exc}"
        record_failure(service, record.model_id, message)
        if not target.required:
            return Registration(None, (f"{message} (the heimdall import stands)",))
        try:
            service.delete(record.model_id)
        except HeimdallError as undo:
            raise MlflowError(f"{message}; rolling back the import failed: {undo}") from exc
        raise MlflowError(f"{message}; the import was rolled back") from exc
    warnings = [f"MLflow: left out {what}" for what in skipped]
    try:
        record_link(service, record.model_id, link)
    except HeimdallError as exc:
        warnings.append(f"registered in MLflow as {link.model_uri}, but the link was not "
                        f"recorded: {exc}")  # fmt: skip
    return Registration(link, tuple(warnings))
