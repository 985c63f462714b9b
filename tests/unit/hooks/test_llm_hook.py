"""LLMHook against the local OpenAI-compatible TEST DOUBLE, through the real ``openai`` client."""

from __future__ import annotations

import json
import re
import socket
import time

import pytest

from airflow_provider_agentic_mlops.core.decision import (
    RESPONSE_FORMAT,
    LLMFailure,
    decide,
    parse_answer,
    tool_specs,
)
from airflow_provider_agentic_mlops.hooks.llm import LLMHook, deployments_unlisted, retry_after_seconds, shown_url
from tests.doubles import openai_server
from tests.doubles.openai_server import OpenAIDouble, ScriptedResponse, _completion

llm_clock, llm_sleep = time.monotonic, time.sleep
openai_double = openai_server.openai_double  # the TEST DOUBLE fixture, until tests/conftest.py registers the plugin

MESSAGES = [{"role": "system", "content": "decide"}, {"role": "user", "content": "facts"}]
ANSWER = {"action": "escalate", "rationale": "Scripted.", "confidence": 0.5, "evidence": ["x"]}


def validate(content, refusal):
    return parse_answer(content, refusal=refusal)


@pytest.fixture
def hook(openai_double: OpenAIDouble, monkeypatch: pytest.MonkeyPatch, tmp_path) -> LLMHook:
    """A hook with room for a slow, loaded machine: an attempt that times out is charged its whole cap, so a
    short timeout made tests whose answers arrive fail on a busy CI machine."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_AGENTIC_MLOPS_LLM_DEFAULT", openai_double.connection_json(timeout=10))
    return LLMHook()


@pytest.fixture
def impatient_hook(openai_double: OpenAIDouble, monkeypatch: pytest.MonkeyPatch, tmp_path) -> LLMHook:
    """:func:`hook` with a 0.5 s timeout: for the tests of what a timeout does."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_AGENTIC_MLOPS_LLM_DEFAULT", openai_double.connection_json(timeout=0.5))
    return LLMHook()


def complete(hook: LLMHook, **kw):
    return hook.complete(
        messages=MESSAGES,
        tools=kw.get("tools"),
        response_format=RESPONSE_FORMAT,
        max_tokens=kw.get("max_tokens", 500),
        validate=validate,
    )


def test_answer_is_requested_with_the_strict_schema_and_usage_is_returned(hook, openai_double):
    openai_double.answer("retrain", confidence=0.9, usage=(321, 45))
    reply = complete(hook, max_tokens=400)
    assert reply.answer.action == "retrain" and reply.answer.confidence == 0.9
    assert (reply.prompt_tokens, reply.completion_tokens, reply.attempts) == (321, 45, 1)
    assert reply.latency_ms > 0
    (request,) = openai_double.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {openai_double.api_key}"
    body = request.body
    assert body["model"] == "double-model"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["max_tokens"] == 400
    assert "tools" not in body


