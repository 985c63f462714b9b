"""Durations written in models.yaml (``drift.current_window``), parsed without pandas.

One parser for both places that read them: the config check at DAG parse time (where pandas is not
imported) and ``core.data_io.select_window`` when the task runs. A number needs its unit: pandas reads
``"7"`` as 7 nanoseconds, a window that silently keeps no rows.
"""

from __future__ import annotations

import re
from datetime import timedelta

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
_TERM = re.compile(_NUMBER + r"\s*([A-Za-z]+)\s*")
_ISO = re.compile(rf"P(?:{_NUMBER}W)?(?:{_NUMBER}D)?(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?", re.IGNORECASE)
EXAMPLES = "'7d', '12h', '30min', '1d12h' or ISO 8601 'P7D'"


def parse_duration(text: str, *, field: str = "current_window") -> timedelta:
    """A positive duration from ``"7d"``, ``"12h"``, ``"30min"``, ``"2w"``, ``"1d12h"``, ``"7 days"`` or
    ISO 8601 ``"P7D"``/``"PT12H"``.

    :param field: the setting's name, for messages.
    :raises ValueError: not a duration (a number without a unit, ``M`` or ``Y``, ...), or not positive.
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
        raise ValueError(f"{field} {text!r} is not a duration; use e.g. {EXAMPLES}.")
    delta = timedelta(**parts)
    if delta <= timedelta(0):
        raise ValueError(f"{field} {text!r} must be positive.")
    return delta


__all__ = ["parse_duration"]
