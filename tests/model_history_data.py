"""A model's history written into a state store the way the loop writes it: decisions with their
drift facts and per-column observations, an approval decided by two people, a promotion and a
rollback. Used by the plugin's unit tests, the browser tests and scripts/screenshots."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow_provider_agentic_mlops import approvals
from airflow_provider_agentic_mlops.core.model_history import drift_observation
from airflow_provider_agentic_mlops.core.state import StateStore, utcnow

#: (drift share, action) of each seeded run, oldest first.
RUNS = [(0.0, "no_action"), (0.2, "no_action"), (0.6, "retrain"), (0.8, "escalate"), (0.4, "retrain")]
COLUMNS = ["amount", "merchant_risk", "hour", "country", "<script>alert(1)</script>"]


def drift_summary(share: float, *, report_uri: str | None) -> dict[str, Any]:
    """A drift summary as DriftCheckOperator returns it: the first ``share`` of COLUMNS drifted."""
    n_drifted = round(share * len(COLUMNS))
    columns = {
        name: {
            "score": 0.3 if i < n_drifted else 0.05,
            "method": "wasserstein",
            "threshold": 0.1,
            "drifted": i < n_drifted,
            "type": "num",
        }
        for i, name in enumerate(COLUMNS)
    }
    return {
        "dataset_drift": share >= 0.5,
        "drift_share": share,
        "share_threshold": 0.5,
        "n_columns": len(COLUMNS),
        "n_drifted": n_drifted,
        "columns": columns,
        "quality": {"roc_auc": {"reference": 0.9, "current": round(0.9 - share / 4, 3)}},
        "report_uri": report_uri,
    }


def seed_history(
    store: StateStore, model_name: str = "fraud-detector", *, report_uri: str | None = None, batch: int = 0
) -> dict[str, Any]:
    """Write the history; returns the decision ids (oldest first) and the approval id.

    :param batch: a second call for the same model needs another batch: its runs are then other DAG runs (the same
        runs deciding again would supersede the first call's decisions, as a retried ``decide`` does).
    """
    dag_id = f"agentic_mlops__{model_name}"
    decision_ids = []
    for i, (share, action) in enumerate(RUNS):
        drift = drift_summary(share, report_uri=report_uri)
        decision_ids.append(
            store.record_decision(
                model_name,
                mode="rules",
                final_action=action,
                decided_by="rules",
                dag_id=dag_id,
                run_id=f"scheduled__2026-01-0{i + 1}" + (f"_{batch}" if batch else ""),
                rationale=f"drift share {share:.2f}; quality {drift['quality']['roc_auc']['current']}",
                rules_fired=[{"rule": "drift_share", "effect": action, "detail": f"share {share}"}],
                evidence={"drift_share": share},
                inputs={
                    "drift": {k: drift[k] for k in ("dataset_drift", "drift_share", "share_threshold", "quality")},
                    "drift_observed": drift_observation(drift),
                },
                prompt=[{"role": "system", "content": "decide"}, {"role": "user", "content": "<b>data</b>"}],
                raw_answer='{"action": "retrain"}',
                prompt_tokens=120,
                completion_tokens=30,
            )
        )
    request = approvals.request(
        store,
        model_name=model_name,
        model_version="2",
        dag_id=dag_id,
        run_id="scheduled__2026-01-03",
        expires_at=utcnow() + timedelta(hours=1),
        required_approvals=2,
        details={
            "drift": {"drift_share": 0.6, "share_threshold": 0.5, "n_columns": 5, "n_drifted": 3},
            "rationale": "drift on amount and merchant_risk; quality fell",
            "validation": {
                "passed": True,
                "primary_metric": "roc_auc",
                "champion_metrics": {"roc_auc": 0.45657445497828264, "accuracy": 0.91},
                "challenger_metrics": {"roc_auc": 0.822458131473438, "accuracy": 0.9},
                "report_uri": report_uri,
            },
            "links": {"Drift report": report_uri} if report_uri else {},
        },
    ).approval
    for user in ("ann", "bob"):  # two Airflow users on the approvals page: the two-person rule
        approvals.decide(store, request["id"], approve=True, user=user, via="ui", reason="looks good")
    store.audit(
        "promoted",
        actor="bob",
        model_name=model_name,
        subject="version:2",
        details={"previous_version": "1", "approval_id": request["id"], "dag_id": dag_id, "run_id": "r3"},
    )
    store.audit(
        "rollback",
        actor="carol",
        model_name=model_name,
        subject="version:1",
        details={"from_version": "2", "to_version": "1", "reason": "latency regression"},
    )
    return {"decision_ids": decision_ids, "approval_id": request["id"], "dag_id": dag_id}


#: The gates' reasons of a rejected challenger, as ValidationReport.reasons words them (failed first).
REJECTED_REASONS = [
    "FAILED guard: accuracy: challenger 0.7212 vs champion 0.8406: regression 0.1194 (tolerated <= 0.0500)",
    "passed primary: roc_auc: challenger 0.7811 vs champion 0.3951: improvement +0.3861 (required >= 0.0100)",
]


def reject_validation(
    store: StateStore,
    model_name: str = "fraud-detector",
    *,
    run_id: str = f"scheduled__2026-01-0{len(RUNS)}",
    version: str = "3",
    report_uri: str = "runs:/r5/agentic_mlops/validation/report.html",
) -> None:
    """The audit entry ValidateOperator writes when the gates reject the challenger of run ``run_id`` (by
    default the last seeded run, a retrain)."""
    store.audit(
        "validation_rejected",
        actor="agentic-mlops",
        model_name=model_name,
        subject=f"version:{version}",
        details={
            "reasons": REJECTED_REASONS,
            "report_uri": report_uri,
            "digest": "0" * 64,
            "dag_id": f"agentic_mlops__{model_name}",
            "run_id": run_id,
        },
    )


def record_decision_before_digests(store: StateStore, model_name: str, **where: Any) -> int:
    """A decision as a release before trace digests recorded it: the row and a ``decision`` audit entry without a
    digest (written directly: the store's own writes add one). Returns its id.

    :param where: the row's ``dag_id`` and ``run_id``, if any.
    """
    import sqlalchemy as sa

    from airflow_provider_agentic_mlops.core.schema import audit, decisions

    with store.engine.begin() as conn:
        decision_id = conn.execute(
            decisions.insert().values(
                model_name=model_name, mode="rules", final_action="no_action", created_at=sa.func.now(), **where
            )
        ).inserted_primary_key[0]
        conn.execute(
            audit.insert().values(
                at=sa.func.now(),
                actor="agent:rules",
                action="decision",
                model_name=model_name,
                subject=f"decision:{decision_id}",
                details={"action": "no_action", "override": None},
            )
        )
    return int(decision_id)