def test_connection_max_tokens_caps_the_request(openai_double, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_LLM_SMALL", openai_double.connection_json(max_tokens=64))
    openai_double.answer("no_action")
    complete(LLMHook("llm_small"), max_tokens=4000)
    assert openai_double.requests[0].body["max_tokens"] == 64


def test_tool_calls_are_returned_to_the_caller(hook, openai_double):
    openai_double.tool_call("get_column_drift", {"column": "amount"})
    reply = complete(hook, tools=tool_specs())
    assert reply.answer is None
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [("get_column_drift", {"column": "amount"})]
    assert {t["function"]["name"] for t in openai_double.requests[0].body["tools"]} == {
        "get_column_drift",
        "get_drift_history",
        "get_last_retrain",
    }


@pytest.mark.parametrize(
    "script, error",
    [
        (lambda d: d.http_error(500), "HTTP 500"),
        (lambda d: d.http_error(429, "rate limited"), "HTTP 429"),
        (lambda d: d.content("this is not json"), "not valid JSON"),
        (lambda d: d.refusal("I won't"), "refused"),
        (lambda d: d.answer("delete_the_model"), "not one of"),
        (lambda d: d.delayed(3), "timeout"),
    ],
)
def test_failure_is_retried_then_the_next_attempt_answers(request, openai_double, script, error):
    hook = request.getfixturevalue("impatient_hook" if error == "timeout" else "hook")
    script(openai_double)
    openai_double.answer("escalate")
    # a budget with room for two attempts: one that timed out counts its whole cap (1024, the connection's)
    reply = complete(hook, max_tokens=4000)
    assert reply.answer.action == "escalate"
    assert reply.attempts == 2 and len(openai_double.requests) == 2
    assert error in reply.errors[0]


def test_an_answer_in_a_markdown_code_fence_is_read_without_another_request(hook, openai_double):
    openai_double.content("```json\n" + json.dumps(ANSWER) + "\n```")
    assert complete(hook).answer.action == "escalate" and len(openai_double.requests) == 1


def test_a_retry_after_an_invalid_answer_tells_the_llm_what_was_wrong(hook, openai_double):
    openai_double.content(json.dumps({**ANSWER, "note": "extra"}))
    openai_double.answer("escalate")
    assert complete(hook).answer.action == "escalate"
    first, second = (r.body["messages"] for r in openai_double.requests)
    assert first == MESSAGES and second[: len(MESSAGES)] == MESSAGES  # the caller's messages, unchanged
    told = second[-1]
    assert told["role"] == "user" and "JSON object only" in told["content"] and "['note']" in told["content"]


def test_building_the_client_counts_against_neither_the_deadline_nor_the_latency(openai_double, monkeypatch, tmp_path):
    """The first call imports openai and builds the client: a clock that jumps 1000 s while the client is built
    shows whether that time was charged to the decision."""
    import types

    import openai

    from airflow_provider_agentic_mlops.hooks import llm

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_AGENTIC_MLOPS_LLM_DEFAULT", openai_double.connection_json(decision_timeout=60))
    jump = [0.0]
    monkeypatch.setattr(llm, "time", types.SimpleNamespace(monotonic=lambda: llm_clock() + jump[0], sleep=llm_sleep))
    built = openai.OpenAI

    def slow_to_build(*args, **kwargs):
        jump[0] += 1000.0
        return built(*args, **kwargs)

    monkeypatch.setattr(openai, "OpenAI", slow_to_build)
    openai_double.answer("escalate")
    client = LLMHook().decision_client()
    reply = client(messages=MESSAGES, tools=None, response_format=RESPONSE_FORMAT, max_tokens=500, validate=validate)
    assert reply.answer.action == "escalate" and reply.latency_ms < 1_000_000


def test_retries_are_bounded_then_llm_failure_carries_the_trace(hook, openai_double):
    openai_double.content("{broken", usage=(100, 5), times=5)
    with pytest.raises(LLMFailure) as info:
        complete(hook)
    err = info.value
    assert len(openai_double.requests) == 3  # 1 + max_retries (2)
    assert err.attempts == 3 and all("not valid JSON" in e for e in err.errors)
    assert err.raw == "{broken"
    assert (err.prompt_tokens, err.completion_tokens) == (300, 15)  # failed attempts cost tokens too
    assert openai_double.pending == 2


def test_llm_failure_after_retries_says_the_last_error_in_the_servers_words(hook, openai_double):
    openai_double.http_error(
        429, "You exceeded your current quota, please check your plan and billing details.", times=3
    )
    with pytest.raises(LLMFailure) as info:
        complete(hook)
    assert len(openai_double.requests) == 3
    assert str(info.value).endswith(
        "after 3 attempt(s); last error: HTTP 429: You exceeded your current quota, please check your plan and "
        "billing details."
    )


def unreachable_hook(monkeypatch: pytest.MonkeyPatch, tmp_path, url: str) -> LLMHook:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    conn = {"conn_type": "agentic_mlops_llm", "host": url, "extra": {"model": "m", "max_retries": 0}}
    monkeypatch.setenv("AIRFLOW_CONN_AGENTIC_MLOPS_LLM_DEFAULT", json.dumps(conn))
    return LLMHook()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connection_says_why_not_only_connection_error(monkeypatch, tmp_path):
    hook = unreachable_hook(monkeypatch, tmp_path, f"http://127.0.0.1:{closed_port()}/v1")
    with pytest.raises(LLMFailure) as info:
        complete(hook)
    assert "ConnectError" in str(info.value) and "refused" in str(info.value).lower()
    assert "proxy" not in str(info.value).lower()


def test_a_connection_error_through_a_proxy_names_the_proxy_variable_and_no_proxy(openai_double, monkeypatch, tmp_path):
    hook = unreachable_hook(monkeypatch, tmp_path, openai_double.base_url)
    monkeypatch.setenv("HTTP_PROXY", f"http://user:proxysecret@127.0.0.1:{closed_port()}")
    with pytest.raises(LLMFailure) as info:
        complete(hook)
    message = str(info.value)
    assert "HTTP_PROXY" in message and "NO_PROXY" in message and "127.0.0.1" in message
    assert "proxysecret" not in message and not openai_double.requests


def test_a_model_that_wants_max_completion_tokens_is_pointed_at_the_max_tokens_param_extra(hook, openai_double):
    openai_double.http_error(
        400,
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
    )
    with pytest.raises(LLMFailure, match='set the connection\'s extra "max_tokens_param": "max_completion_tokens"'):
        complete(hook)


@pytest.mark.parametrize(
    "said",
    [
        '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',  # vLLM
        "registry.ollama.ai/library/gemma:2b does not support tools",  # Ollama
    ],
)
def test_a_server_without_tool_calls_is_asked_again_without_tools_and_the_trace_says_how_to_stop_it(
    hook, openai_double, said
):
    openai_double.http_error(400, said)
    openai_double.answer("escalate", times=2)
    reply = complete(hook, tools=tool_specs())
    assert reply.answer.action == "escalate" and len(openai_double.requests) == 2
    assert "tools" in openai_double.requests[0].body and "tools" not in openai_double.requests[1].body
    assert "retried without tools" in reply.errors[0] and "decision.max_tool_calls: 0" in reply.errors[0]
    complete(hook, tools=tool_specs())  # the decision's next call: not refused again
    assert "tools" not in openai_double.requests[2].body and len(openai_double.requests) == 3


def test_a_server_without_structured_outputs_is_asked_for_a_json_object_checked_after(hook, openai_double):
    openai_double.http_error(
        400, "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model."
    )
    openai_double.answer("escalate")
    reply = complete(hook)
    assert reply.answer.action == "escalate"
    assert openai_double.requests[1].body["response_format"] == {"type": "json_object"}
    assert "json_object" in reply.errors[0] and "structured outputs" in reply.errors[0]


def test_with_no_retries_left_the_refused_part_is_still_left_out_once(openai_double, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_AGENTIC_MLOPS_LLM_DEFAULT", openai_double.connection_json(max_retries=0))
    openai_double.http_error(400, "registry.ollama.ai/library/gemma:2b does not support tools", times=2)
    with pytest.raises(LLMFailure) as info:
        complete(LLMHook(), tools=tool_specs())
    assert len(openai_double.requests) == 2 and "max_tool_calls: 0" in str(info.value)
    assert "check the API key" not in str(info.value)


def test_authentication_error_is_not_retried(openai_double, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    conn = json.loads(openai_double.connection_json())
    conn["password"] = "wrong-key"
    monkeypatch.setenv("AIRFLOW_CONN_LLM_BADKEY", json.dumps(conn))
    with pytest.raises(LLMFailure, match="HTTP 401.*check the API key"):
        complete(LLMHook("llm_badkey"))
    assert len(openai_double.requests) == 1


def test_a_404_from_a_base_url_without_v1_suggests_adding_it_and_names_the_url_called(
    openai_double, monkeypatch, tmp_path
):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    conn = json.loads(openai_double.connection_json())
    conn["host"] = openai_double.base_url.removesuffix("/v1")
    monkeypatch.setenv("AIRFLOW_CONN_AGENTIC_MLOPS_LLM_DEFAULT", json.dumps(conn))
    openai_double.http_error(404, "Not Found")
    with pytest.raises(LLMFailure) as info:
        complete(LLMHook())
    message = str(info.value)
    assert f"{conn['host']}/chat/completions" in message and f"{conn['host']}/v1" in message
    assert "check the API key" not in message


def test_a_401_for_a_connection_without_a_password_says_it_has_no_api_key(openai_double, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    conn = json.loads(openai_double.connection_json())
    del conn["password"]
    monkeypatch.setenv("AIRFLOW_CONN_AGENTIC_MLOPS_LLM_DEFAULT", json.dumps(conn))
    openai_double.http_error(401, "Incorrect API key provided: not-needed")
    with pytest.raises(LLMFailure, match="has no API key.*password"):
        complete(LLMHook())


@pytest.mark.parametrize("payload", [b"<html><body>Sign in</body></html>", b"[]", b'{"object": "list"}'])
def test_a_200_answer_that_is_not_a_chat_completion_is_an_llm_failure_naming_the_base_url(hook, openai_double, payload):
    openai_double._push(ScriptedResponse(raw_body=payload))
    with pytest.raises(LLMFailure, match="not a chat completion.*check the base URL") as info:
        complete(hook)
    assert openai_double.base_url in str(info.value)
    assert len(openai_double.requests) == 1  # the same URL answers the same page: not retried


def test_decide_through_the_hook_never_raises_on_a_broken_answer(hook, openai_double):
    from datetime import datetime

    from airflow_provider_agentic_mlops.core.config import DecisionConfig
    from airflow_provider_agentic_mlops.core.decision import ModelHistory

    openai_double._push(ScriptedResponse(raw_body=b"<html>Bad gateway</html>"))
    drift = {"drift_share": 0.3, "n_columns": 1, "n_drifted": 0, "columns": {}, "data_quality": {}}
    d = decide(
        model_name="m",
        drift=drift,
        history=ModelHistory(now=datetime(2025, 1, 1)),
        config=DecisionConfig(),
        mode="llm",
        llm=hook.complete,
    )
    assert d.decided_by == "rules" and "not a chat completion" in d.error


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"default_headers": "X-Api-Key: abc123"}, "'default_headers'.*JSON object"),
        ({"default_headers": {"X-Api-Key": 5}}, "'default_headers'.*strings"),
        ({"timeout": -5}, "'timeout' = -5.*greater than 0"),
        ({"max_tokens": 0}, "'max_tokens' = 0.*at least 1"),
        ({"max_tokens_param": "max_length"}, "'max_tokens_param'.*max_completion_tokens"),
    ],
)
def test_bad_connection_extras_are_clear_errors_naming_the_extra(openai_double, monkeypatch, tmp_path, extra, message):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_LLM_EXTRA", openai_double.connection_json(**extra))
    with pytest.raises(ValueError, match=message):
        _ = LLMHook("llm_extra").settings


