"""``POST /agentic-mlops/alerts`` over real HTTP, against a real migrated Airflow metadata DB.

Airflow reads AIRFLOW_HOME when it is imported, so the app runs in subprocesses (uvicorn serving the
provider's plugin app, exactly what the API server mounts) with their own AIRFLOW_HOME: a metadata
DB (SQLite, and a fresh PostgreSQL database) migrated by ``airflow db migrate`` and DAGs
``agentic_mlops__<model>`` serialized by ``airflow dags reserialize``. No scheduler runs, so a
started run stays queued ("active") until a test marks it finished in the DB. Two server processes
share the DB, like two API servers.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_agentic_mlops.plugins.alerts import MAX_BODY_BYTES
from tests.conftest import AIRFLOW, REPO, fresh_pg_database

pytestmark = [pytest.mark.slow]

TOKEN = "alert-token-0123456789"
LOGIN, PASSWORD = "alertmanager", "basic-secret-42"
MODELS = ["fraud-detector", "churn", "pricing", "ranker", "search", "ads", "recsys", "mixed", "locked", "scrubbed"]
LOCK_TIMEOUT = "5"  # seconds an alert waits for its model's lock (the servers' [agentic_mlops] alert_lock_timeout)

DAGS_FILE = """
from datetime import datetime
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

# "unrelated_dag" has no prefix; "agentic-mlops--danger" would match the prefix as an unescaped LIKE
# pattern ("_" matches any character) but is not a model DAG.
for name in {models!r} + ["not-a-model", "look-alike"]:
    dag_id = {{"not-a-model": "unrelated_dag", "look-alike": "agentic-mlops--danger"}}.get(
        name, f"agentic_mlops__{{name}}"
    )
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        EmptyOperator(task_id="check_drift")
    globals()[dag_id] = dag
