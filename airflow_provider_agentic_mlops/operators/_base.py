"""What several operators share: the MLflow registry hook and the state store of their connections,
the retrain task's result that names the challenger, and a config section's fields as keyword parameters.

Mix in before the Airflow base class (``class ValidateOperator(MlflowHookMixin, BaseBranchOperator)``);
the operator's ``__init__`` sets ``mlflow_conn_id`` / ``state_conn_id``. Each is built on first use, once
per task instance, never at DAG parse time.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # the hooks are imported on first use, in the task, not at DAG parse time
    import pandas as pd
    from pydantic import BaseModel

    from airflow_provider_agentic_mlops.core.state import StateStore
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook


_F = TypeVar("_F", bound=Callable[..., Any])


def settings_parameters(settings: type[BaseModel]) -> Callable[[_F], _F]:
    """Declare the fields of ``settings`` (a config section, e.g. ``DriftSettings``) as keyword parameters of the
    decorated ``__init__``, which receives them in its ``**kwargs``.

    Airflow reads an operator's parameters from its ``__init__``'s signature: with them declared there, the DAG's
    ``default_args`` fill them and ``partial()`` / ``expand()`` accept them, as for any parameter, while the
    section stays the one place they are defined (type, default, constraints).
    """

    def declare(init: _F) -> _F:
        signature = inspect.signature(init)
        *own, var_keyword = signature.parameters.values()
        fields = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=field.get_default(call_default_factory=True),
                annotation=field.annotation,
            )
            for name, field in settings.model_fields.items()
        ]
        init.__signature__ = signature.replace(parameters=[*own, *fields, var_keyword])  # type: ignore[attr-defined]
        return init

    return declare


class MlflowHookMixin:
    """``self.hook``: the MLflow registry hook of ``self.mlflow_conn_id``."""

    mlflow_conn_id: str

    @cached_property
    def hook(self) -> MlflowRegistryHook:
        from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook

        return MlflowRegistryHook(self.mlflow_conn_id)


class StateStoreMixin:
    """``self.store``: the state store behind ``self.state_conn_id``."""

    state_conn_id: str

    @cached_property
    def store(self) -> StateStore:
        from airflow_provider_agentic_mlops.hooks.state import StateStoreHook, StateStoreUnavailable

        try:
            return StateStoreHook(self.state_conn_id).get_store()
        except StateStoreUnavailable as err:
            model_name = getattr(self, "model_name", None)
            if model_name is None:
                raise
            raise StateStoreUnavailable(f"model {model_name!r}: {err}") from err.__cause__


def check_model_name(model_name: Any) -> None:
    """Fail the task without retries (they get the same name) on a name models.yaml refuses, before any work."""
    from airflow_provider_agentic_mlops.core.config import model_name_refusal

    if refusal := model_name_refusal(model_name):
        from airflow_provider_agentic_mlops.version_compat import AirflowFailException

        raise AirflowFailException(refusal)


def read_data(source: Any, *, role: str, columns: list[str] | None = None) -> pd.DataFrame:
    """:func:`~..core.data_io.read_frame` of ``source``; a URI that is not a local path is opened through
    Airflow's ``ObjectStoragePath`` (``s3://``, ``gs://``, ... with their Airflow connections)."""
    from airflow_provider_agentic_mlops.core.data_io import is_local, read_frame

    opener = None
    if isinstance(source, str) and not is_local(source):
        from airflow.sdk import ObjectStoragePath

        def opener(uri: str) -> Any:
            return ObjectStoragePath(uri).open("rb")

    return read_frame(source, role=role, columns=columns, opener=opener)


def pull_retrain_result(ti: Any, retrain_task_id: str, *, model_name: str, task: str) -> dict[str, Any]:
    """The return value of the retrain task, which names the challenger (``{"version": ..., ...}``).

    :param ti: the running task instance.
    :param retrain_task_id: the RetrainOperator's task id.
    :param model_name: the provider's model name, for the error.
    :param task: what needs the version (``validate``, ``approval``, ``promote``), for the error.
    :raises AirflowFailException: no result with a version: the task fails without retries, which cannot
        change the finished retrain task's result.
    """
    retrained = ti.xcom_pull(task_ids=retrain_task_id)
    if not isinstance(retrained, dict) or not retrained.get("version"):
        from airflow_provider_agentic_mlops.version_compat import AirflowFailException

        raise AirflowFailException(
            f"model {model_name!r}: task {retrain_task_id!r} returned {retrained!r} without a model version; "
            f"{task} must run after the RetrainOperator's task: set retrain_task_id to its task id, or make that "
            "task return {'version': <the registered version>, ...}"
        )
    return retrained


def challenger_run_id(hook: Any, registered_model: str, retrained: dict[str, Any]) -> str:
    """The MLflow run of the challenger the retrain task returned (``retrained``): its ``mlflow_run_id``, else
    the run its registered version was logged from. The validation report is written there and read back."""
    if retrained.get("mlflow_run_id"):
        return str(retrained["mlflow_run_id"])
    return hook.client().get_model_version(registered_model, str(retrained["version"])).run_id
