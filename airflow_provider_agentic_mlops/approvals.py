"""The approval service: the one path every way of deciding goes through.

The Slack endpoint, the Socket Mode listener, the CLI, the approvals page and the sensor's timeout
all call :func:`decide` / :func:`expire_due`; the sensor calls :func:`request` and
:func:`send_reminders`. The state machine itself (first decision wins, two-person rule, expiry)
is :class:`~airflow_provider_agentic_mlops.core.state.StateStore`'s; the messages are
:mod:`~airflow_provider_agentic_mlops.core.slack`'s; the rules of who may decide and who counts as
whom are :mod:`~airflow_provider_agentic_mlops.core.approval_policy`'s. This module is the
Slack-facing part: it wires them together and does the Slack lookups the rules need (user-group
members, a user's e-mail), cached briefly.

Who may decide:

* from Slack (``via`` ``slack`` or ``slack-socket``): only a user listed in the request's
  ``approvers`` or a member of its ``approver_usergroup``. With neither configured every Slack click
  is refused (fail closed);
* from the approvals page: whoever Airflow lets in (Airflow's own authentication and DAG
  permissions); from the CLI: whoever holds the state store's credentials (no Airflow check). The
  Slack allowlist names Slack identities and does not apply there.
* a two-person request counts each *person* once, and only mapped people
  (``[agentic_mlops] approver_identities``).

slack_sdk is imported lazily; a missing Slack connection means "no Slack", never an error.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_agentic_mlops.core import slack as slack_messages
from airflow_provider_agentic_mlops.core.approval_policy import (
    SLACK_VIAS,
    TASK_INSTANCE_DELETED,
    WAIT_ENDED_STATES,
    Allowlist,
    ApprovalRefused,
    Identities,
    Voter,
    check_two_person_rule,
    slack_user_ids,
)
from airflow_provider_agentic_mlops.core.state import (
    APPROVED,
    PENDING,
    RENEWED,
    ApprovalOutcome,
    ApproversChanged,
    StateStore,
    already_decided_message,
    approval_gate,
    utcnow,
)
from airflow_provider_agentic_mlops.liveness import DagNotInMetadataDatabase

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from airflow_provider_agentic_mlops.approval_stores import ApprovalStores
    from airflow_provider_agentic_mlops.core.approval_policy import SensorStateReader

log = logging.getLogger(__name__)

USERGROUP_CACHE_SECONDS = 60.0


@dataclass
class UsergroupMembers:
    """Members of Slack user groups, fetched with ``usergroups.users.list`` and cached briefly.

    :param ttl_seconds: how long a fetched member list is trusted.
    :param lookup_timeout_seconds: how long a lookup may take (it runs while Slack waits for its 200);
        a lookup that fails or times out refuses the click (fail closed) and the person may click again.
    """

    ttl_seconds: float = USERGROUP_CACHE_SECONDS
    lookup_timeout_seconds: float = 2.0
    _cache: dict[str, tuple[float, frozenset[str]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, usergroup: str, client: WebClient | None) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(usergroup)
        if hit and now - hit[0] < self.ttl_seconds:
            return hit[1]
        if client is None:
            log.warning("cannot check user group %s: no Slack connection; refusing its members", usergroup)
            return frozenset()
        response = _with_timeout(client, self.lookup_timeout_seconds).usergroups_users_list(usergroup=usergroup)
        members = frozenset(response.get("users") or ())
        with self._lock:
            self._cache[usergroup] = (now, members)
        return members


_short_timeout: dict[tuple[int, int], tuple[WebClient, WebClient]] = {}


def _with_timeout(client: WebClient, seconds: float) -> WebClient:
    """The same client with a short timeout and no retries: a lookup on the request path must leave Slack's 3 s
    intact, and a retry (after a 429's Retry-After of up to a minute, or a server error's back-off) would hold the
    click and one of the API server's few click threads. Built once per client and timeout (a keep-alive client
    keeps its connections)."""
    key = (id(client), int(max(1, seconds)))
    hit = _short_timeout.get(key)
    if hit is not None and hit[0] is client:
        return hit[1]
    from airflow_provider_agentic_mlops.core.slack_http import KeepAliveWebClient

    short = KeepAliveWebClient.like(client, timeout=key[1], retry_handlers=[])
    if len(_short_timeout) >= 100:
        _short_timeout.clear()
    _short_timeout[key] = (client, short)
    return short


_default_members = UsergroupMembers()


def check_allowed(
    approval: dict[str, Any],
    user: str,
    *,
    allowlist: Allowlist | None = None,
    slack_client: WebClient | None = None,
    members: UsergroupMembers | None = None,
) -> None:
    """Raise :class:`ApprovalRefused` unless the Slack ``user`` may decide ``approval``."""
    allowlist = allowlist or Allowlist.of(approval)
    members = members or _default_members
    group_members: frozenset[str] = frozenset()
    if allowlist.usergroup and user not in allowlist.approvers:
        try:
            group_members = members.get(allowlist.usergroup, slack_client)
        except Exception as err:  # Slack down or misconfigured: fail closed, say so (in full in the log only)
            log.log(
                logging.ERROR if _slack_error_code(err) in LOOKUP_CONFIG_ERRORS else logging.WARNING,
                "could not check whether Slack user %s is in user group %s (usergroups.users.list): %s",
                user,
                allowlist.usergroup,
                err,
            )
            raise ApprovalRefused(_lookup_failed(allowlist.usergroup, err)) from err
    refusal = allowlist.refusal(approval, user, group_members, members_cached_seconds=members.ttl_seconds)
    if refusal is not None:
        raise ApprovalRefused(refusal)


#: Slack's errors of a member lookup that only a fix of the configuration ends: a user group id that is not one,
#: a bot token without ``usergroups:read``, or one Slack does not accept.
LOOKUP_CONFIG_ERRORS = frozenset({"no_such_subteam", "missing_scope"}) | slack_messages.REFUSED_TOKEN_ERRORS


def _lookup_failed(usergroup: str, err: Exception) -> str:
    """What the clicker is told when the member lookup of ``usergroup`` failed with ``err``."""
    from airflow_provider_agentic_mlops.core.slack import retry_after

    code = _slack_error_code(err)
    if code == "ratelimited":
        wait = retry_after(getattr(getattr(err, "response", None), "headers", None))
        return (
            f"Slack rate-limited the membership check of user group {usergroup}; click again in "
            f"{wait if wait is not None else 'a few'} s"
        )
    if code in LOOKUP_CONFIG_ERRORS:
        return (
            f"could not check membership of user group {usergroup}: Slack error `{code}`, which clicking again "
            "cannot fix (the approver user group or the Slack bot token is misconfigured); ask an MLOps admin"
        )
    return f"could not check membership of user group {usergroup}: Slack error `{code}`; try again"


def _slack_error_code(err: Exception) -> str:
    """Slack's error code (``internal_error``, ``missing_scope``) of a failed call, else the exception's type
    (a timeout): what a person is told; the whole error (URL, response) goes to the log."""
    response = getattr(err, "response", None)
    code = response.get("error") if hasattr(response, "get") else None
    return str(code or type(err).__name__).replace("`", "'")[:80]


@dataclass
class SlackEmails:
    """The e-mail address Slack reports for a user (``users.info``), cached briefly: how a Slack user
    is matched to an Airflow user when the identity map lists e-mail addresses.

    :param ttl_seconds: how long a looked-up address is trusted.
    :param lookup_timeout_seconds: see :class:`UsergroupMembers`; a failed lookup leaves the user unmapped.
    """

    ttl_seconds: float = USERGROUP_CACHE_SECONDS
    lookup_timeout_seconds: float = 2.0
    _cache: dict[str, tuple[float, str | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, user_id: str, client: WebClient | None) -> str | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(user_id)
        if hit and now - hit[0] < self.ttl_seconds:
            return hit[1]
        if client is None:
            return None
        try:
            response = _with_timeout(client, self.lookup_timeout_seconds).users_info(user=user_id)
            email = ((response.get("user") or {}).get("profile") or {}).get("email") or None
        except Exception:
            log.warning("could not look up the e-mail of Slack user %s; counting them as unmapped", user_id)
            return None
        with self._lock:
            self._cache[user_id] = (now, email)
        return email


_default_emails = SlackEmails()
_identities_cache: dict[str, Identities] = {}


def configured_identities() -> Identities:
    """``[agentic_mlops] approver_identities`` (env ``AIRFLOW__AGENTIC_MLOPS__APPROVER_IDENTITIES``),
    parsed once per text."""
    from airflow.configuration import conf

    text = conf.get("agentic_mlops", "approver_identities", fallback="") or ""
    identities = _identities_cache.get(text)
    if identities is None:
        identities = _identities_cache[text] = Identities.parse(text)
    return identities


def voter_of(
    user: str,
    via: str,
    *,
    display_name: str | None = None,
    email: str | None = None,
    identities: Identities | None = None,
    slack_client: WebClient | None = None,
    emails: SlackEmails | None = None,
) -> Voter:
    """Who ``user`` is as a voter: a Slack id (``slack*``), an OS login (``cli``) or an Airflow user (``ui``)."""
    identities = identities if identities is not None else configured_identities()
    if via in SLACK_VIAS:
        if email is None and identities.has_emails and not identities.maps_slack_id(user):
            email = (emails or _default_emails).get(user, slack_client)
        return identities.slack(user, email=email, display_name=display_name)
    if via == "cli":
        return identities.cli(user, display_name=display_name)
    return identities.airflow(user, email=email)


def slack_client_for(approval: dict[str, Any] | None = None, *, slack_conn_id: str | None = None) -> WebClient | None:
    """The WebClient of the request's Slack connection (SlackHook), or None when it does not exist. A client is kept
    for the process; a missing connection is looked up again at each call."""
    conn_id = slack_conn_id or ((approval or {}).get("details") or {}).get("slack_conn_id")
    if not conn_id:
        return None
    return _slack_client(conn_id)


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _slack_client(conn_id: str) -> WebClient | None:
    with _clients_lock:
        if conn_id in _clients:
            return _clients[conn_id]
    from airflow_provider_agentic_mlops.hooks.connection import get_connection_or_none

    if get_connection_or_none(conn_id) is None:
        # not cached: a connection created later (the API server runs for days) is used at the next lookup
        log.info("Slack connection %r does not exist: no Slack messages", conn_id)
        return None
    from airflow.providers.slack.hooks.slack import SlackHook
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler

    from airflow_provider_agentic_mlops.core.slack_http import (
        BoundedRateLimitRetryHandler,
        IdempotentServerErrorRetryHandler,
        KeepAliveWebClient,
    )

    # the hook's client with its settings, on connections kept open between calls; a 429 is retried after
    # Slack's Retry-After (twice, if it asks for at most a minute), as a burst of escalations or clicks can hit
    # Slack's per-method limit; a 500 or 503 (Slack failing on its side) is retried twice after a back-off, but
    # not for a post: part of it may have succeeded, and a retry could post the message twice
    client = KeepAliveWebClient.like(SlackHook(slack_conn_id=conn_id, timeout=10).client)
    if not any(isinstance(h, RateLimitErrorRetryHandler) for h in client.retry_handlers):
        client.retry_handlers.append(BoundedRateLimitRetryHandler(max_retry_count=2))
    client.retry_handlers[:] = [
        h
        if not isinstance(h, ServerErrorRetryHandler) or isinstance(h, IdempotentServerErrorRetryHandler)
        else IdempotentServerErrorRetryHandler(max_retry_count=h.max_retry_count)
        for h in client.retry_handlers
    ]
    if not any(isinstance(h, ServerErrorRetryHandler) for h in client.retry_handlers):
        client.retry_handlers.append(IdempotentServerErrorRetryHandler(max_retry_count=2))
    with _clients_lock:
        _clients[conn_id] = client
    return client


def cli_command(approval: dict[str, Any], *, approve: bool = True) -> str:
    """The CLI command deciding ``approval``: with ``--model``, and ``--state-conn-id`` when the request's
    store is not the deployment's (``[agentic_mlops] state_conn_id``; request ids are numbered per store)."""
    from airflow_provider_agentic_mlops.core.approval_policy import cli_command as command_of
    from airflow_provider_agentic_mlops.settings import configured_state_conn_id

    return command_of(approval, approve=approve, default_conn_id=configured_state_conn_id())


