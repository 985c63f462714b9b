"""Test double: a LOCAL Slack Socket Mode server (not Slack, not a mock object).

Slack's side of Socket Mode on 127.0.0.1 and ephemeral ports, in threads:

- the Slack Web API double (:mod:`tests.doubles.slack_server`) also answers ``apps.connections.open``: to the
  app-level token it was given, the websocket URL below; to another ``xapp-`` token ``invalid_auth``; to any
  other token ``not_allowed_token_type`` (what Slack answers); or the error code set in ``connections_open_error``;
- a websocket server (the ``websockets`` package) that greets each connection with ``hello``, as Slack does,
  sends the envelopes a test gives it (:meth:`SocketModeServer.send`, :func:`envelope`) and records the
  acknowledgements the client sends back.

The provider's listener reaches it with the real ``slack_sdk`` ``SocketModeClient`` and ``WebClient``
(``base_url=double.base_url``). Test infrastructure, not a feature of the provider.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.doubles.slack_server import SlackCall, SlackDouble, SlackServer

#: The app-level token the double accepts unless a test gives another.
APP_TOKEN = "xapp-1-A_DOUBLE-1-double"


@dataclass
class SocketModeDouble(SlackDouble):
    """The Web API double, answering ``apps.connections.open`` too; ``acks`` are the envelope ids acknowledged."""

    app_token: str = APP_TOKEN
    #: when set, ``apps.connections.open`` answers ``{"ok": false, "error": <this>}`` whatever the token
    connections_open_error: str | None = None
    ws_url: str = ""
    acks: list[str] = field(default_factory=list)
    server: SocketModeServer | None = None

    def answer_call(self, call: SlackCall) -> dict[str, Any]:
        if call.method != "apps.connections.open":
            return super().answer_call(call)
        if self.connections_open_error:
            return {"ok": False, "error": self.connections_open_error}
        token = call.token or ""
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        if token != self.app_token:
            return {"ok": False, "error": "invalid_auth"}
        return {"ok": True, "url": f"{self.ws_url}?ticket={uuid.uuid4()}&app_id=A_DOUBLE"}

    def send(self, envelope: dict[str, Any]) -> None:
        """Send ``envelope`` on the newest open websocket."""
        assert self.server is not None
        self.server.send(envelope)

    def wait_acks(self, count: int, timeout: float = 10) -> bool:
        """Whether ``count`` acknowledgements arrived within ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.acks) >= count:
                return True
            time.sleep(0.02)
        return False


class SocketModeServer:
    """Slack's side of the websockets, on an event loop in a daemon thread."""

    def __init__(self, double: SocketModeDouble) -> None:
        self.double = double
        self.connections: list[Any] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, name="socket-mode-double", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the Socket Mode double's websocket server did not start")
        double.server = self

    def _run(self) -> None:
        from websockets.asyncio.server import serve
        from websockets.exceptions import ConnectionClosed

        asyncio.set_event_loop(self._loop)

        async def handle(ws: Any) -> None:
            self.connections.append(ws)
            hello = {"type": "hello", "num_connections": len(self.connections), "connection_info": {"app_id": "A"}}
            await ws.send(json.dumps(hello))
            try:
                async for message in ws:
                    try:
                        data = json.loads(message)
                    except ValueError:
                        continue
                    if isinstance(data, dict) and "envelope_id" in data:
                        self.double.acks.append(data["envelope_id"])
            except ConnectionClosed:  # slack_sdk's client closes its socket without a close frame
                pass
            finally:
                self.connections.remove(ws)

        async def main() -> None:
            async with serve(handle, "127.0.0.1", 0, ping_interval=None) as server:
                port = next(iter(server.sockets)).getsockname()[1]
                self.double.ws_url = f"ws://127.0.0.1:{port}/link/"
                self._stop = self._loop.create_future()
                self._ready.set()
                await self._stop

        self._loop.run_until_complete(main())

    def wait_connected(self, timeout: float = 10) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.connections:
                return True
            time.sleep(0.02)
        return False

    def send(self, envelope: dict[str, Any]) -> None:
        if not self.wait_connected():
            raise AssertionError("no Socket Mode client connected to the double")
        ws = self.connections[-1]
        asyncio.run_coroutine_threadsafe(ws.send(json.dumps(envelope)), self._loop).result(10)

    def close(self) -> None:
        def stop() -> None:
            if self._stop is not None and not self._stop.done():
                self._stop.set_result(None)

        self._loop.call_soon_threadsafe(stop)
        self._thread.join(10)


def envelope(payload: dict[str, Any], envelope_id: str | None = None, *, retry_attempt: int = 0) -> dict[str, Any]:
    """A Socket Mode envelope of an interaction (``type: interactive``), as Slack sends it; a redelivery has
    the same ``envelope_id`` and ``retry_attempt`` 1 or more."""
    return {
        "envelope_id": envelope_id or str(uuid.uuid4()),
        "payload": payload,
        "type": "interactive",
        "accepts_response_payload": False,
        "retry_attempt": retry_attempt,
        "retry_reason": "timeout" if retry_attempt else "",
    }


@pytest.fixture
def socket_mode() -> Iterator[SocketModeDouble]:
    """A running Socket Mode double: ``base_url`` for the WebClient, ``app_token`` for the SocketModeClient."""
    double = SocketModeDouble()
    with SlackServer(double):
        server = SocketModeServer(double)
        try:
            yield double
        finally:
            double.release.set()  # a held Web API call must not outlive the test
            server.close()
