"""``airflow agentic-mlops db migrate``: where the state store's migrations run (never in the triggerer)."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from airflow_provider_agentic_mlops.cli.commands.db import db_migrate
from airflow_provider_agentic_mlops.cli.definition import main
from airflow_provider_agentic_mlops.core import state
from airflow_provider_agentic_mlops.core.schema import decisions, jobs
from airflow_provider_agentic_mlops.core.state import StateStore, current_revision, default_sqlite_url, head_revision


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


def test_migrate_names_the_installed_provider_version_with_the_revision(tmp_path, monkeypatch, capsys) -> None:
    """Every wheel was 0.1.0: `db migrate` said a revision, not which provider version's newest it is, so an
    upgrade pip skipped ("already installed") went unnoticed."""
    from airflow_provider_agentic_mlops import __version__

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    args = argparse.Namespace(state_conn_id="agentic_mlops_state_default")
    db_migrate(args)
    assert f"to {head_revision()}, provider {__version__}'s newest." in capsys.readouterr().out
    db_migrate(args)
    assert (
        f"is at revision {head_revision()}, provider {__version__}'s newest; nothing to do" in capsys.readouterr().out
    )


def test_downgrade_names_the_provider_version_to_install(tmp_path, monkeypatch, capsys) -> None:
    """It said "install the provider version whose newest migration is 0007": which one is that?"""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    main(["db", "migrate"])
    capsys.readouterr()
    main(["db", "downgrade", "--to", "0007", "--yes"])
    out = capsys.readouterr().out
    assert "Now install provider 0.1.0 (its newest migration is 0007) on every component" in out, out
    assert "pip install --force-reinstall" in out


def test_names_the_database_it_migrated_without_its_password(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    db_migrate(argparse.Namespace(state_conn_id="agentic_mlops_state_default"))
    assert f"sqlite:///{tmp_path / 'agentic_mlops.db'}" in capsys.readouterr().out
    monkeypatch.setenv(
        "AIRFLOW_CONN_STATE_PG",
        '{"conn_type": "postgres", "host": "127.0.0.1", "port": 1, "login": "agent", "password": "s3cret"}',
    )
    with pytest.raises(Exception):  # noqa: B017, PT011 - nothing listens there; the message matters
        db_migrate(argparse.Namespace(state_conn_id="state_pg"))
    printed = capsys.readouterr()
    assert "agent:***@127.0.0.1:1" in printed.out and "s3cret" not in printed.out + printed.err


def test_a_connection_that_does_not_exist_is_an_error_not_a_new_store(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    with pytest.raises(SystemExit, match="'agentic_mlops_state_prd' does not exist"):
        main(["db", "migrate", "--state-conn-id", "agentic_mlops_state_prd"])
    assert not (tmp_path / "agentic_mlops.db").exists()


def test_a_store_of_a_newer_provider_is_a_clear_cli_error(tmp_path, monkeypatch) -> None:
    from airflow_provider_agentic_mlops.core.migrations import VERSION_TABLE

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    main(["db", "migrate"])
    engine = sa.create_engine(default_sqlite_url(tmp_path))
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0099_future'"))
        # and incompatible with this version: it raised the oldest code revision that can run on it
        conn.execute(sa.text("UPDATE agentic_mlops_schema_compat SET oldest_compatible_revision = '0099_future'"))
    engine.dispose()
    monkeypatch.setattr(state, "_migrated", set())  # as in a new process
    with pytest.raises(SystemExit, match="revision '0099_future', which this provider version does not know"):
        main(["db", "migrate"])


def test_a_store_a_newer_provider_migrated_compatibly_is_left_as_it_is(tmp_path, monkeypatch, capsys) -> None:
    """A newer provider's additive migration leaves the store's oldest compatible revision at this version's:
    ``db migrate`` of this version says so and succeeds, changing nothing."""
    from airflow_provider_agentic_mlops import __version__
    from airflow_provider_agentic_mlops.core.migrations import VERSION_TABLE

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    main(["db", "migrate"])
    engine = sa.create_engine(default_sqlite_url(tmp_path))
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0099_future'"))
    monkeypatch.setattr(state, "_migrated", set())  # as in a new process
    capsys.readouterr()
    main(["db", "migrate"])  # no SystemExit: exit code 0
    out = capsys.readouterr().out
    assert f"is at revision 0099_future, newer than provider {__version__}'s newest ({head_revision()})" in out
    assert "records that provider code from revision 0006 on can run on it" in out  # 0007 and 0008 are additive
    assert "nothing to do" in out
    assert current_revision(engine) == "0099_future"
    engine.dispose()


def test_commands_read_the_connections_kept_in_airflows_metadata_db(
    tmp_path, monkeypatch, capsys, cli_metadata_db
) -> None:
    """A shell is no Airflow server process: Airflow 3.2+ leaves its metadata DB out of a connection lookup
    there unless the command says it is one, as ``airflow connections get`` does."""
    import json
    import os

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    custom = tmp_path / "custom.db"
    cli_metadata_db.add_connection(
        "agentic_mlops_state_default", conn_type="agentic_mlops_state", extra=json.dumps({"url": f"sqlite:///{custom}"})
    )
    main(["db", "migrate"])
    assert f"sqlite:///{custom}" in capsys.readouterr().out
    assert custom.exists() and not (tmp_path / "agentic_mlops.db").exists()
    assert "_AIRFLOW_PROCESS_CONTEXT" not in os.environ  # put back for what runs next in this process


def test_a_metadata_db_airflow_never_set_up_is_named_with_the_command_that_sets_it_up(
    tmp_path, monkeypatch, cli_metadata_db
) -> None:
    import sqlalchemy as sa
    from airflow import settings

    empty = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setattr(settings, "engine", empty)
    monkeypatch.setattr(settings, "Session", sa.orm.scoped_session(sa.orm.sessionmaker(bind=empty)))
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    with pytest.raises(SystemExit, match="run `airflow db migrate` first"):
        main(["db", "migrate"])
    assert not (tmp_path / "agentic_mlops.db").exists()
    empty.dispose()


def test_a_reading_command_migrates_an_empty_store_at_first_use_as_the_readme_says(
    store_url, tmp_path, monkeypatch, capsys
) -> None:
    """Not only ``db migrate``: a CLI command's first use of a store brings it to the newest schema, as a
    worker's or the API server's does (the README says so; reading a store of an older schema would fail)."""
    import json

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(tmp_path / "models.yaml"))
    monkeypatch.setenv(
        "AIRFLOW_CONN_FRESH_STATE", json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": store_url}})
    )
    main(["decisions", "list", "--state-conn-id", "fresh_state"])
    assert capsys.readouterr().out.strip() == "(none)"
    engine = sa.create_engine(store_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_a_password_in_the_url_query_is_masked_too(tmp_path, monkeypatch, capsys) -> None:
    """libpq takes ``?password=``: hide_password masks only user:password@, so the query's was printed in clear."""
    import json

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    url = "postgresql+psycopg2://agent@127.0.0.1:18413/db?sslmode=disable&password=Secret123"
    monkeypatch.setenv("AIRFLOW_CONN_QPW", json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": url}}))
    with pytest.raises(SystemExit) as exc:  # nothing listens there
        main(["db", "migrate", "--state-conn-id", "qpw"])
    printed = capsys.readouterr()
    assert "127.0.0.1:18413/db?password=***&sslmode=disable" in printed.out  # SQLAlchemy sorts the query
    assert "Secret123" not in printed.out + printed.err + str(exc.value.code)


def test_a_relative_sqlite_path_is_shown_resolved_with_a_warning(tmp_path, monkeypatch, capsys) -> None:
    """``sqlite:///rel.db`` opens rel.db in whatever folder a process starts in: another store per process."""
    import json

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    conn = {"conn_type": "agentic_mlops_state", "extra": {"url": "sqlite:///rel.db"}}
    monkeypatch.setenv("AIRFLOW_CONN_SQLREL", json.dumps(conn))
    main(["db", "migrate", "--state-conn-id", "sqlrel"])
    printed = capsys.readouterr()
    assert f"State store sqlrel: sqlite:///{tmp_path / 'rel.db'}" in printed.out
    assert "warning: the SQLite path 'rel.db' of connection 'sqlrel' is relative" in printed.err
    assert "give an absolute path" in printed.err


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_driverless_postgres_url_uses_psycopg2_when_psycopg_is_absent(tmp_path, monkeypatch, scheme) -> None:
    """SQLAlchemy 2.1 reads ``postgresql://`` as psycopg (3), which the provider does not install: the URL
    was a ``ModuleNotFoundError`` traceback (``postgres://`` an unknown dialect). Nothing listens on the port:
    the error is the database's, through psycopg2."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv(
        "AIRFLOW_CONN_STATE_URL",
        f'{{"conn_type": "agentic_mlops_state", "extra": {{"url": "{scheme}://agent:s3cret@127.0.0.1:18401/db"}}}}',
    )
    with pytest.raises(SystemExit) as exc:
        main(["db", "migrate", "--state-conn-id", "state_url"])
    message = str(exc.value)
    assert message.startswith("error: the state store (connection 'state_url', ") and "OperationalError" in message
    assert "s3cret" not in message


def test_a_database_driver_that_is_not_installed_is_named_in_one_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv(
        "AIRFLOW_CONN_STATE_URL",
        '{"conn_type": "agentic_mlops_state", "extra": {"url": "postgresql+nosuchdriver://a@127.0.0.1:18401/db"}}',
    )
    with pytest.raises(SystemExit) as exc:
        main(["db", "migrate", "--state-conn-id", "state_url"])
    message = str(exc.value)
    assert message.startswith("error: the state store (connection 'state_url', ") and "\n" not in message
    assert "nosuchdriver" in message and "does not know" in message and "postgresql+psycopg2://" in message


def test_a_dbapi_module_that_is_not_installed_is_named_with_what_to_install(tmp_path, monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_psycopg(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if name == "psycopg" or name.startswith("psycopg."):
            raise ModuleNotFoundError("No module named 'psycopg'", name="psycopg")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psycopg)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv(
        "AIRFLOW_CONN_STATE_URL",
        '{"conn_type": "agentic_mlops_state", "extra": {"url": "postgresql+psycopg://a@127.0.0.1:18401/db"}}',
    )
    for command in (["db", "migrate"], ["jobs", "list"]):
        with pytest.raises(SystemExit) as exc:
            main([*command, "--state-conn-id", "state_url"])
        message = str(exc.value)
        assert message.startswith("error: the state store (connection 'state_url', ") and "\n" not in message
        assert "'psycopg'" in message and "pip install" in message and "postgresql+psycopg2://" in message


def test_downgrade_goes_back_one_revision_and_migrate_brings_it_up_again(tmp_path, monkeypatch, capsys) -> None:
    """A rollback of the provider: ``db downgrade --to`` the older release's head with this version installed,
    its rows kept; ``db migrate`` brings the store back up."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    main(["db", "migrate"])
    state.StateStore(default_sqlite_url(tmp_path)).record_decision("m", mode="rules", final_action="none")
    engine = sa.create_engine(default_sqlite_url(tmp_path))
    capsys.readouterr()
    main(["db", "downgrade", "--to", "0005", "--yes"])
    out = capsys.readouterr().out
    assert f"State store agentic_mlops_state_default: sqlite:///{tmp_path / 'agentic_mlops.db'}" in out
    assert f"downgraded from revision {head_revision()} to 0005" in out
    assert current_revision(engine) == "0005"
    assert "agentic_mlops_schema_compat" not in sa.inspect(engine).get_table_names()
    main(["db", "downgrade", "--to", "0005", "--yes"])
    assert "is at revision 0005 already; nothing to do" in capsys.readouterr().out
    monkeypatch.setattr(state, "_migrated", set())  # as in a new process
    main(["db", "migrate"])
    assert f"migrated from revision 0005 to {head_revision()}" in capsys.readouterr().out
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT final_action FROM agentic_mlops_decisions")).scalars().all() == ["none"]
    engine.dispose()


def test_downgrade_runs_under_the_migration_lock(tmp_path, monkeypatch) -> None:
    from airflow_provider_agentic_mlops.core import locks

    taken: list[str] = []
    real = locks.locked_transaction

    def spy(engine, scope, **kwargs):  # noqa: ANN001, ANN003, ANN202
        taken.append(scope)
        return real(engine, scope, **kwargs)

    monkeypatch.setattr(state, "locked_transaction", spy)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    main(["db", "migrate"])
    taken.clear()
    main(["db", "downgrade", "--to", "0005", "--yes"])
    assert taken == ["migrate"]


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("0042", "revision '0042' is not one of this provider version's migrations (0001, 0002_slack_replay, "),
        ("0099", "revision '0099' is not one of this provider version's migrations"),
    ],
)
def test_downgrade_to_an_unknown_revision_is_refused_naming_the_known_ones(tmp_path, monkeypatch, to, expected) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    main(["db", "migrate"])
    with pytest.raises(SystemExit) as exc:
        main(["db", "downgrade", "--to", to, "--yes"])
    assert str(exc.value).startswith(f"error: {expected}")
    assert head_revision() in str(exc.value)
    assert "each provider version's newest: 0.1.0: 0007, " in str(exc.value)  # which revision to give
    engine = sa.create_engine(default_sqlite_url(tmp_path))
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_downgrade_to_a_newer_revision_than_the_store_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    main(["db", "migrate"])
    main(["db", "downgrade", "--to", "0004", "--yes"])
    with pytest.raises(SystemExit, match=r"error: .* is at revision 0004, older than 0005: .*db migrate"):
        main(["db", "downgrade", "--to", "0005", "--yes"])


