"""One DAG per model, from one ``models.yaml``.

Cheap at parse time: this module imports no pandas, Evidently, MLflow, openai, slack_sdk or
scikit-learn; the operators import those inside ``execute()``.

A bad entry fails its own model's DAG only. Airflow records a parse error per DAG *file*, and an import
error marks every DAG of the file stale (no new runs; running ones, approval waits included, stop being
scheduled); its DAG warnings are of Airflow's own kinds (pools, asset conflicts) only. So the factory does
not raise for a bad entry: the other models' DAGs are built, and the bad model's DAG, tagged
``models-yaml-error`` and titled ``... [models.yaml error]``, shows the error in its description and docs.
It runs the model's last valid entry when one was seen (kept in ``$AIRFLOW_HOME/.cache/agentic_mlops``):
the same tasks, so an in-flight run goes on, but its ``wait_for_approval`` fails with the error (fail closed:
the edit may have revoked an approver the held entry still names); else it is a stand-in with no schedule
whose one task fails with the error.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, BaseOperator, get_parsing_context

from airflow_provider_agentic_mlops.core.config import (
    DAG_ID_PREFIX,
    INVALID_ENTRY_TAG,
    STAND_IN_DESCRIPTION,
    UNNAMED_ENTRY_DAG_PREFIX,
    VARIABLE,
    ConfigError,
    ModelEntries,
    ModelSpec,
    read_models_file,
)
from airflow_provider_agentic_mlops.core.escalation import ESCALATION_RETRIES, ESCALATION_RETRY_DELAY
from airflow_provider_agentic_mlops.liveness import with_callback
from airflow_provider_agentic_mlops.notifications.escalation import EscalationNotifier
from airflow_provider_agentic_mlops.operators.decision import AgentDecisionOperator
from airflow_provider_agentic_mlops.operators.drift import DriftCheckOperator
from airflow_provider_agentic_mlops.operators.escalate import EscalateOperator
from airflow_provider_agentic_mlops.operators.promote import PromoteOperator
from airflow_provider_agentic_mlops.operators.retrain import RetrainOperator
from airflow_provider_agentic_mlops.operators.validate import ValidateOperator
from airflow_provider_agentic_mlops.sensors.approval import ApprovalSensor
from airflow_provider_agentic_mlops.settings import configured_state_conn_id

if TYPE_CHECKING:
    from collections.abc import Iterator

START_DATE = datetime(2026, 1, 1)
_T = TypeVar("_T", bound=BaseOperator)
log = logging.getLogger(__name__)

#: The one task of a stand-in DAG.
INVALID_ENTRY_TASK = "invalid_models_entry"

#: Retries of the tasks that are safe to repeat after a crash or a transient error (worker lost, store or
#: MLflow briefly down). check_drift and validate recompute from the same data; decide records one more
#: decision and branches the same way; wait_for_approval finds its run's request again (no second Slack
#: message); promote completes its recorded intent (core/promotion.py); escalate fails retryably only when its
#: post certainly did not happen (Slack unreachable or still rate-limiting: core.slack.post_again_later), a minute
#: apart (ESCALATION_RETRY_DELAY). Not retried: retrain (a retry would train again and spend the retrain budget; the
#: next run decides afresh).
TASK_RETRIES = {
    "check_drift": 2,
    "decide": 2,
    "retrain": 0,
    "validate": 2,
    "escalate": ESCALATION_RETRIES,
    "wait_for_approval": 2,
    "promote": 3,
}
RETRY_DELAY = timedelta(seconds=30)

#: The tasks whose failure for good is posted to the model's Slack channel (``approval.notify_failures``). Not
#: escalate: it fails when Slack did not take its post, which a second post to the same channel would not change.
FAILURE_NOTICE_TASKS = frozenset(TASK_RETRIES) - {"escalate"}


#: The environment variable of ``[agentic_mlops] models_file``, read first (no configuration parse).
MODELS_FILE_ENV = "AIRFLOW__AGENTIC_MLOPS__MODELS_FILE"


def _models_file_setting() -> tuple[str, str]:
    """The ``[agentic_mlops] models_file`` setting ('' when unset) and where it is set."""
    configured = os.environ.get(MODELS_FILE_ENV)
    if configured is not None:
        return configured, MODELS_FILE_ENV
    from airflow.configuration import conf

    return conf.get("agentic_mlops", "models_file", fallback=""), "[agentic_mlops] models_file"


def models_file(default_dir: str | Path | None = None) -> Path:
    """Where the models file is: ``[agentic_mlops] models_file`` (env ``AIRFLOW__AGENTIC_MLOPS__MODELS_FILE``;
    ``~`` expanded, a relative path taken from the working directory), else ``models.yaml`` in
    ``default_dir``. Always absolute: relative data paths in it are made relative to its folder, which must
    not depend on where each task's process runs."""
    configured, _ = _models_file_setting()
    if configured:
        return Path(os.path.abspath(os.path.expanduser(configured)))
    if default_dir is None:
        raise ValueError("no models file: set [agentic_mlops] models_file or pass the DAG folder")
    return Path(os.path.abspath(default_dir)) / "models.yaml"


