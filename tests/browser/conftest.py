"""The browser tests' fixtures: headless Chromium, and the demo started the way a user starts it
(``airflow agentic-mlops demo --port P``, on a free port) with the loop run up to its approval."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.cdp import Browser, find_chromium
from tests.browser.demo_process import Demo, start_demo, stop_demo
from tests.conftest import skip_unless_ci


def require_chromium() -> str:
    binary = find_chromium()
    if binary:
        return binary
    skip_unless_ci(
        "Chromium is not installed (apt-get install -y chromium); the browser tests need it", absent="a missing browser"
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    chrome = Browser(require_chromium())
    yield chrome
    chrome.close()


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``airflow agentic-mlops demo --port P`` in a fresh AIRFLOW_HOME, waited on until its first run
    asks for approval (so every task before it ran against the execution API on port P)."""
    require_chromium()  # no browser: do not spend minutes starting Airflow
    running = start_demo(tmp_path_factory.mktemp("demo-home"))
    try:
        yield running
    finally:
        stop_demo(running)


#: A model whose DAG Airflow has parsed (paused, as new DAGs are) but which never ran: nothing in the state store.
NEVER_RAN = "churn"
NEVER_RAN_DAG = """
from datetime import datetime
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id={dag_id!r}, schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False) as dag:
    EmptyOperator(task_id="check_drift")
"""


@dataclass
class SeededServer:
    """A real ``airflow api-server`` (no scheduler) over a state store seeded with a model's history."""

    url: str
    home: Path
    seeded: dict

    def store(self):  # noqa: ANN201
        from airflow_provider_agentic_mlops.core.state import StateStore, default_sqlite_url

        return StateStore(default_sqlite_url(self.home))


@pytest.fixture(scope="session")
def seeded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededServer]:
    """``airflow api-server`` on a free port, every user an admin, the history of
    ``tests/model_history_data.py`` in its state store (its last run's challenger rejected by validation), a
    drift and a validation report in a local MLflow store and one approval request pending; and the DAG of
    model :data:`NEVER_RAN`, parsed (``airflow dags reserialize``) and never run."""
    import subprocess
    import time
    import urllib.request
    from datetime import timedelta

    import mlflow

    from airflow_provider_agentic_mlops import approvals
    from airflow_provider_agentic_mlops.core.state import StateStore, default_sqlite_url, utcnow
    from tests.conftest import AIRFLOW
    from tests.e2e.deployment import free_port
    from tests.model_history_data import reject_validation, seed_history

    require_chromium()
    home = tmp_path_factory.mktemp("api-home")
    port = free_port()
    tracking = f"sqlite:///{home / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    dags = home / "dags"
    dags.mkdir()
    (dags / "never_ran.py").write_text(NEVER_RAN_DAG.format(dag_id=f"agentic_mlops__{NEVER_RAN}"))
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__API__BASE_URL=f"http://localhost:{port}/",
        AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI=tracking,
    )
    client = mlflow.MlflowClient(tracking_uri=tracking)
    run_id = client.create_run(client.create_experiment("agentic-mlops/fraud-detector")).info.run_id
    client.log_text(run_id, "<html><body><h1>Drift report</h1></body></html>", "drift/f/drift_report.html")
    client.log_text(run_id, "<html><body><h1>Validation: REJECTED</h1></body></html>", "validation/report.html")
    store = StateStore(default_sqlite_url(home))
    seeded = seed_history(store, report_uri=f"runs:/{run_id}/drift/f/drift_report.html")
    reject_validation(store, report_uri=f"runs:/{run_id}/validation/report.html")  # the last run's challenger
    seeded["pending_id"] = approvals.request(
        store,
        model_name="fraud-detector",
        model_version="3",
        dag_id=seeded["dag_id"],
        run_id="manual__browser",
        expires_at=utcnow() + timedelta(hours=1),
        details=store.get_approval(seeded["approval_id"])["details"],
    ).approval["id"]
    store.dispose()
    subprocess.run([*AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([*AIRFLOW, "dags", "reserialize"], env=env, check=True, capture_output=True)
    log = (home / "api-server.log").open("wb")
    server = subprocess.Popen(
        [*AIRFLOW, "api-server", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2):
                break
        except OSError:
            if server.poll() is not None:
                raise AssertionError((home / "api-server.log").read_text()[-3000:]) from None
            time.sleep(2)
    try:
        yield SeededServer(url=url, home=home, seeded=seeded)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
