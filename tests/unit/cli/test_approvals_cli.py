"""``airflow agentic-mlops approvals list|approve|deny``: the same store and rules as Slack."""

from __future__ import annotations

import argparse
import json
import os
import pwd
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_agentic_mlops import approvals
from airflow_provider_agentic_mlops.cli.commands.approvals import approvals_approve, approvals_deny, approvals_list
from airflow_provider_agentic_mlops.core.state import StateStore, default_sqlite_url
from tests.approval_data import request_approval
from tests.doubles.slack_server import SlackDouble, slack_connection, slack_double  # noqa: F401

LOGIN = pwd.getpwuid(os.getuid()).pw_name  # the real uid's login: the CLI's voter
CONN = "agentic_mlops_state_cli_test"  # the SQLite store in $AIRFLOW_HOME


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateStore:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN.upper()}",
        json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": default_sqlite_url(tmp_path)}}),
    )
    # this test's OS login is the Airflow user "alice"
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__APPROVER_IDENTITIES", json.dumps({"alice": {"os": [LOGIN]}}))
    approvals._clients.clear()
    s = StateStore(default_sqlite_url(tmp_path))
    yield s
    s.dispose()
    approvals._clients.clear()


def _args(**kwargs: object) -> argparse.Namespace:
    defaults = {
        "state_conn_id": CONN,
        "output": "table",
        "user": None,
        "reason": None,
        "status": "pending",
        "yes": True,
    }
    return argparse.Namespace(**{**defaults, **kwargs})


def _request(store: StateStore, run_id: str = "r1", **kwargs: object) -> int:
    return request_approval(store, run_id=run_id, **kwargs).approval["id"]


def test_list_shows_pending_requests_with_their_vote_count(store: StateStore, capsys: pytest.CaptureFixture) -> None:
    approval_id = _request(store, required_approvals=2)
    _request(store, run_id="r2")
    approvals.decide(store, approval_id, approve=True, user="alice", via="ui")
    approvals_list(_args(output="json"))
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"]: r["approvals"] for r in rows} == {approval_id: "1/2", approval_id + 1: "0/1"}


def test_approve_records_the_decision_with_the_cli_user(store: StateStore, capsys: pytest.CaptureFixture) -> None:
    approval_id = _request(store)
    approvals_approve(_args(approval_id=approval_id, reason="metrics look good"))
    assert f"Request {approval_id} (fraud v7): Approved by alice (status: approved)" in capsys.readouterr().out
    stored = store.get_approval(approval_id)
    assert (stored["decided_by"], stored["decided_via"], stored["reason"]) == ("alice", "cli", "metrics look good")


def _vote_after_alice_approved(
    store: StateStore, capsys: pytest.CaptureFixture, vote: Callable[[argparse.Namespace], None], **args: Any
) -> tuple[int, str]:
    """A request alice approved, then ``vote`` on it with ``args``, which records nothing: the request's id and the
    error the command exits with (alice's output read away; the vote's own is left to read)."""
    approval_id = _request(store)
    approvals_approve(_args(approval_id=approval_id))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        vote(_args(approval_id=approval_id, **args))
    return approval_id, exit_info.value.code


def test_a_second_decision_is_refused_with_exit_status_1_and_says_who_decided(
    store: StateStore, capsys: pytest.CaptureFixture
) -> None:
    approval_id, message = _vote_after_alice_approved(store, capsys, approvals_deny, user="mallory")
    # one line on stderr (SystemExit with a message: exit status 1), nothing on stdout, as every CLI mistake
    assert message.startswith(f"error: request {approval_id} (fraud v7): already approved by alice (")
    assert message.endswith("nothing recorded") and "\n" not in message
    assert capsys.readouterr().out == ""
    assert store.get_approval(approval_id)["status"] == "approved"


def test_a_vote_that_records_nothing_keeps_its_json_on_stdout_and_says_the_error_on_stderr(
    store: StateStore, capsys: pytest.CaptureFixture
) -> None:
    approval_id, message = _vote_after_alice_approved(store, capsys, approvals_approve, output="json")
    document = json.loads(capsys.readouterr().out)
    assert document["recorded"] is False and document["approval"]["status"] == "approved"
    assert message.startswith(f"error: request {approval_id} (fraud v7): already approved by alice")


