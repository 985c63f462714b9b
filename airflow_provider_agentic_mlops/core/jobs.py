"""When a retraining job is presumed dead, or overdue: the liveness rules of the state store's jobs.

A job records its limits when it starts (``details``: ``timeout_minutes``, ``heartbeat_timeout_minutes``,
``task_id``). It is *stale* (failed by :meth:`StateStore.fail_stale_jobs`, which every reader of the
in-flight job calls) when its heartbeat is older than ``heartbeat_timeout``, when it cannot heartbeat and
runs longer than ``timeout``, or when the Airflow task that owns it has ended. It is *overdue* (the decide
step escalates) when it still looks alive but runs longer than ``timeout``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_agentic_mlops.core.approval_policy import TASK_INSTANCE_DELETED

log = logging.getLogger(__name__)

#: A job's limits when it did not record its own (``details.timeout_minutes`` / ``heartbeat_timeout_minutes``).
DEFAULT_JOB_TIMEOUT = timedelta(minutes=120)
DEFAULT_HEARTBEAT_TIMEOUT = timedelta(minutes=10)
#: Airflow task states in which the task that owns a job no longer runs it (the process is gone), and
#: :data:`TASK_INSTANCE_DELETED`: Airflow has no such task instance (its run was deleted), so nothing runs it.
TASK_ENDED_STATES = frozenset(
    {"failed", "success", "upstream_failed", "skipped", "removed", "up_for_retry", TASK_INSTANCE_DELETED}
)

#: ``task_state(dag_id, run_id, task_id, map_index)``: the Airflow state of the task instance that owns a job
#: (``map_index`` -1 unless the task is mapped); None when it has no state yet (e.g. just cleared) or is unknown,
#: :data:`TASK_INSTANCE_DELETED` when Airflow has no such task instance.
TaskStateReader = Callable[[str, str, str, int], "str | None"]


def job_limits(job: Mapping[str, Any]) -> tuple[timedelta, timedelta | None]:
    """``(timeout, heartbeat_timeout)`` the job recorded in its details when it started; the heartbeat
    timeout is None for a job that cannot heartbeat (a deferred wait on a training DAG)."""
    details = job.get("details") or {}
    timeout = details.get("timeout_minutes")
    timeout_td = timedelta(minutes=float(timeout)) if timeout else DEFAULT_JOB_TIMEOUT
    if "heartbeat_timeout_minutes" not in details:  # a job started before jobs recorded their limits
        return timeout_td, None if details.get("backend") == "trigger_dag" else DEFAULT_HEARTBEAT_TIMEOUT
    beat = details["heartbeat_timeout_minutes"]
    return timeout_td, timedelta(minutes=float(beat)) if beat else None


def stale_reason(job: Mapping[str, Any], now: datetime, task_state: TaskStateReader | None = None) -> str | None:
    """Why the running ``job`` is presumed dead, or None while it may be alive."""
    timeout, heartbeat_timeout = job_limits(job)
    if heartbeat_timeout is not None and now - job["heartbeat_at"] > heartbeat_timeout:
        return (
            f"no heartbeat since {job['heartbeat_at']:%Y-%m-%d %H:%M:%S} UTC, longer than heartbeat_timeout "
            f"{heartbeat_timeout}; the worker is presumed dead"
        )
    if heartbeat_timeout is None and now - job["started_at"] > timeout:
        return (
            f"running since {job['started_at']:%Y-%m-%d %H:%M:%S} UTC, longer than its timeout {timeout}, "
            "without a heartbeat to show it alive; presumed lost"
        )
    details = job.get("details") or {}
    task_id = details.get("task_id")
    if task_state is not None and job.get("dag_id") and job.get("run_id") and task_id:
        map_index = _task_map_index(details)
        try:
            state = task_state(job["dag_id"], job["run_id"], task_id, -1 if map_index is None else map_index)
        except Exception as err:  # the check is extra evidence; the heartbeat rule stands without it
            log.warning("could not read the state of job %s's task: %s", job["id"], err)
            state = None
        if state == TASK_INSTANCE_DELETED and map_index is None:
            # started before jobs recorded their map index: a mapped task has no unmapped task instance, so a
            # missing one may be a live copy; such a job is judged by its limits alone, as before
            state = None
        if state in TASK_ENDED_STATES:
            mapped = map_index is not None and map_index >= 0
            task = f"{job['dag_id']}/{job['run_id']}/{task_id}" + (f"[{map_index}]" if mapped else "")
            what = "no longer in Airflow (its run was deleted)" if state == TASK_INSTANCE_DELETED else state
            return f"its Airflow task {task} is {what}; the process that ran the job is gone"
    return None


def _task_map_index(details: Mapping[str, Any]) -> int | None:
    """The map index of the job's task instance (``details.task_map_index``, -1: not mapped), None when the job
    did not record one (started by an earlier release)."""
    try:
        return int(details["task_map_index"])
    except (KeyError, TypeError, ValueError):
        return None


def job_overdue(job: Mapping[str, Any], now: datetime) -> str | None:
    """Why a running job that still looks alive is past its timeout (a person must look), or None."""
    started = job.get("started_at")
    if not isinstance(started, datetime):
        return None
    timeout, _ = job_limits(job)
    if now - (started.astimezone(timezone.utc).replace(tzinfo=None) if started.tzinfo else started) > timeout:
        return (
            f"job {job['id']} has been running since {job['started_at']:%Y-%m-%d %H:%M} UTC, longer than its "
            f"timeout of {timeout}"
        )
    return None
