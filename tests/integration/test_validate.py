"""ValidateOperator against a real MLflow server (HTTP): real models scored on the same labelled data."""

from __future__ import annotations

import hashlib
import math
import uuid

import pandas as pd
import pytest

from tests.doubles.airflow_task import task_context
from tests.doubles.mlflow_server import LABEL, labelled_frame, register_tiny_classifier

DRIFT = {
    "dataset_drift": True,
    "drift_share": 0.75,
    "share_threshold": 0.5,
    "n_columns": 4,
    "n_drifted": 3,
    "top_drifted": [{"column": "f0", "score": 0.33, "method": "wasserstein", "threshold": 0.1}],
}


@pytest.fixture
def env(airflow_home, mlflow_server, monkeypatch, tmp_path):
    for conn_id in ("agentic_mlops_mlflow_registry", "agentic_mlops_mlflow_train", "agentic_mlops_mlflow_promote"):
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}", f'{{"conn_type": "agentic_mlops_mlflow", "host": "{mlflow_server}"}}'
        )
    data = tmp_path / "current.parquet"
    labelled_frame(400, seed=42).to_parquet(data)
    import mlflow

    return {
        "url": mlflow_server,
        "model": f"v-{uuid.uuid4().hex[:8]}",
        "data": str(data),
        "client": mlflow.MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server),
    }


def _op(env, **kwargs):
    from airflow_provider_agentic_mlops.operators.validate import ValidateOperator

    params = {"task_id": "validate", "model_name": env["model"], "validation_data": env["data"], "label_column": LABEL}
    params.update(kwargs)
    return ValidateOperator(**params)


def _ctx(challenger: dict):
    return task_context(
        xcoms={
            ("retrain", "return_value"): {"version": challenger["version"], "mlflow_run_id": challenger["run_id"]},
            ("check_drift", "return_value"): DRIFT,
            ("decide", "decision_id"): 11,
            ("decide", "action"): "retrain",
            ("decide", "rationale"): "f0 drifted beyond the threshold",
        }
    )


def _champion(env, quality):
    champion = register_tiny_classifier(env["url"], env["model"], quality=quality, seed=3)
    env["client"].set_registered_model_alias(env["model"], "champion", champion["version"])
    return champion


def _register(env, model, *, name: str | None = None) -> dict:
    """Log and register ``model`` (a fitted scikit-learn estimator, or a pyfunc ``PythonModel``)."""
    import mlflow

    from airflow_provider_agentic_mlops.demo.training import sklearn_pip_requirements

    name = name or env["model"]
    mlflow.set_tracking_uri(env["url"])
    mlflow.set_registry_uri(env["url"])
    mlflow.set_experiment(f"tests/{name}")
    flavor = mlflow.pyfunc if isinstance(model, mlflow.pyfunc.PythonModel) else mlflow.sklearn
    with mlflow.start_run() as run:
        kwargs = {"python_model": model} if flavor is mlflow.pyfunc else {"sk_model": model}
        info = flavor.log_model(
            name="model", registered_model_name=name, pip_requirements=sklearn_pip_requirements(), **kwargs
        )
    return {"version": str(info.registered_model_version), "run_id": run.info.run_id}


def _artifact(ctx, name):
    """The report file ``name`` (``report.md``) the validation in ``ctx`` wrote, beside the ``report_uri`` it pushed."""
    import mlflow

    folder = ctx["ti"].pushed["validation"]["report_uri"].rsplit("/", 1)[0]
    return mlflow.artifacts.load_text(f"{folder}/{name}")


def test_better_challenger_passes_and_its_report_is_logged_to_its_run(env):
    champion = _champion(env, "bad")
    challenger = register_tiny_classifier(env["url"], env["model"], quality="good")
    ctx = _ctx(challenger)

    branch = _op(env, min_absolute_improvement=0.05).choose_branch(ctx)

    assert branch == "wait_for_approval"
    summary = ctx["ti"].pushed["validation"]
    assert summary["passed"] is True
    assert summary["champion_version"] == champion["version"]
    assert summary["challenger_version"] == challenger["version"]
    assert summary["challenger_metrics"]["roc_auc"] > summary["champion_metrics"]["roc_auc"] + 0.05
    folder = f"agentic_mlops/validation/{summary['report_digest'][:12]}"
    assert summary["report_uri"] == f"runs:/{challenger['run_id']}/{folder}/report.html"
    assert summary["report_url"].startswith(env["url"]) and challenger["run_id"] in summary["report_url"]
    markdown = _artifact(ctx, "report.md")
    assert hashlib.sha256(markdown.encode()).hexdigest() == summary["report_digest"]
    assert "f0 drifted beyond the threshold" in markdown and "`f0`: wasserstein" in markdown
    html = _artifact(ctx, "report.html")
    assert summary["report_digest"] in html and "<table>" in html
    assert hashlib.sha256(html.encode()).hexdigest() == summary["report_html_digest"]  # promotion re-checks it
    tags = env["client"].get_model_version(env["model"], challenger["version"]).tags
    assert tags["agentic_mlops.validation"] == "passed"


