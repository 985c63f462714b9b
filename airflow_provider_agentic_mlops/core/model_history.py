"""What the state store knows about each model, shaped for the overview and the model page.

Read-only queries over the state store's tables (decisions, jobs, approvals, audit), plus
:func:`drift_observation`, the compact per-column drift record the decision step stores with each
decision (``inputs["drift_observed"]``) so that drift over time can be drawn without Airflow's XCom.
No Airflow import; nothing heavy at module level.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from airflow_provider_agentic_mlops.core.schema import approvals, audit, decisions, jobs
from airflow_provider_agentic_mlops.core.validation import VALIDATION_REJECTED

if TYPE_CHECKING:
    from airflow_provider_agentic_mlops.core.state import StateStore

#: Severity stored for a column infinitely past its threshold (a p-value of 0): JSON has no infinity.
SEVERITY_CAP = 1000.0
#: Champion changes recorded in the audit trail, in the words the lineage shows.
LINEAGE_ACTIONS = {"promoted": "promoted", "rollback": "rolled back to"}


def drift_observation(drift: Mapping[str, Any]) -> dict[str, Any]:
    """Per-column drift of one check, compact: ``{"columns": {name: {"severity", "drifted"}}, "report_uri"}``.

    ``severity`` is the column's score relative to its threshold, oriented so that > 1 means drifted
    whatever the method (distances: score / threshold; p-values: threshold / score), as computed by
    :attr:`~airflow_provider_agentic_mlops.core.drift.ColumnDrift.severity`.

    :param drift: the drift summary dict (``DriftSummary.to_dict()``), as the decision step reads it.
    """
    from airflow_provider_agentic_mlops.core.drift import ColumnDrift  # pandas/numpy: worker side only

    columns: dict[str, Any] = {}
    for name, col in (drift.get("columns") or {}).items():
        score, threshold = col.get("score"), col.get("threshold")
        if score is None or threshold is None:
            severity = None
        else:
            raw = ColumnDrift(
                column=str(name),
                type=str(col.get("type") or ""),
                method=str(col.get("method") or ""),
                score=float(score),
                threshold=float(threshold),
                drifted=bool(col.get("drifted")),
            ).severity
            severity = None if math.isnan(raw) else round(min(raw, SEVERITY_CAP), 4)
        columns[str(name)] = {"severity": severity, "drifted": bool(col.get("drifted"))}
    return {
        "columns": columns,
        "columns_omitted": int(drift.get("columns_omitted") or 0),
        "report_uri": drift.get("report_uri"),
    }


@dataclass
class RunPoint:
    """One drift check and the decision taken on it.

    :param decision_id: id of the decision in the state store.
    :param at: when the decision was taken (naive UTC).
    :param action: the final action (``retrain``, ``no_action``, ``escalate``).
    :param drift_share: share of drifted columns (None when unknown).
    :param share_threshold: the dataset drift-share threshold of the check.
    :param quality: ``{metric: {"reference": x, "current": y}}`` when labels were known.
    :param columns: ``{column: {"severity", "drifted"}}`` (empty for decisions stored before it existed).
    :param report_uri: where the drift report of the check was saved.
    :param champion: the champion the check looked for, as its evidence recorded it: ``{"uri", "status",
        "reason"}``, status ``loaded``, ``absent`` (none registered yet) or ``unavailable``; None when not recorded.
    :param quality_missing: why the check measured no quality: its evidence's ``performance_missing``
        (``{"kind", "reason"}``); None when it measured it, or did not say.
    """

    decision_id: int
    at: datetime
    action: str
    decided_by: str | None = None
    dag_id: str | None = None
    run_id: str | None = None
    drift_share: float | None = None
    share_threshold: float | None = None
    dataset_drift: bool | None = None
    quality: dict[str, Any] | None = None
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    report_uri: str | None = None
    rationale: str | None = None
    champion: dict[str, Any] | None = None
    quality_missing: dict[str, Any] | None = None


def run_point(decision: Mapping[str, Any]) -> RunPoint:
    """A :class:`RunPoint` from a decision row of the state store."""
    inputs = decision.get("inputs") or {}
    drift = inputs.get("drift") or {}
    observed = inputs.get("drift_observed") or {}
    evidence = drift.get("evidence")
    evidence = evidence if isinstance(evidence, Mapping) else {}
    return RunPoint(
        decision_id=int(decision["id"]),
        at=decision["created_at"],
        action=str(decision.get("final_action")),
        decided_by=decision.get("decided_by"),
        dag_id=decision.get("dag_id"),
        run_id=decision.get("run_id"),
        drift_share=_number(drift.get("drift_share")),
        share_threshold=_number(drift.get("share_threshold")),
        dataset_drift=drift.get("dataset_drift"),
        quality=drift.get("quality") or measured_quality(drift.get("evidence")),
        columns=dict(observed.get("columns") or {}),
        report_uri=observed.get("report_uri"),
        rationale=decision.get("rationale"),
        champion=_mapping(evidence.get("champion")),
        quality_missing=_mapping(evidence.get("performance_missing")),
    )


def _mapping(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) and value else None


#: ``champion["status"]`` of a drift check that found no champion registered yet (a first model), as
#: ``DriftCheckOperator`` records it.
CHAMPION_ABSENT = "absent"


def no_champion_yet(point: RunPoint | None) -> str | None:
    """Why ``point``'s drift check had no champion when it found none registered yet (its evidence's champion
    status ``absent``): the reason it recorded, e.g. ``registered model 'churn' does not exist (a first
    model)``. None when it had one, could not load one (``unavailable``), or did not say.
    """
    champion = point.champion if point is not None else None
    if not champion or champion.get("status") != CHAMPION_ABSENT:
        return None
    reason = str(champion.get("reason") or "").removeprefix("no champion yet: ").strip()
    return reason or "none registered"


def why_no_quality(points: Sequence[RunPoint]) -> str:
    """Why the quality on current data of a model is not known, one sentence, from the newest of ``points``
    (oldest first): no drift check yet; no champion registered yet (:func:`no_champion_yet`), so nothing to
    score; else the reason the check's evidence recorded (``performance_missing``).
    """
    if not points:
        return "Model quality is not known yet: no drift check has run."
    last = points[-1]
    missing = last.quality_missing or {}
    absent = no_champion_yet(last)
    if absent is not None:
        labels = " and the current data has labels" if missing.get("kind") == "no_labels" else ""
        return (
            f"Model quality is not measured yet: no champion registered yet; {absent}. It is measured on the "
            f"labelled current data once a champion exists{labels}."
        )
    if missing.get("reason"):
        return f"Model quality is not known: the last drift check measured none: {missing['reason']}."
    return "Model quality is not known (no labelled current data in the drift checks)."


def measured_quality(evidence: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Quality on current data measured by the drift check's evidence, as ``{metric: {"reference",
    "current"}}``: the champion's own predictions scored against the labels of the current data (a
    check with a ``label_column`` and no ``prediction_column``). None when the performance was only
    estimated (no labels) or not measured at all.

    :param evidence: the drift summary's ``evidence`` (``core.evidence.gather_evidence``).
    """
    performance = (evidence or {}).get("performance") if isinstance(evidence, Mapping) else None
    if not isinstance(performance, Mapping) or performance.get("kind") != "measured":
        return None
    current = _number(performance.get("current"))
    if current is None or not performance.get("metric"):
        return None
    return {str(performance["metric"]): {"reference": _number(performance.get("baseline")), "current": current}}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