def _setting_naming(path: str | Path) -> tuple[str, str] | None:
    """``(value, where it is set)`` of the setting when it names the models file ``path``; None when ``path`` is
    not the one it names (the default location)."""
    configured, where = _models_file_setting()
    if configured and Path(os.path.abspath(os.path.expanduser(configured))) == Path(path):
        return configured, where
    return None


def models_file_setting(path: str | Path) -> str | None:
    """The setting that names the models file ``path`` (``AIRFLOW__AGENTIC_MLOPS__MODELS_FILE`` or
    ``[agentic_mlops] models_file``), or None when ``path`` is not the one it names (the default location)."""
    named = _setting_naming(path)
    return named[1] if named else None


def relative_models_file_note(path: str | Path) -> str | None:
    """When the setting that names the models file ``path`` is a relative path: that it is read against each
    process's working directory (this one's and what it gave), and to set an absolute path; else None.

    :param path: the models file, as :func:`models_file` gave it.
    """
    named = _setting_naming(path)
    if named is None or os.path.isabs(os.path.expanduser(named[0])):
        return None
    configured, where = named
    return (
        f"{where} ({configured!r}) is a relative path, read against the working directory of each process "
        f"(here the working directory {os.getcwd()}, giving {path}); the DAG processor, the workers and the CLI "
        "may each start in another one: set it to an absolute path"
    )


def models_file_origin(path: str | Path, *, default: str = "models.yaml beside the DAG file") -> str:
    """Where the models file ``path`` came from, and what to correct, for an error reading it: the setting
    that names it, else the default (``default`` says which).

    :param path: the models file, as :func:`models_file` gave it.
    :param default: the default location, as the reader has it.
    """
    named = _setting_naming(path)
    if named is not None:
        configured, where = named
        relative = relative_models_file_note(path)
        return f"the path is {where} ({configured!r}): correct it to the path of the models file" + (
            f". {relative}" if relative else ""
        )
    return (
        f"the path is the default, {default}, since [agentic_mlops] models_file ({MODELS_FILE_ENV}) is not set: "
        "create the file there, or set that option to the path of the models file"
    )


class UnsetVariable(ConfigError):
    """A ``$NAME``/``${NAME}`` of the models file unset in the environment of the process reading it: an error
    there, though the DAG processor and the workers, where the DAG file is parsed, may have it set."""