def test_downgrade_asks_first_and_refuses_without_a_terminal(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    main(["db", "migrate"])
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(SystemExit, match="error: refusing to downgrade .* without confirmation: pass --yes"):
        main(["db", "downgrade", "--to", "0005"])
    engine = sa.create_engine(default_sqlite_url(tmp_path))
    assert current_revision(engine) == head_revision()
    engine.dispose()


def _old_history(tmp_path) -> StateStore:  # noqa: ANN001
    """The default store with two year-old decisions of model a (the older is due) and one audit entry."""
    old = state.utcnow() - timedelta(days=400)
    store = StateStore(default_sqlite_url(tmp_path))
    with store.engine.begin() as conn:
        for _ in range(2):
            conn.execute(
                decisions.insert().values(model_name="a", created_at=old, mode="rules", final_action="no_action")
            )
    store.audit(actor="t", action="decision", model_name="a", subject="1", details={})
    return store


def _decision_ids(store: StateStore) -> list[int]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(decisions.c.id).order_by(decisions.c.id)).scalars())


def test_prune_dry_run_says_per_table_what_would_go_and_deletes_nothing(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    store = _old_history(tmp_path)
    main(["db", "prune", "--older-than", "365d", "--dry-run"])
    out = " ".join(capsys.readouterr().out.split())
    assert "decisions: 1 would be deleted" in out and "jobs: 0 would be deleted" in out
    assert "approval votes: 0 would be deleted" in out and "audit" in out and "append-only" in out
    assert _decision_ids(store) == [1, 2]
    store.dispose()


def test_prune_asks_first_refuses_without_a_terminal_and_deletes_with_yes(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    store = _old_history(tmp_path)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(SystemExit, match="error: refusing to prune state store .* without confirmation: pass --yes"):
        main(["db", "prune", "--older-than", "365d"])
    assert _decision_ids(store) == [1, 2]
    main(["db", "prune", "--older-than", "365d", "--yes"])
    out = " ".join(capsys.readouterr().out.split())
    assert "decisions: 1 deleted" in out and "audit entries: never deleted" in out
    assert _decision_ids(store) == [2]  # the model's newest stays
    store.dispose()


def test_a_prune_is_recorded_in_the_audit_trail_before_and_after_it_deletes(tmp_path, monkeypatch, capsys) -> None:
    """The trail is the record of what the agent and people did: rows deleted from the store say so there, with
    who, the cutoff and the counts; the entry before deleting stays if the prune stops half-way. A dry run and a
    prune with nothing due record nothing. ``decisions show`` of a pruned id points at the prune."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setattr("airflow_provider_agentic_mlops.cli.commands.approvals.os_user", lambda: "ops")
    store = _old_history(tmp_path)
    main(["db", "prune", "--older-than", "365d", "--dry-run"])
    assert [e["action"] for e in store.audit_trail()] == ["decision"]
    main(["db", "prune", "--older-than", "365d", "--yes"])
    started, pruned = sorted(
        (e for e in store.audit_trail() if e["action"].startswith("history_prune")), key=lambda e: e["id"]
    )
    assert (started["action"], pruned["action"]) == ("history_prune_started", "history_pruned")
    assert started["actor"] == pruned["actor"] == "cli:ops"
    assert started["details"]["due"]["decisions"] == 1 and pruned["details"]["deleted"]["decisions"] == 1
    assert (
        started["details"]["older_than_seconds"] == 365 * 86400
        and pruned["details"]["cutoff"] == started["details"]["cutoff"]
    )
    main(["db", "prune", "--older-than", "365d", "--yes"])  # nothing left to delete
    assert len([e for e in store.audit_trail() if e["action"].startswith("history_prune")]) == 2
    capsys.readouterr()
    assert started["details"]["cutoff"].endswith("+00:00")  # the CLI's times are ISO 8601 with their offset
    with pytest.raises(SystemExit, match=r"decision 1 is not in the state store(.|\n)*history_pruned"):
        main(["decisions", "show", "1"])
    with pytest.raises(SystemExit) as never_issued:  # newer than the newest decision, which a prune keeps
        main(["decisions", "show", "3"])
    assert "decision 3 is not in the state store" in str(never_issued.value) and "pruned" not in str(never_issued.value)
    store.dispose()


def _seeded(tmp_path, n: int) -> StateStore:  # noqa: ANN001
    """The default store with ``n`` year-old decisions of model a (all but the newest due)."""
    old = state.utcnow() - timedelta(days=400)
    store = StateStore(default_sqlite_url(tmp_path))
    with store.engine.begin() as conn:
        for _ in range(n):
            conn.execute(
                decisions.insert().values(model_name="a", created_at=old, mode="rules", final_action="no_action")
            )
    return store


def test_a_prune_that_stops_half_way_says_rows_may_already_be_deleted(tmp_path, monkeypatch) -> None:
    """A prune that deleted some batches before the store failed is not "the store is unavailable" alone: the
    operator learns rows already went and to run it again; ``decisions show`` of a deleted id names the prune that
    began."""
    from airflow_provider_agentic_mlops.core import retention

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    store = _seeded(tmp_path, 6)
    real = retention._in_batches
    batches = {"n": 0}

    def one_batch_then_the_store_drops(engine, table, due, delete, batch_size):  # noqa: ANN001, ANN202
        def deleting(conn, where):  # noqa: ANN001, ANN202
            batches["n"] += 1
            if batches["n"] > 1:
                raise sa.exc.OperationalError("DELETE", {}, Exception("server closed the connection unexpectedly"))
            return delete(conn, where)

        return real(engine, table, due, deleting, 2)

    monkeypatch.setattr(retention, "_in_batches", one_batch_then_the_store_drops)
    with pytest.raises(SystemExit) as stopped:
        main(["db", "prune", "--older-than", "365d", "--yes"])
    said = str(stopped.value)
    assert "the prune stopped after it began: some rows may already be deleted; run it again to finish" in said
    assert "server closed the connection unexpectedly" in said
    assert _decision_ids(store) == [3, 4, 5, 6]
    with pytest.raises(SystemExit) as gone:
        main(["decisions", "show", "1"])
    assert "A prune began at" in str(gone.value) and "may not have finished" in str(gone.value)

    monkeypatch.setattr(retention, "_in_batches", real)
    main(["db", "prune", "--older-than", "365d", "--yes"])  # run again: it finishes
    assert _decision_ids(store) == [6]
    with pytest.raises(SystemExit) as gone:
        main(["decisions", "show", "1"])
    assert "was pruned at" in str(gone.value) and "may not have finished" not in str(gone.value)
    store.dispose()


def test_a_prune_whose_completion_is_not_recorded_still_prints_what_it_deleted(tmp_path, monkeypatch, capsys) -> None:
    """Only the final ``history_pruned`` audit write failed: the rows are gone, so the counts are printed, with a
    warning that the trail does not record the completion (not "the store is unavailable")."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    store = _seeded(tmp_path, 4)
    real = StateStore.audit

    def audit(self, action, **kw):  # noqa: ANN001, ANN202
        if action == "history_pruned":
            raise sa.exc.OperationalError("INSERT", {}, Exception("could not write to the audit table"))
        return real(self, action, **kw)

    monkeypatch.setattr(StateStore, "audit", audit)
    main(["db", "prune", "--older-than", "365d", "--yes"])
    out, err = capsys.readouterr()
    assert "decisions: 3 deleted" in " ".join(out.split())
    assert "completion was not recorded" in err and "could not write to the audit table" in err
    assert "unavailable" not in out + err
    assert _decision_ids(store) == [4]
    store.dispose()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9999999999d", "longer than the longest accepted, 36525d"),
        ("7", "is not a duration"),
        ("0d", "positive"),
        ("1h", "shorter than the shortest accepted, 7d"),
        ("6d", "shorter than the shortest accepted, 7d"),
    ],
)
def test_prune_refuses_an_older_than_it_cannot_use_naming_it(tmp_path, monkeypatch, capsys, value, expected) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as exc:
        main(["db", "prune", f"--older-than={value}", "--yes"])
    assert exc.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"argument --older-than: --older-than {value!r}" in err and expected in err


