"""The approver is told how uncertain the comparison is: rows scored and the paired bootstrap's 95 % interval of
the primary metric's improvement, in the XCom, the reports, the Slack request and the approvals page."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from airflow_provider_agentic_mlops.core import slack
from airflow_provider_agentic_mlops.core.metrics import paired_bootstrap, score_versions
from airflow_provider_agentic_mlops.core.validation import Gates, build_report, comparison_line


def _window(n: int, seed: int, *, gain: float):
    """Labels and two versions' probabilities; the challenger's scores carry ``gain`` more signal."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (x + rng.normal(size=n) > 0).astype(int)
    old = 1 / (1 + np.exp(-(x + rng.normal(scale=1.0, size=n))))
    new = 1 / (1 + np.exp(-(x * (1 + gain) + rng.normal(scale=1.0, size=n))))
    return y, new, old


def _report(n: int, seed: int, *, gain: float, with_predictions: bool = True, **gates):
    y, new, old = _window(n, seed, gain=gain)
    predictions = {
        "2": ((new > 0.5).astype(int), np.column_stack([1 - new, new]), [0, 1]),
        "1": ((old > 0.5).astype(int), np.column_stack([1 - old, old]), [0, 1]),
    }
    scores, positive = score_versions("classification", y, predictions, label_name="y")
    return build_report(
        model_name="fraud",
        gates=Gates(primary_metric="roc_auc", **gates),
        challenger_version="2",
        challenger_metrics=scores["2"],
        champion_version="1",
        champion_metrics=scores["1"],
        n_rows=n,
        n_labelled=n,
        task="classification",
        labels=y,
        predictions=predictions if with_predictions else None,
        positive_class=positive,
        data_uri="/data/w.parquet",
    )


def _noisy_passing_seed() -> int:
    for seed in range(50):
        if _report(200, seed, gain=0.0).passed:
            return seed
    raise AssertionError("no window where the challenger is better by chance")


def _noisy_passing_report(**gates):
    return _report(200, _noisy_passing_seed(), gain=0.0, **gates)


def test_the_bootstrap_is_paired_seeded_and_brackets_the_observed_difference():
    y, new, old = _window(400, 3, gain=0.3)
    ci = paired_bootstrap("classification", "roc_auc", y, (None, new, None), (None, old, None), higher=True)
    observed = roc_auc_score(y, new) - roc_auc_score(y, old)
    assert ci is not None and ci["low"] < observed < ci["high"] and ci["rows"] == 400
    assert ci == paired_bootstrap("classification", "roc_auc", y, (None, new, None), (None, old, None), higher=True)
    same = paired_bootstrap("classification", "roc_auc", y, (None, old, None), (None, old, None), higher=True)
    assert same is not None and same["low"] == same["high"] == 0.0  # the same rows for both versions


def test_a_noisy_small_window_passes_but_the_report_says_it_is_within_noise():
    report = _noisy_passing_report()
    summary = report.to_dict()
    ci = summary["improvement_ci"]
    assert summary["n_rows"] == summary["n_labelled"] == 200
    assert ci["low"] < 0 < ci["high"] and ci["resamples"] >= 500
    noise = [r for r in report.reasons if "within noise" in r]
    assert noise and f"[{ci['low']:+.4f}, {ci['high']:+.4f}] on 200 rows includes 0" in noise[0]
    assert "95% interval" in report.to_markdown() and "95% interval" in report.to_html()
    json.dumps(summary)


def test_a_clear_improvement_on_many_rows_is_not_called_noise():
    report = _report(5000, 1, gain=1.5)
    ci = report.to_dict()["improvement_ci"]
    assert report.passed and ci["low"] > 0
    assert not any("within noise" in r for r in report.reasons)


def test_the_slack_request_and_the_approvals_page_show_rows_and_the_interval():
    from airflow_provider_agentic_mlops.plugins.approvals_page import page_request

    summary = _noisy_passing_report().to_dict()
    ci = summary["improvement_ci"]
    details = slack.message_details(validation=summary)
    approval = {
        "id": 1,
        "model_name": "fraud",
        "model_version": "2",
        "dag_id": "d",
        "run_id": "r",
        "status": "pending",
        "required_approvals": 1,
        "expires_at": None,
        "votes": [],
        "details": details,
    }
    interval = f"95% interval [{ci['low']:+.4f}, {ci['high']:+.4f}]"
    text = json.dumps(slack.request_message(approval)["blocks"])
    assert interval in text and "200 labelled rows" in text and "within noise" in text
    line = page_request("/x", approval)["comparison"]
    assert interval in line and "200 labelled rows" in line
    assert comparison_line({"n_rows": 300, "n_labelled": 290}) == "Scored on 290 labelled of 300 rows."


