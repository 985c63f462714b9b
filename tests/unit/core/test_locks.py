"""core/locks.py: the cross-process lock is released however the locked work ends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from airflow_provider_agentic_mlops.core.locks import advisory_key, cross_process_lock


def test_an_aborted_transaction_in_the_locked_work_still_releases_the_postgresql_lock(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    other = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    try:
        with (
            pytest.raises(sa.exc.ProgrammingError),
            cross_process_lock(engine, "alerts", "agentic_mlops__churn") as conn,
        ):
            conn.execute(sa.text("SELECT * FROM no_such_table"))  # aborts the work's transaction
        # the pooled connection went back to the pool: the lock must not have gone with it
        with other.connect() as probe:
            key = advisory_key("alerts", "agentic_mlops__churn")
            assert probe.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar() is True
            probe.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        engine.dispose()
        other.dispose()


def test_the_locked_work_runs_on_the_yielded_connection_on_sqlite(tmp_path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    with cross_process_lock(engine, "alerts", "x") as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    assert (tmp_path / "meta.db.alerts.lock").exists()
    engine.dispose()
