"""``airflow agentic-mlops rollback <model>`` against a real MLflow server (HTTP)."""

from __future__ import annotations

import argparse
import json
import os
import pwd
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_agentic_mlops.cli.output import CommandStopped
from tests.conftest import ServerMetadataDB
from tests.doubles.mlflow_server import register_tiny_classifier

LOGIN = pwd.getpwuid(os.getuid()).pw_name  # the real uid's login: who runs the CLI


@pytest.fixture
def env(airflow_home, mlflow_server, monkeypatch):
    # Airflow's metadata DB, as a deployment has it: the `airflow agentic-mlops` process looks connections up in it
    metadata = ServerMetadataDB(airflow_home / "metadata")
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", metadata.engine.url.render_as_string())
    monkeypatch.setenv(
        "AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_PROMOTE",
        f'{{"conn_type": "agentic_mlops_mlflow", "host": "{mlflow_server}"}}',
    )
    import mlflow

    model = f"r-{uuid.uuid4().hex[:8]}"
    models = airflow_home / "models.yaml"  # rollback looks the registered model up, never guesses it
    models.write_text(
        f"""
models:
  - name: {model}
    drift: {{reference: /r.parquet, current: /c.parquet, label_column: label}}
    retrain: {{python_callable: "tests.doubles.mlflow_server:train_tiny_classifier"}}
"""
    )
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(models))
    client = mlflow.MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    old = register_tiny_classifier(mlflow_server, model, seed=1)["version"]
    new = register_tiny_classifier(mlflow_server, model, seed=2)["version"]
    client.set_registered_model_alias(model, "previous_champion", old)
    client.set_registered_model_alias(model, "champion", new)
    return SimpleNamespace(url=mlflow_server, model=model, client=client, old=old, new=new, home=airflow_home)


def _args(model, **kw):
    base = {
        "model": model,
        "user": "dave",
        "yes": True,
        "mlflow_conn_id": "agentic_mlops_mlflow_promote",
        "state_conn_id": "agentic_mlops_state_default",
    }
    return argparse.Namespace(**{**base, **kw})


def _store():
    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    return StateStoreHook().get_store()


def test_airflow_cli_rollback_restores_previous_champion_and_records_the_user(env, monkeypatch):
    # the OS login, mapped to the Airflow user dave, is who rolled back (as for a CLI vote)
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__APPROVER_IDENTITIES", json.dumps({"dave": {"os": LOGIN}}))
    airflow = Path(sys.executable).parent / "airflow"
    proc = subprocess.run(
        [str(airflow), "agentic-mlops", "rollback", env.model, "--user", "Dave D.", "--yes"],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"champion is v{env.old} again (was v{env.new}); rolled back by dave (Dave D.)" in proc.stdout
    assert dict(env.client.get_registered_model(env.model).aliases) == {"champion": env.old}
    entry, intent = _store().audit_trail(env.model)[:2]
    assert entry["action"] == "rollback" and entry["actor"] == "dave"
    assert intent["action"] == "rollback_started"
    assert intent["details"]["os_user"] == LOGIN and intent["details"]["display_name"] == "Dave D."


def test_rollback_actor_is_the_os_login_not_the_user_flag_or_login_variables(env, monkeypatch):
    from airflow_provider_agentic_mlops.cli.commands.rollback import rollback

    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, "mallory")  # getpass.getuser() would say mallory
    result = rollback(_args(env.model, user="alice"))
    entry = _store().audit_trail(env.model)[0]
    assert result["user"] == entry["actor"] == f"os:{LOGIN}"
    assert env.client.get_model_version(env.model, env.new).tags["agentic_mlops.rolled_back_by"] == f"os:{LOGIN}"


def test_rollback_without_previous_champion_exits_with_the_reason(env):
    from airflow_provider_agentic_mlops.cli.commands.rollback import rollback

    env.client.delete_registered_model_alias(env.model, "previous_champion")
    with pytest.raises(CommandStopped, match="no 'previous_champion' version to roll back to"):
        rollback(_args(env.model))
    assert dict(env.client.get_registered_model(env.model).aliases) == {"champion": env.new}


def test_rollback_completes_a_rollback_interrupted_after_the_aliases_moved(env, capsys):
    from airflow_provider_agentic_mlops.cli.commands.rollback import rollback

    # what a rollback leaves when its process dies after removing previous_champion: the intent only
    _store().audit(
        "rollback_started",
        actor="erin",
        model_name=env.model,
        details={"from_version": env.new, "to_version": env.old, "reason": "bad"},
    )
    env.client.set_registered_model_alias(env.model, "champion", env.old)
    env.client.delete_registered_model_alias(env.model, "previous_champion")

    result = rollback(_args(env.model))

    assert result["resumed"] is True and (result["version"], result["rolled_back_version"]) == (env.old, env.new)
    assert "Completing the rollback erin started" in capsys.readouterr().out
    # the tags name who completed it; the entry, who started it and why
    assert env.client.get_model_version(env.model, env.new).tags["agentic_mlops.rolled_back_by"] == f"os:{LOGIN}"
    entry = _store().audit_trail(env.model)[0]
    assert entry["action"] == "rollback" and entry["details"]["started_by"] == "erin"
    assert entry["details"]["reason"] == "bad"


