"""Alembic environment of the state store; run by ``StateStore`` through alembic's API."""

from __future__ import annotations

from alembic import context

from airflow_provider_agentic_mlops.core.migrations import VERSION_TABLE
from airflow_provider_agentic_mlops.core.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