# -- requests -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestResult:
    """:param approval: the request as stored. :param created: False on a re-run.
    :param posted: a Slack message was posted by this call."""

    approval: dict[str, Any]
    created: bool
    posted: bool


def request(
    store: StateStore,
    *,
    approvers: Iterable[str] | str = (),
    approver_usergroup: str | None = None,
    slack_conn_id: str | None = None,
    channel: str | None = None,
    details: dict[str, Any] | None = None,
    slack_client: WebClient | None = None,
    state_conn_id: str | None = None,
    log_waiting: bool = True,
    **request_fields: Any,
) -> RequestResult:
    """Create the request (or find it on a re-run) and post its Slack message once.

    The message is posted only while the request has no stored message ts, so a re-run never posts a
    second request. Without a Slack client (no connection) or channel, the CLI command is logged
    (unless ``log_waiting`` is False: a caller that logged it already, e.g. a sensor's later poke).

    :param request_fields: the request itself, as :meth:`StateStore.request_approval` takes it:
        ``model_name``, ``model_version``, ``dag_id``, ``run_id``, ``expires_at`` and optionally
        ``report_digest``, ``required_approvals``.
    :param approvers: Slack user ids allowed to decide from Slack (stored in the request's details); a string
        lists them separated by commas or spaces (``core.approval_policy.slack_user_ids``, which raises
        ValueError naming an entry that is not one).
    :param approver_usergroup: Slack user group whose members may decide from Slack.
    :param slack_conn_id: the request's Slack connection; ``channel``: where its message goes.
    :param state_conn_id: the connection ``store`` was opened through, kept with the request: its Slack
        buttons and CLI command name it, so a decision reaches this store (ids are numbered per store).
    """
    stored_details = dict(details or {})
    stored_details.update(
        approvers=sorted(set(slack_user_ids(approvers))),
        approver_usergroup=approver_usergroup,
        slack_conn_id=slack_conn_id,
        channel=channel,
    )
    if state_conn_id:
        stored_details["state_conn_id"] = state_conn_id
    approval, created = store.request_approval(**request_fields, details=stored_details)
    if created:
        _refresh_superseded(store, approval, slack_client)
    if approval.pop(RENEWED, False):  # its approvers changed: the message says what it needs now
        log.warning(
            "Approval request %s for %s v%s now takes the current approvers %s, user group %s, %s approval(s); "
            "votes from Slack users no longer named were forgotten (see the audit trail)%s",
            approval["id"],
            approval["model_name"],
            approval["model_version"],
            stored_details["approvers"],
            approver_usergroup,
            approval["required_approvals"],
            f"; the approvals already given are enough now, so it is approved by {approval['decided_by']}"
            if approval["status"] == APPROVED
            else "",
        )
        refresh_message(approval, slack_client=slack_client, store=store)
    if approval["status"] != PENDING or approval.get("slack_ts"):
        return RequestResult(approval, created, posted=False)
    if slack_client is None or not channel:
        if not log_waiting:
            return RequestResult(approval, created, posted=False)
        why = "no Slack connection" if slack_client is None else "no Slack channel configured"
        log.warning(
            "Approval request %s for %s v%s is waiting (%s). Decide with:\n  %s\n  %s\nor on the approvals page.",
            approval["id"],
            approval["model_name"],
            approval["model_version"],
            why,
            cli_command(approval),
            cli_command(approval, approve=False),
        )
        return RequestResult(approval, created, posted=False)
    message = slack_messages.request_message(approval)
    try:
        response = slack_client.chat_postMessage(channel=channel, text=message["text"], blocks=message["blocks"])
    except Exception as err:
        raise RuntimeError(
            f"could not post approval request {approval['id']} to Slack channel {channel!r} (connection "
            f"{slack_conn_id!r}): {err}. Check the bot token, that the bot is in the channel, and the channel "
            f"name; a retry posts it then. Meanwhile decide with `{cli_command(approval)}`."
        ) from err
    try:
        store.set_approval_message(approval["id"], channel=response["channel"], ts=response["ts"])
    except Exception:
        if not _recorded_after_all(store, approval, response):
            _withdraw_unrecorded(approval, response, slack_client)
            raise
    store.audit(
        "approval_posted",
        actor=approval["dag_id"],
        model_name=approval["model_name"],
        subject=f"approval:{approval['id']}",
        details={"channel": response["channel"], "ts": response["ts"]},
    )
    log.info("Posted approval request %s to Slack channel %s (ts %s)", approval["id"], channel, response["ts"])
    _retire_replaced_messages(store, approval, slack_client)
    return RequestResult(store.get_approval(approval["id"]) or approval, created, posted=True)


