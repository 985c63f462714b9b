"""core/jobs.py and where its rules act: a dead job stops blocking, an overdue one escalates."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_agentic_mlops.core.budget import read_budget_inputs
from airflow_provider_agentic_mlops.core.config import DecisionConfig
from airflow_provider_agentic_mlops.core.decision import ModelHistory, evaluate_guardrails
from airflow_provider_agentic_mlops.core.jobs import job_limits, job_overdue, stale_reason
from airflow_provider_agentic_mlops.core.state import StateStore, utcnow
from tests.unit.core.test_decision import drift_summary

NOW = datetime(2026, 6, 1, 12, 0)


def _job(started_ago: timedelta, beat_ago: timedelta, **details: object) -> dict:
    return {
        "id": 7,
        "dag_id": "d",
        "run_id": "r",
        "started_at": NOW - started_ago,
        "heartbeat_at": NOW - beat_ago,
        "details": {"task_id": "retrain", **details},
    }


def test_limits_come_from_the_job_and_a_dag_wait_has_no_heartbeat() -> None:
    assert job_limits(_job(timedelta(0), timedelta(0), timeout_minutes=30, heartbeat_timeout_minutes=5)) == (
        timedelta(minutes=30),
        timedelta(minutes=5),
    )
    assert job_limits(_job(timedelta(0), timedelta(0), heartbeat_timeout_minutes=None))[1] is None
    assert job_limits(_job(timedelta(0), timedelta(0), backend="trigger_dag"))[1] is None  # recorded before limits


def test_stale_by_heartbeat_only_past_the_jobs_own_window() -> None:
    assert stale_reason(_job(timedelta(minutes=9), timedelta(minutes=4), heartbeat_timeout_minutes=5), NOW) is None
    why = stale_reason(_job(timedelta(minutes=9), timedelta(minutes=6), heartbeat_timeout_minutes=5), NOW)
    assert why and "heartbeat_timeout" in why


def test_a_live_job_past_its_timeout_is_overdue_not_stale() -> None:
    job = _job(timedelta(minutes=31), timedelta(seconds=10), timeout_minutes=30, heartbeat_timeout_minutes=5)
    assert stale_reason(job, NOW, lambda *_: "running") is None
    assert "longer than its timeout" in job_overdue(job, NOW)
    assert job_overdue(_job(timedelta(minutes=29), timedelta(0), timeout_minutes=30), NOW) is None


def test_standing_down_names_the_running_job() -> None:
    job = _job(timedelta(minutes=5), timedelta(seconds=10), timeout_minutes=30)
    g = evaluate_guardrails(drift_summary(0.9), ModelHistory(now=NOW, inflight_job=job), DecisionConfig())
    assert g.forced == "no_action" and g.attach_job_id == 7
    assert [r.rule for r in g.fired] == ["inflight_job"] and "job 7" in g.fired[0].detail


def test_a_run_blocked_longer_than_the_job_timeout_escalates_instead_of_ending_green() -> None:
    job = _job(timedelta(minutes=45), timedelta(seconds=10), timeout_minutes=30)
    g = evaluate_guardrails(drift_summary(0.9), ModelHistory(now=NOW, inflight_job=job), DecisionConfig())
    assert g.forced == "escalate"
    assert g.fired[0].rule == "inflight_job_overdue" and "job 7" in g.fired[0].detail


def test_the_decide_steps_budget_refusal_says_when_the_next_retrain_is_allowed(sqlite_store: StateStore) -> None:
    """The decide step and RetrainOperator read the budget's inputs through one function, so both say it."""
    for run in ("r1", "r2"):
        job, _ = sqlite_store.start_job("m", dag_id="d", run_id=run)
        sqlite_store.finish_job(job["id"], status="succeeded")
    now = utcnow()
    inputs = read_budget_inputs(sqlite_store, "m", now=now, budget_window_hours=24)
    assert inputs.retrains_in_window == 2 and inputs.oldest_in_window_at is not None
    config = DecisionConfig(max_retrains=2, cooldown_hours=0, budget_window_hours=24)
    history = ModelHistory(
        now=now,
        last_retrain=sqlite_store.last_retrain("m"),
        retrains_in_window=inputs.retrains_in_window,
        oldest_in_window_at=inputs.oldest_in_window_at,
    )
    g = evaluate_guardrails(drift_summary(0.3), history, config)
    budget = [r for r in g.fired if r.rule == "retrain_budget"]
    assert budget and "next allowed at" in budget[0].detail


def test_a_job_whose_task_instance_is_gone_is_stale_saying_its_run_was_deleted() -> None:
    asked: list[tuple] = []

    def deleted(*task: object) -> str:
        asked.append(task)
        return "deleted"

    # a deferred training-DAG job: without this, it keeps the model's job lock until its timeout
    job = _job(timedelta(minutes=5), timedelta(minutes=5), heartbeat_timeout_minutes=None, task_map_index=-1)
    why = stale_reason(job, NOW, deleted)
    assert why and "retrain is no longer in Airflow (its run was deleted)" in why
    assert asked == [("d", "r", "retrain", -1)]
    mapped = _job(timedelta(minutes=5), timedelta(0), heartbeat_timeout_minutes=None, task_map_index=0)
    assert "task d/r/retrain[0] is no longer in Airflow" in stale_reason(mapped, NOW, deleted)
    assert asked[-1] == ("d", "r", "retrain", 0)  # its own copy


def test_a_job_whose_task_instance_exists_without_a_state_or_names_no_map_index_is_alive() -> None:
    job = _job(timedelta(minutes=5), timedelta(0), heartbeat_timeout_minutes=None, task_map_index=-1)
    assert stale_reason(job, NOW, lambda *_: None) is None  # just cleared: it runs again
    # started before jobs recorded their map index: a mapped retrain has no unmapped task instance
    legacy = _job(timedelta(minutes=5), timedelta(0), heartbeat_timeout_minutes=None)
    assert stale_reason(legacy, NOW, lambda *_: "deleted") is None
    assert stale_reason(legacy, NOW, lambda *_: "failed")  # an ended state still ends it
