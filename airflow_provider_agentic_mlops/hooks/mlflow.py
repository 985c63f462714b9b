"""MLflow tracking and registry access through an Airflow connection."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_agentic_mlops.hooks.state import _get_connection_or_none

if TYPE_CHECKING:
    from mlflow import MlflowClient


def default_tracking_uri() -> str:
    """Tracking URI used when the connection does not exist.

    ``[agentic_mlops] mlflow_tracking_uri``, else ``MLFLOW_TRACKING_URI``, else a SQLite store at
    ``$AIRFLOW_HOME/mlflow.db`` (artifacts in ``$AIRFLOW_HOME/mlartifacts``).
    """
    configured = os.environ.get("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI")
    if not configured:
        try:
            from airflow.configuration import conf

            configured = conf.get("agentic_mlops", "mlflow_tracking_uri", fallback="")
        except Exception:  # configuration not reachable (e.g. in a bare interpreter)
            configured = ""
    if configured:
        return configured
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow").resolve()
    return f"sqlite:///{home / 'mlflow.db'}"


class MlflowRegistryHook(BaseHook):
    """An MLflow client for one connection.

    The connection's host is the tracking URI (``http://mlflow:5000``); login/password become
    MLflow's basic-auth credentials, or the password alone a bearer token. Without the connection
    the provider falls back to :func:`default_tracking_uri`, and says so in the log.

    :param mlflow_conn_id: connection id; the provider uses three, one per privilege:
        ``agentic_mlops_mlflow_registry`` (read), ``agentic_mlops_mlflow_train`` (log runs and
        register versions) and ``agentic_mlops_mlflow_promote`` (move the champion alias).
    """

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "agentic_mlops_mlflow_registry"
    conn_type = "agentic_mlops_mlflow"
    hook_name = "MLflow (agentic MLOps)"

    def __init__(self, mlflow_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def _settings(self) -> dict[str, Any]:
        conn = _get_connection_or_none(self.mlflow_conn_id)
        if conn is None:
            uri = default_tracking_uri()
            self.log.info("MLflow connection %r not found; using tracking URI %s", self.mlflow_conn_id, uri)
            return {"tracking_uri": uri, "registry_uri": uri, "ui_url": None, "login": None, "password": None}
        extra = conn.extra_dejson or {}
        host = conn.host or ""
        if host and "://" not in host:
            host = f"{conn.schema or 'http'}://{host}" + (f":{conn.port}" if conn.port else "")
        if not host:
            raise ValueError(
                f"MLflow connection {self.mlflow_conn_id!r} has no host; set it to the tracking URI, "
                "e.g. http://mlflow:5000"
            )
        return {
            "tracking_uri": host,
            "registry_uri": extra.get("registry_uri") or host,
            "ui_url": extra.get("ui_url"),
            "login": conn.login,
            "password": conn.password,
        }

    @property
    def tracking_uri(self) -> str:
        return self._settings["tracking_uri"]

    @property
    def ui_url(self) -> str | None:
        """Base URL of the MLflow UI for links, when the tracking URI is an HTTP server."""
        ui = self._settings["ui_url"] or self.tracking_uri
        return ui.rstrip("/") if ui.startswith("http") else None

    def get_conn(self) -> MlflowClient:
        return self.client()

    def client(self) -> MlflowClient:
        """An ``mlflow.MlflowClient`` for this connection (credentials applied to the process env,
        which is how MLflow reads them)."""
        from mlflow import MlflowClient

        self._apply_credentials()
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self._settings["registry_uri"])

    def _apply_credentials(self) -> None:
        login, password = self._settings["login"], self._settings["password"]
        for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
            os.environ.pop(key, None)
        if login and password:
            os.environ["MLFLOW_TRACKING_USERNAME"] = login
            os.environ["MLFLOW_TRACKING_PASSWORD"] = password
        elif password:
            os.environ["MLFLOW_TRACKING_TOKEN"] = password
