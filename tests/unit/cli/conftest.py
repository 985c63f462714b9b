"""The CLI's commands read connections from Airflow's metadata DB, as a deployment's shell does."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _metadata_db(cli_metadata_db):  # noqa: ANN001, ANN202 - see tests/conftest.py
    return cli_metadata_db