@pytest.mark.parametrize("metric", ["roc_auc", "accuracy", "f1", "log_loss"])
def test_a_large_windows_interval_is_computed_at_once_over_the_rows_it_names(metric, monkeypatch):
    # no scikit-learn call per resample (nor on the whole window): row weights for roc_auc and f1, the rows' paired
    # differences for accuracy and log_loss (a mean per row), whose interval covers every row
    y, new, old = _window(60_000, 4, gain=0.2)
    args = ((new > 0.5).astype(int), new, [0, 1]), ((old > 0.5).astype(int), old, [0, 1])
    higher = metric != "log_loss"
    calls = _count_scikit_learn_scorers(monkeypatch)
    ci = paired_bootstrap("classification", metric, y, *args, higher=higher, positive=1)
    monkeypatch.undo()
    assert calls == {}
    assert ci is not None and ci["of_rows"] == 60_000
    scores, _ = score_versions("classification", y, {"2": args[0], "1": args[1]}, label_name="y")
    whole = (scores["2"].metrics[metric] - scores["1"].metrics[metric]) * (1 if higher else -1)
    if metric in ("accuracy", "log_loss"):
        assert ci["resamples"] == 0 and ci["rows"] == 60_000 and not ci["scaled"]
        assert ci["method"].startswith("normal approximation")
        assert (ci["low"] + ci["high"]) / 2 == pytest.approx(whole, abs=1e-12)  # the mean over all 60,000 rows
    else:  # 1000 resamples of a random 50,000, scaled to the whole window around its improvement
        assert ci["resamples"] == 1000 and ci["rows"] == 50_000 and ci["scaled"]
        assert ci["method"] == "paired bootstrap"
        assert ci["low"] < whole < ci["high"]


def test_regression_and_macro_metrics_get_an_interval_too():
    rng = np.random.default_rng(5)
    y = rng.normal(size=300)
    new, old = y + rng.normal(scale=0.5, size=300), y + rng.normal(scale=0.6, size=300)
    for metric in ("rmse", "mae", "r2"):
        ci = paired_bootstrap("regression", metric, y, (new, None, None), (old, None, None), higher=metric == "r2")
        assert ci is not None and ci["high"] > 0, metric
    labels = rng.integers(0, 3, 300)
    ci = paired_bootstrap(
        "classification", "f1", labels, (labels, None, None), (rng.integers(0, 3, 300), None, None), higher=True
    )
    assert ci is not None and ci["low"] > 0


def test_require_significant_improvement_rejects_an_improvement_within_noise_naming_the_interval_and_setting():
    report = _noisy_passing_report(require_significant_improvement=True)
    ci = report.to_dict()["improvement_ci"]
    assert not report.passed
    failed = [r for r in report.reasons if r.startswith("FAILED")]
    assert len(failed) == 1 and failed[0].startswith("FAILED significance: "), report.reasons
    assert f"95% interval [{ci['low']:+.4f}, {ci['high']:+.4f}]" in failed[0] and "includes 0" in failed[0]
    assert "validation.require_significant_improvement" in failed[0]
    assert not any("within noise" in r and "does not gate" in r for r in report.reasons)  # said once, as the gate
    assert _noisy_passing_report(require_significant_improvement=False).passed  # the default: informs only


def test_require_significant_improvement_passes_an_improvement_beyond_noise():
    report = _report(5000, 1, gain=1.5, require_significant_improvement=True)
    assert report.passed, report.reasons
    passed = next(r for r in report.reasons if r.startswith("passed significance"))
    assert "is above 0" in passed and "validation.require_significant_improvement" in passed


def test_require_significant_improvement_fails_closed_when_no_interval_can_be_computed():
    report = _report(5000, 1, gain=1.5, with_predictions=False, require_significant_improvement=True)
    assert not report.passed and report.improvement_ci is None
    failed = next(r for r in report.reasons if r.startswith("FAILED significance"))
    assert "no 95% interval" in failed and "validation.require_significant_improvement" in failed
    assert "failing closed" in failed


def test_require_significant_improvement_fails_closed_when_the_metric_is_undefined_in_most_resamples(monkeypatch):
    from airflow_provider_agentic_mlops.core import metrics

    monkeypatch.setattr(metrics, "paired_bootstrap", lambda *args, **kwargs: None)
    report = _report(300, 1, gain=1.5, require_significant_improvement=True)
    failed = next(r for r in report.reasons if r.startswith("FAILED significance"))
    assert "no 95% interval" in failed and "undefined in most of the resamples of the 300 labelled rows" in failed


def test_require_significant_improvement_does_not_apply_to_a_first_model():
    y, new, _ = _window(300, 2, gain=0.5)
    predictions = {"2": ((new > 0.5).astype(int), np.column_stack([1 - new, new]), [0, 1])}
    scores, positive = score_versions("classification", y, predictions, label_name="y")
    report = build_report(
        model_name="fraud",
        gates=Gates(primary_metric="roc_auc", require_significant_improvement=True),
        challenger_version="2",
        challenger_metrics=scores["2"],
        n_rows=300,
        task="classification",
        labels=y,
        predictions=predictions,
        positive_class=positive,
    )
    assert report.passed, report.reasons
    assert not any("significance" in r for r in report.reasons)


