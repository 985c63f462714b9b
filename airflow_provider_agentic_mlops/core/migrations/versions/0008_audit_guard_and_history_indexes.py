"""The audit trail refuses ``TRUNCATE`` on PostgreSQL, and two indexes keep the pages' reads of a long history short.

**TRUNCATE.** 0001 guards ``agentic_mlops_audit`` with a ``FOR EACH ROW`` trigger, which ``TRUNCATE`` never
fires: one ``TRUNCATE agentic_mlops_audit`` emptied the append-only trail. A ``BEFORE TRUNCATE ... FOR EACH
STATEMENT`` trigger calls the same function, so it fails with the same message (``agentic_mlops_audit is
append-only``). SQLite has no ``TRUNCATE`` (its ``DELETE`` without ``WHERE`` fires the row trigger there).

**The audit trail by model, action and id.** The overview (``model_summaries``), the model page's champion lineage
and the promotion's checks (``last_audit``, ``audit_after``) ask for a model's newest audit entries of a few
actions (``promoted``, ``rollback``, ...). The trail's only index by model was ``(model_name, at)``, so each of
those reads walked every entry of the model (two million rows at a year of hourly runs of 200 models) and kept the
few of those actions.

**The decisions by model, DAG, DAG run and id.** A retried or cleared ``decide`` records a second decision of its
DAG run, and only the run's newest stands: ``decisions list/show``, the decision page and the model page's runs
ask, for each decision they show, for the newest later decision of the same run. The index by model and DAG (0005)
has no run, so each lookup read the DAG's later decisions (0.37 s a page back at 8,000 decisions on SQLite, 0.54 s
for ``decisions list --limit 2000``; 0.006 s and 0.03 s with this index).

On an existing store the indexes are built when the store is first migrated to this revision; PostgreSQL blocks
writes to the two tables while they build (a few seconds at two million rows). Additive (a trigger older code
never meets, indexes it ignores): the compatibility record stays. The downgrade drops these three only.

Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"

#: (index, table, columns)
INDEXES = (
    ("ix_agentic_mlops_audit_model_action", "agentic_mlops_audit", ["model_name", "action", "id"]),
    ("ix_agentic_mlops_decisions_model_run", "agentic_mlops_decisions", ["model_name", "dag_id", "run_id", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    if op.get_bind().dialect.name == "postgresql":
        # agentic_mlops_audit_append_only() (0001) raises 'agentic_mlops_audit is append-only' whatever the event
        op.execute(
            "CREATE TRIGGER agentic_mlops_audit_no_truncate BEFORE TRUNCATE ON agentic_mlops_audit "
            "FOR EACH STATEMENT EXECUTE FUNCTION agentic_mlops_audit_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS agentic_mlops_audit_no_truncate ON agentic_mlops_audit")
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
