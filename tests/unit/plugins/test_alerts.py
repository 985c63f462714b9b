"""Alert parsing and credential checks of the alerts endpoint (no Airflow; the endpoint itself is
tested over HTTP in tests/integration/test_alerts_endpoint.py), and its audit rows on each store."""

from __future__ import annotations

import base64

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from airflow_provider_agentic_mlops.core.schema import audit
from airflow_provider_agentic_mlops.core.state import StateStore
from airflow_provider_agentic_mlops.plugins import alerts
from airflow_provider_agentic_mlops.plugins.alerts import MAX_TEXT, AlertError, authenticate, parse_alerts
from airflow_provider_agentic_mlops.plugins.app import AppSettings, create_app


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_grafana_and_alertmanager_payloads_are_told_apart_by_grafanas_org_id() -> None:
    alert = {"status": "firing", "labels": {"model": "m"}}
    assert parse_alerts({"alerts": [alert], "orgId": 1})[0].source == "grafana"
    assert parse_alerts({"alerts": [alert], "version": "4"})[0].source == "alertmanager"


def test_the_model_comes_from_the_configured_label_else_from_common_labels() -> None:
    payload = {
        "status": "firing",
        "commonLabels": {"service": "churn"},
        "alerts": [{"labels": {"service": "fraud"}}, {"labels": {"severity": "page"}}],
    }
    assert [a.model for a in parse_alerts(payload, model_label="service")] == ["fraud", "churn"]
    assert [a.status for a in parse_alerts(payload, model_label="service")] == ["firing", "firing"]


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
    monkeypatch.setattr(alerts, "_credentials", lambda conn_id: (None, "tok"))
    monkeypatch.setattr(alerts, "known_models", lambda: {"fraud": {"dag_id": "agentic_mlops__fraud", "paused": False}})
    monkeypatch.setattr(alerts, "start_run_unless_active", lambda dag_id, conf: ("run-1", True))
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