def test_the_models_file_and_the_operator_take_require_significant_improvement():
    from airflow_provider_agentic_mlops.core.config import read_models

    entry = {
        "name": "churn",
        "drift": {"reference": "ref.parquet", "current": "cur.parquet", "label_column": "y"},
        "retrain": {"trigger_dag_id": "train_churn"},
        "validation": {"require_significant_improvement": True},
    }
    (spec,) = read_models({"models": [entry]}).specs
    assert spec.validation.require_significant_improvement is True
    assert Gates.resolve(spec.validation).require_significant_improvement is True
    assert Gates.resolve(None).require_significant_improvement is False
    bad = {**entry, "validation": {"require_significant_improvement": "maybe"}}
    error = read_models({"models": [bad]}, source="models.yaml").errors["churn"]
    assert "validation.require_significant_improvement" in error


def _three_classes(n: int, seed: int):
    """Labels of three classes (``"bee"`` rare: absent from some resamples) and two versions' probabilities, their
    columns in the models' class order (not sorted)."""
    rng = np.random.default_rng(seed)
    classes = ["cat", "ant", "bee"]
    y = rng.choice(classes, n, p=[0.55, 0.43, 0.02])

    def version(noise: float) -> tuple:
        logits = (y[:, None] == np.array(classes)[None, :]) + rng.normal(scale=noise, size=(n, 3))
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return np.array(classes)[proba.argmax(axis=1)], proba, classes

    return y, version(0.8), version(1.2)


def _reference(metric: str, y: np.ndarray, new: tuple, old: tuple, resamples: int) -> tuple[float, float, np.ndarray]:
    """The interval scikit-learn gives scoring the bootstrap's draws (one block of resamples x rows on a small
    window, seeded) as the point estimate is scored (both versions over one set of labels), and the draws."""
    from airflow_provider_agentic_mlops.core.metrics import BOOTSTRAP_SEED

    draws = np.random.default_rng(BOOTSTRAP_SEED).integers(0, len(y), (resamples, len(y)))
    diffs = []
    for rows in draws:
        versions = {v: (pred[rows], proba[rows], classes) for v, (pred, proba, classes) in {"2": new, "1": old}.items()}
        scores, _ = score_versions("classification", y[rows], versions, label_name="y")
        diffs.append(scores["2"].metrics[metric] - scores["1"].metrics[metric])
    low, high = np.percentile(diffs, [2.5, 97.5])
    return low, high, draws


@pytest.mark.parametrize("metric", ["roc_auc", "f1", "precision", "recall"])
def test_a_multiclass_interval_equals_scikit_learn_scoring_the_same_resamples(metric):
    y, new, old = _three_classes(300, 7)
    ci = paired_bootstrap("classification", metric, y, new, old, higher=True, resamples=100)
    low, high, draws = _reference(metric, y, new, old, 100)
    held = [len(set(y[rows])) for rows in draws]
    assert min(held) == 2 and max(held) == 3  # some resamples miss the rare class: read over the classes present
    assert ci is not None and ci["resamples"] == 100 and ci["method"] == "paired bootstrap"
    assert ci["low"] == pytest.approx(low, abs=1e-12) and ci["high"] == pytest.approx(high, abs=1e-12)


def _count_scikit_learn_scorers(monkeypatch) -> dict[str, int]:
    import sklearn.metrics

    calls: dict[str, int] = {}
    for name in ("accuracy_score", "precision_score", "recall_score", "f1_score", "roc_auc_score", "log_loss"):
        real = getattr(sklearn.metrics, name)

        def spy(*args, _name=name, _real=real, **kwargs):
            calls[_name] = calls.get(_name, 0) + 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(sklearn.metrics, name, spy)
    return calls


def test_each_resample_scores_only_the_metric_intervalled(monkeypatch):
    y, new, old = _three_classes(300, 7)
    rare = y == "bee"
    for pred, _, _ in (new, old):  # "bee" only where it is the label: a resample missing those rows holds two classes
        pred[rare], pred[~rare & (pred == "bee")] = "bee", "cat"
    calls = _count_scikit_learn_scorers(monkeypatch)
    ci = paired_bootstrap("classification", "f1", y, new, old, higher=True, resamples=100)
    monkeypatch.undo()
    low, high, draws = _reference("f1", y, new, old, 100)
    two = sum(not rare[rows].any() for rows in draws)
    assert two > 0 and ci is not None
    assert ci["low"] == pytest.approx(low, abs=1e-12) and ci["high"] == pytest.approx(high, abs=1e-12)
    # macro f1 from row weights; a resample of two classes (maybe binary) with scikit-learn: both versions' f1 alone
    assert calls == {"f1_score": 2 * two}
    calls = _count_scikit_learn_scorers(monkeypatch)
    ci = paired_bootstrap("classification", "roc_auc", y, new, old, higher=True)
    assert ci is not None and ci["resamples"] == 1000
    assert calls == {}  # multiclass roc_auc: every resample at once from row weights, no scikit-learn call
