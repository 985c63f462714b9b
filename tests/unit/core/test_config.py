"""models.yaml validation: a bad entry names the model, the field and what was expected."""

from __future__ import annotations

import copy
import hashlib
import json
import re

import pytest

from airflow_provider_agentic_mlops.core.config import (
    ConfigError,
    DriftSettings,
    load_models,
    parse_models,
    read_models,
    read_models_file,
)
from tests.conftest import REPO

GOOD = {
    "name": "churn",
    "drift": {"reference": "ref.parquet", "current": "cur.parquet", "label_column": "y"},
    "retrain": {"trigger_dag_id": "train_churn"},
}


def test_the_shipped_models_file_is_valid() -> None:
    specs = load_models(REPO / "dags" / "models.yaml")
    assert [s.name for s in specs] == ["fraud-detector"]
    assert specs[0].dag_id == "agentic_mlops__fraud-detector"
    assert specs[0].approval.timeout_hours == 24  # from defaults


def test_defaults_merge_under_each_model_and_the_model_wins() -> None:
    data = {
        "defaults": {"schedule": "@hourly", "decision": {"cooldown_hours": 6, "max_retrains": 9}},
        "models": [{**GOOD, "decision": {"max_retrains": 1}}],
    }
    (spec,) = parse_models(data)
    assert spec.schedule == "@hourly"
    assert spec.decision.cooldown_hours == 6 and spec.decision.max_retrains == 1


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {**GOOD, "decision": {"min_drift_share": 3}},
            r"model 'churn': field 'decision.min_drift_share': .*less than or equal to 1.*got 3",
        ),
        (
            {**GOOD, "retrain": {}},
            r"model 'churn': field 'retrain': .*exactly one of trigger_dag_id or python_callable",
        ),
        ({**GOOD, "retrain": {"python_callable": "no_colon"}}, r"model 'churn'.*'module:function'"),
        ({**GOOD, "drift": {"current": "c"}}, r"model 'churn': field 'drift.reference': Field required"),
        (
            {**GOOD, "drift": {"reference": "r", "current": "c"}},
            r"model 'churn': field '\(entry\)': .*set drift.label_column \(or validation.label_column\)",
        ),
        ({**GOOD, "approval": {"timout_hours": 2}}, r"model 'churn': field 'approval.timout_hours': Extra inputs"),
        ({**GOOD, "name": "bad name!"}, r"model 'bad name!': field 'name': .*letters, digits"),
        (  # Airflow's own error names neither the model nor the field
            {**GOOD, "tags": ["ok", "x" * 101]},
            r"model 'churn': field 'tags.1': String should have at most 100 characters",
        ),
        (
            {**GOOD, "decision": {"min_drift_share": 0.6, "critical_drift_share": 0.2}},
            r"critical_drift_share \(0.2\) must be >=",
        ),
        (
            {**GOOD, "drift": {**GOOD["drift"], "timestamp_column": "ts", "current_window": "7x"}},
            r"model 'churn': field 'drift.current_window': .*'7x' is not a duration; use e.g. '7d'",
        ),
        (
            {**GOOD, "drift": {**GOOD["drift"], "timestamp_column": "ts", "current_window": "7"}},
            r"model 'churn': field 'drift.current_window': .*'7' is not a duration",
        ),
        (
            {**GOOD, "drift": {**GOOD["drift"], "timestamp_column": "ts", "current_window": "0d"}},
            r"model 'churn': field 'drift.current_window': .*'0d' must be positive",
        ),
        (  # a bare OverflowError from timedelta before
            {**GOOD, "drift": {**GOOD["drift"], "timestamp_column": "ts", "current_window": "9999999999d"}},
            r"model 'churn': field 'drift.current_window': .*'9999999999d' is longer than .*36525d",
        ),
        (  # a method name is checked when the DAG file is parsed, not when the drift check first runs
            {**GOOD, "drift": {**GOOD["drift"], "column_methods": {"amount": "PSI"}}},
            r"model 'churn': field 'drift.column_methods': .*'amount': 'PSI' is not a drift method; use one of .*'psi'",
        ),
        (
            {**GOOD, "drift": {**GOOD["drift"], "type_methods": {"num": "kolmogorov"}}},
            r"model 'churn': field 'drift.type_methods': .*'num': 'kolmogorov' is not a drift method",
        ),
    ],
)
def test_a_bad_entry_names_model_field_and_expectation(entry: dict, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_models({"models": [entry]}, source="models.yaml")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {**GOOD, "validation": {"min_absolute_improvment": 0.01}},
            "models.yaml: model 'churn': field 'validation.min_absolute_improvment': Extra inputs are not permitted "
            "(got 0.01); did you mean 'min_absolute_improvement'?",
        ),
        ({**GOOD, "retrian": {}}, "field 'retrian': Extra inputs are not permitted; did you mean 'retrain'?"),
        (
            {**GOOD, "approval": {"xyzzy": 1}},
            "field 'approval.xyzzy': Extra inputs are not permitted (got 1); valid fields: timeout_hours, ",
        ),
    ],
)
def test_an_unknown_field_is_told_the_closest_field_or_the_valid_ones(entry: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_models({"models": [entry]}, source="models.yaml")
    assert expected in str(err.value)


def test_a_bad_value_from_defaults_names_the_model_and_says_it_came_from_defaults() -> None:
    with pytest.raises(ConfigError) as err:
        parse_models({"defaults": {"schedul": "@daily"}, "models": [GOOD]}, source="models.yaml")
    assert str(err.value) == (
        "models.yaml: model 'churn': field 'schedul' (from defaults): Extra inputs are not permitted (got '@daily'); "
        "did you mean 'schedule'?"
    )
    with pytest.raises(
        ConfigError, match=r"^models.yaml: model 'churn': field 'decision.min_drift_share' \(from defaults\): .*got 3"
    ):
        parse_models({"defaults": {"decision": {"min_drift_share": 3}}, "models": [GOOD]}, source="models.yaml")
    with pytest.raises(ConfigError, match=r"^models.yaml: model 'churn': field 'decision.min_drift_share': .*got 3"):
        data = {
            "defaults": {"decision": {"min_drift_share": 0.1}},
            "models": [{**GOOD, "decision": {"min_drift_share": 3}}],
        }
        parse_models(data, source="models.yaml")


def test_a_model_replaces_a_mapping_from_defaults_with_an_empty_one_or_null_else_they_merge() -> None:
    defaults = {
        "schedule": "@hourly",
        "validation": {"guard_metrics": {"accuracy": 0.05}},
        "decision": {"max_retrains": 9},
    }

    def validation(**given: object) -> dict:
        (spec,) = parse_models({"defaults": defaults, "models": [{**GOOD, **given}]})
        return spec.validation.guard_metrics

    assert validation(validation={"guard_metrics": {"f1": 0.1}}) == {"accuracy": 0.05, "f1": 0.1}
    assert validation(validation={"guard_metrics": {}}) == {}
    assert validation(validation={"guard_metrics": None}) == {}  # null: the built-in default
    # a regression model under a classification guard from defaults drops it
    regression = {**GOOD, "drift": {**GOOD["drift"], "task": "regression"}, "validation": {"guard_metrics": {}}}
    (spec,) = parse_models({"defaults": defaults, "models": [regression]})
    assert spec.validation.guard_metrics == {}
    (spec,) = parse_models({"defaults": defaults, "models": [{**GOOD, "decision": None, "schedule": None}]})
    assert spec.decision.max_retrains == 3  # the section's built-in defaults
    assert spec.schedule is None  # null replacing a value that is not a mapping is a value: no schedule


def test_a_guard_metric_from_defaults_is_said_to_come_from_there_and_a_null_drops_it() -> None:
    from airflow_provider_agentic_mlops.core.config import read_models

    defaults = {"validation": {"guard_metrics": {"accuracy": 0.05}}}
    regression = {**GOOD, "drift": {**GOOD["drift"], "task": "regression"}}

    def read(guard_metrics: dict) -> object:
        entry = {**regression, "validation": {"guard_metrics": guard_metrics}}
        return read_models({"defaults": defaults, "models": [entry]}, source="models.yaml")

    error = read({"r2": 0.02}).errors["churn"]
    assert error.startswith("models.yaml: model 'churn': field 'validation.guard_metrics' (from defaults): ")
    assert "Value error" not in error
    assert "validation.guard_metrics 'accuracy': not a metric a regression model is scored on" in error
    assert "accuracy: null" in error  # how to drop it for this model
    (spec,) = read({"accuracy": None, "r2": 0.02}).specs
    assert spec.validation.guard_metrics == {"r2": 0.02}
    # the model's own wrong metric is the model's, not the defaults'
    error = read({"accuracy": None, "f1": 0.1}).errors["churn"]
    assert "field 'validation.guard_metrics': validation.guard_metrics 'f1'" in error
    # null where the defaults give nothing is still a value, and refused as one
    assert (
        "(got None)"
        in read_models({"models": [{**GOOD, "validation": {"guard_metrics": {"f1": None}}}]}).errors["churn"]
    )


_DURATIONS = [
    ("decision", "cooldown_hours"),
    ("decision", "budget_window_hours"),
    ("retrain", "timeout_minutes"),
    ("retrain", "heartbeat_timeout_minutes"),
    ("approval", "timeout_hours"),
    ("approval", "remind_every_hours"),
    ("approval", "poke_interval_seconds"),
    ("approval", "escalation_repeat_hours"),
]


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [(section, field, value) for section, field in _DURATIONS for value in (float("inf"), float("nan"), 1e12)]
    + [("decision", "min_performance_drop", value) for value in (float("inf"), float("nan"))],
)
def test_an_infinite_or_huge_duration_is_refused_naming_its_field(section: str, field: str, value: float) -> None:
    # accepted, it crashed later with an OverflowError naming no field (models list, or the model's DAG)
    from airflow_provider_agentic_mlops.core.config import read_models

    entry = {**GOOD, section: {**GOOD.get(section, {}), field: value}}
    error = read_models({"models": [entry]}, source="models.yaml").errors["churn"]
    assert error.startswith(f"models.yaml: model 'churn': field '{section}.{field}': ")
    assert f"(got {value!r})" in error


