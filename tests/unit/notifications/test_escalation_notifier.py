"""EscalationNotifier: the escalation through the notifier pattern, as an operator and as a callback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from airflow_provider_agentic_mlops.core.state import StateStore, default_sqlite_url
from airflow_provider_agentic_mlops.notifications.escalation import EscalationNotifier
from airflow_provider_agentic_mlops.operators.escalate import EscalateOperator
from airflow_provider_agentic_mlops.version_compat import AirflowFailException
from tests.doubles.airflow_task import task_context
from tests.doubles.slack_server import SlackDouble, slack_connection, slack_double  # noqa: F401

HOSTILE = "<!channel> see <https://evil.example|the MLflow report>"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateStore:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    return StateStore(default_sqlite_url(tmp_path))


def _context(store: StateStore) -> dict:
    decision_id = store.record_decision("fraud", mode="llm", final_action="escalate", rationale=HOSTILE)
    return task_context(dag_id="agentic_mlops__fraud", xcoms={("decide", "decision_id"): decision_id})


def test_the_notifier_works_as_a_callback_and_posts_the_escaped_rationale(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default")
    notifier(_context(store))  # how Airflow calls a callback
    [post] = slack_double.calls_to("chat.postMessage")
    assert post.args["channel"] == "C_OPS"
    assert "&lt;!channel&gt;" in post.args["text"] and "<!channel>" not in post.args["text"]
    assert "<https://evil" not in post.args["text"]
    assert [a["action"] for a in store.audit_trail("fraud")][0] == "escalated"


def test_the_operator_sends_through_the_notifier(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    operator = EscalateOperator(
        task_id="escalate", model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default"
    )
    result = operator.execute(_context(store))
    assert result["posted"] and result["channel"] == "C_OPS"
    assert len(slack_double.calls_to("chat.postMessage")) == 1


COOLDOWN_DECISION = {
    "decided_by": "rules",
    "rationale": "Performance drop: roc_auc 0.787 -> 0.271, but retraining is blocked: in cooldown: last retrain "
    "started 2026-11-27 20:32 UTC (5.8 min ago), cooldown_hours=0.1 (6 min); next allowed at 2026-11-27 20:38 UTC. "
    "A person must decide.",
    "rules_fired": [
        {
            "rule": "cooldown",
            "effect": "retrain not allowed",
            "detail": "in cooldown: ...; next allowed at 2026-11-27 20:38 UTC",
        },
        {"rule": "performance_drop", "effect": "escalate (retrain blocked)", "detail": "roc_auc dropped"},
    ],
    "inputs": {
        "drift": {
            "drift_share": 0.4444444444,
            "n_drifted": 4,
            "n_columns": 9,
            "top_drifted": [{"column": "tx_last_24h", "score": 0.8677721234}],
        }
    },
}


def test_without_a_slack_connection_the_escalation_is_logged_as_plain_text_ending_with_the_next_step(
    store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    decision_id = store.record_decision("fraud", mode="rules", final_action="escalate", **COOLDOWN_DECISION)
    context = task_context(dag_id="agentic_mlops__fraud", xcoms={("decide", "decision_id"): decision_id})
    with caplog.at_level(logging.WARNING):
        result = EscalationNotifier(model_name="fraud", slack_conn_id="no_such_slack").send(context)
    assert not result["posted"]
    [record] = [r for r in caplog.records if "needs a person" in r.getMessage()]
    text = record.getMessage()
    for markup in (":warning:", "*", "&gt;", "&lt;", "&amp;", "`"):  # Slack mrkdwn and its escaping
        assert markup not in text, markup
    assert (
        f"Model fraud needs a person (decision {decision_id}, decided by rules, run manual__1). Nothing was started."
        in (text)
    )
    # the header says where else it shows and points at the step to take, not "only in this log"
    assert text.splitlines()[0] == (
        "No Slack connection 'no_such_slack' is configured, so no one was messaged: the escalation is in this log "
        "and on the model's page (Browse > Models); its last line, Next, says what to do:"
    )
    assert "roc_auc 0.787 -> 0.271" in text
    assert "Drift: share 0.444 (4/9 columns); top: tx_last_24h (0.8678)" in text
    assert f"Full trace: airflow agentic-mlops decisions show {decision_id} --model fraud" in text
    assert text.splitlines()[-1] == (
        "Next: retraining is allowed again at 2026-11-27 20:38 UTC; if the model still needs it then, start a "
        "new run: airflow dags trigger agentic_mlops__fraud (the next alert or scheduled run decides again too). "
        "To allow it sooner, lower decision.cooldown_hours in models.yaml."
    )


def test_untrusted_text_reaches_the_log_as_it_is_and_slack_escaped(store: StateStore, caplog) -> None:
    result = EscalationNotifier(model_name="fraud", slack_conn_id="no_such_slack").send(_context(store))
    assert not result["posted"] and HOSTILE in caplog.text and "&lt;" not in caplog.text


def test_with_the_state_store_down_the_escalation_is_still_posted_from_xcom(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The decide task failed because the store is down; its failure callback must still reach a person."""
    import json

    import tenacity

    from airflow_provider_agentic_mlops.core import state

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv(  # nothing listens on port 1: connection refused
        "AIRFLOW_CONN_AGENTIC_MLOPS_STATE_DOWN",
        json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": "postgresql+psycopg2://u:p@127.0.0.1:1/s"}}),
    )
    for read in (state.current_revision, state.StateStore.get_decision):  # the outage, without its retries' time
        monkeypatch.setattr(read.retry, "wait", tenacity.wait_none())
    xcoms = {("decide", "decision_id"): 42, ("decide", "rationale"): "pipeline fault: column amount missing"}
    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_down")
    result = notifier.send(task_context(dag_id="agentic_mlops__fraud", xcoms=xcoms))
    [post] = slack_double.calls_to("chat.postMessage")
    assert result["posted"] and "pipeline fault: column amount missing" in post.args["text"]
    assert "Connection refused" in caplog.text  # the audit entry could not be written: said so


