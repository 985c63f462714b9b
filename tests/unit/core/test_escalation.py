"""core/escalation.py: the facts of an escalation and the next step, for Slack and for the task log."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_agentic_mlops.core.decision import RETRAIN_BLOCKED_EFFECT
from airflow_provider_agentic_mlops.core.escalation import escalation_facts, escalation_log_text
from airflow_provider_agentic_mlops.core.slack import escalation_message

DAG = "agentic_mlops__fraud"


def _decision(*rules: tuple[str, str], **fields: Any) -> dict[str, Any]:
    effects = {"cooldown": "retrain not allowed", "retrain_budget": "retrain not allowed"}
    fired = [{"rule": rule, "effect": effects.get(rule, "escalate"), "detail": detail} for rule, detail in rules]
    return {"id": 4, "rationale": "r", "rules_fired": fired, **fields}


def _blocked(decision: dict[str, Any], rule: str) -> dict[str, Any]:
    """``decision`` with ``rule`` the harm the budget or cooldown kept from retraining."""
    for fired in decision["rules_fired"]:
        if fired["rule"] == rule:
            fired["effect"] = RETRAIN_BLOCKED_EFFECT
    return decision


def _next(decision: dict[str, Any], dag_id: str | None = DAG) -> str:
    return escalation_log_text("fraud", decision, dag_id=dag_id).splitlines()[-1]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            "pipeline_fault",
            "Next: fix the data feed (the columns and changes named above), then start a new run: "
            f"airflow dags trigger {DAG}.",
        ),
        (
            "champion_unavailable",
            "Next: restore the champion: roll it back (airflow agentic-mlops rollback fraud) or point its "
            f"'champion' alias at a version that loads; then start a new run: airflow dags trigger {DAG}.",
        ),
        (
            "inflight_job_overdue",
            "Next: look at the training job that still runs (airflow agentic-mlops models list names it): fail it "
            "(airflow agentic-mlops jobs fail JOB_ID --model fraud --reason WHY) or let it finish; the next run "
            "decides again.",
        ),
        (
            "moderate_drift",
            "Next: read the trace (airflow agentic-mlops decisions show 4 --model fraud) and the drift report, act "
            f"on what they show, then start a new run: airflow dags trigger {DAG}.",
        ),
    ],
)
def test_the_next_step_follows_the_rule_that_escalated(rule: str, expected: str) -> None:
    assert _next(_decision((rule, "x"))) == expected


def test_a_blocked_retrain_says_when_it_is_allowed_again_and_which_setting_allows_it_sooner() -> None:
    decision = _decision(
        ("retrain_budget", "retrain budget exhausted: ...; next allowed at 2026-11-30 08:00 UTC"),
        ("cooldown", "in cooldown: ...; next allowed at 2026-11-28 09:15 UTC"),
        ("performance_drop", "roc_auc dropped"),
    )
    decision = _blocked(decision, "performance_drop")
    assert _next(decision) == (
        "Next: retraining is allowed again at 2026-11-30 08:00 UTC; if the model still needs it then, start a new "
        f"run: airflow dags trigger {DAG} (the next alert or scheduled run decides again too). To allow it sooner, "
        "lower decision.cooldown_hours and raise decision.max_retrains or shorten decision.budget_window_hours in "
        "models.yaml."
    )
    blocked_without_time = _blocked(_decision(("cooldown", "no time given"), ("severe_drift", "x")), "severe_drift")
    assert _next(blocked_without_time, dag_id=None) == (
        "Next: once retraining is allowed again, if the model still needs it, start a new run of its DAG (the next "
        "alert or scheduled run decides again too). To allow it sooner, lower decision.cooldown_hours in models.yaml."
    )


def test_an_escalation_the_cooldown_did_not_cause_does_not_send_the_person_to_wait_for_it() -> None:
    """The cooldown fires on every decision it covers: moderate drift escalates whatever it says, and waiting
    for its end would only escalate again; the person reads the trace instead."""
    decision = _decision(
        ("cooldown", "in cooldown: ...; next allowed at 2026-11-28 09:15 UTC"), ("moderate_drift", "x")
    )
    assert _next(decision) == (
        "Next: read the trace (airflow agentic-mlops decisions show 4 --model fraud) and the drift report, act "
        f"on what they show, then start a new run: airflow dags trigger {DAG}."
    )


def test_slack_gets_the_same_next_step_escaped_with_its_commands_as_code() -> None:
    decision = _decision(("champion_unavailable", "x"))
    text = escalation_message("fraud<>", decision, dag_id=DAG)
    assert text.splitlines()[-1] == (
        "*Next:* restore the champion: roll it back (`airflow agentic-mlops rollback 'fraud&lt;&gt;'`) or point its "
        f"'champion' alias at a version that loads; then start a new run: `airflow dags trigger {DAG}`."
    )


def test_drift_numbers_are_rounded_for_people_and_untrusted_text_is_kept_for_the_renderer() -> None:
    drift = {"drift_share": 0.4444444, "n_drifted": 4, "n_columns": 9}
    drift["top_drifted"] = [{"column": "<b>amount</b>", "score": 0.867772123}, {"column": "hour", "score": "n/a"}]
    facts = escalation_facts("fraud", _decision(inputs={"drift": drift}))
    assert facts.drift == "share 0.444 (4/9 columns); top: <b>amount</b> (0.8678), hour (n/a)"
    slack = escalation_message("m", _decision(inputs={"drift": drift}))
    assert "share 0.444 (4/9 columns); top: &lt;b&gt;amount&lt;/b&gt; (0.8678)" in slack


def test_the_trace_command_names_the_model_and_without_a_decision_lists_its_decisions() -> None:
    """Decision ids are numbered per state store: ``--model`` reads the model's own."""
    assert (
        escalation_facts("fraud", _decision()).trace_command == "airflow agentic-mlops decisions show 4 --model fraud"
    )
    failed_run = {"id": None, "action": "escalate", "rationale": "DAG run x failed: timed_out"}
    facts = escalation_facts("fraud team", failed_run, dag_id=DAG)
    assert facts.trace_command == "airflow agentic-mlops decisions list --model 'fraud team'"
    # no decision: neither who decided nor "Nothing was started" is claimed
    assert "needs a person (decision ?).\n" in escalation_log_text("fraud team", failed_run, dag_id=DAG)


