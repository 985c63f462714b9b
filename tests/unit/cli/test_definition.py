"""The command definitions: help text reads the same under ``airflow agentic-mlops`` and ``agentic-mlops``."""

from __future__ import annotations

import argparse

import pytest

from airflow_provider_agentic_mlops.cli.definition import build_parser, get_agentic_mlops_cli_commands, main

# (command line after the group, text its --help must show): every help naming an Airflow config option
CONFIG_OPTION_HELP = [
    (["models", "list"], "[agentic_mlops] models_file, else models.yaml in [core] dags_folder"),
    (["models", "list"], "[agentic_mlops] state_conn_id, else agentic_mlops_state_default"),
    (["models", "list"], "the DAG file reads the one beside it: set [agentic_mlops] models_file when that is"),
    (["approvals", "approve"], "mapped to an Airflow user by [agentic_mlops] approver_identities"),
    (["rollback"], "else [agentic_mlops] state_conn_id"),
    (["init"], "(default: [core] dags_folder)"),
    (["config", "check"], "Check the provider's [agentic_mlops] settings"),
]


def _help(parse: object, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        parse([*argv, "--help"])  # type: ignore[operator]
    return " ".join(capsys.readouterr().out.split())  # the formatter wraps lines; compare words


def _airflow_parse(argv: list[str]) -> None:
    """Parse as ``airflow agentic-mlops ...`` does: Airflow's parser, with its rich help formatters."""
    from airflow.cli.cli_parser import AirflowHelpFormatter, _add_command

    parser = argparse.ArgumentParser(prog="airflow", formatter_class=AirflowHelpFormatter)
    _add_command(parser.add_subparsers(dest="subcommand"), get_agentic_mlops_cli_commands()[0])
    parser.parse_args(["agentic-mlops", *argv])


@pytest.mark.parametrize("parse", [_airflow_parse, main], ids=["airflow", "standalone"])
@pytest.mark.parametrize(("argv", "expected"), CONFIG_OPTION_HELP)
def test_help_names_the_config_section(parse, argv, expected, capsys, monkeypatch) -> None:
    """Under ``airflow agentic-mlops`` and in the standalone ``agentic-mlops`` script alike."""
    monkeypatch.setenv("COLUMNS", "200")
    text = _help(parse, argv, capsys)
    assert expected in text
    assert "\\[" not in text


# (command line after the group, the value refused): counts and ports argparse must refuse, naming the value
NUMBERS_REFUSED = [
    (["decisions", "list", "--limit", "-1"], "-1"),
    (["decisions", "list", "--limit", "0"], "0"),
    (["decisions", "list", "--limit", "ten"], "'ten'"),
    (["audit", "list", "--limit", "0"], "0"),
    (["demo", "--rows", "0"], "0"),
    (["demo", "--port", "0"], "0"),
    (["demo", "--port", "70000"], "70000"),
]


def _standalone_parse(argv: list[str]) -> None:
    """Parse as the ``agentic-mlops`` script does, without running the command (``demo`` would start Airflow)."""
    build_parser().parse_args(argv)


@pytest.mark.parametrize("parse", [_airflow_parse, _standalone_parse], ids=["airflow", "standalone"])
@pytest.mark.parametrize(("argv", "value"), NUMBERS_REFUSED)
def test_a_count_or_port_out_of_range_is_a_usage_error_naming_the_value(parse, argv, value, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"argument {argv[-2]}: {value} " in err and "whole number" in err


# (command line with a text option, that option): a byte that is not UTF-8 (a shell in Latin-1: Python reads it
# as a lone surrogate) or a NUL; the command failed with a UnicodeEncodeError traceback, and --user was stored
TEXT_REFUSED = [
    (["approvals", "approve", "1", "--yes", "--user", "Zo\udcffe"], "--user"),
    (["approvals", "deny", "1", "--yes", "--reason", "bad \udce9t\udce9"], "--reason"),
    (["approvals", "list", "--model", "fra\udcffud"], "--model"),
    (["jobs", "fail", "1", "--yes", "--reason", "stuck\x00"], "--reason"),
    (["decisions", "show", "1", "--model", "m\x00"], "--model"),
    (["audit", "list", "--action", "esc\udcffalated"], "--action"),
    (["rollback", "fraud", "--yes", "--registered-model", "fr\udcffaud"], "--registered-model"),
    (["rollback", "fr\udcffaud", "--yes"], "model"),
]


@pytest.mark.parametrize("parse", [_airflow_parse, _standalone_parse], ids=["airflow", "standalone"])
@pytest.mark.parametrize(("argv", "option"), TEXT_REFUSED)
def test_text_that_is_not_utf8_or_holds_nul_is_a_usage_error_naming_the_option(parse, argv, option, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: " in err and ("not valid UTF-8" in err or "NUL" in err)
    err.encode("utf-8")  # the message itself prints: it does not repeat the bytes


# (connection as AIRFLOW_CONN_ JSON, command line, text the one-line error must show): likely mistakes
STORE_MISTAKES = [
    pytest.param(
        {"conn_type": "agentic_mlops_state", "extra": {"url": "postgresql+psycopg2://agent:s3cret@127.0.0.1:18411/db"}},
        ["db", "migrate"],
        "the state store (connection 'mistake', postgresql+psycopg2://agent:***@127.0.0.1:18411/db) is unavailable",
        id="db-migrate-store-down",
    ),
    pytest.param(
        {"conn_type": "agentic_mlops_state", "extra": {"url": "postgresql+psycopg2://agent:s3cret@127.0.0.1:18411/db"}},
        ["approvals", "list"],
        "the state store (connection 'mistake', postgresql+psycopg2://agent:***@127.0.0.1:18411/db) is unavailable",
        id="approvals-list-store-down",
    ),
    pytest.param(
        {"conn_type": "agentic_mlops_state", "extra": {"url": "postgresql+psycopg2://agent:s3cret@127.0.0.1:18411/db"}},
        ["decisions", "list"],
        "is unavailable",
        id="decisions-list-store-down",
    ),
    pytest.param(
        {"conn_type": "agentic_mlops_state", "extra": {"url": "postgress://agent:s3cret@127.0.0.1/db"}},
        ["db", "migrate"],
        "connection 'mistake', postgress://agent:***@127.0.0.1/db) is unavailable: NoSuchModuleError",
        id="db-migrate-dialect-typo",
    ),
    pytest.param(
        {"conn_type": "agentic_mlops_state", "extra": {"url": "postgress://agent:s3cret@127.0.0.1/db"}},
        ["approvals", "list"],
        "connection 'mistake', postgress://agent:***@127.0.0.1/db) is unavailable: NoSuchModuleError",
        id="approvals-list-dialect-typo",
    ),
    pytest.param(
        {"conn_type": "agentic_mlops_state", "extra": {"url": "not a url"}},
        ["db", "migrate"],
        "connection 'mistake', not a url) is unavailable: ArgumentError",
        id="db-migrate-unparsable-url",
    ),
    pytest.param(
        {"conn_type": "agentic_mlops_state", "extra": {"url": "not a url"}},
        ["approvals", "list"],
        "connection 'mistake', not a url) is unavailable: ArgumentError",
        id="approvals-list-unparsable-url",
    ),
    pytest.param(
        {"conn_type": "http", "host": "example.com"},
        ["db", "migrate"],
        "connection 'mistake' (type 'http') has no state-store URL",
        id="db-migrate-wrong-connection-type",
    ),
]


@pytest.mark.parametrize(("conn", "argv", "expected"), STORE_MISTAKES)
def test_a_state_store_mistake_is_one_line_naming_the_connection_not_a_traceback(
    conn, argv, expected, tmp_path, monkeypatch
) -> None:
    import json

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_MISTAKE", json.dumps(conn))
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--state-conn-id", "mistake"])
    message = str(exc.value.code)
    assert message.startswith("error: ") and expected in message, message
    assert "s3cret" not in message


def test_a_state_database_that_does_not_exist_is_one_line_naming_it(tmp_path, monkeypatch) -> None:
    import json

    from tests.conftest import PG_HOST, PG_PORT, require_server

    require_server("PostgreSQL", PG_HOST, PG_PORT)
    url = f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/agentic_mlops_no_such_db"
    monkeypatch.setenv("AIRFLOW_CONN_NODB", json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": url}}))
    with pytest.raises(SystemExit) as exc:
        main(["db", "migrate", "--state-conn-id", "nodb"])
    assert str(exc.value.code).startswith(f"error: the state store (connection 'nodb', {url}) is unavailable: ")


def test_bad_approver_identities_json_is_one_line_naming_the_option(tmp_path, monkeypatch) -> None:
    from airflow_provider_agentic_mlops.core.state import StateStore, default_sqlite_url
    from tests.approval_data import request_approval

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__APPROVER_IDENTITIES", "{bad")
    store = StateStore(default_sqlite_url(tmp_path))
    approval_id = request_approval(store, run_id="r1").approval["id"]
    store.dispose()
    with pytest.raises(SystemExit) as exc:
        main(["approvals", "approve", str(approval_id), "--yes"])
    assert str(exc.value.code).startswith("error: [agentic_mlops] approver_identities is not JSON")


def test_init_into_a_file_is_one_line_naming_it(tmp_path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(SystemExit) as exc:
        main(["init", "--dags-folder", str(afile)])
    assert str(exc.value.code) == f"error: --dags-folder {str(afile)!r} is a file, not a folder; give the DAGs folder"


def test_mlflow_down_in_rollback_is_one_line_naming_the_connection(tmp_path, monkeypatch) -> None:
    import json

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLDOWN",
        json.dumps(
            {"conn_type": "agentic_mlops_mlflow", "host": "http://127.0.0.1:18412", "extra": {"access": "promote"}}
        ),
    )
    argv = ["rollback", "fraud", "--registered-model", "fraud", "--mlflow-conn-id", "mldown", "--yes"]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--models-file", str(tmp_path / "none.yaml")])
    message = str(exc.value.code)
    assert message.startswith("error: MLflow connection 'mldown' (http://127.0.0.1:18412), model 'fraud': ")
    assert "\n" not in message and "Check that the MLflow server is up" in message


def test_an_unexpected_error_keeps_its_traceback(monkeypatch) -> None:
    """A bug is not a user's mistake: hiding its traceback would hide where it is."""
    from airflow_provider_agentic_mlops.cli.commands import db

    def broken(args: argparse.Namespace) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(db, "db_migrate", broken)
    with pytest.raises(KeyError):
        main(["db", "migrate"])


@pytest.mark.parametrize("parse", [_airflow_parse, main], ids=["airflow", "standalone"])
@pytest.mark.parametrize(
    ("argv", "example"),
    [
        (["approvals", "approve"], "airflow agentic-mlops approvals approve 12 --model fraud-detector --reason"),
        (["jobs", "fail"], "airflow agentic-mlops jobs fail 7 --model fraud-detector --reason 'worker VM deleted'"),
        (["rollback"], "airflow agentic-mlops rollback churn --registered-model churn-prod --yes"),
        (["db", "downgrade"], "airflow agentic-mlops db downgrade --to 0005"),
    ],
)
def test_the_commands_that_change_something_show_examples_one_a_line(parse, argv, example, capsys) -> None:
    with pytest.raises(SystemExit):
        parse([*argv, "--help"])
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert "Examples:" in lines and any(line.startswith(example) for line in lines)


def test_an_mlflow_error_that_is_no_connection_problem_does_not_blame_the_connection() -> None:
    """A model MLflow cannot serialise is no reason to check the server, the host or the credentials."""
    from mlflow.exceptions import MlflowException

    from airflow_provider_agentic_mlops.cli.definition import user_error

    saving = MlflowException("The saved sklearn model references untrusted types. Root error: ...")
    assert user_error(saving) == "The saved sklearn model references untrusted types. Root error: ..."
    try:
        try:
            raise ConnectionError("Max retries exceeded with url: /api/2.0/mlflow/registered-models/search")
        except ConnectionError as exc:
            raise MlflowException(f"API request to http://127.0.0.1:18712 failed with exception {exc}") from None
    except MlflowException as down:
        assert "Check that the MLflow server is up" in user_error(down)


def test_an_mlflow_connection_of_another_type_is_one_line_naming_its_type(tmp_path, monkeypatch) -> None:
    """It was taken for MLflow's: 13 s of retries, then "check that the MLflow server is up"."""
    import json

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_WEB", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:18412"}))
    argv = ["rollback", "fraud", "--registered-model", "fraud", "--mlflow-conn-id", "web", "--yes"]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--models-file", str(tmp_path / "none.yaml")])
    message = str(exc.value.code)
    assert message.startswith("error: connection 'web' (type 'http') is not an MLflow connection")
    assert "--conn-type agentic_mlops_mlflow" in message and "MLflow server is up" not in message
