"""``airflow agentic-mlops jobs list|fail``: the retraining jobs, and failing one by hand.

A job whose worker died is failed by the next reader of the in-flight job once its heartbeat is older than
``heartbeat_timeout``, or when Airflow ends its task. ``jobs fail`` is for the row nothing else will close
(a worker VM deleted with ``heartbeat_timeout`` raised high, a training DAG run deleted by hand): the person
is the OS login (mapped by ``[agentic_mlops] approver_identities``, as for a rollback) and the reason goes
into the job's error and the audit trail.

Store: ``--state-conn-id``, else the models file's ``state_conn_id`` of ``--model``, else the deployment's
(``[agentic_mlops] state_conn_id``). Job ids are numbered per store; with ``--model`` another model's job is
refused.
"""

from __future__ import annotations

import argparse
from typing import Any

from airflow_provider_agentic_mlops.cli.output import CommandStopped, confirm, print_json, print_rows
from airflow_provider_agentic_mlops.cli.state_stores import (
    declared_stores,
    note_other_stores,
    open_store,
    store_conn_id,
)

_COLUMNS = ("id", "model_name", "status", "started_at", "heartbeat_at", "finished_at", "dag_id", "run_id", "error")


def jobs_list(args: argparse.Namespace) -> None:
    """Print the newest jobs (optionally of one model, or in one status), after failing the stale ones."""
    declared = declared_stores(args)
    conn_id = store_conn_id(args, declared)
    store = open_store(conn_id)
    model = getattr(args, "model", None)
    from airflow_provider_agentic_mlops.liveness import job_task_state

    # as every reader of the in-flight job (models list, decide): a job whose heartbeat stopped, or whose task
    # Airflow already ended (a SIGKILLed task process runs no failure callback), shows failed
    store.fail_stale_jobs(model_name=model, task_state=job_task_state)
    status = getattr(args, "status", "all")
    rows = store.list_jobs(model, status=None if status in (None, "all") else status, limit=args.limit)
    print_rows(rows, _COLUMNS, getattr(args, "output", "table") or "table")
    note_other_stores(args, declared, conn_id, "jobs")


def jobs_fail(args: argparse.Namespace) -> dict[str, Any]:
    """Fail the running job ``args.job_id`` with ``args.reason`` (asks first unless ``--yes``)."""
    from airflow_provider_agentic_mlops.approvals import configured_identities
    from airflow_provider_agentic_mlops.cli.commands.approvals import os_user
    from airflow_provider_agentic_mlops.hooks.state import shown_url
    from airflow_provider_agentic_mlops.version_compat import command

    voter = configured_identities().cli(os_user())  # a broken identity map is said before anything is asked
    declared = declared_stores(args)
    conn_id = store_conn_id(args, declared)
    store = open_store(conn_id)
    model = getattr(args, "model", None)
    job_id = int(args.job_id)
    job = store.get_job(job_id)
    if job is None:
        raise CommandStopped(
            f"job {job_id} is not in the state store {conn_id!r} ({shown_url(store.url)}); list the ids with "
            f"`{command('jobs list')}` (job ids are numbered per state store: add --model or --state-conn-id)."
        )
    if model and job["model_name"] != model:
        raise CommandStopped(
            f"job {job_id} in state store {conn_id!r} is {job['model_name']}'s, not {model}'s (job ids are "
            f"numbered per state store); list {model}'s with `{command(f'jobs list --model {model}')}`."
        )
    if job["status"] != "running":
        raise CommandStopped(_not_running(job))
    confirm(
        f"Fail job {job_id} of {job['model_name']} (DAG {job['dag_id']}, run {job['run_id']}, running since "
        f"{job['started_at']:%Y-%m-%d %H:%M} UTC, last heartbeat {job['heartbeat_at']:%Y-%m-%d %H:%M:%S} UTC) "
        f"as {voter.person}? A worker still training it will have its version refused",
        yes=getattr(args, "yes", False),
        action=f"fail job {job_id}",
        cancelled="cancelled; nothing changed",
    )
    identity = {k: v for k, v in voter.details.items() if v}
    job, failed = store.fail_job_by_hand(job_id, actor=voter.person, reason=args.reason, identity=identity)
    if not failed:  # it ended while we asked
        raise CommandStopped(_not_running(job))  # type: ignore[arg-type]
    if (getattr(args, "output", "table") or "table") == "json":
        print_json(job)
    else:
        training_dag = (job.get("details") or {}).get("trigger_dag_id")
        if training_dag and job.get("external_ref"):  # Airflow runs the training DAG run on: the job only waited on it
            from airflow_provider_agentic_mlops.core.retraining import training_run_still_running

            after = training_run_still_running(training_dag, job["external_ref"])
        else:
            after = "The model can retrain again."
        print(f"Job {job_id} ({job['model_name']}, run {job['run_id']}) is failed: {job['error']}. {after}")
    return job  # type: ignore[return-value]


def _not_running(job: dict[str, Any]) -> str:
    ended = f" at {job['finished_at']:%Y-%m-%d %H:%M:%S} UTC" if job.get("finished_at") else ""
    why = f" ({job['error']})" if job.get("error") else ""
    return f"job {job['id']} of {job['model_name']} is already {job['status']}{ended}{why}; nothing changed."
