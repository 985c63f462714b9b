"""Faults only a real Airflow deployment shows (tests/e2e/deployment.py: scheduler, dag-processor,
api-server, triggerer and, with PostgreSQL + Redis, a Celery worker; real MLflow; Slack and OpenAI doubles).

One scenario, in order, on one deployment (starting it is the expensive part):

1. the worker is SIGKILLed while ``retrain`` trains: the job is failed (Airflow fails the task and its
   ``on_failure_callback`` or the job's heartbeat_timeout ends it), the run fails, never two running jobs;
2. the next alert's run retrains (the dead job no longer blocks) and waits for approval in the triggerer;
3. the triggerer is SIGKILLed and restarted while the sensor waits;
4. the api-server is SIGKILLed while a Slack click is in flight, restarted, and the person clicks again;
5. the run promotes exactly once. End state checked in Airflow's DB, the state store and MLflow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import PG_HOST, PG_PORT, require_server
from tests.e2e.deployment import (
    MODEL,
    REDIS_HOST,
    REDIS_PORT,
    Deployment,
    alertmanager_payload,
    start_deployment,
    use_postgres_and_celery,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1500)]

#: Airflow fails a task whose heartbeat stopped after this many seconds (default 300)
TASK_HEARTBEAT_TIMEOUT_S = 20
#: the job's own heartbeat_timeout in models.yaml (minutes)
JOB_HEARTBEAT_TIMEOUT_MIN = 0.5


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if use_postgres_and_celery():
        require_server("PostgreSQL", PG_HOST, PG_PORT)
        require_server("Redis", REDIS_HOST, REDIS_PORT)
    started = time.monotonic()
    deployment = start_deployment(
        tmp_path_factory.mktemp("faults"),
        heartbeat_timeout_minutes=JOB_HEARTBEAT_TIMEOUT_MIN,
        extra_env={
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TASK_HEARTBEAT_TIMEOUT_S),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        },
    )
    print(f"\n[faults] {deployment.kind}: deployment up in {time.monotonic() - started:.1f} s")
    try:
        yield deployment
    finally:
        deployment.stop()
        print(f"[faults] {deployment.kind}: total {time.monotonic() - started:.1f} s")


def _start_run(deployment: Deployment) -> str:
    status, answer = deployment.post_alert(alertmanager_payload())
    assert status == 201, answer
    [result] = answer["results"]
    assert result["outcome"] == "started", result
    return str(result["run_id"])


def _running_jobs(deployment: Deployment) -> list[dict[str, Any]]:
    return deployment.store().list_jobs(MODEL, status="running")


def test_worker_killed_triggerer_and_api_server_restarted_still_promotes_once(deployment: Deployment) -> None:
    try:
        _scenario(deployment)
    except BaseException:
        print(deployment.log_tails())
        raise


def _scenario(deployment: Deployment) -> None:
    store = deployment.store()
    champion_before = deployment.champion_version()

    # 1. SIGKILL the worker while retrain trains
    run1 = _start_run(deployment)
    job = deployment.wait_until(
        lambda: next(iter(_running_jobs(deployment)), None), 600, "the retrain job of the first run", 0.2
    )
    assert job["run_id"] == run1
    assert deployment.kill_running_tasks() >= 1
    assert deployment.wait_for_run_to_finish(run1, timeout=600) == "failed", deployment.task_states(run1)
    assert deployment.task_states(run1)["retrain"] == "failed"
    deployment.wait_until(lambda: store.get_job(job["id"])["status"] == "failed", 120, "the dead job to be failed", 0.5)
    dead = store.get_job(job["id"])
    assert "failed" in dead["error"] or "heartbeat" in dead["error"] or "is failed" in dead["error"], dead["error"]
    assert _running_jobs(deployment) == []

    # 2. the next run is not blocked: it retrains and waits for approval (deferred)
    seen = {a for a, _ in deployment.approval_requests()}
    run2 = _start_run(deployment)
    approval_id, call = deployment.wait_until(
        lambda: next(((a, c) for a, c in deployment.approval_requests() if a not in seen), None),
        900,
        "the second run's approval request",
        0.2,
    )
    [decision] = [d for d in store.list_decisions(MODEL) if d["run_id"] == run2]
    assert decision["final_action"] == "retrain", decision["rules_fired"]
    assert len([j for j in store.list_jobs(MODEL) if j["run_id"] == run2]) == 1
    deployment.wait_until(
        lambda: deployment.task_states(run2).get("wait_for_approval") == "deferred", 300, "the sensor to defer", 0.5
    )

    # 3. the triggerer dies and comes back while the sensor waits
    deployment.restart("triggerer")
    assert deployment.run_state(run2) == "running"

    # 4. the api-server dies while the click is in flight; the person clicks again after it is back
    answers: list[Any] = []
    clicker = threading.Thread(target=lambda: answers.append(_click_or_error(deployment, approval_id, call)))
    clicker.start()
    deployment.restart("api-server")
    clicker.join(timeout=120)
    deployment.wait_until(deployment._api_healthy, 300, "the api-server to answer again")
    status, outcome = deployment.click(approval_id, call, approve=True)
    assert status == 200, (status, outcome, answers)

    # 5. promoted exactly once
    assert deployment.wait_for_run_to_finish(run2, timeout=900) == "success", deployment.task_states(run2)
    approval = store.get_approval(approval_id)
    assert approval["status"] == "approved" and [v["user_id"] for v in approval["votes"]] == ["U_ALICE"]
    new_version = approval["model_version"]
    client = deployment.mlflow()
    assert client.get_model_version_by_alias(MODEL, "champion").version == new_version != champion_before
    assert client.get_model_version_by_alias(MODEL, "previous_champion").version == champion_before
    assert [e["action"] for e in store.audit_trail(MODEL, limit=500)].count("promoted") == 1
    [promotion] = store.list_promotions(MODEL)
    assert promotion["status"] == "completed" and promotion["run_id"] == run2
    assert deployment.task_states(run2)["promote"] == "success"
    assert _running_jobs(deployment) == []


def _click_or_error(deployment: Deployment, approval_id: int, call: Any) -> Any:
    try:
        return deployment.click(approval_id, call, approve=True)
    except Exception as err:  # the server died under the request: that is the fault being injected
        return err
