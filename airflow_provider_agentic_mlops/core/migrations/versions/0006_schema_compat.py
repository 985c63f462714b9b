"""The store records which provider code can still run on it: a rolling upgrade keeps older workers running.

One row in ``agentic_mlops_schema_compat``: the oldest code revision (the head of a provider version's
migrations) that can run on this schema. A provider that finds the store at a revision it does not know (a
newer provider migrated it) uses the store as it is when that recorded revision is one of its own, and refuses
it otherwise. Later migrations leave the row when they are additive and raise it when they break older code
(the rule is in ``core/migrations/__init__.py``).

Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from airflow_provider_agentic_mlops.core.migrations import COMPAT_TABLE

revision = "0006"
down_revision = "0005"

#: 0006 itself, though this migration only adds a table: code at 0005 or older runs well on this schema, but
#: it refuses any revision it does not know (it reads no record), so no older release can use the store once
#: it is at 0006. A lower value would claim a compatibility nothing can act on; every provider that reads
#: the record has 0006 among its revisions.
OLDEST_COMPATIBLE = "0006"


def upgrade() -> None:
    table = op.create_table(
        COMPAT_TABLE,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("oldest_compatible_revision", sa.String(64), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "oldest_compatible_revision": OLDEST_COMPATIBLE}])


def downgrade() -> None:
    op.drop_table(COMPAT_TABLE)
