"""One lock that every process on a database sees, held for one transaction (no Airflow imports).

Used by the state store around its migrations and around a retrain's budget check and job start (one
model's), and by the alerts endpoint around "look for an active run, else start one".
:func:`locked_transaction` opens a transaction on one connection, takes the lock, yields the connection
for the locked work, and commits (rolls back on an error); the lock ends with that transaction:

* PostgreSQL: a transaction-scoped advisory lock (``pg_advisory_xact_lock``), released by PostgreSQL
  itself at the commit or rollback, also when the connection drops. Nothing is held between two
  transactions, so the lock works behind a PgBouncer in transaction pooling mode, which may run each
  transaction of a client on another server connection (a session lock, taken in one transaction and
  released in another, stayed there on a server connection no client owned: every later waiter
  waited forever). The locked work must not commit: that would end the lock early.
* SQLite on a file: an exclusive ``flock`` on a file next to the database (SQLite means one host),
  taken before the connection and released after the transaction; the OS releases it when its
  process ends.
* Anything else (MySQL, in-memory SQLite): no cross-process lock, only the transaction; the caller's
  in-process lock still holds.

``timeout`` bounds the wait for the lock (PostgreSQL's ``lock_timeout`` on the lock statement only;
a polled non-blocking ``flock`` on SQLite): :class:`LockTimeout` when it passes, never a hang. A lock that
is not free at once is first described (on PostgreSQL: the holding session's pid, client, state and since
when), for ``on_wait`` to log before the wait and for the :class:`LockTimeout` to name.

Do the locked work on the yielded connection (e.g. an ORM session bound to it), not on another one
from the same pool: callers that hold one pooled connection for the lock and wait for a second can
take the whole pool between them and wait for each other until the pool's timeout.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from airflow_provider_agentic_mlops.core.errors import mask_url_secrets

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout ends a wait
SQLITE_POLL_SECONDS = 0.05


class LockTimeout(TimeoutError):
    """The lock was not free within the timeout: another process holds it. The message names the
    lock and, on PostgreSQL, how to find the session holding it."""


def advisory_key(scope: str, key: str = "") -> int:
    """The PostgreSQL advisory-lock key of ``scope``/``key``: a stable 32-bit hash that fits a signed bigint."""
    return zlib.crc32(f"agentic_mlops:{scope}:{key}".encode()) - 2**31


def _sqlstate(err: sa.exc.DBAPIError) -> str | None:
    """The SQLSTATE of a driver error: psycopg2 calls it ``pgcode``, psycopg 3 ``sqlstate``."""
    return getattr(err.orig, "pgcode", None) or getattr(err.orig, "sqlstate", None)


_PG_HOLDER = sa.text(
    "SELECT a.pid, a.application_name, host(a.client_addr), a.state, a.xact_start "
    "FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.classid::bigint = :classid AND l.objid::bigint = :objid "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _pg_holder(conn: Connection, lock_key: int) -> tuple[str, str]:
    """Who holds the advisory lock ``lock_key`` and how to end it: ``("PostgreSQL session pid 123 (...)",
    "if it is stuck, end it with SELECT pg_terminate_backend(123)")``."""
    row = conn.execute(_PG_HOLDER, {"classid": (lock_key >> 32) & 0xFFFFFFFF, "objid": lock_key & 0xFFFFFFFF}).first()
    if row is None:  # let go between the two statements
        return "a PostgreSQL session that has just let go of it", "wait and retry"
    pid, application, client, state, since = row
    facts = [
        f"application {application!r}" if application else None,
        f"client {client}" if client else None,
        f"{state} since {since:%Y-%m-%d %H:%M:%S %Z}".strip() if state and since else state,
    ]
    described = ", ".join(fact for fact in facts if fact)
    return (
        f"PostgreSQL session pid {pid}" + (f" ({described})" if described else ""),
        f"if it is stuck (its process frozen or cut off), end it with SELECT pg_terminate_backend({pid})",
    )


def _pg_xact_lock(
    conn: Connection, scope: str, key: str, timeout: float | None, on_wait: Callable[[str], None] | None
) -> None:
    lock_key = advisory_key(scope, key)
    if conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_key}).scalar_one():
        return
    holder, fix = _pg_holder(conn, lock_key)
    if on_wait is not None:
        on_wait(holder)
    lock = sa.text("SELECT pg_advisory_xact_lock(:k)")
    if timeout is None:
        conn.execute(lock, {"k": lock_key})
        return
    set_timeout = sa.text("SELECT set_config('lock_timeout', :t, true)")  # true: SET LOCAL
    previous = conn.execute(sa.text("SELECT current_setting('lock_timeout')")).scalar_one()
    conn.execute(set_timeout, {"t": f"{max(1, round(timeout * 1000))}ms"})  # 0 would mean no limit
    try:
        conn.execute(lock, {"k": lock_key})
    except sa.exc.OperationalError as err:
        if _sqlstate(err) != LOCK_NOT_AVAILABLE:
            raise
        raise LockTimeout(
            f"lock {scope!r}/{key!r} not free after {timeout:.3g} s: held by {holder} (PostgreSQL advisory "
            f"lock {lock_key} on {mask_url_secrets(conn.engine.url.render_as_string(hide_password=True))}); "
            f"{fix}. Find its holder now with "
            "SELECT pid, state, xact_start, query FROM pg_locks JOIN pg_stat_activity USING (pid) "
            f"WHERE locktype = 'advisory' AND objid = {lock_key & 0xFFFFFFFF}"
        ) from err
    conn.execute(set_timeout, {"t": previous})  # the locked work's own waits keep the usual limit


def _flock(fh: IO[str], path: Path, timeout: float | None, on_wait: Callable[[str], None] | None) -> None:
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    if on_wait is not None:
        on_wait(f"another process on this host (find it with: fuser {path})")
    if timeout is None:
        fcntl.flock(fh, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"lock file {path} not free after {timeout:.3g} s: another process on this host holds it "
                    f"(find it with: fuser {path}; if it is stuck, end it)"
                ) from None
            time.sleep(SQLITE_POLL_SECONDS)


@contextlib.contextmanager
def locked_transaction(
    engine: Engine,
    scope: str,
    key: str = "",
    *,
    timeout: float | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Connection]:
    """A transaction on one connection of ``engine``, holding the lock named ``scope``/``key`` until it
    ends; yields the connection, in that transaction, for the locked work. Committed when the block
    ends, rolled back when it raises.

    :param engine: the database every competing process uses.
    :param scope: what the lock protects (``migrate``, ``alerts``); on SQLite the lock file is
        ``<database>.<scope>.lock``, shared by every ``key`` of the scope.
    :param key: narrows the lock within the scope on PostgreSQL (e.g. one DAG id).
    :param timeout: seconds to wait for the lock at most; None: as long as it takes.
    :param on_wait: called with a description of the holder (``PostgreSQL session pid 123 (...)``) when the
        lock is not free at once, before the wait: e.g. to log who is waited for.
    :raises LockTimeout: when the lock was not free within ``timeout``; nothing was done.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn, conn.begin():
            _pg_xact_lock(conn, scope, key, timeout, on_wait)
            yield conn
    elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        path = Path(f"{engine.url.database}.{scope}.lock")
        with open(path, "a+") as fh:
            _flock(fh, path, timeout, on_wait)
            try:
                with engine.connect() as conn, conn.begin():
                    yield conn
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    else:
        with engine.connect() as conn, conn.begin():
            yield conn


__all__ = ["LockTimeout", "advisory_key", "locked_transaction"]