def _recorded_after_all(store: StateStore, approval: dict[str, Any], posted: dict[str, Any]) -> bool:
    """Recording the posted message raised, but the store holds its ts (a commit whose answer was lost)."""
    try:
        stored = store.get_approval(approval["id"], with_votes=False)
    except Exception:
        return False
    return stored is not None and (stored.get("slack_channel"), stored.get("slack_ts")) == (
        posted["channel"],
        posted["ts"],
    )


def _withdraw_unrecorded(approval: dict[str, Any], posted: dict[str, Any], slack_client: WebClient) -> None:
    """The request's message was posted but the store did not record it: a click on it could never count
    (a click must be on the request's recorded message), and the task's retry posts the request again. So
    the message loses its buttons and says so. Never raises: a message Slack keeps unchanged is retired
    when clicked (:func:`handle_click`)."""
    message = slack_messages.unrecorded_message(approval)
    try:
        slack_client.chat_update(
            channel=posted["channel"], ts=posted["ts"], text=message["text"], blocks=message["blocks"]
        )
    except Exception:
        log.exception(
            "approval request %s: could not remove the buttons of its unrecorded Slack message (channel %s, ts %s); "
            "a click on it is refused and removes them",
            approval["id"],
            posted["channel"],
            posted["ts"],
        )
        return
    log.warning(
        "approval request %s: its Slack message (channel %s, ts %s) could not be recorded in the state store, so its "
        "buttons were removed; a retry of the task posts the request again",
        approval["id"],
        posted["channel"],
        posted["ts"],
    )


def _refresh_superseded(store: StateStore, approval: dict[str, Any], slack_client: WebClient | None) -> None:
    """The new request superseded the run's older ones: their messages say so and lose their buttons.
    Best effort: never raises."""
    from airflow_provider_agentic_mlops.core.state import SUPERSEDED

    try:
        older = store.list_approvals(status=SUPERSEDED, model_name=approval["model_name"], dag_ids=[approval["dag_id"]])
    except Exception:
        log.exception("could not read the requests approval %s superseded", approval["id"])
        return
    refresh_closed(
        store, [a["id"] for a in older if a["run_id"] == approval["run_id"] and a.get("slack_ts")], slack_client
    )


def _retire_replaced_messages(store: StateStore, approval: dict[str, Any], slack_client: WebClient) -> None:
    """A reopened request was posted again: its earlier messages point to the new one, without buttons
    (a click on them is refused anyway, see ``StateStore.decide_approval``). Never raises."""
    try:
        replaced = store.replaced_messages(approval["id"])
    except Exception:
        log.exception("could not read the earlier Slack messages of approval %s", approval["id"])
        return
    message = slack_messages.replaced_message(approval)
    for old in replaced:
        try:
            slack_client.chat_update(
                channel=old["channel"], ts=old["ts"], text=message["text"], blocks=message["blocks"]
            )
        except Exception:
            log.exception("could not update the earlier Slack message %s of approval %s", old["ts"], approval["id"])


def refresh_closed(store: StateStore, approval_ids: Iterable[int], slack_client: WebClient | None = None) -> None:
    """Make the messages of requests the system closed (cancelled, superseded) say so, without buttons.
    Best effort: a failure is logged and the request stays closed. Never raises."""
    for approval_id in approval_ids:
        try:
            approval = store.get_approval(approval_id)
            if approval is not None:
                refresh_message(approval, slack_client=slack_client or slack_client_for(approval), store=store)
        except Exception:
            log.exception("could not update the Slack message of closed approval %s", approval_id)


# -- decisions ------------------------------------------------------------------------------------


