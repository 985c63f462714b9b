"""core/metrics.py: reading a metric value as a float; predictions that cannot be scored."""

from __future__ import annotations

import math
from typing import Any

import pytest

from airflow_provider_agentic_mlops.core.metrics import (
    NonFinitePredictions,
    as_float,
    compute_metrics,
    infer_task,
    metric_note,
    nonfinite_predictions,
    rounded,
    score_predictions,
    trivial_baseline,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.25, 0.25), (3, 3.0), ("0.5", 0.5), (math.inf, math.inf), (-math.inf, -math.inf)],
)
def test_numbers_and_their_text_are_read_and_infinities_kept(value: Any, expected: float) -> None:
    assert as_float(value) == expected


@pytest.mark.parametrize("value", [None, "n/a", [0.1], {}, math.nan, "nan"])
def test_what_is_not_a_number_or_is_nan_reads_as_none(value: Any) -> None:
    assert as_float(value) is None


def test_non_finite_predictions_are_counted_by_kind_and_labels_are_not_numbers_to_check() -> None:
    nan, inf = math.nan, math.inf
    assert nonfinite_predictions([1.0, nan, 2.0, nan], name="v7's predictions") == (
        "v7's predictions hold NaN for 2 of 4 rows"
    )
    assert nonfinite_predictions([1.0, nan, -inf]) == "predictions hold NaN for 1 and infinite values for 1 of 3 rows"
    assert nonfinite_predictions([0, 1], [[0.2, 0.8], [nan, nan]], name="v7's predictions") == (
        "the class probabilities behind v7's predictions hold NaN for 1 of 2 rows"
    )
    assert nonfinite_predictions(["yes", None], name="v7's predictions") == (
        "v7's predictions hold missing values (None or NaN) for 1 of 2 rows"
    )
    assert nonfinite_predictions(["yes", "no"]) is None and nonfinite_predictions([0, 1], [0.1, 0.9]) is None


@pytest.mark.parametrize(
    ("task", "y_true", "y_pred", "proba", "said"),
    [
        ("regression", [1.0, 2.0, 3.0, 4.0], [1.1, math.nan, 2.9, 4.2], None, "v7's predictions hold NaN for 1 of 4"),
        ("regression", [1.0, 2.0], [math.inf, 2.0], None, "v7's predictions hold infinite values for 1 of 2"),
        (
            "classification",
            [0, 1, 1, 0],
            [0, 0, 1, 0],
            [0.2, math.nan, 0.8, 0.1],
            "the class probabilities behind v7's predictions hold NaN for 1 of 4",
        ),
    ],
)
def test_predictions_holding_nan_or_inf_are_named_not_a_bare_scikit_learn_error(
    task: Any, y_true: list, y_pred: list, proba: Any, said: str
) -> None:
    names = ("label_column 'target'", "v7's predictions")
    with pytest.raises(NonFinitePredictions, match=said) as raised:
        compute_metrics(task, y_true, y_pred, proba, names=names)
    assert isinstance(raised.value, ValueError)
    scores = score_predictions(task, y_true, y_pred, proba, names=names)
    assert scores.unscorable is not None and said in scores.unscorable
    assert set(scores.metrics) == set(scores.undefined) and all(math.isnan(v) for v in scores.metrics.values())


def test_rounded_gives_four_significant_digits_inside_mappings_and_lists_and_leaves_the_rest() -> None:
    import numpy as np

    value = {"f1": 0.2765509989484753, "tiny": 3.199040256911473e-07, "big": 123456.789, "n": 5000}
    value |= {"kind": "measured", "nan": math.nan, "np": np.float64(0.16635041113219481), "top": [0.8677721, "x"]}
    assert repr(rounded(value)) == repr(
        {"f1": 0.2766, "tiny": 3.199e-07, "big": 123500.0, "n": 5000}
        | {"kind": "measured", "nan": math.nan, "np": 0.1664, "top": [0.8678, "x"]}
    )
    assert rounded((0.123456, None), digits=2) == (0.12, None)


