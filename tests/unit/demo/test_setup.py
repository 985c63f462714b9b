"""``setup_demo``: the demo's data and champion, on a first start and on a restart after the walkthrough."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from airflow_provider_agentic_mlops.demo.data import FEATURES, LABEL, current_shift
from airflow_provider_agentic_mlops.demo.setup import MODEL, demo_data_dir, inject_shift, setup_demo
from airflow_provider_agentic_mlops.demo.training import train_fraud_detector

ROWS = 2000


def _promote_a_retrained_champion(home: Path, tracking: str) -> dict:
    """What the walkthrough's approve -> promote leaves: a version trained on the shifted current data, champion."""
    import mlflow

    trained = train_fraud_detector(
        model_name=MODEL,
        registered_model=MODEL,
        tracking_uri=tracking,
        conf={"train_data": str(demo_data_dir(home) / "current.parquet")},
        tags={},
    )
    mlflow.MlflowClient(tracking_uri=tracking, registry_uri=tracking).set_registered_model_alias(
        MODEL, "champion", trained["version"]
    )
    return trained


def _champion_on(home: Path, tracking: str, name: str) -> float:
    import mlflow
    from sklearn.metrics import roc_auc_score

    model = mlflow.sklearn.load_model(f"models:/{MODEL}@champion")
    frame = pd.read_parquet(demo_data_dir(home) / f"{name}.parquet")
    return float(roc_auc_score(frame[LABEL], model.predict_proba(frame[FEATURES])[:, 1]))


def _drift_share(home: Path) -> float:
    from airflow_provider_agentic_mlops.core.drift.compute import compute_drift

    data = demo_data_dir(home)
    reference, current = (pd.read_parquet(data / f"{n}.parquet") for n in ("reference", "current"))
    return compute_drift(reference, current, label_column=LABEL).drift_share


def test_no_drift_after_a_promotion_serves_the_regime_the_champion_learned_from(tmp_path: Path) -> None:
    """README: "./scripts/demo --no-drift shows the other path: the run ends in no_action". After the
    walkthrough (drift, retrain, promote) the champion learned from the first shift's regime; the
    --no-drift data of the training era made it lose ROC AUC 0.79 -> 0.39, and the rules retrained."""
    import mlflow

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    assert setup_demo(tmp_path, tracking_uri=tracking, rows=ROWS)["shift"] == 1
    learned = pd.read_parquet(demo_data_dir(tmp_path) / "current.parquet")
    trained = _promote_a_retrained_champion(tmp_path, tracking)

    result = setup_demo(tmp_path, tracking_uri=tracking, drift=False, rows=ROWS)
    assert result["champion"] == trained["version"]
    for name in ("current", "validation"):  # new samples of that regime, not the rows it learned from
        assert not pd.read_parquet(demo_data_dir(tmp_path) / f"{name}.parquet").equals(learned)
    assert _drift_share(tmp_path) < 0.1  # below min_drift_share: no drift to act on
    assert _champion_on(tmp_path, tracking, "current") > trained["metrics"]["roc_auc"] - 0.05  # no drop

    # a restart without --no-drift, or --shift, drifts again, from the champion's regime
    setup_demo(tmp_path, tracking_uri=tracking, rows=ROWS)
    assert current_shift(demo_data_dir(tmp_path)) == 2
    assert _drift_share(tmp_path) > 0.3
    assert _champion_on(tmp_path, tracking, "reference") > trained["metrics"]["roc_auc"] - 0.05


def test_no_drift_on_a_fresh_home_keeps_the_training_era(tmp_path: Path) -> None:
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = setup_demo(tmp_path, tracking_uri=tracking, drift=False, rows=ROWS)
    assert result["champion"] == "1" and result["shift"] == 0
    assert _drift_share(tmp_path) < 0.1
    assert inject_shift(tmp_path, tracking_uri=tracking, rows=ROWS)["shift"] == 1
    assert _drift_share(tmp_path) > 0.3


def test_no_drift_for_a_champion_that_does_not_say_what_it_learned_from_says_so() -> None:
    from airflow_provider_agentic_mlops.cli.commands.demo import data_note
    from airflow_provider_agentic_mlops.demo.setup import champion_shift

    assert champion_shift({}) is None  # a version an older demo trained
    note = data_note({"shift": 0, "drift": False, "champion": "3", "champion_shift": None})
    assert "v3 does not say which data it learned from" in note and "delete its home" in note
    assert champion_shift({"agentic_mlops.demo.shift": "2"}) == 2
    assert "cash_out regime, the one champion v3 learned from" in data_note(
        {"shift": 2, "drift": False, "champion": "3", "champion_shift": 2}
    )


def test_a_shift_after_an_escalated_one_drifts_from_the_regime_the_champion_learned_from(tmp_path: Path) -> None:
    """README: `--shift` "moves the reference to the regime the new champion learned from". A shift within the
    cooldown escalates: no champion learns from it, so the next shift's reference stays the champion's regime
    (it was the escalated shift's, which no champion learned from: weighted drifted share 0.000 while 5 of 9
    columns drifted)."""
    import mlflow

    from airflow_provider_agentic_mlops.demo.data import SHIFT_ATTR

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    setup_demo(tmp_path, tracking_uri=tracking, rows=ROWS)  # shift 1
    trained = _promote_a_retrained_champion(tmp_path, tracking)  # learned from shift 1
    reference = demo_data_dir(tmp_path) / "reference.parquet"

    assert inject_shift(tmp_path, tracking_uri=tracking, rows=ROWS)["shift"] == 2  # escalates: no promotion
    assert pd.read_parquet(reference).attrs[SHIFT_ATTR] == 1
    shifted = inject_shift(tmp_path, tracking_uri=tracking, rows=ROWS)
    assert shifted == {"shift": 3, "reference_shift": 1, "champion": trained["version"], "champion_shift": 1}
    assert pd.read_parquet(reference).attrs[SHIFT_ATTR] == 1
    assert _champion_on(tmp_path, tracking, "reference") > trained["metrics"]["roc_auc"] - 0.05
    assert _drift_share(tmp_path) > 0.3
