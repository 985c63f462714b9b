"""ApprovalSensor in-process: request once, defer, resume, reschedule mode, deny on timeout.

Slack is the local Web API double, reached through the Slack provider's SlackHook (connection
extra ``base_url``); the state store is SQLite in a temporary AIRFLOW_HOME.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException, TaskDeferred

from airflow_provider_agentic_mlops import approvals
from airflow_provider_agentic_mlops.core import state
from airflow_provider_agentic_mlops.sensors.approval import ApprovalNotGranted, ApprovalSensor
from airflow_provider_agentic_mlops.triggers.approval import ApprovalTrigger
from tests.doubles.slack_server import SlackDouble, slack_connection, slack_double  # noqa: F401

XCOMS = {
    ("retrain", "return_value"): {"version": "7", "model_name": "fraud", "registered_model": "fraud"},
    ("validate", "validation"): {
        "passed": True,
        "primary_metric": "roc_auc",
        "champion_version": "6",
        "challenger_version": "7",
        "champion_metrics": {"roc_auc": 0.8},
        "challenger_metrics": {"roc_auc": 0.9},
        "report_uri": "file:///tmp/validation.html",
        "report_digest": "sha256:feed",
    },
    ("check_drift", "return_value"): {"dataset_drift": True, "drift_share": 0.6, "n_columns": 5, "n_drifted": 3},
    ("check_drift", "report_uri"): "file:///tmp/drift.html",
    ("decide", "rationale"): "Three of five columns drifted.",
}


class FakeTI:
    dag_id = "agentic_mlops__fraud"
    task_id = "wait_for_approval"

    def __init__(self, xcoms: dict[tuple[str, str], Any]) -> None:
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str, key: str = "return_value", **_: Any) -> Any:
        return self.xcoms.get((task_ids, key))

    def get_first_reschedule_date(self, _context: Any) -> None:
        return None


def _context(run_id: str = "manual__1", xcoms: dict | None = None) -> dict[str, Any]:
    return {"ti": FakeTI(XCOMS if xcoms is None else xcoms), "run_id": run_id}


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    url = state.default_sqlite_url(tmp_path)
    monkeypatch.setenv(
        "AIRFLOW_CONN_AGENTIC_MLOPS_STATE_TEST", json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": url}})
    )
    approvals._clients.clear()
    yield tmp_path
    approvals._clients.clear()


def _sensor(**kwargs: Any) -> ApprovalSensor:
    defaults: dict[str, Any] = {
        "task_id": "wait_for_approval",
        "model_name": "fraud",
        "channel": "C_APPROVALS",
        "approvers": ["U_ALICE"],
        "state_conn_id": "agentic_mlops_state_test",
        "deferrable": True,
    }
    return ApprovalSensor(**{**defaults, **kwargs})


def _defer(sensor: ApprovalSensor, context: dict[str, Any]) -> ApprovalTrigger:
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    assert deferred.value.method_name == "execute_complete"
    return deferred.value.trigger


def test_first_run_creates_the_request_posts_once_and_defers(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    sensor = _sensor()
    trigger = _defer(sensor, _context())
    _defer(_sensor(), _context())  # a re-run (retry, clear) must not post again
    posts = slack_double.calls_to("chat.postMessage")
    assert len(posts) == 1
    assert posts[0].token == "xoxb-test-token"
    blocks = json.dumps(posts[0].args["blocks"])
    assert "Three of five columns drifted." in blocks and "0.8000 -> 0.9000" in blocks and "drift.html" in blocks
    approval = sensor.store.get_approval(trigger.approval_id)
    assert (approval["model_name"], approval["model_version"], approval["run_id"]) == ("fraud", "7", "manual__1")
    assert approval["dag_id"] == "agentic_mlops__fraud" and approval["report_digest"] == "sha256:feed"
    assert approval["slack_channel"] == "C_APPROVALS" and approval["slack_ts"]
    assert trigger.state_conn_id == "agentic_mlops_state_test"  # a connection id, never a URL with credentials


def test_the_report_links_open_the_plugins_pages_when_airflows_base_url_is_set(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_provider_agentic_mlops.links import artifact_url

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/airflow/")
    xcoms = {
        **XCOMS,
        ("check_drift", "report_uri"): "runs:/0a1b2c/drift/report.html",
        ("validate", "validation"): {**XCOMS[("validate", "validation")], "report_uri": "mlflow-artifacts:/1/v.html"},
    }
    sensor = _sensor()
    trigger = _defer(sensor, _context(xcoms=xcoms))
    blocks = json.dumps(slack_double.calls_to("chat.postMessage")[0].args["blocks"])
    for uri, label in (
        ("runs:/0a1b2c/drift/report.html", "Drift report"),
        ("mlflow-artifacts:/1/v.html", "Validation report"),
    ):
        assert f"<https://airflow.example.com{artifact_url('fraud', uri)}|{label}>" in blocks
    assert "/airflow/agentic-mlops/models/fraud/artifact?uri=" in blocks
    # the request keeps the URIs themselves: the approvals page and the report route look them up
    links = sensor.store.get_approval(trigger.approval_id)["details"]["links"]
    assert links["Drift report"] == "runs:/0a1b2c/drift/report.html"
    assert links["Validation report"] == "mlflow-artifacts:/1/v.html"


@pytest.mark.parametrize(
    ("base_url", "run_link"),
    [
        (
            "https://airflow.example.com/airflow/",
            "https://airflow.example.com/airflow/dags/agentic_mlops__fraud/runs/manual__1",
        ),
        ("/airflow", None),  # no host: a relative URL, which Slack shows as plain text, is no link
        ("", None),
    ],
)
def test_the_airflow_run_link_is_a_full_url_or_none(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    base_url: str,
    run_link: str | None,
) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", base_url)
    sensor = _sensor()
    trigger = _defer(sensor, _context())
    blocks = json.dumps(slack_double.calls_to("chat.postMessage")[0].args["blocks"])
    assert sensor.store.get_approval(trigger.approval_id)["details"]["links"].get("Airflow run") == run_link
    if run_link:
        assert f"<{run_link}|Airflow run>" in blocks
    else:
        assert "Airflow run" not in blocks and "/dags/agentic_mlops__fraud/runs/" not in blocks


@pytest.mark.parametrize("logical_date", [datetime(2026, 11, 29, 8, tzinfo=timezone.utc), None])
def test_the_request_records_its_runs_logical_date_which_airflow_tasks_clear_selects_by(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    logical_date: datetime | None,
) -> None:
    """An expired request's error gives ``airflow tasks clear -s/-e`` only for a run with a logical date (scheduled,
    backfill): the id of a run has none to read (an alert's or a manual run's has none at all in Airflow 3)."""
    sensor = _sensor()
    context = _context(run_id="scheduled__2026-11-29T09:00:00+00:00")
    if logical_date:  # the Task SDK's context holds the key only for a run with a logical date
        context["logical_date"] = logical_date
    trigger = _defer(sensor, context)
    details = sensor.store.get_approval(trigger.approval_id)["details"]
    assert details.get("logical_date") == (logical_date.isoformat() if logical_date else None)


def test_resumes_with_the_result_once_approved(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    sensor = _sensor()
    trigger = _defer(sensor, _context())
    approvals.decide(sensor.store, trigger.approval_id, approve=True, user="U_ALICE", via="slack")
    result = sensor.execute_complete(_context(), {"status": "approved", "approval_id": trigger.approval_id})
    assert result == {"approval_id": trigger.approval_id, "status": "approved", "decided_by": "U_ALICE"}


def test_a_click_after_the_sensor_was_marked_failed_by_hand_cancels_its_request(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    """The request names the sensor's task, so a decision can see that the run no longer waits (a task
    marked failed in Airflow's UI runs no failure callback)."""
    sensor = _sensor()
    trigger = _defer(sensor, _context())
    seen = []

    def marked_failed(*task: str | int) -> str:
        seen.append(task)
        return "failed"

    outcome = approvals.decide(
        sensor.store, trigger.approval_id, approve=True, user="U_ALICE", via="slack", task_state=marked_failed
    )
    assert seen == [("agentic_mlops__fraud", "manual__1", "wait_for_approval", -1)]
    assert not outcome.recorded and outcome.approval["status"] == "cancelled"


