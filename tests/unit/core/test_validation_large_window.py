"""The improvement's interval of a window larger than the bootstrap's subset is the whole window's: a row-mean metric
(accuracy, log_loss, mae) by the normal interval of the mean of every row's paired difference, another metric by the
subset's bootstrap with its half-widths scaled to the whole window; the reasons say which."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_provider_agentic_mlops.core.metrics import paired_bootstrap, score_versions
from airflow_provider_agentic_mlops.core.validation import Gates, build_report, comparison_line


def _classifiers(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two versions' probabilities of class 1; the challenger slightly better."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (x + rng.normal(size=n) > 0).astype(int)
    old = 1 / (1 + np.exp(-(x + rng.normal(scale=1.0, size=n))))
    new = 1 / (1 + np.exp(-(x + rng.normal(scale=0.95, size=n))))
    return y, new, old


def _small_accuracy_gain(n: int) -> tuple[np.ndarray, dict]:
    """Accuracy 0.90 -> 0.9006: about 6 standard errors on a million rows, none on a 50,000-row subset."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    old = np.where(rng.random(n) < 0.9, y, 1 - y)
    new, u = old.copy(), rng.random(n)
    fix, brk = (old != y) & (u < 0.0525), (old == y) & (u < 0.00475 / 0.9)
    new[fix], new[brk] = y[fix], 1 - y[brk]
    return y, {"2": (new, None, [0, 1]), "1": (old, None, [0, 1])}


def test_a_row_mean_metric_gets_the_normal_interval_of_every_row_not_of_a_subset():
    n = 400_000
    y, versions = _small_accuracy_gain(n)
    ci = paired_bootstrap("classification", "accuracy", y, versions["2"], versions["1"], higher=True)
    d = (versions["2"][0] == y).astype(float) - (versions["1"][0] == y).astype(float)
    half = 1.96 * d.std(ddof=1) / np.sqrt(n)
    assert ci is not None and ci["rows"] == ci["of_rows"] == n and ci["resamples"] == 0
    assert ci["low"] == pytest.approx(d.mean() - half, rel=1e-3) and ci["high"] == pytest.approx(
        d.mean() + half, rel=1e-3
    )


def test_require_significant_improvement_passes_a_small_gain_that_a_million_rows_make_significant():
    n = 1_000_000
    y, predictions = _small_accuracy_gain(n)
    scores, positive = score_versions("classification", y, predictions, label_name="y")
    report = build_report(
        model_name="m",
        gates=Gates(primary_metric="accuracy", require_significant_improvement=True),
        challenger_version="2",
        challenger_metrics=scores["2"],
        champion_version="1",
        champion_metrics=scores["1"],
        n_rows=n,
        task="classification",
        labels=y,
        predictions=predictions,
        positive_class=positive,
    )
    assert report.passed, report.reasons
    passed = next(r for r in report.reasons if r.startswith("passed significance"))
    assert "normal approximation" in passed and f"the {n} rows" in passed and "is above 0" in passed
    line = comparison_line(report.to_dict())
    assert f"the {n} labelled rows" in line and "random" not in line


def test_another_metric_is_bootstrapped_on_a_subset_and_its_interval_scaled_to_the_whole_window():
    n, subset = 30_000, 3_000
    y, new, old = _classifiers(n)
    args = ((new > 0.5).astype(int), new, [0, 1]), ((old > 0.5).astype(int), old, [0, 1])
    whole = paired_bootstrap("classification", "roc_auc", y, *args, higher=True, max_rows=n)
    part = paired_bootstrap("classification", "roc_auc", y, *args, higher=True, max_rows=subset)
    assert whole is not None and part is not None and (part["rows"], part["of_rows"]) == (subset, n)
    width, full_width = part["high"] - part["low"], whole["high"] - whole["low"]
    assert width == pytest.approx(full_width, rel=0.25)  # unscaled it is sqrt(10) times as wide
    assert (part["low"] + part["high"]) / 2 == pytest.approx((whole["low"] + whole["high"]) / 2, abs=full_width / 10)
    line = comparison_line({"primary_metric": "roc_auc", "improvement_ci": part})
    assert f"a random {subset} of the {n} labelled rows" in line and f"scaled by sqrt({subset}/{n})" in line
