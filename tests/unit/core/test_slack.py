"""Block Kit approval messages, interaction parsing and the approver allowlist (no Slack, no Airflow)."""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
from datetime import datetime
from urllib.parse import quote_plus, unquote_plus, urlencode

import pytest

from airflow_provider_agentic_mlops.core import slack

APPROVAL = {
    "id": 42,
    "model_name": "fraud-detector",
    "model_version": "7",
    "dag_id": "agentic_mlops__fraud-detector",
    "run_id": "manual__2026-01-01",
    "report_digest": "abcdef0123456789",
    "status": "pending",
    "required_approvals": 1,
    "expires_at": datetime(2026, 1, 2, 12, 0),
    "votes": [],
    "details": slack.message_details(
        drift={
            "dataset_drift": True,
            "drift_share": 0.6,
            "share_threshold": 0.5,
            "n_columns": 10,
            "n_drifted": 6,
            "top_drifted": [{"column": "amount", "score": 0.91, "method": "psi", "threshold": 0.1}] * 7,
            "columns": {"amount": {"score": 0.91}},
        },
        rationale="Drift on amount above the critical share.",
        validation={
            "passed": True,
            "primary_metric": "roc_auc",
            "champion_version": "6",
            "challenger_version": "7",
            "champion_metrics": {"roc_auc": 0.81, "f1": 0.5},
            "challenger_metrics": {"roc_auc": 0.86, "f1": 0.55},
            "report_uri": "file:///tmp/report.html",
            "report_digest": "abcdef0123456789",
        },
        links={"MLflow": "http://mlflow/#/models/fraud/versions/7", "empty": ""},
    ),
}


def _all_text(message: dict) -> str:
    return json.dumps(message["blocks"])


def test_request_message_shows_drift_rationale_metrics_links_and_buttons_carrying_the_id() -> None:
    message = slack.request_message(APPROVAL)
    text = _all_text(message)
    assert "6 of 10 columns drifted" in text
    assert "Drift on amount above the critical share." in text
    assert "`roc_auc` (primary): 0.8100 -> 0.8600" in text  # a metric name is code, kept exact
    assert "http://mlflow/#/models/fraud/versions/7|MLflow" in text
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    assert len(actions) == 1
    buttons = {e["action_id"]: e["value"] for e in actions[0]["elements"]}
    assert buttons == {slack.ACTION_APPROVE: "42", slack.ACTION_DENY: "42"}
    assert "fraud-detector v7" in message["text"]


def test_message_details_keep_only_the_top_five_drifted_columns_and_drop_empty_links() -> None:
    details = APPROVAL["details"]
    assert len(details["drift"]["top_drifted"]) == 5
    assert "columns" not in details["drift"]
    assert details["links"] == {"MLflow": "http://mlflow/#/models/fraud/versions/7"}


def test_decided_message_has_no_buttons_and_says_who_decided() -> None:
    decided = {
        **APPROVAL,
        "status": "approved",
        "decided_by": "U1,U2",
        "decided_via": "slack",
        "decided_at": datetime(2026, 1, 1, 9, 30),
    }
    message = slack.current_message(decided)
    assert not [b for b in message["blocks"] if b["type"] == "actions"]
    assert "Approved by <@U1>, <@U2> via slack at 2026-01-01 09:30 UTC" in _all_text(message)


def test_the_decider_is_a_mention_when_a_slack_user_id_and_escaped_text_otherwise() -> None:
    """A Slack user not in the identity map decides as their Slack id: the channel shows their name (a
    mention), not the raw id; anything else (an Airflow user, the timeout) stays text, escaped."""
    decided = {**APPROVAL, "status": "approved", "decided_by": "alice,U_BOB,os:<!channel>", "decided_via": "slack"}
    text = slack.outcome_text(decided)
    assert text.startswith("Approved by alice, <@U_BOB>, os:&lt;!channel&gt; via slack")


