"""Where the provider's embedded files live: Airflow's home, resolved as Airflow resolves it (no Airflow import)."""

from __future__ import annotations

import os
from pathlib import Path


def expand_path_vars(value: str) -> str:
    """``$VARS`` and ``~`` expanded, repeatedly until nothing changes (nested variables), as Airflow's
    ``airflow.configuration.expand_env_var`` expands ``AIRFLOW_HOME``."""
    while True:
        expanded = os.path.expanduser(os.path.expandvars(value))
        if expanded == value:
            return expanded
        value = expanded


def airflow_home(value: str | os.PathLike[str] | None = None) -> Path:
    """Airflow's home, absolute: ``value``, else ``$AIRFLOW_HOME``, else ``~/airflow``, expanded as Airflow
    expands it (:func:`expand_path_vars`). Airflow does not write the expanded value back into the
    environment, so ``AIRFLOW_HOME=~/airflow`` from a compose file or a systemd unit arrives here as
    written; read literally, each process would put its "embedded" files in a ``~`` folder of its own
    working directory."""
    raw = os.fspath(value) if value else os.environ.get("AIRFLOW_HOME") or "~/airflow"
    return Path(expand_path_vars(raw)).resolve()


__all__ = ["airflow_home", "expand_path_vars"]
