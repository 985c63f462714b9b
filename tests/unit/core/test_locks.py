"""core/locks.py: the cross-process lock lasts one transaction, is released however the work ends,
and is waited for at most the timeout."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest
import sqlalchemy as sa

from airflow_provider_agentic_mlops.core.locks import LockTimeout, advisory_key, locked_transaction
from tests.advisory_locks import advisory_locks_between_transactions, advisory_locks_held


def _objid(scope: str, key: str) -> int:
    """The ``objid`` pg_locks shows for the advisory lock of ``scope``/``key`` (its low 32 bits)."""
    return advisory_key(scope, key) & 0xFFFFFFFF


def test_an_aborted_transaction_in_the_locked_work_still_releases_the_postgresql_lock(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    try:
        with (
            pytest.raises(sa.exc.ProgrammingError),
            locked_transaction(engine, "alerts", "agentic_mlops__churn") as conn,
        ):
            conn.execute(sa.text("SELECT * FROM no_such_table"))  # aborts the work's transaction
        # the pooled connection went back to the pool: the lock must not have gone with it
        assert advisory_locks_held(pg_url) == []
    finally:
        engine.dispose()


def test_the_postgresql_lock_is_held_for_the_work_and_by_no_connection_between_transactions(pg_url: str) -> None:
    """Behind a PgBouncer in transaction pooling mode each transaction may run on another server
    session: a lock taken in one transaction and released in a later one stayed on a session no client
    owned, and the next caller waited for it forever."""
    engine = sa.create_engine(pg_url)
    try:
        with advisory_locks_between_transactions(engine) as between:
            with locked_transaction(engine, "alerts", "agentic_mlops__churn") as conn:
                conn.execute(sa.text("CREATE TABLE work (id int)"))
                during = advisory_locks_held(pg_url)
            with engine.connect() as other:  # the pooled connection, in its next transaction
                other.execute(sa.text("SELECT 1"))
        assert [objid for _, objid in during] == [_objid("alerts", "agentic_mlops__churn")]
        assert between == [] and advisory_locks_held(pg_url) == []
        assert "work" in sa.inspect(engine).get_table_names()  # the work was committed
    finally:
        engine.dispose()


@pytest.mark.timeout(120, method="thread")
def test_a_postgresql_lock_held_elsewhere_is_waited_for_at_most_the_timeout(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    holder = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    key = advisory_key("alerts", "agentic_mlops__churn")
    try:
        with holder.connect() as fresh:
            usual_lock_timeout = fresh.execute(sa.text("SHOW lock_timeout")).scalar()
        with holder.connect() as held:
            held.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            held.commit()
            with (
                pytest.raises(LockTimeout) as err,
                locked_transaction(engine, "alerts", "agentic_mlops__churn", timeout=0.2),
            ):
                pytest.fail("the locked work ran while another session held the lock")
            assert f"objid = {_objid('alerts', 'agentic_mlops__churn')}" in str(err.value)
        # the holder let go: the lock is free again, and the work runs, its own waits not bounded by
        # the lock's timeout
        with locked_transaction(engine, "alerts", "agentic_mlops__churn", timeout=0.2) as conn:
            assert conn.execute(sa.text("SHOW lock_timeout")).scalar() == usual_lock_timeout
    finally:
        engine.dispose()
        holder.dispose()


def test_the_locked_work_runs_on_the_yielded_connection_on_sqlite(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    with locked_transaction(engine, "alerts", "x") as conn:
        conn.execute(sa.text("CREATE TABLE work (id int)"))
        conn.execute(sa.text("INSERT INTO work VALUES (1)"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM work")).scalar() == 1
    assert (tmp_path / "meta.db.alerts.lock").exists()
    engine.dispose()


@pytest.mark.timeout(120, method="thread")
def test_a_sqlite_lock_held_elsewhere_is_waited_for_at_most_the_timeout(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    with open(tmp_path / "meta.db.alerts.lock", "a+") as other_process:
        fcntl.flock(other_process, fcntl.LOCK_EX)
        with pytest.raises(LockTimeout), locked_transaction(engine, "alerts", "x", timeout=0.2):
            pytest.fail("the locked work ran while another process held the lock")
        fcntl.flock(other_process, fcntl.LOCK_UN)
    with locked_transaction(engine, "alerts", "x", timeout=0.2) as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    engine.dispose()


def test_migrating_a_postgresql_store_holds_its_lock_for_one_transaction(pg_url: str) -> None:
    """The state store's migration lock is the same lock: behind a transaction-pooling PgBouncer the
    session lock of a migration stayed on a server session, and the next migration waited forever."""
    from airflow_provider_agentic_mlops.core.state import current_revision, head_revision, migrate_schema

    engine = sa.create_engine(pg_url)
    try:
        with advisory_locks_between_transactions(engine) as between:
            migrate_schema(engine)
        assert between == [] and advisory_locks_held(pg_url) == []
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
