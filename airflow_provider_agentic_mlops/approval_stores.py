"""Which state store an approval request lives in, for the ways of deciding that do not run in its DAG.

A model may keep its records in a store of its own (models.yaml ``state_conn_id``). Request ids are
numbered per store, so "request 1" means something only together with its store: the request keeps its
store's connection id (``details["state_conn_id"]``), its Slack buttons carry it (``"<id>:<conn id>"``),
and the CLI command logged for it names it (``--state-conn-id``, when it is not the deployment's).

The Slack endpoint and the Socket Mode listener open the store a button names only when it is the
deployment's (``[agentic_mlops] state_conn_id``) or one the models file gives a model: never an arbitrary
connection a payload names. The models file is read on first need and again only when a button names a
store not seen yet and the file has changed since (a click on a known store reads no file).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_agentic_mlops.core.errors import describe

if TYPE_CHECKING:
    from airflow_provider_agentic_mlops.core.state import StateStore

log = logging.getLogger(__name__)


class UnservedStore(LookupError):
    """A button names a state store this process does not decide in; the message says what to do."""


def configured_models_file() -> Path:
    """The models file the DAG file reads: ``[agentic_mlops] models_file``, else ``models.yaml`` in
    ``[core] dags_folder``."""
    from airflow_provider_agentic_mlops.cli.commands.init import default_dags_folder
    from airflow_provider_agentic_mlops.dag_factory import models_file

    return models_file(default_dags_folder())


class DeclaredStores:
    """The state connection of each model in the models file (a model that names none: the deployment's), and
    its MLflow registered model (:meth:`registered_model_of`): what the deployment declared, trusted where what
    the DAGs' tasks recorded is not.

    :param path: the models file, or a callable returning it (default: :func:`configured_models_file`).
    :param log_unreadable: log a warning when the models file the setting names cannot be opened (the CLI says
        it on stderr itself, :attr:`unreadable_setting`: its log would go to stdout, into ``-o json``).
    """

    def __init__(self, path: str | Path | Callable[[], Path] | None = None, *, log_unreadable: bool = True) -> None:
        self._path = path
        self._log_unreadable = log_unreadable
        self._lock = threading.Lock()
        self._read_stamp: tuple[str, float] | None = None
        self._by_model: dict[str, str] = {}
        self._registered: dict[str, str] = {}
        self._invalid: dict[str, str] = {}
        self._error: str | None = None
        self._unreadable_setting: str | None = None
        self._unreadable_logged: str | None = None

    def path(self) -> Path:
        if self._path is None:
            return configured_models_file()
        return Path(self._path()) if callable(self._path) else Path(self._path)

    def _refresh(self) -> None:
        """Read the file unless it is unchanged since the last read."""
        from airflow_provider_agentic_mlops.settings import configured_state_conn_id

        path: Path | None = None
        try:
            path = self.path()
            stamp = (str(path), os.stat(path).st_mtime)
        except (OSError, ValueError) as err:
            self._error = f"cannot read the models file: {describe(err)}"
            self._unreadable_setting = None
            setting = _naming_setting(path)
            if setting is not None:  # a file the deployment names: a mistake; the default one absent is not
                unreadable = (
                    f"the models file {str(path)!r} that {setting} names cannot be read: {describe(err)}. Set it to "
                    "the path of the models.yaml the DAGs read"
                )
                relative = _relative_note(path)
                if relative:
                    unreadable += f" ({relative})"
                if self._log_unreadable and unreadable != self._unreadable_logged:  # once per cause, not per click
                    log.warning("%s. Every model's records are taken as in the deployment's state store", unreadable)
                    self._unreadable_logged = unreadable
                self._unreadable_setting = unreadable
            return
        self._unreadable_setting = None
        if stamp == self._read_stamp:
            return
        from airflow_provider_agentic_mlops.core.config import ConfigError, read_models_file

        try:
            models = read_models_file(path)
        except ConfigError as err:
            self._error = describe(err)
            log.warning("the models file %s could not be read for the models' state stores: %s", path, self._error)
            self._read_stamp = stamp
            return
        default = configured_state_conn_id()
        by_model = {spec.name: spec.state_conn_id or default for spec in models.specs}
        # a bad entry hides only its own model, as in the DAGs, and keeps the store it had (its DAG runs its last
        # valid entry: its requests are still decided where they were recorded)
        by_model.update({name: self._by_model[name] for name in models.errors if name in self._by_model})
        registered = {spec.name: spec.mlflow_model_name for spec in models.specs}
        # a bad entry: its registered model as last read, else its name (the default; never what tasks recorded)
        registered.update({name: self._registered.get(name, name) for name in models.errors})
        self._by_model = by_model
        self._registered = registered
        self._invalid = dict(models.errors)
        self._read_stamp = stamp
        self._error = "; ".join(models.errors.values())[:2000] if models.errors else None
        if models.errors:
            log.warning("models file %s: invalid entries, their models' stores as last read: %s", path, self._error)

    def by_model(self, *, reread: bool = False) -> dict[str, str]:
        """Model name -> its state connection id. ``reread``: look at the file again (when it changed)."""
        with self._lock:
            if self._read_stamp is None or reread:
                self._refresh()
            return dict(self._by_model)

    def models_of(self, conn_id: str, *, reread: bool = False) -> list[str]:
        return sorted(name for name, conn in self.by_model(reread=reread).items() if conn == conn_id)

    def state_conn_id_of(self, model_name: str) -> str | None:
        return self.by_model().get(model_name)

    def registered_model_of(self, model_name: str) -> str | None:
        """The MLflow registered model the models file declares for ``model_name`` (its ``registered_model``, else
        its name; an invalid entry: as last read), or None when the file does not declare the model. Re-reads the
        file when it changed."""
        with self._lock:
            self._refresh()
            return self._registered.get(model_name)

    def model_names(self) -> set[str]:
        """Every model the models file names (valid entries, and invalid ones with a usable name: those get a
        DAG too), re-reading the file when it changed; empty when it cannot be read."""
        with self._lock:
            self._refresh()
            return (set(self._by_model) | set(self._invalid)) - {n for n in self._invalid if n.startswith("#")}

    def invalid_entry(self, model_name: str) -> str | None:
        """What is wrong with ``model_name``'s entry in the models file as last read, or None (valid, or absent)."""
        with self._lock:
            if self._read_stamp is None:
                self._refresh()
            return self._invalid.get(model_name)

    @property
    def error(self) -> str | None:
        """Why the models file could not be read at the last attempt, or None."""
        return self._error

    @property
    def unreadable_setting(self) -> str | None:
        """Why the models file that ``[agentic_mlops] models_file`` names could not be opened at the last attempt
        (naming the setting and the path), or None: it was read, or it is the default location (absent is fine)."""
        return self._unreadable_setting


def _relative_note(path: Path) -> str | None:
    """That the setting naming ``path`` is a relative path (read against the working directory), or None."""
    from airflow_provider_agentic_mlops.dag_factory import relative_models_file_note

    return relative_models_file_note(path)


def _naming_setting(path: Path | None) -> str | None:
    """The setting that names the models file ``path`` (None: no path, or the default location)."""
    from airflow_provider_agentic_mlops.dag_factory import models_file_setting

    return None if path is None else models_file_setting(path)


class ApprovalStores:
    """The stores clicks are decided in: the deployment's, and the models file's, opened once each.

    :param default: the deployment's store (or a callable opening it): where a button without a store
        (a message posted before buttons named one) and a button naming ``default_conn_id`` go.
    :param default_conn_id: its connection id (default ``[agentic_mlops] state_conn_id``).
    :param declared: the models file's stores (default: the configured models file).
    :param open_store: opens a declared store by its connection id (default: :class:`StateStoreHook`).
    """

    def __init__(
        self,
        default: StateStore | Callable[[], StateStore],
        *,
        default_conn_id: str | None = None,
        declared: DeclaredStores | None = None,
        open_store: Callable[[str], StateStore] | None = None,
    ) -> None:
        self._default = default
        self._default_conn_id = default_conn_id
        self.declared = declared if declared is not None else DeclaredStores()
        self._open_store = open_store
        self._opened: dict[str, StateStore] = {}
        self._lock = threading.Lock()

    @property
    def default_conn_id(self) -> str:
        if self._default_conn_id is None:
            from airflow_provider_agentic_mlops.settings import configured_state_conn_id

            self._default_conn_id = configured_state_conn_id()
        return self._default_conn_id

    def default(self) -> StateStore:
        return self._default() if callable(self._default) else self._default

    def key(self, conn_id: str | None) -> str:
        """The connection id a button's store stands for (a button without one: the default's)."""
        return conn_id or self.default_conn_id

    def get(self, conn_id: str | None) -> StateStore:
        """The store a button names.

        :raises UnservedStore: ``conn_id`` is neither the deployment's store nor one the models file names.
        """
        if not conn_id or conn_id == self.default_conn_id:
            return self.default()
        store = self._opened.get(conn_id)
        if store is not None:
            return store
        with self._lock:
            store = self._opened.get(conn_id)
            if store is None:
                if not self.declared.models_of(conn_id, reread=True):
                    raise UnservedStore(self.unserved_message(conn_id))
                store = self._opened[conn_id] = self._open(conn_id)
        return store

    def _open(self, conn_id: str) -> StateStore:
        if self._open_store is not None:
            return self._open_store(conn_id)
        from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

        return StateStoreHook(conn_id).get_store()

    def unserved_message(self, conn_id: str) -> str:
        from airflow_provider_agentic_mlops.version_compat import command

        shown = conn_id if len(conn_id) <= 100 else conn_id[:100] + "..."
        why = f" ({self.declared.error})" if self.declared.error else ""
        return (
            f"this request's state store, connection {shown!r}, is not one this Airflow decides approvals in: "
            f"only {self.default_conn_id!r} ([agentic_mlops] state_conn_id) and the state_conn_id of the models "
            f"in the models file{why}. Nothing recorded. Add the model to the models file, or decide with "
            f"`{command(f'approvals approve ID --state-conn-id {shown}')}`."
        )


__all__ = [
    "ApprovalStores",
    "DeclaredStores",
    "UnservedStore",
    "configured_models_file",
]
