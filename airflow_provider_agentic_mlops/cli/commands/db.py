"""``airflow agentic-mlops db migrate``, ``db downgrade`` and ``db prune``: move the state store's schema to the
newest revision, or back to an older provider version's; delete old history (:mod:`core.retention`)."""

from __future__ import annotations

import argparse
import functools
import sys
from datetime import timedelta, timezone


def _named_store(args: argparse.Namespace) -> tuple[str, str]:
    """The connection id and URL of the store ``args`` names, printed first (passwords masked): the answer to
    "did it change the store I meant?", with a warning for a relative SQLite path."""
    from airflow_provider_agentic_mlops.hooks.state import relative_sqlite_path, resolve_state_url, shown_url
    from airflow_provider_agentic_mlops.settings import configured_state_conn_id

    conn_id = args.state_conn_id or configured_state_conn_id()
    url = resolve_state_url(conn_id)
    print(f"State store {conn_id}: {shown_url(url)}")
    relative = relative_sqlite_path(url)
    if relative is not None:
        print(
            f"warning: the SQLite path {relative!r} of connection {conn_id!r} is relative: each process reads it "
            "against its own working directory, so the scheduler, workers and API server may each open another "
            "file; give an absolute path (sqlite:////absolute/path.db)",
            file=sys.stderr,
        )
    return conn_id, url


def db_migrate(args: argparse.Namespace) -> None:
    """Apply the state store's Alembic migrations (run it after upgrading the provider, like
    ``airflow db migrate``). Workers, the API server and the other CLI commands (reading ones too) also
    migrate on first use; the triggerer never does. A store a newer provider migrated, and that records this
    version can still run on it, is left as it is (exit code 0)."""
    from sqlalchemy.exc import SQLAlchemyError

    from airflow_provider_agentic_mlops.core.state import (
        create_engine,
        current_revision,
        head_revision,
        migrate_schema,
        oldest_compatible_revision,
    )
    from airflow_provider_agentic_mlops.hooks.state import store_unavailable
    from airflow_provider_agentic_mlops.settings import configured_migration_lock_timeout

    conn_id, url = _named_store(args)
    try:  # an unreachable or missing database, a URL that does not parse: said as the hook says it
        engine = create_engine(url)
        try:
            before = current_revision(engine)
            migrate_schema(engine, lock_timeout=configured_migration_lock_timeout())
            after = current_revision(engine)
            head = head_revision()
            if after != head:  # a newer provider's, and compatible with this one (an incompatible one was refused)
                with engine.connect() as conn:
                    oldest = oldest_compatible_revision(conn)
        finally:
            engine.dispose()
    except (SQLAlchemyError, ImportError) as err:  # ImportError: the URL's DBAPI module is not installed
        raise store_unavailable(conn_id, url, err) from err
    from airflow_provider_agentic_mlops import __version__

    ours = f"provider {__version__}'s newest"
    if after != head:
        print(
            f"State store ({conn_id}) is at revision {after}, newer than {ours} ({head}): a newer provider version "
            f"migrated it, and it records that provider code from revision {oldest} on can run on it; nothing to do "
            "(install the newer provider here to migrate it further)."
        )
    elif before == after:
        print(f"State store ({conn_id}) is at revision {after}, {ours}; nothing to do.")
    else:
        print(f"State store ({conn_id}) migrated from revision {before or '(empty)'} to {after}, {ours}.")


def db_downgrade(args: argparse.Namespace) -> None:
    """Run the migrations' ``downgrade()`` down to ``args.to`` (asks first unless ``--yes``), under the
    migration lock: the first step of rolling the provider back, taken with this (the newer) version installed.
    What the later migrations added is dropped."""
    from sqlalchemy.exc import SQLAlchemyError

    from airflow_provider_agentic_mlops.cli.output import confirm
    from airflow_provider_agentic_mlops.core.state import (
        check_downgrade,
        create_engine,
        current_revision,
        downgrade_schema,
    )
    from airflow_provider_agentic_mlops.hooks.state import store_unavailable
    from airflow_provider_agentic_mlops.settings import configured_migration_lock_timeout

    conn_id, url = _named_store(args)
    try:
        engine = create_engine(url)
        try:
            current = current_revision(engine)
            if not check_downgrade(current, args.to):
                print(f"State store ({conn_id}) is at revision {args.to} already; nothing to do.")
                return
            confirm(
                f"Downgrade state store {conn_id} from revision {current} to {args.to}? What the later migrations "
                "added is dropped, with its rows",
                yes=getattr(args, "yes", False),
                action=f"downgrade state store {conn_id}",
                cancelled="cancelled; nothing changed",
            )
            before = downgrade_schema(engine, args.to, lock_timeout=configured_migration_lock_timeout())
        finally:
            engine.dispose()
    except (SQLAlchemyError, ImportError) as err:
        raise store_unavailable(conn_id, url, err) from err
    print(
        f"State store ({conn_id}) downgraded from revision {before} to {args.to}. Now install {_version_at(args.to)} "
        "on every component (`pip install --force-reinstall` when pip has that version already: it skips an "
        "installed version): any process of this version that opens the store migrates it up again."
    )


#: What ``db prune`` says of the audit trail, which it never touches.
AUDIT_KEPT = "audit entries: never deleted (the audit trail is append-only by design: its guard refuses DELETE)"


