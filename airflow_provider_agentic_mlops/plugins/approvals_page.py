"""The approvals page (an external view in the Airflow UI) and its JSON API, behind Airflow's auth.

Airflow adds no auth to plugin apps, so every route here depends on :func:`authenticated_user`
(Airflow's own ``get_user``: the ``Authorization: Bearer`` JWT or the UI's session cookie) and
checks the DAG permission of the request's DAG with the configured auth manager:

* list: ``GET`` on the DAG's runs (requests of DAGs the user cannot read are left out);
* approve / deny: ``PUT`` on the DAG's ``HITL_DETAIL`` (the permission Airflow's own
  human-in-the-loop approvals use).

Decisions go through :func:`airflow_provider_agentic_mlops.approvals.decide` with ``via="ui"``:
the same store and rules as Slack and the CLI (first decision wins, two-person rule, expiry).
POSTs must be exactly ``application/json`` (a cross-site form or a no-preflight ``fetch`` cannot
send that), and when authenticated by the session cookie they must come from this origin
(``Sec-Fetch-Site``/``Origin``, see :mod:`~airflow_provider_agentic_mlops.plugins.airflow_auth`).
DAG permissions are checked with the DAG's team, as Airflow's own routes do.
"""

from __future__ import annotations

import html
import json
from typing import Any

import anyio
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from airflow_provider_agentic_mlops.plugins.airflow_auth import (
    UserDep,
    authenticated_user,  # noqa: F401 - the dependency tests and callers override
    check_same_origin,
    dag_teams,
    is_authorized_dag,
    require_json,
    user_name,
)
from airflow_provider_agentic_mlops.plugins.app import settings_of

router = APIRouter(tags=["approvals"])


class DecisionBody(BaseModel):
    reason: str | None = None


def _public(approval: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "model_name",
        "model_version",
        "dag_id",
        "run_id",
        "status",
        "required_approvals",
        "requested_at",
        "expires_at",
        "decided_at",
        "decided_by",
        "decided_via",
        "reason",
        "report_digest",
    )
    out = {k: approval.get(k) for k in keys}
    for k, v in out.items():
        if hasattr(v, "isoformat"):
            out[k] = v.isoformat() + "Z"
    out["votes"] = [
        {**v, "at": v["at"].isoformat() + "Z" if hasattr(v.get("at"), "isoformat") else v.get("at")}
        for v in approval.get("votes") or []
    ]
    details = approval.get("details") or {}
    out["validation"] = details.get("validation")
    out["links"] = details.get("links")
    return out


