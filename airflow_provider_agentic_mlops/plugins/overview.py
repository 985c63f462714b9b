"""The model overview (Browse > Models), the per-model page and the decision trace page.

Behind the same auth as the approvals page (:func:`.approvals_page.authenticated_user`) and the
same DAG permission checks (:func:`.approvals_page.is_authorized_dag`): each decision, approval,
job and champion change is shown to a user who may read the runs of the DAG that recorded it, and
a model none of whose DAGs the user may read is answered as unknown (404). The models are those the
state store has rows of and those whose DAG ``agentic_mlops__<model>`` Airflow has parsed
(:func:`.alerts.known_models`, the alert endpoint's list), so a model is listed, with "no run yet", before its
first run. The data is the state store's (:mod:`..core.model_history`); the last DAG run comes from Airflow's
metadata database. The overview pages through the models by name and reads the rows' details for the shown
page only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from airflow_provider_agentic_mlops.core.approval_policy import APPROVAL_ID_DIGITS
from airflow_provider_agentic_mlops.core.paging import Page, page_of
from airflow_provider_agentic_mlops.plugins import alerts, approvals_page, charts
from airflow_provider_agentic_mlops.plugins.airflow_auth import DagTeam
from airflow_provider_agentic_mlops.plugins.app import in_plugin_thread, settings_of
from airflow_provider_agentic_mlops.plugins.approvals_page import UserDep, user_name
from airflow_provider_agentic_mlops.plugins.pages import plugin_root, render
from airflow_provider_agentic_mlops.settings import configured_alerts_conn_ids

router = APIRouter(tags=["models"])

SPARKLINE_RUNS = 20
#: Decisions per page of a model (the charts draw the same ones); older ones are a link away.
DECISIONS_SHOWN = 200
#: Models per page of the overview, and the most a ``page_size`` may ask for (more is clamped to it,
#: as Airflow's REST API clamps ``limit`` to ``[api] maximum_page_limit``).
MODELS_PER_PAGE = 50
MAX_MODELS_PER_PAGE = 500


def bad_row_id(row_id: int) -> bool:
    """Whether no row can have ``row_id``: out of the range of the store's ids (the approvals API's
    bound), it would overflow the database's integer instead of matching nothing."""
    return not 0 < row_id < 10**APPROVAL_ID_DIGITS


def may_read(user: Any, dag_id: str, team_name: DagTeam) -> bool:
    """Whether ``user`` may read the runs of ``dag_id`` (the model's DAG), whose team is ``team_name``
    (:func:`.approvals_page.dag_teams`)."""
    return approvals_page.is_authorized_dag(user, dag_id, method="GET", entity="RUN", team_name=team_name)


def last_dag_runs(dag_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The latest run of each DAG from Airflow's metadata database: ``{dag_id: {"run_id", "state"}}``."""
    if not dag_ids:
        return {}
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    wanted = sorted(set(dag_ids))
    latest = select(func.max(DagRun.id)).where(DagRun.dag_id.in_(wanted)).group_by(DagRun.dag_id)
    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.id.in_(latest.scalar_subquery()))).all()
        return {
            run.dag_id: {"run_id": run.run_id, "state": str(getattr(run.state, "value", run.state))} for run in runs
        }


def readable_dags(store: Any, user: Any, model_name: str) -> tuple[str, set[str | None]] | None:
    """The DAGs of ``model_name`` whose rows ``user`` may read, and the one its page names (the model's
    own DAG when readable); None when the user may read none of them.

    A model's rows can come from several DAGs (operators in hand-written DAGs of two teams, a DAG that
    was renamed): each row is shown only to readers of its own DAG. The model's own DAG is the one Airflow
    has parsed for it (``agentic_mlops__<model>``), else the first that recorded it
    (:func:`~..core.model_history.model_dag_id`). A row that recorded no DAG (a CLI rollback) is marked by
    None in the set, shown only to a reader of every DAG of the model (:func:`readable_of`). A model
    without rows is one whose DAG Airflow has parsed but which has not run yet (:func:`.alerts.known_models`),
    read as its rows would be: by readers of that DAG only.
    """
    from airflow_provider_agentic_mlops.core import model_history

    dags = model_history.model_dags(store, model_name)
    parsed = alerts.known_models([model_name]).get(model_name)
    if dags:
        own = parsed["dag_id"] if parsed else model_history.model_dag_id(store, model_name)
        return readable_of(user, own, dags)
    return None if parsed is None else readable_of(user, parsed["dag_id"], set())


