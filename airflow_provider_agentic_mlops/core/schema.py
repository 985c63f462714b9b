"""Tables of the state store. Migrations in ``core/migrations`` create exactly these."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

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
    # every model's DAGs, and the first row of each, one index search each (models_and_dags): migration 0005
    sa.Index("ix_agentic_mlops_jobs_model_dag", "model_name", "dag_id", "id"),
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
    # "the model's latest decisions" (model_name = ? ORDER BY id DESC LIMIT n): migration 0004
    sa.Index("ix_agentic_mlops_decisions_model_id", "model_name", "id"),
    # every model's DAGs, and the first decision of each, one index search each (models_and_dags): migration 0005
    sa.Index("ix_agentic_mlops_decisions_model_dag", "model_name", "dag_id", "id"),
    # the newest later decision of a decision's DAG run (a later try of its decide: superseded_by): migration 0008
    sa.Index("ix_agentic_mlops_decisions_model_run", "model_name", "dag_id", "run_id", "id"),
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
    # every model's DAGs, and the first request of each, one index search each (models_and_dags): migration 0005
    sa.Index("ix_agentic_mlops_approvals_model_dag", "model_name", "dag_id", "id"),
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
    # a model's newest entries of some actions (its champion changes), not all its entries: migration 0008
    sa.Index("ix_agentic_mlops_audit_model_action", "model_name", "action", "id"),
)

# Slack request signatures seen in the last few minutes: the replay guard, shared by every API-server
# worker and host (a second insert of the same signature violates the primary key).
slack_replays = sa.Table(
    "agentic_mlops_slack_replays",
    metadata,
    sa.Column("signature", sa.String(100), primary_key=True),
    sa.Column("seen_at", sa.DateTime, nullable=False),
    sa.Index("ix_agentic_mlops_slack_replays_seen_at", "seen_at"),
)

# One promotion per approval, recorded as intent before any step runs: a re-run after a crash
# completes the steps not yet done (``steps`` lists those done, in order) with the values recorded here.
promotions = sa.Table(
    "agentic_mlops_promotions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("approval_id", sa.Integer, sa.ForeignKey("agentic_mlops_approvals.id"), nullable=False),
    sa.Column("model_name", sa.String(250), nullable=False),
    sa.Column("registered_model", sa.String(250), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("previous_version", sa.String(64)),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # in_progress | completed
    sa.Column("steps", sa.JSON, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("completed_at", sa.DateTime),
    sa.UniqueConstraint("approval_id", name="uq_agentic_mlops_promotion_approval"),
    sa.Index("ix_agentic_mlops_promotions_model", "model_name", "status"),
)

# One row (id 1): the oldest provider code revision that can run on this schema (rules in core/migrations).
schema_compat = sa.Table(
    "agentic_mlops_schema_compat",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("oldest_compatible_revision", sa.String(64), nullable=False),
)
