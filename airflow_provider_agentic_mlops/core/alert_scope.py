"""The scope an alerts connection's extra gives its token: which teams' and which models' runs its alerts may start.
Read by the alerts endpoint for each authenticated alert and by ``config check``, so both refuse the same extras."""

from __future__ import annotations

import contextlib
import json
from difflib import get_close_matches
from typing import Any

#: The keys of an alerts connection's extra that scope its token.
SCOPE_KEYS = ("teams", "models")


class ScopeUnreadable(ValueError):
    """The extra does not say a scope that can be trusted; the message says what is wrong with it and the fix."""


def connection_extra(text: str | None) -> Any:
    """An alerts connection's extra as the scope is read from it: the JSON it holds, the text itself when it is not
    JSON (which :func:`scope_lists` refuses), None when empty. Not Airflow's ``extra_dejson``: it answers ``{}`` (no
    scope: every model) for an extra that is not JSON.

    :param text: the connection's ``extra``.
    """
    extra: Any = text or None
    if isinstance(extra, str):
        with contextlib.suppress(ValueError):
            extra = json.loads(extra)
    return extra


def looks_like_a_scope_key(key: Any) -> bool:
    """Whether the extra's ``key`` (not one of :data:`SCOPE_KEYS`) was meant as one: another case or number
    (``Teams``, ``model``), a word around it (``model_patterns``, ``allowed_teams``) or a typo (``modles``).
    Ignored, it would leave the token unscoped: every model open to it."""
    word = "".join(ch for ch in str(key).lower() if ch.isalnum())
    return any(name in word for name in ("team", "model")) or bool(
        get_close_matches(word, SCOPE_KEYS, n=1, cutoff=0.75)
    )


def scope_lists(extra: Any) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """``(teams, models)`` of an alerts connection's extra (:func:`connection_extra`), each None when the extra
    does not name it (not limited by it).

    :raises ScopeUnreadable: the extra is not a JSON object, a key is not a list of non-empty texts, or another
        key looks like a misspelt scope key (``model``, ``Teams``): a scope misread as "no scope" would open every
        model to the token.
    """
    extra = extra if extra is not None else {}
    if not isinstance(extra, dict):
        raise ScopeUnreadable("its extra is not a JSON object")
    misspelt = [key for key in extra if key not in SCOPE_KEYS and looks_like_a_scope_key(key)]
    if misspelt:
        raise ScopeUnreadable(
            f"its extra has {', '.join(map(repr, misspelt))}, which is not a scope key: the scope keys are "
            "'teams' and 'models' (lower case, plural); rename it, or remove it"
        )
    lists: dict[str, tuple[str, ...] | None] = {}
    for key in SCOPE_KEYS:
        if key not in extra:  # absent: not limited by it (a key set to null is not absent: refused below)
            lists[key] = None
            continue
        value = extra[key]
        if not (isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)):
            raise ScopeUnreadable(f"its extra {key!r} must be a list of non-empty texts, got {value!r:.100}")
        lists[key] = tuple(v.strip() for v in value)
    return lists["teams"], lists["models"]


def unreadable_scope_message(conn_id: str, problem: str) -> str:
    """What the alerts endpoint answers (503) for an alert authenticated by ``conn_id`` whose scope cannot be read.

    :param conn_id: the alerts connection.
    :param problem: what is wrong with its extra (:class:`ScopeUnreadable`'s message).
    """
    return (
        f"the scope of the alerts connection {conn_id!r} cannot be read: {problem}. Fix the connection's extra "
        '(e.g. {"teams": ["team_a"], "models": ["fraud-*"]}); until then its token starts nothing'
    )
