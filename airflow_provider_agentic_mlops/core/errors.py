"""How an error is shown in one line: in logs, task failures, CLI output and the UI's error pages."""

from __future__ import annotations

import re

#: ``scheme://user:password@`` in an error message: the password is replaced before it is shown.
_URL_PASSWORD = re.compile(r"(\b[\w+.-]+://[^\s:/@]*):[^\s@]*@")


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of ``error``'s message, stripped, any URL's password masked, at most ``limit``
    characters; ``""`` when the message is empty. Drivers' messages run to pages (SQL, tracebacks)."""
    lines = str(error).strip().splitlines()
    return _URL_PASSWORD.sub(r"\1:***@", lines[0].strip())[:limit] if lines else ""


def describe(error: BaseException, limit: int = 300) -> str:
    """``"ErrorClass: first line"`` (only the class when the message is empty)."""
    line = first_line(error, limit)
    return f"{type(error).__name__}: {line}" if line else type(error).__name__
