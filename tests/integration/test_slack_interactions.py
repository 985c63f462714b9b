"""The Slack interactions endpoint served for real (uvicorn on 127.0.0.1, ephemeral port), mounted at
``/agentic-mlops`` as Airflow's API server mounts it, driven by signed payloads over HTTP.

Slack is the local Web API test double; the store is SQLite (and PostgreSQL for the concurrency test).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from slack_sdk import WebClient

from airflow_provider_agentic_mlops import approvals
from airflow_provider_agentic_mlops.core.state import StateStore, utcnow
from airflow_provider_agentic_mlops.plugins.app import AppSettings, create_app
from tests.doubles.slack_server import (  # noqa: F401
    SlackDouble,
    click_payload,
    sign_interaction,
    slack_connection,
    slack_double,
)

pytestmark = pytest.mark.slow

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
APPROVERS = ["U_ALICE", "U_BOB"] + [f"U_{i:02d}" for i in range(50)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    url: str
    store: StateStore
    slack: SlackDouble

    def request(self, **overrides: object) -> dict:
        kwargs = {
            "model_name": "fraud",
            "model_version": "7",
            "dag_id": "agentic_mlops__fraud",
            "run_id": f"run-{time.monotonic_ns()}",
            "expires_at": utcnow() + timedelta(hours=1),
            "approvers": APPROVERS,
            "channel": "C_APPROVALS",
            "slack_client": WebClient(token="xoxb-test", base_url=self.slack.base_url),
            **overrides,
        }
        return approvals.request(self.store, **kwargs).approval  # type: ignore[arg-type]

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{self.url}/agentic-mlops/slack/interactions", content=body, headers=headers, timeout=30)

    def click(self, approval: dict | int, **kwargs: object) -> httpx.Response:
        """A signed click on ``approval``'s posted message (an id alone: a message it was not posted as)."""
        return self.post(*sign_interaction(click_payload(approval, **kwargs), SECRET))  # type: ignore[arg-type]


