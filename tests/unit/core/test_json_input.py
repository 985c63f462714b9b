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
