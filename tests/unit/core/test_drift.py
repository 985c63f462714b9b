"""compute_drift: method choice, overrides, the summary, model quality, and bad input."""

from __future__ import annotations

import contextlib
import html
import json
import signal
from datetime import date, time, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from airflow_provider_agentic_mlops.core.drift import (
    DriftSummary,
    compute_drift,
    default_method,
    wasserstein_distance_sorted,
    write_evidently_report,
)


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = 2000
    reference = pd.DataFrame(
        {
            "amount": rng.normal(100, 10, n),
            "age": rng.integers(18, 90, n),
            "country": rng.choice(["fr", "de", "it"], n),
            "channel": rng.choice(["web", "app"], n),
        }
    )
    current = pd.DataFrame(
        {
            "amount": rng.normal(120, 10, n),  # drifted
            "age": rng.integers(18, 90, n),
            "country": rng.choice(["fr", "de", "it"], n, p=[0.1, 0.1, 0.8]),  # drifted
            "channel": rng.choice(["web", "app"], n),
        }
    )
    return reference, current


# -- method choice ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("col_type", "n_reference", "n_values", "expected"),
    [
        ("num", 1000, 50, "ks"),
        ("num", 1000, 5, "chisquare"),
        ("num", 1000, 2, "z"),
        ("cat", 1000, 3, "chisquare"),
        ("cat", 1000, 2, "z"),
        ("num", 1001, 50, "wasserstein"),
        ("num", 1001, 5, "jensenshannon"),
        ("cat", 1001, 2, "jensenshannon"),
        ("text", 1001, 900, "abs_text_content_drift"),
        ("text", 1000, 900, "perc_text_content_drift"),
    ],
)
def test_default_method_follows_evidentlys_size_and_cardinality_rules(
    col_type: str, n_reference: int, n_values: int, expected: str
) -> None:
    assert default_method(col_type, n_reference, n_values) == expected


def test_large_frames_use_wasserstein_for_numbers_and_jensen_shannon_for_categories(frames) -> None:
    summary = compute_drift(*frames)

    methods = {c: r.method for c, r in summary.columns.items()}
    assert methods == {
        "amount": "wasserstein",
        "age": "wasserstein",
        "country": "jensenshannon",
        "channel": "jensenshannon",
    }
    assert {c: r.type for c, r in summary.columns.items()} == {
        "amount": "num",
        "age": "num",
        "country": "cat",
        "channel": "cat",
    }


def test_integer_column_with_few_values_is_categorical_as_in_evidently() -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"stars": rng.integers(1, 6, 3000)})
    current = pd.DataFrame({"stars": rng.integers(1, 6, 3000)})

    result = compute_drift(reference, current).columns["stars"]

    assert (result.type, result.method) == ("cat", "jensenshannon")


def test_column_type_comes_from_the_reference_so_a_tiny_window_keeps_its_categories() -> None:
    # Two current rows always have more than half their values distinct: read from the current
    # window, "size" was text, and Evidently's text method failed with "empty vocabulary".
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 1500), "size": rng.choice(["S", "M", "L"], 1500)})
    current = pd.DataFrame({"x": [0.1, -0.3], "size": ["S", "M"]})

    result = compute_drift(reference, current)

    assert result.columns["size"].type == "cat" and result.n_current == 2


def test_a_one_row_reference_keeps_the_categories_of_a_full_window() -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"x": [0.2], "size": ["S"]})
    current = pd.DataFrame({"x": rng.normal(0, 1, 1500), "size": rng.choice(["S", "M", "L"], 1500)})

    assert compute_drift(reference, current).columns["size"].type == "cat"


def test_categorical_columns_forces_the_categorical_type() -> None:
    rng = np.random.default_rng(2)
    reference = pd.DataFrame({"zip": rng.integers(1000, 1100, 3000)})
    current = pd.DataFrame({"zip": rng.integers(1000, 1100, 3000)})

    result = compute_drift(reference, current, categorical_columns=["zip"]).columns["zip"]

    assert (result.type, result.method) == ("cat", "jensenshannon")


def test_column_method_beats_type_method_and_thresholds_apply(frames) -> None:
    summary = compute_drift(
        *frames,
        column_methods={"amount": "psi"},
        type_methods={"num": "ks", "cat": "chisquare"},
        column_thresholds={"channel": 0.01},
    )

    assert summary.columns["amount"].method == "psi"
    assert summary.columns["age"].method == "ks"
    assert summary.columns["country"].method == "chisquare"
    assert summary.columns["channel"].threshold == 0.01
    assert summary.columns["amount"].threshold == 0.1  # Evidently's PSI default
    assert summary.columns["age"].threshold == 0.05  # K-S default


@pytest.mark.parametrize(("n", "m"), [(500, 500), (500, 731), (10, 3)])
def test_wasserstein_on_sorted_samples_equals_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    u = np.round(rng.normal(0, 1, n), 1)  # ties
    v = np.round(rng.normal(0.3, 1.2, m), 1)

    ours = wasserstein_distance_sorted(np.sort(u), np.sort(v))

    assert ours == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-12)


# -- the summary --------------------------------------------------------------------------------


def test_summary_has_the_keys_other_steps_rely_on(frames) -> None:
    summary = compute_drift(*frames, drift_share=0.5, model_name="fraud")
    data = summary.to_dict()

    for key in (
        "dataset_drift",
        "drift_share",
        "share_threshold",
        "n_columns",
        "n_drifted",
        "top_drifted",
        "columns",
        "quality",
        "n_reference",
        "n_current",
        "data_quality",
    ):
        assert key in data, key
    assert data["n_columns"] == 4
    assert data["n_drifted"] == 2
    assert data["drift_share"] == 0.5
    assert data["dataset_drift"] is True
    assert data["quality"] is None
    assert (data["n_reference"], data["n_current"]) == (2000, 2000)
    assert set(data["columns"]["amount"]) == {"score", "method", "threshold", "drifted", "type"}
    assert data["data_quality"] == {
        "null_share": {"amount": 0.0, "age": 0.0, "country": 0.0, "channel": 0.0},
        "reference_null_share": {"amount": 0.0, "age": 0.0, "country": 0.0, "channel": 0.0},
        "missing_columns": [],
        "extra_columns": [],
        "schema_errors": [],
        "type_changes": [],
        "skipped_columns": {},
        "started_columns": {},
        "notes": [],
    }
    json.dumps(data)


def test_top_drifted_lists_drifted_columns_most_severe_first(frames) -> None:
    summary = compute_drift(*frames, top_n=1)

    top = summary.to_dict()["top_drifted"]

    assert [t["column"] for t in top] == ["amount"]  # 2 std shift: ~20x its threshold
    assert set(top[0]) == {"column", "score", "method", "threshold"}
    assert [t["column"] for t in compute_drift(*frames).top_drifted] == ["amount", "country"]


def test_dataset_drift_needs_the_share_threshold(frames) -> None:
    assert compute_drift(*frames, drift_share=0.5).dataset_drift is True
    assert compute_drift(*frames, drift_share=0.75).dataset_drift is False


