"""core.retention.prune_history: what ``db prune`` deletes, what it always keeps, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from airflow_provider_agentic_mlops.core.config import parse_models
from airflow_provider_agentic_mlops.core.retention import TABLES, longest_budget_window, prune_history
from airflow_provider_agentic_mlops.core.schema import approval_votes, approvals, audit, decisions, jobs, promotions
from airflow_provider_agentic_mlops.core.state import StateStore, utcnow

NOW = utcnow()
OLD = NOW - timedelta(days=400)
CUTOFF = NOW - timedelta(days=365)


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    s = StateStore(store_url)
    yield s
    s.dispose()


def _insert(store: StateStore, table: sa.Table, **row: object) -> int:
    with store.engine.begin() as conn:
        return int(conn.execute(table.insert().values(**row)).inserted_primary_key[0])


def _decision(store: StateStore, model: str, run: str, at: datetime) -> int:
    return _insert(
        store, decisions, model_name=model, dag_id=f"dag_{model}", run_id=run, created_at=at, mode="rules",
        final_action="no_action",
    )  # fmt: skip


def _request(store: StateStore, run: str, status: str, *, decided: datetime | None, votes: int = 0) -> int:
    approval_id = _insert(
        store, approvals, model_name="a", model_version="1", dag_id="dag_a", run_id=run, status=status,
        requested_at=OLD, expires_at=OLD + timedelta(days=1), decided_at=decided,
    )  # fmt: skip
    for n in range(votes):
        _insert(store, approval_votes, approval_id=approval_id, user_id=f"u{n}", vote="approve", via="cli", at=OLD)
    return approval_id


def _promotion(store: StateStore, approval_id: int, status: str) -> int:
    return _insert(
        store, promotions, approval_id=approval_id, model_name="a", registered_model="a", version="1",
        dag_id="dag_a", run_id="r", status=status, steps={}, started_at=OLD,
    )  # fmt: skip


def _job(
    store: StateStore, model: str, status: str, *, finished: datetime | None, decision_id: int | None = None
) -> int:
    return _insert(
        store, jobs, model_name=model, status=status, started_at=(finished or OLD) - timedelta(hours=1),
        heartbeat_at=finished or NOW,
        finished_at=finished, decision_id=decision_id, dag_id=f"dag_{model}", run_id="job_run",
    )  # fmt: skip


def _ids(store: StateStore, table: sa.Table) -> set[int]:
    with store.engine.connect() as conn:
        return set(conn.execute(sa.select(table.c.id)).scalars())


@pytest.fixture
def history(store: StateStore) -> dict[str, int]:
    """A year-old history with what prune must keep beside what it deletes."""
    rows = {
        "plain": _decision(store, "a", "r1", OLD),
        "pending_run": _decision(store, "a", "r2", OLD),  # its run waits on a pending request
        "promoting_run": _decision(store, "a", "r3", OLD),  # its run's request is approved, promotion under way
        "job_run": _decision(store, "a", "r4", OLD),  # a running job names it
        "b_newest": _decision(store, "b", "r1", OLD),  # model b's newest, however old
        "a_newest": _decision(store, "a", "r5", NOW),
    }
    rows["denied"] = _request(store, "r1", "denied", decided=OLD, votes=2)
    rows["completed"] = _request(store, "r6", "approved", decided=OLD, votes=1)
    rows["completed_promotion"] = _promotion(store, rows["completed"], "completed")
    rows["pending"] = _request(store, "r2", "pending", decided=None, votes=1)
    rows["promoting"] = _request(store, "r3", "approved", decided=OLD)
    rows["promoting_promotion"] = _promotion(store, rows["promoting"], "in_progress")
    rows["recent"] = _request(store, "r7", "expired", decided=NOW)
    rows["newest_request"] = _request(store, "r8", "denied", decided=OLD)  # the table's newest id
    rows["old_job"] = _job(store, "a", "failed", finished=OLD)
    rows["running_job"] = _job(store, "a", "running", finished=None, decision_id=rows["job_run"])
    rows["a_newest_job"] = _job(store, "a", "succeeded", finished=OLD)
    rows["b_job"] = _job(store, "b", "succeeded", finished=NOW)
    store.audit(actor="t", action="decision", model_name="a", subject="1", details={})
    return rows


EXPECTED = {"decisions": 1, "approval_requests": 2, "approval_votes": 3, "promotions": 1, "jobs": 1}


def test_a_dry_run_counts_and_deletes_nothing(store: StateStore, history: dict[str, int]) -> None:
    before = {t.name: _ids(store, t) for t in (decisions, approvals, approval_votes, promotions, jobs, audit)}
    result = prune_history(store.engine, CUTOFF, dry_run=True)
    assert result.dry_run and result.counts == EXPECTED and list(result.counts) == list(TABLES)
    assert {t.name: _ids(store, t) for t in (decisions, approvals, approval_votes, promotions, jobs, audit)} == before


@pytest.mark.parametrize("batch_size", [1, 10_000])
def test_prune_deletes_the_old_history_and_keeps_what_is_still_needed(
    store: StateStore, history: dict[str, int], batch_size: int
) -> None:
    audit_before = _ids(store, audit)
    newest_decision = max(_ids(store, decisions))
    result = prune_history(store.engine, CUTOFF, batch_size=batch_size)
    assert not result.dry_run and result.counts == EXPECTED and result.total == 8
    h = history
    assert _ids(store, decisions) == {h["pending_run"], h["promoting_run"], h["job_run"], h["b_newest"], h["a_newest"]}
    assert _ids(store, approvals) == {h["pending"], h["promoting"], h["recent"], h["newest_request"]}
    assert _ids(store, promotions) == {h["promoting_promotion"]}
    with store.engine.connect() as conn:
        assert set(conn.execute(sa.select(approval_votes.c.approval_id)).scalars()) == {h["pending"]}
    assert _ids(store, jobs) == {h["running_job"], h["a_newest_job"], h["b_job"]}
    assert _ids(store, audit) == audit_before  # append-only: never pruned
    # nothing left to do; and a new row never takes a deleted one's id (SQLite numbers after the largest left)
    assert prune_history(store.engine, CUTOFF).total == 0
    assert store.record_decision("a", mode="rules", final_action="no_action") > newest_decision


def test_nothing_is_older_than_the_cutoff(store: StateStore, history: dict[str, int]) -> None:
    assert prune_history(store.engine, OLD - timedelta(days=1)).counts == dict.fromkeys(TABLES, 0)


def test_an_empty_store_prunes_nothing(store: StateStore) -> None:
    assert prune_history(store.engine, CUTOFF).total == 0


def test_a_job_the_retrain_budget_still_counts_stays(store: StateStore) -> None:
    """The budget counts the jobs started within budget_window_hours: pruning them would allow more retrains."""
    counted = _job(store, "a", "succeeded", finished=NOW - timedelta(days=20))
    _job(store, "a", "succeeded", finished=NOW)  # the model's newest
    window = longest_budget_window(parse_models({"models": [_spec("a", 24 * 30), _spec("b", 24)]}))
    assert window == timedelta(days=30)
    assert prune_history(store.engine, NOW - timedelta(days=7), jobs_counted_since=NOW - window).counts["jobs"] == 0
    assert counted in _ids(store, jobs)
    assert prune_history(store.engine, NOW - timedelta(days=7)).counts["jobs"] == 1
    assert longest_budget_window([]) == timedelta(hours=168)


def _spec(name: str, hours: float) -> dict[str, object]:
    return {
        "name": name,
        "drift": {"reference": "r.parquet", "current": "c.parquet", "label_column": "y"},
        "retrain": {"trigger_dag_id": f"train_{name}"},
        "decision": {"budget_window_hours": hours},
    }


def test_an_approved_request_whose_promotion_has_not_completed_stays(store: StateStore) -> None:
    """The promote task (queued, or retried after failing before it recorded its intent) reads the approved
    request: deleting it would refuse the promotion ("no approval request exists")."""
    waiting = _request(store, "r1", "approved", decided=OLD)  # promote not started: no promotions row
    done = _request(store, "r2", "approved", decided=OLD)
    _promotion(store, done, "completed")
    overtaken = _request(store, "r3", "approved", decided=OLD)
    _promotion(store, overtaken, "overtaken")
    newest = _request(store, "r4", "approved", decided=NOW)  # kept anyway: the newest request, promotion too
    _promotion(store, newest, "in_progress")
    result = prune_history(store.engine, CUTOFF)
    assert result.counts["approval_requests"] == 2 and result.counts["promotions"] == 2
    assert waiting in _ids(store, approvals) and {done, overtaken}.isdisjoint(_ids(store, approvals))


def test_the_decisions_of_the_last_day_stay_whatever_the_cutoff(store: StateStore) -> None:
    """max_tokens_per_day counts the tokens of the last 24 hours' decisions."""
    today = _decision(store, "a", "r1", NOW - timedelta(hours=2))
    yesterday = _decision(store, "a", "r2", NOW - timedelta(hours=25))
    _decision(store, "a", "r3", NOW)  # the model's newest
    assert prune_history(store.engine, NOW - timedelta(hours=1)).counts["decisions"] == 1
    assert today in _ids(store, decisions) and yesterday not in _ids(store, decisions)


def test_a_new_vote_or_promotion_never_takes_a_pruned_ones_id(store: StateStore) -> None:
    """SQLite numbers a new row after the largest id left: the request of the newest vote and of the newest
    promotion stays, so a `promoted` audit entry's promotion_id never names a new promotion."""
    promoted = _request(store, "r1", "approved", decided=OLD, votes=1)
    promotion = _promotion(store, promoted, "completed")
    _request(store, "r2", "expired", decided=OLD)  # the newest request, without votes or promotion
    before = {t: max(_ids(store, t)) for t in (approval_votes, promotions)}
    prune_history(store.engine, CUTOFF)
    assert promoted in _ids(store, approvals) and promotion in _ids(store, promotions)
    new = _request(store, "r3", "approved", decided=NOW, votes=1)
    assert max(_ids(store, approval_votes)) > before[approval_votes]
    assert _promotion(store, new, "in_progress") > before[promotions]
