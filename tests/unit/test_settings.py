"""``settings``: the ``[agentic_mlops]`` options read by more than one component."""

from __future__ import annotations

import pytest

from airflow_provider_agentic_mlops.settings import SecretUnreadable, configured_signing_secret

ENV = "AIRFLOW__AGENTIC_MLOPS__"


def test_a_failing_secret_command_raises_without_its_command_or_output(monkeypatch) -> None:
    """The web plugin logs what this raises: Airflow's own error repeats the command line and its output."""
    monkeypatch.delenv(f"{ENV}SLACK_SIGNING_SECRET", raising=False)
    monkeypatch.setenv(f"{ENV}SLACK_SIGNING_SECRET_CMD", 'sh -c "echo leakedmarker42; exit 3"')
    with pytest.raises(SecretUnreadable) as caught:
        configured_signing_secret()
    assert caught.value.failed == "AirflowConfigException"
    assert "leakedmarker42" not in str(caught.value) and "echo" not in str(caught.value)
    assert caught.value.__context__ is None and caught.value.__cause__ is None
