"""``airflow agentic-mlops rollback <model>``: restore the previous champion, recorded in the audit trail.

Unlike RollbackOperator it emits no champion Asset event: Airflow records Asset events for the tasks that
produce them, or through its REST API (``POST /api/v2/assets/events``) for a signed-in user; this command is
neither a task nor signed in to the API server, and the provider does not write into Airflow's metadata
DB. So deployment DAGs scheduled on ``agentic-mlops://models/<model>/champion`` are not told; the command
says so and prints the event to create (UI or API), or roll back with a DAG using RollbackOperator.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from airflow_provider_agentic_mlops.cli.output import CommandStopped, logs_to_stderr
from airflow_provider_agentic_mlops.core.connections import DEFAULT_PROMOTE_CONN_ID

if TYPE_CHECKING:
    from airflow_provider_agentic_mlops.core.config import ModelSpec


def _model_entry(
    model: str, registered_model: str | None = None, models_file: str | None = None
) -> tuple[str, ModelSpec | None]:
    """The MLflow name of ``model`` and its models-file entry (None when only ``registered_model`` names it).

    Never guessed: the model's own name may be another model's registered model, and rolling that
    back would move the wrong champion. So a missing models file, or one that does not list
    ``model``, stops the rollback unless ``registered_model`` names it; a file that cannot be read, or
    an invalid entry of ``model``, stops it too. Other models' invalid entries do not: an emergency
    rollback does not wait for another model's typo to be fixed.

    :param registered_model: ``--registered-model``; must agree with the models file when that lists ``model``.
    :param models_file: ``--models-file``; default: the DAGs' (:func:`cli_models_file`).
    """
    from airflow_provider_agentic_mlops.cli.commands.models import cli_models_file
    from airflow_provider_agentic_mlops.cli.state_stores import unknown_model_hint
    from airflow_provider_agentic_mlops.core.config import ConfigError, read_models_file

    stopped = f"rollback of {model!r} stopped, nothing changed"
    name_it = f"or name its MLflow registered model: rollback {model} --registered-model NAME"
    path = cli_models_file(models_file)
    if not path.exists():
        if registered_model:
            return registered_model, None
        raise CommandStopped(
            f"{stopped}: no models file at {path} to look up {model!r}'s MLflow registered model; point "
            f"[agentic_mlops] models_file (or --models-file) at the models.yaml the DAGs read, {name_it}."
        )
    try:
        models = read_models_file(path)
        if model in models.errors:
            raise ConfigError(models.errors[model])
    except ConfigError as err:
        raise CommandStopped(
            f"{stopped}; the models file is broken: {str(err).rstrip('.')}; fix it (or point [agentic_mlops] "
            "models_file at the right one) and run again."
        ) from None  # the error names the file; the traceback would only bury it
    listed = {spec.name: spec for spec in models.specs}
    spec = listed.get(model)
    if spec is None:
        if registered_model:
            return registered_model, None
        raise CommandStopped(
            f"{stopped}: {path} does not list model {model!r} ({unknown_model_hint(model, listed)}); check the "
            f"model name (see `models list`), {name_it}."
        )
    if registered_model and registered_model != spec.mlflow_model_name:
        raise CommandStopped(
            f"{stopped}: {path} says {model!r} is the registered model {spec.mlflow_model_name!r}, "
            f"not {registered_model!r}; drop --registered-model or fix the models file."
        )
    return spec.mlflow_model_name, spec


def rollback(args: argparse.Namespace) -> dict[str, Any]:
    """Restore ``previous_champion`` of ``args.model`` as its champion (asks first unless ``--yes``)."""
    from airflow_provider_agentic_mlops.approvals import configured_identities
    from airflow_provider_agentic_mlops.cli.commands.approvals import os_user
    from airflow_provider_agentic_mlops.cli.output import confirm
    from airflow_provider_agentic_mlops.core.promotion import (
        CHAMPION,
        PREVIOUS_CHAMPION,
        check_rollback_target,
        rollback_champion,
        unfinished_rollback,
    )
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook
    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    # who rolled back is the OS login (mapped to an Airflow user by approver_identities), as for a CLI vote:
    # --user is a display name and $USER/$LOGNAME can say anything, so neither is the audit trail's actor
    display_name = getattr(args, "user", None) or None
    voter = configured_identities().cli(os_user(), display_name=display_name)
    user = voter.person
    registered_model, spec = _model_entry(
        args.model, getattr(args, "registered_model", None), getattr(args, "models_file", None)
    )
    # the model's own connections, as its DAG's promote task and store use them, unless the flags say otherwise
    mlflow_conn_id = getattr(args, "mlflow_conn_id", None) or (spec.promote_conn_id if spec else None)
    state_conn_id = getattr(args, "state_conn_id", None) or (spec.state_conn_id if spec else None)
    # the default promoting connection for a model the models file does not list (--registered-model)
    hook = MlflowRegistryHook(mlflow_conn_id or DEFAULT_PROMOTE_CONN_ID)
    with logs_to_stderr():  # the hooks' log lines (the MLflow fallback, retries) are not the command's output
        current = hook.get_alias_version(registered_model, CHAMPION)
        previous = hook.get_alias_version(registered_model, PREVIOUS_CHAMPION)
        store = StateStoreHook(state_conn_id).get_store()  # None: [agentic_mlops] state_conn_id
        interrupted = unfinished_rollback(store, args.model, current=current, previous=previous)
        exists = interrupted is not None or current is not None or hook.registered_model_exists(registered_model)
    if interrupted is not None:  # an earlier rollback stopped halfway: this one completes it
        current, previous = interrupted["details"]["from_version"], interrupted["details"]["to_version"]
        print(f"Completing the rollback {interrupted['actor']} started at {interrupted['at']:%Y-%m-%d %H:%M} UTC.")
    elif not exists:
        named_by = "--registered-model" if spec is None else f"the models file's entry for {args.model!r}"
        raise CommandStopped(
            f"{args.model}: the registered model {registered_model!r} does not exist in MLflow at "
            f"{hook.registry_uri} (connection {hook.mlflow_conn_id!r}); nothing changed. Check the name "
            f"({named_by}) and that the connection points at the registry the model is in"
        )
    elif previous is None:
        raise CommandStopped(
            f"{args.model}: {registered_model!r} has no {PREVIOUS_CHAMPION!r} version to roll back to "
            f"(champion is v{current})"
            if current
            else f"{args.model}: {registered_model!r} has no champion"
        )
    else:  # refused before the question, not after a "v3 -> v3?" was confirmed
        check_rollback_target(args.model, registered_model, current=current, previous=previous)
    confirm(
        f"Roll back {registered_model}: champion v{current} -> v{previous} as {user}?",
        yes=getattr(args, "yes", False),
        action="roll back",
        cancelled="rollback cancelled; nothing changed",
    )
    with logs_to_stderr():
        result = rollback_champion(  # a PromotionRefused is shown as the other errors: `error: <message>`
            hook,
            store,
            model_name=args.model,
            registered_model=registered_model,
            user=user,
            reason=getattr(args, "reason", None),
            identity={k: v for k, v in voter.details.items() if v},
        )
        url = hook.model_version_url(registered_model, result["version"])
    abandoned = result.get("abandoned_intent")  # an earlier rollback MLflow refused (or that died) before moving
    if abandoned:
        print(
            f"{abandoned['actor']}'s rollback started at {abandoned['at']:%Y-%m-%d %H:%M} UTC moved nothing; it is "
            f"recorded as abandoned, and this rollback as {user}'s own."
        )
    print(
        f"{registered_model}: champion is v{result['version']} again (was v{result['rolled_back_version']}); "
        f"rolled back by {user}"
        + (f" ({display_name})" if display_name and display_name != user else "")
        + "."
        + (f" {url}" if url else "")
    )
    print(asset_event_note(args.model, registered_model, result, user))
    return result


def asset_event_note(model: str, registered_model: str, result: dict[str, Any], user: str) -> str:
    """What the CLI did not do: tell deployment DAGs (see the module docstring), and how to."""
    import json

    from airflow_provider_agentic_mlops.assets import champion_asset_uri, champion_event_extra

    extra = champion_event_extra(model, registered_model, version=result["version"], rollback=True, user=user)
    return (
        f"Deployment DAGs scheduled on {champion_asset_uri(model)} were NOT notified: this command emits no "
        f"Asset event (RollbackOperator, in a DAG, does), so they may still serve v{result['rolled_back_version']}. "
        "To tell them, create an event on that asset: the asset's page in the Airflow UI (Create Event > "
        "Manual) or POST /api/v2/assets/events (its asset_id), with extra "
        f"{json.dumps(extra)}\n"
        "Next time, roll back with a DAG that runs RollbackOperator to send it with the rollback."
    )