def test_drift_parameters_are_one_settings_object_with_keyword_overrides(frames) -> None:
    from airflow_provider_agentic_mlops.core.config import DriftSettings

    settings = DriftSettings(column_methods={"amount": "psi"}, drift_share=0.75)
    summary = compute_drift(*frames, settings)
    assert summary.share_threshold == 0.75 and summary.columns["amount"].method == "psi"
    assert compute_drift(*frames, settings, drift_share=0.5).share_threshold == 0.5  # a keyword wins
    with pytest.raises(ValueError, match="'drift_shar' is not a drift setting; known: .*'drift_share'"):
        compute_drift(*frames, drift_shar=0.5)
    with pytest.raises(ValueError, match=r"model 'fraud': drift settings: 'drift_share': .*less than or equal to 1"):
        compute_drift(*frames, drift_share=3, model_name="fraud")


def test_summary_stays_under_10kb_with_hundreds_of_columns() -> None:
    rng = np.random.default_rng(3)
    n, n_cols = 1500, 300
    reference = pd.DataFrame({f"feature_with_a_long_name_{i:03d}": rng.normal(0, 1, n) for i in range(n_cols)})
    current = pd.DataFrame(
        {f"feature_with_a_long_name_{i:03d}": rng.normal(0.5 * (i % 2), 1, n) for i in range(n_cols)}
    )
    current.iloc[:10, :] = np.nan

    summary = compute_drift(reference, current)
    data = summary.to_dict()

    assert len(json.dumps(data)) <= 10_000
    assert data["n_columns"] == 300
    assert data["columns_omitted"] == 300 - len(data["columns"])
    assert all(entry["drifted"] for entry in data["columns"].values())  # most severe kept
    assert len(data["top_drifted"]) == 5


@pytest.mark.parametrize("fault", ["unit_change", "arrives_as_text"])
def test_summary_stays_under_10kb_when_hundreds_of_columns_are_faulty(fault: str) -> None:
    # one fault (and, for text, one type change) per column used to go out whole: 60+ KB of XCom
    from airflow_provider_agentic_mlops.core.evidence import gather_evidence

    rng = np.random.default_rng(4)
    names = [f"feature_with_a_long_name_{i:03d}" for i in range(300)]
    reference = pd.DataFrame(rng.normal(100, 10, (1500, 300)), columns=names)
    current = pd.DataFrame(rng.normal(100, 10, (500, 300)), columns=names)
    current = current * 1000 if fault == "unit_change" else current.astype(str)
    when = pd.Timestamp("2024-05-01") + pd.to_timedelta(rng.integers(0, 100, 1500), unit="h")
    for i in range(30):  # skipped and listed
        reference[f"when_{i}"], current[f"when_{i}"] = when, when[:500]

    summary = compute_drift(reference, current, strict=False)
    summary.evidence = gather_evidence(reference, current, summary, strict=False)
    data = summary.to_dict()

    assert len(json.dumps(data)) <= 10_000
    faults = data["evidence"]["faults"]
    assert len(faults) + data["evidence"]["faults_omitted"] == 300 == len(summary.evidence["faults"])
    assert faults == summary.evidence["faults"][: len(faults)]  # the first kept, whole
    dq = data["data_quality"]
    assert len(dq["skipped_columns"]) + dq["skipped_columns_omitted"] == 30
    if fault == "arrives_as_text":
        assert len(dq["type_changes"]) + dq["type_changes_omitted"] == 300
    assert len(summary.to_dict(max_bytes=10**9)["evidence"]["faults"]) == 300  # drift_summary.json: all


def test_a_cut_summary_counts_what_it_leaves_out_of_the_column_lists() -> None:
    # "... and K more" was the last item of missing_columns: the decision reported 11 missing columns of 60
    rng = np.random.default_rng(5)
    names = [f"feature_with_a_long_name_{i:03d}" for i in range(200)]
    reference = pd.DataFrame(rng.normal(0, 1, (500, 200)), columns=names)
    current = reference.iloc[:, :140].copy()  # 60 columns missing
    current.iloc[:, :20] = np.nan  # 20 schema errors (only nulls)
    for i in range(30):  # 30 extra columns
        current[f"extra_column_{i:02d}"] = 1.0

    summary = compute_drift(reference, current, strict=False)
    full, cut = summary.to_dict(max_bytes=10**9)["data_quality"], summary.to_dict()["data_quality"]

    for key, total in (("missing_columns", 60), ("extra_columns", 30), ("schema_errors", 20)):
        assert len(full[key]) == total and f"{key}_omitted" not in full
        assert cut[key] == full[key][: len(cut[key])]  # only real entries, the first kept
        assert len(cut[key]) + cut[f"{key}_omitted"] == total


def test_from_dict_round_trips_the_summary(frames) -> None:
    summary = compute_drift(*frames, model_name="fraud", top_n=1)

    again = DriftSummary.from_dict(json.loads(json.dumps(summary.to_dict())))

    assert again.to_dict() == summary.to_dict()


def test_null_share_is_reported_for_current_data() -> None:
    reference = pd.DataFrame({"x": np.arange(2000.0), "c": ["a", "b"] * 1000})
    current = pd.DataFrame({"x": np.arange(2000.0), "c": ["a", None] * 1000})
    current.loc[:499, "x"] = np.nan

    null_share = compute_drift(reference, current).data_quality["null_share"]

    assert null_share == {"x": 0.25, "c": 0.5}


# -- model quality ------------------------------------------------------------------------------


def test_classification_quality_from_probabilities() -> None:
    rng = np.random.default_rng(4)
    n = 2000
    y_ref, y_cur = rng.integers(0, 2, n), rng.integers(0, 2, n)
    reference = pd.DataFrame({"x": rng.normal(0, 1, n), "label": y_ref, "score": np.clip(y_ref * 0.6 + 0.2, 0, 1)})
    current = pd.DataFrame({"x": rng.normal(0, 1, n), "label": y_cur, "score": rng.random(n)})

    quality = compute_drift(reference, current, label_column="label", prediction_column="score").quality

    assert set(quality) == {"accuracy", "f1", "roc_auc"}
    assert quality["accuracy"]["reference"] == 1.0
    assert quality["roc_auc"]["reference"] == 1.0
    assert 0.4 < quality["accuracy"]["current"] < 0.6
    assert 0.4 < quality["roc_auc"]["current"] < 0.6


def labelled_frames(n: int = 1500) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)

    def one() -> pd.DataFrame:
        x = rng.normal(0, 1, n)
        label = (x + rng.normal(0, 0.5, n) > 0).astype(int)
        return pd.DataFrame({"x": x, "c": rng.choice(["a", "b"], n), "label": label, "pred": (x > 0).astype(int)})

    return one(), one()