def test_escalation_repeat_hours_defaults_to_a_day_takes_0_and_refuses_a_negative_a_boolean_or_text() -> None:
    from airflow_provider_agentic_mlops.core.config import read_models

    def read(value: object) -> tuple[list, dict]:
        result = read_models({"models": [{**GOOD, "approval": {"escalation_repeat_hours": value}}]}, source="m.yaml")
        return result.specs, result.errors

    assert read_models({"models": [GOOD]}).specs[0].approval.escalation_repeat_hours == 24
    assert read(0)[0][0].approval.escalation_repeat_hours == 0  # 0: each escalation a new message
    assert read(1.5)[0][0].approval.escalation_repeat_hours == 1.5
    field = "model 'churn': field 'approval.escalation_repeat_hours'"
    assert field in read(-1)[1]["churn"] and "greater than or equal to 0" in read(-1)[1]["churn"]
    assert "a number, not a boolean" in read(True)[1]["churn"]
    assert "e.g. escalation_repeat_hours: 48 for '2 days'" in read("2 days")[1]["churn"]


def test_an_empty_approval_channel_is_refused_where_a_channel_is_expected_with_a_hint_to_quote_it(tmp_path) -> None:
    # `channel: #team-approvals` unquoted is a YAML comment: null, silently replacing the defaults' channel
    from airflow_provider_agentic_mlops.core.config import read_models_file

    path = tmp_path / "models.yaml"
    entry = "    drift: {reference: r.parquet, current: c.parquet, label_column: y}\n    retrain: {trigger_dag_id: t}\n"
    path.write_text(
        "defaults:\n  approval: {channel: '#mlops'}\n"
        "models:\n  - name: churn\n    approval:\n      channel: #team-approvals\n" + entry
    )
    error = read_models_file(path).errors["churn"]
    assert "model 'churn': field 'approval.channel': empty (null)" in error
    assert "replacing the defaults' channel '#mlops'" in error
    assert "quote it, e.g. channel: '#team-approvals'" in error
    path.write_text("models:\n  - name: churn\n    approval: {approvers: [U1], channel: }\n" + entry)
    assert "field 'approval.channel': empty (null)" in read_models_file(path).errors["churn"]
    path.write_text("models:\n  - name: churn\n    approval: {channel: null}\n" + entry)  # no channel expected
    assert [spec.name for spec in read_models_file(path).specs] == ["churn"]


@pytest.mark.parametrize(
    ("field", "example"), [("escalation_channel", "'#oncall'"), ("approver_usergroup", "'S0123ABCD'")]
)
def test_an_empty_escalation_channel_or_usergroup_is_refused_in_an_entry_or_in_defaults(
    tmp_path, field: str, example: str
) -> None:
    # `escalation_channel: #oncall` unquoted is null: escalations silently went to the approvals channel
    from airflow_provider_agentic_mlops.core.config import read_models_file

    path = tmp_path / "models.yaml"
    entry = "    drift: {reference: r.parquet, current: c.parquet, label_column: y}\n    retrain: {trigger_dag_id: t}\n"
    path.write_text(f"models:\n  - name: churn\n    approval:\n      {field}: #oncall\n" + entry)
    error = read_models_file(path).errors["churn"]
    assert error.startswith(f"{path}: model 'churn': field 'approval.{field}': empty (null); ")
    assert f"quote it, e.g. {field}: {example}" in error and "\n" not in error
    path.write_text(f"defaults:\n  approval:\n    {field}: #oncall\nmodels:\n  - name: churn\n" + entry)
    assert f"field 'approval.{field}' (from defaults): empty (null)" in read_models_file(path).errors["churn"]
    path.write_text(
        f"defaults:\n  approval: {{{field}: 'X1'}}\nmodels:\n  - name: churn\n    approval: {{{field}: }}\n" + entry
    )
    assert f"replacing the defaults' {field} 'X1'" in read_models_file(path).errors["churn"]
    path.write_text(f"models:\n  - name: churn\n    approval: {{{field}: ''}}\n" + entry)  # '' is none, as said
    assert [spec.name for spec in read_models_file(path).specs] == ["churn"]


