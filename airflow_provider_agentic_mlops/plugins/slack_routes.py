"""``POST /slack/interactions``: Slack button clicks on approval requests.

Order of checks, each failing closed:

1. Slack's v0 signature over the RAW body (slack_sdk's SignatureVerifier; timestamp within 300 s),
   before anything is parsed: 401 and nothing recorded otherwise; 503 when no signing secret is set.
2. Replay: a signature already seen within the 300 s window is refused with 409 (per API-server
   process; across processes the store's first-decision-wins and one-vote-per-person still hold).
3. The clicking user against the request's approver allowlist (user ids and/or user-group members).
4. The decision, recorded atomically by the state store (first decision wins).

Slack gets its 200 as soon as the decision is recorded (well within its 3 s); updating the
original message and the ephemeral "already decided by ..." answer run after the response.
The header ``X-Agentic-Mlops-Outcome`` says what happened (for logs and tests; Slack ignores it).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import anyio
from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import JSONResponse

from airflow_provider_agentic_mlops.plugins.app import settings_of

SIGNATURE_WINDOW_SECONDS = 300
OUTCOME_HEADER = "X-Agentic-Mlops-Outcome"

router = APIRouter(tags=["slack"])


class ReplayGuard:
    """Remembers signatures seen in the last ``window`` seconds; a second use is a replay."""

    def __init__(self, window: float = SIGNATURE_WINDOW_SECONDS, max_entries: int = 100_000) -> None:
        self.window = window
        self.max_entries = max_entries
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, signature: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._lock:
            if len(self._seen) >= self.max_entries:
                self._seen = {s: t for s, t in self._seen.items() if now - t < self.window}
            seen_at = self._seen.get(signature)
            if seen_at is not None and now - seen_at < self.window:
                return False
            self._seen[signature] = now
            return True


_guards: dict[int, ReplayGuard] = {}
_verifiers: dict[str, Any] = {}


def _guard(app: Any) -> ReplayGuard:
    return _guards.setdefault(id(app), ReplayGuard())


def _verify(secret: str, body: bytes, timestamp: str, signature: str) -> bool:
    verifier = _verifiers.get(secret)
    if verifier is None:
        from slack_sdk.signature import SignatureVerifier

        verifier = _verifiers[secret] = SignatureVerifier(secret)
    try:
        return bool(verifier.is_valid(body=body, timestamp=timestamp, signature=signature))
    except (ValueError, TypeError):  # a timestamp that is not a number
        return False


def _answer(status: int, outcome: str, detail: str | None = None) -> Response:
    if detail is None:
        return Response(status_code=status, headers={OUTCOME_HEADER: outcome})
    return JSONResponse({"detail": detail}, status_code=status, headers={OUTCOME_HEADER: outcome})


async def _after_response(settings: Any, send: Any) -> None:
    settings.run_later(send)


@router.post("/slack/interactions")
async def slack_interactions(request: Request, background: BackgroundTasks) -> Response:
    """Verify, then record one Approve / Deny click."""
    from airflow_provider_agentic_mlops import approvals
    from airflow_provider_agentic_mlops.core.slack import InteractionError, parse_form_body, parse_interaction

    settings = settings_of(request.app)
    body = await request.body()
    secret = settings.get_signing_secret()
    if not secret:
        return _answer(
            503,
            "not_configured",
            "no Slack signing secret: set [agentic_mlops] slack_signing_secret "
            "(AIRFLOW__AGENTIC_MLOPS__SLACK_SIGNING_SECRET)",
        )
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not _verify(secret, body, timestamp, signature):
        return _answer(401, "bad_signature", "invalid or stale Slack signature")
    if not _guard(request.app).first_use(signature):
        return _answer(409, "replayed", "this signed request was already received")
    try:
        click = parse_interaction(parse_form_body(body))
    except InteractionError as err:
        return _answer(400, "bad_payload", str(err))
    if click is None:
        return _answer(200, "ignored")

    def record() -> approvals.ClickResult:
        return approvals.handle_click(
            settings.get_store(),
            click,
            via="slack",
            slack_client=settings.slack_client,
            members=settings.get_members(),
            facts=settings.get_facts(),
            write_lock=settings.serialized(),
        )

    result = await anyio.to_thread.run_sync(record)
    background.add_task(_after_response, settings, result.send_answers)
    return _answer(200, result.kind)
