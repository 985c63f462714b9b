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

log = logging.getLogger(__name__)

#: A job's limits when it did not record its own (``details.timeout_minutes`` / ``heartbeat_timeout_minutes``).
DEFAULT_JOB_TIMEOUT = timedelta(minutes=120)
DEFAULT_HEARTBEAT_TIMEOUT = timedelta(minutes=10)
#: Airflow task states in which the task that owns a job no longer runs it (the process is gone).
TASK_ENDED_STATES = frozenset({"failed", "success", "upstream_failed", "skipped", "removed", "up_for_retry"})

#: ``task_state(dag_id, run_id, task_id)``: the Airflow state of the task that owns a job, or None when unknown.
TaskStateReader = Callable[[str, str, str], "str | None"]


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
    task_id = (job.get("details") or {}).get("task_id")
    if task_state is not None and job.get("dag_id") and job.get("run_id") and task_id:
        try:
            state = task_state(job["dag_id"], job["run_id"], task_id)
        except Exception as err:  # the check is extra evidence; the heartbeat rule stands without it
            log.warning("could not read the state of job %s's task: %s", job["id"], err)
            state = None
        if state in TASK_ENDED_STATES:
            return (
                f"its Airflow task {job['dag_id']}/{job['run_id']}/{task_id} is {state}; "
                "the process that ran the job is gone"
            )
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