@dataclass
class Heatmap:
    """Columns x runs of drift severity (score relative to threshold; > 1 drifted).

    :param columns: column names, most severe (over all runs) first.
    :param runs: the runs, oldest first.
    :param cells: ``cells[i][j]``: severity of ``columns[i]`` in ``runs[j]``, None when not checked.
    """

    columns: list[str]
    runs: list[RunPoint]
    cells: list[list[float | None]]


def column_heatmap(points: Iterable[RunPoint], *, max_columns: int = 30) -> Heatmap:
    """The heatmap of ``points`` (oldest first), keeping the ``max_columns`` most severe columns."""
    runs = [p for p in points if p.columns]
    worst: dict[str, float] = {}
    for p in runs:
        for name, col in p.columns.items():
            sev = col.get("severity")
            worst[name] = max(worst.get(name, -1.0), -1.0 if sev is None else float(sev))
    names = sorted(worst, key=lambda n: (-worst[n], n))[:max_columns]
    cells = [[_severity(p.columns.get(n)) for p in runs] for n in names]
    return Heatmap(columns=names, runs=runs, cells=cells)


def _severity(col: Mapping[str, Any] | None) -> float | None:
    if not col or col.get("severity") is None:
        return None
    return float(col["severity"])


def quality_series(points: Iterable[RunPoint]) -> dict[str, list[tuple[RunPoint, float]]]:
    """Model quality on current data per metric, over the runs where labels were known."""
    series: dict[str, list[tuple[RunPoint, float]]] = {}
    for p in points:
        for metric, values in (p.quality or {}).items():
            current = _number((values or {}).get("current")) if isinstance(values, Mapping) else _number(values)
            if current is not None:
                series.setdefault(str(metric), []).append((p, current))
    return series


def quality_baselines(points: Iterable[RunPoint]) -> dict[str, dict[int, float]]:
    """The baseline of each run's quality per metric, by decision id, where known: the quality on reference
    data, or the metric logged for the champion (what the current quality is compared with)."""
    baselines: dict[str, dict[int, float]] = {}
    for p in points:
        for metric, values in (p.quality or {}).items():
            reference = _number(values.get("reference")) if isinstance(values, Mapping) else None
            if reference is not None:
                baselines.setdefault(str(metric), {})[p.decision_id] = reference
    return baselines


def champions_of_runs(points: Iterable[RunPoint], lineage: Iterable[Mapping[str, Any]]) -> dict[int, str | None]:
    """The champion each run's checks measured, by decision id: the version of the latest champion change
    (:func:`champion_lineage`'s entries) at or before the run; None before the first one recorded.

    :param lineage: champion changes in any order, each with ``at`` and ``version``.
    """
    changes = sorted(((e["at"], str(e["version"])) for e in lineage if e.get("at") is not None), key=lambda c: c[0])
    champions: dict[int, str | None] = {}
    for p in points:
        current = None
        for at, version in changes:
            if at > p.at:
                break
            current = version
        champions[p.decision_id] = current
    return champions


# -- queries --------------------------------------------------------------------------------------

#: The DAGs whose rows a query keeps (e.g. those the reader may read); None among them keeps the rows
#: that recorded no DAG (shown only to readers of every DAG of the model). None: every row.
DagIds = Collection[str | None] | None
#: The most SELECTs one compound SELECT may join (SQLite's limit; PostgreSQL has none).
_MAX_COMPOUND = 500


def _of_dags(column: Any, dag_ids: DagIds, *, unset: bool = True) -> Any:
    """The condition that ``column`` (a DAG id) is one of ``dag_ids``. ``unset=False``: a row that recorded no
    DAG never is, unless ``dag_ids`` is None (as :func:`_of_model_dags`)."""
    if dag_ids is None:
        return sa.true()
    named = sorted(d for d in dag_ids if d)
    no_dag = [column.is_(None), column == ""] if unset and None in dag_ids else []
    return sa.or_(sa.false(), *([column.in_(named)] if named else []), *no_dag)


def _each_dag(column: Any, dag_ids: DagIds) -> list[Any] | None:
    """:func:`_of_dags` as one condition per DAG (and ``IS NULL`` and ``= ''`` for the rows that recorded none), each
    one range of the index ``(model_name, dag_id, id)`` (the DAGs ORed are not one range newest first). None: every
    row (``dag_ids`` None)."""
    if dag_ids is None:
        return None
    each = [column == d for d in sorted(d for d in dag_ids if d)]
    if None in dag_ids:
        each += [column.is_(None), column == ""]
    if not each:
        return [sa.false()]
    return each


def of_dags(dag_id: str | None, dag_ids: DagIds) -> bool:
    """Whether a row that recorded ``dag_id`` is one of ``dag_ids`` (:data:`DagIds`)."""
    return dag_ids is None or (dag_id or None) in dag_ids


def _stands() -> Any:
    """SQL: the decision is its DAG run's newest (no later try of the run's ``decide`` superseded it)."""
    from airflow_provider_agentic_mlops.core.state import decision_superseded_by

    return decision_superseded_by().is_(None)


