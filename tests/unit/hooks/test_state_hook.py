"""The state-store hook: URL from the connection, "not found" by exception type, the Test button."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_agentic_mlops.hooks import state as state_hook
from airflow_provider_agentic_mlops.hooks.connection import get_connection_or_none
from airflow_provider_agentic_mlops.hooks.state import StateStoreHook, resolve_state_url
from airflow_provider_agentic_mlops.version_compat import CONNECTION_NOT_FOUND
from tests.conftest import PG_HOST, PG_PORT, create_pg_database, drop_pg_database, require_server


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **conn: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def test_postgres_connection_keeps_its_tls_extras_in_the_url(monkeypatch, airflow_home: Path) -> None:
    _set_conn(
        monkeypatch,
        "state_tls",
        conn_type="postgres",
        host="db.example.com",
        port=5432,
        login="agent",
        password="p@ss/word",
        schema="agentic_mlops",
        extra={"sslmode": "verify-full", "sslrootcert": "/etc/ssl/ca.pem", "cursor": "dictcursor"},
    )
    from sqlalchemy.engine import make_url

    url = make_url(resolve_state_url("state_tls"))
    assert url.drivername == "postgresql+psycopg2"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "agent",
        "p@ss/word",
        "db.example.com",
        5432,
        "agentic_mlops",
    )
    # libpq's parameters are kept; the Postgres provider's own extras (cursor) are not libpq's
    assert dict(url.query) == {"sslmode": "verify-full", "sslrootcert": "/etc/ssl/ca.pem"}


@pytest.mark.postgres
def test_postgres_connection_extras_reach_the_database_session(monkeypatch, airflow_home: Path) -> None:
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    url = create_pg_database("statehook")
    try:
        database = url.rsplit("/", 1)[1]
        _set_conn(
            monkeypatch,
            "state_pg",
            conn_type="postgres",
            host=PG_HOST,
            port=PG_PORT,
            login="postgres",
            schema=database,
            extra={"application_name": "agentic-mlops-test", "sslmode": "disable"},
        )
        from sqlalchemy import create_engine, text

        engine = create_engine(resolve_state_url("state_pg"))
        try:
            with engine.connect() as connection:
                name = connection.execute(text("SELECT current_setting('application_name')")).scalar()
        finally:
            engine.dispose()
        assert name == "agentic-mlops-test"
        ok, message = StateStoreHook("state_pg").test_connection()
        assert ok, message
        assert "not created yet" in message
    finally:
        drop_pg_database(url)


def test_missing_connection_is_recognised_by_its_exception_type(monkeypatch, airflow_home: Path) -> None:
    not_found = CONNECTION_NOT_FOUND[0]

    def raise_not_found(conn_id: str) -> None:
        raise not_found(f"no such thing as {conn_id}")  # no "isn't defined" / "not found" wording

    monkeypatch.setattr(state_hook.BaseHook, "get_connection", staticmethod(raise_not_found))
    assert get_connection_or_none("anything") is None


def test_other_errors_mentioning_not_found_are_not_taken_for_a_missing_connection(monkeypatch, airflow_home) -> None:
    def backend_down(conn_id: str) -> None:
        raise RuntimeError(f"secrets backend: vault path for {conn_id} not found (HTTP 503)")

    monkeypatch.setattr(state_hook.BaseHook, "get_connection", staticmethod(backend_down))
    with pytest.raises(RuntimeError, match="HTTP 503"):
        get_connection_or_none("anything")


def test_the_absent_default_connection_falls_back_to_sqlite(airflow_home: Path) -> None:
    assert resolve_state_url("agentic_mlops_state_default") == f"sqlite:///{airflow_home / 'agentic_mlops.db'}"


@pytest.mark.parametrize("written", ["~/airflow", "$AF_BASE/airflow", "${AF_BASE}/airflow", "$AF_NESTED"])
def test_the_embedded_stores_are_under_airflow_home_expanded_as_airflow_expands_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, written: str
) -> None:
    """AIRFLOW_HOME as a compose file or a systemd unit passes it (no shell expands it): every process must
    open the same SQLite files, Airflow's home, wherever it was started, not a ``~`` folder in its cwd."""
    from airflow.configuration import get_airflow_home

    from airflow_provider_agentic_mlops.hooks.mlflow import default_tracking_uri

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AF_BASE", str(tmp_path / "home"))
    monkeypatch.setenv("AF_NESTED", "$AF_BASE/airflow")
    monkeypatch.setenv("AIRFLOW_HOME", written)
    for name in ("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home" / "airflow"
    assert get_airflow_home() == str(home)  # what Airflow itself makes of it
    assert resolve_state_url("agentic_mlops_state_default") == f"sqlite:///{home / 'agentic_mlops.db'}"
    assert default_tracking_uri() == f"sqlite:///{home / 'mlflow.db'}"


def test_an_absent_connection_the_setting_names_is_an_error_naming_the_setting(monkeypatch, airflow_home: Path) -> None:
    # a typo in [agentic_mlops] state_conn_id must not give each host a SQLite store of its own
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID", "nope_conn")
    for conn_id in ("nope_conn", None):
        with pytest.raises(state_hook.StateConnectionNotFound) as exc:
            resolve_state_url(conn_id)
        message = str(exc.value)
        assert "'nope_conn' does not exist" in message
        assert "[agentic_mlops] state_conn_id" in message and "AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID" in message
        assert "airflow connections add nope_conn" in message
    assert not (airflow_home / "agentic_mlops.db").exists()


def test_the_setting_naming_the_absent_default_connection_falls_back_to_sqlite(monkeypatch, airflow_home: Path) -> None:
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID", "agentic_mlops_state_default")  # docker-compose's
    assert resolve_state_url(None) == f"sqlite:///{airflow_home / 'agentic_mlops.db'}"


def test_another_absent_connection_is_an_error_naming_it_not_a_new_empty_store(airflow_home: Path) -> None:
    # a typo must not give each worker its own SQLite file (no shared one-retrain-per-model, no shared approvals)
    with pytest.raises(state_hook.StateConnectionNotFound) as exc:
        StateStoreHook("agentic_mlops_state_prd").get_store()
    message = str(exc.value)
    assert "'agentic_mlops_state_prd' does not exist" in message
    assert "airflow connections add agentic_mlops_state_prd" in message
    assert not (airflow_home / "agentic_mlops.db").exists()


def test_test_connection_reaches_the_store_without_migrating_it(monkeypatch, airflow_home: Path) -> None:
    db = airflow_home / "store.db"
    _set_conn(monkeypatch, "state_sqlite", conn_type="agentic_mlops_state", extra={"url": f"sqlite:///{db}"})
    ok, message = StateStoreHook("state_sqlite").test_connection()
    assert ok, message
    assert "not created yet" in message

    StateStoreHook("state_sqlite").get_store()  # first use creates the tables
    ok, message = StateStoreHook("state_sqlite").test_connection()
    assert (ok, message) == (True, f"reached sqlite:///{db}")


def test_test_connection_reports_an_unreachable_store(monkeypatch, airflow_home: Path) -> None:
    missing_dir = airflow_home / "no" / "such" / "dir" / "store.db"
    _set_conn(monkeypatch, "state_bad", conn_type="agentic_mlops_state", extra={"url": f"sqlite:///{missing_dir}"})
    ok, message = StateStoreHook("state_bad").test_connection()
    assert not ok
    assert message.startswith("OperationalError: ")


@pytest.mark.parametrize("extra", [{"url": ""}, {"url": "  "}, {}])
def test_a_state_connection_with_an_empty_url_means_sqlite_as_its_form_says(
    monkeypatch, airflow_home: Path, extra: dict
) -> None:
    import json

    monkeypatch.setenv("AIRFLOW_CONN_STATE_EMPTY", json.dumps({"conn_type": "agentic_mlops_state", "extra": extra}))
    assert resolve_state_url("state_empty") == f"sqlite:///{airflow_home / 'agentic_mlops.db'}"


def test_a_connection_of_another_type_without_a_url_is_refused(monkeypatch, airflow_home: Path) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_STATE_HTTP", '{"conn_type": "http", "extra": {"url": ""}}')
    with pytest.raises(ValueError, match="'state_http' \\(type 'http'\\) has no state-store URL"):
        resolve_state_url("state_http")


def test_a_connection_in_the_metadata_db_is_found_in_server_context(server_metadata_db, airflow_home: Path) -> None:
    server_metadata_db.add_connection(
        "agentic_mlops_state_default", conn_type="agentic_mlops_state", extra=json.dumps({"url": "sqlite:////x/s.db"})
    )
    assert resolve_state_url("agentic_mlops_state_default") == "sqlite:////x/s.db"


def test_a_connection_absent_from_a_reachable_metadata_db_is_absent(server_metadata_db, airflow_home: Path) -> None:
    assert get_connection_or_none("agentic_mlops_state_default") is None
    assert resolve_state_url("agentic_mlops_state_default") == f"sqlite:///{airflow_home / 'agentic_mlops.db'}"


def test_an_unreachable_metadata_db_is_not_taken_for_an_absent_connection(
    server_metadata_db, airflow_home: Path
) -> None:
    """Airflow answers "isn't defined" when its metadata DB cannot be read (the secrets loop logs the error
    at DEBUG): the deployment's store silently became a local SQLite file, a store of this process's own."""
    from airflow_provider_agentic_mlops.hooks.connection import ConnectionLookupFailed

    server_metadata_db.add_connection(
        "agentic_mlops_state_default", conn_type="agentic_mlops_state", extra=json.dumps({"url": "sqlite:////x/s.db"})
    )
    server_metadata_db.down()
    with pytest.raises(ConnectionLookupFailed) as failed:
        resolve_state_url("agentic_mlops_state_default")
    assert failed.value.metadata_db
    message = str(failed.value)
    assert "'agentic_mlops_state_default'" in message
    assert "Airflow's metadata database ([database] sql_alchemy_conn)" in message
    assert "OperationalError" in message and "airflow db check" in message
    for declared in ("team_b_state", "agentic_mlops_alerts"):  # not "does not exist, create it" either
        with pytest.raises(ConnectionLookupFailed):
            get_connection_or_none(declared)
    server_metadata_db.up()
    assert resolve_state_url("agentic_mlops_state_default") == "sqlite:////x/s.db"


class _SupervisorComms:
    """A task's channel to its supervisor, answering GetConnection with ``answer`` (raised when an exception)."""

    def __init__(self, answer: object) -> None:
        self.answer = answer

    def send(self, msg: object) -> object:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize("error_type", ["API_SERVER_ERROR", "GENERIC_ERROR"])
def test_a_failing_execution_api_is_not_taken_for_an_absent_connection(monkeypatch, airflow_home, error_type) -> None:
    """In a task, the Execution API's backend answers "no such connection" for any failure, the API server
    unreachable too (the supervisor logs it, the task's lookup says "isn't defined")."""
    from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import ErrorResponse

    from airflow_provider_agentic_mlops.hooks.connection import ConnectionLookupFailed

    failure = AirflowRuntimeError(ErrorResponse(error=ErrorType[error_type], detail={"message": "connect refused"}))
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", _SupervisorComms(failure), raising=False)
    with pytest.raises(ConnectionLookupFailed, match=r"the Execution API .*API server is up") as failed:
        resolve_state_url("agentic_mlops_state_default")
    assert not failed.value.metadata_db
    assert not (airflow_home / "agentic_mlops.db").exists()


def test_a_connection_the_execution_api_does_not_have_is_absent(monkeypatch, airflow_home: Path) -> None:
    from airflow.sdk.exceptions import ErrorType
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import ErrorResponse

    not_found = ErrorResponse(error=ErrorType.CONNECTION_NOT_FOUND, detail={"conn_id": "agentic_mlops_state_default"})
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", _SupervisorComms(not_found), raising=False)
    assert resolve_state_url("agentic_mlops_state_default") == f"sqlite:///{airflow_home / 'agentic_mlops.db'}"


def test_an_unreachable_store_names_its_connection_and_masked_url_and_the_fix(monkeypatch, airflow_home: Path) -> None:
    from sqlalchemy.exc import OperationalError

    from airflow_provider_agentic_mlops.hooks.state import StateStoreUnavailable

    url = "postgresql+psycopg2://mlops:s3cret@127.0.0.1:18998/mlops"  # nothing listens there
    _set_conn(monkeypatch, "state_down", conn_type="agentic_mlops_state", extra={"url": url})
    with pytest.raises(StateStoreUnavailable) as raised:
        StateStoreHook("state_down").get_store()
    message = str(raised.value)
    assert message.startswith(
        "the state store (connection 'state_down', postgresql+psycopg2://mlops:***@127.0.0.1:18998/mlops) is "
        "unavailable: OperationalError: "
    )
    assert "Check the connection and that its database is up" in message and "s3cret" not in message
    assert isinstance(raised.value.__cause__, OperationalError)


def _built_without_state_conn_id() -> list:
    from airflow_provider_agentic_mlops.operators.decision import AgentDecisionOperator
    from airflow_provider_agentic_mlops.operators.promote import PromoteOperator
    from airflow_provider_agentic_mlops.operators.retrain import RetrainOperator
    from airflow_provider_agentic_mlops.operators.validate import ValidateOperator
    from airflow_provider_agentic_mlops.sensors.approval import ApprovalSensor

    return [
        AgentDecisionOperator(task_id="decide", model_name="fraud"),
        RetrainOperator(task_id="retrain", model_name="fraud", python_callable="m:f"),
        ValidateOperator(task_id="validate", model_name="fraud", validation_data="v.csv", label_column="y"),
        PromoteOperator(task_id="promote", model_name="fraud"),
        ApprovalSensor(task_id="wait_for_approval", model_name="fraud", deferrable=False),
    ]


def test_tasks_of_a_hand_written_dag_use_the_configured_state_store(monkeypatch, airflow_home: Path) -> None:
    """``[agentic_mlops] state_conn_id`` moves the UI, the CLI and the Slack endpoint to its store: a task built
    without ``state_conn_id`` must write there too, not to the SQLite fallback nobody reads."""
    from airflow_provider_agentic_mlops.operators.escalate import EscalateOperator
    from tests.doubles.airflow_task import task_context

    team_db = airflow_home / "team.db"
    _set_conn(monkeypatch, "team_state", conn_type="agentic_mlops_state", extra={"url": f"sqlite:///{team_db}"})
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID", "team_state")
    team_store = StateStoreHook("team_state").get_store()
    for task in _built_without_state_conn_id():
        assert task.store is team_store, type(task).__name__

    decision_id = team_store.record_decision("fraud", mode="rules", final_action="escalate", rationale="faulty feed")
    context = task_context(dag_id="agentic_mlops__fraud", xcoms={("decide", "decision_id"): decision_id})
    EscalateOperator(task_id="escalate", model_name="fraud", slack_conn_id="no_slack_here").execute(context)
    assert team_store.audit_trail("fraud")[0]["action"] == "escalated"
    assert not (airflow_home / "agentic_mlops.db").exists()  # the fallback store was never opened


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db?password=pw&sslmode=require", "postgresql://u@h/db?password=***&sslmode=require"),
        ("postgresql://u@h/db?sslmode=require&sslpassword=pw", "postgresql://u@h/db?sslmode=require&sslpassword=***"),
        ("postgress://u:pw@h/db?PASSWORD=pw", "postgress://u:***@h/db?PASSWORD=***"),
        ("not a url password=pw", "not a url password=pw"),  # no URL: nothing to mask, nothing to fail on
    ],
)
def test_shown_url_masks_every_password_of_a_url(url: str, shown: str) -> None:
    from airflow_provider_agentic_mlops.hooks.state import shown_url

    assert shown_url(url) == shown


@pytest.mark.timeout(120, method="thread")
def test_the_configured_migration_lock_timeout_bounds_the_wait_for_a_stuck_migration(
    monkeypatch, airflow_home: Path
) -> None:
    import fcntl

    from airflow_provider_agentic_mlops.core.state import MigrationLockTimeout

    db = airflow_home / "store.db"
    _set_conn(monkeypatch, "state_sqlite", conn_type="agentic_mlops_state", extra={"url": f"sqlite:///{db}"})
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MIGRATION_LOCK_TIMEOUT", "0.2")
    with open(f"{db}.migrate.lock", "a+") as stuck_migration:
        fcntl.flock(stuck_migration, fcntl.LOCK_EX)
        with pytest.raises(MigrationLockTimeout, match=r"migration_lock_timeout .*now 0\.2 s"):
            StateStoreHook("state_sqlite").get_store()


@pytest.mark.parametrize("value", ["0", "-5", "five minutes", "inf"])
def test_a_migration_lock_timeout_that_is_no_positive_number_is_an_error_naming_it(
    monkeypatch, airflow_home: Path, value: str
) -> None:
    from airflow_provider_agentic_mlops.settings import SettingInvalid

    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MIGRATION_LOCK_TIMEOUT", value)
    with pytest.raises(SettingInvalid, match=f"migration_lock_timeout = '{value}' is not a positive number"):
        StateStoreHook().get_store()


def test_a_missing_psycopg2_is_installed_with_the_providers_postgres_extra() -> None:
    """psycopg2 is not a dependency of the provider: its ``[postgres]`` extra brings psycopg2-binary, and
    ``pip install psycopg2`` builds from source (needs pg_config and a compiler)."""
    missing = ModuleNotFoundError("No module named 'psycopg2'", name="psycopg2")
    message = str(state_hook.store_unavailable("pg", "postgresql+psycopg2://a@db:5432/s", missing))
    assert "pip install 'airflow-provider-agentic-mlops[postgres]'" in message
    assert "pip install psycopg2)" not in message and "comes with the provider" not in message


def test_a_mistyped_dialect_is_named_with_the_supported_ones() -> None:
    from sqlalchemy.exc import NoSuchModuleError

    error = NoSuchModuleError("Can't load plugin: sqlalchemy.dialects:postgress")
    message = str(state_hook.store_unavailable("pg", "postgress://a@db/s", error))
    assert "'postgress'" in message and "sqlite" in message and "postgresql" in message
    assert "comes with the provider" not in message
