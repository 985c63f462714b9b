"""The approvals page (an external view in the Airflow UI) and its JSON API, behind Airflow's auth.

Airflow adds no auth to plugin apps, so every route here depends on :func:`authenticated_user`
(Airflow's own ``get_user``: the ``Authorization: Bearer`` JWT or the UI's session cookie) and
checks the DAG permission of the request's DAG with the configured auth manager:

* list: ``GET`` on the DAG's runs (requests of DAGs the user cannot read are left out, before the
  list's limit);
* approve / deny: ``PUT`` on the DAG's ``HITL_DETAIL`` (the permission Airflow's own
  human-in-the-loop approvals use); to a user who may not read the DAG's runs a request is
  answered as missing (404), so the DAG's id and the request's existence do not leak.

The page and its API list and decide the requests in the deployment's state store
(``[agentic_mlops] state_conn_id``) only; the page names the models the models file gives a store of
their own and whose DAG the user may read (decided in Slack or with the CLI's ``--model``/``--state-conn-id``).

Decisions go through :func:`airflow_provider_agentic_mlops.approvals.decide` with ``via="ui"``:
the same rules as Slack and the CLI (first decision wins, two-person rule, expiry).
POSTs must be exactly ``application/json`` (a cross-site form or a no-preflight ``fetch`` cannot
send that), and when authenticated by the session cookie they must come from this origin
(``Sec-Fetch-Site``/``Origin``, see :mod:`~airflow_provider_agentic_mlops.plugins.airflow_auth`).
DAG permissions are checked with the DAG's team, as Airflow's own routes do.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ValidationError, field_validator

from airflow_provider_agentic_mlops.core import model_history
from airflow_provider_agentic_mlops.core.approval_policy import (
    APPROVAL_ID_DIGITS,
    MAX_REASON_CHARS,
    bad_approval_id,
    bad_reason,
)
from airflow_provider_agentic_mlops.core.json_input import parse_json
from airflow_provider_agentic_mlops.plugins.airflow_auth import (
    UserDep,
    authenticated_user,  # noqa: F401 - the dependency tests and callers override
    check_same_origin,
    dag_teams,
    is_authorized_dag,
    require_json,
    user_name,
)
from airflow_provider_agentic_mlops.plugins.app import in_plugin_thread, read_limited, settings_of

router = APIRouter(tags=["approvals"])


#: Bytes of a decision's body: a reason of MAX_REASON_CHARS characters, each escaped in JSON, fits.
MAX_DECISION_BODY_BYTES = 16 * 1024


class DecisionBody(BaseModel):
    """A decision's JSON body.

    :param reason: why, at most :data:`~..core.approval_policy.MAX_REASON_CHARS` characters.
    """

    reason: str | None = None

    @field_validator("reason")
    @classmethod
    def _short_enough(cls, reason: str | None) -> str | None:
        too_long = bad_reason(reason)
        if too_long is not None:
            raise ValueError(too_long)
        return reason


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


#: Pending requests and decided ones the page shows (the newest of the DAGs the user may read).
PENDING_SHOWN = 100
HISTORY_SHOWN = 50


def readable_dag_ids(user: Any, store: Any) -> dict[str, Any]:
    """The DAGs with approval requests whose runs ``user`` may read, with their teams (:func:`dag_teams`): the
    queries keep only their requests before they apply a limit, so newer requests of other DAGs cannot crowd a
    team's out."""
    teams = dag_teams(model_history.approval_dag_ids(store))
    return {
        dag_id: team
        for dag_id, team in teams.items()
        if is_authorized_dag(user, dag_id, method="GET", entity="RUN", team_name=team)
    }


def may_decide(user: Any, dag_id: str, team: Any) -> bool:
    """Whether ``user`` may approve or deny the requests of ``dag_id`` (whose team is ``team``): ``PUT`` on the
    DAG's ``HITL_DETAIL``, the permission Airflow's own human-in-the-loop approvals use. The decide endpoint
    checks it; the page shows the buttons only where it holds."""
    return is_authorized_dag(user, dag_id, method="PUT", entity="HITL_DETAIL", team_name=team)


def expire_due(settings: Any, store: Any) -> None:
    """Expire the requests past their deadline before listing them, as ``approvals list`` does: no sensor
    expires one whose run was marked done by hand, or while the triggerer is down; shown pending, it would
    be offered to people deciding. Their Slack messages are updated on the app's answer threads: a slow
    Slack must not hold the page."""
    from airflow_provider_agentic_mlops import approvals

    approvals.expire_due(store, run=settings.run_later)


