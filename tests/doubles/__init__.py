"""Test doubles: local servers that speak the real protocols (OpenAI, Slack Web API), and a real
MLflow server. They are test infrastructure, not features of the provider."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

#: How often the doubles' HTTP servers check for shutdown (``serve_forever``'s default is 0.5 s, which
#: every test using a double waited out in its teardown).
SHUTDOWN_POLL_S = 0.05


def serving_thread(server: ThreadingHTTPServer, name: str) -> threading.Thread:
    """A daemon thread (not started) that serves ``server`` on daemon request threads until its
    ``shutdown()``, which it notices within :data:`SHUTDOWN_POLL_S`."""
    server.daemon_threads = True
    return threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_S}, name=name, daemon=True
    )
