"""``[agentic_mlops]`` settings read by more than one component (DAG factory, hooks, CLI, web plugin).

Cheap to import: the DAG processor reads them at parse time, where the hooks and the state store stay
unimported.
"""

from __future__ import annotations

from airflow_provider_agentic_mlops.core.connections import DEFAULT_STATE_CONN_ID
from airflow_provider_agentic_mlops.core.errors import AgenticMlopsError


class SettingInvalid(AgenticMlopsError, ValueError):
    """An ``[agentic_mlops]`` option has a value the provider cannot use; the message names it and the fix."""


def configured_state_conn_id() -> str:
    """The deployment's state-store connection: ``[agentic_mlops] state_conn_id`` (env
    ``AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID``), else :data:`DEFAULT_STATE_CONN_ID`.

    The DAG factory (for models that name none), the CLI and the web plugin all default to it, so
    setting it moves them to one store together.
    """
    from airflow.configuration import conf

    return conf.get("agentic_mlops", "state_conn_id", fallback="") or DEFAULT_STATE_CONN_ID


def configured_migration_lock_timeout() -> float:
    """``[agentic_mlops] migration_lock_timeout`` (env ``AIRFLOW__AGENTIC_MLOPS__MIGRATION_LOCK_TIMEOUT``): seconds
    a process opening the state store waits at most for another process's migration of it; unset:
    :data:`~airflow_provider_agentic_mlops.core.state.DEFAULT_MIGRATION_LOCK_TIMEOUT` (300).

    :raises SettingInvalid: the value is not a positive number of seconds.
    """
    from airflow.configuration import conf

    from airflow_provider_agentic_mlops.core.state import DEFAULT_MIGRATION_LOCK_TIMEOUT

    raw = conf.get("agentic_mlops", "migration_lock_timeout", fallback="")
    if not raw.strip():
        return DEFAULT_MIGRATION_LOCK_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise SettingInvalid(
            f"[agentic_mlops] migration_lock_timeout = {raw!r} is not a positive number of seconds: set it to one "
            f"(env AIRFLOW__AGENTIC_MLOPS__MIGRATION_LOCK_TIMEOUT), or remove it for the default "
            f"{DEFAULT_MIGRATION_LOCK_TIMEOUT:g}"
        )
    return seconds
