"""Test double: a REAL MLflow tracking server for the test session (SQLite backend, local artifacts).

Not a mock: ``mlflow server`` runs in a subprocess on 127.0.0.1 and a free port, and tests talk to it
over HTTP with the real MLflow client. Session-scoped, so the suite starts it once (~5-15 s).

Enable it for the whole suite with ``pytest_plugins = ["tests.doubles.mlflow_server"]`` in
``tests/conftest.py``; fixtures: ``mlflow_server`` (the URL) and ``mlflow_tracking_uri`` (sets
``MLFLOW_TRACKING_URI`` for one test).
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


def start_mlflow_server(root: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start ``mlflow server`` under ``root``; returns (process, url, log path) once /health answers."""
    root.mkdir(parents=True, exist_ok=True)
    port = _free_port()
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
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
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
