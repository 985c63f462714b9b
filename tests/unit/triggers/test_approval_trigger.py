"""ApprovalTrigger: polls the state store in a thread and fires one event for the sensor."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_agentic_mlops.core.state import StateStore, utcnow
from airflow_provider_agentic_mlops.triggers.approval import ApprovalTrigger

CONN_ID = "agentic_mlops_state_trigger"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateStore:
    s = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": s.url}})
    )
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
    trigger = ApprovalTrigger(3, CONN_ID, "2026-01-01T00:00:00", "2025-12-31T12:00:00", 5)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_agentic_mlops.triggers.approval.ApprovalTrigger"
    assert ApprovalTrigger(**kwargs).serialize() == (path, kwargs)


def test_fires_when_someone_decides_while_it_polls(store: StateStore) -> None:
    approval = _approval(store)
    trigger = ApprovalTrigger(approval["id"], CONN_ID, approval["expires_at"].isoformat(), poll_interval=0.05)
    timer = threading.Timer(0.3, lambda: store.decide_approval(approval["id"], approve=True, user="U1", via="slack"))
    timer.start()
    try:
        event = _first_event(trigger)
    finally:
        timer.join()
    assert event == {"status": "approved", "approval_id": approval["id"], "decided_by": "U1"}


def test_fires_due_at_the_deadline_without_deciding_itself(store: StateStore) -> None:
    approval = _approval(store, hours=-1)
    event = _first_event(ApprovalTrigger(approval["id"], CONN_ID, approval["expires_at"].isoformat()))
    assert event == {"status": "due", "approval_id": approval["id"]}
    assert store.get_approval(approval["id"])["status"] == "pending"


def test_fires_remind_when_a_reminder_is_due(store: StateStore) -> None:
    approval = _approval(store)
    remind_at = (utcnow() - timedelta(seconds=1)).isoformat()
    event = _first_event(ApprovalTrigger(approval["id"], CONN_ID, approval["expires_at"].isoformat(), remind_at))
    assert event["status"] == "remind"


def test_reports_an_error_when_the_request_does_not_exist(store: StateStore) -> None:
    event = _first_event(ApprovalTrigger(12345, CONN_ID, utcnow().isoformat()))
    assert event["status"] == "error" and "12345" in event["message"]


def test_never_migrates_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migrations run in `airflow agentic-mlops db migrate` or at first use by a worker/API server, never in
    the triggerer: an unmigrated store stays untouched and the trigger fails."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_EMPTY_STATE", json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": url}})
    )
    with pytest.raises(sa.exc.OperationalError, match="no such table"):
        _first_event(ApprovalTrigger(1, "empty_state", utcnow().isoformat()))
    assert sa.inspect(sa.create_engine(url)).get_table_names() == []


def test_a_dropped_connection_is_retried_not_a_trigger_failure(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    from airflow_provider_agentic_mlops.triggers import approval as trigger_module

    approval = _approval(store)
    store.decide_approval(approval["id"], approve=True, user="U1", via="cli")
    trigger_store = StateStore(store.url, migrate=False)
    real_read = trigger_store._read
    failures = [sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))] * 2

    def flaky_read():
        if failures:
            raise failures.pop()
        return real_read()

    monkeypatch.setattr(trigger_store, "_read", flaky_read)
    monkeypatch.setitem(trigger_module._stores, store.url, trigger_store)
    event = _first_event(ApprovalTrigger(approval["id"], CONN_ID, approval["expires_at"].isoformat()))
    assert event["status"] == "approved" and failures == []


def test_an_outage_longer_than_the_read_retries_keeps_the_trigger_waiting(
    store: StateStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A failover lasts longer than one read's retries: the trigger logs and polls again, it does not fail."""
    import sqlalchemy as sa
    import tenacity

    from airflow_provider_agentic_mlops.triggers import approval as trigger_module

    monkeypatch.setattr(StateStore.get_approval.retry, "wait", tenacity.wait_none())  # the outage, without its time
    approval = _approval(store)
    store.decide_approval(approval["id"], approve=True, user="U1", via="cli")
    trigger_store = StateStore(store.url, migrate=False)
    real_read = trigger_store._read
    refused = sa.exc.OperationalError("SELECT", {}, Exception("could not connect to server: Connection refused"))
    failures = [refused] * 14  # two reads' worth of retries, and then some

    def down_read():
        if failures:
            raise failures.pop()
        return real_read()

    monkeypatch.setattr(trigger_store, "_read", down_read)
    monkeypatch.setitem(trigger_module._stores, store.url, trigger_store)
    trigger = ApprovalTrigger(approval["id"], CONN_ID, approval["expires_at"].isoformat(), poll_interval=0.01)
    event = _first_event(trigger)
    assert event["status"] == "approved" and failures == []
    assert "Connection refused" in caplog.text


