"""The state store under faults, on PostgreSQL with real processes: a worker SIGKILLed mid-retrain, and
every connection to the store terminated while the approval trigger waits."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

RETRAIN_IN_A_WORKER = """
import sys
from airflow_provider_agentic_mlops.operators.retrain import RetrainOperator
from tests.doubles.airflow_task import task_context

RetrainOperator(
    task_id="retrain", model_name="m", python_callable="tests.faults.slow_training:train_forever",
    conf={"started_flag": sys.argv[1]}, heartbeat_timeout=0.05, poll_interval=0.5, cooldown_hours=0,
).execute(task_context(dag_id="agentic_mlops__m", run_id="run1"))
"""


def _wait_for(check: Any, what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_sigkill_of_the_worker_mid_retrain_frees_the_model_and_the_next_run_retrains(
    pg_store: Any, tmp_path: Any
) -> None:
    """heartbeat_timeout 3 s here; the job is failed by the next reader of the in-flight job (the decide
    step reads it the same way), and the next run's retrain starts a new job: never two running."""
    flag = tmp_path / "started"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_TRAIN": json.dumps(
            {"conn_type": "agentic_mlops_mlflow", "host": "http://127.0.0.1:9"}  # never reached: training hangs
        ),
    }
    worker = subprocess.Popen([sys.executable, "-c", RETRAIN_IN_A_WORKER, str(flag)], env=env, cwd=REPO)
    try:
        _wait_for(flag.exists, "the worker to start training")
        job = pg_store.inflight_job("m")
        assert job is not None and job["run_id"] == "run1"
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=30) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
    assert pg_store.get_job(job["id"])["status"] == "running"  # nobody closed it: the process is gone
    _wait_for(lambda: pg_store.inflight_job("m") is None, "the dead job to be failed by heartbeat_timeout", 60)
    failed = pg_store.get_job(job["id"])
    assert failed["status"] == "failed" and "no heartbeat" in failed["error"]
    nxt, created = pg_store.start_job("m", dag_id="agentic_mlops__m", run_id="run2")
    assert created and nxt["id"] != job["id"]
    assert [j["id"] for j in pg_store.list_jobs("m", status="running")] == [nxt["id"]]


def _terminate_connections(url: str) -> int:
    """pg_terminate_backend on every other connection to the database of ``url`` (a failover, a DBA)."""
    import psycopg2

    from tests.conftest import PG_HOST, PG_PORT

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (url.rsplit("/", 1)[1],),
            )
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def test_connections_terminated_while_the_trigger_waits_then_approving_resumes_once(
    pg_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_agentic_mlops.core.state import StateStore, utcnow
    from airflow_provider_agentic_mlops.triggers.approval import ApprovalTrigger

    approval, _ = pg_store.request_approval(
        "m", "2", dag_id="agentic_mlops__m", run_id="run1", expires_at=utcnow() + timedelta(hours=1)
    )
    trigger = ApprovalTrigger(
        approval["id"], "agentic_mlops_state_default", approval["expires_at"].isoformat(), None, 0.2
    )
    events: list[dict] = []

    async def wait() -> None:
        gen = trigger.run()
        events.append((await asyncio.wait_for(gen.__anext__(), timeout=120)).payload)
        await gen.aclose()

    from airflow_provider_agentic_mlops.triggers import approval as trigger_module

    # the triggerer process's store cache: start empty, whatever earlier tests in this process opened
    monkeypatch.setattr(trigger_module, "_stores", {})
    waiter = threading.Thread(target=lambda: asyncio.run(wait()), daemon=True)
    waiter.start()

    _wait_for(lambda: trigger_module._stores, "the trigger to open its store")
    (trigger_store,) = trigger_module._stores.values()
    _wait_for(lambda: trigger_store.engine.pool.checkedin() + trigger_store.engine.pool.checkedout(), "a pooled conn")
    killed = _terminate_connections(pg_store.url)
    assert killed >= 1
    time.sleep(1)  # several polls hit the dead connections and retry
    assert waiter.is_alive() and events == []  # no "Trigger failure": still waiting
    approver = StateStore(pg_store.url)
    outcome = approver.decide_approval(approval["id"], approve=True, user="alice", via="cli")
    assert outcome.recorded
    waiter.join(timeout=120)
    assert events == [{"status": "approved", "approval_id": approval["id"], "decided_by": "alice"}]
    votes = approver.get_approval(approval["id"])["votes"]
    assert [(v["user_id"], v["vote"]) for v in votes] == [("alice", "approve")]  # decided once
    trigger_module._stores.clear()
    approver.dispose()
    with pg_store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1  # the store itself recovered too


@pytest.mark.parametrize("skew_minutes", [11, -11])
def test_a_worker_whose_clock_is_off_by_more_than_heartbeat_timeout_fails_no_live_job(
    pg_store: Any, monkeypatch: pytest.MonkeyPatch, skew_minutes: int
) -> None:
    """Heartbeats and staleness use PostgreSQL's clock: a worker whose clock is 11 minutes ahead (default
    heartbeat_timeout: 10 min) does not find a live job stale, and a job started by a worker 11 minutes
    behind does not look stale to the others."""
    from airflow_provider_agentic_mlops.core import state

    correct = state.utcnow
    skewed = lambda: correct() + timedelta(minutes=skew_minutes)  # noqa: E731
    first_clock, second_clock = (correct, skewed) if skew_minutes > 0 else (skewed, correct)

    monkeypatch.setattr(state, "utcnow", first_clock)
    job, created = pg_store.start_job("m", dag_id="agentic_mlops__m", run_id="run1")
    assert created and pg_store.heartbeat_job(job["id"])

    monkeypatch.setattr(state, "utcnow", second_clock)
    assert pg_store.inflight_job("m")["id"] == job["id"]
    assert pg_store.fail_stale_jobs() == []
    second, created = pg_store.start_job("m", dag_id="agentic_mlops__m", run_id="run2")
    assert not created and second["id"] == job["id"]
    assert pg_store.get_job(job["id"])["status"] == "running"
