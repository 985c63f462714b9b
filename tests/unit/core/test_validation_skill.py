"""The skill gate: a challenger that reads no feature (a constant predictor, or one no better than the trivial
baseline on the primary metric or a floor metric) is rejected whatever the other gates say."""

from __future__ import annotations

import re

import numpy as np

from airflow_provider_agentic_mlops.core.metrics import score_versions
from airflow_provider_agentic_mlops.core.validation import Gates, build_report


def _imbalanced(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2 % positives; a useful model's probabilities (ranks positives high, misses some at 0.5)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.02).astype(int)
    score = np.clip(0.35 * y + rng.normal(0.1, 0.12, n), 0.001, 0.999)
    return y, score, (score > 0.5).astype(int)


def _judge(predictions: dict, y: np.ndarray, *, champion: str | None, **gates):
    gates_ = Gates(**gates)
    scores, positive = score_versions("classification", y, predictions, label_name="label_column 'y'")
    return build_report(
        model_name="fraud",
        gates=gates_,
        challenger_version="2",
        challenger_metrics=scores["2"],
        champion_version=champion,
        champion_metrics=scores[champion] if champion else None,
        n_rows=len(y),
        task="classification",
        labels=y,
        predictions=predictions,
        positive_class=positive,
    )


def _proba(p: np.ndarray) -> np.ndarray:
    return np.column_stack([1 - p, p])


def test_a_most_frequent_dummy_beating_a_useful_champion_on_accuracy_is_rejected_for_no_skill():
    y, score, useful = _imbalanced()
    predictions = {
        "2": (np.zeros(len(y), dtype=int), _proba(np.zeros(len(y))), [0, 1]),  # DummyClassifier(most_frequent)
        "1": (useful, _proba(score), [0, 1]),
    }
    report = _judge(predictions, y, champion="1", primary_metric="accuracy")
    assert not report.passed
    skill = [r for r in report.reasons if r.startswith("FAILED skill")]
    assert skill and "no skill" in skill[0] and "the majority-class baseline scores" in skill[0], report.reasons
    assert f"{(y == 0).mean():.4f}" in skill[0]


def test_a_first_model_that_is_a_dummy_meeting_an_accuracy_floor_is_rejected():
    y, _, _ = _imbalanced()
    predictions = {"2": (np.zeros(len(y), dtype=int), _proba(np.zeros(len(y))), [0, 1])}
    report = _judge(predictions, y, champion=None, primary_metric="accuracy", floors={"accuracy": 0.95})
    assert not report.passed
    assert any("no skill" in r for r in report.reasons if r.startswith("FAILED"))


def test_a_challenger_no_better_than_the_baseline_on_the_primary_metric_is_rejected_though_not_constant():
    y, score, _ = _imbalanced()
    rng = np.random.default_rng(1)
    noise = rng.random(len(y)) * 0.4  # varied scores, none above 0.5: accuracy is the majority share
    predictions = {"2": ((noise > 0.5).astype(int), _proba(noise), [0, 1])}
    report = _judge(predictions, y, champion=None, primary_metric="accuracy")
    assert not report.passed
    reason = next(r for r in report.reasons if r.startswith("FAILED skill"))
    assert "does not beat" in reason and "majority-class baseline" in reason


def test_a_useful_challenger_still_passes_and_the_skill_check_says_so():
    y, score, useful = _imbalanced()
    better = np.clip(score + 0.2 * y, 0.001, 0.999)
    predictions = {"2": ((better > 0.3).astype(int), _proba(better), [0, 1]), "1": (useful, _proba(score), [0, 1])}
    report = _judge(predictions, y, champion="1", primary_metric="roc_auc")
    assert report.passed, report.reasons
    assert any(r.startswith("passed skill") for r in report.reasons)


def test_a_constant_regression_is_rejected_whatever_the_gates_say():
    rng = np.random.default_rng(2)
    y = rng.normal(10, 2, 300)
    predictions = {"2": (np.full(300, 10.0), None, None)}
    scores, _ = score_versions("regression", y, predictions, label_name="y")
    report = build_report(
        model_name="m",
        gates=Gates(primary_metric="rmse", floors={"rmse": 5.0}),
        challenger_version="2",
        challenger_metrics=scores["2"],
        n_rows=300,
        task="regression",
        labels=y,
        predictions=predictions,
    )
    assert not report.passed
    reason = next(r for r in report.reasons if r.startswith("FAILED skill"))
    assert "no skill" in reason and "10 for every row" in reason


def test_a_difference_too_small_for_four_decimals_is_printed_with_enough_digits_and_never_minus_zero():
    from airflow_provider_agentic_mlops.core.validation import evaluate_gates

    gates = Gates(primary_metric="roc_auc", guard_metrics={"f1": 0.0}, floors={"accuracy": 0.7})
    worse = evaluate_gates(
        gates, {"roc_auc": 0.880812, "f1": 0.600001, "accuracy": 0.699999}, {"roc_auc": 0.880815, "f1": 0.600004}
    )
    text = " ".join(c.detail for c in worse)
    assert not re.search(r"-0\.0+(?![0-9])", text) and "0.0000 (tolerated" not in text
    primary = next(c for c in worse if c.gate == "primary")
    assert not primary.passed and "challenger 0.880812 vs champion 0.880815: improvement -0.000003" in primary.detail
    guard = next(c for c in worse if c.gate == "guard")
    assert not guard.passed and "regression 0.000003" in guard.detail
    floor = next(c for c in worse if c.gate == "floor")
    assert not floor.passed and "accuracy = 0.699999, minimum 0.700000" in floor.detail
    tie = next(c for c in evaluate_gates(Gates(), {"roc_auc": 0.8808}, {"roc_auc": 0.8808}) if c.gate == "primary")
    assert tie.passed and "improvement 0 (equal)" in tie.detail and "+0.0000" not in tie.detail
    table = build_report(
        model_name="m",
        gates=Gates(),
        challenger_version="2",
        challenger_metrics={"roc_auc": 0.880812},
        champion_version="1",
        champion_metrics={"roc_auc": 0.880815},
    ).to_markdown()
    assert "| -0.000003 |" in table


def _regression(predicted: np.ndarray, y: np.ndarray, metric: str, **gates):
    predictions = {"2": (predicted, None, None)}
    scores, _ = score_versions("regression", y, predictions, label_name="y")
    return build_report(
        model_name="m",
        gates=Gates(primary_metric=metric, **gates),
        challenger_version="2",
        challenger_metrics=scores["2"],
        n_rows=len(y),
        task="regression",
        labels=y,
        predictions=predictions,
    )


def test_a_near_constant_regressor_that_does_not_beat_the_mean_or_median_fails_the_skill_gate_naming_the_baseline():
    rng = np.random.default_rng(3)
    y = rng.normal(10, 2, 300)
    near_constant = np.full(300, 10.5) + rng.normal(0, 0.01, 300)  # varies, reads nothing useful
    rmse = _regression(near_constant, y, "rmse")
    assert not rmse.passed
    reason = next(r for r in rmse.reasons if r.startswith("FAILED skill"))
    spread = float(np.sqrt(np.mean((y - y.mean()) ** 2)))
    assert "does not beat the mean baseline" in reason and f"{spread:.4f}" in reason, reason
    assert f"the mean {y.mean():.4g} of the 300 scored labels" in reason
    mae = _regression(near_constant, y, "mae")
    reason = next(r for r in mae.reasons if r.startswith("FAILED skill"))
    assert "median baseline" in reason and f"{np.mean(np.abs(y - np.median(y))):.4f}" in reason, reason


def test_a_useful_regressor_beats_the_mean_baseline():
    rng = np.random.default_rng(4)
    y = rng.normal(10, 2, 300)
    report = _regression(y + rng.normal(0, 0.5, 300), y, "rmse")
    assert report.passed, report.reasons
    passed = next(r for r in report.reasons if r.startswith("passed skill"))
    assert re.search(r"rmse 0\.\d+ < 2\.\d+", passed), passed