def _store_with_jobs_finished_days_ago(tmp_path, monkeypatch, *days: int) -> StateStore:
    """The default SQLite store under ``tmp_path`` (the AIRFLOW_HOME), with a succeeded job of model ``a`` that
    started and finished each of ``days`` days ago."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    store = StateStore(default_sqlite_url(tmp_path))
    now = state.utcnow()
    with store.engine.begin() as conn:
        for ago in days:
            at = now - timedelta(days=ago)
            conn.execute(
                jobs.insert().values(model_name="a", status="succeeded", started_at=at, heartbeat_at=at, finished_at=at)
            )
    return store


def test_prune_keeps_the_jobs_the_retrain_budget_counts_and_says_so(tmp_path, monkeypatch, capsys) -> None:
    store = _store_with_jobs_finished_days_ago(tmp_path, monkeypatch, 20, 1)  # 20 days: in a 30-day budget window
    entry = {
        "name": "a",
        "drift": {"reference": "r.parquet", "current": "c.parquet", "label_column": "y"},
        "retrain": {"trigger_dag_id": "train_a"},
        "decision": {"budget_window_hours": 720},
    }
    models = tmp_path / "models.yaml"
    models.write_text(json.dumps({"models": [entry]}))
    main(["db", "prune", "--older-than", "7d", "--dry-run", "--models-file", str(models)])
    out = " ".join(capsys.readouterr().out.split())
    assert "jobs: 0 would be deleted" in out and "the retrain budget counts them" in out
    models.write_text(json.dumps({"models": [{**entry, "decision": {"budget_window_hours": 24}}]}))
    main(["db", "prune", "--older-than", "7d", "--dry-run", "--models-file", str(models)])
    assert "jobs: 1 would be deleted" in " ".join(capsys.readouterr().out.split())
    # no models file: the budget windows are unknown, so no job of the last ten years goes
    main(["db", "prune", "--older-than", "7d", "--dry-run"])
    printed = capsys.readouterr()
    assert "jobs: 0 would be deleted" in " ".join(printed.out.split()) and "pass --models-file" in printed.err
    store.dispose()


def test_prune_keeps_every_recent_job_when_an_entry_of_the_models_file_is_invalid(
    tmp_path, monkeypatch, capsys
) -> None:
    """A broken entry's budget_window_hours is unknown (its DAG runs its last valid entry, maybe a longer
    window): no job of the last ten years goes, said on stderr naming the entry."""
    # the older one is the budget's of the broken entry's 30-day window
    store = _store_with_jobs_finished_days_ago(tmp_path, monkeypatch, 20, 1)
    entry = {
        "name": "a",
        "drift": {"reference": "r.parquet", "current": "c.parquet", "label_column": "y"},
        "retrain": {"trigger_dag_id": "train_a"},
        "decision": {"budget_window_hours": 720, "max_retrains": "two"},
    }
    valid = {**entry, "name": "b", "decision": {"budget_window_hours": 24}}
    models = tmp_path / "models.yaml"
    models.write_text(json.dumps({"models": [entry, valid]}))
    main(["db", "prune", "--older-than", "7d", "--dry-run", "--models-file", str(models)])
    printed = capsys.readouterr()
    assert "jobs: 0 would be deleted" in " ".join(printed.out.split())
    err = " ".join(printed.err.split())
    assert "'a'" in err and "invalid" in err and "no retraining job started in the last 10 years" in err
    store.dispose()
