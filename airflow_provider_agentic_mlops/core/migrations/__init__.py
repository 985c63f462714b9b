"""Alembic migrations of the state store.

Rule for a new migration: the store records, in :data:`COMPAT_TABLE` (one row, since 0006), the oldest
provider code revision (the head of that code's migrations) that can still run on its schema. A provider
whose head is older than a store's revision uses the store as it is when that recorded revision is one of
its own; otherwise it refuses the store. So:

- An **additive** migration (a new table, column with a default, or index that older code can ignore)
  leaves the record alone: workers of the previous release keep running during a rolling upgrade.
- A migration that **breaks older code** (drops or renames what it reads, adds a NOT NULL column without a
  default that it does not write, changes what a value means) calls
  ``record_oldest_compatible_revision(revision)`` at the end of ``upgrade()`` and
  ``record_oldest_compatible_revision(<the value before>)`` at the end of ``downgrade()``, and the release
  notes say that older workers must be stopped before the first upgraded component starts.
"""

from __future__ import annotations

# Never Airflow's ``alembic_version``: the store may share a PostgreSQL database with Airflow.
VERSION_TABLE = "agentic_mlops_alembic_version"

#: The one-row table holding the oldest provider code revision that can run on the store's schema.
COMPAT_TABLE = "agentic_mlops_schema_compat"

#: Each provider version -> the newest migration it ships (its Alembic head), oldest version first. A new
#: migration needs a new version here and in pyproject.toml (a test checks that the package's version maps to
#: the head): pip does not replace an installed wheel of the same version, so a migration shipped without a
#: version bump would not reach a deployment that upgrades. ``db migrate`` says the version, and ``db downgrade``
#: which version to install after going back to a revision.
PROVIDER_VERSIONS: dict[str, str] = {
    "0.1.0": "0007",
    "0.2.0": "0008",
}


def provider_versions_of(revision: str) -> list[str]:
    """The provider versions whose newest migration is ``revision`` (several when a release changed no schema),
    oldest first; empty for a revision no version ended at.

    :param revision: a migration revision (``"0007"``).
    """
    return [version for version, newest in PROVIDER_VERSIONS.items() if newest == revision]


def record_oldest_compatible_revision(revision: str) -> None:
    """Record, from a migration's ``upgrade()`` or ``downgrade()``, that provider code whose migrations' head is
    older than ``revision`` can no longer run on the schema (see the module's rule).

    :param revision: the oldest code revision that can run on the schema from now on; one of the migrations'.
    """
    import sqlalchemy as sa
    from alembic import op

    update = sa.text(f"UPDATE {COMPAT_TABLE} SET oldest_compatible_revision = :revision")
    op.execute(update.bindparams(revision=revision))
