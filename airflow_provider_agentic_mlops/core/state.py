"""The state store: jobs, decisions, approvals and the audit trail (SQLAlchemy, no Airflow).

SQLite (WAL, busy timeout, ``BEGIN IMMEDIATE`` for writes) is the embedded default; PostgreSQL is
the production backend. The schema is created and upgraded by Alembic on first use.

Invariants the database itself enforces, so no caller can race past them:

* one ``running`` job per model (partial unique index);
* one approval request per model, version and DAG run (unique constraint);
* one vote per person per request, and the first decision on a request wins (conditional update);
* the audit trail is append-only (triggers refuse UPDATE and DELETE).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import tenacity
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from airflow_provider_agentic_mlops.core import paths, schema
from airflow_provider_agentic_mlops.core.approval_policy import SLACK_VIAS, Allowlist, bad_reason, storable_text
from airflow_provider_agentic_mlops.core.errors import AgenticMlopsError, mask_url_secrets
from airflow_provider_agentic_mlops.core.jobs import TaskStateReader, stale_reason
from airflow_provider_agentic_mlops.core.locks import LockTimeout, locked_transaction
from airflow_provider_agentic_mlops.core.option_defaults import DEFAULT_MIGRATION_LOCK_TIMEOUT
from airflow_provider_agentic_mlops.core.promotion import PROMOTED
from airflow_provider_agentic_mlops.core.schema import (
    approval_votes,
    approvals,
    audit,
    decisions,
    jobs,
    promotions,
    slack_replays,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED = "running", "succeeded", "failed"
#: Key of a failed job's ``details``: it never started its training (its training DAG run was never created).
NEVER_STARTED = "never_started"
#: Key of a failed job's ``details``: a new try of the same task in the same DAG run replaced it (e.g. Airflow
#: re-queued the task after a scheduler restart); that try's own job is the run's retrain. It documents what
#: happened (``jobs list``); the budget does not read it (:data:`_SPENT_RETRAIN` counts per DAG run).
SUPERSEDED_BY_RETRY = "superseded"
_later_retrain = jobs.alias("later_retrain")
#: A later retraining job of the same model in the same DAG run exists: a new try of the task (or a clear of it)
#: replaced this one, whether it superseded it or a reader (``jobs list``, ``models list``, ``decide``) had failed
#: it as stale first. A job without a DAG run is never replaced (NULL matches nothing).
_REPLACED_IN_ITS_RUN = (
    sa.exists()
    .where(
        _later_retrain.c.model_name == jobs.c.model_name,
        _later_retrain.c.kind == "retrain",
        _later_retrain.c.dag_id == jobs.c.dag_id,
        _later_retrain.c.run_id == jobs.c.run_id,
        _later_retrain.c.id > jobs.c.id,
    )
    .correlate(jobs)
)
#: A retraining job that spent the budget: any but a failed one that never started its training or was replaced by
#: a later job of its DAG run, so one DAG run spends at most one unit of failed jobs, whatever order the new try
#: and the readers that fail stale jobs ran in.
_SPENT_RETRAIN = sa.and_(
    jobs.c.kind == "retrain",
    sa.or_(
        jobs.c.status != JOB_FAILED,
        sa.and_(
            sa.func.coalesce(jobs.c.details[NEVER_STARTED].as_boolean(), False).is_(False),
            ~_REPLACED_IN_ITS_RUN,
        ),
    ),
)
PENDING, APPROVED, DENIED, EXPIRED = "pending", "approved", "denied", "expired"
PROMOTION_IN_PROGRESS, PROMOTION_COMPLETED = "in_progress", "completed"
#: A promotion closed unfinished because the champion moved on before it was resumed (``core/promotion.py``).
PROMOTION_OVERTAKEN = "overtaken"
#: Closed because its DAG run can no longer act on it: the run failed (``cancelled``) or a newer request of
#: the same model replaced it (``superseded``). Deciding such a request records nothing.
CANCELLED, SUPERSEDED = "cancelled", "superseded"


def utcnow() -> datetime:
    """Naive UTC: the store keeps every timestamp as naive UTC, the same on SQLite and PostgreSQL."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


#: Now on PostgreSQL's clock, as naive UTC like every timestamp of the store.
_DATABASE_NOW = sa.func.timezone("UTC", sa.func.now())
#: Now on PostgreSQL's clock when the statement runs, not when its transaction began (``now()``): for a row
#: written in a transaction that first waited for a lock.
_DATABASE_CLOCK = sa.func.timezone("UTC", sa.func.clock_timestamp())


def _this_process() -> str:
    """This process, as a stale job's error names the one that failed it: ``host pid N``."""
    return f"{socket.gethostname()} pid {os.getpid()}"


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def default_sqlite_url(airflow_home: str | os.PathLike[str] | None = None) -> str:
    """``sqlite:///$AIRFLOW_HOME/agentic_mlops.db`` (``~/airflow`` when AIRFLOW_HOME is unset; ``~`` and
    ``$VARS`` expanded as Airflow expands them, :func:`~airflow_provider_agentic_mlops.core.paths.airflow_home`)."""
    return f"sqlite:///{paths.airflow_home(airflow_home) / 'agentic_mlops.db'}"