def _standing(rows: Iterable[Mapping[str, Any]]) -> list[int]:
    """The ids of ``rows`` (decisions with ``id``, ``dag_id``, ``run_id``) no later row of the same DAG run
    supersedes (:func:`~.state.decision_superseded_by`: a row that recorded no DAG or run stands), newest first."""
    seen: set[tuple[str, str]] = set()
    standing = []
    for row in sorted(rows, key=lambda r: r["id"], reverse=True):
        run = (row["dag_id"], row["run_id"])
        if row["dag_id"] is None or row["run_id"] is None:
            standing.append(row["id"])
        elif run not in seen:
            seen.add(run)
            standing.append(row["id"])
    return standing


def model_runs(
    store: StateStore, model_name: str, *, limit: int = 200, dag_ids: DagIds = None, before: int | None = None
) -> list[RunPoint]:
    """The model's last ``limit`` runs' decisions as :class:`RunPoint`, oldest first: of a DAG run that decided
    more than once (a retried or cleared ``decide``), only its newest decision, the one that stands.

    :param dag_ids: only decisions of these DAGs (:data:`DagIds`).
    :param before: only decisions older than this decision id (the next page back).
    """
    # each DAG's newest ids walked back to the page's last (a query's ORDER BY id DESC LIMIT n read them all)
    each_dag = _each_dag(decisions.c.dag_id, dag_ids)
    one_dag = each_dag is not None and len(each_dag) <= _MAX_COMPOUND  # SQLite joins at most 500 SELECTs
    if not one_dag:
        each_dag = [_of_dags(decisions.c.dag_id, dag_ids)]
    walks = [
        _walk_back(model_name, of_dag, limit, before, f"walk_{i}", one_dag=one_dag) for i, of_dag in enumerate(each_dag)
    ]
    ids = sa.union_all(*(sa.select(w.c.id).where(w.c.id.is_not(None)) for w in walks))
    query = (
        decisions.select()
        .where(decisions.c.id.in_(ids if len(walks) > 1 else ids.selects[0]), _stands())
        .order_by(decisions.c.id.desc())
        .limit(limit)
    )
    with store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    return [run_point(d) for d in reversed(rows)]


def _walk_back(model_name: str, of_dag: Any, limit: int, before: int | None, name: str, *, one_dag: bool) -> sa.CTE:
    """The ids of the model's decisions of ``of_dag`` (one of :func:`_each_dag`'s), newest first from ``before``
    on, down to the ``limit``-th that stands (one more, or NULL at the end), as a recursive CTE: each step is the
    newest id below the last one, one search of the index ``(model_name, dag_id, id)`` (``(model_name, id)`` for
    every DAG), and one search for a later try of the step's run. ``one_dag``: ``of_dag`` names one DAG, or none
    (``IS NULL``, which PostgreSQL does not take to fix ``dag_id``: ordered by it too, the index is its order).

    A query ``ORDER BY id DESC LIMIT n`` of the same rows leaves it to the planner to walk the index and stop, and
    PostgreSQL, which takes ``model_name`` and ``dag_id`` to be independent and ``(subquery) IS NULL`` to keep
    0.5% of the rows, estimated fewer rows than the LIMIT (45 of a model's 8,989 at a year of hourly decisions)
    and read and sorted all of them instead.
    """
    from airflow_provider_agentic_mlops.core.state import decision_superseded_by

    def below(bound: Any) -> Any:
        newest = sa.select(decisions.c.id).where(decisions.c.model_name == model_name, of_dag)
        order = [decisions.c.dag_id.desc(), decisions.c.id.desc()] if one_dag else [decisions.c.id.desc()]
        newest = newest.order_by(*order).limit(1)
        return (newest if bound is None else newest.where(decisions.c.id < bound)).scalar_subquery()

    def stands(decision_id: Any) -> Any:
        row = decisions.alias(f"{name}_row")
        superseded = decision_superseded_by(row)
        standing = sa.select(sa.func.count()).where(row.c.id == decision_id, superseded.is_(None))
        return sa.cast(standing.scalar_subquery(), sa.Integer)

    walk = sa.select(below(before).label("id"), sa.literal(0).label("standing")).cte(name, recursive=True)
    step = sa.select(below(walk.c.id), walk.c.standing + stands(walk.c.id)).where(
        walk.c.id.is_not(None), walk.c.standing < limit
    )
    return walk.union_all(step)


def decision_count(store: StateStore, model_name: str, *, dag_ids: DagIds = None) -> int:
    """How many decisions the model has (of ``dag_ids``, :data:`DagIds`) that stand: those :func:`model_runs`
    lists, a run's earlier tries not counted."""
    no_run = sa.or_(decisions.c.dag_id.is_(None), decisions.c.run_id.is_(None))  # each its own: nothing supersedes it
    runs = (
        sa.select(sa.literal(1))
        .where(decisions.c.model_name == model_name, _of_dags(decisions.c.dag_id, dag_ids))
        .group_by(decisions.c.dag_id, decisions.c.run_id, sa.case((no_run, decisions.c.id)))
        .subquery()
    )  # one group per run (a sort of the model's decisions), not a search of each one's later tries
    query = sa.select(sa.func.count()).select_from(runs)
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def champion_lineage(
    store: StateStore, model_name: str, *, limit: int = 50, dag_ids: DagIds = None
) -> list[dict[str, Any]]:
    """Champion changes, newest first: ``{"at", "event", "version", "from_version", "by", "approval",
    "reason", "run_id"}``; ``approval`` carries who approved and the votes, when the change had one.

    :param dag_ids: only changes made by these DAGs (:data:`DagIds`; a promotion records its DAG, a
        rollback none).
    """
    query = (
        audit.select()
        .where(
            audit.c.model_name == model_name,
            audit.c.action.in_(list(LINEAGE_ACTIONS)),
            _of_dags(audit.c.details["dag_id"].as_string(), dag_ids),
        )
        .order_by(audit.c.id.desc())
        .limit(limit)
    )
    with store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
        approvals_of = _approvals_by_id(conn, [r.get("details") for r in rows])
    return [_lineage_event(row, approvals_of) for row in rows]


def _approval_id(details: Any) -> int | None:
    approval_id = details.get("approval_id") if isinstance(details, Mapping) else None
    return None if approval_id is None else int(approval_id)


