"""``airflow agentic-mlops config check``: the ``[agentic_mlops]`` settings, checked as the components read them.

Airflow ignores an option it does not know and falls back to the default, so a misspelt option or a bad value
was found only when a task, a page or a click first used it."""

from __future__ import annotations

import configparser
import json
import os
from collections.abc import Callable, Iterator

import pytest

from airflow_provider_agentic_mlops.cli.definition import main
from airflow_provider_agentic_mlops.get_provider_info import get_provider_info

SECTION = "agentic_mlops"
OPTIONS = list(get_provider_info()["config"][SECTION]["options"])
ENV = "AIRFLOW__AGENTIC_MLOPS__"
SECRET = "s3cr3t-signing-value"

MODELS = """
models:
  - name: fraud
    drift: {reference: r.parquet, current: c.parquet, label_column: y}
    retrain: {python_callable: "m:f"}
"""


@pytest.fixture
def cfg() -> Iterator[Callable[[str, str], None]]:
    """Sets an option of ``[agentic_mlops]`` as airflow.cfg does (in Airflow's parser itself, not its defaults);
    the section is given back as it was."""
    from airflow.configuration import conf

    raw = configparser.RawConfigParser
    had = raw.has_section(conf, SECTION)
    before = dict(raw.items(conf, SECTION, raw=True)) if had else {}

    def set_option(key: str, value: str) -> None:
        if not raw.has_section(conf, SECTION):
            raw.add_section(conf, SECTION)
        raw.set(conf, SECTION, key, value)

    yield set_option
    if raw.has_section(conf, SECTION):
        raw.remove_section(conf, SECTION)
    if had:
        raw.add_section(conf, SECTION)
        for key, value in before.items():
            raw.set(conf, SECTION, key, value)


@pytest.fixture
def settings(tmp_path, monkeypatch, cli_metadata_db):
    """A deployment whose settings are all right: a models file that parses, the alerts connection with its
    token, the Slack signing secret set; every other option at its default."""
    for name in [name for name in os.environ if name.startswith(ENV)]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "models.yaml").write_text(MODELS)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    monkeypatch.setenv(f"{ENV}SLACK_SIGNING_SECRET", SECRET)
    cli_metadata_db.add_connection("agentic_mlops_alerts", conn_type="generic", password="alert-token")
    return cli_metadata_db


def _check(capsys, *argv: str) -> tuple[int, str]:
    """(exit status, stdout and stderr) of ``config check``."""
    try:
        main(["config", "check", *argv])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _findings(capsys, *argv: str) -> tuple[int, list[dict]]:
    try:
        main(["config", "check", "-o", "json", *argv])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, json.loads(capsys.readouterr().out)["findings"]


def test_a_clean_configuration_lists_every_option_and_exits_0(settings, capsys) -> None:
    code, out = _check(capsys)
    assert code == 0, out
    for option in OPTIONS:
        assert option in out
    assert "error:" not in out and "warning:" not in out
    assert "0 errors, 0 warnings" in out


def test_defaults_only_warn_of_the_signing_secret_and_the_alerts_connection_and_exit_0(
    settings, monkeypatch, capsys
) -> None:
    """Both are needed only for an endpoint (Slack's HTTP interactions, alerts) a deployment may not use."""
    monkeypatch.delenv(f"{ENV}SLACK_SIGNING_SECRET")
    with settings.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM connection")
    code, findings = _findings(capsys)
    assert code == 0
    assert sorted((f["severity"], f["option"]) for f in findings) == [
        ("warning", "alerts_conn_id"),
        ("warning", "slack_signing_secret"),
    ]


# (option, value, what the finding says): each bad value is an error naming the option, the value and the fix
BAD_VALUES = [
    ("alert_lock_timeout", "10s", "is not a positive number of seconds"),
    ("migration_lock_timeout", "-5", "is not a positive number of seconds"),
    ("approver_identities", "{alice: [U1]}", "is not JSON"),
    ("approver_identities", '{"alice": {"slack": 1}}', "must be a string or a list of strings"),
    ("state_conn_id", "nope_state", "state store connection 'nope_state' does not exist"),
    ("mlflow_read_conn_id", "nope_mlflow", "'nope_mlflow'"),
    ("alerts_conn_id", "agentic_mlops_alerts, nope_alerts", "'nope_alerts' does not exist"),
    ("models_file", "/nonexistent/models.yaml", "does not exist"),
    # finite but beyond what a lock wait takes: threading's OverflowError, PostgreSQL's lock_timeout refused
    ("alert_lock_timeout", "1e10", "at most 2147483 seconds"),
    ("migration_lock_timeout", "5e6", "at most 2147483 seconds"),
]


