"""The approval service: request once, decide with the allowlist, update Slack, expire, remind.

Slack is the local Web API test double (tests/doubles/slack_server.py) reached by the real WebClient.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from slack_sdk import WebClient

from airflow_provider_agentic_mlops import approvals
from airflow_provider_agentic_mlops.core.slack import ApprovalClick
from airflow_provider_agentic_mlops.core.state import StateStore, utcnow
from tests.approval_data import request_approval
from tests.doubles.slack_server import SlackDouble, slack_connection, slack_double  # noqa: F401

#: the default reader, before ``tests/conftest.py`` makes every sensor task wait
_READ_AIRFLOW_TASK_STATE = approvals._airflow_task_state


@pytest.fixture
def store(sqlite_store: StateStore) -> StateStore:
    return sqlite_store


@pytest.fixture
def client(slack_double: SlackDouble) -> WebClient:  # noqa: F811
    return WebClient(token="xoxb-test", base_url=slack_double.base_url)


def _request(store: StateStore, client: WebClient | None, **overrides: object) -> approvals.RequestResult:
    return request_approval(
        store,
        **{
            "run_id": "run1",
            "report_digest": "d1",
            "approvers": ["U_ALICE", "U_BOB"],
            "channel": "C_APPROVALS",
            "slack_client": client,
            **overrides,
        },
    )


def _two_person_request(store: StateStore, client: WebClient) -> Callable[..., approvals.ApprovalOutcome]:
    """A request that needs alice and bob (known by their Slack ids), and a function that votes on it."""
    people = approvals.Identities.parse('{"alice": {"slack": "U_ALICE"}, "bob": {"slack": "U_BOB"}}')
    approval_id = _request(store, client, required_approvals=2).approval["id"]

    def vote(user: str, *, approve: bool = True, via: str = "slack") -> approvals.ApprovalOutcome:
        return approvals.decide(
            store, approval_id, approve=approve, user=user, via=via, slack_client=client, identities=people
        )

    return vote


def test_request_posts_one_message_and_a_rerun_posts_none(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    first = _request(store, client)
    again = _request(store, client)
    assert first.created and first.posted
    assert not again.created and not again.posted
    assert again.approval["id"] == first.approval["id"]
    posts = slack_double.calls_to("chat.postMessage")
    assert len(posts) == 1
    assert posts[0].args["channel"] == "C_APPROVALS"
    assert again.approval["slack_channel"] == "C_APPROVALS" and again.approval["slack_ts"]
    assert again.approval["details"]["approvers"] == ["U_ALICE", "U_BOB"]


def test_request_without_slack_logs_the_cli_commands(store: StateStore) -> None:
    # a handler on the module's own logger: Airflow configures logging when it is first imported, which
    # replaced the root handlers caplog relies on when this test ran first
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("airflow_provider_agentic_mlops.approvals")
    logger.addHandler(handler)
    try:
        result = _request(store, None)
    finally:
        logger.removeHandler(handler)
    text = "\n".join(r.getMessage() for r in records)
    approval_id = result.approval["id"]
    assert not result.posted
    assert f"airflow agentic-mlops approvals approve {approval_id}" in text
    assert f"airflow agentic-mlops approvals deny {approval_id}" in text


def test_slack_decision_from_outside_the_allowlist_is_refused_and_audited(store: StateStore, client: WebClient) -> None:
    approval_id = _request(store, client).approval["id"]
    with pytest.raises(approvals.ApprovalRefused, match="Slack user U_MALLORY is not an approver"):
        approvals.decide(store, approval_id, approve=True, user="U_MALLORY", via="slack", slack_client=client)
    assert store.get_approval(approval_id)["status"] == "pending"
    assert store.get_approval(approval_id)["votes"] == []
    assert store.audit_trail("fraud")[0]["action"] == "approval_refused"


def test_empty_allowlist_refuses_every_slack_click_but_the_cli_still_decides(
    store: StateStore, client: WebClient
) -> None:
    approval_id = _request(store, client, approvers=[]).approval["id"]
    with pytest.raises(approvals.ApprovalRefused, match="no Slack approvers"):
        approvals.decide(store, approval_id, approve=True, user="U_ALICE", via="slack", slack_client=client)
    outcome = approvals.decide(store, approval_id, approve=True, user="ops-admin", via="ui", slack_client=client)
    assert outcome.recorded and outcome.approval["status"] == "approved"


@pytest.mark.parametrize("approvers", [[], ["U_BOB"]])
def test_a_refused_click_is_answered_in_sentences_with_one_period(
    store: StateStore, client: WebClient, approvers: list[str]
) -> None:
    """Refusals end with a period or not (no Slack approvers: several sentences; not an approver: one clause):
    the answer adds "Nothing recorded." after exactly one."""
    approval = _request(store, client, approvers=approvers).approval
    click = ApprovalClick(approval["id"], True, "U_ALICE", None, "T", "C_APPROVALS", approval["slack_ts"], None)
    result = approvals.handle_click(store, click, slack_client=client)
    assert result.kind == "refused" and result.text.endswith(". Nothing recorded.")
    assert ".." not in result.text


def test_usergroup_members_may_decide_and_the_member_list_is_cached(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    slack_double.usergroups["S_MLOPS"] = ["U_CAROL", "U_DAVE"]
    members = approvals.UsergroupMembers()
    first = _request(store, client, approvers=[], approver_usergroup="S_MLOPS").approval["id"]
    second = _request(store, client, run_id="run2", approvers=[], approver_usergroup="S_MLOPS").approval["id"]
    with pytest.raises(approvals.ApprovalRefused):
        approvals.decide(store, first, approve=True, user="U_EVE", via="slack", slack_client=client, members=members)
    ok = approvals.decide(store, first, approve=True, user="U_CAROL", via="slack", slack_client=client, members=members)
    approvals.decide(store, second, approve=False, user="U_DAVE", via="slack", slack_client=client, members=members)
    assert ok.approval["status"] == "approved"
    assert store.get_approval(second)["status"] == "denied"
    assert len(slack_double.calls_to("usergroups.users.list")) == 1


def test_unreachable_usergroup_lookup_fails_closed(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    slack_double.failing_methods.add("usergroups.users.list")
    approval_id = _request(store, client, approvers=[], approver_usergroup="S_MLOPS").approval["id"]
    with (
        caplog.at_level(logging.WARNING, logger="airflow_provider_agentic_mlops.approvals"),
        pytest.raises(approvals.ApprovalRefused, match="could not check") as refused,
    ):
        approvals.decide(
            store,
            approval_id,
            approve=True,
            user="U_CAROL",
            via="slack",
            slack_client=client,
            members=approvals.UsergroupMembers(),
        )
    assert store.get_approval(approval_id)["status"] == "pending"
    # the person is told what failed in a line, not Slack's raw error (its URL, response dict, newlines)
    assert str(refused.value) == (
        "could not check membership of user group S_MLOPS: Slack error `internal_error`; try again"
    )
    # the log has it in full
    logged = [r for r in caplog.records if "S_MLOPS" in r.getMessage()]
    assert logged and "usergroups.users.list" in logged[0].getMessage() and "internal_error" in logged[0].getMessage()


def test_a_rate_limited_usergroup_lookup_refuses_the_click_at_once_saying_when_to_click_again(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    """A click is answered while Slack waits 3 s and the API server has few click threads: a 429 on the member
    lookup is not waited out (Retry-After: 20) even with the deployment's client, which retries a rate-limited
    call; the clicker is told when to click again."""
    from airflow_provider_agentic_mlops.core.slack_http import BoundedRateLimitRetryHandler, KeepAliveWebClient

    client = KeepAliveWebClient(token="xoxb-test", base_url=slack_double.base_url, timeout=10)
    client.retry_handlers.append(BoundedRateLimitRetryHandler(max_retry_count=2))
    slack_double.usergroups["S_MLOPS"] = ["U_CAROL"]
    approval_id = _request(store, client, approvers=[], approver_usergroup="S_MLOPS").approval["id"]
    slack_double.queued_answers["usergroups.users.list"] = [
        (429, {"Retry-After": "20"}, {"ok": False, "error": "ratelimited"})
    ] * 3
    with pytest.raises(approvals.ApprovalRefused) as refused:
        approvals.decide(
            store,
            approval_id,
            approve=True,
            user="U_CAROL",
            via="slack",
            slack_client=client,
            members=approvals.UsergroupMembers(),
        )
    assert len(slack_double.calls_to("usergroups.users.list")) == 1  # not retried after 20 s
    assert str(refused.value) == "Slack rate-limited the membership check of user group S_MLOPS; click again in 20 s"
    assert store.get_approval(approval_id)["status"] == "pending"


@pytest.mark.parametrize("error", ["no_such_subteam", "missing_scope", "invalid_auth", "not_authed"])
def test_a_misconfigured_usergroup_lookup_sends_the_clicker_to_an_admin_not_to_click_again(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    error: str,
) -> None:
    """Clicking again cannot fix a wrong user group id or a token without usergroups:read: the clicker is told to
    ask an MLOps admin, naming Slack's error, and the log says it as an error."""
    approval_id = _request(store, client, approvers=[], approver_usergroup="S_MLOPS").approval["id"]
    slack_double.queued_answers["usergroups.users.list"] = [(200, {}, {"ok": False, "error": error})]
    with (
        caplog.at_level(logging.WARNING, logger="airflow_provider_agentic_mlops.approvals"),
        pytest.raises(approvals.ApprovalRefused) as refused,
    ):
        approvals.decide(
            store,
            approval_id,
            approve=True,
            user="U_CAROL",
            via="slack",
            slack_client=client,
            members=approvals.UsergroupMembers(),
        )
    message = str(refused.value)
    assert f"Slack error `{error}`" in message and "ask an MLOps admin" in message, message
    assert "try again" not in message
    assert [r.levelno for r in caplog.records if "S_MLOPS" in r.getMessage()] == [logging.ERROR]


