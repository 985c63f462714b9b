"""Model DAGs as the dag-processor leaves them in Airflow's metadata DB (for the plugin's reads of it)."""

from __future__ import annotations

from typing import Any


def parsed_dag(
    dag_id: str, *, paused: bool, description: str, tags: list[str], timetable_summary: str | None = None
) -> None:
    """A DAG as the dag-processor leaves it in Airflow's metadata DB: its row, description and tags.

    :param timetable_summary: its schedule as Airflow summarises it ("None" for ``schedule=None``)."""
    from airflow.models.dag import DagModel, DagTag
    from airflow.utils.session import create_session

    with create_session() as session:
        session.add(
            DagModel(
                dag_id=dag_id,
                bundle_name="dags-folder",
                is_paused=paused,
                is_stale=False,
                description=description,
                max_active_tasks=16,
                max_consecutive_failed_dag_runs=0,
                has_task_concurrency_limits=False,
                timetable_summary=timetable_summary,
            )
        )
        session.flush()
        session.add_all(DagTag(name=tag, dag_id=dag_id) for tag in tags)


def parsed_dags(dags: dict[str, Any]) -> None:
    """The DAGs the DAG factory built (dag_id -> DAG), parsed: each with its description and tags, unpaused."""
    for dag_id, dag in dags.items():
        parsed_dag(dag_id, paused=False, description=dag.description or "", tags=sorted(dag.tags))
