"""The state store as an Airflow hook: a connection id -> a migrated :class:`StateStore`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from airflow_provider_agentic_mlops.core.state import StateStore

_stores: dict[str, StateStore] = {}


def resolve_state_url(conn_id: str | None) -> str:
    """URL of the state store behind ``conn_id``; SQLite under $AIRFLOW_HOME when it does not exist.

    A connection gives the URL in its ``url`` extra, or as a postgres/sqlite URI
    (``postgresql://user:pass@host:5432/db``).
    """
    if conn_id:
        conn = _get_connection_or_none(conn_id)
        if conn is not None:
            extra = conn.extra_dejson or {}
            if extra.get("url"):
                return str(extra["url"])
            if conn.conn_type in ("postgres", "postgresql"):
                uri = conn.get_uri().split("?", 1)[0]
                return "postgresql+psycopg2://" + uri.split("://", 1)[1]
            if conn.host and "://" in conn.host:
                return conn.host
            raise ValueError(
                f"connection {conn_id!r} (type {conn.conn_type!r}) has no state-store URL: set its extra "
                '{"url": "postgresql+psycopg2://user:pass@host:5432/db"} or make it a postgres connection'
            )
    from airflow_provider_agentic_mlops.core.state import default_sqlite_url

    return default_sqlite_url(os.environ.get("AIRFLOW_HOME"))


def _get_connection_or_none(conn_id: str) -> Any:
    try:
        return BaseHook.get_connection(conn_id)
    except Exception as err:  # AirflowNotFoundException, and the task SDK's own not-found error
        if (
            "isn't defined" in str(err)
            or "not found" in str(err).lower()
            or type(err).__name__.endswith("NotFoundException")
        ):
            return None
        raise


class StateStoreHook(BaseHook):
    """Gives operators, sensors, the CLI and the plugin the provider's state store.

    :param state_conn_id: connection of the store (type ``agentic_mlops_state`` or ``postgres``).
        When it does not exist the store is SQLite at ``$AIRFLOW_HOME/agentic_mlops.db``.
    """

    conn_name_attr = "state_conn_id"
    default_conn_name = "agentic_mlops_state_default"
    conn_type = "agentic_mlops_state"
    hook_name = "Agentic MLOps state store"

    def __init__(self, state_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.state_conn_id = state_conn_id

    def get_conn(self) -> StateStore:
        return self.get_store()

    def get_store(self) -> StateStore:
        """The store, migrated on first use and shared by everything in this process."""
        from airflow_provider_agentic_mlops.core.state import StateStore

        url = resolve_state_url(self.state_conn_id)
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = StateStore(url)
        return store
