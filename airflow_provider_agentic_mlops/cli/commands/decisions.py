"""``airflow agentic-mlops decisions list|show``: the agent's decisions and their full trace.

Store: ``--state-conn-id``, else the models file's ``state_conn_id`` of ``--model``, else the deployment's
(``[agentic_mlops] state_conn_id``), as for ``approvals``. Decision ids are numbered per store: ``show``
names the store it read, and with ``--model`` refuses another model's decision.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from airflow_provider_agentic_mlops.cli.output import CommandStopped, print_json, print_rows
from airflow_provider_agentic_mlops.cli.state_stores import (
    declared_stores,
    models_with_own_store,
    note_other_stores,
    open_store,
    store_conn_id,
)

LIST_COLUMNS = (
    "id",
    "created_at",
    "model_name",
    "mode",
    "decided_by",
    "final_action",
    "superseded_by",
    "llm_action",
    "override_reason",
    "tokens",
    "rationale",
)


#: rows ``decisions list`` shows unless ``--limit`` says otherwise
DEFAULT_LIMIT = 20
#: the largest LIMIT PostgreSQL takes (a bigint); a larger ``--limit`` means every row, as this does
ALL_ROWS = 2**63 - 1


def _short(text: Any, limit: int) -> str | None:
    if text is None:
        return None
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decisions_list(args: argparse.Namespace) -> None:
    """Print the newest decisions (optionally of one model, from its store) as a table or JSON."""
    declared = declared_stores(args)
    conn_id = store_conn_id(args, declared)
    limit = getattr(args, "limit", None)
    limit = DEFAULT_LIMIT if limit is None else min(limit, ALL_ROWS)
    rows = open_store(conn_id).list_decisions(getattr(args, "model", None), limit=limit)
    output = getattr(args, "output", "table") or "table"
    for row in rows:
        row["tokens"] = (row.get("prompt_tokens") or 0) + (row.get("completion_tokens") or 0)
        if output != "json":
            row["override_reason"] = _short(row.get("override_reason"), 40)
            row["rationale"] = _short(row.get("rationale"), 60)
    print_rows(rows, LIST_COLUMNS, output)
    note_other_stores(args, declared, conn_id, "decisions")


def decisions_show(args: argparse.Namespace) -> None:
    """Print one decision's full trace: inputs, rules fired, prompt, raw answer, tokens, latency, override;
    and the state store it was read from (JSON: ``state_conn_id``)."""
    import sys

    from airflow_provider_agentic_mlops.core import model_history
    from airflow_provider_agentic_mlops.hooks.state import shown_url
    from airflow_provider_agentic_mlops.version_compat import command

    declared = declared_stores(args)
    conn_id = store_conn_id(args, declared)
    store = open_store(conn_id)
    model = getattr(args, "model", None)
    chose_store = bool(model or getattr(args, "state_conn_id", None))
    others = None if chose_store else models_with_own_store(declared, conn_id)
    elsewhere = f" Models with a store of their own: {others}; show theirs with --model NAME." if others else ""
    decision = store.get_decision(int(args.decision_id))
    if decision is None:
        shown = shown_url(store.url)
        raise CommandStopped(
            f"decision {args.decision_id} is not in the state store {conn_id!r} ({shown}); "
            f"list the ids with `{command('decisions list')}`.{_pruned(store, int(args.decision_id))}{elsewhere}"
        )
    if model and decision["model_name"] != model:
        raise CommandStopped(
            f"decision {decision['id']} in state store {conn_id!r} is {decision['model_name']}'s, not {model}'s "
            f"(decision ids are numbered per state store); list {model}'s with "
            f"`{command(f'decisions list --model {model}')}`."
        )
    if elsewhere:
        print(f"Decision ids are numbered per state store; this one is from {conn_id!r}.{elsewhere}", file=sys.stderr)
    decision["approvals"] = model_history.decision_approvals(store, decision)
    decision["trace_digest"] = store.trace_check(decision)
    if (getattr(args, "output", "table") or "table") == "json":
        print_json({**decision, "state_conn_id": conn_id})
        return
    print(format_trace(decision, state_conn_id=conn_id))


def _pruned(store: Any, decision_id: int) -> str:
    """Where missing decision ``decision_id`` may have gone: the store's newest prune, if one was recorded and the
    id was issued (a prune keeps the newest decision, so a larger id never existed); a prune that began after the
    newest recorded as finished may have stopped half-way (or its completion was not recorded)."""
    from airflow_provider_agentic_mlops.version_compat import command

    newest = store.list_decisions(limit=1)
    if not newest or decision_id >= newest[0]["id"]:
        return ""
    entries = [
        e for action in ("history_pruned", "history_prune_started") for e in store.audit_trail(action=action, limit=1)
    ]
    if not entries:
        return ""
    e = max(entries, key=lambda entry: entry["id"])
    cutoff = str((e.get("details") or {}).get("cutoff", "?"))[:16].replace("T", " ")
    if e["action"] == "history_prune_started":
        return (
            f" A prune began at {_at(e['at'])} by {e['actor']} (of the history older than {cutoff} UTC) and may not "
            f"have finished (`{command('audit list --action history_prune_started')}`)."
        )
    return (
        f" The history older than {cutoff} UTC was pruned at {_at(e['at'])} by {e['actor']} "
        f"(`{command('audit list --action history_pruned')}`)."
    )


def _at(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value is not None else "-"


def _digest_line(check: dict[str, Any] | None, model_name: str) -> list[str]:
    from airflow_provider_agentic_mlops.core.model_history import TRACE_CHECK_SAYS, trace_moved

    if not check:
        return []
    moved = trace_moved(check, model_name)
    return [f"Trace:       {TRACE_CHECK_SAYS[check['status']]} (sha256 {check['computed']})"] + (
        [f"             {moved}"] if moved else []
    )


def _approval_lines(requests: list[dict[str, Any]] | None) -> list[str]:
    """The approval requests of the decision's DAG run, their votes and the promotion that followed, as lines."""
    if requests is None:
        return []
    if not requests:
        return ["Approval:    none requested in this DAG run"]
    lines = ["Approval:    requests of this DAG run"]
    for r in requests:
        decided = (
            f" by {r.get('decided_by') or '-'} via {r.get('decided_via') or '-'} at {_at(r.get('decided_at'))}"
            if r.get("decided_at")
            else ""
        )
        lines.append(
            f"  request {r['id']} for v{r['model_version']}: {r['status']}{decided} "
            f"(required approvals {r.get('required_approvals')}; requested {_at(r.get('requested_at'))})"
        )
        if r.get("reason"):
            lines.append(f"    reason: {r['reason']}")
        lines += [
            f"    - {v['user_id']} {v['vote']} via {v['via']} at {_at(v.get('at'))}" for v in r.get("votes") or []
        ]
        p = r.get("promotion")
        if p is None:
            if r["status"] == "approved":
                lines.append("    Promotion: none begun")
            continue
        previous = (
            f"; previous champion v{p['previous_version']} -> alias '{p['previous_alias']}'"
            if p.get("previous_alias")
            else ""
        )
        alias = f"alias '{p['alias']}'" if p.get("alias") else "alias not moved yet"
        lines.append(
            f"    Promotion: {p['id']}  v{p['version']} (registered model {p['registered_model']}) -> {alias}"
            f"{previous}; {p['status']} (started {_at(p.get('started_at'))}, finished {_at(p.get('completed_at'))}) "
            f"by {p.get('promoted_by') or '-'} in DAG {p['dag_id']} run {p['run_id']}"
        )
    return lines


