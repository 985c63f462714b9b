"""core/validation.py: metrics, gates and the comparative report (and core/budget.py's retrain budget)."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

import pytest

from airflow_provider_agentic_mlops.core.budget import check_retrain_budget, next_allowed_in
from airflow_provider_agentic_mlops.core.config import ConfigError, parse_models
from airflow_provider_agentic_mlops.core.validation import (
    Gates,
    GateSettings,
    build_report,
    class_labels,
    compute_metrics,
    evaluate_gates,
    read_predictions,
    score_predictions,
    unaliased_versions,
)

DRIFT = {
    "dataset_drift": True,
    "drift_share": 0.6,
    "share_threshold": 0.5,
    "n_columns": 5,
    "n_drifted": 3,
    "top_drifted": [{"column": "amount", "score": 0.41, "method": "wasserstein", "threshold": 0.1}],
}
DECISION = {"decision_id": 7, "action": "retrain", "rationale": "amount drifted <b>hard</b>"}


def _report(challenger: dict, champion: dict | None, **gates):
    return build_report(
        model_name="fraud",
        gates=Gates(**gates),
        challenger_version="3",
        challenger_metrics=challenger,
        champion_version="2" if champion is not None else None,
        champion_metrics=champion,
        drift=DRIFT,
        decision=DECISION,
        n_rows=200,
        data_uri="/data/val.parquet",
    )


def test_classification_metrics_match_known_values():
    m = compute_metrics("classification", [0, 0, 1, 1], [0, 1, 1, 1], proba=[0.1, 0.6, 0.7, 0.9])
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(1.0)
    assert m["roc_auc"] == pytest.approx(1.0)
    assert m["log_loss"] > 0


def test_classification_without_proba_has_no_roc_auc():
    assert "roc_auc" not in compute_metrics("classification", [0, 1], [0, 1])


def test_regression_metrics_match_known_values():
    m = compute_metrics("regression", [1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["rmse"] == pytest.approx(math.sqrt(4 / 3))


def test_metrics_refuse_mismatched_rows_naming_both_lengths():
    with pytest.raises(ValueError, match="3 rows but y_pred has 2"):
        compute_metrics("regression", [1, 2, 3], [1, 2])


def test_multiclass_champion_and_challenger_are_scored_over_one_label_set():
    from sklearn.metrics import f1_score, precision_score

    y = [1] * 50 + [2] * 50  # a 3-class model; class 0 absent from this window
    champion = [0] + y[1:]  # 99 of 100 right
    challenger = [2] * 20 + y[20:]  # 80 of 100 right
    labels = class_labels(y, champion, challenger, classes=[[0, 1, 2], [0, 1, 2]])
    assert labels == [0, 1, 2]  # the champion predicted class 0: both are scored over it
    m_champion = compute_metrics("classification", y, champion, labels=labels)
    m_challenger = compute_metrics("classification", y, challenger, labels=labels)
    for pred, m in ((champion, m_champion), (challenger, m_challenger)):
        assert m["f1"] == pytest.approx(f1_score(y, pred, labels=labels, average="macro", zero_division=0))
        assert m["precision"] == pytest.approx(
            precision_score(y, pred, labels=labels, average="macro", zero_division=0)
        )
    assert m_champion["f1"] > m_challenger["f1"]
    checks = evaluate_gates(Gates(primary_metric="f1"), m_challenger, m_champion)
    assert not [c for c in checks if c.gate == "primary"][0].passed


def test_a_model_class_absent_from_the_window_and_never_predicted_does_not_pull_f1_down():
    y = [1] * 50 + [2] * 50  # a 3-class model; class 0 absent from this window and never predicted
    labels = class_labels(y, y, y, classes=[[0, 1, 2], [0, 1, 2]])
    assert labels == [1, 2]
    perfect = compute_metrics("classification", y, y, labels=labels, classes=[0, 1, 2])
    assert perfect["f1"] == pytest.approx(1.0)  # macro over [1, 2]; over [0, 1, 2] it would be 0.667


def test_binary_positive_class_comes_from_the_model_not_the_window():
    y = [0] * 10  # a window holding negatives only
    assert class_labels(y, y, classes=[[0, 1]]) == [0, 1]  # 1 stays the positive class


def test_class_labels_without_known_classes_take_the_predictions():
    assert class_labels([1, 2, 2], [1, 2, 0], [2, 1]) == [0, 1, 2]
    with pytest.raises(ValueError, match="cannot be compared as classes"):
        class_labels(["yes", "no"], [0.8, 0.1])


def test_multiclass_probabilities_with_a_class_absent_read_over_the_present_or_unseen_give_nan_not_a_crash():
    from sklearn.metrics import log_loss

    proba = [[0.1, 0.8, 0.1], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]]
    y = [1, 2, 1, 2]  # class 0 of the model's [0, 1, 2] absent: one-vs-rest over classes 1 and 2
    m = compute_metrics("classification", y, [1, 2, 1, 2], proba, labels=[0, 1, 2], classes=[0, 1, 2])
    assert m["accuracy"] == 1.0 and m["roc_auc"] == 1.0
    assert m["log_loss"] == pytest.approx(log_loss(y, proba, labels=[0, 1, 2]))
    y_unseen = [0, 1, 2, 1]  # class 2 never seen by a binary model
    binary = compute_metrics(
        "classification", y_unseen, [0, 1, 1, 1], [0.2, 0.9, 0.6, 0.7], labels=[0, 1, 2], classes=[0, 1]
    )
    assert binary["accuracy"] == 0.75 and math.isnan(binary["roc_auc"]) and math.isnan(binary["log_loss"])


def test_probability_columns_follow_the_model_classes_order():
    from sklearn.metrics import log_loss, roc_auc_score

    y = ["yes", "no", "yes", "no"]
    p_yes = [0.9, 0.2, 0.6, 0.4]
    by_columns = [[py, 1 - py] for py in p_yes]  # columns ["yes", "no"]: not sorted
    m = compute_metrics("classification", y, ["yes", "no", "yes", "no"], by_columns, classes=["yes", "no"])
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p_yes))
    assert m["log_loss"] == pytest.approx(log_loss(y, p_yes, labels=["no", "yes"]))


def test_model_output_one_column_is_labels_and_probability_columns_named_by_class_give_class_names():
    import numpy as np
    import pandas as pd

    y = np.array([0, 1, 1, 0])
    labels, proba, classes = read_predictions("classification", y, pd.DataFrame({"prediction": [0, 1, 1, 1]}))
    assert labels.tolist() == [0, 1, 1, 1] and proba is None and classes is None
    frame = pd.DataFrame({"no": [0.9, 0.3, 0.2, 0.6], "yes": [0.1, 0.7, 0.8, 0.4]})
    labels, proba, classes = read_predictions("classification", np.array(["no", "yes", "yes", "no"]), frame)
    assert labels.tolist() == ["no", "yes", "yes", "no"] and classes == ["no", "yes"]
    assert proba.tolist() == frame.to_numpy().tolist()
    labels, proba, classes = read_predictions("classification", y, np.array([0.2, 0.7, 0.9, 0.4]))
    assert labels.tolist() == [0, 1, 1, 0] and proba.tolist() == [0.2, 0.7, 0.9, 0.4]
    assert read_predictions("regression", y, pd.DataFrame({"units": [1.0, 2.0, 3.0, 4.0]}))[0].tolist() == [
        1.0,
        2.0,
        3.0,
        4.0,
    ]


def test_probability_columns_not_named_by_class_are_refused_naming_columns_and_labels():
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"p_no": [0.9, 0.3], "p_yes": [0.1, 0.7]})
    with pytest.raises(ValueError, match=r"\['p_no', 'p_yes'\].*\['no', 'yes'\]"):
        read_predictions("classification", np.array(["no", "yes"]), frame)


def test_probability_columns_named_by_the_text_of_integer_labels_are_matched_to_them():
    """A pyfunc returning a frame with columns "0"/"1" (column names are text) for labels 0/1: unambiguous, read
    as the classes 0 and 1, the predictions then integers like the labels."""
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"0": [0.9, 0.3, 0.2], "1": [0.1, 0.7, 0.8]})
    labels, proba, classes = read_predictions("classification", np.array([0, 1, 1]), frame)
    assert labels.tolist() == [0, 1, 1] and classes == [0, 1] and proba.tolist() == frame.to_numpy().tolist()
    three = pd.DataFrame({"0": [0.9, 0.1], "1": [0.05, 0.1], "2": [0.05, 0.8]})  # class 2 absent from the window
    assert read_predictions("classification", np.array([0, 1]), three)[0].tolist() == [0, 2]
    # a column that is no label's text: not guessed, refused as before
    with pytest.raises(ValueError, match="none of the labels"):
        read_predictions("classification", np.array([0, 1]), pd.DataFrame({"0": [0.5, 0.4], "p": [0.5, 0.6]}))


def test_challenger_that_improves_enough_passes():
    report = _report({"roc_auc": 0.90}, {"roc_auc": 0.85}, min_absolute_improvement=0.01)
    assert report.passed
    assert all(r.startswith("passed") for r in report.reasons)


def test_challenger_below_minimum_absolute_improvement_fails_and_says_by_how_much():
    report = _report({"roc_auc": 0.855}, {"roc_auc": 0.85}, min_absolute_improvement=0.01)
    assert not report.passed
    assert report.reasons[0].startswith("FAILED primary")
    assert "+0.0050" in report.reasons[0]


def test_relative_improvement_gate_uses_the_champion_value_as_base():
    assert _report({"roc_auc": 0.88}, {"roc_auc": 0.80}, min_relative_improvement=0.05).passed  # +10 %
    assert not _report({"roc_auc": 0.82}, {"roc_auc": 0.80}, min_relative_improvement=0.05).passed  # +2.5 %


def test_lower_is_better_primary_metric_rewards_a_smaller_value():
    gates = {"primary_metric": "rmse", "higher_is_better": False, "min_absolute_improvement": 0.1}
    assert _report({"rmse": 1.0}, {"rmse": 1.5}, **gates).passed
    assert not _report({"rmse": 1.5}, {"rmse": 1.0}, **gates).passed


@pytest.mark.parametrize("metric", ["rmse", "mae", "log_loss"])
def test_error_metric_primary_follows_the_metric_direction_when_none_is_given(metric):
    gates = {"primary_metric": metric, "min_absolute_improvement": 0.1}
    assert _report({metric: 1.0}, {metric: 1.5}, **gates).passed
    assert not _report({metric: 1.5}, {metric: 1.0}, **gates).passed  # worse: rejected
    floor = _report({metric: 0.9}, None, primary_metric=metric, floors={metric: 0.5})
    assert not floor.passed and "maximum 0.5000" in floor.reasons[0]
    assert (
        f"| {metric} (primary) | 1.0000 | 1.5000 | +0.5000 | lower |"
        in _report({metric: 1.5}, {metric: 1.0}, **gates).to_markdown()
    )


def test_direction_contradicting_a_known_metric_is_refused_naming_both():
    with pytest.raises(ValueError, match=r"higher_is_better: true contradicts primary_metric 'rmse'.*lower is better"):
        Gates(primary_metric="rmse", higher_is_better=True)
    with pytest.raises(ValueError, match=r"higher_is_better: false contradicts primary_metric 'roc_auc'"):
        Gates.resolve({"primary_metric": "roc_auc", "higher_is_better": False})
    assert Gates(primary_metric="my_score", higher_is_better=False).direction("my_score") is False  # unknown: as told
    assert Gates(primary_metric="rmse", higher_is_better=False).higher_is_better is False  # agreeing: fine
    entry = {
        "name": "demand",
        "drift": {"reference": "r.parquet", "current": "c.parquet", "label_column": "y"},
        "retrain": {"trigger_dag_id": "train_demand"},
        "validation": {"primary_metric": "mae", "higher_is_better": True},
    }
    with pytest.raises(ConfigError, match=r"model 'demand': field 'validation'.*contradicts primary_metric 'mae'"):
        parse_models({"models": [entry]})


def test_guard_metric_regression_beyond_tolerance_fails_even_if_primary_improves():
    report = _report(
        {"roc_auc": 0.95, "recall": 0.60}, {"roc_auc": 0.85, "recall": 0.70}, guard_metrics={"recall": 0.05}
    )
    assert not report.passed
    assert any(r.startswith("FAILED guard") and "recall" in r for r in report.reasons)


def test_guard_metric_regression_within_tolerance_passes():
    assert _report(
        {"roc_auc": 0.9, "recall": 0.68}, {"roc_auc": 0.85, "recall": 0.70}, guard_metrics={"recall": 0.05}
    ).passed


def test_guard_on_error_metric_counts_an_increase_as_regression():
    checks = evaluate_gates(
        Gates(guard_metrics={"log_loss": 0.01}), {"roc_auc": 0.9, "log_loss": 0.5}, {"roc_auc": 0.8, "log_loss": 0.3}
    )
    guard = [c for c in checks if c.gate == "guard"][0]
    assert not guard.passed


def test_missing_or_nan_metric_never_passes():
    assert not _report({"roc_auc": float("nan")}, {"roc_auc": 0.8}).passed
    assert not _report({"accuracy": 0.9}, {"roc_auc": 0.8}).passed


def _new_class_scores():
    """A window holding class 2: the champion (classes 0 and 1) gives it no probability, the challenger does."""
    y = [0, 1, 2, 1, 0, 2]
    champion = score_predictions(
        "classification",
        y,
        [0, 1, 1, 1, 0, 1],
        [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.1, 0.9], [0.8, 0.2], [0.3, 0.7]],
        labels=[0, 1, 2],
        classes=[0, 1],
    )
    challenger = score_predictions(
        "classification",
        y,
        y,
        [[0.8 if k == label else 0.1 for k in range(3)] for label in y],
        labels=[0, 1, 2],
        classes=[0, 1, 2],
    )
    return champion, challenger


def test_a_class_the_champion_never_saw_makes_its_probability_metrics_undefined_with_the_reason():
    champion, challenger = _new_class_scores()
    assert math.isnan(champion.metrics["roc_auc"]) and math.isnan(champion.metrics["log_loss"])
    assert "classes [2] the model gives no probability for (its classes: [0, 1])" in champion.undefined["roc_auc"]
    assert champion.undefined["log_loss"] == champion.undefined["roc_auc"]
    assert challenger.undefined == {} and challenger.metrics["roc_auc"] == pytest.approx(1.0)


def test_a_primary_metric_undefined_for_the_champion_fails_closed_naming_the_cause_and_the_fix():
    champion, challenger = _new_class_scores()
    report = build_report(
        model_name="fraud",
        gates=Gates(guard_metrics={"log_loss": 0.1}),  # the default primary metric: roc_auc
        challenger_version="3",
        challenger_metrics=challenger,
        champion_version="2",
        champion_metrics=champion,
    )
    assert not report.passed  # never auto-passed: a person changes the gate
    primary, guard = (next(c for c in report.checks if c.gate == gate) for gate in ("primary", "guard"))
    assert not primary.passed and "roc_auc: undefined for the champion v2" in primary.detail
    assert "classes [2] the model gives no probability for" in primary.detail
    assert "set validation.primary_metric to f1 or accuracy" in primary.detail
    assert "missing value" not in primary.detail
    assert not guard.passed and "guard f1 or accuracy instead of log_loss in validation.guard_metrics" in guard.detail
    markdown = report.to_markdown()
    assert primary.detail in markdown and guard.detail in markdown
    assert primary.detail in " ".join(report.to_dict()["reasons"])
    on_f1 = evaluate_gates(Gates(primary_metric="f1"), challenger, champion, champion_version="2")
    assert all(c.passed for c in on_f1)  # the fix it names compares them


def test_a_metric_undefined_for_the_challenger_names_the_challenger_and_why():
    y = [1, 1, 1, 1]  # a window holding one class: roc_auc is undefined for every version
    challenger = score_predictions("classification", y, [1, 1, 1, 1], [0.9, 0.8, 0.7, 0.6])
    [check] = evaluate_gates(Gates(floors={"roc_auc": 0.7}), challenger, None, challenger_version="3")[:1]
    assert not check.passed and "roc_auc: undefined for the challenger v3 (the labels hold one class only" in (
        check.detail
    )


def test_roc_auc_of_a_model_without_probabilities_is_undefined_saying_why_and_what_to_gate_on():
    y = [0, 1, 0, 1]
    champion = score_predictions("classification", y, [0, 1, 0, 1], [0.2, 0.8, 0.3, 0.9])
    challenger = score_predictions("classification", y, [0, 1, 0, 1])  # no predict_proba (labels only)
    [primary] = evaluate_gates(Gates(), challenger, champion, challenger_version="3", champion_version="2")
    assert not primary.passed
    assert "roc_auc: undefined for the challenger v3 (it gives no class probabilities" in primary.detail
    assert "set validation.primary_metric to f1 or accuracy" in primary.detail
    assert "missing value" not in primary.detail


def test_a_one_class_window_keeps_the_reason_of_every_undefined_metric():
    scores = score_predictions("classification", [0, 0, 0, 0], [0, 0, 0, 0], [0.1, 0.2, 0.1, 0.3], labels=[0, 1])
    assert "one class only" in scores.undefined["roc_auc"]
    assert "no positive" in scores.undefined["f1"]  # not lost to the probability metrics' reasons
    [guard] = [c for c in evaluate_gates(Gates(guard_metrics={"f1": 0.0}), scores, scores) if c.gate == "guard"]
    assert not guard.passed and "undefined for the challenger (no positive" in guard.detail


def _regression_scores(predictions: list[float], version: str):
    return score_predictions(
        "regression", [1.0, 2.0, 3.0, 4.0], predictions, names=("label_column 'y'", f"v{version}'s predictions")
    )


def test_a_challenger_predicting_nan_is_rejected_naming_the_version_and_the_count():
    challenger = _regression_scores([1.0, math.nan, math.nan, 4.0], "3")
    champion = _regression_scores([1.5, 2.5, 2.5, 4.5], "2")
    report = build_report(
        model_name="fraud",
        gates=Gates(floors={"rmse": 1.0}),
        challenger_version="3",
        challenger_metrics=challenger,
        champion_version="2",
        champion_metrics=champion,
    )
    assert not report.passed
    assert report.reasons == [
        "FAILED predictions: the challenger v3 cannot be scored: v3's predictions hold NaN for 2 of 4 rows. Find "
        "what it gets on those rows (missing or out-of-range inputs?), fix the training and retrain"
    ]
    assert report.reasons[0] in report.to_markdown()


def test_a_champion_predicting_nan_rejects_the_challenger_saying_what_to_do():
    """Fail closed: a champion that cannot be scored is not beaten without a comparison; the reason says how to
    get one that can be compared with. The challenger's own floors are still checked."""
    challenger = _regression_scores([1.0, 2.0, 3.0, 4.0], "3")
    champion = _regression_scores([1.5, math.inf, 2.5, math.nan], "2")
    checks = evaluate_gates(
        Gates(floors={"rmse": 1.0}), challenger, champion, challenger_version="3", champion_version="2"
    )
    assert [(c.gate, c.passed) for c in checks] == [("predictions", False), ("floor", True)]
    said = checks[0].detail
    assert "the champion v2 cannot be scored: v2's predictions hold NaN for 1 and infinite values for 1 of 4" in said
    assert "rejected (failing closed)" in said and "airflow agentic-mlops rollback" in said


