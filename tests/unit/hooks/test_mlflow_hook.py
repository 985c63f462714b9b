"""MlflowRegistryHook: the connection form's Test button, what a missing alias reads as, and its errors."""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


def test_test_connection_reports_an_unreachable_server_after_one_short_request(
    monkeypatch: pytest.MonkeyPatch, airflow_home: Path
) -> None:
    """The Test button waited about 4 minutes on a server that is down (MLflow's 7 retries of 120 s requests):
    it makes one request with a short timeout and no retries, passed to that request alone. It runs on the API
    server's threadpool, so it must not set MLflow's ``MLFLOW_HTTP_REQUEST_*`` variables: other threads' MLflow
    calls would get the short budget meanwhile, and two overlapping Tests restoring out of order kept it for good."""
    import mlflow.utils.rest_utils as rest_utils

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")  # a worker's setting: kept for other calls
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    both_in_flight = threading.Barrier(2, timeout=30)
    calls: list[dict] = []
    env_during: list[dict] = []
    request = rest_utils.http_request

    def recording_request(*args, **kwargs):
        calls.append(kwargs)
        both_in_flight.wait()  # the two Tests overlap here
        env_during.append(dict(os.environ))
        both_in_flight.wait()
        return request(*args, **kwargs)

    monkeypatch.setattr(rest_utils, "http_request", recording_request)
    conn = {"conn_type": "agentic_mlops_mlflow", "host": f"http://127.0.0.1:{_closed_port()}"}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DOWN", json.dumps(conn))
    before = dict(os.environ)
    results: list[tuple[bool, str]] = []
    tests = [
        threading.Thread(target=lambda: results.append(MlflowRegistryHook("mlflow_down").test_connection()))
        for _ in range(2)
    ]
    for thread in tests:
        thread.start()
    for thread in tests:
        thread.join()
    assert len(results) == 2
    for ok, message in results:
        assert not ok
        assert message.startswith("MlflowException: ") and f"127.0.0.1:{conn['host'].rsplit(':', 1)[1]}" in message
    assert len(calls) == 2 and all(kwargs["max_retries"] == 0 and kwargs["timeout"] == 10 for kwargs in calls)
    assert env_during == [before, before]
    assert dict(os.environ) == before


def test_test_connection_sends_the_connections_credentials_to_the_registry_server(
    monkeypatch: pytest.MonkeyPatch, airflow_home: Path
) -> None:
    seen: list[tuple[str, str | None]] = []

    class Registry(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization")))
            body = b'{"registered_models": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"http://127.0.0.1:{server.server_port}"
        conn = {"conn_type": "agentic_mlops_mlflow", "host": host, "password": "s3cret"}
        monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_UP", json.dumps(conn))
        assert MlflowRegistryHook("mlflow_up").test_connection() == (
            True,
            f"reached the MLflow registry at {host} (access read)",
        )
    finally:
        server.shutdown()
    assert seen == [("/api/2.0/mlflow/registered-models/search?max_results=1", "Bearer s3cret")]


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


def _registry_with_a_model(monkeypatch: pytest.MonkeyPatch, tracking_uri: str) -> tuple[MlflowRegistryHook, str]:
    import mlflow

    conn = {"conn_type": "agentic_mlops_mlflow", "host": tracking_uri}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_ALIASES", json.dumps(conn))
    name = f"m-{uuid.uuid4().hex[:8]}"
    mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri).create_registered_model(name)
    return MlflowRegistryHook("mlflow_aliases"), name


@pytest.mark.parametrize("store", ["sqlite", "rest"])
def test_a_missing_alias_or_model_reads_as_none(monkeypatch, airflow_home: Path, request, store: str) -> None:
    """What MLflow's stores raise for a missing alias and a missing model (RESOURCE_DOES_NOT_EXIST or
    INVALID_PARAMETER_VALUE) means "no champion"."""
    uri = f"sqlite:///{airflow_home / 'mlflow.db'}" if store == "sqlite" else request.getfixturevalue("mlflow_server")
    hook, name = _registry_with_a_model(monkeypatch, uri)
    assert hook.get_alias_version(name, "champion") is None
    assert hook.get_alias_version(f"{name}-absent", "champion") is None


