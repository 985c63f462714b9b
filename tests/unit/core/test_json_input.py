"""Untrusted JSON: every malformed input is one JsonInputError with a one-line reason."""

from __future__ import annotations

import pytest

from airflow_provider_agentic_mlops.core.json_input import JsonInputError, depth_exceeds, parse_json


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": ' * 33 + b"1" + b"}" * 33, "nested too deeply"),
        (b"9" * 5000, "not JSON"),
        (b'"\xff"', "not UTF-8"),
        (b"{", "not JSON"),
    ],
    ids=["deep-array", "deep-object", "long-int", "bad-utf8", "truncated"],
)
def test_malformed_json_raises_one_error_with_a_one_line_reason(data: bytes, says: str) -> None:
    with pytest.raises(JsonInputError, match=says) as err:
        parse_json(data, what="the body")
    assert "\n" not in str(err.value)


def test_json_within_the_depth_limit_parses() -> None:
    assert parse_json(b'{"a": ' * 32 + b"1" + b"}" * 32) is not None
    assert not depth_exceeds({"a": [1, {"b": 2}]}, 3)
    assert depth_exceeds({"a": [1, {"b": {}}]}, 3)  # four levels of containers


def test_a_key_given_twice_is_refused_when_keys_must_be_unique() -> None:
    # a proxy or a log reading the first "model" and this endpoint the last would see two different alerts
    with pytest.raises(JsonInputError, match=r"the body has the key 'model' twice .*send each key once"):
        parse_json(b'{"model": "a", "x": {"k": 1}, "model": "b"}', what="the body", unique_keys=True)
    with pytest.raises(JsonInputError, match="the key 'k' twice"):
        parse_json(b'{"labels": {"k": 1, "k": 2}}', unique_keys=True)
    assert parse_json(b'{"model": "a", "x": {"model": "b"}}', unique_keys=True) == {"model": "a", "x": {"model": "b"}}
    assert parse_json(b'{"k": 1, "k": 2}') == {"k": 2}  # Slack's signed payloads keep json's own rule
