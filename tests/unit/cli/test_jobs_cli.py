"""``airflow agentic-mlops jobs list|fail``: an SRE closes a job row a dead worker left ``running``."""

from __future__ import annotations

import argparse
import json
import os
import pwd
from pathlib import Path

import pytest

from airflow_provider_agentic_mlops.cli.commands.jobs import jobs_fail
from airflow_provider_agentic_mlops.cli.output import CommandStopped
from airflow_provider_agentic_mlops.core.state import StateStore, default_sqlite_url

LOGIN = pwd.getpwuid(os.getuid()).pw_name  # the real uid's login: who failed the job
CONN = "agentic_mlops_state_jobs_cli_test"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateStore:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(tmp_path / "models.yaml"))  # none unless written
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN.upper()}",
        json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": default_sqlite_url(tmp_path)}}),
    )
    # this test's OS login is the Airflow user "alice"
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__APPROVER_IDENTITIES", json.dumps({"alice": {"os": [LOGIN]}}))
    s = StateStore(default_sqlite_url(tmp_path))
    yield s
    s.dispose()


def _args(**kwargs: object) -> argparse.Namespace:
    defaults = {"state_conn_id": CONN, "output": "table", "reason": "worker VM deleted", "yes": True, "model": None}
    return argparse.Namespace(**{**defaults, **kwargs})


def test_fail_closes_a_running_job_with_the_reason_in_the_audit_trail_as_the_os_login(
    store: StateStore, capsys: pytest.CaptureFixture
) -> None:
    job, _ = store.start_job("fraud", dag_id="agentic_mlops__fraud", run_id="r1")

    jobs_fail(_args(job_id=job["id"], reason="worker VM deleted"))

    assert f"Job {job['id']} (fraud, run r1) is failed" in capsys.readouterr().out
    failed = store.get_job(job["id"])
    assert failed["status"] == "failed" and failed["error"] == "failed by alice: worker VM deleted"
    assert store.inflight_job("fraud") is None  # the model can retrain again
    entry = store.audit_trail("fraud")[0]
    assert (entry["action"], entry["actor"], entry["subject"]) == ("job_failed_by_hand", "alice", f"job:{job['id']}")
    assert entry["details"]["reason"] == "worker VM deleted"
    assert entry["details"]["identity"] == {"os_user": LOGIN, "airflow_user": "alice"}
    assert store.heartbeat_job(job["id"]) is False  # a worker still alive learns it at its next beat


def test_fail_of_a_job_no_longer_running_changes_nothing_and_says_how_it_ended(store: StateStore) -> None:
    job, _ = store.start_job("fraud", dag_id="agentic_mlops__fraud", run_id="r1")
    store.finish_job(job["id"], status="succeeded", result={"version": "3"})

    with pytest.raises(CommandStopped, match=f"job {job['id']} of fraud is already succeeded.*nothing changed"):
        jobs_fail(_args(job_id=job["id"]))

    assert store.get_job(job["id"])["status"] == "succeeded"
    assert "job_failed_by_hand" not in [e["action"] for e in store.audit_trail("fraud")]


def test_fail_of_an_unknown_job_names_the_store_and_how_to_list_the_jobs(store: StateStore) -> None:
    from airflow_provider_agentic_mlops.cli.definition import main

    with pytest.raises(CommandStopped, match=f"job 404 is not in the state store '{CONN}'.*jobs list"):
        jobs_fail(_args(job_id=404))
    with pytest.raises(SystemExit) as exc:  # through the command: one line, as the provider's other errors
        main(["jobs", "fail", "404", "--reason", "stuck", "--yes", "--state-conn-id", CONN])
    message = str(exc.value.code)
    assert message.startswith("error: job 404 is not in the state store") and "\n" not in message, message


def test_fail_of_another_models_job_is_refused(store: StateStore) -> None:
    job, _ = store.start_job("churn", dag_id="agentic_mlops__churn", run_id="r1")
    with pytest.raises(CommandStopped, match=f"job {job['id']} in state store '{CONN}' is churn's, not fraud's"):
        jobs_fail(_args(job_id=job["id"], model="fraud", state_conn_id=CONN))
    assert store.get_job(job["id"])["status"] == "running"


