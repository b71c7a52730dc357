"""Which MLflow run and model version a heimdall model is linked to, kept in the audit.

A link is written once, when the model is registered in MLflow (``heimdall import
--mlflow``) or imported from it (``heimdall import-mlflow``): an audit entry with
action ``mlflow``, result ``ok`` and the link in ``detail`` (its model URI and run,
then the whole link as JSON). A failed
registration is an ``mlflow`` entry with result ``error``. ``heimdall history`` shows
both; :func:`find_link` reads the newest link back, and :meth:`MlflowLink.section` is the
bundle's ``mlflow`` section (``heimdall export --mlflow-metadata``).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..format.header import now_iso
from ..service import Service
from ..storage.base import AuditEntry

AUDIT_ACTION = "mlflow"
#: ``direction``: the model went heimdall -> MLflow, or came MLflow -> heimdall.
REGISTERED, IMPORTED = "registered", "imported"


@dataclass(frozen=True)
class MlflowLink:
    """One heimdall model's MLflow counterpart."""

    tracking_uri: str  # without credentials
    run_id: str | None
    experiment_id: str | None
    experiment_name: str | None
    model_name: str
    model_version: str
    direction: str = REGISTERED
    #: The run's tags (MLflow's own ``mlflow.*`` left out) and the model version's.
    tags: dict[str, str] = field(default_factory=dict)
    model_version_tags: dict[str, str] = field(default_factory=dict)
    linked_at: str = field(default_factory=now_iso)

    @property
    def model_uri(self) -> str:
        """``models:/NAME/VERSION``"""
        return f"models:/{self.model_name}/{self.model_version}"

    def section(self) -> dict[str, Any]:
        """The bundle's ``mlflow`` section."""
        section = {
            "tracking_uri": self.tracking_uri,
            "experiment_id": self.experiment_id,
            "experiment_name": self.experiment_name,
            "run_id": self.run_id,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "model_uri": self.model_uri,
            "direction": self.direction,
            "linked_at": self.linked_at,
            "tags": self.tags,
            "model_version_tags": self.model_version_tags,
        }
        return {k: v for k, v in section.items() if v is not None}

    def to_detail(self) -> str:
        """The audit entry's detail: ``models:/NAME/VERSION (run ID) {the link as JSON}``."""
        text = json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))
        return f"{self.model_uri} (run {self.run_id}) {text}"

    @classmethod
    def from_detail(cls, detail: str | None) -> MlflowLink | None:
        """The link in an audit entry's detail, or None if it holds none."""
        start = (detail or "").find("{")
        try:
            data = json.loads((detail or "")[start:]) if start >= 0 else None
            if not isinstance(data, dict):
                return None
            known = {f.name for f in fields(cls)}  # a later version may add some
            return cls(**{k: v for k, v in data.items() if k in known})
        except (ValueError, TypeError):
            return None


def record_link(service: Service, model_id: str, link: MlflowLink) -> None:
    """Write the link into the audit history."""
    entry = AuditEntry(action=AUDIT_ACTION, result="ok", model_id=model_id,
                       actor=service.actor, detail=link.to_detail())  # fmt: skip
    service.registry.append_audit(entry)


def record_failure(service: Service, model_id: str | None, message: str) -> None:
    """Write a failed MLflow operation into the audit history (never raises)."""
    with contextlib.suppress(Exception):  # the MLflow failure is what gets reported
        entry = AuditEntry(action=AUDIT_ACTION, result="error", model_id=model_id,
                           actor=service.actor, detail=message)  # fmt: skip
        service.registry.append_audit(entry)


def find_link(service: Service, model_id: str) -> MlflowLink | None:
    """The newest MLflow link of ``model_id``, or None if it has none."""
    for entry in service.history():
        if entry.action == AUDIT_ACTION and entry.result == "ok" and entry.model_id == model_id:
            link = MlflowLink.from_detail(entry.detail)
            if link is not None:
                return link
    return None
