"""What the provider's hooks share about Airflow connections: an absent connection is None (the
provider then falls back or says what to create), a lookup that failed is an error, and a bare host
becomes a URL."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_agentic_mlops.core.errors import AgenticMlopsError, describe
from airflow_provider_agentic_mlops.version_compat import CONNECTION_NOT_FOUND


class ConnectionLookupFailed(AgenticMlopsError, RuntimeError):
    """Whether a connection exists is unknown: a secrets backend failed while looking it up.

    Airflow reports such a connection as "not defined" (its lookup loop logs a backend's error at
    DEBUG and goes on), so an unreachable metadata DB would otherwise read as an absent connection.

    :param conn_id: the connection looked up.
    :param backend: the failing backend's class name (``MetastoreBackend``: Airflow's metadata DB;
        ``ExecutionAPISecretsBackend``: the Execution API, from a task).
    :param error: what the backend raised.
    """

    def __init__(self, conn_id: str, backend: str, error: BaseException) -> None:
        self.conn_id, self.backend, self.error = conn_id, backend, error
        super().__init__(
            f"could not look up the connection {conn_id!r}: {self.source} failed ({describe(error)}); "
            f"nothing was taken for an absent connection. {self.check}"
        )

    @property
    def metadata_db(self) -> bool:
        """Whether the failure is Airflow's metadata DB's (an SQLAlchemy error of its session)."""
        from sqlalchemy.exc import SQLAlchemyError

        return isinstance(self.error, SQLAlchemyError)

    @property
    def source(self) -> str:
        if self.metadata_db:
            return "Airflow's metadata database ([database] sql_alchemy_conn)"
        if self.backend == _EXECUTION_API_BACKEND:
            return "the Execution API ([core] execution_api_server_url)"
        return f"the secrets backend {self.backend}"

    @property
    def check(self) -> str:
        if self.metadata_db:
            from sqlalchemy.exc import OperationalError, ProgrammingError

            text = str(self.error).lower()
            if isinstance(self.error, (OperationalError, ProgrammingError)) and (
                "no such table" in text or "does not exist" in text or "doesn't exist" in text
            ):  # SQLite, PostgreSQL, MySQL: a database Airflow never set up
                return "Its tables are missing: run `airflow db migrate` first."
            return "Check that it is up and reachable from this process (`airflow db check`)."
        if self.backend == _EXECUTION_API_BACKEND:
            return "Check that Airflow's API server is up and reachable from the worker."
        return "Check that backend and its settings ([secrets] backend, backend_kwargs)."


_EXECUTION_API_BACKEND = "ExecutionAPISecretsBackend"

# How Airflow's Connection (airflow.models; the secrets backends of Airflow 3.1 build one) refuses an extra
_AIRFLOW_EXTRA_REFUSALS = {
    "Encountered JSON value in `extra`": "is not a JSON object",
    "Encountered non-JSON in `extra`": "is not valid JSON",
}


class ConnectionExtraInvalid(AgenticMlopsError, ValueError):
    """Airflow refused the connection's extra (JSON but not an object, or not JSON): the connection is
    there, its extra is what to fix. Not a lookup failure: no backend is to blame.

    :param conn_id: the connection.
    :param problem: what is wrong with the extra ("is not a JSON object", "is not valid JSON").
    """

    def __init__(self, conn_id: str, problem: str) -> None:
        self.conn_id, self.problem = conn_id, problem
        super().__init__(f'connection {conn_id!r}: its extra {problem}; set it to a JSON object, e.g. {{"key": 1}}')

    @classmethod
    def of(cls, conn_id: str, err: BaseException) -> ConnectionExtraInvalid | None:
        """The error for Airflow's ``ValueError`` refusing ``conn_id``'s extra; None for any other error."""
        if isinstance(err, ValueError):
            for start, problem in _AIRFLOW_EXTRA_REFUSALS.items():
                if str(err).startswith(start):
                    return cls(conn_id, problem)
        return None


def get_connection_or_none(conn_id: str) -> Any:
    """The connection, or None when it is not defined.

    Airflow answers "not defined" both when no secrets backend has the connection and when a backend
    failed (metadata DB or Execution API unreachable). So "not defined" is checked by asking each of
    Airflow's backends again, in Airflow's order: :class:`ConnectionLookupFailed` when one fails, None
    only when every one answered that it has no such connection; :class:`ConnectionExtraInvalid` when
    Airflow refused the connection's extra (3.1 builds the connection in the backend). Any other failure
    propagates.
    """
    try:
        return BaseHook.get_connection(conn_id)
    except CONNECTION_NOT_FOUND:
        return _confirmed_lookup(conn_id)
    except ValueError as err:
        invalid = ConnectionExtraInvalid.of(conn_id, err)
        if invalid is None:
            raise
        raise invalid from err


def _secrets_backends() -> list[Any]:
    """The backends Airflow's connection lookup in this process goes through (task, server or other)."""
    from airflow.sdk.execution_time.supervisor import ensure_secrets_backend_loaded  # task SDK 1.1.5+ (Airflow 3.1.5+)

    return list(ensure_secrets_backend_loaded())


def _confirmed_lookup(conn_id: str) -> Any:
    """The connection from the first backend that has it, None when none has it; raises
    :class:`ConnectionLookupFailed` for a backend that failed."""
    for backend in _secrets_backends():
        name = type(backend).__name__
        try:
            if name == _EXECUTION_API_BACKEND and not _execution_api_has(conn_id):
                continue
            conn = backend.get_connection(conn_id=conn_id)
        except ConnectionLookupFailed:
            raise
        except Exception as err:  # Airflow 3.1 refusing the extra is the extra's fault, not the backend's
            raise ConnectionExtraInvalid.of(conn_id, err) or ConnectionLookupFailed(conn_id, name, err) from err
        if conn:
            return conn
    return None


def _execution_api_has(conn_id: str) -> bool:
    """Whether the Execution API has the connection. Its backend answers None for any failure (the API
    server unreachable too); asked directly, only "connection not found" is an answer."""
    from airflow.sdk.exceptions import ErrorType
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import ErrorResponse, GetConnection

    try:
        answer = task_runner.SUPERVISOR_COMMS.send(GetConnection(conn_id=conn_id))
    except Exception as err:
        raise ConnectionLookupFailed(conn_id, _EXECUTION_API_BACKEND, err) from err
    if isinstance(answer, ErrorResponse):
        if answer.error == ErrorType.CONNECTION_NOT_FOUND:
            return False
        error = RuntimeError(f"{answer.error.value}: {answer.detail}")
        raise ConnectionLookupFailed(conn_id, _EXECUTION_API_BACKEND, error)
    return True


def connection_url(conn: Any, *, default_scheme: str, default: str = "") -> str:
    """The connection's host as a URL: kept when it has a scheme, else ``<schema or default_scheme>://host[:port]``.

    :param conn: the Airflow connection.
    :param default_scheme: scheme when the connection's ``schema`` field is empty (``https``, ``http``).
    :param default: URL when the host is empty; returned as is.
    """
    host = conn.host or ""
    if not host:
        return default
    if "://" in host:
        return host
    return f"{conn.schema or default_scheme}://{host}" + (f":{conn.port}" if conn.port else "")