@pytest.mark.parametrize("labels", ["all null", "absent", "all NA Int64"])
@pytest.mark.parametrize("prediction_column", ["pred", None])
def test_labels_not_in_yet_are_no_measured_quality_not_an_error(labels: str, prediction_column: str | None) -> None:
    reference, current = labelled_frames()
    if labels == "all null":
        current["label"] = np.nan
    elif labels == "absent":
        current = current.drop(columns="label")
    else:
        current["label"] = pd.array([pd.NA] * len(current), dtype="Int64")

    summary = compute_drift(reference, current, label_column="label", prediction_column=prediction_column)

    assert "label" not in summary.columns and "labels not in yet" in summary.data_quality["skipped_columns"]["label"]
    if prediction_column:
        assert summary.quality["accuracy"]["current"] is None and summary.quality["accuracy"]["reference"] > 0.7


def test_labels_in_the_current_window_are_still_a_drift_column() -> None:
    reference, current = labelled_frames()

    summary = compute_drift(reference, current, label_column="label", prediction_column="pred")

    assert "label" in summary.columns and summary.quality["accuracy"]["current"] > 0.7


@pytest.mark.parametrize("labelled", [0.01, 0.4, 0.9])
def test_labels_partly_in_are_pending_not_a_null_column_fault(labelled: float) -> None:
    # labels arrive late: the newest rows have none yet. That is no broken feed, whatever the share.
    from airflow_provider_agentic_mlops.core.decision import data_quality_problems

    reference, current = labelled_frames()
    current = current.astype({"label": float})
    current.loc[int(labelled * len(current)) :, "label"] = np.nan

    summary = compute_drift(reference, current, label_column="label", prediction_column="pred")

    assert "label" not in summary.data_quality["null_share"]
    assert summary.data_quality["unlabelled_share"] == pytest.approx(1 - labelled, abs=0.001)
    assert data_quality_problems(summary.to_dict(), max_null_share=0.5) == []
    assert "label" in summary.columns  # the labelled rows are still checked for label drift


