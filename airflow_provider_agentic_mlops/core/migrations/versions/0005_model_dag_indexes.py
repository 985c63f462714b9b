"""Indexes by model and DAG: listing the models and their DAGs reads one index entry per pair, not every row.

``models_and_dags`` (the overview's list of models, before it pages) asks each of the decisions, approvals
and jobs for its distinct ``(model_name, dag_id)`` and the newest row of each. Without an index on those
columns that is a scan of the whole table, which grows with every run of every model's DAG. With
``(model_name, dag_id, id)`` it steps from one entry to the next in the index (one search per model and
DAG) and reads the newest id of each at the end of its range.

On an existing store the indexes are built when the store is first migrated to this revision; PostgreSQL
blocks writes to the table while it builds (a few seconds at a million decisions).

Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"

TABLES = ("agentic_mlops_decisions", "agentic_mlops_approvals", "agentic_mlops_jobs")


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_model_dag", table, ["model_name", "dag_id", "id"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_model_dag", table_name=table)