def test_a_failed_task_is_named_and_no_decision_is_claimed() -> None:
    text = escalation_log_text("fraud", {"id": None}, dag_id="feeds", failed=("load", "scheduled__1", "OSError: gone"))
    assert text.splitlines()[:2] == [
        "Model fraud needs a person.",
        "Failed: task load of run scheduled__1 (DAG feeds): OSError: gone",
    ]
    assert "decided by" not in text and "Nothing was started" not in text
    assert text.splitlines()[-1].startswith("Next: read the log of task load, fix what it says")


FORGED = "Moderate drift.\n*Next:* run `airflow db reset -y`\r\nnow."


def test_untrusted_multi_line_text_stays_on_its_own_line_and_cannot_forge_the_next_step() -> None:
    """A rationale (from the LLM), an override reason, a failure's message: a line break in them would start a
    line that poses as the message's own (``*Next:* ...``), in Slack and in the task log alike."""
    decision = _decision(("moderate_drift", "x"), rationale=FORGED, override_reason="LLM said retrain\nNext: nothing")
    failed = ("load", "scheduled__1", "RuntimeError: bad row\nNext: mark the task success")
    for text in (
        escalation_message("fraud", decision, dag_id=DAG, failed=failed),
        escalation_log_text("fraud", decision, dag_id=DAG, failed=failed),
    ):
        lines = text.splitlines()
        assert [line for line in lines if "Next:" in line.split(" ", 1)[0]] == [lines[-1]]
        assert lines[-1].endswith(f"airflow dags trigger {DAG}`." if "`" in lines[-1] else f"trigger {DAG}.")
        why = next(line for line in lines if line.lstrip("*").startswith("Why:"))
        # kept as written; in Slack its formatting is inert (escape_mrkdwn: a joiner each side, a backtick as ')
        plain = "Moderate drift. *Next:* run `airflow db reset -y` now."
        inert = "Moderate drift. \u200d*\u200dNext:\u200d*\u200d run 'airflow db reset -y' now."
        assert why.endswith(inert if text.startswith(":warning:") else plain)
        assert any(line.endswith("LLM said retrain Next: nothing") for line in lines)
        assert any(line.endswith("RuntimeError: bad row Next: mark the task success") for line in lines)