def test_a_mostly_empty_prediction_column_is_still_a_null_fault() -> None:
    from airflow_provider_agentic_mlops.core.decision import data_quality_problems

    reference, current = labelled_frames()
    current = current.astype({"pred": float})
    current.loc[len(current) // 4 :, "pred"] = np.nan

    summary = compute_drift(reference, current, label_column="label", prediction_column="pred")

    assert data_quality_problems(summary.to_dict(), max_null_share=0.5) == [
        "column 'pred' is 75% null (reference 0%; limit 50%)"
    ]


def test_a_misspelt_label_column_is_told_the_closest_column_and_to_set_it_not_unset_it() -> None:
    # a model is validated on labels: unsetting label_column is no fix the models file accepts
    reference, current = labelled_frames()
    with pytest.raises(ValueError) as err:
        compute_drift(reference, current, label_column="lable", reference_source="ref.csv")
    message = str(err.value)
    assert message.startswith("label_column 'lable' is missing from reference data (ref.csv): did you mean 'label'?")
    assert "set drift.label_column to the column holding the true labels" in message and "unset" not in message
    with pytest.raises(ValueError) as err:  # nothing close: the columns it has
        compute_drift(reference, current, prediction_column="score")
    message = str(err.value)
    assert "prediction_column 'score' is missing from reference data: its columns are ['x', 'c', 'label', 'pred']" in (
        message
    )
    assert "set drift.prediction_column to the column holding the model's predictions, or unset it" in message


@pytest.mark.parametrize("case", ["yes/no labels, probability predictions", "labels 1 and '1'"])
def test_labels_and_predictions_of_types_that_do_not_compare_are_a_clear_error(case: str) -> None:
    reference, current = labelled_frames()
    if case.startswith("yes/no"):
        for frame in (reference, current):
            frame["label"] = np.where(frame["label"] == 1, "yes", "no")
            frame["pred"] = np.where(frame["x"] > 0, 0.8, 0.2)
    else:
        reference["label"] = reference["label"].astype(object)
        reference.loc[:49, "label"] = "1"

    with pytest.raises(ValueError) as err:
        compute_drift(reference, current, label_column="label", prediction_column="pred")

    message = str(err.value)
    assert "label_column 'label'" in message and "prediction_column 'pred'" in message
    assert "str" in message and "probability of the positive class" in message


def test_classification_quality_from_labels_has_no_roc_auc() -> None:
    reference = pd.DataFrame({"label": ["a", "b"] * 600, "pred": ["a", "b"] * 600})
    current = pd.DataFrame({"label": ["a", "b"] * 600, "pred": ["a", "a"] * 600})

    quality = compute_drift(
        reference, current, label_column="label", prediction_column="pred", task="classification"
    ).quality

    assert quality["accuracy"] == {"reference": 1.0, "current": 0.5}
    assert quality["roc_auc"] == {"reference": None, "current": None}


def test_regression_quality_is_mae_and_rmse() -> None:
    rng = np.random.default_rng(5)
    n = 1500
    y = rng.normal(50, 5, n)
    reference = pd.DataFrame({"y": y, "y_hat": y + 1.0})
    current = pd.DataFrame({"y": y, "y_hat": y + np.where(np.arange(n) % 2, 3.0, -3.0)})

    quality = compute_drift(reference, current, label_column="y", prediction_column="y_hat").quality

    assert quality["mae"]["reference"] == pytest.approx(1.0)
    assert quality["mae"]["current"] == pytest.approx(3.0)
    assert quality["rmse"]["current"] == pytest.approx(3.0)


# -- bad input ----------------------------------------------------------------------------------


def test_column_missing_from_current_is_named_with_the_source_and_the_fix(frames) -> None:
    reference, current = frames
    with pytest.raises(ValueError) as err:
        compute_drift(
            reference,
            current.drop(columns="amount"),
            model_name="fraud",
            current_source="s3://bucket/cur.parquet",
        )
    assert str(err.value) == (
        "model 'fraud': column 'amount' is missing from current data (s3://bucket/cur.parquet); "
        "reference has it. Check the export job or drop it with exclude_columns."
    )


def test_extra_column_in_current_is_an_error_unless_excluded(frames) -> None:
    reference, current = frames
    current = current.assign(session_id=range(len(current)))

    with pytest.raises(ValueError, match="column 'session_id' is in current data but not in reference data"):
        compute_drift(reference, current)
    assert "session_id" not in compute_drift(reference, current, exclude_columns=["session_id"]).columns


def test_a_new_column_the_model_reads_is_an_error_even_with_feature_columns(frames) -> None:
    reference, current = frames
    current = current.assign(session_id=range(len(current)), debug=1.0)

    with pytest.raises(ValueError, match="column 'session_id' is in current data but not in reference data"):
        compute_drift(reference, current, feature_columns=["amount", "session_id"])
    summary = compute_drift(reference, current, feature_columns=["amount", "session_id"], strict=False)
    assert summary.data_quality["extra_columns"] == ["session_id"]
    assert summary.data_quality["notes"] == ["ignored columns not in feature_columns: ['debug']"]


def test_listed_column_missing_from_reference_is_named(frames) -> None:
    reference, current = frames
    with pytest.raises(ValueError, match="column 'income' is missing from reference data"):
        compute_drift(reference, current, columns=["amount", "income"])


@pytest.mark.parametrize("which", ["reference", "current"])
def test_empty_frame_is_refused(frames, which: str) -> None:
    reference, current = frames
    if which == "reference":
        reference = reference.iloc[:0]
    else:
        current = current.iloc[:0]
    with pytest.raises(ValueError, match=f"{which} data .*has no rows"):
        compute_drift(reference, current, reference_source="ref.parquet", current_source="cur.parquet")


def test_empty_current_window_is_a_summary_of_no_rows_not_an_error(frames) -> None:
    # A quiet window (a night, a paused feed) is not a broken call: the summary says 0 current rows,
    # which the decision reads as insufficient data, with no column reported broken.
    reference, current = frames
    summary = compute_drift(reference, current.iloc[:0], timestamp_column="ts", current_window="1d")

    assert (summary.n_reference, summary.n_current) == (len(reference), 0)
    assert (summary.n_columns, summary.n_drifted, summary.columns, summary.dataset_drift) == (0, 0, {}, False)
    assert summary.quality is None
    dq = summary.data_quality
    assert not any(dq[k] for k in ("null_share", "missing_columns", "extra_columns", "schema_errors", "type_changes"))


def test_dtype_clash_is_a_recorded_type_change_not_an_error(frames) -> None:
    # A type change is a broken feed (the decision escalates naming it), not a broken call: it used
    # to fail the task, which told nobody in Slack and gave the decision step nothing to read.
    reference, current = frames
    current = current.assign(amount=current["amount"].astype(str))

    summary = compute_drift(reference, current)

    assert "amount" not in summary.columns
    assert summary.data_quality["type_changes"] == [
        {"column": "amount", "reference": "numeric (float64)", "current": "string (object)"}
    ]


def test_all_null_column_is_refused(frames) -> None:
    reference, current = frames
    current = current.assign(country=None)

    with pytest.raises(ValueError, match="column 'country' has only null values in current data"):
        compute_drift(reference, current)


@pytest.mark.parametrize("strict", [True, False])
def test_a_column_null_throughout_the_reference_with_values_now_is_a_feature_that_started_arriving(
    frames, strict: bool
) -> None:
    # the reference never had its values (the feature was launched, the upstream feed fixed): nothing to
    # compare with, no broken input; said in data_quality, neither an error nor a schema error
    reference, current = frames
    reference = reference.assign(device=None, score=np.nan)
    current = current.assign(device=np.where(np.arange(len(current)) % 4 == 0, None, "ios"), score=1.5)

    summary = compute_drift(reference, current, strict=strict)

    assert summary.data_quality["started_columns"] == {"device": 0.75, "score": 1.0}
    assert summary.data_quality["schema_errors"] == []
    assert "started arriving" in summary.data_quality["skipped_columns"]["device"]
    assert "device" not in summary.columns and "amount" in summary.columns
    # null in the current data only stays broken input
    with pytest.raises(ValueError, match="column 'country' has only null values in current data"):
        compute_drift(reference, current.assign(country=None))


def test_columns_named_by_integers_are_checked_under_their_text_names() -> None:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({0: rng.normal(0, 1, 1500), 1: rng.choice(["a", "b"], 1500)})
    current = pd.DataFrame({0: rng.normal(0, 1, 1500), 1: rng.choice(["a", "b"], 1500)})

    summary = compute_drift(reference, current, column_methods={"0": "ks"})

    assert set(summary.columns) == {"0", "1"} and summary.columns["0"].method == "ks"


def test_columns_that_collide_as_text_are_named_both() -> None:
    reference = pd.DataFrame({1: np.arange(10.0), "1": np.arange(10.0)})

    with pytest.raises(ValueError, match=r"columns 1 \(int\) and '1' \(str\)"):
        compute_drift(reference, reference.copy())


def test_a_mixed_type_column_is_judged_on_all_its_values_not_its_first_and_last() -> None:
    rng = np.random.default_rng(9)
    values = ["a" if i % 2 else 1 for i in range(1500)]  # starts with 1, ends with "a"
    reordered = ["a", *values[1:-1], "a"]  # starts and ends with "a"
    reference = pd.DataFrame({"x": rng.normal(0, 1, 1500), "m": pd.Series(values, dtype=object)})
    current = pd.DataFrame({"x": rng.normal(0, 1, 1500), "m": pd.Series(reordered, dtype=object)})

    for ref, cur in ((reference, current), (current, reference)):
        summary = compute_drift(ref, cur)
        assert summary.data_quality["type_changes"] == [] and summary.columns["m"].type == "cat"


def _as_objects(values: np.ndarray, shape: str) -> pd.Series:
    from decimal import Decimal

    if shape == "decimal":
        items = [Decimal(f"{v:.2f}") for v in values]
    elif shape == "ints_and_floats":
        items = [int(v) if i % 2 else float(v) + 0.5 for i, v in enumerate(values.round())]
    else:  # floats
        items = values.tolist()
    series = pd.Series(items, dtype=object)
    series.iloc[::9] = None
    return series


@pytest.mark.parametrize("shape", ["decimal", "ints_and_floats", "floats"])
def test_object_columns_of_plain_numbers_are_numeric(shape: str) -> None:
    # Parquet DECIMAL (money from Spark, BigQuery NUMERIC, Snowflake NUMBER) reads as object Decimals;
    # object columns of Python numbers come from callables and JSON. They were refused as "other values".
    rng = np.random.default_rng(12)
    ref_values, cur_values = rng.normal(100, 10, 3000), rng.normal(110, 10, 800)
    reference = pd.DataFrame({"amount": _as_objects(ref_values, shape)})
    current = pd.DataFrame({"amount": _as_objects(cur_values, shape)})

    summary = compute_drift(reference, current)
    as_floats = compute_drift(reference.astype("float64"), current.astype("float64"))

    assert summary.columns["amount"] == as_floats.columns["amount"]
    assert (summary.columns["amount"].type, summary.columns["amount"].drifted) == ("num", True)
    assert summary.data_quality["null_share"]["amount"] == pytest.approx(1 / 9, abs=0.001)


def test_object_ints_are_read_like_an_int_column() -> None:
    rng = np.random.default_rng(13)
    reference = pd.DataFrame({"n": rng.integers(0, 4, 1500), "m": rng.integers(0, 500, 1500)})
    current = pd.DataFrame({"n": rng.integers(0, 4, 1500), "m": rng.integers(0, 500, 1500)})

    summary = compute_drift(reference.astype(object), current.astype(object))

    assert summary.columns == compute_drift(reference, current).columns
    assert {c: r.type for c, r in summary.columns.items()} == {"n": "cat", "m": "num"}


def test_text_mixed_with_numbers_stays_text_even_when_it_looks_like_numbers() -> None:
    values = pd.Series([1, "2", 3.5, Decimal("4")] * 400, dtype=object)
    summary = compute_drift(pd.DataFrame({"m": values}), pd.DataFrame({"m": values.copy()}))

    assert summary.columns["m"].type == "cat" and summary.data_quality["type_changes"] == []


def test_parquet_decimal_columns_are_checked_as_numbers(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rng = np.random.default_rng(14)
    for name, n, shift in (("ref", 3000, 0), ("cur", 800, 10)):
        amounts = [Decimal(f"{v:.2f}") for v in rng.normal(100 + shift, 10, n)]
        pq.write_table(pa.table({"amount": pa.array(amounts, type=pa.decimal128(12, 2))}), tmp_path / f"{name}.parquet")
    reference, current = pd.read_parquet(tmp_path / "ref.parquet"), pd.read_parquet(tmp_path / "cur.parquet")
    assert reference["amount"].dtype == object  # Decimal objects

    summary = compute_drift(reference, current)

    assert (summary.columns["amount"].type, summary.columns["amount"].drifted) == ("num", True)
    # Evidently's report reads the same numbers (it refused the Decimal objects with a TypeError)
    paths = write_evidently_report(reference, current, tmp_path / "out", sample_rows=500, summary=summary)
    assert Path(paths["html"]).exists()


def test_a_categorical_mixing_numbers_and_text_is_compared_as_text(tmp_path: Path) -> None:
    # astype("category") of an object column holding 1 and "basic": the Z-test sorted its values and
    # crashed with a TypeError naming no column; against the same values as an object column (read as
    # text) 1 and "1" were two different values
    rng = np.random.default_rng(15)

    def plans(n: int) -> pd.Series:
        return pd.Series(rng.choice(np.array([1, "basic"], dtype=object), n), dtype=object)

    reference = pd.DataFrame({"plan": plans(800).astype("category")})  # <= 1,000 rows, two values: Z-test
    current = pd.DataFrame({"plan": plans(300)})

    for cur in (current.astype("category"), current):
        summary = compute_drift(reference, cur)
        assert (summary.columns["plan"].type, summary.columns["plan"].method) == ("cat", "z")
        assert not summary.columns["plan"].drifted and summary.data_quality["type_changes"] == []
    # Evidently's report sorted the same values: it is rendered, not skipped with the TypeError
    paths = write_evidently_report(reference, current, tmp_path / "out", sample_rows=500, summary=summary)
    assert Path(paths["html"]).exists()


def pyarrow_frame(n: int, seed: int) -> pd.DataFrame:
    pa = pytest.importorskip("pyarrow")
    rng = np.random.default_rng(seed)
    words = rng.choice(["fr", "de", "it"], n)
    more = np.random.default_rng(seed + 100)
    ints = more.integers(0, 3, n)
    return pd.DataFrame(
        {
            "double": pd.Series(rng.normal(0, 1, n), dtype="double[pyarrow]"),
            "int64": pd.Series(rng.integers(0, 1000, n), dtype="int64[pyarrow]"),
            "few_ints": pd.Series(rng.integers(0, 4, n), dtype="int64[pyarrow]"),
            "bool": pd.Series(rng.random(n) < 0.3, dtype="bool[pyarrow]"),
            "string": pd.Series(words, dtype=pd.ArrowDtype(pa.string())),
            "large_string": pd.Series(words, dtype=pd.ArrowDtype(pa.large_string())),
            "dictionary": pd.Series(
                pa.array(words).dictionary_encode(), dtype=pd.ArrowDtype(pa.dictionary(pa.int32(), pa.string()))
            ),
            # read_parquet(dtype_backend="pyarrow") keeps these as Arrow types, which pandas cannot count
            "decimal": pd.Series(
                pa.array([Decimal(f"{v:.2f}") for v in more.normal(100, 10, n)], type=pa.decimal128(12, 2)),
                dtype=pd.ArrowDtype(pa.decimal128(12, 2)),
            ),
            "list": pd.Series(pa.array([[int(v)] for v in ints]), dtype=pd.ArrowDtype(pa.list_(pa.int64()))),
            "struct": pd.Series(
                pa.array([{"a": int(v)} for v in ints]), dtype=pd.ArrowDtype(pa.struct([("a", pa.int64())]))
            ),
            "map": pd.Series(
                pa.array([[("k", int(v))] for v in ints], type=pa.map_(pa.string(), pa.int64())),
                dtype=pd.ArrowDtype(pa.map_(pa.string(), pa.int64())),
            ),
            "date": pd.Series(
                pa.array(
                    [date(2024, 1, 1) + timedelta(days=int(d)) for d in more.integers(0, 99, n)], type=pa.date32()
                ),
                dtype=pd.ArrowDtype(pa.date32()),
            ),
            "time": pd.Series(
                pa.array([time(int(v) % 24) for v in more.integers(0, 24, n)], type=pa.time64("us")),
                dtype=pd.ArrowDtype(pa.time64("us")),
            ),
        }
    )


PYARROW_TYPES = {
    "double": "num",
    "int64": "num",
    "few_ints": "cat",
    "bool": "cat",
    "string": "cat",
    "large_string": "cat",
    "dictionary": "cat",
    "decimal": "num",
    "list": "cat",
    "struct": "cat",
    "map": "cat",
}
#: pyarrow_frame's points in time, skipped as the default backend's are, with the same reasons.
PYARROW_SKIPPED = {
    "date": "datetime values (dates): not checked for drift (exclude it, or derive features)",
    "time": "datetime values (times of day): not checked for drift (exclude it, or derive features)",
}


def test_pyarrow_backed_dtypes_are_checked_like_their_numpy_twins(tmp_path) -> None:
    path = tmp_path / "ref.parquet"
    pyarrow_frame(1500, 1).to_parquet(path)
    reference = pd.read_parquet(path, dtype_backend="pyarrow")

    summary = compute_drift(reference, pyarrow_frame(1500, 2))

    assert {c: r.type for c, r in summary.columns.items()} == PYARROW_TYPES
    assert summary.data_quality["type_changes"] == []
    assert summary.data_quality["skipped_columns"] == PYARROW_SKIPPED
    # scored as the default backend's columns are (nested values as their text, decimals as numbers)
    pa = pytest.importorskip("pyarrow")
    default = compute_drift(
        *(pa.Table.from_pandas(pyarrow_frame(1500, seed)).replace_schema_metadata(None).to_pandas() for seed in (1, 2))
    )
    for column, drift in summary.columns.items():
        if column in ("decimal", "list", "struct", "map"):
            assert drift.score == pytest.approx(default.columns[column].score), column


@pytest.mark.parametrize("shape", ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S+00:00", "%Y-%m-%d"])
def test_datetimes_read_from_csv_as_text_are_skipped_like_datetimes(tmp_path, shape: str) -> None:
    rng = np.random.default_rng(10)

    def frame(start: str) -> pd.DataFrame:
        when = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, 1000, 1500), unit="h")
        return pd.DataFrame({"x": rng.normal(0, 1, 1500), "when": when.strftime(shape)})

    reference, current = frame("2024-01-01"), frame("2024-03-01")  # a later window, as in production
    reference.loc[3, "when"] = None  # a missing timestamp is still a datetime column

    summary = compute_drift(reference, current)

    assert "when" not in summary.columns and "datetime" in summary.data_quality["skipped_columns"]["when"]
    assert summary.data_quality["type_changes"] == []


def test_text_that_only_starts_like_a_date_is_still_text() -> None:
    reference = pd.DataFrame({"note": ["2024-01-01 shipped", "2024-01-02 late"] * 750})

    assert compute_drift(reference, reference.copy()).columns["note"].type == "cat"


def test_wasserstein_near_the_largest_float_is_finite_and_scale_free() -> None:
    rng = np.random.default_rng(11)
    u, v = rng.uniform(0, 1, 1500), rng.uniform(0.5, 1.5, 1500) / 1.5
    small = compute_drift(pd.DataFrame({"x": u}), pd.DataFrame({"x": v})).columns["x"]

    huge = compute_drift(pd.DataFrame({"x": u * 1e308}), pd.DataFrame({"x": v * 1e308})).columns["x"]

    assert huge.method == "wasserstein" and huge.drifted
    assert huge.score == pytest.approx(small.score, rel=1e-9)


def test_unknown_method_lists_the_valid_ones(frames) -> None:
    with pytest.raises(ValueError, match="'amount': 'wasserstien' is not a drift method; use one of .*'wasserstein'"):
        compute_drift(*frames, column_methods={"amount": "wasserstien"})


def test_method_for_the_wrong_column_type_is_refused(frames) -> None:
    with pytest.raises(ValueError, match="method 'wasserstein' does not apply to column 'country'"):
        compute_drift(*frames, column_methods={"country": "wasserstein"})


def test_override_for_a_column_that_does_not_exist_is_refused(frames) -> None:
    with pytest.raises(ValueError, match=r"column_thresholds names \['amout'\]"):
        compute_drift(*frames, column_thresholds={"amout": 0.2})


def test_non_strict_mode_skips_broken_columns_and_records_them(frames) -> None:
    reference, current = frames
    current = current.drop(columns="age").assign(country=None, extra=1)

    summary = compute_drift(reference, current, strict=False)

    assert set(summary.columns) == {"amount", "channel"}
    assert summary.data_quality["missing_columns"] == ["age"]
    assert summary.data_quality["extra_columns"] == ["extra"]
    assert summary.data_quality["null_share"]["country"] == 1.0
    assert "column 'country' has only null values" in summary.data_quality["schema_errors"][0]


# -- Evidently's report -------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore")
def test_report_is_written_on_a_sample_and_says_so(frames, tmp_path) -> None:
    reference, current = frames
    summary = compute_drift(reference, current, model_name="fraud")

    paths = write_evidently_report(reference, current, tmp_path / "out", sample_rows=500, summary=summary)

    html = (tmp_path / "out" / "drift_report.html").read_text()
    assert paths["html"].endswith("drift_report.html")
    assert "random sample of 500 of 2,000 reference rows and 500 of 2,000 current rows" in html
    assert len(html) > 10_000  # Evidently's page, not an empty file
    report = json.loads((tmp_path / "out" / "drift_report.json").read_text())
    columns = {m["config"].get("column") for m in report["metrics"]}
    assert {"amount", "age", "country", "channel"} <= columns
    assert json.loads((tmp_path / "out" / "drift_summary.json").read_text())["n_columns"] == 4


def test_skipping_unshown_widgets_leaves_the_report_unchanged(frames, tmp_path, monkeypatch) -> None:
    """The gate for an Evidently upgrade: the report drawn without the per-column ValueDrift widgets
    (which DataDriftPreset computes and never shows) is Evidently's own, byte for byte once its random
    ids are masked, and those widgets are really not drawn."""
    import re

    from evidently.metrics.column_statistics import ValueDriftCalculation

    from airflow_provider_agentic_mlops.core.drift import report as report_module

    reference, current = frames
    summary = compute_drift(reference, current, model_name="fraud")
    drawn = []
    original = ValueDriftCalculation._render
    monkeypatch.setattr(
        ValueDriftCalculation, "_render", lambda self, *a, **k: drawn.append(1) or original(self, *a, **k)
    )
    counting = ValueDriftCalculation.__dict__["_render"]

    skipped = write_evidently_report(reference, current, tmp_path / "skipped", sample_rows=500, summary=summary)
    assert drawn == []  # not drawn
    assert ValueDriftCalculation.__dict__["_render"] is counting  # and put back afterwards

    @contextlib.contextmanager
    def draw_everything():
        yield

    monkeypatch.setattr(report_module, "_unshown_value_drift_widgets_skipped", draw_everything)
    full = write_evidently_report(reference, current, tmp_path / "full", sample_rows=500, summary=summary)
    assert len(drawn) == 4  # one ValueDrift per column drew its widget

    def masked(path: str) -> str:
        text = Path(path).read_text()
        text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}", "ID", text)
        return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?", "TIME", text)

    for kind in ("html", "json"):
        assert masked(skipped[kind]) == masked(full[kind]), kind


