"""Promotions recorded as intent, so a re-run completes a promotion a crash interrupted.

Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"

down_revision = "0002_slack_replay"

# A frozen copy of the table as core/schema.py has it at this revision.
metadata = sa.MetaData()
sa.Table("agentic_mlops_approvals", metadata, sa.Column("id", sa.Integer, primary_key=True))

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


def upgrade() -> None:
    promotions.create(op.get_bind())


def downgrade() -> None:
    promotions.drop(op.get_bind())