@pytest.mark.parametrize(
    "headers, named",
    [
        ({"X-Api-Key": "sk-SUPERSECRET-gateway-key", "X-Retries": 3}, "value of 'X-Retries' is int"),
        ('{"X-Api-Key": "sk-SUPERSECRET-gateway-key", "X-Retries": 3}', "value of 'X-Retries' is int"),
        ("X-Api-Key: sk-SUPERSECRET-gateway-key", "text that is not JSON"),
        (["sk-SUPERSECRET-gateway-key"], "got list, not an object"),
    ],
)
def test_a_bad_default_headers_extra_names_the_problem_never_a_header_value(
    openai_double, monkeypatch, tmp_path, headers, named
):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_LLM_HEADERS", openai_double.connection_json(default_headers=headers))
    with pytest.raises(ValueError, match="'default_headers'") as info:
        _ = LLMHook("llm_headers").settings
    assert named in str(info.value) and "SUPERSECRET" not in str(info.value)


@pytest.mark.parametrize(
    "password, headers, named",
    [
        ("sk-tést-SECRETKEY", None, "API key (the password)"),
        ("sk-SECRETKEY\n", None, "API key (the password)"),  # pasted with its line break
        ("sk-test-double", {"X-Gateway-Key": "gw-SECRETKEY-ü"}, "value of default_headers 'X-Gateway-Key'"),
    ],
)
def test_a_key_no_http_header_can_carry_is_a_clear_error_naming_the_connection_never_the_key(
    openai_double, monkeypatch, tmp_path, password, headers, named
):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    conn = json.loads(openai_double.connection_json(**({"default_headers": headers} if headers else {})))
    conn["password"] = password
    monkeypatch.setenv("AIRFLOW_CONN_LLM_KEY", json.dumps(conn))
    with pytest.raises(ValueError, match="LLM connection 'llm_key'") as info:
        _ = LLMHook("llm_key").settings
    assert named in str(info.value) and "re-enter" in str(info.value)
    assert "SECRETKEY" not in str(info.value)
    assert openai_double.requests == []


