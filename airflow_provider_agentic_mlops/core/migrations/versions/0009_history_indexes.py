"""An index on the audit trail by model, action and id: a model's newest champion change is found, not searched.

The overview (``model_summaries``), the model page's champion lineage and the promotion's checks
(``last_audit``, ``audit_after``) ask for a model's newest audit entries of a few actions (``promoted``,
``rollback``, ...). The trail's only index by model was ``(model_name, at)``, so each of those reads walked every
entry of the model (a decision, an alert, ... per run: two million rows at a year of hourly runs of 200 models)
and kept the few of those actions. With ``(model_name, action, id)`` it reads just those entries.

On an existing store the index is built when the store is first migrated to this revision; PostgreSQL blocks
writes to the audit trail while it builds (a few seconds at two million entries).

Additive (an index older code ignores): the compatibility record stays.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEX = "ix_agentic_mlops_audit_model_action"
TABLE = "agentic_mlops_audit"


def upgrade() -> None:
    op.create_index(INDEX, TABLE, ["model_name", "action", "id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