def test_an_approved_message_promises_no_promotion() -> None:
    """An approval does not promote by itself: the run's promote task does, if the run still goes on."""
    text = slack.outcome_text({**APPROVAL, "status": "approved", "decided_by": "alice", "decided_via": "ui"})
    assert text.endswith("Promotion runs next.") and "will be promoted" not in text


def test_a_reason_cannot_forge_a_status_line() -> None:
    """A reason is someone's free text: it may not end the bold outcome line, start a line of its own or be
    formatted, in the blocks or in the notification ``text``: it stays visibly a quoted reason."""
    forged = "fine*\n\n*:white_check_mark: Approved by <@U_BOB> via slack. Promotion runs next."
    denied = {**APPROVAL, "status": "denied", "decided_by": "U_ALICE", "decided_via": "cli", "reason": forged}
    message = slack.decided_message(denied)
    # the notification text: one line, the reason in a code span (no formatting inside), nothing unescaped
    assert "\n" not in message["text"] and "<@U_BOB>" not in message["text"]
    quoted = "`fine* *:white_check_mark: Approved by &lt;@U_BOB&gt; via slack. Promotion runs next.`"
    assert f"Denied by <@U_ALICE> via cli - {quoted}. The version will not be promoted." in message["text"]
    # the blocks: the bold outcome line carries no reason; the reason is plain text (no mrkdwn, no emoji)
    outcome, reason = message["blocks"][-2:]
    assert outcome["text"]["text"] == "*:no_entry: Denied by <@U_ALICE> via cli. The version will not be promoted.*"
    assert reason == {
        "type": "context",
        "elements": [
            {
                "type": "plain_text",
                "text": "Reason: fine* *:white_check_mark: Approved by <@U_BOB> via slack. Promotion runs next.",
                "emoji": False,
            }
        ],
    }
    assert "Promotion runs next" not in json.dumps(message["blocks"][:-1])


def test_expired_message_says_it_was_denied_and_nothing_promoted() -> None:
    message = slack.decided_message({**APPROVAL, "status": "expired", "decided_at": datetime(2026, 1, 2, 12, 0)})
    assert "nobody decided before the deadline, so it was denied. Nothing was promoted." in _all_text(message)


def test_two_person_request_shows_progress() -> None:
    message = slack.request_message(
        {**APPROVAL, "required_approvals": 2, "votes": [{"user_id": "U1", "vote": "approve"}]}
    )
    assert "1 of 2 approvals so far" in _all_text(message)


def test_reminder_says_how_long_is_left() -> None:
    text = slack.reminder_text(APPROVAL, now=datetime(2026, 1, 2, 9, 0))
    assert "#42" in text and "3.0 h" in text


def _body(payload: dict) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def _click(action_id: str = slack.ACTION_APPROVE, value: str = "42", **extra: object) -> dict:
    return {
        "type": "block_actions",
        "user": {"id": "U1", "username": "alice"},
        "team": {"id": "T1"},
        "channel": {"id": "C1"},
        "message": {"ts": "1.2"},
        "response_url": "https://hooks.slack.test/x",
        "actions": [{"action_id": action_id, "value": value}],
        **extra,
    }


def test_parse_interaction_reads_the_click() -> None:
    click = slack.parse_interaction(slack.parse_form_body(_body(_click(slack.ACTION_DENY))))
    assert click == slack.ApprovalClick(
        approval_id=42,
        approve=False,
        user_id="U1",
        user_name="alice",
        team_id="T1",
        channel_id="C1",
        message_ts="1.2",
        response_url=None,  # not one of Slack's hosts
    )


def test_a_user_name_no_database_can_store_is_scrubbed() -> None:
    # a lone surrogate ("\\ud800" in the JSON) reached the append-only audit trail, whose PostgreSQL json
    # column took it and could not read the row back: every page reading the audit failed for ever
    click = slack.parse_interaction({**_click(), "user": {"id": "U1", "username": "\ud800al\x00ice\n"}})
    assert click is not None and click.user_name == "\ufffdal\ufffdice"


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://hooks.slack.com/actions/T1/1/x", True),
        ("https://hooks.slack-gov.com/actions/T1/1/x", True),
        ("https://hooks.slack.test/x", False),
        ("https://169.254.169.254/latest/meta-data", False),
        ("https://hooks.slack.com@attacker.example/x", False),
        ("https://hooks.slack.com.attacker.example/x", False),
        ("https://hooks.slack.com:8443/x", False),
        ("https://[hooks.slack.com/x", False),
    ],
)
def test_a_response_url_off_slacks_hosts_is_never_used(url: str, kept: bool) -> None:
    # the server POSTs to it (an answer when there is no channel): any https URL made it a request forger
    click = slack.parse_interaction({**_click(), "response_url": url})
    assert click is not None and click.response_url == (url if kept else None)