def test_default_headers_given_as_json_text_are_sent(openai_double, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    headers = json.dumps({"X-Gateway-Key": "abc123"})  # what a URI-form connection's extra holds
    monkeypatch.setenv("AIRFLOW_CONN_LLM_HEADERS", openai_double.connection_json(default_headers=headers))
    openai_double.answer("no_action")
    complete(LLMHook("llm_headers"))
    assert openai_double.requests[0].headers["x-gateway-key"] == "abc123"


def test_retries_together_stay_within_the_token_budget_of_the_call(hook, openai_double):
    openai_double.content("{broken", usage=(100, 150), times=3)
    with pytest.raises(LLMFailure, match="token budget") as info:
        complete(hook, max_tokens=400)  # the prompt (~30 tokens) plus 400: the call's share of the budget
    caps = [r.body["max_tokens"] for r in openai_double.requests]
    assert caps[0] == 400 and caps[1] < 400 - 150  # the second attempt gets what the first left
    assert info.value.prompt_tokens + info.value.completion_tokens <= 400 + 100
    # the trace counts the requests made, not the stop for the budget; the stop is said among the errors
    assert info.value.attempts == len(openai_double.requests) and "token budget" in info.value.errors[-1]
    assert f"({len(openai_double.requests)} attempt(s))" in str(info.value)


def test_an_attempt_that_timed_out_counts_its_worst_case_against_the_budget(openai_double, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_LLM_SLOW", openai_double.connection_json(timeout=0.5, max_retries=2))
    openai_double.answer("no_action", usage=(300, 500), delay=1.0, times=3)
    with pytest.raises(LLMFailure, match="token budget") as info:
        complete(LLMHook("llm_slow"), max_tokens=600)
    # the first attempt may have spent its prompt and its whole cap: no room is left for another one
    assert [r.body["max_tokens"] for r in openai_double.requests] == [600]
    assert info.value.completion_tokens == 600 and info.value.prompt_tokens > 0
    assert info.value.usage_estimated is True


@pytest.mark.parametrize(
    "message",
    [
        {"role": "assistant", "content": "[" * 40_000},  # deeper than any JSON parser recurses
        {"role": "assistant", "content": [{"type": "text", "text": json.dumps(ANSWER)}]},  # content parts, not text
    ],
    ids=["nested-100k-deep", "content-parts"],
)
def test_an_unreadable_answer_is_retried_and_every_attempts_tokens_are_counted(hook, openai_double, message):
    openai_double._push(ScriptedResponse(body=_completion(message, (100, 50))), times=3)
    with pytest.raises(LLMFailure) as info:
        complete(hook, max_tokens=500)
    assert len(openai_double.requests) == 3 and info.value.attempts == 3
    assert (info.value.prompt_tokens, info.value.completion_tokens) == (300, 150)
    assert isinstance(info.value.raw, str) and info.value.raw


def test_an_unexpected_error_while_reading_an_answer_keeps_the_tokens_the_server_reported(hook, openai_double):
    def broken(content, refusal):
        raise RuntimeError("validator bug")

    openai_double.answer("escalate", usage=(100, 50))
    with pytest.raises(LLMFailure, match="RuntimeError: validator bug") as info:
        hook.complete(messages=MESSAGES, tools=None, response_format=RESPONSE_FORMAT, max_tokens=500, validate=broken)
    assert (info.value.prompt_tokens, info.value.completion_tokens, info.value.attempts) == (100, 50, 1)


def test_an_answer_cut_at_the_token_cap_is_reported_as_truncated_and_not_resent(hook, openai_double):
    truncated = _completion({"role": "assistant", "content": '{"action": "escalate", "ratio'}, (100, 64), "length")
    openai_double._push(ScriptedResponse(body=truncated), times=3)
    with pytest.raises(LLMFailure, match=r"truncated at max_tokens=64 tokens \(finish_reason=length\).*raise") as info:
        complete(hook, max_tokens=64)
    assert len(openai_double.requests) == 1
    assert info.value.raw.startswith('{"action"') and info.value.completion_tokens == 64


def test_without_usage_in_the_response_the_tokens_are_estimated_and_said_so(hook, openai_double):
    body = _completion({"role": "assistant", "content": json.dumps(ANSWER)}, (0, 0))
    del body["usage"]
    openai_double._push(ScriptedResponse(body=body))
    reply = complete(hook)
    assert reply.usage_estimated is True
    assert reply.prompt_tokens > 0 and reply.completion_tokens >= len(json.dumps(ANSWER)) // 4


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},  # nothing counted for a whole answer
        {"prompt_tokens": -1_000_000, "completion_tokens": 0, "total_tokens": -1_000_000},  # would undo the day
        {"prompt_tokens": 120, "completion_tokens": -30, "total_tokens": 90},
        {"prompt_tokens": 10**15, "completion_tokens": 30, "total_tokens": 10**15 + 30},  # past any context window
    ],
    ids=["zero", "negative-prompt", "negative-completion", "absurd"],
)
def test_usage_no_server_could_report_is_estimated_and_said_so(hook, openai_double, usage):
    body = _completion({"role": "assistant", "content": json.dumps(ANSWER)}, (0, 0))
    body["usage"] = usage
    openai_double._push(ScriptedResponse(body=body))
    reply = complete(hook)
    assert reply.usage_estimated is True
    assert 0 < reply.prompt_tokens < 1000 and len(json.dumps(ANSWER)) // 4 <= reply.completion_tokens < 1000


