"""Jobs, decisions, approvals, votes and the append-only audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

from airflow_provider_agentic_mlops.core import schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = [schema.jobs, schema.decisions, schema.approvals, schema.approval_votes, schema.audit]


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)  # creates its indexes too, the partial unique index included
    if bind.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER agentic_mlops_audit_no_{verb.lower()} BEFORE {verb} ON agentic_mlops_audit "
                "BEGIN SELECT RAISE(ABORT, 'agentic_mlops_audit is append-only'); END"
            )
    elif bind.dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION agentic_mlops_audit_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'agentic_mlops_audit is append-only'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER agentic_mlops_audit_append_only BEFORE UPDATE OR DELETE ON agentic_mlops_audit "
            "FOR EACH ROW EXECUTE FUNCTION agentic_mlops_audit_append_only()"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS agentic_mlops_audit_append_only ON agentic_mlops_audit")
        op.execute("DROP FUNCTION IF EXISTS agentic_mlops_audit_append_only()")
    for table in reversed(_TABLES):
        table.drop(bind)
