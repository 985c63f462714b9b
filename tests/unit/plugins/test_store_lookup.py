"""The plugin's deployment store (connection ``agentic_mlops_state_default`` in Airflow's metadata DB) while
that DB is down: the lookup fails, it is not taken for an absent connection (which means SQLite under
$AIRFLOW_HOME), and the plugin opens the connection's store once the DB is back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from airflow_provider_agentic_mlops.core.state import StateStore
from airflow_provider_agentic_mlops.plugins.app import AppSettings, StoreUnavailable, create_app
from tests.approval_data import request_approval
from tests.conftest import ServerMetadataDB
from tests.doubles.slack_server import click_payload, sign_interaction

SECRET = "store-lookup-secret"


class _Slack:
    """A Slack Web API that accepts every call and remembers the ephemeral answers."""

    def __init__(self) -> None:
        self.ephemeral: list[str] = []

    def chat_postMessage(self, **kwargs: Any) -> dict[str, str]:
        return {"channel": "C1", "ts": "1700000000.000001"}

    def chat_update(self, **kwargs: Any) -> dict[str, Any]:
        return {}

    def chat_postEphemeral(self, **kwargs: Any) -> dict[str, Any]:
        self.ephemeral.append(kwargs["text"])
        return {}


def test_a_click_while_the_metadata_db_is_down_is_not_answered_from_a_local_sqlite_store(
    server_metadata_db: ServerMetadataDB, airflow_home: Path, tmp_path: Path, monkeypatch
) -> None:
    """The lookup used to read "isn't defined": the plugin opened $AIRFLOW_HOME/agentic_mlops.db, kept it
    until the API server restarted, and answered every click "Request #N does not exist"."""
    monkeypatch.delenv("AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID", raising=False)
    url = f"sqlite:///{tmp_path / 'deployment.db'}"
    server_metadata_db.add_connection(
        "agentic_mlops_state_default", conn_type="agentic_mlops_state", extra=json.dumps({"url": url})
    )
    slack = _Slack()
    store = StateStore(url)
    try:
        asked = request_approval(store, approvers=["U_ALICE"], channel="C1", slack_client=slack).approval
        settings = AppSettings(signing_secret=SECRET, slack_client=slack)
        root = FastAPI()
        root.mount("/agentic-mlops", create_app(settings))
        client = TestClient(root)

        def click(trigger: str) -> Any:
            payload = click_payload(asked, approve=True, user_id="U_ALICE")
            payload["trigger_id"] = trigger
            body, headers = sign_interaction(payload, SECRET)
            return client.post("/agentic-mlops/slack/interactions", content=body, headers=headers)

        server_metadata_db.down()
        refused = click("t1")
        assert refused.status_code == 503, refused.text
        detail = refused.json()["detail"]
        assert "'agentic_mlops_state_default'" in detail
        assert "Airflow's metadata database ([database] sql_alchemy_conn)" in detail and "airflow db check" in detail
        assert not (airflow_home / "agentic_mlops.db").exists()
        assert slack.ephemeral == []

        server_metadata_db.up()
        decided = click("t2")
        assert decided.status_code == 200, decided.text
        assert decided.headers["x-agentic-mlops-outcome"] == "recorded"
        assert settings.get_store().url == url
        assert store.get_approval(asked["id"])["status"] == "approved"
        assert not (airflow_home / "agentic_mlops.db").exists()
    finally:
        store.dispose()


def test_the_apps_shared_objects_are_made_once_even_on_concurrent_first_use_and_a_failed_one_again() -> None:
    from concurrent.futures import ThreadPoolExecutor

    opened: list[int] = []

    def open_store() -> Any:
        opened.append(1)
        if len(opened) == 1:
            raise ValueError("database down")
        return object()

    settings = AppSettings(signing_secret=SECRET, store=open_store)
    with ThreadPoolExecutor(max_workers=8) as pool:
        facts = set(map(id, pool.map(lambda _: settings.get_facts("store-a"), range(32))))
    assert len(facts) == 1 and settings.get_facts("store-a") is not settings.get_facts("")
    with pytest.raises(StoreUnavailable, match="given to the app"):
        settings.get_store()
    store = settings.get_store()  # tried again, then kept
    assert settings.get_store() is store and len(opened) == 2
    assert settings._failed == {}  # the failure (its traceback's frames) is not kept once the store is open