def test_parse_interaction_ignores_other_payloads_and_other_buttons() -> None:
    assert slack.parse_interaction({"type": "view_submission"}) is None
    assert slack.parse_interaction(_click(action_id="someone_elses_button")) is None


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (_click(value="42; DROP TABLE"), "is not an approval id"),
        ({**_click(), "user": {}}, "no user.id"),
        ({**_click(), "user": "U_ALICE"}, "'user' must be an object"),
        ({**_click(), "user": ["U_ALICE"]}, "'user' must be an object"),
        ({**_click(), "team": "T1"}, "'team' must be an object"),
        ({**_click(), "actions": {"action_id": "agentic_mlops_approve"}}, "'actions' must be a list of objects"),
        ({**_click(), "actions": ["agentic_mlops_approve"]}, "'actions' must be a list of objects"),
        (_click(value="9" * 5000), "is not an approval id"),
        (_click(value=42), "is not an approval id"),
        ({**_click(), "user": {"id": "U" * 300}}, "is not a Slack id"),
        ({**_click(), "user": {"id": 12}}, "is not a Slack id"),
        ({**_click(), "channel": {"id": "C" * 300}}, "is not a Slack id"),
        ({**_click(), "message": {"ts": "x" * 300}}, "is not a Slack ts"),
        ({**_click(), "response_url": "http://attacker.example/"}, "not an https URL"),
    ],
)
def test_parse_interaction_rejects_malformed_clicks(payload: dict, error: str) -> None:
    with pytest.raises(slack.InteractionError, match=error):
        slack.parse_interaction(payload)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"foo=bar", "no 'payload'"),
        (b"payload=%7Bnot-json", "not JSON"),
        (b"payload=%5B1%5D", "JSON object"),
        (b"payload=" + b"%5B" * 5000 + b"%5D" * 5000, "nested too deeply"),
        (b"payload=" + b"9" * 5000, "not JSON"),
        (b"payload=%FF", "not JSON"),
        (b"payload=\xff", "not UTF-8"),
        (b"&".join(b"a=%d" % i for i in range(100)), "not a Slack interaction form"),
    ],
)
def test_parse_form_body_rejects_bodies_that_are_not_interactions(body: bytes, error: str) -> None:
    with pytest.raises(slack.InteractionError, match=error):
        slack.parse_form_body(body)


@pytest.mark.parametrize(
    "value",
    [
        quote_plus(json.dumps(_click(), ensure_ascii=False)),
        quote_plus(json.dumps({"text": "café ☃ \\x41 \\u0041 \\n +%", "emoji": "😀"}, ensure_ascii=False)),
        "a+b%2Bc%20d",
        "%zz%4",
        "100%",
        "%",
        "%C3%28",  # escapes that are not UTF-8
        "%FF",
        "é%C3%A9",  # not ASCII as sent
        "back\\slash\\x41\\u0041%5Cx41",
        "",
    ],
)
def test_a_form_value_is_decoded_as_urllib_decodes_it(value: str) -> None:
    assert slack.form_value(value) == unquote_plus(value)


def test_the_payload_field_reads_as_parse_qs_reads_it() -> None:
    payload = {**_click(), "note": "50% & more; a=b+c é"}
    body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode()
    assert slack.parse_form_body(body) == payload
    with_others = urlencode({"payload": json.dumps(payload), "other": "x"}).encode()
    assert slack.parse_form_body(with_others) == payload
    with pytest.raises(slack.InteractionError, match="no 'payload'"):
        slack.parse_form_body(b"payload=")


