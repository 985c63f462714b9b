"""An approval request as the ApprovalSensor makes it, for tests: model ``fraud`` version 7 of run ``r1``,
expiring in an hour, unless a keyword says otherwise. The one place the tests spell out a request's
required fields."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow_provider_agentic_mlops import approvals
from airflow_provider_agentic_mlops.core.state import StateStore, utcnow


def request_approval(store: StateStore, **overrides: Any) -> approvals.RequestResult:
    """``approvals.request`` with the defaults above; any of its keyword arguments overrides them."""
    kwargs: dict[str, Any] = {
        "model_name": "fraud",
        "model_version": "7",
        "dag_id": "agentic_mlops__fraud",
        "run_id": "r1",
        "expires_at": utcnow() + timedelta(hours=1),
        **overrides,
    }
    return approvals.request(store, **kwargs)


def approve_and_promote(store: StateStore, model: str, *, run_id: str = "manual__1", promote: bool = True) -> dict:
    """The run's approval request of v7 (two approvers: alice via Slack, then bob via the CLI with a reason), and,
    with ``promote``, its promotion of v7 over v6, completed; returns the decided request."""
    from airflow_provider_agentic_mlops.core.promotion import AUDIT, PROMOTED, PROMOTION_STEPS

    approval, _ = store.request_approval(
        model,
        "7",
        dag_id=f"agentic_mlops__{model}",
        run_id=run_id,
        expires_at=utcnow() + timedelta(days=1),
        required_approvals=2,
    )
    store.decide_approval(approval["id"], approve=True, user="alice", via="slack")
    store.decide_approval(approval["id"], approve=True, user="bob", via="cli", reason="looks good")
    approval = store.get_approval(approval["id"])
    if promote:
        promotion, _ = store.begin_promotion(approval, registered_model=f"{model}-reg", previous_version="6")
        for step in PROMOTION_STEPS:
            entry = None
            if step == AUDIT:
                entry = {
                    "action": PROMOTED,
                    "actor": approval["decided_by"],
                    "model_name": model,
                    "subject": "version:7",
                    "details": {"promotion_id": promotion["id"], "approval_id": approval["id"]},
                }
            store.mark_promotion_step(promotion["id"], step, all_steps=PROMOTION_STEPS, audit_entry=entry)
    return approval