def decide(
    store: StateStore,
    approval_id: int,
    *,
    approve: bool,
    user: str,
    via: str,
    reason: str | None = None,
    allowlist: Allowlist | None = None,
    slack_client: WebClient | None = None,
    members: UsergroupMembers | None = None,
    update_message: bool = True,
    approval: dict[str, Any] | None = None,
    write_lock: contextlib.AbstractContextManager[Any] | None = None,
    voter: Voter | None = None,
    display_name: str | None = None,
    identities: Identities | None = None,
    emails: SlackEmails | None = None,
    message_ts: str | None = None,
    task_state: SensorStateReader | None = None,
) -> ApprovalOutcome:
    """Record one person's decision on a request and bring its Slack message up to date.

    A request whose run no longer waits for it (its sensor task finished, e.g. marked failed or success by
    hand in Airflow's UI, which runs no failure callback) is cancelled instead, as the failure callback
    would have, and the voter is told so (:func:`wait_ended`).

    The vote counts for the person ``user`` maps to (:func:`voter_of`); a two-person request takes
    approvals only from mapped people (``core.approval_policy.check_two_person_rule``).

    :param user: the identity on ``via``: a Slack user id, the OS login (CLI) or the Airflow user (UI).
    :param via: ``slack``/``slack-socket`` (Slack allowlist enforced), ``cli`` or ``ui``.
    :param voter: the resolved voter, when the caller has it (else resolved from ``user`` and ``via``).
    :param display_name: a name to show (CLI ``--user``); never an identity.
    :param identities: the identity map (default: ``[agentic_mlops] approver_identities``).
    :param emails: the cache of Slack users' e-mail addresses (the endpoint keeps one per process).
    :param allowlist: overrides the request's stored allowlist (Slack only).
    :param slack_client: the client for allowlist group lookups and the message update; default: the
        request's Slack connection.
    :param update_message: False when the caller updates the message itself (the endpoint does it
        after answering Slack).
    :param approval: the request as the caller just read it (saves a read; the decision itself is
        still taken on the locked row inside the store's transaction).
    :param write_lock: held around the store write only (the API server serialises SQLite writers).
    :param message_ts: the Slack message clicked: a click on a message the request had before it was
        reopened and posted again is refused (see ``StateStore.decide_approval``).
    :param task_state: reads the Airflow state of the request's sensor task (default: Airflow's metadata
        database, :func:`~airflow_provider_agentic_mlops.liveness.read_task_state`).
    :raises ApprovalRefused: a Slack user outside the allowlist, or an approve whose run cannot be checked to
        still wait for it; nothing is recorded.
    :raises StateStoreError: no such request.
    """
    if approval is None or approval.get("id") != approval_id:
        approval = _get(store, approval_id)
    identities = identities if identities is not None else configured_identities()

    # ``approval`` may be a cached copy: when its approvers or number of approvals turn out to be out of date
    # (the sensor asked again with the current ones), the vote is checked again on the request as it is now
    while True:
        try:
            if via in SLACK_VIAS:
                if (
                    slack_client is None
                    and approval.get("status", PENDING) == PENDING
                    and (Allowlist.of(approval).usergroup or identities.has_emails)
                ):
                    slack_client = slack_client_for(approval)
                check_allowed(approval, user, allowlist=allowlist, slack_client=slack_client, members=members)
            if voter is None:
                voter = voter_of(
                    user,
                    via,
                    display_name=display_name,
                    identities=identities,
                    slack_client=slack_client,
                    emails=emails,
                )
            try:
                check_two_person_rule(approval, voter, approve=approve, via=via)
            except ApprovalRefused:
                # ``approval`` may be a cached copy whose status is stale (a cancelled request reopened):
                # only a fresh read showing the request decided lets the voter through, to be told so.
                # Nothing is written on that path, so a reopen right after the read cannot take the vote.
                fresh = store.get_approval(approval_id)
                if fresh is None or fresh["status"] == PENDING:
                    raise
                return ApprovalOutcome(recorded=False, approval=fresh, message=already_decided_message(fresh))
            ended_in = wait_ended(approval, approve=approve, task_state=task_state)
        except ApprovalRefused as err:
            fresh = store.get_approval(approval_id, with_votes=False)
            if fresh is not None and fresh["status"] == PENDING and approval_gate(fresh) != approval_gate(approval):
                approval = fresh  # e.g. an approver added since the copy was read: check the vote again
                continue
            with write_lock or contextlib.nullcontext():
                store.audit(
                    "approval_refused",
                    actor=user[:200],
                    model_name=approval["model_name"],
                    subject=f"approval:{approval_id}",
                    details={"via": via, "reason": str(err)},
                )
            raise
        if ended_in is not None:
            return _cancel_ended_wait(
                store,
                approval,
                ended_in,
                slack_client=slack_client,
                write_lock=write_lock,
                update_message=update_message,
            )
        with write_lock or contextlib.nullcontext():
            try:
                outcome = store.decide_approval(
                    approval_id,
                    approve=approve,
                    user=voter.person,
                    via=via,
                    reason=reason,
                    identity=voter.details,
                    message_ts=message_ts,
                    checked=approval,
                )
            except ApproversChanged:
                outcome = None
        if outcome is None:  # checked against approvers the request no longer has: check the vote again
            approval = _get(store, approval_id)
            continue
        if update_message and outcome.recorded:
            refresh_message(outcome.approval, slack_client=slack_client, store=store)
        return outcome


def wait_ended(approval: dict[str, Any], *, approve: bool, task_state: SensorStateReader | None = None) -> str | None:
    """The Airflow state of ``approval``'s sensor task instance when its run no longer waits for the decision
    (:data:`~airflow_provider_agentic_mlops.core.approval_policy.WAIT_ENDED_STATES`, including
    :data:`~airflow_provider_agentic_mlops.core.approval_policy.TASK_INSTANCE_DELETED` when Airflow no longer
    has it, e.g. its run was deleted), else None. A request that does not name its sensor task (made before
    requests named it) is not checked; one that names no map index (made before requests named it) reads the
    unmapped task instance (-1), and a missing one does not end its wait.

    :raises ApprovalRefused: the state cannot be read and the vote is an approve. Fail safe: an approve
        recorded for a run that no longer waits would be answered "approved" while nothing promotes, so it is
        refused (the person can click again; an unreadable metadata database leaves Airflow's API server,
        where clicks arrive, mostly down anyway). A deny is recorded: it never promotes anything. A metadata
        database that knows neither the run nor its DAG (a CLI's AIRFLOW_HOME pointing at another one) is such
        an unreadable state, never a deleted run.
    """
    details = approval.get("details") or {}
    task_id = details.get("sensor_task_id")
    if not task_id:
        return None
    map_index = _sensor_map_index(details)
    try:
        state = (task_state or _airflow_task_state)(approval["dag_id"], approval["run_id"], task_id, map_index)
    except Exception as err:
        log.warning(
            "could not read the state of task %s of approval %s: %s", _sensor_task(approval), approval["id"], err
        )
        if not approve:
            return None
        if isinstance(err, DagNotInMetadataDatabase):
            # another metadata database (a CLI's AIRFLOW_HOME): the run is not known deleted; nothing is cancelled
            raise ApprovalRefused(
                f"could not check that run {approval['run_id']} still waits for request {approval['id']}: {err}; "
                "nothing recorded"
            ) from err
        raise ApprovalRefused(
            f"could not check that run {approval['run_id']} still waits for request {approval['id']} (Airflow's "
            f"task state is unreadable: {type(err).__name__}); nothing recorded, try again in a moment"
        ) from err
    if state == TASK_INSTANCE_DELETED and "sensor_map_index" not in details:
        # made before requests named a map index: a mapped sensor has no unmapped task instance, so a missing
        # one may be a live wait; such a request is taken as it was before the upgrade
        return None
    return state if state in WAIT_ENDED_STATES else None


