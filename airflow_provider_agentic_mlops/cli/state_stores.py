"""Which state store a CLI command reads: the deployment's, or the one a model keeps its records in.

A model may keep its records in a store of its own (models.yaml ``state_conn_id``), and record ids
(decisions, approval requests) are numbered per store. So the commands that take ``--model`` read that
model's store; without ``--model`` they read the deployment's (``[agentic_mlops] state_conn_id``) and say on
stderr which models keep theirs elsewhere. ``--state-conn-id`` always wins.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow_provider_agentic_mlops.approval_stores import DeclaredStores
    from airflow_provider_agentic_mlops.core.state import StateStore

#: models named in full in a warning about an unknown model; the rest are counted
_SHOWN_MODELS = 10


def declared_stores(args: argparse.Namespace) -> DeclaredStores:
    """The models file's state stores: ``--models-file`` (a :class:`ConfigError` when it is not a file),
    else the configured models file (read on first need; a missing one only leaves every model in the
    deployment's store).

    :param args: the command's arguments (``models_file`` read when present).
    """
    from airflow_provider_agentic_mlops.approval_stores import DeclaredStores
    from airflow_provider_agentic_mlops.cli.commands.models import cli_models_file

    explicit = getattr(args, "models_file", None)
    if explicit:
        return DeclaredStores(cli_models_file(explicit, must_exist=True))
    return DeclaredStores(lambda: cli_models_file(None), log_unreadable=False)  # warn_unknown_model says it


def store_conn_id(args: argparse.Namespace, declared: DeclaredStores) -> str:
    """``--state-conn-id``, else the ``state_conn_id`` the models file gives ``--model``, else the
    deployment's (``[agentic_mlops] state_conn_id``). Every command taking ``--model`` picks its store here,
    so each warns alike of a ``--model`` the models file does not list (:func:`warn_unknown_model`).

    :param args: the command's arguments (``state_conn_id``, ``model``).
    :param declared: the models file's stores (:func:`declared_stores`).
    """
    from airflow_provider_agentic_mlops.settings import configured_state_conn_id

    model = getattr(args, "model", None)
    conn_id = getattr(args, "state_conn_id", None) or (
        (declared.state_conn_id_of(model) if model else None) or configured_state_conn_id()
    )
    warn_unknown_model(args, declared, conn_id)
    return conn_id


def open_store(conn_id: str) -> StateStore:
    """The state store of connection ``conn_id`` (migrated on first use, like every component's)."""
    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    return StateStoreHook(conn_id).get_store()


def models_with_own_store(declared: DeclaredStores, conn_id: str) -> str | None:
    """``"iso (iso_state), ..."``: the models the models file keeps in a store other than ``conn_id``, or
    None when there are none (or the file cannot be read)."""
    others = {model: conn for model, conn in declared.by_model().items() if conn != conn_id}
    return ", ".join(f"{model} ({conn})" for model, conn in sorted(others.items())) or None


def note_other_stores(args: argparse.Namespace, declared: DeclaredStores, conn_id: str, records: str) -> None:
    """When the command chose no store (neither ``--model`` nor ``--state-conn-id``), say on stderr that it
    listed the records of ``conn_id`` only, and which models keep theirs in a store of their own.

    :param records: what was listed, plural (``"requests"``, ``"decisions"``).
    """
    if getattr(args, "state_conn_id", None) or getattr(args, "model", None):
        return
    others = models_with_own_store(declared, conn_id)
    if others:
        print(
            f"Listed: the {records} in state store {conn_id!r}. Models with a store of their own: {others}; "
            "list theirs with --model NAME (or --state-conn-id).",
            file=sys.stderr,
        )


def warn_unknown_model(args: argparse.Namespace, declared: DeclaredStores, conn_id: str) -> None:
    """Warn on stderr when ``--model`` is not in a readable models file: the command then reads ``conn_id``
    (a typo would otherwise list nothing and say nothing). Names the closest model, else the models listed.
    """
    model = getattr(args, "model", None)
    if not model:
        return
    known = declared.by_model()
    if declared.unreadable_setting is not None:  # the default models.yaml absent is fine; a file named is not
        print(f"warning: {declared.unreadable_setting}. Reading state store {conn_id!r}.", file=sys.stderr)
        return
    invalid = declared.invalid_entry(model)
    if invalid is not None:  # the entry is there: the name is no typo
        print(
            f"warning: model {model!r} has an invalid entry in the models file {str(declared.path())!r}: {invalid}\n"
            f"Reading state store {conn_id!r}.",
            file=sys.stderr,
        )
        return
    if not known or model in known:
        return  # no readable models file to check against, or a model it lists
    print(
        f"warning: model {model!r} is not in the models file {str(declared.path())!r} "
        f"({unknown_model_hint(model, known)}); reading state store {conn_id!r}.",
        file=sys.stderr,
    )


def unknown_model_hint(model: str, known: Iterable[str]) -> str:
    """For a model name the models file does not list: ``did you mean 'fraud'?`` (the closest of the ``known``
    names), else the first few of them (``it lists a, b and 90 more``), else ``it lists none``."""
    names = sorted(known)
    closest = difflib.get_close_matches(model, names, n=1)
    if closest:
        return f"did you mean {closest[0]!r}?"
    more = f" and {len(names) - _SHOWN_MODELS} more" if len(names) > _SHOWN_MODELS else ""
    return f"it lists {', '.join(names[:_SHOWN_MODELS]) or 'none'}{more}"


__all__ = [
    "declared_stores",
    "models_with_own_store",
    "note_other_stores",
    "open_store",
    "store_conn_id",
    "unknown_model_hint",
    "warn_unknown_model",
]