def test_without_champion_the_floors_decide():
    assert _report({"roc_auc": 0.75}, None, floors={"roc_auc": 0.7}).passed
    rejected = _report({"roc_auc": 0.65}, None, floors={"roc_auc": 0.7})
    assert not rejected.passed
    assert rejected.reasons[0].startswith("FAILED floor")


def test_without_champion_and_floors_the_report_says_only_floors_would_apply():
    report = _report({"roc_auc": 0.5}, None)
    assert report.passed
    assert any("no champion yet" in r and "none configured" in r for r in report.reasons)


def test_versions_without_a_champion_alias_are_named_with_the_alias_to_set_not_called_a_first_model():
    """The champion's version deleted (its alias with it) and no trace of a champion left: the registry still has
    other versions, so the report says which and how to set the alias, rather than "no champion yet"."""
    note = unaliased_versions("fraud-reg", ["1", "2", "3", "5"], challenger="5")
    assert note is not None
    report = build_report(
        model_name="fraud",
        gates=Gates(),
        challenger_version="5",
        challenger_metrics={"roc_auc": 0.5},
        no_champion=note,
    )
    assert report.passed  # floors only, as for a first model
    [reason] = [r for r in report.reasons if "champion" in r]
    assert "no champion yet" not in reason
    assert "no `champion` alias" in reason and "versions 1-3 exist" in reason and "none configured" in reason
    assert "set_registered_model_alias('fraud-reg', 'champion', <version>)" in reason
    assert unaliased_versions("fraud-reg", ["4"], challenger="4") is None  # a first model
    assert "version 2 exists" in unaliased_versions("r", ["2", "7"], challenger="7")
    assert "versions 1, 3-4, 9 exist" in unaliased_versions("r", ["9", "4", "1", "3", "10"], challenger="10")


