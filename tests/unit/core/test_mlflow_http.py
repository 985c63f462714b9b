"""MLflow's HTTP retry budget for a caller that waits: set meanwhile, as it was afterwards."""

from __future__ import annotations

import os

import pytest

from airflow_provider_agentic_mlops.core.mlflow_http import COMMAND_MLFLOW_HTTP_ENV, mlflow_http_budget


def test_a_command_keeps_what_the_environment_sets_and_removes_what_it_added(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    with mlflow_http_budget(COMMAND_MLFLOW_HTTP_ENV, keep_set=True):
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "60"
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "60"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ


def test_an_override_is_restored_after_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")
    with pytest.raises(RuntimeError), mlflow_http_budget({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}, keep_set=False):
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"
        raise RuntimeError("the request failed")
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "7"
