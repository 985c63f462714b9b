"""The DAG factory: one DAG per model, the loop's shape, and a bad entry failing its own model's DAG only."""

from __future__ import annotations

import re

import pytest

from airflow_provider_agentic_mlops.core.config import ConfigError
from airflow_provider_agentic_mlops.dag_factory import build_dags, models_file
from tests.doubles.slack_server import SlackDouble, slack_connection, slack_double  # noqa: F401

MODELS = """
defaults:
  approval: {{channel: "#ml", approvers: [U1]}}
models:
  - name: churn
    schedule: "@hourly"
    drift: {{reference: data/ref.parquet, current: "${{DATA_ROOT}}/cur.parquet", label_column: y}}
    retrain: {{trigger_dag_id: train_churn, conf: {{train_data: data/train.csv}}}}
  - name: fraud
    schedule: null
    drift: {{reference: s3://bucket/ref.parquet, current: s3://bucket/cur.parquet}}
    retrain: {{python_callable: "pkg.mod:train"}}
    validation: {{data: s3://bucket/val.parquet, label_column: is_fraud, primary_metric: f1, floors: {{f1: 0.7}}}}
    approval: {{required_approvals: {approvals}}}
"""


@pytest.fixture(autouse=True)
def _own_airflow_home(tmp_path, monkeypatch):
    """The factory keeps each model's last valid entry under Airflow's home: one per test, never the user's."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow_home"))
    monkeypatch.setenv("DATA_ROOT", "/data/root")  # MODELS names it: an unset variable fails the model


@pytest.fixture
def dags(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_ROOT", "/data/root")
    path = tmp_path / "models.yaml"
    path.write_text(MODELS.format(approvals=2))
    return tmp_path, build_dags(path)


def test_one_dag_per_model_with_one_active_run(dags) -> None:
    _, built = dags
    assert sorted(built) == ["agentic_mlops__churn", "agentic_mlops__fraud"]
    assert all(dag.max_active_runs == 1 and not dag.catchup for dag in built.values())
    assert "agentic-mlops" in built["agentic_mlops__churn"].tags


def test_the_loop_has_the_documented_shape(dags) -> None:
    _, built = dags
    dag = built["agentic_mlops__churn"]
    down = {tid: sorted(t.downstream_task_ids) for tid, t in dag.task_dict.items()}
    assert down == {
        "check_drift": ["decide"],
        "decide": ["escalate", "no_action", "retrain"],
        "retrain": ["validate"],
        "validate": ["rejected", "wait_for_approval"],
        "wait_for_approval": ["promote"],
        "promote": [],
        "no_action": [],
        "escalate": [],
        "rejected": [],
    }


def test_paths_resolve_against_the_models_file_and_the_environment(dags) -> None:
    base, built = dags
    churn = built["agentic_mlops__churn"].task_dict
    assert churn["check_drift"].reference == str(base / "data" / "ref.parquet")
    assert churn["check_drift"].current == "/data/root/cur.parquet"
    assert churn["retrain"].conf == {"train_data": str(base / "data" / "train.csv")}
    assert churn["validate"].validation_data == "/data/root/cur.parquet"  # defaults to the current data
    fraud = built["agentic_mlops__fraud"].task_dict
    assert fraud["check_drift"].reference == "s3://bucket/ref.parquet"
    assert fraud["validate"].validation_data == "s3://bucket/val.parquet"
    gates = fraud["validate"].gates  # the validation section's gate fields, passed whole
    assert (gates.primary_metric, gates.floors, gates.higher_is_better) == ("f1", {"f1": 0.7}, True)


def test_model_settings_reach_the_operators(dags) -> None:
    _, built = dags
    churn, fraud = built["agentic_mlops__churn"], built["agentic_mlops__fraud"]
    assert churn.schedule == "@hourly" or str(churn.timetable.summary) == "@hourly"
    assert churn.task_dict["retrain"].trigger_dag_id == "train_churn"
    assert fraud.task_dict["retrain"].python_callable == "pkg.mod:train"
    assert fraud.task_dict["wait_for_approval"].required_approvals == 2
    assert churn.task_dict["wait_for_approval"].approvers == ["U1"]
    assert churn.task_dict["promote"].mlflow_conn_id == "agentic_mlops_mlflow_promote"
    # the sensor checks the promote connection before anyone is asked to approve
    assert churn.task_dict["wait_for_approval"].promote_conn_id == "agentic_mlops_mlflow_promote"
    assert churn.task_dict["retrain"].mlflow_conn_id == "agentic_mlops_mlflow_train"


STATE_TASKS = ("decide", "escalate", "retrain", "validate", "wait_for_approval", "promote")


def test_the_state_connection_setting_is_the_default_of_models_that_name_none(tmp_path, monkeypatch) -> None:
    # the DAGs, the CLI and the web plugin must share one store: the setting moves them together
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID", "team_state")
    path = tmp_path / "models.yaml"
    own = MODELS.format(approvals=1).replace("  - name: fraud\n", "  - name: fraud\n    state_conn_id: own\n")
    path.write_text(own)
    built = build_dags(path)
    churn, fraud = built["agentic_mlops__churn"], built["agentic_mlops__fraud"]
    assert {churn.get_task(t).state_conn_id for t in STATE_TASKS} == {"team_state"}
    assert {fraud.get_task(t).state_conn_id for t in STATE_TASKS} == {"own"}  # a model's own choice stays


def test_a_bad_entry_is_shown_on_its_dag_with_model_field_and_expectation(tmp_path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(MODELS.format(approvals=9))
    fraud = build_dags(path)["agentic_mlops__fraud"]
    assert re.search(
        r"model 'fraud': field 'approval.required_approvals': .*less than or equal to 5", fraud.description
    )


def test_models_file_comes_from_config_else_beside_the_dag_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(tmp_path / "elsewhere.yaml"))
    assert models_file(tmp_path) == tmp_path / "elsewhere.yaml"
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", "")
    assert models_file(tmp_path) == tmp_path / "models.yaml"


def test_the_drift_config_reaches_the_drift_check_whole(dags) -> None:
    # the drift section is the check's DriftSettings, every field passed through (defined once, in core.config)
    from airflow_provider_agentic_mlops.core.config import DriftSettings, load_models

    tmp_path, built = dags
    check = built["agentic_mlops__churn"].task_dict["check_drift"]
    churn = next(s for s in load_models(tmp_path / "models.yaml") if s.name == "churn")
    assert check.settings == DriftSettings.resolve(churn.drift)
    assert set(DriftSettings.model_fields) < set(type(churn.drift).model_fields)
    assert check.settings.label_column == "y" and check.settings.prediction_column is None  # labels alone suffice
    assert check.champion_model_uri == "models:/churn@champion"


def test_tasks_safe_to_repeat_are_retried_and_the_others_not(dags) -> None:
    """Idempotent on retry: check_drift, decide, validate, wait_for_approval (same request, see the sensor
    tests), promote (resumable, see tests/unit/core/test_promotion.py), escalate (only a post certainly not posted
    fails it retryably, see tests/unit/notifications/test_escalation_notifier.py), a minute apart. Not: retrain."""
    from datetime import timedelta

    _, built = dags
    retries = {t.task_id: t.retries for t in built["agentic_mlops__fraud"].tasks}
    assert retries["promote"] >= 2 and retries["wait_for_approval"] >= 1
    assert retries["check_drift"] >= 1 and retries["validate"] >= 1 and retries["decide"] >= 1
    assert retries["retrain"] == 0 and retries["escalate"] == 2
    assert built["agentic_mlops__fraud"].get_task("escalate").retry_delay == timedelta(minutes=1)
    promote = built["agentic_mlops__fraud"].get_task("promote")
    assert promote.retry_exponential_backoff


def test_job_limits_reach_the_retrain_task(tmp_path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        MODELS.format(approvals=1).replace(
            'retrain: {{python_callable: "pkg.mod:train"}}'.replace("{{", "{").replace("}}", "}"),
            'retrain: {python_callable: "pkg.mod:train", timeout_minutes: 30, heartbeat_timeout_minutes: 3}',
        )
    )
    retrain = build_dags(path)["agentic_mlops__fraud"].get_task("retrain")
    assert (retrain.timeout, retrain.heartbeat_timeout) == (30, 3)


@pytest.mark.parametrize("configured", ["True", "False"])
def test_approval_waits_as_airflows_default_deferrable_says_unless_the_model_says(
    tmp_path, monkeypatch, configured
) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", configured)
    path = tmp_path / "models.yaml"
    path.write_text(
        MODELS.format(approvals=1).replace("approval: {required_approvals: 1}", "approval: {deferrable: false}")
    )
    built = build_dags(path)
    churn = built["agentic_mlops__churn"].get_task("wait_for_approval")
    fraud = built["agentic_mlops__fraud"].get_task("wait_for_approval")
    assert churn.deferrable is (configured == "True")
    assert (fraud.deferrable, fraud.mode) == (False, "reschedule")


def test_retrain_conf_is_passed_as_written_but_for_variables_and_relative_data_paths(tmp_path, monkeypatch) -> None:
    import datetime
    import os

    monkeypatch.setenv("DATA_ROOT", "/data/root")
    monkeypatch.setenv("HOME", "/home/ml")
    path = tmp_path / "models.yaml"
    path.write_text(
        """
