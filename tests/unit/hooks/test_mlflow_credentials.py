"""MLflow credentials reach the MLflow server with the provider's calls, and nothing else.

A real HTTP server on 127.0.0.1 stands in for MLflow's REST API (one endpoint) and records the
``Authorization`` header of every request it gets.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook

MLFLOW_ENV = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


@pytest.fixture
def registry() -> Iterator[dict[str, Any]]:
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            seen.append(self.headers.get("Authorization"))
            body = json.dumps({"registered_model": {"name": "fraud"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_address[1]}", "seen": seen}
    finally:
        server.shutdown()


def _connection(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, conn_id: str, url: str, **creds: str) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "agentic_mlops_mlflow", "host": url, **creds})
    )
    for key in MLFLOW_ENV:
        monkeypatch.delenv(key, raising=False)


def test_basic_credentials_go_with_the_hooks_calls_and_never_into_the_environment(
    registry: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    _connection(monkeypatch, tmp_path, "mlflow_secure", registry["url"], login="svc", password="s3cret")
    MlflowRegistryHook("mlflow_secure").client().get_registered_model("fraud")
    assert registry["seen"][-1] == "Basic " + base64.b64encode(b"svc:s3cret").decode()
    assert [k for k in MLFLOW_ENV if k in os.environ] == []

    # a later, unrelated MLflow client in the same process (another task) inherits nothing
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=registry["url"], registry_uri=registry["url"]).get_registered_model("fraud")
    assert registry["seen"][-1] is None


def test_a_password_alone_is_a_bearer_token_and_the_fluent_api_gets_it_inside_authenticated(
    registry: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    _connection(monkeypatch, tmp_path, "mlflow_token", registry["url"], password="tok-123")
    hook = MlflowRegistryHook("mlflow_token")
    from mlflow import MlflowClient

    with hook.authenticated():
        MlflowClient(tracking_uri=registry["url"], registry_uri=registry["url"]).get_registered_model("fraud")
    assert registry["seen"][-1] == "Bearer tok-123"
    MlflowClient(tracking_uri=registry["url"], registry_uri=registry["url"]).get_registered_model("fraud")
    assert registry["seen"][-1] is None
    assert [k for k in MLFLOW_ENV if k in os.environ] == []
