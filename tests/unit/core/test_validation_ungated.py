"""A metric no gate checks that regressed beyond its noise is named to the approver ("not gated: recall 0.8100 ->
0.3200"): in the reasons, the report, the validation XCom, the Slack request and the approvals page. It informs; the
verdict is the gates' (guard it with validation.guard_metrics to gate it)."""

from __future__ import annotations

import json

import numpy as np

from airflow_provider_agentic_mlops.core import slack
from airflow_provider_agentic_mlops.core.metrics import score_versions
from airflow_provider_agentic_mlops.core.validation import Gates, build_report, ungated_regressions


def _versions(n_pos: int = 200, n: int = 1000) -> tuple[np.ndarray, dict]:
    """20 % positives. The champion finds 81 % of them with many false alarms; the challenger finds 32 % with
    few: higher accuracy and precision, most of the recall lost."""
    y = np.zeros(n, dtype=int)
    y[:n_pos] = 1

    def version(found: int, false_alarms: int) -> tuple:
        pred = np.zeros(n, dtype=int)
        pred[:found] = 1
        pred[n_pos : n_pos + false_alarms] = 1
        p = np.where(pred == 1, 0.8, 0.2) + np.linspace(-0.05, 0.05, n)
        return pred, np.column_stack([1 - p, p]), [0, 1]

    return y, {"2": version(64, 10), "1": version(162, 130)}


def _judge(y: np.ndarray, predictions: dict | None, **gates):
    scores, positive = score_versions("classification", y, predictions, label_name="y")
    return build_report(
        model_name="fraud",
        gates=Gates(**gates),
        challenger_version="2",
        challenger_metrics=scores["2"],
        champion_version="1",
        champion_metrics=scores["1"],
        n_rows=len(y),
        task="classification",
        labels=y,
        predictions=predictions,
        positive_class=positive,
    )


def test_a_challenger_losing_most_of_its_recall_on_an_accuracy_gate_is_named_not_gated():
    y, predictions = _versions()
    report = _judge(y, predictions, primary_metric="accuracy")
    assert report.passed, report.reasons  # the verdict is the gates': unchanged
    ungated = [r for r in report.reasons if r.startswith("not gated: ")]
    recall = next(r for r in ungated if r.startswith("not gated: recall 0.8100 -> 0.3200"))
    assert "beyond noise" in recall and "validation.guard_metrics" in recall
    assert not any(r.startswith(("not gated: precision", "not gated: accuracy")) for r in ungated)  # better; primary
    summary = report.to_dict()
    assert summary["ungated_regressions"]["recall"].startswith("recall 0.8100 -> 0.3200 (worse beyond noise")
    assert "not gated: recall 0.8100 -> 0.3200" in report.to_markdown()
    assert "not gated: recall 0.8100 -&gt; 0.3200" in report.to_html()
    json.dumps(summary)


def test_a_guarded_metric_is_gated_not_listed_and_a_floor_metric_says_only_its_floor_is():
    y, predictions = _versions()
    guarded = _judge(y, predictions, primary_metric="accuracy", guard_metrics={"recall": 0.05})
    assert not guarded.passed
    assert not any(r.startswith("not gated: recall") for r in guarded.reasons)
    floored = _judge(y, predictions, primary_metric="accuracy", floors={"recall": 0.3})
    recall = next(r for r in floored.reasons if r.startswith("not gated: recall"))
    assert "only its floor 0.3000 is" in recall


def test_a_regression_within_noise_is_not_listed():
    y, predictions = _versions()
    pred, proba, classes = predictions["1"]
    near = pred.copy()
    near[161] = 0  # one positive fewer found: recall 0.81 -> 0.805, within noise
    near[200:230] = 0  # and fewer false alarms: better accuracy
    report = _judge(y, {"2": (near, proba, classes), "1": predictions["1"]}, primary_metric="accuracy")
    assert report.passed and not any(r.startswith("not gated") for r in report.reasons), report.reasons