def test_approvers_that_are_not_slack_user_ids_are_refused_when_the_file_is_read() -> None:
    # accepted, they failed ApprovalSensor at run time: after a retrain and its budget were spent
    entry = {**GOOD, "approval": {"approvers": ["U012ABCDEF", "alice@example.com", "@bob", "u012abcdef"]}}
    error = read_models({"models": [entry]}, source="models.yaml").errors["churn"]
    assert error.startswith(
        "models.yaml: model 'churn': field 'approval.approvers': 'alice@example.com' is not a Slack user id; a Slack "
        "user id is U (or W) followed by capital letters and digits, e.g. U012ABCDEF"
    )
    assert "\n" not in error
    templated = {**GOOD, "approval": {"approvers": ["U012ABCDEF", "{{ var.value.churn_approver }}"]}}
    assert [spec.name for spec in read_models({"models": [templated]}).specs] == ["churn"]  # rendered at run time


_CLASSIFIED = {**GOOD, "drift": {**GOOD["drift"], "task": "classification"}}


@pytest.mark.parametrize(
    ("section", "values", "expected"),
    [
        (  # a tolerance of 5 on f1 allows any regression: the guard is off
            "validation",
            {"guard_metrics": {"f1": 5}},
            "field 'validation.guard_metrics': guard metric 'f1': tolerance 5 is more than f1's whole range "
            "(0 to 1); write 0.05 for 5 %",
        ),
        (  # no challenger has a ROC AUC of 95
            "validation",
            {"floors": {"roc_auc": 95}},
            "field 'validation.floors': floor of 'roc_auc': 95 is outside roc_auc's range (0 to 1), so no challenger "
            "can meet it; write 0.95 for 95 %",
        ),
        (
            "validation",
            {"floors": {"log_loss": -0.1}},
            "field 'validation.floors': floor of 'log_loss': -0.1 is outside log_loss's range (0 and up)",
        ),
        (
            "validation",
            {"min_absolute_improvement": 1.5},
            "field 'validation.min_absolute_improvement': 1.5 is more than roc_auc's whole range (0 to 1), the "
            "primary metric's",
        ),
        (
            "decision",
            {"min_performance_drop": 5},
            "field 'decision.min_performance_drop': 5 is more than roc_auc's whole range (0 to 1), the performance "
            "metric's; write 0.05 for 5 %",
        ),
        (
            "drift",
            {**GOOD["drift"], "column_thresholds": {"amount": -0.1}},
            "field 'drift.column_thresholds': 'amount': threshold -0.1 must be a number > 0",
        ),
        (  # a p-value threshold above 1 marks every column drifted
            "drift",
            {**GOOD["drift"], "column_methods": {"amount": "ks"}, "column_thresholds": {"amount": 5}},
            "field 'drift.column_thresholds': 'amount': threshold 5 is a p-value threshold for ks, at most 1; "
            "write 0.05 for 5 %",
        ),
        (  # true became 1 hour
            "approval",
            {"timeout_hours": True},
            "field 'approval.timeout_hours': a number, not a boolean: YAML reads an unquoted yes, no, on, off, true "
            "or false as a boolean; write the number (got True)",
        ),
        (
            "validation",
            {"guard_metrics": {"f1": True}},
            "field 'validation.guard_metrics': a number, not a boolean",
        ),
    ],
)
def test_a_value_out_of_its_metrics_range_or_a_boolean_number_is_refused(
    section: str, values: dict, expected: str
) -> None:
    entry = {**_CLASSIFIED, section: {**_CLASSIFIED.get(section, {}), **values}}
    error = read_models({"models": [entry]}, source="models.yaml").errors["churn"]
    assert error.startswith(f"models.yaml: model 'churn': {expected}")
    assert "\n" not in error


def test_a_performance_drop_of_5_is_refused_when_no_task_or_metric_names_the_metric() -> None:
    """Without a task or a metric the decision measures accuracy (classes) or r2 (numbers), known at run time
    only: a tolerance of 5 (meant as 5 %) called every drop of either stable, a collapse of accuracy included."""
    entry = {**GOOD, "decision": {"min_performance_drop": 5}}
    error = read_models({"models": [entry]}, source="models.yaml").errors["churn"]
    assert error.startswith(
        "models.yaml: model 'churn': field 'decision.min_performance_drop': 5 is more than 1, the whole range of "
        "accuracy and the best r2"
    )
    assert "write 0.05 for 5 %" in error and "drift.task" in error and "\n" not in error
    fine = {**GOOD, "decision": {"min_performance_drop": 0.05}}
    assert [spec.name for spec in read_models({"models": [fine]}).specs] == ["churn"]
    # r2 named, by the task or by an error metric validation judges on: the same argument, refused the same way
    for named in (
        {"drift": {**GOOD["drift"], "performance_metric": "r2"}},
        {"drift": {**GOOD["drift"], "task": "regression"}},
        {"validation": {"primary_metric": "rmse"}},
    ):
        error = read_models({"models": [{**entry, **named}]}, source="models.yaml").errors.get("churn")
        assert error is not None, named
        assert error.startswith(
            "models.yaml: model 'churn': field 'decision.min_performance_drop': 5 is more than 1, the best r2"
        ), error
        assert "write 0.05 for 5 %" in error and "\n" not in error
        fine = {**GOOD, **named, "decision": {"min_performance_drop": 0.05}}
        assert [spec.name for spec in read_models({"models": [fine]}).specs] == ["churn"]


@pytest.mark.parametrize(
    ("section", "values"),
    [
        ("validation", {"guard_metrics": {"f1": 0.05, "log_loss": 3}, "floors": {"roc_auc": 0.95, "log_loss": 2}}),
        ("validation", {"min_absolute_improvement": 1}),
        ("drift", {**GOOD["drift"], "column_methods": {"amount": "psi"}, "column_thresholds": {"amount": 2.5}}),
        ("decision", {"min_performance_drop": 0.05}),
    ],
)
def test_values_in_their_metrics_range_are_kept(section: str, values: dict) -> None:
    entry = {**_CLASSIFIED, section: {**_CLASSIFIED.get(section, {}), **values}}
    assert [spec.name for spec in read_models({"models": [entry]}).specs] == ["churn"]


def test_a_regression_models_amounts_in_the_targets_units_are_not_bounded() -> None:
    entry = {**GOOD, "validation": {"primary_metric": "rmse", "min_absolute_improvement": 5, "floors": {"mae": 40}}}
    assert [spec.name for spec in read_models({"models": [entry]}).specs] == ["churn"]


@pytest.mark.parametrize("section", ["validation", "drift"])
def test_a_boolean_positive_label_is_refused_with_the_hint_to_quote_it(section: str) -> None:
    # `positive_label: yes` became 1, which no class of the data has: the validation failed after the retrain
    entry = {**GOOD, section: {**GOOD.get(section, {}), "positive_label": True}}
    error = read_models({"models": [entry]}, source="models.yaml").errors["churn"]
    assert error.startswith(f"models.yaml: model 'churn': field '{section}.positive_label': ")
    assert error.endswith("(got True); YAML reads an unquoted yes, no, on, off, true or false as a boolean: quote it")
    kept = {**GOOD, section: {**GOOD.get(section, {}), "positive_label": 1}}
    assert read_models({"models": [kept]}).specs[0].validation.positive_label in (1, None)


