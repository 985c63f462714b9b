"""AgentDecisionOperator: the drift summary and the model's history -> retrain | no_action | escalate."""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.branch import BaseBranchOperator
from pydantic import ValidationError

from airflow_provider_agentic_mlops.core.config import ACTIONS, MODE_LLM, MODE_RULES, MODES, DecisionConfig
from airflow_provider_agentic_mlops.core.connections import DEFAULT_LLM_CONN_ID
from airflow_provider_agentic_mlops.core.errors import settings_error
from airflow_provider_agentic_mlops.links import DecisionTraceLink, ModelPageLink
from airflow_provider_agentic_mlops.operators._base import StateStoreMixin, check_model_name

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_agentic_mlops.core.decision import Decision, ModelHistory
    from airflow_provider_agentic_mlops.core.state import StateStore

DEFAULT_ALERT = "{{ ((dag_run.conf if dag_run else None) or {}).get('alert') | tojson }}"
_NOT_GUARDRAILS = {"mode", "llm_conn_id"}


def guardrails_config(guardrails: Mapping[str, Any] | DecisionConfig | None, role: str = "") -> DecisionConfig:
    """A :class:`DecisionConfig` from the operator's ``guardrails`` argument; when wrong, the error of every settings
    section (``core.errors.settings_error``), ``role`` said first."""
    if isinstance(guardrails, DecisionConfig):
        return guardrails
    try:
        return DecisionConfig(**{k: v for k, v in (guardrails or {}).items() if k not in _NOT_GUARDRAILS})
    except ValidationError as err:
        known = set(DecisionConfig.model_fields) - _NOT_GUARDRAILS
        raise settings_error(err, kind="decision", known=known, role=role) from None


def parse_alert(alert: Any) -> Any:
    """The alert as rendered by the template: JSON, a Python literal, or plain text; None when absent."""
    if not isinstance(alert, str):
        return alert or None
    text = alert.strip()
    if text in ("", "None", "null", "{}"):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)  # a dict rendered without | tojson
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


