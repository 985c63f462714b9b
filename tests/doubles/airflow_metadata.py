"""Test double: Airflow's metadata database reduced to its ``task_instance`` and ``dag`` tables, in SQLite.

What the provider reads outside a task (``liveness.read_task_state``: the API server, the CLI) comes from this
table through ``airflow.settings.engine``. Not a feature.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any


def task_instance_db(path: Path) -> Any:
    """A SQLite engine whose database has Airflow's ``task_instance`` table (and the tables it refers to)."""
    import sqlalchemy as sa
    from airflow.models import import_all_models
    from airflow.models.taskinstance import TaskInstance

    engine = sa.create_engine(f"sqlite:///{path}")
    import_all_models()  # the task_instance table's foreign keys name the others
    TaskInstance.__table__.metadata.create_all(engine)
    return engine


def add_task_instance(engine: Any, dag_id: str, run_id: str, task_id: str, map_index: int, state: str | None) -> None:
    """Insert one task instance row with ``state``."""
    from airflow.models.taskinstance import TaskInstance

    table = TaskInstance.__table__
    # the columns a row needs (NOT NULL, no default), besides the key and the state
    needs = {"pool": "default_pool", "pool_slots": 1, "try_number": 0, "max_tries": 0, "hostname": ""}
    needs |= {"priority_weight": 1}
    key = {"id": uuid.uuid4(), "dag_id": dag_id, "task_id": task_id, "run_id": run_id, "map_index": map_index}
    with engine.begin() as conn:
        conn.execute(table.insert().values(**key, state=state, **{k: v for k, v in needs.items() if k in table.c}))


def add_dag(engine: Any, dag_id: str) -> None:
    """Insert the ``dag`` row of ``dag_id``: the DAG is known to this metadata database (the deployment's)."""
    from airflow.models.dag import DagModel

    table = DagModel.__table__
    needs = {"bundle_name": "dags-folder", "timetable_partitioned": False, "timetable_periodic": False}
    needs |= {"max_active_tasks": 16, "max_consecutive_failed_dag_runs": 0, "has_task_concurrency_limits": False}
    with engine.begin() as conn:
        conn.execute(table.insert().values(dag_id=dag_id, **{k: v for k, v in needs.items() if k in table.c}))