def test_summary_quality_agrees_with_validation_on_numeric_labels_2_and_10() -> None:
    # Labels were sorted as strings ("10" < "2"), so the summary's F1 took 2 as the positive class
    # (0.80) while validation took 10 (0.889). Both now call core.metrics.compute_metrics.
    from airflow_provider_agentic_mlops.core.validation import compute_metrics

    y_true = [2, 2, 10, 10, 10, 10, 2, 10]
    y_pred = [2, 10, 10, 10, 10, 2, 2, 10]
    frame = pd.DataFrame({"x": np.arange(8.0), "label": y_true, "pred": y_pred})

    summary = compute_drift(frame, frame, label_column="label", prediction_column="pred", task="classification")

    assert summary.quality["f1"]["current"] == pytest.approx(compute_metrics("classification", y_true, y_pred)["f1"])
    assert summary.quality["f1"]["current"] == pytest.approx(0.8)  # positive class 10: P = R = 4/5


# -- the report rendered alongside the summary ------------------------------------------------------


def _masked(path: str | Path) -> str:
    """A report's text with Evidently's random ids and timestamps masked."""
    import re

    text = Path(path).read_text()
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}", "ID", text)
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?", "TIME", text)


def test_plan_is_handed_over_once_before_the_numeric_columns_are_scored(frames, monkeypatch) -> None:
    from airflow_provider_agentic_mlops.core.drift import compute as compute_module

    reference, current = frames
    events: list[str] = []
    scored = compute_module.score_fast

    def scoring(method, ref, cur):  # noqa: ANN001, ANN202
        events.append(f"score {ref.series.name}")
        return scored(method, ref, cur)

    monkeypatch.setattr(compute_module, "score_fast", scoring)
    plans = []
    summary = compute_drift(reference, current, on_plan=lambda plan: (plans.append(plan), events.append("plan")))

    assert len(plans) == 1 and plans[0] == summary.plan
    assert list(plans[0].columns) == list(summary.columns) == list(reference.columns)  # the columns' order
    assert events.index("plan") < events.index("score amount")  # the sort-heavy column after the plan
    assert compute_drift(reference, current).to_dict() == summary.to_dict()  # the same summary