class AgentDecisionOperator(StateStoreMixin, BaseBranchOperator):
    """Decides what the model's loop does next and branches to it: ``retrain``, ``no_action`` or ``escalate``.

    Deterministic guardrails run first (data-quality stop, running job, thresholds, cooldown, retrain
    budget); in mode ``llm`` an OpenAI-compatible LLM chooses inside them, and the guardrails check
    its answer. Every decision is stored with its full trace in the state store
    (``airflow agentic-mlops decisions show <id>``). XCom keys: ``decision_id``, ``action``,
    ``rationale``; the return value is the task id to follow.

    :param model_name: the model (as in models.yaml).
    :param drift_task_id: task whose return value is the drift summary (DriftCheckOperator).
    :param mode: ``auto`` (the LLM when ``llm_conn_id`` exists, else rules; the log says which),
        ``rules`` or ``llm``. ``llm`` without a usable connection falls back to rules, recorded.
    :param llm_conn_id: connection of type ``agentic_mlops_llm``.
    :param state_conn_id: connection of the state store (default: ``[agentic_mlops] state_conn_id``).
    :param action_task_ids: action -> task id to branch to; missing actions map to themselves.
    :param guardrails: the fields of ``DecisionConfig`` (min_drift_share, critical_drift_share,
        max_null_share, cooldown_hours, max_retrains, budget_window_hours, max_tokens_per_decision,
        max_tokens_per_day, max_tool_calls), as a dict or a ``DecisionConfig``.
    :param alert: the alert that triggered the run (templated; default ``dag_run.conf["alert"]``),
        a dict or text. Its text reaches the LLM only truncated and fenced as untrusted data.
    """

    template_fields: Sequence[str] = ("model_name", "drift_task_id", "alert")
    operator_extra_links = (DecisionTraceLink(), ModelPageLink())
    ui_color = "#e8d5f5"

    def __init__(
        self,
        *,
        model_name: str,
        drift_task_id: str = "check_drift",
        mode: str = "auto",
        llm_conn_id: str = DEFAULT_LLM_CONN_ID,
        state_conn_id: str | None = None,
        action_task_ids: Mapping[str, str] | None = None,
        guardrails: Mapping[str, Any] | DecisionConfig | None = None,
        alert: Any = DEFAULT_ALERT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"AgentDecisionOperator mode {mode!r} is not one of {list(MODES)}")
        unknown = set(action_task_ids or {}) - set(ACTIONS)
        if unknown:
            raise ValueError(f"action_task_ids has unknown actions {sorted(unknown)}; the actions are {list(ACTIONS)}")
        self.model_name = model_name
        self.drift_task_id = drift_task_id
        self.mode = mode
        self.llm_conn_id = llm_conn_id
        self.state_conn_id = state_conn_id
        self.action_task_ids = {**{a: a for a in ACTIONS}, **dict(action_task_ids or {})}
        self.guardrails = guardrails_config(guardrails, f"model '{model_name}': AgentDecisionOperator guardrails")
        self.alert = alert

    def read_history(self, store: StateStore, run: tuple[str | None, str | None] | None = None) -> ModelHistory:
        """What the state store knows about the model (a stale in-flight job is failed on the way); ``run``, the
        deciding ``(dag_id, run_id)``: its own failed jobs do not count (as in RetrainOperator's budget check), nor are
        its own earlier decisions recent ones, nor those a later try of their run superseded."""
        from airflow_provider_agentic_mlops.core.budget import read_budget_inputs
        from airflow_provider_agentic_mlops.core.decision import ModelHistory
        from airflow_provider_agentic_mlops.core.state import utcnow  # not at DAG parse time
        from airflow_provider_agentic_mlops.liveness import job_task_state

        now = utcnow()
        budget = read_budget_inputs(
            store, self.model_name, now=now, budget_window_hours=self.guardrails.budget_window_hours, run=run
        )
        return ModelHistory(
            now=now,
            inflight_job=store.inflight_job(self.model_name, task_state=job_task_state),
            last_retrain=store.last_retrain(self.model_name),
            retrains_in_window=budget.retrains_in_window,
            oldest_in_window_at=budget.oldest_in_window_at,
            tokens_used_today=store.tokens_used(self.model_name, since=now - timedelta(hours=24)),
            recent_decisions=store.list_decisions(self.model_name, limit=10, standing=True, other_than_run=run),
        )

    def _resolve_mode(self) -> tuple[str, Any, str | None, dict[str, str] | None]:
        """(mode, llm client or None, why the LLM is not used, which LLM it is for the trace)."""
        if self.mode == MODE_RULES:
            self.log.info("Decision mode 'rules': the guardrails decide alone.")
            return MODE_RULES, None, None, None
        from airflow_provider_agentic_mlops.hooks.llm import LLMHook

        if not LLMHook.connection_exists(self.llm_conn_id):
            why = f"LLM connection {self.llm_conn_id!r} is not configured"
            if self.mode == "auto":
                self.log.info("Decision mode 'auto': %s; the rules decide alone.", why)
            else:
                self.log.warning("Decision mode 'llm' but %s; the rules decide alone (fail closed).", why)
            return MODE_RULES, None, why, None
        hook = LLMHook(self.llm_conn_id)
        try:
            settings = hook.settings
        except ValueError as err:
            self.log.error("LLM connection unusable, the rules decide alone: %s", err)
            return MODE_RULES, None, str(err), None
        self.log.info(
            "Decision mode %r: LLM %r at %s, inside the guardrails.",
            self.mode,
            settings["model"],
            settings["shown_url"],
        )
        return MODE_LLM, hook.decision_client(), None, hook.identity()

    def choose_branch(self, context: Context) -> str:
        check_model_name(self.model_name)
        ti = context["ti"]
        DecisionTraceLink.hide_until_written(ti)
        drift = ti.xcom_pull(task_ids=self.drift_task_id)
        if not isinstance(drift, Mapping):
            raise ValueError(
                f"model {self.model_name!r}: no drift summary in XCom of task {self.drift_task_id!r} (got "
                f"{type(drift).__name__}); set drift_task_id to the DriftCheckOperator's task id"
            )
        store, run = self.store, (getattr(ti, "dag_id", None), getattr(ti, "run_id", None) or context.get("run_id"))
        history = self.read_history(store, run)
        mode, llm, no_llm_reason, llm_identity = self._resolve_mode()
        from airflow_provider_agentic_mlops.core.decision import breaks_escaped, decide, record_decision  # not at parse

        decision: Decision = decide(
            model_name=self.model_name,
            drift=drift,
            history=history,
            config=self.guardrails,
            mode=mode,
            llm=llm,
            alert=parse_alert(self.alert),
            requested_mode=self.mode,
            llm_unavailable=no_llm_reason if self.mode != MODE_RULES else None,
            llm_identity=llm_identity,
        )
        decision_id = record_decision(
            store, self.model_name, decision, dag_id=run[0], run_id=run[1], log=self.log, try_number=ti.try_number
        )
        # the rationale and the override reason may hold the LLM's line breaks: escaped, they cannot forge a log line
        self.log.info(
            "Decision %s for %s: %s (decided by %s%s). %s",
            decision_id,
            self.model_name,
            decision.action,
            decision.decided_by,
            f"; LLM said {decision.llm_action}, overridden: {breaks_escaped(decision.override_reason)}"
            if decision.override_reason
            else "",
            breaks_escaped(decision.rationale),
        )
        if decision.error:  # the LLM's trouble (its cause, the attempts), not only "rules decide"
            self.log.warning("Decision %s: the LLM part had errors: %s", decision_id, decision.error)
        ti.xcom_push(key="decision_id", value=decision_id)
        ti.xcom_push(key="action", value=decision.action)
        ti.xcom_push(key="rationale", value=decision.rationale)
        return self.action_task_ids[decision.action]
