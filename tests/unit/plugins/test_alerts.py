"""Alert parsing and credential checks of the alerts endpoint (no Airflow; the endpoint itself is
tested over HTTP in tests/integration/test_alerts_endpoint.py), and its audit rows on each store."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import scoped_session, sessionmaker

from airflow_provider_agentic_mlops.core.schema import audit
from airflow_provider_agentic_mlops.core.state import StateStore
from airflow_provider_agentic_mlops.plugins import alerts
from airflow_provider_agentic_mlops.plugins.alerts import MAX_ENTRIES, MAX_TEXT, AlertError, authenticate, parse_alerts
from airflow_provider_agentic_mlops.plugins.app import AppSettings, create_app
from tests.parsed_dags import parsed_dags

KNOWN_MODELS = alerts.known_models  # Airflow's, before a test replaces it
PARSE_TROUBLE = alerts.parse_trouble


@pytest.fixture(autouse=True)
def _no_remembered_connections() -> Iterator[None]:
    """Each test looks its alerts connections up afresh (the endpoint keeps them a few seconds)."""
    alerts._connections_seen.clear()
    yield
    alerts._connections_seen.clear()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_grafana_and_alertmanager_payloads_are_told_apart_by_grafanas_org_id() -> None:
    alert = {"status": "firing", "labels": {"model": "m"}}
    assert parse_alerts({"alerts": [alert], "orgId": 1})[0].source == "grafana"
    assert parse_alerts({"alerts": [alert], "version": "4"})[0].source == "alertmanager"


@pytest.mark.parametrize("value", ["0", "-5", "ten", "inf"])
def test_an_alert_lock_timeout_that_is_no_positive_number_is_an_error_naming_it_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """As a bad migration_lock_timeout is: no alert is handled under a timeout nobody set (fail closed)."""
    from airflow_provider_agentic_mlops.settings import SettingInvalid

    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__ALERT_LOCK_TIMEOUT", value)
    with pytest.raises(SettingInvalid) as bad:
        alerts.configured_lock_timeout()
    assert str(bad.value) == (
        f"[agentic_mlops] alert_lock_timeout = {value!r} is not a positive number of seconds: set it to one "
        "(env AIRFLOW__AGENTIC_MLOPS__ALERT_LOCK_TIMEOUT), or remove it for the default 10"
    )
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__ALERT_LOCK_TIMEOUT", "2.5")
    assert alerts.configured_lock_timeout() == 2.5
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__ALERT_LOCK_TIMEOUT", "")
    assert alerts.configured_lock_timeout() == 10


def test_an_alert_lock_timeout_longer_than_a_lock_can_wait_is_a_500_naming_the_bound(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``1e10`` passed as a positive number, then every alert's ``Lock.acquire(timeout=1e10)`` raised
    OverflowError."""
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__ALERT_LOCK_TIMEOUT", "1e10")
    response = client.post(
        "/agentic-mlops/alerts",
        json={"alerts": [{"status": "firing", "labels": {"model": "fraud"}}]},
        headers={"Authorization": "Bearer tok"},
    )
    assert response.status_code == 500, response.text
    assert "alert_lock_timeout = '1e10' is too long: at most 2147483 seconds" in response.json()["detail"]
    assert sqlite_store.audit_trail() == []


@pytest.mark.parametrize("value", ["abc", "-1"])
@pytest.mark.parametrize("status", ["firing", "resolved"])
def test_a_bad_alert_lock_timeout_is_a_500_whose_json_names_the_setting_and_the_fix(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str, status: str
) -> None:
    """A bare 500 (Internal Server Error, no body) before: the sender could not tell a misconfiguration from a bug."""
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__ALERT_LOCK_TIMEOUT", value)
    with caplog.at_level("ERROR", logger=alerts.__name__):
        response = client.post(
            "/agentic-mlops/alerts",
            json={"alerts": [{"status": status, "labels": {"model": "fraud"}}]},
            headers={"Authorization": "Bearer tok"},
        )
    assert response.status_code == 500, response.text
    detail = response.json()["detail"]
    assert f"[agentic_mlops] alert_lock_timeout = {value!r} is not a positive number of seconds" in detail
    assert "AIRFLOW__AGENTIC_MLOPS__ALERT_LOCK_TIMEOUT" in detail and "nothing was recorded" in detail
    assert f"alert_lock_timeout = {value!r}" in "\n".join(r.getMessage() for r in caplog.records)
    assert sqlite_store.audit_trail() == []
    # unauthenticated callers learn nothing of the configuration
    assert client.post("/agentic-mlops/alerts", json={"model": "fraud"}).status_code == 401


def test_the_model_comes_from_the_configured_label_else_from_common_labels() -> None:
    payload = {
        "status": "firing",
        "commonLabels": {"service": "churn"},
        "alerts": [{"labels": {"service": "fraud"}}, {"labels": {"severity": "page"}}],
    }
    assert [a.model for a in parse_alerts(payload, model_label="service")] == ["fraud", "churn"]
    assert [a.status for a in parse_alerts(payload, model_label="service")] == ["firing", "firing"]


@pytest.mark.parametrize("model", [5, ["m"], {"name": "m"}, True, 0, False, [], {}])
def test_a_plain_model_that_is_not_a_string_is_refused_naming_its_type(model: object) -> None:
    # falsy ones too: a 0 or an empty list is a wrong type, not a missing model
    says = rf"'model' must be a string naming the model, got {type(model).__name__}"
    with pytest.raises(AlertError, match=says) as err:
        parse_alerts({"model": model, "status": "firing"})
    assert err.value.status == 422


@pytest.mark.parametrize("payload", [{"model": ""}, {"model": None}, {"status": "firing"}])
def test_a_plain_payload_with_an_empty_or_no_model_says_there_is_no_model(payload: dict[str, object]) -> None:
    with pytest.raises(AlertError, match="no 'model' for the plain form") as err:
        parse_alerts(payload)
    assert err.value.status == 422


def test_summary_falls_back_from_annotations_to_the_alert_name() -> None:
    [alert] = parse_alerts({"alerts": [{"status": "resolved", "labels": {"model": "m", "alertname": "Drift"}}]})
    assert alert.summary == "Drift" and alert.status == "resolved"


def test_untrusted_texts_are_truncated() -> None:
    [alert] = parse_alerts({"model": "m", "summary": "x" * 10_000, "annotations": {"a": "y" * 10_000}})
    assert len(alert.summary) == MAX_TEXT and len(alert.annotations["a"]) == MAX_TEXT


def test_plain_form_defaults_to_firing_and_keeps_extra_fields_as_annotations() -> None:
    [alert] = parse_alerts({"model": "m", "summary": "s", "dashboard": "http://grafana/d/1"})
    assert (alert.source, alert.status, alert.annotations["dashboard"]) == ("plain", "firing", "http://grafana/d/1")


@pytest.mark.parametrize(
    "payload",
    [{"status": "firing"}, {"alerts": [{"labels": {}}]}, {"model": "m", "status": "pending"}, {"alerts": "x"}],
)
def test_payloads_without_a_model_or_with_a_bad_status_are_refused_with_422(payload: dict) -> None:
    with pytest.raises(AlertError) as err:
        parse_alerts(payload)
    assert err.value.status == 422


@pytest.mark.parametrize(
    ("header", "login", "password", "who"),
    [
        ("Bearer tok", None, "tok", "bearer-token"),
        ("bearer tok", "u", "tok", "bearer-token"),
        (_basic("u", "tok"), "u", "tok", "u"),
        ("Bearer tok", None, None, None),  # no password configured: nobody gets in
        ("Bearer ", None, "", None),
        (_basic("u", "tok"), None, "tok", None),  # basic needs a login on the connection
        (_basic("u", "tok:"), "u", "tok", None),
        ("Basic %%%", "u", "tok", None),
        ("tok", None, "tok", None),
    ],
)
def test_only_the_connections_credentials_authenticate(
    header: str, login: str | None, password: str | None, who: str | None
) -> None:
    assert authenticate(header, login=login, password=password) == who


@pytest.mark.parametrize("status", ["firing", "resolved"])
def test_a_long_fingerprint_is_clipped_to_the_audit_subject(
    store_url: str, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    """PostgreSQL enforces the subject column's length: an unclipped fingerprint was a 500 after the
    run had been started."""
    store = StateStore(store_url)
    _alerts_connection(monkeypatch, "agentic_mlops_alerts", "tok")
    monkeypatch.setattr(
        alerts, "known_models", lambda models=None: {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}}
    )
    monkeypatch.setattr(
        alerts, "start_run_unless_active", lambda dag_id, conf, on_found=None, waited=0.0: ("run-1", True)
    )
    root = FastAPI()
    root.mount("/agentic-mlops", create_app(AppSettings(signing_secret="s", store=store)))
    body = {"alerts": [{"status": status, "labels": {"model": "fraud"}, "fingerprint": "f" * 1000}]}
    try:
        response = TestClient(root).post("/agentic-mlops/alerts", json=body, headers={"Authorization": "Bearer tok"})
        assert response.status_code in (200, 201)
        [row] = store.audit_trail("fraud")
    finally:
        store.dispose()
    assert row["subject"] == "f" * audit.c.subject.type.length
    assert row["details"]["fingerprint"] == "f" * 1000


@pytest.fixture(params=["sqlite", "postgresql"])
def one_connection_metadata_db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[sa.Engine]:
    """Airflow's metadata DB (its tables, no migrations) behind a pool of ONE connection, as Airflow's
    ``settings.engine`` and thread-scoped ``settings.Session``."""
    import airflow.models
    from airflow import settings
    from airflow.models.base import Base

    airflow.models.import_all_models()
    url = f"sqlite:///{tmp_path / 'airflow.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=1, max_overflow=0, pool_timeout=2)
    Base.metadata.create_all(engine)
    monkeypatch.setattr(settings, "engine", engine)
    factory = sessionmaker(bind=engine, autoflush=False, expire_on_commit=False)
    monkeypatch.setattr(settings, "Session", scoped_session(factory))
    try:
        yield engine
    finally:
        settings.Session.remove()
        engine.dispose()


def _fake_trigger_dag(monkeypatch: pytest.MonkeyPatch, during: Any = None) -> None:
    """Airflow's ``trigger_dag`` as far as the alerts lock cares: its duplicate check opens "its own"
    session (the thread's scoped one) and commits it; then the run is added to the given session."""
    from airflow.api.common import trigger_dag as trigger_module
    from airflow.models import DagRun
    from airflow.utils.state import DagRunState

    def trigger_dag(dag_id: str, *, conf: dict, session: Any, **kwargs: Any) -> DagRun:
        assert DagRun.find_duplicate(dag_id=dag_id, run_id="manual__1") is None
        if during is not None:
            during()
        run = DagRun(dag_id=dag_id, run_id="manual__1", run_type="manual", state=DagRunState.QUEUED, conf=conf)
        session.add(run)
        session.flush()
        return run

    monkeypatch.setattr(trigger_module, "trigger_dag", trigger_dag)