def _cursor(name: str, value: int | None) -> None:
    """Refuse a page cursor no request can have (422 naming it): out of the ids' range it would overflow the
    database's integer instead of matching nothing."""
    if value is not None and bad_approval_id(value) is not None:
        shown = str(value) if len(str(value)) <= 24 else str(value)[:24] + "..."
        raise HTTPException(
            422, f"{name}={shown} is not a request id (1 to {10**APPROVAL_ID_DIGITS - 1}): leave it out for the newest"
        )


#: Requests one call of the API gives at most.
MAX_API_LIMIT = 1000


@router.get("/api/approvals")
async def list_approvals(
    request: Request,
    user: UserDep,
    status: str | None = "pending",
    limit: int = 100,
    before: int | None = None,
) -> Any:
    """Approval requests (pending by default; ``status=all`` for every one) of DAGs the user can read, newest first.

    :param limit: requests per call, 1 to :data:`MAX_API_LIMIT`.
    :param before: only requests older than this id: when more are left, the response's ``Link`` header
        (``rel="next"``) gives the URL of the next page, with ``before`` the last listed request's id.
    """
    _cursor("before", before)
    settings = settings_of(request.app)
    wanted = None if status in (None, "", "all") else status
    size = max(1, min(limit, MAX_API_LIMIT))

    def load() -> list[dict[str, Any]]:
        store = settings.get_store()
        expire_due(settings, store)
        dag_ids = readable_dag_ids(user, store)
        return store.list_approvals(
            status=wanted, dag_ids=list(dag_ids), limit=size + 1, with_votes=True, before=before
        )

    rows = await in_plugin_thread(request.app, load)
    response = JSONResponse([_public(a) for a in rows[:size]])
    if len(rows) > size:
        params = {"status": status or "all", "limit": size, "before": rows[size - 1]["id"]}
        from airflow_provider_agentic_mlops.plugins.pages import plugin_root

        response.headers["Link"] = f'<{plugin_root(request)}/api/approvals?{urlencode(params)}>; rel="next"'
    return response


async def _decide(request: Request, user: Any, approval_id: int, approve: bool) -> JSONResponse:
    from airflow_provider_agentic_mlops import approvals

    require_json(request)
    check_same_origin(request)
    bad_id = bad_approval_id(approval_id)
    if bad_id is not None:
        raise HTTPException(404, bad_id)
    raw = await read_limited(request, MAX_DECISION_BODY_BYTES)
    if raw is None:
        raise HTTPException(
            413,
            f"the decision body is larger than {MAX_DECISION_BODY_BYTES} bytes "
            f"(a reason may have at most {MAX_REASON_CHARS} characters)",
        )
    try:
        body = DecisionBody.model_validate(parse_json(raw or b"{}", what="the decision body"))
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in err.errors())
        raise HTTPException(422, f"bad decision body: {problems}") from None
    except ValueError as err:  # JsonInputError
        raise HTTPException(422, f"bad decision body: {err}") from None
    settings = settings_of(request.app)

    def run() -> JSONResponse:
        store = settings.get_store()
        approval = store.get_approval(approval_id)
        missing = HTTPException(404, f"approval {approval_id} does not exist")
        if approval is None:
            raise missing
        dag_id, team = approval["dag_id"], dag_teams([approval["dag_id"]])[approval["dag_id"]]
        if not may_decide(user, dag_id, team):
            # a user who cannot see the request in the list learns nothing, not even that it exists
            if not is_authorized_dag(user, dag_id, method="GET", entity="RUN", team_name=team):
                raise missing
            raise HTTPException(403, f"you may not decide approvals of DAG {dag_id!r}")
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
            settings.run_later(
                lambda: approvals.refresh_message(outcome.approval, slack_client=settings.slack_client, store=store)
            )
        # the page shows the answer after its reload, where the request is no longer listed: name it
        message = outcome.message[:1].lower() + outcome.message[1:]
        named = f"Request #{approval_id} ({approval['model_name']} v{approval['model_version']}): {message}"
        payload = {"recorded": outcome.recorded, "message": named, "approval": _public(outcome.approval)}
        return JSONResponse(payload, status_code=200 if outcome.recorded else 409)

    return await in_plugin_thread(request.app, run)


@router.post("/api/approvals/{approval_id}/approve")
async def approve(request: Request, user: UserDep, approval_id: int) -> JSONResponse:
    return await _decide(request, user, approval_id, True)


@router.post("/api/approvals/{approval_id}/deny")
async def deny(request: Request, user: UserDep, approval_id: int) -> JSONResponse:
    return await _decide(request, user, approval_id, False)


