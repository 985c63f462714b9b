"""EscalationNotifier: a repeat of the previous escalation (same model, DAG and faults) goes to the first message's
thread, not to the channel; the real slack_sdk client against the Slack Web API double, over a real socket."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_agentic_mlops.core.state import StateStore, default_sqlite_url, utcnow
from airflow_provider_agentic_mlops.notifications import escalation as notifications
from airflow_provider_agentic_mlops.notifications.escalation import EscalationNotifier
from tests.doubles.airflow_task import TaskInstanceDouble, task_context
from tests.doubles.slack_server import SlackDouble, slack_connection, slack_double  # noqa: F401

STORE = "agentic_mlops_state_default"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateStore:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    return StateStore(default_sqlite_url(tmp_path))


def _faults(*faults: tuple[str, str]) -> dict[str, Any]:
    """A pipeline-fault escalation whose drift evidence names ``faults`` as (kind, column)."""
    return {
        "decided_by": "rules",
        "rationale": "Pipeline fault: " + "; ".join(f"column {c!r}: {k}" for k, c in faults),
        "rules_fired": [{"rule": "pipeline_fault", "effect": "forced escalate", "detail": "..."}],
        "inputs": {"drift": {"evidence": {"faults": [{"kind": k, "column": c, "detail": "x100"} for k, c in faults]}}},
    }


def _escalate(store: StateStore, run: int, *faults: tuple[str, str], repeat_hours: float = 24) -> dict[str, Any]:
    """The escalate task of run ``scheduled__<run>`` of the model's DAG, on a decision escalating ``faults``."""
    decision_id = store.record_decision(
        "fraud", mode="rules", final_action="escalate", **_faults(*(faults or (("unit_change", "amount"),)))
    )
    context = task_context(
        dag_id="agentic_mlops__fraud", run_id=f"scheduled__{run}", xcoms={("decide", "decision_id"): decision_id}
    )
    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id=STORE, repeat_hours=repeat_hours)
    return notifier.send(context)


def _posts(slack_double: SlackDouble) -> list[dict[str, Any]]:  # noqa: F811
    return [call.args for call in slack_double.calls_to("chat.postMessage")]


