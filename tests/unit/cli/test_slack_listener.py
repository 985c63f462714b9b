"""The Socket Mode listener handles clicks like the HTTP endpoint: ack first, same rules, same answers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.socket_mode.request import SocketModeRequest

from airflow_provider_agentic_mlops.cli.commands.slack_listener import SocketModeListener, app_token, make_listener
from airflow_provider_agentic_mlops.cli.output import CommandStopped
from airflow_provider_agentic_mlops.core.state import StateStore
from tests.approval_data import request_approval
from tests.doubles.slack_server import SlackDouble, click_payload, slack_double  # noqa: F401
from tests.doubles.socket_mode import SocketModeDouble, envelope, socket_mode  # noqa: F401


class SocketClient:
    """Stands in for the websocket side only: records the acknowledgements the listener sends."""

    def __init__(self) -> None:
        self.acks: list[str] = []

    def send_socket_mode_response(self, response: Any) -> None:
        self.acks.append(response.envelope_id)


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    s = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.dispose()


def test_a_click_over_socket_mode_is_acknowledged_recorded_and_the_message_updated(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    web = WebClient(token="xoxb", base_url=slack_double.base_url)
    approval = request_approval(
        store,
        approvers=["U_ALICE"],
        channel="C_APPROVALS",
        slack_client=web,
    ).approval
    socket = SocketClient()
    listener = make_listener(store, web)
    listener(socket, SocketModeRequest("interactive", "env-1", click_payload(approval, user_id="U_MALLORY")))
    listener(socket, SocketModeRequest("interactive", "env-2", click_payload(approval, user_id="U_ALICE")))
    assert socket.acks == ["env-1", "env-2"]
    stored = store.get_approval(approval["id"])
    assert (stored["status"], stored["decided_by"], stored["decided_via"]) == ("approved", "U_ALICE", "slack-socket")
    assert "is not an approver" in slack_double.calls_to("chat.postEphemeral")[0].args["text"]
    assert "Approved by <@U_ALICE>" in str(slack_double.calls_to("chat.update")[0].args["blocks"])


def test_the_app_token_and_the_bot_connection_are_looked_up_through_hooks_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One connection lookup (``hooks.connection.get_connection_or_none``) for the listener and approvals, not a
    private alias of it in another module."""
    from airflow_provider_agentic_mlops import approvals
    from airflow_provider_agentic_mlops.hooks import connection

    monkeypatch.setenv("AIRFLOW_CONN_SLACK_SOCKET", '{"conn_type": "slack", "password": "x", "extra": {}}')
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    seen: list[str] = []

    class Found:
        extra_dejson = {"app_token": "xapp-from-the-lookup"}

    monkeypatch.setattr(connection, "get_connection_or_none", lambda conn_id: (seen.append(conn_id), Found())[1])
    assert app_token("slack_socket") == "xapp-from-the-lookup"
    monkeypatch.setattr(connection, "get_connection_or_none", lambda conn_id: (seen.append(conn_id), None)[1])
    approvals._clients.clear()
    assert approvals._slack_client("slack_socket") is None  # the lookup said absent: no Slack messages
    assert seen == ["slack_socket", "slack_socket"]


def test_the_app_token_comes_from_the_connection_extra_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_SOCKET", '{"conn_type": "slack", "password": "x", "extra": {"app_token": "xapp-1"}}'
    )
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    assert app_token("slack_socket") == "xapp-1"
    with pytest.raises(CommandStopped, match="SLACK_APP_TOKEN"):
        app_token("slack_missing")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-env")
    assert app_token("slack_missing") == "xapp-env"


