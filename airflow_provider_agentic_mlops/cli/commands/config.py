"""``airflow agentic-mlops config check``: the provider's ``[agentic_mlops]`` settings, each read and checked by the
functions the components that use it call, so that a bad value is found before a task, a page or a click fails on
it; and the options Airflow does not know (it ignores them), with the option each was likely meant to be."""

from __future__ import annotations

import argparse
import configparser
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_agentic_mlops.cli.output import logs_to_stderr, print_json, print_rows
from airflow_provider_agentic_mlops.core.settings_check import (
    ENV_PREFIX,
    ERROR,
    SECRET_FORMS,
    SECTION,
    WARNING,
    Finding,
    env_misnamed,
    env_of_section_like,
    misspelt_sections,
    team_values,
    unknown_options,
)

_COLUMNS = ("option", "value", "source", "status")
#: MLflow's own variable, which ``mlflow_tracking_uri`` unset falls back to (``hooks.mlflow.default_tracking_uri``)
MLFLOW_ENV = "MLFLOW_TRACKING_URI"
#: characters of a value the table shows (JSON has it whole)
_CELL = 80


@dataclass
class Setting:
    """One option of the section as this process reads it, and what is wrong with it.

    :param option: the option.
    :param default: its default, as provider info declares it.
    :param sensitive: a secret: its value is never shown, only whether it is set.
    :param source: where its value comes from (:func:`option_source`).
    :param raw: its value as set (``""`` when unset); None for a secret (not read here).
    :param shown: the value in effect, as shown (a secret's: ``(set)`` or ``(unset)``).
    :param findings: what is wrong with it.
    """

    option: str
    default: str
    sensitive: bool
    source: str
    raw: str | None = None
    shown: str | None = None
    findings: list[Finding] = field(default_factory=list)

    def problem(self, message: str, severity: str = ERROR) -> None:
        """Record a finding about this option: ``message`` says what is wrong and the fix."""
        value = None if self.sensitive or not self.raw else self.raw
        self.findings.append(Finding(severity, self.option, message, value=value, source=self.source))

    @property
    def status(self) -> str:
        severities = {finding.severity for finding in self.findings}
        return ERROR if ERROR in severities else WARNING if WARNING in severities else "ok"

    def row(self) -> dict[str, Any]:
        return {"option": self.option, "value": self.shown, "source": self.source, "status": self.status}


def option_source(option: str, *, sensitive: bool) -> str:
    """Where Airflow takes ``[agentic_mlops] option`` from, in its order: ``env AIRFLOW__AGENTIC_MLOPS__<OPTION>``
    (for a secret also its ``_CMD`` and ``_SECRET`` forms), ``airflow.cfg`` (or ``airflow.cfg <option>_cmd``...),
    else ``default``. Read from the environment and the configuration file's own section, as every supported Airflow
    keeps them: nothing is run or fetched (``conf.as_dict(display_source=True)`` would run every ``_cmd`` of every
    section)."""
    from airflow.configuration import conf

    names = [option, *(f"{option}{form}" for form in SECRET_FORMS)] if sensitive else [option]
    for name in names:
        if f"{ENV_PREFIX}{name.upper()}" in os.environ:
            return f"env {ENV_PREFIX}{name.upper()}"
    for name in names:
        if configparser.RawConfigParser.has_option(conf, SECTION, name):
            return "airflow.cfg" if name == option else f"airflow.cfg {name}"
    return "default"


#: the option whose connection could not be looked up (a secrets backend or the metadata DB failing), in this check
_lookup_failed: list[str] = []


def _connection_checked(setting: Setting, check: Callable[[], str | None]) -> None:
    """Run ``check`` (a connection's problem, or None) and record what it says; a lookup that failed is a warning:
    whether the connection exists is unknown (said once; the next options' warnings refer to it)."""
    from airflow_provider_agentic_mlops.hooks.connection import ConnectionLookupFailed

    if _lookup_failed:
        setting.problem(f"not checked: connections cannot be looked up here (see {_lookup_failed[0]})", WARNING)
        return
    try:
        problem = check()
    except ConnectionLookupFailed as err:
        _lookup_failed.append(setting.option)
        setting.problem(f"not checked: {err}", WARNING)
        return
    if problem is not None:
        setting.problem(problem)


