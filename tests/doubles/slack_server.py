"""Test double: a LOCAL Slack Web API server (not Slack, not a mock object).

A real HTTP server on 127.0.0.1 and an ephemeral port, in a thread, answering the Slack Web API
methods the provider uses: ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``,
``usergroups.users.list``, ``users.info`` and ``auth.test``. Tests reach it with the real ``slack_sdk.WebClient``
(``base_url=server.base_url``) or through the Slack provider's ``SlackHook`` with a connection
whose extra has ``{"base_url": server.base_url}``. Every call is recorded (method, arguments,
token) for assertions.

Also here: :func:`sign_interaction`, which builds an interaction request exactly as Slack sends it
(form-encoded ``payload=<json>``, ``X-Slack-Request-Timestamp``, and ``X-Slack-Signature`` =
``v0=`` HMAC-SHA256(signing secret, ``v0:<timestamp>:<body>``)), and :func:`click_payload`, the
``block_actions`` payload of a click on one of the provider's buttons.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.doubles import serving_thread


@dataclass
class SlackCall:
    method: str
    args: dict[str, Any]
    token: str | None
    #: what the double answered (e.g. a posted message's channel and ts); None until it has
    answer: dict[str, Any] | None = None


@dataclass
class SlackDouble:
    """State of the double: the recorded calls and the configured user groups."""

    usergroups: dict[str, list[str]] = field(default_factory=dict)
    # Slack user id -> the e-mail address users.info reports (profile.email)
    emails: dict[str, str] = field(default_factory=dict)
    failing_methods: set[str] = field(default_factory=set)
    # While set, calls to these methods wait until ``release`` is set (a Slack that does not answer).
    held_methods: set[str] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)
    # Answers given first, one per call, before :meth:`answer`'s: method -> [(HTTP status, headers, body)],
    # e.g. ``[(429, {"Retry-After": "1"}, {"ok": False, "error": "ratelimited"})]`` or Slack's refusals
    queued_answers: dict[str, list[tuple[int, dict[str, str], dict[str, Any]]]] = field(default_factory=dict)
    calls: list[SlackCall] = field(default_factory=list)
    # (channel, ts) of the messages a person deleted (:meth:`delete_message`): a reply in their thread is refused
    deleted: set[tuple[str, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    base_url: str = ""

    def record(self, call: SlackCall) -> None:
        with self._lock:
            self.calls.append(call)

    def calls_to(self, method: str) -> list[SlackCall]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def delete_message(self, channel: str, ts: str) -> None:
        """A person deletes message ``ts`` of ``channel`` (a thread's parent, say)."""
        with self._lock:
            self.deleted.add((channel, ts))

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def next_ts(self) -> str:
        with self._lock:
            return f"{int(time.time())}.{next(self._ts):06d}"

    def next_queued(self, method: str) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        with self._lock:
            queue = self.queued_answers.get(method)
            return queue.pop(0) if queue else None

    def answer_call(self, call: SlackCall) -> dict[str, Any]:
        """The answer to ``call``: :meth:`answer`'s; a double whose answer depends on the token overrides this."""
        return self.answer(call.method, call.args)

    def answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method in self.failing_methods:
            return {"ok": False, "error": "internal_error"}
        if method == "users.info":
            user = args.get("user")
            if user not in self.emails:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": user, "profile": {"email": self.emails[user]}}}
        if method == "auth.test":
            return {"ok": True, "url": "https://double.slack.test/", "team": "Double", "user": "bot", "user_id": "UBOT"}
        if method == "chat.postMessage":
            if not args.get("channel"):
                return {"ok": False, "error": "channel_not_found"}
            thread_ts = args.get("thread_ts")
            if thread_ts and (args["channel"], thread_ts) in self.deleted:
                # Slack documents no error for this; thread_not_found is what it answers (bolt-js#2307)
                return {"ok": False, "error": "thread_not_found"}
            ts = self.next_ts()
            message = {"ts": ts, "text": args.get("text"), **({"thread_ts": thread_ts} if thread_ts else {})}
            return {"ok": True, "channel": args["channel"], "ts": ts, "message": message}
        if method == "chat.update":
            if not args.get("channel") or not args.get("ts"):
                return {"ok": False, "error": "message_not_found"}
            return {"ok": True, "channel": args["channel"], "ts": args["ts"], "text": args.get("text")}
        if method == "chat.postEphemeral":
            if not args.get("channel") or not args.get("user"):
                return {"ok": False, "error": "user_not_in_channel"}
            return {"ok": True, "message_ts": self.next_ts()}
        if method == "usergroups.users.list":
            group = args.get("usergroup")
            if group not in self.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": list(self.usergroups[group])}
        return {"ok": False, "error": "unknown_method"}


def _handler(double: SlackDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body are two writes; with Nagle on, a client that keeps its connection open
        # would get the body only after its delayed ACK (~40 ms), as no real Slack server makes it wait
        disable_nagle_algorithm = True

        def log_message(self, *_args: Any) -> None:  # quiet
            pass

        def _args(self) -> dict[str, Any]:
            parsed = urlparse(self.path)
            args: dict[str, Any] = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            ctype = self.headers.get("Content-Type") or ""
            if body and "json" in ctype:
                args.update(json.loads(body))
            elif body:
                args.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
            for key in ("blocks", "attachments"):
                if isinstance(args.get(key), str):
                    args[key] = json.loads(args[key])
            return args

        def _serve(self) -> None:
            method = urlparse(self.path).path.rstrip("/").rsplit("/", 1)[-1]
            args = self._args()
            auth = self.headers.get("Authorization") or ""
            token = auth.split(" ", 1)[1] if auth.startswith("Bearer ") else args.get("token")
            call = SlackCall(method, args, token)
            double.record(call)
            if method in double.held_methods:
                double.release.wait(timeout=60)
            status, headers, call.answer = double.next_queued(method) or (200, {}, double.answer_call(call))
            body = json.dumps(call.answer).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = _serve
        do_GET = _serve

    return Handler


class SlackServer:
    """The double's HTTP server; use as a context manager. ``base_url`` ends with ``/api/``."""

    def __init__(self, double: SlackDouble | None = None) -> None:
        self.double = double or SlackDouble()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.double))
        self._thread = serving_thread(self._server, "slack-double")
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}/api/"
        self.double.base_url = self.base_url

    def __enter__(self) -> SlackDouble:
        self._thread.start()
        return self.double

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def slack_double() -> Iterator[SlackDouble]:
    """A running Slack Web API double; ``slack_double.base_url`` for WebClient(base_url=...)."""
    with SlackServer() as double:
        yield double