@pytest.mark.parametrize(
    ("labels", "predictions", "task"),
    [
        ([0, 3, 7, 15, 2], [0.4, 2.7, 6.1, 12.9, 2.2], "regression"),  # counts, predicted as expected counts
        ([1.0, 5.0, 3.0, 4.0], [1.3, 4.6, 3.0, 3.9], "regression"),  # ratings, predicted as numbers
        ([0, 1, 1, 0], [0.2, 0.9, 0.7, 0.1], "classification"),  # the probability of class 1
        ([0, 2, 1, 2], [0, 2, 1, 1], "classification"),  # predicted classes
        ([0, 2, 1, 2], ["a", "b", "a", "b"], "classification"),
        ([0, 2, 1, 2], None, "classification"),  # no prediction column: the labels alone
        ([0.5, 2.25, 1.0], [0.4, 2.0, 1.1], "regression"),
    ],
)
def test_infer_task_reads_the_prediction_column_beside_the_labels(labels, predictions, task) -> None:
    assert infer_task(labels, predictions) == task


def test_infer_task_that_cannot_tell_names_the_columns_and_the_setting() -> None:
    with pytest.raises(ValueError, match=r"label_column 'y'.*prediction_column 'p'.*set task='regression'"):
        infer_task([0, 3, 4, 1], [0.1, 0.7, 0.9, 0.3], ("label_column 'y'", "prediction_column 'p'"))


@pytest.mark.parametrize(
    ("labels", "y_true", "y_pred"),
    [
        ([0, 1], [0, 0, 0, 0], [0, 0, 0, 0]),  # the classes known (the reference's, the model's): 1 is positive
        (None, [0, 0, 0, 0], [0, 0, 0, 0]),  # only 0 seen: the positive class is 1, absent
        (None, [False, False], [False, False]),
    ],
)
def test_precision_recall_f1_without_the_positive_class_are_undefined(labels, y_true, y_pred) -> None:
    scores = score_predictions("classification", y_true, y_pred, labels=labels)

    assert scores.metrics["accuracy"] == 1.0
    for metric in ("precision", "recall", "f1"):
        assert math.isnan(scores.metrics[metric]) and "no positive" in scores.undefined[metric]


def test_f1_is_the_positive_class_s_when_it_is_predicted_only() -> None:
    scores = score_predictions("classification", [0, 0, 0, 0], [0, 1, 0, 0], labels=[0, 1])
    assert scores.metrics["f1"] == 0.0 and scores.metrics["precision"] == 0.0


def test_positive_label_names_the_class_precision_recall_and_f1_measure() -> None:
    """The greater class ('legit') is positive by default: a fraud guard would measure the legit class."""
    from airflow_provider_agentic_mlops.core.metrics import score_predictions

    y_true = ["fraud", "fraud", "legit", "legit", "legit", "legit"]
    y_pred = ["fraud", "legit", "legit", "legit", "legit", "legit"]
    fraud = score_predictions("classification", y_true, y_pred, positive_label="fraud").metrics
    assert (fraud["precision"], fraud["recall"]) == (1.0, 0.5)
    legit = score_predictions("classification", y_true, y_pred).metrics
    assert (legit["precision"], legit["recall"]) == (0.8, 1.0)
    with pytest.raises(ValueError, match=r"positive_label 'Fraud' is not one of the classes \['fraud', 'legit'\]"):
        score_predictions("classification", y_true, y_pred, positive_label="Fraud")


