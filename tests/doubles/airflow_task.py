"""Test double: the few parts of an Airflow task context the provider's operators read.

Operators are tested in-process with ``operator.execute(context)``; this gives them a task instance
that stores XComs in a dict, with the dag_id/run_id a real one has. Not a feature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TaskInstanceDouble:
    dag_id: str = "agentic_mlops__m"
    run_id: str = "manual__2026-01-01T00:00:00+00:00"
    task_id: str = "task"
    try_number: int = 1
    xcoms: dict[tuple[str, str], Any] = field(default_factory=dict)
    pushed: dict[str, Any] = field(default_factory=dict)
    #: ``(dag_id, run_id)`` of the DAG runs Airflow has (read by ``get_dr_count``)
    dag_runs: set[tuple[str, str]] = field(default_factory=set)

    def get_dr_count(self, dag_id: str, run_ids: list[str] | None = None, **_: Any) -> int:
        return sum(1 for dag, run in self.dag_runs if dag == dag_id and (run_ids is None or run in run_ids))

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **_: Any) -> Any:
        return self.xcoms.get((task_ids or self.task_id, key))

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.pushed[key] = value


def task_context(
    *, dag_id: str = "agentic_mlops__m", run_id: str = "manual__1", xcoms: dict[tuple[str, str], Any] | None = None
) -> dict[str, Any]:
    """A context with ``ti``/``task_instance``, ``dag_run``-like ids and the given upstream XComs
    (``{(task_id, key): value}``)."""
    ti = TaskInstanceDouble(dag_id=dag_id, run_id=run_id, xcoms=dict(xcoms or {}))
    return {"ti": ti, "task_instance": ti, "run_id": run_id}


def extra_link(link: Any, operator: Any, ti: TaskInstanceDouble) -> tuple[str, list[str]]:
    """What the Task SDK's ``finalize()`` computes for ``link`` of ``operator`` after a try, success or failure:
    the link's URL from the XComs ``ti`` was pushed, and the keys the link read that were never pushed (each one
    an ``XCom not found`` ERROR in the task's log, from the execution API's 404)."""
    from unittest import mock

    missing: list[str] = []

    def get_value(*, ti_key: Any, key: str) -> Any:
        if key not in ti.pushed:
            missing.append(key)
        return ti.pushed.get(key)

    with mock.patch("airflow.sdk.execution_time.xcom.XCom.get_value", side_effect=get_value):
        return link.get_link(operator, ti_key=ti), missing
