"""What an MLflow error says about MLflow rather than about the model: the one classifier the MLflow hook (a task
retried, or failed without retries) and ``airflow agentic-mlops models list`` (a champion shown as ``?``, and why)
both use, so a 503 is "unavailable, try again" and a 403 names the permission wherever it is met.

No Airflow import here (``requests`` is imported when an error is classified).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from airflow_provider_agentic_mlops.core.errors import error_chain

#: urllib3's reason when an answer in MLflow's retry list (429, 5xx) outlasted MLflow's retries: MLflow's
#: ``MlflowException`` quotes it (``Max retries exceeded ... ResponseError('too many 503 error responses')``).
_TOO_MANY = re.compile(r"too many (\d{3}) error responses")
#: MLflow's error codes of a busy or overloaded server (HTTP 503 and 429 answered with MLflow's JSON body).
_BUSY_CODES = ("TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED")
#: MLflow's error codes of a refused connection: its credentials (401) or their permission (403).
_REFUSED_CODES = ("PERMISSION_DENIED", "UNAUTHENTICATED")


@dataclass(frozen=True)
class MlflowFault:
    """What kept an MLflow call from an answer about the model.

    :param kind: ``unreachable`` (no answer: a refused, dropped or timed-out connection), ``unavailable`` (MLflow
        or its artifact store answered it is down or overloaded: HTTP 5xx or 429, until MLflow's retries ran out;
        try again later) or ``refused`` (401 or 403: the connection's credentials or their permission; trying
        again does not help).
    :param reason: why, in a few words (``HTTP 503 until MLflow's retries ... ran out``, ``PERMISSION_DENIED``).
    """

    kind: Literal["unreachable", "unavailable", "refused"]
    reason: str


def refused_reason(err: BaseException) -> str | None:
    """``PERMISSION_DENIED`` (HTTP 403) or ``UNAUTHENTICATED`` (401) when MLflow or its artifact store refused
    the connection anywhere in ``err``'s causes, else None.

    :param err: the error raised by an MLflow call.
    """
    for cause in error_chain(err):
        code = getattr(cause, "error_code", None)
        if code in _REFUSED_CODES:
            return str(code)
        status = getattr(getattr(cause, "response", None), "status_code", None)
        if status in (401, 403):
            return "UNAUTHENTICATED" if status == 401 else "PERMISSION_DENIED"
    return None


def unavailable_fault(err: BaseException) -> MlflowFault | None:
    """The :class:`MlflowFault` (``unreachable`` or ``unavailable``) when ``err`` (or what caused it) says MLflow or
    its artifact store could not be reached or was overloaded, rather than anything about the model; else None.
    A 503 or 429 that outlasted MLflow's retries is a ``requests`` ``RetryError``, with no response.

    :param err: the error raised by an MLflow call.
    """
    import requests

    for cause in error_chain(err):
        too_many = _TOO_MANY.search(str(cause))
        if too_many and (too_many[1].startswith("5") or too_many[1] == "429"):
            return MlflowFault(
                "unavailable", f"HTTP {too_many[1]} until MLflow's retries (MLFLOW_HTTP_REQUEST_MAX_RETRIES) ran out"
            )
        if isinstance(cause, requests.exceptions.RetryError):
            return MlflowFault("unavailable", "MLflow's retries (MLFLOW_HTTP_REQUEST_MAX_RETRIES) ran out")
        if isinstance(cause, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
            return MlflowFault("unreachable", type(cause).__name__)
        status = getattr(getattr(cause, "response", None), "status_code", None)
        if isinstance(status, int) and (status >= 500 or status == 429):
            return MlflowFault("unavailable", f"HTTP {status}")
        if getattr(cause, "error_code", None) in _BUSY_CODES:
            return MlflowFault("unavailable", str(cause.error_code))  # type: ignore[attr-defined]
    return None


def classify_mlflow_error(err: BaseException) -> MlflowFault | None:
    """``err``'s :class:`MlflowFault`: ``refused`` first (a 401/403 anywhere in its causes: retries do not help),
    else ``unreachable`` or ``unavailable``; None when the error is about what was asked (a model that does not
    load, a missing version), not about MLflow.

    :param err: the error raised by an MLflow call.
    """
    refused = refused_reason(err)
    return MlflowFault("refused", refused) if refused else unavailable_fault(err)


__all__ = ["MlflowFault", "classify_mlflow_error", "refused_reason", "unavailable_fault"]