def test_floor_on_error_metric_is_a_maximum():
    assert not _report({"roc_auc": 0.9, "log_loss": 0.9}, None, floors={"log_loss": 0.5}).passed


def test_negative_guard_tolerance_is_refused_with_the_metric_name():
    with pytest.raises(ValueError, match="'recall'"):
        Gates(guard_metrics={"recall": -0.1})


@pytest.mark.parametrize(
    ("field", "value"),
    [("min_absolute_improvement", -0.01), ("min_relative_improvement", -0.1), ("min_relative_improvement", 1.5)],
)
def test_improvement_outside_what_mlflow_can_gate_is_refused_with_the_field_and_value(field, value):
    with pytest.raises(ValueError, match=rf"(?s){field}.*input_value={value}"):
        Gates(**{field: value})


def test_models_yaml_gates_are_checked_like_gates_naming_the_model_and_field():
    entry = {
        "name": "churn",
        "drift": {"reference": "r.parquet", "current": "c.parquet", "label_column": "y"},
        "retrain": {"trigger_dag_id": "train_churn"},
    }
    with pytest.raises(ConfigError, match=r"model 'churn': field 'validation.min_relative_improvement'.*got 5"):
        parse_models({"models": [{**entry, "validation": {"min_relative_improvement": 5}}]})
    with pytest.raises(ConfigError, match=r"model 'churn': field 'validation.guard_metrics'.*'recall'"):
        parse_models({"models": [{**entry, "validation": {"guard_metrics": {"recall": -0.1}}}]})
    (spec,) = parse_models({"models": [{**entry, "validation": {"min_absolute_improvement": 0.01}}]})
    assert Gates.resolve(spec.validation).min_absolute_improvement == 0.01