models:
  - name: churn
    drift: {reference: ~/data/ref.parquet, current: cur.parquet, label_column: churned}
    retrain:
      trigger_dag_id: train_churn
      conf:
        target: churned
        run_name: nightly retrain
        experiment_name: team/churn
        cron_hint: "0 3 * * *"
        since: 2024-01-01
        train_data: data/train.parquet
        root_data: ${DATA_ROOT}/train.csv
        home_data: ~/train.csv
        out_dir: ./out
        files: [data/a.parquet, plain]
        nested: {holdout: ../holdout.csv, algorithm: xgboost}
"""
    )
    dag = build_dags(path)["agentic_mlops__churn"]
    assert dag.get_task("check_drift").reference == "/home/ml/data/ref.parquet"
    assert dag.get_task("retrain").conf == {
        "target": "churned",
        "run_name": "nightly retrain",
        "experiment_name": "team/churn",
        "cron_hint": "0 3 * * *",
        "since": datetime.date(2024, 1, 1),
        "train_data": str(tmp_path / "data" / "train.parquet"),
        "root_data": "/data/root/train.csv",
        "home_data": "/home/ml/train.csv",
        "out_dir": os.path.join(tmp_path, "./out"),
        "files": [str(tmp_path / "data" / "a.parquet"), "plain"],
        "nested": {"holdout": os.path.join(tmp_path, "../holdout.csv"), "algorithm": "xgboost"},
    }


def test_only_dollar_names_are_variables_in_retrain_conf_and_a_double_dollar_is_a_dollar(tmp_path, monkeypatch) -> None:
    # SQL placeholders, regexes and prices are parameters: "$1" failed the model as an unset variable
    monkeypatch.setenv("TABLE", "events")
    path = tmp_path / "models.yaml"
    path.write_text(
        """
models:
  - name: churn
    drift: {reference: r.parquet, current: c.parquet, label_column: y}
    retrain:
      trigger_dag_id: train_churn
      conf:
        query: "SELECT * FROM $TABLE WHERE day = $1 AND x = ${TABLE}_2"
        price_regex: '^\\$[0-9]+$'
        escaped: "$$HOME costs $$5"
"""
    )
    dag = build_dags(path)["agentic_mlops__churn"]
    assert "models-yaml-error" not in dag.tags
    assert dag.get_task("retrain").conf == {
        "query": "SELECT * FROM events WHERE day = $1 AND x = events_2",
        "price_regex": "^\\$[0-9]+$",
        "escaped": "$HOME costs $5",
    }


@pytest.mark.parametrize("schedule", ["0 25 * * *", "@dialy", "every day"])
def test_a_schedule_airflow_refuses_fails_with_model_field_and_value(tmp_path, schedule) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(MODELS.format(approvals=1).replace('schedule: "@hourly"', f"schedule: {schedule!r}"))
    expected = (
        r"models.yaml: model 'churn': field 'schedule': not a cron expression or an Airflow preset .*"
        rf"\(got '{re.escape(schedule)}'\)"
    )
    built = build_dags(path)  # the DAG says so; the other model's is built
    assert re.search(expected, built["agentic_mlops__churn"].description)
    assert "models-yaml-error" not in built["agentic_mlops__fraud"].tags


@pytest.mark.parametrize("schedule", ["@daily", "@once", "@continuous", "0 3 * * 1-5", "*/15 * * * *"])
def test_cron_expressions_and_presets_are_accepted(tmp_path, schedule) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(MODELS.format(approvals=1).replace('schedule: "@hourly"', f"schedule: {schedule!r}"))
    assert "agentic_mlops__churn" in build_dags(path)


def test_validation_feeds_the_model_drift_feature_columns_else_not_the_timestamp_or_predictions(tmp_path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        """
models:
  - name: churn
    drift: {reference: r.parquet, current: c.parquet, label_column: y, timestamp_column: ts, prediction_column: p}
    retrain: {trigger_dag_id: train_churn}
  - name: fraud
    drift: {reference: r.parquet, current: c.parquet, label_column: y, prediction_column: p, feature_columns: [a, b]}
    retrain: {trigger_dag_id: train_fraud}
