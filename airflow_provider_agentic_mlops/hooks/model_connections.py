"""Whether the Airflow connections a model names are there and usable, checked before they are needed: before a
person is asked to approve a promotion the promote connection could not make, and by ``models validate``. A
connection lookup only (Airflow's secrets backends, environment and metadata DB), never a call to MLflow, Slack or
the LLM."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_agentic_mlops.hooks.connection import ConnectionExtraInvalid

if TYPE_CHECKING:
    from airflow_provider_agentic_mlops.core.config import ModelSpec


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


def state_connection_problem(conn_id: str) -> str | None:
    """Why the state store connection ``conn_id`` cannot be used (the error opening the store would raise, naming
    the connection and the fix), or None when, as far as the connection says, it can: it exists and gives a store
    URL, or is the default id, absent (SQLite under $AIRFLOW_HOME). The database is not connected to.

    :param conn_id: the connection id.
    :raises ConnectionLookupFailed: a secrets backend failed: whether the connection exists is unknown.
    """
    from airflow_provider_agentic_mlops.hooks.state import (
        StateConnectionInvalid,
        StateConnectionNotFound,
        resolve_state_url,
    )

    try:
        resolve_state_url(conn_id)
    except (StateConnectionNotFound, StateConnectionInvalid, ConnectionExtraInvalid) as err:
        return str(err)
    return None


def mlflow_connection_problem(conn_id: str, access: str, purpose: str) -> str | None:
    """Why the MLflow connection ``conn_id`` cannot be used for ``purpose`` with access ``access`` (the hook's error,
    naming the connection and the fix), or None when, as far as the connection says, it can, and for a default id
    that does not exist (the local tracking URI). MLflow is not called.

    :param conn_id: the connection id.
    :param access: the access the use needs: ``read``, ``train`` or ``promote``.
    :param purpose: what uses it, for the message (``"registry_conn_id of model 'fraud'"``).
    :raises ConnectionLookupFailed: a secrets backend failed: whether the connection exists is unknown.
    """
    from airflow_provider_agentic_mlops.hooks.connection import get_connection_or_none
    from airflow_provider_agentic_mlops.hooks.mlflow import (
        DEFAULT_ACCESS,
        MlflowAccessError,
        MlflowConnectionInvalid,
        MlflowConnectionNotFound,
        MlflowRegistryHook,
    )

    if conn_id in DEFAULT_ACCESS and get_connection_or_none(conn_id) is None:
        return None  # the local tracking URI: what the hook would log at every model is no problem
    try:
        MlflowRegistryHook(conn_id).require_access(access, purpose)
    except (MlflowConnectionNotFound, MlflowConnectionInvalid, MlflowAccessError, ConnectionExtraInvalid) as err:
        return str(err)
    return None


def model_connection_problems(spec: ModelSpec) -> list[str]:
    """What is wrong with each connection ``spec`` names, one line each: ``model '<name>': <setting> '<id>': `` and
    the error the task using it would fail with (the hooks' own words, which name the connection and its fix).

    Checked: the state store's (``state_conn_id``, else ``[agentic_mlops] state_conn_id``), the three MLflow ones
    (each with the access its tasks need: ``registry_conn_id`` read, ``retrain.mlflow_conn_id`` train,
    ``promote_conn_id`` promote), the LLM's unless ``decision.mode`` is ``rules``, and Slack's when a channel is set.
    A default id that does not exist is no problem where the provider falls back without it (SQLite, the local
    tracking URI, the rules deciding alone, no Slack); ``decision.mode: llm`` without its LLM is one.

    :param spec: a valid model entry.
    :raises ConnectionLookupFailed: a secrets backend failed: whether the connections exist is unknown.
    """
    from airflow_provider_agentic_mlops.core.connections import DEFAULT_LLM_CONN_ID, DEFAULT_SLACK_CONN_ID
    from airflow_provider_agentic_mlops.hooks.connection import get_connection_or_none
    from airflow_provider_agentic_mlops.hooks.llm import LLMHook
    from airflow_provider_agentic_mlops.settings import configured_state_conn_id

    problems: list[str] = []

    def add(setting: str, conn_id: str, problem: str | None) -> None:
        if problem is not None:
            problems.append(f"model {spec.name!r}: {setting} {conn_id!r}: {problem}")

    state = spec.state_conn_id or configured_state_conn_id()
    add(
        "state_conn_id" if spec.state_conn_id else "[agentic_mlops] state_conn_id",
        state,
        state_connection_problem(state),
    )
    for setting, conn_id, access in (
        ("registry_conn_id", spec.registry_conn_id, "read"),
        ("retrain.mlflow_conn_id", spec.retrain.mlflow_conn_id, "train"),
        ("promote_conn_id", spec.promote_conn_id, "promote"),
    ):
        add(setting, conn_id, mlflow_connection_problem(conn_id, access, f"{setting} of model {spec.name!r}"))
    llm = spec.decision.llm_conn_id
    if spec.decision.mode == "llm" or (spec.decision.mode == "auto" and llm != DEFAULT_LLM_CONN_ID):
        try:
            _ = LLMHook(llm).settings  # reading them checks the connection
        except ValueError as err:  # the LLM hook's: absent, or its extra unusable
            add("decision.llm_conn_id", llm, str(err))
    slack = spec.approval.slack_conn_id
    channel = spec.approval.channel or spec.approval.escalation_channel
    if channel and slack != DEFAULT_SLACK_CONN_ID and get_connection_or_none(slack) is None:
        problems.append(
            f"model {spec.name!r}: approval.slack_conn_id {slack!r}: Slack connection {slack!r} does not exist, so "
            f"channel {channel!r} gets no approval requests or escalations. Fix the id, or create it: airflow "
            f"connections add {slack} --conn-type slack --conn-password xoxb-<the bot token>"
        )
    return problems