def test_two_runs_validating_one_version_keep_their_own_reports(env, tmp_path):
    """Runs attached to one retraining job validate the same version, each on its own data: each report is
    written to a folder of its own in the challenger's run, so neither overwrites the one the other's approval
    binds (and links to)."""
    import mlflow

    _champion(env, "bad")
    challenger = register_tiny_classifier(env["url"], env["model"], quality="good")
    summaries = []
    for seed in (7, 8):
        data = tmp_path / f"window-{seed}.parquet"
        labelled_frame(300, seed=seed).to_parquet(data)
        ctx = _ctx(challenger)
        _op(env, validation_data=str(data)).choose_branch(ctx)
        summaries.append(ctx["ti"].pushed["validation"])

    first, second = summaries
    assert first["report_digest"] != second["report_digest"]
    assert first["report_uri"] != second["report_uri"]
    for summary in summaries:
        folder = f"runs:/{challenger['run_id']}/agentic_mlops/validation/{summary['report_digest'][:12]}"
        assert summary["report_uri"] == f"{folder}/report.html"
        html = mlflow.artifacts.load_text(summary["report_uri"])
        assert hashlib.sha256(html.encode()).hexdigest() == summary["report_html_digest"]
        markdown = mlflow.artifacts.load_text(f"{folder}/report.md")
        assert hashlib.sha256(markdown.encode()).hexdigest() == summary["report_digest"]


def test_worse_challenger_is_rejected_without_approval_and_the_reason_is_recorded(env, airflow_home):
    _champion(env, "good")
    challenger = register_tiny_classifier(env["url"], env["model"], quality="bad")
    ctx = _ctx(challenger)

    assert _op(env).choose_branch(ctx) == "rejected"

    summary = ctx["ti"].pushed["validation"]
    assert summary["passed"] is False
    assert summary["reasons"][0].startswith("FAILED primary: roc_auc")
    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    entry = StateStoreHook().get_store().audit_trail(env["model"])[0]
    assert entry["action"] == "validation_rejected" and entry["subject"] == f"version:{challenger['version']}"
    ti = ctx["ti"]  # whose row it is: the UI shows it, and serves its report, to readers of this DAG only
    assert (entry["details"]["dag_id"], entry["details"]["run_id"]) == (ti.dag_id, ti.run_id)
    assert "REJECTED" in _artifact(ctx, "report.md")
    tags = env["client"].get_model_version(env["model"], challenger["version"]).tags
    assert tags["agentic_mlops.validation"] == "rejected"


def test_equal_challenger_passes_a_zero_tolerance_guard_but_not_a_minimum_improvement(env):
    _champion(env, "good")
    challenger = register_tiny_classifier(env["url"], env["model"], quality="good", seed=3)  # same as champion
    ctx = _ctx(challenger)
    assert _op(env, guard_metrics={"recall": 0.0}).choose_branch(ctx) == "wait_for_approval"  # equal: no regression
    assert _op(env, min_absolute_improvement=0.01).choose_branch(ctx) == "rejected"  # equal is not an improvement


def test_a_challenger_that_is_the_champion_fails_the_task_instead_of_passing_against_itself(env):
    champion = _champion(env, "good")
    ctx = _ctx(champion)

    with pytest.raises(ValueError, match=f"the challenger v{champion['version']} .* is the champion"):
        _op(env).choose_branch(ctx)

    assert not ctx["ti"].pushed.get("validation")  # no summary: nothing to approve
    assert "agentic_mlops.validation" not in env["client"].get_model_version(env["model"], champion["version"]).tags


def test_first_version_without_champion_is_judged_on_floors(env, tmp_path):
    good = register_tiny_classifier(env["url"], env["model"], quality="good")
    assert _op(env, floors={"roc_auc": 0.8}).choose_branch(_ctx(good)) == "wait_for_approval"
    bad = register_tiny_classifier(env["url"], env["model"], quality="bad")
    ctx = _ctx(bad)
    assert _op(env, floors={"roc_auc": 0.8}).choose_branch(ctx) == "rejected"
    assert ctx["ti"].pushed["validation"]["champion_version"] is None
    assert ctx["ti"].pushed["validation"]["reasons"][0].startswith("FAILED floor: roc_auc")


