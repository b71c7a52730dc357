"""MLflow: register heimdall models in an MLflow Model Registry, and import from one.

An adapter over the MLflow client (``pip install 'heimdall-io[mlflow]'``, mlflow-skinny),
which is imported only when an MLflow operation runs: importing this package does not
need it. The service layer knows nothing of MLflow; the CLI and the HTTP API call in here
after an import.

* :func:`register_imported` (``heimdall import --mlflow``): a run with the model's params,
  metrics, tags and ONNX file, then a model version from it, under the failure policy of
  :class:`MlflowTarget` (see :mod:`.registering`);
* :func:`import_model_version` (``heimdall import-mlflow models:/NAME/VERSION``): the
  other direction;
* :func:`find_link` (``heimdall export --mlflow-metadata``): the run and model version a
  model is linked to, kept in the audit history; :meth:`MlflowLink.section` is the
  bundle's ``mlflow`` section.
"""

from __future__ import annotations

from .client import (
    DEFAULT_EXPERIMENT,
    EXPERIMENT_ENV,
    INSTALL_HINT,
    URI_ENV,
    require_mlflow,
    tracking_uri,
)
from .fetch import MlflowImport, import_model_version, parse_model_uri
from .links import MlflowLink, find_link
from .publish import MlflowTarget
from .registering import Registration, register_imported

__all__ = [
    "DEFAULT_EXPERIMENT",
    "EXPERIMENT_ENV",
    "INSTALL_HINT",
    "URI_ENV",
    "MlflowImport",
    "MlflowLink",
    "MlflowTarget",
    "Registration",
    "find_link",
    "import_model_version",
    "parse_model_uri",
    "register_imported",
    "require_mlflow",
    "tracking_uri",
]