def _sensor_map_index(details: dict[str, Any]) -> int:
    """The map index of the request's sensor task instance: -1 (not mapped) when the request names none."""
    try:
        return int(details.get("sensor_map_index", -1))
    except (TypeError, ValueError):
        return -1


def _sensor_task(approval: dict[str, Any]) -> str:
    """``dag_id/run_id/task_id``, with ``[map_index]`` for a mapped sensor: the request's sensor task instance."""
    details = approval.get("details") or {}
    map_index = _sensor_map_index(details)
    task = f"{approval['dag_id']}/{approval['run_id']}/{details.get('sensor_task_id')}"
    return f"{task}[{map_index}]" if map_index >= 0 else task


def _airflow_task_state(dag_id: str, run_id: str, task_id: str, map_index: int) -> str | None:
    """The task instance's state in Airflow (``liveness.read_task_state``), where a decision looks by default;
    :data:`~airflow_provider_agentic_mlops.core.approval_policy.TASK_INSTANCE_DELETED` when Airflow has none."""
    from airflow_provider_agentic_mlops.liveness import read_task_state

    return read_task_state(dag_id, run_id, task_id, map_index, missing=TASK_INSTANCE_DELETED)


def _cancel_ended_wait(
    store: StateStore,
    approval: dict[str, Any],
    state: str,
    *,
    slack_client: WebClient | None,
    write_lock: contextlib.AbstractContextManager[Any] | None,
    update_message: bool,
) -> ApprovalOutcome:
    """Cancel the open requests of ``approval``'s run, whose sensor task is ``state`` (finished, or no longer in
    Airflow), as its failure callback would have (``liveness.cancel_approval_of_failed_task``); the outcome tells
    the voter why."""
    from airflow_provider_agentic_mlops.core.state import CANCELLED

    task = _sensor_task(approval)
    what = "no longer in Airflow (its run was deleted)" if state == TASK_INSTANCE_DELETED else state
    with write_lock or contextlib.nullcontext():
        closed = store.close_approvals_of_run(
            approval["model_name"],
            dag_id=approval["dag_id"],
            run_id=approval["run_id"],
            status=CANCELLED,
            reason=f"task {task} is {what}: its run no longer waits for approval, so nothing would be promoted",
        )
    if closed:
        log.warning("Cancelled approval request(s) %s: task %s is %s (no longer waiting)", closed, task, what)
    fresh = _get(store, approval["id"])
    if update_message:
        refresh_message(fresh, slack_client=slack_client, store=store)
    refresh_closed(store, [i for i in closed if i != approval["id"]], slack_client)
    return ApprovalOutcome(recorded=False, approval=fresh, message=already_decided_message(fresh))


def _get(store: StateStore, approval_id: int) -> dict[str, Any]:
    from airflow_provider_agentic_mlops.core.state import StateStoreError, missing_approval_message

    approval = store.get_approval(approval_id)
    if approval is None:
        raise StateStoreError(missing_approval_message(approval_id))
    return approval


#: the most updates one :func:`refresh_message` sends: one, and one more per change the store showed since
#: (another vote or the closing decision while an update was on its way)
REFRESH_UPDATES = 3


def refresh_message(
    approval: dict[str, Any], *, slack_client: WebClient | None = None, store: StateStore | None = None
) -> bool:
    """Make the request's Slack message show its current state (buttons or outcome). Never raises.

    Updates sent for several votes can reach Slack out of order (one rate-limited and sent again after its
    Retry-After, while a later vote closed the request), and Slack keeps the last one. So with ``store`` the
    request is read just before each update, and that state is shown, not ``approval``'s; after each update it is
    read again, and sent again when it would show something else. Whichever update Slack takes last, its sender
    read the request as it showed it after Slack took it, so the message ends on the stored state. A closed
    ``approval`` is sent as it is, without reading: a closed state is final (a request asked again later retires
    this message itself), and most clicks close their request, so they pay no read.

    :param approval: the request (without ``store``: also the state shown, as the caller read it).
    :param slack_client: the client (default: the request's Slack connection's).
    :param store: the request's state store, read before and after each update (one request and its votes).
    """
    if not approval.get("slack_ts") or not approval.get("slack_channel"):
        return False
    client = slack_client or slack_client_for(approval)
    if client is None:
        return False
    sent: tuple[Any, ...] | None = None
    final = approval.get("status", PENDING) != PENDING
    for _ in range(REFRESH_UPDATES):
        current = approval if store is None or final else _current_state(store, approval, after_update=sent is not None)
        if current is None or not current.get("slack_ts") or not current.get("slack_channel"):
            return sent is not None
        message = slack_messages.current_message(current)
        update = (current["slack_channel"], current["slack_ts"], message["text"], message["blocks"])
        if update == sent:
            return True
        try:
            client.chat_update(channel=update[0], ts=update[1], text=update[2], blocks=update[3])
        except Exception:
            log.exception("could not update the Slack message of approval %s", approval["id"])
            return False
        if store is None or final:
            return True
        sent = update
    return True


def _current_state(store: StateStore, approval: dict[str, Any], *, after_update: bool) -> dict[str, Any] | None:
    """The request as the store holds it now, for :func:`refresh_message`; None: nothing (more) to show.

    When the store cannot be read, ``approval`` itself before an update only if it is closed (a closed state is
    final; a pending copy may be older than a closing update already sent), and nothing after one."""
    try:
        return store.get_approval(approval["id"])
    except Exception as err:
        log.warning(
            "could not read approval %s to update its Slack message (%s: %s)", approval["id"], type(err).__name__, err
        )
    if after_update or approval.get("status", PENDING) == PENDING:
        return None
    return approval