"""
    )
    built = build_dags(path)
    churn, fraud = (built[f"agentic_mlops__{m}"].get_task("validate") for m in ("churn", "fraud"))
    assert (churn.feature_columns, sorted(churn.exclude_columns)) == (None, ["p", "ts"])
    assert fraud.feature_columns == ["a", "b"]


FLEET = """
defaults:
  retrain: {python_callable: "m:f"}
  schedule: "@daily"
models:
  - {name: fraud, drift: {reference: r.parquet, current: c.parquet, label_column: y}}
  - {name: churn, drift: {reference: r.parquet, current: c.parquet, label_column: y}}
  - {name: ltv, drift: {reference: r.parquet, current: c.parquet, label_column: y}}
"""
#: one typo in model 'ltv' (a share above 1)
LTV_BROKEN = FLEET.replace("{name: ltv, drift", "{name: ltv, decision: {min_drift_share: 3}, drift")
LOOP_TASKS = {"check_drift", "decide", "no_action", "escalate", "retrain", "validate", "rejected"}
LOOP_TASKS |= {"wait_for_approval", "promote"}


def test_a_bad_entry_fails_only_its_own_models_dag_which_says_why(tmp_path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(LTV_BROKEN)
    built = build_dags(path)
    assert sorted(built) == ["agentic_mlops__churn", "agentic_mlops__fraud", "agentic_mlops__ltv"]
    for good in ("agentic_mlops__churn", "agentic_mlops__fraud"):
        assert set(built[good].task_ids) == LOOP_TASKS and "models-yaml-error" not in built[good].tags
    ltv = built["agentic_mlops__ltv"]  # never built from a valid entry: a stand-in that runs nothing
    assert ltv.task_ids == ["invalid_models_entry"] and ltv.schedule is None
    assert "models-yaml-error" in ltv.tags and "[models.yaml error]" in ltv.dag_display_name
    problem = "model 'ltv': field 'decision.min_drift_share': Input should be less than or equal to 1 (got 3)"
    assert problem in ltv.description and problem in ltv.doc_md and str(path) in ltv.doc_md


def test_a_stand_in_has_the_owner_and_tags_of_its_entry_so_owner_policies_and_tag_filters_find_it(tmp_path) -> None:
    # Airflow's example cluster policy (task_must_have_owners) refuses the owner 'airflow': the whole file would fail
    path = tmp_path / "models.yaml"
    path.write_text(
        "defaults: {owner: team-ml}\n"
        "models:\n"
        "  - {name: ltv, owner: team-ltv, tags: [ltv, 7, tier0], decision: {min_drift_share: 3}}\n"
        "  - {name: churn, decision: {min_drift_share: 3}}\n"
        "  - {name: 'bad name', owner: 5, tags: not-a-list}\n"
    )
    built = build_dags(path)
    ltv, churn, unnamed = (built[f"agentic_mlops__{n}"] for n in ("ltv", "churn", "-invalid-entry-3"))
    assert ltv.owner == "team-ltv" and ltv.get_task("invalid_models_entry").owner == "team-ltv"
    assert sorted(ltv.tags) == ["agentic-mlops", "ltv", "models-yaml-error", "tier0"]
    assert churn.owner == "team-ml"  # from defaults
    assert unnamed.owner == "team-ml" and sorted(unnamed.tags) == ["agentic-mlops", "models-yaml-error"]
    path.write_text("models:\n  - {name: ltv, decision: {min_drift_share: 3}}\n")
    assert build_dags(path)["agentic_mlops__ltv"].owner == "mlops"  # the owner of a valid model by default


def test_the_stand_in_task_fails_with_the_models_error_when_run(tmp_path) -> None:
    from airflow_provider_agentic_mlops.version_compat import AirflowFailException

    path = tmp_path / "models.yaml"
    path.write_text(LTV_BROKEN)
    task = build_dags(path)["agentic_mlops__ltv"].get_task("invalid_models_entry")
    assert task.retries == 0
    with pytest.raises(AirflowFailException, match=r"model 'ltv': field 'decision.min_drift_share'"):
        task.execute({})


def test_a_model_whose_entry_breaks_keeps_running_its_last_valid_entry_and_says_so(tmp_path) -> None:
    # its in-flight run (an approval wait) goes on: the tasks stay, only the DAG's labels change
    path = tmp_path / "models.yaml"
    path.write_text(FLEET)
    before = build_dags(path)["agentic_mlops__ltv"]
    path.write_text(LTV_BROKEN)
    ltv = build_dags(path)["agentic_mlops__ltv"]
    assert set(ltv.task_ids) == LOOP_TASKS and ltv.schedule == before.schedule
    assert ltv.get_task("decide").guardrails.min_drift_share == 0.1  # the last valid value, not 3
    assert "models-yaml-error" in ltv.tags and "[models.yaml error]" in ltv.dag_display_name
    assert "last valid entry" in ltv.description and "'decision.min_drift_share'" in ltv.description
    assert "field 'decision.min_drift_share'" in ltv.doc_md
    assert ltv.doc_md.count("is invalid") == 1 and ltv.doc_md.endswith(before.doc_md)  # the model's own docs follow
    path.write_text(FLEET.replace("{name: ltv, drift", "{name: ltv, decision: {min_drift_share: 0.3}, drift"))
    fixed = build_dags(path)["agentic_mlops__ltv"]  # fixed: the new entry, and the labels are gone
    assert fixed.get_task("decide").guardrails.min_drift_share == 0.3
    assert "models-yaml-error" not in fixed.tags and fixed.dag_display_name == "agentic_mlops__ltv"


def test_an_entry_pasted_above_a_running_model_with_its_name_does_not_take_over_its_dag(tmp_path) -> None:
    # both entries are refused: the model keeps running its last valid entry, flagged, and no stray DAG appears
    path = tmp_path / "models.yaml"
    path.write_text(FLEET)
    build_dags(path)
    pasted = "  - {name: ltv, schedule: '@hourly', drift: {reference: o.parquet, current: o.parquet, label_column: y}}"
    path.write_text(FLEET.replace("models:\n", f"models:\n{pasted}\n"))
    built = build_dags(path)
    assert sorted(built) == ["agentic_mlops__churn", "agentic_mlops__fraud", "agentic_mlops__ltv"]
    ltv = built["agentic_mlops__ltv"]
    assert set(ltv.task_ids) == LOOP_TASKS and ltv.schedule == "@daily"  # the last valid entry, not the pasted one
    assert ltv.get_task("check_drift").reference.endswith("/r.parquet")
    assert "models-yaml-error" in ltv.tags and "entries #1 and #4 have the same name" in ltv.description


def test_a_typo_in_a_top_level_key_fails_every_models_dag_not_the_file_and_each_keeps_its_last_valid_entry(
    tmp_path,
) -> None:
    # 'defualts:' may hold settings meant for every model: no entry is read as it stands, but the DAG file imports
    path = tmp_path / "models.yaml"
    path.write_text(FLEET)
    before = build_dags(path)
    path.write_text(FLEET.replace("defaults:", "defualts:"))
    built = build_dags(path)
    assert sorted(built) == sorted(before)
    problem = "unknown top-level key 'defualts'"
    for dag_id, dag in built.items():
        assert set(dag.task_ids) == LOOP_TASKS and dag.schedule == before[dag_id].schedule  # the last valid entry
        assert "models-yaml-error" in dag.tags and "[models.yaml error]" in dag.dag_display_name
        assert problem in dag.description and "did you mean 'defaults'?" in dag.description
        assert f"model '{dag_id.removeprefix('agentic_mlops__')}'" in dag.description
    path.write_text(FLEET + "notes: owned by team-ml\n")  # any key but 'defaults' and 'models'
    assert all("unknown top-level key 'notes'" in dag.description for dag in build_dags(path).values())


def test_a_yaml_syntax_error_flags_every_models_dag_each_running_its_last_valid_entry(tmp_path) -> None:
    # one stray quote must not fail the DAG file (every model's DAG stale, approval waits stopped)
    path = tmp_path / "models.yaml"
    path.write_text(FLEET)
    before = build_dags(path)
    path.write_text(FLEET.replace("{name: churn,", "{name: 'churn,"))
    built = build_dags(path)
    assert sorted(built) == sorted(before)
    for dag_id, dag in built.items():
        assert set(dag.task_ids) == LOOP_TASKS and dag.schedule == before[dag_id].schedule  # the last valid entry
        assert "models-yaml-error" in dag.tags and "not valid YAML" in dag.description
        assert re.search(r"line \d+, column \d+", dag.description)
    path.write_text(FLEET.replace('  schedule: "@daily"\n', '  schedule: "@daily"\n  schedule: "@hourly"\n'))
    assert all("key 'schedule' is given twice" in dag.description for dag in build_dags(path).values())
    path.write_text(FLEET)
    assert not any("models-yaml-error" in dag.tags for dag in build_dags(path).values())  # fixed


def test_a_yaml_syntax_error_with_no_model_ever_valid_fails_the_file(tmp_path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(FLEET.replace("{name: churn,", "{name: 'churn,"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        build_dags(path)


def test_a_yaml_syntax_error_is_held_only_where_the_cache_directory_is_shared(tmp_path, monkeypatch) -> None:
    # the README's caveat: the last valid parse is kept under $AIRFLOW_HOME/.cache/agentic_mlops; a worker
    # without that directory (a fresh pod) fails to import the DAG file while the DAG processor keeps scheduling
    path = tmp_path / "models.yaml"
    path.write_text(FLEET)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "processor"))
    build_dags(path)
    path.write_text(FLEET.replace("{name: churn,", "{name: 'churn,"))
    assert all("models-yaml-error" in dag.tags for dag in build_dags(path).values())  # the same directory
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "fresh-worker"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        build_dags(path)


def test_the_dag_processors_parse_loads_the_good_models_and_shows_the_bad_one(tmp_path, monkeypatch) -> None:
    """Airflow's DagBag, as the DAG processor parses the file: no import error (which would mark every
    model's DAG stale, stopping their runs), the good models' loops, and the bad model's stand-in."""
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import REPO

    folder = tmp_path / "dags"
    folder.mkdir()
    shutil.copy(REPO / "dags" / "agentic_mlops_models.py", folder)
    (folder / "models.yaml").write_text(LTV_BROKEN)
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", "")
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["agentic_mlops__churn", "agentic_mlops__fraud", "agentic_mlops__ltv"]
    assert set(bag.dags["agentic_mlops__fraud"].task_ids) == LOOP_TASKS
    ltv = bag.dags["agentic_mlops__ltv"]
    assert ltv.task_ids == ["invalid_models_entry"] and "models-yaml-error" in ltv.tags
    assert "field 'decision.min_drift_share'" in ltv.description
    # once the entry was valid, its breaking leaves the model's loop running its last valid entry
    (folder / "models.yaml").write_text(FLEET)
    assert DagBag(dag_folder=str(folder)).import_errors == {}
    (folder / "models.yaml").write_text(LTV_BROKEN)
    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    ltv = bag.dags["agentic_mlops__ltv"]
    assert set(ltv.task_ids) == LOOP_TASKS and "models-yaml-error" in ltv.tags
    assert "field 'decision.min_drift_share'" in ltv.description
    # a DAG that fails after it was made (a schedule Airflow refuses) is not picked up by the DagBag either:
    # the factory's DAGs are not auto-registered, only the ones the DAG file hands over count
    (folder / "models.yaml").write_text(FLEET.replace("{name: churn, drift", '{name: churn, schedule: "@dialy", drift'))
    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    description = bag.dags["agentic_mlops__churn"].description
    assert "field 'schedule': not a cron expression or an Airflow preset" in description and "'@dialy'" in description
    assert "models-yaml-error" not in bag.dags["agentic_mlops__fraud"].tags


