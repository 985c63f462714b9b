"""``airflow agentic-mlops rollback <model>``: restore the previous champion, recorded in the audit trail."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

log = logging.getLogger(__name__)


def _registered_model(model: str) -> str:
    """The MLflow name of ``model`` from models.yaml.

    With no models file (none configured, or none at the configured path) or a file that does not
    list ``model``, the registered model is named like the model. A file that is there but cannot be
    read or validated stops the rollback: a guessed name could move another model's champion.
    """
    from airflow_provider_agentic_mlops.core.config import ConfigError, load_models
    from airflow_provider_agentic_mlops.dag_factory import models_file

    try:
        path = models_file()
    except ValueError:  # no [agentic_mlops] models_file and no DAG folder to look in
        log.info("no models file configured; using %r as the registered model", model)
        return model
    if not path.exists():
        log.info("no models file at %s; using %r as the registered model", path, model)
        return model
    try:
        specs = load_models(path)
    except ConfigError as err:
        raise SystemExit(
            f"rollback of {model!r} stopped, nothing changed; the models file is broken: {err}\n"
            "Fix it (or point [agentic_mlops] models_file at the right one) and run again."
        ) from None  # the error names the file; the traceback would only bury it
    for spec in specs:
        if spec.name == model:
            return spec.mlflow_model_name
    log.info("%s does not list %r; using %r as the registered model", path, model, model)
    return model


def rollback(args: argparse.Namespace) -> dict[str, Any]:
    """Restore ``previous_champion`` of ``args.model`` as its champion (asks first unless ``--yes``)."""
    from airflow_provider_agentic_mlops.approvals import configured_identities
    from airflow_provider_agentic_mlops.cli.commands.approvals import os_user
    from airflow_provider_agentic_mlops.core.promotion import (
        CHAMPION,
        PREVIOUS_CHAMPION,
        PromotionRefused,
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
    registered_model = _registered_model(args.model)
    hook = MlflowRegistryHook(args.mlflow_conn_id)
    current = hook.get_alias_version(registered_model, CHAMPION)
    previous = hook.get_alias_version(registered_model, PREVIOUS_CHAMPION)
    store = StateStoreHook(args.state_conn_id).get_store()
    interrupted = unfinished_rollback(store, args.model, current=current, previous=previous)
    if interrupted is not None:  # an earlier rollback stopped halfway: this one completes it
        current, previous = interrupted["details"]["from_version"], interrupted["details"]["to_version"]
        print(f"Completing the rollback {interrupted['actor']} started at {interrupted['at']:%Y-%m-%d %H:%M} UTC.")
    elif previous is None:
        raise SystemExit(
            f"{args.model}: {registered_model!r} has no {PREVIOUS_CHAMPION!r} version to roll back to "
            f"(champion is v{current})"
            if current
            else f"{args.model}: {registered_model!r} has no champion"
        )
    if not getattr(args, "yes", False):
        if not sys.stdin.isatty():
            raise SystemExit("refusing to roll back without confirmation: pass --yes when not on a terminal")
        answer = input(f"Roll back {registered_model}: champion v{current} -> v{previous} as {user}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise SystemExit("rollback cancelled; nothing changed")
    try:
        result = rollback_champion(
            hook,
            store,
            model_name=args.model,
            registered_model=registered_model,
            user=user,
            reason=getattr(args, "reason", None),
            identity={k: v for k, v in voter.details.items() if v},
        )
    except PromotionRefused as err:
        raise SystemExit(str(err)) from None
    url = hook.model_version_url(registered_model, result["version"])
    print(
        f"{registered_model}: champion is v{result['version']} again (was v{result['rolled_back_version']}); "
        f"rolled back by {user}"
        + (f" ({display_name})" if display_name and display_name != user else "")
        + "."
        + (f" {url}" if url else "")
    )
    return result
