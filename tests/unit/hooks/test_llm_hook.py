"""LLMHook against the local OpenAI-compatible TEST DOUBLE, through the real ``openai`` client."""

from __future__ import annotations

import json

import pytest

from airflow_provider_agentic_mlops.core.decision import (
    RESPONSE_FORMAT,
    LLMFailure,
    decide,
    parse_answer,
    tool_specs,
)
from airflow_provider_agentic_mlops.hooks.llm import LLMHook
from tests.doubles import openai_server
from tests.doubles.openai_server import OpenAIDouble

openai_double = openai_server.openai_double  # the TEST DOUBLE fixture, until tests/conftest.py registers the plugin

MESSAGES = [{"role": "system", "content": "decide"}, {"role": "user", "content": "facts"}]


def validate(content, refusal):
    return parse_answer(content, refusal=refusal)


@pytest.fixture
def hook(openai_double: OpenAIDouble, monkeypatch: pytest.MonkeyPatch, tmp_path) -> LLMHook:
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
def test_failure_is_retried_then_the_next_attempt_answers(hook, openai_double, script, error):
    script(openai_double)
    openai_double.answer("escalate")
    reply = complete(hook)
    assert reply.answer.action == "escalate"
    assert reply.attempts == 2 and len(openai_double.requests) == 2
    assert error in reply.errors[0]


def test_retries_are_bounded_then_llm_failure_carries_the_trace(hook, openai_double):
    openai_double.content("{broken", usage=(10, 5), times=5)
    with pytest.raises(LLMFailure) as info:
        complete(hook)
    err = info.value
    assert len(openai_double.requests) == 3  # 1 + max_retries (2)
    assert err.attempts == 3 and all("not valid JSON" in e for e in err.errors)
    assert err.raw == "{broken"
    assert (err.prompt_tokens, err.completion_tokens) == (30, 15)  # failed attempts cost tokens too
    assert openai_double.pending == 2


def test_authentication_error_is_not_retried(openai_double, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    conn = json.loads(openai_double.connection_json())
    conn["password"] = "wrong-key"
    monkeypatch.setenv("AIRFLOW_CONN_LLM_BADKEY", json.dumps(conn))
    with pytest.raises(LLMFailure, match="HTTP 401.*check the API key"):
        complete(LLMHook("llm_badkey"))
    assert len(openai_double.requests) == 1


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
    openai_double.tool_call("get_column_drift", {"column": "amount"}, usage=(200, 10))
    openai_double.answer("retrain", usage=(300, 40))
    d = decide(
        model_name="m",
        drift=drift,
        history=ModelHistory(now=datetime(2025, 1, 1)),
        config=DecisionConfig(),
        mode="llm",
        llm=hook.complete,
    )
    assert (d.action, d.decided_by) == ("retrain", "llm")
    assert (d.prompt_tokens, d.completion_tokens) == (500, 50)
    second = openai_double.requests[1].body["messages"]
    assert second[-1]["role"] == "tool" and json.loads(second[-1]["content"])["detail"]["score"] == 0.7
    assert second[-2]["tool_calls"][0]["function"]["name"] == "get_column_drift"


def test_test_connection_lists_models_with_the_connection_key(hook, openai_double, monkeypatch):
    assert hook.test_connection() == (True, f"reached {openai_double.base_url}")
    conn = json.loads(openai_double.connection_json())
    conn["password"] = "wrong-key"
    monkeypatch.setenv("AIRFLOW_CONN_LLM_BADKEY", json.dumps(conn))
    ok, message = LLMHook("llm_badkey").test_connection()
    assert not ok
    assert message.startswith("AuthenticationError: ")