def test_a_vote_on_an_expired_request_says_how_to_get_a_new_one(
    store: StateStore, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new request comes from clearing the run's sensor with its downstream tasks (the retrained version is asked
    about again), not from triggering the DAG again (which decides again: cooldown, or another paid retrain). An
    alert's run has no logical date (Airflow 3): ``airflow tasks clear -s/-e`` selects no task of it, so the error
    names the UI's task page and the REST call by run id, on the host of ``[api] base_url``."""
    from datetime import timedelta

    from airflow_provider_agentic_mlops.core.state import utcnow

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/airflow/")
    run_id = "alert__2026-11-29T08:10:51.008727+00:00"
    approval_id = _request(store, run_id=run_id, expires_at=utcnow() - timedelta(minutes=1))
    with pytest.raises(SystemExit) as exit_info:
        approvals_approve(_args(approval_id=approval_id))
    message = exit_info.value.code
    assert message.startswith(f"error: request {approval_id} (fraud v7) expired ")
    assert "dags trigger" not in message and "tasks clear" not in message and " -s " not in message
    assert "\n" not in message
    run = "alert__2026-11-29T08%3A10%3A51.008727%2B00%3A00"
    assert (
        "Clear the run's wait_for_approval with its downstream tasks for a new request: in Airflow's UI, the task "
        f"page https://airflow.example.com/airflow/dags/agentic_mlops__fraud/runs/{run}/tasks/wait_for_approval "
        "(Grid: run alert__2026-11-29T08:10:51.008727+00:00, task wait_for_approval): Clear, with 'Downstream' "
        "selected; or through Airflow's REST API: curl -X POST "
        "https://airflow.example.com/airflow/api/v2/dags/agentic_mlops__fraud/clearTaskInstances "
        "-H 'Authorization: Bearer <token>' -H 'Content-Type: application/json' -d "
        '\'{"dag_run_id": "alert__2026-11-29T08:10:51.008727+00:00", "task_ids": ["wait_for_approval"], '
        '"include_downstream": true, "only_failed": false, "dry_run": false}\''
    ) in message, message
    assert capsys.readouterr().out == "" and store.get_approval(approval_id)["status"] == "expired"


