"""EscalateOperator: tell a person why the agent escalated. It starts nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_agentic_mlops.core.connections import DEFAULT_SLACK_CONN_ID
from airflow_provider_agentic_mlops.core.escalation import ESCALATION_REPEAT_HOURS, escalation_task_defaults
from airflow_provider_agentic_mlops.operators._base import check_model_name

if TYPE_CHECKING:
    from airflow.sdk import Context


class EscalateOperator(BaseOperator):
    """Posts the decision's rationale to Slack through
    :class:`~airflow_provider_agentic_mlops.notifications.escalation.EscalationNotifier`, or logs it
    when no Slack connection is configured. It starts nothing.

    :param model_name: the model.
    :param decide_task_id: the AgentDecisionOperator's task id.
    :param slack_conn_id: Slack API connection (the slack provider's ``SlackHook``); without it the message goes
        to the task log, which says so (at ERROR with a channel set and a non-default connection named).
    :param channel: channel to post to; empty or None: no Slack message, the escalation is logged as
        without a Slack connection.
    :param state_conn_id: connection of the state store (default: ``[agentic_mlops] state_conn_id``).
    :param repeat_hours: hours its repeats are replies in the first message's thread (0: never; see the notifier).
    Default ``retries`` 2, ``retry_delay`` 1 min: only a post certainly not posted is retried (see the notifier).
    """

    template_fields: Sequence[str] = ("model_name", "channel", "slack_conn_id")
    ui_color = "#ffd8a8"

    def __init__(
        self,
        *,
        model_name: str,
        decide_task_id: str = "decide",
        slack_conn_id: str = DEFAULT_SLACK_CONN_ID,
        channel: str | None = None,
        state_conn_id: str | None = None,
        repeat_hours: float = ESCALATION_REPEAT_HOURS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**escalation_task_defaults(kwargs))
        self.model_name = model_name
        self.decide_task_id = decide_task_id
        self.slack_conn_id = slack_conn_id
        self.channel = channel
        self.state_conn_id = state_conn_id
        self.repeat_hours = repeat_hours

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_agentic_mlops.notifications.escalation import EscalationNotifier

        check_model_name(self.model_name)
        notifier = EscalationNotifier(
            model_name=self.model_name,
            channel=self.channel,
            slack_conn_id=self.slack_conn_id,
            decide_task_id=self.decide_task_id,
            state_conn_id=self.state_conn_id,
            repeat_hours=self.repeat_hours,
        )
        return notifier.send(context)
