"""``[agentic_mlops]`` settings read by more than one component (DAG factory, hooks, CLI, web plugin).

Cheap to import: the DAG processor reads them at parse time, where the hooks and the state store stay
unimported.
"""

from __future__ import annotations

import threading

from airflow_provider_agentic_mlops.core.connections import (
    DEFAULT_ALERTS_CONN_ID,
    DEFAULT_REGISTRY_CONN_ID,
    DEFAULT_STATE_CONN_ID,
)
from airflow_provider_agentic_mlops.core.errors import SettingInvalid
from airflow_provider_agentic_mlops.core.option_defaults import DEFAULT_MIGRATION_LOCK_TIMEOUT

#: The longest timeout the settings take, in whole seconds: PostgreSQL's ``lock_timeout`` at most (INT_MAX ms) and
#: ``threading.Lock().acquire(timeout=...)`` at most (``threading.TIMEOUT_MAX``), whichever is less. Longer, every
#: lock wait would fail at run time (PostgreSQL refuses the setting; threading raises OverflowError).
MAX_SECONDS: float = min(threading.TIMEOUT_MAX, float((2**31 - 1) // 1000))

__all__ = [
    "MAX_SECONDS",
    "SecretUnreadable",
    "SettingInvalid",  # defined in core.errors (core.durations raises it too); imported from here by callers
    "configured_alerts_conn_ids",
    "configured_migration_lock_timeout",
    "configured_mlflow_read_conn_id",
    "configured_seconds",
    "configured_signing_secret",
    "configured_state_conn_id",
]


class SecretUnreadable(SettingInvalid):
    """A sensitive option whose ``_cmd`` or ``_secret`` form failed. Names the error's type only: Airflow's
    message repeats the command line and what it printed, which may be the secret.

    :param option: the option.
    :param failed: the type of the error reading it.
    """

    def __init__(self, option: str, failed: str) -> None:
        self.option, self.failed = option, failed
        super().__init__(
            f"[agentic_mlops] {option} could not be read ({failed}; its message is not shown: it may hold the "
            "command line or its output, the secret)"
        )


def configured_state_conn_id() -> str:
    """The deployment's state-store connection: ``[agentic_mlops] state_conn_id`` (env
    ``AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID``), else :data:`DEFAULT_STATE_CONN_ID`.

    The DAG factory (for models that name none), the CLI and the web plugin all default to it, so
    setting it moves them to one store together.
    """
    from airflow.configuration import conf

    return conf.get("agentic_mlops", "state_conn_id", fallback="") or DEFAULT_STATE_CONN_ID


def configured_mlflow_read_conn_id() -> str:
    """``[agentic_mlops] mlflow_read_conn_id`` (env ``AIRFLOW__AGENTIC_MLOPS__MLFLOW_READ_CONN_ID``): the read-only
    MLflow connection the web plugin fetches reports through; unset or empty: ``agentic_mlops_mlflow_registry``."""
    from airflow.configuration import conf

    return conf.get("agentic_mlops", "mlflow_read_conn_id", fallback="") or DEFAULT_REGISTRY_CONN_ID


def alerts_conn_ids(text: str) -> list[str]:
    """The connection ids of an ``[agentic_mlops] alerts_conn_id`` value: one id, or several separated by commas
    (one token per team), each once, in order; none: ``agentic_mlops_alerts``.

    :param text: the option's value.
    """
    ids = [part.strip() for part in text.split(",")]
    return list(dict.fromkeys(i for i in ids if i)) or [DEFAULT_ALERTS_CONN_ID]


def configured_alerts_conn_ids() -> list[str]:
    """``[agentic_mlops] alerts_conn_id`` (env ``AIRFLOW__AGENTIC_MLOPS__ALERTS_CONN_ID``) as the alerts endpoint
    reads it (:func:`alerts_conn_ids`)."""
    from airflow.configuration import conf

    return alerts_conn_ids(conf.get("agentic_mlops", "alerts_conn_id", fallback="") or "")


def configured_signing_secret() -> str:
    """The Slack signing secret: ``[agentic_mlops] slack_signing_secret`` (env
    ``AIRFLOW__AGENTIC_MLOPS__SLACK_SIGNING_SECRET``, or its ``_CMD`` / ``_SECRET`` forms). Empty: the Slack HTTP
    endpoint refuses everything.

    :raises SecretUnreadable: its ``_cmd`` or ``_secret`` form failed; the message names the error's type only:
        Airflow's repeats the command line and its output, which may be the secret.
    """
    from airflow.configuration import conf

    try:
        return conf.get("agentic_mlops", "slack_signing_secret", fallback="") or ""
    except Exception as err:  # noqa: BLE001 - any failure of the command or the secrets backend
        failed = type(err).__name__
    # raised outside the except block: the original error is not even its context (a log would print it)
    raise SecretUnreadable("slack_signing_secret", failed)


def configured_seconds(option: str, default: float) -> float:
    """``[agentic_mlops] <option>`` (env ``AIRFLOW__AGENTIC_MLOPS__<OPTION>``) as a number of seconds; unset or
    empty: ``default``.

    :raises SettingInvalid: the value is not a positive number of seconds (fail closed: nothing runs under a
        timeout nobody set), or is more than :data:`MAX_SECONDS`, naming the value and the fix.
    """
    from airflow.configuration import conf

    raw = conf.get("agentic_mlops", option, fallback="")
    if not raw.strip():
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    env = f"AIRFLOW__AGENTIC_MLOPS__{option.upper()}"
    if not 0 < seconds < float("inf"):
        raise SettingInvalid(
            f"[agentic_mlops] {option} = {raw!r} is not a positive number of seconds: set it to one "
            f"(env {env}), or remove it for the default {default:g}"
        )
    if seconds > MAX_SECONDS:
        raise SettingInvalid(
            f"[agentic_mlops] {option} = {raw!r} is too long: at most {MAX_SECONDS:.0f} seconds (about 24.8 days; "
            f"PostgreSQL's lock_timeout stops there, a thread's lock wait too): set it to at most that (env {env}), "
            f"or remove it for the default {default:g}"
        )
    return seconds


def configured_migration_lock_timeout() -> float:
    """``[agentic_mlops] migration_lock_timeout`` (env ``AIRFLOW__AGENTIC_MLOPS__MIGRATION_LOCK_TIMEOUT``): seconds
    a process opening the state store waits at most for another process's migration of it; unset:
    :data:`~airflow_provider_agentic_mlops.core.option_defaults.DEFAULT_MIGRATION_LOCK_TIMEOUT` (300).

    :raises SettingInvalid: the value is not a positive number of seconds.
    """
    return configured_seconds("migration_lock_timeout", DEFAULT_MIGRATION_LOCK_TIMEOUT)
