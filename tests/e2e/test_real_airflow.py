"""The whole loop on a real Airflow deployment, started from an alert and decided in Slack.

Airflow's scheduler, dag-processor, api-server and triggerer run as subprocesses (PostgreSQL +
CeleryExecutor with a Celery worker where PostgreSQL and Redis answer, always under CI=true; SQLite
+ LocalExecutor elsewhere), with a real MLflow server and the Slack and OpenAI test doubles (see
``deployment.py``). Each test posts an Alertmanager alert to the api-server, waits for the approval
request at the Slack double, clicks Approve or Deny through the signed interactions endpoint, and
checks what production (MLflow's ``champion`` alias) and the decision trace look like afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import PG_HOST, PG_PORT, require_server
from tests.e2e.deployment import (
    DAG_ID,
    MODEL,
    REDIS_HOST,
    REDIS_PORT,
    Deployment,
    alertmanager_payload,
    start_deployment,
    use_postgres_and_celery,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1500)]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if use_postgres_and_celery():  # under CI=true an absent server fails here, naming it
        require_server("PostgreSQL", PG_HOST, PG_PORT)
        require_server("Redis", REDIS_HOST, REDIS_PORT)
    started = time.monotonic()
    deployment = start_deployment(tmp_path_factory.mktemp("real_airflow"))
    print(f"\n[e2e] {deployment.kind}: deployment up in {time.monotonic() - started:.1f} s")
    try:
        yield deployment
    finally:
        deployment.stop()
        print(f"[e2e] {deployment.kind}: total {time.monotonic() - started:.1f} s")


@pytest.fixture(autouse=True)
def _log_tails_on_failure(request: pytest.FixtureRequest, deployment: Deployment) -> Iterator[None]:
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:  # the call's report is logged before this teardown
        print(deployment.log_tails())


def alert_until_approval_request(deployment: Deployment) -> tuple[str, int, Any, float]:
    """Post an alert; ``(run_id, approval_id, slack call, seconds from alert to approval request)``."""
    seen = {approval_id for approval_id, _ in deployment.approval_requests()}
    started = time.monotonic()
    status, answer = deployment.post_alert(alertmanager_payload())
    assert status == 201, answer
    [result] = answer["results"]
    assert result["outcome"] == "started" and result["dag_id"] == DAG_ID
    run_id = result["run_id"]

    def new_request() -> tuple[int, Any] | None:
        fresh = [(a, c) for a, c in deployment.approval_requests() if a not in seen]
        if fresh:
            return fresh[0]
        if deployment.run_state(run_id) in ("success", "failed"):
            raise AssertionError(f"run {run_id} ended without an approval request: {deployment.task_states(run_id)}")
        return None

    approval_id, call = deployment.wait_until(new_request, 600, "the approval request at the Slack double", 0.1)
    seconds = time.monotonic() - started
    print(f"\n[e2e] {deployment.kind}: alert -> approval request in {seconds:.1f} s")
    return run_id, approval_id, call, seconds


def test_alert_then_slack_approve_promotes_the_new_version_with_a_complete_decision_trace(
    deployment: Deployment,
) -> None:
    champion_before = deployment.champion_version()
    run_id, approval_id, call, _ = alert_until_approval_request(deployment)
    assert call.args["channel"] == "C_APPROVALS" and call.token == "xoxb-e2e-token"
    # the active run decided before this alert: it is not folded into it (that run never reads it) but queued
    # as one follow-up run carrying it, which max_active_runs=1 holds until this run ends
    status, again = deployment.post_alert(alertmanager_payload(summary="still drifting"))
    [follow_up] = again["results"]
    assert status == 201 and follow_up["outcome"] == "started" and follow_up["run_id"] != run_id, again
    assert deployment.run_state(follow_up["run_id"]) == "queued"
    assert deployment.fail_queued_run(follow_up["run_id"]) == 1  # a second loop is not this test's subject
    status, outcome = deployment.click(approval_id, call, approve=True)
    assert status == 200 and outcome == "recorded", (status, outcome)

    assert deployment.wait_for_run_to_finish(run_id) == "success", deployment.task_states(run_id)
    store = deployment.store()
    approval = store.get_approval(approval_id)
    assert approval["status"] == "approved" and approval["decided_by"] == "U_ALICE"
    assert approval["run_id"] == run_id
    new_version = approval["model_version"]
    client = deployment.mlflow()
    assert new_version != champion_before
    assert client.get_model_version_by_alias(MODEL, "champion").version == new_version
    assert client.get_model_version_by_alias(MODEL, "previous_champion").version == champion_before

    [decision] = [d for d in store.list_decisions(MODEL) if d["run_id"] == run_id]
    assert decision["mode"] == "llm" and decision["final_action"] == "retrain" and decision["llm_action"] == "retrain"
    assert decision["prompt"] and decision["raw_answer"] and '"retrain"' in decision["raw_answer"]
    assert decision["prompt_tokens"] > 0 and decision["completion_tokens"] > 0
    assert decision["rules_fired"] is not None and decision["inputs"]
    assert "PSI above 0.2 on amount" in str(decision["prompt"])  # the alert reached the (fenced) prompt
    actions = [e["action"] for e in store.audit_trail(MODEL, limit=500)]
    for action in ("alert_received", "decision", "job_started", "job_succeeded", "approval_requested"):
        assert action in actions, actions
    states = deployment.task_states(run_id)
    assert states["promote"] == "success" and states["no_action"] == "skipped", states
    assert deployment.task_log_errors(run_id) == []  # e.g. a library's INFO lines on stderr: labelled ERROR


def test_alert_then_slack_deny_moves_nothing(deployment: Deployment) -> None:
    champion_before = deployment.champion_version()
    run_id, approval_id, call, _ = alert_until_approval_request(deployment)
    status, outcome = deployment.click(approval_id, call, approve=False)
    assert status == 200 and outcome == "recorded", (status, outcome)

    assert deployment.wait_for_run_to_finish(run_id) == "failed"  # denied: the sensor fails, promote never runs
    states = deployment.task_states(run_id)
    assert states["wait_for_approval"] == "failed" and states["promote"] == "upstream_failed", states
    assert deployment.champion_version() == champion_before
    approval = deployment.store().get_approval(approval_id)
    assert approval["status"] == "denied" and approval["decided_by"] == "U_ALICE"
    challenger = approval["model_version"]
    aliases = deployment.mlflow().get_model_version(MODEL, challenger).aliases
    assert "champion" not in aliases and "previous_champion" not in aliases
