"""The whole per-model loop on embedded defaults, through Airflow's own `airflow dags test`.

Real metadata DB (SQLite, migrated), real MLflow store (SQLite under AIRFLOW_HOME), real Evidently
drift, real training. Without drift the run ends in no_action and registers nothing; with drift it
retrains, validates, waits for approval, is approved by the test through the state store, and
moves MLflow's ``champion`` alias to the new version.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from tests.conftest import AIRFLOW, REPO

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DAG_ID = "agentic_mlops__fraud-detector"

MODELS_YAML = """
models:
  - name: fraud-detector
    schedule: null
    drift:
      reference: {data}/reference.parquet
      current: {data}/current.parquet
      label_column: is_fraud
      task: classification
    decision:
      mode: auto
    retrain:
      python_callable: airflow_provider_agentic_mlops.demo.training:train_fraud_detector
      conf: {{train_data: {data}/current.parquet}}
    validation:
      data: {data}/validation.parquet
      min_absolute_improvement: 0.01
    approval:
      timeout_hours: 1
      poke_interval_seconds: 1
"""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("loop_home")
    data = home / "demo-data" / "fraud-detector"
    models = home / "models.yaml"
    models.write_text(MODELS_YAML.format(data=data))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__AGENTIC_MLOPS__MODELS_FILE": str(models),
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",  # the approval waits deferred, as before
    }
    for key in [k for k in env if k.startswith("AIRFLOW_CONN_")]:
        del env[key]  # no LLM, no Slack: rules decide, approval from the store
    _run([*AIRFLOW, "db", "migrate"], env)
    return {"home": home, "env": env, "data": data, "tracking_uri": f"sqlite:///{home / 'mlflow.db'}"}


def _run(cmd: list[str], env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, (
        f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
    )
    return out


def _client(deployment: dict):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=deployment["tracking_uri"], registry_uri=deployment["tracking_uri"])


def _store(deployment: dict):
    from airflow_provider_agentic_mlops.core.state import StateStore, default_sqlite_url

    return StateStore(default_sqlite_url(deployment["home"]))


def _versions(deployment: dict) -> list[str]:
    return sorted(str(v.version) for v in _client(deployment).search_model_versions("name='fraud-detector'"))


def _setup(deployment: dict, *, drift: bool) -> str:
    from airflow_provider_agentic_mlops.demo.setup import setup_demo

    return setup_demo(deployment["home"], tracking_uri=deployment["tracking_uri"], drift=drift, rows=3000)["champion"]


def _approve_when_asked(deployment: dict, stop: threading.Event, approved: list) -> None:
    store = _store(deployment)
    while not stop.is_set():
        pending = store.list_approvals(status="pending", model_name="fraud-detector")
        if pending:
            outcome = store.decide_approval(pending[0]["id"], approve=True, user="loop-test", via="cli")
            approved.append(outcome)
            return
        time.sleep(0.5)


def test_without_drift_the_loop_ends_in_no_action_and_registers_nothing(deployment: dict) -> None:
    champion = _setup(deployment, drift=False)
    before = _versions(deployment)
    out = _run([*AIRFLOW, "dags", "test", DAG_ID], deployment["env"])
    decisions = _store(deployment).list_decisions("fraud-detector")
    assert decisions and decisions[0]["final_action"] == "no_action", out.stdout[-3000:]
    assert decisions[0]["mode"] == "rules"
    assert _versions(deployment) == before
    assert str(_client(deployment).get_model_version_by_alias("fraud-detector", "champion").version) == champion
    assert _store(deployment).list_approvals(model_name="fraud-detector") == []


def test_with_drift_the_loop_retrains_waits_for_approval_and_promotes(deployment: dict) -> None:
    champion = _setup(deployment, drift=True)
    before = _versions(deployment)
    stop, approved = threading.Event(), []
    approver = threading.Thread(target=_approve_when_asked, args=(deployment, stop, approved), daemon=True)
    approver.start()
    try:
        out = _run([*AIRFLOW, "dags", "test", DAG_ID], deployment["env"])
    finally:
        stop.set()
        approver.join(timeout=5)
    assert approved and approved[0].approval["status"] == "approved", out.stdout[-3000:]

    after = _versions(deployment)
    assert len(after) == len(before) + 1
    new_version = max(after, key=int)
    client = _client(deployment)
    assert str(client.get_model_version_by_alias("fraud-detector", "champion").version) == new_version
    assert str(client.get_model_version_by_alias("fraud-detector", "previous_champion").version) == champion

    store = _store(deployment)
    decision = store.list_decisions("fraud-detector")[0]
    assert decision["final_action"] == "retrain" and decision["rules_fired"]
    approval = approved[0].approval
    assert approval["model_version"] == new_version and approval["decided_by"] == "loop-test"
    job = store.list_jobs("fraud-detector")[0]
    assert job["status"] == "succeeded" and store.inflight_job("fraud-detector") is None
    actions = {e["action"] for e in store.audit_trail("fraud-detector")}
    assert {"decision", "job_started", "job_succeeded", "approval_requested", "approval_approved"} <= actions
