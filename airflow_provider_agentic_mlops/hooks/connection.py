"""What the provider's hooks share about Airflow connections: an absent connection is None (the
provider then falls back or says what to create), and a bare host becomes a URL."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_agentic_mlops.version_compat import CONNECTION_NOT_FOUND


def get_connection_or_none(conn_id: str) -> Any:
    """The connection, or None when it is not defined (any other failure propagates)."""
    try:
        return BaseHook.get_connection(conn_id)
    except CONNECTION_NOT_FOUND:
        return None


def connection_url(conn: Any, *, default_scheme: str, default: str = "") -> str:
    """The connection's host as a URL: kept when it has a scheme, else ``<schema or default_scheme>://host[:port]``.

    :param conn: the Airflow connection.
    :param default_scheme: scheme when the connection's ``schema`` field is empty (``https``, ``http``).
    :param default: URL when the host is empty; returned as is.
    """
    host = conn.host or ""
    if not host:
        return default
    if "://" in host:
        return host
    return f"{conn.schema or default_scheme}://{host}" + (f":{conn.port}" if conn.port else "")
