"""liveness.py: when Airflow fails a task, the job or approval request of its run is closed."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest

from airflow_provider_agentic_mlops.core.state import StateStore, utcnow
from airflow_provider_agentic_mlops.liveness import cancel_approval_of_failed_task, fail_job_of_failed_task
from tests.approval_data import request_approval
from tests.doubles.slack_server import SlackDouble, slack_connection, slack_double  # noqa: F401

CONN_ID = "agentic_mlops_state_liveness"


@pytest.fixture
def store(sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch) -> StateStore:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": sqlite_store.url}}),
    )
    return sqlite_store


def _context(task_id: str, run_id: str = "r1") -> dict:
    task = SimpleNamespace(task_id=task_id, model_name="m", state_conn_id=CONN_ID)
    return {"task": task, "ti": SimpleNamespace(dag_id="d", run_id=run_id)}


def test_a_failed_retrain_task_fails_the_job_of_its_run_only(store: StateStore) -> None:
    job, _ = store.start_job("m", dag_id="d", run_id="r1")
    fail_job_of_failed_task(_context("retrain", run_id="other-run"))
    assert store.get_job(job["id"])["status"] == "running"
    fail_job_of_failed_task(_context("retrain"))
    failed = store.get_job(job["id"])
    assert failed["status"] == "failed" and "d/r1/retrain failed" in failed["error"]
    assert store.inflight_job("m") is None


def _dag_not_found(dag_id: str, *, under_executor: bool) -> Exception:
    """What Airflow's task runner raises when the API server refuses to trigger a run of ``dag_id`` (404): the
    Task SDK client's error in-process (``dag.test()``), the supervisor's relay of it under an executor."""
    import httpx
    from airflow.sdk.api.client import ServerResponseError

    body = {"detail": {"reason": "not_found", "message": f"Dag with dag_id: '{dag_id}' not found"}}
    request = httpx.Request("POST", f"http://api/execution/dag-runs/{dag_id}/r")
    error = ServerResponseError.from_response(httpx.Response(404, json=body, request=request))
    if not under_executor:
        return error
    from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse

    detail = {"status_code": 404, "message": str(error), "detail": body}
    return AirflowRuntimeError(ErrorResponse(error=ErrorType.API_SERVER_ERROR, detail=detail))


@pytest.mark.parametrize("under_executor", [False, True])
def test_a_trigger_dag_id_naming_no_dag_fails_the_job_saying_so_without_spending_the_budget(
    store: StateStore, under_executor: bool, caplog: pytest.LogCaptureFixture
) -> None:
    job, _ = store.start_job("m", dag_id="d", run_id="r1", details={"trigger_dag_id": "fraud_detector_trainig"})
    store.heartbeat_job(job["id"], external_ref="retrain__m__job1__abc")
    context = _context("retrain")
    context["task"].trigger_dag_id = "fraud_detector_trainig"
    context["exception"] = _dag_not_found("fraud_detector_trainig", under_executor=under_executor)

    fail_job_of_failed_task(context)

    failed = store.get_job(job["id"])
    expected = (
        "model 'm': retrain.trigger_dag_id 'fraud_detector_trainig' names no DAG Airflow knows (the API server "
        "answered 404); fix trigger_dag_id (retrain.trigger_dag_id in models.yaml) and clear the task"
    )
    assert failed["status"] == "failed" and failed["error"].startswith(expected)
    assert failed["details"]["never_started"] is True
    assert store.retrains_since("m", since=utcnow() - timedelta(hours=1))[0] == 0
    assert expected in caplog.text  # the task log says it too, next to Airflow's bare 404


def test_a_failed_training_run_still_spends_the_budget(store: StateStore) -> None:
    job, _ = store.start_job("m", dag_id="d", run_id="r1", details={"trigger_dag_id": "train_m"})
    store.heartbeat_job(job["id"], external_ref="retrain__m__job1__abc")
    context = _context("retrain")
    context["task"].trigger_dag_id = "train_m"
    context["exception"] = RuntimeError("training DAG 'train_m' run 'retrain__m__job1__abc' ended in state 'failed'")

    fail_job_of_failed_task(context)

    assert store.get_job(job["id"])["status"] == "failed"
    assert store.retrains_since("m", since=utcnow() - timedelta(hours=1))[0] == 1


def test_a_failed_callback_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "http", "host": "nowhere"}))
    fail_job_of_failed_task(_context("retrain"))  # logged, not raised: the task's own error must show
    cancel_approval_of_failed_task(_context("wait_for_approval"))


def _request(store: StateStore, version: str = "7") -> dict:
    approval, _ = store.request_approval(
        "m", version, dag_id="d", run_id="r1", expires_at=utcnow().replace(year=utcnow().year + 1)
    )
    return approval


def _posted_request(store: StateStore, slack_conn_id: str) -> dict:
    """The request of model ``m``'s run ``r1``, posted to the Slack test double."""
    from airflow_provider_agentic_mlops import approvals

    return request_approval(
        store,
        model_name="m",
        dag_id="d",
        expires_at=utcnow().replace(year=utcnow().year + 1),
        approvers=["U1"],
        slack_conn_id=slack_conn_id,
        channel="C_APPROVALS",
        slack_client=approvals.slack_client_for(slack_conn_id=slack_conn_id),
    ).approval


