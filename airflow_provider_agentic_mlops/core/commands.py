"""How messages name the provider's commands: one prefix for every message, right for the running Airflow.

Airflow 3.2+ offers the commands as ``airflow agentic-mlops ...`` (it loads provider info's ``cli``);
Airflow 3.1 does not, and there the ``agentic-mlops`` console script, installed with the provider on
every version, has the same commands. Core imports no Airflow, so it cannot tell which:
:mod:`~airflow_provider_agentic_mlops.version_compat` tells it (:func:`set_command_prefix`) when it is
imported, which every hook, operator, sensor, the plugin and the CLI do before they say anything.
"""

from __future__ import annotations

#: The commands under Airflow's own CLI (Airflow 3.2+).
AIRFLOW_GROUP = "airflow agentic-mlops"
#: The console script installed with the provider (every Airflow version).
CONSOLE_SCRIPT = "agentic-mlops"

_prefix = AIRFLOW_GROUP


def set_command_prefix(prefix: str) -> None:
    """Name the commands ``prefix ...`` from now on (:data:`AIRFLOW_GROUP` or :data:`CONSOLE_SCRIPT`).

    :param prefix: how the running Airflow's users invoke the provider's CLI.
    """
    global _prefix
    _prefix = prefix


def command_prefix() -> str:
    """``airflow agentic-mlops`` or ``agentic-mlops``: whichever runs the provider's commands here."""
    return _prefix


def command(args: str) -> str:
    """A command line of the provider's CLI to show a person: ``command("approvals list")`` is
    ``airflow agentic-mlops approvals list`` on Airflow 3.2+, ``agentic-mlops approvals list`` on 3.1.

    :param args: the subcommand and its arguments, already quoted for a shell.
    """
    return f"{_prefix} {args}"


__all__ = ["AIRFLOW_GROUP", "CONSOLE_SCRIPT", "command", "command_prefix", "set_command_prefix"]
