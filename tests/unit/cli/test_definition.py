"""The command definitions: help text reads the same under ``airflow agentic-mlops`` and ``agentic-mlops``."""

from __future__ import annotations

import argparse

import pytest

from airflow_provider_agentic_mlops.cli.definition import build_parser, get_agentic_mlops_cli_commands, main

# (command line after the group, text its --help must show): every help naming an Airflow config option
CONFIG_OPTION_HELP = [
    (["models", "list"], "[agentic_mlops] models_file, else models.yaml in [core] dags_folder"),
    (["models", "list"], "[agentic_mlops] state_conn_id, else agentic_mlops_state_default"),
    (["approvals", "approve"], "mapped to an Airflow user by [agentic_mlops] approver_identities"),
    (["rollback"], "else [agentic_mlops] state_conn_id"),
    (["init"], "(default: [core] dags_folder)"),
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