def tell_user(
    slack_client: WebClient | None, *, channel: str | None, user: str, text: str, response_url: str | None = None
) -> bool:
    """An ephemeral answer only ``user`` sees (chat.postEphemeral; response_url when there is no channel).

    ``text`` is plain text (the store's messages name people and carry reasons): its ``&``, ``<`` and ``>`` are
    escaped here, so a name like ``<!channel>`` neither pings nor disguises a link. Its formatting is kept: the
    text is the provider's own sentence, whose commands are inline code to copy (the people it names are Slack
    ids, Airflow users and OS logins), shown only to the person who clicked.
    """
    text = slack_messages.escape_entities(text)
    try:
        if slack_client is not None and channel:
            slack_client.chat_postEphemeral(channel=channel, user=user, text=text)
            return True
        if response_url:
            from slack_sdk.webhook import WebhookClient

            WebhookClient(response_url, timeout=10).send(text=text, response_type="ephemeral", replace_original=False)
            return True
    except Exception:
        log.exception("could not answer %s on Slack", user)
    return False


# -- time -----------------------------------------------------------------------------------------


def expire_due(
    store: StateStore,
    *,
    now: datetime | None = None,
    slack_client_of: Callable[[dict[str, Any]], WebClient | None] | None = None,
    run: Callable[[Callable[[], Any]], Any] | None = None,
) -> list[dict[str, Any]]:
    """Deny by timeout every pending request past its deadline and update each one's Slack message.

    :param slack_client_of: the client for a request (default: the request's own Slack connection).
    :param run: runs each message update (default: at once); a web page hands them to threads off its request.
    """
    expired = store.expire_approvals(now)
    for approval in expired:
        log.info(
            "Approval request %s (%s v%s) expired", approval["id"], approval["model_name"], approval["model_version"]
        )

        def update(approval: dict[str, Any] = approval) -> None:
            refresh_message(approval, slack_client=(slack_client_of or slack_client_for)(approval), store=store)

        (run or (lambda fn: fn()))(update)
    return expired


def expire_when_due(
    store: StateStore, approval: dict[str, Any], *, now: datetime, trigger_due: bool = False
) -> dict[str, Any]:
    """``approval`` as it is once expired when it is pending past its deadline (:func:`expire_due`); the sensor's
    check.

    :param now: the caller's time.
    :param trigger_due: the sensor's trigger fired at the deadline: its judgement is taken. The triggerer's clock may
        be ahead of the worker's; waiting for the worker's to agree would defer with the same deadline, which the
        trigger finds passed at once, in a loop.
    """
    if approval["status"] != PENDING:
        return approval
    if trigger_due:
        now = max(now, approval["expires_at"])
    if approval["expires_at"] <= now:
        expire_due(store, now=now)
        approval = store.get_approval(approval["id"]) or approval
    return approval


#: how soon a reminder Slack refused is tried again (or after ``remind_every``, when that is shorter)
REMINDER_RETRY = timedelta(minutes=15)


def send_reminders(
    store: StateStore,
    *,
    remind_every: timedelta,
    approval_ids: Iterable[int] | None = None,
    escalation_channel: str | None = None,
    now: datetime | None = None,
    slack_client: WebClient | None = None,
) -> list[int]:
    """Remind (threaded reply to the request, mentioning its approvers) about pending requests not reminded for
    ``remind_every``; a request needing several approvals says how many are in.

    The escalation channel, when set, gets the same reminder as a new message; a refused escalation is
    only logged (the thread reminder was sent, so it is not repeated). A thread reminder Slack refuses is
    logged and tried again after :data:`REMINDER_RETRY` at most. Returns the ids reminded in their thread.

    :param approval_ids: only these requests (read one by one, however many others are pending);
        None: every pending request (the newest 1000).
    """
    now = now or utcnow()
    if approval_ids is not None:
        given = (store.get_approval(approval_id, with_votes=False) for approval_id in approval_ids)
        rows = [row for row in given if row is not None and row["status"] == PENDING]
    else:
        rows = store.list_approvals(status=PENDING, limit=1000)
    reminded: list[int] = []
    for row in rows:
        last = row.get("last_reminded_at") or row["requested_at"]
        if now - last < remind_every or row["expires_at"] <= now:
            continue
        client = slack_client or slack_client_for(row)
        so_far = None
        if int(row.get("required_approvals") or 1) > 1:
            votes = (store.get_approval(row["id"]) or {}).get("votes") or []
            so_far = sum(1 for vote in votes if vote["vote"] == "approve")
        text = slack_messages.reminder_text(row, now=now, approvals_so_far=so_far)
        if client is None or not row.get("slack_ts"):
            log.warning("%s Decide with: %s", text, cli_command(row))
            store.mark_reminded(row["id"], now)
            reminded.append(row["id"])
            continue
        try:
            # a thread reply notifies only the thread's followers: it mentions who may decide
            mentioned = slack_messages.reminder_text(row, now=now, approvals_so_far=so_far, mention=True)
            client.chat_postMessage(channel=row["slack_channel"], thread_ts=row["slack_ts"], text=mentioned)
        except Exception as err:
            # record the attempt as if it had been made ``retry_in`` before the next interval, so
            # the next one is due after a short back-off, not at once: a deferred sensor would
            # otherwise resume, fail and defer again in a loop until the deadline
            retry_in = min(remind_every, REMINDER_RETRY)
            log.warning(
                "could not send the reminder of approval %s (%s: %s); trying again in %s",
                row["id"],
                type(err).__name__,
                err,
                retry_in,
            )
            store.mark_reminded(row["id"], now - remind_every + retry_in)
            continue
        store.mark_reminded(row["id"], now)
        reminded.append(row["id"])
        if escalation_channel:
            try:
                client.chat_postMessage(
                    channel=escalation_channel,
                    text=slack_messages.escalation_text(row, now=now, channel=row["slack_channel"]),
                )
            except Exception as err:  # the next reminder escalates again
                log.warning(
                    "could not escalate the reminder of approval %s to Slack channel %r (%s: %s); "
                    "invite the bot there or fix escalation_channel",
                    row["id"],
                    escalation_channel,
                    type(err).__name__,
                    err,
                )
    return reminded


def next_reminder_at(approval: dict[str, Any], remind_every: timedelta | None) -> datetime | None:
    if remind_every is None:
        return None
    return (approval.get("last_reminded_at") or approval["requested_at"]) + remind_every


# -- Slack clicks (HTTP endpoint and Socket Mode) ------------------------------------------------