def _budget_window(args: argparse.Namespace) -> timedelta:
    """The longest retrain budget window of the models file (``--models-file``, else the configured one); ten
    years, said on stderr, when it cannot be read or an entry is invalid: the jobs the budget counts are unknown
    then (a broken entry's DAG runs its last valid entry, whose window this process cannot see)."""
    from airflow_provider_agentic_mlops.cli.commands.models import cli_models_file
    from airflow_provider_agentic_mlops.core.config import MAX_HOURS, ConfigError, read_models_file
    from airflow_provider_agentic_mlops.core.retention import longest_budget_window

    explicit = getattr(args, "models_file", None)
    kept = (
        f"no retraining job started in the last {MAX_HOURS // 24 // 366} years is deleted (the retrain budget "
        "counts them)"
    )
    try:
        entries = read_models_file(cli_models_file(explicit, must_exist=bool(explicit)))
    except (ConfigError, OSError) as err:
        print(
            f"warning: the models file could not be read ({err}); without the models' budget_window_hours, "
            f"{kept}: pass --models-file",
            file=sys.stderr,
        )
        return timedelta(hours=MAX_HOURS)
    if entries.errors:
        print(
            f"warning: the models file has invalid entries ({', '.join(map(repr, sorted(entries.errors)))}: "
            "`airflow agentic-mlops models validate` says why); without their budget_window_hours, "
            f"{kept}: fix them",
            file=sys.stderr,
        )
        return timedelta(hours=MAX_HOURS)
    return longest_budget_window(entries.specs)


def db_prune(args: argparse.Namespace) -> None:
    """Delete the history older than ``args.older_than`` (asks first unless ``--yes``; ``--dry-run`` only counts),
    printing per table how many rows were (or would be) deleted. What stays whatever its age:
    :mod:`~airflow_provider_agentic_mlops.core.retention`."""
    from sqlalchemy.exc import SQLAlchemyError

    from airflow_provider_agentic_mlops.cli.commands.approvals import os_user
    from airflow_provider_agentic_mlops.cli.output import confirm
    from airflow_provider_agentic_mlops.cli.state_stores import open_store
    from airflow_provider_agentic_mlops.core.errors import describe
    from airflow_provider_agentic_mlops.core.retention import prune_history
    from airflow_provider_agentic_mlops.core.state import utcnow
    from airflow_provider_agentic_mlops.hooks.state import store_unavailable

    dry_run = bool(getattr(args, "dry_run", False))
    conn_id, url = _named_store(args)
    now = utcnow()
    cutoff, counted_since = now - args.older_than, now - _budget_window(args)
    older = int(args.older_than.total_seconds())
    print(f"History older than {cutoff:%Y-%m-%d %H:%M} UTC:")
    if counted_since < cutoff:
        print(f"  (jobs started since {counted_since:%Y-%m-%d %H:%M} UTC stay: the retrain budget counts them)")
    store = open_store(conn_id)
    began, unrecorded = False, None
    prune = functools.partial(prune_history, store.engine, cutoff, jobs_counted_since=counted_since)
    try:
        result = prune(dry_run=True)
        if not dry_run and result.total:
            confirm(
                f"Delete {result.total} rows of state store {conn_id} ("
                + ", ".join(f"{count} {table.replace('_', ' ')}" for table, count in result.counts.items() if count)
                + ")? They cannot be restored",
                yes=getattr(args, "yes", False),
                action=f"prune state store {conn_id}",
                cancelled="cancelled; nothing deleted",
            )
            # the trail records the prune before anything goes (it stays if the prune stops half-way) and after
            actor, when = (
                f"cli:{os_user()}",
                {"cutoff": cutoff.replace(tzinfo=timezone.utc).isoformat(), "older_than_seconds": older},
            )
            store.audit("history_prune_started", actor=actor, details={**when, "due": result.counts})
            began = True
            result = prune()
            try:
                store.audit("history_pruned", actor=actor, details={**when, "deleted": result.counts})
            except SQLAlchemyError as err:  # the rows are gone: say what went, and that the trail misses it
                unrecorded = err
    except SQLAlchemyError as err:
        unavailable = store_unavailable(conn_id, url, err)
        if began:  # batches already committed may have deleted rows
            raise type(unavailable)(
                f"the prune stopped after it began: some rows may already be deleted; run it again to finish "
                f"({unavailable})"
            ) from err
        raise unavailable from err
    finally:
        store.dispose()
    done = "would be deleted" if dry_run else "deleted"
    for table, count in result.counts.items():
        print(f"  {table.replace('_', ' ')}: {count} {done}")
    print(f"  {AUDIT_KEPT}")
    if unrecorded is not None:
        print(
            f"warning: the prune finished but its completion was not recorded in the audit trail "
            f"(history_pruned: {describe(unrecorded)}); its history_prune_started entry says it began",
            file=sys.stderr,
        )


def _version_at(revision: str) -> str:
    """Which provider version to install after a downgrade to ``revision``, as the advice names it."""
    from airflow_provider_agentic_mlops.core.migrations import provider_versions_of

    versions = provider_versions_of(revision)
    if not versions:
        return f"the provider version whose newest migration is {revision}"
    return f"provider {' or '.join(versions)} (its newest migration is {revision})"
