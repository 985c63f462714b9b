"""MLflow's HTTP retry budget for a caller that waits for the answer: a command. MLflow reads its
``MLFLOW_HTTP_REQUEST_*`` variables at each request; its defaults (7 retries, backoff factor 2, 120 s each)
keep such a caller waiting about 4 minutes per call when the server is down, saying nothing but
urllib3's "Retrying" lines. Workers keep MLflow's defaults (a rate-limited registry recovers).
The connection form's Test button runs in the API server, on a threadpool: it passes its budget to its one
request (:data:`CONNECTION_TEST_TIMEOUT_SECONDS`, no retries) and never sets these process-wide variables.

No Airflow import here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

#: A command's budget: 3 attempts, about 3 s apart at most, 15 s each.
COMMAND_MLFLOW_HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}

#: A connection test's budget: one request (no retries), 10 s.
CONNECTION_TEST_TIMEOUT_SECONDS = 10


@contextlib.contextmanager
def mlflow_http_budget(settings: Mapping[str, str], *, keep_set: bool) -> Iterator[None]:
    """MLflow's HTTP variables set to ``settings`` meanwhile, and as they were afterwards.

    Sets ``os.environ``, which every thread of the process reads: only for a single-threaded caller (a command).

    :param settings: variable name -> value (:data:`COMMAND_MLFLOW_HTTP_ENV`).
    :param keep_set: keep a variable the environment already sets (a command: the user's setting wins); else
        override it.
    """
    before = {name: os.environ.get(name) for name in settings}
    changed = {name: value for name, value in settings.items() if not (keep_set and before[name] is not None)}
    os.environ.update(changed)
    try:
        yield
    finally:
        for name in changed:
            if before[name] is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before[name]  # type: ignore[assignment]


__all__ = ["COMMAND_MLFLOW_HTTP_ENV", "CONNECTION_TEST_TIMEOUT_SECONDS", "mlflow_http_budget"]
