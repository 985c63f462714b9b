"""An OpenAI-compatible LLM through an Airflow connection (OpenAI, Azure OpenAI, vLLM, Ollama, LiteLLM)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_agentic_mlops.core.connections import DEFAULT_LLM_CONN_ID
from airflow_provider_agentic_mlops.core.decision import InvalidAnswer, LLMFailure, LLMReply, ToolCall
from airflow_provider_agentic_mlops.core.errors import mask_url_secrets
from airflow_provider_agentic_mlops.hooks.connection import ConnectionExtraInvalid, get_connection_or_none
from airflow_provider_agentic_mlops.hooks.connection_form import with_connection_form

if TYPE_CHECKING:
    from openai import OpenAI
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

    from airflow_provider_agentic_mlops.core.decision import LLMClient, LLMRequest

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_TOKENS = 1024
DEFAULT_MAX_RETRIES = 2
DEFAULT_BACKOFF = 1.0


#: The whole call's deadline, when the connection sets no ``decision_timeout``: this many ``timeout``\ s.
DECISION_TIMEOUTS = 4
#: Longest exponential backoff between attempts (a server's ``Retry-After`` is bounded by the deadline only).
MAX_BACKOFF = 30.0
#: Each backoff is a random share of the doubled one, in this range ("equal jitter"): clients failing together
#: (many models on one key, one outage) do not retry together.
BACKOFF_JITTER = (0.5, 1.0)
#: Longest wait for a connection (TCP and TLS) within an attempt; it is half the attempt's bound when that is shorter.
MAX_CONNECT_TIMEOUT = 10.0
#: The base URL's query parameters shown as they are; every other value may be a gateway's key (Azure API
#: Management's ``?subscription-key=``, Azure Functions' ``?code=``): shown as ``***``.
SHOWN_QUERY = ("api-version",)
#: A secret shorter than this is not replaced in a server's words (it would garble them), as Airflow's masker.
MIN_SECRET_CHARS = 5
#: The connection extras the hook reads (and the connection form's fields); any other is refused, naming it.
KNOWN_EXTRAS = (
    "model",
    "timeout",
    "decision_timeout",
    "max_tokens",
    "max_tokens_param",
    "max_retries",
    "retry_backoff_seconds",
    "default_headers",
    "organization",
    "project",
)
#: Fewer completion tokens left than this: another attempt could not answer, so none is made.
MIN_COMPLETION_TOKENS = 16
#: A response reporting more tokens than this is not believed (no model reads or writes that many at once).
MAX_REPORTED_TOKENS = 10_000_000
#: Nor one whose answer is longer than this many characters per completion token (tokens are a few characters).
MAX_CHARS_PER_TOKEN = 1000
#: Nor one whose prompt tokens are off the local estimate (4 characters a token) by more than this factor either way
#: (give or take :data:`USAGE_SLACK_TOKENS`): a prompt under-reported would let ``max_tokens_per_day`` slide, an
#: over-reported one would spend it. A server that counts only uncached prompt tokens (Ollama's KV cache) is counted
#: at the estimate too, which errs on the side of the budget.
PROMPT_TOKENS_FACTOR = 4
#: Nor one whose completion tokens pass the cap sent (``max_tokens``) by more than this many.
USAGE_SLACK_TOKENS = 16

#: Parts of a request some OpenAI-compatible servers refuse with HTTP 400, and how they say so.
TOOLS, JSON_SCHEMA = "tools", "json_schema"
_UNSUPPORTED = {
    # vLLM without --enable-auto-tool-choice; Ollama's models without tool support; others' wordings
    TOOLS: re.compile(
        r"enable-auto-tool-choice|does not support tools|tools? (?:are|is) not supported|tool[ _]choice.{0,40}"
        r"not supported|(?:not|un)supported.{0,20}\btools?\b",
        re.IGNORECASE,
    ),
    # models and servers without structured outputs
    JSON_SCHEMA: re.compile(
        r"(?:response_format|json_schema|structured output).{0,80}(?:not supported|unsupported|does not support)"
        r"|(?:not supported|unsupported|does not support).{0,80}(?:response_format|json_schema|structured output)",
        re.IGNORECASE,
    ),
}
#: What the next attempt sends instead, and what the connection or decision should set.
_WITHOUT = {
    TOOLS: (
        "retried without tools",
        "the server does not support tool calls; set the model's decision.max_tool_calls: 0 (or enable tool "
        "calls on the server, e.g. vLLM's --enable-auto-tool-choice --tool-call-parser)",
    ),
    JSON_SCHEMA: (
        'retried with response_format {"type": "json_object"}',
        "the server or model does not support structured outputs (response_format json_schema); use a model "
        "that does, or let the answers be checked against the schema after they arrive (done now)",
    ),
}


class _Attempt(Exception):
    """One attempt failed: why (a line of the trace), whether another attempt may fix it (timeout,
    5xx/429, an invalid answer), how long the server asked to wait, the raw answer if any, the
    failure's message when it ends the call, and the part of the request the server does not support
    (:data:`TOOLS` or :data:`JSON_SCHEMA`), which the next attempt goes without."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        wait: float | None = None,
        raw: str | None = None,
        final: str | None = None,
        timed_out: bool = False,
        invalid_answer: bool = False,
        unsupported: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message, self.retryable, self.wait, self.raw, self.final = message, retryable, wait, raw, final
        self.timed_out, self.invalid_answer, self.unsupported = timed_out, invalid_answer, unsupported


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The wait a response of a status :meth:`LLMHook.complete` retries (408, 409, 429, 5xx) asks for:
    ``retry-after-ms``, ``Retry-After`` in seconds or as an HTTP date; None when absent or unreadable.

    :param headers: the response headers (case-insensitive mapping, as httpx's).
    """
    if not headers:
        return None
    for key, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(key)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            if key == "retry-after-ms":
                continue
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            seconds = (when - datetime.now(timezone.utc)).total_seconds()
        return max(0.0, seconds) if math.isfinite(seconds) else None
    return None


@with_connection_form
class LLMHook(BaseHook):
    """Chat completions with a strict JSON-schema answer, tool calls and bounded retries.

    Connection (type ``agentic_mlops_llm``): *password* is the API key; *host* the base URL of any
    OpenAI-compatible server (``https://api.openai.com/v1``, an Azure OpenAI ``.../openai/v1``
    endpoint, vLLM/Ollama/LiteLLM ``http://host:port/v1``); a query in it (``?api-version=...``) is sent
    with every request, its values but ``api-version``'s shown as ``***`` (a gateway's key may be one).
    Extras: ``model`` (required),
    ``timeout`` (seconds, default 30), ``max_tokens`` (completion cap, default 1024),
    ``max_retries`` (retries after the first attempt, default 2), ``retry_backoff_seconds`` (first
    backoff, doubled each retry, each pause a random half to all of it, default 1; a retried response's
    ``Retry-After`` wins), ``decision_timeout``
    (seconds for all of a decision's calls, default 4 x ``timeout``), ``max_tokens_param``
    (``max_tokens`` or ``max_completion_tokens`` for models that require it), ``default_headers``
    (a JSON object of strings, e.g. for a gateway), ``organization`` and ``project`` (OpenAI's
    ``OpenAI-Organization`` / ``OpenAI-Project`` headers). Any other extra is refused, naming it.

    :param llm_conn_id: the connection id.
    """

    conn_name_attr = "llm_conn_id"
    default_conn_name = DEFAULT_LLM_CONN_ID
    conn_type = "agentic_mlops_llm"
    hook_name = "LLM, OpenAI-compatible (agentic MLOps)"

    def __init__(self, llm_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.llm_conn_id = llm_conn_id

    @classmethod
    def connection_exists(cls, llm_conn_id: str) -> bool:
        """Whether the connection is configured (mode ``auto`` uses the LLM only then)."""
        try:
            return get_connection_or_none(llm_conn_id) is not None
        except ConnectionExtraInvalid:  # there, with an extra Airflow refused: settings says so
            return True

    @cached_property
    def settings(self) -> dict[str, Any]:
        """The connection's settings, checked: a bad extra is a ``ValueError`` naming it and the fix
        (the operator then lets the rules decide alone and says why)."""
        try:
            conn = get_connection_or_none(self.llm_conn_id)
        except ConnectionExtraInvalid as err:  # Airflow 3.1 refuses it itself
            raise ValueError(
                f"LLM connection {self.llm_conn_id!r}: its extra (refused by Airflow) {err.problem}; set it to "
                f'a JSON object, e.g. {{"model": "gpt-4o-mini"}}'
            ) from err
        if conn is None:
            raise ValueError(
                f"LLM connection {self.llm_conn_id!r} does not exist; create it (type agentic_mlops_llm: host = base "
                "URL, password = API key, extra {\"model\": ...}) or use the decision mode 'rules'"
            )
        extra = conn.extra_dejson or {}
        if not isinstance(extra, dict):  # valid JSON, not an object: never quoted, it may hold a pasted key
            kind = {str: "string", list: "array", bool: "boolean"}.get(type(extra), "number")
            raise ValueError(
                f"LLM connection {self.llm_conn_id!r}: its extra (a JSON {kind}) is not a JSON object; set it to "
                f'one, e.g. {{"model": "gpt-4o-mini"}}'
            )
        unknown = sorted(set(extra) - set(KNOWN_EXTRAS))
        if unknown:  # a typo (max_retry) would silently leave the default in force
            named = ", ".join(repr(_short(k, 40)) for k in unknown)
            raise ValueError(
                f"LLM connection {self.llm_conn_id!r}: unknown extra {named}; "
                f"remove it or use one of the known extras: {', '.join(KNOWN_EXTRAS)}"
            )
        model = extra.get("model")
        if not model:
            raise ValueError(
                f'LLM connection {self.llm_conn_id!r} has no model; set its extra, e.g. {{"model": "gpt-4o-mini"}}'
            )
        if not isinstance(model, str):  # a list or a number would be sent as its repr, "['gpt-4o']"
            raise ValueError(
                f"LLM connection {self.llm_conn_id!r}: extra 'model' = {model!r} is not a model name; set it to "
                f'one name in quotes, e.g. {{"model": "gpt-4o-mini"}}'
            )
        host = self._base_url(conn)

        def number(key: str, default: float, cast: Callable[[Any], Any], minimum: float, rule: str) -> Any:
            value = extra.get(key, default)
            try:  # JSON true is not 1 second, 1.9 is not 1 token: refused, not coerced (text "512" is read)
                number = None if isinstance(value, bool) else float(value)
            except (TypeError, ValueError):
                number = None
            if number is None or not math.isfinite(number) or number < minimum:
                raise ValueError(
                    f"LLM connection {self.llm_conn_id!r}: extra {key!r} = {value!r} is not a number {rule}; "
                    f"fix it in the connection's extra or remove it (default {default})"
                ) from None
            if cast is int and not number.is_integer():
                raise ValueError(
                    f"LLM connection {self.llm_conn_id!r}: extra {key!r} = {value!r} is not a whole number; "
                    f"fix it in the connection's extra or remove it (default {default})"
                )
            return cast(number)

        timeout = number("timeout", DEFAULT_TIMEOUT, float, 1e-3, "greater than 0 (seconds)")
        param = extra.get("max_tokens_param", "max_tokens")
        if param not in ("max_tokens", "max_completion_tokens"):
            raise ValueError(
                f"LLM connection {self.llm_conn_id!r}: extra 'max_tokens_param' = {param!r} is neither 'max_tokens' "
                "nor 'max_completion_tokens' (for models that require it)"
            )
        api_key = conn.password or "not-needed"  # local servers (vLLM, Ollama) accept any key
        headers = self._headers(extra.get("default_headers"))
        ids = {"organization": extra.get("organization"), "project": extra.get("project")}
        for key, value in ids.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(
                    f"LLM connection {self.llm_conn_id!r}: extra {key!r} = {_short(value, 60)!r} is not text; set it "
                    f'to the id in quotes, e.g. {{"{key}": "{"org-..." if key == "organization" else "proj_..."}"}}'
                )
        unsendable = [
            what
            for what, text in [
                ("the API key (the password)", api_key),
                *((f"the name of default_headers {_short(k, 40)!r}", k) for k in headers or {}),
                *((f"the value of default_headers {_short(k, 40)!r}", v) for k, v in (headers or {}).items()),
                *((f"extra {k!r}", v) for k, v in ids.items() if v),
            ]
            if not _header_safe(text)
        ]
        if unsendable:  # httpx would fail before sending, with an error that reads like a bad server
            raise ValueError(
                f"LLM connection {self.llm_conn_id!r}: {unsendable[0]} has a character an HTTP header cannot "
                "carry (not ASCII, or a control character such as a line break pasted with it); re-enter it in "
                f"connection {self.llm_conn_id!r} as plain ASCII text"
            )
        # a query (Azure OpenAI's ?api-version=...) goes after each request's path, not before it
        base_url, _, query = host.partition("?")
        user_part = _user_part(host)
        secrets = {  # replaced in a server's words and in exceptions' messages before they are kept or shown
            *([conn.password] if conn.password else []),
            *(headers or {}).values(),
            *_hidden_query_values(query),
            *([user_part, urlsplit(host).password or ""] if user_part else []),
        }
        return {
            "base_url": base_url.rstrip("/"),
            "default_query": dict(parse_qsl(query, keep_blank_values=True)) or None,
            "shown_url": shown_url(host if query else host.rstrip("/")),  # for messages: without the password
            "api_key": api_key,
            "has_api_key": bool(conn.password or headers or _user_part(host)),
            "model": str(model),
            "timeout": timeout,
            "decision_timeout": number(
                "decision_timeout", DECISION_TIMEOUTS * timeout, float, 1e-3, "greater than 0 (seconds)"
            ),
            "max_tokens": number("max_tokens", DEFAULT_MAX_TOKENS, int, 1, "at least 1"),
            "max_retries": number("max_retries", DEFAULT_MAX_RETRIES, int, 0, "at least 0"),
            "backoff": number("retry_backoff_seconds", DEFAULT_BACKOFF, float, 0, "at least 0 (seconds)"),
            "max_tokens_param": param,
            "default_headers": headers,
            "organization": ids["organization"] or None,
            "project": ids["project"] or None,
            "secrets": sorted((x for x in secrets if len(x) >= MIN_SECRET_CHARS), key=len, reverse=True),
        }

    def _base_url(self, conn: Any) -> str:
        """The connection's base URL. JSON form: the host is the URL (``http://host:8000/v1``), or a bare
        host with ``schema`` http/https and ``port``. URI form (``agentic-mlops-llm://:key@host:port/v1``,
        or ``agentic-mlops-llm://http://host:port/v1`` for plain http): Airflow puts the path in
        ``schema``, so a ``schema`` that is not http/https is the URL's path (https unless the host
        gives the protocol); the port is added when the host has none."""
        host = conn.host or ""
        if not host:
            return DEFAULT_BASE_URL
        schema = (conn.schema or "").strip().strip("/")
        scheme_given = schema.lower() in ("http", "https")
        url = host if "://" in host else f"{schema.lower() if scheme_given else 'https'}://{host}"
        parts = urlsplit(url)
        user_part = _user_part(url)
        if user_part:  # the HTTP client logs the URL it calls: Airflow's masker hides the credentials there
            for secret in {user_part, parts.password or parts.username or ""} - {""}:
                mask_secret(secret)
            if parts.netloc.rpartition("@")[0] != user_part:  # a / ? or # in it cut the URL's authority short
                raise ValueError(
                    f"LLM connection {self.llm_conn_id!r}: the user part of its base URL ({shown_url(url)!r}) has a "
                    "character a URL must percent-encode; encode it (/ as %2F, ? as %3F, # as %23, @ as %40) or "
                    "give the API key as the connection's password"
                )
        for secret in _hidden_query_values(parts.query):  # e.g. ?subscription-key=: the same, for the query
            mask_secret(secret)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"LLM connection {self.llm_conn_id!r}: base URL {shown_url(url)!r} is not an http(s) URL; set the "
                "host to the server's base URL, e.g. https://host:port/v1 (or http:// for a local server)"
            )
        netloc, path = parts.netloc, parts.path
        if conn.port and parts.port is None:
            netloc += f":{conn.port}"
        if schema and not scheme_given:
            path = f"{path.rstrip('/')}/{schema}"
        return urlunsplit((parts.scheme, netloc, path, parts.query, ""))

    def _headers(self, value: Any) -> dict[str, str] | None:
        """The ``default_headers`` extra: a JSON object of strings, or its JSON text (a URI-form
        connection's extra holds text). A header often holds a secret: an error names the header and
        what is wrong with it, never its value."""
        if value in (None, "", {}):
            return None
        headers = value
        problem = None
        if isinstance(value, str):
            try:
                headers = json.loads(value)
            except (ValueError, RecursionError):
                problem = "got text that is not JSON"
        if problem is None and not isinstance(headers, dict):
            problem = f"got {type(headers).__name__}, not an object"
        elif problem is None:
            bad = next((k for k, v in headers.items() if not isinstance(v, str)), None)
            if bad is not None:
                problem = f"the value of {_short(bad, 40)!r} is {type(headers[bad]).__name__}"
        if problem is not None:
            raise ValueError(
                f"LLM connection {self.llm_conn_id!r}: extra 'default_headers' must be a JSON object of strings, "
                f'e.g. {{"X-Api-Key": "..."}}; {problem}'
            )
        return headers

    @cached_property
    def client(self) -> OpenAI:
        """The ``openai.OpenAI`` client, built on first use; retries are the hook's, not the client's."""
        from openai import OpenAI

        s = self.settings
        return OpenAI(
            api_key=s["api_key"],
            base_url=s["base_url"],
            timeout=s["timeout"],
            max_retries=0,
            default_headers=s["default_headers"],
            default_query=s["default_query"],
            organization=s["organization"],
            project=s["project"],
        )

    def _build_client(self) -> None:
        """:attr:`client` built now (importing openai takes a while the first time); a failure to build it is
        left to the request that needs it, which turns it into the call's failure."""
        with contextlib.suppress(Exception):
            self.client  # noqa: B018 - the cached property is built by reading it

    def identity(self) -> dict[str, str]:
        """Which LLM this is, for a decision's trace: the connection id, the model and the base URL as
        shown (:func:`shown_url`)."""
        s = self.settings
        return {"conn_id": self.llm_conn_id, "model": s["model"], "base_url": s["shown_url"]}

    def get_conn(self) -> OpenAI:
        return self.client

    def decision_client(self) -> LLMClient:
        """:meth:`complete` for one decision: every call shares one deadline, the connection's
        ``decision_timeout`` from the first call, so tool rounds and retries together end by then."""
        deadline: list[float] = []

        def client(**request: Unpack[LLMRequest]) -> LLMReply:
            if not deadline:
                self._build_client()  # importing openai and building the client is not the LLM's time
                deadline.append(time.monotonic() + self.settings["decision_timeout"])
            return self.complete(deadline=deadline[0], **request)

        return client

    def complete(self, *, deadline: float | None = None, **request: Unpack[LLMRequest]) -> LLMReply:
        """One chat completion (the :class:`~airflow_provider_agentic_mlops.core.decision.LLMClient` of
        ``decide``); retried with backoff (or as the server's ``Retry-After`` asks) on timeouts,
        connection errors, HTTP 408/409/429/5xx and answers ``validate`` rejects (invalid JSON,
        refusal, unknown action).

        Bounds: each attempt ends by the connection's ``timeout`` (a wall-clock deadline, not a
        per-read timeout), and the call by ``deadline`` (or ``decision_timeout`` from now); together
        the attempts spend at most the prompt plus ``max_tokens`` tokens (the decision's budget left),
        each attempt's cap shrinking with what the previous ones spent. An answer cut at the token
        cap (``finish_reason`` ``length``) is not retried. Without ``usage`` in the response the
        tokens are estimated (4 characters a token) and the reply says so; an attempt that timed out after
        its request was sent is counted at its worst (the prompt and its whole cap, the server may have spent
        them), estimated too; one that could not connect sent nothing and is counted as nothing.

        :param deadline: ``time.monotonic()`` by which the call ends (:meth:`decision_client` passes one).
        :param request: the fields of :class:`~airflow_provider_agentic_mlops.core.decision.LLMRequest`;
            its ``max_tokens`` is capped by the connection's ``max_tokens`` too.
        :return: the reply with token usage summed over every attempt and the total latency.
        :raises LLMFailure: all attempts failed, or a non-retryable failure (401, 400, a response that
            is not a chat completion, a truncated answer, the budget or the deadline spent); any
            other error is turned into one too, so the rules decide.
        """
        try:
            return self._complete(deadline, request)
        except LLMFailure:
            raise
        except Exception as err:  # noqa: BLE001 - "never raises because of the LLM": the rules decide
            raise LLMFailure(
                f"LLM connection {self.llm_conn_id!r} failed: {type(err).__name__}: {_short(self._scrub(str(err)))}"
            ) from None

    def _complete(self, deadline: float | None, request: LLMRequest) -> LLMReply:
        from airflow_provider_agentic_mlops.core.decision import estimate_tokens

        s = self.settings
        where = f"LLM connection {self.llm_conn_id!r} ({s['shown_url']}, model {s['model']!r})"
        self._build_client()  # before the clock starts: the latency and the deadline are the server's
        started = time.monotonic()
        deadline = min(deadline if deadline is not None else math.inf, started + s["decision_timeout"])
        usage = {"prompt": 0, "completion": 0}
        estimated: list[str] = []
        errors: list[str] = []
        sent = [0]  # requests made: a stop for the budget or the deadline is in errors, and no attempt
        last_raw: str | None = None
        validate = request["validate"]
        prompt_cost = asked_cost = estimate_tokens(request["messages"], request["tools"], request["response_format"])
        budget = prompt_cost + max(1, int(request["max_tokens"]))  # the call's share of the decision's budget
        body: dict[str, Any] = {
            "model": s["model"],
            "messages": request["messages"],
            "response_format": request["response_format"],
        }
        if request["tools"] and TOOLS not in self._unsupported:
            body["tools"] = request["tools"]
        if JSON_SCHEMA in self._unsupported:
            body["response_format"] = {"type": "json_object"}

        def failure(message: str) -> LLMFailure:
            if errors and errors[-1] not in message:  # the cause, for the task log, the rationale and the escalation
                message += f"; last error: {_short(errors[-1], 400)}"
            return LLMFailure(
                self._scrub(message),
                attempts=sent[0],
                errors=[self._scrub(e) for e in errors],
                raw=last_raw,
                prompt_tokens=usage["prompt"],
                completion_tokens=usage["completion"],
                latency_ms=_ms(started),
                usage_estimated=bool(estimated),
            )

        attempts = 1 + s["max_retries"]
        attempt = 0  # of the retry bound: an attempt without a part the server refused is one more
        while True:
            spent = usage["prompt"] + usage["completion"]
            cap = min(s["max_tokens"], budget - spent - prompt_cost)
            if errors and cap < MIN_COMPLETION_TOKENS:
                errors.append(f"token budget: {spent} of {budget} tokens spent, too few left for another attempt")
                raise failure(f"{where}: no usable answer within the token budget ({sent[0]} attempt(s))")
            left = deadline - time.monotonic()
            if left <= 0:
                errors.append(f"deadline: {s['decision_timeout']} s (decision_timeout) passed")
                raise failure(f"{where}: no usable answer before the deadline")
            body[s["max_tokens_param"]] = max(1, cap)
            prompted = usage["prompt"]
            sent[0] += 1
            try:
                reply = self._read(
                    self._request(body, min(s["timeout"], left)), where, validate, usage, estimated, request, cap
                )
            except _Attempt as err:
                errors.append(err.message)
                if err.timed_out:  # the server may have spent the tokens: counted at worst, as an estimate
                    usage["prompt"] += prompt_cost
                    usage["completion"] += max(1, cap)
                    estimated.append("timeout")
                if err.raw is not None:
                    last_raw = err.raw
                if err.invalid_answer:  # the same request would get the same answer: say what was wrong
                    said = {"role": "user", "content": correction(err.message)}
                    body["messages"] = [*request["messages"], said]
                    prompt_cost = max(prompt_cost, asked_cost + estimate_tokens([said]))
                if err.unsupported and self._go_without(err.unsupported, body):
                    retried, fix = _WITHOUT[err.unsupported]
                    errors[-1] += f" ({retried}: {fix})"
                    self.log.warning("%s answered %s; %s: %s", where, self._scrub(err.message), retried, fix)
                    continue
                if not err.retryable:
                    raise failure(err.final or err.message) from None
                wait = err.wait
            except Exception as err:  # noqa: BLE001 - unexpected: end the call, keeping the tokens counted so far
                errors.append(f"{type(err).__name__}: {_short(str(err))}")
                raise failure(f"LLM connection {self.llm_conn_id!r} failed: {errors[-1]}") from None
            else:
                reply.prompt_tokens, reply.completion_tokens = usage["prompt"], usage["completion"]
                reply.latency_ms = _ms(started)
                reply.attempts = sent[0]
                reply.errors = errors = [self._scrub(e) for e in errors]
                reply.usage_estimated = bool(estimated)
                if errors:
                    self.log.warning("LLM answered after %d failed attempt(s): %s", len(errors), " | ".join(errors))
                return reply
            finally:
                prompt_cost = max(prompt_cost, usage["prompt"] - prompted)  # the server's count, once known
            if attempt + 1 == attempts:
                break
            backoff = min(s["backoff"] * 2**attempt, MAX_BACKOFF)
            pause = wait if wait is not None else random.uniform(*BACKOFF_JITTER) * backoff
            if time.monotonic() + pause >= deadline:
                if wait is not None:
                    errors[-1] += f" (Retry-After {wait:g} s is past the deadline)"
                raise failure(f"{where}: no usable answer before the deadline ({sent[0]} attempt(s))")
            time.sleep(pause)
            attempt += 1
        raise failure(f"no usable answer from LLM connection {self.llm_conn_id!r} after {sent[0]} attempt(s)")

    def _request(self, body: dict[str, Any], seconds: float) -> Any:
        """``chat.completions.create`` bounded by ``seconds`` of wall clock: httpx's timeout bounds each
        read, so a server trickling bytes would hold the call forever. The request runs in a daemon
        thread; past the bound it is abandoned and the client closed (its socket with it).

        Connecting has a shorter bound (:func:`connect_timeout`), so a dead route ends as a failed connect,
        before the wall-clock bound: no request was sent, so it is retried and charged nothing, where a
        timeout after sending is charged at the worst case (the server may have spent the tokens)."""
        import openai

        create = self.client.chat.completions.create  # built here: the bound is for the request alone
        connect = connect_timeout(seconds)
        box = self._within(seconds, lambda: create(**body, timeout=openai.Timeout(seconds, connect=connect)))
        if not box:
            raise _Attempt(f"timeout: no complete answer within {seconds:g} s", retryable=True, timed_out=True)
        err = box.get("error")
        if err is None:
            return box["response"]
        base_url = self.settings["shown_url"]
        if isinstance(err, openai.APITimeoutError) and _never_sent(err):
            raise _Attempt(f"could not connect to {base_url} within {connect:g} s (no request sent)", retryable=True)
        if isinstance(err, openai.APITimeoutError):
            raise _Attempt(f"timeout after {seconds:g} s", retryable=True, timed_out=True)
        if isinstance(err, openai.APIConnectionError):
            raise _Attempt(f"connection error to {base_url}: {self._connection_failure(err)}", retryable=True)
        if isinstance(err, openai.APIStatusError):
            said = err.body.get("message") if isinstance(err.body, dict) else None  # the server's words, no prefix
            message = f"HTTP {err.status_code}: {_short(said if isinstance(said, str) and said else err.message)}"
            if err.status_code in (408, 409, 429) or err.status_code >= 500:
                raise _Attempt(message, retryable=True, wait=retry_after_seconds(err.response.headers))
            unsupported = next(
                (part for part, said in _UNSUPPORTED.items() if err.status_code == 400 and said.search(message)), None
            )
            if unsupported:
                fix = _WITHOUT[unsupported][1]
            elif "max_completion_tokens" in message and self.settings["max_tokens_param"] != "max_completion_tokens":
                fix = 'set the connection\'s extra "max_tokens_param": "max_completion_tokens" (the model wants it)'
            elif err.status_code == 404 and _lacks_version(self.settings["base_url"]):
                request = getattr(err, "request", None)  # the URL called, its query values but api-version masked
                called = shown_url(str(request.url)) if request is not None else "the URL called"
                fix = (
                    f"{called} does not exist: the base URL has no /v1, which OpenAI-compatible "
                    f"servers serve under; set the connection's host to {base_url.partition('?')[0]}/v1"
                )
            elif self._no_api_key(err):
                fix = self._no_api_key(err)
            else:
                fix = "check the API key, base URL and model"
            raise _Attempt(
                message,
                unsupported=unsupported,
                final=f"LLM connection {self.llm_conn_id!r} ({base_url}, model {self.settings['model']!r}) answered "
                f"{message}; {fix}",
            )
        if isinstance(err, UnicodeEncodeError):  # a header the settings' check let through; never quote it
            raise _Attempt(
                f"LLM connection {self.llm_conn_id!r}: a request header (the API key or default_headers) has a "
                f"character an HTTP header cannot carry; re-enter it in connection {self.llm_conn_id!r} as plain "
                "ASCII text"
            )
        if isinstance(err, ValueError):  # the client could not decode the body (JSONDecodeError)
            raise _Attempt(self._not_a_completion(f"{type(err).__name__}: {_short(str(err), 120)}"))
        raise _Attempt(f"{type(err).__name__}: {_short(str(err))}")

    def _within(self, seconds: float, call: Callable[[], Any]) -> dict[str, Any]:
        """``call()`` (a request of :attr:`client`) bounded by ``seconds`` of wall clock: ``{"response": ...}``
        or ``{"error": ...}``; ``{}`` past the bound, when the call is abandoned in its daemon thread and the
        client closed (its socket with it)."""
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["response"] = call()
            except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
                box["error"] = err

        worker = threading.Thread(target=run, name=f"llm-{self.llm_conn_id}", daemon=True)
        worker.start()
        worker.join(seconds)
        if worker.is_alive():
            self._drop_client()
            return {}
        return box

    def _connection_failure(self, err: BaseException) -> str:
        """Why a connection failed, under openai's bare "Connection error.": the HTTP client's exception
        (``ConnectError: [Errno 111] Connection refused``) and the proxy from the environment it went through."""
        return f"{_connection_cause(err)}{_proxy_hint(self.settings['shown_url'])}"

    def _no_api_key(self, err: BaseException) -> str:
        """The fix for an HTTP 401 of a connection without an API key (password, default_headers or a base
        URL's user part); ``""`` for any other error."""
        if getattr(err, "status_code", None) != 401 or self.settings["has_api_key"]:
            return ""
        return (
            f"the connection has no API key: set connection {self.llm_conn_id!r}'s password to the server's "
            "API key (or its default_headers, for a gateway that takes the key in another header)"
        )

    @cached_property
    def _unsupported(self) -> set[str]:
        """The parts of a request (:data:`TOOLS`, :data:`JSON_SCHEMA`) the server refused: not sent again."""
        return set()

    def _go_without(self, part: str, body: dict[str, Any]) -> bool:
        """Leave ``part`` out of ``body`` and of this hook's later requests; False when it was not in it (the
        server refused something else, or the request without it)."""
        if part == TOOLS and "tools" in body:
            del body["tools"]
        elif part == JSON_SCHEMA and body["response_format"].get("type") == "json_schema":
            body["response_format"] = {"type": "json_object"}
        else:
            return False
        self._unsupported.add(part)
        return True

    def _scrub(self, text: str) -> str:
        """``text`` with the connection's secrets (the API key, default_headers' values, the base URL's query
        values but api-version's and its user part) replaced by ``***``: a server may echo the key it refused,
        and the message is logged and stored in the decision's trace."""
        try:
            secrets = self.settings["secrets"]
        except ValueError:  # no settings, no secrets to find
            return text
        for secret in secrets:
            text = text.replace(secret, "***")
        return text

    def _drop_client(self) -> None:
        client = self.__dict__.pop("client", None)
        if client is not None:
            with contextlib.suppress(Exception):  # closing an abandoned client is best effort
                client.close()

    def _not_a_completion(self, what: str) -> str:
        return (
            f"LLM connection {self.llm_conn_id!r} ({self.settings['shown_url']}) answered HTTP 200 with something "
            f"that is not a chat completion ({what}); check the base URL (an OpenAI-compatible .../v1 endpoint, "
            "not a web page or a proxy's sign-in)"
        )

    def _read(
        self,
        response: Any,
        where: str,
        validate: Callable[[str | None, str | None], Any],
        usage: dict[str, int],
        estimated: list[str],
        request: LLMRequest,
        cap: int,
    ) -> LLMReply:
        """The attempt's reply (answer or tool calls), its tokens added to ``usage``; raises
        :class:`_Attempt` for a response that is no chat completion, truncated, empty or invalid."""
        from openai.types.chat import ChatCompletion

        from airflow_provider_agentic_mlops.core.decision import estimate_tokens

        choices = getattr(response, "choices", None) if isinstance(response, ChatCompletion) else None
        if not isinstance(choices, list):
            raise _Attempt(self._not_a_completion(f"a {type(response).__name__}: {_short(str(response), 120)}"))
        try:
            message = choices[0].message if choices else None
            content = None if message is None else message.content
            text = content if content is None or isinstance(content, str) else json.dumps(content, default=str)
            refusal = None if message is None else getattr(message, "refusal", None)
            calls = [
                ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "{}")
                for c in ((message.tool_calls if message is not None else None) or [])
                if getattr(c, "function", None) is not None
            ]
            finish = getattr(choices[0], "finish_reason", None) if choices else None
        except (AttributeError, IndexError, TypeError) as err:
            raise _Attempt(self._not_a_completion(f"{type(err).__name__}: {_short(str(err), 120)}")) from None
        counted = getattr(response, "usage", None)
        prompt_tokens = getattr(counted, "prompt_tokens", None)
        completion_tokens = getattr(counted, "completion_tokens", None)
        answered = (text or "") + str(refusal or "") + "".join(str(c.arguments) for c in calls)
        prompt_estimate = estimate_tokens(request["messages"], request["tools"], request["response_format"])
        unusable = _unusable_usage(
            prompt_tokens, completion_tokens, answered=len(answered), prompt_estimate=prompt_estimate, cap=max(1, cap)
        )
        if unusable is None:
            usage["prompt"] += prompt_tokens
            usage["completion"] += completion_tokens
        else:  # some servers and gateways send no usage (or nonsense): estimate it, or the budgets would not hold
            usage["prompt"] += prompt_estimate
            usage["completion"] += min(len(answered) // 4 + 1, max(1, cap))  # no more than the server may write
            if not estimated:
                self.log.warning("%s %s; counting an estimate (4 characters a token)", where, unusable)
            estimated.append("usage estimated")
        if not choices:
            raise _Attempt("no choices in the response", retryable=True)
        raw = text if text is not None else (str(refusal) if refusal else None)
        if finish == "length":
            message_text = (
                f"the answer was truncated at {self.settings['max_tokens_param']}={cap} tokens (finish_reason=length)"
            )
            raise _Attempt(
                message_text,
                raw=raw,
                final=f"{where}: {message_text}; raise the connection's max_tokens or the decision's "
                "max_tokens_per_decision (a reasoning model spends tokens before answering)",
            )
        model = getattr(response, "model", None)
        reply = LLMReply(content=text, tool_calls=calls, model=model if isinstance(model, str) else None)
        if not calls:
            try:
                reply.answer = validate(content, refusal)
            except InvalidAnswer as err:
                raise _Attempt(str(err), retryable=True, raw=raw, invalid_answer=True) from None
        return reply

    def test_connection(self) -> tuple[bool, str]:
        """The connection form's Test button: lists the server's models (``GET /models``, with the key and
        headers a request sends) within the connection's ``timeout``, and checks ``model`` is among them.
        A server that lists no models or has no ``/models`` (some gateways and OpenAI-compatible servers)
        passes, saying the model was not checked; so does a model missing on Azure OpenAI, whose ``model`` is
        a deployment's name, which ``/models`` does not list."""
        import openai

        try:
            s = self.settings
            client = self.client
        except Exception as err:  # noqa: BLE001 - a bad connection: the form shows why
            return False, f"{type(err).__name__}: {_short(self._scrub(str(err)))}"
        url, model, seconds = s["shown_url"], s["model"], s["timeout"]
        timeout = openai.Timeout(seconds, connect=connect_timeout(seconds))
        box = self._within(seconds, lambda: [m.id for m in client.models.list(timeout=timeout).data])
        if not box:
            return False, f"no answer from {url} within {seconds:g} s (the connection's timeout)"
        err = box.get("error")
        if isinstance(err, openai.NotFoundError):
            return True, (
                f"reached {url}, which answered HTTP 404 for /models (some OpenAI-compatible servers have none; if "
                f"yours does, check the base URL): model {model!r} not checked"
            )
        if err is not None:  # diagnosed as a decision's request is: the connect error's cause, a proxy, no key
            if isinstance(err, openai.APIConnectionError) and not isinstance(err, openai.APITimeoutError):
                said = self._connection_failure(err)
            else:
                said = "; ".join(filter(None, [_short(str(err)), self._no_api_key(err)]))
            return False, f"{type(err).__name__} from {url}: {self._scrub(said)}"
        listed = [str(i) for i in box["response"]]
        if not listed:
            return True, f"reached {url}, but it lists no models: model {model!r} not checked"
        if model in listed:
            return True, f"reached {url}; it serves model {model!r}"
        shown = _short(", ".join(sorted(listed)), 300)
        if deployments_unlisted(s["base_url"]):
            return True, (
                f"reached {url}; model {model!r} is not among the models it lists ({shown}), which on Azure OpenAI "
                "is expected: the model is a deployment's name, and /models lists no deployments"
            )
        return False, (
            f"reached {url}, but model {model!r} is not among the {len(listed)} model(s) it lists: {shown}; fix the "
            "connection's extra 'model'"
        )


def correction(problem: str) -> str:
    """The message sent after an invalid answer, with the request it answered: what was wrong and what is wanted."""
    return (
        f"Your answer was not accepted: {_short(problem, 300)}. Answer with the JSON object only (no Markdown, no "
        "other text), with exactly the fields action, rationale, confidence and evidence."
    )


def connect_timeout(seconds: float) -> float:
    """The bound on connecting (TCP and TLS) within an attempt of ``seconds``: half of it, at most
    :data:`MAX_CONNECT_TIMEOUT`, so that a connect that never completes ends before the attempt's
    wall-clock bound and is told apart from a request sent and not answered."""
    return min(seconds / 2, MAX_CONNECT_TIMEOUT)


def _never_sent(err: BaseException) -> bool:
    """Whether a client timeout came before the request was sent: connecting (TCP, TLS) or waiting for a
    pooled connection. Read by class name: openai's HTTP client is httpx or, in newer releases, httpx2."""
    names = {kind.__name__ for kind in type(err.__cause__).__mro__} if err.__cause__ is not None else set()
    return bool(names & {"ConnectTimeout", "PoolTimeout"})


def _lacks_version(base_url: str) -> bool:
    """Whether ``base_url``'s path has no version segment (``/v1``), as OpenAI-compatible servers serve
    under; an Azure OpenAI deployment's URL (``.../openai/deployments/NAME``) needs none."""
    path = urlsplit(base_url).path
    return not re.search(r"/v\d+[a-z0-9]*(?:/|$)", path) and "/deployments/" not in path


def _connection_cause(err: BaseException) -> str:
    """What failed under openai's "Connection error.": the HTTP client's exception (``ConnectError: [Errno 111]
    Connection refused``), any URL's password in it masked."""
    cause = err.__cause__ or err.__context__
    if cause is None:
        return _short(str(err), 200)
    return f"{type(cause).__name__}: {_short(mask_url_secrets(str(cause) or type(cause).__name__), 200)}"


def _proxy_hint(url: str) -> str:
    """When a proxy from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``) applies to ``url``, as the
    HTTP client reads them: which one (its user part shown as ``***``) and how to reach ``url`` directly."""
    from urllib.request import getproxies_environment, proxy_bypass_environment

    parts = urlsplit(url)
    proxies = getproxies_environment()
    host = parts.hostname or ""
    scheme = parts.scheme.lower()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or proxy_bypass_environment(host, proxies):
        return ""
    names = [f"{scheme}_proxy", "all_proxy"] if proxies.get(scheme) else ["all_proxy"]
    name = next((n for key in names for n in (key.upper(), key) if os.environ.get(n)), names[0].upper())
    return (
        f"; the request went through proxy {shown_url(proxy)} (from {name}): if {host} is reached directly, add it "
        "to NO_PROXY"
    )


def _unusable_usage(
    prompt_tokens: Any, completion_tokens: Any, *, answered: int, prompt_estimate: int, cap: int
) -> str | None:
    """Why a response's reported usage cannot be counted (None: it can): counted as reported, such figures
    would turn the token budgets off, or spend them on nothing.

    Absent, not whole numbers, negative, past :data:`MAX_REPORTED_TOKENS` or no prompt tokens; prompt tokens
    off ``prompt_estimate`` by more than :data:`PROMPT_TOKENS_FACTOR` either way (give or take
    :data:`USAGE_SLACK_TOKENS`); completion tokens past ``cap`` (plus the slack), or too few for the answer's
    ``answered`` characters (none for a non-empty answer, or more than :data:`MAX_CHARS_PER_TOKEN` a token).

    :param prompt_tokens: the reported prompt tokens.
    :param completion_tokens: the reported completion tokens.
    :param answered: the answer's length in characters (content, refusal and tool calls' arguments).
    :param prompt_estimate: the local estimate of the prompt sent (:func:`estimate_tokens`).
    :param cap: the completion cap sent with the request.
    """
    numbers = (prompt_tokens, completion_tokens)
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
        return "sent no token usage"
    if not all(0 <= n <= MAX_REPORTED_TOKENS for n in numbers) or prompt_tokens == 0:
        return f"reported a usage no request has ({prompt_tokens} prompt, {completion_tokens} completion tokens)"
    low = prompt_estimate / PROMPT_TOKENS_FACTOR - USAGE_SLACK_TOKENS
    high = prompt_estimate * PROMPT_TOKENS_FACTOR + USAGE_SLACK_TOKENS
    if not low <= prompt_tokens <= high:
        return (
            f"reported {prompt_tokens} prompt tokens for a prompt of about {prompt_estimate} (believed within "
            f"{PROMPT_TOKENS_FACTOR}x either way)"
        )
    if completion_tokens > cap + USAGE_SLACK_TOKENS:
        return f"reported {completion_tokens} completion tokens for a request capped at {cap}"
    if answered and completion_tokens * MAX_CHARS_PER_TOKEN < answered:
        return f"reported {completion_tokens} completion tokens for an answer of {answered} characters"
    return None


def _header_safe(text: str) -> bool:
    """Whether ``text`` can be sent in an HTTP header as the client sends it: printable ASCII."""
    return text.isascii() and text.isprintable()


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def shown_url(url: str) -> str:
    """``url`` with its user part, if any, shown as ``***`` (a proxy's base URL may carry a user and password,
    or a token as the user), and its query values but :data:`SHOWN_QUERY`'s (a gateway's key may be one):
    messages, logs and the trace name the URL."""
    user_part = _user_part(url)
    if user_part:
        scheme, _, rest = url.partition("://")
        url = f"{scheme}://***@{rest[len(user_part) + 1 :]}"
    return mask_url_secrets(url, query_kept=SHOWN_QUERY)


def deployments_unlisted(base_url: str) -> bool:
    """Whether ``base_url`` is Azure OpenAI's, where the ``model`` of a request is a deployment's name,
    which ``/models`` does not list."""
    host = (urlsplit(base_url).hostname or "").lower()
    return host.endswith((".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com"))


def _hidden_query_values(query: str) -> set[str]:
    """The values of a base URL's ``query`` that are shown as ``***``, as sent and as written."""
    hidden = set()
    for item in query.split("&"):
        name, _, value = item.partition("=")
        if value and name.lower() not in SHOWN_QUERY:
            hidden |= {value, *(v for n, v in parse_qsl(item, keep_blank_values=True) if v)}
    return hidden


def _user_part(url: str) -> str:
    """The user part of ``url`` as written (``user:password`` before the host's ``@``), else ``""``. A password
    holding an unencoded ``/``, ``?`` or ``#`` cuts the URL's authority short, so that ``urlsplit`` reads
    ``user:pass`` as a host and a port that is not a number: then the user part runs to the first ``@``. An
    ``@`` in the path or query of a URL without a user part is not one."""
    rest = url.partition("://")[2]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        return authority.rpartition("@")[0]
    _, colon, port = authority.partition(":")
    if colon and not authority.startswith("[") and not port.isdigit() and "@" in rest:
        return rest[: rest.index("@")]
    return ""


def _short(text: Any, limit: int = 300) -> str:
    text = text if isinstance(text, str) else json.dumps(text, default=str)
    return text if len(text) <= limit else text[:limit] + "..."
