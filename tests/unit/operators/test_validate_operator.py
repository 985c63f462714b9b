"""ValidateOperator as a DAG builds it: its gate fields are parameters Airflow knows (default_args, partial)."""

from __future__ import annotations

import pytest
from airflow.sdk import DAG

from airflow_provider_agentic_mlops.core.validation import GateSettings
from airflow_provider_agentic_mlops.operators.validate import ValidateOperator

REQUIRED = {"validation_data": "current.parquet", "label_column": "is_fraud"}


def test_default_args_give_the_gates_and_a_keyword_argument_wins() -> None:
    with DAG("d", schedule=None, default_args={"primary_metric": "rmse", "floors": {"rmse": 9.0}}):
        from_dag = ValidateOperator(task_id="a", model_name="m", **REQUIRED)
        keyword = ValidateOperator(task_id="b", model_name="m", **REQUIRED, primary_metric="mae", floors={})
    assert (from_dag.gates.primary_metric, from_dag.gates.floors, from_dag.task) == (
        "rmse",
        {"rmse": 9.0},
        "regression",
    )
    assert (keyword.gates.primary_metric, keyword.gates.floors) == ("mae", {})


def test_explicit_gates_beat_default_args_and_a_keyword_argument_beats_both() -> None:
    gates = GateSettings(primary_metric="f1", min_absolute_improvement=0.01)
    with DAG("d", schedule=None, default_args={"primary_metric": "accuracy", "min_absolute_improvement": 0.5}):
        given = ValidateOperator(task_id="a", model_name="m", **REQUIRED, gates=gates)
        keyword = ValidateOperator(task_id="b", model_name="m", **REQUIRED, gates=gates, min_absolute_improvement=0.2)
    assert (given.gates.primary_metric, given.gates.min_absolute_improvement) == ("f1", 0.01)
    assert (keyword.gates.primary_metric, keyword.gates.min_absolute_improvement) == ("f1", 0.2)


def test_gate_fields_may_be_given_to_partial_and_expand() -> None:
    with DAG("d", schedule=None):
        mapped = ValidateOperator.partial(task_id="v", **REQUIRED, primary_metric="f1").expand(
            model_name=["fraud", "churn"], floors=[{"f1": 0.7}, {"f1": 0.6}]
        )
    assert mapped.expand_input.value["floors"] == [{"f1": 0.7}, {"f1": 0.6}]
    op = mapped.unmap({"model_name": "churn", "floors": {"f1": 0.6}})  # the task as a worker builds it
    assert (op.gates.primary_metric, op.gates.floors, op.task) == ("f1", {"f1": 0.6}, "classification")


def test_an_unknown_gate_field_is_an_error_naming_it() -> None:
    with DAG("d", schedule=None):
        with pytest.raises(TypeError, match="primary_metrc"):
            ValidateOperator(task_id="a", model_name="m", **REQUIRED, primary_metrc="f1")
        with pytest.raises(
            TypeError, match=r"ValidateOperator.partial\(\) got an unexpected keyword argument 'primary_metrc'"
        ):
            ValidateOperator.partial(task_id="b", **REQUIRED, primary_metrc="f1")
        with pytest.raises(ValueError, match=r"\['primary_metrc'\] are not gate parameters"):
            ValidateOperator(task_id="c", model_name="m", **REQUIRED, gates={"primary_metrc": "f1"})


def test_the_metrics_log_line_rounds_for_people_and_the_scores_keep_full_precision(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import numpy as np
    import pandas as pd

    op = ValidateOperator(task_id="v", model_name="m", **REQUIRED, task="classification")
    y_true = pd.Series([0, 1, 1, 0, 1, 0, 0, 1, 1], name="is_fraud")
    pred = np.array([0, 1, 0, 0, 1, 1, 0, 1, 1])
    proba = np.array([[1 - p, p] for p in (0.2, 0.7, 0.4, 0.1, 0.8, 0.55, 0.3, 0.9, 0.67)])

    scores, positive = op._score({"2": (pred, proba, [0, 1])}, y_true)

    log = capsys.readouterr().out  # the task log
    assert "m v2 on 9 rows: {'accuracy': 0.7778, " in log and "'log_loss': 0.3873}" in log
    assert "0.77777" not in log
    assert scores["2"].metrics["accuracy"] == 7 / 9
    assert positive == 1  # binary: the greater class, without validation.positive_label


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        (
            {"min_relative_improvement": 2},
            "model 'm': ValidateOperator: gate settings: 'min_relative_improvement': Input should be less than or "
            "equal to 1 (got 2)",
        ),
        (
            {"guard_metrics": {"f1": -1}},
            "model 'm': ValidateOperator: gate settings: 'guard_metrics': guard metric 'f1': tolerance must be a "
            "number >= 0",
        ),
    ],
)
def test_a_bad_gate_value_names_the_model_the_operator_and_the_field_as_other_settings_do(
    gate: dict, expected: str
) -> None:
    for given in (gate, {"gates": gate}):  # a keyword argument, or in the gates mapping
        with pytest.raises(ValueError) as refused:
            ValidateOperator(task_id="v", model_name="m", **REQUIRED, **given)
        message = str(refused.value)
        assert message.startswith(expected), message
        assert "errors.pydantic.dev" not in message and "validation error for" not in message


def test_a_failed_validation_shows_no_report_link_and_logs_no_missing_xcom() -> None:
    # the Task SDK reads every extra link after a failed try too: a 'validation' never pushed logged an ERROR
    from unittest import mock

    from airflow_provider_agentic_mlops.links import ValidationReportLink
    from tests.doubles.airflow_task import TaskInstanceDouble, extra_link

    op = ValidateOperator(task_id="validate", model_name="m", **REQUIRED)
    op.__dict__["hook"] = mock.Mock(**{"require_access.side_effect": PermissionError("read-only connection")})
    ti = TaskInstanceDouble(task_id="validate")
    with pytest.raises(PermissionError):
        op.execute({"ti": ti, "task_instance": ti, "run_id": "manual__1"})
    assert extra_link(ValidationReportLink(), op, ti) == ("", [])