@pytest.mark.filterwarnings("ignore")
def test_report_rendered_alongside_is_the_one_rendered_after_the_summary(frames, tmp_path) -> None:
    from airflow_provider_agentic_mlops.core.drift.report import ReportAlongside, write_report

    reference, current = frames
    after = compute_drift(reference, current, model_name="fraud")
    written = write_report(reference, current, tmp_path / "after", after, sample_rows=500, model_name="fraud")

    with ReportAlongside(reference, current, tmp_path / "alongside", sample_rows=500, model_name="fraud") as report:
        alongside = compute_drift(reference, current, model_name="fraud", on_plan=report.start)
        assert report._thread is not None  # started from the plan, before the summary was done
        outcome = report.finish(alongside)

    assert outcome.status == written.status == "written"
    assert sorted(outcome.paths) == sorted(written.paths) == ["html", "json", "summary"]
    assert alongside.to_dict() == after.to_dict()
    for kind in ("html", "json", "summary"):
        assert _masked(outcome.paths[kind]) == _masked(written.paths[kind]), kind
    assert sorted(p.name for p in (tmp_path / "alongside").iterdir()) == sorted(
        p.name for p in (tmp_path / "after").iterdir()
    )


def test_report_failing_on_its_thread_is_skipped_with_the_reason(frames, tmp_path, monkeypatch) -> None:
    from airflow_provider_agentic_mlops.core.drift import report as report_module

    def refuse(reference, current, out_dir, **kwargs):  # noqa: ANN001, ANN202
        (Path(out_dir) / "drift_report.html").write_text("half")  # a partial file is not left behind
        raise ValueError("Evidently refused the sample")

    monkeypatch.setattr(report_module, "write_evidently_report", refuse)
    reference, current = frames
    with report_module.ReportAlongside(reference, current, tmp_path, sample_rows=500) as report:
        summary = compute_drift(reference, current, on_plan=report.start)
        outcome = report.finish(summary)

    assert outcome.status == "skipped" and "ValueError: Evidently refused the sample" in outcome.reason
    assert summary.report == outcome.to_dict()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drift_summary.json"]
    assert json.loads((tmp_path / "drift_summary.json").read_text())["report"]["status"] == "skipped"


