"""Attacks on the real ``airflow api-server`` (two workers) with the plugin loaded.

Each test asserts the status code and that nothing was recorded or changed: no vote, no decision,
no audit entry, no DAG run. See ``conftest.py`` for the deployment.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient

from airflow_provider_agentic_mlops import approvals
from airflow_provider_agentic_mlops.core import slack as slack_messages
from airflow_provider_agentic_mlops.core.state import utcnow
from airflow_provider_agentic_mlops.plugins import alerts
from tests.doubles.slack_server import click_payload, sign_interaction, signature_headers
from tests.security.conftest import (
    ALERT_TOKEN,
    APPROVER_GROUP,
    DAG_A,
    DAG_B,
    LOOK_ALIKE,
    NEW_A,
    NEW_B,
    SIGNING_SECRET,
    TEAM_A_ALERT_TOKEN,
    ApiServer,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.security]

HOSTILE = '<!channel> <https://evil.example|MLflow report> <script>alert(1)</script> & "quotes"'
SLACK = "/agentic-mlops/slack/interactions"


def _request(api: ApiServer, dag_id: str = DAG_A, **overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model_name": dag_id.split("__", 1)[1],
        "model_version": "7",
        "dag_id": dag_id,
        "run_id": f"run-{time.monotonic_ns()}",
        "expires_at": utcnow() + timedelta(hours=1),
        "approver_usergroup": APPROVER_GROUP,
        "slack_conn_id": "slack_api_default",
        "channel": "C_APPROVALS",
        "slack_client": WebClient(token="xoxb-sec-token", base_url=api.slack.base_url),
        "details": slack_messages.message_details(
            drift={"dataset_drift": True, "n_columns": 2, "n_drifted": 1, "top_drifted": [{"column": HOSTILE}]},
            rationale=HOSTILE,
            validation={"champion_metrics": {HOSTILE: 0.8}, "challenger_metrics": {HOSTILE: 0.9}, "reasons": [HOSTILE]},
            links={HOSTILE: "https://mlflow.example/#/models/x"},
        ),
        **overrides,
    }
    return approvals.request(api.store, **kwargs).approval


def _unchanged(api: ApiServer, approval: dict[str, Any]) -> None:
    """Nothing recorded: the request is still pending with no votes and no audit entry after its creation."""
    now = api.store.get_approval(approval["id"])
    assert now["status"] == "pending" and now["votes"] == []
    actions = [
        a["action"]
        for a in api.store.audit_trail(approval["model_name"], limit=1000)
        if a["subject"] == f"approval:{approval['id']}"
    ]
    assert set(actions) <= {"approval_requested", "approval_posted"}, actions


def _post(api: ApiServer, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{api.url}{path}", content=body, headers=headers, timeout=60)


def _outcome(response: httpx.Response) -> str:
    return response.headers.get("x-agentic-mlops-outcome", "")


# -- Slack signatures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    ["forged", "stale", "future", "tampered", "no-headers", "bad-timestamp"],
)
def test_unauthentic_slack_requests_are_401_and_record_nothing(api_server: ApiServer, attack: str) -> None:
    approval = _request(api_server)
    payload = click_payload(approval, user_id="U_ALICE")
    if attack == "forged":
        body, headers = sign_interaction(payload, "not-the-secret")
    elif attack == "stale":
        body, headers = sign_interaction(payload, SIGNING_SECRET, timestamp=int(time.time()) - 400)
    elif attack == "future":
        body, headers = sign_interaction(payload, SIGNING_SECRET, timestamp=int(time.time()) + 400)
    elif attack == "tampered":
        body, headers = sign_interaction(click_payload(approval, user_id="U_MALLORY"), SIGNING_SECRET)
        body = body.replace(b"U_MALLORY", b"U_ALICE")
    elif attack == "no-headers":
        body, _ = sign_interaction(payload, SIGNING_SECRET)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
    else:
        body, _ = sign_interaction(payload, SIGNING_SECRET)
        headers = signature_headers(body, SIGNING_SECRET, "9" * 40)
    response = _post(api_server, SLACK, body, headers)
    assert response.status_code == 401, response.text
    _unchanged(api_server, approval)


def test_a_replay_is_refused_by_every_worker(api_server: ApiServer) -> None:
    approval = _request(api_server, required_approvals=2)
    body, headers = sign_interaction(click_payload(approval, user_id="U_ALICE"), SIGNING_SECRET)
    first = _post(api_server, SLACK, body, headers)
    assert (first.status_code, _outcome(first)) == (200, "recorded")
    # fresh connections, so the two workers share them; every replay is refused
    replays = [_post(api_server, SLACK, body, {**headers, "Connection": "close"}) for _ in range(12)]
    assert [(r.status_code, _outcome(r)) for r in replays] == [(409, "replayed")] * 12
    assert [v["user_id"] for v in api_server.store.get_approval(approval["id"])["votes"]] == ["alice"]


def test_a_user_off_the_allowlist_is_refused_and_nothing_is_recorded(api_server: ApiServer) -> None:
    approval = _request(api_server)
    response = _post(api_server, SLACK, *sign_interaction(click_payload(approval, user_id="U_MALLORY"), SIGNING_SECRET))
    assert (response.status_code, _outcome(response)) == (200, "refused")
    now = api_server.store.get_approval(approval["id"])
    assert now["status"] == "pending" and now["votes"] == []


@pytest.mark.parametrize(
    "change",
    [
        {"user": "U_ALICE"},
        {"team": ["T1"]},
        {"actions": {"action_id": "agentic_mlops_approve"}},
        {"user": {"id": "U" * 300}},
        {"value": "9" * 5000},
    ],
    ids=["user-string", "team-list", "actions-object", "300-char-user", "long-digits"],
)
def test_signed_malformed_payloads_are_400_and_record_nothing(api_server: ApiServer, change: dict) -> None:
    approval = _request(api_server)
    payload = click_payload(approval, user_id="U_ALICE")
    if "value" in change:
        payload["actions"][0]["value"] = change["value"]
    else:
        payload.update(change)
    response = _post(api_server, SLACK, *sign_interaction(payload, SIGNING_SECRET))
    assert response.status_code == 400, response.text
    assert "\n" not in response.json()["detail"]
    _unchanged(api_server, approval)


def test_a_signed_deeply_nested_payload_is_400(api_server: ApiServer) -> None:
    raw = '{"type": "block_actions", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    response = _post(api_server, SLACK, *sign_interaction(raw, SIGNING_SECRET))
    assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]


def test_an_oversized_unsigned_slack_body_is_413(api_server: ApiServer) -> None:
    approval = _request(api_server)
    body = b"payload=" + b"x" * (1024 * 1024)
    response = _post(api_server, SLACK, body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert (response.status_code, _outcome(response)) == (413, "too_large")
    _unchanged(api_server, approval)


def test_fifty_concurrent_clicks_record_exactly_one_decision(api_server: ApiServer) -> None:
    approval = _request(api_server)

    async def clicks() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=50)) as client:
            sends = []
            for i in range(50):
                body, headers = sign_interaction(
                    click_payload(approval, user_id=f"U_{i:02d}", approve=i % 2 == 0), SIGNING_SECRET
                )
                sends.append(client.post(f"{api_server.url}{SLACK}", content=body, headers=headers))
            return await asyncio.gather(*sends)

    responses = asyncio.run(clicks())
    assert [r.status_code for r in responses] == [200] * 50
    kinds = [_outcome(r) for r in responses]
    assert kinds.count("recorded") == 1 and kinds.count("already_decided") == 49
    stored = api_server.store.get_approval(approval["id"])
    assert stored["status"] in ("approved", "denied") and len(stored["votes"]) == 1


def test_hostile_text_reaches_slack_inert(api_server: ApiServer) -> None:
    approval = _request(api_server)
    api_server.slack.clear()
    response = _post(api_server, SLACK, *sign_interaction(click_payload(approval, user_id="U_ALICE"), SIGNING_SECRET))
    assert _outcome(response) == "recorded"
    deadline = time.monotonic() + 30
    while not api_server.slack.calls_to("chat.update") and time.monotonic() < deadline:
        time.sleep(0.05)
    [update] = api_server.slack.calls_to("chat.update")
    text = json.dumps(update.args)
    assert "&lt;!channel&gt;" in text
    assert "<!channel>" not in text and "<https://evil" not in text


# -- the approvals page ---------------------------------------------------------------------------


def _page_post(
    api: ApiServer, approval_id: int, *, user: str, headers: dict[str, str], cookie: bool = False, body: bytes = b"{}"
) -> httpx.Response:
    token = api.token(user)
    auth = {"Cookie": f"_token={token}"} if cookie else {"Authorization": f"Bearer {token}"}
    return httpx.post(
        f"{api.url}/agentic-mlops/api/approvals/{approval_id}/approve",
        content=body,
        headers={**auth, **headers},
        timeout=60,
    )


def test_a_user_of_another_team_neither_sees_nor_decides(api_server: ApiServer) -> None:
    approval = _request(api_server, dag_id=DAG_A)
    listed = httpx.get(
        f"{api_server.url}/agentic-mlops/api/approvals",
        headers={"Authorization": f"Bearer {api_server.token('bob')}"},
        timeout=60,
    )
    assert listed.status_code == 200 and approval["id"] not in [a["id"] for a in listed.json()]
    response = _page_post(api_server, approval["id"], user="bob", headers={"Content-Type": "application/json"})
    # answered as a missing request: the DAG's id and the request's existence do not leak
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == f"approval {approval['id']} does not exist" and DAG_A not in response.text
    _unchanged(api_server, approval)
    # Airflow's own API agrees: bob may not read team A's DAG
    own = httpx.get(
        f"{api_server.url}/api/v2/dags/{DAG_A}",
        headers={"Authorization": f"Bearer {api_server.token('bob')}"},
        timeout=60,
    )
    assert own.status_code == 403


def test_the_same_team_sees_and_may_decide(api_server: ApiServer) -> None:
    approval = _request(api_server, dag_id=DAG_B)
    listed = httpx.get(
        f"{api_server.url}/agentic-mlops/api/approvals",
        headers={"Authorization": f"Bearer {api_server.token('bob')}"},
        timeout=60,
    )
    assert approval["id"] in [a["id"] for a in listed.json()]
    response = _page_post(api_server, approval["id"], user="bob", headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert api_server.store.get_approval(approval["id"])["decided_by"] == "bob"


def test_requests_of_a_dag_airflow_does_not_know_are_an_admins_only(api_server: ApiServer) -> None:
    """A deleted DAG's team is unknown, not "none": its requests are not every user's to see and decide."""
    gone = "agentic_mlops__deleted-model"
    approval = _request(api_server, dag_id=gone)
    for user in ("alice", "bob"):
        listed = httpx.get(
            f"{api_server.url}/agentic-mlops/api/approvals",
            headers={"Authorization": f"Bearer {api_server.token(user)}"},
            timeout=60,
        )
        assert listed.status_code == 200 and approval["id"] not in [a["id"] for a in listed.json()], user
        response = _page_post(api_server, approval["id"], user=user, headers={"Content-Type": "application/json"})
        assert response.status_code == 404 and gone not in response.text, (user, response.text)
    _unchanged(api_server, approval)
    listed = httpx.get(
        f"{api_server.url}/agentic-mlops/api/approvals",
        headers={"Authorization": f"Bearer {api_server.token('admin')}"},
        timeout=60,
    )
    assert approval["id"] in [a["id"] for a in listed.json()]


def test_a_viewer_may_list_but_not_decide(api_server: ApiServer) -> None:
    approval = _request(api_server, dag_id=DAG_A)
    response = _page_post(api_server, approval["id"], user="vera", headers={"Content-Type": "application/json"})
    assert response.status_code == 403
    _unchanged(api_server, approval)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "text/plain; application/json"}, 415),
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"}, 403),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403),
        ({"Content-Type": "application/json", "Origin": "https://evil.example"}, 403),
        ({"Content-Type": "application/json"}, 403),
    ],
    ids=["no-preflight-json-lookalike", "text-plain", "other-port", "cross-site", "foreign-origin", "no-origin"],
)
def test_cross_site_writes_with_the_session_cookie_are_refused(
    api_server: ApiServer, headers: dict[str, str], status: int
) -> None:
    approval = _request(api_server, dag_id=DAG_A)
    response = _page_post(api_server, approval["id"], user="alice", headers=headers, cookie=True)
    assert response.status_code == status, response.text
    _unchanged(api_server, approval)


def test_hostile_text_reaches_the_page_escaped_with_security_headers(api_server: ApiServer) -> None:
    _request(api_server, dag_id=DAG_A, model_name=f"m {HOSTILE}")
    page = httpx.get(
        f"{api_server.url}/agentic-mlops/approvals",
        headers={"Authorization": f"Bearer {api_server.token('alice')}"},
        timeout=60,
    )
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


# -- alerts ---------------------------------------------------------------------------------------


def _alert(api: ApiServer, body: bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {ALERT_TOKEN}", "Content-Type": "application/json"}
    return _post(api, "/agentic-mlops/alerts", body, headers)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[" * 100_000 + b"]" * 100_000, 422),
        (b'{"model": "model-a", "summary": ' + b"9" * 5000 + b"}", 422),
        (b'{"model": "model-a", "summary": "' + b"x" * (alerts.MAX_BODY_BYTES + 1) + b'"}', 413),
        (json.dumps({"model": "danger"}).encode(), 404),
    ],
    ids=["deep", "long-number", "oversized", "look-alike-dag"],
)
def test_bad_alerts_start_nothing(api_server: ApiServer, body: bytes, status: int) -> None:
    response = _alert(api_server, body)
    assert response.status_code == status, response.text
    assert "\n" not in response.json()["detail"]
    assert "danger" not in response.json().get("known_models", [])
    runs = api_server.sql("SELECT dag_id FROM dag_run WHERE dag_id IN (:a, :l)", a=DAG_A, l=LOOK_ALIKE)
    assert runs == []


def test_a_team_alerts_token_neither_starts_nor_learns_another_teams_models(api_server: ApiServer) -> None:
    headers = {"Authorization": f"Bearer {TEAM_A_ALERT_TOKEN}", "Content-Type": "application/json"}
    refused = _post(api_server, "/agentic-mlops/alerts", json.dumps({"model": "model-b"}).encode(), headers)
    assert api_server.sql("SELECT dag_id FROM dag_run WHERE dag_id = :b", b=DAG_B) == []
    assert "alert_refused" in [e["action"] for e in api_server.store.audit_trail("model-b")]
    unknown = _post(api_server, "/agentic-mlops/alerts", json.dumps({"model": "ghost"}).encode(), headers)
    # team_a's models only (new-a: team_a's model that never ran), none of team_b's
    assert unknown.status_code == 404 and unknown.json()["known_models"] == ["model-a", "new-a"]
    # another team's model is answered as an unknown one: the token does not learn that it exists
    assert refused.status_code == 404, refused.text
    assert refused.json() == json.loads(unknown.text.replace("ghost", "model-b"))
    own = _post(
        api_server, "/agentic-mlops/alerts", json.dumps({"model": "model-a", "status": "resolved"}).encode(), headers
    )
    assert own.status_code == 200 and own.json()["results"][0]["outcome"] == "recorded_resolved", own.text
    # the deployment's token is not scoped: it knows both teams' models
    assert _alert(api_server, json.dumps({"model": "ghost"}).encode()).json()["known_models"] == [
        "model-a",
        "model-b",
        "new-a",
        "new-b",
    ]


def test_alerts_without_the_token_are_401(api_server: ApiServer) -> None:
    response = _post(api_server, "/agentic-mlops/alerts", b'{"model": "model-a"}', {"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert api_server.sql("SELECT dag_id FROM dag_run WHERE dag_id = :a", a=DAG_A) == []


def test_the_dags_belong_to_the_teams(api_server: ApiServer) -> None:
    """The deployment itself: Airflow knows DAG A as team_a's and DAG B as team_b's."""
    from airflow_provider_agentic_mlops.plugins.airflow_auth import airflow_has_teams

    assert airflow_has_teams()
    rows = api_server.sql(
        "SELECT d.dag_id, t.name FROM dag d JOIN dag_bundle_team bt ON bt.dag_bundle_name = d.bundle_name "
        "JOIN team t ON t.name = bt.team_name WHERE d.dag_id IN (:a, :b) ORDER BY d.dag_id",
        a=DAG_A,
        b=DAG_B,
    )
    assert [tuple(r) for r in rows] == [(DAG_A, "team_a"), (DAG_B, "team_b")]


def test_a_model_that_never_ran_is_listed_and_opened_for_its_own_team_only(api_server: ApiServer) -> None:
    """Listed from Airflow's parsed DAGs before any row exists, and read-checked as a model with history: the other
    team's user neither sees it on the overview nor opens its page (404 as for a model that does not exist)."""
    for user, mine, theirs in (("alice", NEW_A, NEW_B), ("bob", NEW_B, NEW_A)):
        headers = {"Authorization": f"Bearer {api_server.token(user)}"}
        overview = httpx.get(f"{api_server.url}/agentic-mlops/models", headers=headers, timeout=60)
        assert overview.status_code == 200, overview.text
        assert mine in overview.text and theirs not in overview.text
        page = httpx.get(f"{api_server.url}/agentic-mlops/models/{mine.split('__')[1]}", headers=headers, timeout=60)
        assert page.status_code == 200 and 'id="no-decision-yet"' in page.text
        name = theirs.split("__")[1]
        other = httpx.get(f"{api_server.url}/agentic-mlops/models/{name}", headers=headers, timeout=60)
        nothing = httpx.get(f"{api_server.url}/agentic-mlops/models/nothing", headers=headers, timeout=60)
        assert other.status_code == 404 and theirs not in other.text
        assert other.json()["detail"] == nothing.json()["detail"].replace("nothing", name)
