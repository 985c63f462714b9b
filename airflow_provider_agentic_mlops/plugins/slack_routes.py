"""``POST /slack/interactions``: Slack button clicks on approval requests.

Order of checks, each failing closed:

1. Size: a body over :data:`MAX_BODY_BYTES` (64 KB; Slack's interactions are a few KB) is refused
   with 413 while it is read (a declared ``Content-Length`` over it is refused before reading), so
   an unauthenticated client cannot make the server hold or hash more than that.
2. Slack's v0 signature over the RAW body (slack_sdk's SignatureVerifier; timestamp within 300 s),
   before anything is parsed: 401 and nothing recorded otherwise; 503 when no signing secret is set.
3. Replay: a signature already seen within the 300 s window is refused with 409. The seen
   signatures are a table of the state store, so this holds across API-server workers and hosts.
   The signature is recorded in the click's own write transaction (with its vote, or the audit entry
   of its refusal; in one of its own when the click writes nothing), so steps 4 to 7 are worked out
   before a replay is known: a replay is still answered 409 before anything else, and nothing it
   would have written is kept.
4. The payload's shape (types, id formats, lengths): 400 with a one-line reason otherwise.
5. The store the button names (``"<id>:<conn id>"``; request ids are numbered per store): the
   deployment's, or one the models file gives a model (never another connection: 200 ``unserved``,
   nothing opened), and the clicked message (channel and ts) against the one the request was posted
   as (200 ``wrong_message`` otherwise, nothing recorded).
6. The clicking user against the request's approver allowlist (user ids and/or user-group members).
7. The decision, recorded atomically by the state store (first decision wins).

Slack gets its 200 as soon as the decision is recorded (well within its 3 s); updating the
original message and the ephemeral "already decided by ..." answer run after the response.
The header ``X-Agentic-Mlops-Outcome`` says what happened (for logs and tests; Slack ignores it).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from airflow_provider_agentic_mlops.core.slack import REPLAY_MEMORY
from airflow_provider_agentic_mlops.plugins.app import read_limited, settings_of

MAX_BODY_BYTES = 64 * 1024
OUTCOME_HEADER = "X-Agentic-Mlops-Outcome"

router = APIRouter(tags=["slack"])


_verifiers: dict[str, Any] = {}
#: Slack's ``X-Slack-Request-Timestamp``: Unix seconds. Checked before slack_sdk reads it, which raises
#: OverflowError (an unauthenticated 500) for one of 309 to 4,300 digits.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def _verify(secret: str, body: bytes, timestamp: str, signature: str) -> bool:
    if not _TIMESTAMP.fullmatch(timestamp):
        return False
    verifier = _verifiers.get(secret)
    if verifier is None:
        from slack_sdk.signature import SignatureVerifier

        verifier = _verifiers[secret] = SignatureVerifier(secret)
    try:
        return bool(verifier.is_valid(body=body, timestamp=timestamp, signature=signature))
    except (ValueError, TypeError, OverflowError):
        return False


def _answer(status: int, outcome: str, detail: str | None = None) -> Response:
    if detail is None:
        return Response(status_code=status, headers={OUTCOME_HEADER: outcome})
    return JSONResponse({"detail": detail}, status_code=status, headers={OUTCOME_HEADER: outcome})


class _AnswerLater:
    """A response's ``background``: hands the Slack answers to the app's answer threads once the
    response is sent. Starlette calls it with no arguments; a plain awaitable object spares the
    per-request ``BackgroundTasks`` / ``BackgroundTask`` (which inspects the callable each time)."""

    __slots__ = ("send", "settings")

    def __init__(self, settings: Any, send: Any) -> None:
        self.settings = settings
        self.send = send

    async def __call__(self) -> None:
        self.settings.run_later(self.send)


async def slack_interactions(request: Request) -> Response:
    """Verify, then record one Approve / Deny click."""
    from airflow_provider_agentic_mlops import approvals
    from airflow_provider_agentic_mlops.approval_stores import UnservedStore
    from airflow_provider_agentic_mlops.core.slack import InteractionError, parse_form_body, parse_interaction
    from airflow_provider_agentic_mlops.core.state import SignatureReplayed

    settings = settings_of(request.app)
    secret = settings.get_signing_secret()
    if not secret:
        return _answer(
            503,
            "not_configured",
            "no Slack signing secret: set [agentic_mlops] slack_signing_secret "
            "(AIRFLOW__AGENTIC_MLOPS__SLACK_SIGNING_SECRET)",
        )
    body = await read_limited(request, MAX_BODY_BYTES)
    if body is None:
        return _answer(413, "too_large", f"body larger than {MAX_BODY_BYTES} bytes; Slack interactions are smaller")
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not _verify(secret, body, timestamp, signature):
        return _answer(401, "bad_signature", "invalid or stale Slack signature")

    def check_and_record() -> tuple[Response, approvals.ClickResult | None]:
        # steps 3 to 7 in one worker thread: one hop off the event loop per click, not one per step.
        # The signature is recorded in the click's own write transaction (its vote, or the audit entry of
        # its refusal), so a click writes once; a replay is still refused (409) before anything is answered.
        try:
            click, bad = parse_interaction(parse_form_body(body)), None
        except InteractionError as err:
            click, bad = None, err
        unserved = None
        try:  # the store the button names: request ids are numbered per store
            key, store = settings.click_store(click.state_conn_id if click is not None else None)
        except UnservedStore as err:  # still recorded as seen, in the deployment's store
            (key, store), unserved = settings.click_store(None), err
        write_lock = settings.serialized(store)
        try:
            with store.first_use_committed_with(signature, window=REPLAY_MEMORY, write_lock=write_lock):
                if bad is not None:
                    return _answer(400, "bad_payload", str(bad)), None
                if click is None:
                    return _answer(200, "ignored"), None
                if unserved is not None:
                    text = f"Refused: {unserved}"
                    result = approvals.ClickResult("unserved", text, click, None, settings.slack_client)
                    return _answer(200, "unserved"), result
                result = approvals.handle_click(
                    store,
                    click,
                    via="slack",
                    slack_client=settings.slack_client,
                    members=settings.get_members(),
                    facts=settings.get_facts(key),
                    write_lock=write_lock,
                    emails=settings.get_emails(),
                    stores=settings.get_stores(),
                    task_state=settings.task_state,
                )
                return _answer(200, result.kind), result
        except SignatureReplayed:
            return _answer(409, "replayed", "this signed request was already received"), None

    loop = asyncio.get_running_loop()
    response, result = await loop.run_in_executor(settings.click_executor(), check_and_record)
    if result is not None:
        response.background = _AnswerLater(settings, result.send_answers)  # type: ignore[assignment]
    return response


# A plain Starlette route: the endpoint takes the raw request and nothing FastAPI would inject or
# validate, so its per-request dependency solving and response handling is cost without use.
router.add_route("/slack/interactions", slack_interactions, methods=["POST"], include_in_schema=False)
