"""What differs between the Airflow versions the provider supports (3.1 to 3.3), in one place.

Modelled on ``airflow/providers/standard/version_compat.py``: version flags, and the names that
moved between releases, imported from wherever the running Airflow keeps them. Everything else in
the provider imports these names from here, never with its own ``try/except ImportError``.

- ``AirflowFailException``, ``AirflowSkipException``, ``DagRunTriggerException``: in
  ``airflow.sdk.exceptions`` since 3.2, in ``airflow.exceptions`` on 3.1 (3.2+ still re-exports them
  there, with a deprecation warning).
- ``AirflowNotFoundException`` ("connection not found"): raised by ``BaseHook.get_connection``;
  one class on 3.2+ (``airflow.sdk.exceptions``, aliased by ``airflow.exceptions``), only in
  ``airflow.exceptions`` on 3.1. :data:`CONNECTION_NOT_FOUND` holds every class that means it.
- Connection form fields: 3.2+ reads ``conn-fields`` from provider info; 3.1 only calls the hook's
  ``get_connection_form_widgets()`` (see :mod:`airflow_provider_agentic_mlops.hooks.connection_form`).
- Provider CLI commands (provider info ``cli``): read by ``airflow`` from 3.2; on 3.1 the
  ``agentic-mlops`` console script offers the same commands. Every message naming a command names
  the one that works here (:data:`CLI_COMMAND_PREFIX`, handed to core's
  :mod:`~airflow_provider_agentic_mlops.core.commands` on import).
- ``trigger_dag``'s ``note``: taken since 3.2; on 3.1 :func:`trigger_dag_with_note` sets the note on
  the new run, as 3.1's REST API does (found from the function's signature, not the version).
- A callback run by the DAG processor (a task that died without reporting: heartbeat timeout, OOM kill): 3.1 to
  3.3 run them in ``airflow.dag_processing.processor``, all of a file's in one process killed after
  ``dag_file_processor_timeout``; :func:`called_by_dag_processor` tells. Its file processor sets the task SDK's
  ``SUPERVISOR_COMMS`` too, so that is no sign of a task runner.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_agentic_mlops.core.commands import (
    AIRFLOW_GROUP,
    CONSOLE_SCRIPT,
    command,
    command_prefix,
    set_command_prefix,
)

if TYPE_CHECKING:
    from airflow.models import DagRun


def get_base_airflow_version_tuple() -> tuple[int, int, int]:
    """(major, minor, micro) of the running Airflow, pre-release suffixes dropped."""
    from airflow import __version__
    from packaging.version import Version

    version = Version(__version__)
    return version.major, version.minor, version.micro


AIRFLOW_V_3_1_PLUS: bool = get_base_airflow_version_tuple() >= (3, 1, 0)
AIRFLOW_V_3_2_PLUS: bool = get_base_airflow_version_tuple() >= (3, 2, 0)
AIRFLOW_V_3_3_PLUS: bool = get_base_airflow_version_tuple() >= (3, 3, 0)

if AIRFLOW_V_3_2_PLUS:
    from airflow.sdk.exceptions import (
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
        DagRunTriggerException,
    )
else:  # Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
        DagRunTriggerException,
    )


def _not_found_classes() -> tuple[type[Exception], ...]:
    classes: list[type[Exception]] = [AirflowNotFoundException]
    try:  # the core class, raised where hooks run inside the API server or scheduler
        from airflow.exceptions import AirflowNotFoundException as core_not_found
    except ImportError:  # pragma: no cover - every supported version has it
        core_not_found = AirflowNotFoundException
    if core_not_found not in classes:
        classes.append(core_not_found)
    return tuple(classes)


#: Exception classes meaning "this connection id is not defined", for ``except CONNECTION_NOT_FOUND:``.
CONNECTION_NOT_FOUND: tuple[type[Exception], ...] = _not_found_classes()

#: Whether ``airflow`` itself loads the ``cli`` entry of provider info (else use ``agentic-mlops``).
PROVIDER_CLI_COMMANDS_LOADED: bool = AIRFLOW_V_3_2_PLUS

#: How a person runs the provider's commands here: ``airflow agentic-mlops`` where Airflow loads them,
#: else the ``agentic-mlops`` console script (Airflow 3.1). Core's messages name it too.
CLI_COMMAND_PREFIX: str = AIRFLOW_GROUP if PROVIDER_CLI_COMMANDS_LOADED else CONSOLE_SCRIPT
set_command_prefix(CLI_COMMAND_PREFIX)


@functools.cache
def _takes_keyword(function: Callable[..., Any], name: str) -> bool:
    """Whether ``function`` accepts the keyword argument ``name`` (read once per function)."""
    parameters = inspect.signature(function).parameters.values()
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def trigger_dag_with_note(dag_id: str, *, note: str, **kwargs: Any) -> DagRun | None:
    """Airflow's ``airflow.api.common.trigger_dag.trigger_dag``, the new run noted ``note`` on every version.

    Airflow 3.2+ takes ``note``; 3.1's ``trigger_dag`` has no such argument, so the note is set on the
    run it returns, in the caller's session (``kwargs["session"]``), as 3.1's REST API does.

    :param dag_id: the DAG to start.
    :param note: the run's note (shown in Airflow's UI).
    :param kwargs: the other arguments of ``trigger_dag`` (``triggered_by``, ``conf``, ``session``, ...).
    """
    from airflow.api.common import trigger_dag as trigger_module

    trigger_dag = trigger_module.trigger_dag
    if _takes_keyword(trigger_dag, "note"):
        return trigger_dag(dag_id, note=note, **kwargs)
    run = trigger_dag(dag_id, **kwargs)
    if run is not None:
        run.note = note
    return run


#: The module whose functions run the DAG processor's callbacks (``_execute_callbacks``) on Airflow 3.1 to 3.3.
DAG_PROCESSOR_CALLBACK_MODULE = "airflow.dag_processing.processor"


def called_by_dag_processor(max_depth: int = 60) -> bool:
    """Whether the current call runs inside the DAG processor's callbacks (a frame of
    :data:`DAG_PROCESSOR_CALLBACK_MODULE` on the stack), not in a task runner.

    :param max_depth: frames looked at, from the caller up.
    """
    frame = sys._getframe(1)
    for _ in range(max_depth):
        if frame is None:
            return False
        if frame.f_globals.get("__name__") == DAG_PROCESSOR_CALLBACK_MODULE:
            return True
        frame = frame.f_back
    return False


__all__ = [
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "CLI_COMMAND_PREFIX",
    "CONNECTION_NOT_FOUND",
    "DAG_PROCESSOR_CALLBACK_MODULE",
    "PROVIDER_CLI_COMMANDS_LOADED",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSkipException",
    "DagRunTriggerException",
    "called_by_dag_processor",
    "command",
    "command_prefix",
    "trigger_dag_with_note",
]