def _entry(drift_task: str | None = None, /, **validation) -> dict:
    """A models.yaml entry with ``drift.task`` and the given ``validation`` section."""
    drift = {"reference": "r.parquet", "current": "c.parquet", "label_column": "y"}
    return {
        "name": "demand",
        "drift": {**drift, "task": drift_task} if drift_task else drift,
        "retrain": {"trigger_dag_id": "train_demand"},
        "validation": validation,
    }


def test_default_primary_metric_follows_the_task():
    (regression,) = parse_models({"models": [_entry("regression")]})
    gates = Gates.resolve(regression.validation, task="regression")  # the DAG factory passes the task
    assert (gates.primary_metric, gates.higher_is_better) == ("rmse", False)
    y = [1.0, 2.0, 3.0, 4.0]
    champion, perfect = compute_metrics("regression", y, [1.5, 2.5, 2.5, 4.5]), compute_metrics("regression", y, y)
    assert build_report(
        model_name="demand",
        gates=gates,
        challenger_version="2",
        challenger_metrics=perfect,
        champion_version="1",
        champion_metrics=champion,
    ).passed
    assert Gates.resolve(GateSettings(), task="classification").primary_metric == "roc_auc"
    assert Gates().primary_metric == "roc_auc"  # no task known: as before


@pytest.mark.parametrize(
    ("task", "validation", "expected"),
    [
        ("classification", {"primary_metric": "auc"}, r"validation.primary_metric 'auc'.*classification.*roc_auc"),
        ("classification", {"guard_metrics": {"acc": 0.05}}, r"validation.guard_metrics 'acc'.*accuracy"),
        ("classification", {"floors": {"precission": 0.5}}, r"validation.floors 'precission'.*precision"),
        ("regression", {"primary_metric": "roc_auc"}, r"primary_metric 'roc_auc'.*regression.*rmse, mae, r2"),
        (None, {"primary_metric": "auc"}, r"validation.primary_metric 'auc'.*roc_auc.*rmse"),
    ],
)
def test_gate_metric_names_the_task_does_not_compute_are_refused_naming_model_field_and_choices(
    task, validation, expected
):
    with pytest.raises(ConfigError, match=rf"model 'demand'.*{expected}"):
        parse_models({"models": [_entry(task, **validation)]})


