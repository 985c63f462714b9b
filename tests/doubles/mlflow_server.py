"""Test double: a REAL MLflow tracking server for the test session (SQLite backend, local artifacts).

Not a mock: ``mlflow server`` runs in a subprocess on 127.0.0.1 and a free port, and tests talk to it
over HTTP with the real MLflow client. Session-scoped, so the suite starts it once (~5-15 s).

Enable it for the whole suite with ``pytest_plugins = ["tests.doubles.mlflow_server"]`` in
``tests/conftest.py``; fixtures: ``mlflow_server`` (the URL) and ``mlflow_tracking_uri`` (sets
``MLFLOW_TRACKING_URI`` for one test). Do not import the ``mlflow_server`` fixture into a test module:
pytest then holds one more session fixture of that name, and starts (and keeps until the session ends)
one more server for that module.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

STARTUP_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def start_mlflow_server(root: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start ``mlflow server`` under ``root``; returns (process, url, log path) once /health answers.

    :param port: the port to listen on (default: a free one); the fault tests restart a server on its port.
    """
    root.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = root / "mlflow-server.log"
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # MLflow 3's job runner starts seven huey consumer processes the tests never use (and that
    # outlive a killed server): off, so a test server costs one process.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.close()
            raise RuntimeError(f"mlflow server exited with {proc.returncode}: {log_path.read_text()[-3000:]}")
        if _healthy(url):
            return proc, url, log_path
        time.sleep(0.5)
    stop_mlflow_server(proc)
    raise RuntimeError(
        f"mlflow server did not answer {url}/health in {STARTUP_TIMEOUT_S}s: {log_path.read_text()[-3000:]}"
    )


def stop_mlflow_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real MLflow tracking server (started once per test session)."""
    proc, url, _ = start_mlflow_server(tmp_path_factory.mktemp("mlflow-server"))
    try:
        yield url
    finally:
        stop_mlflow_server(proc)


@pytest.fixture
def mlflow_tracking_uri(mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The server's URL, also set as ``MLFLOW_TRACKING_URI`` for this test."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    return mlflow_server


# -- tiny real models for tests that need registered versions ------------------------------------

FEATURES = ["f0", "f1", "f2", "f3"]
LABEL = "label"


def labelled_frame(n: int = 300, *, seed: int = 0):  # -> pandas.DataFrame
    """``n`` rows of four numeric features and a binary label that depends on f0 and f1."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    y = ((x[:, 0] + 0.8 * x[:, 1] + rng.normal(scale=0.5, size=n)) > 0).astype(int)
    frame = pd.DataFrame(x, columns=FEATURES)
    frame[LABEL] = y
    return frame


def register_tiny_classifier(
    tracking_uri: str,
    registered_model: str,
    *,
    quality: str = "good",
    seed: int = 0,
    tags: dict[str, str] | None = None,
) -> dict:
    """Train a LogisticRegression on a few hundred generated rows, log and register it.

    :param quality: ``good`` learns the real relationship; ``bad`` learns shuffled labels (a model
        no better than chance), to make a challenger fail validation honestly.
    :return: the training callable contract's result: ``{"version", "run_id", "metrics"}``.
    """
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from airflow_provider_agentic_mlops.demo.training import sklearn_pip_requirements

    frame = labelled_frame(300, seed=seed)
    y = frame[LABEL].to_numpy()
    if quality == "bad":
        y = np.random.default_rng(seed + 1).permutation(y)
    model = LogisticRegression(max_iter=500).fit(frame[FEATURES], y)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment(f"tests/{registered_model}")
    with mlflow.start_run(tags=tags or {}) as run:
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=registered_model, pip_requirements=sklearn_pip_requirements()
        )
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    for key, value in (tags or {}).items():
        client.set_model_version_tag(registered_model, version, key, str(value))
    return {"version": version, "run_id": run.info.run_id, "metrics": {}}


def train_tiny_classifier(
    *, model_name: str, registered_model: str, tracking_uri: str, conf: dict, tags: dict[str, str]
) -> dict:
    """The training callable contract, for RetrainOperator(python_callable=...) in tests."""
    return register_tiny_classifier(
        tracking_uri, registered_model, quality=conf.get("quality", "good"), seed=int(conf.get("seed", 0)), tags=tags
    )