def _models_file(setting: Setting) -> None:
    """The models file the CLI reads (the DAG file reads the one this names, else the one beside it): there and
    parsing; its entries are ``models validate``'s to check."""
    from airflow_provider_agentic_mlops.cli.commands.init import default_dags_folder
    from airflow_provider_agentic_mlops.core.config import ConfigError, read_models_file
    from airflow_provider_agentic_mlops.dag_factory import models_file, models_file_origin, relative_models_file_note
    from airflow_provider_agentic_mlops.version_compat import command

    path = models_file(default_dags_folder())
    setting.shown = str(path)
    relative = relative_models_file_note(path)
    if relative:
        setting.problem(relative, WARNING)
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        if setting.raw:
            setting.problem(f"{path} {what}: {models_file_origin(path)}")
        else:
            setting.problem(
                f"the default models file, {path}, {what}: the CLI finds no models there. Write one with "
                f"`{command('init')}`, or set models_file to the file the DAG file reads",
                WARNING,
            )
        return
    try:
        models = read_models_file(path, origin=lambda: models_file_origin(path))
    except ConfigError as err:
        setting.problem(str(err))
        return
    if models.errors:
        setting.problem(
            f"{path}: {models.invalid_entry_count} of {models.total_entries} entries invalid: "
            f"`{command('models validate')}` names each and the fix",
            WARNING,
        )


def _state_conn_id(setting: Setting) -> None:
    from airflow_provider_agentic_mlops.hooks.model_connections import state_connection_problem
    from airflow_provider_agentic_mlops.settings import configured_state_conn_id

    conn_id = setting.shown = configured_state_conn_id()
    _connection_checked(setting, lambda: state_connection_problem(conn_id))


def _mlflow_tracking_uri(setting: Setting) -> None:
    from airflow_provider_agentic_mlops.core.errors import mask_url_secrets
    from airflow_provider_agentic_mlops.hooks.mlflow import default_tracking_uri

    setting.shown = mask_url_secrets(default_tracking_uri())
    if not setting.raw:  # unset or empty (a new airflow.cfg lists it empty): default_tracking_uri's fallbacks
        setting.source = f"env {MLFLOW_ENV}" if os.environ.get(MLFLOW_ENV) else "default (SQLite in $AIRFLOW_HOME)"


def _mlflow_read_conn_id(setting: Setting) -> None:
    from airflow_provider_agentic_mlops.hooks.model_connections import mlflow_connection_problem
    from airflow_provider_agentic_mlops.settings import configured_mlflow_read_conn_id

    conn_id = setting.shown = configured_mlflow_read_conn_id()

    def check() -> str | None:
        from airflow_provider_agentic_mlops.hooks.connection import get_connection_or_none
        from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook

        problem = mlflow_connection_problem(conn_id, "read", f"[{SECTION}] mlflow_read_conn_id (the report pages)")
        if problem is None and get_connection_or_none(conn_id) is not None:
            access = MlflowRegistryHook(conn_id).access
            if access != "read":
                setting.problem(
                    f"MLflow connection {conn_id!r} has access {access!r}, and the report pages only read: give the "
                    'API server a connection of access "read" (its extra {"access": "read"}), so that the web '
                    "process holds no credentials that can train or promote",
                    WARNING,
                )
        return problem

    _connection_checked(setting, check)


