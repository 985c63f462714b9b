"""What Airflow knows about the tasks behind the provider's jobs and approvals.

A SIGKILLed worker closes nothing: the retraining job it ran stays ``running`` and the approval
request it waited on stays ``pending``. Two things end them anyway:

* :func:`read_task_state` lets every reader of the in-flight job ask Airflow whether the task that
  owns it still runs (see ``core/jobs.py``); inside a task through the Task SDK, elsewhere (CLI, API
  server) through the metadata database;
* the ``on_failure_callback`` s below, which Airflow runs when it fails the task (in the task process,
  or in the DAG processor when the process died), close the job or the request of that task's run.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def with_callback(existing: Any, callback: Callable[..., Any]) -> list[Callable[..., Any]]:
    """A task's callbacks argument (None, one callable or a list) with ``callback`` appended."""
    if existing is None:
        return [callback]
    return [*existing, callback] if isinstance(existing, (list, tuple)) else [existing, callback]


def read_task_state(
    dag_id: str, run_id: str, task_id: str, map_index: int = -1, *, missing: str | None = None
) -> str | None:
    """The state of one task instance in Airflow, or None when Airflow does not know it.

    :param map_index: the copy of a mapped task (``partial().expand()``); -1 for a task that is not mapped.
    :param missing: returned instead of None when Airflow has no such task instance (e.g. its run was deleted),
        so a caller can tell it from one that exists without a state yet (e.g. just cleared).
    :raises DagNotInMetadataDatabase: with ``missing``, read from the metadata database, when that database has no
        such task instance and not even the DAG: it is not the deployment's (a CLI's AIRFLOW_HOME pointing at another
        one), so the run cannot be taken as deleted.
    """
    from airflow.sdk.execution_time import task_runner

    if getattr(task_runner, "SUPERVISOR_COMMS", None) is not None:  # inside a task: no database access
        states = task_runner.RuntimeTaskInstance.get_task_states(
            dag_id=dag_id, map_index=map_index, task_ids=[task_id], run_ids=[run_id]
        )
        of_run = states.get(run_id) or {}
        key = task_id if map_index < 0 else f"{task_id}_{map_index}"  # how the Execution API names a mapped copy
        if key not in of_run:
            return missing
        state = of_run[key]
        return str(state) if state is not None else None
    from airflow import settings

    # A plain connection and a statement compiled once: an ORM session and query cost several times
    # more CPU, paid on every Slack click (which checks that its run still waits).
    params = {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index}
    with settings.engine.connect() as conn:
        row = conn.execute(_task_state_statement(), params).first()
        if row is None and missing is not None and conn.execute(_dag_statement(), {"dag_id": dag_id}).first() is None:
            raise DagNotInMetadataDatabase(dag_id, run_id, settings.engine.url.render_as_string(hide_password=True))
    if row is None:
        return missing
    return str(row[0]) if row[0] is not None else None


class DagNotInMetadataDatabase(LookupError):
    """The metadata database read has no task instance of a run, nor the run's DAG: it is not the deployment's, so
    nothing can be concluded about the run (in particular not that it was deleted).

    :param dag_id: the DAG looked for.
    :param run_id: the run looked for.
    :param url: the database read, without its password.
    """

    def __init__(self, dag_id: str, run_id: str, url: str) -> None:
        self.dag_id, self.run_id, self.url = dag_id, run_id, url
        super().__init__(
            f"Airflow's metadata database this process reads ({url}) has no DAG {dag_id}, so it does not hold run "
            f"{run_id}: it is not the deployment's; check AIRFLOW_HOME and [database] sql_alchemy_conn "
            "(AIRFLOW__DATABASE__SQL_ALCHEMY_CONN) where this runs"
        )


