"""ApprovalTrigger: waits in the triggerer until an approval request needs the sensor again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_agentic_mlops.core.errors import describe


def _as_naive_utc(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.astimezone(timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


class ApprovalTrigger(BaseTrigger):
    """Poll the state store (in a thread, never blocking the triggerer's loop) until the request is
    decided, its deadline passes, or a reminder is due; then fire one event for the sensor.

    The store is reached through the state connection (never a URL in the trigger's kwargs) and never
    migrated here: migrations run in ``airflow agentic-mlops db migrate`` or at first use by a worker or
    the API server, before any request to wait on exists. A dropped connection is retried with backoff
    (the store's reads do that); a longer outage (a PostgreSQL restart or failover, a database refusing
    connections for now: in recovery, not accepting connections, too many clients; see
    :func:`~airflow_provider_agentic_mlops.core.state.is_transient`) is logged and polled through until the
    deadline, so it does not fail the run. So is a lookup of the connection that
    failed (the Execution API, the metadata DB or a secrets backend unreachable, e.g. while the
    triggerer restarts): it is looked up inside the polling loop. Other errors (a missing table, a
    connection that does not exist, a typo in its settings or host name) do fail it.

    Events: ``{"status": "approved"|"denied"|"expired"|"cancelled"|"superseded", ...}`` when decided;
    ``{"status": "due"}`` at the deadline (the sensor expires it and updates the Slack message);
    ``{"status": "remind"}`` when a reminder is due; ``{"status": "error", "message": ...}`` when the
    request vanished.

    :param approval_id: the request to watch.
    :param state_conn_id: connection of the state store (None: ``[agentic_mlops] state_conn_id``).
    :param expires_at: the request's deadline (ISO 8601, UTC).
    :param remind_at: when the next reminder is due (ISO 8601, UTC), or None.
    :param poll_interval: seconds between two looks at the store.
    """

    def __init__(
        self,
        approval_id: int,
        state_conn_id: str | None,
        expires_at: str,
        remind_at: str | None = None,
        poll_interval: float = 30.0,
    ) -> None:
        super().__init__()
        self.approval_id = int(approval_id)
        self.state_conn_id = state_conn_id
        self.expires_at = expires_at
        self.remind_at = remind_at
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "approval_id": self.approval_id,
                "state_conn_id": self.state_conn_id,
                "expires_at": self.expires_at,
                "remind_at": self.remind_at,
                "poll_interval": self.poll_interval,
            },
        )

    async def _store(self) -> Any:
        """The store behind the connection (looked up the way triggers must: off the event loop)."""
        from asgiref.sync import sync_to_async

        from airflow_provider_agentic_mlops.core.state import StateStore
        from airflow_provider_agentic_mlops.hooks.state import resolve_state_url

        url = await sync_to_async(resolve_state_url)(self.state_conn_id)
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = StateStore(url, migrate=False)
        return store

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_agentic_mlops.core.state import PENDING, is_transient, utcnow
        from airflow_provider_agentic_mlops.hooks.connection import ConnectionLookupFailed

        expires_at = _as_naive_utc(self.expires_at)
        remind_at = _as_naive_utc(self.remind_at)
        store = None
        while True:
            try:
                if store is None:  # in the loop: a lookup that fails at (re)start is polled through too
                    store = await self._store()
                approval = await asyncio.to_thread(store.get_approval, self.approval_id)
            except Exception as err:
                if not (isinstance(err, ConnectionLookupFailed) or is_transient(err)):
                    raise
                now = utcnow()
                if expires_at is not None and now >= expires_at:  # the sensor decides what the deadline means
                    yield TriggerEvent({"status": "due", "approval_id": self.approval_id})
                    return
                self.log.warning(
                    "%s while waiting on approval %s (%s); polling again in %ss until %s",
                    "State store unreachable" if store is not None else "State-store connection lookup failed",
                    self.approval_id,
                    err if isinstance(err, ConnectionLookupFailed) else describe(err),
                    self.poll_interval,
                    self.expires_at,
                )
                await asyncio.sleep(self.poll_interval)
                continue
            if approval is None:
                yield TriggerEvent(
                    {
                        "status": "error",
                        "approval_id": self.approval_id,
                        "message": f"approval {self.approval_id} no longer exists in the state store",
                    }
                )
                return
            if approval["status"] != PENDING:
                yield TriggerEvent(
                    {
                        "status": approval["status"],
                        "approval_id": self.approval_id,
                        "decided_by": approval.get("decided_by"),
                    }
                )
                return
            now = utcnow()
            if expires_at is not None and now >= expires_at:
                yield TriggerEvent({"status": "due", "approval_id": self.approval_id})
                return
            if remind_at is not None and now >= remind_at:
                yield TriggerEvent({"status": "remind", "approval_id": self.approval_id})
                return
            wait = self.poll_interval
            for moment in (expires_at, remind_at):
                if moment is not None:
                    wait = min(wait, max((moment - now).total_seconds(), 0.0))
            await asyncio.sleep(wait)


_stores: dict[str, Any] = {}
