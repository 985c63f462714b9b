"""A model with its own state store (models.yaml ``state_conn_id``): its approvals are decided there, never
on the request with the same id in the deployment's store (ids are numbered per store).

Two SQLite stores: the deployment's (``agentic_mlops_state_default``) holds fraud's request 1, churn's own
(``churn_state``) holds churn's request 1. Both are asked for by the real ApprovalSensor; Slack is the local
Web API double, the endpoint the plugin app in-process.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred
from fastapi import FastAPI
from fastapi.testclient import TestClient
from slack_sdk.socket_mode.request import SocketModeRequest

from airflow_provider_agentic_mlops import approvals
from airflow_provider_agentic_mlops.core.state import StateStore
from airflow_provider_agentic_mlops.hooks.state import StateStoreHook
from airflow_provider_agentic_mlops.plugins.app import AppSettings, create_app
from airflow_provider_agentic_mlops.sensors.approval import ApprovalSensor
from tests.doubles.airflow_task import task_context
from tests.doubles.slack_server import (  # noqa: F401
    SlackDouble,
    click_payload,
    sign_interaction,
    slack_connection,
    slack_double,
)

SECRET = "per-model-store-secret"
DEFAULT = "agentic_mlops_state_default"
CHURN = "churn_state"

MODELS = """
models:
  - name: fraud
    drift: {reference: r.parquet, current: c.parquet, label_column: y}
    retrain: {python_callable: "m:f"}
  - name: churn
    state_conn_id: churn_state
    drift: {reference: r.parquet, current: c.parquet, label_column: y}
    retrain: {python_callable: "m:f"}