@dataclass
class ClickResult:
    """What a click did, and the Slack answers still to send (after Slack got its 200).

    :param kind: ``recorded`` | ``already_decided`` | ``not_recorded`` | ``refused`` | ``unknown`` |
        ``wrong_message`` (the click was not on the request's message) | ``unserved`` (the button names a
        state store this Airflow does not decide in).
    :param text: the sentence for the person who clicked.
    """

    kind: str
    text: str
    click: slack_messages.ApprovalClick
    approval: dict[str, Any] | None = None
    slack_client: Any = None
    expired: bool = False
    #: the request whose out-of-date message was clicked (``wrong_message``): that message loses its buttons
    outdated: dict[str, Any] | None = None
    #: the request's store, read again for each update of its message (see :func:`refresh_message`)
    store: StateStore | None = None

    def send_answers(self) -> None:
        """Update the request's message and tell the clicker (ephemeral). Never raises."""
        client = self.slack_client
        if self.approval is not None and (self.kind == "recorded" or self.expired or self._on_closed_message()):
            refresh_message(self.approval, slack_client=client, store=self.store)
        if self.outdated is not None:
            self._retire_clicked_message(self.outdated)
        decided_now = self.kind == "recorded" and self.approval is not None and self.approval["status"] != PENDING
        if not decided_now:
            tell_user(
                client,
                channel=self.click.channel_id,
                user=self.click.user_id,
                text=self.text,
                response_url=self.click.response_url,
            )

    def _retire_clicked_message(self, approval: dict[str, Any]) -> None:
        client = self.slack_client
        if client is None or not self.click.channel_id or not self.click.message_ts:
            return
        message = slack_messages.outdated_message(approval)
        try:
            client.chat_update(
                channel=self.click.channel_id, ts=self.click.message_ts, text=message["text"], blocks=message["blocks"]
            )
        except Exception:
            log.exception(
                "could not update the out-of-date Slack message %s of approval %s",
                self.click.message_ts,
                approval["id"],
            )

    def _on_closed_message(self) -> bool:
        """A click on the message of a closed request: the update that closed it may have failed (a
        cancelled request's message keeping its buttons), so it is made again."""
        assert self.approval is not None
        return self.kind == "already_decided" and self.click.message_ts == self.approval.get("slack_ts")


class RequestFacts:
    """Recently read requests, keyed by id, for the parts that rarely change once the Slack message
    exists (model, allowlist, Slack connection, channel and ts). The status, the decision and the
    votes are not kept, so nothing can rely on them: the decision is always taken on the locked row
    inside the store's transaction, which refuses a vote checked against an allowlist or a number of
    approvals the request no longer has (the sensor asked again with the current ones); :func:`decide`
    then checks it again on a fresh read. A reopened request is posted again: a click on a message other than
    the cached one re-reads the request (:func:`handle_click`). One cache per store (ids are per store)."""

    #: what changes while a request lives (a cancelled request can be reopened): never cached
    CHANGING = frozenset({"status", "decided_at", "decided_by", "decided_via", "reason", "votes"})

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._facts: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, store: StateStore, approval_id: int) -> dict[str, Any] | None:
        facts = self.peek(approval_id)
        if facts is not None:
            return facts
        approval = store.get_approval(approval_id, with_votes=False)
        self.remember(approval)
        return approval

    def peek(self, approval_id: int) -> dict[str, Any] | None:
        """The request's facts when they are cached, without reading the store."""
        with self._lock:
            return self._facts.get(approval_id)

    def remember(self, approval: dict[str, Any] | None) -> None:
        """Cache a request just read (without its votes) by the caller; one without a Slack message yet
        is not cached (its message fields will still change)."""
        if approval is None or not approval.get("slack_ts"):
            return
        facts = {key: value for key, value in approval.items() if key not in self.CHANGING}
        with self._lock:
            if len(self._facts) >= self.max_entries:
                self._facts.clear()
            self._facts[approval["id"]] = facts


def wrong_message(approval: dict[str, Any], click: slack_messages.ApprovalClick) -> str | None:
    """Why ``click`` cannot be a click on ``approval``'s Slack message (None: it is that message).

    A button names its request by id (and store), so the channel and ts Slack reports for the clicked
    message must be the ones the request was posted as: a click never decides a request its person did
    not see (ids are numbered per store; an old message of a cancelled and reopened request, a button
    posted by anything else). The reason names the request: give it only for a message known to be one
    of ``approval``'s (a button naming the request's store, or one of its replaced messages);
    :func:`legacy_button_refusal` is the answer for a button without a store."""
    if (
        click.channel_id
        and click.message_ts
        and (click.channel_id, click.message_ts)
        == (
            approval.get("slack_channel"),
            approval.get("slack_ts"),
        )
    ):
        return None
    what = f"request #{approval['id']} ({approval['model_name']} v{approval['model_version']})"
    if not approval.get("slack_ts"):
        return (
            f"{what} has no Slack message recorded yet: this one is about to be recorded (click again in a "
            "moment), or recording it failed and the request's task posts it again in a new message when it "
            f"retries. Decide there, or with `{cli_command(approval)}`."
        )
    return (
        f"this message is out of date: {what} was posted again in a newer message (it was asked again after "
        "its run was cancelled and cleared or its validation report changed, or recording this message failed "
        "and its post was retried). Use the request's newest message, "
        f"or `{cli_command(approval)}`."
    )


def legacy_button_refusal(
    store: StateStore,
    click: slack_messages.ApprovalClick,
    *,
    stores: ApprovalStores | None = None,
    slack_client: WebClient | None = None,
    members: UsergroupMembers | None = None,
) -> str:
    """Why a button without a store (posted before buttons named one), which leads to the deployment's
    store, cannot decide there: the message is not that store's request's. It may be the message of a
    request in a model's own store (ids are numbered per store): the message's channel and ts are looked
    up in the models file's other stores, and when the clicker may decide the request found there, the
    answer names the command deciding it. Otherwise it says how to find it, naming no request, so nothing
    leaks about a request the clicker may not decide (or about the deployment's request)."""
    found = _find_message(stores, click) if stores is not None and click.channel_id and click.message_ts else None
    if found is not None and stores is not None:
        conn_id, other = found
        try:
            client = slack_client if slack_client is not None else slack_client_for(other)
            check_allowed(other, click.user_id, slack_client=client, members=members)
        except ApprovalRefused:
            pass
        else:
            from airflow_provider_agentic_mlops.core.approval_policy import cli_command as command_of

            of_store = {**other, "details": {**(other.get("details") or {}), "state_conn_id": conn_id}}
            return (
                f"this message was posted before Approve/Deny buttons named their state store: it is request "
                f"#{other['id']} of {other['model_name']} in state store {conn_id!r}, and request ids are "
                "numbered per store, so its buttons lead to another request. Decide with "
                f"`{command_of(of_store, default_conn_id=stores.default_conn_id)}` or "
                f"`{command_of(of_store, approve=False, default_conn_id=stores.default_conn_id)}`."
            )
    from airflow_provider_agentic_mlops.version_compat import command

    n = click.approval_id
    return (
        "this button names no state store (it was posted before buttons named theirs), so it leads to this "
        f"Airflow's deployment state store, where this message is not request #{n}'s current one: it asks about "
        "a request of a model with a state store of its own (request ids are numbered per store), or it is "
        "out of date. Decide with "
        f"`{command(f'approvals approve {n} --model MODEL')}` or `{command(f'approvals deny {n} --model MODEL')}`, "
        "MODEL being the model this message asks about: the CLI finds the model's state "
        "store in the models file and refuses another model's request."
    )


