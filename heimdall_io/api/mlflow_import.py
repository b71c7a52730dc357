"""``POST /api/v1/training/models/import?mlflow=true``: register the imported model in the
MLflow of the server's HEIMDALL_MLFLOW_URI (see :mod:`heimdall_io.mlflow`).

``?mlflow=true``: if MLflow fails, the import stands (201) and the response's
``warnings`` say why. ``?mlflow_required=true`` (implies ``mlflow``): if MLflow fails,
the import is rolled back and the answer is 502.
"""

from __future__ import annotations

from starlette.datastructures import QueryParams

from heimdall_io.errors import MlflowError
from heimdall_io.mlflow import MlflowTarget, require_mlflow

from .errors import ApiError
from .query import query_bool


def mlflow_target(query: QueryParams, uri: str | None, experiment: str) -> MlflowTarget | None:
    """The registration a request asks for, or None; 422 if the server has no MLflow URI,
    501 if it lacks the MLflow client."""
    required = query_bool(query, "mlflow_required", False)
    if not (query_bool(query, "mlflow", False) or required):
        return None
    if uri is None:
        raise ApiError(422, "mlflow=true needs HEIMDALL_MLFLOW_URI set on the server")
    try:
        require_mlflow()
    except MlflowError as exc:
        raise ApiError(501, f"{exc} (on the server)") from None
    return MlflowTarget(uri=uri, experiment=experiment, required=required)


__all__ = ["mlflow_target"]
