"""Slack approval messages (Block Kit) and interaction payloads. Plain Python, no Airflow, no slack_sdk.

The approval request keeps everything its message shows in ``approval["details"]`` (see
:func:`message_details`), so any process that holds the request (the sensor, the Slack endpoint,
the CLI, the timeout) rebuilds the same message from the state store alone.

Buttons carry the approval id in their ``value``, followed by the request's state connection id when
the request recorded it (``"<id>:<conn id>"``: ids are numbered per store); their ``action_id`` says
approve or deny. A click is taken only on the message the request was posted as (its channel and ts).

Every piece of untrusted text that enters mrkdwn (model names, rationales from the LLM, alert text, column,
category and metric names from the data, reasons typed in the UI, link labels) goes through :func:`escape_mrkdwn`:
``&``, ``<`` and ``>`` escaped, so ``<!channel>`` cannot ping anyone and ``<https://evil|MLflow report>`` cannot
disguise a link, and ``*``, ``_``, ``~`` and backticks kept from formatting (bold, italics, strike, code). An
identifier shown as inline code (:func:`code`, inside which Slack formats nothing) or a link's URL
(:func:`link`) is escaped by :func:`escape_entities` alone, so it stays exact. A decision's reason, someone's free
text, is also kept on one line and unformatted (:func:`quoted`, or plain text in the blocks), so it cannot
pose as a line of the message's own (``*Approved by ...*``).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, unquote_plus, urlsplit

from airflow_provider_agentic_mlops.core.approval_policy import APPROVAL_ID_DIGITS, SLACK_USER_ID, storable_text

#: How old a request's Slack signature may be (its timestamp) for the interactions endpoint.
SIGNATURE_WINDOW_SECONDS = 300
#: How long the state store remembers a seen interaction (a signature, a Socket Mode envelope id) to refuse its
#: replay: a timestamp may be up to the window in the future, so a signature stays valid for up to twice the
#: window after it is first seen. One span for both: each use prunes the shared table at its own span.
REPLAY_MEMORY = timedelta(seconds=2 * SIGNATURE_WINDOW_SECONDS)

ACTION_APPROVE = "agentic_mlops_approve"
ACTION_DENY = "agentic_mlops_deny"
BLOCK_ID_PREFIX = "agentic_mlops_approval"

_STATUS_ICON = {"approved": ":white_check_mark:", "denied": ":no_entry:", "expired": ":hourglass:"}
_TOP_DRIFTED = 5


#: U+200D ZERO WIDTH JOINER: invisible, and neither a space nor punctuation, so a formatting character between two
#: of them is not at a word's edge, where Slack's ``*bold*``, ``_italics_`` and ``~strike~`` must start and end
_JOINER = "\u200d"
#: a run of ``*``, ``_`` and ``~`` at a word's edge (not between two letters or digits): only there can Slack open or
#: close formatting, so ``churn_model``, ``agentic_mlops__fraud`` or ``AIRFLOW__AGENTIC_MLOPS__MODELS_FILE`` stays
#: exact for copying and ``*URGENT*`` is inert
_FORMATTING = re.compile(r"[*_~]+")
_WORD = re.compile(r"[^\W_]")


def _inert(text: str, run: re.Match[str]) -> str:
    """``run`` (of formatting marks) with joiners when it touches a word's edge, as typed when inside a word."""
    before, after = text[run.start() - 1 : run.start()], text[run.end() : run.end() + 1]
    if _WORD.match(before) and _WORD.match(after):
        return run.group()
    return "".join(f"{_JOINER}{mark}{_JOINER}" for mark in run.group())


