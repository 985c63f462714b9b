"""``airflow agentic-mlops decisions list|show``: the agent's decisions and their full trace."""

from __future__ import annotations

import argparse
import json
from typing import Any

from airflow_provider_agentic_mlops.cli.output import print_json, print_rows
from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

LIST_COLUMNS = (
    "id",
    "created_at",
    "model_name",
    "mode",
    "decided_by",
    "final_action",
    "llm_action",
    "override",
    "tokens",
    "rationale",
)


def _store(args: argparse.Namespace) -> Any:
    return StateStoreHook(getattr(args, "state_conn_id", None)).get_store()


def _short(text: Any, limit: int) -> str | None:
    if text is None:
        return None
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decisions_list(args: argparse.Namespace) -> None:
    """Print the newest decisions (optionally of one model) as a table or JSON."""
    rows = _store(args).list_decisions(getattr(args, "model", None), limit=getattr(args, "limit", None) or 20)
    output = getattr(args, "output", "table") or "table"
    for row in rows:
        row["tokens"] = (row.get("prompt_tokens") or 0) + (row.get("completion_tokens") or 0)
        row["override"] = row.get("override_reason") if output == "json" else _short(row.get("override_reason"), 40)
        if output != "json":
            row["rationale"] = _short(row.get("rationale"), 60)
    print_rows(rows, LIST_COLUMNS, output)


def decisions_show(args: argparse.Namespace) -> None:
    """Print one decision's full trace: inputs, rules fired, prompt, raw answer, tokens, latency, override."""
    store = _store(args)
    decision = store.get_decision(int(args.decision_id))
    if decision is None:
        raise SystemExit(
            f"decision {args.decision_id} is not in the state store ({store.url}); "
            "list the ids with `airflow agentic-mlops decisions list`"
        )
    if (getattr(args, "output", "table") or "table") == "json":
        print_json(decision)
        return
    print(format_trace(decision))


def format_trace(d: dict[str, Any]) -> str:
    """A decision's trace as readable text (sections in the order a reviewer asks the questions)."""
    lines = [
        f"Decision {d['id']}  model {d['model_name']}  at {d['created_at']:%Y-%m-%d %H:%M:%S} UTC",
        f"  DAG {d.get('dag_id') or '-'}  run {d.get('run_id') or '-'}",
        f"Action:      {d['final_action']}  (decided by {d.get('decided_by') or '-'}, mode {d['mode']})",
        f"LLM action:  {d.get('llm_action') or '-'}",
        f"Override:    {d.get('override_reason') or '-'}",
        f"Confidence:  {d['confidence'] if d.get('confidence') is not None else '-'}",
        f"Rationale:   {d.get('rationale') or '-'}",
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


def _indent(text: str, spaces: int = 2) -> list[str]:
    return [" " * spaces + line for line in text.splitlines()] or [" " * spaces]