def _alerts_conn_id(setting: Setting) -> None:
    """Each connection the alerts endpoint authenticates with: there, with a password (the token) and a scope
    that can be read."""
    from airflow_provider_agentic_mlops.core.alert_scope import (
        ScopeUnreadable,
        connection_extra,
        scope_lists,
        unreadable_scope_message,
    )
    from airflow_provider_agentic_mlops.core.connections import DEFAULT_ALERTS_CONN_ID
    from airflow_provider_agentic_mlops.hooks.connection import ConnectionExtraInvalid, get_connection_or_none
    from airflow_provider_agentic_mlops.settings import configured_alerts_conn_ids

    conn_ids = configured_alerts_conn_ids()
    setting.shown = ", ".join(conn_ids)
    create = "airflow connections add {} --conn-type generic --conn-password <token>"
    for conn_id in conn_ids:

        def check(conn_id: str = conn_id) -> str | None:
            try:
                conn = get_connection_or_none(conn_id)
            except ConnectionExtraInvalid as err:
                return str(err)
            if conn is None:
                if conn_id == DEFAULT_ALERTS_CONN_ID and conn_ids == [DEFAULT_ALERTS_CONN_ID]:
                    setting.problem(
                        f"connection {conn_id!r} does not exist: POST /agentic-mlops/alerts answers 503 to every "
                        f"alert. If monitoring sends alerts, create it: {create.format(conn_id)}",
                        WARNING,
                    )
                    return None
                return (
                    f"connection {conn_id!r} does not exist: no alert authenticates with it. Fix the id, or create "
                    f"it: {create.format(conn_id)}"
                )
            if not conn.password:
                return (
                    f"connection {conn_id!r} has no password: no alert authenticates with it (the password is the "
                    "bearer token; login and password for basic auth). Give it one"
                )
            try:  # as the endpoint reads it for each alert its token authenticates
                scope_lists(connection_extra(conn.extra))
            except ScopeUnreadable as err:
                return f"{unreadable_scope_message(conn_id, str(err))} (the endpoint answers 503)"
            return None

        _connection_checked(setting, check)


def _seconds(default: float) -> Callable[[Setting], None]:
    """The check of a number of seconds read by :func:`~airflow_provider_agentic_mlops.settings.configured_seconds`
    with ``default``, as its component reads it."""

    def check(setting: Setting) -> None:
        from airflow_provider_agentic_mlops.settings import SettingInvalid, configured_seconds

        try:
            setting.shown = f"{configured_seconds(setting.option, default):.10g}"
        except SettingInvalid as err:
            setting.shown = setting.raw
            setting.problem(str(err))

    return check


def _slack_signing_secret(setting: Setting) -> None:
    from airflow_provider_agentic_mlops.settings import SecretUnreadable, configured_signing_secret

    try:
        secret = configured_signing_secret()
    except SecretUnreadable as err:  # its _cmd or _secret form failed: the error names its type, not its text
        setting.shown = "(unreadable)"
        failed = err.failed
        hidden = f"({failed}; not shown: the error repeats the command line and its output, which may be the secret)"
        if setting.source.lower().endswith("_secret"):  # the source names the form that failed
            setting.problem(f"could not be read: the secrets backend's lookup failed {hidden}: check its key")
        else:
            setting.problem(f"could not be read: its command failed {hidden}: run it by hand to see why")
        return
    setting.shown = "(set)" if secret else "(unset)"
    if not secret:
        setting.problem(
            "the Slack interactions endpoint (POST /agentic-mlops/slack/interactions) refuses every click until it is "
            f"set: set it to the Slack app's signing secret ({ENV_PREFIX}SLACK_SIGNING_SECRET, or its _CMD or _SECRET "
            "form). Not needed without Slack buttons, nor with slack-listener (Socket Mode)",
            WARNING,
        )


def _approver_identities(setting: Setting) -> None:
    from airflow_provider_agentic_mlops.approvals import configured_identities
    from airflow_provider_agentic_mlops.core.approval_policy import InvalidIdentities

    setting.shown = setting.raw or None
    try:
        configured_identities()
    except InvalidIdentities as err:
        setting.problem(str(err))


