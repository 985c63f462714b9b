"""How an error is shown in one line: in logs, task failures, CLI output and the UI's error pages."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

#: ``scheme://user:password@`` in an error message: the password is replaced before it is shown, up to the last
#: ``@`` before the host (a password may hold an ``@`` left unencoded: ``u:p@ss@db``).
_URL_PASSWORD = re.compile(r"(\b[\w+.-]+://[^\s:/@]*):[^\s/?#]*@")
#: ``?password=...`` / ``&sslpassword=...`` / ``?token=`` / ``&api_key=`` / ``&client_secret=``... in a URL's
#: query (libpq takes a password there, servers a token or key): the value is replaced.
_QUERY_PASSWORD = re.compile(
    r"([?&][^\s=&#?]*(?:password|passwd|pwd|token|secret|key|credential|signature)[^\s=&#?]*=)[^\s&#]*",
    re.IGNORECASE,
)
#: Any ``?name=value`` / ``&name=value`` in a URL's query: the separator, the name and the value.
_QUERY_VALUE = re.compile(r"([?&])([^\s=&#?]*)=([^\s&#]*)")


class AgenticMlopsError(Exception):
    """The base of the provider's errors whose message already says what is wrong, with the value, and what
    to do: the CLI shows such an error as its message alone, not as a traceback. Each subclass keeps its
    built-in base too (``ValueError``, ``RuntimeError``, ``PermissionError``), which callers catch."""


class SettingInvalid(AgenticMlopsError, ValueError):
    """A setting (an ``[agentic_mlops]`` option, a models.yaml field, a command's option) has a value the provider
    cannot use; the message names it, the value and the fix."""


def mask_url_secrets(text: str, *, query_kept: Collection[str] | None = None) -> str:
    """``text`` with any URL's password (``user:password@``) and its query values named like a secret (``password``,
    ``sslpassword``, ``token``, ``api_key``, ``client_secret``...) replaced by ``***``. Works on any text, a URL
    that does not parse too.

    :param query_kept: when given, every query value is replaced but those of these names (case-insensitive):
        for a URL whose query may hold a gateway's key (Azure API Management's ``?subscription-key=``, Azure
        Functions' ``?code=``) beside settings worth reading (``api-version``).
    """
    text = _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1:***@", text))
    if query_kept is None:
        return text
    kept = {name.lower() for name in query_kept}
    return _QUERY_VALUE.sub(lambda m: m[0] if m[2].lower() in kept else f"{m[1]}{m[2]}=***", text)


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of ``error``'s message, stripped, any URL's password masked, at most ``limit``
    characters; ``""`` when the message is empty. Drivers' messages run to pages (SQL, tracebacks)."""
    lines = str(error).strip().splitlines()
    return mask_url_secrets(lines[0].strip())[:limit] if lines else ""


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what caused it, through ``__cause__`` (``raise ... from``) and else ``__context__``, each once
    (a cycle ends the walk)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe(error: BaseException, limit: int = 300) -> str:
    """``"ErrorClass: first line"`` (only the class when the message is empty)."""
    line = first_line(error, limit)
    return f"{type(error).__name__}: {line}" if line else type(error).__name__


def settings_error(err: ValidationError, *, kind: str, known: Iterable[str], role: str = "") -> ValueError:
    """Pydantic's ``err`` for a section of settings (``kind``: drift, decision, approval, gate...) as one line:
    ``"<role>: <kind> settings: 'field': what is expected (got value); ..."``, a name that is not a setting with
    the ``known`` ones, a rule across fields by its own message.

    :param role: said first, e.g. ``"model 'fraud': DriftCheckOperator"``.
    """
    problems = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            article = "an" if kind[0] in "aeiou" else "a"
            problems.append(f"{field!r} is not {article} {kind} setting; known: {sorted(known)}")
        elif not field:  # a rule across fields: its message says it all
            problems.append(str(e["msg"]).removeprefix("Value error, "))
        else:
            problems.append(f"{field!r}: {str(e['msg']).removeprefix('Value error, ')} (got {e.get('input')!r})")
    return ValueError(f"{role + ': ' if role else ''}{kind} settings: " + "; ".join(problems))