@pytest.mark.parametrize(("option", "value", "says"), BAD_VALUES)
def test_a_bad_value_in_the_environment_is_an_error_naming_option_value_and_fix(
    settings, monkeypatch, capsys, option, value, says
) -> None:
    monkeypatch.setenv(f"{ENV}{option.upper()}", value)
    code, out = _check(capsys)
    assert code == 1, out
    lines = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, out
    assert f"[agentic_mlops] {option} = {value!r} (env {ENV}{option.upper()})" in lines[0]
    assert says in lines[0]


@pytest.mark.parametrize(("option", "value", "says"), BAD_VALUES[:3])
def test_a_bad_value_in_airflow_cfg_is_an_error_naming_airflow_cfg(settings, cfg, capsys, option, value, says) -> None:
    cfg(option, value)
    code, findings = _findings(capsys)
    assert code == 1
    [finding] = findings
    assert finding["severity"] == "error" and finding["option"] == option and finding["value"] == value
    assert finding["source"] == "airflow.cfg" and says in finding["message"]


def test_an_alerts_connection_without_a_token_is_an_error(settings, monkeypatch, capsys) -> None:
    settings.add_connection("team_b_alerts", conn_type="generic", login="alertmanager")
    monkeypatch.setenv(f"{ENV}ALERTS_CONN_ID", "agentic_mlops_alerts,team_b_alerts")
    code, findings = _findings(capsys)
    assert code == 1
    [finding] = findings
    assert finding["option"] == "alerts_conn_id" and "'team_b_alerts' has no password" in finding["message"]


def test_a_misspelt_option_in_the_environment_is_an_error_naming_the_option_meant(
    settings, monkeypatch, capsys
) -> None:
    monkeypatch.setenv(f"{ENV}STATE_CON_ID", "shared_state")
    code, out = _check(capsys)
    assert code == 1
    [line] = [line for line in out.splitlines() if line.startswith("error:")]
    assert f"{ENV}STATE_CON_ID" in line and f"did you mean {ENV}STATE_CONN_ID" in line
    assert "shared_state" not in line  # an unknown option's value is not shown: it may be a secret


def test_a_misspelt_option_in_airflow_cfg_is_an_error_naming_the_option_meant(settings, cfg, capsys) -> None:
    cfg("alert_lock_timout", "30")
    code, findings = _findings(capsys)
    assert code == 1
    [finding] = findings
    assert finding["option"] == "alert_lock_timout" and finding["source"] == "airflow.cfg"
    assert "did you mean 'alert_lock_timeout'" in finding["message"] and finding["value"] is None


def test_a_command_form_of_an_option_that_is_not_sensitive_is_reported(settings, monkeypatch, capsys) -> None:
    """Airflow runs ``<option>_cmd`` only for a sensitive option: ``STATE_CONN_ID_CMD`` is ignored."""
    monkeypatch.setenv(f"{ENV}STATE_CONN_ID_CMD", "echo shared")
    monkeypatch.setenv(f"{ENV}SLACK_SIGNING_SECRET_CMD", "echo other")  # a sensitive option's: known
    code, findings = _findings(capsys)
    assert code == 1
    [finding] = findings
    assert finding["option"] == f"{ENV}STATE_CONN_ID_CMD" and "only for a sensitive option" in finding["message"]


