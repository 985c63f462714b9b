"""Alembic migrations of the state store."""

# Never Airflow's ``alembic_version``: the store may share a PostgreSQL database with Airflow.
VERSION_TABLE = "agentic_mlops_alembic_version"
