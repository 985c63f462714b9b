"""core/commands.py: a message naming one of the provider's commands names the one that runs on this Airflow."""

from __future__ import annotations

import pytest

from airflow_provider_agentic_mlops.core.approval_policy import cli_command
from airflow_provider_agentic_mlops.core.commands import AIRFLOW_GROUP, command
from airflow_provider_agentic_mlops.core.escalation import escalation_facts, escalation_log_text
from airflow_provider_agentic_mlops.core.metrics import score_predictions
from airflow_provider_agentic_mlops.core.state import missing_approval_message
from airflow_provider_agentic_mlops.core.validation import Gates, evaluate_gates


def _escalation(rule: str) -> str:
    decision = {"id": 4, "rationale": "r", "rules_fired": [{"rule": rule, "effect": "escalate", "detail": "x"}]}
    return escalation_log_text("fraud", decision, dag_id="agentic_mlops__fraud")


def _unscorable_champion_reason() -> str:
    truth = [1.0, 2.0, 3.0, 4.0]
    challenger = score_predictions("regression", truth, truth, names=("y", "v3's predictions"))
    champion = score_predictions("regression", truth, [1.0, float("nan"), 3.0, 4.0], names=("y", "v2's predictions"))
    [check] = evaluate_gates(Gates(), challenger, champion, challenger_version="3", champion_version="2")
    return check.detail


@pytest.mark.usefixtures("commands_as_on_airflow_3_1")
@pytest.mark.parametrize(
    ("message", "names"),
    [
        (lambda: missing_approval_message(5), "`agentic-mlops approvals list`"),
        (lambda: cli_command({"id": 3, "model_name": "fraud"}), "agentic-mlops approvals approve 3 --model fraud"),
        (lambda: escalation_facts("fraud", {"id": 4}).trace_command, "agentic-mlops decisions show 4 --model fraud"),
        (lambda: _escalation("champion_unavailable"), "(agentic-mlops rollback fraud)"),
        (lambda: _escalation("inflight_job_overdue"), "(agentic-mlops models list names it)"),
        (_unscorable_champion_reason, "(`agentic-mlops rollback MODEL`)"),
    ],
    ids=["missing approval", "approval command", "escalation trace", "rollback", "models list", "validation"],
)
def test_on_airflow_3_1_core_messages_name_the_console_script(message, names: str) -> None:  # noqa: ANN001
    """Airflow 3.1 has no `airflow agentic-mlops`: a message telling a person to run it named a command
    that fails there with "invalid choice"."""
    said = message()
    assert names in said and AIRFLOW_GROUP not in said, said


def test_where_airflow_loads_the_commands_messages_name_them_under_airflow() -> None:
    """The main suite runs on Airflow 3.3: version_compat, imported by every Airflow-side module, said so."""
    from airflow_provider_agentic_mlops import version_compat

    assert version_compat.PROVIDER_CLI_COMMANDS_LOADED
    assert version_compat.CLI_COMMAND_PREFIX == AIRFLOW_GROUP
    assert command("approvals list") == "airflow agentic-mlops approvals list"