def _lookup_fails(times: int | None, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``resolve_state_url`` failing like a connection lookup does while the Execution API or the
    metadata DB is unreachable: ``times`` times (None: always), then as usual. Returns the ids looked up."""
    from airflow_provider_agentic_mlops.hooks import state as state_hook
    from airflow_provider_agentic_mlops.hooks.connection import ConnectionLookupFailed

    real = state_hook.resolve_state_url
    calls: list[str] = []

    def resolve(conn_id: str | None) -> str:
        calls.append(conn_id)
        if times is None or len(calls) <= times:
            raise ConnectionLookupFailed(
                conn_id, "ExecutionAPISecretsBackend", ConnectionError("API server restarting")
            )
        return real(conn_id)

    monkeypatch.setattr(state_hook, "resolve_state_url", resolve)
    return calls


def test_a_connection_lookup_failing_when_the_trigger_starts_is_polled_through(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lookup ran once, before the polling loop: a triggerer restarting while the Execution API or the
    metadata DB blipped raised out of run(), Airflow failed the task and the sensor's failure callback
    cancelled the approval; the docstring promised an outage does not fail the run."""
    approval = _approval(store)
    store.decide_approval(approval["id"], approve=True, user="U1", via="cli")
    calls = _lookup_fails(2, monkeypatch)
    trigger = ApprovalTrigger(approval["id"], CONN_ID, approval["expires_at"].isoformat(), poll_interval=0.01)
    event = _first_event(trigger)
    assert event["status"] == "approved" and calls == [CONN_ID] * 3


def test_a_connection_lookup_failing_until_the_deadline_fires_due_for_the_sensor(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    approval = _approval(store, hours=-1)
    _lookup_fails(None, monkeypatch)
    event = _first_event(ApprovalTrigger(approval["id"], CONN_ID, approval["expires_at"].isoformat()))
    assert event == {"status": "due", "approval_id": approval["id"]}


def test_a_state_connection_that_does_not_exist_still_fails_the_trigger(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not an outage: a wrong id must be fixed, not waited out."""
    from airflow_provider_agentic_mlops.hooks.state import StateConnectionNotFound

    with pytest.raises(StateConnectionNotFound):
        _first_event(ApprovalTrigger(1, "no_such_state_conn", utcnow().isoformat(), poll_interval=0.01))


def test_a_typo_in_the_state_connections_settings_fails_the_trigger_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """libpq refuses ``sslmode=requre`` without a SQLSTATE, before any statement, as it refuses a database that
    is down: a fault to fix, not an outage polled until the request's deadline an hour away."""
    import sqlalchemy as sa

    url = "postgresql+psycopg2://postgres@127.0.0.1:5432/agentic_mlops_typo?sslmode=requre"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": url}})
    )
    deadline = (utcnow() + timedelta(hours=1)).isoformat()
    with pytest.raises(sa.exc.OperationalError, match='invalid sslmode value: "requre"'):
        _first_event(ApprovalTrigger(1, CONN_ID, deadline, poll_interval=0.01))


def test_a_database_refusing_connections_for_longer_than_a_read_keeps_the_trigger_polling(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``ALLOW_CONNECTIONS false`` with its backends terminated, on a real PostgreSQL: libpq's "database ... is
    not currently accepting connections" carries no SQLSTATE. It failed the trigger (the sensor's try, then its
    run, long before the request's deadline); it is polled through, and the decision taken meanwhile fires."""
    import sqlalchemy as sa
    import tenacity

    from airflow_provider_agentic_mlops.triggers import approval as trigger_module
    from tests.conftest import _pg_admin

    monkeypatch.setattr(StateStore.get_approval.retry, "wait", tenacity.wait_none())  # the outage, without its time
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": pg_url}})
    )
    name = pg_url.rsplit("/", 1)[1]
    store = StateStore(pg_url)
    trigger_store = StateStore(pg_url, migrate=False)
    try:
        approval = _approval(store)
        store.decide_approval(approval["id"], approve=True, user="U1", via="cli")
        store.dispose()
        _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        _pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        refused: list[BaseException] = []

        @sa.event.listens_for(trigger_store.engine, "handle_error")
        def count_refusals(context: Any) -> None:
            refused.append(context.original_exception)
            if len(refused) == 14:  # two reads' worth of retries: the outage outlasted them
                _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

        monkeypatch.setitem(trigger_module._stores, pg_url, trigger_store)
        trigger = ApprovalTrigger(approval["id"], CONN_ID, approval["expires_at"].isoformat(), poll_interval=0.01)
        event = _first_event(trigger)
    finally:
        _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        trigger_store.dispose()
        store.dispose()
    assert event["status"] == "approved" and len(refused) == 14
    assert "is not currently accepting connections" in str(refused[0])
    assert "is not currently accepting connections" in caplog.text
