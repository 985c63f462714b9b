"""``[agentic_mlops]`` settings read by more than one component (DAG factory, hooks, CLI, web plugin).

Cheap to import: the DAG processor reads them at parse time, where the hooks and the state store stay
unimported.
"""

from __future__ import annotations

from airflow_provider_agentic_mlops.core.connections import DEFAULT_STATE_CONN_ID


def configured_state_conn_id() -> str:
    """The deployment's state-store connection: ``[agentic_mlops] state_conn_id`` (env
    ``AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID``), else :data:`DEFAULT_STATE_CONN_ID`.

    The DAG factory (for models that name none), the CLI and the web plugin all default to it, so
    setting it moves them to one store together.
    """
    from airflow.configuration import conf

    return conf.get("agentic_mlops", "state_conn_id", fallback="") or DEFAULT_STATE_CONN_ID
