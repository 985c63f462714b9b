"""The Slack replay guard's table: signatures seen within the signature window.

Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_slack_replay"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "agentic_mlops_slack_replays",
        sa.Column("signature", sa.String(100), primary_key=True),
        sa.Column("seen_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_agentic_mlops_slack_replays_seen_at", "agentic_mlops_slack_replays", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_agentic_mlops_slack_replays_seen_at", table_name="agentic_mlops_slack_replays")
    op.drop_table("agentic_mlops_slack_replays")
