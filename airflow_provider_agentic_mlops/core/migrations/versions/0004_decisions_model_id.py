"""An index on the decisions of a model by id: "the model's latest decisions" reads only its own rows.

Those queries (``list_decisions(model)``, the overview's runs and DAG) filter on ``model_name`` and sort by
``id DESC LIMIT n``. With only ``(model_name, created_at)`` PostgreSQL walks the primary key backwards
over every later decision of every model, so a model that stopped deciding (a paused DAG) cost a scan of
the whole history written since.

Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_index("ix_agentic_mlops_decisions_model_id", "agentic_mlops_decisions", ["model_name", "id"])


def downgrade() -> None:
    op.drop_index("ix_agentic_mlops_decisions_model_id", table_name="agentic_mlops_decisions")
