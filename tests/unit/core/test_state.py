"""The state store on SQLite and PostgreSQL: invariants held by the database itself."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from airflow_provider_agentic_mlops.core.state import (
    StateStore,
    StateStoreError,
    current_revision,
    head_revision,
    utcnow,
)


@pytest.fixture
def store(store_url: str) -> StateStore:
    s = StateStore(store_url)
    yield s
    s.dispose()


def test_migrations_create_the_schema_on_first_use(store: StateStore) -> None:
    assert current_revision(store.engine) == head_revision()
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {
        "agentic_mlops_jobs",
        "agentic_mlops_decisions",
        "agentic_mlops_approvals",
        "agentic_mlops_approval_votes",
        "agentic_mlops_audit",
        "agentic_mlops_alembic_version",
    } <= tables
    assert "alembic_version" not in tables  # never Airflow's version table


def test_migrated_database_matches_the_schema_module(store: StateStore) -> None:
    """core/schema.py and the migrations must describe the same tables (alembic's autogenerate diff)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from airflow_provider_agentic_mlops.core.schema import metadata

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    ours = [d for d in diff if "agentic_mlops" in repr(d) and "alembic_version" not in repr(d)]
    assert ours == []


def test_sqlite_store_uses_wal_and_a_busy_timeout(tmp_path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 's.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_second_job_for_a_model_attaches_to_the_running_one(store: StateStore) -> None:
    first, created = store.start_job("m", dag_id="d", run_id="r1")
    again, created_again = store.start_job("m", dag_id="d", run_id="r2")
    assert created and not created_again
    assert again["id"] == first["id"] and again["run_id"] == "r1"
    other, other_created = store.start_job("other-model", dag_id="d2", run_id="r1")
    assert other_created and other["id"] != first["id"]


def test_a_finished_job_frees_the_model_for_the_next_one(store: StateStore) -> None:
    job, _ = store.start_job("m", dag_id="d", run_id="r1")
    done = store.finish_job(job["id"], status="succeeded", result={"version": "3"})
    assert done["status"] == "succeeded" and done["result"] == {"version": "3"}
    nxt, created = store.start_job("m", dag_id="d", run_id="r2")
    assert created and nxt["id"] != job["id"]
    assert store.retrains_since("m", since=utcnow() - timedelta(hours=1))[0] == 2
    assert store.last_retrain("m")["id"] == nxt["id"]


def test_a_retrain_that_never_started_its_training_does_not_spend_the_budget(store: StateStore) -> None:
    """A job failed as never started (its training DAG run was never created, e.g. a trigger_dag_id naming no
    DAG) costs nothing; a job whose training ran and failed still counts."""
    since = utcnow() - timedelta(hours=1)
    never, _ = store.start_job("m", dag_id="d", run_id="r1", details={"job_token": "t1"})
    closed = store.finish_job(never["id"], status="failed", error="trigger refused", never_started=True)
    assert closed["details"] == {"job_token": "t1", "never_started": True}
    ran, _ = store.start_job("m", dag_id="d", run_id="r2")
    store.finish_job(ran["id"], status="failed", error="training run failed")
    assert store.retrains_since("m", since=since)[0] == 1
    assert store.retrains_since_of(["m"], since=since)["m"][0] == 1
    with pytest.raises(ValueError, match="never_started"):
        store.finish_job(ran["id"], status="succeeded", never_started=True)


def test_a_retrain_superseded_by_a_new_try_of_its_task_does_not_spend_the_budget(store: StateStore) -> None:
    """A scheduler restart re-queues an in-flight retrain: the new try fails the earlier try's job and starts its
    own. One run spends one unit: the superseded job is not counted, the new try's job is."""
    since = utcnow() - timedelta(hours=1)
    earlier, _ = store.start_job("m", dag_id="d", run_id="r1", details={"job_token": "t1"})
    closed = store.finish_job(earlier["id"], status="failed", error="superseded", superseded=True)
    assert closed["details"] == {"job_token": "t1", "superseded": True}
    assert store.retrains_since("m", since=since)[0] == 1  # the run's unit, until its new job takes it over
    assert store.retrains_since("m", since=since, run=("d", "r1")) == (0, None)  # the new try's budget check
    assert store.retrains_since("m", since=since, run=("d", "r2"))[0] == 1
    again, created = store.start_job("m", dag_id="d", run_id="r1")
    assert created
    store.finish_job(again["id"], status="failed", error="training run failed")
    assert store.retrains_since("m", since=since)[0] == 1
    assert store.retrains_since_of(["m"], since=since)["m"][0] == 1
    with pytest.raises(ValueError, match="superseded"):
        store.finish_job(again["id"], status="succeeded", superseded=True)


def test_one_dag_run_spends_one_budget_unit_whichever_reader_failed_its_earlier_job(store: StateStore) -> None:
    """A reader (``jobs list``, ``models list``, ``decide``) fails a crashed try's job as stale before the new try
    runs: the new try finds nothing running and starts a second job. The run still spends one unit, counted from
    its newest job, as when the new try superseded the job itself."""
    since = utcnow() - timedelta(hours=1)
    stale, _ = store.start_job("m", dag_id="d", run_id="r1")
    store.finish_job(stale["id"], status="failed", error="stale: no heartbeat")  # as fail_stale_jobs closes it
    assert store.retrains_since("m", since=since) == (1, stale["started_at"])  # until the run's new try starts
    again, created = store.start_job("m", dag_id="d", run_id="r1")
    assert created
    store.finish_job(again["id"], status="succeeded")
    assert store.retrains_since("m", since=since) == (1, again["started_at"])
    assert store.retrains_since_of(["m"], since=since)["m"] == (1, again["started_at"])
    # another run's, or another model's, later job does not hide a failed one: each spent its own unit
    other_run, _ = store.start_job("m", dag_id="d", run_id="r2")
    store.finish_job(other_run["id"], status="failed", error="training run failed")
    mine, _ = store.start_job("n", dag_id="d", run_id="r3")
    store.finish_job(mine["id"], status="failed", error="training run failed")
    store.start_job("other-model", dag_id="d", run_id="r3")
    assert store.retrains_since("m", since=since)[0] == 2
    assert store.retrains_since("n", since=since)[0] == 1


def test_concurrent_starts_create_exactly_one_job(store: StateStore) -> None:
    results: list[tuple[dict, bool]] = []
    barrier = threading.Barrier(8)

    def start(i: int) -> None:
        barrier.wait()
        results.append(store.start_job("m", dag_id="d", run_id=f"r{i}"))

    threads = [threading.Thread(target=start, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(created for _, created in results) == 1
    assert len({job["id"] for job, _ in results}) == 1
    assert len(store.list_jobs("m")) == 1


def _age(store: StateStore, job_id: int, **columns: timedelta) -> None:
    """Move the job's timestamps into the past (``heartbeat_at=timedelta(hours=2)``: two hours ago)."""
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE agentic_mlops_jobs SET {', '.join(f'{c} = :{c}' for c in columns)} WHERE id = :i"),
            {**{c: utcnow() - ago for c, ago in columns.items()}, "i": job_id},
        )


def test_a_job_without_heartbeat_is_marked_failed_and_unblocks_the_model(store: StateStore) -> None:
    job, _ = store.start_job("m", dag_id="d", run_id="r1", details={"heartbeat_timeout_minutes": 60})
    assert store.fail_stale_jobs() == []
    _age(store, job["id"], heartbeat_at=timedelta(hours=2))
    assert store.fail_stale_jobs() == [job["id"]]
    failed = store.get_job(job["id"])
    assert failed["status"] == "failed" and "presumed dead" in failed["error"]
    assert store.audit_trail("m")[0]["action"] == "job_failed_stale"
    _, created = store.start_job("m", dag_id="d", run_id="r2")
    assert created


def test_reading_the_inflight_job_fails_it_first_when_stale(store: StateStore) -> None:
    """The decide step, the alerts endpoint and `models list` all read through inflight_job: a dead job
    stops blocking the model the moment anyone looks, not only when a retrain task runs."""
    job, _ = store.start_job("m", dag_id="d", run_id="r1", details={"heartbeat_timeout_minutes": 5})
    assert store.inflight_job("m")["id"] == job["id"]
    _age(store, job["id"], heartbeat_at=timedelta(minutes=6))
    assert store.inflight_job("m") is None
    assert store.get_job(job["id"])["status"] == "failed"


def _drop_connections(store: StateStore, monkeypatch: pytest.MonkeyPatch, *, fail_calls: set[int]) -> None:
    """The store's ``engine.connect`` calls numbered in ``fail_calls`` (from 1) fail as a dropped connection."""
    real, calls = store.engine.connect, [0]

    def connect(*args, **kwargs):
        calls[0] += 1
        if calls[0] in fail_calls:
            raise sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))
        return real(*args, **kwargs)

    monkeypatch.setattr(store.engine, "connect", connect)


def test_reading_the_inflight_job_retries_a_dropped_connection(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    job, _ = store.start_job("m", dag_id="d", run_id="r1")
    _drop_connections(store, monkeypatch, fail_calls={1})  # the stale-jobs read inside inflight_job
    assert store.inflight_job("m")["id"] == job["id"]


def test_failing_a_stale_job_retries_a_dropped_connection_and_fails_it_once(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry of the whole read-then-fail is safe: the update only touches jobs still running."""
    job, _ = store.start_job("m", dag_id="d", run_id="r1", details={"heartbeat_timeout_minutes": 5})
    _age(store, job["id"], heartbeat_at=timedelta(minutes=6))
    _drop_connections(store, monkeypatch, fail_calls={2})  # the read succeeds, the write's connection drops
    assert store.inflight_job("m") is None
    assert store.get_job(job["id"])["status"] == "failed"
    assert [e["action"] for e in store.audit_trail("m")].count("job_failed_stale") == 1


def test_a_job_that_cannot_heartbeat_is_failed_past_its_timeout(store: StateStore) -> None:
    details = {"heartbeat_timeout_minutes": None, "timeout_minutes": 30}
    job, _ = store.start_job("m", dag_id="d", run_id="r1", details=details)
    _age(store, job["id"], heartbeat_at=timedelta(hours=5), started_at=timedelta(minutes=20))
    assert store.inflight_job("m") is not None  # no heartbeat expected: only the timeout counts
    _age(store, job["id"], started_at=timedelta(minutes=31))
    assert store.inflight_job("m") is None
    assert "longer than its timeout" in store.get_job(job["id"])["error"]


@pytest.mark.parametrize(
    ("state", "fails"),
    [("failed", True), ("up_for_retry", True), ("deleted", True), ("running", False), (None, False)],
)
def test_a_job_whose_airflow_task_ended_is_failed_at_once(store: StateStore, state: str | None, fails: bool) -> None:
    """SIGKILL leaves no time to close the job; the task's state in Airflow says the process is gone."""
    job, _ = store.start_job("m", dag_id="d", run_id="r1", details={"task_id": "retrain", "task_map_index": -1})
    asked: list[tuple[str, str, str, int]] = []

    def task_state(dag_id: str, run_id: str, task_id: str, map_index: int) -> str | None:
        asked.append((dag_id, run_id, task_id, map_index))
        return state

    running = store.inflight_job("m", task_state=task_state)
    assert asked == [("d", "r1", "retrain", -1)]
    assert (running is None) is fails
    if fails:
        said = "no longer in Airflow (its run was deleted)" if state == "deleted" else state
        assert f"is {said}" in store.get_job(job["id"])["error"]


def test_an_unreadable_task_state_does_not_fail_the_job(store: StateStore) -> None:
    store.start_job("m", dag_id="d", run_id="r1", details={"task_id": "retrain"})

    def broken(*_: str) -> str:
        raise ConnectionError("API server down")

    assert store.inflight_job("m", task_state=broken) is not None


def test_a_migration_added_later_is_applied_to_a_database_at_the_previous_head(tmp_path) -> None:
    """The head comes from Alembic's script directory: a new revision is never skipped on existing databases."""
    import shutil

    from airflow_provider_agentic_mlops.core.state import MIGRATIONS_DIR, head_revision, migrate_schema

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old_head = head_revision()
    StateStore(url).dispose()
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9999_test_added.py").write_text(
        f"""
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = {old_head!r}
branch_labels = depends_on = None


def upgrade():
    op.create_table("agentic_mlops_test_added", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("agentic_mlops_test_added")
"""
    )
    assert head_revision(scripts) == "9999"
    engine = sa.create_engine(url)
    assert current_revision(engine) == old_head
    migrate_schema(engine, script_location=scripts)
    assert current_revision(engine) == "9999"
    assert "agentic_mlops_test_added" in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_a_store_written_by_a_newer_provider_is_a_clear_error_not_an_alembic_traceback(tmp_path, monkeypatch) -> None:
    # e.g. after downgrading the provider: the store's revision is one this version's migrations do not have
    from airflow_provider_agentic_mlops.core import state
    from airflow_provider_agentic_mlops.core.migrations import VERSION_TABLE
    from airflow_provider_agentic_mlops.core.state import UnknownSchemaRevision

    url = f"sqlite:///{tmp_path / 'newer.db'}"
    StateStore(url).dispose()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0099_future'"))
        # and incompatible with this version: it raised the oldest code revision that can run on it
        conn.execute(sa.text("UPDATE agentic_mlops_schema_compat SET oldest_compatible_revision = '0099_future'"))
    engine.dispose()
    monkeypatch.setattr(state, "_migrated", set())  # as in a new process
    with pytest.raises(UnknownSchemaRevision) as exc:
        StateStore(url)
    message = str(exc.value)
    assert "revision '0099_future'" in message and url in message
    assert f"{head_revision()}" in message and "0001" in message  # the revisions this version knows
    assert "Upgrade the provider" in message and "Can't locate" not in message


def test_a_store_of_a_newer_provider_is_named_with_every_password_masked(tmp_path) -> None:
    """The message names the store's URL: a password given in its query (libpq reads ``?password=``) is masked
    as the one before the host is, as the CLI and the hook show URLs."""
    from airflow_provider_agentic_mlops.core.state import MIGRATIONS_DIR, UnknownSchemaRevision, _check_known_revision

    engine = sa.create_engine("postgresql+psycopg2://mlops:userinfo-secret@db/state?password=query-secret")
    with pytest.raises(UnknownSchemaRevision) as raised:
        _check_known_revision(engine, "9999", MIGRATIONS_DIR)
    assert "secret" not in str(raised.value) and "password=***" in str(raised.value)


def test_finish_job_rejects_a_non_final_status(store: StateStore) -> None:
    job, _ = store.start_job("m")
    with pytest.raises(ValueError, match="'running' is not a final status"):
        store.finish_job(job["id"], status="running")


def test_decision_trace_round_trips_and_counts_tokens(store: StateStore) -> None:
    decision_id = store.record_decision(
        "m",
        mode="llm",
        final_action="no_action",
        llm_action="retrain",
        override_reason="cooldown: last retrain 2 h ago",
        rules_fired=["cooldown"],
        prompt=[{"role": "user", "content": "x"}],
        raw_answer='{"action": "retrain"}',
        prompt_tokens=120,
        completion_tokens=30,
    )
    got = store.get_decision(decision_id)
    assert got["llm_action"] == "retrain" and got["final_action"] == "no_action"
    assert got["rules_fired"] == ["cooldown"] and got["prompt"][0]["content"] == "x"
    assert store.tokens_used("m", since=utcnow() - timedelta(days=1)) == 150
    assert store.tokens_used("other", since=utcnow() - timedelta(days=1)) == 0


def test_record_decision_names_unknown_fields(store: StateStore) -> None:
    with pytest.raises(ValueError, match="unknown decision fields \\['colour'\\]"):
        store.record_decision("m", mode="rules", final_action="no_action", colour="red")


def _request(store: StateStore, **kw):
    return store.request_approval(
        "m", "7", dag_id="d", run_id="r1", expires_at=utcnow() + timedelta(hours=1), report_digest="abc", **kw
    )


def test_rerunning_a_request_returns_the_same_approval(store: StateStore) -> None:
    first, created = _request(store)
    again, created_again = _request(store)
    assert created and not created_again and again["id"] == first["id"]


def test_first_decision_wins_and_later_voters_are_told_who_decided(store: StateStore) -> None:
    approval, _ = _request(store)
    denied = store.decide_approval(approval["id"], approve=False, user="U1", via="slack", reason="not now")
    late = store.decide_approval(approval["id"], approve=True, user="U2", via="cli")
    assert denied.recorded and denied.approval["status"] == "denied"
    assert not late.recorded and late.approval["status"] == "denied"
    assert "already denied by U1" in late.message


def test_concurrent_votes_record_exactly_one_decision(store: StateStore) -> None:
    approval, _ = _request(store)
    outcomes = []
    barrier = threading.Barrier(10)

    def vote(i: int) -> None:
        barrier.wait()
        outcomes.append(store.decide_approval(approval["id"], approve=i % 2 == 0, user=f"U{i}", via="slack"))

    threads = [threading.Thread(target=vote, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(o.recorded for o in outcomes) == 1
    final = store.get_approval(approval["id"])
    assert final["status"] in ("approved", "denied") and len(final["votes"]) == 1


def test_two_person_rule_needs_two_different_approvers(store: StateStore) -> None:
    approval, _ = _request(store, required_approvals=2)
    one = store.decide_approval(approval["id"], approve=True, user="U1", via="slack")
    same = store.decide_approval(approval["id"], approve=True, user="U1", via="cli")
    assert one.recorded and one.approval["status"] == "pending"
    assert not same.recorded and "already voted" in same.message
    two = store.decide_approval(approval["id"], approve=True, user="U2", via="slack")
    assert two.approval["status"] == "approved" and two.approval["decided_by"] == "U1,U2"


@pytest.mark.parametrize("on_conflict", [True, False], ids=["on-conflict", "savepoint"])
def test_an_approver_who_changes_their_mind_denies_the_request(
    store: StateStore, monkeypatch: pytest.MonkeyPatch, on_conflict: bool
) -> None:
    from airflow_provider_agentic_mlops.core import state

    if not on_conflict:
        monkeypatch.setattr(state, "ON_CONFLICT_DIALECTS", ())
    approval, _ = _request(store, required_approvals=2)
    store.decide_approval(approval["id"], approve=True, user="U1", via="slack")
    withdrawn = store.decide_approval(approval["id"], approve=False, user="U1", via="cli", reason="saw a bug")
    assert withdrawn.recorded and withdrawn.approval["status"] == "denied"
    assert withdrawn.approval["decided_by"] == "U1" and withdrawn.approval["reason"] == "saw a bug"
    assert "Denied by U1" in withdrawn.message and "approved it before" in withdrawn.message
    assert [(v["user_id"], v["vote"], v["via"]) for v in withdrawn.approval["votes"]] == [("U1", "deny", "cli")]
    late = store.decide_approval(approval["id"], approve=True, user="U2", via="slack")
    assert not late.recorded and late.approval["status"] == "denied"
    trail = {e["action"]: e for e in store.audit_trail("m")}
    assert trail["approval_vote_approve"]["actor"] == trail["approval_vote_deny"]["actor"] == "U1"
    assert trail["approval_vote_deny"]["details"]["withdraws"] == "approve"
    assert trail["approval_denied"]["actor"] == "U1"


def test_a_repeated_approve_still_counts_once_after_the_deny_rule(store: StateStore) -> None:
    """Only a deny replaces a person's approve; approving again never counts them twice."""
    approval, _ = _request(store, required_approvals=2)
    store.decide_approval(approval["id"], approve=True, user="U1", via="slack")
    for via in ("slack", "cli", "ui"):
        again = store.decide_approval(approval["id"], approve=True, user="U1", via=via)
        assert not again.recorded and "already voted" in again.message
    assert store.get_approval(approval["id"])["status"] == "pending"
    assert [(v["user_id"], v["vote"]) for v in store.get_approval(approval["id"])["votes"]] == [("U1", "approve")]


def test_a_vote_cast_on_the_message_a_reopened_request_replaced_is_refused(store: StateStore) -> None:
    approval, _ = _request(store)
    store.set_approval_message(approval["id"], channel="C", ts="1.000001")
    store.close_approvals_of_run("m", dag_id="d", run_id="r1", reason="task failed")
    _request(store)  # reopened: its new message is not posted yet
    assert store.replaced_messages(approval["id"]) == [{"channel": "C", "ts": "1.000001"}]
    stale = store.decide_approval(approval["id"], approve=True, user="U1", via="slack", message_ts="1.000001")
    assert not stale.recorded and stale.approval["status"] == "pending" and stale.approval["votes"] == []
    assert "newer message" in stale.message
    store.set_approval_message(approval["id"], channel="C", ts="2.000002")
    other = store.decide_approval(approval["id"], approve=True, user="U1", via="slack", message_ts="1.000001")
    assert not other.recorded and other.approval["votes"] == []  # any message but the current one
    current = store.decide_approval(approval["id"], approve=True, user="U1", via="slack", message_ts="2.000002")
    assert current.recorded and current.approval["status"] == "approved"


def _ask_with_report(store: StateStore, digest: str, **kw):
    """The sensor of run r1 asking again after validation was re-run and produced report ``digest``."""
    return store.request_approval(
        "m",
        "7",
        dag_id="d",
        run_id="r1",
        expires_at=utcnow() + timedelta(hours=2),
        report_digest=digest,
        details={"metrics": digest},
        **kw,
    )


def _decide(store: StateStore, approval_id: int, decision: str) -> None:
    if decision == "expired":
        store.expire_approvals(now=utcnow() + timedelta(hours=1, minutes=1))
    else:
        store.decide_approval(approval_id, approve=decision == "approved", user="U1", via="cli")


@pytest.mark.parametrize("decision", ["approved", "denied", "expired", "pending"])
def test_a_changed_validation_report_asks_again_whatever_was_decided_on_the_old_one(
    store: StateStore, decision: str
) -> None:
    """Re-running validation (the champion moved) gives a new report: the request is asked again for it,
    a decision on the old report does not carry over, and the audit trail keeps what was forgotten."""
    approval, _ = _request(store, details={"metrics": "abc"})
    store.set_approval_message(approval["id"], channel="C", ts="1.000001")
    if decision != "pending":
        _decide(store, approval["id"], decision)
    same, asked_again = _ask_with_report(store, "abc")  # a re-run with the same report changes nothing
    assert not asked_again and same["status"] == decision and same["slack_ts"] == "1.000001"
    reopened, asked_again = _ask_with_report(store, "def")
    assert asked_again and reopened["id"] == approval["id"] and reopened["status"] == "pending"
    assert reopened["report_digest"] == "def" and reopened["details"] == {"metrics": "def"}
    assert reopened["votes"] == [] and reopened["decided_by"] is None and reopened["slack_ts"] is None
    assert reopened["expires_at"] > utcnow() + timedelta(hours=1)
    entry = store.last_audit("m", ("approval_reopened",))
    assert entry["details"]["reason"] == "validation report changed" and entry["details"]["was"] == decision
    assert (entry["details"]["previous_digest"], entry["details"]["digest"]) == ("abc", "def")
    assert entry["details"]["replaced_message"] == {"channel": "C", "ts": "1.000001"}
    votes = {"approved": [{"user_id": "U1", "vote": "approve"}], "denied": [{"user_id": "U1", "vote": "deny"}]}
    assert entry["details"]["forgotten_votes"] == votes.get(decision, [])
    assert store.replaced_messages(approval["id"]) == [{"channel": "C", "ts": "1.000001"}]
    stale = store.decide_approval(approval["id"], approve=True, user="U2", via="slack", message_ts="1.000001")
    assert not stale.recorded and stale.approval["status"] == "pending"
    again, asked_again = _ask_with_report(store, "def")  # the sensor's retry: the same request, not asked again
    assert not asked_again and again["status"] == "pending"


def test_an_approval_of_the_old_report_never_counts_for_the_new_one_under_the_two_person_rule(
    store: StateStore,
) -> None:
    approval, _ = _request(store, required_approvals=2)
    store.decide_approval(approval["id"], approve=True, user="U1", via="slack")  # U1 saw report abc
    reopened, asked_again = _ask_with_report(store, "def", required_approvals=2)
    assert asked_again and reopened["votes"] == []
    second = store.decide_approval(approval["id"], approve=True, user="U2", via="slack")
    assert second.recorded and second.approval["status"] == "pending"  # U1's approve of abc does not pair
    assert "1 of 2" in second.message
    first = store.decide_approval(approval["id"], approve=True, user="U1", via="cli")  # U1 approves def
    assert first.approval["status"] == "approved" and first.approval["decided_by"] == "U2,U1"
    votes = [(e["action"], e["actor"]) for e in reversed(store.audit_trail("m"))]
    assert votes.count(("approval_vote_approve", "U1")) == 2  # both of U1's votes stay in the audit trail


def test_a_cancelled_request_asked_again_takes_the_new_report_and_forgets_its_votes(store: StateStore) -> None:
    approval, _ = _request(store, required_approvals=2, details={"metrics": "abc"})
    store.decide_approval(approval["id"], approve=True, user="U1", via="slack")
    store.close_approvals_of_run("m", dag_id="d", run_id="r1", reason="task failed")
    reopened, asked_again = _ask_with_report(store, "def", required_approvals=2)
    assert asked_again and reopened["status"] == "pending" and reopened["report_digest"] == "def"
    assert reopened["details"] == {"metrics": "def"} and reopened["votes"] == []
    entry = store.last_audit("m", ("approval_reopened",))
    assert entry["details"]["cancelled_because"] == "task failed"
    assert entry["details"]["reason"] == "validation report changed"
    assert entry["details"]["forgotten_votes"] == [{"user_id": "U1", "vote": "approve"}]
    second = store.decide_approval(approval["id"], approve=True, user="U2", via="slack")
    assert second.recorded and second.approval["status"] == "pending"


def test_an_expired_request_is_asked_again_once_its_sensor_failed_and_a_denied_one_is_not(store: StateStore) -> None:
    """Nobody decided an expired request: once the sensor failed (its failure callback cancels the run's
    expired requests) a clear of the sensor asks again. Until then a reschedule poke of a sensor still waiting
    finds it expired and fails, not asks again. A deny is a decision on this report: it stands."""
    approval, _ = _request(store)
    store.set_approval_message(approval["id"], channel="C", ts="1.000001")
    _decide(store, approval["id"], "expired")
    same, asked_again = _ask_with_report(store, "abc")  # the sensor's next poke: it fails on the expiry
    assert not asked_again and same["status"] == "expired"
    closed = store.close_approvals_of_run(
        "m", dag_id="d", run_id="r1", reason="task d/r1/wait failed", expired_too=True
    )
    assert closed == [approval["id"]]
    cancelled = store.get_approval(approval["id"])
    assert cancelled["status"] == "cancelled" and "nobody decided before the deadline" in cancelled["reason"]
    assert (cancelled["decided_by"], cancelled["decided_via"]) == ("agentic-mlops", "system")  # not "timeout"
    reopened, asked_again = _ask_with_report(store, "abc")  # the sensor cleared
    assert asked_again and reopened["id"] == approval["id"] and reopened["status"] == "pending"
    assert reopened["expires_at"] > utcnow() + timedelta(minutes=59) and reopened["slack_ts"] is None
    entry = store.last_audit("m", ("approval_reopened",))
    assert entry["details"]["was"] == "cancelled" and "nobody decided" in entry["details"]["cancelled_because"]

    store.decide_approval(approval["id"], approve=False, user="U1", via="cli", reason="not this one")
    assert store.close_approvals_of_run("m", dag_id="d", run_id="r1", reason="failed", expired_too=True) == []
    same, asked_again = _ask_with_report(store, "abc")
    assert not asked_again and same["status"] == "denied"


def test_a_request_whose_promotion_began_is_not_asked_again(store: StateStore) -> None:
    approval, _ = _request(store)
    decided = store.decide_approval(approval["id"], approve=True, user="U1", via="cli").approval
    store.begin_promotion(decided, registered_model="m", previous_version="6")
    same, asked_again = _ask_with_report(store, "def")
    assert not asked_again and same["status"] == "approved" and same["report_digest"] == "abc"


def test_a_superseded_request_is_not_asked_again_for_a_new_report(store: StateStore) -> None:
    old, _ = _request(store)
    store.request_approval("m", "8", dag_id="d", run_id="r1", expires_at=utcnow() + timedelta(hours=1))
    same, asked_again = _ask_with_report(store, "def")
    assert not asked_again and same["id"] == old["id"] and same["status"] == "superseded"


def test_an_expired_request_cannot_be_approved(store: StateStore) -> None:
    approval, _ = store.request_approval("m", "7", dag_id="d", run_id="r1", expires_at=utcnow() - timedelta(seconds=1))
    outcome = store.decide_approval(approval["id"], approve=True, user="U1", via="slack")
    assert not outcome.recorded and outcome.approval["status"] == "expired"
    assert "expired" in outcome.message


def test_expire_approvals_denies_overdue_requests_only(store: StateStore) -> None:
    overdue, _ = store.request_approval("m", "1", dag_id="d", run_id="r1", expires_at=utcnow() - timedelta(minutes=1))
    fresh, _ = store.request_approval("m", "2", dag_id="d", run_id="r2", expires_at=utcnow() + timedelta(hours=1))
    expired = store.expire_approvals()
    assert [a["id"] for a in expired] == [overdue["id"]]
    assert store.get_approval(fresh["id"])["status"] == "pending"
    assert store.get_approval(overdue["id"])["decided_via"] == "timeout"


def test_deciding_an_unknown_request_says_how_to_find_one(store: StateStore) -> None:
    with pytest.raises(StateStoreError, match="approval 999 is not in the state store; list the pending ones with"):
        store.decide_approval(999, approve=True, user="U1", via="cli")


def test_audit_trail_is_append_only(store: StateStore) -> None:
    approval, _ = _request(store)
    store.decide_approval(approval["id"], approve=True, user="U1", via="slack")
    actions = [e["action"] for e in store.audit_trail("m")]
    assert actions[:3] == ["approval_approved", "approval_vote_approve", "approval_requested"]
    for statement in ("UPDATE agentic_mlops_audit SET actor = 'x'", "DELETE FROM agentic_mlops_audit"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    assert len(store.audit_trail("m")) == len(actions)


def _audit_triggers(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        query = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'agentic_mlops_audit'::regclass AND NOT tgisinternal"
        return sorted(conn.exec_driver_sql(query).scalars())


def test_postgresql_refuses_truncating_the_audit_trail(pg_url: str) -> None:
    """The row trigger refuses UPDATE and DELETE, but TRUNCATE fires no row trigger: it emptied the
    append-only trail. Migration 0008 adds a statement trigger refusing it; its downgrade drops it (and the
    migration's indexes)."""
    from airflow_provider_agentic_mlops.core.state import downgrade_schema, migrate_schema

    store = StateStore(pg_url)
    store.audit("escalated", actor="agent", model_name="m")
    for statement in ("TRUNCATE agentic_mlops_audit", "TRUNCATE agentic_mlops_jobs, agentic_mlops_audit"):
        refused = pytest.raises(sa.exc.DatabaseError, match="agentic_mlops_audit is append-only")
        with refused, store.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    assert [e["action"] for e in store.audit_trail("m")] == ["escalated"]
    guards = ["agentic_mlops_audit_append_only", "agentic_mlops_audit_no_truncate"]
    assert _audit_triggers(store.engine) == guards
    assert downgrade_schema(store.engine, "0007") == head_revision()
    assert _audit_triggers(store.engine) == ["agentic_mlops_audit_append_only"]
    migrate_schema(store.engine)
    assert current_revision(store.engine) == head_revision() and _audit_triggers(store.engine) == guards
    store.dispose()


def test_audit_details_no_database_can_read_back_are_scrubbed_on_write(store: StateStore) -> None:
    # PostgreSQL's json column accepts "\\ud800" and "\\u0000" on insert, and then fails every query reading
    # the row's details ("invalid input syntax for type json"); the trail is append-only, so for ever
    details = {"identity": {"display_name": "\ud800a\x00b"}, "names": ["\udfff"], "k\x00": 1}
    store.audit("approval_vote_approve", actor="U1", model_name="m", subject="approval:1", details=details)
    [entry] = store.audit_trail("m")
    assert entry["details"] == {"identity": {"display_name": "\ufffda\ufffdb"}, "names": ["\ufffd"], "k\ufffd": 1}
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as conn:
            read = conn.exec_driver_sql("SELECT details -> 'identity' ->> 'display_name' FROM agentic_mlops_audit")
            assert read.scalar_one() == "\ufffda\ufffdb"


def test_approval_and_job_details_no_database_can_read_back_are_scrubbed_on_write(store: StateStore) -> None:
    """A request's details carry text from the data (the drifted columns' names), the decision's rationale and
    templated links; PostgreSQL's json column takes a NUL or a lone surrogate as an escape and then fails every
    ``->>`` over the model's rows: the registered models the report route reads, the retrain budget."""
    from airflow_provider_agentic_mlops.core.model_history import recorded_registered_models

    bad = {
        "registered_model": "m",
        "drift": {"top_drifted": [{"column": "amount\x00"}]},
        "rationale": "\ud800",
        "k\x00": 1,
    }
    expires = utcnow() + timedelta(hours=1)
    approval, _ = store.request_approval("m", "8", dag_id="d", run_id="r1", expires_at=expires, details=bad)
    assert "\x00" not in str(store.get_approval(approval["id"])["details"])
    renewed = {**bad, "rationale": "again \udfff"}  # validation re-run: the request is asked again, its details anew
    store.request_approval(
        "m", "8", dag_id="d", run_id="r1", expires_at=expires, report_digest="other", details=renewed
    )
    details = store.get_approval(approval["id"])["details"]
    assert details["drift"] == {"top_drifted": [{"column": "amount\ufffd"}]} and details["k\ufffd"] == 1
    assert "\ud800" not in str(details) and "\udfff" not in str(details)
    assert recorded_registered_models(store, "m") == {"m"}
    job, _ = store.start_job("m", dag_id="d", run_id="r1", details={"task_id": "t\x00", "note": "\ud800"})
    store.heartbeat_job(job["id"], details={"task_id": "t\x00", "trigger_dag_id": "\udfff"})
    assert store.get_job(job["id"])["details"] == {"task_id": "t\ufffd", "trigger_dag_id": "\ufffd"}
    assert store.retrains_since("m", since=utcnow() - timedelta(hours=1))[0] == 1
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as conn:
            read = conn.exec_driver_sql("SELECT details ->> 'rationale' FROM agentic_mlops_approvals")
            assert read.scalar_one() == "again \ufffd"


def test_a_decision_whose_trace_holds_text_no_database_can_read_back_is_recorded_scrubbed(store: StateStore) -> None:
    """A decision's trace carries the data's column and category names (the drift summary in its evidence, inputs
    and prompt), the LLM's answer and errors: on PostgreSQL a NUL in one failed the insert (text columns) or every
    read of the row's JSON (``->>``), so the decision was not recorded; on SQLite it was."""
    column = "amount\x00usd"
    drift = {"top_drifted": [{"column": column, "categories": ["a\x00", "\ud800"]}], column: {"score": 0.3}}
    decision_id = store.record_decision(
        "m",
        mode="llm",
        final_action="retrain",
        decided_by="llm",
        override_reason="none\x00",
        rationale=f"{column} drifted \udfff",
        evidence={"drift": drift},
        rules_fired=[f"drifted:{column}"],
        inputs={"drift": drift, "alert": None},
        inputs_digest="0" * 64,
        prompt=[{"role": "user", "content": f"column {column}"}],
        raw_answer='{"action": "retrain", "rationale": "\x00"}',
        tool_calls=[{"name": "column_stats", "arguments": {"column": column}, "result": {"\x00": 1}}],
        error="LLM said \x00",
    )
    clean = "amount\ufffdusd"
    row = store.get_decision(decision_id)
    assert row["final_action"] == "retrain" and row["rationale"] == f"{clean} drifted \ufffd"
    assert row["override_reason"] == "none\ufffd" and row["error"] == "LLM said \ufffd"
    assert row["raw_answer"] == '{"action": "retrain", "rationale": "\ufffd"}'
    assert row["inputs"]["drift"]["top_drifted"] == [{"column": clean, "categories": ["a\ufffd", "\ufffd"]}]
    assert row["evidence"]["drift"][clean] == {"score": 0.3} and row["rules_fired"] == [f"drifted:{clean}"]
    assert row["prompt"][0]["content"] == f"column {clean}"
    assert row["tool_calls"][0]["arguments"] == {"column": clean} and row["tool_calls"][0]["result"] == {"\ufffd": 1}
    assert [d["id"] for d in store.list_decisions("m")] == [decision_id]
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as conn:
            for column_name in ("evidence", "inputs", "prompt", "tool_calls", "rules_fired"):
                conn.exec_driver_sql(f"SELECT {column_name}::text, {column_name} -> 0 FROM agentic_mlops_decisions")
            read = conn.exec_driver_sql(
                "SELECT inputs -> 'drift' -> 'top_drifted' -> 0 ->> 'column' FROM agentic_mlops_decisions"
            )
            assert read.scalar_one() == clean


def test_audit_many_appends_every_entry_in_one_transaction(store: StateStore) -> None:
    from airflow_provider_agentic_mlops.core.state import AuditEntry
    from tests.sql_statements import statements_on

    entries = [AuditEntry("alert_resolved", "alert:plain:x", "m", f"fp-{i}", {"i": i}) for i in range(30)]
    with statements_on(store.engine) as seen:
        store.audit_many(entries)
        store.audit_many([])  # nothing to write: no transaction
    assert len([s for s in seen if s.startswith("INSERT INTO agentic_mlops_audit")]) == 1
    trail = store.audit_trail("m", limit=100)
    assert sorted(e["details"]["i"] for e in trail) == list(range(30))
    assert {e["actor"] for e in trail} == {"alert:plain:x"}


def test_two_stores_on_one_new_database_migrate_once(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            StateStore(url, engine=None).start_job("m")
        except BaseException as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert current_revision(StateStore(url).engine) == head_revision()


def test_a_signature_is_first_used_once_across_stores_on_one_database(store_url: str) -> None:
    from datetime import timedelta

    one, two = StateStore(store_url), StateStore(store_url)  # two API-server workers
    window = timedelta(seconds=300)
    assert one.first_use("v0=abc", window=window)
    assert not two.first_use("v0=abc", window=window)
    assert not one.first_use("v0=abc", window=window)
    assert two.first_use("v0=def", window=window)
    one.dispose()
    two.dispose()


def _signatures(store: StateStore) -> set[str]:
    from airflow_provider_agentic_mlops.core.schema import slack_replays

    with store.engine.connect() as conn:
        return set(conn.execute(sa.select(slack_replays.c.signature)).scalars())


def _audit_actions(store: StateStore) -> list[str]:
    return [entry["action"] for entry in store.audit_trail(limit=1000)]


def test_a_signature_commits_with_the_first_write_of_its_block(store: StateStore) -> None:
    window = timedelta(seconds=300)
    with store.first_use_committed_with("v0=abc", window=window):
        store.audit("first", actor="a")
        assert _signatures(store) == {"v0=abc"}  # committed with that write, before the block ends
        store.audit("second", actor="a")
    assert _audit_actions(store) == ["second", "first"]
    assert not store.first_use("v0=abc", window=window)


def test_a_replayed_signature_keeps_nothing_its_block_writes(store: StateStore) -> None:
    from airflow_provider_agentic_mlops.core.state import SignatureReplayed

    window = timedelta(seconds=300)
    assert store.first_use("v0=abc", window=window)
    with pytest.raises(SignatureReplayed), store.first_use_committed_with("v0=abc", window=window):
        store.audit("replayed", actor="a")
    assert _audit_actions(store) == []
    with pytest.raises(SignatureReplayed), store.first_use_committed_with("v0=abc", window=window):
        pass  # a block that writes nothing is refused at its end


def test_a_block_without_a_kept_write_records_its_signature_at_its_end(store: StateStore) -> None:
    window = timedelta(seconds=300)
    with store.first_use_committed_with("v0=abc", window=window):
        with pytest.raises(StateStoreError):  # a write that rolls back does not record it
            store.decide_approval(999_999, approve=True, user="U1", via="slack")
        assert _signatures(store) == set()
    assert _signatures(store) == {"v0=abc"}
    with pytest.raises(ValueError), store.first_use_committed_with("v0=def", window=window):
        raise ValueError("the request failed")
    assert _signatures(store) == {"v0=abc"}  # nothing recorded: the same request may be sent again


def test_expired_signatures_are_pruned_at_most_every_prune_interval(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_agentic_mlops.core import state

    def seen() -> set[str]:
        return _signatures(store)

    window = timedelta(seconds=1)
    start = utcnow()
    monkeypatch.setattr(state, "utcnow", lambda: start)
    assert store.first_use("v0=old", window=window)
    monkeypatch.setattr(state, "utcnow", lambda: start + timedelta(seconds=5))
    assert store.first_use("v0=new", window=window)
    assert seen() == {"v0=old", "v0=new"}  # pruned on the first use only, not again within the interval
    assert not store.first_use("v0=new", window=window)  # a replay is refused between prunes
    monkeypatch.setattr(state, "REPLAY_PRUNE_SECONDS", 0.0)
    assert store.first_use("v0=newer", window=window)
    assert seen() == {"v0=new", "v0=newer"}


def test_a_decision_returns_the_request_with_its_votes(store: StateStore) -> None:
    approval, _ = _request(store, required_approvals=2)
    one = store.decide_approval(approval["id"], approve=True, user="U1", via="slack")
    two = store.decide_approval(approval["id"], approve=True, user="U2", via="cli")
    assert [v["user_id"] for v in one.approval["votes"]] == ["U1"]
    assert [(v["user_id"], v["via"]) for v in two.approval["votes"]] == [("U1", "slack"), ("U2", "cli")]
    assert two.approval == store.get_approval(approval["id"])


def test_every_decision_outcome_carries_the_request_as_stored(store: StateStore) -> None:
    """The request a vote returns is built from the locked row and what the vote changed (not read back):
    it equals a fresh read on every path, and the vote reads the request's row once."""
    from tests.sql_statements import statements_on

    def vote(approval_id: int, **kw) -> None:
        with statements_on(store.engine) as seen:
            outcome = store.decide_approval(approval_id, **kw)
        assert outcome.approval == store.get_approval(approval_id), kw
        assert sum("FROM agentic_mlops_approvals" in s for s in seen) == 1, seen

    two, _ = _request(store, required_approvals=2)
    store.set_approval_message(two["id"], channel="C1", ts="1.000001")
    vote(two["id"], approve=True, user="U1", via="slack")  # 1 of 2
    vote(two["id"], approve=True, user="U1", via="cli")  # already voted
    vote(two["id"], approve=True, user="U2", via="slack", message_ts="9.000009")  # not its message
    vote(two["id"], approve=True, user="U2", via="slack", message_ts="1.000001", reason="fine")  # approved
    vote(two["id"], approve=False, user="U3", via="ui")  # already decided
    withdrawn, _ = store.request_approval(
        "m", "8", dag_id="d", run_id="r2", expires_at=utcnow() + timedelta(hours=1), required_approvals=2
    )
    vote(withdrawn["id"], approve=True, user="U1", via="slack")
    vote(withdrawn["id"], approve=False, user="U1", via="slack", reason="changed my mind")  # denied
    late, _ = store.request_approval("m", "9", dag_id="d", run_id="r3", expires_at=utcnow() - timedelta(seconds=1))
    vote(late["id"], approve=True, user="U1", via="cli")  # expired


def test_a_request_can_be_read_without_its_votes(store: StateStore) -> None:
    approval, _ = _request(store)
    store.decide_approval(approval["id"], approve=False, user="U1", via="slack")
    bare = store.get_approval(approval["id"], with_votes=False)
    assert "votes" not in bare and bare["status"] == "denied"
    assert store.get_approval(approval["id"] + 1000, with_votes=False) is None


def test_a_second_vote_is_refused_on_databases_without_on_conflict(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other databases insert inside a savepoint; the unique constraint still says 'already voted'."""
    from airflow_provider_agentic_mlops.core import state

    approval, _ = _request(store, required_approvals=2)
    monkeypatch.setattr(state, "ON_CONFLICT_DIALECTS", ())
    one = store.decide_approval(approval["id"], approve=True, user="U1", via="slack")
    same = store.decide_approval(approval["id"], approve=True, user="U1", via="cli")
    assert one.recorded and not same.recorded and "already voted" in same.message
    assert store.first_use("v0=x", window=timedelta(seconds=300))
    assert not store.first_use("v0=x", window=timedelta(seconds=300))


def _database_at(store_url: str, revision: str, *statements: str) -> sa.Engine:
    """A database migrated to ``revision`` only (a store of an earlier release), holding the rows ``statements``
    insert."""
    from alembic import command
    from alembic.config import Config

    from airflow_provider_agentic_mlops.core.state import MIGRATIONS_DIR

    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()
        for statement in statements:
            conn.execute(sa.text(statement))
        conn.commit()
    return engine


def test_migration_0004_indexes_a_database_at_0003(store_url: str) -> None:
    """A store created by the previous release (at 0003) gains the decisions' (model_name, id) index and
    keeps its rows."""
    engine = _database_at(
        store_url,
        "0003",
        "INSERT INTO agentic_mlops_decisions (model_name, created_at, mode, final_action) "
        "VALUES ('m', CURRENT_TIMESTAMP, 'rules', 'none')",
    )
    assert current_revision(engine) == "0003"
    indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("agentic_mlops_decisions")}
    assert "ix_agentic_mlops_decisions_model_id" not in indexes

    store = StateStore(store_url)
    assert current_revision(store.engine) == head_revision()
    indexes = {ix["name"]: ix["column_names"] for ix in sa.inspect(store.engine).get_indexes("agentic_mlops_decisions")}
    assert indexes["ix_agentic_mlops_decisions_model_id"] == ["model_name", "id"]
    assert [d["final_action"] for d in store.list_decisions("m")] == ["none"]
    store.dispose()
    engine.dispose()


def test_migration_0005_indexes_a_database_at_0004(store_url: str) -> None:
    """A store created by the previous release (at 0004), with rows, gains the ``(model_name, dag_id, id)``
    index of decisions, approval requests and jobs, and keeps its rows."""
    from airflow_provider_agentic_mlops.core import model_history

    tables = ("agentic_mlops_decisions", "agentic_mlops_approvals", "agentic_mlops_jobs")
    engine = _database_at(
        store_url,
        "0004",
        "INSERT INTO agentic_mlops_decisions (model_name, dag_id, created_at, mode, final_action) "
        "VALUES ('m', 'd', CURRENT_TIMESTAMP, 'rules', 'none'), ('j', NULL, CURRENT_TIMESTAMP, 'rules', 'none')",
        "INSERT INTO agentic_mlops_jobs (model_name, kind, status, dag_id, started_at, heartbeat_at) "
        "VALUES ('j', 'retrain', 'succeeded', 'dj', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    )
    assert current_revision(engine) == "0004"
    inspector = sa.inspect(engine)
    assert not [ix for t in tables for ix in inspector.get_indexes(t) if ix["name"] == f"ix_{t}_model_dag"]

    store = StateStore(store_url)
    assert current_revision(store.engine) == head_revision()
    inspector = sa.inspect(store.engine)
    for table in tables:
        indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes(table)}
        assert indexes[f"ix_{table}_model_dag"] == ["model_name", "dag_id", "id"]
    assert model_history.models_and_dags(store) == {"j": ("dj", {"dj", None}), "m": ("d", {"d"})}
    store.dispose()
    engine.dispose()


def _scripts_with_revision(tmp_path, revision: str, body: str) -> str:
    """A copy of the provider's migrations with one more revision ``revision`` after the head: a newer provider's
    script directory. ``body`` is the migration's code after its imports (``upgrade`` and ``downgrade``)."""
    import shutil

    from airflow_provider_agentic_mlops.core.state import MIGRATIONS_DIR

    scripts = tmp_path / f"migrations_{revision}"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / f"{revision}_test.py").write_text(
        "import sqlalchemy as sa\n"
        "from alembic import op\n"
        "from airflow_provider_agentic_mlops.core.migrations import record_oldest_compatible_revision\n"
        f"revision = {revision!r}\ndown_revision = {head_revision()!r}\nbranch_labels = depends_on = None\n" + body
    )
    return str(scripts)


#: A newer provider's additive migration: a table older code never reads; the marker stays.
ADDITIVE = """
def upgrade():
    op.create_table("agentic_mlops_test_added", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("agentic_mlops_test_added")
"""

#: A newer provider's breaking migration: it raises the marker to itself, as core/migrations tells authors to.
BREAKING = """
def upgrade():
    op.drop_index("ix_agentic_mlops_decisions_model_id", table_name="agentic_mlops_decisions")
    record_oldest_compatible_revision(revision)


def downgrade():
    op.create_index("ix_agentic_mlops_decisions_model_id", "agentic_mlops_decisions", ["model_name", "id"])
    record_oldest_compatible_revision(down_revision)
"""


def _oldest_compatible(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT oldest_compatible_revision FROM agentic_mlops_schema_compat"))
        return [r[0] for r in rows]


def test_a_new_store_records_the_oldest_code_revision_that_can_use_it(store: StateStore) -> None:
    # 0007 only repairs values, 0008 adds a trigger and indexes: code at 0006 still runs on the store
    assert head_revision() == "0008"
    assert _oldest_compatible(store.engine) == ["0006"]


def test_migration_0006_records_compatibility_on_a_database_at_0005(store_url: str) -> None:
    """A store of the previous release (at 0005), with rows, gains the one-row compatibility table and keeps
    its rows."""
    engine = _database_at(
        store_url,
        "0005",
        "INSERT INTO agentic_mlops_decisions (model_name, created_at, mode, final_action) "
        "VALUES ('m', CURRENT_TIMESTAMP, 'rules', 'none')",
    )
    assert "agentic_mlops_schema_compat" not in sa.inspect(engine).get_table_names()

    store = StateStore(store_url)
    assert current_revision(store.engine) == head_revision()
    assert _oldest_compatible(store.engine) == ["0006"]
    assert [d["final_action"] for d in store.list_decisions("m")] == ["none"]
    store.dispose()
    engine.dispose()


def test_a_store_a_newer_provider_migrated_additively_is_used_as_it_is(
    store_url: str, tmp_path, monkeypatch, caplog
) -> None:
    """A rolling upgrade: a newer provider's worker migrated the store to its additive 0099; a task of this
    release starting afterwards uses the store (no migration, one INFO line) instead of failing."""
    import logging

    from airflow_provider_agentic_mlops.core import state
    from airflow_provider_agentic_mlops.core.state import migrate_schema

    StateStore(store_url).dispose()
    engine = sa.create_engine(store_url)
    migrate_schema(engine, script_location=_scripts_with_revision(tmp_path, "0099", ADDITIVE))
    assert current_revision(engine) == "0099" and _oldest_compatible(engine) == ["0006"]
    monkeypatch.setattr(state, "_migrated", set())  # as in a new process
    with caplog.at_level(logging.INFO, logger="airflow_provider_agentic_mlops.core.state"):
        store = StateStore(store_url)
        again = StateStore(store_url)
    assert current_revision(engine) == "0099"  # not migrated (nor downgraded)
    store.record_decision("m", mode="rules", final_action="none")
    assert [d["final_action"] for d in again.list_decisions("m")] == ["none"]
    said = [r.getMessage() for r in caplog.records if "newer" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("state store ") and "'0099'" in said[0] and "0006" in said[0]
    assert "compatible" in said[0]
    store.dispose(), again.dispose(), engine.dispose()


def test_a_store_a_newer_provider_migrated_incompatibly_is_refused_naming_the_revisions(
    store_url: str, tmp_path, monkeypatch
) -> None:
    from airflow_provider_agentic_mlops.core import state
    from airflow_provider_agentic_mlops.core.state import UnknownSchemaRevision, migrate_schema

    StateStore(store_url).dispose()
    engine = sa.create_engine(store_url)
    migrate_schema(engine, script_location=_scripts_with_revision(tmp_path, "0099", BREAKING))
    assert current_revision(engine) == "0099" and _oldest_compatible(engine) == ["0099"]
    monkeypatch.setattr(state, "_migrated", set())  # as in a new process
    with pytest.raises(UnknownSchemaRevision) as raised:
        StateStore(store_url)
    message = str(raised.value)
    assert "revision '0099'" in message and "0099 or later" in message and "0006" in message
    assert f"db downgrade --to {head_revision()}" in message and "Upgrade the provider" in message
    assert current_revision(engine) == "0099"
    engine.dispose()


def test_a_downgrade_runs_the_migrations_backwards_and_the_next_open_migrates_again(store_url: str) -> None:
    from airflow_provider_agentic_mlops.core.state import downgrade_schema

    store = StateStore(store_url)
    store.record_decision("m", mode="rules", final_action="none")
    assert downgrade_schema(store.engine, "0004") == head_revision()
    assert current_revision(store.engine) == "0004"
    tables = sa.inspect(store.engine).get_table_names()
    assert "agentic_mlops_schema_compat" not in tables and "agentic_mlops_decisions" in tables
    again = StateStore(store_url)  # the same process: it forgot that it had migrated this store
    assert current_revision(again.engine) == head_revision()
    assert [d["final_action"] for d in again.list_decisions("m")] == ["none"]
    store.dispose(), again.dispose()


def test_postgresql_reads_a_paused_models_latest_decisions_through_its_own_index(pg_url: str) -> None:
    """``list_decisions(model)`` (model_name = ? ORDER BY id DESC LIMIT n) uses the (model_name, id) index,
    not a backward scan of the primary key over every decision written since the model stopped deciding."""
    from airflow_provider_agentic_mlops.core.schema import decisions

    store = StateStore(pg_url)
    now = utcnow()
    rows = [
        {"model_name": f"model-{i % 50:02d}", "created_at": now, "mode": "rules", "final_action": "none"}
        for i in range(10_000)
        if not (i % 50 == 7 and i >= 5_000)  # model-07 stopped deciding halfway
    ]
    with store.engine.begin() as conn:
        conn.execute(decisions.insert(), rows)
        conn.exec_driver_sql("ANALYZE agentic_mlops_decisions")
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if "agentic_mlops_decisions" in statement:
            seen.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", capture)
    try:
        assert len(store.list_decisions("model-07", limit=20)) == 20
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", capture)
    statement, parameters = seen[-1]
    with store.engine.connect() as conn:
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
    assert "ix_agentic_mlops_decisions_model_id" in plan, plan
    store.dispose()


def test_set_wise_reads_say_what_the_per_model_reads_say(store: StateStore) -> None:
    """``models list``'s reads for many models at once (more than one IN list of names) agree with the
    per-model reads they replace."""
    from airflow_provider_agentic_mlops.core.state import JOB_FAILED, PENDING, PROMOTION_IN_PROGRESS

    for name in ("a", "b", "c"):
        store.record_decision(name, mode="rules", final_action="none")
    store.record_decision("a", mode="rules", final_action="retrain")
    store.request_approval("a", "1", dag_id="d", run_id="r1", expires_at=utcnow() + timedelta(hours=1))
    store.request_approval("a", "2", dag_id="d", run_id="r2", expires_at=utcnow() + timedelta(hours=1))
    approval, _ = store.request_approval("b", "1", dag_id="d", run_id="r", expires_at=utcnow() + timedelta(hours=1))
    store.decide_approval(approval["id"], approve=True, user="alice", via="cli")
    store.begin_promotion(approval, registered_model="b", previous_version=None)
    failed, _ = store.start_job("a", dag_id="d", run_id="r0")
    store.finish_job(failed["id"], status=JOB_FAILED)
    done, _ = store.start_job("b", dag_id="d", run_id="r0")
    store.finish_job(done["id"], status="succeeded")
    running, _ = store.start_job("b", dag_id="d", run_id="r1")
    names = [f"x{i}" for i in range(600)] + ["a", "b", "c", "absent"]

    assert {k: v["id"] for k, v in store.last_decisions(names).items()} == {
        n: store.list_decisions(n, limit=1)[0]["id"] for n in ("a", "b", "c")
    }
    assert store.count_approvals(names, status=PENDING) == {"a": 2}
    assert {k: v["id"] for k, v in store.inflight_jobs(names).items()} == {"b": running["id"]}
    assert [p["model_name"] for p in store.list_promotions(status=PROMOTION_IN_PROGRESS, model_names=names)] == ["b"]
    assert store.list_promotions(status=PROMOTION_IN_PROGRESS, model_names=["a"]) == []
    since = utcnow() - timedelta(hours=1)
    assert store.retrains_since_of(names, since=since) == {n: store.retrains_since(n, since=since) for n in ("a", "b")}
    assert store.last_retrain_starts(names) == {"b": store.last_retrain("b")["started_at"]}


def _vote(store: StateStore, approval_id: int, person: str, slack_user: str | None) -> None:
    """An approve as ``approvals.decide`` casts it: for the person, naming the Slack id it came from."""
    via = "slack" if slack_user else "cli"
    identity = {"slack_user": slack_user, "airflow_user": person} if slack_user else {"os_user": person}
    outcome = store.decide_approval(approval_id, approve=True, user=person, via=via, identity=identity)
    assert outcome.recorded


def test_a_pending_request_asked_again_takes_the_current_approvers_and_forgets_removed_ones_votes(
    store: StateStore,
) -> None:
    """A retry of the sensor with an approver removed: the request keeps its message and deadline, but the
    removed approver's vote no longer counts towards the approvals it needs, and the audit trail says so."""
    allowlist = {"approvers": ["U_ALICE", "U_BOB", "U_MALLORY"], "approver_usergroup": None}
    approval, _ = _request(store, required_approvals=3, details=allowlist)
    store.set_approval_message(approval["id"], channel="C", ts="1.000001")
    _vote(store, approval["id"], "mallory", "U_MALLORY")
    _vote(store, approval["id"], "carol", None)  # from the CLI: the Slack allowlist does not govern it

    again, asked_again = _request(
        store, required_approvals=4, details={"approvers": ["U_ALICE", "U_BOB"], "approver_usergroup": None}
    )
    assert not asked_again and again["id"] == approval["id"] and again["slack_ts"] == "1.000001"
    assert again["details"]["approvers"] == ["U_ALICE", "U_BOB"] and again["required_approvals"] == 4
    assert again["renewed"]
    assert [v["user_id"] for v in again["votes"]] == ["carol"]
    entry = store.last_audit("m", ("approval_approvers_changed",))
    assert entry["subject"] == f"approval:{approval['id']}"
    assert entry["details"]["approvers"] == {"was": ["U_ALICE", "U_BOB", "U_MALLORY"], "now": ["U_ALICE", "U_BOB"]}
    assert entry["details"]["required_approvals"] == {"was": 3, "now": 4}
    assert entry["details"]["forgotten_votes"] == [{"user_id": "mallory", "vote": "approve", "slack_user": "U_MALLORY"}]
    _vote(store, approval["id"], "alice", "U_ALICE")
    _vote(store, approval["id"], "bob", "U_BOB")
    assert store.get_approval(approval["id"])["status"] == "pending"  # carol, alice, bob: 3 of 4
    _vote(store, approval["id"], "dave", None)
    assert store.get_approval(approval["id"])["decided_by"] == "carol,alice,bob,dave"

    same, _ = _request(store, required_approvals=4, details={"approvers": ["U_ALICE"]})
    assert same["status"] == "approved"  # a decided request is not changed


def test_a_pending_request_asked_again_with_the_same_approvers_changes_nothing(store: StateStore) -> None:
    allowlist = {"approvers": ["U_ALICE", "U_BOB"], "approver_usergroup": "S_OPS"}
    approval, _ = _request(store, required_approvals=3, details=allowlist)
    _vote(store, approval["id"], "alice", "U_ALICE")
    _vote(store, approval["id"], "dave", "U_DAVE")  # a member of S_OPS
    again, _ = _request(store, required_approvals=3, details={**allowlist, "metrics": "x"})
    assert len(again["votes"]) == 2 and again["details"] == allowlist and "renewed" not in again
    assert store.last_audit("m", ("approval_approvers_changed",)) is None


def test_a_changed_user_group_forgets_the_votes_its_members_cast(store: StateStore) -> None:
    approval, _ = _request(
        store, required_approvals=3, details={"approvers": ["U_ALICE"], "approver_usergroup": "S_OLD"}
    )
    _vote(store, approval["id"], "alice", "U_ALICE")
    _vote(store, approval["id"], "dave", "U_DAVE")  # a member of S_OLD
    again, _ = _request(store, required_approvals=3, details={"approvers": ["U_ALICE"], "approver_usergroup": "S_NEW"})
    assert again["details"]["approver_usergroup"] == "S_NEW" and [v["user_id"] for v in again["votes"]] == ["alice"]


def test_a_heartbeat_reports_whether_the_job_is_still_running(store: StateStore) -> None:
    """A worker whose job was failed (stale, or closed by hand) learns it from its next heartbeat."""
    job, _ = store.start_job("m", dag_id="d", run_id="r1", details={"heartbeat_timeout_minutes": 5})
    assert store.heartbeat_job(job["id"]) is True
    _age(store, job["id"], heartbeat_at=timedelta(minutes=6))
    assert store.fail_stale_jobs() == [job["id"]]
    assert store.heartbeat_job(job["id"]) is False
    assert store.get_job(job["id"])["status"] == "failed"


@pytest.mark.timeout(120, method="thread")
def test_a_migration_lock_held_by_a_stuck_session_ends_the_wait_naming_the_holder(pg_url: str, caplog) -> None:
    """A frozen process (a frozen VM, a network partition) holding the migration lock kept every process that
    opened the store waiting, silently, until TCP keepalive gave up hours later."""
    import logging

    from airflow_provider_agentic_mlops.core.locks import LockTimeout, advisory_key

    holder = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    try:
        with holder.connect() as conn, conn.begin():  # an open transaction holding the lock, as a frozen migrator
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key("migrate")})
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            with (
                caplog.at_level(logging.WARNING, logger="airflow_provider_agentic_mlops.core.state"),
                pytest.raises(LockTimeout) as raised,
            ):
                StateStore(pg_url, migration_lock_timeout=0.5)
        assert f"waiting up to 0.5 s for the migration lock held by PostgreSQL session pid {pid}" in caplog.text
        message = str(raised.value)
        assert f"pid {pid}" in message and "idle in transaction" in message
        assert f"pg_terminate_backend({pid})" in message and "migration_lock_timeout" in message
        StateStore(pg_url, migration_lock_timeout=0.5).dispose()  # the holder let go: the store opens
    finally:
        holder.dispose()


@pytest.mark.timeout(120, method="thread")
def test_a_sqlite_migration_lock_held_by_a_stuck_process_ends_the_wait_naming_how_to_find_it(tmp_path, caplog) -> None:
    import fcntl
    import logging

    from airflow_provider_agentic_mlops.core.locks import LockTimeout

    url = f"sqlite:///{tmp_path / 'state.db'}"
    with open(tmp_path / "state.db.migrate.lock", "a+") as other_process:
        fcntl.flock(other_process, fcntl.LOCK_EX)
        with (
            caplog.at_level(logging.WARNING, logger="airflow_provider_agentic_mlops.core.state"),
            pytest.raises(LockTimeout) as raised,
        ):
            StateStore(url, migration_lock_timeout=0.2)
    assert "waiting up to 0.2 s for the migration lock held by another process on this host" in caplog.text
    assert f"fuser {tmp_path / 'state.db.migrate.lock'}" in str(raised.value)
    assert "migration_lock_timeout" in str(raised.value)
    StateStore(url, migration_lock_timeout=0.2).dispose()


@pytest.mark.timeout(120, method="thread")
@pytest.mark.parametrize("own_timeout", [False, True], ids=["default", "url-connect_timeout"])
def test_a_postgresql_store_that_accepts_but_never_answers_fails_to_open_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch, own_timeout: bool
) -> None:
    """A network partition or a hung PgBouncer accepts TCP and never answers: libpq without connect_timeout
    waits forever, and the plugin's pages and their threads with it. The store sets one unless the URL does."""
    from airflow_provider_agentic_mlops.core import state
    from tests.doubles.silent_server import silent_server

    monkeypatch.setattr(state, "POSTGRES_CONNECT_TIMEOUT", 3600 if own_timeout else 2)
    with silent_server() as server:
        url = f"postgresql+psycopg2://agentic@127.0.0.1:{server.port}/state"
        with pytest.raises(sa.exc.OperationalError, match="timeout expired"):
            StateStore(url + ("?connect_timeout=2" if own_timeout else ""))
        assert server.accepted  # it did reach the server


@pytest.mark.parametrize(
    ("url", "connect_args"),
    [
        ("postgresql://u@h/db", {"connect_timeout": 10}),
        ("postgresql+psycopg2://u@h/db", {"connect_timeout": 10}),
        ("postgresql+psycopg://u@h/db", {"connect_timeout": 10}),
        ("postgresql+psycopg2://u@h/db?connect_timeout=30", {}),  # the URL's own wins
        ("postgresql+pg8000://u@h/db", {}),  # another driver: libpq's parameter would be refused
    ],
)
def test_a_postgresql_engine_gets_a_connect_and_a_pool_timeout_unless_its_url_sets_one(
    url: str, connect_args: dict
) -> None:
    from airflow_provider_agentic_mlops.core.state import POOL_TIMEOUT, engine_options

    assert engine_options(url) == {"pool_pre_ping": True, "pool_timeout": POOL_TIMEOUT, "connect_args": connect_args}


@pytest.mark.parametrize(
    ("url", "env"),
    [("postgresql+psycopg2://u@h/db", {"PGCONNECT_TIMEOUT": "3"}), ("postgresql:///db?service=state", {})],
)
def test_libpqs_own_connect_timeout_settings_are_not_overridden(url: str, env: dict, monkeypatch) -> None:
    # explicit connect_args beat libpq's environment and service file: set there, the default must stay out
    from airflow_provider_agentic_mlops.core.state import engine_options

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert engine_options(url)["connect_args"] == {}


def test_lowering_required_approvals_completes_a_request_that_already_has_enough(store: StateStore) -> None:
    """models.yaml lowers required_approvals 2 -> 1 while one approve is in: the sensor's next run applies the
    current config, and the approve already given now completes the request (nobody has to vote again)."""
    allowlist = {"approvers": ["U_ALICE", "U_BOB"], "approver_usergroup": None}
    approval, _ = _request(store, required_approvals=2, details=allowlist)
    _vote(store, approval["id"], "alice", "U_ALICE")
    assert store.get_approval(approval["id"])["status"] == "pending"

    again, asked_again = _request(store, required_approvals=1, details=allowlist)
    assert not asked_again and again["id"] == approval["id"]
    assert (again["status"], again["decided_by"], again["required_approvals"]) == ("approved", "alice", 1)
    assert "required_approvals lowered from 2 to 1" in again["reason"]
    entry = store.last_audit("m", ("approval_approved",))
    assert entry["subject"] == f"approval:{approval['id']}" and entry["actor"] == "alice"
    late = store.decide_approval(approval["id"], approve=True, user="bob", via="cli")
    assert not late.recorded  # decided: a later vote is told who decided


def test_lowering_required_approvals_past_the_deadline_expires_the_request_instead(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadline passed before anyone swept the request: lowering required_approvals must not approve it
    with the votes already in. A timeout denies (fail closed), as a vote cast now would find."""
    from airflow_provider_agentic_mlops.core import state

    allowlist = {"approvers": ["U_ALICE", "U_BOB"], "approver_usergroup": None}
    approval, _ = _request(store, required_approvals=2, details=allowlist)
    _vote(store, approval["id"], "alice", "U_ALICE")
    later = approval["expires_at"] + timedelta(seconds=1)
    monkeypatch.setattr(state, "utcnow", lambda: later)

    again, asked_again = _request(store, required_approvals=1, details=allowlist)
    assert not asked_again and again["id"] == approval["id"]
    assert (again["status"], again["decided_by"], again["decided_via"]) == ("expired", "timeout", "timeout")
    assert store.last_audit("m", ("approval_approved", "approval_expired"))["action"] == "approval_expired"


def test_lowering_required_approvals_below_the_votes_left_does_not_count_forgotten_ones(store: StateStore) -> None:
    """The approvers changed too: an approve the new allowlist forgets does not complete the request."""
    approval, _ = _request(store, required_approvals=2, details={"approvers": ["U_ALICE", "U_MALLORY"]})
    _vote(store, approval["id"], "mallory", "U_MALLORY")
    again, _ = _request(store, required_approvals=1, details={"approvers": ["U_ALICE"], "approver_usergroup": None})
    assert again["status"] == "pending" and again["votes"] == []


#: Rows as releases before 0007 stored them: JSON texts escaping a NUL or a lone surrogate (``\u0000``,
#: ``\ud800``), which PostgreSQL's ``->>`` refuses; beside them, escapes that are fine (a surrogate pair, an
#: escaped backslash before ``u0000``) and must stay as they are.
_POISONED = (
    "INSERT INTO agentic_mlops_audit (at, actor, action, model_name, subject, details) VALUES "
    r"""(CURRENT_TIMESTAMP, 'U999', 'promoted', 'churn', 'approval:1', '{"dag_id": "d", "report_uri": """
    r""""runs:/r1/agentic_mlops/validation/report.html", "slack_user_name": "eve\ud800"}'), """
    r"""(CURRENT_TIMESTAMP, 'U111', 'approval_requested', 'churn', 'approval:1', '{"who": "\ud83d\ude00"}')""",
    "INSERT INTO agentic_mlops_approvals (model_name, model_version, dag_id, run_id, status, requested_at, "
    "expires_at, details) VALUES ('churn', '9', 'd', 'run9', 'pending', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
    r"""'{"registered_model": "churn_model", "drift": {"top_drifted": ["col\u0000nul", "ok\ud83d\ude00"]}, """
    r""""path": "C:\\u0000"}')""",
    "INSERT INTO agentic_mlops_jobs (model_name, status, dag_id, started_at, heartbeat_at, details) VALUES "
    r"""('churn', 'failed', 'd', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '{"x": "\udc00z"}')""",
    "INSERT INTO agentic_mlops_decisions (model_name, created_at, mode, final_action, inputs, tool_calls) "
    r"""VALUES ('churn', CURRENT_TIMESTAMP, 'llm', 'none', '{"drift": {"evidence": {"champion": """
    r"""{"reason": "r\u0000"}}}}', '[{"name": "t\uD800"}]')""",
    "INSERT INTO agentic_mlops_promotions (approval_id, model_name, registered_model, version, dag_id, run_id, "
    r"""status, steps, started_at) VALUES (1, 'churn', 'churn_model', '9', 'd', 'run9', 'completed', """
    r"""'["a\u0000"]', CURRENT_TIMESTAMP)""",
)


def _json_texts(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every JSON column's stored text, by table, in id order."""
    columns = {
        "agentic_mlops_audit": ("details",),
        "agentic_mlops_approvals": ("details",),
        "agentic_mlops_jobs": ("details", "result"),
        "agentic_mlops_decisions": ("evidence", "rules_fired", "inputs", "prompt", "tool_calls"),
        "agentic_mlops_promotions": ("steps",),
    }
    with engine.connect() as conn:
        return {
            table: [
                tuple(row)
                for row in conn.execute(
                    sa.text(f"SELECT {', '.join(f'CAST({c} AS TEXT)' for c in cols)} FROM {table} ORDER BY id")
                )
            ]
            for table, cols in columns.items()
        }


def test_migration_0007_repairs_json_rows_older_releases_stored_with_nul_or_lone_surrogates(
    store_url: str, monkeypatch, caplog
) -> None:
    """A store at 0006 holding a Slack user name with a lone surrogate in the (append-only) audit trail and a
    NUL column name in a request's details: PostgreSQL's ``->>`` over them failed the model's report lookups
    for ever. 0007 rewrites those rows with U+FFFD, the audit trail's guard back on afterwards; a second run
    finds nothing to do."""
    import json
    import logging

    from airflow_provider_agentic_mlops.core import model_history, state
    from airflow_provider_agentic_mlops.core.state import downgrade_schema

    uri = "runs:/r1/agentic_mlops/validation/report.html"
    engine = _database_at(store_url, "0006", *_POISONED)
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:  # what failed before: PostgreSQL's ->> over the stored escapes, any field
        with pytest.raises(sa.exc.DataError) if postgres else contextlib.nullcontext():
            conn.execute(sa.text("SELECT details ->> 'registered_model' FROM agentic_mlops_approvals")).all()
        if not postgres:  # SQLite reads the row, but a lone surrogate read out of it cannot be decoded
            with pytest.raises(sa.exc.OperationalError, match="decode"):
                conn.execute(
                    sa.text("SELECT json_extract(details, '$.slack_user_name') FROM agentic_mlops_audit")
                ).all()

    with caplog.at_level(logging.DEBUG, logger="airflow_provider_agentic_mlops.core.migrations"):
        store = StateStore(store_url)
    assert current_revision(store.engine) == head_revision()
    said = [r.getMessage() for r in caplog.records if r.name == "airflow_provider_agentic_mlops.core.migrations"]
    assert [r.levelname for r in caplog.records if r.name.endswith(".migrations")] == ["WARNING"]
    assert len(said) == 1 and "agentic_mlops_audit: 1" in said[0] and "agentic_mlops_approvals: 1" in said[0]
    assert "agentic_mlops_jobs: 1" in said[0] and "agentic_mlops_decisions: 1" in said[0]
    assert "agentic_mlops_promotions: 1" in said[0]

    assert model_history.is_recorded_artifact(store, "churn", uri)
    assert model_history.recorded_registered_models(store, "churn") == {"churn", "churn_model"}
    texts = _json_texts(store.engine)
    audit = [json.loads(t) for (t,) in texts["agentic_mlops_audit"]]
    assert audit[0]["slack_user_name"] == "eve\ufffd" and audit[1] == {"who": "\U0001f600"}
    assert texts["agentic_mlops_audit"][1] == (r'{"who": "\ud83d\ude00"}',)  # fine: not rewritten
    (details,) = texts["agentic_mlops_approvals"][0]
    assert json.loads(details)["drift"]["top_drifted"] == ["col\ufffdnul", "ok\U0001f600"]
    assert json.loads(details)["path"] == "C:\\u0000"  # an escaped backslash, not a NUL: kept
    assert json.loads(texts["agentic_mlops_jobs"][0][0]) == {"x": "\ufffdz"}
    _, _, inputs, _, tools = texts["agentic_mlops_decisions"][0]
    assert json.loads(inputs)["drift"]["evidence"]["champion"]["reason"] == "r\ufffd"
    assert json.loads(tools) == [{"name": "t\ufffd"}]
    assert json.loads(texts["agentic_mlops_promotions"][0][0]) == ["a\ufffd"]
    with store.engine.connect() as conn, pytest.raises(sa.exc.DatabaseError, match="append-only"):
        conn.execute(sa.text("UPDATE agentic_mlops_audit SET actor = 'x'"))  # the guard is back

    # a second run (down to 0006, a no-op, and up again) changes no row
    before = _json_texts(store.engine)
    versions = "SELECT xmin::text FROM agentic_mlops_audit UNION ALL SELECT xmin::text FROM agentic_mlops_approvals"
    if postgres:
        with store.engine.connect() as conn:
            row_versions = conn.execute(sa.text(versions)).scalars().all()
    assert downgrade_schema(store.engine, "0006") == head_revision()
    monkeypatch.setattr(state, "_migrated", set())  # as in a new process
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_agentic_mlops.core.migrations"):
        again = StateStore(store_url)
    assert current_revision(again.engine) == head_revision() and _json_texts(again.engine) == before
    assert [r.getMessage() for r in caplog.records if r.name == "airflow_provider_agentic_mlops.core.migrations"] == [
        "migration 0007: no JSON value held a NUL or a lone surrogate"
    ]
    assert {r.levelname for r in caplog.records if r.name.endswith(".migrations")} == {"DEBUG"}  # not on a CLI's stdout
    if postgres:
        with again.engine.connect() as conn:
            assert conn.execute(sa.text(versions)).scalars().all() == row_versions
    store.dispose(), again.dispose(), engine.dispose()


def test_run_approvals_gives_a_runs_requests_with_votes_and_the_promotion_with_who_promoted(store: StateStore) -> None:
    from airflow_provider_agentic_mlops.core.promotion import AUDIT, PROMOTED, PROMOTION_STEPS
    from airflow_provider_agentic_mlops.core.state import utcnow

    expires = utcnow() + timedelta(days=1)
    mine, _ = store.request_approval("m", "7", dag_id="d", run_id="r1", expires_at=expires)
    store.request_approval("m", "8", dag_id="d", run_id="r2", expires_at=expires)  # another run's
    store.decide_approval(mine["id"], approve=True, user="alice", via="ui")
    approved = store.get_approval(mine["id"])
    promotion, _ = store.begin_promotion(approved, registered_model="m-reg", previous_version="6")
    assert store.run_approvals("m", "d", "r1")[0]["promotion"]["promoted_by"] is None  # not yet promoted
    entry = {"action": PROMOTED, "actor": "alice", "model_name": "m", "subject": "version:7"}
    for step in PROMOTION_STEPS:
        audit_entry = {**entry, "details": {"promotion_id": promotion["id"]}} if step == AUDIT else None
        store.mark_promotion_step(promotion["id"], step, all_steps=PROMOTION_STEPS, audit_entry=audit_entry)
    (request,) = store.run_approvals("m", "d", "r1")
    assert request["id"] == mine["id"] and [v["user_id"] for v in request["votes"]] == ["alice"]
    assert request["promotion"]["version"] == "7" and request["promotion"]["promoted_by"] == "alice"
    assert request["promotion"]["status"] == "completed"
    assert store.run_approvals("m", "d", "r3") == [] and store.run_approvals("m", None, None) == []


def test_list_decisions_standing_skips_superseded_and_other_than_run_skips_that_run(store: StateStore) -> None:
    def decided(dag_id: str | None, run_id: str | None) -> int:
        return store.record_decision("m", mode="rules", final_action="no_action", dag_id=dag_id, run_id=run_id)

    a1, a2, no_run, b1 = decided("d", "a"), decided("d", "a"), decided(None, None), decided("d", "b")
    assert [d["id"] for d in store.list_decisions("m")] == [b1, no_run, a2, a1]
    assert [d["id"] for d in store.list_decisions("m", standing=True)] == [b1, no_run, a2]
    assert [d["id"] for d in store.list_decisions("m", standing=True, other_than_run=("d", "b"))] == [no_run, a2]
    assert [d["id"] for d in store.list_decisions("m", standing=True, limit=2)] == [b1, no_run]


def test_tokens_used_counts_unrecorded_answers_once_even_when_their_decision_was_recorded_after_all(
    store: StateStore,
) -> None:
    from airflow_provider_agentic_mlops.core.state import utcnow

    since = utcnow() - timedelta(hours=1)
    lost = {"prompt_tokens": 900, "completion_tokens": 100, "dag_id": "d", "error": "connection dropped"}
    store.record_unrecorded_tokens("m", run_id="r1", try_number=1, **lost)
    store.record_unrecorded_tokens("m", run_id="r2", try_number=1, **lost)
    store.record_unrecorded_tokens("other", run_id="r1", try_number=1, **lost)
    assert store.tokens_used("m", since=since) == 2000
    # r2's write failed after its commit: the decision is stored, its tokens count once
    store.record_decision(
        "m",
        mode="llm",
        final_action="retrain",
        dag_id="d",
        run_id="r2",
        inputs={"try_number": 1},
        prompt_tokens=900,
        completion_tokens=100,
    )
    store.record_decision(
        "m",
        mode="llm",
        final_action="retrain",
        dag_id="d",
        run_id="r1",
        inputs={"try_number": 2},
        prompt_tokens=10,
        completion_tokens=5,
    )  # r1's retry: the lost first try still counts
    assert store.tokens_used("m", since=since) == 1000 + 1000 + 15
    assert store.tokens_used("m", since=utcnow() + timedelta(hours=1)) == 0
