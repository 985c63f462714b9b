"""The demo's training callable: where a local MLflow store keeps what it logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_agentic_mlops.demo.data import write_demo_data
from airflow_provider_agentic_mlops.demo.training import train_fraud_detector


def _train_into_local_store(tmp_path: Path) -> tuple[dict, str]:
    """The demo model trained on 400 rows into a SQLite store in ``tmp_path / "home"``: ``(result, tracking URI)``."""
    data = write_demo_data(tmp_path / "data", drift=False, rows=400)
    (tmp_path / "home").mkdir()
    tracking = f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    result = train_fraud_detector(
        model_name="fraud-detector",
        registered_model="fraud-detector",
        tracking_uri=tracking,
        conf={"train_data": str(data["reference"])},
        tags={},
    )
    return result, tracking


def test_a_local_tracking_store_keeps_the_model_next_to_its_database_not_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    workdir = tmp_path / "started-here"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # the demo runs from a clone; MLflow's default would be ./mlruns there
    result, tracking = _train_into_local_store(tmp_path)
    run = mlflow.MlflowClient(tracking_uri=tracking).get_run(result["run_id"])
    assert run.info.artifact_uri.startswith((tmp_path / "home" / "mlartifacts").as_uri())
    assert not (workdir / "mlruns").exists()


def test_training_does_not_warn_about_integer_columns(tmp_path: Path) -> None:
    """MLflow's infer_signature hint about integer columns that cannot hold missing values showed in every
    demo console and retrain log; the demo's data has no missing values, by construction."""
    import warnings

    # imported before catch_warnings: Airflow's logging set-up, run at its first import, sends warnings to
    # logging from then on, past a catch_warnings entered before it
    import airflow_provider_agentic_mlops.hooks.mlflow  # noqa: F401

    data = write_demo_data(tmp_path / "data", drift=False, rows=400)
    (tmp_path / "home").mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_fraud_detector(
            model_name="fraud-detector",
            registered_model="fraud-detector",
            tracking_uri=f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}",
            conf={"train_data": str(data["reference"])},
            tags={},
        )
    assert not [w for w in caught if "integer column" in str(w.message)]


@pytest.fixture
def sklearn_with_remainder_cols_list(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fitted ColumnTransformer holds its remainder's columns in ``_RemainderColsList`` as scikit-learn 1.5
    and 1.6 do (a type skops does not trust by default); the fixture's value is the type's name."""
    import sklearn.compose._column_transformer as column_transformer

    class _RemainderColsList(list):
        pass

    _RemainderColsList.__module__ = column_transformer.__name__
    monkeypatch.setattr(column_transformer, "_RemainderColsList", _RemainderColsList, raising=False)
    validate = column_transformer.ColumnTransformer._validate_remainder

    def validate_as_in_1_5(self, X):
        validate(self, X)
        name, how, columns = self._remainder
        self._remainder = (name, how, _RemainderColsList(columns))

    monkeypatch.setattr(column_transformer.ColumnTransformer, "_validate_remainder", validate_as_in_1_5)
    return f"{column_transformer.__name__}._RemainderColsList"


def test_the_demo_model_saves_and_loads_on_scikit_learn_1_5(tmp_path: Path, sklearn_with_remainder_cols_list) -> None:
    """MLflow saves scikit-learn models with skops, which refused the demo's pipeline on scikit-learn 1.5.x
    ("references untrusted types"): the pipeline's own scikit-learn type is trusted when saved and loaded."""
    import mlflow

    result, tracking = _train_into_local_store(tmp_path)
    mlflow.set_tracking_uri(tracking)
    model = mlflow.sklearn.load_model(f"models:/fraud-detector/{result['version']}")
    assert type(model.named_steps["encode"]._remainder[2]).__name__ == "_RemainderColsList"
