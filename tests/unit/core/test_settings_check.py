"""``core/settings_check.py``: which option a name Airflow ignores was meant to be, and how a finding reads."""

from __future__ import annotations

from airflow_provider_agentic_mlops.core.settings_check import (
    ERROR,
    Finding,
    env_of_section_like,
    known_names,
    unknown_options,
)

OPTIONS = ["state_conn_id", "alert_lock_timeout", "slack_signing_secret"]
SENSITIVE = ["slack_signing_secret"]


def _unknown(*given: tuple[str, str]) -> list[str]:
    return [f.line() for f in unknown_options(given, options=OPTIONS, sensitive=SENSITIVE)]


def test_known_names_and_a_secret_s_command_forms_are_not_reported() -> None:
    assert known_names(OPTIONS, SENSITIVE)[-2:] == ["slack_signing_secret_cmd", "slack_signing_secret_secret"]
    assert not _unknown(
        ("state_conn_id", "airflow.cfg"),
        ("slack_signing_secret_cmd", "airflow.cfg"),
        ("AIRFLOW__AGENTIC_MLOPS__ALERT_LOCK_TIMEOUT", "env"),
        ("AIRFLOW__AGENTIC_MLOPS__SLACK_SIGNING_SECRET_SECRET", "env"),
    )


def test_a_typo_names_the_option_meant_in_the_form_it_was_given() -> None:
    assert _unknown(("alert_lock_timout", "airflow.cfg"), ("AIRFLOW__AGENTIC_MLOPS__STATE_CON_ID", "env")) == [
        "error: [agentic_mlops] alert_lock_timout (airflow.cfg): Airflow ignores it, and 'alert_lock_timeout' keeps "
        "its value; did you mean 'alert_lock_timeout'? Rename it",
        "error: AIRFLOW__AGENTIC_MLOPS__STATE_CON_ID: Airflow ignores it, and 'state_conn_id' keeps its value; did you "
        "mean AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID? Rename it",
    ]


def test_a_lower_case_environment_variable_and_a_command_form_of_a_plain_option_say_why() -> None:
    [lower, command] = _unknown(
        ("AIRFLOW__AGENTIC_MLOPS__state_conn_id", "env"), ("AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID_CMD", "env")
    )
    assert "(Airflow reads environment variables in upper case)" in lower
    assert "(Airflow runs its cmd form only for a sensitive option)" in command


def test_a_name_close_to_nothing_says_to_remove_it() -> None:
    assert _unknown(("colour", "airflow.cfg"))[0].endswith("the section has no such option. Remove it")


def test_a_section_close_to_agentic_mlops_is_recognised() -> None:
    assert env_of_section_like("AIRFLOW__AGENTIC_MLOP__MODELS_FILE")
    assert env_of_section_like("AIRFLOW__AGENTICMLOPS__MODELS_FILE")
    assert not env_of_section_like("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE")  # the section itself
    assert not env_of_section_like("AIRFLOW__CORE__DAGS_FOLDER")
    [finding] = unknown_options([("AIRFLOW__AGENTIC_MLOP__STATE_CONN_ID", "env")], options=OPTIONS, sensitive=SENSITIVE)
    assert "(its section is not AGENTIC_MLOPS)" in finding.message


def test_a_finding_names_option_value_and_source_once() -> None:
    finding = Finding(
        ERROR,
        "alert_lock_timeout",
        "[agentic_mlops] alert_lock_timeout = '10s' is not a positive number of seconds",
        value="10s",
        source="airflow.cfg",
    )
    assert finding.line() == (
        "error: [agentic_mlops] alert_lock_timeout = '10s' (airflow.cfg): is not a positive number of seconds"
    )
    assert finding.as_dict()["message"] == finding.message  # the JSON keeps the component's message whole


def test_a_team_s_section_is_a_team_value_not_a_misspelt_section() -> None:
    from airflow_provider_agentic_mlops.core.settings_check import misspelt_sections, team_values

    sections = ["a=agentic_mlops", "team_a=core", "agentic_mlops"]
    assert misspelt_sections(sections) == []
    assert [f.option for f in team_values(sections, ["AIRFLOW__T___AGENTIC_MLOPS__X", "AIRFLOW__T___CORE__X"])] == [
        "[a=agentic_mlops]",
        "AIRFLOW__T___AGENTIC_MLOPS__X",
    ]
