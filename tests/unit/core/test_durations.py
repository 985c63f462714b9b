"""core.durations.parse_duration: a duration the provider can use, or a clear error naming the field, the value
and the fix."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_agentic_mlops.core.durations import MAX_DURATION, DurationTooLong, parse_duration
from airflow_provider_agentic_mlops.core.errors import SettingInvalid


def test_the_forms_it_reads() -> None:
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("1d12h") == timedelta(days=1, hours=12)
    assert parse_duration("PT12H") == timedelta(hours=12)
    assert parse_duration(f"{MAX_DURATION.days}d") == MAX_DURATION


@pytest.mark.parametrize("value", ["9999999999d", "P9999999999D", "999999999d", "36526d", "99999999999999w"])
def test_an_absurd_duration_is_a_clear_error_not_an_overflow(value: str) -> None:
    # timedelta raised a bare OverflowError past its 999999999 days; below that, pandas and datetime arithmetic did
    with pytest.raises(DurationTooLong) as err:
        parse_duration(value, field="current_window")
    assert isinstance(err.value, SettingInvalid) and isinstance(err.value, ValueError)
    message = str(err.value)
    assert f"current_window {value!r}" in message and "36525d" in message and "100 years" in message


@pytest.mark.parametrize("value", ["7x", "7", "", "P", "1M"])
def test_a_value_that_is_no_duration_is_a_setting_error_naming_it(value: str) -> None:
    with pytest.raises(SettingInvalid, match=f"--older-than {value!r} is not a duration; use e.g. '7d'"):
        parse_duration(value, field="--older-than")


def test_zero_is_refused() -> None:
    with pytest.raises(SettingInvalid, match="'0d' must be positive"):
        parse_duration("0d")