def test_templated_paths_get_their_variables_expanded_and_the_models_files_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DATA_ROOT", "/data/ml")
    path = tmp_path / "models.yaml"
    path.write_text(
        """
models:
  - name: a
    drift:
      reference: "{{ var.value.data_root }}/reference.parquet"
      current: "${DATA_ROOT}/fraud/{{ ds }}/current.parquet"
      label_column: y
    retrain:
      python_callable: "m:f"
      conf: {train_data: "${DATA_ROOT}/fraud/{{ ds }}/current.parquet", holdout: "data/{{ ds }}/h.parquet"}
    validation: {data: "data/{{ ds }}/validation.parquet"}
"""
    )
    dag = build_dags(path)["agentic_mlops__a"]
    drift, validate = dag.get_task("check_drift"), dag.get_task("validate")
    assert drift.current == "/data/ml/fraud/{{ ds }}/current.parquet"
    assert validate.validation_data == str(tmp_path / "data" / "{{ ds }}" / "validation.parquet")
    assert drift.reference == "{{ var.value.data_root }}/reference.parquet"  # the template gives the whole path
    assert dag.get_task("retrain").conf == {
        "train_data": "/data/ml/fraud/{{ ds }}/current.parquet",
        "holdout": str(tmp_path / "data" / "{{ ds }}" / "h.parquet"),
    }
    assert validate.render_template(validate.validation_data, {"ds": "2026-01-02"}) == str(
        tmp_path / "data" / "2026-01-02" / "validation.parquet"
    )


