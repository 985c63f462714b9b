"""EscalateOperator: tell a person why the agent escalated. It starts nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_agentic_mlops.hooks.state import StateStoreHook, _get_connection_or_none

if TYPE_CHECKING:
    from airflow.sdk import Context


class EscalateOperator(BaseOperator):
    """Posts the decision's rationale to Slack, or logs it when no Slack connection is configured.

    The decision is read from the ``decide`` task's XCom (``decision_id``) and the state store, so the
    message carries the rationale, the drift, the rules that fired and any override. It starts nothing.

    :param model_name: the model.
    :param decide_task_id: the AgentDecisionOperator's task id.
    :param slack_conn_id: Slack API connection (the slack provider's ``SlackHook``); when it does not
        exist the message is printed to the task log instead, and the log says so.
    :param channel: channel to post to (required when the Slack connection exists).
    :param state_conn_id: connection of the state store.
    """

    template_fields: Sequence[str] = ("model_name", "channel")
    ui_color = "#ffd8a8"

    def __init__(
        self,
        *,
        model_name: str,
        decide_task_id: str = "decide",
        slack_conn_id: str = "slack_api_default",
        channel: str | None = None,
        state_conn_id: str = "agentic_mlops_state_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_name = model_name
        self.decide_task_id = decide_task_id
        self.slack_conn_id = slack_conn_id
        self.channel = channel
        self.state_conn_id = state_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        decision_id = ti.xcom_pull(task_ids=self.decide_task_id, key="decision_id")
        store = StateStoreHook(self.state_conn_id).get_store()
        decision = store.get_decision(int(decision_id)) if decision_id is not None else None
        if decision is None:
            decision = {
                "id": decision_id,
                "action": ti.xcom_pull(task_ids=self.decide_task_id, key="action") or "escalate",
                "rationale": ti.xcom_pull(task_ids=self.decide_task_id, key="rationale")
                or f"no decision found in XCom of task {self.decide_task_id!r}",
            }
        from airflow_provider_agentic_mlops.core.slack import escalation_message

        text = escalation_message(self.model_name, decision)
        result: dict[str, Any] = {"decision_id": decision_id, "posted": False, "channel": self.channel, "ts": None}
        if _get_connection_or_none(self.slack_conn_id) is None:
            self.log.warning(
                "No Slack connection %r is configured; the escalation is only in this log:\n%s",
                self.slack_conn_id,
                text,
            )
            print(text)
        else:
            if not self.channel:
                raise ValueError(
                    f"model {self.model_name!r}: EscalateOperator has Slack connection {self.slack_conn_id!r} but no "
                    "channel; set approval.escalation_channel or approval.channel in models.yaml (or channel=...)"
                )
            from airflow.providers.slack.hooks.slack import SlackHook

            response = SlackHook(slack_conn_id=self.slack_conn_id).client.chat_postMessage(
                channel=self.channel, text=text, unfurl_links=False, unfurl_media=False
            )
            result.update(posted=True, ts=response.get("ts"), channel=response.get("channel") or self.channel)
            self.log.info("Escalation for decision %s posted to Slack channel %s", decision_id, self.channel)
        store.audit(
            "escalated",
            actor=f"dag:{getattr(ti, 'dag_id', None) or 'unknown'}",
            model_name=self.model_name,
            subject=f"decision:{decision_id}",
            details={"posted": result["posted"], "channel": result["channel"]},
        )
        return result
