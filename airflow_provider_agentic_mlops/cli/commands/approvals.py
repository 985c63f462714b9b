"""``airflow agentic-mlops approvals list|approve|deny``: the same store and rules as the Slack buttons.

A decision from the CLI goes through :func:`airflow_provider_agentic_mlops.approvals.decide` with
``via="cli"``: the first decision wins, two-person requests need two different people, an expired
request takes no decision, and the request's Slack message (if any) is updated. The Slack approver
allowlist names Slack identities and does not apply here: whoever can run the Airflow CLI against
this deployment's configuration already holds the state store's credentials.

Identity: the vote is the operating-system user's (the real uid's login, :func:`os_user`), counted as the Airflow
user it maps to in ``[agentic_mlops] approver_identities`` (both are recorded in the audit trail).
``--user`` only adds a display name: it can never make one person two voters.
"""

from __future__ import annotations

import argparse
import getpass
import os
from typing import Any

from airflow_provider_agentic_mlops.cli.output import print_json, print_rows

_COLUMNS = (
    "id",
    "model_name",
    "model_version",
    "status",
    "approvals",
    "requested_at",
    "expires_at",
    "decided_by",
    "decided_via",
    "dag_id",
    "run_id",
)


def _store(args: argparse.Namespace) -> Any:
    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    return StateStoreHook(getattr(args, "state_conn_id", None)).get_store()


def os_user() -> str:
    """The login of the real uid running the CLI, from the password database; ``uid:<n>`` when the uid
    has no entry (some containers). Not ``getpass.getuser()``: it reads ``$LOGNAME`` / ``$USER`` first,
    so one account could vote as two people. Platforms without ``pwd`` (Windows) have no such lookup:
    there the login name from the environment is all there is."""
    try:
        import pwd
    except ImportError:
        return getpass.getuser()
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def approvals_list(args: argparse.Namespace) -> None:
    """Print approval requests (pending by default)."""
    store = _store(args)
    status = getattr(args, "status", "pending")
    rows = store.list_approvals(
        status=None if status in (None, "all") else status, model_name=getattr(args, "model", None), limit=1000
    )
    for row in rows:
        full = store.get_approval(row["id"]) or row
        approving = sum(1 for v in full.get("votes") or [] if v["vote"] == "approve")
        row["approvals"] = f"{approving}/{row['required_approvals']}"
    print_rows(rows, _COLUMNS, getattr(args, "output", "table") or "table")


def _decide(args: argparse.Namespace, *, approve: bool) -> None:
    from airflow_provider_agentic_mlops import approvals
    from airflow_provider_agentic_mlops.core.approval_policy import bad_approval_id
    from airflow_provider_agentic_mlops.core.state import StateStoreError

    bad_id = bad_approval_id(int(args.approval_id))
    if bad_id is not None:
        raise SystemExit(f"error: {bad_id}")
    store = _store(args)
    try:
        outcome = approvals.decide(
            store,
            int(args.approval_id),
            approve=approve,
            user=os_user(),
            via="cli",
            reason=getattr(args, "reason", None),
            display_name=getattr(args, "user", None) or None,
        )
    except (StateStoreError, approvals.ApprovalRefused) as err:
        raise SystemExit(f"error: {err}") from None
    if getattr(args, "output", "table") == "json":
        print_json({"recorded": outcome.recorded, "message": outcome.message, "approval": outcome.approval})
    else:
        print(f"Request {args.approval_id}: {outcome.message} (status: {outcome.approval['status']})")
    if not outcome.recorded:
        raise SystemExit(1)


def approvals_approve(args: argparse.Namespace) -> None:
    """Approve a pending request; exit status 1 when nothing was recorded (already decided, expired)."""
    _decide(args, approve=True)


def approvals_deny(args: argparse.Namespace) -> None:
    """Deny a pending request; exit status 1 when nothing was recorded (already decided, expired)."""
    _decide(args, approve=False)
