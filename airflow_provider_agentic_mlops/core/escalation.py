"""What a person is told when the agent escalates: the facts of the decision and the next step (no Airflow).

:func:`escalation_facts` gathers them once from a stored decision; each destination renders them: Slack
(mrkdwn, escaped) in :func:`~airflow_provider_agentic_mlops.core.slack.escalation_message`, the task log
(plain text) in :func:`escalation_log_text`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_agentic_mlops.core.budget import COOLDOWN, RETRAIN_BUDGET, allow_sooner, next_allowed_in
from airflow_provider_agentic_mlops.core.commands import command
from airflow_provider_agentic_mlops.core.config import ESCALATION_REPEAT_HOURS
from airflow_provider_agentic_mlops.core.decision import RETRAIN_BLOCKED_EFFECT
from airflow_provider_agentic_mlops.core.slack import one_line


class Command(str):
    """A part of a next step that is a command to run (Slack shows it as code)."""


@dataclass(frozen=True)
class EscalationFacts:
    """An escalation, destination-neutral: plain text, clipped; untrusted text (rationale, column names, rule
    details) unescaped, for the renderer to escape for its destination, and each on one line (:func:`one_line`):
    a line break in it would start a line posing as the message's own (``Next: ...``).

    :param drift: ``share 0.444 (4/9 columns); top: amount (0.8678), ...`` or None.
    :param next_step: a sentence in parts; the :class:`Command` parts are commands.
    """

    model_name: str
    decision_id: str
    #: who decided (``rules``, ``llm``...); None when no decision escalated (a failure callback)
    decided_by: str | None
    #: an escalate decision: it started nothing (else the message says what failed, not that)
    escalated: bool
    rationale: str
    drift: str | None
    rules_fired: tuple[str, ...]
    override: str | None
    trace_command: str
    next_step: tuple[str, ...]
    #: ``(task_id, run_id, error)`` of the task whose failure callback escalated, else None
    failed: tuple[str, str, str] | None = None
    #: ``(run_id, dag_id, reason, last_task_id)`` of the DAG run whose failure callback escalated (Airflow's
    #: ``reason``: ``timed_out``, ``all_tasks_deadlocked``, ``task_failure``...), else None
    run_failure: tuple[str, str, str, str | None] | None = None
    #: the DAG run that escalated
    run_id: str | None = None
    #: ``(label, URL)`` of the pages to open (the failed task's log, the decision trace, the model page), when
    #: Airflow's URL is known
    links: tuple[tuple[str, str], ...] = ()
    #: the DAG of the failed task (named on its ``Failed:`` line)
    dag_id: str | None = None
    #: the try of the failed task that failed for good
    try_number: int | None = None


#: What Airflow's ``reason`` of a failed DAG run means (``dagrun.py`` / the scheduler set it).
RUN_FAILURE_REASONS = {
    "timed_out": "the run took longer than its DAG's dagrun_timeout",
    "all_tasks_deadlocked": "no task left could start",
    "task_failure": "a task failed",
}


def _number(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def escalation_facts(
    model_name: str,
    decision: Mapping[str, Any],
    *,
    dag_id: str | None = None,
    failed: tuple[str, str, str] | None = None,
    run_failed: tuple[str, str | None] | None = None,
    run_id: str | None = None,
    links: tuple[tuple[str, str], ...] = (),
    scheduled: bool = True,
    try_number: int | None = None,
) -> EscalationFacts:
    """The facts of an escalation and what a person can do next.

    :param model_name: the model.
    :param decision: a stored decision (``StateStore.get_decision``) or at least action/rationale/id.
    :param dag_id: the model's DAG, which a new run starts (named in the next step).
    :param failed: ``(task_id, run_id, error)`` when a task's failure callback escalates.
    :param run_failed: ``(reason, last_task_id)`` when a DAG's failure callback escalates: Airflow's ``reason``
        (``timed_out``, ``all_tasks_deadlocked``, ``task_failure``...) and the task instance it passed, if any (the
        task still running at a timeout, the one waiting at a deadlock, the last that failed).
    :param run_id: the DAG run that escalated.
    :param links: ``(label, URL)`` of pages to open (the caller knows Airflow's URL).
    :param scheduled: the DAG has a schedule (False for ``schedule: null``: no scheduled run decides again, an
        alert or a manual trigger does); True when not known.
    :param try_number: the try of the ``failed`` task that failed.
    """
    drift = ((decision.get("inputs") or {}).get("drift")) or {}
    drift_line = None
    if drift:
        top = ", ".join(
            f"{one_line(t.get('column'), 200)} ({_number(t.get('score'), '.4g')})"
            for t in (drift.get("top_drifted") or [])[:5]
            if isinstance(t, Mapping)
        )
        drift_line = (
            f"share {_number(drift.get('drift_share'), '.3f')} "
            f"({drift.get('n_drifted')}/{drift.get('n_columns')} columns)" + (f"; top: {top}" if top else "")
        )
    fired = [r for r in decision.get("rules_fired") or [] if isinstance(r, Mapping)]
    known = decision.get("id") is not None  # a DAG failure callback may have no decision
    decision_id = str(decision["id"]) if known else "?"
    # decision ids are numbered per state store: --model reads the model's own
    model = shlex.quote(str(model_name))
    trace = command(f"decisions {f'show {decision_id}' if known else 'list'} --model {model}")
    action = decision.get("final_action") or decision.get("action")
    decided_by = decision.get("decided_by") or decision.get("mode")
    # a task that failed under a decision to act (retrain...): the failure is what to fix, the rules are context
    step_rules = fired if not failed or action == "escalate" else []
    return EscalationFacts(
        model_name=one_line(model_name, 64),
        decision_id=decision_id,
        decided_by=str(decided_by) if decided_by else None,
        escalated=known and action == "escalate",
        rationale=one_line(decision.get("rationale") or "", 1500),
        drift=one_line(drift_line, 2000) if drift_line else None,
        rules_fired=tuple(one_line(r.get("rule"), 200) for r in fired),
        override=one_line(decision["override_reason"], 500) if decision.get("override_reason") else None,
        trace_command=trace,
        next_step=_next_step(model_name, step_rules, trace, dag_id, failed, run_failed, scheduled=scheduled),
        failed=(one_line(failed[0], 250), one_line(failed[1], 250), one_line(failed[2], 1000)) if failed else None,
        run_failure=(
            one_line(run_id or "?", 250),
            one_line(dag_id or "?", 250),
            one_line(run_failed[0] or "no reason given", 250),
            one_line(run_failed[1], 250) if run_failed[1] else None,
        )
        if run_failed
        else None,
        run_id=one_line(run_id, 250) if run_id else None,
        links=tuple(links),
        dag_id=one_line(dag_id, 250) if dag_id and failed else None,
        try_number=try_number if failed else None,
    )


def _next_step(
    model_name: str,
    fired: list[Mapping[str, Any]],
    trace: str,
    dag_id: str | None,
    failed: tuple[str, str, str] | None = None,
    run_failed: tuple[str, str | None] | None = None,
    *,
    scheduled: bool = True,
) -> tuple[str, ...]:
    """What a person can do about the escalation, from the rules that fired (the first that applies)."""
    rules = {str(r.get("rule")): r for r in fired}
    rerun: tuple[str, ...] = (
        ("start a new run: ", Command(f"airflow dags trigger {shlex.quote(dag_id)}"))
        if dag_id
        else ("start a new run of its DAG",)
    )
    # a timeout or a deadlock is about the run, whatever the decision said; a task failure like a task's callback
    if run_failed and (run_failed[0] != "task_failure" or not fired):
        return _run_failed_step(*run_failed, rerun)
    if "pipeline_fault" in rules:
        return ("fix the data feed (the columns and changes named above), then ", *rerun, ".")
    if "champion_unavailable" in rules:
        return (
            "restore the champion: roll it back (",
            Command(command(f"rollback {shlex.quote(model_name)}")),
            ") or point its 'champion' alias at a version that loads; then ",
            *rerun,
            ".",
        )
    if "performance_not_measured" in rules:
        return ("find why the champion could not be scored on the current data (the reason above); then ", *rerun, ".")
    if "inflight_job_overdue" in rules:
        return (
            "look at the training job that still runs (",
            Command(command("models list")),
            " names it): fail it (",
            Command(command(f"jobs fail JOB_ID --model {shlex.quote(model_name)} --reason WHY")),
            ") or let it finish; the next run decides again.",
        )
    # the cooldown and the budget fire on every decision they cover: only an escalation because they
    # blocked a retrain the evidence asked for is solved by waiting for them
    harm_blocked = any(r.get("effect") == RETRAIN_BLOCKED_EFFECT for r in fired)
    blocked = [rule for rule in (COOLDOWN, RETRAIN_BUDGET) if rule in rules] if harm_blocked else []
    if blocked:
        times = [t for t in (next_allowed_in(rules[rule].get("detail", "")) for rule in blocked) if t]
        return (
            f"retraining is allowed again at {max(times)}; if the model still needs it then, "
            if times
            else "once retraining is allowed again, if the model still needs it, ",
            *rerun,
            f" (the next alert or {'scheduled run' if scheduled else 'manual trigger'} decides again too). "
            f"To allow it sooner, {allow_sooner(blocked, prefix='decision.')} in models.yaml.",
        )
    if failed and not fired:
        return (
            "read the log of task ",
            Command(failed[0]),
            ", fix what it says, then clear that task or ",
            *rerun,
            ".",
        )
    return ("read the trace (", Command(trace), ") and the drift report, act on what they show, then ", *rerun, ".")


def _run_failed_step(reason: str, last_task: str | None, rerun: tuple[str, ...]) -> tuple[str, ...]:
    """What to do when a DAG run failed for Airflow's ``reason``, naming the task instance Airflow passed."""
    task: tuple[str, ...] = ("task ", Command(last_task)) if last_task else ()
    if reason == "timed_out":
        return (
            "the run hit its DAG's dagrun_timeout",
            *((" while ", *task, " was still running") if task else ()),
            ": read the log of the tasks still running for why they took so long, raise dagrun_timeout if the run "
            "needs longer, then ",
            *rerun,
            ".",
        )
    if reason == "all_tasks_deadlocked":
        return (
            "no task of the run could start (their upstream tasks did not succeed, so their trigger rules cannot be "
            "met",
            *(("; ", *task, " was waiting") if task else ()),
            "): in the run's Grid view find the upstream task that failed or was skipped, fix it, then clear it or ",
            *rerun,
            ".",
        )
    if reason == "task_failure" and task:
        return ("read the log of ", *task, " (it failed), fix what it says, then clear that task or ", *rerun, ".")
    return (
        "look at the run in Airflow's Grid view for the tasks that failed, fix what their logs say, then ",
        *rerun,
        ".",
    )


def _plain_link(url: str, label: str) -> str:
    return f"{label}: {url}"


@dataclass(frozen=True)
class Markup:
    """How a destination marks an escalation's text up; all plain by default (the task log's text).

    :param text: escapes untrusted text.
    :param code: shows a command or an id.
    :param bold: shows a label.
    :param link: a URL with its label.
    """

    text: Callable[[str], str] = str
    code: Callable[[str], str] = str
    bold: Callable[[str], str] = str
    link: Callable[[str, str], str] = _plain_link

    def open_line(self, links: Iterable[tuple[str, str]]) -> str:
        """The line of pages to open (``(label, url)`` pairs)."""
        return f"{self.bold('Open:')} " + " | ".join(self.link(url, label) for label, url in links)


#: The task log's markup: none.
PLAIN = Markup()


def render_escalation(facts: EscalationFacts, markup: Markup = PLAIN, *, icon: str = "") -> str:
    """The one layout of an escalation, for every destination (``markup`` says how it marks text up).

    :param facts: what :func:`escalation_facts` gathered.
    :param icon: put before the first line (Slack's ``:warning: ``).
    """
    text, code, bold = markup.text, markup.code, markup.bold
    decided = f", decided by {text(facts.decided_by)}" if facts.decided_by else ""
    # a failure callback in a DAG that took no decision names none
    run = f", run {code(facts.run_id)}" if facts.run_id else ""
    which = (
        ""
        if (facts.failed or facts.run_failure) and facts.decision_id == "?"
        else f" (decision {text(facts.decision_id)}{decided}{run})"
    )
    lines = [
        f"{icon}Model {bold(text(facts.model_name))} needs a person{which}."
        + (" Nothing was started." if facts.escalated else "")
    ]
    if facts.failed:
        task_id, run_id, error = facts.failed
        where = [f"DAG {code(facts.dag_id)}"] if facts.dag_id else []
        where += [f"try {facts.try_number}"] if facts.try_number is not None else []
        shown = f" ({', '.join(where)})" if where else ""
        lines.append(f"{bold('Failed:')} task {code(task_id)} of run {code(run_id)}{shown}: {text(error)}")
    if facts.run_failure:
        run_id, dag_id, reason, last_task = facts.run_failure
        meaning = RUN_FAILURE_REASONS.get(reason)
        lines.append(
            f"{bold('Run failed:')} run {code(run_id)} of {code(dag_id)}: {text(reason)}"
            + (f" ({text(meaning)})" if meaning else "")
            + (f"; last task: {code(last_task)}" if last_task else "")
        )
    if facts.rationale:
        lines.append(f"{bold('Why:')} {text(facts.rationale)}")
    if facts.drift:
        lines.append(f"{bold('Drift:')} {text(facts.drift)}")
    if facts.rules_fired:
        lines.append(f"{bold('Rules fired:')} {text(', '.join(facts.rules_fired))}")
    if facts.override:
        lines.append(f"{bold('Override:')} {text(facts.override)}")
    lines.append(f"Full trace: {code(facts.trace_command)}")
    if facts.links:
        lines.append(markup.open_line(facts.links))
    step = "".join(code(part) if isinstance(part, Command) else text(part) for part in facts.next_step)
    lines.append(f"{bold('Next:')} {step}")
    return "\n".join(lines)


def escalation_log_text(model_name: str, decision: Mapping[str, Any], **where: Any) -> str:
    """The escalation as plain text for a task log (no Slack markup or escaping), ending with the next step.

    :param model_name: the model.
    :param decision: a stored decision (``StateStore.get_decision``) or at least action/rationale/id.
    :param where: the run and pages it happened in (``dag_id``, ``failed``, ``run_failed``, ``run_id``, ``links``,
        ``scheduled``): see
        :func:`escalation_facts`.
    """
    return render_escalation(escalation_facts(model_name, decision, **where))


#: What differs between two error lines of the same cause, folded to ``#``: Airflow run ids (they hold the run's
#: date or job), timestamps, durations (``30 s``, ``1.5min``), UUIDs, hex ids of 6+ characters holding a digit (a
#: request id, a hash) and runs of 6+ digits. Short numbers (an HTTP code: ``503`` is not ``403``) and identifiers
#: (``feature_12``) are kept: they name the cause.
_VARYING = re.compile(
    r"\b(?:scheduled|manual|backfill|asset_triggered|dataset_triggered|retrain)__\S+"
    r"|\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b"
    r"|\b\d+(?:\.\d+)?\s?(?:ms|us|ns|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|days?)\b"
    r"|\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
    r"|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{6,}\b"
    r"|\d{6,}"
)
_SIGNATURE_TEXT_CHARS = 300


def _same_text(text: Any) -> str:
    """``text`` as a signature compares it: its first line with :data:`_VARYING` (times, durations, ids) replaced by
    ``#``, clipped."""
    line = next(iter(str(text or "").strip().splitlines()), "")
    return _VARYING.sub("#", line)[:_SIGNATURE_TEXT_CHARS]


def escalation_signature(
    decision: Mapping[str, Any],
    *,
    dag_id: str | None,
    failed: tuple[str, str, str] | None = None,
    run_failed: tuple[str, str | None] | None = None,
) -> list[list[str]]:
    """What makes two escalations of a model "the same" (a repeat is threaded, not posted anew), sorted pairs:
    the DAG, and for a task's failure the task and its error's first line with run ids, times, durations and long
    ids as ``#`` (the run's own differ, the cause does not; a new cause, another HTTP code or key, is a new message),
    for a run's failure Airflow's reason and the last task, for a decision the rules that fired with the faults' kinds
    and columns (``["unit_change", "amount"]``), the missing columns and the schema errors; a decision no rule made
    (the LLM's) by its rationale, so an LLM's escalations rarely thread: its wording differs from run to run.

    :param decision: a stored decision (``StateStore.get_decision``) or at least action/rationale/id.
    :param dag_id: the DAG that escalated.
    :param failed: ``(task_id, run_id, error)`` of a task's failure (as :func:`escalation_facts`).
    :param run_failed: ``(reason, last_task_id)`` of a DAG run's failure.
    """
    parts = {("dag", str(dag_id or ""))}
    if failed:
        parts |= {("task", str(failed[0])), ("error", _same_text(failed[2]))}
    elif run_failed:
        parts |= {("run_failed", str(run_failed[0] or "")), ("last_task", str(run_failed[1] or ""))}
    else:
        rules = {str(r.get("rule")) for r in decision.get("rules_fired") or [] if isinstance(r, Mapping)}
        parts |= {("rule", rule) for rule in rules}
        drift = (decision.get("inputs") or {}).get("drift") or {}
        drift = drift if isinstance(drift, Mapping) else {}
        for fault in (drift.get("evidence") or {}).get("faults") or []:
            if isinstance(fault, Mapping):
                parts.add((str(fault.get("kind")), str(fault.get("column"))))
        quality = drift.get("data_quality") or {}
        parts |= {("missing_column", str(column)) for column in quality.get("missing_columns") or []}
        parts |= {("schema_error", _same_text(error)) for error in quality.get("schema_errors") or []}
        if not rules:
            parts.add(("rationale", _same_text(decision.get("rationale"))))
    return [list(part) for part in sorted(parts)]


@dataclass(frozen=True)
class EscalationThread:
    """The Slack thread of an escalation: its first message, where its repeats are replies.

    :param channel: the channel Slack answered with (an id), which the replies go to.
    :param ts: the first message's ``ts``.
    :param started_at: when the first message was posted (naive UTC).
    :param runs: the runs posted in it so far, the first one included.
    :param configured: the channel the escalation was configured with (``#name`` or an id).
    """

    channel: str
    ts: str
    started_at: datetime
    runs: int
    configured: str

    def details(self) -> dict[str, Any]:
        """The thread as the ``escalated`` audit entry's ``details["thread"]`` keeps it."""
        return {
            "channel": self.channel,
            "ts": self.ts,
            "at": self.started_at.isoformat(),
            "runs": self.runs,
            "configured": self.configured,
        }

    @classmethod
    def of(cls, details: Any) -> EscalationThread | None:
        """The thread an audit entry's ``details["thread"]`` names; None when it names none (or not readably)."""
        if not isinstance(details, Mapping):
            return None
        try:
            return cls(
                channel=str(details["channel"]),
                ts=str(details["ts"]),
                started_at=datetime.fromisoformat(str(details["at"])),
                runs=int(details["runs"]),
                configured=str(details["configured"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def repeat_thread(
    previous: Iterable[Mapping[str, Any]],
    signature: list[list[str]],
    channel: str,
    *,
    now: datetime,
    repeat_hours: float,
) -> EscalationThread | None:
    """The thread an escalation with ``signature`` is a repeat in: that of the newest of ``previous`` (the model's
    ``escalated`` audit entries, newest first) with the same signature and a thread in ``channel``, when that
    thread's first message is less than ``repeat_hours`` old; None: post a new message (``repeat_hours`` 0: always).
    Entries of other signatures (two causes alternating) and entries with none (written without a post) are passed
    over.

    :param now: naive UTC, as the thread's ``started_at``.
    """
    if not repeat_hours:
        return None
    for entry in previous:
        details = entry.get("details") or {}
        if not isinstance(details, Mapping) or details.get("signature") != signature:
            continue
        thread = EscalationThread.of(details.get("thread"))
        if thread is None or thread.configured != channel:
            continue
        return thread if now - thread.started_at < timedelta(hours=repeat_hours) else None
    return None


#: The model's newest ``escalated`` entries a repeat is looked for in (its other causes' entries come between).
REPEAT_LOOKBACK = 20


def render_repeat(facts: EscalationFacts, thread: EscalationThread, markup: Markup = PLAIN, *, icon: str = "") -> str:
    """The reply in ``thread`` for a repeat of its escalation: the run, that it is the same (a failure's error line
    shown as this run has it), how many runs since
    the first message; the pages of this run to open. It mentions nobody: a thread's followers are told, the
    channel is not.

    :param facts: this run's :func:`escalation_facts`.
    """
    text, code = markup.text, markup.code
    if facts.failed:
        task_id, run_id, error = facts.failed
        tried = f" (try {facts.try_number})" if facts.try_number is not None else ""
        # this run's line: its times and ids may differ from the first message's
        what = f"Still failing: task {code(task_id)} of run {code(run_id)}{tried}, the same error: {text(error)}"
    elif facts.run_failure:
        run_id, dag_id, reason, _last = facts.run_failure
        what = f"Still failing: run {code(run_id)} of {code(dag_id)}, the same reason ({text(reason)})"
    else:
        decision = f" (decision {text(facts.decision_id)})" if facts.decision_id != "?" else ""
        run = f": run {code(facts.run_id)}" if facts.run_id else ""
        what = f"Still escalating{run}{decision}, same faults"
    since = thread.started_at.strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"{icon}{what}; {thread.runs + 1} runs since {text(since)}."]
    if facts.links:
        lines.append(markup.open_line(facts.links))
    return "\n".join(lines)


#: Retries of an escalation task: a post certainly not posted (Slack unreachable, still rate-limiting) is sent again
#: by them; a post Slack may have posted, or refused for good, fails the task without retries.
ESCALATION_RETRIES = 2
#: The delay before an escalation task's retry: Slack's rate limits and short outages are over by then.
ESCALATION_RETRY_DELAY = timedelta(minutes=1)


def escalation_task_defaults(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """An escalation task's operator arguments ``kwargs`` with :data:`ESCALATION_RETRIES` and
    :data:`ESCALATION_RETRY_DELAY` where neither the arguments nor the ``default_args`` (the DAG's and the task's,
    merged, as Airflow passes them to the operator) set ``retries`` / ``retry_delay``."""
    given = {**(kwargs.get("default_args") or {}), **kwargs}
    defaults = {"retries": ESCALATION_RETRIES, "retry_delay": ESCALATION_RETRY_DELAY}
    return {**{key: value for key, value in defaults.items() if key not in given}, **kwargs}


__all__ = [
    "ESCALATION_REPEAT_HOURS",
    "ESCALATION_RETRIES",
    "ESCALATION_RETRY_DELAY",
    "REPEAT_LOOKBACK",
    "Command",
    "EscalationFacts",
    "EscalationThread",
    "Markup",
    "PLAIN",
    "escalation_facts",
    "escalation_log_text",
    "escalation_signature",
    "escalation_task_defaults",
    "render_escalation",
    "render_repeat",
    "repeat_thread",
]