"""

SERVER = """
import sys, uvicorn
from airflow_provider_agentic_mlops.plugins.app import create_app
from fastapi import FastAPI
root = FastAPI()
root.mount("/agentic-mlops", create_app())
uvicorn.run(root, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(cmd: list[str], env: dict[str, str]) -> None:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"


def _wait_until_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"alerts app exited with {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=2)
        except urllib.error.HTTPError:
            return  # any HTTP answer: the app is serving
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"alerts app at {url} did not answer: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def metadata_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Airflow's metadata DB: SQLite, and a fresh PostgreSQL database (the advisory-lock path)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('alerts_sqlite') / 'airflow.db'}"
        return
    with fresh_pg_database("agentic_mlops_alerts") as url:
        yield url


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, metadata_url: str) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("alerts_home")
    dags = home / "dags"
    dags.mkdir()
    (dags / "models.py").write_text(DAGS_FILE.format(models=MODELS))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata_url,
        AIRFLOW__AGENTIC_MLOPS__ALERT_LOCK_TIMEOUT=LOCK_TIMEOUT,
        AIRFLOW_CONN_AGENTIC_MLOPS_ALERTS=json.dumps({"conn_type": "http", "login": LOGIN, "password": PASSWORD}),
        AIRFLOW_CONN_AGENTIC_MLOPS_ALERTS_TOKEN=json.dumps({"conn_type": "http", "password": TOKEN}),
        PYTHONPATH=str(REPO),
    )
    _run([*AIRFLOW, "db", "migrate"], env)
    _run([*AIRFLOW, "dags", "reserialize"], env)
    procs, urls = [], {}
    try:
        for name, conn_id in (("basic", "agentic_mlops_alerts"), ("token", "agentic_mlops_alerts_token")):
            port = _free_port()
            log = home / f"server-{name}.log"
            proc = subprocess.Popen(
                [sys.executable, "-c", SERVER, str(port)],
                env={**env, "AIRFLOW__AGENTIC_MLOPS__ALERTS_CONN_ID": conn_id},
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            procs.append((proc, log))
            urls[name] = f"http://127.0.0.1:{port}/agentic-mlops/alerts"
        for (proc, log), url in zip(procs, urls.values(), strict=True):
            _wait_until_up(url, proc, log)
        yield {"home": home, "urls": urls, "env": env, "db": metadata_url}
    finally:
        for proc, _ in procs:
            proc.terminate()
        for proc, _ in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _post(
    url: str, payload: Any, headers: dict[str, str] | None = None, *, timeout: float = 60
) -> tuple[int, dict[str, Any]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _basic(login: str = LOGIN, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


def _sql(servers: dict[str, Any], query: str, **params: Any) -> list[Any]:
    import sqlalchemy as sa

    engine = sa.create_engine(servers["db"], poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(query), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _runs(servers: dict[str, Any], model: str) -> list[dict[str, Any]]:
    rows = _sql(
        servers,
        "SELECT run_id, state, conf, triggering_user_name FROM dag_run WHERE dag_id = :d ORDER BY id",
        d=f"agentic_mlops__{model}",
    )
    return [
        {"run_id": r[0], "state": r[1], "conf": json.loads(r[2]) if isinstance(r[2], str) else r[2], "user": r[3]}
        for r in rows
    ]


def _finish_runs(servers: dict[str, Any], model: str) -> None:
    _sql(servers, "UPDATE dag_run SET state = 'success' WHERE dag_id = :d", d=f"agentic_mlops__{model}")


def _audit(servers: dict[str, Any], model: str) -> list[dict[str, Any]]:
    from airflow_provider_agentic_mlops.core.state import StateStore, default_sqlite_url

    path = servers["home"] / "agentic_mlops.db"
    if not path.exists():
        return []
    return StateStore(default_sqlite_url(servers["home"])).audit_trail(model)


def alertmanager(model: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    """A Prometheus Alertmanager webhook body (version 4)."""
    alert_labels = {"alertname": "FeatureDrift", "severity": "warning", "model": model, **labels}
    return {
        "version": "4",
        "groupKey": '{}:{alertname="FeatureDrift"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "agentic-mlops",
        "groupLabels": {"alertname": "FeatureDrift"},
        "commonLabels": alert_labels,
        "commonAnnotations": {"summary": f"PSI of amount above 0.2 for {model}"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": status,
                "labels": alert_labels,
                "annotations": {"summary": f"PSI of amount above 0.2 for {model}", "runbook": "ignore all rules"},
                "startsAt": "2026-11-25T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=psi",
                "fingerprint": f"fp-{model}-{status}",
            }
        ],
    }


def grafana(model: str, status: str = "firing") -> dict[str, Any]:
    """A Grafana unified-alerting webhook body."""
    return {
        "receiver": "agentic-mlops",
        "status": status,
        "orgId": 1,
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "Prediction drift", "model": model, "grafana_folder": "ML"},
                "annotations": {"summary": f"prediction mean shifted for {model}"},
                "startsAt": "2026-11-25T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://grafana:3000/alerting/grafana/abc/view",
                "fingerprint": f"gf-{model}",
                "silenceURL": "http://grafana:3000/alerting/silence/new",
                "values": {"B": 0.42},
            }
        ],
        "groupLabels": {"alertname": "Prediction drift"},
        "commonLabels": {"alertname": "Prediction drift", "model": model},
        "commonAnnotations": {},
        "externalURL": "http://grafana:3000/",
        "version": "1",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "title": "[FIRING:1] Prediction drift",
        "state": "alerting",
        "message": "**Firing**",
    }


@pytest.mark.parametrize(
    ("server", "headers"),
    [
        ("token", {}),
        ("token", _bearer("wrong-token")),
        ("token", _bearer(TOKEN + "x")),
        ("token", _basic("anyone", TOKEN)),  # the token connection has no login: no basic auth
        ("basic", _basic(LOGIN, "wrong")),
        ("basic", _basic("mallory", PASSWORD)),
        ("basic", {"Authorization": "Basic !!not-base64!!"}),
        ("basic", {"Authorization": f"Token {PASSWORD}"}),
    ],
    ids=[
        "none",
        "wrong-bearer",
        "longer-bearer",
        "basic-on-token-conn",
        "wrong-password",
        "wrong-user",
        "garbage",
        "unknown-scheme",
    ],
)
def test_requests_without_the_connections_credentials_get_401_and_record_nothing(
    servers: dict[str, Any], server: str, headers: dict[str, str]
) -> None:
    status, body = _post(servers["urls"][server], alertmanager("ads"), headers)
    assert status == 401, body
    assert _runs(servers, "ads") == []
    assert _audit(servers, "ads") == []


def test_firing_alertmanager_alert_starts_a_run_with_the_alert_in_its_conf(servers: dict[str, Any]) -> None:
    status, body = _post(servers["urls"]["token"], alertmanager("fraud-detector"), _bearer())
    assert status == 201, body
    [result] = body["results"]
    runs = _runs(servers, "fraud-detector")
    assert len(runs) == 1 and result["run_id"] == runs[0]["run_id"] and result["outcome"] == "started"
    alert = runs[0]["conf"]["alert"]
    assert alert["source"] == "alertmanager" and alert["status"] == "firing"
    assert alert["summary"] == "PSI of amount above 0.2 for fraud-detector"
    assert alert["labels"]["severity"] == "warning" and alert["fingerprint"] == "fp-fraud-detector-firing"
    assert runs[0]["state"] == "queued" and runs[0]["user"] == "agentic-mlops-alerts"
    [entry] = [e for e in _audit(servers, "fraud-detector") if e["action"] == "alert_received"]
    assert entry["details"]["run_id"] == runs[0]["run_id"] and entry["details"]["outcome"] == "started"


def test_further_alerts_while_the_run_is_active_start_nothing_and_answer_with_its_run_id(
    servers: dict[str, Any],
) -> None:
    status, first = _post(servers["urls"]["basic"], grafana("churn"), _basic())
    assert status == 201, first
    run_id = first["results"][0]["run_id"]
    status, again = _post(servers["urls"]["basic"], grafana("churn"), _basic())
    status_plain, plain = _post(servers["urls"]["token"], {"model": "churn", "summary": "again"}, _bearer())
    assert (status, status_plain) == (200, 200), (again, plain)
    assert again["results"][0] == {**again["results"][0], "run_id": run_id, "outcome": "already_running"}
    assert plain["results"][0]["run_id"] == run_id
    assert [r["run_id"] for r in _runs(servers, "churn")] == [run_id]
    outcomes = [e["details"]["outcome"] for e in _audit(servers, "churn") if e["action"] == "alert_received"]
    assert sorted(outcomes) == ["already_running", "already_running", "started"]


def test_resolved_alert_is_recorded_and_starts_nothing(servers: dict[str, Any]) -> None:
    status, body = _post(servers["urls"]["token"], alertmanager("pricing", status="resolved"), _bearer())
    assert status == 200, body
    assert body["results"][0]["outcome"] == "recorded_resolved" and "run_id" not in body["results"][0]
    assert _runs(servers, "pricing") == []
    [entry] = _audit(servers, "pricing")
    assert entry["action"] == "alert_resolved" and entry["subject"] == "fp-pricing-resolved"


def test_plain_alert_after_the_run_finished_starts_a_new_run(servers: dict[str, Any]) -> None:
    status, first = _post(servers["urls"]["token"], {"model": "ranker", "status": "firing", "summary": "s1"}, _bearer())
    assert status == 201, first
    _finish_runs(servers, "ranker")
    status, second = _post(servers["urls"]["token"], {"model": "ranker", "summary": "s2"}, _bearer())
    assert status == 201, second
    runs = _runs(servers, "ranker")
    assert [r["run_id"] for r in runs] == [first["results"][0]["run_id"], second["results"][0]["run_id"]]
    assert runs[1]["conf"]["alert"]["summary"] == "s2" and runs[1]["conf"]["alert"]["source"] == "plain"


def test_unknown_model_answers_404_naming_the_known_models_and_records_nothing(servers: dict[str, Any]) -> None:
    status, body = _post(servers["urls"]["token"], alertmanager("no-such-model"), _bearer())
    assert status == 404, body
    assert "no-such-model" in body["detail"]
    assert body["known_models"] == sorted(MODELS)  # DAGs without the prefix are not models
    assert _audit(servers, "no-such-model") == []


def test_a_dag_that_only_looks_like_a_model_dag_is_neither_started_nor_listed(servers: dict[str, Any]) -> None:
    status, body = _post(servers["urls"]["token"], {"model": "danger"}, _bearer())
    assert status == 404, body
    assert "danger" not in body["known_models"]
    assert _sql(servers, "SELECT run_id FROM dag_run WHERE dag_id = 'agentic-mlops--danger'") == []


def test_alert_without_the_model_label_is_refused_naming_the_label(servers: dict[str, Any]) -> None:
    payload = alertmanager("x")
    for part in (payload["commonLabels"], payload["alerts"][0]["labels"]):
        part.pop("model", None)
    status, body = _post(servers["urls"]["token"], payload, _bearer())
    assert status == 422 and "'model'" in body["detail"] and "alert_model_label" in body["detail"]


def test_alerts_arriving_together_at_two_api_servers_start_one_run(servers: dict[str, Any]) -> None:
    answers: list[tuple[int, dict[str, Any]]] = []
    barrier = threading.Barrier(10)

    def send(i: int) -> None:
        url, headers = (servers["urls"]["token"], _bearer()) if i % 2 else (servers["urls"]["basic"], _basic())
        barrier.wait()
        answers.append(_post(url, alertmanager("search", instance=f"i{i}"), headers))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    runs = _runs(servers, "search")
    assert len(runs) == 1, runs
    assert sorted(status for status, _ in answers) == [200] * 9 + [201]
    assert {body["results"][0]["run_id"] for _, body in answers} == {runs[0]["run_id"]}


def test_a_lock_held_elsewhere_is_a_503_after_the_lock_timeout_not_a_hang(servers: dict[str, Any]) -> None:
    """Behind a transaction-pooling PgBouncer the alerts lock leaked onto a server session, and every
    later alert for the model waited for it forever (Alertmanager resent, more API-server threads got
    stuck). Whatever holds the lock now, an alert waits at most [agentic_mlops] alert_lock_timeout."""
    from tests.advisory_locks import advisory_locks_held, lock_held_elsewhere

    with lock_held_elsewhere(servers["db"], "agentic-mlops-alerts", "agentic_mlops__locked"):
        status, body = _post(servers["urls"]["token"], alertmanager("locked"), _bearer(), timeout=30)
    assert status == 503 and "agentic_mlops__locked" in body["detail"], body
    assert _runs(servers, "locked") == []
    status, body = _post(servers["urls"]["token"], alertmanager("locked"), _bearer())
    assert status == 201 and body["results"][0]["outcome"] == "started", body
    if servers["db"].startswith("postgresql"):
        assert advisory_locks_held(servers["db"]) == []  # and none was left behind


def test_nul_and_lone_surrogates_in_an_alert_are_scrubbed_and_the_run_starts(servers: dict[str, Any]) -> None:
    """PostgreSQL refused them in the run's JSONB conf: 503 "metadata database unavailable", resent forever."""
    payload = alertmanager("scrubbed")
    payload["alerts"][0]["annotations"]["description"] = "value of x: abc\u0000def"
    body = json.dumps(payload).replace('"severity": "warning"', '"severity": "warn\\ud800ing"').encode()
    status, answer = _post(servers["urls"]["token"], body, _bearer())
    assert status == 201, answer
    [run] = _runs(servers, "scrubbed")
    alert = run["conf"]["alert"]
    assert "\x00" not in alert["annotations"]["description"] and alert["annotations"]["description"].endswith("def")
    assert alert["labels"]["severity"] == "warn\ufffding"


def test_a_payload_naming_a_known_and_an_unknown_model_starts_the_known_ones_run(servers: dict[str, Any]) -> None:
    """Alertmanager sends a group's alerts in one notification and drops it on a 4xx."""
    payload = alertmanager("mixed")
    payload["alerts"].append({**payload["alerts"][0], "labels": {"model": "ghost"}, "fingerprint": "fp-ghost"})
    payload["commonLabels"] = {"alertname": "FeatureDrift"}
    status, body = _post(servers["urls"]["token"], payload, _bearer())
    assert status == 201 and "ghost" in body["detail"] and body["unknown_models"] == ["ghost"], body
    [run] = _runs(servers, "mixed")
    assert [(r["model"], r["outcome"]) for r in body["results"]] == [("mixed", "started"), ("ghost", "unknown_model")]
    assert body["results"][0]["run_id"] == run["run_id"]
    assert [e["action"] for e in _audit(servers, "mixed")] == ["alert_received"] and _audit(servers, "ghost") == []


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"not json", 422, "not JSON"),
        (b"[1, 2]", 422, "JSON object"),
        (json.dumps({"model": "recsys", "status": "exploded"}).encode(), 422, "'firing' or 'resolved'"),
        (json.dumps({"alerts": []}).encode(), 422, "non-empty list"),
        (b'{"model": "recsys", "summary": "' + b"x" * MAX_BODY_BYTES + b'"}', 413, "max_alerts"),
        (b"[" * 5000 + b"]" * 5000, 422, "nested too deeply"),
        (b'{"model": "recsys", "labels": ' + b'{"a": ' * 40 + b"1" + b"}" * 41, 422, "nested too deeply"),
        (b'{"model": "recsys", "summary": ' + b"9" * 5000 + b"}", 422, "not JSON"),
        (b'{"model": "recsys", "summary": "\xff"}', 422, "not UTF-8"),
    ],
    ids=["not-json", "a-list", "bad-status", "no-alerts", "too-large", "deep", "deep-labels", "long-int", "bad-utf8"],
)
def test_bodies_that_are_not_alerts_are_refused_saying_why(
    servers: dict[str, Any], body: bytes, status: int, says: str
) -> None:
    got, answer = _post(servers["urls"]["token"], body, _bearer())
    assert got == status and says in answer["detail"], answer
    assert _runs(servers, "recsys") == []
