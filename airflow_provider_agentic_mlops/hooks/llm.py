"""An OpenAI-compatible LLM through an Airflow connection (OpenAI, Azure OpenAI, vLLM, Ollama, LiteLLM)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_agentic_mlops.core.decision import InvalidAnswer, LLMFailure, LLMReply, ToolCall
from airflow_provider_agentic_mlops.hooks.connection import connection_url, get_connection_or_none
from airflow_provider_agentic_mlops.hooks.connection_form import with_connection_form

if TYPE_CHECKING:
    from openai import OpenAI
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

    from airflow_provider_agentic_mlops.core.decision import LLMRequest

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_TOKENS = 1024
DEFAULT_MAX_RETRIES = 2
DEFAULT_BACKOFF = 1.0


class _Retryable(Exception):
    """An attempt failed in a way another attempt may fix (timeout, 5xx/429, invalid answer)."""


@with_connection_form
class LLMHook(BaseHook):
    """Chat completions with a strict JSON-schema answer, tool calls and bounded retries.

    Connection (type ``agentic_mlops_llm``): *password* is the API key; *host* the base URL of any
    OpenAI-compatible server (``https://api.openai.com/v1``, an Azure OpenAI ``.../openai/v1``
    endpoint, vLLM/Ollama/LiteLLM ``http://host:port/v1``). Extras: ``model`` (required),
    ``timeout`` (seconds, default 30), ``max_tokens`` (completion cap, default 1024),
    ``max_retries`` (retries after the first attempt, default 2), ``retry_backoff_seconds`` (first
    backoff, doubled each retry, default 1), ``max_tokens_param`` (``max_tokens`` or
    ``max_completion_tokens`` for models that require it), ``default_headers`` (dict, e.g. for a
    gateway).

    :param llm_conn_id: the connection id.
    """

    conn_name_attr = "llm_conn_id"
    default_conn_name = "agentic_mlops_llm_default"
    conn_type = "agentic_mlops_llm"
    hook_name = "LLM, OpenAI-compatible (agentic MLOps)"

    def __init__(self, llm_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.llm_conn_id = llm_conn_id

    @classmethod
    def connection_exists(cls, llm_conn_id: str) -> bool:
        """Whether the connection is configured (mode ``auto`` uses the LLM only then)."""
        return get_connection_or_none(llm_conn_id) is not None

    @cached_property
    def settings(self) -> dict[str, Any]:
        conn = get_connection_or_none(self.llm_conn_id)
        if conn is None:
            raise ValueError(
                f"LLM connection {self.llm_conn_id!r} does not exist; create it (type agentic_mlops_llm: host = base "
                "URL, password = API key, extra {\"model\": ...}) or use the decision mode 'rules'"
            )
        extra = conn.extra_dejson or {}
        model = extra.get("model")
        if not model:
            raise ValueError(
                f'LLM connection {self.llm_conn_id!r} has no model; set its extra, e.g. {{"model": "gpt-4o-mini"}}'
            )
        host = connection_url(conn, default_scheme="https", default=DEFAULT_BASE_URL)

        def number(key: str, default: float, cast: Callable[[Any], Any]) -> Any:
            value = extra.get(key, default)
            try:
                return cast(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"LLM connection {self.llm_conn_id!r}: extra {key!r} = {value!r} is not a number"
                ) from None

        return {
            "base_url": host.rstrip("/"),
            "api_key": conn.password or "not-needed",  # local servers (vLLM, Ollama) accept any key
            "model": str(model),
            "timeout": number("timeout", DEFAULT_TIMEOUT, float),
            "max_tokens": number("max_tokens", DEFAULT_MAX_TOKENS, int),
            "max_retries": max(0, number("max_retries", DEFAULT_MAX_RETRIES, int)),
            "backoff": max(0.0, number("retry_backoff_seconds", DEFAULT_BACKOFF, float)),
            "max_tokens_param": extra.get("max_tokens_param", "max_tokens"),
            "default_headers": extra.get("default_headers") or None,
        }

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
        )

    def get_conn(self) -> OpenAI:
        return self.client

    def complete(self, **request: Unpack[LLMRequest]) -> LLMReply:
        """One chat completion (the :class:`~airflow_provider_agentic_mlops.core.decision.LLMClient` of
        ``decide``); retried with exponential backoff on timeouts, connection errors, HTTP 408/409/429/5xx
        and answers ``validate`` rejects (invalid JSON, refusal, unknown action).

        :param request: the fields of :class:`~airflow_provider_agentic_mlops.core.decision.LLMRequest`;
            its ``max_tokens`` is capped by the connection's ``max_tokens`` too.
        :return: the reply with token usage summed over every attempt and the total latency.
        :raises LLMFailure: all attempts failed, or a non-retryable error (401, 400, ...).
        """
        import openai
        from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        s = self.settings
        usage = {"prompt": 0, "completion": 0}
        errors: list[str] = []
        last_raw: list[str | None] = [None]
        started = time.monotonic()
        validate = request["validate"]
        body: dict[str, Any] = {
            "model": s["model"],
            "messages": request["messages"],
            "response_format": request["response_format"],
            s["max_tokens_param"]: max(1, min(int(request["max_tokens"]), s["max_tokens"])),
        }
        if request["tools"]:
            body["tools"] = request["tools"]

        def attempt() -> LLMReply:
            try:
                response = self.client.chat.completions.create(**body)
            except openai.APITimeoutError:
                errors.append(f"timeout after {s['timeout']} s")
                raise _Retryable from None
            except openai.APIConnectionError as err:
                errors.append(f"connection error: {err}")
                raise _Retryable from None
            except openai.APIStatusError as err:
                errors.append(f"HTTP {err.status_code}: {_short(err.message)}")
                if err.status_code in (408, 409, 429) or err.status_code >= 500:
                    raise _Retryable from None
                raise LLMFailure(
                    f"LLM connection {self.llm_conn_id!r} ({s['base_url']}, model {s['model']!r}) answered "
                    f"HTTP {err.status_code}: {_short(err.message)}; check the API key, base URL and model",
                    attempts=len(errors),
                    errors=errors,
                ) from None
            if response.usage is not None:
                usage["prompt"] += response.usage.prompt_tokens or 0
                usage["completion"] += response.usage.completion_tokens or 0
            if not response.choices:
                errors.append("no choices in the response")
                raise _Retryable
            message = response.choices[0].message
            last_raw[0] = message.content if message.content is not None else (message.refusal or None)
            calls = [
                ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "{}")
                for c in (message.tool_calls or [])
                if getattr(c, "function", None) is not None
            ]
            reply = LLMReply(content=message.content, tool_calls=calls)
            if not calls:
                try:
                    reply.answer = validate(message.content, getattr(message, "refusal", None))
                except InvalidAnswer as err:
                    errors.append(str(err))
                    raise _Retryable from None
            return reply

        retrying = Retrying(
            stop=stop_after_attempt(1 + s["max_retries"]),
            wait=wait_exponential(multiplier=s["backoff"], min=s["backoff"], max=max(s["backoff"], 30.0)),
            retry=retry_if_exception_type(_Retryable),
            reraise=False,
        )
        try:
            reply = retrying(attempt)
        except RetryError:
            raise LLMFailure(
                f"no usable answer from LLM connection {self.llm_conn_id!r} after {len(errors)} attempt(s)",
                attempts=len(errors),
                errors=errors,
                raw=last_raw[0],
                prompt_tokens=usage["prompt"],
                completion_tokens=usage["completion"],
                latency_ms=_ms(started),
            ) from None
        except LLMFailure as err:
            err.prompt_tokens, err.completion_tokens, err.latency_ms = (
                usage["prompt"],
                usage["completion"],
                _ms(started),
            )
            raise
        reply.prompt_tokens, reply.completion_tokens = usage["prompt"], usage["completion"]
        reply.latency_ms = _ms(started)
        reply.attempts = len(errors) + 1
        reply.errors = errors
        if errors:
            self.log.warning("LLM answered after %d failed attempt(s): %s", len(errors), " | ".join(errors))
        return reply

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.client.models.list()
        except Exception as err:
            return False, f"{type(err).__name__}: {_short(str(err))}"
        return True, f"reached {self.settings['base_url']}"


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _short(text: Any, limit: int = 300) -> str:
    text = text if isinstance(text, str) else json.dumps(text, default=str)
    return text if len(text) <= limit else text[:limit] + "..."
