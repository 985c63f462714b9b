"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_agentic_mlops.core.commands import CONSOLE_SCRIPT, command_prefix, set_command_prefix


@pytest.fixture
def commands_as_on_airflow_3_1() -> Iterator[None]:
    """Messages name the provider's commands as on Airflow 3.1, where ``airflow`` does not load them and
    the ``agentic-mlops`` console script has them."""
    before = command_prefix()
    set_command_prefix(CONSOLE_SCRIPT)
    try:
        yield
    finally:
        set_command_prefix(before)
