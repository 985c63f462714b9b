"""Provider metadata, read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_agentic_mlops import __version__
from airflow_provider_agentic_mlops.core.connections import (
    DEFAULT_ALERTS_CONN_ID,
    DEFAULT_REGISTRY_CONN_ID,
    DEFAULT_STATE_CONN_ID,
)
from airflow_provider_agentic_mlops.core.option_defaults import (
    DEFAULT_ALERT_LOCK_TIMEOUT,
    DEFAULT_ALERT_MODEL_LABEL,
    DEFAULT_MIGRATION_LOCK_TIMEOUT,
)

_PKG = "airflow_provider_agentic_mlops"


def _extra_field(
    label: str, json_type: str, description: str | None = None, *, enum: list[str | None] | None = None
) -> dict[str, Any]:
    """A ``conn-fields`` entry: an optional extra of the connection form (``null`` allowed)."""
    schema: dict[str, Any] = {"type": [json_type, "null"]}
    if enum is not None:
        schema["enum"] = enum
    field: dict[str, Any] = {"label": label, "schema": schema}
    if description is not None:
        field["description"] = description
    return field


def _option(description: str, *, example: str | None, default: str, sensitive: bool = False) -> dict[str, Any]:
    """A string option of the ``[agentic_mlops]`` config section (all added in 0.1.0)."""
    option: dict[str, Any] = {"description": description, "version_added": "0.1.0", "type": "string"}
    if sensitive:
        option["sensitive"] = True
    return {**option, "example": example, "default": default}


def get_provider_info() -> dict:
    return {
        # Must equal the normalised distribution name, or `airflow providers list` fails for all.
        "package-name": "airflow-provider-agentic-mlops",
        "name": "Agentic MLOps",
        "description": "Drift checks, an LLM decision inside guardrails, retraining, validation, "
        "human approval in Slack and promotion in MLflow, one DAG per model.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Agentic MLOps",
                "external-doc-url": "https://pypi.org/project/airflow-provider-agentic-mlops/",
                "tags": ["software"],
            }
        ],
        "operators": [
            {
                "integration-name": "Agentic MLOps",
                "python-modules": [
                    f"{_PKG}.operators.drift",
                    f"{_PKG}.operators.decision",
                    f"{_PKG}.operators.escalate",
                    f"{_PKG}.operators.retrain",
                    f"{_PKG}.operators.validate",
                    f"{_PKG}.operators.promote",
                ],
            }
        ],
        "sensors": [{"integration-name": "Agentic MLOps", "python-modules": [f"{_PKG}.sensors.approval"]}],
        "triggers": [{"integration-name": "Agentic MLOps", "python-modules": [f"{_PKG}.triggers.approval"]}],
        "notifications": [f"{_PKG}.notifications.escalation.EscalationNotifier"],
        "hooks": [
            {
                "integration-name": "Agentic MLOps",
                "python-modules": [f"{_PKG}.hooks.state", f"{_PKG}.hooks.mlflow", f"{_PKG}.hooks.llm"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": f"{_PKG}.hooks.state.StateStoreHook",
                "hook-name": "Agentic MLOps state store",
                "connection-type": "agentic_mlops_state",
                "ui-field-behaviour": {
                    "hidden-fields": ["port", "schema", "login", "password", "host"],
                    "relabeling": {},
                    "placeholders": {"extra": '{"url": "postgresql+psycopg2://user:pass@host:5432/db"}'},
                },
                "conn-fields": {
                    "url": _extra_field(
                        "SQLAlchemy URL",
                        "string",
                        "Database URL of the state store. Empty: SQLite under $AIRFLOW_HOME.",
                    )
                },
            },
            {
                "hook-class-name": f"{_PKG}.hooks.mlflow.MlflowRegistryHook",
                "hook-name": "MLflow (agentic MLOps)",
                "connection-type": "agentic_mlops_mlflow",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "Tracking URI",
                        "login": "Username",
                        "password": "Password or token",
                    },
                    "placeholders": {"host": "http://mlflow:5000"},
                },
                "conn-fields": {
                    "registry_uri": _extra_field("Registry URI", "string", "Optional. Defaults to the tracking URI."),
                    "access": _extra_field(
                        "Access",
                        "string",
                        "What this connection may do in MLflow. Default by connection id "
                        "(agentic_mlops_mlflow_registry: read, _train: train, _promote: promote), else read.",
                        enum=["read", "train", "promote", None],
                    ),
                    "ui_url": _extra_field(
                        "MLflow UI URL", "string", "Optional. Base URL for extra links; defaults to the tracking URI."
                    ),
                },
            },
            {
                "hook-class-name": f"{_PKG}.hooks.llm.LLMHook",
                "hook-name": "LLM, OpenAI-compatible (agentic MLOps)",
                "connection-type": "agentic_mlops_llm",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"host": "Base URL", "password": "API key"},
                    "placeholders": {"host": "https://api.openai.com/v1"},
                },
                "conn-fields": {
                    "model": _extra_field("Model", "string", "Required. The model (Azure: the deployment's name)."),
                    "timeout": _extra_field("Timeout (s)", "number", "Wall-clock bound of one request. Default 30."),
                    "decision_timeout": _extra_field(
                        "Decision timeout (s)", "number", "Bound of all of a decision's requests. Default 4 x timeout."
                    ),
                    "max_tokens": _extra_field("Max tokens", "integer", "Completion cap of a request. Default 1024."),
                    "max_tokens_param": _extra_field(
                        "Max tokens parameter",
                        "string",
                        "max_completion_tokens for models that refuse max_tokens. Default max_tokens.",
                        enum=["max_tokens", "max_completion_tokens", None],
                    ),
                    "max_retries": _extra_field("Max retries", "integer", "Retries after a failure. Default 2."),
                    "retry_backoff_seconds": _extra_field(
                        "Retry backoff (s)", "number", "First backoff, doubled each retry. Default 1."
                    ),
                    "default_headers": _extra_field(
                        "Default headers",
                        "object",
                        'Optional. A JSON object of strings sent with every request, e.g. {"api-key": "..."}.',
                    ),
                    "organization": _extra_field(
                        "Organization", "string", "Optional. OpenAI organization id (OpenAI-Organization header)."
                    ),
                    "project": _extra_field(
                        "Project", "string", "Optional. OpenAI project id (OpenAI-Project header)."
                    ),
                },
            },
        ],
        "asset-uris": [
            {
                "schemes": ["agentic-mlops"],
                "handler": f"{_PKG}.assets.sanitize_uri",
                "factory": f"{_PKG}.assets.create_asset",
            }
        ],
        "extra-links": [
            f"{_PKG}.links.MlflowModelVersionLink",
            f"{_PKG}.links.DriftReportLink",
            f"{_PKG}.links.ValidationReportLink",
            f"{_PKG}.links.DecisionTraceLink",
            f"{_PKG}.links.ModelPageLink",
        ],
        # no "plugins": the `airflow.plugins` entry point (pyproject.toml) declares the plugin. Airflow 3.1-3.3
        # load entry points always and provider info's plugins only with lazy_discover_providers=False,
        # where a plugin in both is loaded twice ("already registered, skipping", a plugin import error)
        "cli": [f"{_PKG}.cli.definition.get_agentic_mlops_cli_commands"],
        "config": {
            "agentic_mlops": {
                "description": "Settings of the agentic MLOps provider.",
                "options": {
                    "models_file": _option(
                        "Path of the models YAML file read by the per-model DAG file.",
                        example="/opt/airflow/dags/models.yaml",
                        default="",
                    ),
                    "state_conn_id": _option(
                        "Connection id of the state store (jobs, decisions, approvals, "
                        "audit). Absent agentic_mlops_state_default: SQLite at $AIRFLOW_HOME/agentic_mlops.db; "
                        "any other id must exist.",
                        example=None,
                        default=DEFAULT_STATE_CONN_ID,
                    ),
                    "mlflow_tracking_uri": _option(
                        "Fallback MLflow tracking URI used when a model's MLflow "
                        "connection does not exist. Empty: sqlite under $AIRFLOW_HOME.",
                        example="http://mlflow:5000",
                        default="",
                    ),
                    "mlflow_read_conn_id": _option(
                        "Read-only MLflow connection the web plugin fetches drift and validation reports through.",
                        example=None,
                        default=DEFAULT_REGISTRY_CONN_ID,
                    ),
                    "alerts_conn_id": _option(
                        "Connection whose password is the bearer token of POST "
                        "/agentic-mlops/alerts (login + password also allow basic auth); several ids "
                        "separated by commas (e.g. one per team). A connection's extra may scope its token: "
                        '{"teams": [...], "models": ["glob", ...]}; without them it starts every model.',
                        example=None,
                        default=DEFAULT_ALERTS_CONN_ID,
                    ),
                    "alert_model_label": _option(
                        "Alert label naming the model; its DAG is agentic_mlops__<value>.",
                        example="service",
                        default=DEFAULT_ALERT_MODEL_LABEL,
                    ),
                    "alert_lock_timeout": _option(
                        "Seconds an alert waits for its model's lock (held while a run is looked for and "
                        "started) before the endpoint answers 503 and the sender retries.",
                        example="30",
                        default=f"{DEFAULT_ALERT_LOCK_TIMEOUT:g}",
                    ),
                    "migration_lock_timeout": _option(
                        "Seconds a process opening the state store (a worker, the API server, the CLI) waits at "
                        "most for another process's migration of its schema, then fails naming the holder of "
                        "the migration lock (a frozen process keeps it until TCP keepalive gives up).",
                        example="600",
                        default=f"{DEFAULT_MIGRATION_LOCK_TIMEOUT:g}",
                    ),
                    "slack_signing_secret": _option(
                        "Slack app signing secret used to verify interaction callbacks.",
                        example=None,
                        default="",
                        sensitive=True,
                    ),
                    "approver_identities": _option(
                        "Who is who for approvals: JSON keyed by Airflow user name, each with "
                        "the person's Slack user ids ('slack'), OS logins ('os') and e-mail ('email'). "
                        "Two-person approvals count people, and only mapped ones.",
                        example='{"alice": {"slack": ["U012ALICE"], "os": ["alice"], "email": "alice@example.com"}}',
                        default="",
                    ),
                },
            }
        },
    }
