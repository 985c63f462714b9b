"""``airflow agentic-mlops models list``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_agentic_mlops.cli.output import print_rows
from airflow_provider_agentic_mlops.core.config import load_models
from airflow_provider_agentic_mlops.core.errors import describe
from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

if TYPE_CHECKING:
    from airflow_provider_agentic_mlops.core.config import ModelSpec
    from airflow_provider_agentic_mlops.core.state import StateStore

log = logging.getLogger(__name__)


#: The champion cell when the registry could not be asked (unreachable, refused, misconfigured): not "no champion".
UNKNOWN_CHAMPION = "?"


def _champion_version(registered_model: str, conn_id: str) -> str | None:
    """The champion's version, None when there is none yet, :data:`UNKNOWN_CHAMPION` (with a warning naming
    the connection and the error) when the registry could not say."""
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook

    try:
        return MlflowRegistryHook(conn_id).get_alias_version(registered_model, "champion")
    except Exception as err:  # noqa: BLE001 - one model's registry error must not hide the other rows
        log.warning(
            "champion of %s unknown (shown as %r): MLflow connection %r failed: %s",
            registered_model,
            UNKNOWN_CHAMPION,
            conn_id,
            describe(err, 200),
        )
        return UNKNOWN_CHAMPION


def blocked_reason(store: StateStore, spec: ModelSpec, job: dict[str, Any] | None) -> str | None:
    """Why a retrain of ``spec`` could not start now (a running or overdue job, cooldown, budget), or None."""
    from airflow_provider_agentic_mlops.core.budget import RetrainBudget
    from airflow_provider_agentic_mlops.core.jobs import job_overdue
    from airflow_provider_agentic_mlops.core.state import utcnow

    now = utcnow()
    if job is not None:
        overdue = job_overdue(job, now)
        if overdue:
            return f"{overdue}; runs escalate until it ends"
        return f"job {job['id']} running since {job['started_at']:%Y-%m-%d %H:%M} UTC (run {job.get('run_id')})"
    decision = spec.decision
    budget = RetrainBudget(decision.cooldown_hours, decision.max_retrains, decision.budget_window_hours)
    check = budget.check(store, spec.name, now=now)
    return None if check.allowed else check.reason


def cli_models_file(explicit: str | None = None) -> Path:
    """The models file the DAG file reads: ``explicit`` (``--models-file``), else ``[agentic_mlops]
    models_file``, else ``models.yaml`` in ``[core] dags_folder`` (where ``init`` writes it, beside the DAG
    file), wherever the command runs from.

    :param explicit: a path the user gave; used as is (``~`` expanded).
    """
    from airflow_provider_agentic_mlops.cli.commands.init import default_dags_folder
    from airflow_provider_agentic_mlops.dag_factory import models_file

    if explicit:
        return Path(explicit).expanduser()
    return models_file(default_dags_folder())


def models_list(args: argparse.Namespace) -> None:
    from airflow_provider_agentic_mlops.core.model_history import unfinished_promotions
    from airflow_provider_agentic_mlops.liveness import read_task_state

    path = cli_models_file(args.models_file)
    stores: dict[str | None, StateStore] = {}
    rows = []
    for spec in load_models(path):
        conn_id = args.state_conn_id or spec.state_conn_id  # the model's own store; None: the deployment's
        if conn_id not in stores:
            stores[conn_id] = StateStoreHook(conn_id).get_store()
        store = stores[conn_id]
        job = store.inflight_job(spec.name, task_state=read_task_state)  # fails a dead job first
        last = store.list_decisions(spec.name, limit=1)
        rows.append(
            {
                "model": spec.name,
                "dag_id": spec.dag_id,
                "schedule": spec.schedule,
                "champion": _champion_version(spec.mlflow_model_name, spec.registry_conn_id),
                "running_job": job["id"] if job else None,
                "blocked": blocked_reason(store, spec, job),
                "last_decision": f"{last[0]['final_action']} (#{last[0]['id']})" if last else None,
                "pending_approvals": len(store.list_approvals(status="pending", model_name=spec.name)),
                "promotion": "; ".join(unfinished_promotions(store, spec.name)) or None,
            }
        )
    print_rows(
        rows,
        [
            "model",
            "dag_id",
            "schedule",
            "champion",
            "running_job",
            "blocked",
            "last_decision",
            "pending_approvals",
            "promotion",
        ],
        args.output,
    )