@pytest.mark.parametrize("trace", ["previous_champion", "promotion"])
def test_a_champion_whose_version_was_deleted_rejects_saying_the_alias_vanished(env, airflow_home, trace):
    # deleting the champion's version deletes its alias: the challenger was judged as a first model, on floors
    champion = _champion(env, "good")
    if trace == "previous_champion":
        older = register_tiny_classifier(env["url"], env["model"], quality="good", seed=4)
        env["client"].set_registered_model_alias(env["model"], "previous_champion", older["version"])
    else:
        from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

        StateStoreHook().get_store().audit("promoted", actor="alice", model_name=env["model"], subject="version:1")
    env["client"].delete_model_version(env["model"], champion["version"])
    challenger = register_tiny_classifier(env["url"], env["model"], quality="good")
    ctx = _ctx(challenger)

    assert _op(env, floors={"roc_auc": 0.5}).choose_branch(ctx) == "rejected"
    (reason,) = ctx["ti"].pushed["validation"]["reasons"]
    assert "alias 'champion' vanished" in reason and env["model"] in reason


def test_a_hand_set_champion_whose_version_was_deleted_is_named_not_called_a_first_model(env):
    """The alias was set by hand (no previous_champion, nothing in the state store) and its version deleted: floors
    only, as for a first model, but the report says versions exist and which alias to set."""
    champion = _champion(env, "good")
    other = register_tiny_classifier(env["url"], env["model"], quality="good", seed=4)
    env["client"].delete_model_version(env["model"], champion["version"])
    challenger = register_tiny_classifier(env["url"], env["model"], quality="good")
    ctx = _ctx(challenger)

    assert _op(env).choose_branch(ctx) == "wait_for_approval"
    [reason] = [r for r in ctx["ti"].pushed["validation"]["reasons"] if "champion" in r]
    assert "no champion yet" not in reason
    assert f"no `champion` alias: version {other['version']} exists" in reason
    assert f"set_registered_model_alias('{env['model']}', 'champion', <version>)" in reason
    assert "no 'champion' alias" in _artifact(ctx, "report.md")


def test_a_champion_alias_deleted_by_hand_after_a_promotion_rejects_naming_the_version_to_restore(env, airflow_home):
    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    champion = _champion(env, "good")
    subject = f"version:{champion['version']}"
    StateStoreHook().get_store().audit("promoted", actor="alice", model_name=env["model"], subject=subject)
    env["client"].delete_registered_model_alias(env["model"], "champion")  # the version stays
    challenger = register_tiny_classifier(env["url"], env["model"], quality="good")
    ctx = _ctx(challenger)

    assert _op(env).choose_branch(ctx) == "rejected"  # not judged as a first model
    (reason,) = ctx["ti"].pushed["validation"]["reasons"]
    assert "no alias 'champion'" in reason and f"promotion (v{champion['version']} by alice)" in reason
    assert f"set_registered_model_alias('{env['model']}', 'champion', '{champion['version']}')" in reason


def test_too_few_labelled_rows_reject_the_challenger_naming_the_counts_and_the_setting(env, tmp_path):
    _champion(env, "bad")
    challenger = register_tiny_classifier(env["url"], env["model"], quality="good")
    frame = labelled_frame(300, seed=42)
    frame[LABEL] = frame[LABEL].astype("float64")
    frame.loc[frame.index[6:], LABEL] = math.nan  # 6 labelled of 300
    data = tmp_path / "few_labels.parquet"
    frame.to_parquet(data)
    ctx = _ctx(challenger)

    assert _op(env, validation_data=str(data), min_absolute_improvement=0.01).choose_branch(ctx) == "rejected"

    reasons = ctx["ti"].pushed["validation"]["reasons"]
    assert reasons[0].startswith("FAILED rows: 6 labelled of 300 rows")
    assert "validation.min_rows 30" in reasons[0]
    markdown = _artifact(ctx, "report.md")
    assert "6 labelled of 300 rows" in markdown


def test_enough_labelled_rows_are_reported_as_labelled_of_all_rows(env, tmp_path):
    _champion(env, "bad")
    challenger = register_tiny_classifier(env["url"], env["model"], quality="good")
    frame = labelled_frame(400, seed=42)
    frame[LABEL] = frame[LABEL].astype("float64")
    frame.loc[frame.index[:100], LABEL] = math.nan
    data = tmp_path / "some_labels.parquet"
    frame.to_parquet(data)
    ctx = _ctx(challenger)

    assert _op(env, validation_data=str(data), min_rows=300).choose_branch(ctx) == "wait_for_approval"

    assert "300 labelled of 400 rows" in _artifact(ctx, "report.md")
    assert "300 labelled of 400 rows" in _artifact(ctx, "report.html")


