"""stdout holds only a command's document or table on every supported Airflow version, even when a log handler
writes to stdout: Airflow 3.1 and 3.2 configure the root logger's console handler on ``sys.stdout`` (3.3's
``airflow`` entry point moves it to stderr itself, the provider's commands do it on all of them)."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from airflow_provider_agentic_mlops.cli.definition import main

MODELS = """
models:
  - name: good
    drift: {reference: r.parquet, current: c.parquet, label_column: y}
    decision: {cooldown_hours: 0, max_retrains: 1, budget_window_hours: 24}
    retrain: {python_callable: "m:f", timeout_minutes: 30, heartbeat_timeout_minutes: 5}
  - name: bad
    drift: {reference: r.parquet, current: c.parquet, label_column: y}
    decision: {cooldown_hours: two}
    retrain: {python_callable: "m:f"}
"""


@pytest.fixture(autouse=True)
def models_file_with_an_invalid_entry(tmp_path, monkeypatch) -> None:
    """A models file with an invalid entry: the commands warn about it."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    path = tmp_path / "models.yaml"
    path.write_text(MODELS)
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(path))


@contextlib.contextmanager
def stdout_log_handler() -> Iterator[logging.StreamHandler]:
    """A root handler on stdout as Airflow 3.1/3.2's logging configures it (made in the test's body: capsys's
    stdout is ``sys.stdout`` only there)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@pytest.mark.parametrize(
    "command", [["models", "list"], ["decisions", "list"], ["approvals", "list"], ["jobs", "list"], ["audit", "list"]]
)
def test_json_output_is_only_the_document_when_a_log_handler_writes_to_stdout(command, capsys) -> None:
    with stdout_log_handler() as handler:
        main([*command, "-o", "json"])
    captured = capsys.readouterr()
    assert isinstance(json.loads(captured.out), list), captured.out
    assert "invalid" in captured.err  # the warning is still shown, on stderr
    assert handler.stream is sys.stdout  # given back after the command


def test_the_table_is_alone_on_stdout_when_a_log_handler_writes_to_stdout(capsys) -> None:
    with stdout_log_handler():
        main(["models", "list"])
    captured = capsys.readouterr()
    assert "invalid" not in captured.out and "invalid" in captured.err
    assert captured.out.split()[0] == "model"


def test_structlog_loggers_airflow_configures_on_stdout_write_to_stderr_during_a_command(capsys) -> None:
    """Airflow's structlog logger factory has no stream (structlog then writes to the process's stdout): the
    loggers a command makes write to stderr, and the factory is given back afterwards."""
    import structlog

    from airflow_provider_agentic_mlops.cli.output import log_handlers_on_stderr

    factory = structlog.get_config()["logger_factory"]
    assert factory.io is None  # as Airflow's logging configures it
    with log_handlers_on_stderr():
        factory("agentic-mlops-test").msg("a log line")
    captured = capsys.readouterr()
    assert captured.out == "" and "a log line" in captured.err
    assert factory.io is None