def test_two_runs_with_the_same_faults_post_one_message_and_one_quiet_reply_in_its_thread(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    first = _escalate(store, 1)
    second = _escalate(store, 2)
    top, reply = _posts(slack_double)
    assert "thread_ts" not in top and "needs a person" in top["text"]
    assert reply["thread_ts"] == first["ts"] and reply["channel"] == "C_OPS"
    assert str(reply.get("reply_broadcast", "")).lower() not in ("1", "true")  # the channel is not told again
    text = reply["text"]
    assert text.startswith(":repeat: Still escalating: run `scheduled__2`")
    assert "same faults" in text and "2 runs since " in text and "<!" not in text and "<@" not in text
    assert second["posted"] is True and second["ts"] != first["ts"]
    entries = [a for a in store.audit_trail("fraud") if a["action"] == "escalated"]
    assert [e["details"]["thread"]["ts"] for e in entries] == [first["ts"], first["ts"]]
    assert entries[0]["details"]["ts"] == second["ts"] and entries[0]["details"]["signature"]


def test_a_third_run_replies_in_the_same_thread_counting_the_runs(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    first = _escalate(store, 1)
    _escalate(store, 2)
    _escalate(store, 3)
    replies = [p for p in _posts(slack_double) if "thread_ts" in p]
    assert [p["thread_ts"] for p in replies] == [first["ts"], first["ts"]]
    assert "3 runs since " in replies[-1]["text"]


def test_different_faults_post_a_new_message(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    _escalate(store, 1, ("unit_change", "amount"))
    _escalate(store, 2, ("unit_change", "amount"), ("type_change", "country"))
    assert [("thread_ts" in p) for p in _posts(slack_double)] == [False, False]


def test_past_the_window_since_the_threads_first_message_a_new_message_is_posted(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = _escalate(store, 1, repeat_hours=24)
    _escalate(store, 2, repeat_hours=24)  # in the thread
    later = utcnow() + timedelta(hours=25)
    monkeypatch.setattr(notifications, "utcnow", lambda: later)
    third = _escalate(store, 3, repeat_hours=24)
    fourth = _escalate(store, 4, repeat_hours=24)
    posts = _posts(slack_double)
    assert [p.get("thread_ts") for p in posts] == [None, first["ts"], None, third["ts"]]
    assert fourth["posted"] is True


def test_a_window_of_0_posts_each_escalation_as_a_new_message(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    _escalate(store, 1, repeat_hours=0)
    _escalate(store, 2, repeat_hours=0)
    posts = _posts(slack_double)
    assert len(posts) == 2 and all("thread_ts" not in p and "needs a person" in p["text"] for p in posts)


def test_a_failing_read_of_the_previous_escalation_posts_a_new_message_with_a_warning(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _escalate(store, 1)

    def unreadable(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("could not read from the audit trail: the database is locked")

    monkeypatch.setattr(StateStore, "audit_trail", unreadable)
    with caplog.at_level(logging.WARNING):
        result = _escalate(store, 2)
    assert result["posted"] is True
    assert [("thread_ts" in p) for p in _posts(slack_double)] == [False, False]
    [warning] = [r for r in caplog.records if "previous escalation" in r.getMessage()]
    assert warning.levelno == logging.WARNING and "database is locked" in warning.getMessage()


def test_a_thread_whose_first_message_was_deleted_gets_a_new_message(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = _escalate(store, 1)
    slack_double.delete_message("C_OPS", first["ts"])
    with caplog.at_level(logging.WARNING):
        second = _escalate(store, 2)
    top, refused, new = _posts(slack_double)
    assert refused["thread_ts"] == first["ts"]
    assert "thread_ts" not in new and "needs a person" in new["text"]  # the whole escalation, not the short reply
    assert second["posted"] is True and second["ts"] != first["ts"]
    assert any("thread_not_found" in r.getMessage() for r in caplog.records)
    third = _escalate(store, 3)  # the new message's thread takes the next repeat
    assert _posts(slack_double)[-1]["thread_ts"] == second["ts"] and third["posted"] is True


def test_a_reply_slack_could_not_take_keeps_the_thread_for_the_next_run(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    """A reply Slack failed on its side (may have posted it) is not posted again top-level; the next run still
    replies in the thread."""
    first = _escalate(store, 1)
    slack_double.queued_answers["chat.postMessage"] = [(503, {}, {"ok": False, "error": "service_unavailable"})]
    with pytest.raises(Exception, match="may or may not have been posted"):
        _escalate(store, 2)
    _escalate(store, 3)
    assert [p.get("thread_ts") for p in _posts(slack_double)] == [None, first["ts"], first["ts"]]


def _failed(run: int, error: str, task_id: str = "check_drift") -> dict[str, Any]:
    run_id = f"scheduled__{run}"
    ti = TaskInstanceDouble(dag_id="agentic_mlops__fraud", run_id=run_id, task_id=task_id, try_number=2)
    return {"ti": ti, "task_instance": ti, "run_id": run_id, "exception": RuntimeError(error)}


def test_a_task_failing_each_run_with_the_same_error_posts_once_then_replies_in_the_thread(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    notifier = EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id=STORE)
    notifier(_failed(1, "MLflow at http://mlflow:5000 timed out after 30 s (request 7f3a9c21e0)"))
    notifier(_failed(2, "MLflow at http://mlflow:5000 timed out after 31 s (request 0b6d44a1ff)"))
    notifier(_failed(3, "column 'amount' is missing from current data"))  # a different error: a new message
    notifier(_failed(4, "column 'amount' is missing from current data", task_id="validate"))  # another task
    top, reply, other, another = _posts(slack_double)
    assert reply["thread_ts"] and "thread_ts" not in top and "thread_ts" not in other and "thread_ts" not in another
    assert reply["text"].startswith(":repeat: Still failing: task `check_drift` of run `scheduled__2`")
    assert "same error" in reply["text"]


def test_a_repeat_of_a_failure_after_an_escalation_of_the_same_model_is_a_new_message(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    _escalate(store, 1)
    EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id=STORE)(_failed(2, "boom"))
    assert [("thread_ts" in p) for p in _posts(slack_double)] == [False, False]


def _fail(dag_id: str, task_id: str, run: str, error: str) -> None:
    """The failure callback of ``task_id`` in run ``run`` of ``dag_id``, failing with ``error``."""
    ti = TaskInstanceDouble(dag_id=dag_id, run_id=run, task_id=task_id)
    context = {"ti": ti, "task_instance": ti, "run_id": run, "exception": RuntimeError(error)}
    EscalationNotifier(model_name="fraud", channel="C_OPS", state_conn_id=STORE)(context)


def test_two_causes_alternating_each_keep_their_own_thread(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    for day in range(3):  # the user's training DAG and the factory's retrain, both failing every day
        _fail("fraud_training", "train", f"retrain__fraud__job{day}", "CUDA out of memory")
        _fail("agentic_mlops__fraud", "retrain", f"scheduled__{day}", "the training DAG failed")
    posts = _posts(slack_double)
    train, retrain = (call.answer["ts"] for call in slack_double.calls_to("chat.postMessage")[:2])
    assert [p.get("thread_ts") for p in posts] == [None, None, train, retrain, train, retrain]
    assert "`train`" in posts[0]["text"] and "`retrain`" in posts[1]["text"]


def test_an_escalation_entry_without_a_signature_does_not_break_the_thread(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    first = _escalate(store, 1)
    # an entry written without a Slack post (no channel then, or an older release): no signature
    store.audit("escalated", actor="dag:agentic_mlops__fraud", model_name="fraud", subject="decision:9", details={})
    _escalate(store, 2)
    assert [p.get("thread_ts") for p in _posts(slack_double)] == [None, first["ts"]]


def test_another_http_code_or_key_is_a_new_message_and_the_same_error_at_another_time_a_reply_showing_it(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    mlflow = "API request to http://mlflow:5000/api/2.0/mlflow/registered-models/get failed with error code {} != 200"
    _fail("agentic_mlops__fraud", "check_drift", "scheduled__1", mlflow.format(503))
    _fail("agentic_mlops__fraud", "check_drift", "scheduled__2", mlflow.format(403))
    _fail("agentic_mlops__fraud", "validate", "scheduled__3", "KeyError: 'feature_12'")
    _fail("agentic_mlops__fraud", "validate", "scheduled__4", "KeyError: 'feature_47'")
    _fail("agentic_mlops__fraud", "validate", "scheduled__5", "KeyError: 'feature_47' at 2026-11-29T08:00:01Z")
    _fail("agentic_mlops__fraud", "validate", "scheduled__6", "KeyError: 'feature_47' at 2026-11-29T09:00:07Z")
    posts = _posts(slack_double)
    assert ["thread_ts" in p for p in posts] == [False, False, False, False, False, True]
    assert "KeyError: 'feature_47' at 2026-11-29T09:00:07Z" in posts[-1]["text"]
