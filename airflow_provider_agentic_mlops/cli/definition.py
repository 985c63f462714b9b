"""The ``agentic-mlops`` command group, registered with Airflow through provider info (``cli``).

Command functions are loaded lazily, so ``airflow --help`` stays fast. The same definitions back
the standalone ``agentic-mlops`` console script (:func:`main`), for Airflow versions that do not
read provider CLI commands yet.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command
from rich_argparse import RawDescriptionRichHelpFormatter, RichHelpFormatter

from airflow_provider_agentic_mlops.core.approval_policy import MAX_REASON_CHARS, bad_reason, bad_text
from airflow_provider_agentic_mlops.core.connections import DEFAULT_SLACK_CONN_ID

_CMD = "airflow_provider_agentic_mlops.cli.commands"


def _command(
    name: str, func: str, help_text: str, args: tuple[Arg, ...], examples: Sequence[str] = ()
) -> ActionCommand:
    """An ``ActionCommand`` whose function ``func`` (``module.function`` in ``cli/commands``) loads lazily.

    :param examples: command lines shown at the end of its help (after ``agentic-mlops``), one a line.
    """
    # the demo starts Airflow's own processes, which must keep the process context and MLflow retries Airflow
    # gives them
    wrapped = _wrapped(lazy_load_command(f"{_CMD}.{func}"), server_context=name != "demo")
    return ActionCommand(name=name, help=help_text, func=wrapped, args=args, epilog=_examples(examples))


def _examples(lines: Sequence[str]) -> str | None:
    """The help's epilog for ``lines``: one example a line (a line break each, as rich markup keeps them)."""
    if not lines:
        return None
    return "Examples:\n" + "\n".join(f"  {line}" for line in lines)


_PROCESS_CONTEXT = "_AIRFLOW_PROCESS_CONTEXT"


@contextlib.contextmanager
def _as_server_process() -> Iterator[None]:
    """Run as an Airflow server process meanwhile: Airflow 3.2+ reads connections from its metadata DB only
    in those (API server, scheduler, ``airflow connections get``, which sets the same), so a command run
    from a shell would not see the connections made in the UI and would take the embedded state store."""
    previous = os.environ.get(_PROCESS_CONTEXT)
    os.environ[_PROCESS_CONTEXT] = "server"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_PROCESS_CONTEXT, None)
        else:
            os.environ[_PROCESS_CONTEXT] = previous


