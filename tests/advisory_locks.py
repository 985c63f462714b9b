"""The locks of core/locks.py as other processes see them: held by another process, and the PostgreSQL
advisory locks a connection holds between its transactions (there must be none).

A PgBouncer in transaction pooling mode hands a server session to another client as soon as a
transaction ends: a lock still held then belongs to nobody, and whoever waits for it waits forever.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from airflow_provider_agentic_mlops.core.locks import advisory_key

HELD_BY_PID = "SELECT pid, objid FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = :pid"
HELD_IN_DATABASE = (
    "SELECT pid, objid FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def advisory_locks_held(url: sa.URL | str) -> list[tuple[int, int]]:
    """``(pid, objid)`` of every advisory lock granted in the database of ``url``, seen from a new connection."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(HELD_IN_DATABASE))]
    finally:
        engine.dispose()


@contextlib.contextmanager
def advisory_locks_between_transactions(engine: sa.Engine) -> Iterator[list[tuple[int, int]]]:
    """Inside the block, each time a connection of ``engine`` (PostgreSQL) starts a transaction or goes
    back to the pool, the advisory locks its server session holds at that moment are appended to the
    yielded list as ``(pid, objid)``: a list that stays empty means no lock outlived a transaction."""
    observer = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    held: list[tuple[int, int]] = []

    def look(dbapi_connection: Any) -> None:
        with observer.connect() as conn:
            rows = conn.execute(sa.text(HELD_BY_PID), {"pid": dbapi_connection.get_backend_pid()})
            held.extend(tuple(row) for row in rows)

    def on_begin(conn: sa.Connection) -> None:
        look(conn.connection.dbapi_connection)

    def on_checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            look(dbapi_connection)

    sa.event.listen(engine, "begin", on_begin)
    sa.event.listen(engine, "checkin", on_checkin)
    try:
        yield held
    finally:
        sa.event.remove(engine, "begin", on_begin)
        sa.event.remove(engine, "checkin", on_checkin)
        observer.dispose()


@contextlib.contextmanager
def lock_held_elsewhere(url: sa.URL | str, scope: str, key: str = "") -> Iterator[None]:
    """The lock :func:`~airflow_provider_agentic_mlops.core.locks.locked_transaction` takes for
    ``scope``/``key`` on the database of ``url``, held meanwhile as another process would hold it: a
    session advisory lock on PostgreSQL, the lock file's ``flock`` on SQLite."""
    url = sa.make_url(url)
    if url.get_backend_name() == "postgresql":
        holder = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with holder.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": advisory_key(scope, key)})
                conn.commit()
                yield
        finally:
            holder.dispose()
    else:
        with open(f"{url.database}.{scope}.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield
