"""``settings``: the ``[agentic_mlops]`` options read by more than one component."""

from __future__ import annotations

import threading

import pytest

from airflow_provider_agentic_mlops.settings import (
    SecretUnreadable,
    SettingInvalid,
    configured_seconds,
    configured_signing_secret,
)

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


@pytest.mark.parametrize(("option", "value"), [("alert_lock_timeout", "1e10"), ("migration_lock_timeout", "5e6")])
def test_a_timeout_longer_than_a_lock_can_wait_is_refused(monkeypatch, option, value) -> None:
    """``Lock.acquire(timeout=1e10)`` raises OverflowError; PostgreSQL's ``lock_timeout`` stops at INT_MAX ms."""
    monkeypatch.setenv(f"{ENV}{option.upper()}", value)
    with pytest.raises(SettingInvalid) as caught:
        configured_seconds(option, 10)
    message = str(caught.value)
    assert f"[agentic_mlops] {option} = {value!r}" in message and "at most 2147483 seconds" in message
    assert f"{ENV}{option.upper()}" in message


def test_the_longest_timeout_allowed_is_one_both_locks_accept(monkeypatch) -> None:
    monkeypatch.setenv(f"{ENV}ALERT_LOCK_TIMEOUT", "2147483")
    seconds = configured_seconds("alert_lock_timeout", 10)
    assert seconds == 2147483 and seconds <= threading.TIMEOUT_MAX and round(seconds * 1000) <= 2**31 - 1
    lock = threading.Lock()
    assert lock.acquire(timeout=seconds)  # no OverflowError
    lock.release()