def wait_until(condition: Callable[[], bool], what: str, limit_s: float = 20.0) -> None:
    """Background Slack answers run after the HTTP response; wait for them (a bound, not a timing assertion)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


def serve(app: FastAPI) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, "uvicorn started")
    return server, thread, f"http://127.0.0.1:{port}"


def _served(store: StateStore, slack: SlackDouble, settings: AppSettings) -> Iterator[Served]:
    root = FastAPI()
    root.mount("/agentic-mlops", create_app(settings))
    server, thread, url = serve(root)
    try:
        yield Served(url, store, slack)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def served(sqlite_store: StateStore, slack_double: SlackDouble) -> Iterator[Served]:  # noqa: F811
    client = WebClient(token="xoxb-test", base_url=slack_double.base_url)
    yield from _served(
        sqlite_store, slack_double, AppSettings(signing_secret=SECRET, store=sqlite_store, slack_client=client)
    )


@pytest.fixture
def two_people(monkeypatch: pytest.MonkeyPatch) -> None:
    """U_ALICE and U_BOB are the Airflow users alice and bob (two-person requests need mapped people)."""
    monkeypatch.setenv(
        "AIRFLOW__AGENTIC_MLOPS__APPROVER_IDENTITIES",
        json.dumps({"alice": {"slack": "U_ALICE"}, "bob": {"slack": "U_BOB"}}),
    )


def outcome(response: httpx.Response) -> str:
    return response.headers.get("x-agentic-mlops-outcome", "")


def test_a_signed_click_from_an_approver_is_recorded_and_the_message_updated(served: Served) -> None:
    approval = served.request()
    response = served.click(approval, user_id="U_ALICE")
    assert response.status_code == 200 and outcome(response) == "recorded"
    stored = served.store.get_approval(approval["id"])
    assert stored["status"] == "approved" and stored["decided_by"] == "U_ALICE" and stored["decided_via"] == "slack"
    wait_until(lambda: served.slack.calls_to("chat.update"), "message updated")
    update = served.slack.calls_to("chat.update")[0]
    assert update.args["ts"] == approval["slack_ts"]
    assert "Approved by <@U_ALICE>" in json.dumps(update.args["blocks"])


def test_a_forged_signature_is_401_and_records_nothing(served: Served) -> None:
    approval = served.request()
    body, headers = sign_interaction(click_payload(approval), "not-the-secret")
    response = served.post(body, headers)
    assert response.status_code == 401
    assert served.store.get_approval(approval["id"])["votes"] == []


def test_a_stale_timestamp_is_401_even_with_a_valid_signature(served: Served) -> None:
    approval = served.request()
    response = served.post(*sign_interaction(click_payload(approval), SECRET, timestamp=int(time.time()) - 301))
    assert response.status_code == 401
    assert served.store.get_approval(approval["id"])["status"] == "pending"


@pytest.mark.parametrize("timestamp", ["9" * 400, "9" * 4300, "1e9", "-1"])
def test_a_timestamp_that_is_not_a_few_digits_is_401_not_a_500(served: Served, timestamp: str) -> None:
    # slack_sdk raises OverflowError for 309 to 4,300 digits: an unauthenticated 500 with a traceback
    approval = served.request()
    body, headers = sign_interaction(click_payload(approval), SECRET)
    response = served.post(body, {**headers, "X-Slack-Request-Timestamp": timestamp})
    assert response.status_code == 401 and outcome(response) == "bad_signature"
    assert served.store.get_approval(approval["id"])["votes"] == []


def test_a_tampered_body_is_401(served: Served) -> None:
    approval = served.request()
    body, headers = sign_interaction(click_payload(approval, user_id="U_MALLORY"), SECRET)
    tampered = body.replace(b"U_MALLORY", b"U_ALICE")
    assert tampered != body
    response = served.post(tampered, headers)
    assert response.status_code == 401
    assert served.store.get_approval(approval["id"])["votes"] == []


def test_missing_signature_headers_are_401(served: Served) -> None:
    approval = served.request()
    body, _ = sign_interaction(click_payload(approval), SECRET)
    response = served.post(body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 401


def test_a_replayed_request_is_refused_and_records_once(served: Served, two_people: None) -> None:
    approval = served.request(required_approvals=2)
    body, headers = sign_interaction(click_payload(approval, user_id="U_ALICE"), SECRET)
    first, replay = served.post(body, headers), served.post(body, headers)
    assert (first.status_code, outcome(first)) == (200, "recorded")
    assert (replay.status_code, outcome(replay)) == (409, "replayed")
    assert [v["user_id"] for v in served.store.get_approval(approval["id"])["votes"]] == ["alice"]


def test_a_click_writes_its_vote_and_its_signature_in_one_transaction(served: Served) -> None:
    from tests.sql_statements import statements_on

    approval = served.request()
    with statements_on(served.store.engine) as seen:
        response = served.click(approval, user_id="U_ALICE")
    assert (response.status_code, outcome(response)) == (200, "recorded")
    assert seen.count("BEGIN IMMEDIATE") == 1, seen
    body, headers = sign_interaction(click_payload(approval, user_id="U_BOB"), SECRET)
    with statements_on(served.store.engine) as seen:  # a click that writes nothing but its signature
        assert outcome(served.post(body, headers)) == "already_decided"
    assert seen.count("BEGIN IMMEDIATE") == 1, seen
    assert outcome(served.post(body, headers)) == "replayed"


def test_a_replayed_refusal_is_refused_and_audited_once(served: Served) -> None:
    approval = served.request()
    body, headers = sign_interaction(click_payload(approval, user_id="U_MALLORY"), SECRET)
    first, replay = served.post(body, headers), served.post(body, headers)
    assert (first.status_code, outcome(first)) == (200, "refused")
    assert (replay.status_code, outcome(replay)) == (409, "replayed")
    refusals = [e for e in served.store.audit_trail(limit=1000) if e["action"] == "approval_refused"]
    assert len(refusals) == 1 and refusals[0]["actor"] == "U_MALLORY"
    assert served.store.get_approval(approval["id"])["votes"] == []


def test_a_fresh_signature_for_the_same_click_is_still_one_vote(served: Served, two_people: None) -> None:
    approval = served.request(required_approvals=2)
    first = served.click(approval, user_id="U_ALICE")
    again = served.click(approval, user_id="U_ALICE", action_ts="2.0")
    assert outcome(first) == "recorded" and outcome(again) == "not_recorded"
    assert len(served.store.get_approval(approval["id"])["votes"]) == 1
    wait_until(lambda: len(served.slack.calls_to("chat.postEphemeral")) == 2, "two ephemeral answers")
    texts = sorted(c.args["text"] for c in served.slack.calls_to("chat.postEphemeral"))
    assert "Alice already voted" in texts[0] and "Approval 1 of 2 recorded from alice" in texts[1]


@pytest.mark.parametrize("user", ["U_UNKNOWN_TO_EVERYONE", "U_MALLORY"])
def test_a_user_outside_the_allowlist_is_refused_and_told_so(served: Served, user: str) -> None:
    served.slack.usergroups["S_OTHER"] = ["U_MALLORY"]  # a real workspace member, but of another group
    approval = served.request()
    response = served.click(approval, user_id=user)
    assert response.status_code == 200 and outcome(response) == "refused"
    assert served.store.get_approval(approval["id"])["status"] == "pending"
    wait_until(lambda: served.slack.calls_to("chat.postEphemeral"), "ephemeral refusal")
    ephemeral = served.slack.calls_to("chat.postEphemeral")[0]
    assert ephemeral.args["user"] == user and "is not an approver" in ephemeral.args["text"]


def test_a_request_without_approvers_refuses_every_slack_click(served: Served) -> None:
    approval = served.request(approvers=[])
    response = served.click(approval, user_id="U_ALICE")
    assert outcome(response) == "refused"
    assert served.store.get_approval(approval["id"])["status"] == "pending"


def test_a_button_of_an_expired_request_records_nothing(served: Served) -> None:
    approval = served.request(expires_at=utcnow() - timedelta(seconds=1))
    response = served.click(approval, user_id="U_ALICE")
    assert response.status_code == 200 and outcome(response) == "already_decided"
    assert served.store.get_approval(approval["id"])["status"] == "expired"
    wait_until(lambda: served.slack.calls_to("chat.postEphemeral"), "ephemeral answer")
    assert "expired" in served.slack.calls_to("chat.postEphemeral")[0].args["text"]
    wait_until(lambda: served.slack.calls_to("chat.update"), "message shows the expiry")


def test_a_button_of_an_already_decided_request_is_told_who_decided(served: Served) -> None:
    approval = served.request()
    approvals.decide(served.store, approval["id"], approve=False, user="ops-admin", via="ui", update_message=False)
    response = served.click(approval, user_id="U_BOB")
    assert outcome(response) == "already_decided"
    wait_until(lambda: served.slack.calls_to("chat.postEphemeral"), "ephemeral answer")
    assert "Already denied by ops-admin" in served.slack.calls_to("chat.postEphemeral")[0].args["text"]


def test_a_reopened_two_person_request_refuses_an_unmapped_slack_approval(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The endpoint caches a request it read; a click on the cancelled request caches it as
    cancelled. Once the run is cleared and the request reopened, the cached status must not let an
    unmapped Slack user's approval past the two-person rule (it would pair with their Airflow login)."""
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__APPROVER_IDENTITIES", json.dumps({"bob": {"slack": "U_BOB"}}))
    kwargs = {"run_id": "run-reopened", "required_approvals": 2}
    approval = served.request(**kwargs)
    served.store.close_approvals_of_run("fraud", dag_id="agentic_mlops__fraud", run_id="run-reopened", reason="failed")
    late = served.click(approval, user_id="U_BOB")  # caches the request as cancelled
    assert outcome(late) == "already_decided"
    reopened = served.request(**kwargs)  # the cleared run reopens the same request, with a new message
    assert reopened["status"] == "pending" and reopened["slack_ts"] != approval["slack_ts"]

    response = served.click(reopened, user_id="U_ALICE")
    assert outcome(response) == "refused"
    stored = served.store.get_approval(approval["id"])
    assert stored["status"] == "pending" and stored["votes"] == []
    wait_until(lambda: len(served.slack.calls_to("chat.postEphemeral")) >= 2, "refusal told")
    assert "not mapped to an Airflow user" in served.slack.calls_to("chat.postEphemeral")[-1].args["text"]