def test_a_misspelt_section_is_reported(settings, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOP__STATE_CONN_ID", "shared_state")
    code, findings = _findings(capsys)
    assert code == 1
    [finding] = findings
    assert "did you mean AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID" in finding["message"]


def test_the_signing_secret_is_never_printed(settings, monkeypatch, cfg, capsys) -> None:
    cfg("slack_signing_secrt", SECRET)  # a typo of it: its value is not shown either
    monkeypatch.setenv(f"{ENV}SLACK_SIGNING_SECRETT", SECRET)
    for argv in ((), ("-o", "json")):
        code, out = _check(capsys, *argv)
        assert code == 1
        assert SECRET not in out
        assert "slack_signing_secret" in out


def test_the_signing_secret_is_shown_as_set_with_its_source(settings, capsys) -> None:
    code, out = _check(capsys, "-o", "json")
    document = json.loads(out)
    [row] = [row for row in document["options"] if row["option"] == "slack_signing_secret"]
    assert row == {
        "option": "slack_signing_secret",
        "value": "(set)",
        "source": f"env {ENV}SLACK_SIGNING_SECRET",
        "status": "ok",
    }


def test_json_output_shape_and_sources(settings, cfg, monkeypatch, capsys) -> None:
    cfg("alert_model_label", "service")
    monkeypatch.setenv(f"{ENV}ALERT_LOCK_TIMEOUT", "soon")
    code, out = _check(capsys, "-o", "json")
    assert code == 1
    document = json.loads(out)  # stdout holds only the document
    assert set(document) == {"section", "options", "findings", "errors", "warnings"}
    assert document["section"] == SECTION and document["errors"] == 1 and document["warnings"] == 0
    rows = {row["option"]: row for row in document["options"]}
    assert list(rows) == OPTIONS
    assert rows["alert_model_label"] == {
        "option": "alert_model_label",
        "value": "service",
        "source": "airflow.cfg",
        "status": "ok",
    }
    assert rows["alert_lock_timeout"]["status"] == "error"
    assert rows["alert_lock_timeout"]["source"] == f"env {ENV}ALERT_LOCK_TIMEOUT"
    assert rows["migration_lock_timeout"] == {
        "option": "migration_lock_timeout",
        "value": "300",
        "source": "default",
        "status": "ok",
    }
    assert rows["state_conn_id"]["value"] == "agentic_mlops_state_default"
    [finding] = document["findings"]
    assert set(finding) == {"severity", "option", "value", "source", "message"}


def test_a_models_file_with_an_invalid_entry_is_a_warning_pointing_to_models_validate(
    settings, tmp_path, capsys
) -> None:
    (tmp_path / "dags" / "models.yaml").write_text(MODELS + "  - name: bad\n    x: 1\n")
    code, findings = _findings(capsys)
    assert code == 0
    [finding] = findings
    assert finding["severity"] == "warning" and finding["option"] == "models_file"
    assert "1 of 2 entries invalid" in finding["message"] and "models validate" in finding["message"]


def test_a_models_file_that_is_not_yaml_is_an_error(settings, tmp_path, capsys) -> None:
    (tmp_path / "dags" / "models.yaml").write_text("models: [\n")
    code, findings = _findings(capsys)
    assert code == 1
    [finding] = findings
    assert finding["severity"] == "error" and finding["option"] == "models_file"


def test_an_mlflow_tracking_uri_password_is_masked(settings, monkeypatch, capsys) -> None:
    monkeypatch.setenv(f"{ENV}MLFLOW_TRACKING_URI", "http://ml:hunter2@mlflow:5000")
    code, out = _check(capsys)
    assert code == 0 and "hunter2" not in out and "mlflow:5000" in out


def test_a_misspelt_section_or_an_upper_case_name_in_airflow_cfg_is_reported(settings, cfg, capsys) -> None:
    from airflow.configuration import conf

    cfg("State_Conn_Id", "shared_state")  # airflow.cfg keeps a name's case; Airflow looks up lower case only
    configparser.RawConfigParser.add_section(conf, "agentic_mlop")
    try:
        code, out = _check(capsys)
    finally:
        configparser.RawConfigParser.remove_section(conf, "agentic_mlop")
    assert code == 1
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: [agentic_mlop] (airflow.cfg): Airflow reads none of this section's options, and the provider's keep "
        "their values; did you mean [agentic_mlops]? Rename the section",
        "error: [agentic_mlops] State_Conn_Id (airflow.cfg): Airflow ignores it (option names are lower case), and "
        "'state_conn_id' keeps its value; did you mean 'state_conn_id'? Rename it",
    ]


