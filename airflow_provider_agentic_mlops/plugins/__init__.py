"""Airflow plugin of the agentic MLOps provider: the FastAPI app and the approvals page.

Registered through the ``airflow.plugins`` entry point. Importing this module builds the app but
imports no slack_sdk, pandas, MLflow or Airflow API-server internals; those load on first request.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

# before any route speaks: messages name the provider's commands as they run on this Airflow
from airflow_provider_agentic_mlops import version_compat  # noqa: F401 - it sets core's command prefix
from airflow_provider_agentic_mlops.links import PLUGIN_PREFIX as URL_PREFIX
from airflow_provider_agentic_mlops.links import plugin_url
from airflow_provider_agentic_mlops.plugins.app import create_app

app = create_app()


def nav_href(path: str) -> str:
    """Href of a Browse entry: the UI loads a relative href as the iframe's src unchanged, so it must
    carry ``[api] base_url``'s path, as the task links do (:func:`~..links.plugin_url`).

    :param path: the page below the plugin, e.g. ``/models``.
    """
    try:
        return plugin_url(path)
    except ValueError:  # a base_url urlsplit cannot parse: the plugin still loads, at the bare prefix
        return f"{URL_PREFIX}{path}"


class AgenticMlopsPlugin(AirflowPlugin):
    """Serves ``POST /agentic-mlops/slack/interactions`` and the approvals page (Browse > Model approvals)."""

    name = "agentic_mlops"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Agentic MLOps"}]
    external_views = [
        {
            "name": "Models",
            "href": nav_href("/models"),
            "url_route": "agentic-mlops-models",
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "Model approvals",
            "href": nav_href("/approvals"),
            "url_route": "agentic-mlops-approvals",
            "destination": "nav",
            "category": "browse",
        },
    ]


__all__ = ["AgenticMlopsPlugin", "URL_PREFIX", "app", "nav_href"]