def test_fail_off_a_terminal_without_yes_changes_nothing(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    job, _ = store.start_job("fraud", dag_id="agentic_mlops__fraud", run_id="r1")
    with pytest.raises(SystemExit, match="pass --yes"):
        jobs_fail(_args(job_id=job["id"], yes=False))
    assert store.get_job(job["id"])["status"] == "running"


def test_wired_in_the_agentic_mlops_command_and_a_reason_is_required(
    store: StateStore, capsys: pytest.CaptureFixture
) -> None:
    from airflow_provider_agentic_mlops.cli.definition import main

    old, _ = store.start_job("churn", dag_id="agentic_mlops__churn", run_id="r0")
    store.finish_job(old["id"], status="succeeded")
    job, _ = store.start_job("fraud", dag_id="agentic_mlops__fraud", run_id="r1")
    with pytest.raises(SystemExit) as usage:
        main(["jobs", "fail", str(job["id"]), "--yes", "--state-conn-id", CONN])
    assert usage.value.code == 2 and "--reason" in capsys.readouterr().err

    main(["jobs", "list", "--status", "running", "-o", "json", "--state-conn-id", CONN])
    assert [row["id"] for row in json.loads(capsys.readouterr().out)] == [job["id"]]

    main(["jobs", "fail", str(job["id"]), "--reason", "stuck", "--yes", "--state-conn-id", CONN])
    assert store.get_job(job["id"])["status"] == "failed"
    main(["jobs", "list", "--model", "fraud", "--state-conn-id", CONN])
    assert "failed by alice: stuck" in capsys.readouterr().out


def test_json_timestamps_are_iso_8601_in_utc(store: StateStore, capsys: pytest.CaptureFixture) -> None:
    """The store keeps naive UTC; JSON showed ``str()`` of it (``2026-11-28 12:03:30.426869``), no zone."""
    from datetime import datetime

    from airflow_provider_agentic_mlops.cli.definition import main

    job, _ = store.start_job("fraud", dag_id="agentic_mlops__fraud", run_id="r1")
    main(["jobs", "list", "-o", "json", "--state-conn-id", CONN])
    (row,) = json.loads(capsys.readouterr().out)
    assert row["started_at"] == job["started_at"].isoformat() + "+00:00"
    assert datetime.fromisoformat(row["started_at"]).utcoffset().total_seconds() == 0
    main(["jobs", "fail", str(job["id"]), "--yes", "--reason", "gone", "-o", "json", "--state-conn-id", CONN])
    failed = json.loads(capsys.readouterr().out)
    assert failed["finished_at"].endswith("+00:00") and "T" in failed["finished_at"]


def test_list_shows_failed_a_job_whose_task_airflow_already_failed(
    store: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A task process SIGKILLed (OOM) is failed by its supervisor, with no on_failure_callback: its job still
    beats within heartbeat_timeout, but Airflow says the task failed, and `jobs list` shows it failed at once, as
    `models list` does, instead of `running` until the heartbeat timeout."""
    from airflow import settings

    from airflow_provider_agentic_mlops.cli.definition import main
    from tests.doubles.airflow_metadata import add_task_instance, task_instance_db

    engine = task_instance_db(tmp_path / "airflow.db")
    add_task_instance(engine, "agentic_mlops__fraud", "r1", "retrain", -1, "failed")
    monkeypatch.setattr(settings, "engine", engine)
    details = {"task_id": "retrain", "task_map_index": -1, "heartbeat_timeout_minutes": 60}
    job, _ = store.start_job("fraud", dag_id="agentic_mlops__fraud", run_id="r1", details=details)

    main(["jobs", "list", "-o", "json", "--state-conn-id", CONN])

    (row,) = json.loads(capsys.readouterr().out)
    assert row["id"] == job["id"] and row["status"] == "failed"
    assert "its Airflow task agentic_mlops__fraud/r1/retrain is failed" in row["error"]


def test_fail_of_a_job_waiting_on_a_training_dag_run_names_the_run_airflow_still_runs(
    store: StateStore, capsys: pytest.CaptureFixture
) -> None:
    """Failing the job frees the model but does not stop its training DAG run: the command says so and how to stop
    it, instead of "the model can retrain again" (a retrain now would train beside it)."""
    details = {"backend": "trigger_dag", "trigger_dag_id": "train_fraud"}
    job, _ = store.start_job("fraud", dag_id="agentic_mlops__fraud", run_id="r1", details=details)
    store.heartbeat_job(job["id"], external_ref="retrain__fraud__job1__abc")

    jobs_fail(_args(job_id=job["id"], reason="training hangs"))

    out = capsys.readouterr().out
    assert f"Job {job['id']} (fraud, run r1) is failed" in out, out
    assert "can retrain again" not in out, out
    assert "'retrain__fraud__job1__abc'" in out and "'train_fraud'" in out and "mark it failed" in out, out