def test_a_cancelled_two_person_request_tells_an_unmapped_voter_so(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two-person rule only refuses while the request is open: a decided one answers why."""
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__APPROVER_IDENTITIES", json.dumps({"bob": {"slack": "U_BOB"}}))
    approval = served.request(run_id="run-cancelled", required_approvals=2)
    served.store.close_approvals_of_run("fraud", dag_id="agentic_mlops__fraud", run_id="run-cancelled", reason="failed")
    for _ in range(2):  # the first click reads the store, the second the endpoint's cache
        assert outcome(served.click(approval, user_id="U_ALICE")) == "already_decided"
    assert served.store.get_approval(approval["id"])["votes"] == []


def test_an_approver_removed_when_the_sensor_asks_again_is_refused_though_the_endpoint_cached_the_request(
    served: Served,
) -> None:
    """The endpoint caches a request it read (its allowlist among the rest); a retry of the sensor with an
    approver removed and two approvals required must govern the next click all the same, and the request's
    message must say what it now needs."""
    approval = served.request(run_id="run-narrowed", approvers=["U_ALICE", "U_MALLORY"])
    assert outcome(served.click(approval, user_id="U_EVE")) == "refused"  # read, and cached, by the endpoint
    narrowed = served.request(run_id="run-narrowed", approvers=["U_ALICE"], required_approvals=2)
    assert narrowed["id"] == approval["id"] and narrowed["slack_ts"] == approval["slack_ts"]
    assert narrowed["details"]["approvers"] == ["U_ALICE"] and narrowed["required_approvals"] == 2
    wait_until(lambda: served.slack.calls_to("chat.update"), "message updated")
    assert "needs 2 different approvers" in json.dumps(served.slack.calls_to("chat.update")[-1].args["blocks"])

    assert outcome(served.click(approval, user_id="U_MALLORY")) == "refused"
    assert served.store.get_approval(approval["id"])["votes"] == []
    wait_until(lambda: len(served.slack.calls_to("chat.postEphemeral")) >= 2, "refusal told")
    assert "not an approver" in served.slack.calls_to("chat.postEphemeral")[-1].args["text"]


@pytest.fixture
def task_states() -> dict[tuple[str, str, str, int], str]:
    """The Airflow state of each sensor task, as the endpoint of ``served_with_task_states`` reads it."""
    return {}


@pytest.fixture
def served_with_task_states(
    sqlite_store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    task_states: dict[tuple[str, str, str, int], str],
) -> Iterator[Served]:
    client = WebClient(token="xoxb-test", base_url=slack_double.base_url)
    settings = AppSettings(
        signing_secret=SECRET,
        store=sqlite_store,
        slack_client=client,
        task_state=lambda *task: task_states.get(task, "deferred"),
    )
    yield from _served(sqlite_store, slack_double, settings)


def test_a_click_after_the_run_was_marked_done_by_hand_cancels_the_request_and_says_why(
    served_with_task_states: Served, task_states: dict[tuple[str, str, str, int], str]
) -> None:
    """The sensor's task was marked success in Airflow's UI (no failure callback ran): the click records
    nothing, the request is cancelled, the message says so without promising a promotion, the clicker is told why."""
    served = served_with_task_states
    approval = served.request(run_id="manual__marked", details={"sensor_task_id": "wait_for_approval"})
    task_states["agentic_mlops__fraud", "manual__marked", "wait_for_approval", -1] = "success"
    response = served.click(approval, user_id="U_ALICE")
    assert outcome(response) == "already_decided"
    stored = served.store.get_approval(approval["id"])
    assert stored["status"] == "cancelled" and stored["votes"] == []
    wait_until(lambda: served.slack.calls_to("chat.update"), "message updated")
    text = served.slack.calls_to("chat.update")[-1].args["text"]
    assert "Cancelled" in text and "will be promoted" not in text
    wait_until(lambda: served.slack.calls_to("chat.postEphemeral"), "clicker told")
    told = served.slack.calls_to("chat.postEphemeral")[-1].args["text"]
    assert "wait_for_approval is success" in told and "no longer waits" in told


def test_a_button_of_an_unknown_request_records_nothing(served: Served) -> None:
    response = served.click(999_999, user_id="U_ALICE")
    assert response.status_code == 200 and outcome(response) == "unknown"


def test_a_payload_that_is_not_ours_is_acknowledged_and_ignored(served: Served) -> None:
    response = served.post(*sign_interaction({"type": "view_submission", "user": {"id": "U_ALICE"}}, SECRET))
    assert response.status_code == 200 and outcome(response) == "ignored"


def test_a_signed_but_malformed_payload_is_400(served: Served) -> None:
    payload = click_payload(1)
    payload["user"] = {}
    response = served.post(*sign_interaction(payload, SECRET))
    assert response.status_code == 400


def test_a_replay_is_409_whatever_the_first_answer_was(served: Served) -> None:
    """A request that wrote nothing but its signature (malformed, not ours, an unknown request) is
    still refused when it comes again, before any other answer."""
    malformed = click_payload(1)
    malformed["user"] = {}
    firsts = {
        "bad_payload": malformed,
        "ignored": {"type": "view_submission", "user": {"id": "U_ALICE"}},
        "unknown": click_payload(999_999, user_id="U_ALICE"),
    }
    for first_answer, payload in firsts.items():
        body, headers = sign_interaction(payload, SECRET)
        assert outcome(served.post(body, headers)) == first_answer
        replay = served.post(body, headers)
        assert (replay.status_code, outcome(replay)) == (409, "replayed"), first_answer


def _fifty_concurrent_clicks(served: Served) -> None:
    approval = served.request()

    async def clicks() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=50)) as client:
            requests = []
            for i in range(50):
                body, headers = sign_interaction(
                    click_payload(approval, user_id=f"U_{i:02d}", approve=i % 2 == 0), SECRET
                )
                requests.append(
                    client.post(f"{served.url}/agentic-mlops/slack/interactions", content=body, headers=headers)
                )
            return await asyncio.gather(*requests)

    responses = asyncio.run(clicks())
    assert [r.status_code for r in responses] == [200] * 50
    kinds = [outcome(r) for r in responses]
    assert kinds.count("recorded") == 1 and kinds.count("already_decided") == 49
    stored = served.store.get_approval(approval["id"])
    assert stored["status"] in ("approved", "denied") and len(stored["votes"]) == 1
    winner = stored["decided_by"]
    assert stored["votes"][0]["user_id"] == winner
    decided_events = [
        a for a in served.store.audit_trail("fraud", limit=500) if a["action"] == f"approval_{stored['status']}"
    ]
    assert len([a for a in decided_events if a["subject"] == f"approval:{approval['id']}"]) == 1
    wait_until(lambda: len(served.slack.calls_to("chat.postEphemeral")) == 49, "49 ephemeral answers")
    told = served.slack.calls_to("chat.postEphemeral")
    assert all(f"by {winner}" in c.args["text"] for c in told)
    assert winner not in {c.args["user"] for c in told}


def test_fifty_concurrent_clicks_record_exactly_one_decision_sqlite(served: Served) -> None:
    _fifty_concurrent_clicks(served)


@pytest.mark.postgres
def test_fifty_concurrent_clicks_record_exactly_one_decision_postgresql(
    pg_url: str,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    store = StateStore(pg_url)
    client = WebClient(token="xoxb-test", base_url=slack_double.base_url)
    try:
        for served_pg in _served(
            store, slack_double, AppSettings(signing_secret=SECRET, store=store, slack_client=client)
        ):
            _fifty_concurrent_clicks(served_pg)
    finally:
        store.dispose()


def test_without_a_signing_secret_the_endpoint_refuses_everything(
    sqlite_store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    for served_app in _served(sqlite_store, slack_double, AppSettings(signing_secret="", store=sqlite_store)):
        approval = served_app.request()
        response = served_app.click(approval["id"], user_id="U_ALICE")
        assert response.status_code == 503 and "slack_signing_secret" in response.text
        assert sqlite_store.get_approval(approval["id"])["votes"] == []


def test_the_slack_connection_is_used_through_slackhook_with_its_base_url(
    sqlite_store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    approvals._clients.clear()
    for served_app in _served(sqlite_store, slack_double, AppSettings(signing_secret=SECRET, store=sqlite_store)):
        approval = served_app.request(slack_conn_id=slack_connection)
        response = served_app.click(approval, user_id="U_BOB", approve=False)
        assert outcome(response) == "recorded"
        wait_until(lambda: slack_double.calls_to("chat.update"), "message updated through SlackHook")
        assert slack_double.calls_to("chat.update")[0].token == "xoxb-test-token"
    approvals._clients.clear()


def test_slack_gets_its_answer_while_the_web_api_calls_are_still_pending(served: Served) -> None:
    """Slack allows 3 s: the 200 must not wait for chat.update / chat.postEphemeral."""
    served.slack.held_methods.update({"chat.update", "chat.postEphemeral"})
    try:
        approval = served.request()
        response = served.click(approval, user_id="U_ALICE")
        assert response.status_code == 200 and outcome(response) == "recorded"
        # chat.update reached Slack and is still unanswered (held until release), yet the click got its 200
        wait_until(lambda: served.slack.calls_to("chat.update"), "chat.update reached Slack")
        late = served.click(approval, user_id="U_BOB")
        assert outcome(late) == "already_decided"
    finally:
        served.slack.release.set()
    wait_until(lambda: served.slack.calls_to("chat.postEphemeral"), "the late clicker is told")


def test_a_request_replayed_to_another_worker_is_refused(
    served: Served,
    two_people: None,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    """Two apps with their own store objects on one database: two API-server workers."""
    other_store = StateStore(served.store.url)
    client = WebClient(token="xoxb-test", base_url=slack_double.base_url)
    settings = AppSettings(signing_secret=SECRET, store=other_store, slack_client=client)
    try:
        for other in _served(other_store, slack_double, settings):
            approval = served.request(required_approvals=2)
            body, headers = sign_interaction(click_payload(approval, user_id="U_ALICE"), SECRET)
            first, replay = served.post(body, headers), other.post(body, headers)
            assert (first.status_code, outcome(first)) == (200, "recorded")
            assert (replay.status_code, outcome(replay)) == (409, "replayed")
            assert len(served.store.get_approval(approval["id"])["votes"]) == 1
    finally:
        other_store.dispose()


def test_an_oversized_unsigned_body_is_413_before_any_signature_work(served: Served) -> None:
    approval = served.request()
    body, headers = sign_interaction(click_payload(approval), SECRET)
    padded = body + b"&pad=" + b"x" * (64 * 1024)
    response = served.post(padded, {**headers, "X-Slack-Signature": "v0=" + "0" * 64})
    assert response.status_code == 413 and outcome(response) == "too_large"
    # a validly signed but oversized body is refused the same way: the size is checked first
    from tests.doubles.slack_server import signature_headers

    response = served.post(padded, signature_headers(padded, SECRET, headers["X-Slack-Request-Timestamp"]))
    assert response.status_code == 413
    assert served.store.get_approval(approval["id"])["votes"] == []


@pytest.mark.parametrize(
    "change",
    [
        {"user": "U_ALICE"},
        {"team": ["T1"]},
        {"actions": {"action_id": "agentic_mlops_approve"}},
        {"user": {"id": "U" * 300}},
        {"value": "9" * 5000},
        {"value": "[" * 3000},
    ],
    ids=["user-string", "team-list", "actions-object", "long-user-id", "long-digits", "brackets"],
)
def test_signed_malformed_payloads_are_400_with_one_line_and_record_nothing(served: Served, change: dict) -> None:
    approval = served.request()
    payload = click_payload(approval)
    if "value" in change:
        payload["actions"][0]["value"] = change["value"]
    else:
        payload.update(change)
    response = served.post(*sign_interaction(payload, SECRET))
    assert response.status_code == 400, response.text
    assert "\n" not in response.json()["detail"]
    assert served.store.get_approval(approval["id"])["votes"] == []
    assert [a for a in served.store.audit_trail("fraud") if a["action"] == "approval_refused"] == []


def test_a_signed_deeply_nested_payload_is_400(served: Served) -> None:
    raw = '{"type": "block_actions", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    response = served.post(*sign_interaction(raw, SECRET))
    assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]
