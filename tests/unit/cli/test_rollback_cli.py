"""``airflow agentic-mlops rollback``: which registered model it targets, read from models.yaml.

The MLflow side is covered against a real server in tests/integration/test_rollback_cli.py; these
tests stop before any registry call.
"""

from __future__ import annotations

import argparse

import pytest

from airflow_provider_agentic_mlops.cli.commands.rollback import _model_entry, rollback
from airflow_provider_agentic_mlops.cli.output import CommandStopped

VALID = """
models:
  - name: fraud
    registered_model: fraud-detector-prod
    drift: {reference: /r.parquet, current: /c.parquet, label_column: label}
    retrain: {python_callable: "tests.doubles.mlflow_server:train_tiny_classifier"}
"""


def _registered_model(model: str, **kw) -> str:
    """The MLflow name rollback would act on."""
    return _model_entry(model, **kw)[0]


@pytest.fixture
def models_yaml(airflow_home, monkeypatch):
    path = airflow_home / "models.yaml"
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(path))
    return path


def _args(model: str) -> argparse.Namespace:
    # a connection id that exists nowhere: reaching the registry would fail with another error
    return argparse.Namespace(
        model=model, user="dave", yes=True, reason=None, mlflow_conn_id="absent_conn", state_conn_id="absent_conn"
    )


def test_rollback_with_unparsable_models_yaml_fails_naming_the_file_and_the_error(models_yaml):
    models_yaml.write_text("models:\n  - name: fraud\n    drift: {reference: [unclosed\n")
    with pytest.raises(CommandStopped) as exc:
        rollback(_args("fraud"))
    message = str(exc.value)
    assert str(models_yaml) in message
    assert "not valid YAML" in message
    assert "nothing changed" in message


def test_rollback_with_invalid_model_entry_fails_naming_the_file_and_the_field(models_yaml):
    models_yaml.write_text(VALID.replace("label_column: label", "label_column: label, not_a_field: 1"))
    with pytest.raises(CommandStopped) as exc:
        rollback(_args("fraud"))
    message = str(exc.value)
    assert str(models_yaml) in message
    assert "not_a_field" in message


def test_another_models_broken_entry_does_not_stop_the_rollback(models_yaml):
    # an emergency rollback of 'fraud' must not wait for a typo in 'churn' to be fixed
    churn = (
        "  - {name: churn, drift: {reference: r, current: c, label_column: y}, retrain: {trigger_dag_id: t}, x: 1}\n"
    )
    models_yaml.write_text(VALID + churn)
    assert _registered_model("fraud") == "fraud-detector-prod"
    with pytest.raises(CommandStopped, match=r"(?s)rollback of 'churn' stopped.*model 'churn': field 'x'"):
        _registered_model("churn", registered_model="churn")  # its own entry broken: still refused


def test_unreadable_models_yaml_is_an_error_not_a_guess(models_yaml):
    models_yaml.mkdir()  # there, but not a file: reading it fails
    with pytest.raises(CommandStopped, match="cannot read models file"):
        _registered_model("fraud")


def test_registered_model_comes_from_models_yaml(models_yaml):
    models_yaml.write_text(VALID)
    assert _registered_model("fraud") == "fraud-detector-prod"


def test_without_a_models_file_rollback_refuses_to_guess_the_registered_model(models_yaml):
    # the model's name may be another model's registered model: guessing could move that one's champion
    assert not models_yaml.exists()
    with pytest.raises(CommandStopped) as exc:
        _registered_model("fraud")
    message = str(exc.value)
    assert f"no models file at {models_yaml}" in message and "--registered-model" in message
    assert "nothing changed" in message


def test_a_model_absent_from_models_yaml_is_refused_not_guessed(models_yaml):
    models_yaml.write_text(VALID)
    with pytest.raises(CommandStopped, match=r"(?s)does not list model 'churn' \(it lists fraud\).*--registered-model"):
        _registered_model("churn")
    with pytest.raises(CommandStopped, match=r"does not list model 'frod' \(did you mean 'fraud'\?\)"):
        _registered_model("frod")