def test_a_server_trickling_bytes_is_abandoned_at_the_timeout(openai_double, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_LLM_TRICKLE", openai_double.connection_json(timeout=0.5, max_retries=0))
    body = _completion({"role": "assistant", "content": json.dumps(ANSWER)}, (10, 10))
    openai_double._push(ScriptedResponse(body=body, trickle=10))  # a byte every 0.2 s: no read ever times out
    with pytest.raises(LLMFailure) as info:
        complete(LLMHook("llm_trickle"))
    assert "timeout: no complete answer within 0.5 s" in info.value.errors[0]


def test_retry_after_past_the_deadline_is_not_waited_for_and_said_so(openai_double, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_LLM_LIMITED", openai_double.connection_json(timeout=1, decision_timeout=5))
    error = {"error": {"message": "rate limited", "type": "rate_limit_exceeded", "code": "429"}}
    openai_double._push(ScriptedResponse(status=429, body=error, headers={"Retry-After": "600"}))
    openai_double.answer("escalate")  # a client ignoring Retry-After would take this one
    with pytest.raises(LLMFailure, match="deadline") as info:
        complete(LLMHook("llm_limited"))
    assert len(openai_double.requests) == 1
    assert "HTTP 429" in info.value.errors[0] and "Retry-After 600 s" in info.value.errors[0]


def test_retry_after_within_the_deadline_is_waited_for_then_answered(hook, openai_double):
    error = {"error": {"message": "rate limited", "type": "rate_limit_exceeded", "code": "429"}}
    openai_double._push(ScriptedResponse(status=429, body=error, headers={"retry-after-ms": "300"}))
    openai_double.answer("escalate")
    assert complete(hook).answer.action == "escalate"


def test_backoff_is_jittered_so_that_clients_failing_together_do_not_retry_together(
    openai_double, monkeypatch, tmp_path
):
    """Without jitter, 100 models on one key hit by a 503 retried in lockstep: each pause is now a random
    share, a half to all, of the doubled backoff (Retry-After, when sent, is taken as the server says)."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    conn = openai_double.connection_json(timeout=10, max_retries=3, retry_backoff_seconds=1, decision_timeout=600)
    monkeypatch.setenv("AIRFLOW_CONN_LLM_JITTER", conn)
    pauses: list[float] = []
    monkeypatch.setattr("airflow_provider_agentic_mlops.hooks.llm.time.sleep", pauses.append)
    shares = iter([0.5, 1.0, 0.75])
    drawn: list[tuple[float, float]] = []
    monkeypatch.setattr(
        "airflow_provider_agentic_mlops.hooks.llm.random.uniform", lambda a, b: drawn.append((a, b)) or next(shares)
    )
    openai_double.http_error(503, times=4)
    with pytest.raises(LLMFailure):
        complete(LLMHook("llm_jitter"))
    assert pauses == [0.5 * 1, 1.0 * 2, 0.75 * 4]
    assert drawn == [(0.5, 1.0)] * 3


@pytest.mark.parametrize(
    "headers, seconds",
    [
        ({"Retry-After": "6"}, 6.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past: now
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_in_seconds_milliseconds_or_as_a_date(headers, seconds):
    import httpx

    assert retry_after_seconds(httpx.Headers(headers)) == seconds


def test_a_uri_form_connection_keeps_its_path_as_the_base_urls_path(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_LLM_URI", "agentic-mlops-llm://:sk-x@llm.example.com:8443/v1?model=m")
    assert LLMHook("llm_uri").settings["base_url"] == "https://llm.example.com:8443/v1"
    double = OpenAIDouble(api_key="not-needed").start()  # a keyless local server, its URI with a protocol
    try:
        uri = f"agentic-mlops-llm://http://127.0.0.1:{double.port}/v1?model=double-model"
        monkeypatch.setenv("AIRFLOW_CONN_LLM_LOCAL", uri)
        hook = LLMHook("llm_local")
        assert hook.settings["base_url"] == double.base_url
        double.answer("escalate")
        assert complete(hook).answer.action == "escalate"
    finally:
        double.stop()


def test_a_base_url_query_such_as_azures_api_version_is_sent_with_every_request(openai_double, monkeypatch, tmp_path):
    """Azure OpenAI's ``...?api-version=...``: the query rides on every request, after the endpoint's path."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    conn = json.loads(openai_double.connection_json())
    conn["host"] = f"{openai_double.base_url}/?api-version=2024-10-21"
    monkeypatch.setenv("AIRFLOW_CONN_LLM_AZURE", json.dumps(conn))
    hook = LLMHook("llm_azure")
    openai_double.answer("escalate")
    assert complete(hook).answer.action == "escalate"
    (request,) = openai_double.requests
    assert (request.path, request.query) == ("/v1/chat/completions", "api-version=2024-10-21")
    assert hook.test_connection() == (
        True,
        f"reached {openai_double.base_url}/?api-version=2024-10-21; it serves model 'double-model'",
    )


@pytest.mark.parametrize("extra", ['"gpt-4o-mini"', '["gpt-4o"]', "42"])
def test_an_extra_that_is_json_but_not_an_object_is_a_clear_error(extra, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    conn = {"conn_type": "agentic_mlops_llm", "host": "https://llm.example.com/v1", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_LLM_NOTOBJECT", json.dumps(conn))
    with pytest.raises(
        ValueError, match=r"'llm_notobject': its extra .* is not a JSON object.*\{\"model\": \"gpt-4o-mini\"\}"
    ):
        _ = LLMHook("llm_notobject").settings


def test_airflow_refusing_an_extra_that_is_not_an_object_is_not_blamed_on_the_backend(monkeypatch):
    """Airflow 3.1's connection refuses such an extra itself (a ValueError from the secrets backend, which
    its lookup logs at DEBUG and reports as not found): the error is the extra's, not the backend's."""
    from airflow_provider_agentic_mlops.hooks import connection
    from airflow_provider_agentic_mlops.version_compat import CONNECTION_NOT_FOUND

    class EnvironmentVariablesBackend:  # what Airflow 3.1.8's raises for AIRFLOW_CONN_X = {"extra": "\"m\""}
        def get_connection(self, conn_id):
            raise ValueError(
                "Encountered JSON value in `extra` which does not parse as a dictionary in connection "
                f"{conn_id!r}. The `extra` field must contain a JSON representation of a Python dict."
            )

    def not_found(conn_id):
        raise CONNECTION_NOT_FOUND[0](f"The conn_id `{conn_id}` isn't defined")

    monkeypatch.setattr(connection.BaseHook, "get_connection", staticmethod(not_found))
    monkeypatch.setattr(connection, "_secrets_backends", lambda: [EnvironmentVariablesBackend()])
    assert LLMHook.connection_exists("llm_notobject")  # it exists: the rules then decide and say why
    with pytest.raises(ValueError) as caught:
        _ = LLMHook("llm_notobject").settings
    message = str(caught.value)
    assert "secrets backend" not in message
    assert re.search(r"'llm_notobject': its extra .* is not a JSON object.*\{\"model\": \"gpt-4o-mini\"\}", message)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"model": ["gpt-4o"]}, r"extra 'model' = \['gpt-4o'\] is not a model name"),
        ({"model": 4}, r"extra 'model' = 4 is not a model name"),
        ({"model": "m", "timeout": True}, r"extra 'timeout' = True is not a number"),
        ({"model": "m", "max_tokens": 1.9}, r"extra 'max_tokens' = 1.9 is not a whole number"),
        ({"model": "m", "max_retries": "2.5"}, r"extra 'max_retries' = '2.5' is not a whole number"),
    ],
)
def test_an_extra_of_the_wrong_type_is_refused_naming_it_not_coerced(extra, message, monkeypatch, tmp_path):
    """A list is not sent as the model name "['gpt-4o']", true is not a 1-second timeout, 1.9 is not 1 token."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    conn = {"conn_type": "agentic_mlops_llm", "host": "https://llm.example.com/v1", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_LLM_WRONGTYPE", json.dumps(conn))
    with pytest.raises(ValueError, match=f"'llm_wrongtype': {message}"):
        _ = LLMHook("llm_wrongtype").settings


def test_numbers_given_as_text_in_the_extra_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    extra = {"model": "m", "timeout": "2.5", "max_tokens": "512", "max_retries": 3.0}
    conn = {"conn_type": "agentic_mlops_llm", "host": "https://llm.example.com/v1", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_LLM_TEXTNUMBERS", json.dumps(conn))
    settings = LLMHook("llm_textnumbers").settings
    assert (settings["timeout"], settings["max_tokens"], settings["max_retries"]) == (2.5, 512, 3)


def test_a_base_url_that_is_not_http_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    conn = {"conn_type": "agentic_mlops_llm", "host": "ftp://llm.example.com/v1", "extra": {"model": "m"}}
    monkeypatch.setenv("AIRFLOW_CONN_LLM_FTP", json.dumps(conn))
    with pytest.raises(ValueError, match="'ftp://llm.example.com/v1' is not an http\\(s\\) URL.*https://host:port/v1"):
        _ = LLMHook("llm_ftp").settings


def test_missing_connection_and_missing_model_are_clear_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert LLMHook.connection_exists("no_such_llm") is False
    with pytest.raises(ValueError, match="'no_such_llm' does not exist.*mode 'rules'"):
        _ = LLMHook("no_such_llm").settings
    monkeypatch.setenv("AIRFLOW_CONN_LLM_NOMODEL", json.dumps({"conn_type": "agentic_mlops_llm", "host": "http://x"}))
    with pytest.raises(ValueError, match="has no model"):
        _ = LLMHook("llm_nomodel").settings


def test_core_decide_through_the_hook_uses_tools_then_answers(hook, openai_double):
    from datetime import datetime

    from airflow_provider_agentic_mlops.core.config import DecisionConfig
    from airflow_provider_agentic_mlops.core.decision import ModelHistory

    drift = {
        "drift_share": 0.3,
        "n_columns": 2,
        "n_drifted": 1,
        "columns": {"amount": {"score": 0.7, "method": "psi", "threshold": 0.1, "drifted": True, "type": "num"}},
        "top_drifted": [{"column": "amount", "score": 0.7, "method": "psi", "threshold": 0.1}],
        "data_quality": {"null_share": {}, "missing_columns": [], "schema_errors": []},
    }
    openai_double.tool_call("get_column_drift", {"column": "amount"}, usage=(1200, 10))
    openai_double.answer("retrain", usage=(1400, 40))
    d = decide(
        model_name="m",
        drift=drift,
        history=ModelHistory(now=datetime(2025, 1, 1)),
        config=DecisionConfig(),
        mode="llm",
        llm=hook.complete,
    )
    assert (d.action, d.decided_by) == ("retrain", "llm")
    assert (d.prompt_tokens, d.completion_tokens) == (2600, 50)
    second = openai_double.requests[1].body["messages"]
    fence = d.inputs_digest[:16]
    content = second[-1]["content"]
    assert content.startswith(f'<untrusted-data id="{fence}">')  # tool results are data, fenced as the facts
    result = json.loads(
        content.removeprefix(f'<untrusted-data id="{fence}">').removesuffix(f'</untrusted-data id="{fence}">')
    )
    assert second[-1]["role"] == "tool" and result["detail"]["score"] == 0.7
    assert second[-2]["tool_calls"][0]["function"]["name"] == "get_column_drift"


def test_test_connection_lists_models_with_the_connection_key(hook, openai_double, monkeypatch):
    assert hook.test_connection() == (True, f"reached {openai_double.base_url}; it serves model 'double-model'")
    conn = json.loads(openai_double.connection_json())
    conn["password"] = "wrong-key"
    monkeypatch.setenv("AIRFLOW_CONN_LLM_BADKEY", json.dumps(conn))
    ok, message = LLMHook("llm_badkey").test_connection()
    assert not ok
    assert message.startswith(f"AuthenticationError from {openai_double.base_url}: ")


def test_test_connection_fails_for_a_model_the_server_does_not_list_and_names_those_it_does(
    openai_double, monkeypatch, tmp_path
):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    conn = json.loads(openai_double.connection_json(timeout=10))
    conn["extra"]["model"] = "double-modle"
    monkeypatch.setenv("AIRFLOW_CONN_LLM_TYPO", json.dumps(conn))
    ok, message = LLMHook("llm_typo").test_connection()
    assert not ok
    assert "model 'double-modle' is not among the 1 model(s) it lists: double-model" in message
    assert openai_double.base_url in message and "extra 'model'" in message


@pytest.mark.parametrize(
    "response, said",
    [
        (ScriptedResponse(body={"object": "list", "data": []}), "it lists no models"),
        (ScriptedResponse(status=404, body={"error": {"message": "no such route"}}), "HTTP 404 for /models"),
    ],
    ids=["no-models", "no-models-endpoint"],
)
def test_test_connection_passes_a_server_without_a_model_list_and_says_the_model_was_not_checked(
    hook, openai_double, response, said
):
    """Some OpenAI-compatible servers and gateways list no models or have no /models: the key and URL
    cannot be told wrong from that, so the test passes and says what it could not check."""
    openai_double.models_response = response
    ok, message = hook.test_connection()
    assert ok and said in message and "model 'double-model' not checked" in message


def test_test_connection_is_bounded_by_the_connections_timeout(impatient_hook, openai_double):
    """A server trickling bytes held the test for as long as it liked: it now ends at the request's bound."""
    models = {"object": "list", "data": [{"id": "double-model", "object": "model", "created": 0, "owned_by": "x"}]}
    openai_double.models_response = ScriptedResponse(body=models, trickle=5)
    ok, message = impatient_hook.test_connection()
    assert not ok and message == f"no answer from {openai_double.base_url} within 0.5 s (the connection's timeout)"


