"""Helpers of the compatibility smoke suite (self-contained: it runs against an installed wheel)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from compat_helpers import airflow


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("airflow_home")
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(home / "dags")
    for key in [k for k in os.environ if k.startswith("AIRFLOW_CONN_")]:
        del os.environ[key]  # no LLM, no Slack: rules decide, approvals through the store
    return home


@pytest.fixture(scope="session")
def metadata_db(airflow_home: Path) -> Path:
    """Airflow's metadata DB in ``airflow_home``, migrated (``airflow db migrate``, once per session)."""
    airflow("db", "migrate")
    return airflow_home