def test_a_mapped_sensor_names_its_map_index_in_its_request(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    """A mapped sensor's run waits in its copy at one map index: a decision reads that copy's state."""
    sensor = _sensor()
    context = _context()
    context["ti"].map_index = 1
    trigger = _defer(sensor, context)
    seen = []

    def waiting(*task: str | int) -> str:
        seen.append(task)
        return "deferred"

    outcome = approvals.decide(
        sensor.store, trigger.approval_id, approve=True, user="U_ALICE", via="slack", task_state=waiting
    )
    assert seen == [("agentic_mlops__fraud", "manual__1", "wait_for_approval", 1)]
    assert outcome.recorded


def test_a_denied_request_fails_the_task(slack_double: SlackDouble, slack_connection: str) -> None:  # noqa: F811
    sensor = _sensor()
    trigger = _defer(sensor, _context())
    approvals.decide(sensor.store, trigger.approval_id, approve=False, user="ops", via="ui", reason="too risky")
    denied = "was denied: Denied by ops via ui.*too risky.*clearing this task does not ask again"
    with pytest.raises(ApprovalNotGranted, match=denied):  # an AirflowFailException the failure notice skips
        sensor.execute_complete(_context(), {"status": "denied", "approval_id": trigger.approval_id})


def test_the_deadline_denies_and_updates_the_message(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sensor = _sensor(timeout_hours=1)
    trigger = _defer(sensor, _context())
    real_now = state.utcnow
    monkeypatch.setattr(state, "utcnow", lambda: real_now() + timedelta(hours=2))
    with pytest.raises(ApprovalNotGranted, match="was expired.*Clearing this task asks again, with a new deadline"):
        sensor.execute_complete(_context(), {"status": "due", "approval_id": trigger.approval_id})
    assert sensor.store.get_approval(trigger.approval_id)["status"] == "expired"
    updates = slack_double.calls_to("chat.update")
    assert len(updates) == 1 and "Nothing was promoted" in json.dumps(updates[0].args["blocks"])


def test_a_worker_whose_clock_is_behind_the_triggerers_expires_at_the_triggers_due_event(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The triggerer's clock says the deadline passed; the worker's, seconds behind, says not yet: the sensor trusts
    the trigger and expires the request, instead of deferring again with the same deadline (the trigger fires at
    once, in a loop, until the worker's clock catches up)."""
    sensor = _sensor(timeout_hours=1)
    trigger = _defer(sensor, _context())
    expires_at = sensor.store.get_approval(trigger.approval_id)["expires_at"]
    monkeypatch.setattr(state, "utcnow", lambda: expires_at - timedelta(seconds=4))
    with pytest.raises(AirflowFailException, match="was expired"):
        sensor.execute_complete(_context(), {"status": "due", "approval_id": trigger.approval_id})
    assert sensor.store.get_approval(trigger.approval_id)["status"] == "expired"


def test_a_due_reminder_is_sent_and_the_sensor_defers_again(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sensor = _sensor(remind_every_hours=1, escalation_channel="C_ESCALATE", timeout_hours=24)
    trigger = _defer(sensor, _context())
    assert trigger.remind_at is not None
    real_now = state.utcnow
    monkeypatch.setattr(state, "utcnow", lambda: real_now() + timedelta(hours=1, minutes=1))
    with pytest.raises(TaskDeferred) as again:
        sensor.execute_complete(_context(), {"status": "remind", "approval_id": trigger.approval_id})
    channels = [c.args["channel"] for c in slack_double.calls_to("chat.postMessage")]
    assert channels == ["C_APPROVALS", "C_APPROVALS", "C_ESCALATE"]
    assert again.value.trigger.remind_at > trigger.remind_at


class RefusingSlack:
    """A Slack that refuses the bot's posts (bot removed from the channel, channel archived ...)."""

    def chat_postMessage(self, **kwargs: Any) -> None:  # noqa: N802 (slack_sdk's name)
        raise RuntimeError("not_in_channel")


def test_a_failed_reminder_is_retried_later_not_at_once(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sensor = _sensor(remind_every_hours=1, timeout_hours=24)
    trigger = _defer(sensor, _context())
    sensor.__dict__["slack_client"] = RefusingSlack()
    real_now = state.utcnow
    monkeypatch.setattr(state, "utcnow", lambda: real_now() + timedelta(hours=1, minutes=1))
    with caplog.at_level(logging.WARNING), pytest.raises(TaskDeferred) as again:
        sensor.execute_complete(_context(), {"status": "remind", "approval_id": trigger.approval_id})
    # a remind_at in the past would make the trigger fire at once: a resume loop until the deadline
    remind_at = again.value.trigger.remind_at
    assert state.utcnow().isoformat() < remind_at
    assert remind_at <= (state.utcnow() + approvals.REMINDER_RETRY).isoformat()
    assert "not_in_channel" in caplog.text


def test_a_deferral_never_schedules_a_reminder_in_the_past(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    sensor = _sensor(remind_every_hours=1, timeout_hours=24)
    trigger = _defer(sensor, _context())
    # a reminder due but not recorded (whatever the reason): the trigger must not fire again at once
    sensor.store.mark_reminded(trigger.approval_id, state.utcnow() - timedelta(hours=2))
    with pytest.raises(TaskDeferred) as again:
        sensor._defer(trigger.approval_id)
    assert again.value.trigger.remind_at > state.utcnow().isoformat()


def test_reschedule_mode_pokes_the_store_without_deferring(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    sensor = _sensor(deferrable=False)
    assert sensor.mode == "reschedule"
    with pytest.raises(AirflowRescheduleException):
        sensor.execute(_context())
    approval_id = sensor.store.list_approvals(status="pending")[0]["id"]
    approvals.decide(sensor.store, approval_id, approve=True, user="ops", via="ui")
    assert _sensor(deferrable=False).execute(_context()) == {
        "approval_id": approval_id,
        "status": "approved",
        "decided_by": "ops",
    }
    assert len(slack_double.calls_to("chat.postMessage")) == 1


def test_without_a_slack_connection_it_logs_the_cli_command(caplog: pytest.LogCaptureFixture) -> None:
    sensor = _sensor(slack_conn_id="slack_does_not_exist")
    with caplog.at_level(logging.WARNING, logger="airflow_provider_agentic_mlops.approvals"):
        trigger = _defer(sensor, _context())
    assert f"airflow agentic-mlops approvals approve {trigger.approval_id}" in caplog.text
    assert sensor.store.get_approval(trigger.approval_id)["slack_ts"] is None


def test_in_reschedule_mode_the_waiting_warnings_come_once_per_attempt_not_at_every_poke(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each poke of a rescheduled sensor is a new process: Airflow counts the attempt's reschedules."""

    def poke(reschedules: int) -> str:
        sensor = _sensor(deferrable=False, slack_conn_id="slack_does_not_exist", approvers=None)
        caplog.clear()
        with caplog.at_level(logging.INFO), pytest.raises(AirflowRescheduleException):
            sensor.execute({**_context(), "task_reschedule_count": reschedules})
        return caplog.text + capsys.readouterr().out  # the module's log and the task's

    first, later, next_attempt = poke(0), poke(1), poke(0)
    for warning in ("is waiting (no Slack connection)", "No Slack approvers configured for fraud"):
        assert first.count(warning) == 1 and warning not in later and next_attempt.count(warning) == 1
    assert "Approval request 1 for fraud v7 (existing)" in later  # the poke still says what it waits for


def test_without_a_candidate_version_it_fails_with_a_clear_message() -> None:
    with pytest.raises(AirflowFailException, match="'retrain' returned None without a model version; approval must"):
        _sensor().execute(_context(xcoms={}))


def test_two_person_rule_is_passed_to_the_request(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    people = approvals.Identities.parse('{"alice": {"slack": "U_ALICE"}, "bob": {"slack": "U_BOB"}}')
    sensor = _sensor(required_approvals=2, approvers=["U_ALICE", "U_BOB"])
    trigger = _defer(sensor, _context())
    approvals.decide(sensor.store, trigger.approval_id, approve=True, user="U_ALICE", via="slack", identities=people)
    with pytest.raises(TaskDeferred):
        sensor.execute_complete(_context(), {"status": "remind", "approval_id": trigger.approval_id})
    approvals.decide(sensor.store, trigger.approval_id, approve=True, user="U_BOB", via="slack", identities=people)
    result = sensor.execute_complete(_context(), {"status": "approved", "approval_id": trigger.approval_id})
    assert result["decided_by"] == "alice,bob"


def test_lowering_required_approvals_completes_the_request_at_the_sensors_next_run(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    """models.yaml goes from 2 approvals to 1 while Alice's approve is in: the next poke (reschedule mode: a new
    run of the task, with the current config) finds the request complete and returns, and the message says so."""
    people = approvals.Identities.parse('{"alice": {"slack": "U_ALICE"}, "bob": {"slack": "U_BOB"}}')
    strict = {"deferrable": False, "approvers": ["U_ALICE", "U_BOB"]}
    sensor = _sensor(required_approvals=2, **strict)
    with pytest.raises(AirflowRescheduleException):
        sensor.execute(_context())
    approval_id = sensor.store.list_approvals(status="pending")[0]["id"]
    approvals.decide(sensor.store, approval_id, approve=True, user="U_ALICE", via="slack", identities=people)
    with pytest.raises(AirflowRescheduleException):  # one of two: still waiting
        _sensor(required_approvals=2, **strict).execute(_context())

    result = _sensor(required_approvals=1, **strict).execute(_context())
    assert result == {"approval_id": approval_id, "status": "approved", "decided_by": "alice"}
    updated = slack_double.calls_to("chat.update")[-1].args
    assert "Approved by alice" in updated["text"] and "actions" not in json.dumps(updated["blocks"])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"timeout_hours": 0}, "'timeout_hours': Input should be greater than 0 (got 0)"),
        ({"required_approvals": 9}, "'required_approvals': Input should be less than or equal to 5 (got 9)"),
        ({"remind_every_hours": -1}, "'remind_every_hours': Input should be greater than 0 (got -1)"),
        ({"settings": {"timeout_hour": 2}}, "'timeout_hour' is not an approval setting; known: ['approver_usergroup',"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=r"^model 'fraud': ApprovalSensor: approval settings: ") as raised:
        _sensor(**kwargs)
    assert error in str(raised.value)


def test_settings_are_taken_whole_and_keyword_arguments_override_them() -> None:
    from airflow_provider_agentic_mlops.core.config import ApprovalConfig, ApprovalSettings

    section = ApprovalConfig(timeout_hours=2, channel="C_SECTION", approvers=["U_A"], required_approvals=2)
    sensor = ApprovalSensor(task_id="w", model_name="fraud", settings=section, required_approvals=3, deferrable=True)
    assert type(sensor.settings) is ApprovalSettings  # the section's own waiting fields are the sensor's arguments
    assert (sensor.timeout_hours, sensor.channel, sensor.approvers) == (2, "C_SECTION", ["U_A"])
    assert sensor.required_approvals == 3 and section.required_approvals == 2
    assert sensor.timeout == 2 * 3600 + 3600  # the backstop follows the settings' deadline
    mapping = ApprovalSensor(task_id="w2", model_name="fraud", settings={"slack_conn_id": "slack_ops"})
    assert mapping.slack_conn_id == "slack_ops" and mapping.timeout_hours == 24


def test_default_args_reach_the_settings_like_any_parameter() -> None:
    from airflow.sdk import DAG

    with DAG("d", schedule=None, default_args={"slack_conn_id": "slack_ops", "remind_every_hours": 4}):
        sensor = ApprovalSensor(task_id="w", model_name="fraud", remind_every_hours=2)
    assert (sensor.slack_conn_id, sensor.remind_every_hours) == ("slack_ops", 2)  # the argument wins over the DAG's


def test_explicit_settings_beat_default_args_and_a_keyword_argument_beats_both() -> None:
    from airflow.sdk import DAG

    from airflow_provider_agentic_mlops.core.config import ApprovalSettings

    default_args = {"timeout_hours": 48, "channel": "#dag-wide", "slack_conn_id": "slack_dag", "remind_every_hours": 4}
    settings = ApprovalSettings(timeout_hours=2, channel="#explicit", slack_conn_id="mine")
    with DAG("d", schedule=None, default_args=default_args):
        sensor = ApprovalSensor(task_id="w", model_name="fraud", settings=settings, deferrable=True)
        keyword = ApprovalSensor(task_id="k", model_name="fraud", settings=settings, channel="#kw", deferrable=True)
        mapping = ApprovalSensor(task_id="m", model_name="fraud", settings={"timeout_hours": 3}, deferrable=True)
    assert (sensor.timeout_hours, sensor.channel, sensor.slack_conn_id) == (2, "#explicit", "mine")
    assert sensor.remind_every_hours == ApprovalSettings().remind_every_hours  # settings= holds every field
    assert sensor.timeout == 2 * 3600 + 3600  # the backstop follows the settings' deadline, not the DAG's
    assert (keyword.channel, keyword.timeout_hours) == ("#kw", 2)
    assert (mapping.timeout_hours, mapping.channel) == (3, ApprovalSettings().channel)


def test_templated_settings_render_and_the_original_keeps_its_template() -> None:
    import copy

    sensor = _sensor(channel="{{ params.channel }}", approvers=["{{ params.approver }}"], approver_usergroup=None)
    run_copy = copy.copy(sensor)  # Airflow renders a copy of the task for its run
    run_copy.render_template_fields({"params": {"channel": "C_RENDERED", "approver": "U_RENDERED"}})
    assert (run_copy.channel, run_copy.approvers) == ("C_RENDERED", ["U_RENDERED"])
    assert run_copy.settings.channel == "C_RENDERED"  # what the request is built from
    assert (sensor.channel, sensor.approvers) == ("{{ params.channel }}", ["{{ params.approver }}"])


@pytest.mark.parametrize("rendered", ["U_ALICE,U_BOB", "U_ALICE U_BOB", " U_BOB ,\nU_ALICE, "])
def test_approvers_rendered_from_a_template_to_a_string_are_split_into_user_ids(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    rendered: str,
) -> None:
    import copy

    sensor = _sensor(approvers="{{ params.approvers }}")
    run_copy = copy.copy(sensor)
    run_copy.render_template_fields({"params": {"approvers": rendered}})
    trigger = _defer(run_copy, _context())
    assert run_copy.store.get_approval(trigger.approval_id)["details"]["approvers"] == ["U_ALICE", "U_BOB"]


@pytest.mark.parametrize(
    ("approvers", "bad"), [("alice", "'alice'"), (["U_ALICE", "bob@example.com"], "'bob@example.com'"), ("U", "'U'")]
)
def test_approvers_that_are_not_slack_user_ids_fail_the_task_naming_them(approvers: Any, bad: str) -> None:
    sensor = _sensor(approvers=approvers, channel=None)
    with pytest.raises(AirflowFailException, match=f"{bad} is not a Slack user id") as failed:
        sensor.execute(_context())
    assert "model 'fraud'" in str(failed.value) and "separated by commas" in str(failed.value)


def test_module_imports_no_slack_sdk_at_top_level() -> None:
    import ast

    import airflow_provider_agentic_mlops.sensors.approval as module

    tree = ast.parse(Path(module.__file__).read_text())
    top = {n.module or "" for n in tree.body if isinstance(n, ast.ImportFrom)} | {
        a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names
    }
    assert not {m for m in top if m.split(".")[0] in ("slack_sdk", "pandas", "mlflow", "evidently", "openai")}


@pytest.mark.parametrize(("configured", "deferrable", "mode"), [("True", True, "poke"), ("False", False, "reschedule")])
def test_deferrable_defaults_to_airflows_default_deferrable(
    monkeypatch: pytest.MonkeyPatch, configured: str, deferrable: bool, mode: str
) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", configured)
    sensor = ApprovalSensor(task_id="wait_for_approval", model_name="fraud")
    assert (sensor.deferrable, sensor.mode) == (deferrable, mode)


def test_a_failed_sensor_cancels_its_request(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_agentic_mlops.liveness import cancel_approval_of_failed_task

    sensor = _sensor(channel=None)
    assert cancel_approval_of_failed_task in sensor.on_failure_callback


def test_settings_fields_are_parameters_airflow_knows_for_partial_and_expand() -> None:
    from airflow.sdk import DAG

    with DAG("d", schedule=None):
        mapped = ApprovalSensor.partial(task_id="w", timeout_hours=2, deferrable=True).expand(
            model_name=["fraud", "churn"], channel=["C_FRAUD", "C_CHURN"]
        )
    assert mapped.partial_kwargs["timeout_hours"] == 2
    assert mapped.expand_input.value["channel"] == ["C_FRAUD", "C_CHURN"]


def test_without_the_validation_result_no_approval_is_asked_and_the_task_is_named() -> None:
    # a DAG naming its validation task validate_model: the request was created with no report digest
    sensor = _sensor()
    xcoms = {k: v for k, v in XCOMS.items() if k != ("validate", "validation")}
    xcoms[("validate_model", "validation")] = XCOMS[("validate", "validation")]
    with pytest.raises(AirflowFailException, match="no validation result .*task 'validate'.*validate_task_id="):
        sensor.execute(_context(xcoms=xcoms))
    assert sensor.store.find_approval("fraud", "7", dag_id=FakeTI.dag_id, run_id="manual__1") is None


def test_a_promote_connection_that_does_not_exist_fails_before_anyone_is_asked(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    """A typo in promote_conn_id was found by the promotion, after a person had approved: no request is opened
    and nothing posted for a promotion that cannot run."""
    sensor = _sensor(promote_conn_id="mlflow_promote_prod")
    with pytest.raises(AirflowFailException) as failed:
        sensor.execute(_context())
    message = str(failed.value)
    assert message.startswith("no approval asked: model 'fraud': its promote_conn_id 'mlflow_promote_prod'")
    assert "MLflow connection 'mlflow_promote_prod' does not exist" in message
    assert "airflow connections add mlflow_promote_prod --conn-type agentic_mlops_mlflow" in message
    assert slack_double.calls_to("chat.postMessage") == []
    assert sensor.store.find_approval("fraud", "7", dag_id=FakeTI.dag_id, run_id="manual__1") is None


def test_a_promote_connection_without_promote_access_fails_before_anyone_is_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_READ_ONLY",
        json.dumps({"conn_type": "agentic_mlops_mlflow", "host": "http://mlflow:5000", "extra": {"access": "read"}}),
    )
    sensor = _sensor(promote_conn_id="mlflow_read_only", channel=None)
    with pytest.raises(AirflowFailException, match="needs an MLflow connection with access 'promote'"):
        sensor.execute(_context())
    assert sensor.store.find_approval("fraud", "7", dag_id=FakeTI.dag_id, run_id="manual__1") is None


def test_an_existing_promote_connection_lets_the_request_be_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_PROMOTE_PROD",
        json.dumps({"conn_type": "agentic_mlops_mlflow", "host": "http://mlflow:5000", "extra": {"access": "promote"}}),
    )
    sensor = _sensor(promote_conn_id="mlflow_promote_prod", channel=None)
    trigger = _defer(sensor, _context())  # looked up only: nothing listens at mlflow:5000
    assert sensor.store.get_approval(trigger.approval_id)["status"] == state.PENDING