def test_an_empty_channel_in_defaults_is_refused_where_approvers_are_set(tmp_path) -> None:
    # `defaults: {approval: {channel: #mlops-approvals, approvers: [...]}}`: the channel is a YAML comment, so
    # every model posts no Slack message and each request times out denied
    from airflow_provider_agentic_mlops.core.config import read_models_file

    path = tmp_path / "models.yaml"
    entry = "    drift: {reference: r.parquet, current: c.parquet, label_column: y}\n    retrain: {trigger_dag_id: t}\n"
    defaults = "defaults:\n  approval:\n    channel: #mlops-approvals\n    approvers: [U012ABCDEF]\n"
    path.write_text(defaults + "models:\n  - name: churn\n" + entry)
    error = read_models_file(path).errors["churn"]
    assert error.startswith(f"{path}: model 'churn': field 'approval.channel' (from defaults): empty (null)")
    assert "quote it, e.g. channel: '#team-approvals'" in error and "\n" not in error
    path.write_text(defaults + "models:\n  - name: churn\n    approval: {channel: '#churn'}\n" + entry)
    assert [spec.name for spec in read_models_file(path).specs] == ["churn"]  # its own channel: none missing


@pytest.mark.parametrize(
    ("validation", "expected"),
    [
        (  # the primary metric tells the task, as it does for ValidateOperator
            {"primary_metric": "rmse", "guard_metrics": {"accuracy": 0.05}},
            "field 'validation.guard_metrics': validation.guard_metrics 'accuracy': not a metric a regression "
            "model is scored on",
        ),
        (  # no task known: one task's metrics, whichever the labels tell
            {"guard_metrics": {"accuracy": 0.05, "r2": 0.02}},
            "field 'validation.guard_metrics': validation.guard_metrics 'accuracy' (classification), "
            "validation.guard_metrics 'r2' (regression): metrics of two tasks, and a model is scored on one task's "
            "only; set validation.task to classification or regression and keep only that task's metrics",
        ),
    ],
)
def test_gate_metrics_of_another_task_are_refused_when_the_task_is_not_named(validation: dict, expected: str) -> None:
    """Accepted, the gate could never pass: every challenger rejected, and only after a retrain."""
    from airflow_provider_agentic_mlops.core.config import read_models

    error = read_models({"models": [{**GOOD, "validation": validation}]}, source="models.yaml").errors["churn"]
    assert error.startswith("models.yaml: model 'churn': ")
    assert expected in error
    with pytest.raises(ValueError) as refused:  # the operator refuses the same gates, the same way
        from airflow_provider_agentic_mlops.operators.validate import ValidateOperator

        ValidateOperator(task_id="v", model_name="churn", validation_data="v.csv", label_column="y", **validation)
    assert expected.split(": ", 1)[1].replace("validation.", "") in str(refused.value)


@pytest.mark.parametrize("validation", [{"guard_metrics": {"mae": 0.5}}, {"floors": {"r2": 0.6}}])
def test_regression_gates_without_a_task_make_the_task_regression_with_its_default_primary_metric(
    validation: dict,
) -> None:
    """A guard or floor of one task names the task, as a primary metric does: the file and the operator agree."""
    from airflow_provider_agentic_mlops.core.config import read_models
    from airflow_provider_agentic_mlops.operators.validate import ValidateOperator

    models = read_models({"models": [{**GOOD, "validation": validation}]}, source="models.yaml")
    assert models.errors == {}
    spec = models.specs[0]
    assert spec.task == "regression"
    built = ValidateOperator(
        task_id="v",
        model_name="churn",
        validation_data="v.csv",
        label_column="y",
        gates=spec.validation,
        task=spec.task,
    )
    assert (built.task, built.gates.primary_metric, built.gates.higher_is_better) == ("regression", "rmse", False)
    alone = ValidateOperator(task_id="v", model_name="churn", validation_data="v.csv", label_column="y", **validation)
    assert (alone.task, alone.gates.primary_metric) == ("regression", "rmse")


def test_a_bad_gate_metric_names_its_field_and_the_closest_metric() -> None:
    entry = {**GOOD, "validation": {"primary_metric": "roc_acu"}}
    with pytest.raises(ConfigError) as err:
        parse_models({"models": [entry]}, source="models.yaml")
    message = str(err.value)
    assert message.startswith("models.yaml: model 'churn': field 'validation.primary_metric': ")
    assert "'roc_acu' (did you mean 'roc_auc'?)" in message
    with pytest.raises(
        ConfigError, match=r"^models.yaml: model 'churn': field 'validation.primary_metric' \(from defaults\)"
    ):
        parse_models({"defaults": {"validation": {"primary_metric": "roc_acu"}}, "models": [GOOD]})


def test_entries_sharing_a_name_are_all_refused_naming_each_position() -> None:
    # the first in file order must not win: an entry pasted above a running model would take over its DAG
    from airflow_provider_agentic_mlops.core.config import read_models

    models = read_models({"models": [{**GOOD, "owner": "other"}, {**GOOD, "name": "ltv"}, GOOD]}, source="m.yaml")
    assert [spec.name for spec in models.specs] == ["ltv"]
    assert list(models.errors) == ["churn"]  # the model's own DAG is flagged (its last valid entry, if any)
    assert models.errors["churn"] == (
        "m.yaml: model 'churn': entries #1 and #3 have the same name; model names must be unique: rename one "
        "(none of them is used until then)"
    )
    with pytest.raises(ConfigError, match=r"model 'churn': entries #1 and #2 have the same name"):
        parse_models({"models": [GOOD, GOOD]})
    three = read_models({"models": [GOOD, GOOD, GOOD]}, source="m.yaml")
    assert "entries #1, #2 and #3 have the same name" in three.errors["churn"]


@pytest.mark.parametrize("owner", ["", "   "])
def test_a_blank_owner_is_the_entrys_error(owner: str) -> None:
    # Airflow's documented task_must_have_owners policy refuses it at parse: the whole DAG file would fail
    models = read_models({"models": [{**GOOD, "owner": owner}, {**GOOD, "name": "ltv", "owner": " team-ml "}]})
    assert [spec.name for spec in models.specs] == ["ltv"] and models.specs[0].owner == "team-ml"
    assert "model 'churn': field 'owner': " in models.errors["churn"]
    assert "blank" in models.errors["churn"]