def test_connections_that_cannot_be_looked_up_are_one_warning_not_an_error(settings, capsys) -> None:
    """The metadata DB down: whether the connections exist is unknown; said once, the other options refer to it."""
    settings.down()
    try:
        code, findings = _findings(capsys)
    finally:
        settings.up()
    assert code == 0
    lookups = [f for f in findings if "not checked" in f["message"]]
    assert [f["option"] for f in lookups] == ["state_conn_id", "mlflow_read_conn_id", "alerts_conn_id"]
    assert "could not look up the connection 'agentic_mlops_state_default'" in lookups[0]["message"]
    assert all("(see state_conn_id)" in f["message"] for f in lookups[1:])


def test_a_report_connection_that_may_promote_is_a_warning(settings, monkeypatch, capsys) -> None:
    """The report pages only read MLflow: a promote connection there gives the web process more than it needs."""
    settings.add_connection(
        "mlflow_admin", conn_type="agentic_mlops_mlflow", host="http://mlflow:5000", extra='{"access": "promote"}'
    )
    monkeypatch.setenv(f"{ENV}MLFLOW_READ_CONN_ID", "mlflow_admin")
    code, findings = _findings(capsys)
    assert code == 0
    [finding] = findings
    assert finding["severity"] == "warning" and finding["option"] == "mlflow_read_conn_id"
    assert "has access 'promote'" in finding["message"]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ('{"model": ["fraud-*"]}', "its extra has 'model', which is not a scope key"),
        ('{"teams": "team_a"}', "its extra 'teams' must be a list of non-empty texts"),
        ('{"Teams": ["team_a"]}', "its extra has 'Teams', which is not a scope key"),
    ],
)
def test_an_alerts_connection_whose_scope_cannot_be_read_is_an_error(settings, monkeypatch, capsys, extra, says):
    """The endpoint answers 503 to every alert of such a connection's token: said before an alert is lost."""
    settings.add_connection("team_a_alerts", conn_type="generic", password="tok", extra=extra)
    monkeypatch.setenv(f"{ENV}ALERTS_CONN_ID", "agentic_mlops_alerts,team_a_alerts")
    code, findings = _findings(capsys)
    assert code == 1
    [finding] = findings
    assert finding["option"] == "alerts_conn_id"
    assert "the scope of the alerts connection 'team_a_alerts' cannot be read" in finding["message"]
    assert says in finding["message"]


@pytest.mark.parametrize("where", ["env", "airflow.cfg"])
def test_a_failing_secret_command_shows_neither_its_command_nor_its_output(
    settings, monkeypatch, cfg, capsys, where
) -> None:
    """Airflow's error repeats the command line and what it printed, which may be the secret itself."""
    monkeypatch.delenv(f"{ENV}SLACK_SIGNING_SECRET")
    command_line = 'sh -c "echo leakedmarker42; exit 3"'
    if where == "env":
        monkeypatch.setenv(f"{ENV}SLACK_SIGNING_SECRET_CMD", command_line)
        source = f"env {ENV}SLACK_SIGNING_SECRET_CMD"
    else:
        cfg("slack_signing_secret_cmd", command_line)
        source = "airflow.cfg slack_signing_secret_cmd"
    for argv in ((), ("-o", "json")):
        code, out = _check(capsys, *argv)
        assert code == 1, out
        assert "leakedmarker42" not in out and "echo" not in out and "exit 3" not in out
        assert source in out and "AirflowConfigException" in out and "run it by hand" in out


