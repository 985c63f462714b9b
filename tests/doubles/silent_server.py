"""A server that accepts TCP connections and never answers: what a network partition, a hung PgBouncer or a
stuck MLflow server look like to a client (the connection opens; no byte ever comes back)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class SilentServer:
    """The listening server: its port, and the connections it accepted (held open, never answered)."""

    port: int
    accepted: list[socket.socket] = field(default_factory=list)

    def wait_for_connections(self, count: int, timeout: float = 30) -> None:
        """Return once ``count`` connections were accepted (clients are waiting on it)."""
        import time

        deadline = time.monotonic() + timeout
        while len(self.accepted) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.accepted)} of {count} connections in {timeout} s")
            time.sleep(0.05)


@contextmanager
def silent_server() -> Iterator[SilentServer]:
    """A :class:`SilentServer` on a free port of 127.0.0.1; on exit every connection is closed (a client
    still waiting then gets an error, so no thread of the test hangs on past it)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1000)
    listener.settimeout(0.05)
    server = SilentServer(port=listener.getsockname()[1])
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                server.accepted.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, name="silent-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for conn in server.accepted:
            conn.close()