def test_the_clear_of_an_expired_request_names_airflow_url_when_base_url_has_no_host(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from airflow_provider_agentic_mlops.core.state import utcnow

    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    approval_id = _request(
        store, run_id="manual__2026-11-29T08:10:51+00:00", expires_at=utcnow() - timedelta(minutes=1)
    )
    with pytest.raises(SystemExit) as exit_info:
        approvals_approve(_args(approval_id=approval_id))
    message = exit_info.value.code
    assert "'<airflow-url>/api/v2/dags/agentic_mlops__fraud/clearTaskInstances'" in message, message
    assert "<airflow-url>/dags/agentic_mlops__fraud/runs/manual__2026-11-29T08%3A10%3A51%2B00%3A00/tasks/" in message
    assert "tasks clear" not in message


def test_the_rest_body_is_one_airflow_api_takes() -> None:
    """The printed body validates against the installed Airflow's ClearTaskInstancesBody (which refuses unknown
    fields), for a mapped sensor too (its own map index, not the other copies' requests)."""
    import shlex

    from airflow.api_fastapi.core_api.datamodels.task_instances import ClearTaskInstancesBody

    from airflow_provider_agentic_mlops.core.approval_policy import ask_again_command

    approval = {"dag_id": "d", "run_id": "alert__1", "details": {"sensor_task_id": "approve", "sensor_map_index": 2}}
    text = ask_again_command(approval, airflow_base_url=None)
    words = shlex.split(text.split("REST API: ", 1)[1])
    body = ClearTaskInstancesBody.model_validate(json.loads(words[words.index("-d") + 1]))
    assert (body.dag_run_id, body.task_ids) == ("alert__1", [("approve", 2)])
    assert body.include_downstream and not body.only_failed and not body.dry_run and not body.include_upstream
    assert "<airflow-url>/dags/d/runs/alert__1/tasks/approve/mapped/2 " in text


def test_cli_decisions_ignore_the_slack_allowlist(store: StateStore) -> None:
    approval_id = _request(store, approvers=[])
    approvals_deny(_args(approval_id=approval_id, user="ops-admin"))
    assert store.get_approval(approval_id)["status"] == "denied"


def test_an_unknown_id_exits_naming_the_store_and_how_to_list_requests(store: StateStore) -> None:
    """Ids are numbered per store: the error names the one asked, as `jobs fail` and `decisions show` do."""
    with pytest.raises(SystemExit) as exc:
        approvals_approve(_args(approval_id=404))
    message = str(exc.value)
    assert message.startswith(f"error: approval 404 is not in the state store {CONN!r} (sqlite:///")
    assert "approvals list" in message and "add --model or --state-conn-id" in message


def test_an_id_no_request_can_have_exits_with_a_clear_error(store: StateStore) -> None:
    with pytest.raises(SystemExit, match="approval 99999999999999999999 does not exist.*from 1 to 999999999999999999 "):
        approvals_approve(_args(approval_id=99999999999999999999))


def test_an_unmapped_login_name_is_recorded_as_an_os_user(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: types.SimpleNamespace(pw_name="loginname"))
    approval_id = _request(store)
    approvals_approve(_args(approval_id=approval_id, user="Someone"))
    assert store.get_approval(approval_id)["decided_by"] == "os:loginname"


def test_a_cli_decision_updates_the_slack_message(
    store: StateStore,
    slack_double: SlackDouble,  # noqa: F811
    slack_connection: str,  # noqa: F811
) -> None:
    from slack_sdk import WebClient

    client = WebClient(token="xoxb", base_url=slack_double.base_url)
    approval_id = _request(store, slack_conn_id=slack_connection, channel="C_APPROVALS", slack_client=client)
    approvals_deny(_args(approval_id=approval_id, reason="not now"))
    updates = slack_double.calls_to("chat.update")
    assert len(updates) == 1 and "Denied by alice via cli" in json.dumps(updates[0].args["blocks"])


def test_a_reason_over_the_limit_is_refused_naming_it_and_nothing_is_recorded(
    store: StateStore, capsys: pytest.CaptureFixture
) -> None:
    from airflow_provider_agentic_mlops.cli.definition import main
    from airflow_provider_agentic_mlops.core.approval_policy import MAX_REASON_CHARS

    approval_id = _request(store)
    too_long = "x" * (MAX_REASON_CHARS + 1)
    with pytest.raises(SystemExit) as refused:
        main(["approvals", "deny", str(approval_id), "--yes", "--reason", too_long, "--state-conn-id", CONN])
    assert refused.value.code == 2  # argparse's usage error: before any store is opened
    assert f"at most {MAX_REASON_CHARS} characters" in capsys.readouterr().err
    # the store refuses it too, whoever calls it
    with pytest.raises(SystemExit, match=f"at most {MAX_REASON_CHARS} characters"):
        approvals_deny(_args(approval_id=approval_id, reason=too_long))
    assert store.get_approval(approval_id)["status"] == "pending"
    main(["approvals", "deny", str(approval_id), "-y", "--reason", "x" * MAX_REASON_CHARS, "--state-conn-id", CONN])
    assert store.get_approval(approval_id)["reason"] == "x" * MAX_REASON_CHARS


def test_the_lead_wires_these_functions_to_airflow_agentic_mlops_approvals(store: StateStore) -> None:
    from airflow_provider_agentic_mlops.cli.definition import main

    approval_id = _request(store)
    main(["approvals", "approve", str(approval_id), "--yes", "--user", "carol", "--state-conn-id", CONN])
    assert store.get_approval(approval_id)["decided_by"] == "alice"  # the login's person; "carol" is shown only
    vote = next(a for a in store.audit_trail("fraud") if a["action"] == "approval_vote_approve")
    assert vote["details"]["identity"]["display_name"] == "carol"


def test_user_is_only_a_display_name_so_one_login_cannot_cast_both_votes(
    store: StateStore, capsys: pytest.CaptureFixture
) -> None:
    approval_id = _request(store, required_approvals=2)
    approvals_approve(_args(approval_id=approval_id, user="Alice"))
    with pytest.raises(SystemExit) as exit_info:
        approvals_approve(_args(approval_id=approval_id, user="Somebody Else"))
    assert "alice already voted" in exit_info.value.code
    stored = store.get_approval(approval_id)
    assert stored["status"] == "pending" and [v["user_id"] for v in stored["votes"]] == ["alice"]
    vote = next(a for a in store.audit_trail("fraud") if a["action"] == "approval_vote_approve")
    assert vote["details"]["identity"] == {
        "os_user": LOGIN,
        "display_name": "Alice",
        "airflow_user": "alice",
    }


def test_an_unmapped_os_user_cannot_approve_a_two_person_request(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__APPROVER_IDENTITIES", "{}")
    approval_id = _request(store, required_approvals=2)
    with pytest.raises(SystemExit, match="not mapped to an Airflow user"):
        approvals_approve(_args(approval_id=approval_id, user="alice"))
    assert store.get_approval(approval_id)["votes"] == []


def test_a_slack_vote_and_a_cli_vote_of_the_same_person_count_once(store: StateStore, monkeypatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW__AGENTIC_MLOPS__APPROVER_IDENTITIES",
        json.dumps({"alice": {"os": [LOGIN], "slack": ["U_ALICE"]}}),
    )
    approval_id = _request(store, required_approvals=2, approvers=["U_ALICE"])
    approvals.decide(store, approval_id, approve=True, user="U_ALICE", via="slack")
    with pytest.raises(SystemExit):
        approvals_approve(_args(approval_id=approval_id))
    assert [v["user_id"] for v in store.get_approval(approval_id)["votes"]] == ["alice"]


def test_login_variables_cannot_make_one_account_two_voters(
    store: StateStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv(
        "AIRFLOW__AGENTIC_MLOPS__APPROVER_IDENTITIES", json.dumps({"bob": {"os": LOGIN}, "alice": {"os": "alice"}})
    )
    approval_id = _request(store, required_approvals=2)
    approvals_approve(_args(approval_id=approval_id))
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, "alice")  # getpass.getuser() would say alice
    with pytest.raises(SystemExit) as exit_info:
        approvals_approve(_args(approval_id=approval_id))
    assert "bob already voted" in exit_info.value.code
    stored = store.get_approval(approval_id)
    assert stored["status"] == "pending" and [v["user_id"] for v in stored["votes"]] == ["bob"]


def test_list_warns_when_the_models_file_does_not_list_the_model(
    store: StateStore, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    models = tmp_path / "models.yaml"
    models.write_text(
        'defaults: {retrain: {python_callable: "m:f"}}\n'
        "models:\n  - {name: fraud, drift: {reference: r.parquet, current: c.parquet, label_column: y}}\n"
    )
    _request(store)
    approvals_list(_args(model="frud", models_file=str(models)))
    printed = capsys.readouterr()
    assert printed.out.strip() == "(none)" and "model 'frud' is not in the models file" in printed.err
    assert "did you mean 'fraud'?" in printed.err


@pytest.mark.parametrize("decide", [approvals_approve, approvals_deny])
def test_a_vote_for_a_model_the_models_file_does_not_list_warns_as_the_list_does(
    store: StateStore, tmp_path: Path, capsys: pytest.CaptureFixture, decide
) -> None:
    """``approvals list --model frud`` said "did you mean 'fraud'?"; ``approvals approve 1 --model frud`` did not."""
    models = tmp_path / "models.yaml"
    models.write_text(
        'defaults: {retrain: {python_callable: "m:f"}}\n'
        "models:\n  - {name: fraud, drift: {reference: r.parquet, current: c.parquet, label_column: y}}\n"
    )
    approval_id = _request(store)
    with pytest.raises(SystemExit):
        decide(_args(approval_id=approval_id, model="frud", models_file=str(models)))
    printed = capsys.readouterr().err
    assert "warning: model 'frud' is not in the models file" in printed and "did you mean 'fraud'?" in printed
    assert store.get_approval(approval_id)["status"] == "pending"


@pytest.mark.parametrize(
    ("decide", "verb", "status"), [(approvals_approve, "Approve", "approved"), (approvals_deny, "Deny", "denied")]
)
def test_on_a_terminal_a_decision_is_asked_first_naming_the_model_dag_and_run(
    store: StateStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, decide, verb, status
) -> None:
    """`approvals approve 12` (a mistyped id) recorded at once: the wrong model promoted, undone only by rollback."""
    approval_id = _request(store)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda *prompt: "n")
    with pytest.raises(SystemExit) as exc:
        decide(_args(approval_id=approval_id, yes=False))
    # an error as every other failure is (exit code 1); the question on stderr, stdout kept for the output
    assert exc.value.code == f"error: {verb.lower()} cancelled; nothing recorded"
    asked = capsys.readouterr()
    assert asked.err == f"{verb} fraud v7 (DAG agentic_mlops__fraud, run r1)? [y/N] " and asked.out == ""
    assert store.get_approval(approval_id)["status"] == "pending"

    monkeypatch.setattr("builtins.input", lambda *prompt: "y")
    decide(_args(approval_id=approval_id, yes=False))
    assert store.get_approval(approval_id)["status"] == status


@pytest.mark.parametrize("decide", [approvals_approve, approvals_deny])
def test_without_a_terminal_a_decision_needs_yes(store: StateStore, monkeypatch: pytest.MonkeyPatch, decide) -> None:
    approval_id = _request(store)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(SystemExit) as exc:
        decide(_args(approval_id=approval_id, yes=False))
    assert str(exc.value.code).startswith(f"error: refusing to {decide.__name__.split('_')[1]} request {approval_id} ")
    assert str(exc.value.code).endswith("without confirmation: pass --yes when not on a terminal")
    assert store.get_approval(approval_id)["status"] == "pending"


def test_a_request_past_its_deadline_is_listed_as_expired_not_pending(
    store: StateStore, capsys: pytest.CaptureFixture
) -> None:
    from datetime import timedelta

    from airflow_provider_agentic_mlops.core.state import utcnow

    live = _request(store)
    late = _request(store, run_id="r2", expires_at=utcnow() - timedelta(minutes=1))
    approvals_list(_args(output="json"))
    assert [row["id"] for row in json.loads(capsys.readouterr().out)] == [live]
    approvals_list(_args(output="json", status="expired"))
    [expired] = json.loads(capsys.readouterr().out)
    assert (expired["id"], expired["decided_by"]) == (late, "timeout")


def test_a_configured_models_file_that_does_not_exist_is_warned_of_naming_the_setting(
    store: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A YAML error in it warned and ``--models-file /nope.yaml`` failed; the setting's missing file said nothing,
    and ``--model fraud`` then read the deployment's store, not fraud's own."""
    missing = tmp_path / "nope.yaml"
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(missing))
    approvals_list(_args(model="fraud", state_conn_id=None))
    printed = capsys.readouterr().err
    assert f"warning: the models file {str(missing)!r} that AIRFLOW__AGENTIC_MLOPS__MODELS_FILE names" in printed
    assert "FileNotFoundError" in printed and "Reading state store 'agentic_mlops_state_default'" in printed


def test_the_default_models_file_absent_is_no_warning(
    store: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.delenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", raising=False)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path / "no-dags-here"))
    approvals_list(_args(model="fraud"))
    assert "warning" not in capsys.readouterr().err


def test_the_unreadable_models_file_warning_keeps_json_output_clean(
    store: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(tmp_path / "nope.yaml"))
    approvals_list(_args(model="fraud", state_conn_id=None, output="json"))
    printed = capsys.readouterr()
    assert json.loads(printed.out) == [] and printed.err.count("nope.yaml' that") == 1