#: Links of a request that name an artifact: served by the plugin from MLflow, not linked raw.
ARTIFACT_LINKS = model_history.ARTIFACT_LINKS


def _round(value: Any) -> str:
    """A setting or share, as short as it is (``0.5``, ``0.5556``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else str(value)
    return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.4g}"


def _metric(value: Any) -> str:
    """A metric with four decimals (``0.5160``), so a table's column lines up (its change: ``shown_change``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else str(value)
    return f"{value:.4f}" if abs(value) < 1e6 else f"{value:.4g}"


def _number(value: Any) -> bool:
    """A finite number (not a boolean): a metric the page can show a change of."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def metric_rows(validation: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Champion vs challenger per metric, with four decimals, with the change and whether it is better; the change
    with the decimals the report's delta column gives it (``shown_change``: ``-0.000003``, ``0 (equal)``).

    ``direction`` is ``up`` (better), ``down`` (worse) or ``""`` (equal or unknown), by the metric's
    direction (``rmse`` lower is better; the primary metric's as validated).
    """
    from airflow_provider_agentic_mlops.core.validation import higher_is_better, is_tie, shown_change

    v = validation or {}
    champ, chall = v.get("champion_metrics") or {}, v.get("challenger_metrics") or {}
    primary = v.get("primary_metric")
    ungated = v.get("ungated_regressions") or {}  # worse beyond noise, and no gate checks it
    rows = []
    for metric in sorted(set(champ) | set(chall), key=lambda m: (m != primary, m)):
        old, new = champ.get(metric), chall.get(metric)
        row = {"metric": metric, "primary": metric == primary, "champion": _metric(old), "challenger": _metric(new)}
        row.update(delta="", arrow="", direction="", direction_word="")
        if _number(old) and _number(new) and is_tie(new, old):  # floating-point dust too: no arrow
            row.update(delta=shown_change(new, old))
        elif _number(old) and _number(new):
            delta = new - old
            better = (delta > 0) == higher_is_better(str(metric))
            row.update(
                delta=shown_change(new, old),
                arrow="\u25b2" if delta > 0 else "\u25bc",
                direction="up" if better else "down",
                direction_word="better" if better else ("worse, not gated" if metric in ungated else "worse"),
            )
        rows.append(row)
    return rows


def _comparison(validation: dict[str, Any] | None) -> str | None:
    """How sure the comparison is: the rows scored and the primary metric's improvement's 95 % interval."""
    from airflow_provider_agentic_mlops.core.validation import comparison_line

    return comparison_line(validation) if isinstance(validation, dict) else None


def _drift_line(drift: dict[str, Any] | None) -> dict[str, Any] | None:
    if not drift:
        return None
    return {
        "n_drifted": drift.get("n_drifted", "?"),
        "n_columns": drift.get("n_columns", "?"),
        "share": _round(drift.get("drift_share")),
        "threshold": _round(drift.get("share_threshold")),
        "top": [str(t.get("column")) for t in (drift.get("top_drifted") or [])[:5] if isinstance(t, dict)],
    }


def page_link(target: Any) -> str | None:
    """``target`` when the page may link to it as it is, else None: an ``http(s)`` URL with a host, or a path of
    this origin (one ``/`` then not a second ``/`` or ``\\``). The links come from the sensor's templated
    ``links=``: ``//evil.example/x`` (protocol-relative), ``/\\evil.example`` or a tab or line break in ``//``
    (browsers read ``\\`` as ``/`` and drop tabs, line breaks and leading spaces) would send an approver to
    another host, looking like a report of the request."""
    from urllib.parse import urlsplit

    text = str(target)
    if text != text.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return None
    if text.startswith("/"):
        return text if text[1:2] not in ("/", "\\") else None
    parts = urlsplit(text)
    return text if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _link_rows(root: str, approval: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, URL) of the request's links: reports through the plugin, web pages as they are
    (:func:`page_link`; others are not shown)."""
    from airflow_provider_agentic_mlops.plugins.pages import artifact_path

    rows = []
    for name, target in ((approval.get("details") or {}).get("links") or {}).items():
        if name in ARTIFACT_LINKS:
            rows.append((name, root + artifact_path(approval["model_name"], str(target))))
        elif (link := page_link(target)) is not None:
            rows.append((name, link))
    return rows


def page_request(root: str, approval: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of one pending request."""
    details = approval.get("details") or {}
    votes = approval.get("votes") or []
    return {
        **approval,
        "validation": details.get("validation") or {},
        "metric_rows": metric_rows(details.get("validation")),
        "comparison": _comparison(details.get("validation")),
        "drift": _drift_line(details.get("drift")),
        "rationale": details.get("rationale"),
        "link_rows": _link_rows(root, approval),
        "approve_count": sum(1 for v in votes if v.get("vote") == "approve"),
    }


