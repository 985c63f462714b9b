"""One lock that every process on a database sees (no Airflow imports).

Used by the state store around its migrations and by the alerts endpoint around "look for an active
run, else start one". PostgreSQL: a session advisory lock (not a transaction one: it outlives the
commits a caller's helpers may make) on the connection the lock yields. SQLite on a file: an
exclusive ``flock`` on a file next to the database (SQLite means one host), taken before the
connection. Anything else (MySQL, in-memory SQLite): no cross-process lock, only the connection;
the caller's in-process lock still holds.

Do the locked work on the yielded connection (e.g. an ORM session bound to it), not on another one
from the same pool: callers that hold one pooled connection for the lock and wait for a second can
take the whole pool between them and wait for each other until the pool's timeout.
"""

from __future__ import annotations

import contextlib
import fcntl
import zlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import Connection, Engine


def advisory_key(scope: str, key: str = "") -> int:
    """The PostgreSQL advisory-lock key of ``scope``/``key``: a stable 32-bit hash that fits a signed bigint."""
    return zlib.crc32(f"agentic_mlops:{scope}:{key}".encode()) - 2**31


@contextlib.contextmanager
def cross_process_lock(engine: Engine, scope: str, key: str = "") -> Iterator[Connection]:
    """Hold the lock named ``scope``/``key`` on ``engine``'s database; yields the connection holding
    it, outside any transaction, for the locked work.

    :param engine: the database every competing process uses.
    :param scope: what the lock protects (``migrate``, ``alerts``); on SQLite the lock file is
        ``<database>.<scope>.lock``, shared by every ``key`` of the scope.
    :param key: narrows the lock within the scope on PostgreSQL (e.g. one DAG id).
    """
    if engine.dialect.name == "postgresql":
        lock_key = advisory_key(scope, key)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_advisory_lock(%(k)s)", {"k": lock_key})
            conn.commit()
            try:
                yield conn
            finally:
                if conn.in_transaction():
                    # work that failed left its transaction open, maybe aborted ("current transaction is
                    # aborted"): the unlock would fail and the pooled connection would keep the lock
                    conn.rollback()
                conn.exec_driver_sql("SELECT pg_advisory_unlock(%(k)s)", {"k": lock_key})
                conn.commit()
    elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        with open(Path(f"{engine.url.database}.{scope}.lock"), "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                with engine.connect() as conn:
                    yield conn
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    else:
        with engine.connect() as conn:
            yield conn


__all__ = ["advisory_key", "cross_process_lock"]