def candidate_dags(own: str, dags: set[str | None]) -> set[str]:
    """The DAGs whose readers may see rows of a model whose DAG is ``own`` and whose rows recorded ``dags``."""
    return {d for d in dags if d} | {own}


def readable_of(
    user: Any, own: str, dags: set[str | None], teams: Mapping[str, DagTeam] | None = None
) -> tuple[str, set[str | None]] | None:
    """:func:`readable_dags` of a model whose DAG is ``own`` and whose rows recorded ``dags``.

    The rows that recorded no DAG are shown only to a user who may read every one of :func:`candidate_dags`:
    which DAG such a row came from is not known, and a DAG of another team that records the model's name
    must not make that team their reader.

    :param teams: the team of each of :func:`candidate_dags` (:func:`.approvals_page.dag_teams`), when the
        caller read them for many models at once; read here otherwise.
    """
    candidates = candidate_dags(own, dags)
    if teams is None:
        teams = approvals_page.dag_teams(candidates)
    readable: set[str | None] = {d for d in candidates if may_read(user, d, teams[d])}
    if not readable:
        return None
    if readable == candidates:
        readable.add(None)
    return (own if own in readable else min(d for d in readable if d)), readable


def model_or_404(store: Any, user: Any, model_name: str) -> tuple[str, set[str | None]]:
    """:func:`readable_dags`, or 404: a model the user may not read is answered as unknown, so its
    existence and its DAG's id do not leak (as the approvals API answers)."""
    access = readable_dags(store, user, model_name)
    if access is None:
        raise HTTPException(
            404,
            f"model {model_name!r} is unknown: no DAG of it that you may read, and no decision, job or approval "
            "of it in the state store",
        )
    return access


def parsed_dag(dags_parsed: Mapping[str, Mapping[str, Any]], model_name: str, dag_id: str) -> Mapping[str, Any]:
    """What Airflow has of ``dag_id``, the DAG a model's row names, when it is the model's parsed DAG
    (``{"dag_id", "paused", "entry_error"}``), else ``{}``.

    :param dags_parsed: :func:`.alerts.known_models`.
    """
    dag = dags_parsed.get(model_name)
    return dag if dag and dag["dag_id"] == dag_id else {}


def dag_paused(dags_parsed: Mapping[str, Mapping[str, Any]], model_name: str, dag_id: str) -> bool:
    """Whether ``dag_id``, the DAG a model's row names, is the model's parsed DAG and is paused.

    :param dags_parsed: :func:`.alerts.known_models`.
    """
    return bool(parsed_dag(dags_parsed, model_name, dag_id).get("paused"))


def entry_error(dags_parsed: Mapping[str, Mapping[str, Any]], model_name: str, dag_id: str) -> str | None:
    """The error of the model's models-file entry when ``dag_id`` is the model's parsed DAG and the DAG factory
    flagged it (:data:`~..core.config.INVALID_ENTRY_TAG`): the DAG's description, which names the error.

    :param dags_parsed: :func:`.alerts.known_models`.
    """
    return parsed_dag(dags_parsed, model_name, dag_id).get("entry_error")