def test_per_team_values_of_the_section_are_errors_saying_the_provider_reads_the_section(
    settings, monkeypatch, capsys
) -> None:
    """Airflow 3.3's ``[team_a=agentic_mlops]`` and ``AIRFLOW__TEAM_A___AGENTIC_MLOPS__*``: the provider reads no
    team's values, so the team's tasks would run with the section's values while the user thinks otherwise."""
    from airflow.configuration import conf

    raw = configparser.RawConfigParser
    raw.add_section(conf, "team_a=agentic_mlops")
    raw.set(conf, "team_a=agentic_mlops", "state_conn_id", "team_a_state")
    monkeypatch.setenv("AIRFLOW__TEAM_B___AGENTIC_MLOPS__ALERTS_CONN_ID", "team_b_alerts")
    try:
        code, findings = _findings(capsys)
    finally:
        raw.remove_section(conf, "team_a=agentic_mlops")
    assert code == 1
    assert sorted((f["severity"], f["option"]) for f in findings) == [
        ("error", "AIRFLOW__TEAM_B___AGENTIC_MLOPS__ALERTS_CONN_ID"),
        ("error", "[team_a=agentic_mlops]"),
    ]
    for finding in findings:
        assert "per-team values of [agentic_mlops] are not read by this provider" in finding["message"]
        assert "team_a_state" not in finding["message"] and "team_b_alerts" not in finding["message"]
    [env] = [f for f in findings if f["option"].startswith("AIRFLOW__")]
    assert "set AIRFLOW__AGENTIC_MLOPS__ALERTS_CONN_ID" in env["message"]


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("AIRFLOW__AGENTIC_MLOPS_STATE_CONN_ID", "STATE_CONN_ID"),  # one underscore before the option
        ("AIRFLOW_AGENTIC_MLOPS__ALERTS_CONN_ID", "ALERTS_CONN_ID"),  # one after AIRFLOW
        ("AIRFLOW__AGENTIC__MLOPS__MODELS_FILE", "MODELS_FILE"),  # the section split in two
    ],
)
def test_a_misspelt_environment_variable_prefix_is_an_error_naming_the_variable_meant(
    settings, monkeypatch, capsys, name, meant
) -> None:
    monkeypatch.setenv(name, "shared")
    code, findings = _findings(capsys)
    assert code == 1
    [finding] = findings
    assert finding["option"] == name and f"did you mean {ENV}{meant}?" in finding["message"]
    code, out = _check(capsys)
    assert f"error: {name}: Airflow ignores it (its name does not begin {ENV}" in out


def test_other_variables_naming_the_provider_are_not_reported(settings, monkeypatch, capsys) -> None:
    """Connections, variables and the demo's own settings are not settings of the section."""
    monkeypatch.setenv("AIRFLOW_CONN_AGENTIC_MLOPS_STATE_TEST", "sqlite:///x.db")
    monkeypatch.setenv("AIRFLOW_VAR_AGENTIC_MLOPS_NOTE", "x")
    monkeypatch.setenv("AGENTIC_MLOPS_DB_PASSWORD", "x")
    code, findings = _findings(capsys)
    assert code == 0 and findings == []


def test_a_models_file_that_is_not_utf8_is_an_error_naming_it(settings, tmp_path, capsys) -> None:
    path = tmp_path / "dags" / "models.yaml"
    path.write_bytes(MODELS.replace("fraud", "caf\xe9").encode("latin-1"))
    code, findings = _findings(capsys)
    assert code == 1
    [finding] = findings
    assert finding["option"] == "models_file" and f"models file {str(path)!r} is not UTF-8" in finding["message"]


def test_an_mlflow_tracking_uri_from_mlflow_s_own_variable_names_it_as_the_source(settings, monkeypatch, capsys):
    """The provider falls back to ``MLFLOW_TRACKING_URI`` (hooks/mlflow.py): "default" hid where the value came from."""
    monkeypatch.delenv(f"{ENV}MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://ml:p@ss@mlflow:5000/?token=t0k")
    code, out = _check(capsys, "-o", "json")
    assert code == 0, out
    [row] = [row for row in json.loads(out)["options"] if row["option"] == "mlflow_tracking_uri"]
    assert row["source"] == "env MLFLOW_TRACKING_URI"
    assert row["value"] == "http://ml:***@mlflow:5000/?token=***"


def test_an_mlflow_tracking_uri_left_empty_in_airflow_cfg_shows_the_fallback_as_its_source(
    settings, cfg, monkeypatch, capsys
):
    """Airflow writes every option into a new airflow.cfg, ``mlflow_tracking_uri`` empty: the URI in use is then the
    SQLite fallback in $AIRFLOW_HOME, which airflow.cfg did not set."""
    monkeypatch.delenv(f"{ENV}MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg("mlflow_tracking_uri", "")
    code, out = _check(capsys, "-o", "json")
    assert code == 0, out
    [row] = [row for row in json.loads(out)["options"] if row["option"] == "mlflow_tracking_uri"]
    assert row["value"].startswith("sqlite:///") and row["value"].endswith("mlflow.db")
    assert row["source"] == "default (SQLite in $AIRFLOW_HOME)"