def test_starting_a_run_needs_one_metadata_db_connection(
    one_connection_metadata_db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alerts for different models arriving together each held a pooled connection for the lock every
    API server sees, then waited for a second one for their session: once as many alerts as the pool
    has connections held their lock, every one of them timed out (503 after 30 s). One connection per
    alert, for the lock and the work, cannot run the pool dry that way."""
    _fake_trigger_dag(monkeypatch)
    assert alerts.start_run_unless_active("agentic_mlops__fraud", {"alert": {}}) == ("manual__1", True)
    # committed: the next alert finds the run, also on the one connection
    assert alerts.start_run_unless_active("agentic_mlops__fraud", {"alert": {}}) == ("manual__1", False)
    assert one_connection_metadata_db.pool.checkedout() == 0


def test_on_airflow_3_1_whose_trigger_dag_takes_no_note_the_run_starts_and_still_gets_its_note(
    one_connection_metadata_db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow 3.1's ``trigger_dag`` has no ``note`` (3.2 added it): passing one was a TypeError, a 500 for
    every firing alert and no run. The note is set on the new run instead, as 3.1's own REST API does."""
    from airflow.api.common import trigger_dag as trigger_module
    from airflow.models import DagRun
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType

    def trigger_dag_3_1(  # Airflow 3.1.8's signature, exactly
        dag_id: str,
        *,
        triggered_by: DagRunTriggeredByType,
        triggering_user_name: str | None = None,
        run_after: Any = None,
        run_id: str | None = None,
        conf: dict | str | None = None,
        logical_date: Any = None,
        replace_microseconds: bool = True,
        session: Any = None,
    ) -> DagRun:
        run = DagRun(dag_id=dag_id, run_id="manual__1", run_type="manual", state=DagRunState.QUEUED, conf=conf)
        session.add(run)
        session.flush()
        return run

    monkeypatch.setattr(trigger_module, "trigger_dag", trigger_dag_3_1)
    assert alerts.start_run_unless_active("agentic_mlops__fraud", {"alert": {}}) == ("manual__1", True)
    with sessionmaker(bind=one_connection_metadata_db)() as session:
        run = session.scalars(sa.select(DagRun)).one()
        assert (run.state, run.conf) == (DagRunState.QUEUED, {"alert": {}})
        assert run.note == "started by a monitoring alert (agentic MLOps)"


def _alerts_connection(
    monkeypatch: pytest.MonkeyPatch, conn_id: str, password: str, extra: dict[str, Any] | None = None
) -> None:
    """The connection ``conn_id`` as an ``AIRFLOW_CONN_*`` variable (Airflow's environment secrets backend)."""
    value = {"conn_type": "generic", "password": password, **({"extra": extra} if extra is not None else {})}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))


def _alerts_app(
    monkeypatch: pytest.MonkeyPatch, store: Any, models: dict[str, Any], teams: dict[str, str] | None = None
) -> TestClient:
    """The plugin app at its API-server path, with the alerts token ``tok`` (a connection without a scope),
    ``models`` as Airflow's and ``teams`` the teams of their DAGs (dag_id -> team)."""
    _alerts_connection(monkeypatch, "agentic_mlops_alerts", "tok")
    monkeypatch.setattr(alerts, "known_models", lambda only=None: models)
    monkeypatch.setattr(alerts, "parse_trouble", lambda names, any_model_dag: None)  # no DAG file fails
    monkeypatch.setattr(alerts, "dag_teams", lambda ids: {i: (teams or {}).get(i) for i in ids})
    root = FastAPI()
    root.mount("/agentic-mlops", create_app(AppSettings(signing_secret="s", store=store)))
    return TestClient(root)


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise sa.exc.OperationalError(
        "SELECT 1", {}, Exception('connection to server at "10.1.2.3", port 5999 failed: Connection refused')
    )


def _pool_timeout(*args: Any, **kwargs: Any) -> Any:
    raise sa.exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00")


@pytest.mark.parametrize("fails", ["known_models", "start_run_unless_active"])
@pytest.mark.parametrize("error", [_refuse, _pool_timeout], ids=["refused", "pool-timeout"])
def test_a_metadata_db_failure_is_a_generic_503_and_logged_as_airflows_metadata_db(
    sqlite_store: StateStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fails: str,
    error: Any,
) -> None:
    """Every database error used to be answered as "the state store is unavailable", with the metadata
    DB's host and port: the operator checked the wrong database, and the alert sender learnt where the
    metadata DB lives."""
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    monkeypatch.setattr(alerts, fails, error)
    with caplog.at_level("WARNING", logger=alerts.__name__):
        response = client.post(
            "/agentic-mlops/alerts", json={"model": "fraud"}, headers={"Authorization": "Bearer tok"}
        )
    assert response.status_code == 503, response.text
    detail = response.json()["detail"]
    assert "Airflow's metadata database is unavailable" in detail
    assert "state store" not in detail and "10.1.2.3" not in detail and "QueuePool" not in detail
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Airflow's metadata database" in logged and "sql_alchemy_conn" in logged
    assert ("10.1.2.3" if error is _refuse else "QueuePool") in logged