def test_a_braced_variable_in_a_field_that_is_not_expanded_is_the_entrys_error() -> None:
    # kept literally, registered_model "${ENV}-fraud" would point the loop at a registered model named so
    expanded = {
        "drift": {"reference": "${DATA}/r.parquet", "current": "$DATA/c.parquet", "label_column": "y"},
        "retrain": {"trigger_dag_id": "t", "conf": {"table": "${ENV}.events", "sql": "select $1"}},
        "validation": {"data": "${DATA}/v.parquet"},
    }
    fine = {**GOOD, **expanded, "name": "ltv", "registered_model": "ltv$$x", "tags": ["cost $1"]}
    models = read_models(
        {
            "models": [
                {**GOOD, **expanded, "registered_model": "${ENV}-fraud", "approval": {"channel": "#${ENV}-ml"}},
                fine,
            ]
        },
        source="m.yaml",
    )
    assert [spec.name for spec in models.specs] == ["ltv"]  # variables where expanded, `$$`, `$1`: as before
    assert models.specs[0].registered_model == "ltv$$x"
    error = models.errors["churn"]
    assert "m.yaml: model 'churn': field 'registered_model': ${ENV} is not expanded in this field" in error
    assert "field 'approval.channel': ${ENV} is not expanded" in error
    tagged = read_models({"models": [{**GOOD, "tags": ["a", "${ENV}"]}]})
    assert "field 'tags.1': ${ENV} is not expanded" in tagged.errors["churn"]
    assert "drift.reference, drift.current, validation.data and retrain.conf" in error
    assert "$${ENV}" in error  # the escape, for a literal ${ENV}
    shared = read_models({"defaults": {"owner": "${TEAM}"}, "models": [GOOD]})
    assert "field 'owner' (from defaults): ${TEAM} is not expanded" in shared.errors["churn"]
    keyed = read_models({"models": [{**GOOD, "drift": {**GOOD["drift"], "column_thresholds": {"${COL}": 0.1}}}]})
    assert "field 'drift.column_thresholds': key ${COL} is not expanded" in keyed.errors["churn"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("tags", ["cost-in-$USD"]),
        ("drift.label_column", "$amount"),
        ("drift.columns", ["$amount", "x"]),
        ("drift.column_thresholds", {"$amount": 0.1}),
        ("approval.channel", "#ops$team"),
        ("validation.positive_label", "$fraud"),
        ("tags", ["cost-$$USD", "$", "a$"]),
        ("retrain.python_callable", "pkg.$mod:f"),
    ],
)
def test_a_dollar_sign_without_braces_is_text_outside_the_expanded_fields(path: str, value: object) -> None:
    # a column, tag or label may start with `$`: only `${NAME}` says the value was meant to be expanded
    entry = copy.deepcopy(GOOD)
    if path.startswith("retrain."):
        entry["retrain"] = {}
    node = entry
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    models = read_models({"defaults": {"owner": "$team"}, "models": [entry]})  # a `$` in defaults: no model's error
    assert models.errors == {}
    written = models.specs[0].model_dump()
    for key in parents:
        written = written[key]
    assert written[last] == value
    assert models.specs[0].owner == "$team"


def test_a_doubled_dollar_before_braces_is_a_literal_braced_name_outside_the_expanded_fields() -> None:
    models = read_models(
        {"models": [{**GOOD, "registered_model": "a-$${ENV}", "tags": ["$${X} and $$Y"], "owner": "$${a"}]}
    )
    assert models.errors == {}
    spec = models.specs[0]
    assert (spec.registered_model, spec.tags, spec.owner) == ("a-${ENV}", ["${X} and $$Y"], "$${a")


def test_top_level_x_keys_hold_yaml_anchors_and_are_no_error(tmp_path) -> None:
    # the docker-compose convention: a template to alias, which no model reads as it stands
    path = tmp_path / "m.yaml"
    path.write_text(
        "x-drift: &drift {reference: r.parquet, current: c.parquet, label_column: y}\n"
        "models:\n  - {name: churn, drift: *drift, retrain: {trigger_dag_id: t}}\n"
    )
    models = read_models_file(path)
    assert models.errors == {} and models.specs[0].drift.reference == "r.parquet"
    assert "unknown top-level key 'xdrift'" in read_models({"xdrift": {}, "models": [GOOD]}).errors["churn"]