def _expand_vars(value: str, field: str) -> str:
    """``value`` with its ``$NAME``/``${NAME}`` from the environment of the process parsing the DAG file, and
    each ``$$`` as one ``$``. ``AIRFLOW_HOME``, when not in the environment, is Airflow's home as Airflow
    resolves it (``~/airflow``): Airflow does not export its default.

    :param field: the field, for the error (``"drift.current"``).
    :raises UnsetVariable: a variable is not set (kept literally it would become a path under the DAGs folder).
    """
    if "$" not in value:
        return value

    def value_of(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        name = match.group(2) or match.group(3)
        if name in os.environ:
            return os.environ[name]
        if name == "AIRFLOW_HOME":
            from airflow_provider_agentic_mlops.core.paths import airflow_home

            return str(airflow_home())
        raise UnsetVariable(
            f"field {field!r}: variable {match.group(0)} is unset in this environment (in {value!r}); variables "
            "are expanded in the environment of the processes that parse the DAG file (the DAG processor and the "
            "workers): set it there (and where you run `models validate`), or write the value out (a literal $ as $$)"
        )

    return VARIABLE.sub(value_of, value)


def _resolve(value: str | None, base: str, field: str) -> str | None:
    """Expand ``${VARS}`` (:func:`_expand_vars`) and ``~``, and make relative local paths relative to the models
    file. URIs and ``module:function`` references are left alone, and so is a value that starts with a Jinja
    template (``{{ var.value.root }}/x.parquet``: the template gives the whole path); a template inside a path
    (``data/{{ ds }}/x.parquet``) is rendered by the task, in the path made here.

    :param field: the field, for errors (``"drift.current"``).
    """
    if value is None:
        return value
    value = os.path.expanduser(_expand_vars(value, field))
    if "://" in value or ":" in value.split("/")[0] or value.startswith("{{"):
        return value
    return value if os.path.isabs(value) else os.path.join(base, value)


#: File names that make a ``retrain.conf`` string a path (data_io's formats); other strings are passed as written.
_CONF_PATH_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz", ".tsv")


def _resolve_conf(value: Any, base: str, field: str = "retrain.conf") -> Any:
    """A ``retrain.conf`` value for the training DAG / callable: ``${VARS}`` expanded in every string, and only
    clear local paths (starting with ``./``, ``../`` or ``~``, or naming a Parquet/CSV file) resolved like the
    data paths. Names, run names, cron hints and dates are parameters, not paths: passed as written.

    :param field: where ``value`` is, for errors (``"retrain.conf.train_data"``).
    """
    if isinstance(value, dict):
        return {k: _resolve_conf(v, base, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_conf(v, base, f"{field}.{i}") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    expanded = _expand_vars(value, field)
    if expanded.startswith(("./", "../", "~")) or expanded.lower().endswith(_CONF_PATH_SUFFIXES):
        return _resolve(value, base, field)  # expands the variables itself: once, not again in their values
    return expanded


def _same_data(a: str, b: str) -> bool:
    """``a`` and ``b`` name the same file: local paths compared once normalised, URIs as written."""
    if "://" in a or "://" in b:
        return a == b
    return os.path.normpath(a) == os.path.normpath(b)


def _conf_strings(value: Any, field: str) -> Iterator[tuple[str, str]]:
    """``(field, value)`` of every string in a resolved ``retrain.conf``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _conf_strings(item, f"{field}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _conf_strings(item, f"{field}.{i}")
    elif isinstance(value, str):
        yield field, value


def _refuse_training_data_as_validation_data(
    validation_data: str | None, retrain_conf: Any, *, defaulted: bool
) -> None:
    """A challenger validated on the rows it was trained on scores its memory, not its skill: refuse a
    ``validation.data`` that is a path ``retrain.conf`` passes to the training (``drift.current`` by default)."""
    if not validation_data:
        return
    for field, value in _conf_strings(retrain_conf, "retrain.conf"):
        if _same_data(value, validation_data):
            shown = f"{validation_data}, defaulting to drift.current" if defaulted else validation_data
            raise ConfigError(
                f"validation.data ({shown}) is {field} too: the challenger would be validated on its own "
                "training rows and pass on memory. Set validation.data to labelled data held out from "
                "training (e.g. a later window, or a split the training never reads)"
            )


class DataPaths(NamedTuple):
    """A model's data paths and ``retrain.conf`` as its tasks get them (:func:`resolve_data_paths`)."""

    reference: str | None
    current: str | None
    validation: str | None
    retrain_conf: dict[str, Any]


def resolve_data_paths(spec: ModelSpec, base_dir: str | Path) -> DataPaths:
    """``spec``'s data paths and ``retrain.conf`` resolved (variables expanded, relative paths made relative to
    ``base_dir``, the models file's folder), with the checks the entry's schema cannot make: every variable set,
    and validation data that the training is not given. :func:`build_dag` and ``models validate`` both call it,
    so the validator fails the entries the DAG file flags.

    :raises ConfigError: naming the model and the field; :class:`UnsetVariable` for a variable unset here.
    """
    base = os.fspath(base_dir)
    try:
        current = _resolve(spec.drift.current, base, "drift.current")
        paths = DataPaths(
            reference=_resolve(spec.drift.reference, base, "drift.reference"),
            current=current,
            validation=_resolve(spec.validation.data, base, "validation.data") or current,
            retrain_conf=_resolve_conf(spec.retrain.conf, base),
        )
        _refuse_training_data_as_validation_data(
            paths.validation, paths.retrain_conf, defaulted=spec.validation.data is None
        )
    except ConfigError as err:
        raise type(err)(f"model {spec.name!r}: {err}") from None
    return paths


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable``. The factory reads it once per models file and hands
    it to every ApprovalSensor, instead of each sensor reading the configuration (a parse-time cost)."""
    from airflow.configuration import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


def build_dag(
    spec: ModelSpec,
    *,
    base_dir: str | Path = ".",
    deferrable: bool | None = None,
    state_conn_id: str | None = None,
    entry_error: str | None = None,
) -> DAG:
    """The model's loop: check_drift -> decide -> retrain -> validate -> wait_for_approval -> promote.

    :param deferrable: whether ApprovalSensor waits in the triggerer when the model's ``approval.deferrable``
        is unset; None: the sensor reads ``[operators] default_deferrable`` itself.
    :param state_conn_id: the state store of a model that names none; None: ``[agentic_mlops] state_conn_id``.
    :param entry_error: what is wrong with the model's entry in the models file now, when ``spec`` is its last
        valid entry: shown on the DAG (tag, title, description, docs); its tasks are the same.
    """
    store = spec.state_conn_id  # the model's store; else the deployment's, shared with the CLI and the web plugin
    if store is None:
        store = state_conn_id or configured_state_conn_id()
    drift, decision, retrain, validation, approval = (
        spec.drift,
        spec.decision,
        spec.retrain,
        spec.validation,
        spec.approval,
    )
    reference, current, validation_data, retrain_conf = resolve_data_paths(spec, base_dir)
    failure_notice = _failure_notice(spec, store)

    description = f"Agentic MLOps loop of model {spec.name!r}"
    doc_md = (
        f"Drift -> decision -> retrain -> validation -> approval -> promotion for `{spec.name}` "
        f"(MLflow model `{spec.mlflow_model_name}`). Generated from the models file."
    )
    flagged: dict[str, Any] = {}
    if entry_error is not None:
        description = f"{description}, running its last valid entry: the models file entry is invalid: {entry_error}"
        notice = _invalid_entry_doc(
            entry_error,
            "This DAG runs the model's last valid entry until it is fixed, but takes no approval meanwhile: "
            "wait_for_approval fails with this error (the approvers the file states now are unknown).",
        )
        doc_md = f"{notice}\n\n{doc_md}"
        flagged = {"dag_display_name": _flagged_title(spec.dag_id)}
    with DAG(
        dag_id=spec.dag_id,
        schedule=spec.schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,  # one loop per model at a time; the state store guards the retrain too
        # only the DAGs build_dags returns count: one that fails after it is made (a task Airflow refuses)
        # would otherwise be found by the DAG processor anyway, fail its checks, and fail the whole file
        auto_register=False,
        tags=["agentic-mlops", *spec.tags, *([INVALID_ENTRY_TAG] if entry_error is not None else [])],
        default_args={
            "owner": spec.owner,
            "retries": 0,  # per task below: TASK_RETRIES
            "retry_delay": RETRY_DELAY,
            "retry_exponential_backoff": True,
        },
        description=description,
        doc_md=doc_md,
        **flagged,
    ) as dag:
        model = {"model_name": spec.name}
        in_registry = {**model, "registered_model": spec.mlflow_model_name, "state_conn_id": store}

        def task(operator: type[_T], task_id: str, **kwargs: Any) -> _T:
            made = operator(task_id=task_id, retries=TASK_RETRIES[task_id], **kwargs)
            if failure_notice is not None and task_id in FAILURE_NOTICE_TASKS:
                # after the task's own callbacks (the retrain job's closing, the approval's cancelling)
                made.on_failure_callback = with_callback(made.on_failure_callback, failure_notice)
            return made

        check_drift = task(
            DriftCheckOperator,
            "check_drift",
            **model,
            reference=reference,
            current=current,
            settings=drift,  # the drift section is a DriftSettings: every parameter passed through whole
            champion_model_uri=drift.champion_model_uri or f"models:/{spec.mlflow_model_name}@champion",
            # the report is logged to the model's monitoring run: a write, so the training connection
            mlflow_conn_id=retrain.mlflow_conn_id,
        )
        decide = task(
            AgentDecisionOperator,
            "decide",
            **model,
            drift_task_id="check_drift",
            mode=decision.mode,
            llm_conn_id=decision.llm_conn_id,
            state_conn_id=store,
            guardrails=decision,  # validated already; the operator takes the DecisionConfig as is
        )
        no_action = EmptyOperator(task_id="no_action")
        escalate = task(
            EscalateOperator,
            "escalate",
            **model,
            slack_conn_id=approval.slack_conn_id,
            channel=approval.escalation_channel or approval.channel,
            state_conn_id=store,
            repeat_hours=approval.escalation_repeat_hours,
            retry_delay=ESCALATION_RETRY_DELAY,  # Slack's rate limits and short outages over, not the DAG's 30 s
        )
        retrain_task = task(
            RetrainOperator,
            "retrain",
            **in_registry,
            trigger_dag_id=retrain.trigger_dag_id,
            python_callable=retrain.python_callable,
            conf=retrain_conf,
            mlflow_conn_id=retrain.mlflow_conn_id,
            timeout=retrain.timeout_minutes,
            heartbeat_timeout=retrain.heartbeat_timeout_minutes,
            cooldown_hours=decision.cooldown_hours,
            max_retrains=decision.max_retrains,
            budget_window_hours=decision.budget_window_hours,
            pool=retrain.pool or "default_pool",
        )
        validate = task(
            ValidateOperator,
            "validate",
            **in_registry,
            validation_data=validation_data,
            label_column=spec.label_column,
            # the champion's inputs, as the drift check knows them; else (no signature either) every column
            # but the label, the timestamp and the production predictions
            feature_columns=drift.feature_columns,
            exclude_columns=[c for c in (drift.timestamp_column, drift.prediction_column) if c],
            gates=validation,  # a GateSettings: the gate parameters passed through whole
            task=spec.task,
            mlflow_conn_id=retrain.mlflow_conn_id,
        )
        rejected = EmptyOperator(task_id="rejected")
        wait_for_approval = task(
            ApprovalSensor,
            "wait_for_approval",
            **in_registry,
            settings=approval,  # an ApprovalSettings: the gate's parameters passed through whole
            deferrable=deferrable if approval.deferrable is None else approval.deferrable,
            poke_interval=approval.poke_interval_seconds,
            entry_error=entry_error,  # held: no approval under approvers the file may have revoked since
            promote_conn_id=spec.promote_conn_id,  # checked before anyone is asked to approve
        )
        promote = task(PromoteOperator, "promote", **in_registry, mlflow_conn_id=spec.promote_conn_id)

        check_drift >> decide >> [retrain_task, no_action, escalate]
        retrain_task >> validate >> [wait_for_approval, rejected]
        wait_for_approval >> promote
    return dag


def _failure_notice(spec: ModelSpec, store: str | None) -> EscalationNotifier | None:
    """The ``on_failure_callback`` that posts a failed task of ``spec``'s DAG to its Slack channel (where its
    escalations go); None without a channel or with ``approval.notify_failures: false``.

    :param store: the model's state store, where the notice is audited.
    """
    approval = spec.approval
    channel = approval.escalation_channel or approval.channel
    if not channel or not approval.notify_failures:
        return None
    return EscalationNotifier(
        model_name=spec.name,
        channel=channel,
        slack_conn_id=approval.slack_conn_id,
        state_conn_id=store,
        repeat_hours=approval.escalation_repeat_hours,
    )


def _cache_dir() -> Path:
    """Where the parsed models file and each model's last valid entry are kept: Airflow's home, as Airflow
    resolves it (``$AIRFLOW_HOME``, else ``~/airflow``)."""
    from airflow_provider_agentic_mlops.core.paths import airflow_home

    return airflow_home() / ".cache" / "agentic_mlops"


class InvalidModelEntryOperator(BaseOperator):
    """The one task of a model's stand-in DAG, built while the model's models-file entry is invalid and no
    valid entry of it was seen: it fails at once with the entry's error, so a run (manual, or from an alert)
    says what to fix instead of running a loop nobody configured.

    :param error: what is wrong with the entry (the file, the model, the field).
    """

    def __init__(self, *, error: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def execute(self, context: Any) -> None:
        from airflow_provider_agentic_mlops.version_compat import AirflowFailException

        raise AirflowFailException(f"the model's entry in the models file is invalid; fix it:\n{self.error}")


def _flagged_title(dag_id: str) -> str:
    return f"{dag_id} [models.yaml error]"


def _invalid_entry_doc(error: str, consequence: str) -> str:
    return (
        f"**The model's entry in the models file is invalid.** {consequence} Fix the entry: the next parse of "
        f"the DAG file builds the DAG from it.\n\n```text\n{error}\n```"
    )


def _owner_and_tags(entry: dict[str, Any], defaults: dict[str, Any]) -> tuple[str, list[str]]:
    """The owner and tags a bad ``entry`` (``defaults`` merged in) asks for, as far as they are usable: its
    owner when it is text, else the ``defaults``' one, else a valid model's default owner; and its tags that
    are text Airflow takes. So a cluster policy on owners (Airflow's ``task_must_have_owners`` refuses
    ``airflow``) does not fail the DAG file over a stand-in, and a team filtering the DAG list by owner or tag
    sees its broken model."""
    owners = (entry.get("owner"), defaults.get("owner"), ModelSpec.model_fields["owner"].default)
    owner = next(o for o in owners if isinstance(o, str) and o.strip())
    tags = entry.get("tags")
    tags = [tag for tag in tags if isinstance(tag, str) and 0 < len(tag) <= 100] if isinstance(tags, list) else []
    return owner, tags


def _invalid_entry_dag(dag_id: str, error: str, owner: str, tags: list[str]) -> DAG:
    """A stand-in for the DAG of a model whose entry is invalid and has no last valid entry: no schedule,
    one task that fails with ``error``, and the error on the DAG (tag, title, description, docs).

    :param owner: the DAG's owner, and ``tags`` its tags besides the provider's (:func:`_owner_and_tags`).
    """
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        auto_register=False,
        tags=["agentic-mlops", *tags, INVALID_ENTRY_TAG],
        default_args={"owner": owner},
        dag_display_name=_flagged_title(dag_id),
        description=f"{STAND_IN_DESCRIPTION}{error}",
        doc_md=_invalid_entry_doc(error, "This DAG runs nothing until it is fixed; its one task fails with the error."),
    ) as dag:
        InvalidModelEntryOperator(task_id=INVALID_ENTRY_TASK, error=error, retries=0)
    return dag


def _build_error(path: Path, name: str, err: Exception) -> str:
    """A failure to build ``name``'s DAG, naming the file and the model (Airflow's own errors name neither)."""
    if isinstance(err, ConfigError):  # names the model and the field already
        return f"{path}: {err}"
    return f"{path}: model {name!r}: {type(err).__name__}: {err}"


def build_dags(path: str | Path) -> dict[str, DAG]:
    """Every model's DAG, keyed by DAG id.

    A bad entry fails only its own model's DAG (see the module's docstring): built from the model's last
    valid entry and flagged, else a stand-in that fails with the error. Each bad entry is logged, naming the
    model, the field and the expected value (at DEBUG in a task's parse for another DAG: :func:`_entry_error_level`).
    A file that is not YAML or wrong as a whole (empty, no ``models``
    list, ``defaults`` not a mapping) flags every model of its last valid parse the same way (each runs its last
    valid entry). Only a missing file, or one not YAML or wrong as a whole with no model valid before, raises
    :class:`ConfigError`: then no model's entry is known.
    """
    path = Path(os.path.abspath(path))
    models = read_models_file(path, cache_dir=_cache_dir(), origin=lambda: models_file_origin(path))
    relative = relative_models_file_note(path)
    if relative:  # read here, but perhaps not by a process started elsewhere
        log.warning("models file %s: %s", path, relative)
    deferrable, state_conn_id = default_deferrable(), configured_state_conn_id()
    options: dict[str, Any] = {"base_dir": path.parent, "deferrable": deferrable, "state_conn_id": state_conn_id}
    dags = {}
    for spec in models.specs:
        try:
            dags[spec.dag_id] = build_dag(spec, **options)
        except Exception as err:  # noqa: BLE001 - whatever fails one model's DAG must not fail the others
            models.reject(spec.name, _build_error(path, spec.name, err))
    for label, error in models.errors.items():
        dag_id, dag = _dag_of_invalid_entry(models, label, error, options)
        dags[dag_id] = dag
    models.remember_valid()
    return dags


def _entry_error_level(dag_id: str) -> int:
    """The level at which the error of ``dag_id``'s entry is logged: WARNING, but DEBUG when the file is parsed by a
    task of another DAG. A worker parses the whole file to run one DAG's task (Airflow's parsing context then names
    that DAG); with the other models' errors at WARNING, every task log of every model repeated them, each team's
    logs carrying every other team's. The DAG processor's parse (no parsing context) logs each one."""
    running = get_parsing_context().dag_id
    return logging.WARNING if running is None or running == dag_id else logging.DEBUG


def _dag_of_invalid_entry(models: ModelEntries, label: str, error: str, options: dict[str, Any]) -> tuple[str, DAG]:
    """The DAG of the model ``label`` (a name, or ``#<n>`` for an entry without a valid one) whose entry is
    invalid: its last valid entry's, flagged, else a stand-in."""
    # no model name to go by (#<n>): a DAG id no model can have (names start alphanumeric)
    unnamed = label.startswith("#")
    dag_id = f"{UNNAMED_ENTRY_DAG_PREFIX}{label[1:]}" if unnamed else f"{DAG_ID_PREFIX}{label}"
    level = _entry_error_level(dag_id)
    spec = None if unnamed else models.last_valid_spec(label)
    if spec is not None:
        try:
            dag = build_dag(spec, entry_error=error, **options)
        except Exception:  # noqa: BLE001 - it no longer builds (another environment, another version)
            log.log(level, "%s\nIts last valid entry does not build either; its DAG is a stand-in.", error)
        else:
            log.log(level, "%s\nThe DAG %s runs its last valid entry until it is fixed.", error, dag_id)
            return dag_id, dag
    log.log(level, "%s\nThe DAG %s is a stand-in that fails with this error until it is fixed.", error, dag_id)
    owner, tags = _owner_and_tags(models.invalid_entries.get(label, {}), models.defaults)
    return dag_id, _invalid_entry_dag(dag_id, error, owner, tags)


__all__ = [
    "DAG_ID_PREFIX",
    "FAILURE_NOTICE_TASKS",
    "INVALID_ENTRY_TAG",
    "TASK_RETRIES",
    "DataPaths",
    "InvalidModelEntryOperator",
    "UnsetVariable",
    "build_dag",
    "build_dags",
    "models_file",
    "models_file_origin",
    "relative_models_file_note",
    "resolve_data_paths",
]