def _approvals_by_id(conn: sa.Connection, details: Iterable[Any]) -> dict[int, dict[str, Any]]:
    """The approval requests (with their votes) that champion changes with these ``details`` name, in two
    queries whatever their number."""
    from airflow_provider_agentic_mlops.core.state import attach_votes

    ids = sorted({i for d in details if (i := _approval_id(d)) is not None})
    if not ids:
        return {}
    rows = [dict(r) for r in conn.execute(approvals.select().where(approvals.c.id.in_(ids))).mappings()]
    return {r["id"]: r for r in attach_votes(conn, rows)}


def _lineage_event(row: Mapping[str, Any], approvals_of: Mapping[int, dict[str, Any]]) -> dict[str, Any]:
    """One entry of :func:`champion_lineage` from its audit row."""
    details = row.get("details") or {}
    approval_id = _approval_id(details)
    approval = approvals_of.get(approval_id) if approval_id is not None else None
    return {
        "at": row["at"],
        "event": LINEAGE_ACTIONS[row["action"]],
        "version": str(row.get("subject") or "").removeprefix("version:"),
        "from_version": details.get("previous_version") or details.get("from_version"),
        "by": row.get("actor"),
        "approval": approval,
        "reason": details.get("reason") or (approval or {}).get("reason"),
        "run_id": details.get("run_id"),
    }


def unfinished_promotions(
    store: StateStore,
    model_name: str,
    *,
    dag_ids: DagIds = None,
    promotions: Sequence[Mapping[str, Any]] | None = None,
) -> list[str]:
    """The model's promotions recorded but not completed, one line each (``describe_unfinished``), newest
    first: MLflow may already serve such a version while the lineage cannot name it yet. One that a later
    champion change overtook (still open: the change was recorded before such changes closed it) is shown
    as overtaken, with nothing to do, not as one its task can complete.

    :param dag_ids: only promotions of these DAGs (:data:`DagIds`), and only their changes these DAGs made.
    :param promotions: the model's in-progress promotions, newest first, when already read (``models
        list`` reads them for every model at once); None reads them.
    """
    from airflow_provider_agentic_mlops.core.promotion import describe_unfinished, later_champion_changes
    from airflow_provider_agentic_mlops.core.state import PROMOTION_IN_PROGRESS

    if promotions is None:
        promotions = store.list_promotions(model_name, status=PROMOTION_IN_PROGRESS)
    lines = []
    for p in promotions:
        if not of_dags(p["dag_id"], dag_ids):
            continue
        later = later_champion_changes(store, p)
        shown = [e for e in later if of_dags((e["details"] or {}).get("dag_id"), dag_ids)]
        lines.append(describe_unfinished(p, overtaken_by=shown if later else None))
    return lines


def model_dags(store: StateStore, model_name: str) -> set[str | None]:
    """Every DAG that recorded a decision, approval request or job of the model (None: a row that
    recorded none); empty when the store never heard of the model."""
    union = sa.union(
        *(sa.select(t.c.dag_id).where(t.c.model_name == model_name) for t in (decisions, approvals, jobs))
    ).subquery()
    with store.engine.connect() as conn:
        return {(r[0] or None) for r in conn.execute(sa.select(union.c.dag_id).distinct())}


def model_dag_id(store: StateStore, model_name: str) -> str:
    """The DAG of the model's loop as the state store knows it: the first DAG that recorded a decision of
    it (else an approval request, else a job); the provider's naming (:func:`default_dag_id`) when no row
    names a DAG.

    The first, not the newest: a DAG of another team that records a decision under the same model name
    later does not take the model over. The pages prefer the DAG Airflow has parsed for the model
    (``agentic_mlops__<name>``) to this one.
    """
    with store.engine.connect() as conn:
        for table in (decisions, approvals, jobs):
            row = conn.execute(
                sa.select(table.c.dag_id)
                .where(table.c.model_name == model_name, table.c.dag_id.is_not(None), table.c.dag_id != "")
                .order_by(table.c.id)
                .limit(1)
            ).first()
            if row:
                return str(row[0])
    return default_dag_id(model_name)


def default_dag_id(model_name: str) -> str:
    """The provider's name for the DAG of the model's loop (``agentic_mlops__<name>``)."""
    from airflow_provider_agentic_mlops.core.config import DAG_ID_PREFIX

    return f"{DAG_ID_PREFIX}{model_name}"


def models_and_dags(store: StateStore) -> dict[str, tuple[str, set[str | None]]]:
    """Every model the state store has heard of, sorted, with its DAG (:func:`model_dag_id`) and every
    DAG that recorded a row of it (:func:`model_dags`): the same answers for all models in three queries
    whose cost grows with the number of models and DAGs, not of decisions (:func:`_model_dag_pairs`)."""
    dags: dict[str, set[str | None]] = {}
    own: dict[str, str] = {}
    with store.engine.connect() as conn:
        # the first decision's DAG wins over an approval's, that over a job's
        for table in (jobs, approvals, decisions):
            first: dict[str, tuple[int, str]] = {}
            for model_name, dag_id, first_id in conn.execute(_model_dag_pairs(table)):
                name = str(model_name)
                dags.setdefault(name, set()).add(dag_id or None)
                if dag_id and (name not in first or first_id < first[name][0]):
                    first[name] = (first_id, str(dag_id))
            own.update((name, dag_id) for name, (_, dag_id) in first.items())
    return {name: (own.get(name) or default_dag_id(name), dags[name]) for name in sorted(dags)}