def escape_entities(text: Any) -> str:
    """``text`` with ``&``, ``<`` and ``>`` escaped (Slack's own rule), so no mention (``<!channel>``, ``<@U1>``),
    channel link or disguised ``<url|label>`` survives; formatting is left alone. For text that must stay exact:
    inside inline code (:func:`code`, where Slack formats nothing), a link's URL, the provider's own sentences."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_mrkdwn(text: Any) -> str:
    """Untrusted text (data, an alert, the LLM, a person) made inert in Slack mrkdwn, shown as it was written:
    :func:`escape_entities` (no mention, no link), each ``*``, ``_`` and ``~`` at a word's edge between two
    zero-width joiners (no bold, italics or strike: Slack has no escape for them; one inside a word, as in
    ``churn_model``, cannot format and stays as typed), a backtick as ``'`` (no code span). The one escaping
    function of untrusted text in every message this provider sends to Slack; an identifier someone copies (a
    column, a run id) goes in :func:`code` instead, which keeps it exact."""
    escaped = escape_entities(str(text).replace("`", "'"))
    return _FORMATTING.sub(lambda run: _inert(escaped, run), escaped)


def _fit(mrkdwn: str, limit: int) -> str:
    """``mrkdwn`` cut at ``limit`` characters (Slack's limit of a text object) without leaving half an escape: a
    cut ``&am`` or a formatting character without its closing joiner is dropped."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    return re.sub(rf"&[a-z]{{0,3}}$|{_JOINER}[*_~]$", "", mrkdwn[:limit])


def people(decided_by: Any) -> str:
    """Who decided (``decided_by``: people separated by commas) for a message: a Slack user id (a Slack user
    not in the identity map) becomes a mention, which Slack shows as the person's name; it matched
    :data:`~airflow_provider_agentic_mlops.core.approval_policy.SLACK_USER_ID` (capital letters, digits,
    underscores), so nothing in it needs escaping. Anything else (an Airflow user, ``timeout``) is escaped text."""
    parts = str(decided_by).split(",")
    return ", ".join(f"<@{part}>" if SLACK_USER_ID.fullmatch(part) else escape_mrkdwn(part) for part in parts)


def code(text: Any) -> str:
    """Untrusted text as inline code, where Slack formats nothing: :func:`escape_entities`, and a backtick (which
    would end the span) as ``'``; otherwise exact, so an identifier shown this way can be copied."""
    inner = escape_entities(str(text).replace("`", "'"))
    return f"`{inner}`"


def link(url: Any, label: Any) -> str:
    """A mrkdwn link ``<url|label>`` whose label is escaped; a URL that is not http(s) (or contains
    characters that would end the link) is shown as plain, escaped text instead of a link."""
    raw = str(url)
    scheme = urlsplit(raw).scheme.lower() if "://" in raw else ""
    if scheme not in ("http", "https"):
        return f"{escape_mrkdwn(label)}: {escape_mrkdwn(raw)}"
    safe_url = quote(raw, safe=":/?#[]@!$&'()*+,;=%~.-_")
    return f"<{escape_entities(safe_url)}|{escape_mrkdwn(str(label).replace('|', '/'))}>"


def _clip(text: Any, limit: int) -> str:
    """``text`` cut at ``limit`` characters, saying so (Slack messages and escalation logs)."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}...[truncated]"


#: The longest reason a Slack message shows.
_REASON_CHARS = 500


def one_line(text: Any, limit: int = _REASON_CHARS) -> str:
    """Free text someone typed (a reason) on one line: every run of whitespace, newlines included, becomes one
    space (so it cannot start a line that looks like the message's own), clipped at ``limit``. Not escaped."""
    return _clip(" ".join(str(text).split()), limit)


def quoted(text: Any) -> str:
    """Free text someone typed (a reason) for mrkdwn: :func:`one_line`, as inline code, inside which Slack
    formats nothing (no bold or italics to end the line's own, no emoji) and nothing is a mention."""
    return code(one_line(text))


class InteractionError(ValueError):
    """The interaction payload is not one this provider can act on; the message says what is wrong."""


@dataclass(frozen=True)
class ApprovalClick:
    """One click on an Approve / Deny button, as Slack reported it.

    :param approval_id: the request the button belongs to (from the button's value).
    :param approve: True for Approve, False for Deny.
    :param user_id: Slack user id of the person who clicked.
    :param user_name: their Slack user name, for messages only (never for authorisation).
    :param team_id: Slack workspace id.
    :param channel_id: channel of the message with the buttons.
    :param message_ts: ts of that message.
    :param response_url: URL Slack gave for answering this interaction; None unless on Slack's hosts.
    :param state_conn_id: the state connection the button names (None: a button without one).
    """

    approval_id: int
    approve: bool
    user_id: str
    user_name: str | None
    team_id: str | None
    channel_id: str | None
    message_ts: str | None
    response_url: str | None
    state_conn_id: str | None = None


def button_value(approval: Mapping[str, Any]) -> str:
    """What an Approve / Deny button carries: the request's id, and its store's connection id when known."""
    conn_id = (approval.get("details") or {}).get("state_conn_id")
    return f"{approval['id']}:{conn_id}" if conn_id else str(approval["id"])


def message_details(
    *,
    drift: Mapping[str, Any] | None = None,
    rationale: str | None = None,
    validation: Mapping[str, Any] | None = None,
    links: Mapping[str, str] | None = None,
    open_links: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The compact, JSON-able part of the DAG run's XComs the message shows (stored with the request).

    :param links: name -> URL or URI (a report's ``runs:/`` URI), kept as given.
    :param open_links: name -> a web page the message links instead, for a link Slack cannot open.
    """
    details: dict[str, Any] = {}
    if drift:
        details["drift"] = {
            "dataset_drift": drift.get("dataset_drift"),
            "drift_share": drift.get("drift_share"),
            "share_threshold": drift.get("share_threshold"),
            "n_columns": drift.get("n_columns"),
            "n_drifted": drift.get("n_drifted"),
            "top_drifted": list(drift.get("top_drifted") or [])[:_TOP_DRIFTED],
        }
    if rationale:
        details["rationale"] = str(rationale)[:2500]
    if validation:
        keys = (
            "passed",
            "reasons",
            "primary_metric",
            "champion_version",
            "challenger_version",
            "champion_metrics",
            "challenger_metrics",
            "n_rows",
            "n_labelled",
            "improvement_ci",
            "ungated_regressions",
            "report_uri",
            "report_digest",
        )
        details["validation"] = {k: validation.get(k) for k in keys if k in validation}
    if links:
        details["links"] = {str(k): str(v) for k, v in links.items() if v}
    if open_links:
        details["open_links"] = {str(k): str(v) for k, v in open_links.items() if v}
    return details


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def _title(approval: Mapping[str, Any], *, plain: bool = False) -> str:
    """The question; escaped for mrkdwn unless it goes into a ``plain_text`` object."""
    title = f"Promote {_clip(approval['model_name'], 250)} v{_clip(approval['model_version'], 64)} to production?"
    return title if plain else escape_mrkdwn(title)


def _summary_blocks(approval: Mapping[str, Any]) -> list[dict[str, Any]]:
    details = approval.get("details") or {}
    context = f"Request *#{approval['id']}* · DAG {code(approval['dag_id'])} · run {code(approval['run_id'])}"
    if approval.get("report_digest"):
        context += f" · report digest {code(approval['report_digest'][:12])}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _title(approval, plain=True)[:150]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
    ]
    drift = details.get("drift")
    if drift:
        share = drift.get("drift_share")
        if isinstance(share, (int, float)) and not isinstance(share, bool):
            share = f"{share:.0%}"
        lines = [
            f"*Drift:* {'detected' if drift.get('dataset_drift') else 'not detected'} - "
            f"{escape_mrkdwn(_fmt(drift.get('n_drifted')))} of {escape_mrkdwn(_fmt(drift.get('n_columns')))} "
            "columns drifted"
            + (
                f" (share {escape_mrkdwn(share)}, threshold {escape_mrkdwn(_fmt(drift.get('share_threshold')))})"
                if share is not None
                else ""
            )
        ]
        for col in drift.get("top_drifted") or []:
            lines.append(
                f"• {code(_clip(col.get('column'), 200))} {escape_mrkdwn(col.get('method', ''))} "
                f"score {escape_mrkdwn(_fmt(col.get('score')))} (threshold {escape_mrkdwn(_fmt(col.get('threshold')))})"
            )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _fit("\n".join(lines), 3000)}})
    if details.get("rationale"):
        # on one line, as in escalations: the LLM's text cannot add lines that read as the message's own
        why = f"*Why retrain:* {escape_mrkdwn(one_line(details['rationale'], 2500))}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _fit(why, 3000)}})
    validation = details.get("validation")
    if validation:
        champion = validation.get("champion_metrics") or {}
        challenger = validation.get("challenger_metrics") or {}
        primary = validation.get("primary_metric")
        names = sorted(set(champion) | set(challenger), key=lambda m: (m != primary, m))
        rows = [
            f"*Champion* v{escape_mrkdwn(_fmt(validation.get('champion_version')))} vs "
            f"*challenger* v{escape_mrkdwn(_fmt(validation.get('challenger_version')))}"
        ]
        for name in names[:10]:
            mark = " (primary)" if name == primary else ""
            rows.append(
                f"• {code(_clip(name, 200))}{mark}: "
                f"{escape_mrkdwn(_fmt(champion.get(name)))} -> {escape_mrkdwn(_fmt(challenger.get(name)))}"
            )
        ungated = validation.get("ungated_regressions") or {}
        if isinstance(ungated, Mapping) and ungated:  # its own line: the reasons below are clipped
            shown = "; ".join(_clip(str(text), 200) for text in list(ungated.values())[:10])
            rows.append(f"*Not gated:* {escape_mrkdwn(shown)} (no gate checks these; validation.guard_metrics can)")
        from airflow_provider_agentic_mlops.core.validation import comparison_line

        if (sure := comparison_line(validation)) is not None:  # how sure: rows scored, the improvement's interval
            rows.append(escape_mrkdwn(sure))
        if validation.get("reasons"):
            rows.append("_" + escape_mrkdwn(_clip("; ".join(str(r) for r in validation["reasons"]), 500)) + "_")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _fit("\n".join(rows), 3000)}})
    links = details.get("links") or {}
    if links:
        opened = details.get("open_links") or {}
        text = " · ".join(link(opened.get(name) or url, _clip(name, 100)) for name, url in links.items())
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _fit(text, 3000)}]})
    return blocks


def _deadline(approval: Mapping[str, Any]) -> str:
    expires = approval.get("expires_at")
    return f"{expires:%Y-%m-%d %H:%M} UTC" if isinstance(expires, datetime) else str(expires)


def request_message(approval: Mapping[str, Any]) -> dict[str, Any]:
    """``{"text", "blocks"}`` of the message asking for a decision, with Approve / Deny buttons."""
    approval_id = str(approval["id"])
    value = button_value(approval)
    needed = int(approval.get("required_approvals") or 1)
    votes = [v for v in approval.get("votes") or [] if v.get("vote") == "approve"]
    progress = f" · {len(votes)} of {needed} approvals so far" if needed > 1 else ""
    blocks = _summary_blocks(approval)
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Denied automatically if nobody decides by {_deadline(approval)}"
                    + (f" · needs {needed} different approvers" if needed > 1 else "")
                    + progress,
                }
            ],
        }
    )
    blocks.append(
        {
            "type": "actions",
            "block_id": f"{BLOCK_ID_PREFIX}:{approval_id}",
            "elements": [
                {
                    "type": "button",
                    "action_id": ACTION_APPROVE,
                    "text": {"type": "plain_text", "text": "Approve"},
                    "style": "primary",
                    "value": value,
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Promote to production?"},
                        "text": {"type": "plain_text", "text": _title(approval, plain=True)[:300]},
                        "confirm": {"type": "plain_text", "text": "Approve"},
                        "deny": {"type": "plain_text", "text": "Cancel"},
                    },
                },
                {
                    "type": "button",
                    "action_id": ACTION_DENY,
                    "text": {"type": "plain_text", "text": "Deny"},
                    "style": "danger",
                    "value": value,
                },
            ],
        }
    )
    return {"text": f"{_title(approval)} (request #{approval_id})", "blocks": blocks}


def outcome_text(approval: Mapping[str, Any], *, with_reason: bool = True) -> str:
    """One line saying how the request ended: ``approved by U1, U2 via slack at ...``; its reason, if any and
    ``with_reason``, :func:`quoted`."""
    status = approval["status"]
    when = approval.get("decided_at")
    when_s = f" at {when:%Y-%m-%d %H:%M} UTC" if isinstance(when, datetime) else ""
    if status == "expired":
        return f"Expired{when_s}: nobody decided before the deadline, so it was denied. Nothing was promoted."
    via = f" via {escape_mrkdwn(approval['decided_via'])}" if approval.get("decided_via") else ""
    reason = f" - {quoted(approval['reason'])}" if with_reason and approval.get("reason") else ""
    # an approval promotes nothing by itself: the run's promote task does (and may still refuse)
    effect = "Promotion runs next." if status == "approved" else "The version will not be promoted."
    by = people(approval.get("decided_by"))
    return f"{status.capitalize()} by {by}{via}{when_s}{reason}. {effect}"


def decided_message(approval: Mapping[str, Any]) -> dict[str, Any]:
    """``{"text", "blocks"}`` replacing the request once it is decided or expired: no buttons. In the blocks
    the reason is not part of the bold outcome line but plain text under it (no mrkdwn at all)."""
    icon = _STATUS_ICON.get(approval["status"], "")
    line = f"{icon} {outcome_text(approval, with_reason=False)}".strip()
    blocks = _summary_blocks(approval)
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{_fit(line, 2998)}*"}})
    if approval.get("reason") and approval["status"] != "expired":
        reason = {"type": "plain_text", "text": f"Reason: {one_line(approval['reason'])}", "emoji": False}
        blocks.append({"type": "context", "elements": [reason]})
    text = " ".join(part for part in (_title(approval), icon, outcome_text(approval)) if part)
    return {"text": text, "blocks": blocks}


def replaced_message(approval: Mapping[str, Any]) -> dict[str, Any]:
    """``{"text", "blocks"}`` for a message the request had before it was reopened and posted again:
    no buttons (a click on them would be refused), a pointer to the newer message."""
    return _retired(
        approval,
        ":arrows_counterclockwise: This request was asked again in a newer message (its run was cancelled and "
        "cleared, or its validation report changed): decide there.",
    )


def outdated_message(approval: Mapping[str, Any]) -> dict[str, Any]:
    """``{"text", "blocks"}`` for a message of the request that is not its current one (found when it is
    clicked: a post whose recording failed, then retried): no buttons, a pointer to the newer message."""
    return _retired(
        approval,
        ":arrows_counterclockwise: This message is out of date: the request was posted again in a newer "
        "message. Decide there.",
    )


def unrecorded_message(approval: Mapping[str, Any]) -> dict[str, Any]:
    """``{"text", "blocks"}`` for the request's message when the state store failed to record it: its buttons
    could never count, so they are removed; the task's retry posts the request again."""
    return _retired(
        approval,
        ":warning: This message could not be recorded with the request (the state store failed), so its buttons "
        "were removed. The request's task posts it again in a new message when it retries: decide there.",
    )


def _retired(approval: Mapping[str, Any], line: str) -> dict[str, Any]:
    blocks = _summary_blocks(approval)
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{line}*"}})
    return {"text": f"{_title(approval)} {line}", "blocks": blocks}


def current_message(approval: Mapping[str, Any]) -> dict[str, Any]:
    """The message as it should look now: buttons while pending, the outcome after."""
    return request_message(approval) if approval["status"] == "pending" else decided_message(approval)


#: A Slack user group id, as ``approver_usergroup`` names it (``S0123ABCD``).
SLACK_USERGROUP_ID = re.compile(r"S[A-Z0-9_]{1,30}")


def approver_mentions(approval: Mapping[str, Any]) -> str:
    """Mentions of who may decide ``approval`` from Slack: ``<@U...>`` per listed approver, ``<!subteam^S...>`` for
    its user group; ids of any other shape are left out (nothing untrusted becomes markup)."""
    from airflow_provider_agentic_mlops.core.approval_policy import Allowlist

    allowlist = Allowlist.of(approval)
    mentions = [f"<@{user}>" for user in allowlist.approvers if SLACK_USER_ID.fullmatch(str(user))]
    if allowlist.usergroup and SLACK_USERGROUP_ID.fullmatch(str(allowlist.usergroup)):
        mentions.append(f"<!subteam^{allowlist.usergroup}>")
    return " ".join(mentions)


def reminder_text(
    approval: Mapping[str, Any], *, now: datetime, approvals_so_far: int | None = None, mention: bool = False
) -> str:
    """Text of a reminder while the request is pending.

    :param approval: the pending request.
    :param now: the time the deadline is counted from.
    :param approvals_so_far: the approve votes in, said when the request needs more than one.
    :param mention: start with :func:`approver_mentions` (a thread reply notifies only the thread's followers).
    """
    left = approval["expires_at"] - now if isinstance(approval.get("expires_at"), datetime) else None
    hours = f"{max(left.total_seconds(), 0) / 3600:.1f} h" if left is not None else "some time"
    needed = int(approval.get("required_approvals") or 1)
    progress = (
        f" {approvals_so_far} of {needed} approvals so far." if approvals_so_far is not None and needed > 1 else ""
    )
    mentions = approver_mentions(approval) if mention else ""
    return (
        f"{mentions + ' ' if mentions else ''}:bell: Still waiting for a decision on request #{approval['id']}: "
        f"{_title(approval)}{progress} It is denied automatically in {hours} ({_deadline(approval)})."
    )


def escalation_text(approval: Mapping[str, Any], *, now: datetime, channel: str | None = None) -> str:
    """The reminder that an approval is overdue, for the escalation channel."""
    if channel and re.fullmatch(r"C[A-Z0-9]{2,30}", channel):
        where = f" in <#{channel}>"
    else:
        where = f" in {escape_mrkdwn(channel)}" if channel else ""
    return f":rotating_light: Nobody has decided yet{where}. " + reminder_text(approval, now=now)


def escalation_message(model_name: str, decision: Mapping[str, Any], **where: Any) -> str:
    """The Slack text a person gets when the agent escalates: what was decided, why, where the trace is and
    what to do next (:func:`~airflow_provider_agentic_mlops.core.escalation.escalation_facts`, escaped).

    :param model_name: the model.
    :param decision: a stored decision (``StateStore.get_decision``) or at least action/rationale/id.
    :param where: the run and pages it happened in (``dag_id``, ``failed``, ``run_failed``, ``run_id``, ``links``,
        ``scheduled``): see
        :func:`~airflow_provider_agentic_mlops.core.escalation.escalation_facts`.
    """
    from airflow_provider_agentic_mlops.core.escalation import escalation_facts, render_escalation

    return render_escalation(escalation_facts(model_name, decision, **where), _slack_markup(), icon=":warning: ")


def _slack_markup() -> Any:
    """Slack's mrkdwn for an escalation's text (:class:`~airflow_provider_agentic_mlops.core.escalation.Markup`)."""
    from airflow_provider_agentic_mlops.core.escalation import Markup

    return Markup(text=escape_mrkdwn, code=code, bold=lambda label: f"*{label}*", link=link)


def escalation_repeat_message(model_name: str, decision: Mapping[str, Any], *, thread: Any, **where: Any) -> str:
    """The Slack text of a repeat of an escalation, a reply in ``thread`` (its first message's):
    :func:`~airflow_provider_agentic_mlops.core.escalation.render_repeat`, escaped like :func:`escalation_message`.

    :param thread: the :class:`~airflow_provider_agentic_mlops.core.escalation.EscalationThread`.
    :param where: as :func:`escalation_message`'s.
    """
    from airflow_provider_agentic_mlops.core.escalation import escalation_facts, render_repeat

    facts = escalation_facts(model_name, decision, **where)
    return render_repeat(facts, thread, _slack_markup(), icon=":repeat: ")


#: The longest Retry-After a rate-limited call waits for before its retry; a longer one fails the call at once.
MAX_RETRY_AFTER_SECONDS = 60
#: Slack's error codes for a failure on its own side (HTTP 500 / 503): a read or an update is retried twice, a post
#: is not (Slack documents that part of the operation may have succeeded), so a failed post may still have posted.
#: Not ``request_timeout``: Slack received the request's POST data missing or truncated, and did nothing.
SLACK_SIDE_ERRORS = frozenset({"internal_error", "service_unavailable", "fatal_error"})


def retry_after(headers: Any) -> int | None:
    """The seconds of a response's ``Retry-After`` header (slack_sdk's headers: name -> list of values, or a
    plain mapping), None when it has none or it is not a number."""
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "retry-after":
            first = value[0] if isinstance(value, (list, tuple)) and value else value
            try:
                return int(str(first))
            except ValueError:
                return None
    return None


#: Slack's error codes for a bot token it does not accept.
REFUSED_TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})


#: Slack's error codes for a post it did not take for now, which it can take when sent again later: still
#: rate-limited after the client's retries, or ``request_timeout`` (the request's data arrived cut: Slack did nothing).
POST_LATER_ERRORS = frozenset({"ratelimited", "request_timeout"})
#: What a post that was certainly not posted, and can be sent again, ends with.
_SENT_AGAIN = "this escalation was not posted (it is in this log); the task's retry posts it (or clearing the task)"


def post_refused_hint(
    error: str,
    *,
    channel: str,
    slack_conn_id: str,
    status: int | None = None,
    wait: int | None = None,
    reached: bool = True,
    sent_again: str = _SENT_AGAIN,
) -> str:
    """What to do when Slack refused to post to ``channel`` with the error code ``error``.

    :param status: the HTTP status of Slack's answer (5xx: Slack failed on its side), when known.
    :param wait: the seconds of Slack's ``Retry-After``, when it rate-limited the call.
    :param reached: False when the post never reached Slack (:func:`post_again_later` of a connection refused or a
        host not found): ``error`` is then the network's error, not Slack's.
    :param sent_again: what becomes of a post that certainly did not happen (by default: the task's retry posts it).
    """
    if not reached:
        return (
            f"nothing reached Slack (check the network or proxy to Slack, and the base URL of Slack connection "
            f"{slack_conn_id!r} if it sets one): {sent_again}"
        )
    if error in SLACK_SIDE_ERRORS or (status is not None and status >= 500):
        return (
            "the failure is on Slack's side (see https://slack-status.com), nothing to fix in the connection or the "
            f"channel; Slack may have posted it; check channel {channel!r} before clearing the task (it would post it "
            "again)"
        )
    if error == "request_timeout":
        return (
            "Slack received the request with its data missing or truncated (a proxy or a connection cut while "
            f"sending): {sent_again}"
        )
    if error == "ratelimited" and wait is not None and wait > MAX_RETRY_AFTER_SECONDS:
        return (
            f"Slack asked to wait {wait} s before posting again, longer than the {MAX_RETRY_AFTER_SECONDS} s a post "
            f"waits: {sent_again}"
        )
    if error == "not_in_channel":
        return f"invite the bot to channel {channel!r} (/invite @your-bot in that channel)"
    if error == "channel_not_found":
        return (
            f"check the channel {channel!r} (approval.escalation_channel or approval.channel in models.yaml): a "
            "channel id (C0123...) or name that exists; for a private channel, invite the bot to it"
        )
    other_channel = "or set another channel in models.yaml (approval.escalation_channel or approval.channel)"
    if error == "is_archived":
        return f"channel {channel!r} is archived: unarchive it (channel settings in Slack) {other_channel}"
    if error == "restricted_action":
        return (
            f"the bot may not post in channel {channel!r} (the workspace or the channel restricts who may post, e.g. "
            f"an announcement-only channel): ask a Slack admin to let the app post there, {other_channel}"
        )
    if error == "msg_too_long":
        return (
            "the message was longer than Slack accepts (40,000 characters: a very long rationale or error): this "
            "escalation was not posted (it is in this log); the next escalation posts again"
        )
    if error == "invalid_blocks":
        return (
            "Slack refused the message's layout: this escalation was not posted (it is in this log); report it as an "
            "issue of airflow-provider-agentic-mlops with this log"
        )
    if error in REFUSED_TOKEN_ERRORS:
        return f"fix the bot token (xoxb-...) in the password of Slack connection {slack_conn_id!r}"
    if error == "ratelimited":
        return f"Slack rate-limited the bot after its retries: {sent_again}"
    if error == "missing_scope":
        return f"give the bot of connection {slack_conn_id!r} the scope chat:write and reinstall the app"
    return f"check Slack connection {slack_conn_id!r} and channel {channel!r}"


def maybe_delivered(err: BaseException) -> bool:
    """Whether a call that failed may still have reached Slack: no answer came in time, the connection dropped
    after the request was sent (a reset, ``RemoteDisconnected``, a cut answer), or Slack failed on its side
    (:data:`SLACK_SIDE_ERRORS`, an HTTP 5xx: part of the operation may have succeeded, Slack says). A refused
    connection, or Slack's refusal (``channel_not_found``, ``ratelimited`` ...), means it was not taken."""
    import http.client
    import urllib.error

    response = getattr(err, "response", None)  # slack_sdk's SlackApiError: Slack's answer
    if response is not None:
        status = getattr(response, "status_code", None)
        data = getattr(response, "data", None)
        error = data.get("error") if isinstance(data, Mapping) else None
        if error in SLACK_SIDE_ERRORS or (isinstance(status, int) and status >= 500):
            return True

    cause = err.reason if isinstance(err, urllib.error.URLError) and isinstance(err.reason, BaseException) else err
    return isinstance(cause, (TimeoutError, ConnectionResetError, http.client.IncompleteRead))


def post_again_later(err: BaseException) -> bool:
    """Whether a post that failed was certainly not posted and can be when sent again later (the task's retries): the
    connection was refused, or the host not found or unreachable, before anything was sent; or Slack answered HTTP 429
    or an error of :data:`POST_LATER_ERRORS`. False when it may have been posted (:func:`maybe_delivered`: a timeout
    after sending, an HTTP 5xx; a retry could post it twice), and for a refusal a retry gets again
    (``channel_not_found``, a revoked token, ``not_in_channel``...)."""
    import errno
    import socket
    import urllib.error

    if maybe_delivered(err):
        return False
    response = getattr(err, "response", None)  # slack_sdk's SlackApiError: Slack's answer
    if response is not None:
        data = getattr(response, "data", None)
        error = data.get("error") if isinstance(data, Mapping) else None
        return error in POST_LATER_ERRORS or getattr(response, "status_code", None) == 429
    cause = err.reason if isinstance(err, urllib.error.URLError) and isinstance(err.reason, BaseException) else err
    return isinstance(cause, (ConnectionRefusedError, socket.gaierror)) or (
        isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)
    )


def maybe_delivered_cause(err: BaseException) -> str:
    """What happened to a call :func:`maybe_delivered` says may have reached Slack, as the start of a sentence:
    ``Slack answered HTTP 503 (service_unavailable)`` (an answer, with an error: Slack failed on its side),
    ``Slack did not answer in time``, or ``The connection to Slack dropped before its answer``."""
    response = getattr(err, "response", None)
    if response is not None:
        status = getattr(response, "status_code", None)
        data = getattr(response, "data", None)
        error = data.get("error") if isinstance(data, Mapping) else None
        if isinstance(status, int) and status >= 500:
            return f"Slack answered HTTP {status}" + (f" ({error})" if error else "")
        if error:
            return f"Slack answered with error {error}"
    import urllib.error

    cause = err.reason if isinstance(err, urllib.error.URLError) and isinstance(err.reason, BaseException) else err
    if isinstance(cause, TimeoutError):
        return "Slack did not answer in time"
    return "The connection to Slack dropped before its answer"


# -- interactions ---------------------------------------------------------------------------------


#: Slack ids (users, teams, channels): upper-case letters and digits (``_`` for test workspaces).
_SLACK_ID = re.compile(r"[A-Z0-9_]{1,64}")
_MESSAGE_TS = re.compile(r"[0-9]{1,20}\.[0-9]{1,20}")
#: a button's value: the approval id, then optionally ``:`` and a connection id (Airflow's characters)
_BUTTON_VALUE = re.compile(rf"([0-9]{{1,{APPROVAL_ID_DIGITS}}})(?::([\w#!()\-.:/\\]{{1,250}}))?")


def form_value(text: str) -> str:
    """``urllib.parse.unquote_plus(text)``: a form field's value decoded. Slack's payload is JSON with an
    escape every few characters, which urllib decodes one at a time in Python; the common case (ASCII,
    well-formed escapes of UTF-8) is decoded in C here, anything else by urllib itself."""
    try:
        escaped = text.replace("+", " ").replace("\\", "%5C").replace("%", "\\x").encode("ascii")
        return codecs.decode(escaped, "unicode_escape").encode("latin-1").decode("utf-8")
    except ValueError:  # not ASCII, a '%' without two hex digits, or escapes that are not UTF-8
        return unquote_plus(text)


def parse_form_body(body: bytes) -> dict[str, Any]:
    """The JSON ``payload`` of an interaction request body (``application/x-www-form-urlencoded``)."""
    from airflow_provider_agentic_mlops.core.json_input import JsonInputError, parse_json

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InteractionError(f"interaction body is not UTF-8: {err.reason} at byte {err.start}") from None
    if text.startswith("payload=") and "&" not in text:  # what Slack sends: that one field
        form = {"payload": [form_value(text[len("payload=") :])]} if len(text) > len("payload=") else {}
    else:
        try:
            form = parse_qs(text, strict_parsing=False, max_num_fields=20)
        except ValueError as err:  # more form fields than any interaction has
            raise InteractionError(f"interaction body is not a Slack interaction form: {err}") from None
    raw = form.get("payload")
    if not raw:
        raise InteractionError("interaction body has no 'payload' form field; is this a Slack interaction?")
    try:
        payload = parse_json(raw[0], what="interaction payload")
    except JsonInputError as err:
        raise InteractionError(str(err)) from None
    if not isinstance(payload, dict):
        raise InteractionError(f"interaction payload must be a JSON object, got {type(payload).__name__}")
    return payload


def _object(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InteractionError(f"interaction payload field {key!r} must be an object, got {type(value).__name__}")
    return value


def _slack_id(value: Any, what: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise InteractionError(f"interaction payload has no {what}")
        return None
    if not isinstance(value, str) or not _SLACK_ID.fullmatch(value):
        shown = repr(value)[:40]
        raise InteractionError(f"{what} {shown} is not a Slack id (1-64 upper-case letters and digits)")
    return value


#: The hosts of Slack's ``response_url`` (commercial Slack and GovSlack): the server POSTs only there.
RESPONSE_URL_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})


def _slack_response_url(url: str) -> bool:
    """Whether ``url`` is ``https://`` on one of :data:`RESPONSE_URL_HOSTS`, with no user or port."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 host
        return False
    return parts.scheme == "https" and parts.hostname in RESPONSE_URL_HOSTS and parts.netloc.lower() == parts.hostname


def parse_interaction(payload: Mapping[str, Any]) -> ApprovalClick | None:
    """The approval click in a ``block_actions`` payload; ``None`` when it is not one of our buttons.

    Every field is checked for type and shape before use (the signature proves the sender, not that
    the payload is well-formed).

    :raises InteractionError: our button, but a malformed payload (no user, a value that is not an id,
        a field of the wrong type or length).
    """
    if payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    if actions is None:
        return None
    if not isinstance(actions, list) or not all(isinstance(a, Mapping) for a in actions):
        raise InteractionError("interaction payload field 'actions' must be a list of objects")
    action = next((a for a in actions if a.get("action_id") in (ACTION_APPROVE, ACTION_DENY)), None)
    if action is None:
        return None
    value = action.get("value")
    parts = _BUTTON_VALUE.fullmatch(value) if isinstance(value, str) else None
    if parts is None:
        raise InteractionError(
            f"button value {repr(value)[:40]} is not an approval id (1-{APPROVAL_ID_DIGITS} digits), "
            "optionally followed by ':' and a connection id"
        )
    user = _object(payload, "user")
    user_id = _slack_id(user.get("id"), "user.id", required=True)
    team = _object(payload, "team")
    container = _object(payload, "container")
    channel = payload.get("channel")
    channel_id = _object(payload, "channel").get("id") if isinstance(channel, Mapping) else channel
    if channel_id is None:
        channel_id = container.get("channel_id")
    message_ts = _object(payload, "message").get("ts") or container.get("message_ts")
    if message_ts is not None and (not isinstance(message_ts, str) or not _MESSAGE_TS.fullmatch(message_ts)):
        raise InteractionError(f"message ts {repr(message_ts)[:40]} is not a Slack ts")
    response_url = payload.get("response_url")
    if response_url is not None and (
        not isinstance(response_url, str) or not response_url.startswith("https://") or len(response_url) > 2000
    ):
        raise InteractionError(
            "interaction payload field 'response_url' is not an https URL of at most 2000 characters"
        )
    if response_url is not None and not _slack_response_url(response_url):
        response_url = None  # signed, yet not Slack's: never contacted (the answer goes to the channel)
    name = user.get("username") or user.get("name")
    return ApprovalClick(
        approval_id=int(parts.group(1)),
        approve=action["action_id"] == ACTION_APPROVE,
        user_id=str(user_id),
        user_name=storable_text(" ".join(name.split()))[:100] if isinstance(name, str) else None,
        team_id=_slack_id(team.get("id"), "team.id"),
        channel_id=_slack_id(channel_id, "channel id"),
        message_ts=message_ts,
        response_url=response_url,
        state_conn_id=parts.group(2),
    )


__all__ = [
    "ACTION_APPROVE",
    "ACTION_DENY",
    "ApprovalClick",
    "InteractionError",
    "button_value",
    "current_message",
    "code",
    "decided_message",
    "escalation_message",
    "escalation_repeat_message",
    "escalation_text",
    "escape_entities",
    "escape_mrkdwn",
    "link",
    "maybe_delivered",
    "post_again_later",
    "maybe_delivered_cause",
    "message_details",
    "one_line",
    "outcome_text",
    "quoted",
    "outdated_message",
    "form_value",
    "parse_form_body",
    "parse_interaction",
    "reminder_text",
    "replaced_message",
    "request_message",
    "unrecorded_message",
]
