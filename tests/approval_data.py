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
