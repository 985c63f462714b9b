"""TEST DOUBLE: a local OpenAI-compatible chat-completions server, scripted per test.

Not a mock of the ``openai`` library: a real HTTP server on ``127.0.0.1`` (ephemeral port, in a
thread) that the real ``openai`` client talks to over a real socket. It serves
``POST /v1/chat/completions`` (and ``/chat/completions``) and answers from a queue of scripted
responses, one per request (``GET /v1/models`` lists ``double-model``, or answers
:attr:`OpenAIDouble.models_response` when a test sets it):

* :meth:`OpenAIDouble.answer` - a final JSON answer (what ``response_format`` json_schema asks for);
* :meth:`OpenAIDouble.tool_call` - an assistant message with tool calls;
* :meth:`OpenAIDouble.http_error` - HTTP 500/429/401 with an OpenAI-shaped error body;
* :meth:`OpenAIDouble.content` - any raw content (invalid JSON, out-of-enum actions);
* :meth:`OpenAIDouble.refusal` - a refusal message;
* ``delay=`` on any of them - sleep before answering (client timeouts); ``trickle=`` on a
  :class:`ScriptedResponse` - keep-alive whitespace, a byte every 0.2 s, before the body.

Every request received is recorded (path, headers, JSON body) in :attr:`OpenAIDouble.requests`.
When the queue is empty the server answers HTTP 500 "no scripted response left", so a test that
did not expect a request sees it fail.

Use the ``openai_double`` pytest fixture (register this module as a pytest plugin, or import the
fixture into a conftest).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.doubles import serving_thread


@dataclass
class ScriptedResponse:
    """One scripted HTTP response of the double."""

    status: int = 200
    body: dict[str, Any] | None = None
    raw_body: bytes | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float = 0.0  # seconds of keep-alive whitespace, a byte every 0.2 s, before the body


@dataclass
class RecordedRequest:
    """One request the double received (header names lower-cased)."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    query: str = ""  # the query string, without the "?"


