"""PostgreSQL refuses ``TRUNCATE`` of the audit trail, as it refuses ``UPDATE`` and ``DELETE``.

0001 guards ``agentic_mlops_audit`` with a ``FOR EACH ROW`` trigger, which ``TRUNCATE`` never fires: one
``TRUNCATE agentic_mlops_audit`` emptied the append-only trail. This adds a ``BEFORE TRUNCATE ... FOR EACH
STATEMENT`` trigger calling the same function, so it fails with the same message (``agentic_mlops_audit is
append-only``). SQLite has no ``TRUNCATE`` (its ``DELETE`` without ``WHERE`` fires the row trigger there).

Additive (older code never truncates the trail): the compatibility record stays. The downgrade drops this
trigger only; 0001's row trigger and its function stay.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # agentic_mlops_audit_append_only() (0001) raises 'agentic_mlops_audit is append-only' whatever the event
    op.execute(
        "CREATE TRIGGER agentic_mlops_audit_no_truncate BEFORE TRUNCATE ON agentic_mlops_audit "
        "FOR EACH STATEMENT EXECUTE FUNCTION agentic_mlops_audit_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS agentic_mlops_audit_no_truncate ON agentic_mlops_audit")