def job_task_state(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str | None:
    """:func:`read_task_state` for the readers of a model's in-flight job (``core/jobs.py``'s ``TaskStateReader``):
    :data:`~airflow_provider_agentic_mlops.core.approval_policy.TASK_INSTANCE_DELETED` when Airflow has no such
    task instance (its run was deleted), so the job it owned is failed instead of holding the model's job lock
    until its timeout."""
    from airflow_provider_agentic_mlops.core.approval_policy import TASK_INSTANCE_DELETED

    return read_task_state(dag_id, run_id, task_id, map_index, missing=TASK_INSTANCE_DELETED)


def map_index_of(ti: Any) -> int:
    """The map index of task instance ``ti`` (a mapped task's copy), -1 when it is not mapped."""
    map_index = getattr(ti, "map_index", None)
    return map_index if isinstance(map_index, int) and not isinstance(map_index, bool) else -1


@functools.cache
def _task_state_statement() -> Any:
    """``SELECT state FROM task_instance WHERE dag_id, run_id, task_id, map_index = :params``."""
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import bindparam, select

    table = TaskInstance.__table__
    return select(table.c.state).where(
        table.c.dag_id == bindparam("dag_id"),
        table.c.run_id == bindparam("run_id"),
        table.c.task_id == bindparam("task_id"),
        table.c.map_index == bindparam("map_index"),
    )


@functools.cache
def _dag_statement() -> Any:
    """``SELECT dag_id FROM dag WHERE dag_id = :dag_id``: whether the metadata database knows the DAG."""
    from airflow.models.dag import DagModel
    from sqlalchemy import bindparam, select

    table = DagModel.__table__
    return select(table.c.dag_id).where(table.c.dag_id == bindparam("dag_id"))


def run_of(context: Any) -> tuple[str | None, str | None]:
    """``(dag_id, run_id)`` of the task's DAG run, from its task instance, else from the DAG run (or the
    DAG, in a DAG-level callback's context)."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag_id = (
        getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None) or getattr(context.get("dag"), "dag_id", None)
    )
    run_id = getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None) or context.get("run_id")
    return dag_id, run_id


def api_not_found(exception: BaseException | None) -> str | None:
    """The detail of the Execution API's 404 that ``exception`` reports, else None: the Task SDK client's
    ``ServerResponseError`` in-process (``dag.test()``), the supervisor's ``AirflowRuntimeError`` relaying it
    under an executor (``API_SERVER_ERROR: {'status_code': 404, ...}``)."""
    if getattr(getattr(exception, "response", None), "status_code", None) == 404:
        return str(getattr(exception, "detail", None) or exception)
    detail = getattr(getattr(exception, "error", None), "detail", None)
    if isinstance(detail, dict) and detail.get("status_code") == 404:
        return str(detail)
    return None


def training_dag_not_found(task: Any, exception: BaseException | None) -> bool:
    """Whether ``exception`` is the API server refusing to trigger ``task``'s training DAG: no DAG has its id."""
    trigger_dag_id = getattr(task, "trigger_dag_id", None)
    detail = api_not_found(exception)
    return bool(trigger_dag_id) and detail is not None and "not_found" in detail and f"'{trigger_dag_id}'" in detail


def fail_job_of_failed_task(context: Any) -> None:
    """``on_failure_callback`` of RetrainOperator: fail the running job this task's run started. When its
    training DAG could not be triggered (no DAG has the id) the job says so and never started: it does not
    count toward the retrain budget."""
    from airflow_provider_agentic_mlops.core.retraining import same_run, unknown_training_dag_error
    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    task = context["task"]
    dag_id, run_id = run_of(context)
    try:
        store = StateStoreHook(task.state_conn_id).get_store()
        job = store.inflight_job(task.model_name)
        if job is None or not same_run(job, dag_id, run_id):
            return
        if training_dag_not_found(task, context.get("exception")):
            error = unknown_training_dag_error(task.model_name, task.trigger_dag_id)
            store.finish_job(job["id"], status="failed", error=error, never_started=True)
            log.error("%s. Job %s is closed without spending the retrain budget.", error, job["id"])
        else:
            store.finish_job(job["id"], status="failed", error=f"task {dag_id}/{run_id}/{task.task_id} failed")
            log.warning("Marked job %s of %s failed: its task failed", job["id"], task.model_name)
    except Exception:  # a callback must not hide the task's own failure; staleness still ends the job
        log.exception("Could not close the retraining job of %s/%s", dag_id, run_id)


def cancel_approval_of_failed_task(context: Any) -> None:
    """``on_failure_callback`` of ApprovalSensor: its run can no longer promote, so its open request is
    cancelled and a later Approve answers so instead of being recorded. Its Slack message is updated to
    say so, without buttons (best effort: a Slack failure is logged). A state store unreachable for now
    (:func:`store_outage`) is retried for up to 30 s, as closing a job is; after that the log says what to do."""
    from airflow_provider_agentic_mlops.core import state
    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    task = context["task"]
    dag_id, run_id = run_of(context)

    def cancel() -> tuple[Any, list[int]]:
        store = StateStoreHook(task.state_conn_id).get_store()
        return store, store.close_approvals_of_run(
            task.model_name,
            dag_id=str(dag_id),
            run_id=str(run_id),
            status=state.CANCELLED,
            reason=f"task {dag_id}/{run_id}/{task.task_id} failed; its run cannot promote",
            expired_too=True,  # a clear of the sensor then asks again (a deny stands)
        )

    try:  # repeating it is safe: it closes only requests still open
        store, closed = state.retry_close(store_outage)(cancel)()
    except Exception as err:
        log.error(_not_cancelled(task.model_name, dag_id, run_id, err), exc_info=True)
        return
    if closed:
        log.warning("Cancelled approval request(s) %s: the run that waited on them failed", closed)
    from airflow_provider_agentic_mlops.approvals import refresh_closed

    refresh_closed(store, closed)  # their Slack messages say so and lose their buttons (best effort)


def store_outage(err: BaseException) -> bool:
    """Whether ``err`` is the state store unreachable for now (:func:`~airflow_provider_agentic_mlops.core.state.
    is_transient`, also as the cause of the hook's ``StateStoreUnavailable``), or a lookup of its connection that
    failed (the Execution API, the metadata DB or a secrets backend unreachable): worth trying again."""
    from airflow_provider_agentic_mlops.core.state import is_transient
    from airflow_provider_agentic_mlops.hooks.connection import ConnectionLookupFailed
    from airflow_provider_agentic_mlops.hooks.state import StateStoreUnavailable

    if isinstance(err, ConnectionLookupFailed):
        return True
    cause = err.__cause__ if isinstance(err, StateStoreUnavailable) else err
    return cause is not None and is_transient(cause)


def _not_cancelled(model_name: str, dag_id: Any, run_id: Any, err: BaseException) -> str:
    """The failure callback's error when the request of a failed run could not be cancelled, with what to do."""
    from airflow_provider_agentic_mlops.core import state
    from airflow_provider_agentic_mlops.core.commands import command
    from airflow_provider_agentic_mlops.core.errors import describe

    list_pending = f"approvals list --model {model_name} --status pending"
    tried = f" (unreachable for {state.CLOSE_RETRY_SECONDS:g} s)" if store_outage(err) else ""
    return (
        f"Could not cancel the approval request of model {model_name!r} in {dag_id}/{run_id}, whose run failed: "
        f"the state store{tried} raised {describe(err)}. The request stays pending (approvals list, models list) "
        "and its Slack message keeps its buttons until its deadline; a click on them records nothing and cancels "
        f"it. To cancel it now, once the store answers: find it with `{command(list_pending)}` and run "
        f"`{command('approvals deny ID')}`, which finds the run failed and cancels the request (recording no deny)"
    )


__all__ = [
    "api_not_found",
    "cancel_approval_of_failed_task",
    "fail_job_of_failed_task",
    "DagNotInMetadataDatabase",
    "job_task_state",
    "map_index_of",
    "read_task_state",
    "run_of",
    "store_outage",
    "training_dag_not_found",
    "with_callback",
]