def test_without_predictions_a_clear_threshold_stands_in_for_the_noise():
    report = build_report(
        model_name="m",
        gates=Gates(primary_metric="accuracy"),
        challenger_version="2",
        challenger_metrics={"accuracy": 0.86, "recall": 0.32, "precision": 0.55, "f1": 0.6},
        champion_version="1",
        champion_metrics={"accuracy": 0.83, "recall": 0.81, "precision": 0.56, "f1": 0.62},
    )
    ungated = [r for r in report.reasons if r.startswith("not gated")]
    assert len(ungated) == 1 and ungated[0].startswith("not gated: recall 0.8100 -> 0.3200"), ungated
    assert "more than 5% of the champion's" in ungated[0]  # precision -0.01 and f1 -0.02 are under it


def test_the_slack_request_and_the_approvals_page_name_the_ungated_regression():
    from airflow_provider_agentic_mlops.plugins.approvals_page import page_request

    y, predictions = _versions()
    summary = _judge(y, predictions, primary_metric="accuracy").to_dict()
    summary["reasons"] = ["passed primary: " + "x" * 600, *summary["reasons"]]  # long reasons are clipped
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
        "details": slack.message_details(validation=summary),
    }
    text = json.dumps(slack.request_message(approval)["blocks"])
    assert "Not gated:" in text and "recall 0.8100 -&gt; 0.3200" in text  # mrkdwn-escaped: Slack shows ->
    recall = next(r for r in page_request("/x", approval)["metric_rows"] if r["metric"] == "recall")
    assert recall["direction_word"] == "worse, not gated"


def test_a_macro_average_is_judged_by_its_interval_from_row_weights_not_resampled_with_scikit_learn(monkeypatch):
    from airflow_provider_agentic_mlops.core import metrics

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)

    def version(accuracy: float) -> tuple:
        pred = np.where(rng.random(600) < accuracy, y, rng.integers(0, 3, 600))
        return pred, None, [0, 1, 2]

    slow = []
    monkeypatch.setattr(metrics, "_resampled", lambda *args: slow.append(args) or 0.0)
    report = _judge(y, {"2": version(0.6), "1": version(0.9)}, primary_metric="accuracy", min_absolute_improvement=0)
    assert not slow  # scikit-learn per resample takes seconds to minutes on a large window: not for a line that informs
    recall = next(r for r in report.reasons if r.startswith("not gated: recall"))
    # precision, recall and f1 checked (no probabilities): each at 1 - 0.05/3 (Bonferroni)
    assert "beyond noise: the change's 98.33% interval" in recall and "3 metrics checked" in recall, recall


def _equally_good(seed: int, n: int = 200) -> tuple[np.ndarray, dict]:
    """Two classifiers of the same skill, their noise independent."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (x + rng.normal(size=n) > 0).astype(int)

    def version() -> tuple:
        p = 1 / (1 + np.exp(-(x + rng.normal(size=n))))
        return (p > 0.5).astype(int), np.column_stack([1 - p, p]), [0, 1]

    return y, {"2": version(), "1": version()}


def test_equally_good_models_are_rarely_named_not_gated_the_metrics_intervals_corrected_together():
    # each of the 5 metrics' own 95% interval below 0 by chance 2.5% of the time named about 8.5% of such pairs;
    # Bonferroni over the metrics checked keeps the chance that any one is named at most 2.5%
    gates = Gates(primary_metric="roc_auc")
    named = 0
    for seed in range(120):
        y, predictions = _equally_good(seed)
        scores, positive = score_versions("classification", y, predictions, label_name="y")
        found = ungated_regressions(
            gates,
            scores["2"].metrics,
            scores["1"].metrics,
            task="classification",
            labels=y,
            versions=(predictions["2"], predictions["1"]),
            positive=positive,
        )
        named += bool(found)
    assert named <= 4  # 3.3%: 2.5% nominal, with room for chance over 120 pairs


def test_a_not_gated_reason_gives_the_corrected_confidence_of_its_interval():
    y, predictions = _versions()
    report = _judge(y, predictions, primary_metric="accuracy")
    recall = next(u for u in report.ungated if u.metric == "recall")
    assert "99% interval" in recall.detail and "5 metrics checked" in recall.detail, recall.detail
