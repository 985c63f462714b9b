"""Airflow plugin of the agentic MLOps provider: the FastAPI app and the approvals page.

Registered through the ``airflow.plugins`` entry point. Importing this module builds the app but
imports no slack_sdk, pandas, MLflow or Airflow API-server internals; those load on first request.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_agentic_mlops.links import PLUGIN_PREFIX as URL_PREFIX
from airflow_provider_agentic_mlops.plugins.app import create_app

app = create_app()


class AgenticMlopsPlugin(AirflowPlugin):
    """Serves ``POST /agentic-mlops/slack/interactions`` and the approvals page (Browse > Model approvals)."""

    name = "agentic_mlops"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Agentic MLOps"}]
    external_views = [
        {
            "name": "Models",
            "href": f"{URL_PREFIX}/models",
            "url_route": "agentic-mlops-models",
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "Model approvals",
            "href": f"{URL_PREFIX}/approvals",
            "url_route": "agentic-mlops-approvals",
            "destination": "nav",
            "category": "browse",
        },
    ]


__all__ = ["AgenticMlopsPlugin", "URL_PREFIX", "app"]
