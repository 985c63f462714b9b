"""``airflow agentic-mlops audit list``: the audit trail (who did what, when), read without SQL.

Every change the provider makes or refuses is appended to the state store's audit trail: decisions,
escalations, alerts received or refused, approval requests and votes, promotions, rollbacks, jobs failed by
hand or found stale, retrains refused. Store: ``--state-conn-id``, else the models file's ``state_conn_id``
of ``--model``, else the deployment's (``[agentic_mlops] state_conn_id``), as for ``decisions``.
"""

from __future__ import annotations

import argparse
import json
import sys

from airflow_provider_agentic_mlops.cli.commands.decisions import ALL_ROWS, DEFAULT_LIMIT
from airflow_provider_agentic_mlops.cli.output import print_rows
from airflow_provider_agentic_mlops.cli.state_stores import (
    declared_stores,
    note_other_stores,
    open_store,
    store_conn_id,
)

#: the entry's fields, in this order, in the table and in ``-o json``
COLUMNS = ("id", "at", "actor", "action", "model_name", "subject", "details")
#: the table shows at most this many characters of an entry's details (``-o json`` shows them whole)
_DETAILS_CHARS = 80


def audit_list(args: argparse.Namespace) -> None:
    """Print the newest audit entries (optionally of one model, of one action, since a time), newest first."""
    declared = declared_stores(args)
    conn_id = store_conn_id(args, declared)
    store = open_store(conn_id)
    model = getattr(args, "model", None)
    action = getattr(args, "action", None)
    limit = getattr(args, "limit", None)
    limit = DEFAULT_LIMIT if limit is None else min(limit, ALL_ROWS)
    rows = store.audit_trail(model, action=action, since=getattr(args, "since", None), limit=limit)
    output = getattr(args, "output", "table") or "table"
    if output != "json":
        for row in rows:
            details = row.get("details")
            if details is not None:
                shown = json.dumps(details, default=str, ensure_ascii=False)
                row["details"] = shown if len(shown) <= _DETAILS_CHARS else shown[: _DETAILS_CHARS - 3] + "..."
    print_rows(rows, COLUMNS, output)
    if action and not rows:
        recorded = store.audit_actions(model)
        if action not in recorded:  # a typo lists nothing: say which actions there are
            whose = f" of {model}" if model else ""
            print(
                f"No audit entry{whose} in state store {conn_id!r} has action {action!r}; the actions recorded "
                f"there: {', '.join(recorded) or '(none)'}.",
                file=sys.stderr,
            )
    note_other_stores(args, declared, conn_id, "audit entries")
