"""``airflow agentic-mlops models list``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from airflow_provider_agentic_mlops.cli.output import print_rows
from airflow_provider_agentic_mlops.core.config import load_models
from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

log = logging.getLogger(__name__)


def _champion_version(registered_model: str, conn_id: str) -> str | None:
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook

    try:
        return MlflowRegistryHook(conn_id).client().get_model_version_by_alias(registered_model, "champion").version
    except Exception as err:  # no such model/alias yet, or the registry is unreachable
        log.debug("no champion for %s: %s", registered_model, err)
        return None


def models_list(args: argparse.Namespace) -> None:
    from airflow_provider_agentic_mlops.dag_factory import models_file

    path = Path(args.models_file) if args.models_file else models_file(Path.cwd() / "dags")
    store = StateStoreHook(args.state_conn_id).get_store()
    rows = []
    for spec in load_models(path):
        job = store.inflight_job(spec.name)
        last = store.list_decisions(spec.name, limit=1)
        rows.append(
            {
                "model": spec.name,
                "dag_id": spec.dag_id,
                "schedule": spec.schedule,
                "champion": _champion_version(spec.mlflow_model_name, spec.registry_conn_id),
                "running_job": job["id"] if job else None,
                "last_decision": f"{last[0]['final_action']} (#{last[0]['id']})" if last else None,
                "pending_approvals": len(store.list_approvals(status="pending", model_name=spec.name)),
            }
        )
    print_rows(
        rows,
        ["model", "dag_id", "schedule", "champion", "running_job", "last_decision", "pending_approvals"],
        args.output,
    )
