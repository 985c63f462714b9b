"""What ``config check`` says about the ``[agentic_mlops]`` settings: findings, and which option a name Airflow
does not know was meant to be. Plain Python: the command reads the settings from Airflow and the checks come
from the components that use them.

Airflow ignores an option it does not know (in airflow.cfg or as ``AIRFLOW__AGENTIC_MLOPS__*``), so a misspelt
one leaves the option meant at its default, unnoticed: each is reported here with the nearest known name.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

SECTION = "agentic_mlops"
#: Airflow's environment variables of the section: ``AIRFLOW__AGENTIC_MLOPS__<OPTION>``.
ENV_PREFIX = f"AIRFLOW__{SECTION.upper()}__"
ERROR, WARNING = "error", "warning"
#: Airflow 3.3's per-team overrides of the section: ``[<team>=agentic_mlops]`` in airflow.cfg and
#: ``AIRFLOW__<TEAM>___AGENTIC_MLOPS__<OPTION>``; Airflow returns them only to a ``conf.get(..., team_name=...)``,
#: which the provider never makes.
TEAM_SECTION_SEPARATOR = "="
_TEAM_ENV = re.compile(rf"AIRFLOW__.+___{SECTION.upper()}__(?P<option>.+)")
#: The forms Airflow reads a sensitive option in besides its own name: a command's output, a secrets backend's key.
SECRET_FORMS = ("_cmd", "_secret")


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a setting.

    :param severity: :data:`ERROR` (``config check`` exits 1) or :data:`WARNING`.
    :param option: the option, or the name given for an unknown one (an environment variable's whole name), or a
        misspelt section (``[agentic_mlop]``).
    :param message: what is wrong and what to do.
    :param value: the value, as set; None when not shown (a secret, or an unknown option, which may be one).
    :param source: where the value is set: ``env AIRFLOW__...``, ``airflow.cfg`` or ``default``.
    """

    severity: str
    option: str
    message: str
    value: str | None = None
    source: str | None = None

    def line(self) -> str:
        """``error: [agentic_mlops] option = 'value' (source): message``: one line for a person."""
        env = self.source == "env" or self.option.startswith("AIRFLOW__")  # a variable's name says where
        name = self.option if env or self.option.startswith("[") else f"[{SECTION}] {self.option}"
        shown = f" = {self.value!r}" if self.value is not None else ""
        where = f" ({self.source})" if self.source and not env else ""
        # a component's message naming the option (and value) again is said once
        message = self.message.removeprefix(f"{name}{shown} ").removeprefix(f"{name} ")
        return f"{self.severity}: {name}{shown}{where}: {message}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def nearest(name: str, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The known name closest to ``name`` (case ignored), or None when none is close.

    :param name: a name not known.
    :param known: the names known, lower case.
    :param cutoff: how close, from 0 to 1 (:func:`difflib.get_close_matches`).
    """
    matches = difflib.get_close_matches(name.lower(), list(known), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def known_names(options: Sequence[str], sensitive: Collection[str]) -> list[str]:
    """The option names Airflow reads in the section: each option, and a sensitive one's ``_cmd`` and ``_secret``
    forms (Airflow runs those only for a sensitive option)."""
    return [*options, *(f"{option}{form}" for option in options if option in sensitive for form in SECRET_FORMS)]


def unknown_options(
    given: Iterable[tuple[str, str]], *, options: Sequence[str], sensitive: Collection[str]
) -> list[Finding]:
    """An error for each name of ``given`` Airflow does not read, naming the option it was likely meant to be.
    Their values are not shown: a misspelt secret's would be a secret.

    :param given: ``(name, source)`` of each option set: a name in airflow.cfg's ``[agentic_mlops]`` (source
        ``airflow.cfg``), or an environment variable's whole name (source ``env``): ``AIRFLOW__AGENTIC_MLOPS__*``,
        or one of a section misspelt (:func:`env_of_section_like`) or named amiss (:func:`env_misnamed`).
    :param options: the section's options.
    :param sensitive: those of them that are secrets.
    """
    known = known_names(options, sensitive)
    known_env = {f"{ENV_PREFIX}{name.upper()}" for name in known}
    findings = []
    for name, source in given:
        env = source == "env"
        if name in (known_env if env else known):
            continue
        key = _env_option(name) if env else name
        meant = nearest(key, known)
        if not env or name.upper().startswith(ENV_PREFIX):
            misspelt = None
        else:  # the section, not (or not only) the option
            misspelt = "section" if env_of_section_like(name) else "prefix"
        findings.append(Finding(ERROR, name, _unknown_message(key, meant, env=env, section=misspelt), source=source))
    return findings


#: The section's prefix as it may be misspelt: underscores missing or doubled, any case.
_LOOSE_PREFIX = re.compile(r"AIRFLOW_+AGENTIC_*MLOPS_+", re.IGNORECASE)
#: Airflow's environment variables of other kinds, which may well name the provider: a connection, a variable.
_OTHER_AIRFLOW_ENV = ("AIRFLOW_CONN_", "AIRFLOW_VAR_")


def _env_option(name: str) -> str:
    """The option part of the environment variable ``name``, given as the section's (or a misspelling of it)."""
    loose = _LOOSE_PREFIX.match(name)
    if loose:
        return name[loose.end() :]
    return name.removeprefix("AIRFLOW__").partition("__")[2] or name


