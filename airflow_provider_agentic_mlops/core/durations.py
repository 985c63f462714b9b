"""Durations written in models.yaml (``drift.current_window``), parsed without pandas.

One parser for both places that read them: the config check at DAG parse time (where pandas is not
imported) and ``core.data_io.select_window`` when the task runs. A number needs its unit: pandas reads
``"7"`` as 7 nanoseconds, a window that silently keeps no rows.
"""

from __future__ import annotations

import re
from datetime import timedelta

from airflow_provider_agentic_mlops.core.errors import SettingInvalid

_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_UNITS = {
    "w": "weeks",
    "week": "weeks",
    "weeks": "weeks",
    "d": "days",
    "day": "days",
    "days": "days",
    "h": "hours",
    "hr": "hours",
    "hrs": "hours",
    "hour": "hours",
    "hours": "hours",
    "m": "minutes",
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "s": "seconds",
    "sec": "seconds",
    "secs": "seconds",
    "second": "seconds",
    "seconds": "seconds",
}
_SECONDS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
_TERM = re.compile(_NUMBER + r"\s*([A-Za-z]+)\s*")
_ISO = re.compile(rf"P(?:{_NUMBER}W)?(?:{_NUMBER}D)?(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?", re.IGNORECASE)
EXAMPLES = "'7d', '12h', '30min', '1d12h' or ISO 8601 'P7D'"
#: The longest duration accepted (100 years): longer ones overflow ``timedelta`` (past 999999999 days), pandas'
#: ``Timedelta`` and the ``now - duration`` a window or ``--since`` computes, and no data reaches back further.
MAX_DURATION = timedelta(days=36525)


class DurationTooLong(SettingInvalid):
    """A duration longer than :data:`MAX_DURATION`; the message names the field, the value and the longest."""


def parse_duration(text: str, *, field: str = "current_window") -> timedelta:
    """A positive duration from ``"7d"``, ``"12h"``, ``"30min"``, ``"2w"``, ``"1d12h"``, ``"7 days"`` or
    ISO 8601 ``"P7D"``/``"PT12H"``.

    :param text: the duration as written.
    :param field: the setting's name, for messages.
    :raises SettingInvalid: (a ``ValueError``) not a duration (a number without a unit, ``M`` or ``Y``, ...), or
        not positive; :class:`DurationTooLong` when longer than :data:`MAX_DURATION`. The message names ``field``,
        the value and the fix.
    """
    value = text.strip() if isinstance(text, str) else ""
    parts: dict[str, float] = {}
    iso = _ISO.fullmatch(value)
    if iso and value.upper() not in ("P", "PT") and not value.upper().endswith("T"):
        for unit, number in zip(("weeks", "days", "hours", "minutes", "seconds"), iso.groups(), strict=True):
            if number is not None:
                parts[unit] = float(number)
    elif not iso:
        pos = 0
        while pos < len(value):
            match = _TERM.match(value, pos)
            unit = _UNITS.get(match.group(2).lower()) if match else None
            if match is None or unit is None or match.group(2) == "M":  # "M": month or minute? pandas refuses it too
                parts = {}
                break
            parts[unit] = parts.get(unit, 0.0) + float(match.group(1))
            pos = match.end()
    if not parts:
        raise SettingInvalid(f"{field} {text!r} is not a duration; use e.g. {EXAMPLES}.")
    too_long = DurationTooLong(
        f"{field} {text!r} is longer than the longest accepted, {MAX_DURATION.days}d (100 years); give at most that."
    )
    # each term alone is checked first: timedelta itself overflows (OverflowError) past 999999999 days
    if any(number * _SECONDS[unit] > MAX_DURATION.total_seconds() for unit, number in parts.items()):
        raise too_long
    delta = timedelta(**parts)
    if delta > MAX_DURATION:
        raise too_long
    if delta <= timedelta(0):
        raise SettingInvalid(f"{field} {text!r} must be positive.")
    return delta


__all__ = ["MAX_DURATION", "DurationTooLong", "parse_duration"]
