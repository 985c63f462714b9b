"""Extra links of the provider's operators (listed in provider info ``extra-links``).

Every link points at a page of the provider's plugin (``/agentic-mlops/...``), which opens for
any artifact store: a report is served by the plugin from MLflow's artifact store behind Airflow's
auth, never as a path on a worker's disk. A link with nothing to point at returns ``""``: Airflow's
API turns it into ``null`` and the UI does not show it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: Where Airflow's API server mounts the plugin's FastAPI app.
PLUGIN_PREFIX = "/agentic-mlops"
#: XCom key of the drift report's URI (DriftCheckOperator) and of the validation summary (ValidateOperator).
REPORT_URI_XCOM_KEY = "report_uri"
VALIDATION_XCOM_KEY = "validation"


def _base_path() -> str:
    """The path of Airflow's ``[api] base_url`` (``/airflow`` behind a proxy), "" when it has none."""
    from urllib.parse import urlsplit

    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


def plugin_url(path: str) -> str:
    """URL path of a plugin page, below Airflow's ``[api] base_url`` path when it has one."""
    return f"{_base_path()}{PLUGIN_PREFIX}{path}"


def airflow_url(path: str) -> str | None:
    """The full URL of Airflow's own UI page ``path`` (e.g. ``/dags/<dag_id>/runs/<run_id>``) for places that need
    a host, such as Slack; None when ``[api] base_url`` names no host (a relative URL is no link there)."""
    return absolute_url(f"{_base_path()}{path}")


def task_log_url(
    dag_id: str, run_id: str, task_id: str, *, map_index: int = -1, try_number: int | None = None
) -> str | None:
    """The full URL of a task instance's log in Airflow's UI (the page Airflow's own ``ti.log_url`` names, at the
    try ``try_number`` when given); None when ``[api] base_url`` names no host.

    :param map_index: the copy of a mapped task; -1 for a task that is not mapped.
    """
    mapped = f"/mapped/{map_index}" if map_index >= 0 else ""
    tried = f"?try_number={try_number}" if try_number else ""
    return airflow_url(
        f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id, safe='')}{mapped}{tried}"
    )


def absolute_url(page: str) -> str | None:
    """The full URL of plugin page ``page`` (a :func:`plugin_url` or :func:`artifact_url`, which already start with
    ``[api] base_url``'s path) for places that need a host, such as Slack; None when base_url names no host."""
    from urllib.parse import urlsplit, urlunsplit

    from airflow.configuration import conf

    base = urlsplit(conf.get("api", "base_url", fallback="") or "")
    if not base.netloc:
        return None
    return urlunsplit((base.scheme, base.netloc, "", "", "")) + page


def artifact_url(model_name: str, uri: str) -> str:
    """The plugin page serving artifact ``uri`` (``runs:/``, an artifact-store URI, an MLflow UI URL)."""
    return plugin_url(f"/models/{quote(model_name, safe='')}/artifact?uri={quote(uri, safe='')}")


def _xcom(ti_key: TaskInstanceKey, key: str) -> Any:
    from airflow.sdk.execution_time.xcom import XCom

    return XCom.get_value(ti_key=ti_key, key=key)


class _XComLink(BaseOperatorLink):
    """A link read from an XCom of its task, ``value_key`` (not Airflow's ``xcom_key``, where Airflow stores the
    link itself), which shows no link while it holds ``empty``."""

    value_key: ClassVar[str]
    empty: ClassVar[Any]

    @classmethod
    def hide_until_written(cls, ti: Any) -> None:
        """Push ``empty`` first thing in a try: the Task SDK reads every extra link when a try ends, failed ones
        too, and a link reading an XCom never written makes the execution API log an ERROR for its 404. A
        successful try overwrites it."""
        ti.xcom_push(key=cls.value_key, value=cls.empty)


class DriftReportLink(_XComLink):
    """Link from the drift task to its Evidently report, served by the plugin."""

    name = "Drift report"
    value_key, empty = REPORT_URI_XCOM_KEY, ""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        uri = _xcom(ti_key, REPORT_URI_XCOM_KEY)
        return artifact_url(operator.model_name, str(uri)) if uri else ""


class ValidationReportLink(_XComLink):
    """Link from the validation task to its champion-vs-challenger report, served by the plugin."""

    name = "Validation report"
    value_key, empty = VALIDATION_XCOM_KEY, {}  # {}: no result, for the approval and the promotion too

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        summary = _xcom(ti_key, VALIDATION_XCOM_KEY)
        uri = summary.get("report_uri") if isinstance(summary, dict) else None
        return artifact_url(operator.model_name, str(uri)) if uri else ""


class ModelPageLink(BaseOperatorLink):
    """Link from a task to its model's page (drift over time, decisions, champion lineage)."""

    name = "Model overview"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return plugin_url(f"/models/{quote(operator.model_name, safe='')}")


class DecisionTraceLink(_XComLink):
    """Link from the decision task to the full trace of the decision it took."""

    name = "Decision trace"
    value_key, empty = "decision_id", None

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        decision_id = _xcom(ti_key, "decision_id")
        if decision_id is None:
            return ""
        return plugin_url(f"/models/{quote(operator.model_name, safe='')}/decisions/{int(decision_id)}")


class MlflowModelVersionLink(BaseOperatorLink):
    """Link from the promote / rollback task to the champion lineage on the model's page; the page
    links on to the version in the MLflow UI when MLflow has one."""

    name = "Champion lineage"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return plugin_url(f"/models/{quote(operator.model_name, safe='')}#lineage")


__all__ = [
    "DecisionTraceLink",
    "DriftReportLink",
    "MlflowModelVersionLink",
    "ModelPageLink",
    "PLUGIN_PREFIX",
    "absolute_url",
    "ValidationReportLink",
    "artifact_url",
    "plugin_url",
    "task_log_url",
]