def test_summary_error_propagates_after_the_report_thread_is_joined(frames, tmp_path, monkeypatch) -> None:
    import threading
    import time

    from airflow_provider_agentic_mlops.core.drift import report as report_module

    rendered: list[str] = []

    def slow(reference, current, out_dir, **kwargs):  # noqa: ANN001, ANN202
        time.sleep(0.3)  # still rendering when the summary fails
        rendered.append(threading.current_thread().name)
        return {}

    monkeypatch.setattr(report_module, "write_evidently_report", slow)
    reference, current = frames
    # labels and predictions that do not fit (a type change between the frames is a fault, not an error)
    reference = reference.assign(label=1, pred="yes")
    current = current.assign(label=1, pred="yes")

    with (
        pytest.raises(ValueError, match="model 'fraud'") as raised,
        report_module.ReportAlongside(reference, current, tmp_path) as report,
    ):
        compute_drift(
            reference, current, model_name="fraud", label_column="label", prediction_column="pred", on_plan=report.start
        )

    assert report._thread is not None and not report._thread.is_alive()
    assert rendered == ["drift-report"]  # rendered to its end on its own thread, before the error left
    assert raised.type is ValueError  # the summary's own error, not the report's


def _until(condition, what: str) -> None:  # noqa: ANN001
    """Poll until ``condition()`` holds; a bound only against a hang, not a timing assertion."""
    import time

    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.002)


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs POSIX signals")
def test_interrupted_wait_for_the_report_goes_on_until_the_thread_ends_then_the_interruption_propagates(
    frames, tmp_path, monkeypatch
) -> None:
    """Airflow's execution_timeout (a signal handler raising in the main thread) or Ctrl-C while finish()
    waits for the report: the block is left, and its temporary folder removed, only once the report
    thread has ended; the thread writes into no folder of its own making, and nothing is left behind."""
    import sys
    import tempfile
    import threading
    import time

    from airflow_provider_agentic_mlops.core.drift import report as report_module

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run in the main thread only")

    class TaskTimeout(Exception):  # stands in for AirflowTaskTimeout
        pass

    main = threading.main_thread()
    interrupted, left, ended = threading.Event(), threading.Event(), threading.Event()
    events: list[str] = []

    def blocked_waiting_for_the_report():  # noqa: ANN202
        """The main thread's innermost frame, when it is blocked in threading under ReportAlongside.join."""

        def waiting():  # noqa: ANN202
            frame = sys._current_frames().get(main.ident)
            top, lasti = frame, frame.f_lasti if frame else None
            while frame is not None:
                if frame.f_code.co_name == "join" and frame.f_code.co_filename == report_module.__file__:
                    return (top, lasti) if top.f_code.co_filename == threading.__file__ else None
                frame = frame.f_back
            return None

        first = waiting()
        time.sleep(0.02)  # still there, at the same instruction: blocked, not passing through
        return first[0] if first is not None and waiting() == first else None

    def timed_out(signum, frame) -> None:  # noqa: ANN001
        interrupted.set()
        raise TaskTimeout("execution_timeout")

    def render(reference, current, out_dir, **kwargs):  # noqa: ANN001, ANN202 - a slow Evidently
        try:
            first: list = []
            _until(lambda: first.append(blocked_waiting_for_the_report()) or first[-1] is not None, "finish() waits")
            signal.pthread_kill(main.ident, signal.SIGUSR1)
            # on: once the main thread waits again (the fix) or has left the block (the defect)
            _until(
                lambda: left.is_set() or blocked_waiting_for_the_report() not in (None, first[-1]),
                "the main thread waits again or leaves",
            )
            out = Path(out_dir)
            if kwargs.get("create_dir", True):  # as write_evidently_report does
                out.mkdir(parents=True, exist_ok=True)
            (out / "drift_report.html").write_text("sampled rows")
            return {"html": str(out / "drift_report.html")}
        finally:
            events.append("render ended")
            ended.set()

    monkeypatch.setattr(report_module, "write_evidently_report", render)
    reference, current = frames
    previous = signal.signal(signal.SIGUSR1, timed_out)
    try:
        with (
            pytest.raises(TaskTimeout, match="execution_timeout"),
            tempfile.TemporaryDirectory(dir=tmp_path) as tmp,
            report_module.ReportAlongside(reference, current, tmp) as report,
        ):
            report.finish(compute_drift(reference, current, on_plan=report.start))
        events.append("block left")
        left.set()
        assert ended.wait(60)
    finally:
        signal.signal(signal.SIGUSR1, previous)

    assert interrupted.is_set()
    assert events == ["render ended", "block left"]  # the block waited for the report thread
    assert list(tmp_path.iterdir()) == []  # its folder removed, nothing written again in its place


def test_report_thread_never_creates_its_folder(frames, tmp_path) -> None:
    reference, current = frames
    with pytest.raises(FileNotFoundError, match="gone"):
        write_evidently_report(reference, current, tmp_path / "removed", sample_rows=500, create_dir=False)
    assert not (tmp_path / "removed").exists()