def env_misnamed(name: str) -> bool:
    """Whether the environment variable ``name`` looks meant for the section but is not read in it: upper cased,
    it names both AGENTIC and MLOPS, and begins with AIRFLOW (not a connection's or a variable's
    ``AIRFLOW_CONN_`` / ``AIRFLOW_VAR_``, nor a per-team one, :func:`team_values`'), or has ``__`` in it:
    ``AIRFLOW__AGENTIC_MLOPS_STATE_CONN_ID``, ``AIRFLOW_AGENTIC_MLOPS__ALERTS_CONN_ID``,
    ``AIRFLOW__AGENTIC__MLOPS__MODELS_FILE``. (Whether it is one of the section's own names is
    :func:`unknown_options`' to tell.)"""
    upper = name.upper()
    if "AGENTIC" not in upper or "MLOPS" not in upper or upper.startswith(_OTHER_AIRFLOW_ENV):
        return False
    if _TEAM_ENV.fullmatch(name):
        return False
    return upper.startswith("AIRFLOW") or "__" in upper


def env_of_section_like(name: str) -> bool:
    """Whether the environment variable ``name`` is ``AIRFLOW__<section>__<option>`` of a section close to
    ``agentic_mlops`` but not it (``AIRFLOW__AGENTIC_MLOP__...``, ``AIRFLOW__AGENTICMLOPS__...``)."""
    if not name.startswith("AIRFLOW__") or name.startswith(ENV_PREFIX):
        return False
    section, sep, _ = name.removeprefix("AIRFLOW__").partition("__")
    return bool(sep) and nearest(section, [SECTION], cutoff=0.85) is not None


_TEAM_VALUES = (
    f"per-team values of [{SECTION}] are not read by this provider: every team's tasks, pages and alerts use "
    f"[{SECTION}]'s value, not this one"
)


def team_values(sections: Iterable[str], env_names: Iterable[str]) -> list[Finding]:
    """An error for each per-team section of ``[agentic_mlops]`` in airflow.cfg and each per-team environment
    variable of it: the provider reads none (an error, not a warning: whoever set it believes it applies, and a
    team's state store, alerts token or timeout would silently be the section's). Their values are not shown.

    :param sections: the sections of airflow.cfg.
    :param env_names: the names of the environment variables.
    """
    findings = [
        Finding(ERROR, f"[{section}]", f"{_TEAM_VALUES}; set them in [{SECTION}]", source="airflow.cfg")
        for section in sections
        if section.partition(TEAM_SECTION_SEPARATOR)[2] == SECTION
    ]
    for name in env_names:
        match = _TEAM_ENV.fullmatch(name)
        if match:
            message = f"{_TEAM_VALUES}; set {ENV_PREFIX}{match['option'].upper()}"
            findings.append(Finding(ERROR, name, message, source="env"))
    return findings


def is_team_section(section: str) -> bool:
    """Whether airflow.cfg's ``section`` is a per-team one (``[team_a=agentic_mlops]``, of any section)."""
    return TEAM_SECTION_SEPARATOR in section


def misspelt_sections(sections: Iterable[str]) -> list[Finding]:
    """An error for each airflow.cfg section close to ``[agentic_mlops]`` but not it (``[agentic_mlop]``,
    ``[Agentic_MLOps]``): Airflow reads none of its options.

    :param sections: the sections of airflow.cfg.
    """
    return [
        Finding(
            ERROR,
            f"[{section}]",
            f"Airflow reads none of this section's options, and the provider's keep their values; did you mean "
            f"[{SECTION}]? Rename the section",
            source="airflow.cfg",
        )
        for section in sections
        if section != SECTION
        and not is_team_section(section)  # team_values' (or another section's team's)
        and nearest(section, [SECTION], cutoff=0.85) is not None
    ]


def _unknown_message(key: str, meant: str | None, *, env: bool, section: str | None = None) -> str:
    """What is wrong with the unknown option ``key`` (the option part of an environment variable's name) and the
    fix: the name of ``meant``, the option it was likely meant to be.

    :param section: how the environment variable misspells the section's part: ``"section"`` (a name near it),
        ``"prefix"`` (underscores); None: it does not."""
    if meant is None:
        return "Airflow ignores it: the section has no such option. Remove it"
    meant_name = f"{ENV_PREFIX}{meant.upper()}" if env else repr(meant)
    why = ""
    if section == "section":
        why = f" (its section is not {SECTION.upper()})"
    elif section:
        why = f" (its name does not begin {ENV_PREFIX}: two underscores each side of {SECTION.upper()})"
    elif key.lower() == meant:
        why = " (Airflow reads environment variables in upper case)" if env else " (option names are lower case)"
    elif key.lower().endswith(SECRET_FORMS) and key.lower().rsplit("_", 1)[0] == meant:
        why = f" (Airflow runs its {key.lower().rsplit('_', 1)[1]} form only for a sensitive option)"
    return f"Airflow ignores it{why}, and {meant!r} keeps its value; did you mean {meant_name}? Rename it"