def _wrapped(
    func: Callable[[argparse.Namespace], Any], *, server_context: bool = True
) -> Callable[[argparse.Namespace], Any]:
    """``func``, run as an Airflow server process (:func:`_as_server_process`) with a short MLflow retry budget
    (``core.mlflow_http.COMMAND_MLFLOW_HTTP_ENV``) unless ``server_context`` is False, with log handlers on stderr
    (:func:`log_handlers_on_stderr`) and only the document on stdout under ``-o json``, and the errors whose
    message already says what is wrong and how to fix it (:func:`user_error`) shown as that message, not as a
    traceback."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> Any:
        from airflow_provider_agentic_mlops.cli.output import document_only_on_stdout, log_handlers_on_stderr
        from airflow_provider_agentic_mlops.core.mlflow_http import COMMAND_MLFLOW_HTTP_ENV, mlflow_http_budget

        try:
            with contextlib.ExitStack() as context:
                context.enter_context(log_handlers_on_stderr())
                if server_context:
                    context.enter_context(_as_server_process())
                    context.enter_context(mlflow_http_budget(COMMAND_MLFLOW_HTTP_ENV, keep_set=True))
                context.enter_context(document_only_on_stdout(getattr(args, "output", None)))
                return func(args)
        except Exception as err:
            message = user_error(err)
            if message is None:
                raise  # a bug: its traceback says where
            raise SystemExit(f"error: {message}") from None

    return run


def user_error(err: BaseException) -> str | None:
    """What a command shows for ``err`` instead of a traceback, or None for an unexpected error (a bug).

    The provider's errors that say what to do (:class:`AgenticMlopsError`: a state connection that does not
    exist, could not be looked up or is no store, a store down or of a newer provider, a models file missing
    or invalid, a refused MLflow call, bad ``approver_identities``...) are shown as their message. MLflow's
    errors (the registry down, a refused login) come through the MLflow hook, which names the connection, its
    URL and the model: shown as their first line, with what to check when MLflow's request failed (any other
    MLflow error, a model it cannot save, is shown as its first line: the server is not to blame).
    """
    from airflow_provider_agentic_mlops.core.errors import AgenticMlopsError, first_line

    if isinstance(err, AgenticMlopsError):
        return str(err)
    mlflow_exceptions = sys.modules.get("mlflow.exceptions")  # imported only when a command used MLflow
    if mlflow_exceptions is not None and isinstance(err, mlflow_exceptions.MlflowException):
        if not _mlflow_request_failed(err, mlflow_exceptions):
            return first_line(err, 600)
        return (
            f"{first_line(err, 600)}. Check that the MLflow server is up and that the connection's host (the "
            "tracking URI) and credentials are right"
        )
    return None


#: MLflow's error codes of a request refused for its credentials.
_MLFLOW_REFUSED = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED", "CUSTOMER_UNAUTHORIZED"})


def _mlflow_request_failed(err: BaseException, mlflow_exceptions: Any) -> bool:
    """True when ``err`` (or an error it was raised from) is MLflow's request to its server failing: no
    answer (``API request to ... failed``, a ``requests`` error), an error response (``RestException``; the
    MLflow hook re-raises it naming the connection, keeping it as the cause), or refused credentials."""
    from airflow_provider_agentic_mlops.core.errors import error_chain

    requests_exceptions = sys.modules.get("requests.exceptions")
    return any(
        isinstance(current, (mlflow_exceptions.RestException, ConnectionError, TimeoutError))
        or (requests_exceptions is not None and isinstance(current, requests_exceptions.RequestException))
        or "API request to " in str(current)
        or getattr(current, "error_code", None) in _MLFLOW_REFUSED
        for current in error_chain(err)
    )


def _option(section: str, key: str) -> str:
    """An Airflow config option named in help text, ``[section] key``: the bracket escaped, since both
    entry points render help as rich markup (Airflow's formatter, and :func:`main`'s), where an unescaped
    ``[section]`` is read as a style tag and vanishes."""
    return rf"\[{section}] {key}"


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` (to ``high``). Anything else is a usage error
    naming the value and the range, before the command runs (``--limit -1`` would reach the database).

    :param low: the smallest value allowed.
    :param high: the largest, or None for no bound.
    """
    allowed = f"a whole number from {low} to {high}" if high is not None else f"a whole number of {low} or more"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is not allowed: give {allowed}")
        return value

    return parse


