"""The API's settings: what ``heimdall serve`` reads from the environment, the fixed limits
of its requests, and the allocator setting it runs under.

===================================  =======  ==============================================
environment variable                 default  what
===================================  =======  ==============================================
HEIMDALL_MAX_IMPORT_BYTES            100 MiB  the largest import body, and decoded model
                                              (``104857600``, ``100MiB``, ``2GiB`` ...)
HEIMDALL_MAX_CONCURRENT_IMPORTS      16       imports that run at once (the others wait)
HEIMDALL_MAX_CONCURRENT_VALIDATIONS  1        onnx.checker runs at once
HEIMDALL_REQUEST_BODY_TIMEOUT        60       seconds an upload may send nothing before it
                                              is dropped (408, connection closed)
HEIMDALL_HEALTH_TIMEOUT              5        seconds ``/healthz`` waits for each part
HEIMDALL_MLFLOW_URI                  (none)   the MLflow of ``?mlflow=true`` imports (else
                                              MLFLOW_TRACKING_URI)
HEIMDALL_MLFLOW_EXPERIMENT           heimdall the experiment of their runs
===================================  =======  ==============================================

The request limits (description length, samples, audit entries, list pages) are also the
bounds that :mod:`heimdall_io.api.openapi` publishes, so both read them from here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from heimdall_io.setting_values import parse_count, parse_seconds
from heimdall_io.sizes import parse_size

DEFAULT_MAX_IMPORT_BYTES = 100 * 1024 * 1024  # the seed's "ONNX model size limit (100MB)"
DEFAULT_MAX_CONCURRENT_IMPORTS = 16
DEFAULT_MAX_CONCURRENT_VALIDATIONS = 1
MAX_IMPORT_BYTES_ENV = "HEIMDALL_MAX_IMPORT_BYTES"
MAX_CONCURRENT_IMPORTS_ENV = "HEIMDALL_MAX_CONCURRENT_IMPORTS"
MAX_CONCURRENT_VALIDATIONS_ENV = "HEIMDALL_MAX_CONCURRENT_VALIDATIONS"
DEFAULT_REQUEST_BODY_TIMEOUT = 60.0
DEFAULT_HEALTH_TIMEOUT = 5.0
REQUEST_BODY_TIMEOUT_ENV = "HEIMDALL_REQUEST_BODY_TIMEOUT"
HEALTH_TIMEOUT_ENV = "HEIMDALL_HEALTH_TIMEOUT"
#: Longest timeout the environment may set (a day): a larger one is a typo.
MAX_TIMEOUT = 86_400.0
#: ``Retry-After`` (seconds) of a 503: the registry or store did not answer in time.
RETRY_AFTER_SECONDS = 5
MLFLOW_URI_ENV = "HEIMDALL_MLFLOW_URI"
MLFLOW_EXPERIMENT_ENV = "HEIMDALL_MLFLOW_EXPERIMENT"
DEFAULT_MLFLOW_EXPERIMENT = "heimdall"

#: Longest ``?description=`` of an export.
MAX_DESCRIPTION = 4096
#: Largest ``?num_samples=`` of an export.
MAX_NUM_SAMPLES = 100_000
#: ``?limit=`` of the audit history: its default and its largest value.
DEFAULT_AUDIT_LIMIT = 1000
MAX_AUDIT_LIMIT = 100_000
#: ``?limit=`` of the model list: its default and its largest value; the largest ``?offset=``.
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1000
MAX_LIST_OFFSET = 1_000_000_000


def _env_int(
    environ: Mapping[str, str], name: str, default: int, parse: Callable[[str], int] = int
) -> int:
    """``environ[name]`` parsed (ConfigError unless at least 1); ``default`` if unset."""
    raw = environ.get(name, "").strip()
    return parse_count(name, raw, parse) if raw else default


def _env_seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    """``environ[name]`` as seconds, more than 0 and at most a day (ConfigError otherwise)."""
    raw = environ.get(name, "").strip()
    return parse_seconds(name, raw, maximum=MAX_TIMEOUT) if raw else default


@dataclass(frozen=True)
class ServerSettings:
    """The limits of a server, from the environment or the defaults.

    >>> ServerSettings.from_env({"HEIMDALL_MAX_IMPORT_BYTES": "1GiB"}).max_import_bytes
    1073741824
    """

    max_import_bytes: int = DEFAULT_MAX_IMPORT_BYTES
    max_concurrent_imports: int = DEFAULT_MAX_CONCURRENT_IMPORTS
    max_concurrent_validations: int = DEFAULT_MAX_CONCURRENT_VALIDATIONS
    request_body_timeout: float = DEFAULT_REQUEST_BODY_TIMEOUT
    health_timeout: float = DEFAULT_HEALTH_TIMEOUT
    mlflow_uri: str | None = None
    mlflow_experiment: str = DEFAULT_MLFLOW_EXPERIMENT

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServerSettings:
        """The settings in ``environ`` (ConfigError for a malformed or non-positive one)."""
        return cls(
            max_import_bytes=_env_int(
                environ, MAX_IMPORT_BYTES_ENV, DEFAULT_MAX_IMPORT_BYTES, parse_size
            ),
            max_concurrent_imports=_env_int(
                environ, MAX_CONCURRENT_IMPORTS_ENV, DEFAULT_MAX_CONCURRENT_IMPORTS
            ),
            max_concurrent_validations=_env_int(
                environ, MAX_CONCURRENT_VALIDATIONS_ENV, DEFAULT_MAX_CONCURRENT_VALIDATIONS
            ),
            request_body_timeout=_env_seconds(
                environ, REQUEST_BODY_TIMEOUT_ENV, DEFAULT_REQUEST_BODY_TIMEOUT
            ),
            health_timeout=_env_seconds(environ, HEALTH_TIMEOUT_ENV, DEFAULT_HEALTH_TIMEOUT),
            mlflow_uri=(
                environ.get(MLFLOW_URI_ENV, "").strip()
                or environ.get("MLFLOW_TRACKING_URI", "").strip()
                or None
            ),
            mlflow_experiment=(
                environ.get(MLFLOW_EXPERIMENT_ENV, "").strip() or DEFAULT_MLFLOW_EXPERIMENT
            ),
        )


def tune_malloc(threshold: int = 2 << 20) -> bool:
    """Make glibc serve every allocation of ``threshold`` bytes or more with mmap.

    An export holds several 3-4 MiB buffers at once (the payload chunks queued for the
    MD5/SHA-256 threads, the base64 text), in many threads. glibc's *dynamic* mmap
    threshold rises once the first such buffer is freed; from then on they come from
    per-thread arenas, which fragment and keep their peak, so RSS grows with the number
    of concurrent transfers ever seen. A fixed threshold returns them to the system when
    freed, so that peak memory follows the transfers running now. 2 MiB keeps the import
    path's ~1 MiB pieces (see bridge.COALESCE) in the arenas: mmapping those would cost a
    page fault per page and a large part of the import throughput. An explicit
    ``MALLOC_MMAP_THRESHOLD_`` in the environment wins. True if the setting was applied.
    """
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") or not sys.platform.startswith("linux"):
        return False
    import ctypes  # only here: the one caller is `heimdall serve`, on Linux

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_mmap_threshold = -3
    return bool(mallopt(ctypes.c_int(m_mmap_threshold), ctypes.c_int(threshold)))


__all__ = [
    "DEFAULT_AUDIT_LIMIT",
    "DEFAULT_HEALTH_TIMEOUT",
    "DEFAULT_LIST_LIMIT",
    "DEFAULT_MAX_CONCURRENT_IMPORTS",
    "DEFAULT_MAX_CONCURRENT_VALIDATIONS",
    "DEFAULT_MAX_IMPORT_BYTES",
    "DEFAULT_REQUEST_BODY_TIMEOUT",
    "HEALTH_TIMEOUT_ENV",
    "MAX_AUDIT_LIMIT",
    "MAX_CONCURRENT_IMPORTS_ENV",
    "MAX_CONCURRENT_VALIDATIONS_ENV",
    "MAX_DESCRIPTION",
    "MAX_IMPORT_BYTES_ENV",
    "MAX_LIST_LIMIT",
    "MAX_LIST_OFFSET",
    "MAX_NUM_SAMPLES",
    "MAX_TIMEOUT",
    "REQUEST_BODY_TIMEOUT_ENV",
    "RETRY_AFTER_SECONDS",
    "ServerSettings",
    "tune_malloc",
]