def test_as_a_dag_failure_callback_without_a_task_instance_it_posts_the_reason(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    from airflow.sdk import DAG

    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default")
    dag = DAG("agentic_mlops__fraud", on_failure_callback=notifier)
    notifier({"dag": dag, "run_id": "scheduled__2026", "reason": "timed_out"})  # what the DAG processor passes
    [post] = slack_double.calls_to("chat.postMessage")
    shown = post.args["text"].replace("\u200d", "")  # as Slack shows it: the joiners keep "_" from formatting
    assert "timed_out" in shown and "scheduled__2026" in shown
    [entry] = [a for a in store.audit_trail("fraud") if a["action"] == "escalated"]
    assert entry["actor"] == "dag:agentic_mlops__fraud"


@pytest.mark.parametrize("channel", ["", None])
def test_with_slack_but_no_channel_the_escalation_is_logged_and_audited_not_failed(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    channel: str | None,
) -> None:
    """models.yaml ``approval.channel: ''`` means "no Slack message": the escalation still reaches the log."""
    operator = EscalateOperator(
        task_id="escalate", model_name="fraud", channel=channel, state_conn_id="agentic_mlops_state_default"
    )
    with caplog.at_level(logging.WARNING):
        result = operator.execute(_context(store))
    assert result["posted"] is False and not slack_double.calls_to("chat.postMessage")
    [record] = [r for r in caplog.records if "needs a person" in r.getMessage()]
    assert record.getMessage().startswith(
        "No Slack channel is set (approval.escalation_channel or approval.channel), so no one was messaged"
    )
    [entry] = [a for a in store.audit_trail("fraud") if a["action"] == "escalated"]
    assert entry["details"] == {"posted": False, "channel": channel}


PIPELINE_FAULT = {
    "decided_by": "rules",
    "rationale": "Pipeline fault: column amount scale changed x100",
    "rules_fired": [{"rule": "pipeline_fault", "effect": "escalate", "detail": "amount x100"}],
}


def test_when_slack_refuses_the_post_the_log_has_the_escalation_the_audit_says_unsent_and_the_task_fails(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    slack_double.queued_answers["chat.postMessage"] = [(200, {}, {"ok": False, "error": "not_in_channel"})]
    decision_id = store.record_decision("fraud", mode="rules", final_action="escalate", **PIPELINE_FAULT)
    context = task_context(dag_id="agentic_mlops__fraud", xcoms={("decide", "decision_id"): decision_id})
    operator = EscalateOperator(
        task_id="escalate", model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default"
    )
    with caplog.at_level(logging.WARNING), pytest.raises(AirflowFailException) as failed:
        operator.execute(context)
    assert "C_OPS" in str(failed.value) and "slack_api_default" in str(failed.value)
    [record] = [r for r in caplog.records if "needs a person" in r.getMessage()]
    assert record.levelno == logging.ERROR
    logged = record.getMessage()
    assert "C_OPS" in logged and "slack_api_default" in logged and "not_in_channel" in logged
    assert "invite" in logged  # the hint for not_in_channel
    assert "column amount scale changed x100" in logged and "Next: fix the data feed" in logged
    [entry] = [a for a in store.audit_trail("fraud") if a["action"] == "escalated"]
    assert entry["details"]["posted"] is False and entry["details"]["error"] == "not_in_channel"
    assert entry["details"]["channel"] == "C_OPS"


def test_a_rate_limited_post_is_retried_after_slacks_retry_after_and_posted_once(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    slack_double.queued_answers["chat.postMessage"] = [
        (429, {"Retry-After": "0"}, {"ok": False, "error": "ratelimited"})
    ]
    operator = EscalateOperator(
        task_id="escalate", model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default"
    )
    result = operator.execute(_context(store))
    assert result["posted"] and result["ts"]
    assert [c.answer["ok"] for c in slack_double.calls_to("chat.postMessage")] == [False, True]
    [entry] = [a for a in store.audit_trail("fraud") if a["action"] == "escalated"]
    assert entry["details"]["posted"] is True


def test_as_the_failure_callback_of_a_users_task_it_says_which_task_failed_and_why(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    from tests.doubles.airflow_task import TaskInstanceDouble

    ti = TaskInstanceDouble(dag_id="my_feature_pipeline", run_id="scheduled__2026-11-28", task_id="load_features")
    context = {
        "ti": ti,
        "task_instance": ti,
        "run_id": ti.run_id,
        "exception": RuntimeError("S3 bucket <s3://features/x> not found"),
    }
    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default")
    notifier(context)  # how Airflow calls an on_failure_callback
    [post] = slack_double.calls_to("chat.postMessage")
    text = post.args["text"]
    assert "*Failed:* task `load_features` of run `scheduled__2026-11-28`" in text
    assert "RuntimeError: S3 bucket &lt;s3://features/x&gt; not found" in text  # escaped
    assert "Nothing was started" not in text and "decided by" not in text
    assert "no decision found" not in text and "decision ?" not in text
    assert "*Next:* read the log of task `load_features`" in text
    [entry] = [a for a in store.audit_trail("fraud") if a["action"] == "escalated"]
    assert entry["subject"] == "task:my_feature_pipeline.load_features"
    assert entry["details"]["run_id"] == "scheduled__2026-11-28"


def test_with_a_base_url_on_a_subpath_the_escalation_links_the_trace_and_the_model_page_and_names_the_run(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/ml/")
    decision_id = store.record_decision("fraud", mode="rules", final_action="escalate", **PIPELINE_FAULT)
    context = task_context(
        dag_id="agentic_mlops__fraud", run_id="scheduled__7", xcoms={("decide", "decision_id"): decision_id}
    )
    EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default").send(context)
    [post] = slack_double.calls_to("chat.postMessage")
    text = post.args["text"]
    assert text.splitlines()[0].endswith("run `scheduled__7`). Nothing was started.")
    assert f"<https://airflow.example.com/ml/agentic-mlops/models/fraud/decisions/{decision_id}|decision trace>" in text
    assert "<https://airflow.example.com/ml/agentic-mlops/models/fraud|model page>" in text
    # without Slack the log has the same links as plain URLs
    with caplog.at_level(logging.WARNING):
        EscalationNotifier(model_name="fraud", slack_conn_id="no_such_slack").send(context)
    assert f"decision trace: https://airflow.example.com/ml/agentic-mlops/models/fraud/decisions/{decision_id}" in (
        caplog.text
    )


@pytest.mark.parametrize(
    ("schedule", "says"), [(None, "alert or manual trigger"), ("@daily", "alert or scheduled run")]
)
def test_the_next_step_of_a_blocked_retrain_follows_the_dags_schedule(
    store: StateStore, caplog: pytest.LogCaptureFixture, schedule: str | None, says: str
) -> None:
    from airflow.sdk import DAG

    decision_id = store.record_decision("fraud", mode="rules", final_action="escalate", **COOLDOWN_DECISION)
    context = task_context(dag_id="agentic_mlops__fraud", xcoms={("decide", "decision_id"): decision_id})
    context["dag"] = DAG("agentic_mlops__fraud", schedule=schedule)
    with caplog.at_level(logging.WARNING):
        EscalationNotifier(model_name="fraud", slack_conn_id="no_such_slack").send(context)
    [record] = [r for r in caplog.records if "needs a person" in r.getMessage()]
    assert f"(the next {says} decides again too)" in record.getMessage().splitlines()[-1]


def _escalation_of_a_pipeline_fault(store: StateStore) -> tuple[EscalationNotifier, dict]:
    """A notifier for channel C_OPS and the context of a decide task that escalated a pipeline fault."""
    decision_id = store.record_decision("fraud", mode="rules", final_action="escalate", **PIPELINE_FAULT)
    context = task_context(dag_id="agentic_mlops__fraud", xcoms={("decide", "decision_id"): decision_id})
    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default")
    return notifier, context


def _assert_maybe_posted_once(store: StateStore, slack_double: SlackDouble, failure: str) -> None:  # noqa: F811
    """Slack got the post once and may have posted it: the task says to check the channel, the audit says so."""
    assert len(slack_double.calls_to("chat.postMessage")) == 1  # Slack had it, not sent again
    assert "may or may not have been posted: check channel 'C_OPS' before clearing" in failure
    [entry] = [a for a in store.audit_trail("fraud") if a["action"] == "escalated"]
    assert entry["details"]["posted"] == "unknown"


def test_a_post_slack_received_but_did_not_answer_in_time_is_recorded_as_maybe_posted(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A timeout after the request was sent: Slack may well have posted it. "Not posted, check the connection"
    sent people to fix what worked, and clearing the task would post it twice."""
    from airflow_provider_agentic_mlops.approvals import slack_client_for

    slack_client_for(slack_conn_id=slack_connection).timeout = 1  # Slack answers after the client gave up
    slack_double.held_methods.add("chat.postMessage")
    notifier, context = _escalation_of_a_pipeline_fault(store)
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(AirflowFailException) as failed:
            notifier.send(context)
    finally:
        slack_double.release.set()
    _assert_maybe_posted_once(store, slack_double, str(failed.value))
    assert str(failed.value).startswith("Slack did not answer in time when posting the escalation to channel 'C_OPS'")
    [record] = [r for r in caplog.records if "needs a person" in r.getMessage()]
    assert "No one was messaged" not in record.getMessage() and "check Slack connection" not in record.getMessage()


def test_a_post_still_rate_limited_after_its_retries_says_this_escalation_was_not_posted(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    """ "It posts again on the next escalation" read as if this one would be sent again by it: the task's retry does."""
    slack_double.queued_answers["chat.postMessage"] = [
        (429, {"Retry-After": "0"}, {"ok": False, "error": "ratelimited"})
    ] * 3
    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default")
    with pytest.raises(RuntimeError) as failed:
        notifier.send(_context(store))
    assert len(slack_double.calls_to("chat.postMessage")) == 3  # the post and its two retries
    assert "this escalation was not posted (it is in this log); the task's retry posts it" in str(failed.value)


@pytest.mark.parametrize(
    ("status", "error"), [(500, "internal_error"), (500, "fatal_error"), (503, "service_unavailable")]
)
def test_slack_failing_on_its_side_is_not_posted_again_and_recorded_as_maybe_posted(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    status: int,
    error: str,
) -> None:
    """Slack documents that part of a call answered internal_error may have succeeded: a post retried after it
    could post twice, and "this escalation was not posted" sent people to clear the task, posting it again."""
    slack_double.queued_answers["chat.postMessage"] = [(status, {}, {"ok": False, "error": error})] * 3
    notifier, context = _escalation_of_a_pipeline_fault(store)
    with caplog.at_level(logging.ERROR), pytest.raises(AirflowFailException) as failed:
        notifier.send(context)
    _assert_maybe_posted_once(store, slack_double, str(failed.value))
    # Slack answered, with an error: "Slack did not answer" would send people to look at the network
    said = f"Slack answered HTTP {status} ({error}) when posting the escalation to channel 'C_OPS'"
    assert str(failed.value).startswith(said) and "was not posted" not in str(failed.value)
    [record] = [r for r in caplog.records if "needs a person" in r.getMessage()]
    assert said in record.getMessage() and "did not answer" not in record.getMessage()
    [entry] = [a for a in store.audit_trail("fraud") if a["action"] == "escalated"]
    assert entry["details"]["cause"] == f"Slack answered HTTP {status} ({error})"


def test_a_rate_limit_asking_to_wait_minutes_fails_at_once_saying_how_long(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    """A worker slot held for minutes by a sleep helps no one: the escalation is in the log, the task fails."""
    slack_double.queued_answers["chat.postMessage"] = [
        (429, {"Retry-After": "120"}, {"ok": False, "error": "ratelimited"})
    ]
    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default")
    with pytest.raises(RuntimeError) as failed:
        notifier.send(_context(store))
    assert len(slack_double.calls_to("chat.postMessage")) == 1
    assert "Slack asked to wait 120 s" in str(failed.value)
    assert "this escalation was not posted (it is in this log)" in str(failed.value)


def test_the_operator_templates_its_slack_connection_as_the_notifier_does() -> None:
    assert "slack_conn_id" in EscalateOperator.template_fields
    assert set(EscalationNotifier.template_fields) <= set(EscalateOperator.template_fields)


def test_a_channel_without_its_slack_connection_is_an_error_naming_the_connection_and_the_fix(
    store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A channel is set, so someone expects a message; a missing connection (a typo, a secrets backend that lost
    it) silenced every escalation behind a WARNING. The task stays green: the escalation is in the log."""
    operator = EscalateOperator(
        task_id="escalate",
        model_name="fraud",
        channel="C_OPS",
        slack_conn_id="no_such_slack",
        state_conn_id="agentic_mlops_state_default",
    )
    with caplog.at_level(logging.WARNING):
        result = operator.execute(_context(store))
    assert result["posted"] is False
    [record] = [r for r in caplog.records if "needs a person" in r.getMessage()]
    assert record.levelno == logging.ERROR
    first = record.getMessage().splitlines()[0]
    assert "'no_such_slack'" in first and "'C_OPS'" in first and "create" in first and "slack" in first


def test_the_default_slack_connection_never_created_is_a_warning_as_in_the_demo(
    store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The shipped models.yaml sets a channel and the demo runs without Slack: an install that never created
    slack_api_default is not an error in every escalation; a connection named in the DAG and missing is."""
    operator = EscalateOperator(
        task_id="escalate", model_name="fraud", channel="#mlops-approvals", state_conn_id="agentic_mlops_state_default"
    )
    with caplog.at_level(logging.WARNING):
        result = operator.execute(_context(store))
    assert result["posted"] is False
    [record] = [r for r in caplog.records if "needs a person" in r.getMessage()]
    assert record.levelno == logging.WARNING and "'slack_api_default'" in record.getMessage()


@pytest.mark.parametrize(
    ("reason", "task_id", "step"),
    [
        ("timed_out", "retrain", "the run hit its DAG's dagrun_timeout while task `retrain` was still running"),
        ("all_tasks_deadlocked", "promote", "no task of the run could start"),
    ],
)
def test_as_a_dag_failure_callback_with_the_last_task_it_posts_the_runs_reason_not_a_task_failure(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    reason: str,
    task_id: str,
    step: str,
) -> None:
    from airflow.sdk import DAG

    from tests.doubles.airflow_task import TaskInstanceDouble

    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default")
    dag = DAG("agentic_mlops__fraud", on_failure_callback=notifier)
    # Airflow 3.3's DAG processor: the last task instance's template context plus the run's reason
    ti = TaskInstanceDouble(dag_id=dag.dag_id, run_id="scheduled__1", task_id=task_id)
    notifier({"dag": dag, "ti": ti, "task_instance": ti, "run_id": "scheduled__1", "reason": reason})
    [post] = slack_double.calls_to("chat.postMessage")
    shown = post.args["text"].replace("\u200d", "")
    assert f"*Run failed:* run `scheduled__1` of `agentic_mlops__fraud`: {reason}" in shown
    assert f"last task: `{task_id}`" in shown
    assert "Failed:* task" not in shown and "the task failed" not in shown and "read the log of task" not in shown
    assert "no decision found" not in shown and "Nothing was started" not in shown
    assert f"*Next:* {step}" in shown
    [entry] = [a for a in store.audit_trail("fraud") if a["action"] == "escalated"]
    assert entry["subject"] == "dag_run:agentic_mlops__fraud/scheduled__1"
    assert entry["details"]["reason"] == reason


def test_an_xcom_read_that_fails_still_posts_the_escalation_of_the_failed_task(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    caplog,
) -> None:
    from tests.doubles.airflow_task import TaskInstanceDouble

    class ApiDownTI(TaskInstanceDouble):
        def xcom_pull(self, *args, **kwargs):
            raise ConnectionError("execution API unreachable: [Errno 111] Connection refused")

    ti = ApiDownTI(dag_id="agentic_mlops__fraud", run_id="r3", task_id="check_drift")
    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default")
    with caplog.at_level(logging.WARNING):
        notifier({"ti": ti, "run_id": "r3", "exception": RuntimeError("feed broken")})
    [post] = slack_double.calls_to("chat.postMessage")
    assert (
        "*Failed:* task `check_drift` of run `r3` (DAG `agentic_mlops__fraud`, try 1): RuntimeError: feed broken"
    ) in post.args["text"]
    assert "execution API unreachable" in caplog.text  # why no decision is named


def test_a_decision_id_that_is_not_a_number_is_named_in_a_warning_and_the_escalation_still_posted(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    caplog,
) -> None:
    context = task_context(dag_id="agentic_mlops__fraud", xcoms={("decide", "decision_id"): "abc"})
    context["exception"] = RuntimeError("boom")
    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default")
    with caplog.at_level(logging.WARNING):
        notifier(context)
    [post] = slack_double.calls_to("chat.postMessage")
    assert "RuntimeError: boom" in post.args["text"] and "/decisions/" not in post.args["text"]
    assert "'abc'" in caplog.text


def test_a_slack_connection_lookup_that_fails_logs_the_whole_escalation_at_error_and_fails(
    store: StateStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog,
) -> None:
    from airflow_provider_agentic_mlops import approvals
    from airflow_provider_agentic_mlops.hooks.connection import ConnectionLookupFailed

    def down(conn_id: str):
        raise ConnectionLookupFailed(conn_id, "ExecutionAPISecretsBackend", ConnectionRefusedError(111, "refused"))

    monkeypatch.setattr(approvals, "_slack_client", down)
    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default")
    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError, match="slack_api_default"):
        notifier.send(_context(store))
    [record] = [r for r in caplog.records if "needs a person" in r.getMessage()]
    assert record.levelno == logging.ERROR and "could not look up the connection" in record.getMessage()
    assert "Next:" in record.getMessage()
    [entry] = [a for a in store.audit_trail("fraud") if a["action"] == "escalated"]
    assert entry["details"]["posted"] is False and "could not look up" in entry["details"]["error"]


# -- which failures Airflow's task retries post again ------------------------------------------------


def _retried(err: BaseException) -> bool:
    """Whether Airflow's task runner would retry a task failing with ``err`` (its retries left): any exception but
    AirflowFailException (failed at once, retries or not)."""
    return not isinstance(err, AirflowFailException)


def test_the_escalate_task_retries_by_default_and_a_dags_default_args_or_its_own_arguments_override_it() -> None:
    from datetime import timedelta

    from airflow.sdk import DAG

    operator = EscalateOperator(task_id="escalate", model_name="fraud", channel="C_OPS")
    assert operator.retries == 2 and operator.retry_delay == timedelta(minutes=1)
    assert EscalateOperator(task_id="e", model_name="fraud", retries=5).retries == 5
    with DAG("d", schedule=None, default_args={"retries": 0, "retry_delay": timedelta(seconds=7)}):
        in_dag = EscalateOperator(task_id="escalate", model_name="fraud")
    assert in_dag.retries == 0 and in_dag.retry_delay == timedelta(seconds=7)


def test_a_post_that_never_reached_slack_fails_the_task_to_be_retried_and_a_retry_posts_it(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Connection refused: nothing was sent, so a retry cannot post it twice; the task's retries post it later."""
    import json
    import socket

    from airflow_provider_agentic_mlops import approvals

    with socket.socket() as closed:  # a port nothing listens on: the connection is refused before anything is sent
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    conn = {"conn_type": "slack", "password": "xoxb-test-token", "extra": {"base_url": f"http://127.0.0.1:{port}/api/"}}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_API_DEFAULT", json.dumps(conn))
    approvals._clients.clear()
    operator = EscalateOperator(
        task_id="escalate", model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default"
    )
    context = _context(store)
    try:
        with caplog.at_level(logging.ERROR), pytest.raises(Exception) as failed:
            operator.execute(context)
        assert _retried(failed.value), failed.value
        assert "C_OPS" in str(failed.value) and "was not posted" in str(failed.value)
        assert "may or may not" not in str(failed.value)
        [entry] = [a for a in store.audit_trail("fraud") if a["action"] == "escalated"]
        assert entry["details"]["posted"] is False
        # the retry, with Slack reachable again, posts it once
        conn["extra"] = {"base_url": slack_double.base_url}
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_API_DEFAULT", json.dumps(conn))
        approvals._clients.clear()
        assert operator.execute(context)["posted"] is True
        assert len(slack_double.calls_to("chat.postMessage")) == 1
    finally:
        approvals._clients.clear()


@pytest.mark.parametrize(
    ("answers", "said"),
    [
        ([(429, {"Retry-After": "0"}, {"ok": False, "error": "ratelimited"})] * 3, "rate-limited"),
        ([(429, {"Retry-After": "120"}, {"ok": False, "error": "ratelimited"})], "Slack asked to wait 120 s"),
        ([(200, {}, {"ok": False, "error": "request_timeout"})], "data missing or truncated"),
    ],
)
def test_a_post_slack_did_not_take_for_now_fails_the_task_to_be_retried(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    answers: list,
    said: str,
) -> None:
    slack_double.queued_answers["chat.postMessage"] = answers
    operator = EscalateOperator(
        task_id="escalate", model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default"
    )
    with pytest.raises(Exception) as failed:
        operator.execute(_context(store))
    assert _retried(failed.value), failed.value
    assert said in str(failed.value) and "this escalation was not posted" in str(failed.value)
    assert "the next escalation posts again" not in str(failed.value)  # this one is posted again, by the retry


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found", "token_revoked", "invalid_auth"])
def test_a_post_slack_refused_for_good_fails_the_task_without_retries_with_the_fix(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    error: str,
) -> None:
    """The same refusal comes back at every retry: they would only delay the failure and its fix."""
    slack_double.queued_answers["chat.postMessage"] = [(200, {}, {"ok": False, "error": error})]
    operator = EscalateOperator(
        task_id="escalate", model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default"
    )
    with pytest.raises(Exception) as failed:
        operator.execute(_context(store))
    assert not _retried(failed.value), failed.value
    assert error in str(failed.value) and (
        "invite" in str(failed.value)
        or "fix the bot token" in str(failed.value)
        or "check the channel" in str(failed.value)
    )


@pytest.mark.parametrize(("status", "error"), [(500, "internal_error"), (503, "service_unavailable")])
def test_a_post_slack_may_have_posted_fails_the_task_without_retries(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    status: int,
    error: str,
) -> None:
    """A retry could post it twice (Slack documents that part of a call failing on its side may have succeeded)."""
    slack_double.queued_answers["chat.postMessage"] = [(status, {}, {"ok": False, "error": error})]
    operator = EscalateOperator(
        task_id="escalate", model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default"
    )
    with pytest.raises(Exception) as failed:
        operator.execute(_context(store))
    assert not _retried(failed.value), failed.value
    assert len(slack_double.calls_to("chat.postMessage")) == 1
    assert "may or may not have been posted" in str(failed.value)


def test_a_post_slack_did_not_answer_in_time_fails_the_task_without_retries(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    from airflow_provider_agentic_mlops.approvals import slack_client_for

    slack_client_for(slack_conn_id=slack_connection).timeout = 1  # Slack answers after the client gave up
    slack_double.held_methods.add("chat.postMessage")
    operator = EscalateOperator(
        task_id="escalate", model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default"
    )
    try:
        with pytest.raises(Exception) as failed:
            operator.execute(_context(store))
    finally:
        slack_double.release.set()
    assert not _retried(failed.value), failed.value
    assert "may or may not have been posted" in str(failed.value)


# -- as the failure callback of a task that failed for good ------------------------------------------


def _failed_task_context(task_id: str = "validate", *, try_number: int = 3, exception: BaseException | None = None):
    from tests.doubles.airflow_task import TaskInstanceDouble

    run_id = "scheduled__2026-11-28T00:00:00+00:00"
    ti = TaskInstanceDouble(dag_id="agentic_mlops__fraud", run_id=run_id, task_id=task_id, try_number=try_number)
    error = exception or RuntimeError(
        "MLflow at <!channel> http://mlflow:5000 is unreachable\nTraceback (most recent call last):\n  more"
    )
    return {"ti": ti, "task_instance": ti, "run_id": run_id, "exception": error}


def test_a_failed_task_posts_one_message_naming_the_dag_run_task_try_first_error_line_and_its_log(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a team needs to act on a broken pipeline, without opening Airflow first: which model, DAG, run, task and
    try, why (the error's first line, escaped: no mention pings anyone), and the link to that try's log."""
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/")
    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default")
    assert notifier(_failed_task_context()) is None  # how Airflow calls an on_failure_callback
    [post] = slack_double.calls_to("chat.postMessage")
    assert post.args["channel"] == "C_OPS"
    text = post.args["text"]
    assert "Model *fraud*" in text
    assert (
        "*Failed:* task `validate` of run `scheduled__2026-11-28T00:00:00+00:00` (DAG `agentic_mlops__fraud`, try 3): "
        "RuntimeError: MLflow at &lt;!channel&gt; http://mlflow:5000 is unreachable\n"
    ) in text
    assert "<!channel>" not in text and "Traceback" not in text  # escaped; the first line only
    log_url = (
        "https://airflow.example.com/dags/agentic_mlops__fraud/runs/scheduled__2026-11-28T00%3A00%3A00%2B00%3A00"
        "/tasks/validate?try_number=3"
    )
    assert f"<{log_url}|task log>" in text
    assert "*Next:* read the log of task `validate`" in text


def test_a_failed_task_under_a_retrain_decision_says_to_read_its_log_not_the_decisions_trace(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    """In the factory's DAG a task after ``decide`` fails under the decision to retrain; that decision's rules are
    context, the failure is what needs fixing."""
    decision_id = store.record_decision(
        "fraud",
        mode="rules",
        final_action="retrain",
        decided_by="rules",
        rationale="Severe drift on amount",
        rules_fired=[{"rule": "severe_drift", "effect": "retrain", "detail": "share 0.6"}],
    )
    context = _failed_task_context("promote", try_number=4)
    context["ti"].xcoms[("decide", "decision_id")] = decision_id
    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default")
    notifier(context)
    [post] = slack_double.calls_to("chat.postMessage")
    text = post.args["text"]
    assert "*Failed:* task `promote` of run" in text and "try 4" in text
    assert f"(decision {decision_id}, decided by rules" in text  # the decision the run acted on, as context
    assert "*Next:* read the log of task `promote`, fix what it says, then clear that task" in text


def test_a_slack_outage_while_posting_a_failure_is_a_warning_and_the_callback_returns(
    store: StateStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The task's own failure is the error of its log; a notice Slack could not take must not raise from the callback
    (Airflow would log a second traceback over it) nor be an ERROR of its own."""
    import json

    from airflow_provider_agentic_mlops import approvals

    # nothing listens on this port of the fixer's range: the connection is refused
    conn = {"conn_type": "slack", "password": "xoxb-test-token", "extra": {"base_url": "http://127.0.0.1:18449/api/"}}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_API_DEFAULT", json.dumps(conn))
    approvals._clients.clear()
    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default")
    try:
        with caplog.at_level(logging.WARNING):
            assert notifier(_failed_task_context()) is None
    finally:
        approvals._clients.clear()
    ours = [r for r in caplog.records if r.name.startswith("airflow_provider_agentic_mlops")]
    assert ours and all(r.levelno == logging.WARNING for r in ours), [(r.levelname, r.getMessage()) for r in ours]
    assert any("C_OPS" in r.getMessage() and "validate" in r.getMessage() for r in ours)
    [entry] = [a for a in store.audit_trail("fraud") if a["action"] == "escalated"]
    assert entry["details"]["posted"] is False


def test_a_run_stopped_by_a_denied_approval_is_not_posted_as_a_failure(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    """A deny (or an expiry: timeout = deny) is a person's decision, shown on the request's own message: the
    sensor's failure then is no broken pipeline to announce."""
    from airflow_provider_agentic_mlops.sensors.approval import ApprovalNotGranted

    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id="agentic_mlops_state_default")
    denied = ApprovalNotGranted("model 'fraud' v7: approval request 3 was denied: Denied by <@U1>")
    notifier(_failed_task_context("wait_for_approval", try_number=1, exception=denied))
    assert not slack_double.calls_to("chat.postMessage")