def text(value: str) -> str:
    """An argparse ``type`` for a name or text that may be stored or sent: a byte that is not UTF-8 (read by
    Python as a lone surrogate) or a NUL is a usage error naming the option, not a traceback when it is printed
    or stored, nor a mangled name in the audit trail. The error does not repeat the value (it cannot print)."""
    problem = bad_text(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


#: the forms ``--since`` takes, for its help and its error
SINCE_FORMS = (
    "a duration back from now ('7d', '12h', '30min', '1d12h' or ISO 8601 'P7D') or an ISO 8601 date or time, "
    "UTC unless it gives an offset ('2026-11-28', '2026-11-28T09:30', '2026-11-28T09:30+02:00')"
)


def since(value: str) -> datetime:
    """An argparse ``type`` for ``--since``: the UTC time ``value`` names, a duration back from now
    (:func:`~airflow_provider_agentic_mlops.core.durations.parse_duration`, at most its ``MAX_DURATION``) or an
    ISO 8601 date or time (naive: UTC, as the store keeps it). Anything else, a longer duration, or a time before
    year 1 UTC (converting ``0001-01-01T00:00+02:00`` to UTC raises ``OverflowError``, which argparse would not
    report as a usage error), is a usage error naming the value and the forms it takes."""
    from airflow_provider_agentic_mlops.core.durations import DurationTooLong, parse_duration

    try:
        return datetime.now(timezone.utc) - parse_duration(value, field="--since")
    except DurationTooLong as err:
        raise argparse.ArgumentTypeError(f"{err} Give {SINCE_FORMS}") from None
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither a duration nor a time: give {SINCE_FORMS}") from None
    try:
        return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    except OverflowError:
        raise argparse.ArgumentTypeError(f"{value!r} reaches back before year 1: give {SINCE_FORMS}") from None


def older_than(value: str) -> timedelta:
    """An argparse ``type`` for ``db prune --older-than``: a duration
    (:func:`~airflow_provider_agentic_mlops.core.durations.parse_duration`) of at least
    :data:`~airflow_provider_agentic_mlops.core.retention.MIN_AGE`; anything else is a usage error naming the
    value and the fix.

    :param value: the argument as given.
    """
    from airflow_provider_agentic_mlops.core.durations import parse_duration
    from airflow_provider_agentic_mlops.core.retention import MIN_AGE

    try:
        age = parse_duration(value, field="--older-than")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if age < MIN_AGE:
        raise argparse.ArgumentTypeError(
            f"--older-than {value!r} is shorter than the shortest accepted, {MIN_AGE.days}d: a DAG run of the last "
            f"week may still wait on its approval request or its deny; give {MIN_AGE.days}d or more"
        )
    return age


COUNT = whole_number(1)
PORT = whole_number(1, 65535)

ARG_STATE_CONN = Arg(
    ("--state-conn-id",),
    help=f"Connection id of the state store (default: {_option('agentic_mlops', 'state_conn_id')}, else "
    "agentic_mlops_state_default, which absent means SQLite in $AIRFLOW_HOME)",
)
ARG_OUTPUT = Arg(("-o", "--output"), help="Output format", choices=("table", "json"), default="table")
ARG_MODEL_OPT = Arg(
    ("--model",),
    type=text,
    help="Only this model, read from its state store (the model's state_conn_id in the models file) unless "
    "--state-conn-id names one",
)
ARG_LIMIT = Arg(("--limit",), help="At most this many rows (default 20)", type=COUNT, default=20)
ARG_APPROVAL_ID = Arg(("approval_id",), help="Id of the approval request (see `approvals list`)", type=int)
ARG_USER = Arg(
    ("--user",),
    type=text,
    help="A display name shown with your decision; it never counts as an identity (that is your OS login, "
    f"mapped to an Airflow user by {_option('agentic_mlops', 'approver_identities')})",
)


def _reason(value: str) -> str:
    """``--reason``: refused by argparse, before any store is opened, when longer than the store keeps or not
    storable text (:func:`text`)."""
    too_long = bad_reason(value)
    if too_long is not None:
        raise argparse.ArgumentTypeError(too_long)
    return value


ARG_REASON = Arg(
    ("--reason",),
    help=f"Why (at most {MAX_REASON_CHARS} characters); stored in the audit trail",
    type=_reason,
)
ARG_YES = Arg(
    ("-y", "--yes"),
    help="Do not ask for confirmation (needed when not on a terminal: scripts, CI)",
    action="store_true",
)
ARG_STATUS = Arg(
    ("--status",),
    help="Only requests in this status (default: pending)",
    choices=("pending", "approved", "denied", "expired", "cancelled", "superseded", "all"),
    default="pending",
)
ARG_MODELS_FILE = Arg(
    ("--models-file",),
    help=f"models.yaml to read (default: {_option('agentic_mlops', 'models_file')}, else models.yaml in "
    f"{_option('core', 'dags_folder')}, where init writes it beside the DAG file; the DAG file reads the one "
    f"beside it: set {_option('agentic_mlops', 'models_file')} when that is elsewhere)",
)

ARG_DECISION_MODEL = Arg(
    ("--model",),
    type=text,
    help="The decision's model: its state store is the model's state_conn_id in the models file unless "
    "--state-conn-id names one (decision ids are numbered per store); a decision of another model is refused",
)

ARG_REQUEST_MODEL = Arg(
    ("--model",),
    type=text,
    help="The request's model: a request of another model is refused; its state store is the model's "
    "state_conn_id in the models file unless --state-conn-id names one",
)

#: What approve and deny take: the same request, person and store options.
DECIDE_ARGS = (
    ARG_APPROVAL_ID,
    ARG_REQUEST_MODEL,
    ARG_USER,
    ARG_REASON,
    ARG_YES,
    ARG_OUTPUT,
    ARG_STATE_CONN,
    ARG_MODELS_FILE,
)

APPROVALS_COMMANDS = (
    _command(
        "list",
        "approvals.approvals_list",
        "List approval requests",
        (ARG_STATUS, ARG_MODEL_OPT, ARG_OUTPUT, ARG_STATE_CONN, ARG_MODELS_FILE),
    ),
    _command(
        "approve",
        "approvals.approvals_approve",
        "Approve a pending request (same rules as the Slack button; the first decision wins); asks first on a terminal",
        DECIDE_ARGS,
        examples=(
            "airflow agentic-mlops approvals list --model fraud-detector",
            "airflow agentic-mlops approvals approve 12 --model fraud-detector --reason 'metrics checked'",
            "airflow agentic-mlops approvals approve 12 --model fraud-detector --yes   # a script: nothing asked",
        ),
    ),
    _command(
        "deny",
        "approvals.approvals_deny",
        "Deny a pending request; nothing is promoted; asks first on a terminal",
        DECIDE_ARGS,
    ),
)

DECISIONS_COMMANDS = (
    _command(
        "list",
        "decisions.decisions_list",
        "List the agent's decisions, newest first",
        (ARG_MODEL_OPT, ARG_LIMIT, ARG_OUTPUT, ARG_STATE_CONN, ARG_MODELS_FILE),
    ),
    _command(
        "show",
        "decisions.decisions_show",
        "Show one decision's full trace: inputs, rules fired, prompt, answer, tokens, override",
        (
            Arg(("decision_id",), help="Id of the decision", type=int),
            ARG_DECISION_MODEL,
            ARG_OUTPUT,
            ARG_STATE_CONN,
            ARG_MODELS_FILE,
        ),
    ),
)

MODELS_COMMANDS = (
    _command(
        "list",
        "models.models_list",
        "List the configured models with their DAG, champion version, running job and last decision",
        (ARG_MODELS_FILE, ARG_OUTPUT, ARG_STATE_CONN),
    ),
    _command(
        "validate",
        "models.models_validate",
        "Check every entry of the models file (as the DAGs read it); exit 1 naming each invalid one (for CI)",
        (ARG_MODELS_FILE,),
    ),
)

JOBS_COMMANDS = (
    _command(
        "list",
        "jobs.jobs_list",
        "List the retraining jobs, newest first (a stale running one is failed first, as every reader does)",
        (
            ARG_MODEL_OPT,
            Arg(
                ("--status",),
                help="Only jobs in this status (default: all)",
                choices=("running", "succeeded", "failed", "all"),
                default="all",
            ),
            ARG_LIMIT,
            ARG_OUTPUT,
            ARG_STATE_CONN,
            ARG_MODELS_FILE,
        ),
    ),
    _command(
        "fail",
        "jobs.jobs_fail",
        "Fail a running job nobody runs any more, so the model can retrain; recorded in the audit trail with "
        "your OS login and the reason; asks first on a terminal",
        (
            Arg(("job_id",), help="Id of the job (see `jobs list`)", type=int),
            Arg(
                ("--model",),
                type=text,
                help="The job's model: a job of another model is refused; its state store is the model's "
                "state_conn_id in the models file unless --state-conn-id names one",
            ),
            Arg(
                ("--reason",),
                help=f"Why (required, at most {MAX_REASON_CHARS} characters); stored in the job's error and the "
                "audit trail",
                type=_reason,
                required=True,
            ),
            ARG_YES,
            ARG_OUTPUT,
            ARG_STATE_CONN,
            ARG_MODELS_FILE,
        ),
        examples=(
            "airflow agentic-mlops jobs list --model fraud-detector --status running",
            "airflow agentic-mlops jobs fail 7 --model fraud-detector --reason 'worker VM deleted'",
        ),
    ),
)

AUDIT_COMMANDS = (
    _command(
        "list",
        "audit.audit_list",
        "List the audit trail (decisions, escalations, alerts, approvals and votes, promotions, rollbacks, jobs "
        "failed, retrains refused), newest first",
        (
            ARG_MODEL_OPT,
            Arg(
                ("--action",),
                type=text,
                help="Only entries of this action (escalated, alert_refused, approval_vote_approve, rollback, ...; "
                "an action the store never recorded is said on stderr with the ones it has)",
            ),
            Arg(("--since",), type=since, help=f"Only entries written since then: {SINCE_FORMS}"),
            ARG_LIMIT,
            ARG_OUTPUT,
            ARG_STATE_CONN,
            ARG_MODELS_FILE,
        ),
        examples=(
            "airflow agentic-mlops audit list --model fraud-detector --since 7d",
            "airflow agentic-mlops audit list --action escalated --since 2026-11-01 -o json",
        ),
    ),
)

DB_COMMANDS = (
    _command(
        "migrate",
        "db.db_migrate",
        "Migrate the state store's schema to the newest revision (after installing a new provider version)",
        (ARG_STATE_CONN,),
    ),
    _command(
        "downgrade",
        "db.db_downgrade",
        "Downgrade the state store's schema to an older provider version's newest revision, before installing "
        "that version (run it with this version installed); drops what later migrations added; asks first on a "
        "terminal",
        (
            Arg(
                ("--to",),
                metavar="REVISION",
                required=True,
                type=text,
                help="The revision to go back to: the newest migration of the provider version you roll back to",
            ),
            ARG_YES,
            ARG_STATE_CONN,
        ),
        examples=("airflow agentic-mlops db downgrade --to 0005   # then install the release whose head is 0005",),
    ),
    _command(
        "prune",
        "db.db_prune",
        "Delete history older than a duration (at least 7d): decisions (each model's newest, the last day's, and "
        "those an open approval request or a running job refers to, stay), decided approval requests with their "
        "votes and finished promotions (an approved one stays until its promotion completes), "
        "finished jobs (not those the retrain budget still counts); never the audit trail (append-only); asks "
        "first on a terminal",
        (
            Arg(
                ("--older-than",),
                metavar="DURATION",
                required=True,
                type=older_than,
                help="Delete what is older than this ('365d', '26w', 'P180D'; at least 7d, at most 36525d)",
            ),
            Arg(("--dry-run",), action="store_true", help="Only count, per table, what would be deleted"),
            ARG_YES,
            ARG_STATE_CONN,
            ARG_MODELS_FILE,
        ),
        examples=(
            "airflow agentic-mlops db prune --older-than 365d --dry-run",
            "airflow agentic-mlops db prune --older-than 365d --yes   # e.g. from a monthly cron job",
        ),
    ),
)

CONFIG_COMMANDS = (
    _command(
        "check",
        "config.config_check",
        # \[: the help is rich markup, where an unescaped [agentic_mlops] is read as a style tag (see _option)
        r"Check the provider's \[agentic_mlops] settings: each option's value in effect and where it is set, "
        "each value checked as the component reading it checks it (numbers, JSON, the connections named exist, "
        "the models file parses), and options Airflow ignores (misspelt, in airflow.cfg or "
        "AIRFLOW__AGENTIC_MLOPS__*) with the option meant; exit 1 on any error (0 with warnings only)",
        (ARG_OUTPUT,),
        examples=(
            "airflow agentic-mlops config check   # after editing airflow.cfg or the environment",
            "airflow agentic-mlops config check -o json",
        ),
    ),
)

AGENTIC_MLOPS_COMMANDS = (
    GroupCommand(name="config", help="The provider's settings", subcommands=CONFIG_COMMANDS),
    GroupCommand(name="db", help="The provider's state store", subcommands=DB_COMMANDS),
    GroupCommand(name="approvals", help="Approve or deny model promotions", subcommands=APPROVALS_COMMANDS),
    GroupCommand(name="decisions", help="Inspect the agent's decisions", subcommands=DECISIONS_COMMANDS),
    GroupCommand(name="models", help="Models under the agent's care", subcommands=MODELS_COMMANDS),
    GroupCommand(name="jobs", help="Retraining jobs: list them, fail a stuck one", subcommands=JOBS_COMMANDS),
    GroupCommand(name="audit", help="The audit trail: who did what, when", subcommands=AUDIT_COMMANDS),
    _command(
        "rollback",
        "rollback.rollback",
        "Restore a model's previous champion in MLflow (uses the promoting connection). Emits no champion "
        "Asset event: deployment DAGs are not told (use RollbackOperator in a DAG for that)",
        (
            Arg(("model",), help="Model name from models.yaml", type=text),
            Arg(
                ("--registered-model",),
                type=text,
                help="Its MLflow registered model, when the models file does not list the model "
                "(checked against the file when it does)",
            ),
            ARG_MODELS_FILE,
            ARG_USER,
            ARG_REASON,
            ARG_YES,
            Arg(
                ("--mlflow-conn-id",),
                help="Promoting MLflow connection (default: the model's promote_conn_id in the models file, "
                "else agentic_mlops_mlflow_promote)",
            ),
            Arg(
                ("--state-conn-id",),
                help="Connection id of the state store (default: the model's state_conn_id in the models file, "
                f"else {_option('agentic_mlops', 'state_conn_id')})",
            ),
        ),
        examples=(
            "airflow agentic-mlops rollback fraud-detector --reason 'v8 flags every EU payment'",
            "airflow agentic-mlops rollback churn --registered-model churn-prod --yes   # not in the models file",
        ),
    ),
    _command(
        "slack-listener",
        "slack_listener.slack_listener",
        "Handle Slack button clicks over Socket Mode (no public URL needed)",
        (
            Arg(
                ("--slack-conn-id",),
                help=f"Slack connection: its password is the bot token, its extra 'app_token' the app-level token "
                f"(else SLACK_APP_TOKEN) (default: {DEFAULT_SLACK_CONN_ID})",
                default=DEFAULT_SLACK_CONN_ID,
            ),
            ARG_STATE_CONN,
        ),
    ),
    _command(
        "init",
        "init.init",
        "Write the provider's DAG file and a starter models.yaml into the DAGs folder",
        (
            Arg(("--dags-folder",), help=f"Where to write them (default: {_option('core', 'dags_folder')})"),
            Arg(
                ("--force",),
                help="Overwrite the DAG files that differ from the packaged ones; an existing models.yaml is "
                "never overwritten (see --reset-models)",
                action="store_true",
            ),
            Arg(
                ("--reset-models",),
                help="Replace an existing models.yaml with the starter, after saving yours as models.yaml.bak",
                action="store_true",
            ),
        ),
    ),
    _command(
        "demo",
        "demo.demo",
        "Set up the fraud-detector demo in $AIRFLOW_HOME and start Airflow (airflow standalone)",
        (
            Arg(
                ("--no-drift",),
                help="Data of the regime the champion learned from: no drift (the run ends in no_action)",
                action="store_true",
            ),
            Arg(("--no-start",), help="Set up only; do not start Airflow", action="store_true"),
            Arg(
                ("--shift",),
                help="Move the running demo's data on to a new regime (new drift) and trigger a run",
                action="store_true",
            ),
            # default: demo.DEFAULT_PORT; for --shift the port the running demo recorded in its home
            Arg(
                ("--port",),
                help="Port of the Airflow UI (default 8080; with --shift, the running demo's)",
                type=PORT,
                default=None,
            ),
            Arg(("--rows",), help="Rows of generated data per file (default 5000)", type=COUNT, default=5000),
        ),
    ),
)


def get_agentic_mlops_cli_commands() -> list:
    """Entry of provider info ``cli``: ``airflow agentic-mlops ...``."""
    return [
        GroupCommand(
            name="agentic-mlops",
            help="Agentic MLOps: init, config, approvals, decisions, models, jobs, audit, rollback, the demo",
            subcommands=AGENTIC_MLOPS_COMMANDS,
            description="Operate the agentic MLOps provider: check its settings, approve or deny promotions, read the "
            "agent's decision traces and the audit trail, list models, fail a stuck retraining job, roll back a "
            "champion, and run the demo.",
        )
    ]


def _add(subparsers: argparse._SubParsersAction, command: ActionCommand | GroupCommand) -> None:
    parser = subparsers.add_parser(
        command.name,
        help=command.help,
        description=command.description or command.help,
        epilog=getattr(command, "epilog", None),
        # an epilog's examples keep their lines, as Airflow's formatter keeps them
        formatter_class=RawDescriptionRichHelpFormatter if getattr(command, "epilog", None) else RichHelpFormatter,
    )
    if isinstance(command, GroupCommand):
        nested = parser.add_subparsers(dest="subcommand", required=True)
        for sub in command.subcommands:
            _add(nested, sub)
    else:
        for arg in command.args:
            arg.add_to_parser(parser)
        parser.set_defaults(func=command.func)


def build_parser() -> argparse.ArgumentParser:
    """The ``agentic-mlops`` console script's parser: the same commands as ``airflow agentic-mlops``, their
    help rendered by the same rich formatter Airflow uses (so the help text is written once, as rich markup)."""
    parser = argparse.ArgumentParser(
        prog="agentic-mlops",
        description=get_agentic_mlops_cli_commands()[0].description,
        formatter_class=RichHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in AGENTIC_MLOPS_COMMANDS:
        _add(subparsers, command)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """The ``agentic-mlops`` console script: parse ``argv`` (:func:`build_parser`) and run the command."""
    # Before any command speaks: where `airflow agentic-mlops` does not exist (3.1), messages name this script
    from airflow_provider_agentic_mlops import version_compat  # noqa: F401 - it sets core's command prefix

    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
