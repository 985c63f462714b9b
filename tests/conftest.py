"""Fixtures shared by the whole suite.

Servers: PostgreSQL tests skip with a reason when 127.0.0.1:5432 does not answer, except under
CI=true, where an absent server is a failure (CI always runs them).
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Test doubles and real local servers, as fixtures for the whole suite.
pytest_plugins = ["tests.doubles.openai_server", "tests.doubles.slack_server", "tests.doubles.mlflow_server"]

REPO = Path(__file__).resolve().parents[1]
PG_HOST, PG_PORT = "127.0.0.1", 5432
ON_CI = os.environ.get("CI", "").lower() == "true"
# The `airflow` command of this interpreter (not bin/airflow: its shebang may name another interpreter).
AIRFLOW = [sys.executable, "-m", "airflow"]


def server_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip (fail under CI=true) when the server does not answer."""
    if server_answers(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}; start one there to run this test"
    if ON_CI:
        pytest.fail(f"{message} (CI=true: an absent server is a failure, not a skip)")
    pytest.skip(message)


@pytest.fixture
def airflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh AIRFLOW_HOME for anything that writes state (state store, MLflow fallback store)."""
    home = tmp_path / "airflow_home"
    home.mkdir()
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    return home


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg2

    name = f"agentic_mlops_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        from airflow_provider_agentic_mlops.core import state

        state._migrated.discard(f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/{name}")
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The state store's URL on each supported backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("pg_url")
