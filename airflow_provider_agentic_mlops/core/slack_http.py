"""A slack_sdk ``WebClient`` that keeps its HTTP connections open between calls.

slack_sdk's ``WebClient`` sends every call through ``urllib.request.urlopen``: a new TCP connection,
and against Slack a new TLS handshake, per call. The API server makes one or two calls per click
(``chat.update``, an ephemeral answer, a user-group lookup when its cache is stale), so that cost is
paid per click. :class:`KeepAliveWebClient` overrides only the transport: each thread keeps one
``http.client`` connection per host and reuses it while the server keeps it open. Everything else
(the request it sends, parsing, errors as ``HTTPError``, retry handlers, rate-limit handling) is
slack_sdk's own; a response's headers reach it as the plain dict it makes of them anyway. Through a
proxy it falls back to slack_sdk's urllib path.
"""

from __future__ import annotations

import http.client
import io
import select
import socket
import threading
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler

from airflow_provider_agentic_mlops.core.slack import MAX_RETRY_AFTER_SECONDS, retry_after


class KeepAliveWebClient(WebClient):
    """``WebClient`` with per-thread persistent connections (see the module docstring).

    Takes the same arguments as ``WebClient``; :meth:`like` copies an existing client's settings.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = threading.local()

    @classmethod
    def like(
        cls, client: WebClient, *, timeout: int | None = None, retry_handlers: list[Any] | None = None
    ) -> KeepAliveWebClient:
        """A keep-alive client with ``client``'s token, URL, timeout, TLS context, proxy, headers,
        logger and retry handlers.

        :param client: the client copied.
        :param timeout: overrides the timeout.
        :param retry_handlers: overrides the retry handlers (``[]``: a failed call fails at once).
        """
        return cls(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout if timeout is None else timeout,
            ssl=client.ssl,
            proxy=client.proxy,
            headers=dict(client.headers),
            logger=client._logger,
            retry_handlers=list(client.retry_handlers) if retry_handlers is None else retry_handlers,
        )

    def _connection(self, scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
        conns: dict[tuple[str, str, int | None], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "conns", {}
        )
        key = (scheme, host, port)
        conn = conns.get(key)
        if conn is not None and _dropped(conn):
            conn.close()
            conn = None
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self.ssl)
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
            conn.connect()
            # http.client writes a request's headers and body in two sends; on a connection kept open,
            # Nagle's algorithm would hold the body until the server's delayed ACK of the headers (~40 ms)
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conns[key] = conn
        return conn

    def _forget(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        conns = self._local.__dict__.get("conns", {})
        for key, value in list(conns.items()):
            if value is conn:
                del conns[key]

    def _perform_urllib_http_request_internal(self, url: str, req: Any) -> dict[str, Any]:
        parts = urlsplit(url)
        if self.proxy is not None or parts.scheme not in ("http", "https") or not parts.hostname:
            return super()._perform_urllib_http_request_internal(url, req)
        conn = self._connection(parts.scheme, parts.hostname, parts.port)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(req.get_method(), path or "/", body=req.data, headers=dict(req.header_items()))
            resp = conn.getresponse()
            body = resp.read()
        except BaseException:
            # a half-used connection is never reused; slack_sdk's retry handlers decide about a retry
            self._forget(conn)
            raise
        if resp.will_close:
            self._forget(conn)
        if resp.status >= 400:  # as urlopen does: slack_sdk handles 429 and the rest from HTTPError
            raise HTTPError(url, resp.status, resp.reason, resp.headers, io.BytesIO(body))
        # the headers as the plain dict slack_sdk makes of them (each name's first value): its own lookups
        # in the parsed message scan every header per name, more CPU than the rest of the call
        headers: dict[str, str] = {}
        for name, value in resp.getheaders():
            headers.setdefault(name, value)
        content_type, charset = _content_type(resp.getheader("content-type") or "")
        if content_type == "application/gzip":
            return {"status": resp.status, "headers": headers, "body": body}
        return {"status": resp.status, "headers": headers, "body": body.decode(charset or "utf-8")}


def _content_type(value: str) -> tuple[str, str | None]:
    """``(media type in lower case, charset or None)`` of a Content-Type header's value."""
    media_type, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, param_value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = param_value.strip().strip('"') or None
    return media_type.strip().lower(), charset


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """True when an idle connection's socket is closed or has unread data (the server hung up)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack_sdk's retry of a rate-limited call (429) after Slack's ``Retry-After``, unless Slack asks to wait longer
    than ``max_wait`` seconds: then the call fails at once with ``ratelimited`` rather than holding a worker asleep
    for minutes.

    :param max_retry_count: retries of one call.
    :param max_wait: the longest ``Retry-After`` waited for.
    """

    def __init__(self, max_retry_count: int = 2, *, max_wait: int = MAX_RETRY_AFTER_SECONDS) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        wait = retry_after(response.headers)
        return wait is None or wait <= self.max_wait


#: Methods that post a new message: sent again after Slack failed on its side, they can post it twice.
NOT_RETRIED_ON_SERVER_ERROR = frozenset(
    {"chat.postMessage", "chat.postEphemeral", "chat.scheduleMessage", "chat.meMessage"}
)


class IdempotentServerErrorRetryHandler(ServerErrorRetryHandler):
    """slack_sdk's retry of a call Slack answered 500 or 503, except a call that posts a new message
    (:data:`NOT_RETRIED_ON_SERVER_ERROR`): Slack documents that part of an operation answered ``internal_error``
    or ``fatal_error`` may have succeeded, so a retried post can post twice (an approval message twice, the
    second with buttons for a ts nobody recorded). ``chat.update`` and reads are retried.

    :param max_retry_count: retries of one call.
    """

    def _can_retry(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
        method = urlsplit(request.url).path.rstrip("/").rsplit("/", 1)[-1]
        if method in NOT_RETRIED_ON_SERVER_ERROR:
            return False
        return super()._can_retry(state=state, request=request, response=response, error=error)


__all__ = [
    "NOT_RETRIED_ON_SERVER_ERROR",
    "BoundedRateLimitRetryHandler",
    "IdempotentServerErrorRetryHandler",
    "KeepAliveWebClient",
]
