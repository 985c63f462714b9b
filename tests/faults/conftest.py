"""Fixtures of the fault suite: a PostgreSQL state store and a real MLflow server that can be stopped
and started again on the same port and backend store (to take MLflow down in the middle of a step)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.doubles.mlflow_server import register_tiny_classifier, start_mlflow_server, stop_mlflow_server

pytestmark = [pytest.mark.slow]


@dataclass
class MlflowServer:
    """A real ``mlflow server``; :meth:`stop` and :meth:`start` keep its port and its data."""

    root: Path
    url: str = ""
    proc: Any = None

    def start(self) -> MlflowServer:
        port = int(self.url.rsplit(":", 1)[1]) if self.url else None
        self.proc, self.url, _ = start_mlflow_server(self.root, port=port)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_mlflow_server(self.proc)
            self.proc = None

    def client(self) -> Any:
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.url, registry_uri=self.url)


@pytest.fixture(scope="module")
def mlflow_fault_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-faults")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_store(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The state store on a fresh PostgreSQL database, also as the default state connection."""
    import json

    from airflow_provider_agentic_mlops.core.state import StateStore

    monkeypatch.setenv(
        "AIRFLOW_CONN_AGENTIC_MLOPS_STATE_DEFAULT",
        json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": pg_url}}),
    )
    store = StateStore(pg_url)
    yield store
    store.dispose()


@pytest.fixture
def registry_env(mlflow_fault_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """MLflow connections to the fault server, and a model with a champion (v1) and a candidate (v2)."""
    for conn_id in ("agentic_mlops_mlflow_registry", "agentic_mlops_mlflow_train", "agentic_mlops_mlflow_promote"):
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}",
            f'{{"conn_type": "agentic_mlops_mlflow", "host": "{mlflow_fault_server.url}"}}',
        )
    # fail fast while MLflow is down instead of MLflow's own minutes of HTTP retries
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    model = f"faults-{uuid.uuid4().hex[:8]}"
    old = register_tiny_classifier(mlflow_fault_server.url, model, seed=1)["version"]
    new = register_tiny_classifier(mlflow_fault_server.url, model, seed=2)["version"]
    mlflow_fault_server.client().set_registered_model_alias(model, "champion", old)
    return {"model": model, "old": old, "new": new, "server": mlflow_fault_server}
