"""``airflow agentic-mlops approvals list|approve|deny``: the same store and rules as Slack."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from pathlib import Path

import pytest

from airflow_provider_agentic_mlops import approvals
from airflow_provider_agentic_mlops.cli.commands.approvals import approvals_approve, approvals_deny, approvals_list
from airflow_provider_agentic_mlops.core.state import StateStore, default_sqlite_url, utcnow
from tests.doubles.slack_server import SlackDouble, slack_connection, slack_double  # noqa: F401

CONN = "agentic_mlops_state_cli_test"  # does not exist: SQLite in $AIRFLOW_HOME


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateStore:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    approvals._clients.clear()
    s = StateStore(default_sqlite_url(tmp_path))
    yield s
    s.dispose()
    approvals._clients.clear()


def _args(**kwargs: object) -> argparse.Namespace:
    defaults = {"state_conn_id": CONN, "output": "table", "user": "alice", "reason": None, "status": "pending"}
    return argparse.Namespace(**{**defaults, **kwargs})


def _request(store: StateStore, run_id: str = "r1", **kwargs: object) -> int:
    return approvals.request(
        store,
        model_name="fraud",
        model_version="7",
        dag_id="agentic_mlops__fraud",
        run_id=run_id,
        expires_at=utcnow() + timedelta(hours=1),
        **kwargs,  # type: ignore[arg-type]
    ).approval["id"]


def test_list_shows_pending_requests_with_their_vote_count(store: StateStore, capsys: pytest.CaptureFixture) -> None:
    approval_id = _request(store, required_approvals=2)
    _request(store, run_id="r2")
    approvals.decide(store, approval_id, approve=True, user="bob", via="cli")
    approvals_list(_args(output="json"))
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"]: r["approvals"] for r in rows} == {approval_id: "1/2", approval_id + 1: "0/1"}


def test_approve_records_the_decision_with_the_cli_user(store: StateStore, capsys: pytest.CaptureFixture) -> None:
    approval_id = _request(store)
    approvals_approve(_args(approval_id=approval_id, reason="metrics look good"))
    assert f"Request {approval_id}: Approved by alice (status: approved)" in capsys.readouterr().out
    stored = store.get_approval(approval_id)
    assert (stored["decided_by"], stored["decided_via"], stored["reason"]) == ("alice", "cli", "metrics look good")


def test_a_second_decision_is_refused_with_exit_status_1_and_says_who_decided(
    store: StateStore, capsys: pytest.CaptureFixture
) -> None:
    approval_id = _request(store)
    approvals_approve(_args(approval_id=approval_id))
    with pytest.raises(SystemExit) as exit_info:
        approvals_deny(_args(approval_id=approval_id, user="mallory"))
    assert exit_info.value.code == 1
    assert "already approved by alice" in capsys.readouterr().out
    assert store.get_approval(approval_id)["status"] == "approved"


def test_cli_decisions_ignore_the_slack_allowlist(store: StateStore) -> None:
    approval_id = _request(store, approvers=[])
    approvals_deny(_args(approval_id=approval_id, user="ops-admin"))
    assert store.get_approval(approval_id)["status"] == "denied"


def test_an_unknown_id_exits_with_how_to_list_requests(store: StateStore) -> None:
    with pytest.raises(SystemExit, match="approval 404 does not exist; list pending ones with"):
        approvals_approve(_args(approval_id=404))


def test_the_user_defaults_to_the_login_name(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "loginname")
    approval_id = _request(store)
    approvals_approve(_args(approval_id=approval_id, user=None))
    assert store.get_approval(approval_id)["decided_by"] == "loginname"


def test_a_cli_decision_updates_the_slack_message(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    from slack_sdk import WebClient

    client = WebClient(token="xoxb", base_url=slack_double.base_url)
    approval_id = _request(store, slack_conn_id=slack_connection, channel="C_APPROVALS", slack_client=client)
    approvals_deny(_args(approval_id=approval_id, reason="not now"))
    updates = slack_double.calls_to("chat.update")
    assert len(updates) == 1 and "Denied by alice via cli" in json.dumps(updates[0].args["blocks"])


def test_the_lead_wires_these_functions_to_airflow_agentic_mlops_approvals(store: StateStore) -> None:
    from airflow_provider_agentic_mlops.cli.definition import main

    approval_id = _request(store)
    main(["approvals", "approve", str(approval_id), "--user", "carol", "--state-conn-id", CONN])
    assert store.get_approval(approval_id)["decided_by"] == "carol"