def test_test_connection_to_an_unreachable_server_names_its_url(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{free.getsockname()[1]}/v1"
    conn = {"conn_type": "agentic_mlops_llm", "host": url, "password": "k", "extra": {"model": "m", "timeout": 5}}
    monkeypatch.setenv("AIRFLOW_CONN_LLM_DOWN", json.dumps(conn))
    ok, message = LLMHook("llm_down").test_connection()
    assert not ok and message.startswith(f"APIConnectionError from {url}: ")


@pytest.mark.parametrize(
    "url, unlisted",
    [
        ("https://res.openai.azure.com/openai/v1", True),
        ("https://res.cognitiveservices.azure.com/openai/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://vllm:8000/v1", False),
    ],
)
def test_on_azure_openai_a_deployment_name_missing_from_the_model_list_is_no_failure(url, unlisted):
    """On Azure OpenAI ``model`` is a deployment's name, which /models does not list."""
    assert deployments_unlisted(url) is unlisted


def test_credentials_in_the_base_url_are_never_shown(openai_double, monkeypatch, tmp_path):
    """A base URL may carry credentials (``https://user:secret@proxy/v1``): errors name the server without the
    password, as the state store's URL is shown, and the password is registered with Airflow's secrets masker
    (the HTTP client logs the URL it calls)."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    conn = json.loads(openai_double.connection_json(timeout=10))
    conn["host"] = openai_double.base_url.replace("://", "://proxyuser:s3cret-pw@")
    monkeypatch.setenv("AIRFLOW_CONN_LLM_CREDS", json.dumps(conn))
    masked: list[str] = []
    monkeypatch.setattr("airflow_provider_agentic_mlops.hooks.llm.mask_secret", masked.append)
    hook = LLMHook("llm_creds")
    with pytest.raises(LLMFailure, match="HTTP 401") as info:  # the URL's user part becomes Basic auth
        complete(hook)
    shown = str(info.value)
    assert "s3cret" not in shown and "(http://***@127.0.0.1" in shown
    assert set(masked) == {"proxyuser:s3cret-pw", "s3cret-pw"}
    ok, message = hook.test_connection()
    assert "s3cret" not in message

    conn["host"] = "ftp://proxyuser:s3cret-pw@llm.example.com/v1"
    monkeypatch.setenv("AIRFLOW_CONN_LLM_FTP_CREDS", json.dumps(conn))
    with pytest.raises(ValueError, match="not an http") as bad:
        _ = LLMHook("llm_ftp_creds").settings
    assert "s3cret" not in str(bad.value)


def test_a_secret_in_the_base_urls_query_or_echoed_by_the_server_is_never_shown(openai_double, monkeypatch, tmp_path):
    """A gateway may take its key in the base URL's query (Azure API Management's ?subscription-key=, Azure
    Functions' ?code=): it is sent with every request, shown as *** (api-version stays readable) and registered
    with Airflow's secrets masker (the HTTP client logs the URL it calls); a server that echoes the API key or
    a default header's value in its error has it replaced before the message is kept."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    conn = json.loads(openai_double.connection_json(timeout=10, default_headers={"X-Gw-Key": "GW-S3CRET-H"}))
    conn["host"] = openai_double.base_url + "?api-version=2024-10-21&subscription-key=S3CRET-QK"
    monkeypatch.setenv("AIRFLOW_CONN_LLM_QUERYKEY", json.dumps(conn))
    masked: list[str] = []
    monkeypatch.setattr("airflow_provider_agentic_mlops.hooks.llm.mask_secret", masked.append)
    hook = LLMHook("llm_querykey")
    assert hook.settings["shown_url"] == f"{openai_double.base_url}?api-version=2024-10-21&subscription-key=***"
    assert "S3CRET-QK" in masked and "2024-10-21" not in masked
    openai_double.http_error(401, f"denied; key {openai_double.api_key}, gateway GW-S3CRET-H")
    with pytest.raises(LLMFailure, match="HTTP 401") as info:
        complete(hook)
    assert openai_double.requests[0].query == "api-version=2024-10-21&subscription-key=S3CRET-QK"
    shown = " ".join([str(info.value), *info.value.errors])
    assert "denied; key ***, gateway ***" in shown
    assert not {"S3CRET-QK", "GW-S3CRET-H", openai_double.api_key} & set(re.split(r"[\s,;()]", shown))
    ok, message = hook.test_connection()
    assert ok and "S3CRET-QK" not in message and "subscription-key=***" in message


@pytest.mark.parametrize(
    "user_part", ["proxyuser:S3cret/Pw", "proxyuser:S3cret#Pw", "proxyuser:S3cret?Pw", "S3cretToken", "u:S3cret%2FPw"]
)
def test_a_base_url_user_part_is_hidden_also_when_it_holds_characters_a_url_must_encode(
    user_part, monkeypatch, tmp_path
):
    """An unencoded / ? or # in a password cuts the URL's authority short, so it is not read as a password:
    the settings refuse it, naming what to encode, and the URL shown hides the whole user part."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    masked: list[str] = []
    monkeypatch.setattr("airflow_provider_agentic_mlops.hooks.llm.mask_secret", masked.append)
    url = f"http://{user_part}@127.0.0.1:9/v1"
    conn = {"conn_type": "agentic_mlops_llm", "host": url, "password": "sk-x", "extra": {"model": "m"}}
    monkeypatch.setenv("AIRFLOW_CONN_LLM_USERPART", json.dumps(conn))
    assert shown_url(url) == "http://***@127.0.0.1:9/v1"
    if "%" in user_part or ":" not in user_part:  # percent-encoded, or a token as the user: a valid URL
        assert LLMHook("llm_userpart").settings["shown_url"] == "http://***@127.0.0.1:9/v1"
    else:
        with pytest.raises(ValueError, match="must percent-encode.*/ as %2F") as refused:
            _ = LLMHook("llm_userpart").settings
        assert "S3cret" not in str(refused.value)
    assert user_part in masked


@pytest.mark.parametrize(
    "url",
    [
        "https://llm.example.com/v1?api-version=a@b",
        "https://llm.example.com/deployments/team@corp/v1",
        "http://[::1]:8000/v1",
    ],
)
def test_an_at_sign_in_a_base_urls_path_or_query_is_no_user_part(url, monkeypatch, tmp_path):
    """Only an ``@`` before the host marks credentials: a path or query may hold one unencoded."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    masked: list[str] = []
    monkeypatch.setattr("airflow_provider_agentic_mlops.hooks.llm.mask_secret", masked.append)
    conn = {"conn_type": "agentic_mlops_llm", "host": url, "password": "sk-x", "extra": {"model": "m"}}
    monkeypatch.setenv("AIRFLOW_CONN_LLM_AT", json.dumps(conn))
    settings = LLMHook("llm_at").settings
    assert settings["base_url"] == url.partition("?")[0] and settings["shown_url"] == url and shown_url(url) == url
    assert masked == []


def test_organization_and_project_extras_are_sent_as_openais_headers(openai_double, monkeypatch, tmp_path):
    """They were read by nothing: a key of several organizations was billed to its default one."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_LLM_ORG", openai_double.connection_json(organization="org-abc", project="proj_1"))
    openai_double.answer("no_action")
    complete(LLMHook("llm_org"))
    headers = openai_double.requests[0].headers
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-abc", "proj_1")


@pytest.mark.parametrize("extra", [{"max_retry": 5}, {"organisation": "org-abc", "Timeout": 5}])
def test_an_unknown_extra_is_refused_naming_it_and_the_known_ones(extra, openai_double, monkeypatch, tmp_path):
    """A typo (max_retry for max_retries) was silently ignored: the default applied and nothing said so."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_LLM_TYPO", openai_double.connection_json(**extra))
    with pytest.raises(ValueError) as info:
        _ = LLMHook("llm_typo").settings
    message = str(info.value)
    assert all(repr(key) in message for key in extra), message
    assert "max_retries" in message and "organization" in message and "'llm_typo'" in message


