"""What the operators share: the retrain task's result, read once for every task that needs the new version."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from airflow_provider_agentic_mlops.operators._base import pull_retrain_result
from airflow_provider_agentic_mlops.version_compat import AirflowFailException
from tests.doubles.airflow_task import TaskInstanceDouble, task_context

INVALID_RESULTS = [None, {}, {"version": None}, {"mlflow_run_id": "r1"}, "7", ["7"]]


def _ti(result: Any) -> TaskInstanceDouble:
    return TaskInstanceDouble(xcoms={} if result is None else {("train", "return_value"): result})


@pytest.mark.parametrize("result", INVALID_RESULTS)
def test_a_missing_or_invalid_retrain_result_fails_the_task_for_good_naming_the_task_and_the_fix(result: Any) -> None:
    with pytest.raises(AirflowFailException) as failed:  # no retry: rerunning cannot give it a version
        pull_retrain_result(_ti(result), "train", model_name="fraud", task="promote")
    message = str(failed.value)
    assert f"model 'fraud': task 'train' returned {result!r} without a model version" in message
    assert "promote must run after the RetrainOperator's task: set retrain_task_id to its task id" in message


def test_the_retrain_result_is_returned_whole() -> None:
    result = {"version": "7", "mlflow_run_id": "r1"}
    assert pull_retrain_result(_ti(result), "train", model_name="fraud", task="validate") == result


def test_every_task_that_needs_the_new_version_fails_the_same_way_without_it() -> None:
    from airflow_provider_agentic_mlops.operators.promote import PromoteOperator
    from airflow_provider_agentic_mlops.operators.validate import ValidateOperator

    validate = ValidateOperator(task_id="validate", model_name="fraud", validation_data="v.csv", label_column="y")
    validate.__dict__["hook"] = mock.Mock()  # the MLflow access check passes; nothing else is reached
    with pytest.raises(AirflowFailException, match="validate must run after the RetrainOperator's task"):
        validate.choose_branch(task_context())
    promote = PromoteOperator(task_id="promote", model_name="fraud")
    with pytest.raises(AirflowFailException, match="promote must run after the RetrainOperator's task"):
        promote.execute(task_context())


def test_an_operator_whose_state_store_is_unreachable_names_its_model(monkeypatch, airflow_home) -> None:
    import json

    from airflow_provider_agentic_mlops.hooks.state import StateStoreUnavailable
    from airflow_provider_agentic_mlops.operators._base import StateStoreMixin

    url = "postgresql+psycopg2://mlops@127.0.0.1:18998/mlops"  # nothing listens there
    monkeypatch.setenv(
        "AIRFLOW_CONN_STATE_DOWN", json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": url}})
    )

    class Step(StateStoreMixin):
        model_name, state_conn_id = "fraud-detector", "state_down"

    with pytest.raises(
        StateStoreUnavailable, match=r"^model 'fraud-detector': the state store \(connection 'state_down'"
    ):
        _ = Step().store


def _every_step(model_name: str) -> list[tuple[Any, str]]:
    """Each operator and the sensor, whose ``model_name`` rendered to ``model_name`` (a template, when built),
    with the method a task run calls first."""
    from airflow_provider_agentic_mlops.operators.decision import AgentDecisionOperator
    from airflow_provider_agentic_mlops.operators.drift import DriftCheckOperator
    from airflow_provider_agentic_mlops.operators.escalate import EscalateOperator
    from airflow_provider_agentic_mlops.operators.promote import PromoteOperator, RollbackOperator
    from airflow_provider_agentic_mlops.operators.retrain import RetrainOperator
    from airflow_provider_agentic_mlops.operators.validate import ValidateOperator
    from airflow_provider_agentic_mlops.sensors.approval import ApprovalSensor

    name = {"model_name": "{{ params.model }}"}
    steps = [
        (DriftCheckOperator(task_id="check", reference="r.csv", current="c.csv", **name), "execute"),
        (AgentDecisionOperator(task_id="decide", **name), "choose_branch"),
        (EscalateOperator(task_id="escalate", **name), "execute"),
        (RetrainOperator(task_id="retrain", python_callable="m:f", **name), "execute"),
        (ValidateOperator(task_id="validate", validation_data="v.csv", label_column="y", **name), "choose_branch"),
        (ApprovalSensor(task_id="approve", **name), "execute"),
        (PromoteOperator(task_id="promote", **name), "execute"),
        (RollbackOperator(task_id="rollback", **name), "execute"),
    ]
    for step, _ in steps:
        step.model_name = model_name  # as Airflow renders the template fields before the task runs
    return steps


@pytest.mark.parametrize("model_name", ["team/churn", "", " churn", "churn?x=1"])
def test_a_model_name_models_yaml_would_refuse_fails_every_step_naming_it_and_a_valid_one(model_name: str) -> None:
    """A hand-written DAG may give a name models.yaml refuses ('team/churn'): the model's pages, whose URLs
    hold the name, answered 404. Each step refuses it when it runs (after templating), before doing anything."""
    for step, entry in _every_step(model_name):
        step.__dict__["hook"] = mock.Mock(side_effect=AssertionError("reached the hook"))
        step.__dict__["store"] = mock.Mock(side_effect=AssertionError("reached the store"))
        with pytest.raises(AirflowFailException) as failed:  # no retry: a rerun gets the same name
            getattr(step, entry)(task_context())
        message = str(failed.value)
        assert f"model_name {model_name!r} " in message and "ASCII letters, digits" in message, step.task_id
        assert "fix model_name in the DAG" in message, step.task_id
    assert "e.g. 'team-churn'" in message if model_name == "team/churn" else True
