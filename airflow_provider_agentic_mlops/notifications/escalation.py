"""EscalationNotifier: tell a person in Slack why the agent escalated a model (the Slack provider's
``SlackNotifier`` pattern), usable by :class:`~airflow_provider_agentic_mlops.operators.escalate.EscalateOperator`
and as a task callback."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from airflow_provider_agentic_mlops.core.connections import DEFAULT_SLACK_CONN_ID
from airflow_provider_agentic_mlops.core.errors import describe
from airflow_provider_agentic_mlops.core.escalation import ESCALATION_REPEAT_HOURS
from airflow_provider_agentic_mlops.version_compat import AirflowFailException, called_by_dag_processor

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_agentic_mlops.core.escalation import EscalationThread

log = logging.getLogger(__name__)

#: Seconds a failure notice run by the DAG processor waits for Slack (no retries): all callbacks of the factory's
#: file run one after another in one process that Airflow kills after ``dag_file_processor_timeout`` (50 s), and
#: the next task's liveness callbacks (failing its training job, cancelling its approval request) wait behind it.
DAG_PROCESSOR_POST_TIMEOUT = 3
#: Seconds the failure notices of one DAG processor process may take in all; later ones are skipped (a warning,
#: and the audit entry says not posted).
DAG_PROCESSOR_NOTICE_BUDGET = 15.0
_dag_processor_spent = 0.0


def utcnow() -> datetime:
    """Naive UTC, as the state store keeps times (:func:`~airflow_provider_agentic_mlops.core.state.utcnow`, imported
    here at run time: DAGs are parsed without the store's module)."""
    from airflow_provider_agentic_mlops.core.state import utcnow as store_now

    return store_now()


class EscalationNotifier(BaseNotifier):
    """Posts the decision's rationale, drift, rules fired and the next step to Slack, escaped for mrkdwn by
    :func:`~airflow_provider_agentic_mlops.core.slack.escalation_message`; logs them as plain text
    (:func:`~airflow_provider_agentic_mlops.core.escalation.escalation_log_text`) when the Slack connection
    does not exist or no channel is set (at ERROR, naming the connection, when a channel is set and the connection
    named is not the default one: someone expects the message; the task still succeeds). Records ``escalated`` in
    the audit trail. When Slack refuses the post
    (``not_in_channel``, a revoked token, still rate-limited after two retries) or cannot be reached (connection
    refused) the escalation is logged at ERROR with the error and what to fix, recorded with ``posted: False``, and
    the task fails naming the channel and the connection: retryable when the post certainly did not happen and Slack
    may take it later (connection refused, host not found, still rate-limited, ``request_timeout``:
    :func:`~airflow_provider_agentic_mlops.core.slack.post_again_later`), so the operator's task retries post it;
    with ``AirflowFailException`` (no retries) when Slack refused it for good (``not_in_channel``,
    ``channel_not_found``, a token refused...). When Slack does not answer in time (or the connection drops after
    the post was sent), or answers HTTP 5xx (it failed on its side, and the post is not retried), Slack may have
    posted it: it is recorded with ``posted: "unknown"``, the error says which of these happened and to check the
    channel before clearing the task, which would post it again, and the task fails with ``AirflowFailException``,
    so its retries do not post it again either.

    Attach it as a callback, e.g. ``on_failure_callback=EscalationNotifier(model_name="fraud",
    channel="C0123")``, as the DAG factory does for every model with a channel: the message names the task that
    failed, its run, its DAG, its try and the first line of its exception, and links that try's log; a post Slack does
    not take is a warning and nothing is raised (as a DAG's callback: the run, Airflow's reason such as
    ``timed_out`` and the last task, with a next step for that reason); a decision, when the DAG's ``decide`` task
    took one, is read from its XCom and the state store.

    A repeat (one of the model's recent ``escalated`` entries, the newest with this signature, has the same DAG and
    signature:
    :func:`~airflow_provider_agentic_mlops.core.escalation.escalation_signature`) posted within ``repeat_hours`` of
    its thread's first message is a short reply in that thread, not sent to the channel; the audit entry keeps the
    signature, the message's ``ts`` and the thread. When that entry cannot be read, or Slack refuses the reply (its
    first message deleted: ``thread_not_found``), the whole escalation is posted as a new message.

    :param model_name: the model.
    :param channel: Slack channel; empty or None: no Slack message, the escalation is logged.
    :param slack_conn_id: Slack API connection (the Slack provider's ``SlackHook``).
    :param decide_task_id: the AgentDecisionOperator's task id.
    :param state_conn_id: connection of the state store (default: ``[agentic_mlops] state_conn_id``).
    :param repeat_hours: hours after an escalation's first message during which its repeats are replies in its
        thread (``approval.escalation_repeat_hours``); 0: each one is a new message.
    """

    template_fields: Sequence[str] = ("model_name", "channel", "slack_conn_id")

    def __init__(
        self,
        *,
        model_name: str,
        channel: str | None = None,
        slack_conn_id: str = DEFAULT_SLACK_CONN_ID,
        decide_task_id: str = "decide",
        state_conn_id: str | None = None,
        repeat_hours: float = ESCALATION_REPEAT_HOURS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_name = model_name
        self.channel = channel
        self.slack_conn_id = slack_conn_id
        self.decide_task_id = decide_task_id
        self.state_conn_id = state_conn_id
        self.repeat_hours = repeat_hours

    def notify(self, context: Context) -> None:
        """As a task's (or a DAG's) failure callback: post the failure; never raise (the task's own error is the one
        its log must show: a Slack outage is a warning). A sensor failed by its approval request's outcome (denied,
        expired, cancelled or superseded:
        :class:`~airflow_provider_agentic_mlops.sensors.approval.ApprovalNotGranted`) is not posted: a person's
        decision, or the fail-closed deadline, which the request's own message shows."""
        from airflow_provider_agentic_mlops.sensors.approval import ApprovalNotGranted

        global _dag_processor_spent

        exception = context.get("exception")
        if isinstance(exception, ApprovalNotGranted):
            log.info("Not posted to Slack: the run stopped on its approval request's outcome (%s)", exception)
            return
        dag_processor = called_by_dag_processor()
        started = time.monotonic()
        try:
            self.send(context, callback=True, dag_processor=dag_processor)
        except Exception as err:  # noqa: BLE001 - a callback that raises buries the task's own error
            log.warning("Could not send the failure of model %r to Slack: %s", self.model_name, describe(err))
        finally:
            if dag_processor:
                _dag_processor_spent += time.monotonic() - started

    def send(self, context: Context, *, callback: bool = False, dag_processor: bool = False) -> dict[str, Any]:
        """Post (or log) the escalation; returns ``{"decision_id", "posted", "channel", "ts"}`` (``posted``: True,
        False, or ``"unknown"`` in the audit entry when Slack may have posted it: no answer in time, or an HTTP 5xx).

        :param callback: called as a task's callback (``notify``): the task failed, and the message says so
            (as it does whenever the context has an ``exception``), naming its DAG, its try and linking its log (with
            ``[api] base_url`` set); a post Slack did not take is a warning, and nothing is raised. A rate-limited
            post is not retried (a 429's Retry-After would hold the worker's slot).
        :param dag_processor: run by the DAG processor (a task that died without reporting), whose callbacks share
            one process with the other tasks' liveness callbacks and a kill after ``dag_file_processor_timeout``: Slack
            gets :data:`DAG_PROCESSOR_POST_TIMEOUT` seconds and no retries, and once the process's notices took
            :data:`DAG_PROCESSOR_NOTICE_BUDGET` seconds the rest are not posted (a warning; the audit entry has
            ``posted: False, skipped: True``).

        The state store is best-effort: when it is down (often why the task failed) the decision comes
        from the ``decide`` task's XCom and the audit entry is skipped with a warning. Without a task
        instance, or with Airflow's ``reason`` (a DAG-level callback: its task instance is the run's last task, which
        may not have failed), the message says the run failed, why (``timed_out``...) and what fits that reason.
        """
        from airflow_provider_agentic_mlops.approvals import slack_client_for
        from airflow_provider_agentic_mlops.core.escalation import (
            EscalationThread,
            escalation_signature,
        )
        from airflow_provider_agentic_mlops.core.slack import (
            escalation_message,
            maybe_delivered,
            maybe_delivered_cause,
            post_again_later,
            post_refused_hint,
            retry_after,
        )
        from airflow_provider_agentic_mlops.hooks.state import StateStoreHook  # here: DAGs are parsed without hooks
        from airflow_provider_agentic_mlops.liveness import map_index_of, run_of

        ti = context.get("ti")
        dag_id, run_id = run_of(context)
        exception = context.get("exception")
        failed, run_failed, failed_log, try_number = None, None, None, None
        if "reason" in context:  # a DAG's failure callback: the run failed; ti is the last task, not a failure
            run_failed = (str(context.get("reason") or ""), str(ti.task_id) if ti is not None else None)
        elif ti is not None and (callback or exception is not None):
            error = describe(exception, limit=1000) if isinstance(exception, BaseException) else exception
            error = next(iter(str(error or "").strip().splitlines()), "")  # the first line; the log has the rest
            failed = (str(ti.task_id), str(run_id), error or "the task failed; see its log")
            try_number = _try_number(ti)
            if dag_id is not None and run_id is not None:
                failed_log = {
                    "dag_id": str(dag_id),
                    "run_id": str(run_id),
                    "task_id": str(ti.task_id),
                    "map_index": map_index_of(ti),
                    "try_number": try_number,
                }
        # a task upstream of decide failed, or decide itself (it pushes its XComs last): none was written, and each
        # pull of an XCom never written is an ERROR ("XCom not found") in the task's log
        pull = (
            ti is not None
            and str(getattr(ti, "task_id", "")) != self.decide_task_id
            and not _upstream_of(context.get("task"), self.decide_task_id)
        )
        decision_id = _decision_id(self._pull(ti, "decision_id"), self.decide_task_id) if pull else None
        store, decision, readable = None, None, False
        try:
            store = StateStoreHook(self.state_conn_id).get_store()
            decision = store.get_decision(int(decision_id)) if decision_id is not None else None
            readable = True
        except Exception as err:
            log.warning(
                "Could not read decision %s from the state store (%s); escalating with what XCom has",
                decision_id,
                describe(err),
            )
        if decision is None and ti is not None:
            failure = failed or run_failed
            pull = pull and (decision_id is not None or not failure)  # decide pushes decision_id first
            decision = {
                "id": decision_id,
                "action": (self._pull(ti, "action") if pull else None) or (None if failure else "escalate"),
                "rationale": (self._pull(ti, "rationale") if pull else None)
                or ("" if failure else f"no decision found in XCom of task {self.decide_task_id!r}"),
            }
        elif decision is None:
            decision = {"id": decision_id, "action": None, "rationale": ""}
            run_failed = run_failed or ("", None)  # no task instance: a DAG run's failure, reason or not
        shown = {
            "dag_id": dag_id,
            "failed": failed,
            "run_failed": run_failed,
            "run_id": run_id,
            "links": self._links(decision_id, failed_log),
            "scheduled": _scheduled(context),
            "try_number": try_number,
        }
        result: dict[str, Any] = {"decision_id": decision_id, "posted": False, "channel": self.channel, "ts": None}
        try:
            client = slack_client_for(slack_conn_id=self.slack_conn_id)
        except Exception as err:  # the Execution API or a secrets backend down: not "no connection"
            if self.channel:  # someone expects the message: the whole escalation in the log, and the task fails
                error = describe(err)
                unsent = (
                    f"Could not look up Slack connection {self.slack_conn_id!r}, so channel {self.channel!r} was not "
                    f"messaged: {error}"
                )
                self._log_unsent(
                    logging.WARNING if callback else logging.ERROR, f"{unsent}. No one was messaged", decision, shown
                )
                result.update(error=error)
                self._record(store, dag_id, run_id, decision_id, failed, result, run_failed)
                if callback:
                    return result
                raise RuntimeError(unsent) from err
            log.warning("Could not look up Slack connection %r (%s)", self.slack_conn_id, describe(err))
            client = False  # no channel: nobody expects a message
        if not client or not self.channel:
            if client is not None:  # a client, or a lookup that failed (False): the channel is what is missing
                unsent = (
                    "No Slack channel is set (approval.escalation_channel or approval.channel), so no one was messaged"
                )
            elif self.channel:
                unsent = (
                    f"No Slack connection {self.slack_conn_id!r} is configured, so channel {self.channel!r} was not "
                    f"messaged; create connection {self.slack_conn_id!r} (conn type slack, the bot token xoxb-... as "
                    "its password) or set slack_conn_id to the one that exists"
                )
            else:
                unsent = f"No Slack connection {self.slack_conn_id!r} is configured, so no one was messaged"
            # a channel is set and a connection named that does not exist (a typo, a lost secret): someone expects
            # the message, an error; the default connection never created is an install without Slack (the demo)
            named_and_missing = client is None and self.channel and self.slack_conn_id != DEFAULT_SLACK_CONN_ID
            self._log_unsent(logging.ERROR if named_and_missing else logging.WARNING, unsent, decision, shown)
        elif dag_processor and _dag_processor_spent >= DAG_PROCESSOR_NOTICE_BUDGET:
            unsent = (
                f"Not posted to channel {self.channel!r}: this DAG processor's failure notices took their "
                f"{DAG_PROCESSOR_NOTICE_BUDGET:g} s (Slack slow or not answering), and the other tasks' callbacks "
                "must run before dag_file_processor_timeout"
            )
            self._log_unsent(logging.WARNING, unsent, decision, shown)
            result.update(error=unsent, skipped=True)
        else:
            if callback:
                client = _notice_client(client, dag_processor=dag_processor)
            now = utcnow()
            signature = escalation_signature(decision, dag_id=dag_id, failed=failed, run_failed=run_failed)
            # a store that just failed a read is not asked again (its retries would hold the post back)
            thread = self._repeat_thread(store if readable else None, signature, now)
            try:
                response = self._reply(client, thread, decision, shown) if thread is not None else None
                if response is None:  # not a repeat, or Slack did not take the reply: the whole escalation
                    thread = None
                    response = client.chat_postMessage(
                        channel=self.channel,
                        text=escalation_message(self.model_name, decision, **shown),
                        unfurl_links=False,
                        unfurl_media=False,
                    )
            except Exception as err:
                error = _slack_error(err)
                # a timeout, a connection dropped after sending or an HTTP 5xx: Slack may have posted it, and a
                # retry posts again; a 5xx is Slack's answer (it failed on its side), a timeout none: say which
                unknown = maybe_delivered(err)
                task = f"task {str(ti.task_id)!r}" if ti is not None else "the task"
                where = f"channel {self.channel!r} (connection {self.slack_conn_id!r})"
                if unknown:
                    cause = maybe_delivered_cause(err)
                    detail = "" if error in cause else f": {error}"
                    if cause.startswith("Slack answered"):
                        detail += "; the failure is on Slack's side (https://slack-status.com)"
                    refused = (
                        f"{cause} when posting the escalation to {where}{detail}; the message may or may not have "
                        f"been posted: check channel {self.channel!r} before clearing {task} (it would post it again)"
                    )
                else:
                    response = getattr(err, "response", None)
                    refused = f"Slack did not take the escalation for {where}: {error}; " + post_refused_hint(
                        error,
                        channel=str(self.channel),
                        slack_conn_id=self.slack_conn_id,
                        status=getattr(response, "status_code", None),
                        wait=retry_after(getattr(response, "headers", None)),
                        reached=response is not None or not post_again_later(err),
                        **({"sent_again": "this message was not posted (it is in this log)"} if callback else {}),
                    )
                messaged = "Whether anyone was messaged is not known" if unknown else "No one was messaged"
                self._log_unsent(
                    logging.WARNING if callback else logging.ERROR,
                    f"{refused}. {messaged}",
                    decision,
                    shown,
                )
                result.update(
                    error=error, posted="unknown" if unknown else False, **({"cause": cause} if unknown else {})
                )
                # a reply not taken keeps its thread: the next repeat (or this task's retry) replies there
                repeat = {"signature": signature, "thread": thread.details() if thread is not None else None}
                self._record(store, dag_id, run_id, decision_id, failed, result, run_failed, repeat)
                if callback:  # the task failed already; its callback's post is not retried
                    return result
                if post_again_later(err):  # certainly not posted, and Slack may take it later: the task's retries
                    raise RuntimeError(refused) from err
                # Slack may have posted it (a retry could post it twice), or refused it for good: no retries
                raise AirflowFailException(refused) from err
            result.update(posted=True, ts=response.get("ts"), channel=response.get("channel") or self.channel)
            thread = (
                EscalationThread(str(result["channel"]), str(result["ts"]), now, 1, str(self.channel))
                if thread is None
                else EscalationThread(thread.channel, thread.ts, thread.started_at, thread.runs + 1, thread.configured)
            )
            repeat = {"signature": signature, "thread": thread.details(), "ts": result["ts"]}
            log.info(
                "Escalation for decision %s posted to Slack channel %s%s",
                decision_id,
                self.channel,
                f" as a reply in the thread of its first message ({thread.ts})" if thread.runs > 1 else "",
            )
            self._record(store, dag_id, run_id, decision_id, failed, result, run_failed, repeat)
            return result
        self._record(store, dag_id, run_id, decision_id, failed, result, run_failed)
        return result

    def _log_unsent(self, level: int, why: str, decision: dict[str, Any], shown: dict[str, Any]) -> None:
        """Log why the escalation was not posted and the escalation itself, whole: then the task log (and the model's
        page) is where a person finds it."""
        from airflow_provider_agentic_mlops.core.escalation import escalation_log_text

        log.log(
            level,
            "%s: the escalation is in this log and on the model's page (Browse > Models); its last line, Next, says "
            "what to do:\n%s",
            why,
            escalation_log_text(self.model_name, decision, **shown),
        )

    def _repeat_thread(self, store: Any, signature: list[list[str]], now: datetime) -> EscalationThread | None:
        """The thread this escalation repeats (:func:`~airflow_provider_agentic_mlops.core.escalation.repeat_thread`
        on the model's newest :data:`~airflow_provider_agentic_mlops.core.escalation.REPEAT_LOOKBACK` ``escalated``
        entries: one indexed read); None, with a warning when the read failed."""
        from airflow_provider_agentic_mlops.core.escalation import REPEAT_LOOKBACK, repeat_thread

        if not self.repeat_hours or store is None:
            return None
        try:  # the window is checked on each thread's first message (this host's clock), not the entries' times
            previous = store.audit_trail(self.model_name, action="escalated", limit=REPEAT_LOOKBACK)
        except Exception as err:
            log.warning(
                "Could not read the previous escalations of model %r from the state store (%s); posting this one as "
                "a new message",
                self.model_name,
                describe(err),
            )
            return None
        return repeat_thread(previous, signature, str(self.channel), now=now, repeat_hours=self.repeat_hours)

    def _reply(self, client: Any, thread: EscalationThread, decision: dict[str, Any], shown: dict[str, Any]) -> Any:
        """Post the repeat as a reply in ``thread`` (not sent to the channel); None when Slack refused it (its first
        message deleted, the thread locked...: a new message is posted instead). A reply Slack may have posted, or
        could not be sent (Slack unreachable, rate-limited), raises as a post would."""
        from airflow_provider_agentic_mlops.core.slack import (
            escalation_repeat_message,
            maybe_delivered,
            post_again_later,
        )

        try:
            return client.chat_postMessage(
                channel=thread.channel,
                thread_ts=thread.ts,
                text=escalation_repeat_message(self.model_name, decision, thread=thread, **shown),
                unfurl_links=False,
                unfurl_media=False,
            )
        except Exception as err:
            if getattr(err, "response", None) is None or maybe_delivered(err) or post_again_later(err):
                raise
            log.warning(
                "Slack did not take the repeat of model %r's escalation in the thread of its first message %s in "
                "channel %s (%s); posting it as a new message",
                self.model_name,
                thread.ts,
                thread.channel,
                _slack_error(err),
            )
            return None

    def _pull(self, ti: Any, key: str) -> Any:
        """XCom ``key`` of the decide task, None when it cannot be read (the Execution API down, often why the task
        failed): the escalation still goes out with what is known."""
        try:
            return ti.xcom_pull(task_ids=self.decide_task_id, key=key)
        except Exception as err:
            log.warning(
                "Could not read XCom %r of task %r (%s); escalating without it", key, self.decide_task_id, describe(err)
            )
            return None

    def _links(self, decision_id: Any, failed_log: dict[str, Any] | None = None) -> tuple[tuple[str, str], ...]:
        """The failed task's log (``failed_log``: :func:`~airflow_provider_agentic_mlops.links.task_log_url`'s
        arguments), the decision trace and the model page, as full URLs when ``[api] base_url`` names a host."""
        from urllib.parse import quote

        from airflow_provider_agentic_mlops.links import absolute_url, plugin_url, task_log_url

        model = f"/models/{quote(self.model_name, safe='')}"
        pages = [("model page", model)]
        if decision_id is not None:
            pages.insert(0, ("decision trace", f"{model}/decisions/{int(decision_id)}"))
        try:
            urls = [(label, absolute_url(plugin_url(page))) for label, page in pages]
            if failed_log is not None:
                urls.insert(0, ("task log", task_log_url(**failed_log)))
        except Exception as err:  # a configuration that cannot be read must not stop the escalation
            log.warning("No links in the escalation: [api] base_url could not be read (%s)", describe(err))
            return ()
        return tuple((label, url) for label, url in urls if url)

    def _record(
        self,
        store: Any,
        dag_id: str | None,
        run_id: str | None,
        decision_id: Any,
        failed: tuple[str, str, str] | None,
        result: dict[str, Any],
        run_failed: tuple[str, str | None] | None = None,
        repeat: dict[str, Any] | None = None,
    ) -> None:
        """The ``escalated`` audit entry (best-effort: a missing row must not hide the escalation); ``repeat``: the
        signature, the message's ``ts`` and its thread, which the next escalation compares itself with."""
        if store is None:
            log.warning("The state store is unreachable: the 'escalated' audit entry of %s is not recorded", dag_id)
            return
        try:
            store.audit(
                "escalated",
                actor=f"dag:{dag_id or 'unknown'}",
                model_name=self.model_name,
                subject=f"decision:{decision_id}"
                if decision_id is not None
                else f"task:{dag_id}.{failed[0]}"
                if failed
                else f"dag_run:{dag_id}/{run_id}",
                details={
                    **{key: result[key] for key in ("posted", "channel", "error", "cause", "skipped") if key in result},
                    **({"run_id": run_id, "failed_task": failed[0]} if failed else {}),
                    **({"reason": run_failed[0], "last_task": run_failed[1]} if run_failed else {}),
                    **(repeat or {}),
                },
            )
        except Exception as err:  # the escalation was sent; a missing audit row must not fail the callback
            log.warning(
                "Could not record the 'escalated' audit entry of %s (%s)",
                dag_id,
                describe(err),
            )


def _notice_client(client: Any, *, dag_processor: bool) -> Any:
    """``client`` for a failure notice: without its rate-limit retries (a 429 asking for 30 s would hold the worker,
    or the DAG processor's callbacks, for a minute); in the DAG processor with no retries at all and
    :data:`DAG_PROCESSOR_POST_TIMEOUT`."""
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    from airflow_provider_agentic_mlops.core.slack_http import KeepAliveWebClient

    if dag_processor:
        return KeepAliveWebClient.like(client, timeout=DAG_PROCESSOR_POST_TIMEOUT, retry_handlers=[])
    handlers = [h for h in client.retry_handlers if not isinstance(h, RateLimitErrorRetryHandler)]
    return KeepAliveWebClient.like(client, retry_handlers=handlers)


def _upstream_of(task: Any, task_id: str) -> bool:
    """Whether ``task`` (a context's, None in a DAG's callback) is upstream of the task ``task_id`` in its DAG."""
    if task is None:
        return False
    try:
        return task_id in task.get_flat_relative_ids(upstream=False)
    except Exception:  # no DAG (a task built alone): not known
        return False


def _try_number(ti: Any) -> int | None:
    """The try of task instance ``ti`` (1 for the first), None when it has no number."""
    number = getattr(ti, "try_number", None)
    return number if isinstance(number, int) and not isinstance(number, bool) and number > 0 else None


def _decision_id(value: Any, decide_task_id: str) -> int | None:
    """The decision number an XCom holds; None (with a warning naming the value) when it holds none."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        log.warning(
            "XCom decision_id of task %r is %r, not a decision number: the escalation names no decision",
            decide_task_id,
            value,
        )
        return None


def _scheduled(context: Context) -> bool:
    """Whether the DAG has a schedule: False for ``schedule: null`` (its ``NullTimetable`` can never be scheduled),
    True when the context has no DAG to say (as the model page reads a DAG Airflow does not describe)."""
    timetable = getattr(context.get("dag"), "timetable", None)
    return bool(getattr(timetable, "can_be_scheduled", True))


def _slack_error(err: BaseException) -> str:
    """Slack's error code of a refused call (``not_in_channel``, ``ratelimited``...), else the error itself."""
    response = getattr(err, "response", None)
    try:
        code = response.get("error") if response is not None else None
    except Exception:
        code = None
    return str(code) if code else describe(err)


__all__ = ["EscalationNotifier"]