@pytest.fixture
def slack_connection(slack_double: SlackDouble, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Connection ``slack_api_default`` (type slack) pointing SlackHook at the double; yields the conn id.

    The per-process Slack clients (``approvals.slack_client_for``) are forgotten before and after, so no
    test reaches another test's double, or a client where it expects no connection.
    """
    from airflow_provider_agentic_mlops import approvals

    conn = {"conn_type": "slack", "password": "xoxb-test-token", "extra": {"base_url": slack_double.base_url}}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_API_DEFAULT", json.dumps(conn))
    approvals._clients.clear()
    yield "slack_api_default"
    approvals._clients.clear()


# -- signed interactions ------------------------------------------------------------------------


def click_payload(
    approval: int | dict[str, Any],
    *,
    approve: bool = True,
    user_id: str = "U_ALICE",
    channel: str | None = None,
    message_ts: str | None = None,
    action_ts: str | None = None,
) -> dict[str, Any]:
    """The ``block_actions`` payload Slack sends when a user clicks Approve / Deny on our message.

    :param approval: the stored request (the click is on its posted message: its button value, channel
        and ts), or only its id (a message in ``C_APPROVALS`` at ts ``1.000001`` unless given).
    """
    from airflow_provider_agentic_mlops.core.slack import button_value

    if isinstance(approval, dict):
        approval_id, value = approval["id"], button_value(approval)
        channel = channel or approval.get("slack_channel")
        message_ts = message_ts or approval.get("slack_ts")
    else:
        approval_id, value = approval, str(approval)
    channel, message_ts = channel or "C_APPROVALS", message_ts or "1.000001"
    action_id = "agentic_mlops_approve" if approve else "agentic_mlops_deny"
    return {
        "type": "block_actions",
        "team": {"id": "T_DOUBLE", "domain": "double"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": "T_DOUBLE"},
        "api_app_id": "A_DOUBLE",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
        "channel": {"id": channel, "name": "approvals"},
        "message": {"ts": message_ts, "type": "message"},
        "response_url": "https://hooks.slack.test/actions/T_DOUBLE/1/xyz",
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": f"agentic_mlops_approval:{approval_id}",
                "value": value,
                "action_ts": action_ts or f"{time.time():.6f}",
            }
        ],
    }


def sign_interaction(
    payload: dict[str, Any] | str, signing_secret: str, *, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """``(body, headers)`` of an interaction request exactly as Slack signs it."""
    from urllib.parse import urlencode

    raw = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    body = urlencode({"payload": raw}).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return body, signature_headers(body, signing_secret, ts)


def signature_headers(body: bytes, signing_secret: str, timestamp: str) -> dict[str, str]:
    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }
