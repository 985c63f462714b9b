"""Fixtures shared by the whole suite.

Servers: PostgreSQL tests skip with a reason when 127.0.0.1:5432 does not answer, except under
CI=true, where an absent server is a failure (CI always runs them).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

# Before anything imports Airflow: its configuration creates $AIRFLOW_HOME/logs at import, and without
# AIRFLOW_HOME that is the user's ~/airflow. The suite never touches a developer's Airflow home; tests
# that write state get a fresh home of their own (``airflow_home``), this one only catches the imports.
_SUITE_AIRFLOW_HOME = tempfile.mkdtemp(prefix="agentic-mlops-tests-home-")
atexit.register(shutil.rmtree, _SUITE_AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _SUITE_AIRFLOW_HOME

if TYPE_CHECKING:
    from airflow_provider_agentic_mlops.core.state import StateStore

# Test doubles and real local servers, as fixtures for the whole suite.
pytest_plugins = ["tests.doubles.openai_server", "tests.doubles.slack_server", "tests.doubles.mlflow_server"]

REPO = Path(__file__).resolve().parents[1]
PG_HOST, PG_PORT = "127.0.0.1", 5432
ON_CI = os.environ.get("CI", "").lower() == "true"
# The `airflow` command of this interpreter (not bin/airflow: its shebang may name another interpreter).
AIRFLOW = [sys.executable, "-m", "airflow"]

#: MLflow's process-global settings. ``mlflow.set_tracking_uri``/``set_registry_uri`` (called by the demo's
#: training and by tests) also write these into ``os.environ`` "so that subprocesses inherit them": a test
#: that trains in-process would otherwise point every later test's Airflow subprocess at its store.
_MLFLOW_GLOBALS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID")


@pytest.fixture(autouse=True)
def _isolate_mlflow_globals() -> Iterator[None]:
    """Each test starts and ends with the MLflow environment and global URIs it found."""
    saved = {key: os.environ.get(key) for key in _MLFLOW_GLOBALS}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if "mlflow" in sys.modules:  # only reset what a test could have set; never import MLflow for it
        from mlflow.tracking import _model_registry, _tracking_service

        _tracking_service.utils._tracking_uri = saved["MLFLOW_TRACKING_URI"]
        _model_registry.utils._registry_uri = saved["MLFLOW_REGISTRY_URI"]


@pytest.fixture(autouse=True)
def _sensor_tasks_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decision checks that the request's sensor task still waits, in Airflow's metadata database, which
    in-process tests do not have (an unreadable state refuses an approve): their sensor tasks wait. Tests of
    that check pass their own ``task_state``; Airflow run in its own processes (e2e) reads its database."""
    monkeypatch.setattr("airflow_provider_agentic_mlops.approvals._airflow_task_state", lambda *_: "deferred")


def server_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def skip_unless_ci(message: str, *, absent: str) -> NoReturn:
    """Skip with ``message``; under CI=true fail instead, since CI provides everything the tests need.

    :param absent: what is missing, for the failure's note (``an absent server``, ``a missing browser``).
    """
    if ON_CI:
        pytest.fail(f"{message} (CI=true: {absent} is a failure, not a skip)")
    pytest.skip(message)


def require_server(name: str, host: str, port: int) -> None:
    """Skip (fail under CI=true) when the server does not answer."""
    if not server_answers(host, port):
        skip_unless_ci(
            f"{name} is not reachable at {host}:{port}; start one there to run this test", absent="an absent server"
        )


@pytest.fixture
def airflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh AIRFLOW_HOME for anything that writes state (state store, MLflow fallback store)."""
    home = tmp_path / "airflow_home"
    home.mkdir()
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    return home


def _pg_admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def create_pg_database(prefix: str) -> str:
    """Create an empty PostgreSQL database with a unique name; returns its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/{name}"


def drop_pg_database(url: str) -> None:
    """Drop a database made by :func:`create_pg_database`, and forget that the store migrated it."""
    from airflow_provider_agentic_mlops.core import state

    state._migrated.difference_update({key for key in state._migrated if key.split("|", 1)[0] == url})
    _pg_admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_pg_database(prefix: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database (skipped, or failed under CI, when the server is absent)."""
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    url = create_pg_database(prefix)
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    with fresh_pg_database("agentic_mlops_test") as url:
        yield url


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[StateStore]:
    """A state store on SQLite in the test's temporary folder."""
    from airflow_provider_agentic_mlops.core.state import StateStore

    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The state store's URL on each supported backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("pg_url")


class ServerMetadataDB:
    """Airflow's metadata DB as the API server's (or the CLI's) connection lookup reads it: environment
    variables first, then the ``connection`` table (``_AIRFLOW_PROCESS_CONTEXT=server``). A SQLite file
    with Airflow's tables; :meth:`down` makes it unreachable as a stopped database is, :meth:`up` brings
    it back."""

    def __init__(self, folder: Path) -> None:
        import airflow.models
        import sqlalchemy as sa
        from airflow.models.base import Base

        airflow.models.import_all_models()
        self.folder, self.away = folder, folder.with_name(folder.name + "-away")
        folder.mkdir()
        # no pool: each session connects anew, as after the pooled connections broke
        self.engine = sa.create_engine(f"sqlite:///{folder / 'airflow.db'}", poolclass=sa.pool.NullPool)
        Base.metadata.create_all(self.engine)

    def add_connection(self, conn_id: str, **fields: Any) -> None:
        from airflow.models import Connection
        from airflow.utils.session import create_session

        with create_session() as session:
            session.add(Connection(conn_id=conn_id, **fields))

    def down(self) -> None:
        self.folder.rename(self.away)  # "unable to open database file"

    def up(self) -> None:
        self.away.rename(self.folder)


@pytest.fixture
def cli_metadata_db(server_metadata_db: ServerMetadataDB, monkeypatch: pytest.MonkeyPatch) -> ServerMetadataDB:
    """Airflow's metadata DB as a deployment has it, for the provider's CLI commands run in-process: they
    read connections from it as an Airflow server process (cli/definition.py says they are one; the shell
    they run from is not)."""
    monkeypatch.delenv("_AIRFLOW_PROCESS_CONTEXT")
    return server_metadata_db


@pytest.fixture
def server_metadata_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerMetadataDB]:
    """:class:`ServerMetadataDB` as Airflow's ``settings.engine`` / ``settings.Session``, in server context."""
    from airflow import settings
    from sqlalchemy.orm import scoped_session, sessionmaker

    db = ServerMetadataDB(tmp_path / "metadata")
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")
    monkeypatch.setattr(settings, "engine", db.engine)
    monkeypatch.setattr(settings, "Session", scoped_session(sessionmaker(bind=db.engine, expire_on_commit=False)))
    try:
        yield db
    finally:
        settings.Session.remove()
        db.engine.dispose()