def test_a_list_after_text_in_an_object_column_is_compared_as_text() -> None:
    # value_counts raised "unhashable type: 'list'" on the first list after text values
    values = pd.Series(["none", ["a"], ["a", "b"], None] * 400, dtype=object)
    frame = pd.DataFrame({"tags": values, "x": np.arange(1600.0)})

    summary = compute_drift(frame, frame)

    assert summary.columns["tags"].type == "cat" and not summary.columns["tags"].drifted


@pytest.mark.parametrize("accented", [True, False])
def test_summary_stays_under_10kb_with_long_column_names_as_xcom_writes_it(accented: bool) -> None:
    # 300-character names repeated in the ten kept entries of every list, the faults, top_drifted and the
    # severity's top: 93 KB (accents escaped as \u00e9, as Airflow's XCom JSON writes them) where 10 KB is promised
    from airflow_provider_agentic_mlops.core.decision import fault_problems
    from airflow_provider_agentic_mlops.core.evidence import gather_evidence

    rng = np.random.default_rng(6)
    if accented:
        names = [f"{'é' * 250}_{i}_{'価' * 50}" for i in range(150)]
    else:
        names = [f"feature_{'x' * 200}_{i}" for i in range(150)]
    reference = pd.DataFrame({n: rng.normal(0, 1, 400) for n in names})
    current = pd.DataFrame(
        {n: rng.normal(1, 1, 300) if i % 3 else rng.normal(0, 1, 300).astype(str) for i, n in enumerate(names)}
    )
    reference["gone_" + "z" * 300] = 1.0
    for i in range(40):
        current[f"new_{i}_" + "q" * 300] = 1.0

    summary = compute_drift(reference, current, strict=False)
    summary.evidence = gather_evidence(reference, current, summary, strict=False)
    full = summary.to_dict(max_bytes=10**9)
    data = summary.to_dict()

    assert len(json.dumps(data)) <= 10_000  # json.dumps escapes non-ASCII, as XCom does
    evidence, dq = data["evidence"], data["data_quality"]
    n_faults = len(full["evidence"]["faults"])
    assert n_faults >= 50 and evidence["faults"]  # faults are never cut away, only counted
    assert len(evidence["faults"]) + evidence["faults_omitted"] == n_faults
    assert fault_problems(data)[-1] == f"{n_faults - len(evidence['faults'])} more fault(s)"
    for key, total in (("schema_errors", 50), ("type_changes", 50), ("extra_columns", 40), ("missing_columns", 1)):
        assert len(dq[key]) + dq.get(f"{key}_omitted", 0) == total, key
    assert data["top_drifted"] and evidence["severity"]["top"]  # shortened, not dropped
    assert evidence["severity"]["weighted_share"] == full["evidence"]["severity"]["weighted_share"]
    names_kept = [t["column"] for t in data["top_drifted"]] + [f["column"] for f in evidence["faults"]]
    assert all(len(json.dumps(n)) <= 80 and "…" in n for n in names_kept)  # a long name is cut, said by "…"
    assert len({f["column"] for f in evidence["faults"]}) == len(evidence["faults"])  # names cut alike stay apart
    assert data["column_names_cut"] > 0
    assert len(full["evidence"]["faults"][0]["column"]) > 200  # drift_summary.json keeps the full names


@pytest.mark.parametrize("case", ["near_max_float", "huge_python_ints", "interval_categorical"])
def test_report_renders_values_evidently_cannot_bin(case: str, tmp_path: Path) -> None:
    # valid data whose report Evidently refused (the check completed, the report was skipped): 1e308 in a
    # float64 ("cannot convert float NaN to integer"), Python ints above 2**64 ("Too many bins"), and a
    # categorical of intervals ("Interval is not JSON serializable")
    rng = np.random.default_rng(16)
    if case == "near_max_float":
        values = rng.normal(0, 1, 1000)
        values[0] = 1e308
        reference, current = pd.DataFrame({"v": values}), pd.DataFrame({"v": values + 0.3})
    elif case == "huge_python_ints":
        reference = pd.DataFrame({"v": pd.Series([2**70 + int(v) for v in rng.integers(0, 100, 1500)], dtype=object)})
        current = pd.DataFrame({"v": pd.Series([2**70 + int(v) for v in rng.integers(0, 100, 800)], dtype=object)})
    else:
        bins = [-10, -1, 0, 1, 10]
        reference = pd.DataFrame({"v": pd.cut(rng.normal(0, 1, 1000), bins=bins)})
        current = pd.DataFrame({"v": pd.cut(rng.normal(0.5, 1, 800), bins=bins)})
    reference["x"], current["x"] = rng.normal(0, 1, len(reference)), rng.normal(0, 1, len(current))

    summary = compute_drift(reference, current)
    paths = write_evidently_report(reference, current, tmp_path / "out", sample_rows=2000, summary=summary)

    html_text = html.unescape(Path(paths["html"]).read_text(encoding="utf-8"))
    if case != "interval_categorical":  # the report says what it changed in its sample
        assert "values beyond" in html_text and "'v'" in html_text
    assert json.loads(Path(paths["summary"]).read_text())["columns"]["v"] == summary.to_dict()["columns"]["v"]


def test_no_column_to_check_says_why_each_was_skipped() -> None:
    def frame(start: str) -> pd.DataFrame:
        return pd.DataFrame({"ts": pd.date_range(start, periods=1500, freq="h"), "n": np.nan})

    with pytest.raises(ValueError, match=r"no column could be checked.*'ts': datetime values.*'n': only null values"):
        compute_drift(frame("2024-01-01"), frame("2024-06-01"))


def test_a_threshold_past_1_for_a_p_value_method_the_column_gets_by_default_is_refused() -> None:
    """Without ``column_methods``, a column's method is picked from the data (Evidently's default: K-S up to 1,000
    reference rows, Wasserstein above): ``column_thresholds: {age: 5}`` read as a p-value on 500 rows made an
    unchanged column drifted at every run."""
    rng = np.random.default_rng(0)
    reference, current = pd.DataFrame({"age": rng.normal(size=500)}), pd.DataFrame({"age": rng.normal(size=500)})
    with pytest.raises(ValueError, match=r"column_thresholds gives 'age' threshold 5, but its method is ks") as exc:
        compute_drift(reference, current, column_thresholds={"age": 5}, model_name="churn")
    message = str(exc.value)
    assert "Evidently's default" in message and "p-value" in message and "column_methods" in message
    assert "0.05 for 5 %" in message
    with pytest.raises(ValueError, match=r"threshold 2, but its method is ks \(type_methods\['num'\]\)"):
        compute_drift(reference, current, column_thresholds={"age": 2}, type_methods={"num": "ks"})
    # a distance may be past 1, and a p-value up to 1 is one
    assert compute_drift(reference, current, column_thresholds={"age": 0.01}).columns["age"].threshold == 0.01
    summary = compute_drift(reference, current, column_thresholds={"age": 5}, column_methods={"age": "wasserstein"})
    assert summary.columns["age"].threshold == 5 and not summary.columns["age"].drifted
