"""Example: the whole loop written by hand, as the DAG factory builds it from models.yaml.

check_drift -> decide -> retrain | no_action | escalate; retrain -> validate -> wait_for_approval |
rejected; wait_for_approval -> promote. The task ids are the operators' defaults for their upstream
tasks (``drift_task_id="check_drift"``, ``retrain_task_id="retrain"``, ...), so no wiring argument is
needed; name a task otherwise and pass its id to the tasks that read it.

Needs, when it runs: the data at the paths, the MLflow connections ``agentic_mlops_mlflow_train`` and
``agentic_mlops_mlflow_promote``, the state store (``[agentic_mlops] state_conn_id``), the training
function ``my_team.training:train_churn`` (the training callable contract: README, RetrainOperator) and,
for the Slack message, ``agentic_mlops_slack`` (without it approve with
``airflow agentic-mlops approvals approve <id>`` or the approvals page).
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

from airflow_provider_agentic_mlops.operators.decision import AgentDecisionOperator
from airflow_provider_agentic_mlops.operators.drift import DriftCheckOperator
from airflow_provider_agentic_mlops.operators.escalate import EscalateOperator
from airflow_provider_agentic_mlops.operators.promote import PromoteOperator
from airflow_provider_agentic_mlops.operators.retrain import RetrainOperator
from airflow_provider_agentic_mlops.operators.validate import ValidateOperator
from airflow_provider_agentic_mlops.sensors.approval import ApprovalSensor

MODEL = "churn"
CURRENT = "s3://my-bucket/churn/current/{{ ds }}.parquet"
#: the retrain budget: the decision checks it, and the retrain task again (defence in depth)
BUDGET = {"cooldown_hours": 24, "max_retrains": 3, "budget_window_hours": 168}

with DAG(
    dag_id="example_hand_written_loop",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["agentic-mlops", "example"],
    doc_md=__doc__,
):
    check_drift = DriftCheckOperator(
        task_id="check_drift",
        model_name=MODEL,
        reference="s3://my-bucket/churn/reference.parquet",
        current=CURRENT,
        label_column="churned",
        timestamp_column="event_time",
        champion_model_uri=f"models:/{MODEL}@champion",
    )
    decide = AgentDecisionOperator(task_id="decide", model_name=MODEL, mode="rules", guardrails=BUDGET)
    retrain = RetrainOperator(
        task_id="retrain",
        model_name=MODEL,
        python_callable="my_team.training:train_churn",  # imported when the task runs
        conf={"train_data": CURRENT},
        **BUDGET,
    )
    escalate = EscalateOperator(task_id="escalate", model_name=MODEL, channel="#ml-oncall")
    validate = ValidateOperator(
        task_id="validate",
        model_name=MODEL,
        validation_data=CURRENT,
        label_column="churned",
        exclude_columns=["event_time"],
        primary_metric="roc_auc",
        min_absolute_improvement=0.005,
        floors={"roc_auc": 0.7},
    )
    wait_for_approval = ApprovalSensor(
        task_id="wait_for_approval",
        model_name=MODEL,
        channel="#ml-approvals",
        approvers=["U0123ABCD"],  # Slack user ids allowed to click Approve / Deny
        timeout_hours=24,
    )
    promote = PromoteOperator(task_id="promote", model_name=MODEL)

    check_drift >> decide >> [retrain, EmptyOperator(task_id="no_action"), escalate]
    retrain >> validate >> [wait_for_approval, EmptyOperator(task_id="rejected")]
    wait_for_approval >> promote