def approvals_url(root: str, *, model: str | None, before: int | None, decided_before: int | None) -> str:
    """The approvals page's URL showing ``model``'s requests (None: every model's), the pending ones older
    than ``before`` and the decided ones listed after ``decided_before`` (None: the newest).

    :param root: the plugin's URL path (:func:`.pages.plugin_root`).
    """
    params = {"model": model, "before": before, "decided_before": decided_before}
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{root}/approvals" + (f"?{query}" if query else "")


@router.get("/approvals", response_class=HTMLResponse)
async def approvals_page(
    request: Request,
    user: UserDep,
    model: str | None = None,
    before: int | None = None,
    decided_before: int | None = None,
) -> HTMLResponse:
    """The page shown in the Airflow UI (Browse > Model approvals): pending requests and decided ones, the newest
    :data:`PENDING_SHOWN` and :data:`HISTORY_SHOWN`, each list paged back with its own cursor.

    :param model: only this model's requests.
    :param before: only pending requests older than this id (the "older" link).
    :param decided_before: only decided requests listed after this one (the "older" link of the history).
    """
    from airflow_provider_agentic_mlops.core.model_history import approval_count, decided_approvals
    from airflow_provider_agentic_mlops.plugins.pages import plugin_root, render

    _cursor("before", before)
    _cursor("decided_before", decided_before)
    model = model or None
    settings = settings_of(request.app)
    root = plugin_root(request)

    def load() -> dict[str, Any]:
        store = settings.get_store()
        expire_due(settings, store)
        teams = readable_dag_ids(user, store)
        dag_ids = list(teams)
        pending = store.list_approvals(
            status="pending",
            model_name=model,
            dag_ids=dag_ids,
            limit=PENDING_SHOWN + 1,
            with_votes=True,
            before=before,
        )
        history = decided_approvals(
            store, dag_ids=dag_ids, model_name=model, limit=HISTORY_SHOWN + 1, before=decided_before
        )
        more_pending, more_history = len(pending) > PENDING_SHOWN, len(history) > HISTORY_SHOWN
        pending, history = pending[:PENDING_SHOWN], history[:HISTORY_SHOWN]
        deciders = {dag_id for dag_id in {a["dag_id"] for a in pending} if may_decide(user, dag_id, teams[dag_id])}
        return {
            "pending": [{**page_request(root, a), "can_decide": a["dag_id"] in deciders} for a in pending],
            "history": history,
            "pending_total": approval_count(store, pending=True, dag_ids=dag_ids, model_name=model),
            "history_total": approval_count(store, pending=False, dag_ids=dag_ids, model_name=model),
            "older_pending": pending[-1]["id"] if more_pending else None,
            "older_decided": history[-1]["id"] if more_history else None,
            "other_stores": other_stores(settings, user),
            "store_conn_id": settings.get_stores().default_conn_id,
        }

    from airflow_provider_agentic_mlops.version_compat import command_prefix

    shown = await in_plugin_thread(request.app, load)
    return render(
        request,
        "approvals.html",
        user=user_name(user),
        **shown,
        model=model,
        before=before,
        decided_before=decided_before,
        url=lambda **change: approvals_url(
            root, **{"model": model, "before": before, "decided_before": decided_before, **change}
        ),
        cli=command_prefix(),
        max_reason_chars=MAX_REASON_CHARS,
    )


def other_stores(settings: Any, user: Any) -> list[tuple[str, str]]:
    """``(model, connection)`` of the models file's models that keep a state store of their own: the page
    and its API list and decide the deployment's store only (request ids are numbered per store). Only the
    models whose DAG's runs ``user`` may read are named (with the DAG's team), as the requests are."""
    from airflow_provider_agentic_mlops.core.config import DAG_ID_PREFIX

    stores = settings.get_stores()
    by_model = stores.declared.by_model(reread=True)  # re-read only when the file changed
    others = {
        f"{DAG_ID_PREFIX}{model}": (model, conn) for model, conn in by_model.items() if conn != stores.default_conn_id
    }
    teams = dag_teams(others)
    return sorted(
        entry
        for dag_id, entry in others.items()
        if is_authorized_dag(user, dag_id, method="GET", entity="RUN", team_name=teams.get(dag_id))
    )
