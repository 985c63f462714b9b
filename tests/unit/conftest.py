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


@pytest.fixture
def pyarrow_that_needs_numpy_2(monkeypatch: pytest.MonkeyPatch) -> str:
    """``import pyarrow`` (and ``pyarrow.parquet``) fails as pyarrow 26 does in a shop on NumPy 1.x (it does
    not declare that it needs NumPy 2); the fixture's value is the ImportError's message."""
    message = "pyarrow requires NumPy 2.0 or newer (found 1.26.4)"
    import builtins

    real_import = builtins.__import__

    def failing_import(name: str, *args, **kwargs):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError(message)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing_import)
    return message