# -- untrusted text in mrkdwn ----------------------------------------------------------------------

HOSTILE = "<!channel> <https://evil.example|MLflow report> & <@U0BOSS>"


def _hostile_approval(status: str = "pending") -> dict:
    return {
        **APPROVAL,
        "model_name": f"fraud {HOSTILE}",
        "model_version": f"7 {HOSTILE}",
        "dag_id": f"agentic_mlops__x`{HOSTILE}",
        "run_id": HOSTILE,
        "status": status,
        "decided_by": HOSTILE,
        "decided_via": "ui",
        "reason": HOSTILE,
        "details": slack.message_details(
            drift={
                "dataset_drift": True,
                "drift_share": 0.6,
                # numbers when the provider computes them; a stored request is data all the same
                "n_columns": HOSTILE,
                "n_drifted": HOSTILE,
                "share_threshold": HOSTILE,
                "top_drifted": [{"column": HOSTILE, "method": HOSTILE, "score": HOSTILE, "threshold": 0.1}],
            },
            rationale=f"The LLM says {HOSTILE}",
            validation={
                "primary_metric": HOSTILE,
                "champion_version": HOSTILE,
                "challenger_version": "7",
                "champion_metrics": {HOSTILE: 0.8},
                "challenger_metrics": {HOSTILE: 0.9},
                "reasons": [HOSTILE],
            },
            links={HOSTILE: "https://mlflow.example/#/models/x|<!here>", "report": "javascript:alert(1)"},
        ),
    }


def _mrkdwn_texts(message: dict) -> list[str]:
    """Every string Slack parses as mrkdwn: the fallback ``text`` and each mrkdwn text object."""
    found = [message["text"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message["blocks"])
    return found


@pytest.mark.parametrize("status", ["pending", "approved", "denied"])
def test_hostile_text_in_every_field_cannot_mention_or_disguise_a_link(status: str) -> None:
    message = slack.current_message(_hostile_approval(status))
    texts = _mrkdwn_texts(message)
    assert len(texts) >= 5
    for text in texts:
        assert "<!" not in text and "<@" not in text and "<https://evil" not in text, text
    joined = "\n".join(texts)
    assert "&lt;!channel&gt;" in joined  # shown, inert
    # the one real link points where the config said, its label escaped; a javascript: URL is no link
    assert "<https://mlflow.example/#/models/x%7C%3C!here%3E|&lt;!channel&gt; &lt;https://evil.example/MLflow" in joined
    assert "<javascript" not in joined


def test_reminders_and_escalations_escape_the_model_name_and_channel() -> None:
    approval = _hostile_approval()
    now = datetime(2026, 1, 2, 10, 0)
    for text in (
        slack.reminder_text(approval, now=now),
        slack.escalation_text(approval, now=now, channel="<!everyone>"),
    ):
        assert "<!" not in text and "<https://evil" not in text, text
    assert "<#C0123ABC>" in slack.escalation_text(approval, now=now, channel="C0123ABC")


def test_escalation_message_escapes_rationale_columns_rules_and_override() -> None:
    text = slack.escalation_message(
        f"m {HOSTILE}",
        {
            "id": 3,
            "decided_by": HOSTILE,
            "rationale": HOSTILE,
            "override_reason": HOSTILE,
            "rules_fired": [{"rule": HOSTILE}],
            "inputs": {"drift": {"drift_share": 0.5, "top_drifted": [{"column": HOSTILE, "score": 0.9}]}},
        },
    )
    assert "<!" not in text and "<@" not in text and "<https://evil" not in text
    assert text.count("&lt;!channel&gt;") == 8  # the model name also in the trace and next-step commands


def test_escape_mrkdwn_escapes_ampersand_first() -> None:
    assert slack.escape_mrkdwn("a & <b>") == "a &amp; &lt;b&gt;"
    assert slack.escape_mrkdwn("&lt;") == "&amp;lt;"


def _slack_error(status: int, error: str) -> BaseException:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web import SlackResponse

    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/chat.postMessage",
        req_args={},
        data={"ok": False, "error": error},
        headers={},
        status_code=status,
    )
    return SlackApiError(f"The request to the Slack API failed. {error}", response)