def test_a_notification_with_an_unknown_model_still_starts_the_known_models_runs(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Alertmanager batches the alerts of a group into one notification and does not retry a 4xx: a 404
    for one unknown model lost every other model's alert."""
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    started: list[str] = []
    monkeypatch.setattr(
        alerts,
        "start_run_unless_active",
        lambda dag_id, conf, on_found=None, waited=0.0: (started.append(dag_id), ("r1", True))[1],
    )
    body = {
        "version": "4",
        "status": "firing",
        "commonLabels": {"alertname": "DriftHigh"},
        "alerts": [
            {"status": "firing", "labels": {"model": "fraud"}, "fingerprint": "f1"},
            {"status": "firing", "labels": {"model": "legacy-ranker"}, "fingerprint": "f2"},
            {"status": "resolved", "labels": {"model": "ghost"}, "fingerprint": "f3"},
        ],
    }
    with caplog.at_level("WARNING", logger=alerts.__name__):
        response = client.post("/agentic-mlops/alerts", json=body, headers={"Authorization": "Bearer tok"})
    assert response.status_code == 201, response.text
    answer = response.json()
    assert started == ["agentic_mlops__fraud"]
    assert [(r["model"], r["outcome"]) for r in answer["results"]] == [
        ("fraud", "started"),
        ("legacy-ranker", "unknown_model"),
        ("ghost", "unknown_model"),
    ]
    assert answer["unknown_models"] == ["ghost", "legacy-ranker"] and answer["known_models"] == ["fraud"]
    assert "legacy-ranker" in answer["detail"] and "agentic_mlops__<model>" in answer["detail"]
    assert [e["action"] for e in sqlite_store.audit_trail("fraud")] == ["alert_received"]
    assert sqlite_store.audit_trail("legacy-ranker") == [] and sqlite_store.audit_trail("ghost") == []
    assert "legacy-ranker" in caplog.text


def test_a_notification_with_only_unknown_models_is_404_and_records_nothing(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    monkeypatch.setattr(
        alerts,
        "start_run_unless_active",
        lambda dag_id, conf, on_found=None, waited=0.0: pytest.fail("nothing may start"),
    )
    response = client.post("/agentic-mlops/alerts", json={"model": "ghost"}, headers={"Authorization": "Bearer tok"})
    assert response.status_code == 404, response.text
    assert response.json()["known_models"] == ["fraud"] and "ghost" in response.json()["detail"]
    assert sqlite_store.audit_trail("ghost") == []


def test_the_labels_the_endpoint_reads_are_kept_beyond_the_kept_entries() -> None:
    """Alertmanager sends label maps sorted by key: with more than MAX_ENTRIES labels sorting before
    ``model``, only the first ones were kept and the alert was refused for having no 'model' label."""
    many = {f"label_{i:02d}": "x" for i in range(MAX_ENTRIES + 10)}
    labels = dict(sorted({**many, "alertname": "DriftHigh", "model": "fraud", "service": "churn"}.items()))
    annotations = dict(sorted({**many, "summary": "PSI 0.31"}.items()))
    payload = {"status": "firing", "commonLabels": labels, "alerts": [{"labels": labels, "annotations": annotations}]}
    [alert] = parse_alerts(payload)
    assert (alert.model, alert.summary) == ("fraud", "PSI 0.31")
    assert len(alert.labels) == MAX_ENTRIES + 1 and alert.labels["model"] == "fraud"
    [from_common] = parse_alerts({**payload, "alerts": [{"labels": many}]}, model_label="service")
    assert from_common.model == "churn"
    [named] = parse_alerts({"status": "firing", "alerts": [{"labels": labels}]})
    assert named.summary == "DriftHigh" and named.labels["alertname"] == "DriftHigh"


def test_the_alerts_connection_unreadable_for_a_metadata_db_failure_is_a_503_and_logged(
    server_metadata_db: Any, sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The connection is looked up first, and Airflow answers "isn't defined" when its metadata DB cannot be
    read: the endpoint said "alerts are not configured: create the connection" (one that exists), and
    logged nothing."""
    server_metadata_db.add_connection("agentic_mlops_alerts", conn_type="generic", password="tok")
    churn = {"churn": {"dag_id": "agentic_mlops__churn", "paused": False}}
    monkeypatch.setattr(alerts, "known_models", lambda models=None: churn)
    root = FastAPI()
    root.mount("/agentic-mlops", create_app(AppSettings(signing_secret="s", store=sqlite_store)))
    client = TestClient(root)

    def post() -> Any:
        return client.post("/agentic-mlops/alerts", json={"model": "fraud"}, headers={"Authorization": "Bearer tok"})

    now = [1000.0]
    monkeypatch.setattr(alerts, "_clock", lambda: now[0])
    assert post().status_code == 404  # the token is read from the metadata DB and accepted
    server_metadata_db.down()
    now[0] += alerts.CONNECTION_CACHE_SECONDS  # the lookup is no longer kept: read again
    with caplog.at_level("WARNING", logger=alerts.__name__):
        response = post()
    assert response.status_code == 503, response.text
    assert "Airflow's metadata database is unavailable" in response.json()["detail"]
    assert "not configured" not in response.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Airflow's metadata database" in logged and "sql_alchemy_conn" in logged
    assert "'agentic_mlops_alerts'" in logged and "unable to open database file" in logged


def test_a_secrets_backend_failing_on_the_alerts_connection_is_a_503_and_logged(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_agentic_mlops.hooks import connection

    def vault_down(conn_id: str) -> Any:
        raise connection.ConnectionLookupFailed(conn_id, "VaultBackend", ConnectionError("vault:8200 refused"))

    monkeypatch.setattr(connection, "get_connection_or_none", vault_down)
    root = FastAPI()
    root.mount("/agentic-mlops", create_app(AppSettings(signing_secret="s", store=sqlite_store)))
    with caplog.at_level("WARNING", logger=alerts.__name__):
        response = TestClient(root).post("/agentic-mlops/alerts", json={"model": "fraud"})
    assert response.status_code == 503, response.text
    detail = response.json()["detail"]
    assert "could not be read" in detail and "not configured" not in detail and "vault:8200" not in detail
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "secrets backend VaultBackend" in logged and "vault:8200 refused" in logged


@pytest.mark.parametrize("one_connection_metadata_db", ["postgresql"], indirect=True)
def test_the_alerts_lock_lasts_one_transaction_and_outlives_airflows_own_commit(
    one_connection_metadata_db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a PgBouncer in transaction pooling mode (Airflow's advice for its metadata DB), the session
    lock taken in one transaction and released in another stayed on a server session no client owned:
    the next alert for the model waited in pg_advisory_lock forever, holding an API-server thread. The
    lock is one transaction's now, so the commit trigger_dag's duplicate check makes must not end it."""
    from airflow_provider_agentic_mlops.core.locks import advisory_key
    from tests.advisory_locks import advisory_locks_between_transactions, advisory_locks_held

    url = one_connection_metadata_db.url
    objid = advisory_key("agentic-mlops-alerts", "agentic_mlops__fraud") & 0xFFFFFFFF
    seen_during_insert: list[list[int]] = []
    _fake_trigger_dag(monkeypatch, lambda: seen_during_insert.append([o for _, o in advisory_locks_held(url)]))
    with advisory_locks_between_transactions(one_connection_metadata_db) as between:
        assert alerts.start_run_unless_active("agentic_mlops__fraud", {"alert": {}}) == ("manual__1", True)
        assert alerts.start_run_unless_active("agentic_mlops__fraud", {"alert": {}}) == ("manual__1", False)
    assert seen_during_insert == [[objid]]  # still locked after Airflow's commit, while the run is added
    assert between == [] and advisory_locks_held(url) == []
    observer = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with observer.connect() as conn:  # committed: another connection sees the run
        assert conn.execute(sa.text("SELECT run_id FROM dag_run")).scalars().all() == ["manual__1"]
    observer.dispose()


@pytest.mark.timeout(120, method="thread")
def test_an_alert_waits_for_a_lock_held_elsewhere_at_most_the_lock_timeout_then_answers_503(
    one_connection_metadata_db: sa.Engine,
    sqlite_store: StateStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A lock that is never released (the PgBouncer leak above, or a stuck API server) held every later
    alert for the model in a wait with no end; Alertmanager sent again and more threads got stuck."""
    _fake_trigger_dag(monkeypatch)
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__ALERT_LOCK_TIMEOUT", "0.3")
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})

    def post() -> Any:
        return client.post("/agentic-mlops/alerts", json={"model": "fraud"}, headers={"Authorization": "Bearer tok"})

    from tests.advisory_locks import lock_held_elsewhere

    held = lock_held_elsewhere(one_connection_metadata_db.url, "agentic-mlops-alerts", "agentic_mlops__fraud")
    with caplog.at_level("WARNING", logger=alerts.__name__), held:
        response = post()
    assert response.status_code == 503, response.text
    assert "agentic_mlops__fraud" in response.json()["detail"] and "send the alert again" in response.json()["detail"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "alert_lock_timeout" in logged and "agentic_mlops__fraud" in logged
    assert sqlite_store.audit_trail("fraud") == []  # nothing recorded: the resent alert is the one that counts
    assert one_connection_metadata_db.pool.checkedout() == 0
    assert post().status_code == 201  # once the holder let go


@pytest.mark.timeout(120, method="thread")
def test_an_alert_waits_for_the_same_models_alert_in_this_process_at_most_the_lock_timeout(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alerts for one model queue on a lock in the API server before the database's: the timeout bounds
    the whole wait, not each lock's, so a stuck alert cannot hold the next ones one timeout each."""
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__ALERT_LOCK_TIMEOUT", "0.3")
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    with alerts._model_lock("agentic_mlops__fraud"):
        response = client.post(
            "/agentic-mlops/alerts", json={"model": "fraud"}, headers={"Authorization": "Bearer tok"}
        )
    assert response.status_code == 503, response.text
    assert "agentic_mlops__fraud" in response.json()["detail"]


def _fake_start(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The locked work of :func:`alerts.start_run_unless_active` without a metadata DB: the first alert of a DAG
    starts its run, later ones find it. Its locks (the model's in this process) stay the real ones."""
    runs: dict[str, str] = {}

    def start(dag_id: str, conf: dict[str, Any], *, timeout: float, on_found: Any) -> tuple[str, bool]:
        started = dag_id not in runs
        run_id = runs.setdefault(dag_id, f"run-{dag_id}")
        if on_found is not None:
            on_found(run_id, started)
        return run_id, started

    monkeypatch.setattr(alerts, "_start_run_unless_active", start)
    return runs


@pytest.mark.timeout(120, method="thread")
def test_alerts_waiting_for_one_models_lock_leave_the_plugins_threads_to_other_models(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every alert waited for its model's lock in a thread of the plugin's pool (PAGE_THREADS): more alerts for
    a model whose lock was held than the pool has threads took them all, and an alert for another model (and
    the pages) waited until the lock came free or the alerts timed out (19 s; Grafana gives up sooner). Now
    they wait for their model's turn on the event loop: one of them holds a thread."""
    from airflow_provider_agentic_mlops.plugins.app import PAGE_THREADS

    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__ALERT_LOCK_TIMEOUT", "600")
    runs = _fake_start(monkeypatch)
    root = _alerts_app(monkeypatch, sqlite_store, TWO_MODELS).app
    parsed = [0]
    parse = alerts.parse_alerts

    def counted(*args: Any, **kwargs: Any) -> list[alerts.Alert]:
        parsed[0] += 1  # the request goes on to its next wait before the test's task runs again
        return parse(*args, **kwargs)

    monkeypatch.setattr(alerts, "parse_alerts", counted)
    n = PAGE_THREADS * 2
    events: list[str] = []

    async def scenario() -> tuple[list[int], int]:
        import httpx

        transport = httpx.ASGITransport(app=root)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:

            async def post(model: str, fingerprint: str) -> int:
                body = {"alerts": [{"status": "firing", "labels": {"model": model}, "fingerprint": fingerprint}]}
                response = await client.post(
                    "/agentic-mlops/alerts", json=body, headers={"Authorization": "Bearer tok"}
                )
                return response.status_code

            fraud = [asyncio.ensure_future(post("fraud", f"fp-{i}")) for i in range(n)]
            while parsed[0] < n:  # every fraud alert is waiting: for the model's lock, a thread, or its turn
                await asyncio.sleep(0.01)
            churn = asyncio.ensure_future(post("churn", "fp-churn"))
            # fraud's lock is let go once churn is answered; if churn waits behind the fraud alerts, only after
            # a while (else the test would hang): churn then answers after the release, and the test fails
            await asyncio.wait([churn], timeout=30)
            events.append("churn answered" if churn.done() else "churn still waiting")
            events.append("fraud's lock released")
            fraud_lock.release()
            return list(await asyncio.gather(*fraud)), await churn

    fraud_lock = alerts._model_lock("agentic_mlops__fraud")
    fraud_lock.acquire()
    try:
        fraud_statuses, churn_status = asyncio.run(scenario())
    finally:
        if fraud_lock.locked():
            fraud_lock.release()
    assert events == ["churn answered", "fraud's lock released"]
    assert churn_status == 201
    # fraud's alerts all handled once its lock came free, one run between them
    assert sorted(fraud_statuses) == [200] * (n - 1) + [201]
    assert runs == {
        "agentic_mlops__fraud": "run-agentic_mlops__fraud",
        "agentic_mlops__churn": "run-agentic_mlops__churn",
    }


def test_a_notification_takes_its_models_turns_in_sorted_order_so_it_holds_none_while_waiting_for_an_earlier_one() -> (
    None
):
    """Two notifications naming the same models each took one's turn and waited for the other's: both timed out.
    Taken in sorted order, a notification waiting for one model's turn holds no later model's: an alert for that
    model gets its turn meanwhile."""
    order: list[str] = []

    async def scenario() -> None:
        async with alerts.model_turns(["agentic_mlops__a"], 600):
            both = asyncio.ensure_future(_hold(["agentic_mlops__b", "agentic_mlops__a"], order, "a and b"))
            await asyncio.sleep(0)  # it has started waiting
            await _hold(["agentic_mlops__b"], order, "b alone", timeout=10)  # a bound: the test fails, not hangs
            order.append("a let go")
        await both

    asyncio.run(scenario())
    assert order == ["b alone", "a let go", "a and b"]
    assert alerts._turns == {}  # nothing is kept of turns nobody holds or waits for


async def _hold(dag_ids: list[str], order: list[str], name: str, timeout: float = 600) -> None:
    async with alerts.model_turns(dag_ids, timeout) as waited:
        assert set(waited) == set(dag_ids)
        order.append(name if math.inf not in waited.values() else f"{name} (its turn did not come)")


@pytest.mark.timeout(120, method="thread")
def test_an_alert_whose_models_turn_does_not_come_within_the_lock_timeout_is_a_503_and_records_nothing(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__ALERT_LOCK_TIMEOUT", "0.3")
    _fake_start(monkeypatch)
    root = _alerts_app(monkeypatch, sqlite_store, TWO_MODELS).app

    async def scenario() -> Any:
        import httpx

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=root), base_url="http://api") as client:
            body = {"alerts": [{"status": "firing", "labels": {"model": m}} for m in ("fraud", "churn")]}
            held, done = asyncio.Event(), asyncio.Event()

            async def other_alert() -> None:  # another alert of fraud's being handled, in its own request's task
                async with alerts.model_turns(["agentic_mlops__fraud"], 600):
                    held.set()
                    await done.wait()

            other = asyncio.ensure_future(other_alert())
            await held.wait()
            try:
                return await client.post("/agentic-mlops/alerts", json=body, headers={"Authorization": "Bearer tok"})
            finally:
                done.set()
                await other

    response = asyncio.run(scenario())
    assert response.status_code == 503, response.text
    answer = response.json()
    assert answer["failed_models"] == ["fraud"] and "agentic_mlops__fraud" in answer["detail"]
    assert [(r["model"], r["outcome"]) for r in answer["results"]] == [("churn", "started")]
    assert sqlite_store.audit_trail("fraud") == []


def test_an_alert_without_the_model_label_is_listed_and_the_others_still_start_their_runs(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One alert of a notification without the model label (a latency alert routed to the same receiver)
    made the whole notification a 422, and Alertmanager drops a notification answered 4xx: the other
    alerts' runs never started. Such an alert is answered like an unknown model's now."""
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    started: list[str] = []
    monkeypatch.setattr(
        alerts,
        "start_run_unless_active",
        lambda dag_id, conf, on_found=None, waited=0.0: (started.append(dag_id), ("r1", True))[1],
    )
    body = {
        "version": "4",
        "status": "firing",
        "commonLabels": {},
        "alerts": [
            {"status": "firing", "labels": {"alertname": "HighLatency", "service": "api"}, "fingerprint": "f0"},
            {"status": "firing", "labels": {"alertname": "DriftHigh", "model": "fraud"}, "fingerprint": "f1"},
            {"status": "resolved", "labels": {"alertname": "DiskFull"}, "fingerprint": "f2"},
        ],
    }
    with caplog.at_level("WARNING", logger=alerts.__name__):
        response = client.post("/agentic-mlops/alerts", json=body, headers={"Authorization": "Bearer tok"})
    assert response.status_code == 201, response.text
    answer = response.json()
    assert started == ["agentic_mlops__fraud"]
    assert answer["results"] == [
        {
            "model": None,
            "outcome": "no_model_label",
            "firing": 1,
            "resolved": 1,
            "alertnames": ["DiskFull", "HighLatency"],
        },
        {**answer["results"][1], "model": "fraud", "outcome": "started"},
    ]
    assert "'model'" in answer["detail"] and "alert_model_label" in answer["detail"]
    assert [e["action"] for e in sqlite_store.audit_trail("fraud")] == ["alert_received"]
    assert "HighLatency" in caplog.text


def test_a_notification_where_no_alert_names_a_model_is_a_422_naming_the_label() -> None:
    payload = {"status": "firing", "alerts": [{"labels": {"alertname": "A"}}, {"labels": {"alertname": "B"}}]}
    with pytest.raises(AlertError) as err:
        parse_alerts(payload, model_label="service")
    assert err.value.status == 422
    assert "'service'" in str(err.value) and "alert_model_label" in str(err.value)


def test_nul_and_lone_surrogates_in_alert_texts_are_scrubbed_so_any_database_stores_them() -> None:
    """PostgreSQL refuses NUL in text and JSONB, and a lone UTF-16 surrogate (valid JSON, "\\ud800") in
    JSONB: the run's insert failed, was answered 503, and Alertmanager resent the alert forever."""
    payload = {
        "status": "firing",
        "commonLabels": {"model": "fraud"},
        "alerts": [
            {
                "labels": {"alertname": "Drift\x00", "team\x00": "ml", "shard": "a\ud800b"},
                "annotations": {"summary": "PSI\x00 0.3 \udfff", "description": {"nested": "x\x00"}},
                "fingerprint": "fp\x00",
                "startsAt": "2026-01-01T00:00:00Z\x00",
                "generatorURL": "http://prom\ud800",
            }
        ],
    }
    [alert] = parse_alerts(payload)
    texts = [alert.summary, alert.fingerprint, alert.starts_at, alert.url, *alert.labels, *alert.labels.values()]
    texts += [*alert.annotations, *alert.annotations.values()]
    for text in texts:
        assert "\x00" not in text and text.encode("utf-8"), text  # encodes: no lone surrogate left
    assert alert.labels["shard"] == "a\ufffdb" and alert.summary.startswith("PSI") and alert.summary.endswith("\ufffd")
    [plain] = parse_alerts({"model": "fraud", "summary": "s\x00", "note": "\ud800"})
    assert "\x00" not in plain.summary and plain.annotations["note"] == "\ufffd"


def _data_error(*args: Any, **kwargs: Any) -> Any:
    raise sa.exc.DataError("INSERT INTO dag_run ...", {}, Exception("invalid input syntax for type json"))


def _integrity_error(*args: Any, **kwargs: Any) -> Any:
    raise sa.exc.IntegrityError("INSERT INTO dag_run ...", {}, Exception("duplicate key value"))


@pytest.mark.parametrize("error", [_data_error, _integrity_error], ids=["data", "integrity"])
def test_a_metadata_db_refusing_the_data_is_a_500_saying_so_not_an_outage(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, error: Any
) -> None:
    """Every database error was answered "metadata database unavailable" (503): for an error that the
    same alert raises again, Alertmanager resent it forever and the log pointed at the database's
    availability. Only connection errors are 503 now."""
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    monkeypatch.setattr(alerts, "start_run_unless_active", error)
    with caplog.at_level("WARNING", logger=alerts.__name__):
        response = client.post(
            "/agentic-mlops/alerts", json={"model": "fraud"}, headers={"Authorization": "Bearer tok"}
        )
    assert response.status_code == 500, response.text
    detail = response.json()["detail"]
    assert "unavailable" not in detail and "refused" in detail and "agentic_mlops__fraud" in detail
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "refused" in logged and "up and reachable" not in logged
    assert ("invalid input syntax" if error is _data_error else "duplicate key") in logged


def test_a_notification_of_more_alerts_than_the_limit_is_refused_naming_it(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """17,500 resolved alerts in one body under 1 MB took 51 s and wrote 17,500 audit rows."""
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    monkeypatch.setattr(
        alerts,
        "start_run_unless_active",
        lambda dag_id, conf, on_found=None, waited=0.0: pytest.fail("nothing may start"),
    )
    one = {"status": "resolved", "labels": {"model": "fraud"}}
    body = {"version": "4", "status": "resolved", "alerts": [one] * (alerts.MAX_ALERTS + 1)}
    response = client.post("/agentic-mlops/alerts", json=body, headers={"Authorization": "Bearer tok"})
    assert response.status_code == 413, response.text
    detail = response.json()["detail"]
    assert f"{alerts.MAX_ALERTS + 1} alerts" in detail and f"at most {alerts.MAX_ALERTS}" in detail
    assert "max_alerts" in detail  # Alertmanager's setting that keeps a notification under it
    assert sqlite_store.audit_trail("fraud") == []
    at_the_limit = {**body, "alerts": [one] * alerts.MAX_ALERTS}
    response = client.post("/agentic-mlops/alerts", json=at_the_limit, headers={"Authorization": "Bearer tok"})
    assert response.status_code == 200, response.text
    assert len(sqlite_store.audit_trail("fraud", limit=2 * alerts.MAX_ALERTS)) == alerts.MAX_ALERTS


def test_a_models_alerts_are_audited_in_one_statement(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One transaction (and one INSERT) per alert made a notification's cost grow with a commit per alert."""
    from tests.sql_statements import statements_on

    models = {m: {"dag_id": f"agentic_mlops__{m}", "paused": False} for m in ("fraud", "churn")}
    client = _alerts_app(monkeypatch, sqlite_store, models)
    monkeypatch.setattr(alerts, "start_run_unless_active", lambda dag_id, conf, on_found=None, waited=0.0: ("r1", True))
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [
            {"status": status, "labels": {"model": model}, "fingerprint": f"{model}-{status}-{i}"}
            for model in models
            for status in ("firing", "resolved")
            for i in range(20)
        ],
    }
    with statements_on(sqlite_store.engine) as seen:
        response = client.post("/agentic-mlops/alerts", json=body, headers={"Authorization": "Bearer tok"})
    assert response.status_code == 201, response.text
    inserts = [s for s in seen if s.startswith(f"INSERT INTO {audit.name} ")]
    assert len(inserts) == len(models), seen
    assert seen.count("BEGIN IMMEDIATE") == len(models)  # one write transaction per model
    for model in models:
        trail = sqlite_store.audit_trail(model, limit=100)
        assert sorted(e["action"] for e in trail) == ["alert_received"] * 20 + ["alert_resolved"] * 20
        assert {e["details"]["run_id"] for e in trail if e["action"] == "alert_received"} == {"r1"}


# -- scoped tokens (multi-team deployments) ------------------------------------------------------------

TEAM_MODELS = {m: {"dag_id": f"agentic_mlops__{m}", "paused": False} for m in ("fraud", "fraud-eu", "churn", "shared")}
TEAMS = {"agentic_mlops__fraud": "team_a", "agentic_mlops__fraud-eu": "team_a", "agentic_mlops__churn": "team_b"}


def _scoped_app(monkeypatch: pytest.MonkeyPatch, store: StateStore, **connections: dict[str, Any]) -> TestClient:
    """The alerts app with one connection per keyword (``conn_id={"password": ..., "extra": {...}}``), all listed
    in ``[agentic_mlops] alerts_conn_id``, and runs recorded in ``client.started``."""
    client = _alerts_app(monkeypatch, store, TEAM_MODELS, TEAMS)
    for conn_id, conn in connections.items():
        _alerts_connection(monkeypatch, conn_id, conn["password"], conn.get("extra"))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__ALERTS_CONN_ID", ", ".join(connections))
    client.started = []  # type: ignore[attr-defined]
    monkeypatch.setattr(
        alerts,
        "start_run_unless_active",
        lambda dag_id, conf, on_found=None, waited=0.0: (client.started.append(dag_id), ("r1", True))[1],
    )
    return client


def _alert(client: TestClient, token: str, *models: str) -> Any:
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"model": m}, "fingerprint": f"fp-{m}"} for m in models],
    }
    return client.post("/agentic-mlops/alerts", json=body, headers={"Authorization": f"Bearer {token}"})


def test_a_team_token_is_answered_another_teams_model_as_an_unknown_one_and_audited(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One token used to start every team's model DAGs; then a 403 naming the model (404 for an unknown one)
    told the token which of the other teams' models exist."""
    client = _scoped_app(monkeypatch, sqlite_store, alerts_team_a={"password": "tok-a", "extra": {"teams": ["team_a"]}})
    response = _alert(client, "tok-a", "churn")
    unknown = _alert(client, "tok-a", "ghost")
    assert (response.status_code, unknown.status_code) == (404, 404), response.text
    assert response.json() == json.loads(unknown.text.replace("ghost", "churn"))
    assert "team_b" not in response.text and "shared" not in response.text
    assert client.started == []
    [refused] = sqlite_store.audit_trail("churn")
    assert refused["action"] == "alert_refused" and refused["details"]["conn_id"] == "alerts_team_a"
    assert _alert(client, "tok-a", "fraud").status_code == 201
    assert client.started == ["agentic_mlops__fraud"]


def test_a_scoped_token_never_waits_for_the_turn_of_a_model_outside_its_scope(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turns of every firing model were taken before the scope was applied: an alert for another team's model
    waited while that model's turn was held (up to alert_lock_timeout), and an unknown one did not, so the time of
    the 404 told the token the model exists and is busy. Only the models the token may start are waited for."""
    client = _scoped_app(
        monkeypatch,
        sqlite_store,
        alerts_team_a={"password": "tok-a", "extra": {"teams": ["team_a"]}},
        alerts_eu={"password": "tok-eu", "extra": {"models": ["*-eu"]}},
    )
    requested: list[set[str]] = []
    take = alerts.model_turns

    def model_turns(dag_ids: Any, timeout: float) -> Any:
        requested.append(set(dag_ids))
        return take(dag_ids, timeout)

    monkeypatch.setattr(alerts, "model_turns", model_turns)
    assert _alert(client, "tok-a", "churn").status_code == 404
    assert _alert(client, "tok-a", "fraud", "churn", "ghost").status_code == 201
    assert _alert(client, "tok-eu", "fraud", "fraud-eu").status_code == 201
    assert requested == [set(), {"agentic_mlops__fraud"}, {"agentic_mlops__fraud-eu"}]
    assert client.started == ["agentic_mlops__fraud", "agentic_mlops__fraud-eu"]


def test_a_scoped_token_learns_only_its_own_models(sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _scoped_app(monkeypatch, sqlite_store, alerts_team_a={"password": "tok-a", "extra": {"teams": ["team_a"]}})
    response = _alert(client, "tok-a", "ghost")
    assert response.status_code == 404, response.text
    assert response.json()["known_models"] == ["fraud", "fraud-eu"]
    assert "churn" not in response.text and "shared" not in response.text
    mixed = _alert(client, "tok-a", "fraud", "churn", "ghost")
    assert mixed.status_code == 201, mixed.text
    answer = mixed.json()
    assert [(r["model"], r["outcome"]) for r in answer["results"]] == [
        ("fraud", "started"),
        ("churn", "unknown_model"),
        ("ghost", "unknown_model"),
    ]
    assert answer["unknown_models"] == ["churn", "ghost"] and answer["known_models"] == ["fraud", "fraud-eu"]
    assert "outside_scope" not in answer and "scope" not in answer["detail"]
    assert [e["action"] for e in sqlite_store.audit_trail("churn")] == ["alert_refused"]


def test_model_patterns_scope_a_token_and_narrow_a_teams_scope(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _scoped_app(
        monkeypatch,
        sqlite_store,
        alerts_fraud={"password": "tok-f", "extra": {"models": ["fraud*", "shared"]}},
        alerts_eu={"password": "tok-eu", "extra": {"teams": ["team_a"], "models": ["*-eu"]}},
    )
    assert _alert(client, "tok-f", "fraud-eu", "shared").status_code == 201
    assert _alert(client, "tok-f", "churn").status_code == 404
    assert _alert(client, "tok-eu", "fraud").status_code == 404  # team_a's, but not *-eu
    assert client.started == ["agentic_mlops__fraud-eu", "agentic_mlops__shared"]


def test_a_team_scope_leaves_out_dags_without_a_team(sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _scoped_app(monkeypatch, sqlite_store, alerts_team_a={"password": "tok-a", "extra": {"teams": ["team_a"]}})
    assert _alert(client, "tok-a", "shared").status_code == 404


def test_a_connection_without_a_scope_starts_any_model_as_before(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _scoped_app(
        monkeypatch,
        sqlite_store,
        agentic_mlops_alerts={"password": "tok"},
        alerts_team_a={"password": "tok-a", "extra": {"teams": ["team_a"]}},
    )
    assert _alert(client, "tok", "fraud", "churn", "shared").status_code == 201
    assert client.started == ["agentic_mlops__fraud", "agentic_mlops__churn", "agentic_mlops__shared"]
    response = _alert(client, "tok", "ghost")
    assert response.json()["known_models"] == sorted(TEAM_MODELS)
    assert _alert(client, "wrong", "fraud").status_code == 401


@pytest.mark.parametrize(
    "extra",
    [
        {"teams": "team_a"},
        {"models": [""]},
        {"teams": [1]},
        {"models": "fraud*"},
        '{"teams": ["team_a"]',
        '["team_a"]',
        {"teams": None},  # a template rendering an unset value as null
        {"models": None},
    ],
    ids=[
        "teams-not-a-list",
        "empty-pattern",
        "team-not-text",
        "models-not-a-list",
        "not-json",
        "not-an-object",
        "teams-null",
        "models-null",
    ],
)
def test_a_scope_that_cannot_be_read_refuses_its_token_and_says_why(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch, extra: Any
) -> None:
    """A scope misread as "no scope" would open every model to the token: it fails closed instead (Airflow's
    ``extra_dejson`` reads an extra that is not JSON as {})."""
    client = _scoped_app(monkeypatch, sqlite_store, alerts_team_a={"password": "tok-a", "extra": extra})
    response = _alert(client, "tok-a", "fraud")
    assert response.status_code == 503, response.text
    detail = response.json()["detail"]
    assert "'alerts_team_a'" in detail and (next(iter(extra)) if isinstance(extra, dict) else "JSON object") in detail
    assert client.started == []
    unauthenticated = _alert(client, "wrong", "fraud")
    assert unauthenticated.status_code == 401 and "alerts_team_a" not in unauthenticated.text


# -- the connection lookup -----------------------------------------------------------------------------


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The connection ids the endpoint looked up (through Airflow's secrets backends), in order."""
    from airflow_provider_agentic_mlops.hooks import connection

    seen: list[str] = []
    real = connection.get_connection_or_none
    monkeypatch.setattr(connection, "get_connection_or_none", lambda conn_id: (seen.append(conn_id), real(conn_id))[1])
    return seen


def test_a_flood_of_unauthenticated_requests_does_not_look_the_connection_up_each_time(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch, lookups: list[str]
) -> None:
    """The connection was looked up before authenticating, on every request: each unauthenticated request
    was a query of the secrets backend (the metadata DB, Vault...)."""
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    now = [1000.0]
    monkeypatch.setattr(alerts, "_clock", lambda: now[0])
    for _ in range(20):
        assert _alert(client, "wrong", "fraud").status_code == 401
    assert lookups == ["agentic_mlops_alerts"]
    # a rotated token is taken once the lookup is older than CONNECTION_CACHE_SECONDS
    _alerts_connection(monkeypatch, "agentic_mlops_alerts", "rotated")
    now[0] += alerts.CONNECTION_CACHE_SECONDS + 0.1
    assert _alert(client, "rotated", "ghost").status_code == 404
    assert _alert(client, "tok", "ghost").status_code == 401
    assert lookups == ["agentic_mlops_alerts"] * 2


def test_a_failed_connection_lookup_is_not_remembered(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    from airflow_provider_agentic_mlops.hooks import connection

    real = connection.get_connection_or_none

    def failing(conn_id: str) -> Any:
        raise connection.ConnectionLookupFailed(conn_id, "VaultBackend", TimeoutError("vault timed out"))

    monkeypatch.setattr(connection, "get_connection_or_none", failing)
    assert _alert(client, "tok", "ghost").status_code == 503
    monkeypatch.setattr(connection, "get_connection_or_none", real)
    assert _alert(client, "tok", "ghost").status_code == 404  # at once: the failure was not cached


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"model": ["fraud-*"]}, "model"),
        ({"team": ["team_a"]}, "team"),
        ({"Teams": ["team_a"]}, "Teams"),
        ({"MODELS": ["fraud-*"]}, "MODELS"),
        ({"modles": ["fraud-*"]}, "modles"),
        ({"model_patterns": ["fraud-*"]}, "model_patterns"),
        ({"teams": ["team_a"], "Models": ["fraud-*"]}, "Models"),
    ],
)
def test_a_misspelt_scope_key_refuses_its_token_naming_the_key_and_the_fix(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, extra: Any, key: str
) -> None:
    """``{"model": ["fraud-*"]}`` was read as no scope at all: the token meant for fraud models started every
    model's DAG."""
    client = _scoped_app(monkeypatch, sqlite_store, alerts_fraud={"password": "tok-f", "extra": extra})
    with caplog.at_level("ERROR", logger=alerts.__name__):
        response = _alert(client, "tok-f", "churn")
    assert response.status_code == 503, response.text
    detail = response.json()["detail"]
    assert "'alerts_fraud'" in detail and repr(key) in detail and "'models'" in detail and "'teams'" in detail
    assert client.started == []
    assert repr(key) in caplog.text and "'alerts_fraud'" in caplog.text


def test_other_keys_of_the_extra_leave_the_scope_as_it_is(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _scoped_app(
        monkeypatch,
        sqlite_store,
        alerts_fraud={"password": "tok-f", "extra": {"models": ["fraud*"], "description": "fraud team's Alertmanager"}},
    )
    assert _alert(client, "tok-f", "fraud").status_code == 201
    assert _alert(client, "tok-f", "churn").status_code == 404


BROKEN_FLEET = """
defaults:
  retrain: {python_callable: "m:f"}
models:
  - {name: fraud, drift: {reference: r.parquet, current: c.parquet, label_column: y}}
  - {name: churn, drift: {reference: r.parquet, current: c.parquet, label_column: y}}
  - {name: ltv, decision: {min_drift_share: 3}, drift: {reference: r.parquet, current: c.parquet, label_column: y}}
  - {name: 'bad name'}
"""


def test_an_alert_for_a_model_whose_entry_is_invalid_starts_nothing_and_says_so(
    sqlite_store: StateStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    server_metadata_db: Any,
    airflow_home: Path,
    tmp_path: Path,
) -> None:
    """The DAG of a model whose models.yaml entry is invalid (and was never valid) is a stand-in whose one task
    fails with the error: an alert started it, and Alertmanager's resend started it again. The DAG of a broken
    entry that was valid before runs that last valid entry: it still starts. An entry without a usable name
    (``agentic_mlops__-invalid-entry-<n>``) is no model at all."""
    from airflow_provider_agentic_mlops.dag_factory import build_dags

    path = tmp_path / "models.yaml"
    path.write_text(BROKEN_FLEET)
    build_dags(path)  # churn's entry is valid: the factory keeps it
    path.write_text(BROKEN_FLEET.replace("{name: churn, drift", "{name: churn, schedule: '@dialy', drift"))
    parsed_dags(build_dags(path))
    client = _alerts_app(monkeypatch, sqlite_store, {})
    monkeypatch.setattr(alerts, "known_models", KNOWN_MODELS)
    started: list[str] = []
    monkeypatch.setattr(
        alerts,
        "start_run_unless_active",
        lambda dag_id, conf, on_found=None, waited=0.0: (started.append(dag_id), ("r1", True))[1],
    )
    models = ("fraud", "ltv", "churn", "-invalid-entry-4")
    with caplog.at_level("WARNING", logger=alerts.__name__):
        response = _alert(client, "tok", *models)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert started == ["agentic_mlops__fraud", "agentic_mlops__churn"]
    outcomes = {r["model"]: r["outcome"] for r in answer["results"]}
    assert outcomes == {
        "fraud": "started",
        "ltv": "invalid_entry",
        "churn": "started",
        "-invalid-entry-4": "unknown_model",
    }
    problem = "model 'ltv': field 'decision.min_drift_share': Input should be less than or equal to 1 (got 3)"
    assert list(answer["invalid_entries"]) == ["ltv"] and problem in answer["invalid_entries"]["ltv"]
    assert "ltv" in answer["detail"] and "models.yaml" in answer["detail"]
    [churn] = [r for r in answer["results"] if r["model"] == "churn"]
    assert "last valid entry" in churn["warning"] and "'schedule'" in churn["warning"]
    assert answer["known_models"] == ["churn", "fraud", "ltv"]  # not the unnamed entry's DAG
    assert problem in caplog.text
    [received] = sqlite_store.audit_trail("ltv")
    assert received["action"] == "alert_received" and received["details"]["outcome"] == "invalid_entry"
    only_broken = _alert(client, "tok", "ltv")
    assert only_broken.status_code == 200 and only_broken.json()["invalid_entries"].keys() == {"ltv"}
    assert started == ["agentic_mlops__fraud", "agentic_mlops__churn"]


def _firing(fingerprint: str, severity: str | None, summary: str = "") -> dict[str, Any]:
    labels = {"alertname": "FeatureDrift", "model": "fraud", **({"severity": severity} if severity else {})}
    return {"status": "firing", "labels": labels, "annotations": {"summary": summary}, "fingerprint": fingerprint}


def test_a_grouped_notifications_run_gets_its_most_severe_alert_and_a_list_of_the_others(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the first firing alert of a grouped notification reached the run: a warning first and a critical
    second, the decision saw the warning and nothing of the critical one."""
    from airflow_provider_agentic_mlops.core.decision import sanitize_alert

    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    confs: list[dict[str, Any]] = []
    monkeypatch.setattr(
        alerts,
        "start_run_unless_active",
        lambda dag_id, conf, on_found=None, waited=0.0: (confs.append(conf), ("r1", True))[1],
    )
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [
            _firing("w1", "warning", "PSI of amount is 0.31"),
            _firing("i1", "info"),
            _firing("c1", "critical", "PSI of merchant is 0.9"),
            _firing("c2", "Critical"),  # as severe: the first one wins
            _firing("n1", None),
            {**_firing("r1", "critical"), "status": "resolved"},  # resolved: neither primary nor another
        ],
    }
    response = client.post("/agentic-mlops/alerts", json=body, headers={"Authorization": "Bearer tok"})
    assert response.status_code == 201, response.text
    [conf] = confs
    alert = conf["alert"]
    assert (alert["fingerprint"], alert["summary"], alert["group_size"]) == ("c1", "PSI of merchant is 0.9", 5)
    others = alert["other_alerts"]
    assert [o["fingerprint"] for o in others] == ["w1", "i1", "c2", "n1"] and alert["other_alerts_omitted"] == 0
    assert others[0] == {
        "alertname": "FeatureDrift",
        "labels": {"alertname": "FeatureDrift", "model": "fraud", "severity": "warning"},
        "summary": "PSI of amount is 0.31",
        "fingerprint": "w1",
    }
    assert [o["fingerprint"] for o in sanitize_alert(alert)["other_alerts"]] == ["w1", "i1", "c2", "n1"]

    confs.clear()
    many = {"version": "4", "status": "firing", "alerts": [_firing(f"f{i}", "error") for i in range(30)]}
    assert client.post("/agentic-mlops/alerts", json=many, headers={"Authorization": "Bearer tok"}).status_code < 300
    [conf] = confs
    assert conf["alert"]["fingerprint"] == "f0" and len(conf["alert"]["other_alerts"]) == alerts.MAX_OTHER_ALERTS
    assert conf["alert"]["other_alerts_omitted"] == 29 - alerts.MAX_OTHER_ALERTS


def test_grafanas_values_reach_the_run() -> None:
    """Grafana's ``values`` and ``valueString`` (the numbers the rule fired on) were dropped."""
    payload = {
        "orgId": 1,
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Fraud AUC drop", "model": "fraud"},
                "values": {"B": 0.61, "C": 1, "D": None},
                "valueString": "[ var='B' labels={} value=0.61 ]" + " " * 5000,
            }
        ],
    }
    [alert] = parse_alerts(payload)
    conf = alert.as_conf("2026-01-01T00:00:00+00:00", 1)
    assert conf["values"] == {"B": 0.61, "C": 1, "D": None}
    assert conf["value_string"].startswith("[ var='B' labels={} value=0.61 ]") and len(conf["value_string"]) == MAX_TEXT
    [no_values] = parse_alerts({"alerts": [{"status": "firing", "labels": {"model": "fraud"}}]})
    assert "values" not in no_values.as_conf("t", 1) and "value_string" not in no_values.as_conf("t", 1)


def _ordinary_alert(i: int) -> dict[str, Any]:
    """An alert of about 1 KB, as Prometheus rules with a runbook and a description send them."""
    return {
        "status": "firing",
        "labels": {
            "alertname": "FeatureDriftPSIHigh",
            "model": "fraud",
            "severity": "warning",
            "feature": f"feature_{i:04d}",
            "instance": "drift-exporter.monitoring.svc.cluster.local:9100",
            "job": "drift-exporter",
            "namespace": "ml-prod",
            "team": "fraud-analytics",
        },
        "annotations": {
            "summary": f"PSI of feature_{i:04d} is 0.31 (threshold 0.2)",
            "description": "Population stability index of this feature over the last 24h against the training "
            "reference exceeded the threshold 0.2. Check the upstream pipeline (feature store job "
            "ml-features-daily) and the model's dashboard before retraining; see the runbook for the triage steps.",
            "runbook_url": "https://runbooks.example.com/ml/feature-drift",
        },
        "startsAt": "2026-11-28T05:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus-k8s-0.prometheus-operated.monitoring.svc:9090/graph?g0.expr=max+by+"
        "%28model%2C+feature%29+%28drift_psi%7Bjob%3D%22drift-exporter%22%7D%29+%3E+0.2&g0.tab=1",
        "fingerprint": f"{i:016d}",
    }


def test_a_notification_of_as_many_ordinary_alerts_as_allowed_fits_in_the_body_limit(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MAX_ALERTS alerts of about 1 KB each were over the 1 MB body limit: 413, which Alertmanager never
    retries, for a notification that max_alerts allowed."""
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    monkeypatch.setattr(alerts, "start_run_unless_active", lambda dag_id, conf, on_found=None, waited=0.0: ("r1", True))
    body = json.dumps(
        {"version": "4", "status": "firing", "alerts": [_ordinary_alert(i) for i in range(alerts.MAX_ALERTS)]}
    ).encode()
    assert len(body) > 1_000_000
    response = client.post("/agentic-mlops/alerts", content=body, headers={"Authorization": "Bearer tok"})
    assert response.status_code == 201, response.text[:500]


def test_a_body_over_the_limit_is_refused_saying_what_to_change(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    monkeypatch.setattr(
        alerts,
        "start_run_unless_active",
        lambda dag_id, conf, on_found=None, waited=0.0: pytest.fail("nothing may start"),
    )
    body = json.dumps({"model": "fraud", "summary": "x" * alerts.MAX_BODY_BYTES}).encode()
    response = client.post("/agentic-mlops/alerts", content=body, headers={"Authorization": "Bearer tok"})
    assert response.status_code == 413, response.text[:500]
    detail = response.json()["detail"]
    assert f"{len(body)} bytes" in detail and f"{alerts.MAX_BODY_BYTES}" in detail
    assert "max_alerts" in detail and "group_by" in detail
    assert sqlite_store.audit_trail("fraud") == []


def _store_down() -> StateStore:
    raise sa.exc.OperationalError(
        "SELECT 1", {}, Exception('connection to server at "10.9.8.7", port 5432 failed: password authentication')
    )


class _FailingStore:
    """A state store that opened but fails to write (its database went down since)."""

    dialect = "postgresql"

    def ping(self) -> None:
        """It answered when the request came in."""

    def audit_many(self, entries: Any) -> None:
        _store_down()


@pytest.mark.parametrize("store", [_store_down, lambda: _FailingStore()], ids=["cannot-open", "cannot-write"])
def test_a_state_store_failure_is_a_generic_503_and_the_details_stay_in_the_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, store: Any
) -> None:
    """The alerts route answered the alert sender with the state store's address and the driver's error."""
    client = _alerts_app(monkeypatch, store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    monkeypatch.setattr(alerts, "start_run_unless_active", lambda dag_id, conf, on_found=None, waited=0.0: ("r1", True))
    with caplog.at_level("WARNING", logger=alerts.__name__):
        response = client.post(
            "/agentic-mlops/alerts", json={"model": "fraud"}, headers={"Authorization": "Bearer tok"}
        )
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert "state store" in detail and "again" in detail
    assert "10.9.8.7" not in response.text and "OperationalError" not in response.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "10.9.8.7" in logged and "state store" in logged


def test_an_alert_for_an_unknown_model_is_a_404_while_the_state_store_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store was opened before the models were looked at: a 503 (resent forever) for a model with no DAG."""
    client = _alerts_app(monkeypatch, _store_down, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    response = client.post("/agentic-mlops/alerts", json={"model": "ghost"}, headers={"Authorization": "Bearer tok"})
    assert response.status_code == 404, response.text
    assert response.json()["known_models"] == ["fraud"]


def _parsed_model_dag(model: str, *, stale: bool = False, fileloc: str = "agentic_mlops_dags.py") -> None:
    """``agentic_mlops__<model>`` as the dag-processor leaves it, from the DAG file ``fileloc``; ``stale``: as
    it marks a DAG whose file no longer defines it (the file failed to import, or the model was removed)."""
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.utils.session import create_session

    from tests.parsed_dags import parsed_dag

    dag_id = f"agentic_mlops__{model}"
    with create_session() as session:
        if session.get(DagBundleModel, "dags-folder") is None:
            session.add(DagBundleModel(name="dags-folder"))
    parsed_dag(dag_id, paused=False, description="", tags=[])
    with create_session() as session:
        row = session.get(DagModel, dag_id)
        row.is_stale, row.relative_fileloc, row.fileloc = stale, fileloc, f"/dags/{fileloc}"


def _import_error(filename: str, error: str) -> None:
    from airflow.models.errors import ParseImportError
    from airflow.utils.session import create_session

    with create_session() as session:
        session.add(
            ParseImportError(
                filename=filename, bundle_name="dags-folder", stacktrace=f"Traceback (most recent call last):\n{error}"
            )
        )


@pytest.mark.parametrize("case", ["stale", "import_error", "no_model_dag"])
def test_an_alert_while_the_dag_file_fails_to_import_is_a_retryable_503_naming_the_error(
    sqlite_store: StateStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    server_metadata_db: Any,
    case: str,
) -> None:
    """A DAG file that fails to import makes its DAGs stale: every alert was a 404 "unknown model(s)", which
    Alertmanager never resends, so the alerts of the outage were lost once the file was fixed."""
    error = "yaml.scanner.ScannerError: mapping values are not allowed here"
    if case == "stale":
        _parsed_model_dag("fraud", stale=True)
    elif case == "import_error":
        _parsed_model_dag("churn")
        _import_error("agentic_mlops_dags.py", error)
    client = _alerts_app(monkeypatch, sqlite_store, {})
    monkeypatch.setattr(alerts, "known_models", KNOWN_MODELS)
    monkeypatch.setattr(alerts, "parse_trouble", PARSE_TROUBLE)
    monkeypatch.setattr(
        alerts,
        "start_run_unless_active",
        lambda dag_id, conf, on_found=None, waited=0.0: pytest.fail("nothing may start"),
    )
    with caplog.at_level("WARNING", logger=alerts.__name__):
        response = _alert(client, "tok", "fraud")
    assert response.status_code == 503, response.text
    detail = response.json()["detail"]
    assert "again" in detail
    if case == "stale":
        assert "agentic_mlops__fraud" in detail and "stale" in detail
        assert response.json()["stale_models"] == ["fraud"]
    elif case == "import_error":
        assert error in detail and "agentic_mlops_dags.py" in detail
        assert response.json()["import_errors"] == {"agentic_mlops_dags.py": error}
        assert error in caplog.text
    else:
        assert "no model DAG" in detail
    assert sqlite_store.audit_trail("fraud") == []


def test_an_alert_for_a_model_that_never_had_a_dag_is_still_a_404(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch, server_metadata_db: Any
) -> None:
    _parsed_model_dag("churn")
    client = _alerts_app(monkeypatch, sqlite_store, {})
    monkeypatch.setattr(alerts, "known_models", KNOWN_MODELS)
    monkeypatch.setattr(alerts, "parse_trouble", PARSE_TROUBLE)
    response = _alert(client, "tok", "ghost")
    assert response.status_code == 404, response.text
    assert response.json()["known_models"] == ["churn"]


def _numbered_trigger_dag(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Airflow's ``trigger_dag`` creating queued runs ``manual__1``, ``manual__2``... (whatever ``run_id`` it is
    given, recorded in the calls it returns)."""
    from airflow.api.common import trigger_dag as trigger_module
    from airflow.models import DagRun
    from airflow.utils.state import DagRunState

    calls: list[dict[str, Any]] = []

    def trigger_dag(dag_id: str, *, conf: dict, session: Any, run_id: str | None = None, **kwargs: Any) -> DagRun:
        calls.append({"run_id": run_id, "conf": conf, **kwargs})
        run = DagRun(
            dag_id=dag_id,
            run_id=f"manual__{len(calls)}",
            run_type="manual",
            state=DagRunState.QUEUED,
            conf=conf,
        )
        session.add(run)
        session.flush()
        return run

    monkeypatch.setattr(trigger_module, "trigger_dag", trigger_dag)
    return calls


def _set_run(engine: sa.Engine, run_id: str, *, state: str, decide: str | None = "absent") -> None:
    """Put the run ``run_id`` in ``state``, with a ``decide`` task instance in state ``decide`` (absent: none)."""
    from airflow.models import DagRun

    with sessionmaker(bind=engine)() as session:
        run = session.scalars(sa.select(DagRun).where(DagRun.run_id == run_id)).one()
        run.state = state
        if decide != "absent":
            from airflow.models.taskinstance import TaskInstance

            session.execute(
                sa.insert(TaskInstance.__table__).values(
                    id=uuid.uuid4(),
                    task_id="decide",
                    dag_id=run.dag_id,
                    run_id=run_id,
                    pool="default_pool",
                    state=decide,
                )
            )
        session.commit()


@pytest.mark.parametrize("decide", ["absent", None, "scheduled", "queued"])
def test_an_alert_folds_into_the_alerts_run_that_has_not_decided_yet(
    one_connection_metadata_db: sa.Engine, monkeypatch: pytest.MonkeyPatch, decide: str | None
) -> None:
    calls = _numbered_trigger_dag(monkeypatch)
    dag_id = "agentic_mlops__fraud"
    assert alerts.start_run_unless_active(dag_id, {"alert": {"summary": "a"}}) == ("manual__1", True)
    assert alerts.start_run_unless_active(dag_id, {"alert": {"summary": "b"}}) == ("manual__1", False)  # queued
    _set_run(one_connection_metadata_db, "manual__1", state="running", decide=decide)
    assert alerts.start_run_unless_active(dag_id, {"alert": {"summary": "c"}}) == ("manual__1", False)
    assert len(calls) == 1


@pytest.mark.parametrize("decide", ["running", "success", "failed", "up_for_retry"])
def test_an_alert_after_the_active_runs_decision_queues_one_follow_up_run_carrying_it(
    one_connection_metadata_db: sa.Engine, monkeypatch: pytest.MonkeyPatch, decide: str
) -> None:
    """An alert arriving while the model's run waited for an approval (or its retraining job) was folded into
    that run, long past its decision: nothing looked at it until Alertmanager's next resend."""
    calls = _numbered_trigger_dag(monkeypatch)
    dag_id = "agentic_mlops__fraud"
    alerts.start_run_unless_active(dag_id, {"alert": {"summary": "a"}})
    _set_run(one_connection_metadata_db, "manual__1", state="running", decide=decide)
    assert alerts.start_run_unless_active(dag_id, {"alert": {"summary": "b"}}) == ("manual__2", True)
    assert calls[1]["conf"] == {"alert": {"summary": "b"}}
    # the follow-up is queued (max_active_runs=1 runs it next): further alerts fold into it
    assert alerts.start_run_unless_active(dag_id, {"alert": {"summary": "c"}}) == ("manual__2", False)
    assert len(calls) == 2


@pytest.mark.parametrize("state", ["queued", "running"])
def test_an_alert_during_a_run_without_an_alert_queues_a_run_that_sees_it(
    one_connection_metadata_db: sa.Engine, monkeypatch: pytest.MonkeyPatch, state: str
) -> None:
    """A scheduled or manual run never reads an alert: folding the alert into it lost the alert's text."""
    from airflow.models import DagRun

    calls = _numbered_trigger_dag(monkeypatch)
    with sessionmaker(bind=one_connection_metadata_db)() as session:
        session.add(DagRun(dag_id="agentic_mlops__fraud", run_id="scheduled__x", run_type="scheduled", state=state))
        session.commit()
    assert alerts.start_run_unless_active("agentic_mlops__fraud", {"alert": {"summary": "b"}}) == ("manual__1", True)
    assert len(calls) == 1


@pytest.mark.parametrize("error", ["not_serialized", "refused"])
def test_a_dag_airflow_cannot_start_yet_is_a_json_503_and_logged(
    one_connection_metadata_db: sa.Engine,
    sqlite_store: StateStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: str,
) -> None:
    """A model DAG without a serialized version (the dag-processor has not stored it yet): Airflow's
    ``trigger_dag`` raised DagNotFound, which escaped as a plain-text 500."""
    from airflow.api.common import trigger_dag as trigger_module

    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    if error == "refused":

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise ValueError("Dag with dag_id: 'agentic_mlops__fraud' does not allow manual runs")

        monkeypatch.setattr(trigger_module, "trigger_dag", refuse)
    # else Airflow's own trigger_dag: the metadata DB has no DAG at all
    with caplog.at_level("WARNING", logger=alerts.__name__):
        response = _alert(client, "tok", "fraud")
    assert response.status_code == 503, response.text
    detail = response.json()["detail"]
    assert "agentic_mlops__fraud" in detail
    if error == "not_serialized":
        assert "not serialized yet" in detail
    else:
        assert "does not allow manual runs" in detail
    assert "agentic_mlops__fraud" in caplog.text
    assert sqlite_store.audit_trail("fraud") == []


def test_lists_of_ignored_models_and_alertnames_are_clipped_in_the_answer_and_the_log(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A notification naming 999 unknown models with 1,900-character names got a 5.8 MB answer and a 1.9 MB
    log line."""
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    monkeypatch.setattr(alerts, "start_run_unless_active", lambda dag_id, conf, on_found=None, waited=0.0: ("r1", True))
    long = "x" * 1900
    items = [{"status": "resolved", "labels": {"model": f"m{i:04d}-{long}"}} for i in range(500)]
    items += [{"status": "resolved", "labels": {"alertname": f"a{i:04d}-{long}"}} for i in range(400)]
    items += [{"status": "firing", "labels": {"model": "fraud"}}]
    with caplog.at_level("WARNING", logger=alerts.__name__):
        response = client.post(
            "/agentic-mlops/alerts",
            json={"version": "4", "status": "firing", "alerts": items},
            headers={"Authorization": "Bearer tok"},
        )
    assert response.status_code == 201, response.text
    answer = response.json()
    assert len(response.content) < 50_000
    assert len(answer["unknown_models"]) == 20 and answer["unknown_models_omitted"] == 480
    assert all(len(m) <= 110 for m in answer["unknown_models"])
    assert "and 480 more" in answer["detail"] and "and 380 more" in answer["detail"]
    [unlabelled] = [r for r in answer["results"] if r["outcome"] == "no_model_label"]
    assert len(unlabelled["alertnames"]) == 20 and unlabelled["alertnames_omitted"] == 380
    assert [r["model"] for r in answer["results"] if r["outcome"] == "started"] == ["fraud"]
    assert max(len(r.getMessage()) for r in caplog.records) < 20_000


@pytest.mark.parametrize("encoding", ["gzip", "deflate, gzip"])
def test_a_compressed_body_is_refused_with_415_naming_its_content_encoding(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    """A gzip body was answered 422 "not UTF-8", as if the alert were malformed."""
    import gzip

    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    monkeypatch.setattr(
        alerts,
        "start_run_unless_active",
        lambda dag_id, conf, on_found=None, waited=0.0: pytest.fail("nothing may start"),
    )
    response = client.post(
        "/agentic-mlops/alerts",
        content=gzip.compress(json.dumps({"model": "fraud"}).encode()),
        headers={"Authorization": "Bearer tok", "Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.status_code == 415, response.text
    assert encoding in response.json()["detail"] and "uncompressed" in response.json()["detail"]
    assert sqlite_store.audit_trail("fraud") == []


def test_an_identity_content_encoding_is_read_as_usual(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    monkeypatch.setattr(alerts, "start_run_unless_active", lambda dag_id, conf, on_found=None, waited=0.0: ("r1", True))
    response = client.post(
        "/agentic-mlops/alerts",
        json={"model": "fraud"},
        headers={"Authorization": "Bearer tok", "Content-Encoding": "identity"},
    )
    assert response.status_code == 201, response.text


def test_an_alerts_run_is_named_alert_and_noted_with_the_primary_alert(
    one_connection_metadata_db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs started by alerts were named and noted like manual triggers: the grid did not tell which alert
    started which run."""
    import re

    calls = _numbered_trigger_dag(monkeypatch)
    firing = parse_alerts(
        {
            "version": "4",
            "status": "firing",
            "alerts": [
                _firing("fp-warn", "warning", "minor"),
                {**_firing("fp-crit", "critical", "PSI of amount is 0.31 " + "y" * 500)},
            ],
        }
    )
    conf = alerts.run_conf(firing, "2026-11-28T15:00:00+00:00")
    assert alerts.start_run_unless_active("agentic_mlops__fraud", conf) == ("manual__1", True)
    run_id = calls[0]["run_id"]  # the id asked for
    assert re.fullmatch(r"alert__\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", run_id)
    from airflow.configuration import conf as airflow_conf

    assert re.match(airflow_conf.get("scheduler", "allowed_run_id_pattern"), run_id)  # Airflow accepts it
    note = re.sub(r"\\(.)", r"\1", calls[0]["note"])  # as Airflow's UI shows it (Markdown escapes, see below)
    assert "FeatureDrift [critical]" in note and "(fingerprint fp-crit)" in note
    assert "PSI of amount is 0.31" in note and len(note) < 1000 and "minor" not in note


def test_an_alerts_run_id_that_the_configured_pattern_refuses_is_left_to_airflow(
    one_connection_metadata_db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__SCHEDULER__ALLOWED_RUN_ID_PATTERN", "^manual__.*$")
    calls = _numbered_trigger_dag(monkeypatch)
    assert alerts.start_run_unless_active("agentic_mlops__fraud", {"alert": {}}) == ("manual__1", True)
    assert calls[0]["run_id"] is None


@pytest.mark.timeout(120, method="thread")
@pytest.mark.parametrize("one_connection_metadata_db", ["postgresql"], indirect=True)
def test_an_alert_waits_for_a_table_lock_on_postgresql_at_most_the_lock_timeout(
    one_connection_metadata_db: sa.Engine,
    sqlite_store: StateStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``airflow db clean`` (or a migration) holding a lock on ``dag_run``: the alert waited for it with no bound,
    ``alert_lock_timeout`` bounded only the wait for the endpoint's own locks. (PostgreSQL only: SQLite locks the
    whole file, which the advisory-lock test covers.)"""
    import threading

    _fake_trigger_dag(monkeypatch)
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__ALERT_LOCK_TIMEOUT", "0.5")
    client = _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    holder = sa.create_engine(one_connection_metadata_db.url, poolclass=sa.pool.NullPool)
    conn = holder.connect()
    conn.execute(sa.text("LOCK TABLE dag_run IN ACCESS EXCLUSIVE MODE"))
    release = threading.Timer(30, conn.rollback)  # without a bound the alert would wait until then, then start
    release.start()
    try:
        with caplog.at_level("WARNING", logger=alerts.__name__):
            response = client.post(
                "/agentic-mlops/alerts", json={"model": "fraud"}, headers={"Authorization": "Bearer tok"}
            )
    finally:
        release.cancel()
        conn.rollback()
        conn.close()
        holder.dispose()
    assert response.status_code == 503, response.text
    assert "alert_lock_timeout" in caplog.text and "lock" in caplog.text
    assert sqlite_store.audit_trail("fraud") == []
    assert (
        client.post(
            "/agentic-mlops/alerts", json={"model": "fraud"}, headers={"Authorization": "Bearer tok"}
        ).status_code
        == 201
    )  # once the holder let go


def test_a_scoped_token_is_told_a_dag_file_fails_to_import_but_not_which_nor_its_error(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, server_metadata_db: Any
) -> None:
    """The failing file names other teams' models and its error their code: a 503 named both to any sender."""
    error = "yaml.scanner.ScannerError: mapping values are not allowed here"
    _parsed_model_dag("fraud")
    _import_error("agentic_mlops_dags.py", error)
    client = _scoped_app(monkeypatch, sqlite_store, alerts_team_a={"password": "tok-a", "extra": {"teams": ["team_a"]}})
    monkeypatch.setattr(alerts, "parse_trouble", PARSE_TROUBLE)
    with caplog.at_level("WARNING", logger=alerts.__name__):
        response = _alert(client, "tok-a", "ghost")
    assert response.status_code == 503, response.text
    assert error not in response.text and "agentic_mlops_dags.py" not in response.text
    assert "fails to import" in response.json()["detail"] and response.json()["import_errors"] == {}
    assert error in caplog.text  # the operator reads it in the API server's log


# -- a notification naming several models: each model handled on its own ---------------------------------

TWO_MODELS = {m: {"dag_id": f"agentic_mlops__{m}", "paused": False} for m in ("fraud", "churn")}


def test_a_state_store_that_is_down_starts_no_run_for_any_model_of_the_notification(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The store was first used after the first model's run had started: the run had no audit row, and
    Alertmanager's retry of the 503 started a second one."""
    client = _alerts_app(monkeypatch, _store_down, TWO_MODELS)
    started: list[str] = []
    monkeypatch.setattr(
        alerts,
        "start_run_unless_active",
        lambda dag_id, conf, on_found=None, waited=0.0: (started.append(dag_id), ("r1", True))[1],
    )
    response = _alert(client, "tok", "fraud", "churn")
    assert response.status_code == 503, response.text
    assert "state store" in response.json()["detail"]
    assert started == []


def test_a_later_models_failure_answers_503_for_it_only_and_a_retry_starts_no_second_run(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock not free in time for the second model answered 503 for the whole notification after the
    first model's run had been started: the retry started that model's run a second time."""
    client = _alerts_app(monkeypatch, sqlite_store, TWO_MODELS)
    runs: dict[str, str] = {}
    stuck = {"agentic_mlops__churn"}

    def start(dag_id: str, conf: dict[str, Any], on_found: Any = None, waited: float = 0.0) -> tuple[str, bool]:
        if dag_id in stuck:
            raise alerts.LockTimeout(f"lock of {dag_id} held elsewhere")
        if dag_id in runs:
            return runs[dag_id], False
        runs[dag_id] = f"run-{dag_id}"
        return runs[dag_id], True

    monkeypatch.setattr(alerts, "start_run_unless_active", start)
    first = _alert(client, "tok", "fraud", "churn")
    assert first.status_code == 503, first.text
    answer = first.json()
    assert answer["failed_models"] == ["churn"] and "agentic_mlops__churn" in answer["detail"]
    assert "fraud" in answer["detail"] and "run-agentic_mlops__fraud" in answer["detail"]
    assert [(r["model"], r["outcome"], r["run_id"]) for r in answer["results"]] == [
        ("fraud", "started", "run-agentic_mlops__fraud")
    ]
    [received] = sqlite_store.audit_trail("fraud")
    assert received["details"]["run_id"] == "run-agentic_mlops__fraud"
    assert sqlite_store.audit_trail("churn") == []
    stuck.clear()
    retry = _alert(client, "tok", "fraud", "churn")
    assert retry.status_code == 201, retry.text
    assert [(r["model"], r["outcome"]) for r in retry.json()["results"]] == [
        ("fraud", "already_running"),
        ("churn", "started"),
    ]
    assert runs == {m: f"run-{m}" for m in ("agentic_mlops__fraud", "agentic_mlops__churn")}


def test_a_later_alert_folds_into_the_undecided_runs_conf_and_a_more_severe_one_becomes_its_primary(
    one_connection_metadata_db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A critical alert seconds after a warning answered already_running and was dropped: the run's conf kept
    only the warning, so the decision never saw the critical one."""
    from airflow.models import DagRun

    calls = _numbered_trigger_dag(monkeypatch)
    dag_id = "agentic_mlops__fraud"

    def conf_of(*fired: dict[str, Any]) -> dict[str, Any]:
        return alerts.run_conf(parse_alerts({"version": "4", "alerts": list(fired)}), "2026-11-28T15:00:00+00:00")

    assert alerts.start_run_unless_active(dag_id, conf_of(_firing("fp-warn", "warning", "minor"))) == (
        "manual__1",
        True,
    )
    critical = conf_of(_firing("fp-crit", "critical", "PSI of amount is 0.31"), _firing("fp-info", "info"))
    assert alerts.start_run_unless_active(dag_id, critical) == ("manual__1", False)
    assert alerts.start_run_unless_active(dag_id, critical) == ("manual__1", False)  # a resend adds nothing
    with sessionmaker(bind=one_connection_metadata_db)() as session:
        run = session.scalars(sa.select(DagRun)).one()
        alert, note = run.conf["alert"], run.note
    assert alert["fingerprint"] == "fp-crit" and alert["labels"]["severity"] == "critical"
    assert [o["fingerprint"] for o in alert["other_alerts"]] == ["fp-warn", "fp-info"]
    assert alert["other_alerts"][0]["summary"] == "minor" and alert["other_alerts_omitted"] == 0
    assert "\\[critical\\]" in note and "fp\\-crit" in note
    assert len(calls) == 1


def test_an_alerts_text_in_the_run_note_renders_as_text_not_as_links_images_or_html() -> None:
    """Airflow's UI renders a run's note as Markdown: an alert's summary with a link, an external image (a
    request to any host from whoever opens the run) or HTML rendered as such."""
    from markdown_it import MarkdownIt

    summary = "see [the runbook](https://evil.example/x) ![px](https://evil.example/p.png) <img src=x> www.evil.example"
    [alert] = parse_alerts(
        {
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"model": "m", "alertname": "**Drift**", "severity": "#crit"},
                    "annotations": {"summary": summary + "\n# Heading"},
                    "fingerprint": "`fp`",
                }
            ]
        }
    )
    note = alerts.run_note(alerts.run_conf([alert], "2026-11-28T15:00:00+00:00"))
    html = MarkdownIt("commonmark").render(note)
    assert "<a" not in html and "<img" not in html and "<h1" not in html and "<strong" not in html
    assert "<code" not in html, html
    assert "https://" not in note and "www.evil" not in note  # nothing for GitHub-style bare-link detection
    assert "[the runbook](https" in html.replace("\\", "")  # the text itself is all there, shown as written


def test_a_model_in_the_models_file_whose_dag_is_not_parsed_yet_is_a_503_so_the_alert_is_resent(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A model just added to models.yaml, before the dag-processor parsed it, was a 404 "unknown model": Alertmanager
    dropped the notification."""
    from airflow_provider_agentic_mlops.approval_stores import DeclaredStores

    models_file = tmp_path / "models.yaml"
    models_file.write_text(BROKEN_FLEET)  # fraud, churn, ltv (invalid entry: also gets a DAG)
    _alerts_app(monkeypatch, sqlite_store, {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    root = FastAPI()
    settings = AppSettings(signing_secret="s", store=sqlite_store, declared_stores=DeclaredStores(models_file))
    root.mount("/agentic-mlops", create_app(settings))
    client = TestClient(root)
    started: list[str] = []
    monkeypatch.setattr(
        alerts,
        "start_run_unless_active",
        lambda dag_id, conf, on_found=None, waited=0.0: (started.append(dag_id), ("r1", True))[1],
    )
    alone = _alert(client, "tok", "churn")
    assert alone.status_code == 503, alone.text
    detail = alone.json()["detail"]
    assert "churn" in detail and "not parsed yet" in detail and "again" in detail
    assert _alert(client, "tok", "ltv").status_code == 503
    mixed = _alert(client, "tok", "fraud", "churn", "ghost")
    assert mixed.status_code == 503, mixed.text
    assert mixed.json()["failed_models"] == ["churn"] and started == ["agentic_mlops__fraud"]
    assert _alert(client, "tok", "ghost").status_code == 404  # in no models file: unknown as before
    assert sqlite_store.audit_trail("churn") == []


def test_a_run_is_started_only_with_its_alerts_recorded(
    one_connection_metadata_db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alerts were recorded after the run's transaction had committed: a state store failing in between left
    a started run without its alert_received rows."""
    from airflow.models import DagRun

    _numbered_trigger_dag(monkeypatch)

    def store_fails(run_id: str, started: bool) -> None:
        raise AlertError(503, alerts.STATE_STORE_UNAVAILABLE)

    with pytest.raises(AlertError):
        alerts.start_run_unless_active("agentic_mlops__fraud", {"alert": {}}, on_found=store_fails)
    with sessionmaker(bind=one_connection_metadata_db)() as session:
        assert session.scalars(sa.select(DagRun)).all() == []  # rolled back with the failed record
    seen: list[tuple[str, bool]] = []
    assert alerts.start_run_unless_active(
        "agentic_mlops__fraud", {"alert": {}}, on_found=lambda *found: seen.append(found)
    ) == ("manual__2", True)  # the second one asked of Airflow: the first was rolled back
    alerts.start_run_unless_active("agentic_mlops__fraud", {"alert": {}}, on_found=lambda *found: seen.append(found))
    assert seen == [("manual__2", True), ("manual__2", False)]


def test_with_the_state_store_down_a_scoped_token_still_gets_the_unknown_models_answer_for_another_teams_model(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The refusal's audit row was written before the answer: the store down made it a 503 where an unknown
    model gets a 404, so the sender learnt the model exists."""
    client = _scoped_app(monkeypatch, _store_down, alerts_team_a={"password": "tok-a", "extra": {"teams": ["team_a"]}})
    outside, unknown = _alert(client, "tok-a", "churn"), _alert(client, "tok-a", "ghost")
    assert (outside.status_code, unknown.status_code) == (404, 404), outside.text
    assert outside.json() == json.loads(unknown.text.replace("ghost", "churn"))
    assert client.started == []
    assert "the refusal of ['churn'] could not be audited" in caplog.text


@pytest.mark.parametrize(
    "odd", [{"other_alerts": 5}, {"other_alerts": "x", "other_alerts_omitted": "n/a"}, {"other_alerts_omitted": -3}]
)
def test_a_hand_written_alert_conf_of_another_shape_is_merged_as_holding_no_other_alerts(odd: dict[str, Any]) -> None:
    """A run triggered by hand with its own ``alert`` conf made every later alert for the model a 500
    (``int('n/a')``, iterating an int) until that run decided."""
    current = {"alert": {"labels": {"severity": "warning"}, "fingerprint": "fp1", **odd}, "note": "kept"}
    new = {
        "alert": {
            "labels": {"severity": "critical"},
            "fingerprint": "fp2",
            "other_alerts": [],
            "other_alerts_omitted": 0,
        }
    }
    merged = alerts.merged_run_conf(current, new)
    assert merged is not None and merged["note"] == "kept"
    assert merged["alert"]["fingerprint"] == "fp2"
    assert [o["fingerprint"] for o in merged["alert"]["other_alerts"]] == ["fp1"]
    assert merged["alert"]["other_alerts_omitted"] == 0


@pytest.mark.parametrize("one_connection_metadata_db", ["postgresql"], indirect=True)  # row locks are PostgreSQL's
@pytest.mark.parametrize("decide", ["scheduled", "queued"])
def test_the_undecided_runs_decide_row_is_locked_while_the_alert_is_merged_into_its_conf(
    one_connection_metadata_db: sa.Engine, monkeypatch: pytest.MonkeyPatch, decide: str
) -> None:
    """A worker starting ``decide`` locks its row, then reads the run's conf (Airflow's task-instance ``run``
    call): unlocked, it could read the conf from before the merge, and the alert answered ``already_running``
    reached no decision. On PostgreSQL the row is locked until the merge commits."""
    calls = _numbered_trigger_dag(monkeypatch)
    dag_id = "agentic_mlops__fraud"
    alerts.start_run_unless_active(dag_id, {"alert": {"summary": "a", "fingerprint": "fp-a"}})
    _set_run(one_connection_metadata_db, "manual__1", state="running", decide=decide)
    other = sa.create_engine(one_connection_metadata_db.url, poolclass=sa.pool.NullPool)
    seen: list[str] = []

    def worker_starts_decide(run_id: str, started: bool) -> None:
        with other.connect() as conn:
            try:
                conn.execute(sa.text("SELECT id FROM task_instance WHERE task_id = 'decide' FOR UPDATE NOWAIT"))
                seen.append("free")
            except sa.exc.OperationalError as err:
                seen.append(type(err.orig).__name__)

    new = {"alert": {"summary": "b", "fingerprint": "fp-b"}}
    assert alerts.start_run_unless_active(dag_id, new, on_found=worker_starts_decide) == ("manual__1", False)
    assert seen == ["LockNotAvailable"]
    with other.connect() as conn:  # the merge committed: the row is free again
        conn.execute(sa.text("SELECT id FROM task_instance WHERE task_id = 'decide' FOR UPDATE NOWAIT"))
    other.dispose()
    assert len(calls) == 1
