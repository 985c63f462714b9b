"""The connection ids the provider uses when it is given none: the operators' and hooks' defaults, the models
file's and the CLI's. Plain constants, cheap to import at DAG parse time."""

from __future__ import annotations

#: the state store (absent connection: SQLite in ``$AIRFLOW_HOME``); ``[agentic_mlops] state_conn_id`` overrides
#: it deployment-wide (``settings.configured_state_conn_id``)
DEFAULT_STATE_CONN_ID = "agentic_mlops_state_default"
#: MLflow, read-only: the hook's default, and what the web plugin reads reports through
DEFAULT_REGISTRY_CONN_ID = "agentic_mlops_mlflow_registry"
#: MLflow with ``train`` access: logs runs and reports, registers versions, sets ``challenger``
DEFAULT_TRAIN_CONN_ID = "agentic_mlops_mlflow_train"
#: MLflow with ``promote`` access: the one connection that moves ``champion``
DEFAULT_PROMOTE_CONN_ID = "agentic_mlops_mlflow_promote"
#: the OpenAI-compatible LLM of the decision (absent connection: the rules decide alone)
DEFAULT_LLM_CONN_ID = "agentic_mlops_llm_default"
#: Slack's bot token, the Slack provider's ``SlackHook`` default (absent connection: messages go to the log)
DEFAULT_SLACK_CONN_ID = "slack_api_default"
#: the alerts endpoint's bearer token (``[agentic_mlops] alerts_conn_id`` names others)
DEFAULT_ALERTS_CONN_ID = "agentic_mlops_alerts"