def format_trace(d: dict[str, Any], *, state_conn_id: str | None = None) -> str:
    """A decision's trace as readable text (sections in the order a reviewer asks the questions); a decision its
    DAG run decided again (a retried or cleared ``decide``) says which decision superseded it.

    :param d: the stored decision (``superseded_by`` as ``StateStore.get_decision`` reads it), with ``approvals``
        (:func:`~..core.model_history.decision_approvals`) and ``trace_digest``
        (``StateStore.trace_check``) when read (absent: not shown).
    :param state_conn_id: the state store it was read from, shown under the heading when given.
    """
    inputs = d.get("inputs") if isinstance(d.get("inputs"), dict) else {}
    try_number = inputs.get("try_number")
    lines = [
        f"Decision {d['id']}  model {d['model_name']}  at {d['created_at']:%Y-%m-%d %H:%M:%S} UTC",
        f"  DAG {d.get('dag_id') or '-'}  run {d.get('run_id') or '-'}"
        + (f"  try {try_number}" if try_number is not None else ""),
    ]
    if d.get("superseded_by") is not None:
        lines.append(
            f"  This decision was superseded by decision {d['superseded_by']} (a later try of the run's decide "
            "task); it no longer stands."
        )
    if state_conn_id:
        lines.append(f"State store: {state_conn_id}")
    lines += [
        f"Action:      {d['final_action']}  (decided by {d.get('decided_by') or '-'}, mode {d['mode']})",
        f"LLM action:  {d.get('llm_action') or '-'}",
        *_llm_line(d.get("inputs")),
        f"Override:    {d.get('override_reason') or '-'}",
        f"Confidence:  {d['confidence'] if d.get('confidence') is not None else '-'}",
        f"Rationale:   {d.get('rationale') or '-'}",
        *_approval_lines(d.get("approvals")),
        *_digest_line(d.get("trace_digest"), d["model_name"]),
    ]
    from airflow_provider_agentic_mlops.core.decision import evidence_rows

    read = evidence_rows(d.get("inputs"))
    if read:
        lines.append("Evidence:")
        for heading, texts in read:
            lines.append(f"  {heading}: {texts[0]}")
            lines += [f"    {text}" for text in texts[1:]]
    if d.get("evidence"):
        lines.append("Evidence cited by the LLM:")
        lines += [f"  - {e}" for e in d["evidence"]]
    lines.append("Rules fired:")
    for rule in d.get("rules_fired") or []:
        lines.append(f"  - {rule.get('rule')}: {rule.get('effect')} ({rule.get('detail')})")
    if not d.get("rules_fired"):
        lines.append("  (none)")
    tokens = (d.get("prompt_tokens") or 0) + (d.get("completion_tokens") or 0)
    latency = f"{d['latency_ms']:.0f} ms" if d.get("latency_ms") is not None else "-"
    lines.append(
        f"Tokens:      prompt {d.get('prompt_tokens') or 0}, completion {d.get('completion_tokens') or 0} "
        f"(total {tokens}); latency {latency}"
    )
    lines.append(f"Error:       {d.get('error') or '-'}")
    lines.append(f"Inputs (sha256 {d.get('inputs_digest') or '-'}):")
    lines += _indent(json.dumps(d.get("inputs"), indent=2, default=str))
    if d.get("tool_calls"):
        lines.append("Tool calls:")
        for call in d["tool_calls"]:
            lines.append(
                f"  - {call.get('name')}({call.get('arguments')}) -> {json.dumps(call.get('result'), default=str)}"
            )
    lines.append("Prompt:")
    if d.get("prompt"):
        for message in d["prompt"]:
            lines.append(f"  [{message.get('role')}]")
            content = message.get("content")
            if content is None and message.get("tool_calls"):
                content = json.dumps(message["tool_calls"], default=str)
            lines += _indent(str(content), 4)
    else:
        lines.append("  (the LLM was not asked)")
    lines.append("Raw answer:")
    lines += _indent(d.get("raw_answer") or "(none)")
    return "\n".join(lines)


def _llm_line(inputs: Any) -> list[str]:
    """Which LLM was asked (``inputs["llm"]``, recorded in mode llm), as one line; none before it was recorded."""
    llm = inputs.get("llm") if isinstance(inputs, dict) else None
    if not isinstance(llm, dict):
        return []
    return [
        f"LLM:         {llm.get('model') or '-'} (answered as {llm.get('response_model') or '-'}) at "
        f"{llm.get('base_url') or '-'}, connection {llm.get('conn_id') or '-'}"
    ]


def _indent(text: str, spaces: int = 2) -> list[str]:
    return [" " * spaces + line for line in text.splitlines()] or [" " * spaces]