def test_an_unset_variable_fails_the_models_dag_naming_the_model_the_field_and_the_variable(tmp_path) -> None:
    # kept literally it became a path under the DAGs folder: '<dags>/${UNSET_VAR}/val.parquet'
    path = tmp_path / "models.yaml"
    path.write_text(
        FLEET.replace(
            "{name: churn, drift", '{name: churn, validation: {data: "${UNSET_VAR}/val.parquet"}, drift'
        ).replace(
            "{name: ltv, drift", '{name: ltv, retrain: {python_callable: "m:f", conf: {out: "$UNSET_2/x"}}, drift'
        )
    )
    built = build_dags(path)
    assert "models-yaml-error" not in built["agentic_mlops__fraud"].tags
    churn, ltv = built["agentic_mlops__churn"].description, built["agentic_mlops__ltv"].description
    assert "model 'churn': field 'validation.data': variable ${UNSET_VAR} is unset in this environment" in churn
    assert "model 'ltv': field 'retrain.conf.out': variable $UNSET_2 is unset in this environment" in ltv


def test_airflow_home_in_a_path_is_airflows_home_when_not_exported(tmp_path, monkeypatch) -> None:
    # Airflow's default home (~/airflow) is not put into the environment: the starter models.yaml names it
    from tests.conftest import REPO

    monkeypatch.delenv("AIRFLOW_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "dags" / "models.yaml"
    path.parent.mkdir()
    path.write_text((REPO / "dags" / "models.yaml").read_text())
    dag = build_dags(path)["agentic_mlops__fraud-detector"]
    home = tmp_path / "airflow"
    assert dag.get_task("check_drift").reference == f"{home}/demo-data/fraud-detector/reference.parquet"
    assert dag.get_task("retrain").conf == {"train_data": f"{home}/demo-data/fraud-detector/current.parquet"}


def test_a_relative_models_file_setting_gives_absolute_data_paths(tmp_path, monkeypatch) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "models.yaml").write_text(FLEET)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", "config/models.yaml")
    path = models_file("/somewhere/dags")
    assert path == tmp_path / "config" / "models.yaml"
    dag = build_dags(path)["agentic_mlops__fraud"]
    assert dag.get_task("check_drift").reference == str(tmp_path / "config" / "r.parquet")


def test_an_error_airflow_raises_building_a_dag_names_the_file_and_the_model(tmp_path, monkeypatch) -> None:
    from airflow_provider_agentic_mlops import dag_factory

    real_dag, refused = dag_factory.DAG, []

    def refuse(*args, **kwargs):
        if kwargs["dag_id"] == "agentic_mlops__churn" and not refused:  # its stand-in is built
            refused.append(kwargs["dag_id"])
            raise ValueError("something Airflow refuses")
        return real_dag(*args, **kwargs)

    monkeypatch.setattr(dag_factory, "DAG", refuse)
    path = tmp_path / "models.yaml"
    path.write_text(FLEET)
    built = build_dags(path)
    assert f"{path}: model 'churn': ValueError: something Airflow refuses" in built["agentic_mlops__churn"].description
    assert set(built["agentic_mlops__fraud"].task_ids) == LOOP_TASKS


def test_an_unreadable_models_file_says_which_setting_named_it(tmp_path, monkeypatch) -> None:
    """It said "Set [agentic_mlops] models_file or AIRFLOW__AGENTIC_MLOPS__MODELS_FILE" while the variable
    was set, to the mistyped path."""
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(tmp_path / "modles.yaml"))
    with pytest.raises(ConfigError, match=r"the path is AIRFLOW__AGENTIC_MLOPS__MODELS_FILE \(.*modles.yaml'\)"):
        build_dags(models_file(tmp_path))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", "")
    with pytest.raises(ConfigError, match=r"the path is the default, models.yaml beside the DAG file"):
        build_dags(models_file(tmp_path))


def test_validating_on_the_training_data_fails_the_models_dag_naming_both_fields(tmp_path) -> None:
    # validation.data defaulted to drift.current, which retrain.conf trained on: the challenger was
    # validated on its own training rows
    path = tmp_path / "models.yaml"
    path.write_text(
        FLEET.replace("{name: churn, drift", "{name: churn, retrain: {conf: {train_data: ./c.parquet}}, drift").replace(
            "{name: ltv, drift",
            "{name: ltv, retrain: {conf: {sets: [x.parquet]}}, validation: {data: x.parquet}, drift",
        )
    )
    built = build_dags(path)
    assert "models-yaml-error" not in built["agentic_mlops__fraud"].tags
    churn, ltv = built["agentic_mlops__churn"].description, built["agentic_mlops__ltv"].description
    assert (
        f"validation.data ({tmp_path / 'c.parquet'}, defaulting to drift.current) is retrain.conf.train_data" in churn
    )
    assert "held out from training" in churn
    assert f"validation.data ({tmp_path / 'x.parquet'}) is retrain.conf.sets.0" in ltv


def test_the_drift_check_measures_precision_on_validations_positive_label(tmp_path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        MODELS.format(approvals=2).replace("primary_metric: f1,", "primary_metric: f1, positive_label: legit,")
    )
    built = build_dags(path)
    assert built["agentic_mlops__fraud"].task_dict["check_drift"].settings.positive_label == "legit"
    assert built["agentic_mlops__churn"].task_dict["check_drift"].settings.positive_label is None


