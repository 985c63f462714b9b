"""Pruning the state store's history (``airflow agentic-mlops db prune``): old decisions, decided approval
requests with their votes and finished promotions, and finished jobs. Never the audit trail, which is
append-only by design (its guard refuses ``DELETE``).

What is kept whatever its age:

- each model's newest decision and newest job (the model page, ``models list`` and the retrain cooldown read
  them), the newest approval request of the store, and the requests of its newest vote and newest promotion;
- a decision of the last 24 hours (:data:`TOKEN_WINDOW`: ``max_tokens_per_day`` sums their tokens);
- a decision that an open approval request (pending, or approved without a completed or overtaken promotion)
  or a running job still refers to (the job's ``decision_id``, or the same model, DAG and run);
- a pending approval request, an approved one without a completed or overtaken promotion (its promote task
  may not have started yet, or retries after failing before it recorded its intent), and a running job;
- a job started within the longest retrain budget window (``jobs_counted_since``): the budget counts it.

Keeping the newest row of each table also keeps SQLite from issuing a deleted row's id again (it numbers a new
row after the largest id left): a link, a Slack button or an audit entry naming an old id (a ``promoted`` entry's
``promotion_id``) never reaches a new row.

Rows go in batches (:data:`BATCH_SIZE` per transaction), oldest first, so a table of millions of rows is never
locked by one long transaction and a concurrent writer waits at most for one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from airflow_provider_agentic_mlops.core.config import DecisionConfig, ModelSpec
from airflow_provider_agentic_mlops.core.schema import approval_votes, approvals, decisions, jobs, promotions
from airflow_provider_agentic_mlops.core.state import (
    APPROVED,
    JOB_RUNNING,
    PENDING,
    PROMOTION_COMPLETED,
    PROMOTION_OVERTAKEN,
    utcnow,
)

#: Rows deleted per transaction.
BATCH_SIZE = 10_000
#: The shortest ``--older-than`` accepted: a DAG run of a week ago no longer waits on its approval request or
#: its deny (a cleared sensor finds the deny and stands by it), and the daily token budget reads one day.
MIN_AGE = timedelta(days=7)
#: Decisions this recent always stay: ``max_tokens_per_day`` sums their tokens.
TOKEN_WINDOW = timedelta(hours=24)
#: The tables pruned, in the order their counts are reported.
TABLES = ("decisions", "approval_requests", "approval_votes", "promotions", "jobs")


@dataclass(frozen=True)
class PruneResult:
    """Rows deleted (or, on a dry run, that would be) per table, in :data:`TABLES`' order.

    :param counts: table name -> rows.
    :param dry_run: nothing was deleted.
    """

    counts: dict[str, int]
    dry_run: bool

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _newest_per_model(conn: Connection, table: sa.Table) -> list[int]:
    """The id of each model's newest row of ``table`` (one row per model: the ``(model_name, ...)`` indexes)."""
    return list(conn.execute(sa.select(sa.func.max(table.c.id)).group_by(table.c.model_name)).scalars())


def _open_approvals() -> sa.ColumnElement[bool]:
    """An approval request still open: pending, or approved without a finished promotion (its promote task may
    not have started yet, or be retried after failing before it recorded its intent: it reads the request)."""
    finished = sa.exists().where(
        promotions.c.approval_id == approvals.c.id,
        promotions.c.status.in_((PROMOTION_COMPLETED, PROMOTION_OVERTAKEN)),
    )
    return sa.or_(approvals.c.status == PENDING, sa.and_(approvals.c.status == APPROVED, ~finished))


def _decisions_due(cutoff: datetime, kept: Sequence[int]) -> sa.ColumnElement[bool]:
    same_run = sa.and_(
        decisions.c.dag_id.is_not(None),
        decisions.c.run_id.is_not(None),
    )
    waiting_request = (
        sa.exists()
        .where(
            approvals.c.model_name == decisions.c.model_name,
            approvals.c.dag_id == decisions.c.dag_id,
            approvals.c.run_id == decisions.c.run_id,
        )
        .where(_open_approvals())
    )
    running_job = (
        sa.exists()
        .where(jobs.c.status == JOB_RUNNING)
        .where(
            sa.or_(
                jobs.c.decision_id == decisions.c.id,
                sa.and_(
                    jobs.c.model_name == decisions.c.model_name,
                    jobs.c.dag_id == decisions.c.dag_id,
                    jobs.c.run_id == decisions.c.run_id,
                ),
            )
        )
    )
    return sa.and_(
        decisions.c.created_at < min(cutoff, utcnow() - TOKEN_WINDOW),
        decisions.c.id.not_in(kept) if kept else sa.true(),
        ~sa.and_(same_run, waiting_request),
        ~running_job,
    )


def _approvals_due(cutoff: datetime, kept: Sequence[int]) -> sa.ColumnElement[bool]:
    return sa.and_(
        approvals.c.status != PENDING,
        sa.func.coalesce(approvals.c.decided_at, approvals.c.requested_at) < cutoff,
        approvals.c.id.not_in(kept) if kept else sa.true(),
        ~_open_approvals(),
    )


def _jobs_due(cutoff: datetime, kept: Sequence[int], counted_since: datetime | None) -> sa.ColumnElement[bool]:
    return sa.and_(
        jobs.c.status != JOB_RUNNING,
        sa.func.coalesce(jobs.c.finished_at, jobs.c.heartbeat_at) < cutoff,
        jobs.c.id.not_in(kept) if kept else sa.true(),
        jobs.c.started_at < counted_since if counted_since is not None else sa.true(),
    )