class OpenAIDouble:
    """TEST DOUBLE of an OpenAI-compatible server (see the module docstring).

    :param api_key: the bearer token the server expects; requests with another get HTTP 401.
    """

    def __init__(self, api_key: str = "sk-test-double") -> None:
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self._queue: deque[ScriptedResponse] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0
        #: What ``GET /v1/models`` answers (after the key is checked); None: the one model, ``double-model``.
        self.models_response: ScriptedResponse | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> OpenAIDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                double._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                if self.path.split("?", 1)[0] not in ("/v1/models", "/models"):
                    double._send(self, ScriptedResponse(status=404, body=_error("not found in the test double", 404)))
                elif self.headers.get("Authorization") != f"Bearer {double.api_key}":
                    double._send(self, ScriptedResponse(status=401, body=_error("invalid api key (test double)", 401)))
                elif double.models_response is not None:
                    double._send(self, double.models_response)
                else:  # what LLMHook.test_connection lists
                    models = [{"id": "double-model", "object": "model", "created": 0, "owned_by": "test-double"}]
                    double._send(self, ScriptedResponse(status=200, body={"object": "list", "data": models}))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = serving_thread(self._server, "openai-double")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the double first"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def connection_json(self, **extra: Any) -> str:
        """The connection in Airflow's JSON form (for ``AIRFLOW_CONN_<ID>``) pointing at this double."""
        return json.dumps(
            {
                "conn_type": "agentic_mlops_llm",
                "host": self.base_url,
                "password": self.api_key,
                "extra": {"model": "double-model", "retry_backoff_seconds": 0.01, **extra},
            }
        )

    # -- scripting ---------------------------------------------------------------------------------

    def _push(self, response: ScriptedResponse, times: int = 1) -> OpenAIDouble:
        with self._lock:
            for _ in range(times):
                self._queue.append(response)
        return self

    def answer(
        self,
        action: str,
        *,
        rationale: str = "Scripted rationale from the test double.",
        confidence: float = 0.8,
        evidence: list[str] | None = None,
        usage: tuple[int | None, int] = (None, 30),
        delay: float = 0.0,
        times: int = 1,
    ) -> OpenAIDouble:
        """A final answer whose content is the JSON decision."""
        content = json.dumps(
            {"action": action, "rationale": rationale, "confidence": confidence, "evidence": evidence or ["scripted"]}
        )
        return self.content(content, usage=usage, delay=delay, times=times)

    def content(
        self, content: str, *, usage: tuple[int | None, int] = (None, 30), delay: float = 0.0, times: int = 1
    ) -> OpenAIDouble:
        """A final assistant message with exactly this content (use for invalid JSON, unknown actions)."""
        return self._push(
            ScriptedResponse(body=_completion({"role": "assistant", "content": content}, usage), delay=delay), times
        )

    def refusal(self, text: str = "I'm sorry, I can't help with that.", *, times: int = 1) -> OpenAIDouble:
        return self._push(
            ScriptedResponse(body=_completion({"role": "assistant", "content": None, "refusal": text}, (None, 10))),
            times,
        )

    def tool_call(
        self,
        name: str,
        arguments: dict[str, Any] | str | None = None,
        *,
        usage: tuple[int | None, int] = (None, 20),
        call_id: str | None = None,
        times: int = 1,
    ) -> OpenAIDouble:
        """An assistant message asking for one tool call."""
        with self._lock:
            self._counter += 1
            cid = call_id or f"call_double_{self._counter}"
        args = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": cid, "type": "function", "function": {"name": name, "arguments": args}}],
        }
        return self._push(ScriptedResponse(body=_completion(message, usage, finish_reason="tool_calls")), times)

    def http_error(self, status: int = 500, message: str = "scripted server error", *, times: int = 1) -> OpenAIDouble:
        return self._push(ScriptedResponse(status=status, body=_error(message, status)), times)

    def delayed(self, seconds: float, *, times: int = 1) -> OpenAIDouble:
        """A response that arrives after ``seconds`` (longer than the client's timeout: a timeout)."""
        return self.answer("no_action", delay=seconds, times=times)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    # -- serving -----------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {"_unparseable": raw.decode("utf-8", "replace")}
        path, _, query = handler.path.partition("?")
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    path=path, headers={k.lower(): v for k, v in handler.headers.items()}, body=body, query=query
                )
            )
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send(handler, ScriptedResponse(status=404, body=_error(f"unknown path {path}", 404)))
            return
        if handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            self._send(handler, ScriptedResponse(status=401, body=_error("invalid api key (test double)", 401)))
            return
        with self._lock:
            response = self._queue.popleft() if self._queue else None
        if response is None:
            response = ScriptedResponse(status=500, body=_error("test double: no scripted response left", 500))
        if response.body is not None and response.status == 200:
            response.body = {**response.body, "model": body.get("model", "double-model")}
            usage = response.body.get("usage")
            if isinstance(usage, dict) and usage.get("prompt_tokens", 0) is None:  # counted as a server would
                prompt = len(json.dumps([body.get(k) for k in ("messages", "tools", "response_format")])) // 4 + 1
                counted = {**usage, "prompt_tokens": prompt, "total_tokens": prompt + usage["completion_tokens"]}
                response = replace(response, body={**response.body, "usage": counted})
        if response.delay:
            self._stopping.wait(response.delay)
        self._send(handler, response)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, response: ScriptedResponse) -> None:
        payload = response.raw_body if response.raw_body is not None else json.dumps(response.body).encode()
        pad = b" " * int(response.trickle / 0.2)
        try:
            handler.send_response(response.status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(pad) + len(payload)))
            for key, value in response.headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            for byte in pad:  # as a gateway keeping a long request alive
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(0.2)
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and went away
            pass


def _completion(message: dict[str, Any], usage: tuple[int | None, int], finish_reason: str = "stop") -> dict[str, Any]:
    """A chat completion; a ``None`` prompt count is filled in from the request it answers (4 characters a token)."""
    message = {"refusal": None, **message}
    return {
        "id": f"chatcmpl-double-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "double-model",
        "choices": [{"index": 0, "finish_reason": finish_reason, "logprobs": None, "message": message}],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": None if usage[0] is None else usage[0] + usage[1],
        },
    }


def _error(message: str, status: int) -> dict[str, Any]:
    kind = {401: "invalid_request_error", 429: "rate_limit_exceeded"}.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}


@pytest.fixture
def openai_double() -> Iterator[OpenAIDouble]:
    """TEST DOUBLE: a started local OpenAI-compatible server, stopped after the test."""
    double = OpenAIDouble().start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture
def unreachable_base_url() -> Iterator[str]:
    """TEST DOUBLE of a dead route: a base URL whose TCP connect never completes. A listening socket
    whose accept queue is full (backlog 0, filled by connects nobody accepts): the kernel drops further
    SYNs, so a client's connect hangs until its connect timeout, as behind a black-holed route."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(server.getsockname())
        fillers.append(filler)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    finally:
        for sock in [*fillers, server]:
            sock.close()