def test_a_click_while_the_state_store_is_down_is_answered_nothing_recorded(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sqlalchemy.exc import OperationalError

    web = WebClient(token="xoxb", base_url=slack_double.base_url)
    approval = request_approval(store, approvers=["U_ALICE"], channel="C_APPROVALS", slack_client=web).approval
    slack_double.clear()

    def down(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("SELECT approvals", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(store, "get_approval", down)
    socket = SocketClient()
    listener = make_listener(store, web)
    with caplog.at_level("WARNING", logger="airflow_provider_agentic_mlops.cli.commands.slack_listener"):
        listener(socket, SocketModeRequest("interactive", "env-down", click_payload(approval, user_id="U_ALICE")))
    assert socket.acks == ["env-down"]
    answers = slack_double.calls_to("chat.postEphemeral")
    assert [(a.args["user"], a.args["channel"]) for a in answers] == [("U_ALICE", "C_APPROVALS")]
    assert "the state store is unavailable. Nothing recorded; click again in a moment" in answers[0].args["text"]
    assert slack_double.calls_to("chat.update") == []
    [line] = [r for r in caplog.records if r.name.endswith("slack_listener")]
    assert "OperationalError" in line.getMessage() and "state store" in line.getMessage()
    assert line.exc_info is None  # one line, not a traceback


def test_clicks_are_acknowledged_while_slack_is_slow_to_answer_and_all_answered_before_the_listener_stops(
    store: StateStore,
    socket_mode: SocketModeDouble,  # noqa: F811
) -> None:
    """More clicks than slack_sdk has workers, with Slack's chat.update not answering: each is acknowledged
    (Slack redelivers what is not acknowledged within 3 s) and recorded; the answers follow once Slack does,
    and closing the listener waits for them."""
    web = WebClient(token="xoxb", base_url=socket_mode.base_url)
    requests = [
        request_approval(store, approvers=["U_ALICE"], channel="C_APPROVALS", slack_client=web, run_id=f"r{i}").approval
        for i in range(12)
    ]
    listener = SocketModeListener(socket_mode.app_token, web, store)
    listener.connect()
    try:
        socket_mode.held_methods.add("chat.update")
        for i, approval in enumerate(requests):
            socket_mode.send(envelope(click_payload(approval, user_id="U_ALICE"), f"env-{i}"))
        # held, chat.update would keep slack_sdk's 10 workers until released: envelopes 11 and 12 unacknowledged
        assert socket_mode.wait_acks(12, timeout=10), f"acknowledged: {socket_mode.acks}"
        assert sorted(socket_mode.acks) == sorted(f"env-{i}" for i in range(12))
        for approval in requests:
            for _ in range(200):
                if store.get_approval(approval["id"])["status"] == "approved":
                    break
                time.sleep(0.05)
            assert store.get_approval(approval["id"])["decided_by"] == "U_ALICE"
    finally:
        socket_mode.release.set()
        listener.close()
    updates = socket_mode.calls_to("chat.update")
    assert len(updates) == 12 and all(u.answer is not None and u.answer["ok"] for u in updates)


def test_a_bot_token_given_as_the_app_level_token_is_refused_naming_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_SOCKET",
        '{"conn_type": "slack", "password": "x", "extra": {"app_token": "xoxb-1-SECRETBOT"}}',
    )
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    with pytest.raises(CommandStopped) as stopped:
        app_token("slack_socket")
    message = str(stopped.value)
    assert "'app_token' extra of Slack connection 'slack_socket'" in message and "xapp-" in message
    assert "App-Level Tokens" in message and "connections:write" in message
    assert "SECRETBOT" not in message and "\n" not in message
    monkeypatch.setenv("SLACK_APP_TOKEN", "xoxb-1-SECRETBOT")
    with pytest.raises(CommandStopped, match="SLACK_APP_TOKEN") as stopped:
        app_token("slack_missing")
    assert "SECRETBOT" not in str(stopped.value)


def test_every_refusal_of_any_token_is_told_wrong_or_revoked_as_core_slack_lists_them(monkeypatch) -> None:
    """The listener's message reads core.slack's list of token refusals, not a copy of it."""
    from airflow_provider_agentic_mlops.cli.commands import slack_listener
    from airflow_provider_agentic_mlops.core import slack

    monkeypatch.setattr(slack_listener, "REFUSED_TOKEN_ERRORS", slack.REFUSED_TOKEN_ERRORS | {"token_disabled"})
    message = slack_listener.refused_token_message("the environment variable SLACK_APP_TOKEN", "token_disabled")
    assert message.startswith("Slack refused the environment variable SLACK_APP_TOKEN: token_disabled,")
    assert "the token is wrong or revoked" in message


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("not_allowed_token_type", "not an app-level token"),
        ("invalid_auth", "wrong or revoked"),
        ("not_authed", "wrong or revoked"),
        ("token_revoked", "wrong or revoked"),
        ("missing_scope", "connections:write"),
        ("team_access_not_granted", "team_access_not_granted"),
    ],
)
def test_a_token_slack_refuses_stops_the_listener_with_one_line_naming_the_connection_and_the_code(
    socket_mode: SocketModeDouble,  # noqa: F811
    code: str,
    says: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow_provider_agentic_mlops.cli.definition import user_error

    socket_mode.connections_open_error = code
    web = WebClient(token="xoxb", base_url=socket_mode.base_url)
    source = "the 'app_token' extra of Slack connection 'slack_socket'"
    listener = SocketModeListener(socket_mode.app_token, web, None, token_source=source)  # no store is reached
    with pytest.raises(CommandStopped) as stopped:
        listener.connect()
    message = user_error(stopped.value)
    assert message is not None and "\n" not in message
    assert "'app_token' extra of Slack connection 'slack_socket'" in message
    assert code in message and says in message
    assert socket_mode.app_token not in message
    assert not [r for r in caplog.records if "WSS URL" in r.getMessage()]  # said once, by the error


def test_every_envelope_is_acknowledged_and_only_interactions_handled(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Slack requires an acknowledgement of every envelope it sends on a Socket Mode connection; an event or a
    slash command left unacknowledged is delivered again (and Slack may turn a failing app's events off). The
    listener handles only button clicks: the others are acknowledged, dropped, and named once in the log."""
    web = WebClient(token="xoxb", base_url=slack_double.base_url)
    socket = SocketClient()
    listener = make_listener(store, web)
    with caplog.at_level("WARNING"):
        listener(socket, SocketModeRequest("events_api", "env-e1", {"type": "event_callback"}))
        listener(socket, SocketModeRequest("events_api", "env-e2", {"type": "event_callback"}))
        listener(socket, SocketModeRequest("slash_commands", "env-s1", {"command": "/deploy"}))
    assert socket.acks == ["env-e1", "env-e2", "env-s1"]
    dropped = [r.getMessage() for r in caplog.records if "handles only button clicks" in r.getMessage()]
    assert len(dropped) == 2, dropped  # once per envelope type, not once per envelope
    assert "'events_api'" in dropped[0] and "'slash_commands'" in dropped[1]
    assert slack_double.calls == []
    assert store.list_approvals() == []


@pytest.mark.parametrize(("required", "ephemerals"), [(1, 0), (2, 1)])
def test_an_envelope_slack_delivers_again_is_acknowledged_and_not_handled_twice(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    required: int,
    ephemerals: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Slack redelivers an envelope it saw no acknowledgement for in time (same envelope id, retry_attempt 1):
    handled once, whichever listener process gets it, as the endpoint refuses a replayed signature."""
    people = '{"alice": {"slack": "U_ALICE"}, "bob": {"slack": "U_BOB"}}'  # two-person requests need them
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__APPROVER_IDENTITIES", people)
    web = WebClient(token="xoxb", base_url=slack_double.base_url)
    approval = request_approval(
        store, approvers=["U_ALICE", "U_BOB"], required_approvals=required, channel="C_APPROVALS", slack_client=web
    ).approval
    slack_double.clear()
    other_process = StateStore(store.url)  # a second listener on the same store
    try:
        socket = SocketClient()
        payload = click_payload(approval, user_id="U_ALICE")
        make_listener(store, web)(socket, SocketModeRequest("interactive", "env-1", payload))
        make_listener(store, web)(socket, SocketModeRequest("interactive", "env-1", payload, retry_attempt=1))
        make_listener(other_process, web)(socket, SocketModeRequest("interactive", "env-1", payload, retry_attempt=2))
    finally:
        other_process.dispose()
    assert socket.acks == ["env-1", "env-1", "env-1"]
    stored = store.get_approval(approval["id"])
    assert [(v["user_id"], v["vote"]) for v in stored["votes"]] == [("alice", "approve")]
    assert len(slack_double.calls_to("chat.update")) == 1
    assert len(slack_double.calls_to("chat.postEphemeral")) == ephemerals


@pytest.mark.parametrize("code", ["token_revoked", "invalid_auth", "account_inactive"])
def test_a_token_slack_refuses_at_a_reconnect_stops_the_listener_with_an_error(
    code: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After startup slack_sdk reconnects on its own and would retry a refused token every few seconds forever
    while the process stays up: the listener stops instead, and its command exits with the error."""
    import asyncio

    from tests.doubles.slack_server import SlackServer
    from tests.doubles.socket_mode import SocketModeServer

    double = SocketModeDouble()
    with SlackServer(double):
        server = SocketModeServer(double)
        try:
            web = WebClient(token="xoxb", base_url=double.base_url)
            source = "the 'app_token' extra of Slack connection 'slack_socket'"
            listener = SocketModeListener(double.app_token, web, None, token_source=source)
            listener.connect()
            assert not listener.stopped.is_set()
            double.connections_open_error = code  # the token was revoked meanwhile
            asyncio.run_coroutine_threadsafe(server.connections[-1].close(code=1001), server._loop).result(5)
            assert listener.stopped.wait(30), "the listener kept reconnecting with a refused token"
            with pytest.raises(CommandStopped, match=code) as stopped:
                listener.wait()
            assert "'app_token' extra of Slack connection 'slack_socket'" in str(stopped.value)
            assert double.app_token not in str(stopped.value)
            assert [r for r in caplog.records if r.levelname == "ERROR" and code in r.getMessage()]
        finally:
            server.close()


def test_a_click_that_fails_for_another_reason_is_answered_and_logged_nothing_recorded(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After the acknowledgement Slack never hears of a failure: an error that is not the store's (here an identity
    map that is not JSON) is told to the clicker, escaped, and logged in one line, not dropped."""
    web = WebClient(token="xoxb", base_url=slack_double.base_url)
    approval = request_approval(store, approvers=["U_ALICE"], channel="C_APPROVALS", slack_client=web).approval
    slack_double.clear()
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__APPROVER_IDENTITIES", "{not json <!channel>")
    socket = SocketClient()
    with caplog.at_level("WARNING", logger="airflow_provider_agentic_mlops.cli.commands.slack_listener"):
        make_listener(store, web)(
            socket, SocketModeRequest("interactive", "env-bad", click_payload(approval, user_id="U_ALICE"))
        )
    assert socket.acks == ["env-bad"]
    [answer] = slack_double.calls_to("chat.postEphemeral")
    text = answer.args["text"]
    assert text.startswith("Could not record your click: ") and text.endswith("; nothing recorded.")
    assert "APPROVER_IDENTITIES" in text or "approver_identities" in text
    assert "<!channel>" not in text  # escaped
    assert store.get_approval(approval["id"])["status"] == "pending"
    [line] = [r for r in caplog.records if r.name.endswith("slack_listener")]
    assert "not recorded" in line.getMessage() and line.exc_info is None


def test_clicks_are_acknowledged_while_recording_them_waits(
    store: StateStore,
    socket_mode: SocketModeDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Recording a click can wait (a row lock, a slow database, Slack's usergroup lookup): more such clicks than
    slack_sdk has workers are each acknowledged while none is recorded yet (Slack redelivers what is not
    acknowledged within 3 s), and all are recorded once the wait ends."""
    import threading

    web = WebClient(token="xoxb", base_url=socket_mode.base_url)
    requests = [
        request_approval(store, approvers=["U_ALICE"], channel="C_APPROVALS", slack_client=web, run_id=f"r{i}").approval
        for i in range(12)
    ]
    unblocked, read = threading.Event(), store.get_approval

    def blocked(*args: Any, **kwargs: Any) -> Any:
        unblocked.wait(60)
        return read(*args, **kwargs)

    monkeypatch.setattr(store, "get_approval", blocked)
    listener = SocketModeListener(socket_mode.app_token, web, store)
    listener.connect()
    try:
        for i, approval in enumerate(requests):
            socket_mode.send(envelope(click_payload(approval, user_id="U_ALICE"), f"env-{i}"))
        # slack_sdk has 10 workers: recording in them left envelopes 11 and 12 unacknowledged until one finished
        assert socket_mode.wait_acks(12, timeout=10), f"acknowledged: {socket_mode.acks}"
    finally:
        unblocked.set()
        listener.close()  # returns once the clicks in flight are recorded
    assert [read(a["id"])["decided_by"] for a in requests] == ["U_ALICE"] * 12
