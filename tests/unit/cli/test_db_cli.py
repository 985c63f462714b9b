"""``airflow agentic-mlops db migrate``: where the state store's migrations run (never in the triggerer)."""

from __future__ import annotations

import argparse

import sqlalchemy as sa

from airflow_provider_agentic_mlops.cli.commands.db import db_migrate
from airflow_provider_agentic_mlops.core.state import current_revision, default_sqlite_url, head_revision


def test_migrates_an_empty_store_to_the_head_then_says_nothing_to_do(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    args = argparse.Namespace(state_conn_id="agentic_mlops_state_default")
    db_migrate(args)
    assert "migrated from revision (empty)" in capsys.readouterr().out
    engine = sa.create_engine(default_sqlite_url(tmp_path))
    assert current_revision(engine) == head_revision()
    engine.dispose()
    db_migrate(args)
    assert "nothing to do" in capsys.readouterr().out
