"""The demo data generator: seeded, and its drift switch moves features and the label relationship."""

from __future__ import annotations

import pandas as pd
import pytest

from airflow_provider_agentic_mlops.demo.data import (
    FEATURES,
    LABEL,
    generate_transactions,
    write_demo_data,
    write_shift,
)


def test_same_seed_same_data() -> None:
    pd.testing.assert_frame_equal(generate_transactions(500, seed=3), generate_transactions(500, seed=3))
    assert not generate_transactions(500, seed=3).equals(generate_transactions(500, seed=4))


def test_drift_shifts_feature_distributions() -> None:
    before = generate_transactions(4000, seed=1)
    after = generate_transactions(4000, seed=1, drift=True)
    assert (after["channel"] == "online").mean() > (before["channel"] == "online").mean() + 0.2
    assert after["tx_last_24h"].mean() > before["tx_last_24h"].mean() + 2
    assert list(after.columns) == [*FEATURES, LABEL]


def test_drift_changes_the_label_relationship_so_retraining_helps() -> None:
    from sklearn.metrics import roc_auc_score

    from airflow_provider_agentic_mlops.demo.training import build_pipeline

    old = generate_transactions(4000, seed=1)
    new = generate_transactions(4000, seed=2, drift=True)
    holdout = generate_transactions(4000, seed=3, drift=True)
    champion = build_pipeline().fit(old[FEATURES], old[LABEL])
    challenger = build_pipeline().fit(new[FEATURES], new[LABEL])
    auc_old = roc_auc_score(holdout[LABEL], champion.predict_proba(holdout[FEATURES])[:, 1])
    auc_new = roc_auc_score(holdout[LABEL], challenger.predict_proba(holdout[FEATURES])[:, 1])
    assert auc_new > auc_old + 0.2


def test_write_demo_data_writes_three_parquet_files(tmp_path) -> None:
    paths = write_demo_data(tmp_path, drift=True, rows=300)
    assert {p.name for p in paths.values()} == {"reference.parquet", "current.parquet", "validation.parquet"}
    assert len(pd.read_parquet(paths["current"])) == 300


@pytest.mark.parametrize("shift", [1, 2, 3, 4])
def test_every_shift_hurts_the_champion_retrained_on_the_shift_before(tmp_path, shift: int) -> None:
    """`demo --shift` shows the loop again: the champion promoted after the previous shift (trained, as the
    demo's retrain does, on that shift's current data) loses accuracy on the new current data, measured
    against its held-out accuracy as the drift check does, by far more than min_performance_drop (0.02)
    and the sampling error; and a challenger trained on the new data beats it on the validation data."""
    from airflow_provider_agentic_mlops.demo.training import classification_metrics, fit_fraud_detector

    before, now = tmp_path / "before", tmp_path / "now"
    learned = pd.read_parquet(
        write_shift(before, shift - 1, rows=3000)["current"]
        if shift > 1
        else write_demo_data(before, drift=False, rows=3000)["reference"]
    )
    champion, held_out = fit_fraud_detector(learned)
    paths = write_shift(now, shift, rows=3000)
    current, validation = pd.read_parquet(paths["current"]), pd.read_parquet(paths["validation"])
    assert held_out["accuracy"] - classification_metrics(champion, current)["accuracy"] > 0.1
    challenger, _ = fit_fraud_detector(current)
    on_validation = classification_metrics(champion, validation), classification_metrics(challenger, validation)
    assert on_validation[1]["roc_auc"] > on_validation[0]["roc_auc"] + 0.1  # the demo's gate: +0.01
    assert on_validation[1]["f1"] > on_validation[0]["f1"] - 0.05  # its F1 guard


@pytest.mark.parametrize(
    ("learned_from", "shift"),
    [(0, 1), (1, 2), (2, 3), (1, 3), (2, 4)],
    ids=["first-run", "shift-2", "shift-3", "shift-3-after-escalated-2", "shift-4-after-escalated-3"],
)
def test_the_demo_models_gates_approve_the_retrained_challenger_whatever_shift_its_champion_learned_from(
    tmp_path, monkeypatch, learned_from: int, shift: int
) -> None:
    """The demo model's validation (dags/models.yaml) passes the challenger retrained on a shift's current data
    against the champion, also when that champion learned from a shift two back (a shift within the cooldown
    escalated, so no champion was retrained on it): a champion that predicts almost no fraud on the new regime
    scores an accuracy near 1 - the fraud rate, which a guard on accuracy would take over ROC AUC 0.41 -> 0.79."""
    from pathlib import Path

    from airflow_provider_agentic_mlops.core.config import load_models
    from airflow_provider_agentic_mlops.core.metrics import compute_metrics
    from airflow_provider_agentic_mlops.core.validation import Gates, evaluate_gates
    from airflow_provider_agentic_mlops.demo.training import fit_fraud_detector

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    models_yaml = Path(__file__).resolve().parents[3] / "dags" / "models.yaml"
    spec = next(s for s in load_models(models_yaml) if s.name == "fraud-detector")
    gates = Gates.resolve(spec.validation, task="classification")
    learned = write_shift(tmp_path / "before", learned_from, drift=learned_from > 0)
    champion, _ = fit_fraud_detector(pd.read_parquet(learned["current" if learned_from else "reference"]))
    now = write_shift(tmp_path / "now", shift)
    challenger, _ = fit_fraud_detector(pd.read_parquet(now["current"]))
    validation = pd.read_parquet(now["validation"])

    def scored(model):
        x = validation[FEATURES]
        return compute_metrics(
            "classification", validation[LABEL], model.predict(x), model.predict_proba(x), classes=model.classes_
        )

    checks = evaluate_gates(gates, scored(challenger), scored(champion))
    assert [c.detail for c in checks if not c.passed] == []


def test_demo_data_on_a_pyarrow_that_does_not_import_says_which_versions_and_the_fix(
    tmp_path, pyarrow_that_needs_numpy_2
) -> None:
    with pytest.raises(ImportError, match=r"pip install 'pyarrow<26'.*numpy>=2"):
        write_demo_data(tmp_path, drift=True, rows=50)
    with pytest.raises(ImportError, match=r"pip install 'pyarrow<26'.*numpy>=2"):
        write_shift(tmp_path, shift=1, drift=True, rows=50)