def test_missing_file_says_how_to_configure_it(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read models file .*nope.yaml.*models_file"):
        load_models(tmp_path / "nope.yaml")


def test_invalid_yaml_names_the_file(tmp_path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("models: [\n")
    with pytest.raises(ConfigError, match="models.yaml: not valid YAML"):
        load_models(path)


@pytest.mark.parametrize(
    ("line", "quoted"),
    [
        ("    schedule: */5 * * * *", 'schedule: "*/5 * * * *"'),
        ("    schedule: */5 * * * *  # every five minutes", 'schedule: "*/5 * * * *"'),
        ("    schedule: @daily", 'schedule: "@daily"'),
    ],
)
def test_an_unquoted_schedule_yaml_cannot_read_says_to_quote_it(tmp_path, line: str, quoted: str) -> None:
    # YAML reads a leading '*' as an alias ("while scanning an alias") and '@' as reserved: no word of the cron
    path = tmp_path / "models.yaml"
    path.write_text(f"models:\n  - name: a\n{line}\n")
    with pytest.raises(ConfigError) as exc:
        load_models(path)
    message = str(exc.value)
    assert "not valid YAML" in message and "line 3" in message
    assert f"quote the schedule: {quoted}" in message


def test_an_alias_error_elsewhere_gets_no_schedule_hint(tmp_path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  - name: *\n")
    with pytest.raises(ConfigError) as exc:
        load_models(path)
    assert "schedule" not in str(exc.value)


def test_a_key_given_twice_in_one_entry_fails_that_model_only_naming_the_key_and_the_lines(tmp_path) -> None:
    from airflow_provider_agentic_mlops.core.config import read_models_file

    path = tmp_path / "models.yaml"
    other = "  - name: churn\n    drift: {reference: r.parquet, current: c.parquet, label_column: y}\n"
    other += "    retrain: {python_callable: 'pkg.train:fit'}\n"
    path.write_text(
        "models:\n"
        "  - name: fraud\n"
        "    drift: {reference: r.parquet, current: c.parquet, label_column: y}\n"
        "    retrain: {python_callable: 'pkg.train:fit'}\n"
        "    decision:\n"
        "      max_retrains: 1\n"
        "    approval: {required_approvals: 2}\n"
        "    decision:\n"
        "      mode: llm\n" + other
    )
    for _ in range(2):  # the second read with the cache warm: the repeat is still found
        models = read_models_file(path, cache_dir=tmp_path / "cache")
        assert [spec.name for spec in models.specs] == ["churn"]
        assert list(models.errors) == ["fraud"]
        message = models.errors["fraud"]
        assert re.search(r"yaml: model 'fraud': key 'decision' is given twice \(lines 5 and 8\)", message)
        models.remember_valid()
    path.write_text(  # flow style: both on one line; an entry without a valid name is known by its position
        "models:\n  - {name: 'bad name', decision: {max_retrains: 1}, decision: {cooldown_hours: 2}}\n" + other
    )
    models = read_models_file(path)
    assert [spec.name for spec in models.specs] == ["churn"]
    assert re.search(r"key 'decision' is given twice \(both on line 2\)", models.errors["#1"])
    path.write_text(  # deeper in an entry
        "models:\n  - name: fraud\n    decision:\n      max_retrains: 1\n      max_retrains: 2\n" + other
    )
    assert "key 'max_retrains' is given twice (lines 4 and 5)" in read_models_file(path).errors["fraud"]


def test_a_key_given_twice_at_the_top_or_in_defaults_fails_the_file(tmp_path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("defaults:\n  schedule: '@daily'\n  schedule: '@hourly'\nmodels: []\n")
    with pytest.raises(ConfigError, match=r"key 'schedule' is given twice \(lines 2 and 3\)"):
        load_models(path)
    path.write_text("defaults: {}\nmodels: []\nmodels: []\n")
    with pytest.raises(ConfigError, match=r"key 'models' is given twice \(lines 2 and 3\)"):
        load_models(path)


def test_a_yaml_merge_key_may_be_overridden(tmp_path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "models:\n"
        "  - name: fraud\n"
        "    drift: &drift {reference: r.parquet, current: c.parquet, label_column: y}\n"
        "    retrain: {python_callable: 'pkg.train:fit'}\n"
        "  - name: churn\n"
        "    drift: {<<: *drift, current: other.parquet}\n"
        "    retrain: {python_callable: 'pkg.train:fit'}\n"
    )
    fraud, churn = load_models(path)
    assert (fraud.drift.current, churn.drift.current) == ("c.parquet", "other.parquet")
    assert churn.drift.reference == "r.parquet"


def test_parsed_yaml_is_cached_by_content_and_a_changed_file_is_read_again(tmp_path) -> None:
    path, cache = tmp_path / "models.yaml", tmp_path / "cache"
    path.write_text((REPO / "dags" / "models.yaml").read_text())
    fresh = load_models(path, cache_dir=cache)
    (cached_file,) = (f for f in cache.iterdir() if not f.name.endswith(".valid.json"))  # beside: last valid entries
    assert load_models(path, cache_dir=cache) == fresh
    # the cache is keyed by content: an edit is seen at once
    path.write_text(path.read_text().replace("timeout_hours: 24", "timeout_hours: 7"))
    assert load_models(path, cache_dir=cache)[0].approval.timeout_hours == 7
    # a cached entry is still validated: bad data in it fails like a bad file would
    digest = hashlib.sha256(path.read_text().encode()).hexdigest()
    cached_file.write_text(json.dumps({"sha256": digest, "data": {"models": [{"name": "x"}]}}))
    with pytest.raises(ConfigError, match="model 'x': field 'drift': Field required"):
        load_models(path, cache_dir=cache)


def test_the_cache_gives_what_a_cold_parse_gives(tmp_path) -> None:
    # JSON has no dates and only string keys: what it would change is parsed from the YAML every time
    path, cache = tmp_path / "models.yaml", tmp_path / "cache"
    path.write_text(
        "models:\n"
        "  - name: sensors\n"
        "    drift: {reference: r.parquet, current: c.parquet, label_column: y}\n"
        "    retrain: {python_callable: 'pkg.train:fit', conf: {since: 2024-01-01, until: 2024-06-30T00:00:00}}\n"
    )
    cold = load_models(path)
    assert load_models(path, cache_dir=cache) == cold
    assert load_models(path, cache_dir=cache) == cold
    path.write_text(path.read_text().replace("label_column: y}", "label_column: y, column_thresholds: {101: 0.2}}"))
    for _ in range(3):
        with pytest.raises(ConfigError, match=r"field 'drift.column_thresholds': key 101 \(line 3\) .*quote it: '101'"):
            load_models(path, cache_dir=cache)


def test_a_corrupt_or_unwritable_cache_only_disables_itself(tmp_path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text((REPO / "dags" / "models.yaml").read_text())
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the cache folder would be")
    assert [s.name for s in load_models(path, cache_dir=blocker)] == ["fraud-detector"]
    cache = tmp_path / "cache"
    load_models(path, cache_dir=cache)
    next(cache.iterdir()).write_text("{not json")
    assert [s.name for s in load_models(path, cache_dir=cache)] == ["fraud-detector"]


def test_drift_settings_of_a_validated_drift_section_equal_the_settings_validated_again():
    from airflow_provider_agentic_mlops.core.config import DriftSettings

    (spec,) = parse_models(
        {
            "models": [
                {
                    "name": "churn",
                    "drift": {"reference": "r.parquet", "current": "c.parquet", "label_column": "y", "top_n": 3},
                    "retrain": {"trigger_dag_id": "train_churn"},
                }
            ]
        }
    )
    settings = DriftSettings.resolve(spec.drift)  # the DAG factory's case: no overrides, not validated again
    validated = DriftSettings.model_validate(spec.drift.model_dump(include=set(DriftSettings.model_fields)))
    assert type(settings) is DriftSettings and settings == validated
    assert settings.model_fields_set == validated.model_fields_set
    assert DriftSettings.resolve(spec.drift, top_n=7).top_n == 7


def test_every_bad_entry_is_reported_at_once_each_naming_its_model() -> None:
    # fixing one entry must not be needed to learn of the next one
    data = {
        "models": [
            {**GOOD, "name": "a", "decision": {"min_drift_share": 3}},
            {**GOOD, "name": "b"},
            {**GOOD, "name": "c", "schedul": "@daily"},
        ]
    }
    with pytest.raises(ConfigError) as err:
        parse_models(data, source="models.yaml")
    lines = str(err.value).splitlines()
    assert lines[0].startswith("models.yaml: model 'a': field 'decision.min_drift_share'")
    assert lines[1].startswith("models.yaml: model 'c': field 'schedul'")
    assert len(lines) == 2


def test_read_models_keeps_the_valid_entries_and_says_what_is_wrong_with_each_bad_one() -> None:
    from airflow_provider_agentic_mlops.core.config import read_models

    data = {
        "models": [
            {**GOOD, "name": "a", "decision": {"min_drift_share": 3}},
            {**GOOD, "name": "b"},
            {**GOOD, "name": "c", "schedul": "@daily"},
            {**GOOD, "name": "d"},
            {**GOOD, "name": "d"},
            "just-a-name",
        ]
    }
    models = read_models(data, source="models.yaml")
    assert [spec.name for spec in models.specs] == ["b"]
    assert sorted(models.errors) == ["#6", "a", "c", "d"]
    assert "field 'decision.min_drift_share'" in models.errors["a"]
    assert "model 'd': entries #4 and #5 have the same name" in models.errors["d"]
    assert "model #6: expected a mapping" in models.errors["#6"]
    with pytest.raises(ConfigError) as err:
        models.raise_errors()
    assert str(err.value).count("\n") == 3  # one line per problem


def test_a_name_from_defaults_makes_the_models_without_one_duplicates() -> None:
    data = {"defaults": {**GOOD, "name": "shared"}, "models": [{}, {}]}
    with pytest.raises(ConfigError, match=r"model 'shared': entries #1 and #2 have the same name"):
        parse_models(data)


def test_a_later_model_on_another_ones_registered_model_of_one_registry_is_refused_naming_the_first() -> None:
    # the one-job lock, the budget and the overtaken check are per model: two loops would promote over each other;
    # the model already there keeps running
    from airflow_provider_agentic_mlops.core.config import read_models

    eu = {**GOOD, "name": "churn-eu", "registered_model": "churn"}
    us = {**GOOD, "name": "churn-us", "registered_model": "churn"}
    models = read_models({"models": [GOOD, eu, {**GOOD, "name": "ltv"}, us]}, source="models.yaml")
    assert [spec.name for spec in models.specs] == ["churn", "ltv"]
    assert sorted(models.errors) == ["churn-eu", "churn-us"]
    assert models.errors["churn-eu"].startswith(
        "models.yaml: model 'churn-eu': field 'registered_model': MLflow registered model 'churn' is used by "
        "model 'churn' (entry #1) already"
    )
    assert "is used by model 'churn' (entry #1) already" in models.errors["churn-us"]
    # the same name in another registry (connections of its own) is another registered model
    other = {
        "promote_conn_id": "eu_promote",
        "registry_conn_id": "eu_read",
        "retrain": {"trigger_dag_id": "t", "mlflow_conn_id": "eu_train"},
    }
    assert len(parse_models({"models": [GOOD, {**eu, **other}]})) == 2


@pytest.mark.parametrize(
    ("name", "suggested"),
    [("house price", "house-price"), ("hauspreis-ü", "hauspreis-u"), ("-churn", "churn"), ("日本語", None)],
)
def test_a_name_outside_ascii_letters_and_digits_says_ascii_and_suggests_a_name(name: str, suggested: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_models({"models": [{**GOOD, "name": name}]})
    message = str(err.value)
    assert f"model {name!r}: field 'name': must start with an ASCII letter (A-Z, a-z) or a digit" in message
    assert "use only ASCII letters, digits, '-', '_' and '.'" in message
    assert (f"e.g. {suggested!r}" in message) if suggested else ("e.g." not in message)


def test_an_unknown_top_level_key_is_every_entrys_error_with_the_closest_key() -> None:
    models = read_models({"defualts": {"schedule": "@daily"}, "models": [GOOD, {**GOOD, "name": "fraud"}]})
    assert models.specs == [] and sorted(models.errors) == ["churn", "fraud"]
    assert models.errors["churn"].startswith(
        "models.yaml: model 'churn': unknown top-level key 'defualts' (the file has only 'defaults', 'models' "
        "and 'x-' keys for YAML anchors)"
    )
    assert "name it 'x-notes' if it holds YAML anchors" in read_models({"notes": {}, "models": [GOOD]}).errors["churn"]
    assert "did you mean 'defaults'?" in models.errors["fraud"]
    with pytest.raises(ConfigError, match="unknown top-level key 'notes'"):  # `models validate` still fails on it
        parse_models({"notes": "x", "models": [GOOD]})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (  # a number is no schedule: quoting it is no help
            {"models": [{**GOOD, "schedule": 5}]},
            "field 'schedule': Input should be a valid string (got 5); write a cron expression or a preset, "
            "e.g. '0 3 * * *' or '@daily', or null for alert/manual runs only",
        ),
        (  # YAML's null is null, ~ or nothing; None is text
            {"models": [{**GOOD, "schedule": "None"}]},
            "field 'schedule': 'None' is text in YAML; write null (unquoted) for alert/manual runs only",
        ),
        (
            {"defaults": {"schedule": "@daily"}},
            "models.yaml: the 'models' key is missing: list the models under it, one entry per model",
        ),
        (None, "models.yaml: the file is empty: list the models under a 'models' key, one entry per model"),
        (
            {"models": [{**GOOD, "name": True}]},
            "field 'name': Input should be a valid string (got True); YAML reads an unquoted yes, no, on, off, true "
            "or false as a boolean: quote it",
        ),
    ],
)
def test_yaml_slips_are_told_what_to_write(data, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_models(data, source="models.yaml")
    assert expected in str(err.value)


@pytest.mark.parametrize("schedule", ["0 3 * * 8", "0 25 * * *", "@dialy", "every day", ""])
def test_a_schedule_airflow_refuses_is_refused_when_the_file_is_read(schedule: str) -> None:
    """Where the CLI reads the file too, not only in the DAG file's parse (``models list`` listed it)."""
    with pytest.raises(ConfigError) as err:
        parse_models({"models": [{**GOOD, "schedule": schedule}]}, source="models.yaml")
    message = str(err.value)
    assert "model 'churn': field 'schedule': not a cron expression or an Airflow preset (" in message
    assert f"(got {schedule!r})" in message and "or null for alert/manual runs only" in message


@pytest.mark.parametrize("schedule", ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6 *"])
def test_a_cron_that_never_fires_is_refused(schedule: str) -> None:
    # Airflow accepts it, and the model would never run
    with pytest.raises(ConfigError) as err:
        parse_models({"models": [{**GOOD, "schedule": schedule}]}, source="models.yaml")
    message = str(err.value)
    assert "model 'churn': field 'schedule': never fires: no date matches it" in message
    assert f"(got {schedule!r})" in message
    assert parse_models({"models": [{**GOOD, "schedule": "0 0 29 2 *"}]})[0].schedule == "0 0 29 2 *"  # leap years


@pytest.mark.parametrize(
    ("schedule", "meant"),
    [("0 0 3 * * *", "0 3 * * *"), ("0 30 2 ? * MON", "30 2 * * MON"), ("0 0 3 * * ? 2026", "0 3 * * *")],
)
def test_a_six_field_cron_is_refused_saying_airflow_reads_the_sixth_as_seconds(schedule: str, meant: str) -> None:
    """A Quartz cron (seconds first) is valid to Airflow, which reads the sixth field as seconds: "0 0 3 * * *"
    meant 03:00 daily and fired every second of 00:00 on the 3rd."""
    with pytest.raises(ConfigError) as err:
        parse_models({"models": [{**GOOD, "schedule": schedule}]}, source="models.yaml")
    message = str(err.value)
    assert "model 'churn': field 'schedule':" in message and "Airflow reads the sixth field as seconds" in message
    assert f"write the 5 fields minute hour day-of-month month day-of-week, e.g. {meant!r}" in message
    assert "Sunday" not in message  # Quartz's day numbers differ from cron's: said only when the field has one
    fields = schedule.split()
    assert f"it reads {schedule!r} as minute {fields[0]!r}, hour {fields[1]!r}, day-of-month" in message  # the value
    assert f"second {fields[5]!r}" in message and "every second of 00:00 on the 3rd" not in message  # not a fixed one


def test_a_six_field_cron_with_a_day_number_warns_that_quartz_numbers_days_from_sunday_1() -> None:
    with pytest.raises(ConfigError) as err:
        parse_models({"models": [{**GOOD, "schedule": "0 30 2 ? * 2"}]}, source="models.yaml")
    assert "'30 2 * * 2'" in str(err.value) and "Quartz numbers days 1-7 from Sunday" in str(err.value)


@pytest.mark.parametrize(
    "schedule",
    ["@daily", "@quarterly", "@once", "@continuous", "@midnight", "0 3 * * 1-5", "*/15 * * * *", "0 3 * * 7"],
)
def test_cron_expressions_and_airflow_presets_are_valid_schedules(schedule: str) -> None:
    assert parse_models({"models": [{**GOOD, "schedule": schedule}]})[0].schedule == schedule


@pytest.mark.parametrize("schedule", ["0 3 * * 8", "@dialy", "@quarterly", "@once", "0 3 * * 7", "* * * * * * *"])
def test_the_schedule_check_agrees_with_airflows_own(schedule: str) -> None:
    """Core imports no Airflow: it checks with croniter as Airflow's timetables do; here Airflow decides too."""
    from airflow.sdk import DAG
    from airflow.utils.dates import cron_presets

    from airflow_provider_agentic_mlops.core import config

    assert cron_presets == config._AIRFLOW_CRON_PRESETS  # the copy core checks with is Airflow's table
    try:
        DAG(dag_id="d", schedule=schedule, auto_register=False).timetable.validate()
    except Exception:  # noqa: BLE001 - AirflowTimetableInvalid
        airflow_refuses = True
    else:
        airflow_refuses = False
    assert (config.schedule_problem(schedule) is not None) == airflow_refuses


def test_a_performance_metric_the_task_is_not_scored_on_is_refused_when_parsed() -> None:
    # "auc" (or the other task's metric) left the decision without measured performance on every run
    entry = {**GOOD, "drift": {**GOOD["drift"], "task": "classification", "performance_metric": "auc"}}
    with pytest.raises(ConfigError) as err:
        parse_models({"models": [entry]}, source="models.yaml")
    message = str(err.value)
    assert "field 'drift.performance_metric'" in message and "(did you mean 'roc_auc'?)" in message
    entry = {**GOOD, "drift": {**GOOD["drift"], "performance_metric": "r2"}, "validation": {"task": "classification"}}
    with pytest.raises(ConfigError, match=r"field 'drift.performance_metric': .*'r2'.*a classification model"):
        parse_models({"models": [entry]})
    from airflow_provider_agentic_mlops.core.config import DriftSettings

    with pytest.raises(ValueError, match=r"'performance_metric'.*'r2'.*use one of accuracy, precision"):
        DriftSettings.resolve(task="classification", performance_metric="r2")
    assert DriftSettings.resolve(performance_metric="roc_auc").performance_metric == "roc_auc"


@pytest.mark.parametrize("metric", ["mae", "rmse"])
def test_a_performance_metric_in_the_targets_units_is_refused_naming_r2(metric: str) -> None:
    # min_performance_drop is one absolute tolerance (0.02): an MAE of a rate (0..0.05) x5 read as stable
    with pytest.raises(ValueError, match=rf"performance_metric '{metric}' is in the target's units.*use 'r2'"):
        DriftSettings.resolve(task="regression", performance_metric=metric)
    with pytest.raises(ValueError, match=rf"'{metric}' is in the target's units"):
        DriftSettings.resolve(performance_metric=metric)  # the task inferred later: refused all the same
    entry = {**GOOD, "drift": {**GOOD["drift"], "task": "regression", "performance_metric": metric}}
    with pytest.raises(ConfigError, match=rf"field 'drift.performance_metric': .*'{metric}'.*use 'r2'"):
        parse_models({"models": [entry]})
    # validation may still be judged on it: the decision then reads r2 (the test below)
    (spec,) = parse_models({"models": [{**GOOD, "validation": {"task": "regression", "primary_metric": metric}}]})
    assert spec.validation.primary_metric == metric and spec.drift.performance_metric == "r2"


@pytest.mark.parametrize(
    ("drift", "validation", "expected"),
    [
        ({"task": "classification"}, {}, "roc_auc"),  # validation's default primary metric
        ({}, {"primary_metric": "f1"}, "f1"),
        ({"task": "regression"}, {}, "r2"),  # rmse is in the target's units: r2 ranks alike, unitless
        ({}, {"task": "regression", "primary_metric": "mae"}, "r2"),
        ({"task": "regression"}, {"primary_metric": "r2"}, "r2"),
        ({"task": "classification"}, {"primary_metric": "log_loss"}, "log_loss"),
        ({"task": "classification", "performance_metric": "recall"}, {"primary_metric": "roc_auc"}, "recall"),
        ({}, {}, None),  # neither task nor metric: the evidence's default by the labels
    ],
)
def test_the_performance_metric_defaults_to_the_one_validation_judges_the_model_on(drift, validation, expected):
    # a fraud detector gated on roc_auc was judged "not hurt" on accuracy while its recall went 0.66 -> 0
    (spec,) = parse_models({"models": [{**GOOD, "drift": {**GOOD["drift"], **drift}, "validation": validation}]})
    assert spec.drift.performance_metric == expected


def test_the_shipped_fraud_detector_is_judged_on_roc_auc() -> None:
    (spec,) = load_models(REPO / "dags" / "models.yaml")
    assert spec.validation.primary_metric == spec.drift.performance_metric == "roc_auc"


@pytest.mark.parametrize(
    ("drift", "validation", "expected"),
    [
        ({}, {"positive_label": "churned"}, "churned"),  # the class validation measures precision on
        ({"positive_label": "stayed"}, {"positive_label": "churned"}, "stayed"),  # set for the drift check: kept
        ({"positive_label": 0}, {}, 0),
        ({}, {}, None),  # the greater class, as validation's default
    ],
)
def test_the_drift_checks_positive_label_defaults_to_validations(drift, validation, expected) -> None:
    (spec,) = parse_models({"models": [{**GOOD, "drift": {**GOOD["drift"], **drift}, "validation": validation}]})
    assert spec.drift.positive_label == expected
    assert DriftSettings.resolve(spec.drift).positive_label == expected  # what DriftCheckOperator is handed


def test_a_key_yaml_reads_as_no_text_fails_its_model_naming_the_key_its_type_and_the_fix(tmp_path) -> None:
    """``1:`` is an int and ``yes:`` a boolean to YAML, equal to each other as Python keys: a column map
    ``{1: psi, yes: ks}`` was said to give key True twice, and the keys' errors named ``True`` as field ``1``."""
    path = tmp_path / "models.yaml"
    other = "  - name: churn\n    drift: {reference: r.parquet, current: c.parquet, label_column: y}\n"
    other += "    retrain: {python_callable: 'pkg.train:fit', conf: {class_weights: {0: 1, 1: 10}}}\n"
    path.write_text(
        "models:\n"
        "  - name: fraud\n"
        "    drift:\n"
        "      reference: r.parquet\n"
        "      current: c.parquet\n"
        "      label_column: y\n"
        "      column_methods: {1: psi, yes: ks}\n"
        "    retrain: {python_callable: 'pkg.train:fit'}\n"
        "    validation: {guard_metrics: {2024-01-01: 0.1}, floors: {1.5: 0.5}}\n"
        "    on: 3\n" + other
    )
    models = read_models_file(path)
    assert [spec.name for spec in models.specs] == ["churn"]  # a nested retrain.conf is the training's data
    message = models.errors["fraud"]
    assert "given twice" not in message
    for field, key, kind in (
        ("drift.column_methods", "1", "an integer"),
        ("drift.column_methods", "yes", "a boolean"),
        ("validation.guard_metrics", "2024-01-01", "a date"),
        ("validation.floors", "1.5", "a float"),
        ("(entry)", "on", "a boolean"),
    ):
        assert f"model 'fraud': field {field!r}: key {key} (line " in message
        assert f"is read by YAML as {kind}" in message
        assert f"quote it: '{key}':" in message


def test_a_key_yaml_reads_as_no_text_in_defaults_fails_the_file(tmp_path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("defaults:\n  drift: {column_thresholds: {true: 0.1}}\nmodels: []\n")
    with pytest.raises(ConfigError, match=r"field 'defaults.drift.column_thresholds': key true \(line 2\) is read"):
        read_models_file(path)
    path.write_text("defaults: {}\n1: x\nmodels: []\n")
    with pytest.raises(ConfigError, match=r"field '\(top level\)': key 1 \(line 2\) is read by YAML as an integer"):
        read_models_file(path)


@pytest.mark.parametrize(
    ("section", "field", "value", "hint"),
    [
        (
            "decision",
            "cooldown_hours",
            "7 days",
            "write the number of hours alone, e.g. cooldown_hours: 168 for '7 days'",
        ),
        ("approval", "timeout_hours", "30min", "write the number of hours alone, e.g. timeout_hours: 0.5 for '30min'"),
        ("decision", "cooldown_hours", "two", "write the number of hours alone, e.g. cooldown_hours: 24"),
        ("retrain", "timeout_minutes", "2h", "write the number of minutes alone, e.g. timeout_minutes: 120 for '2h'"),
    ],
)
def test_a_duration_written_with_its_unit_in_a_number_field_says_the_fields_unit(
    section: str, field: str, value: str, hint: str
) -> None:
    """`cooldown_hours: 7 days` said only "Input should be a valid number", not that the field counts hours."""
    entry = {**GOOD, section: {**GOOD.get(section, {}), field: value}}
    with pytest.raises(ConfigError) as err:
        parse_models({"models": [entry]}, source="models.yaml")
    message = str(err.value)
    assert f"field '{section}.{field}'" in message and f"(got {value!r})" in message
    assert f"{field} is a number of {field.rsplit('_', 1)[1]}: {hint}" in message, message