@pytest.fixture
def gateway_404() -> Iterator[str]:
    """A server in front of MLflow's URL that answers every request 404: JSON with error_code ENDPOINT_NOT_FOUND
    under /json, a plain text page elsewhere (a misrouted gateway or a wrong base path)."""

    class NotFound(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/json/"):
                body, kind = b'{"error_code": "ENDPOINT_NOT_FOUND", "message": "Not Found"}', "application/json"
            else:
                body, kind = b"404 page not found", "text/plain"
            self.send_response(404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("base_path", ["/json", "/text"])
def test_a_gateway_404_is_an_error_not_a_missing_champion(monkeypatch, airflow_home, gateway_404, base_path) -> None:
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    conn = {"conn_type": "agentic_mlops_mlflow", "host": gateway_404 + base_path}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_GATEWAY", json.dumps(conn))
    with pytest.raises(MlflowException) as raised:
        MlflowRegistryHook("mlflow_gateway").get_alias_version("fraud-detector", "champion")
    assert raised.value.error_code == "ENDPOINT_NOT_FOUND"
    assert "MLflow connection 'mlflow_gateway'" in str(raised.value)


def test_models_are_loaded_from_the_connections_registry_not_the_tracking_store(
    monkeypatch, airflow_home: Path
) -> None:
    """With extra ``registry_uri`` the versions predicted are the registry's: the tracking store's own
    registry holding the same name (another team's, a stale one) must not answer."""
    import mlflow
    import pandas as pd
    from sklearn.dummy import DummyClassifier

    tracking, registry = (f"sqlite:///{airflow_home / name}" for name in ("tracking.db", "registry.db"))
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
    for registry_uri, label in ((registry, 1), (tracking, 0)):  # version 1 predicts 1 in the registry, 0 elsewhere
        mlflow.set_tracking_uri(tracking)
        mlflow.set_registry_uri(registry_uri)
        model = DummyClassifier(strategy="constant", constant=label).fit(frame, [0, 1, 1])
        with mlflow.start_run(experiment_id="0"):  # not the experiment an earlier test made active
            mlflow.sklearn.log_model(model, name="model", registered_model_name="split")
    conn = {"conn_type": "agentic_mlops_mlflow", "host": tracking, "extra": {"registry_uri": registry}}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_SPLIT", json.dumps(conn))
    mlflow.set_registry_uri(tracking)  # what a previous task in the worker left behind

    output, _, _ = MlflowRegistryHook("mlflow_split").predict_version(
        "split", "1", frame, columns=lambda _names: ["x"], classification=False
    )

    assert list(output) == [1, 1, 1]


def test_a_named_connection_that_does_not_exist_is_an_error_not_the_local_store(airflow_home: Path) -> None:
    """A typo'd --mlflow-conn-id or models.yaml promote_conn_id read and wrote a local store nobody serves from."""
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowConnectionNotFound

    with pytest.raises(MlflowConnectionNotFound) as raised:
        _ = MlflowRegistryHook("nosuchml").tracking_uri
    message = str(raised.value)
    assert message.startswith("MLflow connection 'nosuchml' does not exist")
    assert "airflow connections add nosuchml --conn-type agentic_mlops_mlflow" in message


@pytest.mark.parametrize(
    "conn_id", ["agentic_mlops_mlflow_registry", "agentic_mlops_mlflow_train", "agentic_mlops_mlflow_promote"]
)
def test_an_absent_default_connection_uses_the_local_tracking_uri(conn_id: str, airflow_home: Path) -> None:
    from airflow_provider_agentic_mlops.hooks.mlflow import default_tracking_uri

    assert MlflowRegistryHook(conn_id).tracking_uri == default_tracking_uri()


def test_an_unreachable_server_while_loading_a_model_is_raised_for_a_retry_not_an_unloadable_model(
    monkeypatch, airflow_home: Path
) -> None:
    """A champion that cannot be loaded rejects the challenger (ModelLoadError); MLflow merely unreachable must
    not: the task fails and Airflow retries it, instead of a retrained challenger rejected for a network blip."""
    import pandas as pd

    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowUnavailable, ModelLoadError

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail at once instead of backing off
    conn = {"conn_type": "agentic_mlops_mlflow", "host": f"http://127.0.0.1:{_closed_port()}"}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DOWN", json.dumps(conn))
    with pytest.raises(MlflowUnavailable) as raised:
        MlflowRegistryHook("mlflow_down").predict_version(
            "fraud-detector", "3", pd.DataFrame({"f0": [1.0]}), columns=lambda names: ["f0"], classification=True
        )
    assert not isinstance(raised.value, ModelLoadError)
    assert "mlflow_down" in str(raised.value) and "models:/fraud-detector/3" in str(raised.value)


def _raised_inside(outer: BaseException, inner: BaseException) -> BaseException:
    """``outer`` raised while handling ``inner``, as MLflow's ``http_request`` wraps what ``requests`` raised."""
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - implicit chaining (``__context__``), as MLflow does
    except BaseException as err:
        return err


@pytest.mark.parametrize("status", [503, 429, 502])
def test_a_busy_mlflow_is_unreachable_by_its_retry_error_or_by_mlflows_text_alone(status: int) -> None:
    """MLflow's 503/429 that outlasted its retries: a ``RetryError`` (no ``response``, no ConnectionError) under an
    MlflowException; it was read as a model that cannot be loaded, which rejects the challenger for good."""
    import requests
    from mlflow.exceptions import MlflowException

    from airflow_provider_agentic_mlops.core.mlflow_faults import refused_reason as _refused
    from airflow_provider_agentic_mlops.core.mlflow_faults import unavailable_fault

    def _unreachable(err: BaseException) -> str | None:
        fault = unavailable_fault(err)
        return fault.reason if fault else None

    text = (
        "API request to http://mlflow/api/2.0/mlflow/model-versions/get-download-uri failed with exception "
        "HTTPConnectionPool(host='mlflow', port=5000): Max retries exceeded with url: /api/2.0/mlflow/model-versions/"
        f"get-download-uri?name=m&version=1 (Caused by ResponseError('too many {status} error responses'))"
    )
    chained = _raised_inside(MlflowException(text), requests.exceptions.RetryError(text))
    assert f"HTTP {status}" in (_unreachable(chained) or "")
    assert f"HTTP {status}" in (_unreachable(MlflowException(text)) or "")  # the chain lost: MLflow's text says it
    assert _unreachable(_raised_inside(MlflowException("failed"), requests.exceptions.RetryError("x"))) is not None
    assert _refused(chained) is None
    assert _unreachable(MlflowException("too many 404 error responses")) is None
    assert _unreachable(FileNotFoundError("model.skops")) is None


def test_a_nested_run_names_its_parent_and_a_top_level_or_unknown_run_none(monkeypatch, airflow_home: Path) -> None:
    import mlflow

    uri = f"sqlite:///{airflow_home / 'mlflow.db'}"
    hook, _ = _registry_with_a_model(monkeypatch, uri)
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment(f"e-{uuid.uuid4().hex[:8]}")
    parent = client.create_run(experiment).info.run_id
    child = client.create_run(experiment, tags={"mlflow.parentRunId": parent}).info.run_id
    assert hook.parent_run_id(child) == parent
    assert hook.parent_run_id(parent) is None
    assert hook.parent_run_id(uuid.uuid4().hex) is None


@pytest.mark.parametrize(
    ("conn", "found"),
    [({"conn_type": "http", "host": "http://mlflow:5000"}, "type 'http'"), ({"host": "http://mlflow:5000"}, "no type")],
)
def test_a_connection_of_another_type_is_refused_naming_its_type_and_the_fix(
    conn: dict, found: str, monkeypatch: pytest.MonkeyPatch, airflow_home: Path
) -> None:
    """An http connection was taken as MLflow's: a wrong id then cost 13 s of retries and 'check the server'."""
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowConnectionInvalid

    monkeypatch.setenv("AIRFLOW_CONN_WEB", json.dumps(conn))
    with pytest.raises(MlflowConnectionInvalid) as raised:
        _ = MlflowRegistryHook("web").tracking_uri
    message = str(raised.value)
    assert message.startswith(f"connection 'web' ({found}) is not an MLflow connection")
    assert "--conn-type agentic_mlops_mlflow" in message


@pytest.mark.parametrize(
    "value",
    [
        "agentic-mlops-mlflow://mlflow:5000",  # a URI: Airflow reads its scheme's dashes as underscores
        json.dumps({"conn_type": "agentic-mlops-mlflow", "host": "http://mlflow:5000"}),
        json.dumps({"conn_type": "agentic_mlops_mlflow", "host": "http://mlflow:5000"}),
    ],
)
def test_every_spelling_of_the_mlflow_type_airflow_accepts_is_an_mlflow_connection(
    value: str, monkeypatch: pytest.MonkeyPatch, airflow_home: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ML", value)
    assert MlflowRegistryHook("ml").tracking_uri == "http://mlflow:5000"


def test_a_models_monitoring_run_is_made_once_in_its_experiment_and_takes_every_report(
    monkeypatch: pytest.MonkeyPatch, airflow_home: Path, tmp_path: Path
) -> None:
    """Which MLflow runs are a model's is a security decision of the report page: the naming of the model's
    experiment and monitoring run, and making them, live in the hook the drift check, the demo's training and the
    page all use, not in an operator the page imported them from."""
    import mlflow

    from airflow_provider_agentic_mlops.hooks.mlflow import MONITORING_RUN_NAME, experiment_name

    uri = f"sqlite:///{airflow_home / 'mlflow.db'}"
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI", uri)
    hook = MlflowRegistryHook(mlflow_conn_id="agentic_mlops_mlflow_train")  # absent: the local store, train access
    report = tmp_path / "report"
    report.mkdir()
    (report / "drift_report.html").write_text("<h1>drift</h1>")
    first = hook.log_monitoring_report("churn", report, "drift/a", {"drift_share": 0.25})
    second = hook.log_monitoring_report("churn", report, "drift/b", {"drift_share": 0.5})
    assert first == second  # (experiment id, run id): one monitoring run, reused
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment(first[0])
    assert experiment.name == experiment_name("churn") == "agentic-mlops/churn"
    assert experiment.artifact_location == (airflow_home / "mlartifacts").resolve().as_uri()
    run = client.get_run(first[1])
    assert run.info.run_name == MONITORING_RUN_NAME == "monitoring" and run.data.metrics["drift_share"] == 0.5
    assert [a.path for a in client.list_artifacts(first[1], "drift")] == ["drift/a", "drift/b"]
    read_only = MlflowRegistryHook(mlflow_conn_id="agentic_mlops_mlflow_registry")
    with pytest.raises(PermissionError, match="read-only"):
        read_only.log_monitoring_report("churn", report, "drift/c", {})


def test_the_model_experiments_name_is_spelled_in_the_hook_alone() -> None:
    """The page, the drift check and the demo's training must agree on it: one definition, imported by all."""
    package = Path(__file__).resolve().parents[3] / "airflow_provider_agentic_mlops"
    spelled = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if '"agentic-mlops/{' in path.read_text() or "MONITORING_RUN_NAME =" in path.read_text()
    )
    assert spelled == ["hooks/mlflow.py"]
    importers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "operators.drift import experiment_name" in path.read_text()
    )
    assert importers == []


def test_a_run_artifacts_mlflow_ui_url_is_what_the_report_page_reads_back(
    monkeypatch: pytest.MonkeyPatch, airflow_home: Path
) -> None:
    """The drift check and the validation built the UI link of a run artifact each their own way, and the report
    page parses it (core.model_history.artifact_location): one builder, in the hook, and it round-trips."""
    from airflow_provider_agentic_mlops.core.model_history import artifact_location

    conn = {"conn_type": "agentic_mlops_mlflow", "host": "http://tracking:5000", "extra": {"ui_url": "https://ml.x/"}}
    monkeypatch.setenv("AIRFLOW_CONN_WITH_UI", json.dumps(conn))
    hook = MlflowRegistryHook("with_ui")
    url = hook.run_artifact_url("3", "0a1b2c", "drift/run_1__20260101T000000.000000Z/drift_report.html")
    assert (
        url
        == "https://ml.x/#/experiments/3/runs/0a1b2c/artifacts/drift/run_1__20260101T000000.000000Z/drift_report.html"
    )
    assert artifact_location(url) == ("0a1b2c", "drift/run_1__20260101T000000.000000Z/drift_report.html")
    assert hook.run_artifact_url("3", "0a1b2c") == "https://ml.x/#/experiments/3/runs/0a1b2c/artifacts"  # the run's
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI", f"sqlite:///{airflow_home / 'mlflow.db'}")
    assert MlflowRegistryHook("agentic_mlops_mlflow_registry").run_artifact_url("3", "0a1b2c", "x") is None  # no UI


def test_a_named_connection_that_does_not_exist_fails_the_task_without_retries(airflow_home: Path) -> None:
    """No retry creates the connection: a task using it fails at once, not after its retries and their delays."""
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowConnectionNotFound
    from airflow_provider_agentic_mlops.version_compat import AirflowFailException

    with pytest.raises(MlflowConnectionNotFound) as raised:
        _ = MlflowRegistryHook("nosuchml").tracking_uri
    assert isinstance(raised.value, AirflowFailException) and isinstance(raised.value, ValueError)