@pytest.mark.parametrize(
    ("error", "maybe"),
    [
        (TimeoutError("timed out"), True),
        (http.client.RemoteDisconnected("closed"), True),
        (urllib.error.URLError(TimeoutError("timed out")), True),
        (ConnectionRefusedError("refused"), False),  # never reached Slack
        (urllib.error.URLError("Name or service not known"), False),
        (RuntimeError("ratelimited"), False),  # Slack's answer
        # Slack failing on its side: part of the call may have succeeded (its docs for internal_error, fatal_error)
        (_slack_error(500, "internal_error"), True),
        (_slack_error(200, "fatal_error"), True),
        (_slack_error(503, "service_unavailable"), True),
        (_slack_error(429, "ratelimited"), False),
        (_slack_error(200, "channel_not_found"), False),
        (_slack_error(200, "request_timeout"), False),  # the POST data arrived truncated: nothing was done
    ],
)
def test_only_a_call_that_may_have_reached_slack_counts_as_maybe_delivered(error: BaseException, maybe: bool) -> None:
    from airflow_provider_agentic_mlops.core.slack import maybe_delivered

    assert maybe_delivered(error) is maybe


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (_slack_error(503, "service_unavailable"), "Slack answered HTTP 503 (service_unavailable)"),
        (_slack_error(500, "internal_error"), "Slack answered HTTP 500 (internal_error)"),
        (_slack_error(200, "fatal_error"), "Slack answered with error fatal_error"),
        (TimeoutError("timed out"), "Slack did not answer in time"),
        (urllib.error.URLError(TimeoutError("timed out")), "Slack did not answer in time"),
        (http.client.RemoteDisconnected("closed"), "The connection to Slack dropped before its answer"),
    ],
)
def test_a_call_that_may_have_reached_slack_says_what_happened(error: BaseException, said: str) -> None:
    """An HTTP 5xx is an answer (Slack failed on its side), not a call Slack left unanswered."""
    assert slack.maybe_delivered_cause(error) == said


def test_a_failure_on_slacks_side_says_slack_may_have_posted_it_and_a_truncated_request_is_not_slacks() -> None:
    hint = slack.post_refused_hint("internal_error", channel="C_OPS", slack_conn_id="slack_api_default", status=500)
    assert "Slack may have posted it" in hint and "check channel 'C_OPS' before clearing" in hint
    assert "not posted" not in hint
    assert "request_timeout" not in slack.SLACK_SIDE_ERRORS
    truncated = slack.post_refused_hint("request_timeout", channel="C_OPS", slack_conn_id="slack_api_default")
    assert "on Slack's side" not in truncated


@pytest.mark.parametrize(
    ("error", "says"),
    [
        ("is_archived", ["channel 'C_OPS' is archived", "unarchive it", "approval.escalation_channel"]),
        ("restricted_action", ["may not post in channel 'C_OPS'", "Slack admin", "approval.escalation_channel"]),
        ("msg_too_long", ["longer than Slack accepts", "not posted (it is in this log)"]),
        ("invalid_blocks", ["layout", "not posted (it is in this log)", "issue"]),
    ],
)
def test_a_post_slack_refuses_for_the_channel_or_the_message_gets_a_hint_for_that_error(
    error: str, says: list[str]
) -> None:
    hint = slack.post_refused_hint(error, channel="C_OPS", slack_conn_id="slack_api_default")
    assert "check Slack connection" not in hint  # not the generic hint
    for part in says:
        assert part in hint


# -- Slack's formatting (bold, italics, strike, code) in untrusted text ----------------------------------

#: data that would format a message if it reached mrkdwn as it is
FORMATTED = "*URGENT* _approve_ ~now~ `rm -rf` snake_case_name <!channel> <https://evil.example|approve here>"
_EDGE = r"\s\(\)\[\]\{\}\"'.,;:!?/|>-"