def test_a_person_not_in_the_user_group_is_told_the_membership_is_cached(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    """Someone just added to the group is refused until the cached member list expires: they are told so."""
    slack_double.usergroups["S_MLOPS"] = ["U_CAROL"]
    approval_id = _request(store, client, approvers=[], approver_usergroup="S_MLOPS").approval["id"]
    with pytest.raises(approvals.ApprovalRefused, match="membership is cached for up to 60 seconds"):
        approvals.decide(
            store,
            approval_id,
            approve=True,
            user="U_DAVE",
            via="slack",
            slack_client=client,
            members=approvals.UsergroupMembers(),
        )


def test_a_decision_updates_the_slack_message_without_buttons(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    approval = _request(store, client).approval
    approvals.decide(store, approval["id"], approve=False, user="U_BOB", via="slack", slack_client=client, reason="no")
    updates = slack_double.calls_to("chat.update")
    assert len(updates) == 1
    assert updates[0].args["ts"] == approval["slack_ts"]
    assert "Denied by <@U_BOB> via slack" in str(updates[0].args["blocks"])
    assert not [b for b in updates[0].args["blocks"] if b["type"] == "actions"]


def test_two_person_rule_needs_two_different_approvers(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    vote = _two_person_request(store, client)
    first = vote("U_ALICE")
    repeat = vote("U_ALICE")
    same_person_on_the_page = vote("alice", via="ui")
    second = vote("U_BOB")
    assert first.recorded and not first.decided
    assert not repeat.recorded and "already voted" in repeat.message
    assert not same_person_on_the_page.recorded and "alice already voted" in same_person_on_the_page.message
    assert second.decided and second.approval["decided_by"] == "alice,bob"
    updates = slack_double.calls_to("chat.update")
    assert "1 of 2 approvals so far" in str(updates[0].args["blocks"])
    assert "Approved by alice, bob" in str(updates[-1].args["blocks"])


def test_an_approver_who_approved_can_still_deny_a_two_person_request(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    vote = _two_person_request(store, client)
    vote("U_ALICE")
    withdrawn = vote("U_ALICE", approve=False)
    late = vote("U_BOB")
    assert withdrawn.recorded and withdrawn.approval["status"] == "denied"
    assert withdrawn.approval["decided_by"] == "alice"
    assert not late.recorded and late.approval["status"] == "denied"
    assert "Denied by alice" in str(slack_double.calls_to("chat.update")[-1].args["blocks"])


@pytest.mark.parametrize("path", ["click", "decide"])
@pytest.mark.parametrize("second", ["approve", "deny"])
def test_a_rate_limited_update_of_an_earlier_vote_does_not_bring_the_buttons_back(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    second: str,
) -> None:
    """Alice's vote (1 of 2) updates the message, but Slack rate-limits that update (429, Retry-After 1) and the
    deployment's client sends it again a second later; meanwhile bob's vote closes the request and updates the
    message. The message Slack keeps is the closed one, without buttons, whichever update reached it last (each
    click's answer thread, or the page's and CLI's decide)."""
    import threading

    from airflow_provider_agentic_mlops.core.slack_http import BoundedRateLimitRetryHandler, KeepAliveWebClient

    monkeypatch.setenv(
        "AIRFLOW__AGENTIC_MLOPS__APPROVER_IDENTITIES",
        '{"alice": {"slack": "U_ALICE"}, "bob": {"slack": "U_BOB"}}',
    )
    client = KeepAliveWebClient(token="xoxb-test", base_url=slack_double.base_url, timeout=10)
    client.retry_handlers.append(BoundedRateLimitRetryHandler(max_retry_count=2))
    approval = _request(store, client, required_approvals=2).approval
    slack_double.clear()

    def vote(user: str, approve: bool = True) -> None:
        if path == "decide":
            approvals.decide(store, approval["id"], approve=approve, user=user, via="slack", slack_client=client)
            return
        click = ApprovalClick(approval["id"], approve, user, None, "T", "C_APPROVALS", approval["slack_ts"], None)
        result = approvals.handle_click(store, click, slack_client=client)
        assert result.kind == "recorded", result.text
        result.send_answers()

    slack_double.queued_answers["chat.update"] = [(429, {"Retry-After": "1"}, {"ok": False, "error": "ratelimited"})]
    alice = threading.Thread(target=vote, args=("U_ALICE",))
    alice.start()
    try:
        while not slack_double.calls_to("chat.update") and alice.is_alive():  # alice's first, rate-limited update
            threading.Event().wait(0.01)
        vote("U_BOB", approve=second == "approve")
    finally:
        alice.join(timeout=30)
    stored = store.get_approval(approval["id"])
    assert stored["status"] == ("approved" if second == "approve" else "denied")
    accepted = [
        c for c in slack_double.calls_to("chat.update") if c.args["ts"] == approval["slack_ts"] and c.answer["ok"]
    ]
    shown = accepted[-1]
    assert not _buttons(shown), shown.args["text"]
    assert ("Approved by alice, bob" if second == "approve" else "Denied by bob") in str(shown.args["blocks"])


def test_a_message_update_that_cannot_read_the_store_sends_only_a_closed_copy(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a fresh read a pending copy may be older than the closing update already sent: it is not sent; a
    closed copy is (a closed state is final)."""
    vote = _two_person_request(store, client)
    pending = vote("U_ALICE").approval
    closed = vote("U_BOB").approval
    slack_double.clear()

    def down(*_args: object, **_kwargs: object) -> None:
        raise ConnectionError("store down")

    monkeypatch.setattr(store, "get_approval", down)
    assert not approvals.refresh_message(pending, slack_client=client, store=store)
    assert slack_double.calls_to("chat.update") == []
    assert approvals.refresh_message(closed, slack_client=client, store=store)
    [update] = slack_double.calls_to("chat.update")
    assert "Approved by alice, bob" in update.args["text"] and not _buttons(update)


def test_a_closed_request_updates_its_message_without_reading_the_store(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Most clicks close their request: a closed state is final, so its update is sent without the reads a pending
    one needs (the click's CPU); a pending copy is read before and after its update."""
    vote = _two_person_request(store, client)
    pending = vote("U_ALICE").approval
    closed = vote("U_BOB").approval
    slack_double.clear()
    reads: list[int] = []
    real_get = store.get_approval

    def counted(approval_id: int) -> dict:
        reads.append(approval_id)
        return real_get(approval_id)

    monkeypatch.setattr(store, "get_approval", counted)
    assert approvals.refresh_message(closed, slack_client=client, store=store)
    assert reads == []
    assert approvals.refresh_message(pending, slack_client=client, store=store)
    assert reads == [pending["id"], pending["id"]]
    shown = slack_double.calls_to("chat.update")
    assert len(shown) == 2 and all("Approved by alice, bob" in c.args["text"] for c in shown)


def test_two_person_rule_refuses_unmapped_slack_users_and_records_nothing(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    approval_id = _request(store, client, required_approvals=2).approval["id"]
    with pytest.raises(approvals.ApprovalRefused, match="not mapped to an Airflow user"):
        approvals.decide(
            store, approval_id, approve=True, user="U_ALICE", via="slack", identities=approvals.Identities()
        )
    assert store.get_approval(approval_id)["votes"] == []


def test_a_slack_user_maps_to_an_airflow_user_by_the_email_users_info_reports(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    slack_double.emails["U_ALICE"] = "alice@example.com"
    people = approvals.Identities.parse('{"alice": {"email": "alice@example.com"}}')
    approval_id = _request(store, client, required_approvals=2).approval["id"]
    approvals.decide(
        store,
        approval_id,
        approve=True,
        user="U_ALICE",
        via="slack",
        slack_client=client,
        identities=people,
        emails=approvals.SlackEmails(),
    )
    again = approvals.decide(store, approval_id, approve=True, user="alice", via="ui", identities=people)
    assert [v["user_id"] for v in store.get_approval(approval_id)["votes"]] == ["alice"]
    assert not again.recorded
    assert [c.args["user"] for c in slack_double.calls_to("users.info")] == ["U_ALICE"]


def test_expire_due_denies_overdue_requests_and_updates_their_messages(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    overdue = _request(store, client, expires_at=utcnow() - timedelta(seconds=1)).approval["id"]
    current = _request(store, client, run_id="run2").approval["id"]
    expired = approvals.expire_due(store, slack_client_of=lambda _a: client)
    assert [a["id"] for a in expired] == [overdue]
    assert store.get_approval(overdue)["status"] == "expired"
    assert store.get_approval(current)["status"] == "pending"
    assert "Nothing was promoted" in str(slack_double.calls_to("chat.update")[0].args["blocks"])


def test_reminders_go_to_the_thread_and_the_escalation_channel_once_per_interval(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    approval = _request(store, client).approval
    later = utcnow() + timedelta(minutes=31)
    every = timedelta(minutes=30)
    kwargs = {"remind_every": every, "escalation_channel": "C_ESCALATE", "slack_client": client}
    assert approvals.send_reminders(store, now=utcnow(), **kwargs) == []
    assert approvals.send_reminders(store, now=later, **kwargs) == [approval["id"]]
    assert approvals.send_reminders(store, now=later + timedelta(minutes=1), **kwargs) == []
    posts = slack_double.calls_to("chat.postMessage")[1:]
    assert [(p.args["channel"], p.args.get("thread_ts")) for p in posts] == [
        ("C_APPROVALS", approval["slack_ts"]),
        ("C_ESCALATE", None),
    ]
    assert "Still waiting for a decision" in posts[0].args["text"]


def test_a_reminder_mentions_the_approvers_and_says_how_many_approvals_are_in(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    """A thread reply notifies only the thread's followers: the reminder mentions who may decide (the listed
    approvers, the user group), so they are notified, and a two-person request says how far it is."""
    people = approvals.Identities.parse('{"alice": {"slack": "U_ALICE"}, "bob": {"slack": "U_BOB"}}')
    two = _request(store, client, required_approvals=2).approval
    approvals.decide(
        store, two["id"], approve=True, user="U_ALICE", via="slack", slack_client=client, identities=people
    )
    group = _request(store, client, run_id="run2", approvers=[], approver_usergroup="S0MLOPS").approval
    later = utcnow() + timedelta(minutes=31)
    kwargs = {"remind_every": timedelta(minutes=30), "escalation_channel": "C_ESCALATE", "slack_client": client}
    assert sorted(approvals.send_reminders(store, now=later, **kwargs)) == [two["id"], group["id"]]
    texts = {
        p.args.get("thread_ts") or p.args["channel"]: p.args["text"] for p in slack_double.calls_to("chat.postMessage")
    }
    assert texts[two["slack_ts"]].startswith("<@U_ALICE> <@U_BOB> :bell: Still waiting"), texts
    assert "1 of 2 approvals so far" in texts[two["slack_ts"]]
    assert texts[group["slack_ts"]].startswith("<!subteam^S0MLOPS> :bell: Still waiting"), texts
    assert "approvals so far" not in texts[group["slack_ts"]]
    # the escalation channel is told, not the approvers pinged twice
    assert "<@" not in texts["C_ESCALATE"] and "<!subteam" not in texts["C_ESCALATE"]


def test_a_refused_escalation_does_not_repeat_the_thread_reminder(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answer = slack_double.answer  # the bot was not invited to the escalation channel

    def refusing(method: str, args: dict) -> dict:
        if args.get("channel") == "C_ESCALATE":
            return {"ok": False, "error": "not_in_channel"}
        return answer(method, args)

    monkeypatch.setattr(slack_double, "answer", refusing)
    approval = _request(store, client, expires_at=utcnow() + timedelta(days=1)).approval
    every = timedelta(hours=1)
    kwargs = {"remind_every": every, "escalation_channel": "C_ESCALATE", "slack_client": client}
    first = utcnow() + every + timedelta(minutes=1)
    assert approvals.send_reminders(store, now=first, **kwargs) == [approval["id"]]
    for minutes in (16, 32, 48):  # past the retry back-off, before the next interval
        assert approvals.send_reminders(store, now=first + timedelta(minutes=minutes), **kwargs) == []
    threaded = [p for p in slack_double.calls_to("chat.postMessage") if p.args.get("thread_ts")]
    assert len(threaded) == 1
    assert approvals.next_reminder_at(store.get_approval(approval["id"]), every) == first + every


def test_the_reminder_of_a_given_request_is_sent_however_many_newer_requests_wait(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    from airflow_provider_agentic_mlops.core.schema import approvals as approvals_table

    approval = _request(store, client, expires_at=utcnow() + timedelta(days=7)).approval
    now = utcnow()
    newer = [
        {
            "model_name": f"m{i % 200}",
            "model_version": str(i),
            "dag_id": f"agentic_mlops__m{i % 200}",
            "run_id": f"r{i}",
            "status": "pending",
            "required_approvals": 1,
            "requested_at": now,
            "expires_at": now + timedelta(days=7),
        }
        for i in range(1001)
    ]
    with store.engine.begin() as conn:
        conn.execute(approvals_table.insert(), newer)
    later = now + timedelta(hours=1, minutes=1)
    reminded = approvals.send_reminders(
        store, remind_every=timedelta(hours=1), approval_ids=[approval["id"]], now=later, slack_client=client
    )
    assert reminded == [approval["id"]]
    assert [p.args.get("thread_ts") for p in slack_double.calls_to("chat.postMessage")[1:]] == [approval["slack_ts"]]
    assert approvals.next_reminder_at(store.get_approval(approval["id"]), timedelta(hours=1)) > later


def test_a_reopened_request_is_first_reminded_one_interval_after_its_new_message(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_provider_agentic_mlops.core import state

    approval = _request(store, client, expires_at=utcnow() + timedelta(days=3)).approval
    every = timedelta(hours=4)
    approvals.send_reminders(store, remind_every=every, now=utcnow() + every, slack_client=client)
    store.close_approvals_of_run("fraud", dag_id="agentic_mlops__fraud", run_id="run1", reason="the task failed")
    two_days_later = utcnow() + timedelta(days=2)
    monkeypatch.setattr(state, "utcnow", lambda: two_days_later)  # the run is cleared two days later
    reopened = _request(store, client, expires_at=two_days_later + timedelta(days=1))
    assert reopened.created and reopened.approval["id"] == approval["id"]
    slack_double.clear()
    kwargs = {"remind_every": every, "slack_client": client}
    assert approvals.send_reminders(store, now=two_days_later + timedelta(minutes=1), **kwargs) == []
    assert approvals.send_reminders(store, now=two_days_later + every, **kwargs) == [approval["id"]]
    assert [p.args.get("thread_ts") for p in slack_double.calls_to("chat.postMessage")] == [
        reopened.approval["slack_ts"]
    ]


def test_a_late_click_is_told_who_decided_first(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    approval = _request(store, client).approval
    approval_id = approval["id"]
    approvals.decide(store, approval_id, approve=True, user="ops-admin", via="ui", slack_client=client)

    def click(user: str) -> ApprovalClick:
        return ApprovalClick(approval_id, False, user, None, "T", "C_APPROVALS", approval["slack_ts"], None)

    result = approvals.handle_click(store, click("U_BOB"), slack_client=client)
    result.send_answers()
    assert result.kind == "already_decided"
    ephemeral = slack_double.calls_to("chat.postEphemeral")
    assert len(ephemeral) == 1
    assert ephemeral[0].args["user"] == "U_BOB"
    assert "Already approved by ops-admin" in ephemeral[0].args["text"]
    assert store.get_approval(approval_id)["status"] == "approved"


HOSTILE = "<!channel> <https://evil.example|Re-approve here>"


@pytest.mark.parametrize("closed_by", ["decider", "cancel_reason"])
def test_ephemeral_answers_escape_names_and_reasons_for_slack(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
    closed_by: str,
) -> None:
    approval = _request(store, client).approval
    approval_id = approval["id"]
    if closed_by == "decider":
        approvals.decide(store, approval_id, approve=False, user=HOSTILE, via="ui", update_message=False)
    else:
        store.close_approvals_of_run("fraud", dag_id="agentic_mlops__fraud", run_id="run1", reason=HOSTILE)
    click = ApprovalClick(approval_id, True, "U_ALICE", None, "T", "C_APPROVALS", approval["slack_ts"], None)
    approvals.handle_click(store, click, slack_client=client).send_answers()
    [ephemeral] = slack_double.calls_to("chat.postEphemeral")
    text = ephemeral.args["text"]
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt; &lt;https://evil.example|Re-approve here&gt;" in text
    assert HOSTILE in store.get_approval(approval_id)["decided_by" if closed_by == "decider" else "reason"]


def _buttons(call) -> list:
    return [b for b in call.args["blocks"] if b["type"] == "actions"]


def test_a_superseded_requests_message_says_so_without_buttons(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    old = _request(store, client).approval
    new = _request(store, client, model_version="8").approval  # the cleared run retrained another version
    [update] = [c for c in slack_double.calls_to("chat.update") if c.args["ts"] == old["slack_ts"]]
    assert "Superseded" in update.args["text"] and f"replaced by request {new['id']}" in update.args["text"]
    assert not _buttons(update)


def test_a_click_on_a_cancelled_requests_message_removes_its_buttons(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    """The cancelling callback's update may have failed: a click on the message mends it."""
    approval = _request(store, client).approval
    store.close_approvals_of_run("fraud", dag_id="agentic_mlops__fraud", run_id="run1", reason="task failed")
    click = ApprovalClick(approval["id"], True, "U_ALICE", None, "T", "C_APPROVALS", approval["slack_ts"], None)
    result = approvals.handle_click(store, click, slack_client=client)
    result.send_answers()
    assert result.kind == "already_decided"
    [update] = slack_double.calls_to("chat.update")
    assert update.args["ts"] == approval["slack_ts"] and "Cancelled" in update.args["text"] and not _buttons(update)


def test_clicks_on_the_message_a_reopened_request_replaced_are_refused(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    old = _request(store, client).approval
    facts = approvals.RequestFacts()  # the endpoint's cache, holding the first message's ts
    facts.remember(store.get_approval(old["id"], with_votes=False))
    store.close_approvals_of_run("fraud", dag_id="agentic_mlops__fraud", run_id="run1", reason="task failed")
    reopened = _request(store, client)  # the cleared run asks again: a new message
    new_ts = reopened.approval["slack_ts"]
    assert reopened.posted and reopened.approval["id"] == old["id"] and new_ts != old["slack_ts"]
    [retired] = [c for c in slack_double.calls_to("chat.update") if c.args["ts"] == old["slack_ts"]]
    assert "newer message" in retired.args["text"] and not _buttons(retired)

    def click(ts: str, user: str = "U_ALICE") -> approvals.ClickResult:
        result = approvals.handle_click(
            store, ApprovalClick(old["id"], True, user, None, "T", "C_APPROVALS", ts, None), slack_client=client
        )
        result.send_answers()
        return result

    stale = click(old["slack_ts"])
    assert stale.kind == "wrong_message" and "newest message" in stale.text
    stored = store.get_approval(old["id"])
    assert stored["status"] == "pending" and stored["votes"] == []
    assert [c.args["ts"] for c in slack_double.calls_to("chat.update")].count(new_ts) == 0
    current = click(new_ts, user="U_BOB")
    assert current.kind == "recorded" and store.get_approval(old["id"])["decided_by"] == "U_BOB"
    assert slack_double.calls_to("chat.update")[-1].args["ts"] == new_ts


def test_a_cached_click_on_a_replaced_message_whose_retirement_failed_removes_its_buttons(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    """The reopen (in the sensor's process) could not update the old message, and the endpoint's cache still holds
    the old ts: the store refuses the vote for its message, and the click is answered as one on an out-of-date
    message, whose buttons go, instead of a bare "not recorded" that leaves them for the next click."""
    old = _request(store, client).approval
    facts = approvals.RequestFacts()
    facts.remember(store.get_approval(old["id"], with_votes=False))
    store.close_approvals_of_run("fraud", dag_id="agentic_mlops__fraud", run_id="run1", reason="task failed")
    slack_double.failing_methods.add("chat.update")  # the old message keeps its buttons
    new_ts = _request(store, client).approval["slack_ts"]
    slack_double.failing_methods.clear()
    slack_double.clear()

    stale = approvals.handle_click(
        store,
        ApprovalClick(old["id"], True, "U_ALICE", None, "T", "C_APPROVALS", old["slack_ts"], None),
        slack_client=client,
        facts=facts,
    )
    stale.send_answers()
    assert stale.kind == "wrong_message" and "newest message" in stale.text, stale.text
    assert store.get_approval(old["id"])["votes"] == []
    [retired] = [c for c in slack_double.calls_to("chat.update") if c.args["ts"] == old["slack_ts"]]
    assert "newer message" in retired.args["text"] and not _buttons(retired)
    assert facts.peek(old["id"])["slack_ts"] == new_ts


def test_a_changed_report_asks_again_in_a_new_message_and_the_old_buttons_decide_nothing(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    """Approved on report d1, then validation was re-run (the champion moved): the request is asked again for
    report d2 in a new message showing the new metrics; the approved message loses its buttons, and a click on
    it (a person who saw d1) records nothing."""
    old = _request(store, client, details={"validation": {"challenger_metrics": {"roc_auc": 0.81}}}).approval
    approvals.decide(store, old["id"], approve=True, user="U_ALICE", via="slack", slack_client=client)
    slack_double.clear()
    again = _request(store, client, report_digest="d2", details={"validation": {"challenger_metrics": {"f1": 0.5}}})
    assert again.created and again.posted and again.approval["id"] == old["id"]
    assert again.approval["status"] == "pending" and again.approval["report_digest"] == "d2"
    assert again.approval["details"]["validation"] == {"challenger_metrics": {"f1": 0.5}}
    [post] = slack_double.calls_to("chat.postMessage")
    shown = str(post.args["blocks"])
    assert _buttons(post) and "d2" in shown and "f1" in shown and "roc_auc" not in shown
    [retired] = [c for c in slack_double.calls_to("chat.update") if c.args["ts"] == old["slack_ts"]]
    assert "validation report changed" in retired.args["text"] and not _buttons(retired)

    stale = approvals.handle_click(
        store,
        ApprovalClick(old["id"], True, "U_BOB", None, "T", "C_APPROVALS", old["slack_ts"], None),
        slack_client=client,
    )
    assert stale.kind == "wrong_message" and "validation report changed" in stale.text
    assert store.get_approval(old["id"])["status"] == "pending" and store.get_approval(old["id"])["votes"] == []
    new_ts = again.approval["slack_ts"]
    current = approvals.handle_click(
        store, ApprovalClick(old["id"], True, "U_BOB", None, "T", "C_APPROVALS", new_ts, None), slack_client=client
    )
    assert current.kind == "recorded" and store.get_approval(old["id"])["decided_by"] == "U_BOB"


def test_a_click_on_an_unknown_request_records_nothing(store: StateStore, client: WebClient) -> None:
    result = approvals.handle_click(
        store, ApprovalClick(999, True, "U_ALICE", None, "T", "C", "1.1", None), slack_client=client
    )
    assert result.kind == "unknown" and "does not exist" in result.text


STORE = "agentic_mlops_state_default"


def _lose_the_record(store: StateStore, monkeypatch: pytest.MonkeyPatch, *, committed: bool = False) -> None:
    """The next recording of a request's Slack message fails (a state-store blip), after committing or not."""
    real = store.set_approval_message

    def lost(*args: object, **kwargs: object) -> None:
        monkeypatch.setattr(store, "set_approval_message", real)
        if committed:
            real(*args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("state store connection lost")

    monkeypatch.setattr(store, "set_approval_message", lost)


def _on(approval_id: int, ts: str, user: str = "U_ALICE") -> ApprovalClick:
    """A click on the message ``ts`` whose buttons name the request's store (as posted today)."""
    return ApprovalClick(approval_id, True, user, None, "T", "C_APPROVALS", ts, None, state_conn_id=STORE)


def test_a_post_whose_recording_failed_loses_its_buttons_and_the_retry_posts_again(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _lose_the_record(store, monkeypatch)
    with pytest.raises(RuntimeError, match="connection lost"):
        _request(store, client, state_conn_id=STORE)
    [first] = slack_double.calls_to("chat.postMessage")
    first_ts = first.answer["ts"]
    [withdrawn] = [c for c in slack_double.calls_to("chat.update") if c.args["ts"] == first_ts]
    assert not _buttons(withdrawn) and "could not be recorded" in withdrawn.args["text"]

    retry = _request(store, client, state_conn_id=STORE)  # the task's retry

    assert retry.posted and retry.approval["slack_ts"] not in (None, first_ts)
    assert approvals.handle_click(store, _on(1, retry.approval["slack_ts"]), slack_client=client).kind == "recorded"


def test_a_message_whose_record_was_lost_is_refused_as_out_of_date_and_loses_its_buttons(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first message kept its buttons (Slack refused the update, or the task died right after posting):
    a click on it says the request was posted again, and removes them."""
    slack_double.failing_methods.add("chat.update")
    _lose_the_record(store, monkeypatch)
    with pytest.raises(RuntimeError, match="connection lost"):
        _request(store, client, state_conn_id=STORE)
    slack_double.failing_methods.clear()
    [first_ts] = [c.answer["ts"] for c in slack_double.calls_to("chat.postMessage")]
    slack_double.clear()
    orphan = approvals.handle_click(store, _on(1, first_ts), slack_client=client)
    orphan.send_answers()
    assert orphan.kind == "wrong_message" and "no Slack message recorded" in orphan.text
    assert "retries" in orphan.text and "another store" not in orphan.text
    assert slack_double.calls_to("chat.update") == []  # maybe just posted, about to be recorded: kept

    retry = _request(store, client, state_conn_id=STORE)
    stale = approvals.handle_click(store, _on(1, first_ts), slack_client=client)
    stale.send_answers()

    assert stale.kind == "wrong_message" and "out of date" in stale.text and "newer message" in stale.text
    assert "another store" not in stale.text
    stored = store.get_approval(1)
    assert stored["status"] == "pending" and stored["votes"] == []
    [retired] = [c for c in slack_double.calls_to("chat.update") if c.args["ts"] == first_ts]
    assert not _buttons(retired) and "newer message" in retired.args["text"]
    assert retry.approval["slack_ts"] not in [c.args["ts"] for c in slack_double.calls_to("chat.update")]


def test_a_record_committed_before_its_error_keeps_the_message(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The store committed the message's ts but its answer was lost: the message is the request's, so it keeps
    its buttons (a retry would post nothing, and a message without buttons could never be clicked)."""
    _lose_the_record(store, monkeypatch, committed=True)
    result = _request(store, client, state_conn_id=STORE)
    [post] = slack_double.calls_to("chat.postMessage")
    assert result.posted and result.approval["slack_ts"] == post.answer["ts"]
    assert slack_double.calls_to("chat.update") == []


def test_a_failed_post_names_the_channel_and_a_retry_posts_it(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    slack_double.failing_methods.add("chat.postMessage")
    with pytest.raises(RuntimeError, match="could not post approval request 1 to Slack channel 'C_APPROVALS'"):
        _request(store, client)
    slack_double.failing_methods.clear()
    retry = _request(store, client)
    assert retry.posted and not retry.created and retry.approval["slack_ts"]


def _request_of_sensor(store: StateStore, client: WebClient) -> dict:
    """A request as the sensor makes it: its details name the sensor's task, whose Airflow state says whether
    the run still waits for the decision."""
    return _request(store, client, details={"sensor_task_id": "wait_for_approval", "sensor_map_index": -1}).approval


@pytest.mark.parametrize("state", ["success", "failed", "skipped", "upstream_failed", "removed"])
def test_a_click_after_the_sensor_was_marked_done_by_hand_cancels_the_request_and_says_why(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
    state: str,
) -> None:
    """A task marked failed or success in Airflow's UI runs no failure callback: the request stays pending,
    and an approve must not be recorded (nor the message promise a promotion) when nothing will promote."""
    approval = _request_of_sensor(store, client)
    seen = []

    def task_state(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
        seen.append((dag_id, run_id, task_id, map_index))
        return state

    outcome = approvals.decide(
        store, approval["id"], approve=True, user="U_ALICE", via="slack", slack_client=client, task_state=task_state
    )
    assert seen == [("agentic_mlops__fraud", "run1", "wait_for_approval", -1)]
    assert not outcome.recorded and outcome.approval["status"] == "cancelled"
    assert f"wait_for_approval is {state}" in outcome.message and "no longer waits" in outcome.message
    stored = store.get_approval(approval["id"])
    assert stored["status"] == "cancelled" and stored["votes"] == [] and "no longer waits" in stored["reason"]
    update = slack_double.calls_to("chat.update")[-1].args
    assert "Cancelled" in update["text"] and "will be promoted" not in update["text"]


@pytest.mark.parametrize("state", ["deferred", "running", "up_for_reschedule", "queued", "scheduled", None])
def test_a_click_while_the_sensor_waits_is_recorded(store: StateStore, client: WebClient, state: str | None) -> None:
    approval = _request_of_sensor(store, client)
    outcome = approvals.decide(
        store,
        approval["id"],
        approve=True,
        user="U_ALICE",
        via="slack",
        slack_client=client,
        task_state=lambda *_: state,
    )
    assert outcome.recorded and outcome.approval["status"] == "approved"


@pytest.fixture
def airflow_db(tmp_path, monkeypatch: pytest.MonkeyPatch) -> object:
    """The deployment's Airflow metadata database (it knows the model's DAG), where a decision reads the sensor's
    state."""
    from airflow import settings

    from tests.doubles.airflow_metadata import add_dag, task_instance_db

    engine = task_instance_db(tmp_path / "airflow.db")
    add_dag(engine, "agentic_mlops__fraud")
    monkeypatch.setattr(settings, "engine", engine)
    monkeypatch.setattr(approvals, "_airflow_task_state", _READ_AIRFLOW_TASK_STATE)  # not the waiting stand-in
    return engine


def test_an_approve_after_the_run_was_deleted_cancels_the_request(
    store: StateStore,
    client: WebClient,
    slack_double: SlackDouble,  # noqa: F811
    airflow_db: object,
) -> None:
    """A deleted run has no task instance left: nothing will resume to promote, so the approve is not recorded
    (the message must not say "Promotion runs next") and the request is cancelled, saying why."""
    approval = _request_of_sensor(store, client)
    outcome = approvals.decide(store, approval["id"], approve=True, user="U_ALICE", via="slack", slack_client=client)
    assert not outcome.recorded and outcome.approval["status"] == "cancelled"
    assert "wait_for_approval is no longer in Airflow (its run was deleted)" in outcome.message
    assert store.get_approval(approval["id"])["votes"] == []
    update = slack_double.calls_to("chat.update")[-1].args
    assert "Cancelled" in update["text"] and "Promotion runs next" not in update["text"]


def test_a_decision_read_against_another_metadata_database_cancels_nothing(
    store: StateStore,
    client: WebClient,
    airflow_db: object,
) -> None:
    """A CLI whose AIRFLOW_HOME points at another metadata database (a laptop's, a fresh one) finds neither the run
    nor its DAG: that is not proof the run was deleted. An approve is refused saying which database to check; the
    request stays open; a deny (it never promotes) is recorded."""
    from airflow.models.dag import DagModel

    with airflow_db.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(DagModel.__table__.delete())  # not the deployment's database: it does not know the DAG
    approval = _request_of_sensor(store, client)
    with pytest.raises(approvals.ApprovalRefused) as refused:
        approvals.decide(store, approval["id"], approve=True, user="alice", via="cli")
    message = str(refused.value)
    assert "metadata database" in message and "has no DAG agentic_mlops__fraud" in message, message
    assert "AIRFLOW_HOME" in message and "sql_alchemy_conn" in message, message
    assert store.get_approval(approval["id"])["status"] == "pending"
    outcome = approvals.decide(store, approval["id"], approve=False, user="alice", via="cli")
    assert outcome.recorded and outcome.approval["status"] == "denied"


def test_a_request_made_before_requests_named_a_map_index_is_not_cancelled_for_a_missing_task(
    store: StateStore, client: WebClient, airflow_db: object
) -> None:
    """A request from before the upgrade names its sensor task but no map index: for a mapped sensor the
    unmapped task instance it reads never existed, so "missing" cannot tell a deleted run from a mapped one,
    and the vote is taken as it was before (a live wait must not be cancelled by an upgrade)."""
    from tests.doubles.airflow_metadata import add_task_instance

    add_task_instance(airflow_db, "agentic_mlops__fraud", "run1", "wait_for_approval", 0, "running")
    approval = _request(store, client, details={"sensor_task_id": "wait_for_approval"}).approval
    outcome = approvals.decide(store, approval["id"], approve=True, user="U_ALICE", via="slack", slack_client=client)
    assert outcome.recorded and outcome.approval["status"] == "approved"


@pytest.mark.parametrize(("map_index", "recorded"), [(0, False), (1, True)])
def test_a_mapped_sensor_is_read_at_its_own_map_index(
    store: StateStore,
    client: WebClient,
    airflow_db: object,
    map_index: int,
    recorded: bool,
) -> None:
    """A mapped sensor (``partial().expand()``) has no unmapped task instance: the request names its map index,
    and the decision reads that copy's state (failed at 0: cancelled; still waiting at 1: recorded)."""
    from tests.doubles.airflow_metadata import add_task_instance

    for index, state in ((0, "failed"), (1, "running")):
        add_task_instance(airflow_db, "agentic_mlops__fraud", "run1", "wait_for_approval", index, state)
    details = {"sensor_task_id": "wait_for_approval", "sensor_map_index": map_index}
    approval = _request(store, client, details=details).approval
    outcome = approvals.decide(store, approval["id"], approve=True, user="U_ALICE", via="slack", slack_client=client)
    if recorded:
        assert outcome.recorded and outcome.approval["status"] == "approved"
    else:
        assert not outcome.recorded and outcome.approval["status"] == "cancelled"
        assert "wait_for_approval[0] is failed" in outcome.message


def test_a_sensor_task_cleared_but_not_yet_running_still_waits(
    store: StateStore, client: WebClient, airflow_db: object
) -> None:
    """A task instance Airflow has without a state (just cleared) is not a deleted one: its run still waits."""
    from tests.doubles.airflow_metadata import add_task_instance

    add_task_instance(airflow_db, "agentic_mlops__fraud", "run1", "wait_for_approval", -1, None)
    approval = _request_of_sensor(store, client)
    outcome = approvals.decide(store, approval["id"], approve=True, user="U_ALICE", via="slack", slack_client=client)
    assert outcome.recorded and outcome.approval["status"] == "approved"


def test_an_approve_is_refused_when_the_sensor_state_cannot_be_read_but_a_deny_counts(
    store: StateStore, client: WebClient
) -> None:
    approval = _request_of_sensor(store, client)

    def unreadable(*_: str) -> str:
        raise RuntimeError("metadata database unreachable")

    with pytest.raises(approvals.ApprovalRefused, match="could not check that run run1 still waits"):
        approvals.decide(
            store, approval["id"], approve=True, user="U_ALICE", via="slack", slack_client=client, task_state=unreadable
        )
    assert store.get_approval(approval["id"])["votes"] == []
    denied = approvals.decide(
        store, approval["id"], approve=False, user="U_ALICE", via="slack", slack_client=client, task_state=unreadable
    )
    assert denied.recorded and denied.approval["status"] == "denied"


def test_approvers_given_as_a_string_are_read_as_user_ids_not_characters(store: StateStore) -> None:
    approval = _request(store, None, approvers="U_BOB, U_ALICE").approval
    assert approval["details"]["approvers"] == ["U_ALICE", "U_BOB"]
    with pytest.raises(ValueError, match="'alice' is not a Slack user id"):
        _request(store, None, run_id="run2", approvers="alice")


def test_a_slack_connection_created_after_a_lookup_missed_is_used_without_a_restart(
    slack_double: SlackDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API server's process lives for days: a miss cached for its lifetime kept Slack off until a restart."""
    import json

    approvals._clients.clear()
    assert approvals.slack_client_for(slack_conn_id="slack_later") is None
    conn = {"conn_type": "slack", "password": "xoxb-test-token", "extra": {"base_url": slack_double.base_url}}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_LATER", json.dumps(conn))
    try:
        assert approvals.slack_client_for(slack_conn_id="slack_later") is not None
    finally:
        approvals._clients.clear()


def test_a_post_slack_failed_on_its_side_is_not_sent_again_but_an_update_is(
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    """A chat.postMessage retried after a 500 could post the approval message twice (Slack: part of the operation
    may have succeeded), the second with buttons for a ts nobody recorded; chat.update is safe to repeat."""
    from slack_sdk.errors import SlackApiError

    from airflow_provider_agentic_mlops.approvals import slack_client_for

    client = slack_client_for(slack_conn_id=slack_connection)
    assert client is not None
    slack_double.queued_answers["chat.postMessage"] = [(500, {}, {"ok": False, "error": "internal_error"})]
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="Approve fraud-detector v7?")
    assert len(slack_double.calls_to("chat.postMessage")) == 1
    slack_double.queued_answers["chat.update"] = [(500, {}, {"ok": False, "error": "internal_error"})]
    assert client.chat_update(channel="C1", ts="1.1", text="Approved")["ok"]
    assert [c.answer["ok"] for c in slack_double.calls_to("chat.update")] == [False, True]
