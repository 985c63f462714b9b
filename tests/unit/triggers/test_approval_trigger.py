"""ApprovalTrigger: polls the state store in a thread and fires one event for the sensor."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from airflow_provider_agentic_mlops.core.state import StateStore, utcnow
from airflow_provider_agentic_mlops.triggers.approval import ApprovalTrigger


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    s = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.dispose()


def _approval(store: StateStore, hours: float = 1.0) -> dict:
    approval, _ = store.request_approval(
        "fraud", "7", dag_id="d", run_id="r", expires_at=utcnow() + timedelta(hours=hours)
    )
    return approval


def _first_event(trigger: ApprovalTrigger) -> dict:
    async def first() -> dict:
        gen = trigger.run()
        event = await asyncio.wait_for(gen.__anext__(), timeout=30)
        await gen.aclose()
        return event.payload

    return asyncio.run(first())


def test_serialize_round_trips(store: StateStore) -> None:
    trigger = ApprovalTrigger(3, store.url, "2026-01-01T00:00:00", "2025-12-31T12:00:00", 5)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_agentic_mlops.triggers.approval.ApprovalTrigger"
    assert ApprovalTrigger(**kwargs).serialize() == (path, kwargs)


def test_fires_when_someone_decides_while_it_polls(store: StateStore) -> None:
    approval = _approval(store)
    trigger = ApprovalTrigger(approval["id"], store.url, approval["expires_at"].isoformat(), poll_interval=0.05)
    timer = threading.Timer(0.3, lambda: store.decide_approval(approval["id"], approve=True, user="U1", via="slack"))
    timer.start()
    try:
        event = _first_event(trigger)
    finally:
        timer.join()
    assert event == {"status": "approved", "approval_id": approval["id"], "decided_by": "U1"}


def test_fires_due_at_the_deadline_without_deciding_itself(store: StateStore) -> None:
    approval = _approval(store, hours=-1)
    event = _first_event(ApprovalTrigger(approval["id"], store.url, approval["expires_at"].isoformat()))
    assert event == {"status": "due", "approval_id": approval["id"]}
    assert store.get_approval(approval["id"])["status"] == "pending"


def test_fires_remind_when_a_reminder_is_due(store: StateStore) -> None:
    approval = _approval(store)
    remind_at = (utcnow() - timedelta(seconds=1)).isoformat()
    event = _first_event(ApprovalTrigger(approval["id"], store.url, approval["expires_at"].isoformat(), remind_at))
    assert event["status"] == "remind"


def test_reports_an_error_when_the_request_does_not_exist(store: StateStore) -> None:
    event = _first_event(ApprovalTrigger(12345, store.url, utcnow().isoformat()))
    assert event["status"] == "error" and "12345" in event["message"]
