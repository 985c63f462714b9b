"""``airflow agentic-mlops db migrate``: bring the state store's schema to the newest revision."""

from __future__ import annotations

import argparse
import sys


def db_migrate(args: argparse.Namespace) -> None:
    """Apply the state store's Alembic migrations (run it after upgrading the provider, like
    ``airflow db migrate``). Workers, the API server and the other CLI commands (reading ones too) also
    migrate on first use; the triggerer never does."""
    from sqlalchemy.exc import SQLAlchemyError

    from airflow_provider_agentic_mlops.core.state import create_engine, current_revision, head_revision, migrate_schema
    from airflow_provider_agentic_mlops.hooks.state import (
        relative_sqlite_path,
        resolve_state_url,
        shown_url,
        store_unavailable,
    )
    from airflow_provider_agentic_mlops.settings import configured_migration_lock_timeout, configured_state_conn_id

    conn_id = args.state_conn_id or configured_state_conn_id()
    url = resolve_state_url(conn_id)
    # which database, before touching it: the answer to "did it migrate the store I meant?"
    print(f"State store {conn_id}: {shown_url(url)}")
    relative = relative_sqlite_path(url)
    if relative is not None:
        print(
            f"warning: the SQLite path {relative!r} of connection {conn_id!r} is relative: each process reads it "
            "against its own working directory, so the scheduler, workers and API server may each open another "
            "file; give an absolute path (sqlite:////absolute/path.db)",
            file=sys.stderr,
        )
    try:  # an unreachable or missing database, a URL that does not parse: said as the hook says it
        engine = create_engine(url)
        try:
            before = current_revision(engine)
            migrate_schema(engine, lock_timeout=configured_migration_lock_timeout())
            after = current_revision(engine)
        finally:
            engine.dispose()
    except (SQLAlchemyError, ImportError) as err:  # ImportError: the URL's DBAPI module is not installed
        raise store_unavailable(conn_id, url, err) from err
    head = head_revision()
    if before == after:
        print(f"State store ({conn_id}) is at revision {after}, the newest ({head}); nothing to do.")
    else:
        print(f"State store ({conn_id}) migrated from revision {before or '(empty)'} to {after}.")