def test_rollback_after_one_that_moved_nothing_is_its_own_not_a_completion_of_the_other(env, capsys):
    """Bob's rollback was refused by MLflow (403 on the alias write): only his intent is recorded. This rollback
    records its own reason, its own actor on the tags, and no DAG run of Bob's; Bob's intent is closed as abandoned."""
    from airflow_provider_agentic_mlops.cli.commands.rollback import rollback

    _store().audit(
        "rollback_started",
        actor="bob",
        model_name=env.model,
        subject=f"version:{env.old}",
        details={"from_version": env.new, "to_version": env.old, "reason": "r-bob", "dag_id": "d", "run_id": "r"},
    )

    result = rollback(_args(env.model, reason="r-carol"))

    out = capsys.readouterr().out
    assert "Completing" not in out and "bob's rollback started at" in out and "moved nothing" in out
    assert result["resumed"] is False and result["version"] == env.old
    assert env.client.get_model_version(env.model, env.old).tags["agentic_mlops.restored_by"] == f"os:{LOGIN}"
    done, started, abandoned, _ = _store().audit_trail(env.model)
    assert done["details"]["reason"] == "r-carol" and done["details"]["started_by"] == f"os:{LOGIN}"
    assert "dag_id" not in done["details"] and started["actor"] == f"os:{LOGIN}"
    assert abandoned["action"] == "rollback_abandoned" and abandoned["details"]["started_by"] == "bob"


def test_rollback_without_yes_off_a_terminal_changes_nothing(env, monkeypatch):
    from airflow_provider_agentic_mlops.cli.commands.rollback import rollback

    monkeypatch.setattr("sys.stdin", open(os.devnull))  # noqa: SIM115
    with pytest.raises(SystemExit, match="--yes"):
        rollback(_args(env.model, yes=False))
    assert dict(env.client.get_registered_model(env.model).aliases)["champion"] == env.new
    assert _store().audit_trail(env.model) == []


def test_rollback_with_the_read_only_connection_is_refused(env, monkeypatch):
    from airflow_provider_agentic_mlops.cli.commands.rollback import rollback
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowAccessError

    monkeypatch.setenv(
        "AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_REGISTRY", f'{{"conn_type": "agentic_mlops_mlflow", "host": "{env.url}"}}'
    )
    with pytest.raises(MlflowAccessError):
        rollback(_args(env.model, mlflow_conn_id="agentic_mlops_mlflow_registry"))
    assert dict(env.client.get_registered_model(env.model).aliases)["champion"] == env.new


def test_rollback_uses_the_registered_model_name_from_models_yaml(env, monkeypatch, tmp_path, cli_metadata_db):
    from airflow_provider_agentic_mlops.cli.definition import main

    models = tmp_path / "models.yaml"
    models.write_text(
        f"""
models:
  - name: fraud
    registered_model: {env.model}
    drift: {{reference: /r.parquet, current: /c.parquet, label_column: label}}
    retrain: {{python_callable: "tests.doubles.mlflow_server:train_tiny_classifier"}}
"""
    )
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(models))
    main(["rollback", "fraud", "--user", "erin", "--yes"])
    assert dict(env.client.get_registered_model(env.model).aliases) == {"champion": env.old}
    assert _store().audit_trail("fraud")[0]["actor"] == f"os:{LOGIN}"


def test_rollback_uses_the_models_own_promote_and_state_connections(env, monkeypatch, tmp_path):
    from airflow_provider_agentic_mlops.cli.commands.rollback import rollback
    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    team_db = tmp_path / "team.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_TEAM_PROMOTE",
        json.dumps({"conn_type": "agentic_mlops_mlflow", "host": env.url, "extra": {"access": "promote"}}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_TEAM_STATE",
        json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": f"sqlite:///{team_db}"}}),
    )
    # the default promoting connection points nowhere: using it would fail
    monkeypatch.setenv(
        "AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_PROMOTE",
        '{"conn_type": "agentic_mlops_mlflow", "host": "http://127.0.0.1:9"}',
    )
    models = env.home / "models.yaml"
    models.write_text(
        models.read_text().replace(
            "    drift:", "    promote_conn_id: team_promote\n    state_conn_id: team_state\n    drift:", 1
        )
    )

    rollback(_args(env.model, mlflow_conn_id=None, state_conn_id=None))

    assert dict(env.client.get_registered_model(env.model).aliases) == {"champion": env.old}
    assert StateStoreHook("team_state").get_store().audit_trail(env.model)[0]["action"] == "rollback"
    assert _store().audit_trail(env.model) == []  # not in the deployment's default store