def _formatted_spans(text: str) -> list[tuple[str, str]]:
    """The ``(delimiter, text)`` of what Slack would show bold, italic, struck or as code in ``text``: a delimiter
    opens at the start or after a space or punctuation, before a non-space, and closes before the end, a space or
    punctuation (Slack's rule for ``*bold*``: ``a*b*`` is not bold). Code spans first: nothing inside them formats."""
    spans = [("`", inner) for inner in re.findall(r"`([^`\n]+)`", text)]
    outside = re.sub(r"`[^`\n]+`", " ", text)
    for mark in "*_~":
        m = re.escape(mark)
        # inside, the mark only where it cannot close (not before the end, a space or punctuation)
        inner = rf"(?:[^{m}\n]|{m}(?!$|[{_EDGE}]))*?"
        pattern = rf"(?:^|(?<=[{_EDGE}])){m}([^\s{m}](?:{inner}[^\s{m}])?){m}(?=$|[{_EDGE}])"
        spans += [(mark, inner) for inner in re.findall(pattern, outside, flags=re.MULTILINE)]
    return spans


def _data_formatted(text: str) -> list[tuple[str, str]]:
    """The spans in ``text`` that :data:`FORMATTED`'s own formatting makes (``*URGENT*``, ```rm -rf```...); the
    message's own (its labels, the italics around the validation reasons, data it shows as inline code) are others."""
    made = set(_formatted_spans(FORMATTED))
    return [(mark, inner) for mark, inner in _formatted_spans(text) if (mark, inner.replace("\u200d", "")) in made]


def test_the_span_finder_sees_formatting_as_slack_does() -> None:
    """The test's own finder: unescaped data formats, and a word-internal underscore does not."""
    assert ("*", "URGENT") in _data_formatted(FORMATTED) and ("`", "rm -rf") in _data_formatted(FORMATTED)
    assert _formatted_spans("snake_case_name") == []


def _formatted_approval(status: str = "pending") -> dict:
    return {
        **APPROVAL,
        "status": status,
        "decided_by": "U0ALICE",
        "decided_via": "slack",
        "reason": FORMATTED,
        "details": slack.message_details(
            drift={
                "dataset_drift": True,
                "drift_share": 0.6,
                "n_columns": 10,
                "n_drifted": 6,
                "top_drifted": [{"column": FORMATTED, "method": FORMATTED, "score": 0.9, "threshold": 0.1}],
            },
            rationale=f"The LLM says {FORMATTED}",
            validation={
                "primary_metric": "roc_auc",
                "champion_version": "6",
                "challenger_version": "7",
                "champion_metrics": {FORMATTED: 0.8},
                "challenger_metrics": {FORMATTED: 0.9},
                "reasons": [FORMATTED],
            },
            links={FORMATTED: "https://mlflow.example/x", "report": "runs:/abc_def/x_y_report.html"},
        ),
    }


@pytest.mark.parametrize("status", ["pending", "approved", "denied"])
def test_formatting_in_data_does_not_format_the_approval_message(status: str) -> None:
    """A column named ``*URGENT*``, an LLM rationale with ``_approve_`` or backticks: shown as typed, never bold,
    italic, struck or code of the message's own, and never a mention or a link."""
    message = slack.current_message(_formatted_approval(status))
    texts = _mrkdwn_texts(message)
    for text in texts:
        assert _data_formatted(text) == [], text
        assert "<!" not in text and "<https://evil" not in text, text
    joined = "\n".join(texts)
    assert "URGENT" in joined and "approve here" in joined  # shown, inert
    # the message's own formatting stays
    assert ("*", "Why retrain:") in _formatted_spans(joined) and ("*", "Champion") in _formatted_spans(joined)
    # the validation reasons are the message's own italics: the data in them cannot end them early
    [italic] = [inner for mark, inner in _formatted_spans(joined) if mark == "_"]
    assert "URGENT" in italic and "here" in italic