def _model_dag_pairs(table: sa.Table) -> sa.Select | sa.CompoundSelect:
    """Each distinct ``(model_name, dag_id, first id)`` of ``table``'s rows (``dag_id`` and the id None for
    the rows of a model that recorded no DAG), read from its ``(model_name, dag_id, id)`` index (migration
    0005) by a loose index scan: one index search per model and per DAG, however many rows each has.

    Recursive CTEs step from one model name to the next, then within each model from one DAG to the next
    (``> previous ORDER BY ... LIMIT 1``), as neither SQLite nor PostgreSQL skips through an index for a
    ``DISTINCT`` by itself."""
    model, dag, row_id = table.c.model_name, table.c.dag_id, table.c.id

    def first(column: Any, *conditions: Any) -> Any:
        """The smallest value of ``column`` among the rows that match ``conditions`` (one index search)."""
        return sa.select(column).where(*conditions).order_by(column).limit(1).scalar_subquery()

    names = sa.select(sa.select(sa.func.min(model)).scalar_subquery().label("name")).cte("models", recursive=True)
    names = names.union_all(sa.select(first(model, model > names.c.name)).where(names.c.name.is_not(None)))
    pairs = sa.select(names.c.name, first(dag, model == names.c.name, dag.is_not(None)).label("dag_id")).where(
        names.c.name.is_not(None)
    )
    pairs = pairs.cte("model_dags", recursive=True)
    pairs = pairs.union_all(
        sa.select(pairs.c.name, first(dag, model == pairs.c.name, dag > pairs.c.dag_id)).where(
            pairs.c.dag_id.is_not(None)
        )
    )
    oldest = (
        sa.select(row_id)
        .where(model == pairs.c.name, dag == pairs.c.dag_id)
        .order_by(row_id)
        .limit(1)
        .scalar_subquery()
    )
    with_dag = sa.select(pairs.c.name, pairs.c.dag_id, oldest).where(pairs.c.dag_id.is_not(None))
    if not dag.nullable:
        return with_dag
    unset = sa.exists().where(model == names.c.name, dag.is_(None))
    return sa.union_all(with_dag, sa.select(names.c.name, sa.null(), sa.null()).where(names.c.name.is_not(None), unset))


def approval_dag_ids(store: StateStore) -> list[str]:
    """Every DAG that asked for an approval, sorted."""
    with store.engine.connect() as conn:
        return sorted(str(r[0]) for r in conn.execute(sa.select(approvals.c.dag_id).distinct()))


