"""``airflow agentic-mlops models list``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_agentic_mlops.cli.output import logs_to_stderr, print_rows
from airflow_provider_agentic_mlops.core.config import ConfigError, read_models_file
from airflow_provider_agentic_mlops.core.errors import describe
from airflow_provider_agentic_mlops.core.mlflow_faults import classify_mlflow_error
from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

if TYPE_CHECKING:
    from datetime import datetime

    from airflow_provider_agentic_mlops.core.budget import BudgetInputs
    from airflow_provider_agentic_mlops.core.config import ModelSpec
    from airflow_provider_agentic_mlops.core.state import StateStore

log = logging.getLogger(__name__)


#: The table's champion cell when the registry could not be asked (unreachable, refused, misconfigured): not
#: "no champion". In JSON the champion is null and ``champion_error`` says why.
UNKNOWN_CHAMPION = "?"
#: The table's cells read from a model's state store when that store could not be read (no such connection,
#: unreachable). In JSON they are null and ``state_error`` says why.
UNKNOWN_STATE = "?"
_STORE_COLUMNS = ("running_job", "blocked", "last_decision", "pending_approvals", "promotion")
_COLUMNS = ("model", "dag_id", "schedule", "champion", *_STORE_COLUMNS)
#: JSON only: why a row's champion or state-store columns are unknown (null when they are known)
_ERROR_COLUMNS = ("champion_error", "state_error")


def _champion_version(
    registered_model: str, conn_id: str, unreachable: dict[str, str] | None = None
) -> tuple[str | None, str | None]:
    """``(version, None)``, the version None when there is no champion yet; ``(None, error)`` (with a warning
    naming the connection) when the registry could not say.

    :param unreachable: the registries found unreachable or unavailable so far (URI: error), shared by the rows: a
        registry in it is not asked again (each call would wait through MLflow's retries), and one that cannot be
        reached or answers it is busy (HTTP 5xx, 429) is added to it, with one warning naming it. A refused
        connection (401, 403) is not: a permission is per model.
    """
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook

    unreachable = {} if unreachable is None else unreachable
    hook = MlflowRegistryHook(conn_id)
    uri = None
    try:
        uri = hook.registry_uri
        if uri in unreachable:
            return None, unreachable[uri]
        return hook.get_alias_version(registered_model, "champion"), None
    except Exception as err:  # noqa: BLE001 - one model's registry error must not hide the other rows
        fault = classify_mlflow_error(err)  # the MLflow hook's own classifier: the same error, the same verdict
        # a refusal names the permission and the fix at its end: said whole (its detail is bounded)
        error = describe(err, 1000 if fault is not None and fault.kind == "refused" else 200)
        if uri is not None and fault is not None and fault.kind != "refused":
            unreachable[uri] = (
                f"MLflow at {uri} is {fault.kind} (connection {conn_id!r}): {fault.reason}; try again later: {error}"
            )
            log.warning(
                "%s (the champions it keeps are shown as %r and it is not asked again)",
                unreachable[uri],
                UNKNOWN_CHAMPION,
            )
            return None, unreachable[uri]
        log.warning(
            "champion of %s unknown (shown as %r): MLflow connection %r failed: %s",
            registered_model,
            UNKNOWN_CHAMPION,
            conn_id,
            error,
        )
        return None, error


def _as_table_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` as the table shows it: ``?`` in the cells that could not be read (the warnings say why)."""
    shown = dict(row)
    if row.get("champion_error"):
        shown["champion"] = UNKNOWN_CHAMPION
    if row.get("state_error"):
        shown.update(dict.fromkeys(_STORE_COLUMNS, UNKNOWN_STATE))
    return shown


def blocked_reason(
    store: StateStore,
    spec: ModelSpec,
    job: dict[str, Any] | None,
    *,
    inputs: BudgetInputs | None = None,
    now: datetime | None = None,
) -> str | None:
    """Why a retrain of ``spec`` could not start now (a running or overdue job, cooldown, budget), or None.

    :param inputs: the model's budget inputs when already read (:func:`read_budget_inputs_of`); None reads them.
    :param now: the time to judge at (naive UTC); None: now.
    """
    from airflow_provider_agentic_mlops.core.budget import RetrainBudget
    from airflow_provider_agentic_mlops.core.jobs import job_overdue
    from airflow_provider_agentic_mlops.core.state import utcnow

    now = now or utcnow()
    if job is not None:
        overdue = job_overdue(job, now)
        if overdue:
            return f"{overdue}; runs escalate until it ends"
        return f"job {job['id']} running since {job['started_at']:%Y-%m-%d %H:%M} UTC (run {job.get('run_id')})"
    decision = spec.decision
    budget = RetrainBudget(decision.cooldown_hours, decision.max_retrains, decision.budget_window_hours)
    check = budget.check(store, spec.name, now=now) if inputs is None else budget.check_inputs(inputs, now=now)
    return None if check.allowed else check.reason


#: warnings already printed by :func:`cli_models_file` in this process
_warned: set[str] = set()


def cli_models_file(explicit: str | None = None, *, must_exist: bool = False) -> Path:
    """The models file the DAG file reads: ``explicit`` (``--models-file``), else ``[agentic_mlops]
    models_file``, else ``models.yaml`` in ``[core] dags_folder`` (where ``init`` writes it, beside the DAG
    file), wherever the command runs from.

    :param explicit: a path the user gave; used as is (``~`` expanded).
    :param must_exist: an ``explicit`` path that is not a file is a :class:`ConfigError` naming it as given
        (the configured file's own error says which setting to fix, which would mislead here).
    """
    from airflow_provider_agentic_mlops.cli.commands.init import default_dags_folder
    from airflow_provider_agentic_mlops.dag_factory import models_file, relative_models_file_note

    if not explicit:
        path = models_file(default_dags_folder())
        relative = relative_models_file_note(path)
        if relative and relative not in _warned:  # once per command, however often the path is asked
            _warned.add(relative)
            print(f"warning: {relative}", file=sys.stderr)
        return path
    path = Path(explicit).expanduser()
    if must_exist and not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise ConfigError(f"--models-file {str(path)!r} {what}; give the path of the models.yaml the DAGs read")
    return path


def cli_models_file_origin(path: Path) -> str:
    """Where the CLI's models file ``path`` (:func:`cli_models_file` without ``--models-file``) came from,
    and what to correct, for an error reading it."""
    from airflow_provider_agentic_mlops.dag_factory import models_file_origin

    return models_file_origin(path, default="models.yaml in [core] dags_folder")


class _StoreState:
    """What ``models list`` shows of the models of one state store, read set-wise: a few queries for all
    of them, not several per model.

    :param store: the state store.
    :param specs: the models kept in it.
    """

    def __init__(self, store: StateStore, specs: list[ModelSpec]) -> None:
        from airflow_provider_agentic_mlops.approvals import expire_due
        from airflow_provider_agentic_mlops.core.budget import read_budget_inputs_of
        from airflow_provider_agentic_mlops.core.state import PENDING, PROMOTION_IN_PROGRESS, utcnow
        from airflow_provider_agentic_mlops.liveness import job_task_state

        names = [spec.name for spec in specs]
        self.now = utcnow()
        expire_due(store, now=self.now)  # a request past its deadline is not pending (approvals list does the same)
        self.jobs = store.inflight_jobs(names, task_state=job_task_state)  # fails dead jobs first
        self.last = store.last_decisions(names)
        self.pending = store.count_approvals(names, status=PENDING)
        self.promotions: dict[str, list[dict[str, Any]]] = {}
        for promotion in store.list_promotions(status=PROMOTION_IN_PROGRESS, model_names=names):  # newest first
            self.promotions.setdefault(promotion["model_name"], []).append(promotion)
        # the budget only matters for a model without a running job
        idle = {spec.name: spec.decision.budget_window_hours for spec in specs if spec.name not in self.jobs}
        self.budget = read_budget_inputs_of(store, idle, now=self.now)


def models_list(args: argparse.Namespace) -> None:
    with logs_to_stderr():  # the hooks' log lines (the MLflow fallback, a registry's warning) are not the table
        rows = _model_rows(args)
    if args.output == "json":  # each column keeps its type: null where unknown, and the error beside it
        print_rows(rows, [*_COLUMNS, *_ERROR_COLUMNS], args.output)
    else:
        print_rows([_as_table_row(row) for row in rows], _COLUMNS, args.output)


def _model_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One row per model of the models file: champion, running job, why a retrain is blocked, last decision,
    pending approvals, an unfinished promotion."""
    from airflow_provider_agentic_mlops.core.model_history import unfinished_promotions

    path = cli_models_file(args.models_file, must_exist=True)
    models = read_models_file(path, origin=None if args.models_file else lambda: cli_models_file_origin(path))
    for problem in models.errors.values():  # as the DAGs do: a bad entry hides only its own model
        log.warning("not listed, its entry is invalid: %s", problem)
    specs = models.specs
    kept: dict[str | None, list[ModelSpec]] = {}
    for spec in specs:  # the model's own store; None: the deployment's
        kept.setdefault(args.state_conn_id or spec.state_conn_id, []).append(spec)
    stores: dict[str | None, StateStore] = {}
    read: dict[str | None, _StoreState] = {}
    unread: dict[str | None, str] = {}
    for conn_id, of_store in kept.items():
        hook = StateStoreHook(conn_id)
        try:
            stores[conn_id] = hook.get_store()
            read[conn_id] = _StoreState(stores[conn_id], of_store)
        except Exception as err:  # noqa: BLE001 - one store's failure must not hide the other stores' models
            unread[conn_id] = describe(err, 400)
            log.warning(
                "state of %s unknown (shown as %r): state store connection %r failed: %s",
                ", ".join(spec.name for spec in of_store),
                UNKNOWN_STATE,
                hook.state_conn_id,
                unread[conn_id],
            )
    rows = []
    unreachable: dict[str, str] = {}  # registries not asked again (see _champion_version)
    for spec in specs:
        conn_id = args.state_conn_id or spec.state_conn_id
        champion, champion_error = _champion_version(spec.mlflow_model_name, spec.registry_conn_id, unreachable)
        row = {
            "model": spec.name,
            "dag_id": spec.dag_id,
            "schedule": spec.schedule,
            "champion": champion,
            "champion_error": champion_error,
            "state_error": unread.get(conn_id),
        }
        if conn_id not in read:
            rows.append({**row, **dict.fromkeys(_STORE_COLUMNS)})
            continue
        store, state = stores[conn_id], read[conn_id]
        job = state.jobs.get(spec.name)
        last = state.last.get(spec.name)
        rows.append(
            {
                **row,
                "running_job": job["id"] if job else None,
                "blocked": blocked_reason(store, spec, job, inputs=state.budget.get(spec.name), now=state.now),
                "last_decision": f"{last['final_action']} (#{last['id']})" if last else None,
                "pending_approvals": state.pending.get(spec.name, 0),
                "promotion": "; ".join(
                    unfinished_promotions(store, spec.name, promotions=state.promotions.get(spec.name, []))
                )
                or None,
            }
        )
    return rows


def _warn_of_connections(specs: list[ModelSpec]) -> None:
    """A warning on stderr for each connection of ``specs`` that is not there or not usable (a lookup, no service
    called); one note instead when the connections cannot be looked up here (no metadata database)."""
    from airflow_provider_agentic_mlops.hooks.connection import ConnectionLookupFailed
    from airflow_provider_agentic_mlops.hooks.model_connections import model_connection_problems

    with logs_to_stderr():  # the hooks' log lines stay off stdout
        for spec in specs:
            try:
                problems = model_connection_problems(spec)
            except ConnectionLookupFailed as err:
                print(f"warning: the models' connections were not checked: {err}", file=sys.stderr)
                return
            for problem in problems:
                print(f"warning: {problem}", file=sys.stderr)


def models_validate(args: argparse.Namespace) -> None:
    """Validate every entry of the models file as the DAG file does; exit status 1 naming each invalid entry
    (``models list`` only warns of them and lists the rest), so CI can check a change before it is deployed.
    Each connection a valid entry names that this Airflow does not have (or cannot use) is a warning on stderr,
    not an invalid entry: CI may validate the file without the deployment's connections."""
    from airflow_provider_agentic_mlops.dag_factory import UnsetVariable, resolve_data_paths

    path = cli_models_file(args.models_file, must_exist=True)
    models = read_models_file(path, origin=None if args.models_file else lambda: cli_models_file_origin(path))
    unset = 0  # entries refused only for a variable unset here, maybe set where the DAG file is parsed
    for spec in list(models.specs):  # the checks the DAG file makes building each DAG
        try:
            resolve_data_paths(spec, Path(os.path.abspath(path)).parent)
        except ConfigError as err:
            unset += isinstance(err, UnsetVariable)
            models.reject(spec.name, f"{path}: {err}")
    total = len(models.specs) + len(models.errors)
    _warn_of_connections(models.specs)
    if not models.errors:
        print(f"{path}: {total} model{'' if total == 1 else 's'}, all valid")
        return
    for problem in models.errors.values():
        print(f"invalid: {problem}")
    because = (
        f" ({unset} of them only because a variable is unset here: set it as the DAG processor and the workers "
        "have it to check them as the DAG file will)"
        if unset
        else ""
    )
    print(f"{path}: {len(models.errors)} of {total} entries invalid{because}: fix them before deploying the file")
    raise SystemExit(1)