REVOKE = """
models:
  - name: pay-fraud
    retrain: {{python_callable: "m:f"}}
    drift: {{reference: r.parquet, current: c.parquet, label_column: y}}
    approval:
      channel: "#pay"
      approvers: [{approvers}]
{extra}"""


def test_a_model_held_at_its_last_valid_entry_takes_no_approval_under_its_old_approvers(tmp_path) -> None:
    # an edit that revokes an approver and mistypes a key: the held DAG must not let the revoked one approve
    from airflow_provider_agentic_mlops.version_compat import AirflowFailException

    path = tmp_path / "models.yaml"
    path.write_text(REVOKE.format(approvers="U0MALLORY1, U0ALICE01", extra=""))
    assert build_dags(path)["agentic_mlops__pay-fraud"].get_task("wait_for_approval").entry_error is None
    path.write_text(REVOKE.format(approvers="U0ALICE01", extra="      timout_hours: 4\n"))
    held = build_dags(path)["agentic_mlops__pay-fraud"]
    assert "models-yaml-error" in held.tags
    sensor = held.get_task("wait_for_approval")
    refusal = r"(?s)held at its last valid entry.*no approval.*'approval.timout_hours'.*clear wait_for_approval"
    for step in (lambda: sensor.execute({}), lambda: sensor.poke({}), lambda: sensor.execute_complete({}, {})):
        with pytest.raises(AirflowFailException, match=refusal):  # before any request is opened, renewed or read
            step()
    path.write_text(REVOKE.format(approvers="U0ALICE01", extra="      timeout_hours: 4\n"))
    fixed = build_dags(path)["agentic_mlops__pay-fraud"].get_task("wait_for_approval")
    assert fixed.entry_error is None and fixed.approvers == ["U0ALICE01"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "the file is empty"),  # a save that wrote nothing yet
        (FLEET.split("  - {name: fraud")[0], "field 'models'"),  # cut off after `models:` (a half-written save)
        (FLEET.replace("defaults:", "defaults: []\nx-old:"), "field 'defaults'"),
        ("notes: owned by team-ml\n", "the 'models' key is missing"),
    ],
    ids=["empty", "cut-after-models", "defaults-not-a-mapping", "no-models-key"],
)
def test_a_file_wrong_as_a_whole_after_a_valid_parse_flags_every_models_dag_not_the_file(
    tmp_path, content, problem
) -> None:
    # as for a YAML syntax error: failing the import would make every model's DAG stale (in-flight runs stop)
    path = tmp_path / "models.yaml"
    path.write_text(FLEET)
    before = build_dags(path)
    path.write_text(content)
    built = build_dags(path)
    assert sorted(built) == sorted(before)
    for dag_id, dag in built.items():
        assert set(dag.task_ids) == LOOP_TASKS and dag.schedule == before[dag_id].schedule  # the last valid entry
        assert "models-yaml-error" in dag.tags and "the whole file is refused" in dag.description
        assert problem in dag.description and str(path) in dag.description
    path.write_text(FLEET)
    assert not any("models-yaml-error" in dag.tags for dag in build_dags(path).values())  # fixed


def test_a_file_wrong_as_a_whole_with_no_model_ever_valid_fails_the_file(tmp_path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("")
    with pytest.raises(ConfigError, match="the file is empty"):
        build_dags(path)


def test_a_relative_models_file_setting_is_named_as_relative_to_the_working_directory(
    tmp_path, monkeypatch, caplog
) -> None:
    """The DAG processor runs from another directory than the shell that validated the file: its error must
    say the path was relative, to what, and to give an absolute path."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "models.yaml").write_text(FLEET)
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", "config/models.yaml")
    monkeypatch.chdir(tmp_path / "config")  # not where the path was meant from
    with pytest.raises(ConfigError) as exc:
        build_dags(models_file(tmp_path))
    message = str(exc.value)
    assert "('config/models.yaml') is a relative path" in message
    assert f"working directory {tmp_path / 'config'}" in message
    assert str(tmp_path / "config" / "config" / "models.yaml") in message and "absolute path" in message
    monkeypatch.chdir(tmp_path)  # read here, but not wherever each process starts: a warning
    with caplog.at_level("WARNING", logger="airflow_provider_agentic_mlops.dag_factory"):
        build_dags(models_file("/somewhere/dags"))
    assert "('config/models.yaml') is a relative path" in caplog.text and "absolute path" in caplog.text


TEAMS = """
models:
  - name: team-a
    retrain: {python_callable: "m:f"}
    drift: {reference: r.parquet, current: c.parquet, label_column: y}
  - name: team-b
    retrain: {python_callable: "m:f"}
    drift: {current: c.parquet, label_column: y}
  - name: team-c
    retrain: {python_callable: "m:f"}
    drift: {reference: r.parquet, current: c.parquet, label_column: y}
    decision: {cooldown_hours: two}
"""


def _entry_warnings(caplog) -> dict[str, list[str]]:
    """The models named in the factory's WARNING records, and the level of every record naming each."""
    named: dict[str, list[str]] = {}
    for record in caplog.records:
        if record.name == "airflow_provider_agentic_mlops.dag_factory":
            for model in ("team-a", "team-b", "team-c"):
                if f"model '{model}'" in record.getMessage():
                    named.setdefault(model, []).append(record.levelname)
    return named


def test_a_tasks_parse_logs_the_models_file_errors_of_its_own_dag_only(tmp_path, monkeypatch, caplog) -> None:
    """Every task log of every model repeated the other models' models.yaml errors (a worker parses the whole file
    to run one DAG's task): with many teams, each team's logs carried the others'. The DAG processor's parse still
    logs each one; a task's parse (Airflow's parsing context names its DAG) logs its own DAG's only, the others' at
    DEBUG."""
    path = tmp_path / "models.yaml"
    path.write_text(TEAMS)
    monkeypatch.delenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", raising=False)
    with caplog.at_level("DEBUG", logger="airflow_provider_agentic_mlops.dag_factory"):
        build_dags(path)  # the DAG processor's parse: no parsing context
    assert _entry_warnings(caplog) == {"team-b": ["WARNING"], "team-c": ["WARNING"]}

    for running, expected in (
        ("agentic_mlops__team-a", {"team-b": ["DEBUG"], "team-c": ["DEBUG"]}),  # a healthy model's task
        ("agentic_mlops__team-b", {"team-b": ["WARNING"], "team-c": ["DEBUG"]}),  # its own error, still a warning
    ):
        caplog.clear()
        monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", running)  # as Airflow's task runner sets it
        monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "check_drift")
        with caplog.at_level("DEBUG", logger="airflow_provider_agentic_mlops.dag_factory"):
            built = build_dags(path)
        assert _entry_warnings(caplog) == expected, running
        assert "models-yaml-error" in built["agentic_mlops__team-c"].tags  # the DAGs are flagged all the same