def test_csv_validation_data_and_explicit_feature_columns(env, tmp_path):
    csv = tmp_path / "current.csv"
    labelled_frame(300, seed=9).to_csv(csv, index=False)
    challenger = register_tiny_classifier(env["url"], env["model"])
    ctx = _ctx(challenger)
    _op(env, validation_data=str(csv), feature_columns=["f0", "f1", "f2", "f3"]).choose_branch(ctx)
    assert ctx["ti"].pushed["validation"]["challenger_metrics"]["accuracy"] > 0.7


def test_module_function_validation_data_is_imported_and_called(env, tmp_path, monkeypatch):
    # models.yaml's `module:function` data source (validation.data, or drift.current by default)
    (tmp_path / "validation_exports.py").write_text(
        "from tests.doubles.mlflow_server import labelled_frame\n"
        "def labelled():\n    return labelled_frame(300, seed=9)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    challenger = register_tiny_classifier(env["url"], env["model"])
    ctx = _ctx(challenger)
    _op(env, validation_data="validation_exports:labelled").choose_branch(ctx)
    assert ctx["ti"].pushed["validation"]["challenger_metrics"]["accuracy"] > 0.7


def test_without_feature_columns_or_signature_the_excluded_columns_are_not_fed_to_the_model(env, tmp_path):
    # the current data carries its timestamp and the production predictions; the model has no signature
    data = tmp_path / "current_with_extras.parquet"
    frame = labelled_frame(300, seed=9)
    frame["ts"], frame["score"] = pd.date_range("2026-11-01", periods=len(frame), freq="h"), 0.5
    frame.to_parquet(data)
    challenger = register_tiny_classifier(env["url"], env["model"])
    ctx = _ctx(challenger)
    _op(env, validation_data=str(data), exclude_columns=["ts", "score"]).choose_branch(ctx)
    assert ctx["ti"].pushed["validation"]["challenger_metrics"]["accuracy"] > 0.7


def test_without_a_signature_the_columns_the_model_was_fitted_on_are_fed_to_it_not_every_column(env, tmp_path):
    # the drift check reads a scikit-learn model's feature_names_in_; validation reads them too, so an id column
    # in the window (not excluded) is not fed to the model ("Feature names unseen at fit time")
    data = tmp_path / "current_with_id.parquet"
    frame = labelled_frame(300, seed=9)
    frame.insert(0, "customer_id", range(len(frame)))
    frame.to_parquet(data)
    challenger = register_tiny_classifier(env["url"], env["model"])
    ctx = _ctx(challenger)
    _op(env, validation_data=str(data)).choose_branch(ctx)
    assert ctx["ti"].pushed["validation"]["challenger_metrics"]["accuracy"] > 0.7


def test_missing_label_column_is_named_with_the_fix(env):
    challenger = register_tiny_classifier(env["url"], env["model"])
    with pytest.raises(ValueError, match="label column 'is_fraud' is not in the validation data"):
        _op(env, label_column="is_fraud").choose_branch(_ctx(challenger))


def test_missing_feature_column_is_named(env, tmp_path):
    data = tmp_path / "partial.parquet"
    labelled_frame(100).drop(columns=["f3"]).to_parquet(data)
    challenger = register_tiny_classifier(env["url"], env["model"])
    with pytest.raises(ValueError, match=rf"the challenger v{challenger['version']} needs columns \['f3'\]"):
        _op(env, validation_data=str(data), feature_columns=["f0", "f1", "f2", "f3"]).choose_branch(_ctx(challenger))


def test_read_only_connection_cannot_write_the_report(env):
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowAccessError

    challenger = register_tiny_classifier(env["url"], env["model"])
    with pytest.raises(MlflowAccessError):
        _op(env, mlflow_conn_id="agentic_mlops_mlflow_registry").choose_branch(_ctx(challenger))


def test_default_primary_metric_follows_the_task_and_unknown_metric_names_are_refused_when_built():
    from airflow_provider_agentic_mlops.operators.validate import ValidateOperator

    params = {"task_id": "validate", "model_name": "demand", "validation_data": "v.parquet", "label_column": "y"}
    assert ValidateOperator(**params, task="regression").gates.primary_metric == "rmse"
    assert ValidateOperator(**params, task="classification").gates.primary_metric == "roc_auc"
    with pytest.raises(ValueError, match=r"model 'demand'.*primary_metric 'auc'.*roc_auc"):
        ValidateOperator(**params, primary_metric="auc")
    with pytest.raises(ValueError, match=r"model 'demand'.*floors 'roc_auc'.*a regression model.*rmse"):
        ValidateOperator(**params, task="regression", floors={"roc_auc": 0.7})


@pytest.mark.parametrize("counts", [False, True], ids=["fractional-labels", "whole-number-counts"])
def test_regression_model_without_task_or_metric_is_gated_on_rmse(env, tmp_path, counts: bool):
    """Fractional labels tell the task; counts 0-10, which the labels alone read as classes, are told by the
    regressor's fractional predictions."""
    import numpy as np
    from sklearn.linear_model import LinearRegression

    frame = labelled_frame(300, seed=5)
    frame[LABEL] = 3 * frame["f0"] - frame["f1"] + np.random.default_rng(5).normal(scale=0.3, size=len(frame))
    if counts:
        frame[LABEL] = (5 + frame[LABEL]).round().clip(0, 10).astype("int64")
    data = tmp_path / "units.parquet"
    frame.to_parquet(data)
    features = ["f0", "f1", "f2", "f3"]
    champion = _register(env, LinearRegression().fit(frame[["f0"]].assign(f1=0, f2=0, f3=0)[features], frame[LABEL]))
    env["client"].set_registered_model_alias(env["model"], "champion", champion["version"])
    challenger = _register(env, LinearRegression().fit(frame[features], frame[LABEL]))
    ctx = _ctx(challenger)

    assert _op(env, validation_data=str(data)).choose_branch(ctx) == "wait_for_approval"

    summary = ctx["ti"].pushed["validation"]
    assert summary["primary_metric"] == "rmse"
    assert summary["challenger_metrics"]["rmse"] < summary["champion_metrics"]["rmse"]


# -- what models return -----------------------------------------------------------------------------


def _pyfunc(predict):
    """A pyfunc model whose predict is ``predict(model_input)``."""
    import mlflow.pyfunc

    class Model(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return predict(model_input)

    return Model()


def _sigmoid(frame):
    import numpy as np

    return 1 / (1 + np.exp(-4 * frame["f0"].to_numpy()))


def _binary_data(tmp_path, name, labels=(0, 1)):
    import numpy as np

    frame = labelled_frame(300, seed=8)
    frame[LABEL] = np.where(frame["f0"] > 0, labels[1], labels[0])
    path = tmp_path / f"{name}.parquet"
    frame.to_parquet(path)
    return str(path)


def _half_the_fraud(frame):
    import numpy as np

    return np.where((frame["f0"] > 0) | (frame["f1"] > 0), "legit", "fraud")


@pytest.mark.parametrize(("positive_label", "recall"), [("fraud", "about half"), (None, 1.0)])
def test_positive_label_is_the_class_recall_measures_and_the_report_names_it(env, tmp_path, positive_label, recall):
    """Labels fraud/legit: the greater class, legit, is positive unless validation.positive_label says fraud."""
    data = _binary_data(tmp_path, "fraud", labels=("fraud", "legit"))
    challenger = _register(env, _pyfunc(_half_the_fraud))  # every legit row right, half the fraud missed
    ctx = _ctx(challenger)

    branch = _op(env, validation_data=data, floors={"recall": 0.9}, positive_label=positive_label).choose_branch(ctx)

    measured = ctx["ti"].pushed["validation"]["challenger_metrics"]["recall"]
    if recall == 1.0:
        assert (branch, measured) == ("wait_for_approval", 1.0)
    else:
        assert branch == "rejected" and 0.3 < measured < 0.7
    named = "fraud" if positive_label else "legit"
    assert f"positive class {named!r}" in _artifact(ctx, "report.md")


def test_pyfunc_returning_a_one_column_frame_of_labels_is_scored_on_those_labels(env, tmp_path):
    import pandas as pd

    model = _pyfunc(lambda x: pd.DataFrame({"prediction": (x["f0"] > 0).astype(int)}))  # a perfect classifier
    ctx = _ctx(_register(env, model))
    _op(env, validation_data=_binary_data(tmp_path, "v1"), primary_metric="accuracy").choose_branch(ctx)
    assert ctx["ti"].pushed["validation"]["challenger_metrics"]["accuracy"] == 1.0


def test_pyfunc_returning_the_positive_class_probability_is_scored_on_labels_and_scores(env, tmp_path):
    ctx = _ctx(_register(env, _pyfunc(_sigmoid)))
    _op(env, validation_data=_binary_data(tmp_path, "v2a")).choose_branch(ctx)
    metrics = ctx["ti"].pushed["validation"]["challenger_metrics"]
    assert metrics["accuracy"] == 1.0 and metrics["roc_auc"] == 1.0


def test_pyfunc_returning_a_probability_per_named_class_predicts_the_class_names(env, tmp_path):
    import pandas as pd

    model = _pyfunc(lambda x: pd.DataFrame({"no": 1 - _sigmoid(x), "yes": _sigmoid(x)}))
    ctx = _ctx(_register(env, model))
    _op(env, validation_data=_binary_data(tmp_path, "v2b", labels=("no", "yes"))).choose_branch(ctx)
    metrics = ctx["ti"].pushed["validation"]["challenger_metrics"]
    assert metrics["accuracy"] == 1.0 and metrics["roc_auc"] == 1.0


def test_multiclass_champion_and_challenger_are_compared_over_the_same_classes(env, tmp_path):
    import numpy as np

    frame = labelled_frame(100, seed=4)
    frame[LABEL] = np.repeat([1, 2], 50)  # classes 1 and 2 in this window; the models know 0, 1 and 2
    frame["champion_says"] = frame[LABEL].where(frame.index != 0, 0)  # 99 of 100 right, once class 0
    frame["challenger_says"] = frame[LABEL].where(frame.index >= 20, 2)  # 80 of 100 right
    data = tmp_path / "multiclass.parquet"
    frame.to_parquet(data)
    champion = _register(env, _pyfunc(lambda x: x["champion_says"].to_numpy()))
    env["client"].set_registered_model_alias(env["model"], "champion", champion["version"])
    ctx = _ctx(_register(env, _pyfunc(lambda x: x["challenger_says"].to_numpy())))

    branch = _op(env, validation_data=str(data), primary_metric="f1").choose_branch(ctx)

    summary = ctx["ti"].pushed["validation"]
    assert summary["champion_metrics"]["f1"] > summary["challenger_metrics"]["f1"]
    assert branch == "rejected"


def test_multiclass_window_missing_a_class_or_with_an_unseen_one_is_scored_not_a_crash(env, tmp_path):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    frame = labelled_frame(600, seed=2)
    y = np.digitize(frame["f0"], [-1.0, 1.0])  # classes 0, 1, 2
    features = ["f0", "f1", "f2", "f3"]
    window = frame.assign(**{LABEL: y})
    absent = tmp_path / "absent.parquet"
    window[window[LABEL] > 0].to_parquet(absent)  # class 0 absent this week
    ctx = _ctx(_register(env, LogisticRegression(max_iter=500).fit(frame[features], y)))
    assert _op(env, validation_data=str(absent), primary_metric="f1", floors={"f1": 0.5}).choose_branch(ctx) == (
        "wait_for_approval"
    )
    # roc_auc over the classes present (one-vs-rest, class 0 left out), no longer undefined for the absent one
    assert 0.5 < ctx["ti"].pushed["validation"]["challenger_metrics"]["roc_auc"] <= 1.0

    unseen = tmp_path / "unseen.parquet"
    window.to_parquet(unseen)  # class 2 never seen by a binary model
    binary = LogisticRegression(max_iter=500).fit(frame[features][y < 2], y[y < 2])
    ctx = _ctx(_register(env, binary, name=f"{env['model']}-b"))
    _op(env, model_name=f"{env['model']}-b", validation_data=str(unseen), primary_metric="accuracy").choose_branch(ctx)
    assert ctx["ti"].pushed["validation"]["challenger_metrics"]["accuracy"] > 0.5


def test_a_class_the_champion_never_saw_rejects_naming_the_cause_and_the_fix(env, tmp_path, airflow_home):
    """A new class appears (the drift a retrain is for): the champion gives it no probability, so roc_auc (the
    default primary metric) is undefined for it. The challenger is rejected (fail closed), and the report, the
    XCom and the audit trail say why and what to change; with that change the versions are compared."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    frame = labelled_frame(600, seed=6)
    features = ["f0", "f1", "f2", "f3"]
    three = np.digitize(frame["f0"], [-0.4, 0.4])  # classes 0, 1, 2
    champion = _register(env, LogisticRegression(max_iter=500).fit(frame[features], (frame["f0"] > 0).astype(int)))
    env["client"].set_registered_model_alias(env["model"], "champion", champion["version"])
    challenger = _register(env, LogisticRegression(max_iter=500).fit(frame[features], three))
    data = tmp_path / "new_class.parquet"
    frame.assign(**{LABEL: three}).to_parquet(data)
    ctx = _ctx(challenger)

    assert _op(env, validation_data=str(data)).choose_branch(ctx) == "rejected"

    [reason] = [r for r in ctx["ti"].pushed["validation"]["reasons"] if r.startswith("FAILED")]
    assert f"roc_auc: undefined for the champion v{champion['version']}" in reason
    assert "labels hold classes [2] the model gives no probability for (its classes: [0, 1])" in reason
    assert "set validation.primary_metric to f1 or accuracy" in reason
    assert reason in _artifact(ctx, "report.md")
    entry = StateStoreHook().get_store().audit_trail(env["model"])[0]
    assert entry["action"] == "validation_rejected" and reason in entry["details"]["reasons"]

    ctx = _ctx(challenger)
    assert _op(env, validation_data=str(data), primary_metric="f1").choose_branch(ctx) == "wait_for_approval"


def _nan_where_f1_is_missing(frame):
    """A regressor that outputs NaN for rows whose f1 is missing (as one that cannot handle a missing input)."""
    return (3 * frame["f0"] - frame["f1"]).to_numpy()


@pytest.mark.parametrize("broken", ["challenger", "champion"])
def test_predictions_holding_nan_reject_the_challenger_naming_the_version_and_the_count(env, tmp_path, broken):
    import numpy as np

    frame = labelled_frame(300, seed=5)
    frame[LABEL] = 3 * frame["f0"] - frame["f1"] + np.random.default_rng(5).normal(scale=0.3, size=len(frame))
    frame.loc[frame.index[:7], "f1"] = np.nan  # seven rows miss f1
    data = tmp_path / "units.parquet"
    frame.to_parquet(data)
    healthy = _pyfunc(lambda x: (3 * x["f0"] - x["f1"].fillna(0)).to_numpy())
    champion = _register(env, _pyfunc(_nan_where_f1_is_missing) if broken == "champion" else healthy)
    env["client"].set_registered_model_alias(env["model"], "champion", champion["version"])
    challenger = _register(env, _pyfunc(_nan_where_f1_is_missing) if broken == "challenger" else healthy)
    ctx = _ctx(challenger)

    assert _op(env, validation_data=str(data), task="regression").choose_branch(ctx) == "rejected"

    version = challenger["version"] if broken == "challenger" else champion["version"]
    [reason] = [r for r in ctx["ti"].pushed["validation"]["reasons"] if r.startswith("FAILED")]
    assert reason.startswith(f"FAILED predictions: the {broken} v{version} cannot be scored")
    assert f"v{version}'s predictions hold NaN for 7 of 300 rows" in reason
    assert reason in _artifact(ctx, "report.md")


def test_a_classifier_scoring_nan_is_rejected_and_the_champions_classes_stay_its_own(env, tmp_path):
    """NaN probabilities reject the challenger the same way; its NaN is no class the champion is scored over."""
    import numpy as np

    data = _binary_data(tmp_path, "nan_scores")
    champion = _register(env, _pyfunc(_sigmoid))
    env["client"].set_registered_model_alias(env["model"], "champion", champion["version"])
    challenger = _register(env, _pyfunc(lambda x: np.where(x["f1"] > 1.5, np.nan, _sigmoid(x))))
    ctx = _ctx(challenger)

    assert _op(env, validation_data=data).choose_branch(ctx) == "rejected"

    summary = ctx["ti"].pushed["validation"]
    [reason] = [r for r in summary["reasons"] if r.startswith("FAILED")]
    assert f"the challenger v{challenger['version']} cannot be scored" in reason and "hold NaN for" in reason
    assert summary["champion_metrics"]["accuracy"] == 1.0 and summary["champion_metrics"]["f1"] == 1.0


def _delete_model_files(env, version):
    """Delete the artifacts of ``version`` from the artifact store; the registered version stays."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    source = env["client"].get_model_version_download_uri(env["model"], version)
    get_artifact_repository(source).delete_artifacts()


def test_a_champion_whose_model_files_are_gone_rejects_naming_the_version_and_the_fix(env, airflow_home):
    champion = _champion(env, "good")
    _delete_model_files(env, champion["version"])
    challenger = register_tiny_classifier(env["url"], env["model"], quality="good")
    ctx = _ctx(challenger)

    assert _op(env).choose_branch(ctx) == "rejected"
    (reason,) = ctx["ti"].pushed["validation"]["reasons"]
    assert f"champion v{champion['version']}" in reason and env["model"] in reason
    assert "cannot be loaded" in reason and f"rollback {env['model']}" in reason and "404" in reason


def _needs_text_amount(frame):
    """A model that raises on the validation data, as one fed a column of another dtype than it was trained on."""
    raise TypeError("column 'f0' must be text, got float64")


@pytest.mark.parametrize("broken", ["challenger", "champion"])
def test_a_model_whose_predict_raises_names_champion_or_challenger_and_its_version(env, tmp_path, broken):
    data = _binary_data(tmp_path, "raises")
    healthy = _pyfunc(_sigmoid)
    champion = _register(env, _pyfunc(_needs_text_amount) if broken == "champion" else healthy)
    env["client"].set_registered_model_alias(env["model"], "champion", champion["version"])
    challenger = _register(env, _pyfunc(_needs_text_amount) if broken == "challenger" else healthy)
    version = challenger["version"] if broken == "challenger" else champion["version"]

    with pytest.raises(ValueError, match=rf"the {broken} v{version} .*could not predict") as raised:
        _op(env, validation_data=data).choose_branch(_ctx(challenger))
    assert env["model"] in str(raised.value) and "column 'f0' must be text" in str(raised.value)


# -- MLflow failing while the champion loads (a real server behind a fault proxy) -----------------


@pytest.fixture
def proxied(env, monkeypatch):
    """``env`` with the connections pointed at a fault proxy in front of the server, and MLflow's HTTP retries off
    (a 503 or 429 is then MLflow's "too many 503 error responses" at once, instead of minutes of backoff)."""
    from tests.doubles.mlflow_fault_proxy import mlflow_fault_proxy

    with mlflow_fault_proxy(env["url"]) as proxy:
        for conn_id in ("agentic_mlops_mlflow_registry", "agentic_mlops_mlflow_train", "agentic_mlops_mlflow_promote"):
            monkeypatch.setenv(
                f"AIRFLOW_CONN_{conn_id.upper()}", f'{{"conn_type": "agentic_mlops_mlflow", "host": "{proxy.url}"}}'
            )
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        yield {**env, "proxy": proxy}


def _fail_loading(proxied, version: str, fault) -> None:
    """The proxy answers ``fault`` to every request about ``version`` of the model (loading it), and to any request
    after the first of those."""
    import re

    about = re.compile(rf"[?&]version={version}(&|$)")

    def answer(_method: str, path: str):
        return fault if proxied["proxy"].faulted or about.search(path) else None

    proxied["proxy"].fault = answer


def _nothing_recorded(proxied, ctx) -> None:
    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    assert not ctx["ti"].pushed.get("validation")  # no verdict
    assert [e["action"] for e in StateStoreHook().get_store().audit_trail(proxied["model"])] == []


@pytest.mark.parametrize("status", [503, 429])
def test_mlflow_busy_while_loading_the_champion_fails_the_task_for_a_retry_not_a_rejection(
    proxied, airflow_home, status
):
    """MLflow's 503/429 surfaces as a RetryError under an MlflowException ("too many 503 error responses"): the
    champion is not unloadable, MLflow is busy. The challenger was rejected for good, as if v1's files were gone."""
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowUnavailable
    from airflow_provider_agentic_mlops.version_compat import AirflowFailException

    champion = _champion(proxied, "good")
    challenger = register_tiny_classifier(proxied["url"], proxied["model"], quality="good")
    ctx = _ctx(challenger)
    _fail_loading(proxied, champion["version"], status)

    with pytest.raises(MlflowUnavailable) as raised:
        _op(proxied).choose_branch(ctx)

    message = str(raised.value)
    assert proxied["proxy"].faulted and not isinstance(raised.value, AirflowFailException)  # Airflow retries it
    assert f"models:/{proxied['model']}/{champion['version']}" in message and "could not be reached" in message
    assert "agentic_mlops_mlflow_train" in message and f"HTTP {status} until MLflow's retries" in message
    assert "cannot be loaded" not in message and "dtypes" not in message
    _nothing_recorded(proxied, ctx)


def test_mlflow_down_while_loading_the_champion_is_raised_as_unreachable_not_as_a_predict_error(proxied, airflow_home):
    """The champion's load failing on a dropped connection was wrapped as "could not predict the validation data ...
    Check the columns and dtypes": the hook's unreachable error is raised unchanged."""
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowUnavailable

    champion = _champion(proxied, "good")
    challenger = register_tiny_classifier(proxied["url"], proxied["model"], quality="good")
    ctx = _ctx(challenger)
    _fail_loading(proxied, champion["version"], "down")

    with pytest.raises(MlflowUnavailable, match="could not be reached") as raised:
        _op(proxied).choose_branch(ctx)
    assert "dtypes" not in str(raised.value) and "could not predict" not in str(raised.value)
    _nothing_recorded(proxied, ctx)


@pytest.mark.parametrize(("status", "said"), [(403, "PERMISSION_DENIED"), (401, "UNAUTHENTICATED")])
def test_mlflow_refusing_the_connection_while_loading_the_champion_fails_the_task_naming_the_permission(
    proxied, airflow_home, status, said
):
    """A 403 (or 401) is the connection's fault, not the champion's: the challenger was rejected saying v1 "cannot
    be loaded ... restore its files". The task fails without retries (the same credentials are refused again)."""
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowPermissionDenied
    from airflow_provider_agentic_mlops.version_compat import AirflowFailException

    champion = _champion(proxied, "good")
    challenger = register_tiny_classifier(proxied["url"], proxied["model"], quality="good")
    ctx = _ctx(challenger)
    _fail_loading(proxied, champion["version"], status)

    with pytest.raises(MlflowPermissionDenied) as raised:
        _op(proxied).choose_branch(ctx)

    message = str(raised.value)
    assert isinstance(raised.value, AirflowFailException)
    assert "'agentic_mlops_mlflow_train'" in message and said in message
    assert f"READ on the registered model {proxied['model']!r}" in message
    assert "cannot be loaded" not in message and "dtypes" not in message
    _nothing_recorded(proxied, ctx)
