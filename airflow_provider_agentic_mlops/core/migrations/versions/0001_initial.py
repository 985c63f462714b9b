"""Jobs, decisions, approvals, votes and the append-only audit trail.

Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

# A frozen copy of core/schema.py at this revision: later schema changes go in new revisions, and
# tests/unit/core/test_state.py checks that the migrated database matches core/schema.py.
metadata = sa.MetaData()  # the tables as they are at revision 0001

# Jobs a model's DAG started (retraining). At most one `running` job per model: a partial
# unique index, so two concurrent triggers cannot both start one (no check-then-act race).
jobs = sa.Table(
    "agentic_mlops_jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(250), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False, server_default="retrain"),
    sa.Column("status", sa.String(16), nullable=False),  # running | succeeded | failed
    sa.Column("dag_id", sa.String(250)),
    sa.Column("run_id", sa.String(250)),
    sa.Column("decision_id", sa.Integer),
    sa.Column("external_ref", sa.String(500)),  # e.g. the triggered training DAG run id
    sa.Column("details", sa.JSON),
    sa.Column("result", sa.JSON),
    sa.Column("error", sa.Text),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("heartbeat_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Index(
        "uq_agentic_mlops_jobs_one_running_per_model",
        "model_name",
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    ),
    sa.Index("ix_agentic_mlops_jobs_model_started", "model_name", "started_at"),
)

# Every decision of the agent, with everything needed to explain it later.
decisions = sa.Table(
    "agentic_mlops_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(250), nullable=False),
    sa.Column("dag_id", sa.String(250)),
    sa.Column("run_id", sa.String(250)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),  # rules | llm
    sa.Column("decided_by", sa.String(16)),  # rules | llm | guardrail
    sa.Column("final_action", sa.String(32), nullable=False),
    sa.Column("llm_action", sa.String(32)),
    sa.Column("override_reason", sa.Text),
    sa.Column("rationale", sa.Text),
    sa.Column("confidence", sa.Float),
    sa.Column("evidence", sa.JSON),
    sa.Column("rules_fired", sa.JSON),
    sa.Column("inputs", sa.JSON),
    sa.Column("inputs_digest", sa.String(64)),
    sa.Column("prompt", sa.JSON),
    sa.Column("raw_answer", sa.Text),
    sa.Column("tool_calls", sa.JSON),
    sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("latency_ms", sa.Float),
    sa.Column("error", sa.Text),
    sa.Index("ix_agentic_mlops_decisions_model_created", "model_name", "created_at"),
)

# One approval request per (model, version, DAG run): re-running the sensor finds it again.
approvals = sa.Table(
    "agentic_mlops_approvals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(250), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("report_digest", sa.String(128)),
    sa.Column("status", sa.String(16), nullable=False),  # pending | approved | denied | expired
    sa.Column("required_approvals", sa.Integer, nullable=False, server_default="1"),
    sa.Column("requested_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("decided_at", sa.DateTime),
    sa.Column("decided_by", sa.String(500)),
    sa.Column("decided_via", sa.String(32)),  # slack | cli | ui | timeout
    sa.Column("reason", sa.Text),
    sa.Column("slack_channel", sa.String(64)),
    sa.Column("slack_ts", sa.String(64)),
    sa.Column("last_reminded_at", sa.DateTime),
    sa.Column("details", sa.JSON),
    sa.UniqueConstraint("model_name", "model_version", "dag_id", "run_id", name="uq_agentic_mlops_approval_run"),
    sa.Index("ix_agentic_mlops_approvals_status", "status"),
)

# One vote per person per request (two-person rule: required_approvals = 2).
approval_votes = sa.Table(
    "agentic_mlops_approval_votes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("approval_id", sa.Integer, sa.ForeignKey("agentic_mlops_approvals.id"), nullable=False),
    sa.Column("user_id", sa.String(250), nullable=False),
    sa.Column("vote", sa.String(16), nullable=False),  # approve | deny
    sa.Column("via", sa.String(32), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("approval_id", "user_id", name="uq_agentic_mlops_vote_user"),
)

# Append-only: database triggers (see the migration) refuse UPDATE and DELETE.
audit = sa.Table(
    "agentic_mlops_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(250), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("model_name", sa.String(250)),
    sa.Column("subject", sa.String(250)),
    sa.Column("details", sa.JSON),
    sa.Index("ix_agentic_mlops_audit_model_at", "model_name", "at"),
)


_TABLES = [jobs, decisions, approvals, approval_votes, audit]


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