# -- task failures posted to the model's Slack channel --------------------------------------------------

#: the tasks whose failure for good a team hears of in Slack (escalate's own failure is Slack failing it)
NOTIFIED_TASKS = ("check_drift", "decide", "retrain", "validate", "wait_for_approval", "promote")


def _failure_notices(task) -> list:
    from airflow_provider_agentic_mlops.notifications.escalation import EscalationNotifier

    callbacks = task.on_failure_callback or []
    return [c for c in (callbacks if isinstance(callbacks, list) else [callbacks]) if isinstance(c, EscalationNotifier)]


def test_a_model_with_a_slack_channel_has_its_tasks_failures_posted_there_after_their_own_callbacks(tmp_path) -> None:
    from airflow_provider_agentic_mlops.liveness import cancel_approval_of_failed_task, fail_job_of_failed_task

    path = tmp_path / "models.yaml"
    path.write_text(
        MODELS.format(approvals=1).replace(
            "approval: {required_approvals: 1}",
            'approval: {escalation_channel: "#oncall", slack_conn_id: slack_ml, channel: "#fraud"}',
        )
    )
    built = build_dags(path)
    for dag_id, channel, slack_conn_id in (
        ("agentic_mlops__churn", "#ml", "slack_api_default"),
        ("agentic_mlops__fraud", "#oncall", "slack_ml"),  # failures go where escalations go
    ):
        dag = built[dag_id]
        for task_id in NOTIFIED_TASKS:
            task = dag.get_task(task_id)
            [notice] = _failure_notices(task)
            assert (notice.model_name, notice.channel, notice.slack_conn_id) == (
                dag_id.split("__")[1],
                channel,
                slack_conn_id,
            )
            assert notice.state_conn_id == dag.get_task("decide").state_conn_id
            assert task.on_failure_callback[-1] is notice  # after the task's own callbacks
            assert not task.on_retry_callback  # a retry is no failure: nothing posted
        assert not _failure_notices(dag.get_task("escalate"))  # its failure is Slack not taking the escalation
        assert dag.get_task("retrain").on_failure_callback[0] is fail_job_of_failed_task
        assert dag.get_task("wait_for_approval").on_failure_callback[0] is cancel_approval_of_failed_task


def test_escalation_repeat_hours_reaches_the_escalate_task_and_the_failure_notices(tmp_path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        MODELS.format(approvals=1).replace(
            "approval: {required_approvals: 1}", 'approval: {channel: "#fraud", escalation_repeat_hours: 6}'
        )
    )
    built = build_dags(path)
    for dag_id, hours in (("agentic_mlops__churn", 24), ("agentic_mlops__fraud", 6)):
        dag = built[dag_id]
        assert dag.get_task("escalate").repeat_hours == hours
        assert {notice.repeat_hours for task in dag.tasks for notice in _failure_notices(task)} == {hours}


@pytest.mark.parametrize(
    "approval",
    [
        "{channel: ''}",
        '{channel: "#fraud", notify_failures: false}',
        '{escalation_channel: "#oncall", notify_failures: false}',
    ],
)
def test_without_a_slack_channel_or_with_notify_failures_false_no_failure_is_posted(tmp_path, approval) -> None:
    from airflow_provider_agentic_mlops.liveness import cancel_approval_of_failed_task, fail_job_of_failed_task

    path = tmp_path / "models.yaml"
    path.write_text(
        MODELS.format(approvals=1)
        .replace('approval: {{channel: "#ml", approvers: [U1]}}'.replace("{{", "{").replace("}}", "}"), "{}")
        .replace("approval: {required_approvals: 1}", f"approval: {approval}")
    )
    dag = build_dags(path)["agentic_mlops__fraud"]
    assert "models-yaml-error" not in dag.tags  # the entry is valid
    assert not any(_failure_notices(task) for task in dag.tasks)
    assert dag.get_task("retrain").on_failure_callback == [fail_job_of_failed_task]
    assert dag.get_task("wait_for_approval").on_failure_callback == [cancel_approval_of_failed_task]


def test_notify_failures_false_in_the_defaults_turns_it_off_for_every_model(tmp_path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        MODELS.format(approvals=1).replace(
            'approval: {channel: "#ml", approvers: [U1]}',
            'approval: {channel: "#ml", approvers: [U1], notify_failures: false}',
        )
    )
    built = build_dags(path)
    assert sorted(built) == ["agentic_mlops__churn", "agentic_mlops__fraud"]
    assert not any("models-yaml-error" in dag.tags for dag in built.values())  # the entries are valid
    assert not any(_failure_notices(task) for dag in built.values() for task in dag.tasks)


@pytest.mark.parametrize("value", ["sometimes", "[]"])
def test_notify_failures_must_be_a_boolean(tmp_path, value) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        MODELS.format(approvals=1).replace(
            "approval: {required_approvals: 1}", f"approval: {{notify_failures: {value}}}"
        )
    )
    dag = build_dags(path)["agentic_mlops__fraud"]
    assert "models-yaml-error" in dag.tags and "notify_failures" in dag.description


STATE_CONN = "agentic_mlops_state_factory"


@pytest.fixture
def slack_factory_dag(tmp_path, monkeypatch, sqlite_store, slack_connection):  # noqa: F811
    """The DAG of model ``m`` (store: ``sqlite_store``) with approval channel C_ML, Slack at the test double."""
    import json

    monkeypatch.setenv(
        f"AIRFLOW_CONN_{STATE_CONN.upper()}",
        json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": sqlite_store.url}}),
    )
    path = tmp_path / "models.yaml"
    path.write_text(
        f"""
models:
  - name: m
    state_conn_id: {STATE_CONN}
    drift: {{reference: ref.parquet, current: cur.parquet, label_column: y}}
    retrain: {{python_callable: "pkg.mod:train"}}
    validation: {{data: val.parquet}}
    approval: {{channel: C_ML, approvers: [U1]}}
"""
    )
    return build_dags(path)["agentic_mlops__m"]


