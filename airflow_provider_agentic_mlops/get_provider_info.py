"""Provider metadata, read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from airflow_provider_agentic_mlops import __version__

_PKG = "airflow_provider_agentic_mlops"


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
                    "url": {
                        "label": "SQLAlchemy URL",
                        "schema": {"type": ["string", "null"]},
                        "description": "Database URL of the state store. Empty: SQLite under $AIRFLOW_HOME.",
                    }
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
                    "registry_uri": {
                        "label": "Registry URI",
                        "schema": {"type": ["string", "null"]},
                        "description": "Optional. Defaults to the tracking URI.",
                    },
                    "access": {
                        "label": "Access",
                        "schema": {"type": ["string", "null"], "enum": ["read", "train", "promote", None]},
                        "description": "What this connection may do in MLflow. Default by connection id "
                        "(agentic_mlops_mlflow_registry: read, _train: train, _promote: promote), else read.",
                    },
                    "ui_url": {
                        "label": "MLflow UI URL",
                        "schema": {"type": ["string", "null"]},
                        "description": "Optional. Base URL for extra links; defaults to the tracking URI.",
                    },
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
                    "model": {"label": "Model", "schema": {"type": ["string", "null"]}},
                    "timeout": {"label": "Timeout (s)", "schema": {"type": ["number", "null"]}},
                    "max_tokens": {"label": "Max tokens", "schema": {"type": ["integer", "null"]}},
                    "max_retries": {"label": "Max retries", "schema": {"type": ["integer", "null"]}},
                    "retry_backoff_seconds": {"label": "Retry backoff (s)", "schema": {"type": ["number", "null"]}},
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
        "plugins": [{"name": "agentic_mlops", "plugin-class": f"{_PKG}.plugins.AgenticMlopsPlugin"}],
        "cli": [f"{_PKG}.cli.definition.get_agentic_mlops_cli_commands"],
        "config": {
            "agentic_mlops": {
                "description": "Settings of the agentic MLOps provider.",
                "options": {
                    "models_file": {
                        "description": "Path of the models YAML file read by the per-model DAG file.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/opt/airflow/dags/models.yaml",
                        "default": "",
                    },
                    "state_conn_id": {
                        "description": "Connection id of the state store (jobs, decisions, approvals, "
                        "audit). Absent connection: SQLite at $AIRFLOW_HOME/agentic_mlops.db.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": None,
                        "default": "agentic_mlops_state_default",
                    },
                    "mlflow_tracking_uri": {
                        "description": "Fallback MLflow tracking URI used when a model's MLflow "
                        "connection does not exist. Empty: sqlite under $AIRFLOW_HOME.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "http://mlflow:5000",
                        "default": "",
                    },
                    "alerts_conn_id": {
                        "description": "Connection whose password is the bearer token of POST "
                        "/agentic-mlops/alerts (login + password also allow basic auth).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": None,
                        "default": "agentic_mlops_alerts",
                    },
                    "alert_model_label": {
                        "description": "Alert label naming the model; its DAG is agentic_mlops__<value>.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "service",
                        "default": "model",
                    },
                    "slack_signing_secret": {
                        "description": "Slack app signing secret used to verify interaction callbacks.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "sensitive": True,
                        "example": None,
                        "default": "",
                    },
                    "approver_identities": {
                        "description": "Who is who for approvals: JSON keyed by Airflow user name, each with "
                        "the person's Slack user ids ('slack'), OS logins ('os') and e-mail ('email'). "
                        "Two-person approvals count people, and only mapped ones.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": '{"alice": {"slack": ["U012ALICE"], "os": ["alice"], "email": "alice@example.com"}}',
                        "default": "",
                    },
                },
            }
        },
    }
