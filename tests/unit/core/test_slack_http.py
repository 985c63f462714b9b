"""KeepAliveWebClient against a real local HTTP server that counts its connections."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from airflow_provider_agentic_mlops.core.slack_http import KeepAliveWebClient


class _Server:
    def __init__(self) -> None:
        self.connections = 0
        self.calls: list[tuple[str, dict[str, Any]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def setup(self) -> None:
                server.connections += 1
                super().setup()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                method = self.path.rsplit("/", 1)[-1]
                server.calls.append((method, json.loads(body) if body.startswith(b"{") else {}))
                status, answer = 200, {"ok": True, "method": method}
                if method == "chat.limited":
                    status, answer = 429, {"ok": False, "error": "ratelimited"}
                data = json.dumps(answer).encode()
                content_type = "application/json; charset=utf-8"
                if method == "chat.latin1":  # a charset other than UTF-8, quoted
                    data, content_type = (
                        '{"ok": true, "text": "café"}'.encode("latin-1"),
                        'application/json; Charset="ISO-8859-1"',
                    )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("X-Slack-Req-Id", "r1")
                self.send_header("X-Slack-Req-Id", "r2")
                self.send_header("Content-Length", str(len(data)))
                if method == "chat.closing":
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                if method == "chat.closing":
                    self.close_connection = True

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.http.server_address[1]}/api/"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.http.shutdown()
    s.http.server_close()


def test_calls_from_one_thread_share_one_connection(server: _Server) -> None:
    client = KeepAliveWebClient(token="xoxb-t", base_url=server.base_url, timeout=5)
    for i in range(3):
        response = client.chat_update(channel="C1", ts=f"1.{i}", text="t")
        assert response["ok"] and response["method"] == "chat.update"
    assert server.connections == 1
    assert [args["ts"] for _, args in server.calls] == ["1.0", "1.1", "1.2"]
    plain = WebClient(token="xoxb-t", base_url=server.base_url, timeout=5)
    plain.chat_update(channel="C1", ts="2.0", text="t")
    plain.chat_update(channel="C1", ts="2.1", text="t")
    assert server.connections == 3  # slack_sdk's own client: a connection per call


def test_a_connection_the_server_closes_is_not_reused(server: _Server) -> None:
    client = KeepAliveWebClient(token="xoxb-t", base_url=server.base_url, timeout=5)
    assert client.api_call("chat.closing")["ok"]
    assert client.chat_update(channel="C1", ts="1.0", text="t")["ok"]
    assert server.connections == 2


def test_an_error_status_is_slack_sdks_error_and_the_next_call_works(server: _Server) -> None:
    client = KeepAliveWebClient(token="xoxb-t", base_url=server.base_url, timeout=5)
    with pytest.raises(SlackApiError) as raised:
        client.api_call("chat.limited")
    assert raised.value.response.status_code == 429 and raised.value.response["error"] == "ratelimited"
    assert client.chat_update(channel="C1", ts="1.0", text="t")["ok"]


def test_like_copies_the_settings_of_a_client(server: _Server) -> None:
    original = WebClient(token="xoxb-orig", base_url=server.base_url, timeout=9, headers={"X-Extra": "1"})
    copy = KeepAliveWebClient.like(original, timeout=2)
    assert (copy.token, copy.base_url, copy.timeout) == ("xoxb-orig", server.base_url, 2)
    assert copy.headers["X-Extra"] == "1" and copy.retry_handlers == original.retry_handlers
    assert KeepAliveWebClient.like(original).timeout == 9


def test_a_response_is_decoded_with_its_charset_and_keeps_its_headers(server: _Server) -> None:
    client = KeepAliveWebClient(token="xoxb-t", base_url=server.base_url, timeout=5)
    response = client.api_call("chat.latin1")
    assert response["text"] == "café"
    assert response.headers["X-Slack-Req-Id"] == "r1"  # each header's first value, as slack_sdk's own client
    assert response.headers["Content-Type"] == 'application/json; Charset="ISO-8859-1"'
    own = WebClient(token="xoxb-t", base_url=server.base_url, timeout=5).api_call("chat.latin1")
    assert (own.data, own.headers["X-Slack-Req-Id"]) == (response.data, "r1")