def _failure_context(task, error: BaseException, run_id: str = "r1") -> dict:
    from tests.doubles.airflow_task import TaskInstanceDouble

    ti = TaskInstanceDouble(dag_id="agentic_mlops__m", run_id=run_id, task_id=task.task_id, try_number=1)
    return {"task": task, "ti": ti, "task_instance": ti, "run_id": run_id, "exception": error}


def _run_failure_callbacks(task, context: dict) -> None:
    """As Airflow's task runner does when a task failed for good (each callback in turn, none stopping the next)."""
    import logging

    from airflow.sdk.execution_time.task_runner import _run_task_state_change_callbacks

    _run_task_state_change_callbacks(task, "on_failure_callback", context, logging.getLogger("task"))


def test_a_failed_retrain_fails_its_job_and_posts_the_failure_once(
    slack_factory_dag,
    sqlite_store,
    slack_double,  # noqa: F811
) -> None:
    job, _ = sqlite_store.start_job("m", dag_id="agentic_mlops__m", run_id="r1")
    retrain = slack_factory_dag.get_task("retrain")
    _run_failure_callbacks(retrain, _failure_context(retrain, RuntimeError("training crashed: OOM\nTraceback ...")))
    assert sqlite_store.get_job(job["id"])["status"] == "failed"  # the job-failing callback still ran
    [post] = slack_double.calls_to("chat.postMessage")
    assert post.args["channel"] == "C_ML"
    assert (
        "*Failed:* task `retrain` of run `r1` (DAG `agentic_mlops__m`, try 1): RuntimeError: training crashed: OOM"
        in (post.args["text"])
    )


def test_a_failed_approval_wait_cancels_its_request_and_posts_the_failure(
    slack_factory_dag,
    sqlite_store,
    slack_double,  # noqa: F811
) -> None:
    from airflow_provider_agentic_mlops.core.state import utcnow

    approval, _ = sqlite_store.request_approval(
        "m", "7", dag_id="agentic_mlops__m", run_id="r1", expires_at=utcnow().replace(year=utcnow().year + 1)
    )
    sensor = slack_factory_dag.get_task("wait_for_approval")
    _run_failure_callbacks(sensor, _failure_context(sensor, RuntimeError("state store unavailable")))
    assert sqlite_store.get_approval(approval["id"])["status"] == "cancelled"  # the approval-cancel callback ran
    [post] = slack_double.calls_to("chat.postMessage")
    assert "task `wait_for_approval`" in post.args["text"] and "state store unavailable" in post.args["text"]


def test_with_slack_down_the_tasks_own_callbacks_still_run_and_the_notice_only_warns(
    slack_factory_dag, sqlite_store, monkeypatch, caplog
) -> None:
    import json
    import logging

    from airflow_provider_agentic_mlops import approvals

    conn = {"conn_type": "slack", "password": "xoxb-test-token", "extra": {"base_url": "http://127.0.0.1:18448/api/"}}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_API_DEFAULT", json.dumps(conn))  # nothing listens there: refused
    approvals._clients.clear()
    job, _ = sqlite_store.start_job("m", dag_id="agentic_mlops__m", run_id="r1")
    retrain = slack_factory_dag.get_task("retrain")
    context = _failure_context(retrain, RuntimeError("training crashed"))
    with caplog.at_level(logging.WARNING):
        for callback in retrain.on_failure_callback:  # each returns: none raises over the task's own error
            assert callback(context) is None
    approvals._clients.clear()
    assert sqlite_store.get_job(job["id"])["status"] == "failed"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and "Slack" in r.getMessage()]
    assert any("C_ML" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_a_task_failing_before_decide_reads_no_xcom_of_decide(slack_factory_dag, slack_double) -> None:  # noqa: F811
    """Under Airflow each pull of an XCom never written is an ERROR ``XCom not found`` in the failed task's log (the
    execution API's 404): three of them after a check_drift failure buried its own error. decide runs after it."""
    from tests.doubles.airflow_task import TaskInstanceDouble

    class RecordingTI(TaskInstanceDouble):
        def xcom_pull(self, task_ids=None, key="return_value", **kwargs):
            pulled.append((task_ids, key))
            return super().xcom_pull(task_ids=task_ids, key=key, **kwargs)

    pulled: list = []
    check_drift = slack_factory_dag.get_task("check_drift")
    context = _failure_context(check_drift, RuntimeError("s3://bucket/cur.parquet: NoSuchKey"))
    context["ti"] = context["task_instance"] = RecordingTI(
        dag_id="agentic_mlops__m", run_id="r1", task_id="check_drift"
    )
    _run_failure_callbacks(check_drift, context)
    assert pulled == []
    [post] = slack_double.calls_to("chat.postMessage")
    assert "task `check_drift`" in post.args["text"] and "NoSuchKey" in post.args["text"]
    # a task after decide reads the decision it acted on
    validate = slack_factory_dag.get_task("validate")
    context = _failure_context(validate, RuntimeError("MLflow unreachable"))
    context["ti"] = context["task_instance"] = RecordingTI(dag_id="agentic_mlops__m", run_id="r1", task_id="validate")
    _run_failure_callbacks(validate, context)
    assert ("decide", "decision_id") in pulled


def test_a_failing_decide_reads_no_xcom_of_its_own(slack_factory_dag, slack_double) -> None:  # noqa: F811
    """decide pushes its XComs last: when it fails, none exists, and each pull would be an ERROR ``XCom not found``
    in its log after its own error."""
    from tests.doubles.airflow_task import TaskInstanceDouble

    class RecordingTI(TaskInstanceDouble):
        def xcom_pull(self, task_ids=None, key="return_value", **kwargs):
            pulled.append((task_ids, key))
            return super().xcom_pull(task_ids=task_ids, key=key, **kwargs)

    pulled: list = []
    decide = slack_factory_dag.get_task("decide")
    context = _failure_context(decide, RuntimeError("LLM answer invalid and rules unavailable"))
    context["ti"] = context["task_instance"] = RecordingTI(dag_id="agentic_mlops__m", run_id="r1", task_id="decide")
    _run_failure_callbacks(decide, context)
    assert pulled == []
    [post] = slack_double.calls_to("chat.postMessage")
    assert "task `decide`" in post.args["text"] and "LLM answer invalid" in post.args["text"]