def test_a_model_absent_from_a_large_models_yaml_names_a_few_models_not_all(models_yaml):
    entry = VALID.split("models:\n")[1]
    models_yaml.write_text(
        "models:\n"
        + "".join(
            entry.replace("name: fraud", f"name: growth-model-{i:02}").replace("fraud-detector-prod", f"g{i}")
            for i in range(100)
        )
    )
    with pytest.raises(CommandStopped) as exc:
        _registered_model("zzz")
    message = str(exc.value)
    assert "it lists growth-model-00, growth-model-01" in message and "and 90 more" in message
    assert "growth-model-99" not in message


def test_registered_model_flag_names_a_model_the_models_file_cannot(models_yaml):
    assert _registered_model("fraud", registered_model="fraud-detector-prod") == "fraud-detector-prod"
    models_yaml.write_text(VALID)
    assert _registered_model("churn", registered_model="churn-prod") == "churn-prod"
    assert _registered_model("fraud", registered_model="fraud-detector-prod") == "fraud-detector-prod"


def test_registered_model_flag_contradicting_models_yaml_is_refused(models_yaml):
    models_yaml.write_text(VALID)
    with pytest.raises(CommandStopped, match="'fraud-detector-prod'.*not 'fraud'"):
        _registered_model("fraud", registered_model="fraud")


def test_without_models_file_setting_the_models_yaml_in_the_dags_folder_is_read(airflow_home, monkeypatch):
    # as `init` writes it and the DAG file reads it: [core] dags_folder, wherever the CLI runs from
    dags = airflow_home / "dags"
    dags.mkdir()
    (dags / "models.yaml").write_text(VALID)
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", "")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    monkeypatch.chdir(airflow_home.parent)
    assert _registered_model("fraud") == "fraud-detector-prod"


def test_the_cli_says_it_sent_no_champion_asset_event_and_how_to_send_one(models_yaml, monkeypatch, capsys):
    """Only an Airflow task (RollbackOperator) emits the champion Asset event; the CLI must say deployment
    DAGs were not told, and give the event's extra as RollbackOperator sends it."""
    import json

    from airflow_provider_agentic_mlops.hooks import mlflow as mlflow_hook
    from tests.unit.core.test_promotion import RegistryDouble

    class Registry(RegistryDouble):
        def __init__(self, conn_id: str) -> None:
            super().__init__(champion="2")
            self.aliases["previous_champion"] = "1"

        def model_version_url(self, registered_model: str, version: str) -> None:
            return None

    models_yaml.write_text(VALID)
    monkeypatch.setattr(mlflow_hook, "MlflowRegistryHook", Registry)
    args = argparse.Namespace(model="fraud", user=None, yes=True, reason="bad", mlflow_conn_id=None, state_conn_id=None)
    result = rollback(args)
    out = capsys.readouterr().out
    assert result["version"] == "1" and "champion is v1 again (was v2)" in out
    assert "NOT notified" in out and "agentic-mlops://models/fraud/champion" in out
    assert "RollbackOperator" in out and "Create Event" in out and "/api/v2/assets/events" in out
    extra = json.loads(out.split("extra ", 1)[1].splitlines()[0])
    assert extra == {
        "model_name": "fraud",
        "registered_model": "fraud-detector-prod",
        "version": "1",
        "rollback": True,
        "user": result["user"],
    }


def test_rollback_with_a_connection_id_that_does_not_exist_is_refused_not_run_locally(airflow_home, capsys):
    from airflow_provider_agentic_mlops.cli.definition import main

    argv = ["rollback", "fraud", "--registered-model", "fraud", "--mlflow-conn-id", "nosuchml", "--yes"]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--models-file", str(airflow_home / "none.yaml")])
    assert str(exc.value.code).startswith("error: MLflow connection 'nosuchml' does not exist")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no models file at "),
        (VALID, "does not list model 'nosuch' (it lists fraud); check the model name"),
        ("defaults: {}\n", "the models file is broken: "),
    ],
)
def test_a_rollback_stopped_before_any_change_ends_in_one_error_line_as_other_mistakes_do(
    models_yaml, content, expected
):
    from airflow_provider_agentic_mlops.cli.definition import main

    if content is not None:
        models_yaml.write_text(content)
    with pytest.raises(SystemExit) as exc:
        main(["rollback", "nosuch", "--yes"])
    message = str(exc.value.code)
    assert message.startswith("error: rollback of 'nosuch' stopped, nothing changed") and expected in message, message
    assert "\n" not in message