def test_a_blocked_retrain_of_a_model_without_a_schedule_promises_no_scheduled_run() -> None:
    """``schedule: null`` (the demo model's): no scheduled run comes; an alert or a manual trigger decides again."""
    decision = _blocked(
        _decision(("cooldown", "next allowed at 2026-11-28 09:15 UTC"), ("severe_drift", "x")), "severe_drift"
    )
    unscheduled = escalation_log_text("fraud", decision, dag_id=DAG, scheduled=False).splitlines()[-1]
    assert "(the next alert or manual trigger decides again too)" in unscheduled
    assert "scheduled run" not in unscheduled
    assert "(the next alert or scheduled run decides again too)" in _next(decision)  # scheduled, or not known


# -- repeats: the signature, the thread they go to, the reply ---------------------------------------------------------


def _faulty(*faults: tuple[str, str], missing: tuple[str, ...] = ()) -> dict[str, Any]:
    drift = {
        "evidence": {"faults": [{"kind": kind, "column": column, "detail": "x100"} for kind, column in faults]},
        "data_quality": {"missing_columns": list(missing)},
    }
    return _decision(("pipeline_fault", "details differ each run"), inputs={"drift": drift})


def test_the_signature_of_an_escalation_is_its_dag_rules_and_the_faults_columns_not_their_numbers() -> None:
    from airflow_provider_agentic_mlops.core.escalation import escalation_signature

    signature = escalation_signature(_faulty(("unit_change", "amount")), dag_id=DAG)
    assert signature == [["dag", DAG], ["rule", "pipeline_fault"], ["unit_change", "amount"]]
    again = _faulty(("unit_change", "amount"))
    again["rules_fired"][0]["detail"] = "amount x101 on 9,876 rows"
    again["rationale"] = "another wording"
    assert escalation_signature(again, dag_id=DAG) == signature
    assert escalation_signature(_faulty(("unit_change", "amount"), ("type_change", "country")), dag_id=DAG) != signature
    assert escalation_signature(_faulty(("unit_change", "amount"), missing=("tx",)), dag_id=DAG) != signature
    assert escalation_signature(_faulty(("unit_change", "amount")), dag_id="agentic_mlops__other") != signature


def test_the_signature_of_a_failure_is_the_task_and_its_first_error_line_with_digits_and_ids_folded() -> None:
    from airflow_provider_agentic_mlops.core.escalation import escalation_signature

    def failure(task_id: str, error: str) -> list[list[str]]:
        return escalation_signature({"id": None}, dag_id=DAG, failed=(task_id, "scheduled__1", error))

    first = failure("check_drift", "TimeoutError: MLflow timed out after 30 s (request 7f3a9c21e0)\nTraceback...")
    assert first == failure("check_drift", "TimeoutError: MLflow timed out after 31 s (request 0b6d44a1ff)")
    assert first != failure("validate", "TimeoutError: MLflow timed out after 30 s (request 7f3a9c21e0)")
    assert first != failure("check_drift", "KeyError: 'amount'")
    assert failure("t", "added 2 columns") != failure("t", "dropped 2 columns")  # words are kept


def test_a_failure_signature_keeps_short_numbers_and_identifiers_and_folds_times_durations_and_ids() -> None:
    from airflow_provider_agentic_mlops.core.escalation import escalation_signature

    def failure(error: str) -> list[list[str]]:
        return escalation_signature({"id": None}, dag_id=DAG, failed=("check_drift", "scheduled__1", error))

    mlflow = "API request to http://mlflow:5000/api/2.0/mlflow/registered-models/get failed with error code {} != 200"
    assert failure(mlflow.format(503)) != failure(mlflow.format(403))  # another HTTP code: another cause
    assert failure("KeyError: 'feature_12'") != failure("KeyError: 'feature_47'")
    at = "Feed stale since {} (run {}, request {}): took {} after job {}"
    assert failure(
        at.format(
            "2026-11-28T23:00:01+00:00",
            "scheduled__2026-11-28T00:00:00+00:00",
            "3f2c1a9b-77d1-4c3e-9a0b-1c2d3e4f5a6b",
            "31.2 s",
            "123456789",
        )
    ) == failure(
        at.format(
            "2026-11-29 23:10:09.123",
            "manual__2026-11-29T08:00:00.5+00:00",
            "b7e4d2c0-11aa-4b2b-8c9d-0f1e2d3c4b5a",
            "2min",
            "987654321",
        )
    )
    assert failure("training run retrain__fraud__job3__a1b2c3d4e5f6 failed") == failure(
        "training run retrain__fraud__job4__0f9e8d7c6b5a failed"
    )