def test_the_known_extras_are_the_connection_forms_fields():
    from airflow_provider_agentic_mlops.get_provider_info import get_provider_info
    from airflow_provider_agentic_mlops.hooks.llm import KNOWN_EXTRAS

    (llm,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == "agentic_mlops_llm"]
    assert set(KNOWN_EXTRAS) == set(llm["conn-fields"])


def test_test_connection_to_a_refused_port_says_why_as_a_decision_does(monkeypatch, tmp_path):
    """The Test button said only "Connection error.", where a decision's error names the cause."""
    hook = unreachable_hook(monkeypatch, tmp_path, f"http://127.0.0.1:{closed_port()}/v1")
    ok, message = hook.test_connection()
    assert not ok and "ConnectError" in message and "refused" in message.lower(), message


def test_test_connection_through_a_proxy_names_the_proxy_variable_and_no_proxy(openai_double, monkeypatch, tmp_path):
    hook = unreachable_hook(monkeypatch, tmp_path, openai_double.base_url)
    monkeypatch.setenv("HTTP_PROXY", f"http://user:proxysecret@127.0.0.1:{closed_port()}")
    ok, message = hook.test_connection()
    assert not ok and "HTTP_PROXY" in message and "NO_PROXY" in message, message
    assert "proxysecret" not in message


