"""The clear an expired request's error prints asks again in a real Airflow: its REST call, sent to Airflow's own API
app (``airflow.api_fastapi.app.create_app``) over a migrated metadata DB, clears the sensor of a run without a
logical date (as an alert, ``airflow dags trigger`` or the UI starts) with its downstream tasks, and only those;
``airflow tasks clear -s/-e`` with the date in its run id clears nothing of it; with a run's recorded logical date
(the form printed for a scheduled run) it clears that run.

Airflow reads AIRFLOW_HOME when it is imported, so the app runs in a subprocess with its own AIRFLOW_HOME (as in
``test_alerts_endpoint``); no scheduler runs, so the test sets the task states in the DB itself.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_agentic_mlops.core.approval_policy import ask_again_command
from tests.conftest import AIRFLOW, REPO

pytestmark = [pytest.mark.slow]

DAG_ID = "agentic_mlops__fraud-detector"
RUN_ID = "alert__2026-11-29T08:10:51.008727+00:00"
BASE = "http://airflow.test"

DAGS_FILE = f"""
from datetime import datetime
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id={DAG_ID!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    EmptyOperator(task_id="decide") >> EmptyOperator(task_id="wait_for_approval") >> EmptyOperator(task_id="promote")
"""

# Airflow's API app in-process with a token its auth manager issued, sending what the printed curl sends
CLIENT = """
import json, sys
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app, get_auth_manager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

app = create_app()
with TestClient(app) as client:
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    headers = {**json.loads(sys.argv[2]), "Authorization": f"Bearer {token}"}
    response = client.post(sys.argv[1], content=sys.argv[3], headers=headers)
    print(json.dumps({"status": response.status_code, "body": response.json()}))
"""


def _run(cmd: list[str], env: dict[str, str]) -> str:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def _sql(url: str, query: str, **params: Any) -> list[Any]:
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(query), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _as_expired_left_it(db: str, run_id: str) -> None:
    """Run ``run_id`` as an expired request leaves it: decided, the sensor failed, promote never ran."""
    _sql(db, "UPDATE dag_run SET state = 'failed' WHERE run_id = :r", r=run_id)
    for task_id, state in (("decide", "success"), ("wait_for_approval", "failed"), ("promote", "upstream_failed")):
        _sql(db, "UPDATE task_instance SET state = :s WHERE run_id = :r AND task_id = :t", s=state, r=run_id, t=task_id)


def _states(db: str, run_id: str) -> dict[str, str | None]:
    return dict(_sql(db, "SELECT task_id, state FROM task_instance WHERE run_id = :r", r=run_id))


def test_the_printed_rest_call_clears_the_sensor_and_its_downstream_tasks_of_a_run_without_a_logical_date(
    tmp_path: Path,
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "model.py").write_text(DAGS_FILE)
    db = f"sqlite:///{tmp_path / 'airflow.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update(
        AIRFLOW_HOME=str(tmp_path),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__AUTH_MANAGER="airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=db,
        AIRFLOW__API_AUTH__JWT_SECRET="ask-again-test-secret-0123456789abcdef",
        PYTHONPATH=str(REPO),
    )
    _run([*AIRFLOW, "db", "migrate"], env)
    _run([*AIRFLOW, "dags", "reserialize"], env)
    _run([*AIRFLOW, "dags", "trigger", DAG_ID, "--run-id", RUN_ID], env)
    assert _sql(db, "SELECT logical_date FROM dag_run WHERE run_id = :r", r=RUN_ID) == [(None,)]
    _as_expired_left_it(db, RUN_ID)

    # what the error printed before: `tasks clear` by the date in the run id, which is no logical date of the run
    date = RUN_ID.split("__", 1)[1]
    clear = ["tasks", "clear", DAG_ID, "-t", "^wait_for_approval$", "--downstream", "-s", date, "-e", date, "--yes"]
    _run([*AIRFLOW, *clear], env)
    assert _states(db, RUN_ID)["promote"] == "upstream_failed"

    text = ask_again_command(
        {"dag_id": DAG_ID, "run_id": RUN_ID, "details": {"sensor_task_id": "wait_for_approval"}}, airflow_base_url=BASE
    )
    words = shlex.split(text.split("REST API: ", 1)[1])
    assert words[:3] == ["curl", "-X", "POST"] and words[3].startswith(BASE)
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    headers.pop("Authorization")  # `Bearer <token>`: the client puts a token of its own
    body = words[words.index("-d") + 1]
    out = _run([sys.executable, "-c", CLIENT, words[3].removeprefix(BASE), json.dumps(headers), body], env)
    answer = json.loads(out.splitlines()[-1])  # after Airflow's log lines

    assert answer["status"] == 200, answer
    assert sorted(ti["task_id"] for ti in answer["body"]["task_instances"]) == ["promote", "wait_for_approval"]
    assert _states(db, RUN_ID) == {"decide": "success", "wait_for_approval": None, "promote": None}
    assert _sql(db, "SELECT state FROM dag_run WHERE run_id = :r", r=RUN_ID) == [("queued",)]

    # a run with a logical date (scheduled, backfill; the sensor records it): the printed CLI form clears it too
    dated, logical_date = "dated__2026-11-28T09:00:00+00:00", "2026-11-28T08:00:00+00:00"
    _run([*AIRFLOW, "dags", "trigger", DAG_ID, "--run-id", dated, "--logical-date", logical_date], env)
    _as_expired_left_it(db, dated)
    text = ask_again_command(
        {
            "dag_id": DAG_ID,
            "run_id": dated,
            "details": {"sensor_task_id": "wait_for_approval", "logical_date": logical_date},
        }
    )
    command = shlex.split(text.split("; or: ", 1)[1])
    assert command[:3] == ["airflow", "tasks", "clear"]
    _run([*AIRFLOW, *command[1:], "--yes"], env)  # --yes: the command asks on a terminal first
    assert _states(db, dated) == {"decide": "success", "wait_for_approval": None, "promote": None}
    assert _states(db, RUN_ID) == {"decide": "success", "wait_for_approval": None, "promote": None}
