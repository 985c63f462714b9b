"""Counting the SQL statements a piece of code runs on an engine (to show a page's queries do not grow)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa


@contextlib.contextmanager
def statements_on(engine: sa.Engine) -> Iterator[list[str]]:
    """The statements run on ``engine`` inside the block, as a list that fills while it runs."""
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)


@contextlib.contextmanager
def statements_with_parameters_on(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements run on ``engine`` inside the block with their parameters (to EXPLAIN them afterwards)."""
    seen: list[tuple[str, Any]] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)


def rows_read_on_postgresql(conn: sa.Connection, statement: str, parameters: Any, tables: set[str]) -> int:
    """How many rows of ``tables`` (index entries and table rows, those a filter dropped included) PostgreSQL
    reads to run the SELECT ``statement``: it runs it under ``EXPLAIN (ANALYZE, FORMAT JSON)`` and adds up the
    scans of those tables."""
    (plan,) = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters).scalar_one()

    def read(node: dict[str, Any]) -> int:
        own = 0
        if node.get("Relation Name") in tables:
            per_loop = sum(node.get(key, 0) for key in ("Actual Rows", "Rows Removed by Filter"))
            own = (per_loop + node.get("Rows Removed by Index Recheck", 0)) * node.get("Actual Loops", 1)
        return own + sum(read(child) for child in node.get("Plans", []))

    return read(plan["Plan"])