@dataclass(frozen=True)
class ApprovalOutcome:
    """What happened to one vote on an approval request.

    :param recorded: the vote changed something (a decision or a counted approval).
    :param approval: the request as it is now.
    :param message: a sentence for the person who voted ("Approved by U1", "already denied by U2").
    """

    recorded: bool
    approval: dict[str, Any]
    message: str

    @property
    def decided(self) -> bool:
        return self.approval["status"] != PENDING


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit trail, for :meth:`StateStore.audit_many`.

    :param action: what happened (``alert_received``, ``approval_approved``, ``approval_denied``, ...: a decided
        request is ``approval_<status>``).
    :param actor: who or what did it.
    :param model_name: the model it concerns, if any.
    :param subject: what it concerns within the model (an approval, an alert's fingerprint), if anything.
    :param details: JSON-able details.
    """

    action: str
    actor: str
    model_name: str | None = None
    subject: str | None = None
    details: dict[str, Any] | None = None


#: SQLSTATEs of a connection lost or refused for now (class 08 is matched by its prefix): admin shutdown, crash
#: shutdown, cannot connect now (starting up, shutting down, in recovery), idle-session timeout, too many
#: connections, and a transaction the server rolled back to be run again (serialization failure, deadlock).
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57P05", "53300", "40001", "40P01"})

#: libpq's words for a host name the resolver could not look up for now (EAI_AGAIN, glibc's and musl's): the DNS
#: server failed, not the name.
_RESOLVER_FAILED = ("temporary failure in name resolution", "to address: try again")

#: Messages of a lost or refused connection: what is not on this list is not waited out. libpq reports a
#: connection it could not open without a SQLSTATE (the server's FATAL arrives before the session exists), and
#: psycopg2 one it lost mid-statement too. ``could not connect`` is libpq 13's prefix of a failed connect().
_TRANSIENT = (
    "could not connect",
    "connection refused",
    "connection reset",
    "connection timed out",
    "timeout expired",
    "server closed the connection",
    "terminating connection",
    "connection is closed",
    "ssl syscall error",
    "database is locked",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is not yet accepting connections",
    "the database system is in recovery mode",
    "is not currently accepting connections",
    "too many clients",
    "too many connections",
    "remaining connection slots are reserved",
    "no route to host",
    "network is unreachable",
    "could not receive data from server",
    "could not send data to server",
    *_RESOLVER_FAILED,
)

#: Messages of a connection refused for a reason to fix, not wait out, even beside an outage's words (libpq
#: lists each host it tried): authentication and authorization (SQLSTATE class 28), a database or role that does
#: not exist, no CONNECT privilege, TLS or GSSAPI settings that cannot be met, a connection setting libpq refuses
#: (``invalid sslmode value``: see :data:`_INVALID_SETTING`), and a host name that does not resolve, far more
#: often a typo than an outage (unless the resolver failed for now: :data:`_RESOLVER_FAILED`).
_NEEDS_A_FIX = (
    "authentication failed",
    "no pg_hba.conf entry",
    "pg_hba.conf rejects",
    "is not permitted to log in",
    "does not exist",
    "permission denied",
    "no password supplied",
    "ssl was required",
    "certificate",
    "channel binding",
    "gssapi",
    "invalid connection option",
    "invalid integer value",
    "invalid port number",
    "invalid dsn",
    "could not translate host name",
)

#: libpq's refusal of a connection setting's value: ``invalid sslmode value``, ``invalid require_auth method``.
_INVALID_SETTING = re.compile(r"\binvalid \w+ (?:value|method)\b")


def _sqlstate(driver_error: BaseException | None) -> str | None:
    """The SQLSTATE of a driver's error (psycopg2's ``pgcode``, psycopg 3's ``sqlstate``), if it has one."""
    code = getattr(driver_error, "pgcode", None) or getattr(driver_error, "sqlstate", None)
    return code if isinstance(code, str) and code else None


def _needs_a_fix(message: str) -> bool:
    """Whether a lower-cased driver message names a fault to fix (:data:`_NEEDS_A_FIX`), line by line: a
    host name the resolver could not look up for now is an outage on its line, not a fault."""
    return any(
        (any(fault in line for fault in _NEEDS_A_FIX) and not any(failed in line for failed in _RESOLVER_FAILED))
        or _INVALID_SETTING.search(line)
        for line in message.splitlines()
    )


def is_transient(err: BaseException) -> bool:
    """A dropped or refused database connection (or SQLite's lock timeout): worth trying again. A missing
    table, a bad query, a constraint, a refused login or a typo in the connection's settings is not.

    An error with a SQLSTATE is decided by it (class 08 and :data:`_TRANSIENT_SQLSTATES`). Without one (libpq
    gives none for a connection it could not open), by the message: an outage's words (:data:`_TRANSIENT`)
    unless it also names a fault to fix (:data:`_NEEDS_A_FIX`). Words not on either list are not an outage.

    :param err: the error a store operation raised.
    """
    if isinstance(err, sa.exc.DBAPIError) and err.connection_invalidated:
        return True
    if isinstance(err, sa.exc.InterfaceError):
        return True
    if not isinstance(err, sa.exc.OperationalError):
        return False
    code = _sqlstate(err.orig)
    if code is not None:
        return code.startswith("08") or code in _TRANSIENT_SQLSTATES
    message = str(err.orig if err.orig is not None else err).lower()
    return not _needs_a_fix(message) and any(t in message for t in _TRANSIENT)


def _retrying(stop: Any, transient: Callable[[BaseException], bool] = is_transient) -> Any:
    """A retry of connection errors (``transient``), with exponential backoff from 0.2 s, until ``stop``."""
    return tenacity.retry(
        retry=tenacity.retry_if_exception(transient),
        wait=tenacity.wait_exponential(multiplier=0.2, max=5),
        stop=stop,
        before_sleep=tenacity.before_sleep_log(logging.getLogger(__name__), logging.WARNING),
        reraise=True,
    )


#: Reads of the store retry connection errors with exponential backoff (0.2 s doubling, 6 tries, about
#: 6 s): a killed connection or a quick restart is a blip, not a failed run. A longer outage (a failover)
#: outlasts them; the approval trigger polls through it until its deadline. Writes are not retried here:
#: whether a write whose connection dropped was committed is unknown (closing a job, safe to repeat, has its own).
retry_read = _retrying(tenacity.stop_after_attempt(6))

#: Closing a job retries connection errors too, for up to 30 s: the update touches only a job still running, so
#: repeating one that committed although its connection dropped changes nothing, while giving up throws a
#: finished training away and leaves its job running until it is found stale.
retry_close_job = _retrying(tenacity.stop_after_delay(30))

#: Seconds :func:`retry_close` retries connection errors (as :data:`retry_close_job` does).
CLOSE_RETRY_SECONDS = 30.0


def retry_close(transient: Callable[[BaseException], bool] = is_transient) -> Any:
    """A retry of a close that is safe to repeat (it changes only what is still open), for up to
    :data:`CLOSE_RETRY_SECONDS`, with the backoff of :data:`retry_read`.

    :param transient: which errors are worth trying again (default :func:`is_transient`).
    """
    return _retrying(tenacity.stop_after_delay(CLOSE_RETRY_SECONDS), transient)


#: What asking for an existing request again did (``StateStore._ask_again``): opened it again as a new request,
#: or gave the pending request the approvers asked for now.
REOPENED, RENEWED = "reopened", "renewed"


class StateStoreError(AgenticMlopsError, RuntimeError):
    """A state-store operation was refused; the message says why and what to do."""


class ApproversChanged(StateStoreError):
    """A vote was checked against approvers (or a number of approvals) the request no longer has: the sensor
    asked again with the current ones. Nothing was recorded; check the vote again on the request as it is."""


def approval_gate(approval: Mapping[str, Any]) -> tuple[frozenset[str], str | None, int]:
    """Who may decide ``approval`` from Slack and how many approvals it needs: what a vote is checked against."""
    allowlist = Allowlist.of(approval)
    return frozenset(allowlist.approvers), allowlist.usergroup, int(approval.get("required_approvals") or 1)


class SignatureReplayed(Exception):
    """A signed request's signature was already recorded within the replay window (see
    :meth:`StateStore.first_use_committed_with`): nothing the request wrote is kept."""


@dataclass
class _PendingFirstUse:
    """A signature to record in the next write transaction of one thread (``first_use_committed_with``)."""

    signature: str
    window: timedelta
    recorded: bool = False


_migrated: set[str] = set()
_migrate_lock = threading.Lock()
#: Seconds a job's start with ``admit`` waits at most for another start of the model (``StateStore.start_job``).
JOB_START_LOCK_TIMEOUT = 60.0


class StateStore:
    """Access to the provider's state store.

    :param url: SQLAlchemy URL, e.g. ``sqlite:////abs/path/agentic_mlops.db`` or
        ``postgresql+psycopg2://user@host:5432/db``.
    :param migrate: apply Alembic migrations on first use (default). Turn off only if the schema is
        managed elsewhere.
    :param engine: an existing engine to share (tests, the API server); ``url`` is then ignored.
    :param migration_lock_timeout: seconds to wait at most for another process's migration (see
        :func:`migrate_schema`).
    """

    def __init__(
        self,
        url: str,
        *,
        migrate: bool = True,
        engine: Engine | None = None,
        migration_lock_timeout: float = DEFAULT_MIGRATION_LOCK_TIMEOUT,
    ) -> None:
        self.url = url
        self.engine = engine or create_engine(url)
        self._replays_pruned_at = float("-inf")
        self._thread = threading.local()  # a signature to record with this thread's next write
        self._digests_since: int | None = None  # _first_digested_decision, once found
        if migrate:
            migrate_schema(self.engine, lock_timeout=migration_lock_timeout)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """Check that the store's database answers (``SELECT 1``): before work that must not start when
        the store cannot record it.

        :raises sqlalchemy.exc.SQLAlchemyError: the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def _now(self) -> Any:
        """Now, for a job's liveness timestamps: the database's clock on PostgreSQL, where workers on many
        machines share the store and one whose clock is off must not make a live job look dead (or a dead one
        alive); the local clock on SQLite, whose file is on this machine."""
        return _DATABASE_NOW if self.dialect == "postgresql" else utcnow()

    @retry_read
    def database_now(self) -> datetime:
        """Now on the clock that stamps heartbeats (see :meth:`_now`), naive UTC."""
        if self.dialect != "postgresql":
            return utcnow()
        with self._read() as conn:
            return conn.execute(sa.select(_DATABASE_NOW)).scalar_one()

    # -- transactions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE) so a
        read-then-write cannot fail half-way with SQLITE_BUSY. Inside :meth:`first_use_committed_with`,
        the first one also records the signature (:class:`SignatureReplayed` for a replay)."""
        pending: _PendingFirstUse | None = getattr(self._thread, "pending", None)
        if pending is not None and pending.recorded:
            pending = None
        with self.engine.connect() as conn:
            conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                if pending is not None and not self._record_first_use(conn, pending.signature, pending.window):
                    raise SignatureReplayed(f"signature {pending.signature[:20]}... was already received")
                yield conn
        if pending is not None:  # committed with the writes
            pending.recorded = True

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read transaction; inside :meth:`start_job`'s ``admit``, that locked transaction (see there)."""
        locked: Connection | None = getattr(self._thread, "locked", None)
        if locked is not None:
            yield locked
            return
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def _fetch_one(self, query: sa.Select[Any]) -> dict[str, Any] | None:
        """The first row of ``query`` as a dict, or None."""
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    def _fetch_all(self, query: sa.Select[Any]) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def _insert_once(
        self,
        table: sa.Table,
        row: dict[str, Any],
        *,
        action: str,
        actor: str,
        details: dict[str, Any],
        then: Callable[[Connection, int], None] | None = None,
    ) -> int | None:
        """Insert ``row`` and its audit entry ``action`` (subject ``<kind>:<id>``, kind ``job``, ``approval``,
        ``promotion``) in one transaction, with ``then(conn, id)`` inside it; None when one of the table's
        unique constraints says the row exists already."""
        subject = _AUDIT_SUBJECT[table.name]
        try:
            with self._write() as conn:
                row_id = int(conn.execute(table.insert().values(**row)).inserted_primary_key[0])
                self._audit(
                    conn,
                    action,
                    actor=actor,
                    model_name=row["model_name"],
                    subject=f"{subject}:{row_id}",
                    details=details,
                )
                if then is not None:
                    then(conn, row_id)
        except IntegrityError:
            return None
        return row_id

    # -- jobs -------------------------------------------------------------------------------

    def start_job(
        self,
        model_name: str,
        *,
        dag_id: str | None = None,
        run_id: str | None = None,
        decision_id: int | None = None,
        kind: str = "retrain",
        details: dict[str, Any] | None = None,
        admit: Callable[[], None] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Start the model's job, or attach to the one already running.

        :param admit: called when no job is running, before the insert, to refuse the start by raising (the
            retrain budget: :meth:`~airflow_provider_agentic_mlops.core.retraining.Retraining.start_job`). The look
            for a running job, ``admit`` and the insert are then one transaction under the model's lock
            (:func:`~airflow_provider_agentic_mlops.core.locks.locked_transaction`, scope ``jobs``), and this
            store's reads in ``admit`` read in that transaction: of two starts at once, the second sees the first's
            job, also one that has failed already, instead of both passing a check neither job was in yet.
        :return: ``(job, created)``; ``created`` is False when a running job already existed, which
            is then returned unchanged: the caller must wait for it instead of starting another.
        :raises LockTimeout: another start of the model held its lock for :data:`JOB_START_LOCK_TIMEOUT` s.
        """
        now = self._now()
        row = {
            "model_name": model_name,
            "kind": kind,
            "status": JOB_RUNNING,
            "dag_id": dag_id,
            "run_id": run_id,
            "decision_id": decision_id,
            "details": _jsonable(details),
            "started_at": now,
            "heartbeat_at": now,
        }
        audited = {
            "action": "job_started",
            "actor": dag_id or "unknown",
            "details": {"run_id": run_id, "decision_id": decision_id},
        }
        if admit is not None:
            running, job_id = self._start_job_admitted(row, admit, audited)
            if running is not None:
                return running, False
        else:
            job_id = self._insert_once(jobs, row, **audited)
        if job_id is None:  # the unique index: the model has a running job
            running = self.inflight_job(model_name)
            if running is None:  # it finished (or was stale) between our insert and this read: try once more
                return self.start_job(
                    model_name,
                    dag_id=dag_id,
                    run_id=run_id,
                    decision_id=decision_id,
                    kind=kind,
                    details=details,
                    admit=admit,
                )
            return running, False
        return self.get_job(job_id), True  # type: ignore[return-value]

    def _start_job_admitted(
        self, row: dict[str, Any], admit: Callable[[], None], audited: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, int | None]:
        """:meth:`start_job` with ``admit``: ``(the running job to attach to, None)``, ``(None, the new job's id)``,
        or ``(None, None)`` when the unique index refused the insert (a job started meanwhile without the lock)."""
        # SQLite: take the write lock up front, as _write does (a read then a write could meet SQLITE_BUSY)
        engine = self.engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        try:
            with locked_transaction(engine, "jobs", row["model_name"], timeout=JOB_START_LOCK_TIMEOUT) as conn:
                running = (
                    conn.execute(
                        jobs.select().where(jobs.c.model_name == row["model_name"], jobs.c.status == JOB_RUNNING)
                    )
                    .mappings()
                    .first()
                )
                if running is not None:
                    return dict(running), None
                self._thread.locked = conn
                try:
                    admit()
                finally:
                    self._thread.locked = None
                # started once the lock is ours: the transaction (now()) began before the wait for it
                now = _DATABASE_CLOCK if self.dialect == "postgresql" else utcnow()
                row = {**row, "started_at": now, "heartbeat_at": now}
                job_id = int(conn.execute(jobs.insert().values(**row)).inserted_primary_key[0])
                self._audit(conn, model_name=row["model_name"], subject=f"job:{job_id}", **audited)
        except IntegrityError:
            return None, None
        return None, job_id

    @retry_read
    def get_job(self, job_id: int) -> dict[str, Any] | None:
        return self._fetch_one(jobs.select().where(jobs.c.id == job_id))

    def inflight_job(self, model_name: str, *, task_state: TaskStateReader | None = None) -> dict[str, Any] | None:
        """The model's running job, after failing it if it is stale (see :meth:`fail_stale_jobs`).

        Every reader of the in-flight job goes through here, so a job whose worker died can block the
        model only until somebody looks, never indefinitely.

        :param task_state: reads the Airflow state of the task that owns the job, if the caller can.
        """
        self.fail_stale_jobs(model_name=model_name, task_state=task_state)
        return self._running_job(model_name)

    def inflight_jobs(
        self, model_names: Sequence[str], *, task_state: TaskStateReader | None = None
    ) -> dict[str, dict[str, Any]]:
        """:meth:`inflight_job` of every model in ``model_names`` at once: ``{model: its running job}``,
        after failing the stale ones; a model with no running job is absent.

        :param task_state: reads the Airflow state of the task that owns a job, if the caller can.
        """
        self.fail_stale_jobs(model_names=model_names, task_state=task_state)
        return {
            job["model_name"]: job
            for chunk in _chunks(model_names)
            for job in self._fetch_all(jobs.select().where(jobs.c.model_name.in_(chunk), jobs.c.status == JOB_RUNNING))
        }

    @retry_read
    def _running_job(self, model_name: str) -> dict[str, Any] | None:
        return self._fetch_one(jobs.select().where(jobs.c.model_name == model_name, jobs.c.status == JOB_RUNNING))

    def heartbeat_job(self, job_id: int, **fields: Any) -> bool:
        """Mark the job alive; optionally update ``external_ref`` or ``details`` at the same time.

        :return: False when the job is no longer running (failed as stale, closed by hand): nothing was
            updated, and whatever its worker produces from now on must not be taken as the job's result.
        """
        allowed = {k: v for k, v in fields.items() if k in ("external_ref", "details")}
        if "details" in allowed:
            allowed["details"] = _jsonable(allowed["details"])
        with self._write() as conn:
            updated = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == JOB_RUNNING)
                .values(heartbeat_at=self._now(), **allowed)
            ).rowcount
        return bool(updated)

    @retry_close_job
    def finish_job(
        self,
        job_id: int,
        *,
        status: str,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        never_started: bool = False,
        superseded: bool = False,
        from_status: str = JOB_RUNNING,
    ) -> dict[str, Any]:
        """Close a running job as ``succeeded`` or ``failed``. Closing a closed job changes nothing, so a dropped
        connection is retried (:data:`retry_close_job`).

        :param never_started: the job failed before its training started (its training DAG run was never
            created): its details say so and it does not count toward the retrain budget (:meth:`retrains_since`).
        :param superseded: the job failed because a new try of the same task in the same DAG run replaced it (and
            starts its own job): its details say so (the budget counts that later job instead, as for any failed
            job replaced in its DAG run, see :data:`_SPENT_RETRAIN`).
        :param from_status: the status the job must have to change: ``succeeded`` (with ``status="failed"``)
            fails a job whose version could not be made the challenger after the job closed.
        """
        if status not in (JOB_SUCCEEDED, JOB_FAILED):
            raise ValueError(f"job status {status!r} is not a final status; use 'succeeded' or 'failed'")
        for flag, given in ((NEVER_STARTED, never_started), (SUPERSEDED_BY_RETRY, superseded)):
            if given and status != JOB_FAILED:
                raise ValueError(f"only a failed job can be {flag}, not a {status!r} one")
        if from_status not in (JOB_RUNNING, JOB_SUCCEEDED) or (from_status == JOB_SUCCEEDED and status != JOB_FAILED):
            raise ValueError(f"a {from_status!r} job cannot become {status!r}")
        with self._write() as conn:
            values: dict[str, Any] = {"status": status, "result": result, "error": error, "finished_at": self._now()}
            flags = {NEVER_STARTED: True} if never_started else {}
            flags.update({SUPERSEDED_BY_RETRY: True} if superseded else {})
            if flags:
                details = conn.execute(sa.select(jobs.c.details).where(jobs.c.id == job_id)).scalar()
                values["details"] = {**(details or {}), **flags}
            updated = conn.execute(
                jobs.update().where(jobs.c.id == job_id, jobs.c.status == from_status).values(**values)
            ).rowcount
            if updated:
                row = conn.execute(jobs.select().where(jobs.c.id == job_id)).mappings().one()
                self._audit(
                    conn,
                    f"job_{status}",
                    actor=row["dag_id"] or "unknown",
                    model_name=row["model_name"],
                    subject=f"job:{job_id}",
                    details={"result": result, "error": error},
                )
        job = self.get_job(job_id)
        if job is None:
            raise StateStoreError(f"job {job_id} does not exist in the state store")
        return job

    def fail_job_by_hand(
        self, job_id: int, *, actor: str, reason: str, identity: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any] | None, bool]:
        """Fail a running job a person knows nobody runs any more (``jobs fail``), audited as
        ``job_failed_by_hand`` with ``actor`` and ``reason``. A worker still training learns it at its next
        heartbeat, and its version does not become the challenger.

        :param identity: how ``actor`` was established (the OS login and the Airflow user it maps to).
        :return: ``(job, failed)``: the job as it is now (None when there is none), and whether this call failed it.
        """
        problem = bad_reason(reason) if reason.strip() else "the reason is empty: say why the job is failed by hand"
        if problem is not None:
            raise StateStoreError(problem)
        with self._write() as conn:
            updated = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == JOB_RUNNING)
                .values(status=JOB_FAILED, finished_at=self._now(), error=f"failed by {actor}: {reason}")
            ).rowcount
            if updated:
                row = conn.execute(jobs.select().where(jobs.c.id == job_id)).mappings().one()
                self._audit(
                    conn,
                    "job_failed_by_hand",
                    actor=actor,
                    model_name=row["model_name"],
                    subject=f"job:{job_id}",
                    details={"reason": reason, "run_id": row["run_id"], "identity": identity},
                )
        return self.get_job(job_id), bool(updated)

    # Retried as a whole like a read: the update touches only jobs still running, so a retry after a dropped
    # connection (committed or not) fails each stale job once; a committed one drops out of the return value.
    @retry_read
    def fail_stale_jobs(
        self,
        *,
        model_name: str | None = None,
        model_names: Sequence[str] | None = None,
        task_state: TaskStateReader | None = None,
        now: datetime | None = None,
    ) -> list[int]:
        """Mark failed every running job nobody runs any more, so it cannot block its model.

        Stale is judged by each job's own limits (recorded when it started, see :func:`job_limits`): no
        heartbeat for ``heartbeat_timeout``; for a job that cannot heartbeat (waiting on a training DAG),
        running longer than ``timeout``; or, when ``task_state`` is given, the Airflow task that owns it
        has ended (failed, up for retry, ...) although the job is still marked running.

        Ages are measured on the clock that stamps heartbeats (:meth:`database_now`), never this worker's own.
        A job that heartbeats between the read and the update is alive and left running.

        :param model_names: only the jobs of these models (with ``model_name``: of both).
        :param now: judge as if it were this time (tests).
        :return: the ids of the jobs marked failed.
        """
        now = _naive_utc(now) if now else self.database_now()
        by = _this_process()
        query = _where_given(sa.select(jobs).where(jobs.c.status == JOB_RUNNING), jobs, model_name=model_name)
        if model_names is None:
            running = self._fetch_all(query)
        else:
            running = [
                job
                for chunk in _chunks(model_names)
                for job in self._fetch_all(query.where(jobs.c.model_name.in_(chunk)))
            ]
        stale = [(job, why) for job in running if (why := stale_reason(job, now, task_state))]
        failed: list[int] = []
        if not stale:
            return failed
        with self._write() as conn:
            for job, why in stale:
                updated = conn.execute(
                    jobs.update()
                    .where(
                        jobs.c.id == job["id"], jobs.c.status == JOB_RUNNING, jobs.c.heartbeat_at <= job["heartbeat_at"]
                    )
                    .values(status=JOB_FAILED, finished_at=now, error=f"{why} (found stale by {by})")
                ).rowcount
                if updated:
                    failed.append(job["id"])
                    self._audit(
                        conn,
                        "job_failed_stale",
                        actor="agentic-mlops",
                        model_name=job["model_name"],
                        subject=f"job:{job['id']}",
                        details={"reason": why, "run_id": job.get("run_id"), "by": by},
                    )
        return failed

    @retry_read
    def list_jobs(
        self,
        model_name: str | None = None,
        *,
        since: datetime | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        query = jobs.select().order_by(jobs.c.started_at.desc(), jobs.c.id.desc()).limit(limit)
        if since is not None:
            query = query.where(jobs.c.started_at >= _naive_utc(since))
        return self._fetch_all(_where_given(query, jobs, model_name=model_name, status=status))

    @retry_read
    def last_retrain(self, model_name: str) -> dict[str, Any] | None:
        """The model's most recent retraining job that did not fail (running or succeeded)."""
        query = (
            jobs.select()
            .where(jobs.c.model_name == model_name, jobs.c.kind == "retrain", jobs.c.status != JOB_FAILED)
            .order_by(jobs.c.started_at.desc(), jobs.c.id.desc())
            .limit(1)
        )
        return self._fetch_one(query)

    @retry_read
    def last_retrain_starts(self, model_names: Sequence[str]) -> dict[str, datetime]:
        """``{model: start of its last retrain that did not fail}`` (:meth:`last_retrain`'s ``started_at``) for
        every model in ``model_names`` that has one, in one read."""
        started: dict[str, datetime] = {}
        with self._read() as conn:
            for chunk in _chunks(model_names):
                query = (
                    sa.select(jobs.c.model_name, sa.func.max(jobs.c.started_at))
                    .where(jobs.c.model_name.in_(chunk), jobs.c.kind == "retrain", jobs.c.status != JOB_FAILED)
                    .group_by(jobs.c.model_name)
                )
                started.update({name: at for name, at in conn.execute(query)})
        return started

    @retry_read
    def retrains_since(
        self, model_name: str, *, since: datetime, run: tuple[str | None, str | None] | None = None
    ) -> tuple[int, datetime | None]:
        """``(count, oldest start)`` of the retraining jobs started since ``since``, failed ones included
        except those that never started their training or were replaced by a later job of their DAG run.

        :param run: ``(dag_id, run_id)`` of a DAG run about to start a retraining job (a new try of its task): its
            own failed jobs do not count either, as the job it starts will replace them (one run, one unit).
        """
        query = sa.select(sa.func.count(), sa.func.min(jobs.c.started_at)).where(
            jobs.c.model_name == model_name, _SPENT_RETRAIN, jobs.c.started_at >= _naive_utc(since)
        )
        if run is not None and None not in run:  # a run without ids: nothing to tell its jobs by
            dag_id, run_id = run
            query = query.where(
                sa.or_(
                    jobs.c.status != JOB_FAILED,
                    sa.func.coalesce(jobs.c.dag_id, "") != dag_id,
                    sa.func.coalesce(jobs.c.run_id, "") != run_id,
                )
            )
        with self._read() as conn:
            count, oldest = conn.execute(query).one()
        return int(count), oldest

    @retry_read
    def retrains_since_of(self, model_names: Sequence[str], *, since: datetime) -> dict[str, tuple[int, datetime]]:
        """:meth:`retrains_since` of every model in ``model_names`` at once; a model without retraining jobs
        since ``since`` is absent (``(0, None)``)."""
        counts: dict[str, tuple[int, datetime]] = {}
        with self._read() as conn:
            for chunk in _chunks(model_names):
                query = (
                    sa.select(jobs.c.model_name, sa.func.count(), sa.func.min(jobs.c.started_at))
                    .where(jobs.c.model_name.in_(chunk), _SPENT_RETRAIN, jobs.c.started_at >= _naive_utc(since))
                    .group_by(jobs.c.model_name)
                )
                counts.update({name: (int(count), oldest) for name, count, oldest in conn.execute(query)})
        return counts

    # -- decisions ----------------------------------------------------------------------------

    _DECISION_FIELDS = frozenset(c.name for c in decisions.columns) - {"id", "created_at"}

    def record_decision(self, model_name: str, *, mode: str, final_action: str, **fields: Any) -> int:
        """Store one decision with its full trace; returns its id.

        :param fields: any of the ``agentic_mlops_decisions`` columns: dag_id, run_id, decided_by,
            llm_action, override_reason, rationale, confidence, evidence, rules_fired, inputs,
            inputs_digest, prompt, raw_answer, tool_calls, prompt_tokens, completion_tokens,
            latency_ms, error.
        """
        unknown = set(fields) - self._DECISION_FIELDS
        if unknown:
            raise ValueError(f"unknown decision fields {sorted(unknown)}; known: {sorted(self._DECISION_FIELDS)}")
        # the trace carries the data's column and category names, the LLM's answer, errors: a NUL or a lone
        # surrogate failed the insert on PostgreSQL (or every read of a JSON column), so no decision was recorded
        fields = {
            name: _jsonable(value)
            if name in _DECISION_JSON
            else storable_text(value)
            if isinstance(value, str)
            else value
            for name, value in fields.items()
        }
        with self._write() as conn:
            decision_id = conn.execute(
                decisions.insert().values(
                    model_name=model_name, mode=mode, final_action=final_action, created_at=utcnow(), **fields
                )
            ).inserted_primary_key[0]
            # the digest of the row as the database gives it back (its JSON, floats and times as every reader sees
            # them), so a later edit of the row by hand shows (decisions show)
            stored = conn.execute(decisions.select().where(decisions.c.id == decision_id)).mappings().one()
            inputs = fields.get("inputs")
            try_number = inputs.get(TRY_NUMBER) if isinstance(inputs, dict) else None  # which try of the run decided
            self._audit(
                conn,
                "decision",
                actor=f"agent:{fields.get('decided_by') or mode}",
                model_name=model_name,
                subject=f"decision:{decision_id}",
                details={
                    "action": final_action,
                    "override": fields.get("override_reason"),
                    TRACE_DIGEST: decision_trace_digest(stored),
                    **({"run_id": fields.get("run_id"), TRY_NUMBER: try_number} if try_number is not None else {}),
                },
            )
        return int(decision_id)

    @retry_read
    def get_decision(self, decision_id: int) -> dict[str, Any] | None:
        """The stored decision with its trace, and ``superseded_by`` (:func:`decision_superseded_by`)."""
        return self._fetch_one(_decisions_read().where(decisions.c.id == decision_id))

    @retry_read
    def trace_check(self, decision: Mapping[str, Any]) -> dict[str, Any]:
        """Whether ``decision`` (a row of :meth:`get_decision`) is the trace its ``decision`` audit entry recorded:
        ``{"status", "recorded", "computed", "recorded_model_name"}``, status ``matches``, ``differs`` (the row was
        changed after it was recorded; ``recorded_model_name``: the model its entry names, which differs from the
        row's when the row was moved onto another model), ``absent`` (no digest recorded: a decision recorded
        before digests were) or ``missing`` (no digest although the decision is newer than the first one recorded
        with a digest: its entry is missing or has none, e.g. a row inserted by hand).
        """
        entry_of = (
            sa.select(audit.c.model_name, audit.c.details)
            .where(audit.c.action == "decision", audit.c.subject == f"decision:{decision['id']}")
            .order_by(audit.c.id)
            .limit(1)
        )
        with self._read() as conn:
            # the index (model, action, id) finds it under the row's model; only when it is not there (the row's
            # model_name was edited, or no entry) a search by subject alone, which reads the whole audit table
            entry = conn.execute(entry_of.where(audit.c.model_name == decision["model_name"])).first()
            entry = entry or conn.execute(entry_of).first()
            details = entry.details if entry is not None else None
            recorded = details.get(TRACE_DIGEST) if isinstance(details, dict) else None
            first = None if recorded else self._first_digested_decision(conn)
        computed = decision_trace_digest(decision)
        moved = entry is not None and entry.model_name != decision["model_name"]
        if moved or (recorded and recorded != computed):
            status = "differs"
        elif recorded:
            status = "matches"
        else:
            status = "missing" if first is not None and int(decision["id"]) > first else "absent"
        return {
            "status": status,
            "recorded": recorded,
            "computed": computed,
            "recorded_model_name": entry.model_name if entry is not None else None,
        }

    def _first_digested_decision(self, conn: Connection) -> int | None:
        """The id of the first decision whose ``decision`` audit entry carries a digest (None: none does yet).
        Every decision recorded after it has one; remembered once found (the audit trail is append-only)."""
        if self._digests_since is None:
            subject = conn.execute(
                sa.select(audit.c.subject)
                .where(audit.c.action == "decision", audit.c.details[TRACE_DIGEST].as_string().is_not(None))
                .order_by(audit.c.id)
                .limit(1)
            ).scalar()
            prefix = "decision:"
            if subject and subject.startswith(prefix) and subject[len(prefix) :].isdigit():
                self._digests_since = int(subject[len(prefix) :])
        return self._digests_since

    @retry_read
    def run_approvals(self, model_name: str, dag_id: str | None, run_id: str | None) -> list[dict[str, Any]]:
        """What followed a decision of ``model_name`` in DAG run ``(dag_id, run_id)``: the run's approval requests,
        oldest first, each with its ``votes`` (oldest first) and ``promotion`` (the promotions row, with
        ``promoted_by``: the actor of its ``promoted`` audit entry, None until that step is done; None when no
        promotion began). A decision is linked to them by its model and DAG run only: the store records no
        decision id on a request. None (no DAG run recorded): nothing.
        """
        if not dag_id or not run_id:
            return []
        of_run = approvals.select().where(
            approvals.c.model_name == model_name, approvals.c.dag_id == dag_id, approvals.c.run_id == run_id
        )
        with self._read() as conn:
            requests = attach_votes(conn, [dict(r) for r in conn.execute(of_run.order_by(approvals.c.id)).mappings()])
            ids = [r["id"] for r in requests]
            found = (
                {
                    p["approval_id"]: dict(p)
                    for p in conn.execute(promotions.select().where(promotions.c.approval_id.in_(ids))).mappings()
                }
                if ids
                else {}
            )
            for promotion in found.values():
                promoted = conn.execute(
                    audit.select()
                    .where(
                        audit.c.model_name == model_name,
                        audit.c.action == PROMOTED,
                        audit.c.subject == f"version:{promotion['version']}",
                    )
                    .order_by(audit.c.id)
                ).mappings()
                promotion["promoted_by"] = next(
                    (
                        e["actor"]
                        for e in promoted
                        if isinstance(e["details"], dict) and e["details"].get("promotion_id") == promotion["id"]
                    ),
                    None,
                )
        for request in requests:
            request["promotion"] = found.get(request["id"])
        return requests

    @retry_read
    def list_decisions(
        self,
        model_name: str | None = None,
        *,
        limit: int = 50,
        standing: bool = False,
        other_than_run: tuple[str | None, str | None] | None = None,
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` decisions (of ``model_name``), each with ``superseded_by``
        (:func:`decision_superseded_by`).

        :param standing: only those no later try of their DAG run superseded (``superseded_by`` NULL).
        :param other_than_run: ``(dag_id, run_id)``: none of that DAG run (e.g. the run deciding again: its earlier
            tries are about to be superseded). Ignored unless both are given.
        """
        query = _where_given(
            _decisions_read().order_by(decisions.c.id.desc()).limit(limit), decisions, model_name=model_name
        )
        if standing:
            query = query.where(decision_superseded_by().is_(None))
        if other_than_run is not None and all(other_than_run):
            dag_id, run_id = other_than_run
            query = query.where(
                sa.or_(decisions.c.dag_id.is_distinct_from(dag_id), decisions.c.run_id.is_distinct_from(run_id))
            )
        return self._fetch_all(query)

    @retry_read
    def last_decisions(self, model_names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``{model: its newest decision}`` (``list_decisions(model, limit=1)``) for every model in
        ``model_names`` that has one, in one read."""
        newest: dict[str, dict[str, Any]] = {}
        with self._read() as conn:
            for chunk in _chunks(model_names):
                latest = (
                    newest_of_each(decisions, [(name, sa.true()) for name in chunk], 1)
                    if self.dialect == "postgresql"
                    else newest_ranked(decisions, chunk, sa.true(), 1)
                )
                for row in conn.execute(decisions.select().where(decisions.c.id.in_(latest))).mappings():
                    newest[row["model_name"]] = dict(row)
        return newest

    @retry_read
    def tokens_used(self, model_name: str, *, since: datetime) -> int:
        """LLM tokens (prompt + completion) the model's decisions used since ``since``, and those of LLM answers
        whose decision the store failed to record (:meth:`record_unrecorded_tokens`) unless that decision was
        recorded after all (a write that failed after its commit: the ``decision`` audit entry of the same DAG
        run and try)."""
        query = sa.select(
            sa.func.coalesce(sa.func.sum(decisions.c.prompt_tokens + decisions.c.completion_tokens), 0)
        ).where(decisions.c.model_name == model_name, decisions.c.created_at >= _naive_utc(since))
        entries = audit.select().where(
            audit.c.model_name == model_name, audit.c.at >= _naive_utc(since), audit.c.action == UNRECORDED_TOKENS
        )
        with self._read() as conn:
            used = int(conn.execute(query).scalar_one())
            lost = [dict(e["details"] or {}) for e in conn.execute(entries).mappings()]
            if lost:
                tries = sa.select(audit.c.details).where(
                    audit.c.model_name == model_name, audit.c.action == "decision", audit.c.at >= _naive_utc(since)
                )
                recorded = {
                    (d.get("run_id"), d.get(TRY_NUMBER)) for d in conn.execute(tries).scalars() if isinstance(d, dict)
                }
        for details in lost:
            if details.get(TRY_NUMBER) is not None and (details.get("run_id"), details[TRY_NUMBER]) in recorded:
                continue
            used += int(details.get("prompt_tokens") or 0) + int(details.get("completion_tokens") or 0)
        return used

    def record_unrecorded_tokens(
        self,
        model_name: str,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        dag_id: str | None,
        run_id: str | None,
        try_number: int | None,
        error: str,
    ) -> None:
        """Record what an LLM answer cost whose decision the store failed to record (audit entry
        ``llm_tokens_unrecorded``), so that :meth:`tokens_used` counts it toward ``max_tokens_per_day``.

        :param error: why the decision was not recorded (its first line).
        """
        self.audit(
            UNRECORDED_TOKENS,
            actor="agent:llm",
            model_name=model_name,
            subject=f"run:{run_id}" if run_id else None,
            details={
                "prompt_tokens": int(prompt_tokens),
                "completion_tokens": int(completion_tokens),
                "dag_id": dag_id,
                "run_id": run_id,
                TRY_NUMBER: try_number,
                "error": error,
            },
        )

    # -- approvals ----------------------------------------------------------------------------

    def request_approval(
        self,
        model_name: str,
        model_version: str,
        *,
        dag_id: str,
        run_id: str,
        expires_at: datetime,
        report_digest: str | None = None,
        required_approvals: int = 1,
        details: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Create the approval request of this model version in this DAG run, or return the existing one.

        The existing request is asked again (:meth:`_ask_again`) when its run's failure cancelled it, or when
        the run's validation report changed (``report_digest`` differs: validation was re-run, e.g. after the
        champion moved): a decision binds to the report it was given for, so it never carries over.

        A pending request asked again takes the approvers (``details``' ``approvers`` and
        ``approver_usergroup``) and ``required_approvals`` asked for now: the current config governs who may
        still decide (:meth:`_apply_current_approvers`).

        :return: ``(approval, created)``; ``created`` is False on a re-run, which must not ask again, and True
            when the request is new or was asked again (its message is posted anew). On a re-run that changed
            a pending request's approvers the approval carries ``renewed: True`` (its message is out of date).
        """
        if required_approvals < 1:
            raise ValueError(f"required_approvals={required_approvals} must be at least 1")
        version = str(model_version)
        asked = {
            "model_name": model_name,
            "model_version": version,
            "dag_id": dag_id,
            "run_id": run_id,
            "report_digest": report_digest,
            "required_approvals": required_approvals,
            "expires_at": _naive_utc(expires_at),
            "details": _jsonable(details),  # text from the data, the LLM, templates: see _jsonable
        }
        approval_id = self._insert_once(
            approvals,
            {**asked, "status": PENDING, "requested_at": utcnow()},
            action="approval_requested",
            actor=dag_id,
            details={"version": version, "run_id": run_id, "digest": report_digest},
            then=lambda conn, new_id: self._supersede_others(conn, new_id, model_name, dag_id, run_id),
        )
        created = approval_id is not None
        renewed = False
        if not created:  # this version's request in this run exists: asked again if cancelled or out of date
            asked_again = self._ask_again(asked)
            created, renewed = asked_again == REOPENED, asked_again == RENEWED
        approval = self.find_approval(model_name, model_version, dag_id=dag_id, run_id=run_id)
        if approval is None:  # pragma: no cover - the unique constraint said it exists
            raise StateStoreError(f"approval for {model_name} v{model_version} in {run_id} vanished")
        if renewed:
            approval[RENEWED] = True
        return approval, created

    def _supersede_others(self, conn: Connection, approval_id: int, model_name: str, dag_id: str, run_id: str) -> None:
        """A new request of the same DAG run (the run was cleared and retrained another version) replaces the
        run's older open ones: the run can only promote its newest candidate."""
        older = conn.execute(
            sa.select(approvals.c.id).where(
                approvals.c.model_name == model_name,
                approvals.c.dag_id == dag_id,
                approvals.c.run_id == run_id,
                approvals.c.status == PENDING,
                approvals.c.id != approval_id,
            )
        ).scalars()
        for old_id in list(older):
            self._close(
                conn,
                old_id,
                SUPERSEDED,
                decided_by="agentic-mlops",
                via="system",
                reason=f"replaced by request {approval_id} of the same run",
                now=utcnow(),
            )

    def _ask_again(self, asked: Mapping[str, Any]) -> str | None:
        """Open the run's existing request again, as a new request: pending, with a new deadline, the new
        report digest and details (the message's metrics), no votes and no Slack message yet (the caller
        posts a new one; a vote cast on the old one is refused, see :meth:`decide_approval`). Returns
        :data:`REOPENED` when asked again; :data:`RENEWED` when a pending request took the approvers asked
        for now (:meth:`_apply_current_approvers`); else None.

        :param asked: the request as :meth:`request_approval` asks for it (its columns: model, version, DAG
            run, report digest, required approvals, deadline, details).

        Asked again when:

        * it is ``cancelled`` (its run failed) and the run was cleared;
        * the run's validation report changed (``report_digest`` differs from the one it was asked for),
          whatever it was decided: an approval, a deny or a timeout was given for the old report, and
          counting it for the new one would promote on evidence nobody saw. Not when a promotion began with
          it (that promotion is resumed or refused as it stands), nor when it was ``superseded``.

        The votes it forgets stay in the audit trail (``approval_vote_*``, and the ``approval_reopened`` entry
        lists them).
        """
        model_name, dag_id, run_id = asked["model_name"], asked["dag_id"], asked["run_id"]
        report_digest, details = asked["report_digest"], asked["details"]
        with self._write() as conn:
            query = _approval_of_run(model_name, asked["model_version"], dag_id, run_id).with_for_update()
            row = conn.execute(query).mappings().first()
            if row is None:
                return None
            changed = report_digest is not None and row["report_digest"] != report_digest
            if row["status"] == CANCELLED:
                why = {"cancelled_because": row["reason"]}
            elif changed and row["status"] != SUPERSEDED and not self._promotion_began(conn, row["id"]):
                why = {}
            else:
                return RENEWED if row["status"] == PENDING and self._apply_current_approvers(conn, row, asked) else None
            if changed:
                why["reason"] = "validation report changed"
            votes = _votes_of(conn, row["id"])
            conn.execute(approval_votes.delete().where(approval_votes.c.approval_id == row["id"]))
            renewed: dict[str, Any] = {"required_approvals": asked["required_approvals"]}
            if report_digest is not None:
                renewed["report_digest"] = report_digest
            if details is not None:
                renewed["details"] = details
            conn.execute(
                approvals.update()
                .where(approvals.c.id == row["id"], approvals.c.status == row["status"])
                .values(
                    status=PENDING,
                    requested_at=utcnow(),
                    expires_at=asked["expires_at"],
                    **renewed,
                    **_FORGOTTEN_ON_REOPEN,
                )
            )
            self._audit(
                conn,
                "approval_reopened",
                actor=dag_id,
                model_name=model_name,
                subject=f"approval:{row['id']}",
                details={
                    "run_id": run_id,
                    **why,
                    "was": row["status"],
                    **({"decided_by": row["decided_by"]} if row["decided_by"] else {}),
                    "digest": report_digest if report_digest is not None else row["report_digest"],
                    **({"previous_digest": row["report_digest"]} if changed else {}),
                    # forgotten: they were cast on what the request showed before (their own entries remain)
                    "forgotten_votes": [{"user_id": v["user_id"], "vote": v["vote"]} for v in votes],
                    # the message it forgets: votes cast on it are refused (see decide_approval)
                    **_replaced_message(row),
                },
            )
            self._supersede_others(conn, row["id"], model_name, dag_id, run_id)
        return REOPENED

    def _apply_current_approvers(self, conn: Connection, row: Mapping[str, Any], asked: Mapping[str, Any]) -> bool:
        """A pending request asked again (a retry, a cleared task) takes the approvers and the number of
        approvals asked for now: the current config governs who may still decide. Its message, deadline and
        the votes of people still allowed stay; an approve cast from Slack by someone the new allowlist no
        longer names (an approver removed, or a member of a user group that was replaced) is forgotten, so it
        cannot complete the approval. Votes from the CLI or the approvals page stay (the Slack allowlist does
        not govern them). Audited as ``approval_approvers_changed``; the votes keep their own entries. When fewer
        approvals are needed now and the approves that stay are enough, the request is approved at once (by
        their voters, via ``system``; audited ``approval_approved``), unless its deadline has passed: then it
        expires, as a vote cast now would find (a timeout denies). True when something changed."""
        was = Allowlist.of(row)
        now = Allowlist.of(asked) if asked["details"] is not None else was
        was_needed, needed = row["required_approvals"], asked["required_approvals"]
        if (set(was.approvers), was.usergroup) == (set(now.approvers), now.usergroup) and was_needed == needed:
            return False
        forgotten = []
        for vote in _votes_of(conn, row["id"]):
            if vote["via"] not in SLACK_VIAS:
                continue
            slack_user = self._slack_user_of_vote(conn, row["id"], vote)
            kept = slack_user is not None and (
                slack_user in now.approvers
                or (now.usergroup is not None and now.usergroup == was.usergroup and slack_user not in was.approvers)
            )
            if not kept:
                forgotten.append({"user_id": vote["user_id"], "vote": vote["vote"], "slack_user": slack_user})
        if forgotten:
            conn.execute(
                approval_votes.delete().where(
                    approval_votes.c.approval_id == row["id"],
                    approval_votes.c.user_id.in_([v["user_id"] for v in forgotten]),
                )
            )
        details = _jsonable(
            {**(row["details"] or {}), "approvers": list(now.approvers), "approver_usergroup": now.usergroup}
        )
        conn.execute(
            approvals.update()
            .where(approvals.c.id == row["id"], approvals.c.status == PENDING)
            .values(details=details, required_approvals=needed)
        )
        self._audit(
            conn,
            "approval_approvers_changed",
            actor=asked["dag_id"],
            model_name=row["model_name"],
            subject=f"approval:{row['id']}",
            details={
                "run_id": row["run_id"],
                "approvers": {"was": list(was.approvers), "now": list(now.approvers)},
                "approver_usergroup": {"was": was.usergroup, "now": now.usergroup},
                "required_approvals": {"was": was_needed, "now": needed},
                "forgotten_votes": forgotten,
            },
        )
        # the number needed went down: the approvals already given may now be enough, and a vote is what
        # decides otherwise, so without this the request would wait for one nobody needs to cast
        approvers = [v["user_id"] for v in _votes_of(conn, row["id"]) if v["vote"] == "approve"]
        if needed < was_needed and approvers and len(approvers) >= needed:
            at = utcnow()
            if row["expires_at"] <= at:  # past its deadline, not swept yet: a timeout denies (fail closed)
                self._expire(conn, row["id"], at, model_name=row["model_name"])
            else:
                self._close(
                    conn,
                    row["id"],
                    APPROVED,
                    decided_by=",".join(approvers),
                    via="system",
                    reason=f"required_approvals lowered from {was_needed} to {needed}: the {len(approvers)} "
                    "approval(s) already given complete the request",
                    now=at,
                    model_name=row["model_name"],
                )
        return True

    @staticmethod
    def _slack_user_of_vote(conn: Connection, approval_id: int, vote: Mapping[str, Any]) -> str | None:
        """The Slack user id a Slack vote was cast as: the vote counts for a person (an Airflow user when the id
        is mapped), and the Slack id is in its audit entry. None when the entry does not name one."""
        query = (
            sa.select(audit.c.details)
            .where(
                audit.c.subject == f"approval:{approval_id}",
                audit.c.action == f"approval_vote_{vote['vote']}",
                audit.c.actor == vote["user_id"],
            )
            .order_by(audit.c.id.desc())
            .limit(1)
        )
        details = conn.execute(query).scalar_one_or_none() or {}
        slack_user = (details.get("identity") or {}).get("slack_user")
        return str(slack_user) if slack_user else None

    @staticmethod
    def _promotion_began(conn: Connection, approval_id: int) -> bool:
        query = sa.select(promotions.c.id).where(promotions.c.approval_id == approval_id).limit(1)
        return conn.execute(query).first() is not None

    def close_approvals_of_run(
        self,
        model_name: str,
        *,
        dag_id: str,
        run_id: str,
        status: str = CANCELLED,
        reason: str,
        expired_too: bool = False,
    ) -> list[int]:
        """Close the open requests of one DAG run that can no longer act on them (it failed): deciding
        them afterwards answers so and records nothing. Returns the ids closed.

        :param expired_too: also cancel the run's ``expired`` requests (the sensor failed because nobody decided
            in time): cancelled, a clear of the sensor asks again (:meth:`_ask_again`), which an expired request,
            found again by every reschedule poke of a sensor still waiting, must not be.
        """
        if status not in (CANCELLED, SUPERSEDED):
            raise ValueError(f"status {status!r}: a run's requests are closed as {CANCELLED!r} or {SUPERSEDED!r}")
        now = utcnow()
        of_run = (approvals.c.model_name == model_name, approvals.c.dag_id == dag_id, approvals.c.run_id == run_id)
        with self._write() as conn:
            ids = list(conn.execute(sa.select(approvals.c.id).where(*of_run, approvals.c.status == PENDING)).scalars())
            for approval_id in ids:
                self._close(conn, approval_id, status, decided_by="agentic-mlops", via="system", reason=reason, now=now)
            if expired_too and status == CANCELLED:
                expired = conn.execute(
                    sa.select(approvals.c.id, approvals.c.expires_at).where(*of_run, approvals.c.status == EXPIRED)
                ).all()
                for approval_id, expires_at in expired:
                    why = f"nobody decided before the deadline ({expires_at:%Y-%m-%d %H:%M} UTC); {reason}"
                    conn.execute(
                        approvals.update()
                        .where(approvals.c.id == approval_id, approvals.c.status == EXPIRED)
                        .values(status=CANCELLED, reason=why, decided_by="agentic-mlops", decided_via="system")
                    )
                    self._audit(
                        conn,
                        "approval_cancelled",
                        actor="agentic-mlops",
                        model_name=model_name,
                        subject=f"approval:{approval_id}",
                        details={"via": "system", "reason": why, "was": EXPIRED},
                    )
                    ids.append(approval_id)
        return ids

    @retry_read
    def replaced_messages(self, approval_id: int) -> list[dict[str, Any]]:
        """The Slack messages (``{"channel", "ts"}``) the request had before it was reopened, oldest first."""
        with self._read() as conn:
            return _replaced_messages_of(conn, approval_id)

    @retry_read
    def find_approval_by_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The request whose current Slack message is ``ts`` in ``channel`` (without its votes), or None."""
        query = approvals.select().where(approvals.c.slack_channel == channel, approvals.c.slack_ts == ts).limit(1)
        return self._fetch_one(query)

    @retry_read
    def find_approval(self, model_name: str, model_version: str, *, dag_id: str, run_id: str) -> dict[str, Any] | None:
        row = self._fetch_one(_approval_of_run(model_name, model_version, dag_id, run_id))
        return self._with_votes(row) if row else None

    @retry_read
    def get_approval(self, approval_id: int, *, with_votes: bool = True) -> dict[str, Any] | None:
        """The request ``approval_id`` with its ``votes`` (one read transaction), or None.

        :param with_votes: False skips the votes (callers that need only the request's own fields).
        """
        with self._read() as conn:
            return _read_approval(conn, approval_id, with_votes=with_votes)

    @retry_read
    def list_approvals(
        self,
        *,
        status: str | None = None,
        model_name: str | None = None,
        dag_ids: Sequence[str] | None = None,
        limit: int = 100,
        with_votes: bool = False,
        before: int | None = None,
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` requests, narrowed by each filter given.

        :param dag_ids: only requests of these DAGs (e.g. those the reader may see), before the limit.
        :param with_votes: give each request its ``votes`` (as :meth:`get_approval`), all read in one query.
        :param before: only requests older than this id (the next page back).
        """
        query = approvals.select().order_by(approvals.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(approvals.c.id < before)
        if dag_ids is not None:
            query = query.where(approvals.c.dag_id.in_(list(dag_ids)))
        with self._read() as conn:
            rows = [
                dict(r)
                for r in conn.execute(_where_given(query, approvals, status=status, model_name=model_name)).mappings()
            ]
            return attach_votes(conn, rows) if with_votes else rows

    @retry_read
    def count_approvals(self, model_names: Sequence[str], *, status: str) -> dict[str, int]:
        """``{model: how many of its requests have ``status``}`` for every model in ``model_names`` that has
        any, in one read."""
        counts: dict[str, int] = {}
        with self._read() as conn:
            for chunk in _chunks(model_names):
                query = (
                    sa.select(approvals.c.model_name, sa.func.count())
                    .where(approvals.c.model_name.in_(chunk), approvals.c.status == status)
                    .group_by(approvals.c.model_name)
                )
                counts.update({name: int(count) for name, count in conn.execute(query)})
        return counts

    @retry_read
    def _with_votes(self, approval: dict[str, Any]) -> dict[str, Any]:
        with self._read() as conn:
            approval["votes"] = _votes_of(conn, approval["id"])
        return approval

    def set_approval_message(self, approval_id: int, *, channel: str, ts: str) -> None:
        """Remember where the Slack message of this request is, to update it later."""
        with self._write() as conn:
            conn.execute(
                approvals.update().where(approvals.c.id == approval_id).values(slack_channel=channel, slack_ts=ts)
            )

    def mark_reminded(self, approval_id: int, at: datetime | None = None) -> None:
        with self._write() as conn:
            conn.execute(
                approvals.update()
                .where(approvals.c.id == approval_id)
                .values(last_reminded_at=_naive_utc(at) if at else utcnow())
            )

    def decide_approval(
        self,
        approval_id: int,
        *,
        approve: bool,
        user: str,
        via: str,
        reason: str | None = None,
        identity: dict[str, Any] | None = None,
        message_ts: str | None = None,
        checked: Mapping[str, Any] | None = None,
    ) -> ApprovalOutcome:
        """Record one person's vote. The first decision wins; later votes are told who decided.

        A deny decides at once, also from a person who approved the request before (their approve
        becomes the deny; the audit trail keeps both). An approve decides once ``required_approvals``
        different people approved; a person's second approve is refused. A request past its
        ``expires_at`` is expired, not decided.

        :param user: the person the vote counts for (one vote per person and request).
        :param identity: how they were identified (Slack id, OS login, display name), for the audit trail.
        :param message_ts: the Slack message the vote was cast on (None: not cast on a message, as from
            the CLI or the page); a vote from any message but the request's current one is refused (a
            reopened request is posted again, and its old message is out of date).
        :param checked: the request as the caller checked the voter against it (its allowlist and required
            approvals, :func:`approval_gate`), perhaps a cached copy.
        :raises ApproversChanged: ``checked`` is not the request's gate any more; nothing recorded.
        """
        too_long = bad_reason(reason)
        if too_long is not None:
            raise StateStoreError(f"request {approval_id}: {too_long}; nothing recorded")
        now = utcnow()
        vote = "approve" if approve else "deny"
        votes: list[dict[str, Any]] | None = None
        closed: dict[str, Any] = {}
        with self._write() as conn:
            # Lock the request row so that two different approvers counting votes at once cannot both
            # miss the other's vote.
            row = conn.execute(_APPROVAL_LOCKED, {"approval_id": approval_id}).mappings().first()
            if row is None:
                raise StateStoreError(missing_approval_message(approval_id))  # no URL: Slack may show it
            if row["status"] == PENDING and checked is not None and approval_gate(checked) != approval_gate(row):
                raise ApproversChanged(f"request {approval_id}: its approvers changed; check the vote again")
            if row["status"] != PENDING:
                message = already_decided_message(row)
                recorded = False
            elif row["expires_at"] <= now:
                closed = self._expire(conn, approval_id, now, model_name=row["model_name"])
                message = f"request {approval_id} expired at {row['expires_at']:%Y-%m-%d %H:%M} UTC; nothing recorded"
                recorded = False
            elif message_ts is not None and message_ts != row["slack_ts"]:
                # checked on the locked row: a reopen between the caller's check and this vote cannot slip by
                message = (
                    f"this Slack message is not request {approval_id}'s current one (it was asked again in a "
                    "newer message, after its run was cancelled or its validation report changed, or is not "
                    "posted yet); nothing recorded. Decide on the newer message"
                )
                recorded = False
            else:
                vote_row = {"approval_id": approval_id, "user_id": user, "vote": vote, "via": via, "at": now}
                inserted = _insert_unless_present(conn, approval_votes, vote_row)
                # a person who approved may still deny: the deny replaces their approve (never the reverse,
                # so nobody counts twice as an approver); the audit trail keeps both votes
                withdrawn = not inserted and not approve and _approve_turned_into_deny(conn, vote_row)
                if not (inserted or withdrawn):
                    message = f"{user} already voted on request {approval_id}; it needs another person"
                    recorded = False
                else:
                    recorded = True
                    self._audit(
                        conn,
                        f"approval_vote_{vote}",
                        actor=user,
                        model_name=row["model_name"],
                        subject=f"approval:{approval_id}",
                        details={
                            "via": via,
                            "reason": reason,
                            **({"withdraws": "approve"} if withdrawn else {}),
                            **({"identity": identity} if identity else {}),
                        },
                    )
                    votes = _votes_of(conn, approval_id)
                    approvers = [v["user_id"] for v in votes if v["vote"] == "approve"]
                    model = row["model_name"]
                    if not approve:
                        closed = self._close(
                            conn,
                            approval_id,
                            DENIED,
                            decided_by=user,
                            via=via,
                            reason=reason,
                            now=now,
                            model_name=model,
                        )
                        message = f"Denied by {user}" + (", who had approved it before" if withdrawn else "")
                    elif len(approvers) >= row["required_approvals"]:
                        closed = self._close(
                            conn,
                            approval_id,
                            APPROVED,
                            decided_by=",".join(approvers),
                            via=via,
                            reason=reason,
                            now=now,
                            model_name=model,
                        )
                        message = f"Approved by {', '.join(approvers)}"
                    else:
                        message = (
                            f"Approval {len(approvers)} of {row['required_approvals']} recorded from {user}; "
                            "waiting for another approver"
                        )
            # the request as this transaction left it: the locked row, the fields it changed and the votes
            # (no second transaction, nor a second read of the row, to read it back)
            approval = {**row, **closed, "votes": _votes_of(conn, approval_id) if votes is None else votes}
        return ApprovalOutcome(recorded=recorded, approval=approval, message=message)

    def expire_approvals(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Deny by timeout every pending request past its deadline; returns the requests expired."""
        now = _naive_utc(now) if now else utcnow()
        with self._write() as conn:
            due = (
                conn.execute(
                    sa.select(approvals.c.id).where(approvals.c.status == PENDING, approvals.c.expires_at <= now)
                )
                .scalars()
                .all()
            )
            for approval_id in due:
                self._expire(conn, approval_id, now)
        return [a for a in (self.get_approval(i) for i in due) if a]

    def _expire(
        self, conn: Connection, approval_id: int, now: datetime, *, model_name: str | None = None
    ) -> dict[str, Any]:
        """Close a pending request past its deadline: a timeout denies (fail closed). Returns the fields written."""
        return self._close(
            conn,
            approval_id,
            EXPIRED,
            decided_by="timeout",
            via="timeout",
            reason="no decision before the deadline",
            now=now,
            model_name=model_name,
        )

    def _close(
        self,
        conn: Connection,
        approval_id: int,
        status: str,
        *,
        decided_by: str,
        via: str,
        reason: str | None,
        now: datetime,
        model_name: str | None = None,
    ) -> dict[str, Any]:
        """Close a pending request (``model_name``: the request's, when the caller has read it already).

        :return: the fields written (none when the request was not pending)."""
        values = {"status": status, "decided_by": decided_by, "decided_via": via, "decided_at": now, "reason": reason}
        updated = conn.execute(_CLOSE_PENDING, {"approval_id": approval_id, **values}).rowcount
        if not updated:
            return {}
        model = (
            model_name
            or conn.execute(sa.select(approvals.c.model_name).where(approvals.c.id == approval_id)).scalar_one()
        )
        self._audit(
            conn,
            f"approval_{status}",
            actor=decided_by,
            model_name=model,
            subject=f"approval:{approval_id}",
            details={"via": via, "reason": reason},
        )
        return values

    # -- promotions ---------------------------------------------------------------------------

    def begin_promotion(
        self, approval: Mapping[str, Any], *, registered_model: str, previous_version: str | None
    ) -> tuple[dict[str, Any], bool]:
        """Record the intent to promote before any step runs, or return the intent recorded earlier.

        The model, version, DAG and run are the approval's own (a row of :meth:`find_approval`), so an intent
        can only be recorded for exactly what a person approved.

        :return: ``(promotion, created)``; on a re-run ``created`` is False and the promotion carries the
            values of the first attempt (previous version, start time) and the steps already done.
        """
        approval_id = approval["id"]
        intent = {
            "version": approval["model_version"],
            "previous_version": previous_version,
            "approval_id": approval_id,
        }
        row = {
            **intent,
            "model_name": approval["model_name"],
            "registered_model": registered_model,
            "dag_id": approval["dag_id"],
            "run_id": approval["run_id"],
            "status": PROMOTION_IN_PROGRESS,
            "steps": [],
            "started_at": utcnow(),
        }
        created = self._insert_once(promotions, row, action="promotion_started", actor=row["dag_id"], details=intent)
        promotion = self.find_promotion(approval_id)
        if promotion is None:  # pragma: no cover - the unique constraint said it exists
            raise StateStoreError(f"promotion of approval {approval_id} vanished")
        return promotion, created is not None

    @retry_read
    def find_promotion(self, approval_id: int) -> dict[str, Any] | None:
        return self._fetch_one(promotions.select().where(promotions.c.approval_id == approval_id))

    @retry_read
    def list_promotions(
        self, model_name: str | None = None, *, status: str | None = None, model_names: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Promotions, newest first, narrowed by each filter given.

        :param model_names: only promotions of these models (one read for many models).
        """
        query = _where_given(
            promotions.select().order_by(promotions.c.id.desc()), promotions, model_name=model_name, status=status
        )
        if model_names is None:
            return self._fetch_all(query)
        found = [
            p
            for chunk in _chunks(model_names)
            for p in self._fetch_all(query.where(promotions.c.model_name.in_(chunk)))
        ]
        return sorted(found, key=lambda p: p["id"], reverse=True)

    def mark_promotion_step(
        self,
        promotion_id: int,
        step: str,
        *,
        all_steps: tuple[str, ...],
        audit_entry: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record ``step`` as done (once); with ``audit_entry`` the audit record is written in the same
        transaction, so it exists exactly once whatever crashes. The promotion is ``completed`` once every
        one of ``all_steps`` is done. A promotion closed as overtaken takes no more steps (StateStoreError)."""
        with self._write() as conn:
            row = _locked_row(
                conn, promotions, promotion_id, missing=f"promotion {promotion_id} does not exist in the state store"
            )
            if row["status"] == PROMOTION_OVERTAKEN:
                # a re-run that passed its check just before a later champion change closed this promotion
                raise StateStoreError(
                    f"promotion {promotion_id} ({row['model_name']} v{row['version']}) was closed as overtaken by a "
                    f"later champion change; step {step!r} not recorded. Start a new DAG run to promote again"
                )
            steps = list(row["steps"] or [])
            if step not in steps:
                steps.append(step)
                if audit_entry is not None:
                    self._audit(conn, **audit_entry)
                done = all(s in steps for s in all_steps)
                conn.execute(
                    promotions.update()
                    .where(promotions.c.id == promotion_id)
                    .values(
                        steps=steps,
                        status=PROMOTION_COMPLETED if done else PROMOTION_IN_PROGRESS,
                        completed_at=utcnow() if done else None,
                    )
                )
            updated = conn.execute(promotions.select().where(promotions.c.id == promotion_id)).mappings().one()
        return dict(updated)

    def close_promotion_overtaken(self, promotion_id: int, *, audit_entry: dict[str, Any] | None) -> dict[str, Any]:
        """Close an unfinished promotion as ``overtaken``, with its audit entry (if any) in the same transaction
        (once: a promotion already closed or completed is returned unchanged)."""
        with self._write() as conn:
            row = _locked_row(
                conn, promotions, promotion_id, missing=f"promotion {promotion_id} does not exist in the state store"
            )
            if row["status"] == PROMOTION_IN_PROGRESS:
                if audit_entry is not None:
                    self._audit(conn, **audit_entry)
                conn.execute(
                    promotions.update()
                    .where(promotions.c.id == promotion_id)
                    .values(status=PROMOTION_OVERTAKEN, completed_at=utcnow())
                )
            updated = conn.execute(promotions.select().where(promotions.c.id == promotion_id)).mappings().one()
        return dict(updated)

    # -- replay guard -------------------------------------------------------------------------

    def first_use(self, signature: str, *, window: timedelta) -> bool:
        """Record a signed request's signature; False when it was already recorded within ``window``
        (a replay). Held by the database, so it holds across API-server workers and hosts.

        Signatures older than ``window`` are deleted at most every :data:`REPLAY_PRUNE_SECONDS` per
        process, not on every request: a row kept a little longer refuses nothing legitimate, since a
        signature older than the window carries a timestamp the signature check refuses anyway."""
        with self._write() as conn:
            return self._record_first_use(conn, signature, window)

    @contextlib.contextmanager
    def first_use_committed_with(
        self,
        signature: str,
        *,
        window: timedelta,
        write_lock: contextlib.AbstractContextManager[Any] | None = None,
    ) -> Iterator[None]:
        """:meth:`first_use` for a signed request whose own writes (a vote, an audit entry) happen in the
        block: the signature is recorded in the first write transaction this thread opens on this store
        inside the block, so the request's writes and its record commit together, in one transaction;
        a block that wrote nothing records it in a transaction of its own at its end. A replay raises
        :class:`SignatureReplayed` from that transaction, which then writes nothing. A block that raises
        records nothing (a write rolled back does not count).

        :param write_lock: held around the transaction of a block that wrote nothing (the one that
            the block's writes take is the caller's to hold).
        """
        if getattr(self._thread, "pending", None) is not None:
            raise RuntimeError("first_use_committed_with blocks do not nest")
        pending = self._thread.pending = _PendingFirstUse(signature, window)
        try:
            yield
        finally:
            self._thread.pending = None
        if not pending.recorded:
            with write_lock or contextlib.nullcontext():
                if not self.first_use(signature, window=window):
                    raise SignatureReplayed(f"signature {signature[:20]}... was already received")

    def _record_first_use(self, conn: Connection, signature: str, window: timedelta) -> bool:
        """Record ``signature`` on ``conn`` (pruning old ones when due); False when it is there already."""
        now = utcnow()
        if time.monotonic() - self._replays_pruned_at >= REPLAY_PRUNE_SECONDS:
            conn.execute(_PRUNE_REPLAYS, {"cutoff": now - window})
            # a prune rolled back with its transaction waits for the next turn; rows kept longer refuse nothing
            self._replays_pruned_at = time.monotonic()
        return _insert_unless_present(conn, slack_replays, {"signature": signature[:100], "seen_at": now})

    # -- audit --------------------------------------------------------------------------------

    def audit(
        self,
        action: str,
        *,
        actor: str,
        model_name: str | None = None,
        subject: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append one entry to the audit trail."""
        self.audit_many([AuditEntry(action, actor, model_name, subject, details)])

    def audit_many(self, entries: Sequence[AuditEntry]) -> None:
        """Append ``entries`` to the audit trail in one transaction (one statement): a commit per entry made
        a batch's cost grow with a disk sync per entry."""
        if not entries:
            return
        rows = [
            {
                "actor": e.actor,
                "action": e.action,
                "model_name": e.model_name,
                "subject": e.subject,
                "details": _jsonable(e.details),
            }
            for e in entries
        ]
        with self._write() as conn:
            at = utcnow()  # when written: the transaction may have waited for the write lock
            conn.execute(_INSERT_AUDIT, [{"at": at, **row} for row in rows])

    @staticmethod
    def _audit(
        conn: Connection,
        action: str,
        *,
        actor: str,
        model_name: str | None,
        subject: str | None,
        details: dict[str, Any] | None,
    ) -> None:
        conn.execute(
            _INSERT_AUDIT,
            {
                "at": utcnow(),
                "actor": actor,
                "action": action,
                "model_name": model_name,
                "subject": subject,
                "details": _jsonable(details),
            },
        )

    @retry_read
    def audit_trail(
        self,
        model_name: str | None = None,
        *,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The newest audit entries (by id: the order they were written, whatever the hosts' clocks), at most
        ``limit``; only ``model_name``'s, only ``action``, only those written at or after ``since`` when given
        (None: no condition)."""
        query = _where_given(audit.select(), audit, model_name=model_name, action=action)
        if since is not None:
            query = query.where(audit.c.at >= _naive_utc(since))
        return self._fetch_all(query.order_by(audit.c.id.desc()).limit(limit))

    @retry_read
    def audit_actions(self, model_name: str | None = None) -> list[str]:
        """The actions the audit trail holds (of ``model_name`` when given), sorted."""
        query = _where_given(sa.select(audit.c.action).distinct(), audit, model_name=model_name)
        with self._read() as conn:
            return sorted(conn.execute(query).scalars())

    @retry_read
    def last_audit(self, model_name: str, actions: Sequence[str]) -> dict[str, Any] | None:
        """The newest audit entry of ``model_name`` with one of ``actions``, or None."""
        query = audit.select().where(audit.c.model_name == model_name, audit.c.action.in_(list(actions)))
        return self._fetch_one(query.order_by(audit.c.id.desc()).limit(1))

    @retry_read
    def audit_after(
        self, model_name: str, actions: Sequence[str], *, after_action: str, after_subject: str
    ) -> list[dict[str, Any]]:
        """The audit entries of ``model_name`` with one of ``actions`` written after its first entry
        ``after_action`` on ``after_subject`` (e.g. a promotion's ``promotion_started``), oldest first; none
        when there is no such entry. Ordered by the trail's ids, not by clocks (hosts' clocks may differ)."""
        first = (
            sa.select(sa.func.min(audit.c.id))
            .where(audit.c.model_name == model_name, audit.c.action == after_action, audit.c.subject == after_subject)
            .scalar_subquery()
        )
        query = audit.select().where(
            audit.c.model_name == model_name, audit.c.action.in_(list(actions)), audit.c.id > first
        )
        return self._fetch_all(query.order_by(audit.c.id))


#: What a cancelled request forgets when its run asks again: the cancellation, its old Slack message and
#: its reminders (the first reminder is due ``remind_every`` after the new message, not at once).
_FORGOTTEN_ON_REOPEN = dict.fromkeys(
    ("decided_at", "decided_by", "decided_via", "reason", "slack_channel", "slack_ts", "last_reminded_at")
)


#: How often one process deletes the replay guard's expired signatures (see ``StateStore.first_use``).
REPLAY_PRUNE_SECONDS = 30.0

# The statements of the Slack click path, built once: building a SQLAlchemy statement and its cache key
# on every call cost more CPU than executing it. Values are bound at execution.
_APPROVAL_BY_ID = approvals.select().where(approvals.c.id == sa.bindparam("approval_id"))
_APPROVAL_LOCKED = _APPROVAL_BY_ID.with_for_update()
#: The fields of a vote that a request's ``votes`` carry, oldest first.
_VOTES = sa.select(approval_votes.c.user_id, approval_votes.c.vote, approval_votes.c.via, approval_votes.c.at).order_by(
    approval_votes.c.id
)
_VOTES_OF = _VOTES.where(approval_votes.c.approval_id == sa.bindparam("approval_id"))
_CLOSE_PENDING = approvals.update().where(approvals.c.id == sa.bindparam("approval_id"), approvals.c.status == PENDING)
_INSERT_AUDIT = audit.insert()
_PRUNE_REPLAYS = slack_replays.delete().where(slack_replays.c.seen_at < sa.bindparam("cutoff"))
_INSERT_IGNORING_CONFLICTS: dict[tuple[str, str], sa.Insert] = {}
#: Databases whose dialect has ``INSERT ... ON CONFLICT DO NOTHING``.
ON_CONFLICT_DIALECTS = ("sqlite", "postgresql")


def _insert_unless_present(conn: Connection, table: sa.Table, row: dict[str, Any]) -> bool:
    """Insert ``row`` into ``table``; False when one of the table's unique constraints says it exists.

    SQLite and PostgreSQL: ``INSERT ... ON CONFLICT DO NOTHING`` (one statement); other databases: the
    insert inside a savepoint, whose IntegrityError means the row exists.
    """
    dialect = conn.dialect.name
    if dialect not in ON_CONFLICT_DIALECTS:
        try:
            with conn.begin_nested():
                conn.execute(table.insert(), row)
        except IntegrityError:
            return False
        return True
    statement = _INSERT_IGNORING_CONFLICTS.get((dialect, table.name))
    if statement is None:
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        statement = _INSERT_IGNORING_CONFLICTS[(dialect, table.name)] = insert(table).on_conflict_do_nothing()
    return conn.execute(statement, row).rowcount == 1


def _replaced_message(row: Mapping[str, Any]) -> dict[str, Any]:
    """``{"replaced_message": {"channel", "ts"}}`` of a request row that has a Slack message, else ``{}``."""
    if not row.get("slack_ts"):
        return {}
    return {"replaced_message": {"channel": row.get("slack_channel"), "ts": row["slack_ts"]}}


def _replaced_messages_of(conn: Connection, approval_id: int) -> list[dict[str, Any]]:
    query = (
        sa.select(audit.c.details)
        .where(audit.c.subject == f"approval:{approval_id}", audit.c.action == "approval_reopened")
        .order_by(audit.c.id)
    )
    found = ((details or {}).get("replaced_message") for details in conn.execute(query).scalars())
    return [dict(message) for message in found if message]


def _approve_turned_into_deny(conn: Connection, deny: dict[str, Any]) -> bool:
    """Turn the person's approve of the (locked, pending) request into the ``deny`` vote row; False when
    their earlier vote is not an approve."""
    updated = conn.execute(
        approval_votes.update()
        .where(
            approval_votes.c.approval_id == deny["approval_id"],
            approval_votes.c.user_id == deny["user_id"],
            approval_votes.c.vote == "approve",
        )
        .values(vote="deny", via=deny["via"], at=deny["at"])
    )
    return updated.rowcount == 1


def attach_votes(conn: Connection, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each of ``requests`` (approval rows) its ``votes``, oldest first, as :meth:`StateStore.get_approval`
    does: the votes of all of them read in one query on ``conn``.

    :return: ``requests``, each with ``votes`` set.
    """
    votes: dict[int, list[dict[str, Any]]] = {}
    ids = [r["id"] for r in requests]
    if ids:
        query = _VOTES.add_columns(approval_votes.c.approval_id).where(approval_votes.c.approval_id.in_(ids))
        for v in conn.execute(query).mappings():
            vote = dict(v)
            votes.setdefault(vote.pop("approval_id"), []).append(vote)
    for r in requests:
        r["votes"] = votes.get(r["id"], [])
    return requests


def _votes_of(conn: Connection, approval_id: int) -> list[dict[str, Any]]:
    return [dict(v) for v in conn.execute(_VOTES_OF, {"approval_id": approval_id}).mappings()]


def _read_approval(conn: Connection, approval_id: int, *, with_votes: bool = True) -> dict[str, Any] | None:
    """The request ``approval_id`` (with its ``votes``) read on ``conn``, or None."""
    row = conn.execute(_APPROVAL_BY_ID, {"approval_id": approval_id}).mappings().first()
    if row is None:
        return None
    approval = dict(row)
    if with_votes:
        approval["votes"] = _votes_of(conn, approval_id)
    return approval


def _approval_of_run(model_name: str, model_version: str, dag_id: str, run_id: str) -> sa.Select[Any]:
    """The approval request of this model version in this DAG run (at most one: a unique constraint)."""
    return approvals.select().where(
        approvals.c.model_name == model_name,
        approvals.c.model_version == str(model_version),
        approvals.c.dag_id == dag_id,
        approvals.c.run_id == run_id,
    )


#: The audit trail's name for a row of each table (``job:7``).
_AUDIT_SUBJECT = {jobs.name: "job", approvals.name: "approval", promotions.name: "promotion"}


def missing_approval_message(approval_id: int, *, url: str | None = None, conn_id: str | None = None) -> str:
    """The error for an approval id the store does not hold: which store (ids are numbered per store), and how
    to find the right id, worded as ``jobs fail`` and ``decisions show`` word theirs.

    :param url: the store's URL (its password is masked here).
    :param conn_id: the store's connection, when a command chose it: the message then says how to pick another.
    """
    from airflow_provider_agentic_mlops.core.commands import command

    store = " ".join(
        part for part in (repr(conn_id) if conn_id else None, url and f"({mask_url_secrets(url)})") if part
    )
    hint = " (approval ids are numbered per state store: add --model or --state-conn-id)" if conn_id else ""
    return (
        f"approval {approval_id} is not in the state store{f' {store}' if store else ''}; list the pending ones "
        f"with `{command('approvals list')}`{hint}."
    )


#: Model names per ``IN (...)`` of the set-wise reads: below the oldest SQLite's bound-parameter limit (999).
_IN_CHUNK = 500


def _chunks(names: Sequence[str]) -> Iterator[list[str]]:
    """``names`` without repeats, in lists of at most :data:`_IN_CHUNK` (none for no names)."""
    unique = list(dict.fromkeys(names))
    for start in range(0, len(unique), _IN_CHUNK):
        yield unique[start : start + _IN_CHUNK]


def newest_of_each(
    table: sa.Table, wanted: Iterable[tuple[str, Any]], limit: int
) -> sa.Select[Any] | sa.CompoundSelect:
    """The ids of the newest ``limit`` rows (by id) of ``table`` of each ``(model, condition)`` of ``wanted``,
    as a select to use in ``IN (...)``: one ``SELECT ... WHERE model_name = m AND condition ORDER BY id DESC
    LIMIT n`` per pair, joined by ``UNION ALL`` (PostgreSQL's way; SQLite allows at most 500 of them: use
    :func:`newest_ranked` there). A model may come more than once (e.g. once per DAG, each searched in an index
    of ``(model_name, dag_id, id)``): the caller keeps its newest ``limit``.

    An index on ``(model_name, ..., id)`` then reads ``limit`` rows of each model however long its history
    (ranking every row of the models read all of them: seconds at a year of hourly decisions). Each pair is
    its own query with its values as constants, not a join on a list of names: PostgreSQL plans each one from
    that model's statistics, so a model with few rows is searched in its index range, not by walking the whole
    table's newest ids. A condition PostgreSQL over-estimates the selectivity of (a DAG filter: it takes
    ``model_name`` and ``dag_id`` to be independent) can make it sort all of a model's rows instead: give
    each DAG its own pair instead.

    :param table: a table with ``id`` and ``model_name`` columns.
    :param wanted: one pair at least.
    :param limit: rows per pair, at least 1.
    """
    selects = [
        sa.select(table.c.id).where(table.c.model_name == name, condition).order_by(table.c.id.desc()).limit(limit)
        for name, condition in wanted
    ]
    return selects[0] if len(selects) == 1 else sa.union_all(*selects)


def newest_ranked(table: sa.Table, model_names: Sequence[str], condition: Any, limit: int) -> sa.Select[Any]:
    """What :func:`newest_of_each` selects, for SQLite: the models' rows matching ``condition`` ranked with
    ``row_number()`` (for one row, ``max(id) ... GROUP BY``) over the models' index range, one statement
    whatever their number. It reads every row of the models.

    :param model_names: the models (at most :data:`_IN_CHUNK`).
    """
    of_models = sa.and_(table.c.model_name.in_(model_names), condition)
    if limit == 1:
        return sa.select(sa.func.max(table.c.id)).where(of_models).group_by(table.c.model_name)
    rank = sa.func.row_number().over(partition_by=table.c.model_name, order_by=table.c.id.desc())
    ranked = sa.select(table.c.id, rank.label("rank")).where(of_models).subquery()
    return sa.select(ranked.c.id).where(ranked.c.rank <= limit)


def _where_given(query: sa.Select[Any], table: sa.Table, **equal: Any) -> sa.Select[Any]:
    """``query`` narrowed to rows of ``table`` whose column equals each given value (None: no condition)."""
    for column, value in equal.items():
        if value is not None:
            query = query.where(table.c[column] == value)
    return query


def _locked_row(conn: Connection, table: sa.Table, row_id: int, *, missing: str) -> dict[str, Any]:
    """The row ``row_id`` of ``table``, locked until the transaction ends (``SELECT ... FOR UPDATE`` on
    PostgreSQL; SQLite's write transaction holds the database lock already); StateStoreError(missing)
    when there is none."""
    row = conn.execute(table.select().where(table.c.id == row_id).with_for_update()).mappings().first()
    if row is None:
        raise StateStoreError(missing)
    return dict(row)


def already_decided_message(row: dict[str, Any]) -> str:
    when = f"{row['decided_at']:%Y-%m-%d %H:%M} UTC" if row.get("decided_at") else "earlier"
    if row["status"] == EXPIRED:
        return f"request {row['id']} expired ({when}); nothing recorded"
    if row["status"] in (CANCELLED, SUPERSEDED):
        return (
            f"request {row['id']} was {row['status']} ({when}: {row.get('reason')}); its run can no longer act on "
            "it, so nothing was recorded"
        )
    return f"already {row['status']} by {row['decided_by']} ({when})"


#: The decisions table's JSON columns (the trace: evidence, inputs, prompt, ...), stored :func:`_jsonable`.
_DECISION_JSON = frozenset(c.name for c in decisions.columns if isinstance(c.type, sa.JSON))

#: The key of a decision's ``inputs`` that holds the Airflow try number of the task that decided (1 on the first
#: try; a retry or a cleared task decides again, with a higher one). Absent in decisions recorded before it was.
TRY_NUMBER = "try_number"


#: The audit action of an LLM answer's tokens whose decision the store failed to record (counted by ``tokens_used``).
UNRECORDED_TOKENS = "llm_tokens_unrecorded"

#: The key of a ``decision`` audit entry's details that holds :func:`decision_trace_digest` of the decision as recorded.
TRACE_DIGEST = "trace_sha256"


def decision_trace_digest(row: Mapping[str, Any]) -> str:
    """SHA-256 of a stored decision (a row of ``decisions`` as read back) as canonical JSON: its columns' values,
    keys sorted, without those that are NULL (a column a later migration adds does not change an older row's
    digest). Other keys of ``row`` (``superseded_by``, ``approvals``) are not part of the trace.

    :param row: the decision's columns, as the database returns them.
    """
    import hashlib
    import json

    trace = {c.name: row[c.name] for c in decisions.columns if row.get(c.name) is not None}
    text = json.dumps(trace, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_canonical)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(value: Any) -> str:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="microseconds")
    raise TypeError(f"a stored decision holds {type(value).__name__} {value!r}, which has no canonical JSON form")


def decision_superseded_by(table: sa.Table | Any = decisions) -> Any:
    """SQL: the id of the newest later decision of the same model and DAG run as ``table``'s row (a later try of
    the run's decide task, which replaced it: only the newest decision of a run stands), or NULL when the row is its
    run's newest, or records no DAG run. One search of the index (model, DAG, run, id) of migration 0008 a row: for
    the rows of a page or one decision.

    :param table: ``decisions`` or an alias of it, whose rows are being read.
    """
    later = decisions.alias("later_try")
    return (
        sa.select(sa.func.max(later.c.id))
        .where(
            later.c.model_name == table.c.model_name,
            later.c.dag_id == table.c.dag_id,
            later.c.run_id == table.c.run_id,
            later.c.id > table.c.id,
        )
        .scalar_subquery()
    )


def _decisions_read() -> sa.Select[Any]:
    """Every column of ``decisions`` and ``superseded_by`` (:func:`decision_superseded_by`)."""
    return sa.select(decisions, decision_superseded_by().label("superseded_by"))


def _jsonable(value: Any) -> Any:
    """``value`` for a JSON column (the audit trail's, approvals' and jobs' ``details``, a decision's trace), its texts
    :func:`storable_text`: PostgreSQL's json column takes a NUL or a lone surrogate as an escape and then fails
    every ``->>`` over the row (the append-only trail for ever; a request's details, which carry the data's
    column names, the decision's rationale and templated links, failed its model's registered-model lookup)."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


# -- engine and migrations ------------------------------------------------------------------------


#: Seconds a PostgreSQL connection may take to open (libpq's ``connect_timeout``) when the URL sets none: a
#: host that accepts TCP and never answers (a network partition, a hung PgBouncer) otherwise holds the caller
#: forever, and with it a thread of the API server per page view.
POSTGRES_CONNECT_TIMEOUT = 10
#: Seconds to wait for a pooled connection when all are in use (SQLAlchemy's default is 30).
POOL_TIMEOUT = 10
#: Drivers that take libpq's ``connect_timeout`` (``postgresql://`` means psycopg2).
_LIBPQ_DRIVERS = frozenset({"psycopg2", "psycopg"})


def engine_options(url: str) -> dict[str, Any]:
    """The ``create_engine`` options of a server database's ``url``: a liveness check of pooled connections,
    :data:`POOL_TIMEOUT`, and for PostgreSQL through libpq :data:`POSTGRES_CONNECT_TIMEOUT` unless libpq has one
    already: the URL's query (``connect_timeout``, or a ``service`` file), or ``PGCONNECT_TIMEOUT``."""
    parsed = sa.engine.make_url(url)
    connect_args: dict[str, Any] = {}
    driver = parsed.get_driver_name() if parsed.drivername != "postgresql" else "psycopg2"
    libpq_has_one = {"connect_timeout", "service"} & set(parsed.query) or os.environ.get("PGCONNECT_TIMEOUT")
    if parsed.get_backend_name() == "postgresql" and driver in _LIBPQ_DRIVERS and not libpq_has_one:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT
    return {"pool_pre_ping": True, "pool_timeout": POOL_TIMEOUT, "connect_args": connect_args}


#: The PostgreSQL driver the provider's ``[postgres]`` extra installs (psycopg2): the one a URL without a driver
#: gets when SQLAlchemy's default for it (psycopg 3, since SQLAlchemy 2.1) is not installed.
POSTGRES_DRIVER = "postgresql+psycopg2"


def with_postgres_driver(url: str) -> str:
    """``url`` with a PostgreSQL driver that can load: a driverless ``postgresql://`` or ``postgres://`` URL (as
    libpq and most documentation write it) names :data:`POSTGRES_DRIVER` when psycopg (3), SQLAlchemy 2.1's
    default, is not importable, else ``postgresql://`` (SQLAlchemy knows no ``postgres`` dialect). Any other URL,
    one naming its driver too, is returned as is."""
    import importlib.util

    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        return url
    return f"{POSTGRES_DRIVER if importlib.util.find_spec('psycopg') is None else 'postgresql'}://{rest}"


def create_engine(url: str) -> Engine:
    """An engine with the settings the store relies on: WAL and a busy timeout on SQLite; on a server database
    bounded waits to connect and for a pooled connection (:func:`engine_options`). A driverless PostgreSQL URL
    gets a driver that is installed (:func:`with_postgres_driver`)."""
    url = with_postgres_driver(url)
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN itself
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))

        return engine
    return sa.create_engine(url, **engine_options(url))


@contextlib.contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Alembic logs "Context impl SQLiteImpl" at INFO on every look; keep that out of CLI output."""
    logger = logging.getLogger("alembic.runtime.migration")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@retry_read
def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return _revision_on(conn)


def _revision_on(conn: Connection) -> str | None:
    """The store's schema revision, read on ``conn`` (in its transaction, e.g. under the migration lock)."""
    from alembic.runtime.migration import MigrationContext

    from airflow_provider_agentic_mlops.core.migrations import VERSION_TABLE

    with _quiet_alembic():
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def _alembic_config(conn: Connection, script_location: str | os.PathLike[str]) -> Any:
    """Alembic's config running the migrations in ``script_location`` on ``conn``: in its transaction, Alembic
    leaves the commit to the caller."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["connection"] = conn
    return cfg


def head_revision(script_location: str | os.PathLike[str] = MIGRATIONS_DIR) -> str:
    """The newest revision in the migrations' script directory (Alembic's, never a constant to bump)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(script_location)).get_current_head()
    if head is None:
        raise StateStoreError(f"no migrations found in {script_location}; the package is incomplete, reinstall it")
    return head


class UnknownSchemaRevision(StateStoreError):
    """The store is at a schema revision this provider's migrations do not have: a newer provider wrote it."""


class MigrationLockTimeout(StateStoreError, LockTimeout):
    """Another process held the store's migration lock longer than the wait allowed: most likely it is stuck.
    The message names the holder, how to end it, and the setting that allows a longer wait."""


def known_revisions(script_location: str | os.PathLike[str] = MIGRATIONS_DIR) -> list[str]:
    """The revisions of the migrations' script directory, oldest first (they form one line)."""
    from alembic.script import ScriptDirectory

    return [script.revision for script in ScriptDirectory(str(script_location)).walk_revisions()][::-1]


def oldest_compatible_revision(conn: Connection) -> str | None:
    """The oldest provider code revision the store records as able to run on its schema (migration 0006 and
    the rule in ``core/migrations``), or None for a store without that record (before 0006, or empty)."""
    from airflow_provider_agentic_mlops.core.migrations import COMPAT_TABLE

    if not sa.inspect(conn).has_table(COMPAT_TABLE):
        return None
    return conn.execute(sa.select(schema.schema_compat.c.oldest_compatible_revision)).scalar()


def _check_known_revision(
    engine: Engine,
    current: str | None,
    script_location: str | os.PathLike[str],
    oldest_compatible: str | None = None,
) -> bool:
    """Whether the store at ``current`` is newer than this code and yet compatible with it: False for a revision
    of the script directory (or an empty store), to be migrated; True for an unknown one (a newer provider
    migrated it) whose recorded ``oldest_compatible`` revision is one of this code's, to be used as it is.
    Raise :class:`UnknownSchemaRevision` for any other; Alembic would only say "Can't locate revision", with
    no hint of the cause or the fix."""
    known = known_revisions(script_location)
    if current is None or current in known:
        return False
    if oldest_compatible in known:
        return True
    head = known[-1]
    needs = (
        f"it records that only provider code at revision {oldest_compatible} or later can run on it"
        if oldest_compatible is not None
        else "it records no revision of older code that can run on it"
    )
    raise UnknownSchemaRevision(
        f"the state store at {mask_url_secrets(engine.url.render_as_string(hide_password=True))} is at schema revision "
        f"{current!r}, which this provider version does not know (it knows {', '.join(known)}): a newer "
        f"airflow-provider-agentic-mlops migrated it, and {needs}. Upgrade the provider to that version or later "
        "on every Airflow component (scheduler, workers, triggerer, API server), then run again; nothing was "
        f"changed. To go back to this version instead, run `airflow agentic-mlops db downgrade --to {head}` with "
        "the newer provider installed, then install this one."
    )


def _use_as_it_is(engine: Engine, conn: Connection, script_location: str | os.PathLike[str]) -> bool:
    """Whether the store needs no migration: at this code's head, or newer and compatible (said at INFO);
    False when it is to be migrated. Raises :class:`UnknownSchemaRevision` for a newer incompatible store."""
    current = _revision_on(conn)
    head = head_revision(script_location)
    if current == head:
        return True
    known = current is None or current in known_revisions(script_location)
    oldest = None if known else oldest_compatible_revision(conn)
    if not _check_known_revision(engine, current, script_location, oldest):
        return False
    logging.getLogger(__name__).info(
        "state store %s is at schema revision %r, newer than this provider's newest (%s) and compatible with it: it "
        "records that provider code from revision %s on can run on it. Used as it is, without migrating; upgrade "
        "the provider here to use what the newer schema adds",
        mask_url_secrets(engine.url.render_as_string(hide_password=True)),
        current,
        head,
        oldest,
    )
    return True


@retry_read
def _store_needs_no_migration(engine: Engine, script_location: str | os.PathLike[str]) -> bool:
    """:func:`_use_as_it_is` before taking the migration lock: a current store, or a newer compatible one, is
    not locked at all."""
    with engine.connect() as conn:
        return _use_as_it_is(engine, conn, script_location)


def migrate_schema(
    engine: Engine,
    *,
    script_location: str | os.PathLike[str] = MIGRATIONS_DIR,
    lock_timeout: float = DEFAULT_MIGRATION_LOCK_TIMEOUT,
) -> None:
    """Upgrade the store's schema to the newest revision, once per process and database.

    Safe against several processes starting at once: a file lock (SQLite) or an advisory lock
    (PostgreSQL) makes the others wait, then they find the schema current. Every pending revision runs
    in the one transaction that holds the lock (:func:`~airflow_provider_agentic_mlops.core.locks.locked_transaction`;
    both databases have transactional DDL), so no lock outlives it, also behind a PgBouncer in
    transaction pooling mode, and a failed upgrade leaves the schema as it was.

    A process that finds the lock held logs who holds it and waits at most ``lock_timeout`` seconds: a
    holder that froze (a frozen VM, a network partition) keeps its PostgreSQL lock until TCP keepalive
    gives up, hours later, and would otherwise keep every process that opens the store waiting, silently.

    A store a newer provider migrated (a rolling upgrade) is used as it is, without migrating, when it records
    that code of this provider's head can run on it (``core/migrations``: additive migrations keep that record);
    it is said once at INFO. Otherwise it is refused.

    :param script_location: the Alembic script directory (tests point it at a copy with more revisions).
    :param lock_timeout: seconds to wait at most for the migration lock.
    :raises UnknownSchemaRevision: a newer provider migrated the store and older code cannot run on it.
    :raises MigrationLockTimeout: the lock was not free within ``lock_timeout``; the message names its holder.
    """
    key = f"{engine.url}|{script_location}"
    if key in _migrated:
        return
    with _migrate_lock:
        if key in _migrated or _store_needs_no_migration(engine, script_location):
            _migrated.add(key)
            return
        shown = mask_url_secrets(engine.url.render_as_string(hide_password=True))

        def waiting(holder: str) -> None:
            logging.getLogger(__name__).warning(
                "state store %s: waiting up to %g s for the migration lock held by %s: another process is "
                "migrating the schema (or froze while it did)",
                shown,
                lock_timeout,
                holder,
            )

        try:
            with locked_transaction(engine, "migrate", timeout=lock_timeout, on_wait=waiting) as conn:
                from alembic import command

                # again under the lock: a newer provider may have migrated the store while this one waited
                if not _use_as_it_is(engine, conn, script_location):
                    command.upgrade(_alembic_config(conn, script_location), "head")
        except LockTimeout as err:
            raise MigrationLockTimeout(
                f"state store {shown}: could not migrate its schema: {err}. A migration "
                "takes seconds, so its holder is most likely stuck (a frozen host or a network partition keeps "
                "the lock until TCP keepalive gives up); if a migration of a large store really runs that long, "
                "raise [agentic_mlops] migration_lock_timeout (env AIRFLOW__AGENTIC_MLOPS__MIGRATION_LOCK_TIMEOUT, "
                f"now {lock_timeout:g} s). Nothing was changed; open the store again once the lock is free."
            ) from err
        _migrated.add(key)


class SchemaDowngradeRefused(StateStoreError):
    """A downgrade of the store's schema that cannot run: the message names the revisions and what to do."""


def check_downgrade(
    current: str | None, revision: str, script_location: str | os.PathLike[str] = MIGRATIONS_DIR
) -> bool:
    """Whether a store at ``current`` needs a downgrade to reach ``revision`` (False: it is there already).

    :raises SchemaDowngradeRefused: ``revision`` is none of this code's migrations, the store is empty, at a
        revision this code does not know (a newer provider's: downgrade with that one installed), or older.
    """
    from airflow_provider_agentic_mlops.core.migrations import PROVIDER_VERSIONS

    known = known_revisions(script_location)
    if revision not in known:
        raise SchemaDowngradeRefused(
            f"revision {revision!r} is not one of this provider version's migrations ({', '.join(known)}): give "
            "the newest of the provider version you roll back to (its `db migrate` prints it; each provider "
            f"version's newest: {', '.join(f'{v}: {r}' for v, r in PROVIDER_VERSIONS.items())})"
        )
    if current is None:
        raise SchemaDowngradeRefused("the state store has no schema yet: there is nothing to downgrade")
    if current not in known:
        raise SchemaDowngradeRefused(
            f"the state store is at revision {current!r}, which this provider version does not know: a newer "
            "provider migrated it and only its migrations can undo it. Run this command with that version installed"
        )
    if known.index(current) < known.index(revision):
        raise SchemaDowngradeRefused(
            f"the state store is at revision {current}, older than {revision}: to upgrade it, run "
            "`airflow agentic-mlops db migrate`"
        )
    return current != revision


def downgrade_schema(
    engine: Engine,
    revision: str,
    *,
    script_location: str | os.PathLike[str] = MIGRATIONS_DIR,
    lock_timeout: float = DEFAULT_MIGRATION_LOCK_TIMEOUT,
) -> str | None:
    """Run the migrations' ``downgrade()`` down to ``revision``, in one transaction under the migration lock (as
    :func:`migrate_schema`), so that it never interleaves with a process migrating the store. What later
    migrations added is dropped, with its rows.

    :param revision: one of the migrations' revisions, not newer than the store's (:func:`check_downgrade`).
    :param script_location: the Alembic script directory.
    :param lock_timeout: seconds to wait at most for the migration lock.
    :returns: the revision the store was at.
    :raises SchemaDowngradeRefused: see :func:`check_downgrade`, checked again under the lock.
    :raises MigrationLockTimeout: the lock was not free within ``lock_timeout``.
    """
    from alembic import command

    shown = mask_url_secrets(engine.url.render_as_string(hide_password=True))
    try:
        with locked_transaction(engine, "migrate", timeout=lock_timeout) as conn:
            before = _revision_on(conn)
            if check_downgrade(before, revision, script_location):
                command.downgrade(_alembic_config(conn, script_location), revision)
    except LockTimeout as err:
        raise MigrationLockTimeout(
            f"state store {shown}: could not downgrade its schema: {err}. Nothing was changed; run again once the "
            "lock is free"
        ) from err
    # this process migrates the store again if it opens it
    _migrated.difference_update({key for key in _migrated if key.startswith(f"{engine.url}|")})
    return before


__all__ = [
    "APPROVED",
    "DENIED",
    "EXPIRED",
    "JOB_FAILED",
    "JOB_RUNNING",
    "JOB_SUCCEEDED",
    "PENDING",
    "PROMOTION_COMPLETED",
    "PROMOTION_IN_PROGRESS",
    "PROMOTION_OVERTAKEN",
    "CANCELLED",
    "SUPERSEDED",
    "DEFAULT_MIGRATION_LOCK_TIMEOUT",
    "ApprovalOutcome",
    "AuditEntry",
    "StateStore",
    "StateStoreError",
    "MigrationLockTimeout",
    "UnknownSchemaRevision",
    "SchemaDowngradeRefused",
    "check_downgrade",
    "downgrade_schema",
    "default_sqlite_url",
    "head_revision",
    "known_revisions",
    "oldest_compatible_revision",
    "is_transient",
    "retry_close",
    "retry_read",
    "migrate_schema",
    "schema",
    "utcnow",
]
