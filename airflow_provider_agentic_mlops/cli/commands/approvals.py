"""``airflow agentic-mlops approvals list|approve|deny``: the same store and rules as the Slack buttons.

A decision from the CLI goes through :func:`airflow_provider_agentic_mlops.approvals.decide` with
``via="cli"``: the first decision wins, two-person requests need two different people, an expired
request takes no decision, and the request's Slack message (if any) is updated. The Slack approver
allowlist names Slack identities and does not apply here: whoever can run the Airflow CLI against
this deployment's configuration already holds the state store's credentials.

Store: ``--state-conn-id``, else the models file's ``state_conn_id`` of ``--model``, else the deployment's
(``[agentic_mlops] state_conn_id``). Request ids are numbered per store; with ``--model`` a vote on another
model's request is refused (the command the task log prints names both).

Identity: the vote is the operating-system user's (the real uid's login, :func:`os_user`), counted as the Airflow
user it maps to in ``[agentic_mlops] approver_identities`` (both are recorded in the audit trail).
``--user`` only adds a display name: it can never make one person two voters.
"""

from __future__ import annotations

import argparse
import getpass
import os
from typing import TYPE_CHECKING, Any

from airflow_provider_agentic_mlops.cli.output import confirm, print_json, print_rows
from airflow_provider_agentic_mlops.cli.state_stores import (
    declared_stores,
    note_other_stores,
    open_store,
    store_conn_id,
)

if TYPE_CHECKING:
    from airflow_provider_agentic_mlops.approval_stores import DeclaredStores

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
    from airflow_provider_agentic_mlops import approvals

    declared = declared_stores(args)
    conn_id = store_conn_id(args, declared)
    store = open_store(conn_id)
    # a request past its deadline is expired (denied by timeout, its Slack message updated), not pending: the
    # sensor expires requests only while it pokes
    approvals.expire_due(store)
    status = getattr(args, "status", "pending")
    rows = store.list_approvals(
        status=None if status in (None, "all") else status, model_name=getattr(args, "model", None), limit=1000
    )
    for row in rows:
        full = store.get_approval(row["id"]) or row
        approving = sum(1 for v in full.get("votes") or [] if v["vote"] == "approve")
        row["approvals"] = f"{approving}/{row['required_approvals']}"
    print_rows(rows, _COLUMNS, getattr(args, "output", "table") or "table")
    note_other_stores(args, declared, conn_id, "requests")


def _decide(args: argparse.Namespace, *, approve: bool) -> None:
    from airflow_provider_agentic_mlops import approvals
    from airflow_provider_agentic_mlops.core.approval_policy import bad_approval_id
    from airflow_provider_agentic_mlops.core.state import StateStoreError, missing_approval_message

    bad_id = bad_approval_id(int(args.approval_id))
    if bad_id is not None:
        raise SystemExit(f"error: {bad_id}")
    approvals.configured_identities()  # a broken identity map is said before anyone is asked to confirm
    declared = declared_stores(args)
    conn_id = store_conn_id(args, declared)
    store = open_store(conn_id)
    model = getattr(args, "model", None)
    try:
        approval = store.get_approval(int(args.approval_id))
        if approval is None:
            raise StateStoreError(missing_approval_message(int(args.approval_id), url=store.url, conn_id=conn_id))
        if approval is not None and model and approval["model_name"] != model:
            raise approvals.ApprovalRefused(_other_model(approval, model, conn_id, declared))
        if approval is not None and approval["status"] == "pending":  # others: decide() says why nothing changes
            verb = "approve" if approve else "deny"
            confirm(
                f"{verb.capitalize()} {approval['model_name']} v{approval['model_version']} "
                f"(DAG {approval['dag_id']}, run {approval['run_id']})?",
                yes=getattr(args, "yes", False),
                action=f"{verb} request {approval['id']}",
                cancelled=f"{verb} cancelled; nothing recorded",
            )
        outcome = approvals.decide(
            store,
            int(args.approval_id),
            approval=approval,
            approve=approve,
            user=os_user(),
            via="cli",
            reason=getattr(args, "reason", None),
            display_name=getattr(args, "user", None) or None,
        )
    except (StateStoreError, approvals.ApprovalRefused) as err:
        raise SystemExit(f"error: {err}") from None
    json_output = getattr(args, "output", "table") == "json"
    if json_output:
        print_json({"recorded": outcome.recorded, "message": outcome.message, "approval": outcome.approval})
    if not outcome.recorded:  # a mistake like any other: one `error:` line on stderr, exit status 1
        raise SystemExit(f"error: {_nothing_recorded(outcome.approval, outcome.message)}")
    if not json_output:
        shown = f"{outcome.approval['model_name']} v{outcome.approval['model_version']}"
        print(f"Request {args.approval_id} ({shown}): {outcome.message} (status: {outcome.approval['status']})")


def _nothing_recorded(approval: dict[str, Any], message: str) -> str:
    """Why a vote on ``approval`` recorded nothing (``message``, from ``approvals.decide``), naming the request and
    its model; for an expired request, how to get a new one."""
    from airflow_provider_agentic_mlops.core.approval_policy import ask_again_command
    from airflow_provider_agentic_mlops.core.model_history import default_dag_id
    from airflow_provider_agentic_mlops.core.state import EXPIRED
    from airflow_provider_agentic_mlops.links import airflow_url

    request = f"request {approval['id']}"
    shown = f"{request} ({approval['model_name']} v{approval['model_version']})"
    text = (
        f"{shown} {message.removeprefix(request + ' ')}" if message.startswith(request + " ") else f"{shown}: {message}"
    )
    if "nothing" not in text:
        text += "; nothing recorded"
    if approval["status"] == EXPIRED:
        dag_id = approval.get("dag_id") or default_dag_id(approval["model_name"])
        text += f". {ask_again_command({**approval, 'dag_id': dag_id}, airflow_base_url=airflow_url(''))}"
    return text


def _other_model(approval: dict[str, Any], model: str, store: str, declared: DeclaredStores) -> str:
    """Why a vote given for ``model`` is not taken on ``approval`` (another model's request) in ``store``."""
    from airflow_provider_agentic_mlops.version_compat import command

    message = (
        f"request {approval['id']} in state store {store!r} is {approval['model_name']} "
        f"v{approval['model_version']}'s, not {model}'s (request ids are numbered per state store). Nothing recorded."
    )
    own = declared.state_conn_id_of(model)
    if own and own != store:
        message += f" {model}'s requests are in connection {own!r}: add --state-conn-id {own}."
    elif own is None:
        why = declared.error or f"{str(declared.path())!r} does not list {model}"
        message += f" The models file gives no store for {model} ({why}): name it with --state-conn-id."
    else:
        message += f" See `{command(f'approvals list --model {model}')}`."
    return message


def approvals_approve(args: argparse.Namespace) -> None:
    """Approve a pending request; exit status 1 when nothing was recorded (already decided, expired)."""
    _decide(args, approve=True)


def approvals_deny(args: argparse.Namespace) -> None:
    """Deny a pending request; exit status 1 when nothing was recorded (already decided, expired)."""
    _decide(args, approve=False)