def decided_approvals(
    store: StateStore,
    *,
    limit: int = 50,
    dag_ids: DagIds = None,
    model_name: str | None = None,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """Approval requests that are no longer pending, most recently decided first, with their votes.

    :param dag_ids: only requests of these DAGs (:data:`DagIds`), before the limit.
    :param model_name: only this model's requests.
    :param before: only the requests listed after request ``before`` in this order (the next page back); a
        request of a DAG outside ``dag_ids`` (or none) pages nothing, so the cursor tells nothing of other teams'.
    """
    decided_at = sa.func.coalesce(approvals.c.decided_at, approvals.c.requested_at)
    query = (
        approvals.select()
        .where(approvals.c.status != "pending", _of_dags(approvals.c.dag_id, dag_ids))
        .order_by(decided_at.desc(), approvals.c.id.desc())
        .limit(limit)
    )
    if model_name is not None:
        query = query.where(approvals.c.model_name == model_name)
    if before is not None:
        cursor = approvals.alias("cursor")
        at = (
            sa.select(sa.func.coalesce(cursor.c.decided_at, cursor.c.requested_at))
            .where(cursor.c.id == before, _of_dags(cursor.c.dag_id, dag_ids))  # another team's: as a missing one
            .scalar_subquery()
        )
        query = query.where(sa.or_(decided_at < at, sa.and_(decided_at == at, approvals.c.id < before)))
    from airflow_provider_agentic_mlops.core.state import attach_votes

    with store.engine.connect() as conn:
        return attach_votes(conn, [dict(r) for r in conn.execute(query).mappings()])


def approval_count(store: StateStore, *, pending: bool, dag_ids: DagIds = None, model_name: str | None = None) -> int:
    """How many requests are pending (``pending``) or no longer are, of ``dag_ids`` (:data:`DagIds`) and, given
    ``model_name``, of that model: the totals the approvals page's lists are pages of."""
    status = approvals.c.status == "pending" if pending else approvals.c.status != "pending"
    query = sa.select(sa.func.count()).where(status, _of_dags(approvals.c.dag_id, dag_ids))
    if model_name is not None:
        query = query.where(approvals.c.model_name == model_name)
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def model_summaries(
    store: StateStore, access: Mapping[str, DagIds], *, sparkline_runs: int = 20
) -> dict[str, dict[str, Any]]:
    """The overview row of each model of ``access`` (``{model: DAGs whose rows to show}``, :data:`DagIds`):
    ``{"champion", "last_decision", "last_validation", "runs", "running_job", "pending_approval"}``
    (``last_validation``: the :class:`ValidationVerdict` of the last decision's run, if any), read for all of them
    in a fixed number of queries. ``runs`` are the last ``sparkline_runs`` decisions, oldest first, as
    :class:`RunPoint` with only their id, time, action, DAG, run, drift share and the champion's status and reason
    (:func:`no_champion_yet`; the stored prompt and the rest of the inputs are not read); of a DAG run that decided
    more than once (a retried ``decide``), only its newest decision, as :func:`model_runs` (``last_decision`` too).
    Stale jobs are failed first (:meth:`~.state.StateStore.fail_stale_jobs`), of every model.
    """
    from airflow_provider_agentic_mlops.core.state import JOB_RUNNING, newest_of_each, newest_ranked

    summaries: dict[str, dict[str, Any]] = {
        name: {
            "champion": None,
            "last_decision": None,
            "last_validation": None,
            "runs": [],
            "running_job": None,
            "pending_approval": None,
        }
        for name in access
    }
    if not access:
        return summaries

    def newest(
        table: sa.Table,
        condition: Any,
        dag_column: Any,
        limit: int,
        *,
        unset: bool = True,
        models: Collection[str] | None = None,
    ) -> Any:
        """The ids of each model's newest ``limit`` rows of ``table`` that match ``condition`` (a clause, or a
        function of the model's name giving one) and were recorded by one of its DAGs (``dag_column``:
        :func:`_of_dags`; ``unset=False``: never a row that recorded none), of ``models`` (None: every one of
        ``access``). On PostgreSQL one query per model, or per model and DAG when ``dag_column`` is ``table``'s
        (:func:`~.state.newest_of_each`), that stops after ``limit`` rows: the caller keeps each model's newest
        ``limit``. On SQLite such a query for one model, else one ranking of the models' rows
        (:func:`~.state.newest_ranked`)."""
        names = {name: access[name] for name in (access if models is None else models)}
        of_model = condition if callable(condition) else lambda _name: condition
        if store.dialect != "postgresql" and len(names) > 1:
            of_dags = _of_model_dags(table.c.model_name, dag_column, names, unset=unset)
            if callable(condition):
                condition = sa.or_(*(sa.and_(table.c.model_name == n, of_model(n)) for n in sorted(names)))
            return newest_ranked(table, sorted(names), sa.and_(condition, of_dags), limit)
        wanted = []
        for name, dags in sorted(names.items(), key=lambda item: item[0]):
            if dags is None or dag_column is not table.c.get("dag_id") or store.dialect != "postgresql":
                wanted.append((name, sa.and_(of_model(name), _of_dags(dag_column, dags, unset=unset))))
                continue
            each_dag = [dag_column == d for d in sorted(d for d in dags if d)]
            if unset and None in dags:
                each_dag += [dag_column.is_(None), dag_column == ""]
            wanted += [(name, sa.and_(of_model(name), of_dag)) for of_dag in each_dag]
        return newest_of_each(table, wanted, limit) if wanted else sa.select(table.c.id).where(sa.false())

    def window(model_name: str, row: Mapping[str, Any]) -> Any:
        """Which of :func:`newest`'s queries (its ``limit`` rows) read ``row`` of ``decisions``."""
        per_dag = store.dialect == "postgresql" and access[model_name] is not None
        return row["dag_id"] if per_dag else model_name

    run_columns = sa.select(
        decisions.c.id,
        decisions.c.model_name,
        decisions.c.created_at,
        decisions.c.final_action,
        decisions.c.dag_id,
        decisions.c.run_id,
        decisions.c.inputs[("drift", "drift_share")].label("drift_share"),
        decisions.c.inputs[("drift", "evidence", "champion", "status")].as_string().label("champion_status"),
        decisions.c.inputs[("drift", "evidence", "champion", "reason")].as_string().label("champion_reason"),
    ).order_by(decisions.c.id)
    # Only decisions that stand (a run's earlier tries left out), found among the rows read: a later try of a row's
    # run is newer and of the same model and DAG, so it is read with it. A model that lost rows to earlier tries
    # reads the next older rows (rarely: a retried decide among its newest), each round the same index searches.
    fetched: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in access}
    before: dict[str, int] = {}
    wanting: Collection[str] = list(access)
    with store.engine.connect() as conn:
        while wanting:
            condition = (lambda name: decisions.c.id < before[name]) if before else sa.true()
            got: dict[str, list[dict[str, Any]]] = {name: [] for name in wanting}
            # SQLite's ranking reads every row of the models: the next rounds search each model's index instead
            batches = [[name] for name in wanting] if before and store.dialect != "postgresql" else [wanting]
            for batch in batches:
                ids = newest(decisions, condition, decisions.c.dag_id, sparkline_runs, models=batch)
                for r in conn.execute(run_columns.where(decisions.c.id.in_(ids))).mappings():
                    got[r["model_name"]].append(dict(r))
            wanting = []
            for name, rows in got.items():
                fetched[name].update((r["id"], r) for r in rows)
                windows: dict[Any, list[int]] = {}
                for r in rows:
                    windows.setdefault(window(name, r), []).append(r["id"])
                full = [min(w) for w in windows.values() if len(w) >= sparkline_runs]
                if not full:  # each query read fewer rows than it could: the model has no older rows to read
                    continue
                complete_from = max(full)  # every row of the model from this id on is read
                if sum(1 for i in _standing(fetched[name].values()) if i >= complete_from) < sparkline_runs:
                    before[name] = complete_from
                    wanting.append(name)
    for name, rows in fetched.items():
        for decision_id in sorted(_standing(rows.values()))[-sparkline_runs:]:
            r = rows[decision_id]
            summaries[name]["runs"].append(
                RunPoint(
                    decision_id=int(r["id"]),
                    at=r["created_at"],
                    action=str(r["final_action"]),
                    dag_id=r["dag_id"],
                    run_id=r["run_id"],
                    drift_share=_number(r["drift_share"]),
                    champion=(
                        {"status": r["champion_status"], "reason": r["champion_reason"]}
                        if r["champion_status"]
                        else None
                    ),
                )
            )
    lineage = newest(audit, audit.c.action.in_(list(LINEAGE_ACTIONS)), audit.c.details["dag_id"].as_string(), 1)
    pending = newest(approvals, approvals.c.status == "pending", approvals.c.dag_id, 1, unset=False)
    with store.engine.connect() as conn:
        changes = [
            dict(r) for r in conn.execute(audit.select().where(audit.c.id.in_(lineage)).order_by(audit.c.id)).mappings()
        ]
        approvals_of = _approvals_by_id(conn, [r.get("details") for r in changes])
        for row in changes:  # oldest first: the newest stays
            summaries[row["model_name"]]["champion"] = _lineage_event(row, approvals_of)
        requests = [
            dict(r)
            for r in conn.execute(
                approvals.select().where(approvals.c.id.in_(pending)).order_by(approvals.c.id)
            ).mappings()
        ]
        for request in requests:
            summaries[request["model_name"]]["pending_approval"] = request
    store.fail_stale_jobs()
    with store.engine.connect() as conn:
        running = conn.execute(
            jobs.select()
            .where(jobs.c.status == JOB_RUNNING, jobs.c.model_name.in_(sorted(access)))
            .order_by(jobs.c.id.desc())
        ).mappings()
        for job in running:
            if of_dags(job["dag_id"], access[job["model_name"]]):
                summaries[job["model_name"]]["running_job"] = dict(job)
    for summary in summaries.values():
        summary["last_decision"] = summary["runs"][-1] if summary["runs"] else None
    last = {name: [s["last_decision"]] for name, s in summaries.items() if s["last_decision"] is not None}
    verdicts = validation_verdicts(store, last, dag_ids=access)
    for summary in summaries.values():
        decision = summary["last_decision"]
        summary["last_validation"] = verdicts.get(decision.decision_id) if decision is not None else None
    return summaries


def _of_model_dags(model_column: Any, dag_column: Any, access: Mapping[str, DagIds], *, unset: bool = True) -> Any:
    """The condition that a row of ``model_column`` is one of a model of ``access`` recorded by one of that
    model's DAGs (:func:`_of_dags` per model). ``unset=False``: a row that recorded no DAG never is (as
    :meth:`~.state.StateStore.list_approvals` filters by DAG)."""
    every_dag = sorted(name for name, dag_ids in access.items() if dag_ids is None)
    pairs = sorted(
        {
            (name, dag_id or "")
            for name, dag_ids in access.items()
            for dag_id in (dag_ids or ())
            if dag_id or (unset and dag_id is None)
        }
    )
    conditions = [model_column.in_(every_dag)] if every_dag else []
    if pairs:
        conditions.append(sa.tuple_(model_column, sa.func.coalesce(dag_column, "")).in_(pairs))
    # Implied by the above, but SQLite searches the (model_name, ...) indexes only by a plain IN of names:
    # without it, a page of the overview scans every model's decisions.
    return sa.and_(model_column.in_(sorted(access)), sa.or_(sa.false(), *conditions))


