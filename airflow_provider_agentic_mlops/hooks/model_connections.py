"""Whether the Airflow connections a model names are there and usable, checked before they are needed: before a
person is asked to approve a promotion the promote connection could not make. A connection lookup only (Airflow's
secrets backends, environment and metadata DB), never a call to MLflow, Slack or the LLM."""

from __future__ import annotations

from airflow_provider_agentic_mlops.hooks.connection import ConnectionExtraInvalid


def promote_connection_problem(conn_id: str, *, model_name: str) -> str | None:
    """Why the MLflow connection ``conn_id`` cannot promote ``model_name``'s versions, naming the model, the setting,
    the connection and the fix; None when, as far as the connection says, it can: it exists (an absent
    ``agentic_mlops_mlflow_promote`` means the local tracking URI), is an MLflow connection with a host, and has
    access ``promote``. Its credentials and MLflow permissions are MLflow's to check, when promoting.

    :param conn_id: the promote connection (models.yaml's ``promote_conn_id``).
    :param model_name: the model, for the message.
    :raises ConnectionLookupFailed: a secrets backend failed: whether the connection exists is unknown.
    """
    from airflow_provider_agentic_mlops.hooks.mlflow import (
        MlflowAccessError,
        MlflowConnectionInvalid,
        MlflowConnectionNotFound,
        MlflowRegistryHook,
    )

    try:
        MlflowRegistryHook(conn_id).require_access("promote", f"model {model_name!r}'s promotion")
    except (MlflowConnectionNotFound, MlflowConnectionInvalid, ConnectionExtraInvalid, MlflowAccessError) as err:
        return f"model {model_name!r}: its promote_conn_id {conn_id!r} cannot promote: {err}"
    return None
