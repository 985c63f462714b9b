"""Example: a drift check and a rules-only decision, hand-written with the provider's operators.

``check_drift`` compares this week's rows with the reference and returns a drift summary;
``decide`` reads it (``drift_task_id``), applies the guardrails (no LLM: ``mode="rules"``) and
branches to one task: here each action is mapped to a task of our own with ``action_task_ids``.
Every decision is stored with its rationale: ``airflow agentic-mlops decisions list churn``.

Needs, when it runs: the data at the two paths, the MLflow connection ``agentic_mlops_mlflow_train``
(where the drift report is logged) and the state store (``[agentic_mlops] state_conn_id``).
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

from airflow_provider_agentic_mlops.operators.decision import AgentDecisionOperator
from airflow_provider_agentic_mlops.operators.drift import DriftCheckOperator

with DAG(
    dag_id="example_drift_check",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["agentic-mlops", "example"],
    doc_md=__doc__,
):
    check_drift = DriftCheckOperator(
        task_id="check_drift",
        model_name="churn",
        reference="s3://my-bucket/churn/reference.parquet",
        current="s3://my-bucket/churn/current/{{ ds }}.parquet",
        label_column="churned",  # any DriftSettings field is a keyword argument
        column_methods={"monthly_spend": "psi"},
    )
    decide = AgentDecisionOperator(
        task_id="decide",
        model_name="churn",
        drift_task_id="check_drift",
        mode="rules",
        guardrails={"min_drift_share": 0.2, "critical_drift_share": 0.6, "cooldown_hours": 48},
        action_task_ids={"retrain": "retraining_needed", "no_action": "all_good", "escalate": "look_into_it"},
    )
    (
        check_drift
        >> decide
        >> [
            EmptyOperator(task_id="retraining_needed"),
            EmptyOperator(task_id="all_good"),
            EmptyOperator(task_id="look_into_it"),
        ]
    )
