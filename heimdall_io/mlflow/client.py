"""The MLflow client, loaded only when an MLflow operation runs.

heimdall-io's base install does not include MLflow: ``pip install 'heimdall-io[mlflow]'``
adds ``mlflow-skinny``, the client without the server. Every failure of the client (the
server unreachable, an error answer, a file that cannot be uploaded) becomes one
:class:`~heimdall_io.errors.MlflowError` line.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError, HeimdallError, MlflowError

INSTALL_HINT = "pip install 'heimdall-io[mlflow]'"
#: Where the tracking server is: heimdall's own variable, then MLflow's.
URI_ENV = "HEIMDALL_MLFLOW_URI"
MLFLOW_URI_ENV = "MLFLOW_TRACKING_URI"
EXPERIMENT_ENV = "HEIMDALL_MLFLOW_EXPERIMENT"
DEFAULT_EXPERIMENT = "heimdall"

#: MLflow's defaults retry an unreachable server for minutes (7 retries, backoff factor 2)
#: and print run URLs on stdout. heimdall gives up after about 3 s and prints nothing; a
#: value set in the environment wins.
CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}


_CONNECT_ERROR = re.compile(
    r"(?:Failed to establish a new connection|Failed to resolve|NameResolutionError)"
    r"[^\[]*(?:\[Errno -?\d+\] )?(?P<reason>[^'\")]+)"
)


def require_mlflow() -> None:
    """MlflowError with the install hint unless the MLflow client can be imported."""
    try:
        import mlflow.tracking  # noqa: F401
    except ImportError:
        raise MlflowError(f"MLflow support is not installed: {INSTALL_HINT}") from None


def tracking_uri(explicit: str | None, environ: Mapping[str, str] | None = None) -> str:
    """``explicit``, else HEIMDALL_MLFLOW_URI, else MLFLOW_TRACKING_URI (ConfigError if none).

    >>> tracking_uri(None, {"HEIMDALL_MLFLOW_URI": "http://127.0.0.1:5000"})
    'http://127.0.0.1:5000'
    """
    env = os.environ if environ is None else environ
    uri = (explicit or env.get(URI_ENV) or env.get(MLFLOW_URI_ENV) or "").strip()
    if not uri:
        raise ConfigError(f"no MLflow tracking URI: pass --mlflow-uri or set {URI_ENV}")
    return uri


def public_uri(uri: str) -> str:
    """``uri`` without a user name or password, as it may be written into a bundle.

    >>> public_uri("https://user:secret@mlflow.example:443/")
    'https://mlflow.example:443/'
    """
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def connect(uri: str) -> Any:
    """An ``mlflow.MlflowClient`` for ``uri`` (tracking and model registry)."""
    require_mlflow()
    for name, value in CLIENT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    from mlflow import MlflowClient

    with errors(f"cannot use the MLflow tracking server at {public_uri(uri)}"):
        return MlflowClient(tracking_uri=uri, registry_uri=uri)


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its class name if it has none); a refused
    or failed connection as the reason alone, not the client's retry report.

    >>> one_line(OSError("API request to http://h:1/x failed with exception ... Failed to "
    ...                  "establish a new connection: [Errno 111] Connection refused'))"))
    'cannot connect: Connection refused'
    """
    text = str(exc).strip()
    refused = _CONNECT_ERROR.search(text)
    if refused:
        return f"cannot connect: {refused['reason']}"
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def errors(what: str) -> Iterator[None]:
    """Any failure of the MLflow client inside the block becomes ``MlflowError(what: ...)``."""
    try:
        yield
    except HeimdallError:
        raise
    except Exception as exc:  # MlflowException, requests' errors, OSError, ...
        raise MlflowError(f"{what}: {one_line(exc)}") from exc


def error_code(exc: BaseException) -> str:
    """The MLflow error code (``RESOURCE_ALREADY_EXISTS``, ...) of an exception, or ""."""
    code = getattr(exc, "error_code", "")
    return code if isinstance(code, str) else ""