def _checks() -> dict[str, Callable[[Setting], None]]:
    """Each option's check; an option without one is only shown."""
    from airflow_provider_agentic_mlops.core.option_defaults import (
        DEFAULT_ALERT_LOCK_TIMEOUT,
        DEFAULT_MIGRATION_LOCK_TIMEOUT,
    )

    return {
        "models_file": _models_file,
        "state_conn_id": _state_conn_id,
        "mlflow_tracking_uri": _mlflow_tracking_uri,
        "mlflow_read_conn_id": _mlflow_read_conn_id,
        "alerts_conn_id": _alerts_conn_id,
        "alert_lock_timeout": _seconds(DEFAULT_ALERT_LOCK_TIMEOUT),
        "migration_lock_timeout": _seconds(DEFAULT_MIGRATION_LOCK_TIMEOUT),
        "slack_signing_secret": _slack_signing_secret,
        "approver_identities": _approver_identities,
    }


def check_settings() -> tuple[list[Setting], list[Finding]]:
    """Every option provider info declares, read and checked (:class:`Setting`), and the names set in the section
    (airflow.cfg, ``AIRFLOW__AGENTIC_MLOPS__*``) or in a section like it that Airflow does not read, or in a
    per-team one the provider does not read."""
    from airflow.configuration import conf

    from airflow_provider_agentic_mlops.get_provider_info import get_provider_info

    declared = get_provider_info()["config"][SECTION]["options"]
    checks = _checks()
    _lookup_failed.clear()
    settings = []
    for option, spec in declared.items():
        sensitive = bool(spec.get("sensitive"))
        setting = Setting(option, spec.get("default") or "", sensitive, option_source(option, sensitive=sensitive))
        if not sensitive:
            setting.raw = conf.get(SECTION, option, fallback="") or ""
            setting.shown = setting.raw or setting.default or None
        checks.get(option, lambda _: None)(setting)
        settings.append(setting)
    sensitive_options = [option for option, spec in declared.items() if spec.get("sensitive")]
    raw = configparser.RawConfigParser
    in_file = [(name, "airflow.cfg") for name in raw.options(conf, SECTION)] if raw.has_section(conf, SECTION) else []
    in_env = [
        (name, "env")
        for name in sorted(os.environ)
        if name.startswith(ENV_PREFIX) or env_of_section_like(name) or env_misnamed(name)
    ]
    unknown = unknown_options([*in_file, *in_env], options=list(declared), sensitive=sensitive_options)
    teams = team_values(raw.sections(conf), sorted(os.environ))
    return settings, [*misspelt_sections(raw.sections(conf)), *unknown, *teams]


def config_check(args: argparse.Namespace) -> None:
    """Print each ``[agentic_mlops]`` option with its value in effect and its source, then one line per finding;
    exit status 1 when any is an error (0 with warnings only)."""
    from airflow_provider_agentic_mlops.version_compat import command

    with logs_to_stderr():  # the hooks' log lines are not the report
        settings, unknown = check_settings()
    findings = [finding for setting in settings for finding in setting.findings] + unknown
    errors = sum(finding.severity == ERROR for finding in findings)
    warnings = len(findings) - errors
    if args.output == "json":
        print_json(
            {
                "section": SECTION,
                "options": [setting.row() for setting in settings],
                "findings": [finding.as_dict() for finding in findings],
                "errors": errors,
                "warnings": warnings,
            }
        )
    else:
        print_rows([_cut(setting.row()) for setting in settings], _COLUMNS)
        if findings:
            print()
        for finding in findings:
            print(finding.line())
        print(
            f"\n{errors} error{'' if errors == 1 else 's'}, {warnings} warning{'' if warnings == 1 else 's'} "
            f"(the models file's entries and the connections they name: `{command('models validate')}`)"
        )
    if errors:
        raise SystemExit(1)


def _cut(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with a value longer than the table shows cut, ending in ``...``."""
    value = row["value"]
    if isinstance(value, str) and len(value) > _CELL:
        return {**row, "value": value[: _CELL - 3] + "..."}
    return row