def test_the_trivial_baseline_is_what_a_model_reading_no_feature_scores():
    labels = ["a"] * 6 + ["b"] * 2 + ["c", "d"]
    assert trivial_baseline("classification", "accuracy", labels) == {
        "value": 0.6,
        "source": "always predicting the window's majority class 'a' (60% of its 10 labels)",
    }
    assert trivial_baseline("classification", "roc_auc", [0, 1])["value"] == 0.5
    assert trivial_baseline("regression", "r2", [1.0, 2.0])["value"] == 0.0
    rmse = trivial_baseline("regression", "rmse", [1.0, 2.0, 6.0])  # predicting the mean 3: its errors' rms
    assert rmse["value"] == pytest.approx((14 / 3) ** 0.5) and "the mean 3 of the 3 scored labels" in rmse["source"]
    mae = trivial_baseline("regression", "mae", [1.0, 2.0, 6.0])  # predicting the median 2
    assert mae["value"] == pytest.approx(5 / 3) and "the median 2 of the 3" in mae["source"]
    assert trivial_baseline("classification", "f1", [0, 1]) is None  # no model-free value: not compared
    assert trivial_baseline("classification", "accuracy", []) is None


def test_multiclass_roc_auc_is_read_over_the_classes_present_when_a_rare_one_is_absent():
    # a healthy 3-class model on a window without the rare class 'c': one-vs-rest over the model's classes raised,
    # roc_auc was NaN and the decision escalated
    import numpy as np
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = np.array(["a"] * 60 + ["b"] * 40)
    proba = rng.dirichlet([1, 1, 1], size=100)
    proba[y == "a", 0] += 1.0
    proba[y == "b", 1] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    pred = np.array(["a", "b", "c"])[proba.argmax(axis=1)]
    scores = score_predictions("classification", y, pred, proba, classes=["a", "b", "c"])
    expected = np.mean([roc_auc_score(y == c, proba[:, i]) for i, c in enumerate("ab")])
    assert scores.metrics["roc_auc"] == pytest.approx(expected)
    assert "roc_auc" not in scores.undefined
    note = metric_note("classification", "roc_auc", y, pred, proba, classes=["a", "b", "c"])
    assert note is not None and "'c'" in note and "absent" in note
    # one class only: still undefined, and the note says why
    one = metric_note("classification", "roc_auc", y[:60], pred[:60], proba[:60], classes=["a", "b", "c"])
    assert one is not None and "one class" in one


def test_model_quality_reads_predictions_as_text_of_integer_labels_as_those_labels() -> None:
    # an export writes the classifier's output as text ('0'/'1') against integer labels 0/1, in both windows:
    # the same classes (as the evidence compares them), so accuracy, not an error
    import pandas as pd

    from airflow_provider_agentic_mlops.core.drift.compute import model_quality

    labels = [0, 1, 1, 0, 1, 0, 0, 1]
    reference = pd.DataFrame({"label": labels, "pred": ["0", "1", "1", "0", "1", "0", "1", "1"]})
    current = pd.DataFrame({"label": labels, "pred": ["0", "1", "0", "0", "1", "1", "1", "0"]})
    quality = model_quality(reference, current, "label", "pred", None)
    assert quality["accuracy"] == {"reference": 0.875, "current": 0.5}
    # text labels against integer predictions too
    text = reference.assign(label=reference["label"].astype(str), pred=[0, 1, 1, 0, 1, 0, 1, 1])
    assert model_quality(text, text, "label", "pred", "classification")["accuracy"]["current"] == 0.875
    # the evidence's measurement reads them so too
    from airflow_provider_agentic_mlops.core.evidence import measure_performance

    out = measure_performance(
        "classification", labels, current["pred"].to_numpy(), metric="accuracy", baseline=0.9, reference_labels=labels
    )
    assert out["current"] == 0.5 and out["drop"] == pytest.approx(0.4)
    # values that are no classes of one another ('yes'/'no' against 0/1, a probability as text) are refused
    for pred in (["yes", "no"] * 4, ["0.8", "0.1"] * 4):
        with pytest.raises(ValueError, match="cannot be compared as classes"):
            model_quality(reference.assign(pred=pred), current.assign(pred=pred), "label", "pred", "classification")
