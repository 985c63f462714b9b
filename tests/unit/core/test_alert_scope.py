"""``core/alert_scope.py``: the scope an alerts connection's extra gives its token, read alike by the endpoint and
``config check``."""

from __future__ import annotations

import pytest

from airflow_provider_agentic_mlops.core.alert_scope import ScopeUnreadable, connection_extra, scope_lists


def test_an_extra_that_is_not_json_is_kept_as_text_and_refused_not_read_as_no_scope() -> None:
    assert connection_extra('{"teams": ["a"]}') == {"teams": ["a"]}
    assert connection_extra("") is None
    extra = connection_extra("teams=a")
    assert extra == "teams=a"
    with pytest.raises(ScopeUnreadable, match="its extra is not a JSON object"):
        scope_lists(extra)


def test_no_extra_is_every_model_and_each_key_narrows() -> None:
    assert scope_lists(None) == (None, None)
    assert scope_lists({"teams": [" a "], "models": ["fraud-*"], "note": "x"}) == (("a",), ("fraud-*",))


@pytest.mark.parametrize("extra", [{"model": ["x"]}, {"Teams": ["a"]}, {"allowed_teams": ["a"]}, {"teams": None}])
def test_a_misspelt_or_malformed_scope_is_refused(extra) -> None:
    with pytest.raises(ScopeUnreadable):
        scope_lists(extra)