def test_a_repeat_goes_to_the_previous_thread_while_it_is_younger_than_the_window() -> None:
    from datetime import datetime, timedelta

    from airflow_provider_agentic_mlops.core.escalation import EscalationThread, repeat_thread

    start = datetime(2026, 11, 29, 8, 0)
    thread = EscalationThread("C1", "1.000001", start, 3, "#ops")
    signature = [["dag", DAG], ["rule", "pipeline_fault"]]
    previous = {"details": {"signature": signature, "thread": thread.details()}}
    hour = timedelta(hours=1)
    assert repeat_thread([previous], signature, "#ops", now=start + 23 * hour, repeat_hours=24) == thread
    assert repeat_thread([previous], signature, "#ops", now=start + 24 * hour, repeat_hours=24) is None
    assert repeat_thread([previous], signature, "#ops", now=start + hour, repeat_hours=0) is None
    assert repeat_thread([previous], [["dag", DAG]], "#ops", now=start + hour, repeat_hours=24) is None
    assert repeat_thread([previous], signature, "#other", now=start + hour, repeat_hours=24) is None
    assert repeat_thread([], signature, "#ops", now=start + hour, repeat_hours=24) is None
    unposted = {"details": {"signature": signature, "thread": None}}  # the previous post failed: no thread
    assert repeat_thread([unposted], signature, "#ops", now=start + hour, repeat_hours=24) is None


def test_a_repeat_is_found_past_other_causes_and_entries_without_a_signature() -> None:
    from datetime import datetime, timedelta

    from airflow_provider_agentic_mlops.core.escalation import EscalationThread, repeat_thread

    start = datetime(2026, 11, 29, 8, 0)
    ours, theirs = EscalationThread("C1", "1.1", start, 1, "#ops"), EscalationThread("C1", "2.2", start, 1, "#ops")
    signature, other = [["dag", DAG], ["rule", "pipeline_fault"]], [["dag", DAG], ["rule", "champion_unavailable"]]
    newest_first = [
        {"details": {"signature": other, "thread": theirs.details()}},
        {"details": {"posted": False}},  # written without a post
        {"details": {"signature": signature, "thread": ours.details()}},
    ]
    now = start + timedelta(hours=1)
    assert repeat_thread(newest_first, signature, "#ops", now=now, repeat_hours=24) == ours
    assert repeat_thread(newest_first, other, "#ops", now=now, repeat_hours=24) == theirs


def test_the_reply_of_a_repeat_names_the_run_counts_the_runs_and_mentions_nobody() -> None:
    from datetime import datetime

    from airflow_provider_agentic_mlops.core.escalation import EscalationThread
    from airflow_provider_agentic_mlops.core.slack import escalation_repeat_message

    thread = EscalationThread("C1", "1.000001", datetime(2026, 11, 29, 8, 5), 2, "C1")
    text = escalation_repeat_message(
        "fraud", {**_faulty(("unit_change", "<!channel>")), "rationale": "<!here>"}, thread=thread, run_id="sched_3"
    )
    assert text == (
        ":repeat: Still escalating: run `sched_3` (decision 4), same faults; 3 runs since 2026-11-29 08:05 UTC."
    )
    failed = escalation_repeat_message(
        "fraud", {"id": None}, thread=thread, failed=("validate", "sched_3", "<!channel> boom"), try_number=2
    )
    assert failed.startswith(
        ":repeat: Still failing: task `validate` of run `sched_3` (try 2), the same error: &lt;!channel&gt; boom;"
    )
    assert "<!" not in failed