def test_test_connection_of_a_connection_without_a_password_says_it_has_no_api_key(
    openai_double, monkeypatch, tmp_path
):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    conn = json.loads(openai_double.connection_json())
    del conn["password"]
    monkeypatch.setenv("AIRFLOW_CONN_LLM_NOKEY", json.dumps(conn))
    ok, message = LLMHook("llm_nokey").test_connection()
    assert not ok and re.search("has no API key.*password", message), message


def answer_with_usage(openai_double: OpenAIDouble, content: str, usage: dict[str, int]) -> None:
    body = _completion({"role": "assistant", "content": content}, (0, 0))
    body["usage"] = usage
    openai_double._push(ScriptedResponse(body=body))


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": 1, "completion_tokens": 30},  # a prompt of ~230 tokens: would let max_tokens_per_day slide
        {"prompt_tokens": 5_000_000, "completion_tokens": 30},  # far past what was sent: would spend the day's budget
        {"prompt_tokens": 200, "completion_tokens": 9_999_999},  # with max_tokens 500 sent
    ],
    ids=["prompt-under-reported", "prompt-over-reported", "completion-past-the-cap"],
)
def test_usage_the_request_cannot_have_is_estimated_and_said_so(hook, openai_double, usage):
    """Reported usage is checked against what the request bounds: the prompt sent (within a factor of 4 of the
    local estimate, either way) and the completion cap sent."""
    answer_with_usage(openai_double, json.dumps(ANSWER), usage)
    reply = complete(hook, max_tokens=500)
    assert reply.usage_estimated is True
    assert 50 < reply.prompt_tokens < 1000 and 0 < reply.completion_tokens <= 500


def test_usage_within_what_the_request_bounds_is_believed(hook, openai_double):
    answer_with_usage(openai_double, json.dumps(ANSWER), {"prompt_tokens": 600, "completion_tokens": 500})
    reply = complete(hook, max_tokens=500)
    assert (reply.prompt_tokens, reply.completion_tokens, reply.usage_estimated) == (600, 500, False)


def test_an_estimated_completion_is_never_more_than_the_cap_sent(hook, openai_double):
    """An answer of 1 MB without usage was charged 250k tokens, a whole day's budget, for a request capped at 500."""
    huge = json.dumps({**ANSWER, "rationale": "x" * 1_000_000})
    answer_with_usage(openai_double, huge, {})
    reply = complete(hook, max_tokens=500)
    assert reply.usage_estimated is True and reply.completion_tokens == 500
