"""MlflowRegistryHook.test_connection: what the connection form's Test button runs."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_test_connection_reads_the_registry(monkeypatch, airflow_home: Path) -> None:
    uri = f"sqlite:///{airflow_home / 'mlflow.db'}"
    conn = {"conn_type": "agentic_mlops_mlflow", "host": uri, "extra": {"access": "read"}}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_LOCAL", json.dumps(conn))
    assert MlflowRegistryHook("mlflow_local").test_connection() == (
        True,
        f"reached the MLflow registry at {uri} (access read)",
    )


def test_test_connection_reports_an_unreachable_server(monkeypatch: pytest.MonkeyPatch, airflow_home: Path) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail at once instead of backing off
    conn = {"conn_type": "agentic_mlops_mlflow", "host": f"http://127.0.0.1:{_closed_port()}"}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DOWN", json.dumps(conn))
    ok, message = MlflowRegistryHook("mlflow_down").test_connection()
    assert not ok
    assert message.startswith("MlflowException: ")


def test_an_unreachable_server_is_named_with_the_connection_and_the_model(monkeypatch, airflow_home: Path) -> None:
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail at once instead of backing off
    conn = {"conn_type": "agentic_mlops_mlflow", "host": f"http://127.0.0.1:{_closed_port()}"}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DOWN", json.dumps(conn))
    with pytest.raises(MlflowException) as raised:
        MlflowRegistryHook("mlflow_down").get_alias_version("fraud-detector", "champion")
    assert str(raised.value).startswith(
        f"MLflow connection 'mlflow_down' ({conn['host']}), model 'fraud-detector': API request to "
    )
    assert isinstance(raised.value.__cause__, MlflowException)