def test_gate_metric_names_are_checked_against_the_validation_task_first_then_the_primary_metrics():
    parse_models({"models": [_entry("classification", task="regression", primary_metric="rmse")]})
    parse_models({"models": [_entry(None, guard_metrics={"f1": 0.1})]})  # task unknown: either task's metrics
    parse_models({"models": [_entry(None, guard_metrics={"r2": 0.1})]})
    with pytest.raises(ConfigError, match="validation.guard_metrics 'f1': not a metric a regression model"):
        parse_models({"models": [_entry(None, primary_metric="rmse", guard_metrics={"f1": 0.1})]})
    with pytest.raises(ConfigError, match="validation.primary_metric 'f1'"):
        parse_models({"models": [_entry("classification", task="regression", primary_metric="f1")]})


def test_gates_resolve_takes_the_section_whole_with_keyword_overrides_and_refuses_unknown_names():
    section = GateSettings(primary_metric="rmse", higher_is_better=False, floors={"rmse": 3.0})
    gates = Gates.resolve(section, min_absolute_improvement=0.1, guard_metrics=None)  # None: not given
    assert (gates.primary_metric, gates.higher_is_better, gates.floors) == ("rmse", False, {"rmse": 3.0})
    assert gates.min_absolute_improvement == 0.1 and gates.guard_metrics == {}
    assert Gates.resolve({"primary_metric": "f1"}).primary_metric == "f1"
    assert Gates.resolve() == Gates()
    with pytest.raises(ValueError, match=r"\['primry_metric'\] are not gate parameters"):
        Gates.resolve({"primry_metric": "f1"})


