"""``airflow agentic-mlops db migrate``: bring the state store's schema to the newest revision."""

from __future__ import annotations

import argparse
import sys


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
            head = head_revision()
            if after != head:  # a newer provider's, and compatible with this one (an incompatible one was refused)
                with engine.connect() as conn:
                    oldest = oldest_compatible_revision(conn)
        finally:
            engine.dispose()
    except (SQLAlchemyError, ImportError) as err:  # ImportError: the URL's DBAPI module is not installed
        raise store_unavailable(conn_id, url, err) from err
    if after != head:
        print(
            f"State store ({conn_id}) is at revision {after}, newer than this provider's newest ({head}): a newer "
            f"provider version migrated it, and it records that provider code from revision {oldest} on can run on "
            "it; nothing to do (install the newer provider here to migrate it further)."
        )
    elif before == after:
        print(f"State store ({conn_id}) is at revision {after}, the newest ({head}); nothing to do.")
    else:
        print(f"State store ({conn_id}) migrated from revision {before or '(empty)'} to {after}.")
