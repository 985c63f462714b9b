"""``airflow agentic-mlops rollback``: which registered model it targets, read from models.yaml.

The MLflow side is covered against a real server in tests/integration/test_rollback_cli.py; these
tests stop before any registry call.
"""

from __future__ import annotations

import argparse

import pytest

from airflow_provider_agentic_mlops.cli.commands.rollback import _registered_model, rollback

VALID = """
models:
  - name: fraud
    registered_model: fraud-detector-prod
    drift: {reference: /r.parquet, current: /c.parquet, label_column: label}
    retrain: {python_callable: "tests.doubles.mlflow_server:train_tiny_classifier"}
"""


@pytest.fixture
def models_yaml(airflow_home, monkeypatch):
    path = airflow_home / "models.yaml"
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(path))
    return path


def _args(model: str) -> argparse.Namespace:
    # a connection id that exists nowhere: reaching the registry would fail with another error
    return argparse.Namespace(
        model=model, user="dave", yes=True, reason=None, mlflow_conn_id="absent_conn", state_conn_id="absent_conn"
    )


def test_rollback_with_unparsable_models_yaml_fails_naming_the_file_and_the_error(models_yaml):
    models_yaml.write_text("models:\n  - name: fraud\n    drift: {reference: [unclosed\n")
    with pytest.raises(SystemExit) as exc:
        rollback(_args("fraud"))
    message = str(exc.value)
    assert str(models_yaml) in message
    assert "not valid YAML" in message
    assert "nothing changed" in message


def test_rollback_with_invalid_model_entry_fails_naming_the_file_and_the_field(models_yaml):
    models_yaml.write_text(VALID.replace("label_column: label", "label_column: label, not_a_field: 1"))
    with pytest.raises(SystemExit) as exc:
        rollback(_args("fraud"))
    message = str(exc.value)
    assert str(models_yaml) in message
    assert "not_a_field" in message


def test_unreadable_models_yaml_is_an_error_not_a_guess(models_yaml):
    models_yaml.mkdir()  # there, but not a file: reading it fails
    with pytest.raises(SystemExit, match="cannot read models file"):
        _registered_model("fraud")


def test_registered_model_comes_from_models_yaml(models_yaml):
    models_yaml.write_text(VALID)
    assert _registered_model("fraud") == "fraud-detector-prod"


def test_without_a_models_file_the_registered_model_is_named_like_the_model(models_yaml):
    assert not models_yaml.exists()
    assert _registered_model("fraud") == "fraud"


def test_model_absent_from_models_yaml_is_named_like_the_model(models_yaml):
    models_yaml.write_text(VALID)
    assert _registered_model("churn") == "churn"