def _visible(user: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    teams = dag_teams(r["dag_id"] for r in rows)
    allowed = {
        dag_id: is_authorized_dag(user, dag_id, method="GET", entity="RUN", team_name=team)
        for dag_id, team in teams.items()
    }
    return [r for r in rows if allowed[r["dag_id"]]]


@router.get("/api/approvals")
async def list_approvals(request: Request, user: UserDep, status: str | None = "pending", limit: int = 100) -> Any:
    """Approval requests (pending by default; ``status=all`` for every one) of DAGs the user can read."""
    settings = settings_of(request.app)
    wanted = None if status in (None, "", "all") else status

    def load() -> list[dict[str, Any]]:
        store = settings.get_store()
        rows = store.list_approvals(status=wanted, limit=max(1, min(limit, 1000)))
        return [store.get_approval(r["id"]) or r for r in _visible(user, rows)]

    return [_public(a) for a in await anyio.to_thread.run_sync(load)]


async def _decide(request: Request, user: Any, approval_id: int, approve: bool) -> JSONResponse:
    from airflow_provider_agentic_mlops import approvals

    require_json(request)
    check_same_origin(request)
    try:
        body = DecisionBody.model_validate(json.loads((await request.body()) or b"{}"))
    except ValueError as err:
        raise HTTPException(422, f"bad decision body: {err}") from None
    settings = settings_of(request.app)

    def run() -> JSONResponse:
        store = settings.get_store()
        approval = store.get_approval(approval_id)
        if approval is None:
            raise HTTPException(404, f"approval {approval_id} does not exist")
        if not is_authorized_dag(user, approval["dag_id"], method="PUT", entity="HITL_DETAIL"):
            raise HTTPException(403, f"you may not decide approvals of DAG {approval['dag_id']!r}")
        outcome = approvals.decide(
            store,
            approval_id,
            approve=approve,
            user=user_name(user),
            via="ui",
            voter=approvals.voter_of(user_name(user), "ui", email=getattr(user, "email", None)),
            reason=body.reason,
            slack_client=settings.slack_client,
            update_message=False,
            approval=approval,
            write_lock=settings.serialized(),
        )
        if outcome.recorded:
            settings.run_later(lambda: approvals.refresh_message(outcome.approval, slack_client=settings.slack_client))
        payload = {"recorded": outcome.recorded, "message": outcome.message, "approval": _public(outcome.approval)}
        return JSONResponse(payload, status_code=200 if outcome.recorded else 409)

    return await anyio.to_thread.run_sync(run)


@router.post("/api/approvals/{approval_id}/approve")
async def approve(request: Request, user: UserDep, approval_id: int) -> JSONResponse:
    return await _decide(request, user, approval_id, True)


@router.post("/api/approvals/{approval_id}/deny")
async def deny(request: Request, user: UserDep, approval_id: int) -> JSONResponse:
    return await _decide(request, user, approval_id, False)


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Model approvals</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1f2937}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e5e7eb;padding:.5rem;text-align:left;
vertical-align:top}button{margin-right:.4rem;padding:.3rem .8rem;cursor:pointer}.ok{background:#16a34a;color:#fff}
.no{background:#dc2626;color:#fff}#msg{margin:1rem 0;font-weight:600}small{color:#6b7280}
</style></head><body>
<h2>Model approvals</h2>
<p><small>Signed in as __USER__. Pending requests of the DAGs you can see. A decision here counts exactly like a
Slack click or <code>airflow agentic-mlops approvals approve ID</code>: the first decision wins.</small></p>
<div id="msg"></div>
<table><thead><tr><th>#</th><th>Model</th><th>Version</th><th>DAG run</th><th>Metrics (champion &rarr; challenger)</th>
<th>Deadline (UTC)</th><th>Votes</th><th></th></tr></thead><tbody>__ROWS__</tbody></table>
<script nonce="__NONCE__">
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-verb]");
  if (button) decide(button.dataset.id, button.dataset.verb);
});
async function decide(id, verb) {
  const reason = prompt(verb + " request #" + id + "? Optional reason:");
  if (reason === null) return;
  const r = await fetch("api/approvals/" + id + "/" + verb, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({reason: reason || null})});
  const data = await r.json().catch(() => ({}));
  document.getElementById("msg").textContent = data.message || data.detail || ("HTTP " + r.status);
  if (r.ok) setTimeout(() => location.reload(), 800);
}
</script></body></html>"""


def _row(a: dict[str, Any]) -> str:
    e = html.escape
    v = a.get("validation") or {}
    champ, chall = v.get("champion_metrics") or {}, v.get("challenger_metrics") or {}
    metrics = "<br>".join(f"{e(str(m))}: {e(str(champ.get(m)))} &rarr; {e(str(chall.get(m)))}" for m in sorted(chall))
    votes = ", ".join(f"{e(str(x['user_id']))} ({e(str(x['vote']))})" for x in a.get("votes") or []) or "-"
    return (
        f"<tr><td>{a['id']}</td><td>{e(a['model_name'])}</td><td>{e(a['model_version'])}</td>"
        f"<td>{e(a['dag_id'])}<br><small>{e(a['run_id'])}</small></td><td>{metrics or '-'}</td>"
        f"<td>{e(str(a['expires_at']))}</td><td>{votes} <small>needs {a['required_approvals']}</small></td>"
        f'<td><button class="ok" data-id="{a["id"]}" data-verb="approve">Approve</button>'
        f'<button class="no" data-id="{a["id"]}" data-verb="deny">Deny</button></td></tr>'
    )


@router.get("/approvals", response_class=HTMLResponse)
async def approvals_page(request: Request, user: UserDep) -> HTMLResponse:
    """The page shown in the Airflow UI (Browse > Model approvals)."""
    pending = await list_approvals(request, user, status="pending")
    rows = "".join(_row(a) for a in pending) or '<tr><td colspan="8">No pending approvals.</td></tr>'
    page = _PAGE.replace("__NONCE__", request.state.csp_nonce).replace("__USER__", html.escape(user_name(user)))
    return HTMLResponse(page.replace("__ROWS__", rows))
