"""Printing rows as a table or JSON, asking for confirmation, and stopping with an error: shared by the CLI
commands."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timezone
from typing import Any, TextIO

from airflow_provider_agentic_mlops.core.errors import AgenticMlopsError


class CommandStopped(AgenticMlopsError, ValueError):
    """A command stopped before changing anything, for a reason its message names with what to do. The
    commands' wrapper shows it as the provider's other errors are shown: one line, ``error: <message>``."""


#: where the JSON document goes while :func:`document_only_on_stdout` sends everything else to stderr
_document_out: TextIO | None = None


@contextlib.contextmanager
def log_handlers_on_stderr() -> Iterator[None]:
    """Meanwhile, the root logger's stream handlers writing to stdout, and structlog's loggers made to write
    there, write to stderr: stdout is for the command's document or table only. Airflow 3.1 and 3.2 configure
    their console log handler on stdout, and :func:`contextlib.redirect_stdout` does not move a handler holding
    that stream (Airflow 3.3's ``airflow`` entry point moves them itself for commands with ``--output``). Given
    back afterwards."""
    moved = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout
    ]
    for handler in moved:
        handler.setStream(sys.stderr)
    restore_structlog = _structlog_on_stderr()
    try:
        yield
    finally:
        restore_structlog()
        for handler in moved:
            if handler.stream is sys.stderr:
                handler.setStream(sys.stdout)


def _structlog_on_stderr() -> Callable[[], None]:
    """Point structlog's logger factory at stderr when it writes to stdout (Airflow's factory without a stream
    writes there: structlog's default), for the loggers made from now on; returns what gives the stream back."""
    structlog = sys.modules.get("structlog")  # configured by Airflow's logging when used; not imported otherwise
    factory = structlog.get_config().get("logger_factory") if structlog is not None else None
    if factory is None or not hasattr(factory, "io") or not hasattr(factory, "cls"):
        return lambda: None
    previous = factory.io
    binary = isinstance(factory.cls, type) and issubclass(factory.cls, structlog.BytesLogger)
    if previous is None or previous is sys.stdout or previous is getattr(sys.stdout, "buffer", None):
        factory.io = getattr(sys.stderr, "buffer", sys.stderr) if binary else sys.stderr
    else:
        return lambda: None

    def restore() -> None:
        factory.io = previous

    return restore


@contextlib.contextmanager
def document_only_on_stdout(output: str | None) -> Iterator[None]:
    """With ``-o json``, keep stdout for the JSON document: anything else written there meanwhile
    (log lines of the hooks, which Airflow's logging writes to stdout; notes) goes to stderr, so
    ``... -o json | jq`` works. Other formats are left alone.

    :param output: the command's ``--output``.
    """
    global _document_out
    if output != "json":
        yield
        return
    _document_out = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _document_out = None


@contextlib.contextmanager
def logs_to_stderr() -> Iterator[None]:
    """While a command gathers what it prints as a table, anything written to stdout (log lines of the
    hooks, which Airflow's logging writes to stdout) goes to stderr: the table is alone on stdout, and
    ``2>/dev/null`` hides the rest. (``-o json`` does this for the whole command, see
    :func:`document_only_on_stdout`.)"""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _out() -> TextIO:
    return _document_out or sys.stdout


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def json_value(value: Any) -> Any:
    """``json.dumps``'s ``default``: a datetime as ISO 8601 in UTC (``2026-11-28T12:03:30.426869+00:00``; the
    store keeps naive UTC, so a naive one is UTC), a date as ISO 8601, anything else as its ``str``."""
    if isinstance(value, datetime):
        utc = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return utc.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def print_rows(rows: Iterable[dict[str, Any]], columns: Sequence[str], output: str = "table") -> None:
    """Print ``rows`` (only ``columns``) as an aligned table or a JSON list."""
    rows = [{c: row.get(c) for c in columns} for row in rows]
    if output == "json":
        print(json.dumps(rows, indent=2, default=json_value), file=_out())
        return
    if not rows:
        print("(none)")
        return
    cells = [[_cell(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for line in cells:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)))


def print_json(value: Any) -> None:
    """Print ``value`` as a JSON document (timestamps as :func:`json_value` writes them)."""
    print(json.dumps(value, indent=2, default=json_value), file=_out())


def confirm(question: str, *, yes: bool, action: str, cancelled: str) -> None:
    """Ask ``question`` (``[y/N]``) on a terminal before a command changes something; only ``y``/``yes`` goes on.
    Without a terminal (a script, CI) the command refuses unless ``yes``: it must say ``--yes`` to act. The
    question goes to stderr (stdout is for the command's output, a JSON document with ``-o json``); a refusal or
    any other answer ends the command as every failure does: ``error: ...``, exit code 1.

    :param yes: ``--yes``: nothing is asked.
    :param action: what is refused without confirmation (``"roll back"``, ``"approve request 3"``).
    :param cancelled: the message exited with on any other answer (say that nothing changed).
    """
    if yes:
        return
    if not sys.stdin.isatty():
        raise SystemExit(f"error: refusing to {action} without confirmation: pass --yes when not on a terminal")
    # input()'s own prompt goes to stdout or stderr depending on whether readline is loaded: say it here
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    try:
        answer = input()
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise SystemExit(f"error: {cancelled}")