@dataclass
class ValidationVerdict:
    """What validation said of the version a retrain decision's run trained.

    :param version: the challenger's version.
    :param passed: whether it passed the gates.
    :param reasons: one line per gate, the failed ones first (``FAILED guard: accuracy: ...``).
    :param report_uri: the validation report, as recorded.
    :param at: when the verdict was recorded (naive UTC).
    :param dag_id: the DAG of the run that validated it.
    :param run_id: that run.
    :param approval_id: the approval request a passed version went on to (None: none, or rejected).
    :param approval_status: that request's status (``pending``, ``approved``, ...).
    """

    version: str
    passed: bool
    reasons: list[str]
    report_uri: str | None
    at: datetime
    dag_id: str | None = None
    run_id: str | None = None
    approval_id: int | None = None
    approval_status: str | None = None

    @property
    def failed_gates(self) -> list[str]:
        """The reasons of the gates it failed."""
        return [r for r in self.reasons if r.startswith("FAILED ")]

    @property
    def summary(self) -> str:
        """One line: ``v3 rejected by validation: FAILED guard: ...`` or ``v2 passed validation; approval
        #1 approved``."""
        if not self.passed:
            return f"v{self.version} rejected by validation: " + ("; ".join(self.failed_gates) or "no reason recorded")
        approval = f"; approval #{self.approval_id} {self.approval_status}" if self.approval_id is not None else ""
        return f"v{self.version} passed validation{approval}"


def validation_verdicts(
    store: StateStore, runs: Mapping[str, Sequence[RunPoint]], *, dag_ids: Mapping[str, DagIds] | None = None
) -> dict[int, ValidationVerdict]:
    """The validation verdict of each retrain decision of ``runs`` (``{model: its runs}``) whose run
    validated a challenger, by decision id: a rejection from the audit trail (:data:`VALIDATION_REJECTED`),
    a pass from the approval request it led to. When a run was validated twice (a cleared task), the later
    verdict wins. Two queries, whatever the number of models and runs.

    :param dag_ids: per model, only verdicts recorded by these DAGs (:data:`DagIds`); default: every DAG.
    """
    wanted = {
        name: [p for p in points if p.action == "retrain" and p.run_id] for name, points in runs.items() if points
    }
    wanted = {name: points for name, points in wanted.items() if points}
    if not wanted:
        return {}
    run_ids = sorted({str(p.run_id) for points in wanted.values() for p in points})
    found: dict[tuple[str, str], list[ValidationVerdict]] = {}
    # validation follows the decision (hosts' clocks may differ a little): the (model_name, at) index
    # bounds the audit rows read per model
    since = {m: min(p.at for p in ps) - timedelta(hours=1) for m, ps in wanted.items()}
    rejected = audit.select().where(
        audit.c.action == VALIDATION_REJECTED,
        sa.or_(*(sa.and_(audit.c.model_name == m, audit.c.at >= t) for m, t in since.items())),
    )
    requested = approvals.select().where(approvals.c.model_name.in_(sorted(wanted)), approvals.c.run_id.in_(run_ids))
    with store.engine.connect() as conn:
        for row in conn.execute(rejected).mappings():
            details = row.get("details") or {}
            if details.get("run_id") not in run_ids:
                continue
            found.setdefault((str(row["model_name"]), str(details["run_id"])), []).append(
                ValidationVerdict(
                    version=str(row.get("subject") or "").removeprefix("version:"),
                    passed=False,
                    reasons=[str(r) for r in details.get("reasons") or []],
                    report_uri=details.get("report_uri"),
                    at=row["at"],
                    dag_id=details.get("dag_id"),
                    run_id=str(details["run_id"]),
                )
            )
        for row in conn.execute(requested).mappings():
            validation = (row.get("details") or {}).get("validation") or {}
            found.setdefault((str(row["model_name"]), str(row["run_id"])), []).append(
                ValidationVerdict(
                    version=str(row["model_version"]),
                    passed=bool(validation.get("passed", True)),  # a request is made for a version that passed
                    reasons=[str(r) for r in validation.get("reasons") or []],
                    report_uri=validation.get("report_uri"),
                    at=row["requested_at"],
                    dag_id=row["dag_id"],
                    run_id=str(row["run_id"]),
                    approval_id=int(row["id"]),
                    approval_status=str(row["status"]),
                )
            )
    verdicts: dict[int, ValidationVerdict] = {}
    for model, points in wanted.items():
        allowed = (dag_ids or {}).get(model)
        for p in points:
            # of the decision's own DAG (one that recorded none: any), and one the reader may read
            mine = [
                v
                for v in found.get((model, str(p.run_id)), [])
                if (not p.dag_id or v.dag_id == p.dag_id) and of_dags(v.dag_id, allowed)
            ]
            if mine:
                verdicts[p.decision_id] = max(mine, key=lambda v: v.at)
    return verdicts


def running_job(store: StateStore, model_name: str, *, dag_ids: DagIds = None) -> dict[str, Any] | None:
    """The model's running job when one of ``dag_ids`` (:data:`DagIds`) started it."""
    job = store.inflight_job(model_name)
    return job if job is not None and of_dags(job.get("dag_id"), dag_ids) else None


# -- what followed a decision ----------------------------------------------------------------------

#: What ``decisions show`` and the decision page say of each status of ``StateStore.trace_check``.
TRACE_CHECK_SAYS = {
    "matches": "digest matches the audit entry",
    "differs": "DOES NOT match its audit entry (changed after it was recorded)",
    "absent": "no digest recorded (a decision recorded before digests were)",
    "missing": "no digest recorded, though the decision is newer than the first one recorded with a digest: "
    "its audit entry is missing or has none (the row may have been inserted by hand)",
}


def trace_moved(check: Mapping[str, Any], row_model: str) -> str:
    """What to add when the decision's audit entry names another model than its row (``StateStore.trace_check``):
    the row's ``model_name`` was changed by hand. Empty otherwise.

    :param check: ``StateStore.trace_check`` of the decision.
    :param row_model: the row's ``model_name``.
    """
    recorded = check.get("recorded_model_name")
    if check.get("status") != "differs" or recorded is None or recorded == row_model:
        return ""
    return f"its audit entry names model {recorded!r}: the row's model_name was changed to {row_model!r}"


