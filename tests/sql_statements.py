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