def _find_message(stores: ApprovalStores, click: slack_messages.ApprovalClick) -> tuple[str, dict[str, Any]] | None:
    """``(connection id, request)`` of the request in one of the models file's stores (other than the
    deployment's) whose current message is the clicked one, or None. A store that cannot be read is skipped."""
    assert click.channel_id and click.message_ts
    for conn_id in sorted(set(stores.declared.by_model().values()) - {stores.default_conn_id}):
        try:
            found = stores.get(conn_id).find_approval_by_message(click.channel_id, click.message_ts)
        except Exception as err:
            log.warning("could not look up the clicked Slack message in state store %r: %s", conn_id, err)
            continue
        if found is not None:
            return conn_id, found
    return None


def _replaced(store: StateStore, approval: dict[str, Any], click: slack_messages.ApprovalClick) -> bool:
    """The clicked message is one ``approval`` had before it was reopened and posted again."""
    try:
        replaced = store.replaced_messages(approval["id"])
    except Exception:
        log.exception("could not read the earlier Slack messages of approval %s", approval["id"])
        return False
    return {"channel": click.channel_id, "ts": click.message_ts} in replaced


def _refused_text(why: str) -> str:
    """The answer to a refused click: ``why`` (a clause, or sentences ending with a period) as one sentence."""
    why = why.rstrip()
    return f"Refused: {why}{'' if why.endswith('.') else '.'} Nothing recorded."


def handle_click(
    store: StateStore,
    click: slack_messages.ApprovalClick,
    *,
    via: str = "slack",
    slack_client: WebClient | None = None,
    members: UsergroupMembers | None = None,
    facts: RequestFacts | None = None,
    write_lock: contextlib.AbstractContextManager[Any] | None = None,
    emails: SlackEmails | None = None,
    stores: ApprovalStores | None = None,
    task_state: SensorStateReader | None = None,
) -> ClickResult:
    """Record a Slack button click through :func:`decide`; Slack answers are left to ``send_answers``.

    ``store`` is the store the button names (see :mod:`~airflow_provider_agentic_mlops.approval_stores`);
    the click is refused unless it was on the message the request was posted as (:func:`wrong_message`,
    :func:`legacy_button_refusal`).

    :param facts: a cache of the requests' unchanging parts (the endpoint keeps one per process).
    :param write_lock: see :func:`decide`.
    :param stores: the stores the models file declares, where a button without a store (posted before
        buttons named one) that is not ``store``'s request's message is looked up, to name its request.
    :param task_state: see :func:`decide`.
    """
    from airflow_provider_agentic_mlops.core.state import StateStoreError

    approval = facts.get(store, click.approval_id) if facts is not None else store.get_approval(click.approval_id)
    if approval is None:
        return ClickResult(
            "unknown",
            f"Request #{click.approval_id} does not exist in this Airflow's state store; nothing recorded.",
            click,
            slack_client=slack_client,
        )
    client = slack_client if slack_client is not None else slack_client_for(approval)
    wrong = wrong_message(approval, click)
    if wrong is not None and facts is not None:
        # the cached message may be an older one: a reopened request is posted again
        fresh = store.get_approval(click.approval_id, with_votes=False)
        if fresh is not None:
            facts.remember(fresh)
            approval, wrong = fresh, wrong_message(fresh, click)

    def refuse_wrong_message(approval: dict[str, Any], wrong: str) -> ClickResult:
        # a button without a store leads here whatever store its request is in: only one of the request's
        # own older messages is known to be this request's; anything else is answered without naming it
        ours = click.state_conn_id is not None or _replaced(store, approval, click)
        if not ours:
            wrong = legacy_button_refusal(store, click, stores=stores, slack_client=slack_client, members=members)
        with write_lock or contextlib.nullcontext():
            store.audit(
                "approval_refused",
                actor=click.user_id[:200],
                model_name=approval["model_name"] if ours else None,
                subject=f"approval:{approval['id']}",
                details={"via": via, "reason": wrong, "channel": click.channel_id, "ts": click.message_ts},
            )
        # the request's own out-of-date message (a newer one is recorded) loses its buttons; one without a
        # newer message may have just been posted, before its ts was recorded, and is left as it is
        outdated = approval if ours and approval.get("slack_ts") else None
        return ClickResult("wrong_message", _refused_text(wrong), click, slack_client=client, outdated=outdated)

    if wrong is not None:
        return refuse_wrong_message(approval, wrong)
    try:
        outcome = decide(
            store,
            click.approval_id,
            approve=click.approve,
            user=click.user_id,
            via=via,
            slack_client=client,
            members=members,
            update_message=False,
            approval=approval,
            write_lock=write_lock,
            display_name=click.user_name,
            emails=emails,
            message_ts=click.message_ts,
            task_state=task_state,
        )
    except ApprovalRefused as err:
        return ClickResult("refused", _refused_text(str(err)), click, approval, client)
    except StateStoreError as err:
        return ClickResult("unknown", str(err), click, slack_client=client)
    if facts is not None and approval_gate(outcome.approval) != approval_gate(approval):
        facts.remember(outcome.approval)  # its approvers changed since it was cached
    if not outcome.recorded and outcome.approval.get("status") == PENDING:
        # the store refused the vote for its message: the request was posted again since ``approval`` (a cached
        # copy) was read, e.g. by a reopen in the sensor's process whose update of this message failed
        fresh = store.get_approval(click.approval_id, with_votes=False)
        wrong = wrong_message(fresh, click) if fresh is not None and fresh.get("slack_ts") else None
        if fresh is not None and wrong is not None:
            if facts is not None:
                facts.remember(fresh)
            return refuse_wrong_message(fresh, wrong)
    if outcome.recorded:
        kind = "recorded"
    elif outcome.decided:
        kind = "already_decided"
    else:
        kind = "not_recorded"
    text = outcome.message[:1].upper() + outcome.message[1:] if outcome.message else kind
    # an expired request's message may still show buttons (the click itself may have expired it): refresh
    expired = outcome.approval["status"] == "expired"
    return ClickResult(kind, text, click, outcome.approval, client, expired, store=store)


__all__ = [
    "Allowlist",
    "ApprovalRefused",
    "Identities",
    "SlackEmails",
    "Voter",
    "configured_identities",
    "voter_of",
    "wait_ended",
    "ClickResult",
    "RequestFacts",
    "RequestResult",
    "SLACK_VIAS",
    "UsergroupMembers",
    "check_allowed",
    "cli_command",
    "decide",
    "expire_due",
    "expire_when_due",
    "handle_click",
    "legacy_button_refusal",
    "refresh_closed",
    "refresh_message",
    "request",
    "send_reminders",
    "slack_client_for",
    "tell_user",
    "wrong_message",
]
