"""``airflow agentic-mlops slack-listener``: Slack button clicks over Socket Mode (no public URL).

For shops that cannot expose ``/agentic-mlops/slack/interactions``: a Socket Mode client
(slack_sdk) receives the same ``block_actions`` payloads over a websocket Slack opens outbound, and
hands them to the same :func:`airflow_provider_agentic_mlops.approvals.handle_click` the HTTP
endpoint uses (allowlist, first decision wins, message update, ephemeral answers), in the store the
button names: ``--state-conn-id``'s (default ``[agentic_mlops] state_conn_id``) or one the models file
gives a model (:mod:`~airflow_provider_agentic_mlops.approval_stores`). Slack
authenticates the websocket with the app-level token, so there is no request signature to check.

Tokens: the bot token is the Slack connection's password (as for SlackHook); the app-level token
(``xapp-...``, scope ``connections:write``) is the connection extra ``app_token``, or the environment
variable ``SLACK_APP_TOKEN``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import threading
from typing import TYPE_CHECKING, Any

from airflow_provider_agentic_mlops.core.connections import DEFAULT_SLACK_CONN_ID
from airflow_provider_agentic_mlops.core.slack import REFUSED_TOKEN_ERRORS

if TYPE_CHECKING:
    from concurrent.futures import Executor

log = logging.getLogger(__name__)
#: Threads sending the Slack answers of clicks (message updates, ephemeral answers), beside slack_sdk's workers.
ANSWER_THREADS = 4
#: Threads recording clicks (the state store, Slack lookups), beside slack_sdk's workers, which only acknowledge.
RECORD_THREADS = 8


def app_token(slack_conn_id: str) -> str:
    """The app-level token (``xapp-...``): the ``app_token`` extra of connection ``slack_conn_id``, else the
    environment variable ``SLACK_APP_TOKEN``; :class:`CommandStopped` when there is none, or it is another kind
    of token (a bot token, ``xoxb-...``, in its place)."""
    return _app_token(slack_conn_id)[0]


def _app_token(slack_conn_id: str) -> tuple[str, str]:
    """``(token, where it came from)``: the second names the connection extra or the variable, never the token."""
    from airflow_provider_agentic_mlops.cli.output import CommandStopped
    from airflow_provider_agentic_mlops.hooks.connection import get_connection_or_none

    conn = get_connection_or_none(slack_conn_id)
    extra = (conn.extra_dejson or {}).get("app_token") if conn is not None else None
    if extra:
        token, source = str(extra), f"the 'app_token' extra of Slack connection {slack_conn_id!r}"
    elif os.environ.get("SLACK_APP_TOKEN"):
        token = os.environ["SLACK_APP_TOKEN"]
        source = (
            f"the environment variable SLACK_APP_TOKEN (Slack connection {slack_conn_id!r} has no 'app_token' extra)"
        )
    else:
        raise CommandStopped(
            f"no Slack app-level token: set the extra 'app_token' (xapp-...) on connection "
            f"{slack_conn_id!r} or the environment variable SLACK_APP_TOKEN. {_NEW_APP_TOKEN}"
        )
    if not token.startswith("xapp-"):
        kind = f" (this one starts with {token[:5]!r})" if re.match(r"xox[a-z]-", token) else ""
        raise CommandStopped(
            f"{source} is not an app-level token: those start with 'xapp-'{kind}; the bot token (xoxb-...) is the "
            f"connection's password. {_NEW_APP_TOKEN}"
        )
    return token, source


_NEW_APP_TOKEN = (
    "Create an app-level token under your Slack app's Basic Information > App-Level Tokens, with the scope "
    "connections:write"
)


#: Slack's answers to ``apps.connections.open`` that no retry fixes, beside the refusals of any token
#: (:data:`~airflow_provider_agentic_mlops.core.slack.REFUSED_TOKEN_ERRORS`): an app-level token of the wrong type or
#: without ``connections:write``.
APP_TOKEN_REFUSALS = frozenset({"not_allowed_token_type", "missing_scope"})


def refused_token_message(source: str, code: str) -> str:
    """What the listener says when Slack refuses the app-level token from ``source`` with the error ``code``
    (``apps.connections.open``'s answer)."""
    if code == "not_allowed_token_type":
        why = "it is not an app-level token (xapp-...)"
    elif code in REFUSED_TOKEN_ERRORS:
        why = "the token is wrong or revoked"
    elif code == "missing_scope":
        why = "the token lacks the scope connections:write"
    else:
        return (
            f"Slack refused the Socket Mode connection with {source}: {code}. Check that token, and that Socket "
            "Mode is on (your Slack app's Settings > Socket Mode)"
        )
    return f"Slack refused {source}: {code}, {why}. {_NEW_APP_TOKEN}, and put it there"


#: What the clicker is told when the state store cannot be read or written (the HTTP endpoint's 503).
STORE_DOWN_ANSWER = (
    "Could not record your click: the state store is unavailable. Nothing recorded; click again in a moment."
)


def _store_errors() -> tuple[type[BaseException], ...]:
    """What a click's store raises when it cannot be opened or queried (the plugin answers these 503)."""
    from sqlalchemy.exc import SQLAlchemyError

    from airflow_provider_agentic_mlops.core.state import StateStoreError
    from airflow_provider_agentic_mlops.hooks.connection import ConnectionLookupFailed
    from airflow_provider_agentic_mlops.hooks.state import StateStoreUnavailable

    return (SQLAlchemyError, StateStoreError, StateStoreUnavailable, ConnectionLookupFailed)


def _store_down(where: str, store: Any, error: BaseException) -> str:
    """One line on a store that failed a click: which store (its masked URL when it was opened), what failed."""
    from airflow_provider_agentic_mlops.hooks.connection import ConnectionLookupFailed
    from airflow_provider_agentic_mlops.hooks.state import StateStoreUnavailable, shown_url, store_unavailable_message

    if isinstance(error, (StateStoreUnavailable, ConnectionLookupFailed)):  # their message names the store
        return f"{where}: {error}"
    if getattr(store, "url", None):
        where = f"{where}, {shown_url(store.url)}"
    return store_unavailable_message(where, error)


def _log_failure(done: Any) -> None:
    """Log what a click's recording raised on a thread of its own (else an executor keeps it unseen)."""
    error = done.exception()
    if error is not None:
        log.error("a click's recording failed: %s", error, exc_info=error)


def make_listener(
    store: Any,
    web_client: Any,
    *,
    members: Any = None,
    stores: Any = None,
    answers: Executor | None = None,
    records: Executor | None = None,
) -> Any:
    """The Socket Mode request listener: acknowledge first, then record and answer.

    :param store: the deployment's store (a button that names none).
    :param stores: the stores a button may name (:class:`~airflow_provider_agentic_mlops.approval_stores.
        ApprovalStores`); default: ``store`` and the configured models file's.
    :param answers: the threads that send the Slack answers (message update, ephemeral), so the client's
        workers, which acknowledge the next envelopes, never wait on Slack's Web API; None: sent in the
        listener's own thread.
    :param records: the threads that record the clicks (store writes, Slack lookups such as a usergroup's
        members), so the client's workers only acknowledge: a click that waits on the database or on Slack delays
        no other envelope's acknowledgement past Slack's 3 s; None: recorded in the listener's own thread.
    """
    from slack_sdk.socket_mode.response import SocketModeResponse

    from airflow_provider_agentic_mlops import approvals
    from airflow_provider_agentic_mlops.approval_stores import ApprovalStores, UnservedStore
    from airflow_provider_agentic_mlops.core.errors import describe
    from airflow_provider_agentic_mlops.core.slack import (
        REPLAY_MEMORY,
        InteractionError,
        escape_mrkdwn,
        parse_interaction,
    )
    from airflow_provider_agentic_mlops.core.state import SignatureReplayed

    stores = stores if stores is not None else ApprovalStores(store)

    dropped_types: set[str] = set()

    def listener(client: Any, req: Any) -> None:
        # Slack requires an ack of every envelope: one left unacknowledged is delivered again, and an app failing
        # its events may get them turned off
        client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        if req.type != "interactive":
            if req.type not in dropped_types:  # once per type: events can come by the thousand
                dropped_types.add(req.type)
                log.warning(
                    "acknowledged and dropped a %r envelope: this listener handles only button clicks. Turn that "
                    "feature off in this Slack app, or give the listener a Slack app of its own",
                    req.type,
                )
            return
        try:
            click = parse_interaction(req.payload or {})
        except InteractionError as err:
            log.warning("ignoring a malformed interaction: %s", err)
            return
        if click is None:
            return
        if records is None:
            record(click, req)
        else:  # the worker is free for the next envelope's ack at once
            records.submit(record, click, req).add_done_callback(_log_failure)

    def record(click: Any, req: Any) -> None:
        # Slack delivers an envelope again (same id, retry_attempt 1+) when it saw no ack in time: the envelope
        # id is recorded with the click's writes, as the endpoint records a request's signature, and a
        # redelivery is dropped, whichever listener (process) it reaches
        seen = f"socket:{req.envelope_id}"
        conn_id, click_store = stores.key(click.state_conn_id), None
        try:
            try:
                click_store = stores.get(click.state_conn_id)
            except UnservedStore as err:  # still recorded as seen, in the deployment's store
                conn_id, click_store = stores.default_conn_id, stores.default()
                with click_store.first_use_committed_with(seen, window=REPLAY_MEMORY):
                    result = approvals.ClickResult("unserved", f"Refused: {err}", click, None, web_client)
            else:
                with click_store.first_use_committed_with(seen, window=REPLAY_MEMORY):
                    result = approvals.handle_click(
                        click_store, click, via="slack-socket", slack_client=web_client, members=members, stores=stores
                    )
        except SignatureReplayed:
            log.info(
                "click on request %s by %s: envelope %s delivered again (retry %s), already handled",
                click.approval_id,
                click.user_id,
                req.envelope_id,
                req.retry_attempt,
            )
            return
        except _store_errors() as err:
            # the HTTP endpoint answers 503 here; Slack has its ack already, so the clicker is told instead
            where = f"connection {conn_id!r}"
            log.warning(
                "click on request %s by %s not recorded: %s",
                click.approval_id,
                click.user_id,
                _store_down(where, click_store, err),
            )
            result = approvals.ClickResult("store_unavailable", STORE_DOWN_ANSWER, click, None, web_client)
        except Exception as err:  # Slack has its ack: a failure here reaches no one unless the clicker is told
            error = describe(err)
            log.warning("click on request %s by %s not recorded: %s", click.approval_id, click.user_id, error)
            text = f"Could not record your click: {escape_mrkdwn(error)}; nothing recorded."
            result = approvals.ClickResult("failed", text, click, None, web_client)
        log.info("click on request %s by %s: %s", click.approval_id, click.user_id, result.kind)
        if answers is None:
            result.send_answers()
        else:
            answers.submit(result.send_answers)

    return listener


class _WithoutRefusal(logging.Filter):
    """Drops slack_sdk's log of a refused ``apps.connections.open`` (the listener's error says it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to retrieve WSS URL")


class SocketModeListener:
    """The Socket Mode client with the click listener, and the few threads that answer on Slack.

    slack_sdk runs each envelope on one of its ``concurrency`` worker threads, which acknowledges it; a worker
    that also waited on the database or Slack's Web API (a row lock, a usergroup lookup, a slow ``chat.update``)
    would leave the next envelopes unacknowledged past Slack's 3 s. So the workers only acknowledge,
    :data:`RECORD_THREADS` threads of their own record the clicks and :data:`ANSWER_THREADS` send the answers,
    as the HTTP endpoint's answer threads do.

    :param app_token: the app-level token (``xapp-...``).
    :param web_client: the bot's WebClient (answers, and ``apps.connections.open``).
    :param store: the deployment's store; ``stores``, ``members``: see :func:`make_listener`.
    :param token_source: where ``app_token`` came from, for errors (never the token itself).
    """

    def __init__(
        self,
        app_token: str,
        web_client: Any,
        store: Any,
        *,
        stores: Any = None,
        members: Any = None,
        token_source: str = "the app-level token",
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from slack_sdk.socket_mode import SocketModeClient

        self.token_source = token_source
        #: set by SIGINT/SIGTERM (the command's handlers) or when Slack refuses the token at a reconnect
        self.stopped = threading.Event()
        #: the error when Slack refused the token at a reconnect
        self.refusal: str | None = None
        self.answers = ThreadPoolExecutor(max_workers=ANSWER_THREADS, thread_name_prefix="agentic-mlops-slack-answer")
        self.records = ThreadPoolExecutor(max_workers=RECORD_THREADS, thread_name_prefix="agentic-mlops-slack-record")
        self.client = SocketModeClient(app_token=app_token, web_client=web_client)
        # slack_sdk's monitor reconnects through issue_new_wss_url and logs and retries any failure every few
        # seconds, forever: a refused token (revoked while running) is caught here and stops the listener
        self._issue_new_wss_url = self.client.issue_new_wss_url
        self.client.issue_new_wss_url = self._new_wss_url  # type: ignore[method-assign]
        self.client.socket_mode_request_listeners.append(
            make_listener(store, web_client, members=members, stores=stores, answers=self.answers, records=self.records)
        )

    def connect(self) -> None:
        """Open the websocket; :class:`CommandStopped` naming the token's source when Slack refuses the token."""
        from slack_sdk.errors import SlackApiError

        from airflow_provider_agentic_mlops.cli.output import CommandStopped

        quiet = _WithoutRefusal()  # slack_sdk logs the refusal (two lines) before raising it: said once, below
        self.client.logger.addFilter(quiet)
        try:
            self.client.connect()
        except SlackApiError as err:
            self.close()
            code = str((err.response.get("error") if err.response is not None else None) or "unknown error")
            raise CommandStopped(refused_token_message(self.token_source, code)) from None
        finally:
            self.client.logger.removeFilter(quiet)

    def _new_wss_url(self) -> str:
        """slack_sdk's ``issue_new_wss_url``; a refused token after startup stops reconnecting and the listener."""
        from slack_sdk.errors import SlackApiError

        try:
            return self._issue_new_wss_url()
        except SlackApiError as err:
            code = str((err.response.get("error") if err.response is not None else None) or "")
            refused = code in REFUSED_TOKEN_ERRORS or code in APP_TOKEN_REFUSALS
            if refused and self.client.current_app_monitor_started and not self.stopped.is_set():
                self.client.auto_reconnect_enabled = False  # no retry every 5 s with a token Slack refuses
                self.refusal = refused_token_message(self.token_source, code)
                log.error("Socket Mode listener stops: %s", self.refusal)
                self.stopped.set()
            raise

    def wait(self) -> None:
        """Run until :attr:`stopped` (a signal, or a refused token), then :meth:`close`; :class:`CommandStopped`
        with the refusal when Slack refused the token at a reconnect (the command exits non-zero, so the service
        manager restarts it or alerts)."""
        from airflow_provider_agentic_mlops.cli.output import CommandStopped

        self.stopped.wait()
        self.close()
        if self.refusal:
            raise CommandStopped(self.refusal)

    def close(self) -> None:
        """Stop taking envelopes; return once the clicks in flight are recorded and their answers sent."""
        self.client.close()  # waits for its workers: no click is handed over after this
        self.records.shutdown(wait=True)  # the clicks acknowledged are recorded: no answer is handed over after this
        self.answers.shutdown(wait=True)


def slack_listener(args: argparse.Namespace) -> None:
    """Run the Socket Mode client until SIGINT/SIGTERM."""
    from airflow_provider_agentic_mlops.approvals import UsergroupMembers, slack_client_for
    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    slack_conn_id = getattr(args, "slack_conn_id", None) or DEFAULT_SLACK_CONN_ID
    web_client = slack_client_for(slack_conn_id=slack_conn_id)
    if web_client is None:
        raise SystemExit(f"error: Slack connection {slack_conn_id!r} does not exist; create it with the bot token")
    from airflow_provider_agentic_mlops.approval_stores import ApprovalStores

    state_conn_id = getattr(args, "state_conn_id", None) or None
    store = StateStoreHook(state_conn_id).get_store()
    stores = ApprovalStores(store, default_conn_id=state_conn_id)  # None: [agentic_mlops] state_conn_id
    token, source = _app_token(slack_conn_id)
    client = SocketModeListener(
        token, web_client, store, stores=stores, members=UsergroupMembers(), token_source=source
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: client.stopped.set())
    client.connect()
    print(f"Listening for Slack approvals over Socket Mode (connection {slack_conn_id!r}); Ctrl-C to stop.")
    client.wait()
