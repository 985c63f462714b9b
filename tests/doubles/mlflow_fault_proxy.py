"""Test double: an HTTP proxy in front of a real MLflow server that answers chosen requests as a failing
MLflow would (a gateway's 503 or 429, MLflow auth's 401 and 403, a dropped connection) and forwards the rest.

The answers are the ones MLflow's server sends (``mlflow.server.auth``: ``Permission denied`` with 403, ``You are
not authenticated...`` with 401), so the client code under test sees exactly what a real deployment shows it.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: status line -> body, as MLflow (auth) or a gateway in front of it answers.
ANSWERS = {
    503: b"Service Unavailable",
    429: b"Too Many Requests",
    403: b"Permission denied",  # mlflow.server.auth.make_forbidden_response
    401: (  # mlflow.server.auth.make_basic_auth_response
        b"You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html"
        b"#authenticating-to-mlflow on how to authenticate."
    ),
}
#: A fault: an HTTP status of :data:`ANSWERS`, ``"down"`` (the connection closed with no answer) or None (forward).
Fault = int | str | None


class MlflowFaultProxy:
    """A proxy to ``target``; :attr:`fault` picks, per request, what to answer instead of forwarding.

    :param target: the MLflow server's URL.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.fault: Callable[[str, str], Fault] = lambda _method, _path: None
        self.faulted: list[str] = []  # "METHOD path" of every request answered with a fault
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = proxy.fault(self.command, self.path)
                if fault is not None:
                    proxy.faulted.append(f"{self.command} {self.path}")
                    if fault == "down":
                        self.close_connection = True
                        return
                    self._answer(int(fault), ANSWERS[int(fault)], "text/html; charset=utf-8")
                    return
                request = urllib.request.Request(proxy.target + self.path, data=body, method=self.command)
                for key, value in self.headers.items():
                    if key.lower() not in ("host", "content-length"):
                        request.add_header(key, value)
                try:
                    with urllib.request.urlopen(request) as response:
                        status, data, kind = response.status, response.read(), response.headers.get("Content-Type")
                except urllib.error.HTTPError as err:
                    status, data, kind = err.code, err.read(), err.headers.get("Content-Type")
                self._answer(status, data, kind or "application/json")

            def _answer(self, status: int, data: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 - http.server's names

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> MlflowFaultProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def mlflow_fault_proxy(target: str) -> Iterator[MlflowFaultProxy]:
    """A running :class:`MlflowFaultProxy` to ``target``, stopped afterwards."""
    proxy = MlflowFaultProxy(target).start()
    try:
        yield proxy
    finally:
        proxy.stop()
