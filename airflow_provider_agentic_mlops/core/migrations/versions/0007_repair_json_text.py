"""JSON values older releases stored with a NUL or a lone surrogate are rewritten with U+FFFD in their place.

Releases before the one that cleaned every JSON value it writes (``_jsonable`` in ``core/state.py``) stored a
NUL or a lone surrogate (a Slack user name, a column name of the data) as the escape ``\\u0000`` or
``\\ud800`` in a JSON column. PostgreSQL then fails every ``->``/``->>`` over the row ("unsupported Unicode
escape sequence"): one such audit row answered the model's report route with 500 for ever, and the audit
trail is append-only, so no operator could repair it. SQLite reads those rows, but a lone surrogate read out
of one with ``->>`` cannot be decoded.

Each table's JSON columns are searched in SQL for the escapes (one scan; rows with a surrogate pair, or an
escaped backslash before ``u0000``, match too), and a matching row is rewritten only when cleaning its values
with ``storable_text``, as new writes are, changes them. The audit trail's guard against updates is lifted
for these updates only, inside this migration's transaction. Running it again finds nothing to change.

Additive (only values change, as the current code would have written them): the compatibility record stays.
The downgrade changes nothing: the replaced characters are not kept.

Create Date: 2026-11-29
"""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa
from alembic import op

from airflow_provider_agentic_mlops.core.approval_policy import storable_text

revision = "0007"
down_revision = "0006"

log = logging.getLogger("airflow_provider_agentic_mlops.core.migrations")

#: Every JSON column of the schema at this revision (a later migration's new column is its own concern).
JSON_COLUMNS = {
    "agentic_mlops_audit": ("details",),
    "agentic_mlops_approvals": ("details",),
    "agentic_mlops_jobs": ("details", "result"),
    "agentic_mlops_decisions": ("evidence", "rules_fired", "inputs", "prompt", "tool_calls"),
    "agentic_mlops_promotions": ("steps",),
}
AUDIT = "agentic_mlops_audit"
#: A JSON text's escape of a NUL or of a surrogate (high or low: ``\ud800``-``\udfff``), PostgreSQL's regex.
_PG_PATTERN = r"\\u(0000|[dD][89a-fA-F])"
#: The same as SQLite GLOBs (case-sensitive, like the hex digits JSON writers use: both cases listed).
_SQLITE_GLOBS = ("*\\u0000*", "*\\u[dD][89a-fA-F]*")
#: The audit trail's guard against updates, on SQLite (0001_initial.py), dropped and created again.
_SQLITE_NO_UPDATE = (
    "CREATE TRIGGER agentic_mlops_audit_no_update BEFORE UPDATE ON agentic_mlops_audit "
    "BEGIN SELECT RAISE(ABORT, 'agentic_mlops_audit is append-only'); END"
)


def _cleaned(value: Any) -> Any:
    """``value`` (a parsed JSON value) with every text, keys too, :func:`storable_text`."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(k): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    return value


def _suspect(column: str, dialect: str) -> str:
    """A SQL condition true when ``column``'s JSON text holds an escape this migration may have to clean."""
    if dialect == "postgresql":
        return f"CAST({column} AS TEXT) ~ :pattern"
    return " OR ".join(f"CAST({column} AS TEXT) GLOB '{glob}'" for glob in _SQLITE_GLOBS)


def _repairs(conn: sa.Connection, table: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows of ``table`` whose JSON ``columns`` change when cleaned: ``{"id": ..., column: cleaned, ...}``."""
    dialect = conn.dialect.name
    texts = ", ".join(f"CAST({c} AS TEXT)" for c in columns)
    where = " OR ".join(f"({_suspect(c, dialect)})" for c in columns)
    query = sa.text(f"SELECT id, {texts} FROM {table} WHERE {where}")
    params = {"pattern": _PG_PATTERN} if dialect == "postgresql" else {}
    repairs = []
    for row_id, *values in conn.execute(query, params):
        changed: dict[str, Any] = {}
        for column, text in zip(columns, values, strict=True):
            if text is None:
                continue
            value = json.loads(text)
            cleaned = _cleaned(value)
            if json.dumps(cleaned) != json.dumps(value):
                changed[column] = cleaned
        if changed:
            repairs.append({"id": row_id, **changed})
    return repairs


def _rewrite(conn: sa.Connection, table: str, columns: tuple[str, ...], repairs: list[dict[str, Any]]) -> None:
    """Write ``repairs`` (see :func:`_repairs`) back, the audit trail's update guard lifted meanwhile."""
    target = sa.table(table, sa.column("id"), *(sa.column(c, sa.JSON) for c in columns))
    guarded = table == AUDIT
    if guarded and conn.dialect.name == "postgresql":  # ALTER TABLE is transactional: never left disabled
        conn.exec_driver_sql(f"ALTER TABLE {AUDIT} DISABLE TRIGGER agentic_mlops_audit_append_only")
    elif guarded:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS agentic_mlops_audit_no_update")
    for repair in repairs:
        values = {c: v for c, v in repair.items() if c != "id"}
        conn.execute(target.update().where(target.c.id == repair["id"]).values(values))
    if guarded and conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ALTER TABLE {AUDIT} ENABLE TRIGGER agentic_mlops_audit_append_only")
    elif guarded:
        conn.exec_driver_sql(_SQLITE_NO_UPDATE)


def upgrade() -> None:
    conn = op.get_bind()
    repaired = {}
    for table, columns in JSON_COLUMNS.items():
        repairs = _repairs(conn, table, columns)
        if repairs:
            _rewrite(conn, table, columns, repairs)
        repaired[table] = len(repairs)
    if any(repaired.values()):
        counts = ", ".join(f"{table}: {n}" for table, n in repaired.items())
        log.warning("migration 0007: rows whose JSON held a NUL or a lone surrogate (now U+FFFD) %s", counts)
    else:
        # debug: every new store runs this migration, and a CLI's log lines on stdout would break `-o json`
        log.debug("migration 0007: no JSON value held a NUL or a lone surrogate")


def downgrade() -> None:
    """Nothing to undo: the rows keep U+FFFD (the characters replaced were never readable)."""