def dag_missing(dags_parsed: Mapping[str, Mapping[str, Any]], model_name: str, dag_id: str) -> bool:
    """Whether ``dag_id``, the model's DAG, is the provider's DAG of the model (``agentic_mlops__<model>``) and
    Airflow has it no more (or not yet): the model was removed from the models file or renamed. A DAG of
    another name (hand-written) is not one :func:`.alerts.known_models` reads, so it is not said missing.

    :param dags_parsed: :func:`.alerts.known_models`.
    """
    from airflow_provider_agentic_mlops.core.model_history import default_dag_id

    return dag_id == default_dag_id(model_name) and not parsed_dag(dags_parsed, model_name, dag_id)


def first_run(model_name: str, dag_id: str, dags_parsed: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What the page of a model without a decision says of its DAG: ``{"parsed", "paused", "last_run",
    "alerts_conn_ids"}`` (``parsed``: Airflow has the DAG; ``last_run``: :func:`last_dag_runs`'s, None before
    the first).

    :param dags_parsed: :func:`.alerts.known_models`.
    """
    dag = parsed_dag(dags_parsed, model_name, dag_id)
    return {
        "parsed": bool(dag),
        "paused": bool(dag.get("paused")),
        "last_run": last_dag_runs([dag_id]).get(dag_id),
        "alerts_conn_ids": configured_alerts_conn_ids(),
    }


def escalation(
    store: Any, model_name: str, dag_id: str, newest: Any, *, scheduled: bool = True
) -> dict[str, Any] | None:
    """What the page of a model whose newest decision escalated says: ``{"decision_id", "rationale", "next_step"}``,
    the next step as Slack and the task log word it (:func:`~..core.escalation.escalation_facts`), in parts
    ``(text, is_command)``; None when the newest decision did not escalate.

    :param dag_id: the model's DAG (a new run starts it).
    :param newest: the newest decision's :class:`~..core.model_history.RunPoint`, None when there is none.
    :param scheduled: the DAG has a schedule (the next step names the next scheduled run, else a manual trigger).
    """
    from airflow_provider_agentic_mlops.core.config import ESCALATE
    from airflow_provider_agentic_mlops.core.escalation import Command, escalation_facts

    if newest is None or newest.action != ESCALATE:
        return None
    decision = store.get_decision(newest.decision_id) or {"id": newest.decision_id, "rationale": newest.rationale}
    facts = escalation_facts(model_name, decision, dag_id=dag_id, scheduled=scheduled)
    return {
        "decision_id": newest.decision_id,
        "rationale": facts.rationale,
        "next_step": [(str(part), isinstance(part, Command)) for part in facts.next_step],
    }


def overview_url(root: str, *, q: str, page: int, page_size: int) -> str:
    """The overview's URL for page ``page`` of the models whose name contains ``q`` (defaults left out).

    :param root: the plugin's URL path (:func:`.pages.plugin_root`).
    :param q: the name filter ("" for none).
    :param page: the page, from 1.
    :param page_size: models per page.
    """
    params = {"q": q, "page": page if page != 1 else "", "page_size": page_size if page_size != MODELS_PER_PAGE else ""}
    query = urlencode({k: v for k, v in params.items() if v != ""})
    return f"{root}/models" + (f"?{query}" if query else "")


@router.get("/models", response_class=HTMLResponse)
async def models_page(
    request: Request,
    user: UserDep,
    q: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1)] = MODELS_PER_PAGE,
) -> HTMLResponse:
    """One row per model the user can see (champion, last run, last decision, drift, job, approval), by name,
    a page at a time.

    :param q: only models whose name contains it, case-insensitively.
    :param page: which page, from 1; one past the last says so and links to the last.
    :param page_size: models per page, at most :data:`MAX_MODELS_PER_PAGE` (more is clamped).
    """
    from airflow_provider_agentic_mlops.core import model_history

    needle = q.strip()
    size = min(page_size, MAX_MODELS_PER_PAGE)

    def load() -> tuple[Page[tuple[str, tuple[str, set[str | None]]]], list[dict[str, Any]]]:
        store = settings_of(request.app).get_store()
        # Every model's name and DAGs (cheap, set-wise): the filter, the read check and the count need them all.
        # The store's models, and those whose DAG is parsed but has not recorded anything yet (one query).
        models = model_history.models_and_dags(store)
        dags_parsed = alerts.known_models()
        for name, dag in dags_parsed.items():  # the DAG Airflow parsed for the model is its DAG
            models[name] = (dag["dag_id"], models[name][1] if name in models else set())
        matching = {
            name: (own, dags) for name, (own, dags) in sorted(models.items()) if needle.casefold() in name.casefold()
        }
        teams = approvals_page.dag_teams(set().union(*(candidate_dags(*m) for m in matching.values())))
        shown = []
        for name, (own, dags) in matching.items():
            access = readable_of(user, own, dags, teams)
            if access is not None:
                shown.append((name, access))
        listed = page_of(shown, page, size)
        # The expensive parts, for the page's models only.
        summaries = model_history.model_summaries(
            store, {name: dag_ids for name, (_, dag_ids) in listed.items}, sparkline_runs=SPARKLINE_RUNS
        )
        rows = []
        for name, (dag_id, _) in listed.items:
            summary = {"model_name": name, "dag_id": dag_id, **summaries[name]}
            summary["sparkline"] = charts.sparkline([r.drift_share for r in summary["runs"]])
            summary["no_champion"] = model_history.no_champion_yet(summary["last_decision"])
            rows.append(summary)
        runs = last_dag_runs([r["dag_id"] for r in rows])
        for r in rows:
            r["last_run"] = runs.get(r["dag_id"])
            r["paused"] = dag_paused(dags_parsed, r["model_name"], r["dag_id"])
            r["entry_error"] = entry_error(dags_parsed, r["model_name"], r["dag_id"])
            r["dag_missing"] = r["last_decision"] is not None and dag_missing(dags_parsed, r["model_name"], r["dag_id"])
        return listed, rows

    listed, rows = await in_plugin_thread(request.app, load)
    root = plugin_root(request)
    return render(
        request,
        "models.html",
        user=user_name(user),
        models=rows,
        page=listed,
        q=needle,
        page_size=size if size != MODELS_PER_PAGE else None,
        page_url=lambda number: overview_url(root, q=needle, page=number, page_size=size),
        clear_url=overview_url(root, q="", page=1, page_size=size),
        sparkline_runs=SPARKLINE_RUNS,
    )


@router.get("/models/{model_name}", response_class=HTMLResponse)
async def model_page(request: Request, user: UserDep, model_name: str, before: int | None = None) -> HTMLResponse:
    """Drift over time with decisions, per-column heatmap, quality, champion lineage, decisions: the
    newest :data:`DECISIONS_SHOWN`, or those older than decision ``before`` (the "older" link)."""
    from airflow_provider_agentic_mlops.core import model_history

    root = plugin_root(request)

    def load() -> dict[str, Any]:
        store = settings_of(request.app).get_store()
        dag_id, dag_ids = model_or_404(store, user, model_name)
        if before is not None and bad_row_id(before):
            raise HTTPException(404, f"before={str(before)[:24]} is not a decision id; open the newest page")
        runs = model_history.model_runs(store, model_name, dag_ids=dag_ids, before=before, limit=DECISIONS_SHOWN + 1)
        older = len(runs) > DECISIONS_SHOWN
        runs = runs[1:] if older else runs
        lineage = model_history.champion_lineage(store, model_name, dag_ids=dag_ids)
        total = model_history.decision_count(store, model_name, dag_ids=dag_ids)
        dags_parsed = alerts.known_models([model_name])
        missing = dag_missing(dags_parsed, model_name, dag_id) and total > 0
        # a DAG Airflow does not say of (hand-written) counts as scheduled, as the page said before
        scheduled = not missing and parsed_dag(dags_parsed, model_name, dag_id).get("scheduled", True)
        return {
            "dag_id": dag_id,
            "dag_missing": missing,
            "before": before,
            "older_than": runs[0].decision_id if older else None,
            "total_decisions": total,
            "first_run": first_run(model_name, dag_id, dags_parsed) if total == 0 else None,
            "entry_error": entry_error(dags_parsed, model_name, dag_id),
            "scheduled": scheduled,
            # no run of a missing DAG decides again: its escalation is history, in the decisions table
            "escalation": escalation(
                store,
                model_name,
                dag_id,
                runs[-1] if runs and before is None and not missing else None,
                scheduled=scheduled,
            ),
            "drift_chart": charts.drift_chart(
                runs, decisions_url=f"{root}/models/{quote(model_name, safe='')}/decisions/"
            ),
            "heatmap": charts.heatmap_chart(model_history.column_heatmap(runs)),
            "quality_chart": charts.quality_chart(
                model_history.quality_series(runs),
                baselines=model_history.quality_baselines(runs),
                champions=model_history.champions_of_runs(runs, lineage),
                unknown=model_history.why_no_quality(runs),
            ),
            "lineage": lineage,
            "decisions": list(reversed(runs)),
            "verdicts": model_history.validation_verdicts(store, {model_name: runs}, dag_ids={model_name: dag_ids}),
            "running_job": model_history.running_job(store, model_name, dag_ids=dag_ids),
            "unfinished_promotions": model_history.unfinished_promotions(store, model_name, dag_ids=dag_ids),
        }

    context = await in_plugin_thread(request.app, load)
    return render(
        request,
        "model.html",
        user=user_name(user),
        model_name=model_name,
        colours=charts.ACTION_COLOURS,
        **context,
    )


@router.get("/models/{model_name}/decisions/{decision_id}", response_class=HTMLResponse)
async def decision_page(request: Request, user: UserDep, model_name: str, decision_id: int) -> HTMLResponse:
    """The full trace of one decision: rules fired, evidence, prompt, raw answer, tool calls, tokens; the approval
    requests of its DAG run with their votes and the promotion each led to, and whether the trace still matches the
    digest its ``decision`` audit entry recorded (what ``decisions show`` gives)."""
    missing = HTTPException(404, f"decision {str(decision_id)[:24]} of model {model_name!r} does not exist")

    def load() -> tuple[dict[str, Any], Any, list[dict[str, Any]], dict[str, Any]]:
        from airflow_provider_agentic_mlops.core import model_history

        store = settings_of(request.app).get_store()
        _, dag_ids = model_or_404(store, user, model_name)
        if bad_row_id(decision_id):
            raise missing
        decision = store.get_decision(decision_id)
        if (
            decision is None
            or decision["model_name"] != model_name
            or not model_history.of_dags(decision["dag_id"], dag_ids)
        ):
            raise missing
        point = model_history.run_point(decision)
        verdicts = model_history.validation_verdicts(store, {model_name: [point]}, dag_ids={model_name: dag_ids})
        # the run's requests are of the decision's own DAG, which the user may read
        approvals = model_history.decision_approvals(store, decision)
        return decision, verdicts.get(point.decision_id), approvals, store.trace_check(decision)

    d, verdict, approvals, trace_digest = await in_plugin_thread(request.app, load)
    from airflow_provider_agentic_mlops.core.decision import evidence_rows
    from airflow_provider_agentic_mlops.core.model_history import TRACE_CHECK_SAYS, trace_moved

    inputs = d.get("inputs")
    observed = inputs.get("drift_observed") if isinstance(inputs, dict) else None
    messages = [m for m in (d.get("prompt") or []) if isinstance(m, dict)]
    return render(
        request,
        "decision.html",
        user=user_name(user),
        d=d,
        evidence=evidence_rows(inputs),
        prompt_messages=messages,
        report_uri=observed.get("report_uri") if isinstance(observed, dict) else None,
        verdict=verdict,
        approvals=approvals,
        trace_digest=trace_digest,
        trace_says=TRACE_CHECK_SAYS[trace_digest["status"]],
        trace_moved=trace_moved(trace_digest, d["model_name"]),
    )