def test_a_registered_model_mlflow_does_not_have_is_named_not_called_championless(airflow_home, monkeypatch):
    """``rollback nosuch --registered-model nosuch`` said "'nosuch' has no champion", as if the model existed."""
    from mlflow import MlflowClient

    from airflow_provider_agentic_mlops.cli.definition import main

    uri = f"sqlite:///{airflow_home / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    MlflowClient(tracking_uri=uri, registry_uri=uri).create_registered_model("exists")
    argv = ["--yes", "--models-file", str(airflow_home / "none.yaml")]
    with pytest.raises(SystemExit) as exc:
        main(["rollback", "nosuch", "--registered-model", "nosuch", *argv])
    message = str(exc.value.code)
    assert message.startswith("error: nosuch: the registered model 'nosuch' does not exist in MLflow at " + uri)
    assert "(connection 'agentic_mlops_mlflow_promote')" in message and "--registered-model" in message
    with pytest.raises(SystemExit) as exc:
        main(["rollback", "exists", "--registered-model", "exists", *argv])
    assert str(exc.value.code) == "error: exists: 'exists' has no champion"


def test_a_previous_champion_alias_on_the_champions_version_is_refused_and_nothing_recorded(
    models_yaml, monkeypatch, capsys
):
    """After a hand edit of the aliases, previous_champion may point at the champion's version: a rollback then
    changes nothing, so it is refused naming both aliases and the version, not recorded as "v3 -> v3"."""
    from airflow_provider_agentic_mlops.cli.definition import main
    from airflow_provider_agentic_mlops.hooks import mlflow as mlflow_hook
    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook
    from tests.unit.core.test_promotion import RegistryDouble

    registries: list[RegistryDouble] = []

    class Registry(RegistryDouble):
        def __init__(self, conn_id: str) -> None:
            super().__init__(champion="3")
            self.aliases["previous_champion"] = "3"
            registries.append(self)

        def model_version_url(self, registered_model: str, version: str) -> None:
            return None

    models_yaml.write_text(VALID)
    monkeypatch.setattr(mlflow_hook, "MlflowRegistryHook", Registry)
    with pytest.raises(SystemExit) as exc:
        main(["rollback", "fraud", "--yes", "--reason", "bad"])
    message = str(exc.value.code)
    assert message.startswith("error: ") and "'previous_champion'" in message and "'champion'" in message, message
    assert "v3" in message and "set_registered_model_alias" in message, message
    assert "v3 -> v3" not in capsys.readouterr().out
    assert all(r.writes == 0 and r.aliases == {"champion": "3", "previous_champion": "3"} for r in registries)
    assert StateStoreHook().get_store().last_audit("fraud", ("rollback_started", "rollback")) is None


def test_the_rollbacks_log_lines_go_to_stderr_leaving_stdout_to_its_result(airflow_home, monkeypatch, capsys):
    """Airflow's logging writes to stdout: the hooks' log lines (here: the absent promoting connection's fallback to
    the local tracking URI) would mix with what the command prints for a person or a script to read."""
    from mlflow import MlflowClient

    from airflow_provider_agentic_mlops.cli.definition import main

    uri = f"sqlite:///{airflow_home / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("m")
    for _ in range(2):
        client.create_model_version("m", source=str(airflow_home))
    client.set_registered_model_alias("m", "champion", "2")
    client.set_registered_model_alias("m", "previous_champion", "1")
    capsys.readouterr()
    main(["rollback", "m", "--registered-model", "m", "--yes", "--models-file", str(airflow_home / "none.yaml")])
    captured = capsys.readouterr()
    assert str(client.get_model_version_by_alias("m", "champion").version) == "1"
    assert "m: champion is v1 again (was v2)" in captured.out
    assert "not found; using tracking URI" in captured.err and "using tracking URI" not in captured.out