"""


def _conn(url: str) -> str:
    return json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": url}})


@pytest.fixture
def stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, StateStore]]:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_AGENTIC_MLOPS_STATE_DEFAULT", _conn(f"sqlite:///{tmp_path / 'default.db'}"))
    monkeypatch.setenv("AIRFLOW_CONN_CHURN_STATE", _conn(f"sqlite:///{tmp_path / 'churn.db'}"))
    models = tmp_path / "models.yaml"
    models.write_text(MODELS)
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(models))
    yield {DEFAULT: StateStoreHook(DEFAULT).get_store(), CHURN: StateStoreHook(CHURN).get_store()}


def _ask(model: str, version: str, state_conn_id: str, *, channel: str | None = "C_APPROVALS") -> dict[str, Any]:
    """The request the model's DAG asks for: the real sensor, writing to the model's store."""
    sensor = ApprovalSensor(
        task_id="wait_for_approval",
        model_name=model,
        approvers=["U_ALICE"],
        channel=channel,
        slack_conn_id="slack_api_default",
        state_conn_id=state_conn_id,
        deferrable=True,
    )
    context = task_context(
        dag_id=f"agentic_mlops__{model}",
        run_id="manual__1",
        xcoms={
            ("retrain", "return_value"): {"version": version},
            ("validate", "validation"): {"passed": True, "report_digest": "d", "champion_version": None},
        },
    )
    with pytest.raises(TaskDeferred):
        sensor.execute(context)
    approval = sensor.store.find_approval(model, version, dag_id=f"agentic_mlops__{model}", run_id="manual__1")
    assert approval is not None
    return approval


def _posted_click(slack: SlackDouble, approval: dict[str, Any], *, approve: bool = True) -> dict[str, Any]:
    """The payload Slack sends for a click on the message that was posted for ``approval``: the button's
    value as posted, the message's channel and ts."""
    post = next(
        c
        for c in slack.calls_to("chat.postMessage")
        if f"(request #{approval['id']})" in c.args.get("text", "") and approval["model_name"] in c.args["text"]
    )
    blocks = post.args["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    action = "agentic_mlops_approve" if approve else "agentic_mlops_deny"
    button = next(e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action)
    payload = click_payload(
        approval["id"],
        approve=approve,
        user_id="U_ALICE",
        channel=approval["slack_channel"],
        message_ts=approval["slack_ts"],
    )
    payload["actions"][0]["value"] = button["value"]
    return payload


def _client(settings: AppSettings | None = None) -> TestClient:
    root = FastAPI()
    root.mount("/agentic-mlops", create_app(settings or AppSettings(signing_secret=SECRET)))
    return TestClient(root)


def _click(client: TestClient, payload: dict[str, Any]) -> Any:
    body, headers = sign_interaction(payload, SECRET)
    return client.post("/agentic-mlops/slack/interactions", content=body, headers=headers)


def test_a_click_on_a_models_own_store_request_decides_that_request_not_the_default_stores(
    stores: dict[str, StateStore],
    slack_connection: str,  # noqa: F811
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    fraud = _ask("fraud", "7", DEFAULT)
    churn = _ask("churn", "3", CHURN)
    assert fraud["id"] == churn["id"] == 1  # ids are numbered per store

    response = _click(_client(), _posted_click(slack_double, churn))

    assert response.status_code == 200 and response.headers["x-agentic-mlops-outcome"] == "recorded"
    assert stores[CHURN].get_approval(churn["id"])["status"] == "approved"
    assert stores[DEFAULT].get_approval(fraud["id"])["status"] == "pending"


def _legacy_click(slack: SlackDouble, approval: dict[str, Any], user: str = "U_ALICE") -> dict[str, Any]:
    """A click on ``approval``'s message as it was posted before buttons named their store (value "1")."""
    payload = _posted_click(slack, approval)
    payload["actions"][0]["value"] = str(approval["id"])  # the bare id: leads to the deployment's store
    payload["user"]["id"] = user
    return payload


def _refusals(store: StateStore) -> list[dict[str, Any]]:
    return [a for a in store.audit_trail() if a["action"] == "approval_refused"]


def test_a_click_on_another_message_than_the_requests_records_nothing(
    stores: dict[str, StateStore],
    slack_connection: str,  # noqa: F811
    slack_double: SlackDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A message posted before the button named its store (value "1") cannot decide another request 1; the
    answer names the command deciding the message's own request, and following it decides that one."""
    from airflow_provider_agentic_mlops.cli.definition import main

    fraud = _ask("fraud", "7", DEFAULT)
    churn = _ask("churn", "3", CHURN)

    response = _click(_client(), _legacy_click(slack_double, churn))

    assert response.headers["x-agentic-mlops-outcome"] == "wrong_message"
    assert stores[DEFAULT].get_approval(fraud["id"])["status"] == "pending"
    assert stores[CHURN].get_approval(churn["id"])["status"] == "pending"
    [refusal] = _refusals(stores[DEFAULT])
    reason = refusal["details"]["reason"]
    command = f"airflow agentic-mlops approvals approve {churn['id']} --model churn --state-conn-id {CHURN}"
    assert command in reason and f"approvals deny {churn['id']} --model churn --state-conn-id {CHURN}" in reason
    # nothing about the deployment store's request 1, and no advice that would decide it
    assert "fraud" not in reason and "approvals page" not in reason and "task log" not in reason
    assert refusal["model_name"] is None

    _on_a_terminal_answering_yes(monkeypatch)  # a person follows the advice
    main(shlex.split(command)[2:])  # following the advice decides the message's request

    assert stores[CHURN].get_approval(churn["id"])["status"] == "approved"
    assert stores[DEFAULT].get_approval(fraud["id"])["status"] == "pending"


def test_a_click_on_an_old_style_button_tells_a_non_approver_nothing_about_either_request(
    stores: dict[str, StateStore],
    slack_connection: str,  # noqa: F811
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    from airflow_provider_agentic_mlops.approval_stores import ApprovalStores
    from airflow_provider_agentic_mlops.core.slack import parse_interaction

    _ask("fraud", "7", DEFAULT)
    churn = _ask("churn", "3", CHURN)
    web = approvals.slack_client_for(slack_conn_id="slack_api_default")
    click = parse_interaction(_legacy_click(slack_double, churn, user="U_MALLORY"))
    assert click is not None

    for given in (ApprovalStores(stores[DEFAULT]), None):  # found but not theirs to decide; not looked up
        result = approvals.handle_click(stores[DEFAULT], click, slack_client=web, stores=given)

        assert result.kind == "wrong_message" and result.approval is None
        for secret in ("fraud", "churn", CHURN, " v7", " v3", "approvals page"):
            assert secret not in result.text
        assert f"approvals approve {churn['id']} --model MODEL" in result.text
        assert "this button names no state store (it was posted before buttons named theirs)" in result.text
    assert stores[CHURN].get_approval(churn["id"])["status"] == "pending"


def test_a_button_naming_a_store_the_models_file_does_not_declare_opens_nothing(
    stores: dict[str, StateStore],
    slack_connection: str,  # noqa: F811
    slack_double: SlackDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    churn = _ask("churn", "3", CHURN)
    payload = _posted_click(slack_double, churn)
    payload["actions"][0]["value"] = f"{churn['id']}:airflow_db"
    opened: list[str] = []
    real_hook = StateStoreHook.get_store
    monkeypatch.setattr(StateStoreHook, "get_store", lambda self: opened.append(self.state_conn_id) or real_hook(self))

    response = _click(_client(), payload)

    assert response.status_code == 200 and response.headers["x-agentic-mlops-outcome"] == "unserved"
    assert "airflow_db" not in opened
    assert stores[CHURN].get_approval(churn["id"])["status"] == "pending"


def test_the_socket_mode_listener_decides_in_the_models_own_store(
    stores: dict[str, StateStore],
    slack_connection: str,  # noqa: F811
    slack_double: SlackDouble,  # noqa: F811
) -> None:
    from airflow_provider_agentic_mlops.approval_stores import ApprovalStores
    from airflow_provider_agentic_mlops.cli.commands.slack_listener import make_listener

    fraud = _ask("fraud", "7", DEFAULT)
    churn = _ask("churn", "3", CHURN)
    web = approvals.slack_client_for(slack_conn_id="slack_api_default")

    class Socket:
        def send_socket_mode_response(self, response: Any) -> None:
            pass

    listener = make_listener(stores[DEFAULT], web, stores=ApprovalStores(stores[DEFAULT]))
    listener(Socket(), SocketModeRequest("interactive", "env-1", _posted_click(slack_double, churn)))

    assert stores[CHURN].get_approval(churn["id"])["status"] == "approved"
    assert stores[DEFAULT].get_approval(fraud["id"])["status"] == "pending"


def _on_a_terminal_answering_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The printed commands are for a person at a terminal, who confirms the decision."""
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda *prompt: "y")


def test_the_logged_cli_command_decides_the_request_in_the_models_own_store(
    stores: dict[str, StateStore], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_agentic_mlops.cli.definition import main

    fraud = _ask("fraud", "7", DEFAULT, channel=None)
    with caplog.at_level(logging.WARNING):
        churn = _ask("churn", "3", CHURN, channel=None)
    hint = next(line.strip() for line in caplog.text.splitlines() if "approvals approve 1 --model churn" in line)
    assert f"--state-conn-id {CHURN}" in hint

    _on_a_terminal_answering_yes(monkeypatch)  # a person follows the hint
    main(shlex.split(hint)[2:])  # without "airflow agentic-mlops"

    assert stores[CHURN].get_approval(churn["id"])["status"] == "approved"
    assert stores[DEFAULT].get_approval(fraud["id"])["status"] == "pending"


def test_a_cli_vote_naming_the_model_is_refused_on_another_models_request(
    stores: dict[str, StateStore], capsys: pytest.CaptureFixture
) -> None:
    from airflow_provider_agentic_mlops.cli.definition import main

    fraud = _ask("fraud", "7", DEFAULT, channel=None)
    churn = _ask("churn", "3", CHURN, channel=None)

    with pytest.raises(SystemExit) as refused:
        main(["approvals", "approve", str(churn["id"]), "--yes", "--model", "churn", "--state-conn-id", DEFAULT])
    assert "fraud" in str(refused.value) and f"--state-conn-id {CHURN}" in str(refused.value)
    assert stores[DEFAULT].get_approval(fraud["id"])["status"] == "pending"

    # --model alone finds the model's store in the models file
    main(["approvals", "approve", str(churn["id"]), "--yes", "--model", "churn"])
    assert stores[CHURN].get_approval(churn["id"])["status"] == "approved"
    assert stores[DEFAULT].get_approval(fraud["id"])["status"] == "pending"


def test_the_approvals_page_says_which_models_it_does_not_list(
    stores: dict[str, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_agentic_mlops.plugins import approvals_page

    class User:
        def get_name(self) -> str:
            return "ui-alice"

    monkeypatch.setattr(approvals_page, "is_authorized_dag", lambda *a, **k: True)
    monkeypatch.setattr(approvals_page, "dag_teams", lambda dag_ids: dict.fromkeys(dag_ids))
    root = FastAPI()
    app = create_app(AppSettings(signing_secret=SECRET))
    app.dependency_overrides[approvals_page.authenticated_user] = lambda: User()
    root.mount("/agentic-mlops", app)

    page = TestClient(root).get("/agentic-mlops/approvals").text

    assert "churn" in page and CHURN in page and "--state-conn-id" in page


def test_the_approvals_page_names_only_the_models_whose_dag_the_user_may_read(
    stores: dict[str, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model with a store of its own, and its connection id, are shown only to users who may read its DAG's
    runs (the overview hides models the same way): a DAG's existence does not leak to other teams."""
    from airflow_provider_agentic_mlops.plugins import approvals_page

    class User:
        def __init__(self, name: str) -> None:
            self.name = name

        def get_name(self) -> str:
            return self.name

    readable = {"ui-fraud-team": {"agentic_mlops__fraud"}, "ui-churn-team": {"agentic_mlops__churn"}}
    asked: list[tuple[str, str, str, str | None]] = []

    def may(user: Any, dag_id: str, *, method: str, entity: str, team_name: str | None = None) -> bool:
        asked.append((dag_id, method, entity, team_name))
        return dag_id in readable[user.get_name()]

    monkeypatch.setattr(approvals_page, "is_authorized_dag", may)
    monkeypatch.setattr(approvals_page, "dag_teams", lambda dag_ids: {d: "team-" + d[-5:] for d in dag_ids})
    app = create_app(AppSettings(signing_secret=SECRET))
    root = FastAPI()
    root.mount("/agentic-mlops", app)

    def page(user: str) -> str:
        app.dependency_overrides[approvals_page.authenticated_user] = lambda: User(user)
        return TestClient(root).get("/agentic-mlops/approvals").text

    hidden = page("ui-fraud-team")
    assert "churn" not in hidden and CHURN not in hidden and 'id="other-stores"' not in hidden
    assert ("agentic_mlops__churn", "GET", "RUN", "team-churn") in asked  # checked with the DAG's team
    shown = page("ui-churn-team")
    assert 'id="other-stores"' in shown and "churn" in shown and CHURN in shown


def test_models_list_reads_each_model_from_its_own_store(
    stores: dict[str, StateStore], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_agentic_mlops.cli.commands import models as models_cli
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setattr(models_cli, "_champion_version", lambda *_: (None, None))  # no registry in this test
    _ask("churn", "3", CHURN, channel=None)
    capsys.readouterr()  # the sensor's log lines
    main(["models", "list", "-o", "json"])
    rows = {row["model"]: row for row in json.loads(capsys.readouterr().out)}
    assert (rows["churn"]["pending_approvals"], rows["fraud"]["pending_approvals"]) == (1, 0)


BROKEN_FRAUD = MODELS.replace(
    '    retrain: {python_callable: "m:f"}\n  - name: churn', "    retrain: {}\n  - name: churn"
)


def test_a_bad_entry_of_another_model_leaves_a_models_own_store_served(
    stores: dict[str, StateStore],
    slack_connection: str,  # noqa: F811
    slack_double: SlackDouble,  # noqa: F811
    tmp_path: Path,
) -> None:
    # as in the DAGs, one bad entry hides only its own model: churn's requests are still decided in churn's store
    assert BROKEN_FRAUD != MODELS
    churn = _ask("churn", "3", CHURN)
    (tmp_path / "models.yaml").write_text(BROKEN_FRAUD)

    response = _click(_client(), _posted_click(slack_double, churn))

    assert response.status_code == 200 and response.headers["x-agentic-mlops-outcome"] == "recorded"
    assert stores[CHURN].get_approval(churn["id"])["status"] == "approved"


def test_a_broken_entry_keeps_the_store_it_had_while_the_api_server_runs(stores: dict[str, StateStore], tmp_path: Path):
    from airflow_provider_agentic_mlops.approval_stores import DeclaredStores

    declared = DeclaredStores()
    assert declared.state_conn_id_of("churn") == CHURN
    broken = MODELS.replace("    state_conn_id: churn_state\n", "    state_conn_id: churn_state\n    schedule: 5\n")
    assert broken != MODELS
    models = tmp_path / "models.yaml"
    models.write_text(broken)
    os.utime(models, (1, 1))  # a new modification time, whatever the file system's resolution

    assert declared.by_model(reread=True) == {"fraud": DEFAULT, "churn": CHURN}  # churn's as last read
    assert "model 'churn': field 'schedule'" in (declared.error or "")


def test_the_declared_registered_model_is_the_files_and_a_broken_entry_keeps_the_one_it_had(tmp_path: Path) -> None:
    """The plugin trusts the models file's registered model of a model, never the names its tasks recorded: a
    broken entry keeps the one last read, or its name when it was never valid; a model not in the file has none."""
    from airflow_provider_agentic_mlops.approval_stores import DeclaredStores

    models = tmp_path / "models.yaml"
    models.write_text(MODELS.replace("  - name: churn\n", "  - name: churn\n    registered_model: churn-prod\n"))
    declared = DeclaredStores(models)
    assert [declared.registered_model_of(m) for m in ("fraud", "churn", "hand-written")] == [
        "fraud",
        "churn-prod",
        None,
    ]
    broken = models.read_text().replace("registered_model: churn-prod\n", "registered_model: team-b\n    schedule: 5\n")
    models.write_text(broken + "  - name: new\n    registered_model: team-b\n    schedule: 5\n")
    os.utime(models, (1, 1))  # a new modification time, whatever the file system's resolution
    assert declared.registered_model_of("churn") == "churn-prod" and declared.registered_model_of("new") == "new"


def test_models_list_lists_the_valid_models_and_warns_of_a_bad_entry(
    stores: dict[str, StateStore],
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow_provider_agentic_mlops.cli.commands import models as models_cli
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setattr(models_cli, "_champion_version", lambda *_: (None, None))  # no registry in this test
    (tmp_path / "models.yaml").write_text(BROKEN_FRAUD)
    with caplog.at_level(logging.WARNING):
        main(["models", "list", "-o", "json"])
    assert [row["model"] for row in json.loads(capsys.readouterr().out)] == ["churn"]
    assert any(
        "not listed, its entry is invalid" in r.getMessage() and "'fraud'" in r.getMessage() for r in caplog.records
    )


def test_a_models_file_the_setting_names_and_cannot_be_opened_is_logged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_agentic_mlops.approval_stores import DeclaredStores

    missing = tmp_path / "nope.yaml"
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(missing))
    declared = DeclaredStores(lambda: missing)
    with caplog.at_level("WARNING", logger="airflow_provider_agentic_mlops.approval_stores"):
        assert declared.by_model() == {} and declared.by_model(reread=True) == {}
    [record] = [r for r in caplog.records if "nope.yaml" in r.getMessage()]
    assert "AIRFLOW__AGENTIC_MLOPS__MODELS_FILE names cannot be read" in record.getMessage()
    default_location = DeclaredStores(lambda: tmp_path / "models.yaml")  # not the file the setting names
    assert default_location.by_model() == {} and default_location.unreadable_setting is None


def test_a_relative_models_file_setting_the_web_server_cannot_open_says_it_is_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_agentic_mlops.approval_stores import DeclaredStores
    from airflow_provider_agentic_mlops.dag_factory import models_file

    monkeypatch.chdir(tmp_path)  # the API server's working directory, not where fleet.yaml is
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", "fleet.yaml")
    declared = DeclaredStores(lambda: models_file(tmp_path), log_unreadable=False)
    assert declared.by_model() == {}
    assert "('fleet.yaml') is a relative path" in (declared.unreadable_setting or "")
    assert f"working directory {tmp_path}" in (declared.unreadable_setting or "")