def test_approving_the_request_of_a_failed_run_answers_so_and_records_nothing(store: StateStore) -> None:
    approval = _request(store)
    cancel_approval_of_failed_task(_context("wait_for_approval"))
    outcome = store.decide_approval(approval["id"], approve=True, user="U1", via="cli")
    assert not outcome.recorded
    assert outcome.approval["status"] == "cancelled" and outcome.approval["votes"] == []
    assert "cancelled" in outcome.message and "nothing was recorded" in outcome.message
    assert [a["action"] for a in store.audit_trail("m")][:1] == ["approval_cancelled"]


def test_the_failed_sensor_cancels_its_expired_request_so_a_clear_asks_again(store: StateStore) -> None:
    approval = _request(store)
    assert store.expire_approvals(now=utcnow().replace(year=utcnow().year + 2))  # nobody decided in time
    cancel_approval_of_failed_task(_context("wait_for_approval"))  # the sensor failed on the expiry
    cancelled = store.get_approval(approval["id"])
    assert cancelled["status"] == "cancelled" and "nobody decided before the deadline" in cancelled["reason"]


def test_a_cancelled_requests_slack_message_says_so_without_buttons(
    store: StateStore,
    slack_connection: str,  # noqa: F811
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    posted = _posted_request(store, slack_connection)
    cancel_approval_of_failed_task(_context("wait_for_approval"))
    [update] = slack_double.calls_to("chat.update")
    assert (update.args["channel"], update.args["ts"]) == ("C_APPROVALS", posted["slack_ts"])
    assert "Cancelled" in update.args["text"] and "failed" in update.args["text"]
    assert not [b for b in update.args["blocks"] if b["type"] == "actions"]


def test_a_slack_failure_does_not_undo_the_cancellation(
    store: StateStore,
    slack_connection: str,  # noqa: F811
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    posted = _posted_request(store, slack_connection)
    slack_double.failing_methods.add("chat.update")
    cancel_approval_of_failed_task(_context("wait_for_approval"))
    assert store.get_approval(posted["id"])["status"] == "cancelled"


def _store_down(times: int | None, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The state store refusing connections (as libpq does while the database is in recovery) ``times`` times
    (None: always): first when the callback opens the store, then when it closes the requests. Returns the
    attempts."""
    import psycopg2
    import sqlalchemy as sa

    from airflow_provider_agentic_mlops.hooks import state as state_hook

    attempts: list[str] = []
    refused = sa.exc.OperationalError(
        None, None, psycopg2.OperationalError("FATAL:  the database system is in recovery mode")
    )
    real_get_store, real_close = state_hook.StateStoreHook.get_store, StateStore.close_approvals_of_run

    def down(what: str) -> bool:
        attempts.append(what)
        return times is None or len(attempts) <= times

    def get_store(hook):
        if down("open"):
            raise state_hook.store_unavailable(hook.state_conn_id, "postgresql://db/mlops", refused) from refused
        return real_get_store(hook)

    def close(store, *args, **kwargs):
        if down("close"):
            raise refused
        return real_close(store, *args, **kwargs)

    monkeypatch.setattr(state_hook.StateStoreHook, "get_store", get_store)
    monkeypatch.setattr(StateStore, "close_approvals_of_run", close)
    return attempts


def test_a_store_down_for_a_moment_when_the_sensor_fails_still_cancels_its_request(
    store: StateStore,
    monkeypatch: pytest.MonkeyPatch,
    slack_connection: str,  # noqa: F811
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    """The callback tried once and logged: the request stayed pending for a dead run (``approvals list``,
    ``models list``) and its Slack message kept live buttons until someone clicked or the deadline passed."""
    posted = _posted_request(store, slack_connection)
    attempts = _store_down(2, monkeypatch)
    cancel_approval_of_failed_task(_context("wait_for_approval"))
    assert attempts == ["open", "open", "open", "close"]  # the hook failed twice; nothing was closed before
    assert store.get_approval(posted["id"])["status"] == "cancelled"
    [update] = slack_double.calls_to("chat.update")
    assert "Cancelled" in update.args["text"] and not [b for b in update.args["blocks"] if b["type"] == "actions"]


def test_a_store_still_down_after_the_retries_leaves_the_request_pending_and_says_what_to_do(
    store: StateStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_agentic_mlops.core import state

    approval = _request(store)
    monkeypatch.setattr(state, "CLOSE_RETRY_SECONDS", 0.5)
    attempts = _store_down(None, monkeypatch)
    cancel_approval_of_failed_task(_context("wait_for_approval"))
    assert len(attempts) > 1 and set(attempts) == {"open"}
    assert store.get_approval(approval["id"])["status"] == "pending"
    [failure] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "Could not cancel the approval request of model 'm' in d/r1" in failure.getMessage()
    assert "in recovery mode" in failure.getMessage()
    assert "approvals list --model m --status pending" in failure.getMessage()
    assert "approvals deny ID" in failure.getMessage()


def test_an_error_that_is_not_an_outage_is_not_retried(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault to fix (here a store without the provider's tables) is logged at once: waiting changes nothing."""
    import sqlalchemy as sa

    approval = _request(store)
    attempts = []

    def close(*_args, **_kwargs):
        attempts.append("close")
        raise sa.exc.OperationalError("SELECT", {}, Exception("no such table: agentic_mlops_approvals"))

    monkeypatch.setattr(StateStore, "close_approvals_of_run", close)
    cancel_approval_of_failed_task(_context("wait_for_approval"))
    assert attempts == ["close"] and store.get_approval(approval["id"])["status"] == "pending"


def test_a_cleared_and_rerun_task_finds_the_same_request(store: StateStore) -> None:
    approval = _request(store)
    again, created = store.request_approval(
        "m", "7", dag_id="d", run_id="r1", expires_at=utcnow().replace(year=utcnow().year + 1)
    )
    assert again["id"] == approval["id"] and not created and again["status"] == "pending"
    cancel_approval_of_failed_task(_context("wait_for_approval"))  # the run failed, then was cleared
    reopened, created = store.request_approval(
        "m", "7", dag_id="d", run_id="r1", expires_at=utcnow().replace(year=utcnow().year + 1)
    )
    assert reopened["id"] == approval["id"] and created and reopened["status"] == "pending"
    assert store.decide_approval(approval["id"], approve=True, user="U1", via="cli").recorded


def test_a_rerun_that_retrained_another_version_supersedes_the_old_request(store: StateStore) -> None:
    old = _request(store, "7")
    new = _request(store, "8")
    assert store.get_approval(old["id"])["status"] == "superseded"
    outcome = store.decide_approval(old["id"], approve=True, user="U1", via="slack")
    assert not outcome.recorded and "superseded" in outcome.message
    assert store.get_approval(new["id"])["status"] == "pending"


def test_the_dags_default_args_callbacks_run_as_well_as_the_providers_own() -> None:
    from airflow.sdk import DAG

    from airflow_provider_agentic_mlops.liveness import cancel_approval_of_failed_task
    from airflow_provider_agentic_mlops.operators.promote import PromoteOperator, _asset_event_sent
    from airflow_provider_agentic_mlops.operators.retrain import RetrainOperator
    from airflow_provider_agentic_mlops.sensors.approval import ApprovalSensor

    def page_oncall(context: dict) -> None: ...

    def announce(context: dict) -> None: ...

    def task_own(context: dict) -> None: ...

    with DAG("d", default_args={"on_failure_callback": page_oncall, "on_success_callback": announce}):
        sensor = ApprovalSensor(task_id="wait_for_approval", model_name="m", deferrable=True)
        retrain = RetrainOperator(task_id="retrain", model_name="m", python_callable="mod:fn")
        promote = PromoteOperator(task_id="promote", model_name="m")
        explicit = ApprovalSensor(task_id="w2", model_name="m", deferrable=True, on_failure_callback=task_own)
    assert sensor.on_failure_callback == [page_oncall, cancel_approval_of_failed_task]
    assert retrain.on_failure_callback == [page_oncall, fail_job_of_failed_task]
    assert promote.on_failure_callback == page_oncall or promote.on_failure_callback == [page_oncall]
    assert promote.on_success_callback == [announce, _asset_event_sent]
    assert sensor.on_success_callback in (announce, [announce])
    assert explicit.on_failure_callback == [task_own, cancel_approval_of_failed_task]  # the task's own wins


def test_read_task_state_reads_the_task_instance_from_airflows_metadata_database(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside a task (the API server, where Slack clicks arrive; the CLI) the state comes from the
    metadata database: the task named at the map index named, not the same task of another run."""
    from airflow import settings

    from airflow_provider_agentic_mlops.liveness import DagNotInMetadataDatabase, read_task_state
    from tests.doubles.airflow_metadata import add_dag, add_task_instance, task_instance_db

    engine = task_instance_db(tmp_path / "airflow.db")
    for run_id, map_index, state in (("r1", -1, "deferred"), ("r1", 0, "failed"), ("r2", -1, "success")):
        add_task_instance(engine, "d", run_id, "wait", map_index, state)
    add_task_instance(engine, "d", "r4", "wait", -1, None)  # e.g. cleared: known, with no state yet
    monkeypatch.setattr(settings, "engine", engine)
    # a database without the DAG is not the deployment's: its missing run is not a deleted one
    with pytest.raises(DagNotInMetadataDatabase, match="has no DAG d, so it does not hold run r3.*AIRFLOW_HOME"):
        read_task_state("d", "r3", "wait", missing="gone")
    add_dag(engine, "d")

    assert read_task_state("d", "r1", "wait") == "deferred"
    assert read_task_state("d", "r2", "wait") == "success"
    assert read_task_state("d", "r3", "wait") is None
    assert read_task_state("d", "r1", "other") is None
    # a mapped task's copy at its map index
    assert read_task_state("d", "r1", "wait", 0) == "failed"
    assert read_task_state("d", "r1", "wait", 1) is None
    # ``missing`` tells a task instance Airflow does not have (its run deleted) from one without a state
    assert read_task_state("d", "r3", "wait", missing="gone") == "gone"
    assert read_task_state("d", "r1", "wait", 1, missing="gone") == "gone"
    assert read_task_state("d", "r4", "wait", missing="gone") is None


def test_read_task_state_inside_a_task_asks_the_execution_api_for_the_copy_at_its_map_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Inside a task the Task SDK answers; it names a mapped copy ``<task_id>_<map_index>``."""
    from airflow.sdk.execution_time import task_runner

    from airflow_provider_agentic_mlops.liveness import read_task_state

    asked = []

    def get_task_states(**query: object) -> dict:
        asked.append(query)
        return {"r1": {"wait": "deferred", "wait_0": "failed", "wait_2": None}}

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", object(), raising=False)
    monkeypatch.setattr(task_runner.RuntimeTaskInstance, "get_task_states", staticmethod(get_task_states))
    assert read_task_state("d", "r1", "wait") == "deferred"
    assert read_task_state("d", "r1", "wait", 0) == "failed"
    assert read_task_state("d", "r1", "wait", 2, missing="gone") is None
    assert read_task_state("d", "r1", "wait", 1, missing="gone") == "gone"
    assert read_task_state("d", "r9", "wait", missing="gone") == "gone"
    assert asked[1] == {"dag_id": "d", "map_index": 0, "task_ids": ["wait"], "run_ids": ["r1"]}


def test_a_job_whose_airflow_run_was_deleted_stops_holding_its_model(
    tmp_path, monkeypatch: pytest.MonkeyPatch, sqlite_store
) -> None:
    """The readers of the in-flight job (retrain, decide, models list) read through ``job_task_state``: a job whose
    task instance Airflow no longer has is failed; one just cleared (no state yet) or another map index's is not."""
    from airflow import settings

    from airflow_provider_agentic_mlops.liveness import job_task_state
    from tests.doubles.airflow_metadata import add_dag, add_task_instance, task_instance_db

    engine = task_instance_db(tmp_path / "airflow.db")
    add_task_instance(engine, "d", "cleared", "retrain", -1, None)
    add_task_instance(engine, "d", "mapped", "retrain", 1, "deferred")
    add_dag(engine, "d")
    monkeypatch.setattr(settings, "engine", engine)
    # a deferred training-DAG wait: no heartbeat, only its timeout would have ended it
    limits = {"task_id": "retrain", "backend": "trigger_dag", "heartbeat_timeout_minutes": None}
    for run_id, map_index, alive in (("cleared", -1, True), ("mapped", 1, True), ("gone", -1, False)):
        job, _ = sqlite_store.start_job(
            f"m-{run_id}", dag_id="d", run_id=run_id, details={**limits, "task_map_index": map_index}
        )
        assert (sqlite_store.inflight_job(f"m-{run_id}", task_state=job_task_state) is not None) is alive
    error = sqlite_store.get_job(job["id"])["error"]
    assert "its Airflow task d/gone/retrain is no longer in Airflow (its run was deleted)" in error