def decision_approvals(store: StateStore, decision: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What followed ``decision`` (a row of ``StateStore.get_decision``) in its DAG run, as ``decisions show`` and
    the decision page give it: ``StateStore.run_approvals``, each promotion with ``alias`` (the alias the promotion
    moves onto its version; None until that step is done) and ``previous_alias`` (the one it moves onto the old
    champion; None without one)."""
    return [
        {**request, "promotion": _promotion_shown(request["promotion"])}
        for request in store.run_approvals(decision["model_name"], decision.get("dag_id"), decision.get("run_id"))
    ]


def _promotion_shown(promotion: dict[str, Any] | None) -> dict[str, Any] | None:
    from airflow_provider_agentic_mlops.core.promotion import CHAMPION, CHAMPION_ALIAS, PREVIOUS_CHAMPION

    if promotion is None:
        return None
    done = promotion.get("steps") or []
    return {
        **promotion,
        "alias": CHAMPION if CHAMPION_ALIAS in done else None,
        "previous_alias": PREVIOUS_CHAMPION if promotion.get("previous_version") else None,
    }


# -- artifacts the provider recorded ---------------------------------------------------------------


#: Links of an approval request that name an artifact (served by the plugin); the others are web pages.
ARTIFACT_LINKS = ("Drift report", "Validation report")


def is_recorded_artifact(store: StateStore, model_name: str, uri: str, *, dag_ids: DagIds = None) -> bool:
    """Whether the provider recorded report ``uri`` for the model: the drift report of one of its
    decisions, a report an approval request of it links to (:data:`ARTIFACT_LINKS`) or validated, a
    rejected validation's report. The plugin serves only these: a URI that is not one was not written
    by the loop and is not fetched. One indexed lookup per table, however old the record.

    :param uri: the URI exactly as recorded.
    :param dag_ids: only what these DAGs recorded (:data:`DagIds`).
    """
    links = approvals.c.details
    queries = [
        sa.select(decisions.c.id).where(
            decisions.c.model_name == model_name,
            decisions.c.inputs[("drift_observed", "report_uri")].as_string() == uri,
            _of_dags(decisions.c.dag_id, dag_ids),
        ),
        sa.select(approvals.c.id).where(
            approvals.c.model_name == model_name,
            sa.or_(
                links[("validation", "report_uri")].as_string() == uri,
                *(links[("links", name)].as_string() == uri for name in ARTIFACT_LINKS),
            ),
            _of_dags(approvals.c.dag_id, dag_ids),
        ),
        sa.select(audit.c.id).where(
            audit.c.model_name == model_name,
            audit.c.details["report_uri"].as_string() == uri,
            _of_dags(audit.c.details["dag_id"].as_string(), dag_ids),
        ),
    ]
    with store.engine.connect() as conn:
        return any(conn.execute(query.limit(1)).first() is not None for query in queries)


def artifact_location(uri: str) -> tuple[str, str] | None:
    """The MLflow run and the path in it of a report URI: ``(run_id, path)`` for ``runs:/<run>/<path>`` and
    MLflow UI URLs (``.../#/experiments/<e>/runs/<run>/artifacts/<path>``, ``MlflowRegistryHook.run_artifact_url``),
    the forms the provider records.
    None for anything else (``file://``, a bare path, ``s3://``, ``gs://``, ...) and for a path that is empty,
    absolute or climbs out of the run (``..``): the plugin serves only run artifacts, through MLflow, and never
    opens a location a recorded URI names."""
    if uri.startswith("runs:/"):
        run_id, _, path = uri.removeprefix("runs:/").lstrip("/").partition("/")
    elif uri.startswith(("http://", "https://")) and "/runs/" in uri and "/artifacts" in uri:
        run_id, _, rest = uri.split("/runs/", 1)[1].partition("/artifacts")
        path = rest.lstrip("/")
    else:
        return None
    if not re.fullmatch(r"[0-9A-Za-z_-]{1,64}", run_id) or not path or path.startswith("/"):
        return None
    if ".." in path.split("/") or "\\" in path:
        return None
    return run_id, path


def artifact_root_refusal(artifact_root: str, tracking_uri: str) -> str | None:
    """Why a run's artifacts may not be downloaded by the API server, None when they may: from an MLflow
    server only artifacts it proxies (``mlflow-artifacts:/``, its own access checks applied); with a local
    tracking store (``sqlite:``, a path: everything on this host) its ``file:`` artifacts or bare paths. Any other root
    (``s3://``, ``gs://``, ``file:`` behind a server) would be read with the API server's own credentials or
    from its own disk, at a place whoever created the run chose.

    :param artifact_root: the run's ``artifact_uri`` as MLflow reports it.
    :param tracking_uri: the read connection's tracking URI.
    """
    root = urlsplit(artifact_root)
    if root.scheme == "mlflow-artifacts" and not root.netloc and tracking_uri.startswith(("http://", "https://")):
        return None
    # a local store gives file: URIs or, MLflow 3 with sqlite:, bare paths (./mlruns/<experiment>/<run>/artifacts)
    if root.scheme in ("file", "") and not tracking_uri.startswith(("http://", "https://", "databricks")):
        return None
    return (
        f"its artifacts are stored at {artifact_root!r}, which MLflow's tracking server {tracking_uri!r} does not "
        "serve: the API server does not read artifact stores with its own credentials. Serve artifacts through "
        "the MLflow server (mlflow server --serve-artifacts, artifact root mlflow-artifacts:/), or open the report "
        "in MLflow"
    )


def recorded_registered_models(store: StateStore, model_name: str, *, dag_ids: DagIds = None) -> set[str]:
    """The MLflow registered models of a model: its name and those its approval requests name.

    :param dag_ids: only what these DAGs recorded (:data:`DagIds`).
    """
    query = (
        sa.select(approvals.c.details["registered_model"].as_string())
        .where(approvals.c.model_name == model_name, _of_dags(approvals.c.dag_id, dag_ids))
        .distinct()
    )
    with store.engine.connect() as conn:
        return {model_name} | {name for (name,) in conn.execute(query) if name}