def test_gates_from_a_validated_section_equal_the_gates_validated_again():
    (spec,) = parse_models(
        {
            "models": [
                {
                    "name": "churn",
                    "drift": {"reference": "r.parquet", "current": "c.parquet", "label_column": "y"},
                    "retrain": {"trigger_dag_id": "train_churn"},
                    "validation": {"primary_metric": "f1", "guard_metrics": {"recall": 0.02}, "data": "v.parquet"},
                }
            ]
        }
    )
    gates = Gates.resolve(spec.validation)  # the DAG factory's case: no overrides, not validated again
    validated = Gates.model_validate(spec.validation.model_dump(include=set(GateSettings.model_fields)))
    assert type(gates) is Gates and gates == validated
    assert gates.model_fields_set == validated.model_fields_set


# (challenger, champion, min_absolute_improvement, min_relative_improvement, higher_is_better)
PRIMARY_CASES = [
    (0.86, 0.85, 0.01, 0.0, True),  # exactly the minimum absolute improvement
    (0.855, 0.85, 0.01, 0.0, True),
    (0.88, 0.80, 0.0, 0.05, True),
    (0.82, 0.80, 0.0, 0.05, True),
    (-0.10, -0.20, 0.0, 0.4, True),  # negative champion (an r2 below 0): relative to |champion|
    (0.0, 0.0, 0.0, 0.05, True),  # zero champion: MLflow asks for a strict improvement
    (1.0, 1.5, 0.1, 0.2, False),
    (1.45, 1.5, 0.1, 0.0, False),
]


@pytest.mark.parametrize(("new", "old", "min_abs", "min_rel", "higher"), PRIMARY_CASES)
def test_primary_gate_gives_mlflow_validate_evaluation_results_verdict(new, old, min_abs, min_rel, higher):
    from mlflow.models import MetricThreshold
    from mlflow.models.evaluation import EvaluationResult
    from mlflow.models.evaluation.validation import ModelValidationFailedException, validate_evaluation_results

    rule = MetricThreshold(
        min_absolute_change=min_abs or None, min_relative_change=min_rel or None, greater_is_better=higher
    )
    try:
        validate_evaluation_results({"m": rule}, EvaluationResult({"m": new}, {}), EvaluationResult({"m": old}, {}))
        expected = True
    except ModelValidationFailedException:
        expected = False
    gates = Gates(
        primary_metric="m", higher_is_better=higher, min_absolute_improvement=min_abs, min_relative_improvement=min_rel
    )
    (check,) = evaluate_gates(gates, {"m": new}, {"m": old})
    assert check.passed is expected


def test_without_minimum_improvement_an_equal_challenger_passes_and_a_worse_one_fails():
    assert _report({"roc_auc": 0.85}, {"roc_auc": 0.85}).passed
    assert _report({"rmse": 0.0}, {"rmse": 0.0}, primary_metric="rmse", higher_is_better=False).passed
    assert not _report({"roc_auc": 0.8499}, {"roc_auc": 0.85}).passed