def test_formatting_in_data_does_not_format_the_escalation_message() -> None:
    text = slack.escalation_message(
        "fraud",
        {
            "id": 3,
            "decided_by": "llm",
            "rationale": FORMATTED,
            "override_reason": FORMATTED,
            "rules_fired": [{"rule": FORMATTED}],
            "inputs": {"drift": {"drift_share": 0.5, "top_drifted": [{"column": FORMATTED, "score": 0.9}]}},
        },
        failed=("decide", "manual__1", f"KeyError: {FORMATTED}"),
        run_id="manual__1",
    )
    assert _data_formatted(text) == [], text
    assert "<!" not in text and "<https://evil" not in text
    assert ("*", "Why:") in _formatted_spans(text) and ("*", "Next:") in _formatted_spans(text)


def test_reminders_keep_data_unformatted() -> None:
    approval = {**APPROVAL, "model_version": FORMATTED}
    now = datetime(2026, 1, 2, 10, 0)
    for text in (slack.reminder_text(approval, now=now), slack.escalation_text(approval, now=now, channel=FORMATTED)):
        assert _data_formatted(text) == [] and "<!" not in text, text


def test_links_keep_their_urls_exact_and_only_their_labels_neutralised() -> None:
    link = slack.link("https://mlflow.example/#/models/snake_case_name/versions/7", "*MLflow*")
    assert link.startswith("<https://mlflow.example/#/models/snake_case_name/versions/7|")
    assert _data_formatted(link.replace("MLflow", "URGENT")) == []
    assert slack.code("snake_case_name") == "`snake_case_name`"  # an identifier stays copyable


def test_a_mark_inside_a_word_stays_exact_so_names_people_copy_are_unchanged() -> None:
    """Only a mark at a word's edge can format, so only it is neutralised: a model name or a config key in a
    message (``churn_model``, ``decision.cooldown_hours``) carries no invisible character into a copy."""
    assert slack.escape_mrkdwn("churn_model") == "churn_model"
    for name in ("agentic_mlops__fraud", "manual__2026-11-28T19:00:00+00:00", "AIRFLOW__AGENTIC_MLOPS__MODELS_FILE"):
        assert slack.escape_mrkdwn(name) == name  # a run of marks inside a word is inside it too
    assert slack.escape_mrkdwn("lower decision.cooldown_hours") == "lower decision.cooldown_hours"
    assert "\u200d" not in slack.current_message({**APPROVAL, "model_name": "churn_model"})["text"]
    assert _data_formatted(slack.escape_mrkdwn(FORMATTED)) == []
    assert slack.escape_mrkdwn("*URGENT*") != "*URGENT*"


def test_the_rationale_in_an_approval_request_is_one_line_it_cannot_add_lines_of_the_messages_own() -> None:
    """An LLM rationale kept its line breaks in the request (escalations put it on one line): it could add a
    plain line such as "Validation passed on all metrics" under *Why retrain*."""
    approval = _formatted_approval("pending")
    approval["details"]["rationale"] = "drift on amount\n\nValidation passed on all metrics\r\n• approved by ops"
    texts = _mrkdwn_texts(slack.current_message(approval))
    [why] = [t for t in texts if t.startswith("*Why retrain:*")]
    assert "\n" not in why and "\r" not in why
    assert why.endswith("drift on amount Validation passed on all metrics • approved by ops")


def test_only_a_post_that_certainly_did_not_happen_and_may_later_is_to_be_sent_again() -> None:
    """Connection refused / host not found: nothing was sent. A timeout or a dropped connection after sending:
    Slack may have posted it, a retry could post it twice."""
    import socket
    import urllib.error

    from airflow_provider_agentic_mlops.core.slack import post_again_later

    assert post_again_later(ConnectionRefusedError(111, "Connection refused"))
    assert post_again_later(urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")))
    assert post_again_later(urllib.error.URLError(socket.gaierror(-2, "Name or service not known")))
    assert not post_again_later(TimeoutError("timed out"))
    assert not post_again_later(urllib.error.URLError(TimeoutError("timed out")))
    assert not post_again_later(ConnectionResetError(104, "reset"))
    assert not post_again_later(ValueError("a bug"))