def longest_budget_window(specs: Iterable[ModelSpec]) -> timedelta:
    """The longest ``decision.budget_window_hours`` of ``specs``: the retrain budget counts the jobs started
    within it, so pruning them would let a model retrain more often than its budget allows. The default
    window (168 hours) when ``specs`` is empty.

    :param specs: the models file's valid entries.
    """
    hours = [spec.decision.budget_window_hours for spec in specs]
    return timedelta(hours=max(hours, default=DecisionConfig().budget_window_hours))


def _in_batches(
    engine: Engine,
    table: sa.Table,
    due: sa.ColumnElement[bool],
    delete: Callable[[Connection, sa.ColumnElement[bool]], int],
    batch_size: int,
) -> int:
    """Delete the rows of ``table`` that are ``due``, at most ``batch_size`` per transaction, walking the ids
    upward: each batch is an id range (after the last batch's), so no batch reads again what earlier ones deleted,
    and the range's delete checks ``due`` again (a row that became needed since it was read stays)."""
    deleted, after = 0, 0
    while True:
        with engine.begin() as conn:
            last = conn.execute(
                sa.select(sa.func.max(sa.literal_column("id"))).select_from(
                    sa.select(table.c.id)
                    .where(table.c.id > after, due)
                    .order_by(table.c.id)
                    .limit(batch_size)
                    .subquery()
                )
            ).scalar()
            if last is None:
                return deleted
            deleted += delete(conn, sa.and_(table.c.id > after, table.c.id <= last, due))
        after = last


def prune_history(
    engine: Engine,
    cutoff: datetime,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    jobs_counted_since: datetime | None = None,
) -> PruneResult:
    """Delete the state store's history older than ``cutoff`` (see the module's docstring for what is kept).

    :param engine: the state store's engine (migrated to the head revision).
    :param cutoff: naive UTC, as the store keeps its times: rows older than it go (a decision by ``created_at``,
        a request by ``decided_at``, a job by ``finished_at``).
    :param dry_run: only count what would be deleted.
    :param batch_size: rows per transaction.
    :param jobs_counted_since: naive UTC; a job started since then stays whatever ``cutoff`` says (the retrain
        budget counts it: now minus :func:`longest_budget_window`).
    :return: the rows deleted (or due, on a dry run) per table.
    :raises ValueError: ``batch_size`` is below 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size {batch_size!r} must be at least 1")
    with engine.connect() as conn:
        kept_decisions = _newest_per_model(conn, decisions)
        kept_jobs = _newest_per_model(conn, jobs)
        # the newest request, and the requests of the newest vote and promotion: their rows go with them
        newest = [
            conn.execute(sa.select(sa.func.max(approvals.c.id))).scalar(),
            *(
                conn.execute(
                    sa.select(child.c.approval_id).where(
                        child.c.id == sa.select(sa.func.max(child.c.id)).scalar_subquery()
                    )
                ).scalar()
                for child in (approval_votes, promotions)
            ),
        ]
    kept_requests = sorted({id_ for id_ in newest if id_ is not None})
    due = {
        "decisions": _decisions_due(cutoff, kept_decisions),
        "approval_requests": _approvals_due(cutoff, kept_requests),
        "jobs": _jobs_due(cutoff, kept_jobs, jobs_counted_since),
    }
    if dry_run:
        requests = sa.select(approvals.c.id).where(due["approval_requests"])
        with engine.connect() as conn:

            def count(table: sa.Table, where: sa.ColumnElement[bool]) -> int:
                return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar() or 0)

            counts = {
                "decisions": count(decisions, due["decisions"]),
                "approval_requests": count(approvals, due["approval_requests"]),
                "approval_votes": count(approval_votes, approval_votes.c.approval_id.in_(requests)),
                "promotions": count(promotions, promotions.c.approval_id.in_(requests)),
                "jobs": count(jobs, due["jobs"]),
            }
        return PruneResult(counts, dry_run=True)

    children = {"approval_votes": 0, "promotions": 0}

    def delete_requests(conn: Connection, where: sa.ColumnElement[bool]) -> int:
        # read (and lock) the ids first: ``where`` reads the promotions, which go before the request
        requests = list(conn.execute(sa.select(approvals.c.id).where(where).with_for_update()).scalars())
        if not requests:
            return 0
        # votes and promotions first: their approval_id is a foreign key to the request
        children["approval_votes"] += conn.execute(
            approval_votes.delete().where(approval_votes.c.approval_id.in_(requests))
        ).rowcount
        children["promotions"] += conn.execute(
            promotions.delete().where(promotions.c.approval_id.in_(requests))
        ).rowcount
        return conn.execute(approvals.delete().where(approvals.c.id.in_(requests))).rowcount

    def deleter(table: sa.Table) -> Callable[[Connection, sa.ColumnElement[bool]], int]:
        return lambda conn, where: conn.execute(table.delete().where(where)).rowcount

    counts = {
        "decisions": _in_batches(engine, decisions, due["decisions"], deleter(decisions), batch_size),
        "approval_requests": _in_batches(engine, approvals, due["approval_requests"], delete_requests, batch_size),
    }
    counts.update(children)
    counts["jobs"] = _in_batches(engine, jobs, due["jobs"], deleter(jobs), batch_size)
    return PruneResult({name: counts[name] for name in TABLES}, dry_run=False)


__all__ = ["BATCH_SIZE", "MIN_AGE", "TABLES", "TOKEN_WINDOW", "PruneResult", "longest_budget_window", "prune_history"]