def test_markdown_report_has_metrics_side_by_side_drift_and_rationale():
    md = _report({"roc_auc": 0.9, "f1": 0.7}, {"roc_auc": 0.85, "f1": 0.72}).to_markdown()
    assert "| roc_auc (primary) | 0.8500 | 0.9000 | +0.0500 | higher |" in md
    assert "| f1 | 0.7200 | 0.7000 | -0.0200 | higher |" in md
    assert "`amount`: wasserstein score 0.4100" in md
    assert "Decision 7: action `retrain`" in md
    assert "PASSED" in md


def test_html_report_escapes_text_and_carries_the_digest():
    report = _report({"roc_auc": 0.9}, {"roc_auc": 0.95})
    page = report.to_html()
    assert "&lt;b&gt;hard&lt;/b&gt;" in page and "<b>hard</b>" not in page
    assert "REJECTED" in page
    assert report.digest() in page


def test_digest_is_sha256_of_the_markdown_and_changes_with_content():
    a = _report({"roc_auc": 0.9}, {"roc_auc": 0.85})
    b = _report({"roc_auc": 0.91}, {"roc_auc": 0.85})
    assert a.digest() == hashlib.sha256(a.to_markdown().encode()).hexdigest()
    assert a.digest() != b.digest()


def test_xcom_dict_follows_the_contract_and_is_json_safe():
    d = _report({"roc_auc": float("nan")}, {"roc_auc": 0.85}).to_dict(report_uri="runs:/r/validation/report.html")
    assert set(d) == {
        "passed",
        "reasons",
        "primary_metric",
        "champion_version",
        "challenger_version",
        "champion_metrics",
        "challenger_metrics",
        "n_rows",
        "n_labelled",
        "improvement_ci",
        "ungated_regressions",
        "report_uri",
        "report_digest",
        "report_html_digest",
    }
    report = _report({"roc_auc": 0.9}, {"roc_auc": 0.85})
    assert report.to_dict()["report_html_digest"] == hashlib.sha256(report.to_html().encode()).hexdigest()
    assert d["challenger_metrics"]["roc_auc"] is None
    assert d["champion_version"] == "2" and d["challenger_version"] == "3"


NOW = datetime(2026, 1, 10, 12, 0)


def test_budget_allows_first_retrain():
    check = check_retrain_budget(
        now=NOW, last_retrain_at=None, retrains_in_window=0, cooldown_hours=24, max_retrains=3, budget_window_hours=168
    )
    assert check.allowed


def test_budget_refuses_inside_cooldown_and_says_when_it_ends():
    check = check_retrain_budget(
        now=NOW,
        last_retrain_at=NOW - timedelta(hours=2),
        retrains_in_window=1,
        cooldown_hours=24,
        max_retrains=3,
        budget_window_hours=168,
    )
    assert not check.allowed
    assert check.next_allowed_at == NOW + timedelta(hours=22)
    assert "cooldown" in check.reason
    [(rule, why)] = check.violations
    assert next_allowed_in(why) == f"{NOW + timedelta(hours=22):%Y-%m-%d %H:%M:%S} UTC"  # what an escalation says
    assert next_allowed_in("within budget") is None


@pytest.mark.parametrize(
    ("since", "cooldown_hours", "said"),
    [
        (timedelta(seconds=20), 0.1, "(20 s ago), cooldown_hours=0.1 (6 min)"),
        (timedelta(minutes=2, seconds=30), 0.1, "(2.5 min ago), cooldown_hours=0.1 (6 min)"),
        (timedelta(hours=2), 24, "(2.0 h ago), cooldown_hours=24;"),
    ],
)
def test_a_short_cooldown_is_told_in_minutes_not_as_0_0_hours(since, cooldown_hours, said):
    """The demo's 6-minute cooldown read "last retrain started 02:48:40 UTC (0.0 h ago), cooldown_hours=0.1"."""
    check = check_retrain_budget(
        now=NOW,
        last_retrain_at=NOW - since,
        retrains_in_window=1,
        cooldown_hours=cooldown_hours,
        max_retrains=3,
        budget_window_hours=168,
    )
    assert said in check.reason


def test_budget_refuses_when_window_is_full_even_after_cooldown():
    check = check_retrain_budget(
        now=NOW,
        last_retrain_at=NOW - timedelta(hours=30),
        retrains_in_window=3,
        cooldown_hours=24,
        max_retrains=3,
        budget_window_hours=168,
        oldest_in_window_at=NOW - timedelta(hours=100),
    )
    assert not check.allowed
    assert "budget exhausted" in check.reason
    assert check.next_allowed_at == NOW + timedelta(hours=68)


def test_budget_allows_after_cooldown_within_window():
    assert check_retrain_budget(
        now=NOW,
        last_retrain_at=NOW - timedelta(hours=25),
        retrains_in_window=2,
        cooldown_hours=24,
        max_retrains=3,
        budget_window_hours=168,
    ).allowed


def test_zero_max_retrains_disables_retraining():
    assert not check_retrain_budget(
        now=NOW, last_retrain_at=None, retrains_in_window=0, cooldown_hours=0, max_retrains=0, budget_window_hours=1
    ).allowed


def test_mlflow_validation_writes_nothing_to_stderr_and_its_warnings_reach_the_log_as_warnings(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
):
    """MLflow's own handler writes to stderr, which Airflow 3's task log labels ERROR: its INFO chatter
    ("Model validation passed!", even for a challenger a guard then rejects) is dropped, its warnings are
    logged through the task's logging at WARNING."""
    import logging

    gates = Gates(min_relative_improvement=0.05, floors={"roc_auc": 0.1}, guard_metrics={"f1": 0.0})
    with caplog.at_level(logging.DEBUG):
        # a zero champion: MLflow warns it falls back to a plain comparison; the guard rejects
        checks = evaluate_gates(gates, {"roc_auc": 0.2, "f1": 0.1}, {"roc_auc": 0.0, "f1": 0.5})
    assert [c.passed for c in checks] == [True, True, False]
    assert capsys.readouterr().err == ""
    from_mlflow = [(r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("mlflow")]
    assert [level for level, _ in from_mlflow] == ["WARNING"]
    assert "baseline metric value is 0" in from_mlflow[0][1]
    assert "validation passed" not in caplog.text


def test_the_budgets_times_have_seconds_and_next_allowed_is_rounded_up_so_it_is_never_before_the_end():
    """A 6-minute cooldown ending 20:38:48.7 refused at 20:38:38: "next allowed at 20:38" looked earlier than the
    decision itself."""
    started = datetime(2026, 11, 27, 20, 32, 48, 700_000)
    check = check_retrain_budget(
        now=datetime(2026, 11, 27, 20, 38, 38),
        last_retrain_at=started,
        retrains_in_window=3,
        cooldown_hours=0.1,
        max_retrains=3,
        budget_window_hours=1,
        oldest_in_window_at=started,
    )
    assert "last retrain started 2026-11-27 20:32:48 UTC" in check.reason
    assert "cooldown_hours=0.1 (6 min); next allowed at 2026-11-27 20:38:49 UTC" in check.reason
    assert "(max_retrains=3); next allowed at 2026-11-27 21:32:49 UTC" in check.reason


def test_the_report_calls_the_drift_section_the_runs_drift_check_not_its_cause():
    """A retrain for a performance drop with no dataset drift: "Drift that caused this run" over "Dataset drift:
    no" contradicted itself; the decision's section says why the agent retrained."""
    report = build_report(
        model_name="fraud",
        gates=Gates(),
        challenger_version="3",
        challenger_metrics={"roc_auc": 0.78},
        champion_version="2",
        champion_metrics={"roc_auc": 0.39},
        drift={**DRIFT, "dataset_drift": False, "drift_share": 0.0, "n_drifted": 0, "top_drifted": []},
        decision=DECISION,
    )
    for text in (report.to_markdown(), report.to_html()):
        assert "Drift that caused" not in text and "Drift check of this run" in text


def test_r2_on_a_constant_target_is_undefined_and_no_challenger_passes_on_it():
    # every model scored r2 0.0 on a constant window, so any challenger passed a gate on r2
    y = [5.0, 5.0, 5.0, 5.0]
    champion = score_predictions("regression", y, [5.0, 5.0, 5.0, 5.0])
    challenger = score_predictions("regression", y, [9.0, 1.0, 7.0, 3.0])
    for scores in (champion, challenger):
        assert math.isnan(scores.metrics["r2"]) and scores.undefined["r2"] == "target is constant in this window"
    assert challenger.metrics["rmse"] == pytest.approx(math.sqrt(10.0)) and "rmse" not in challenger.undefined
    report = build_report(
        model_name="demand",
        gates=Gates(task="regression", primary_metric="r2"),
        challenger_version="3",
        challenger_metrics=challenger,
        champion_version="2",
        champion_metrics=champion,
    )
    assert not report.passed
    assert "target is constant in this window" in " ".join(report.to_dict()["reasons"])


def test_a_champion_alias_gone_after_a_promotion_names_the_alias_the_version_to_restore_and_how():
    from airflow_provider_agentic_mlops.core.validation import vanished_champion

    promoted = {"action": "promoted", "subject": "version:3", "actor": "alice"}
    reason = vanished_champion("fraud-reg", previous_champion="2", last_champion_change=promoted, model_name="fraud")
    assert "no alias 'champion'" in reason and "promotion (v3 by alice)" in reason
    assert "set_registered_model_alias('fraud-reg', 'champion', '3')" in reason
    assert "rollback fraud` makes previous_champion v2 the champion" in reason
    # a rollback after the promotion: the version it restored is the one that served
    rolled_back = {"action": "rollback", "subject": "version:2", "actor": "bob"}
    reason = vanished_champion(
        "fraud-reg", previous_champion=None, last_champion_change=rolled_back, model_name="fraud"
    )
    assert "rollback (v2 by bob)" in reason and "'champion', '2')" in reason and "rollback fraud" not in reason
    assert vanished_champion("fraud-reg", previous_champion=None, last_champion_change=None) is None  # a first model
