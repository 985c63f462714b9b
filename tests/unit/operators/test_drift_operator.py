"""DriftCheckOperator.execute in-process on real files: summary, report, XCom, window, errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, time, timezone
from decimal import Decimal
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest

from airflow_provider_agentic_mlops.demo.training import sklearn_pip_requirements
from airflow_provider_agentic_mlops.operators.drift import DriftCheckOperator, DriftReportLink
from tests.doubles.airflow_task import TaskInstanceDouble, extra_link

END = datetime(2024, 5, 8, tzinfo=timezone.utc)


def make_frames(n: int = 3000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {
            "amount": rng.normal(100, 10, n),
            "country": rng.choice(["fr", "de", "it"], n),
            "label": rng.integers(0, 2, n),
        }
    )
    current = pd.DataFrame(
        {
            "amount": rng.normal(130, 10, n),
            "country": rng.choice(["fr", "de", "it"], n),
            "label": rng.integers(0, 2, n),
        }
    )
    reference["score"] = np.clip(reference["label"] * 0.5 + rng.random(n) * 0.5, 0, 1)
    current["score"] = rng.random(n)
    return reference, current


def context(ti: mock.MagicMock | None = None) -> dict:
    return {"ti": ti or mock.MagicMock(), "run_id": "scheduled__2024-05-08T00:00:00+00:00", "data_interval_end": END}


pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_execute_returns_the_summary_and_saves_the_report_under_the_prefix(tmp_path: Path, fmt: str) -> None:
    reference, current = make_frames()
    ref_path, cur_path = tmp_path / f"ref.{fmt}", tmp_path / f"cur.{fmt}"
    if fmt == "csv":
        reference.to_csv(ref_path, index=False)
        current.to_csv(cur_path, index=False)
    else:
        reference.to_parquet(ref_path)
        current.to_parquet(cur_path)
    ti = mock.MagicMock()
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="fraud-detector",
        reference=str(ref_path),
        current=cur_path.as_uri(),
        label_column="label",
        prediction_column="score",
        report_prefix=str(tmp_path / "reports"),
        report_sample_rows=1000,
    )

    result = op.execute(context(ti))

    assert len(json.dumps(result)) <= 10_000
    assert result["n_columns"] == 4
    assert result["columns"]["amount"] == {
        "score": pytest.approx(3.0, rel=0.1),
        "method": "wasserstein",
        "threshold": 0.1,
        "drifted": True,
        "type": "num",
    }
    assert result["columns"]["country"]["drifted"] is False
    assert result["top_drifted"][0]["column"] == "amount"
    assert (result["n_reference"], result["n_current"]) == (3000, 3000)
    assert set(result["quality"]) == {"accuracy", "f1", "roc_auc"}
    assert result["quality"]["roc_auc"]["reference"] > 0.9
    report_uri = result["report_uri"]
    assert ti.xcom_push.call_args_list == [  # none first: a failed try's link finds no report
        mock.call(key="report_uri", value=""),
        mock.call(key="report_uri", value=report_uri),
    ]
    html = Path(report_uri.removeprefix("file://"))
    assert html.parent.parent.name == "fraud-detector"
    assert html.parent.name.startswith("scheduled__2024-05-08T00_00_00_00_00__")
    assert "random sample of 1,000 of 3,000 reference rows" in html.read_text()
    assert {p.name for p in html.parent.iterdir()} == {"drift_report.html", "drift_report.json", "drift_summary.json"}


def _last_week(reference: pd.DataFrame, current: pd.DataFrame, tmp_path: Path) -> DriftCheckOperator:
    """A check of the current rows whose ``event_time`` is within the 7 days before END."""
    return DriftCheckOperator(
        task_id="check_drift",
        model_name="fraud-detector",
        reference=lambda: reference,
        current=lambda: current,
        exclude_columns=["label", "score"],
        timestamp_column="event_time",
        current_window="7d",
        report_prefix=str(tmp_path),
        report_sample_rows=500,
    )


def test_callables_and_current_window(tmp_path: Path) -> None:
    reference, current = make_frames(2000)
    current["event_time"] = END - pd.to_timedelta(np.arange(2000), unit="h")  # ~83 days back
    result = _last_week(reference, current, tmp_path).execute(context())

    assert result["n_current"] == 7 * 24  # (end - 7d, end]
    assert set(result["columns"]) == {"amount", "country"}


def test_epoch_second_timestamps_select_the_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # epoch seconds used to be read as nanoseconds (January 1970): every row fell before the window
    reference, current = make_frames(2000)
    current["event_time"] = (END - pd.to_timedelta(np.arange(2000), unit="h")).astype("datetime64[ns, UTC]")
    current["event_time"] = current["event_time"].astype("int64") // 10**9
    result = _last_week(reference, current, tmp_path).execute(context())

    assert result["n_current"] == 7 * 24
    log = capsys.readouterr().out  # the task log
    assert "timestamp column 'event_time' holds numbers: read as seconds since 1970" in log


def test_an_empty_current_window_is_insufficient_data_not_a_failed_task(tmp_path: Path) -> None:
    # No rows in the last day (a night, a paused feed): the check used to fail (and be retried),
    # while a window of 5 rows ended in no_action, "insufficient data".
    from airflow_provider_agentic_mlops.core.config import DecisionConfig
    from airflow_provider_agentic_mlops.core.decision import ModelHistory, decide

    reference, current = make_frames(1000)
    current["event_time"] = END - pd.Timedelta(days=3)  # every row before the window
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="fraud-detector",
        reference=lambda: reference,
        current=lambda: current,
        label_column="label",
        prediction_column="score",
        timestamp_column="event_time",
        current_window="1d",
        report_prefix=str(tmp_path),
        report_sample_rows=500,
    )

    result = op.execute(context())

    assert (result["n_current"], result["n_columns"], result["columns"]) == (0, 0, {})
    assert result["evidence"]["faults"] == [] and result["evidence"]["performance"] is None
    assert result["report"] == {
        "status": "skipped",
        "reason": "no current rows (the current_window holds none): nothing to render",
    }
    decision = decide(
        model_name="fraud-detector",
        drift=result,
        history=ModelHistory(now=datetime(2024, 5, 8)),
        config=DecisionConfig(),
    )
    assert decision.action == "no_action"
    assert "Insufficient data: 0 current rows" in decision.rationale


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        ("yyyymmdd", r"model 'fraud-detector': current data: no row is within 7d .*1970-08-.*YYYYMMDD"),
        ("empty column", r"timestamp column 'event_time' in model 'fraud-detector': current data has no timestamps"),
        ("header only", r"model 'fraud-detector': current data has no rows \(an empty export\)"),
    ],
)
def test_an_empty_window_of_unusable_timestamps_fails_the_task(tmp_path: Path, stamps: str, expected: str) -> None:
    # a CSV export with dates as YYYYMMDD numbers, with the timestamp column left empty, or with no
    # rows: the task used to succeed with n_current 0, and the decision said "insufficient data"
    reference, current = make_frames(1000)
    hours = pd.Series(END - pd.to_timedelta(np.arange(1000) % 100, unit="h"))  # all within the window
    current["event_time"] = hours.dt.strftime("%Y%m%d").astype(int) if stamps == "yyyymmdd" else None
    (current.iloc[:0] if stamps == "header only" else current).to_csv(tmp_path / "cur.csv", index=False)
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="fraud-detector",
        reference=lambda: reference,
        current=str(tmp_path / "cur.csv"),
        timestamp_column="event_time",
        current_window="7d",
        report_prefix=str(tmp_path),
    )

    with pytest.raises(ValueError, match=expected):
        op.execute(context())


def test_module_function_sources_are_imported_and_called(tmp_path: Path, monkeypatch) -> None:
    # models.yaml's documented `drift.reference: package.module:function` form
    reference, current = make_frames(1000)
    reference.to_parquet(tmp_path / "ref.parquet")
    current.to_parquet(tmp_path / "cur.parquet")
    (tmp_path / "fraud_exports.py").write_text(
        "import pandas as pd\n"
        f"def reference():\n    return pd.read_parquet({str(tmp_path / 'ref.parquet')!r})\n"
        f"def current():\n    return pd.read_parquet({str(tmp_path / 'cur.parquet')!r})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="fraud-detector",
        reference="fraud_exports:reference",
        current="fraud_exports:current",
        label_column="label",
        report_prefix=str(tmp_path / "reports"),
        report_sample_rows=500,
    )

    result = op.execute(context())

    assert (result["n_reference"], result["n_current"]) == (1000, 1000)
    assert result["columns"]["amount"]["drifted"]


def test_broken_input_fails_the_task_and_records_nothing(tmp_path: Path) -> None:
    reference, current = make_frames(1500)
    reference.to_parquet(tmp_path / "ref.parquet")
    current.drop(columns="amount").to_parquet(tmp_path / "cur.parquet")
    ti = mock.MagicMock()
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="fraud-detector",
        reference=str(tmp_path / "ref.parquet"),
        current=str(tmp_path / "cur.parquet"),
        report_prefix=str(tmp_path / "reports"),
    )

    with pytest.raises(ValueError) as err:
        op.execute(context(ti))

    assert "model 'fraud-detector': column 'amount' is missing from current data" in str(err.value)
    assert str(tmp_path / "cur.parquet") in str(err.value)
    assert "exclude_columns" in str(err.value)
    ti.xcom_push.assert_called_once_with(key="report_uri", value="")  # no report: its link stays hidden
    assert not (tmp_path / "reports").exists()


def test_a_failed_check_shows_no_report_link_and_logs_no_missing_xcom(tmp_path: Path) -> None:
    # the Task SDK reads every extra link after a failed try too: a report_uri never pushed logged an ERROR
    ti = TaskInstanceDouble(task_id="check_drift")
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="fraud-detector",
        reference=str(tmp_path / "refrence.csv"),  # a typo: no such file
        current=str(tmp_path / "cur.csv"),
        report_prefix=str(tmp_path / "reports"),
    )
    with pytest.raises(ValueError, match="reference data not found"):
        op.execute({"ti": ti, "run_id": "manual__1", "data_interval_end": END})
    assert extra_link(DriftReportLink(), op, ti) == ("", [])


def test_unsupported_file_fails_with_the_file_named(tmp_path: Path) -> None:
    (tmp_path / "ref.xlsx").write_bytes(b"x")
    op = DriftCheckOperator(
        task_id="check_drift", model_name="m", reference=str(tmp_path / "ref.xlsx"), current=str(tmp_path / "c.csv")
    )
    with pytest.raises(ValueError, match=r"model 'm': reference data '.*ref.xlsx': unsupported file type .xlsx"):
        op.execute(context())


def test_report_goes_to_the_models_mlflow_monitoring_run(
    tmp_path: Path, airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    reference, current = make_frames(1500)
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="fraud-detector",
        reference=lambda: reference,
        current=lambda: current,
        report_sample_rows=500,
        mlflow_conn_id="agentic_mlops_mlflow_train",  # absent: the SQLite fallback store
    )

    first = op.execute(context())
    second = op.execute(context())

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("agentic-mlops/fraud-detector")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_name for r in runs] == ["monitoring"]  # one run, reused
    folders = [a.path for a in client.list_artifacts(runs[0].info.run_id, "drift")]
    assert len(folders) == 2
    assert first["report_uri"].startswith(f"runs:/{runs[0].info.run_id}/drift/")  # served by the plugin via MLflow
    assert first["report_uri"].endswith("/drift_report.html")
    assert first["report_uri"] != second["report_uri"]
    assert runs[0].data.metrics["drift_share"] == first["drift_share"]


def test_link_serves_the_report_uri_from_xcom_through_the_plugin() -> None:
    op = DriftCheckOperator(task_id="t", model_name="m", reference="r.csv", current="c.csv")
    with mock.patch("airflow.sdk.execution_time.xcom.XCom.get_value", return_value="s3://b/r.html") as get_value:
        link = DriftReportLink().get_link(op, ti_key=mock.sentinel.key)
    assert link.endswith("/agentic-mlops/models/m/artifact?uri=s3%3A%2F%2Fb%2Fr.html")
    assert get_value.call_args.kwargs == {"ti_key": mock.sentinel.key, "key": "report_uri"}
    assert DriftReportLink.name == "Drift report"
    assert DriftReportLink in [type(link) for link in DriftCheckOperator.operator_extra_links]
    assert DriftCheckOperator.template_fields == ("reference", "current", "report_prefix", "champion_model_uri")


def test_operator_module_imports_no_pandas_evidently_or_mlflow() -> None:
    code = (
        "import sys, airflow_provider_agentic_mlops.operators.drift\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'evidently', 'mlflow', 'sklearn'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_window_without_timestamp_column_is_refused_at_definition() -> None:
    with pytest.raises(ValueError, match="current_window .7d. needs timestamp_column"):
        DriftCheckOperator(task_id="t", model_name="m", reference="r.csv", current="c.csv", current_window="7d")


def test_read_only_mlflow_connection_is_refused_before_reading_data(airflow_home: Path) -> None:
    def never_called() -> pd.DataFrame:
        raise AssertionError("data read before the access check")

    op = DriftCheckOperator(
        task_id="t",
        model_name="m",
        reference=never_called,
        current=never_called,
        mlflow_conn_id="agentic_mlops_mlflow_registry",
    )
    with pytest.raises(PermissionError, match="needs an MLflow connection with access 'train'"):
        op.execute(context())


def test_object_storage_uris_are_read_and_written_through_object_storage_path() -> None:
    import fsspec
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import attach

    attach("memory", fs=fsspec.filesystem("memory"))  # stands in for s3://, gs://, ...
    reference, current = make_frames(1500)
    with ObjectStoragePath("memory://lake/fraud/ref.parquet").open("wb") as out:
        reference.to_parquet(out)
    with ObjectStoragePath("memory://lake/fraud/cur.csv").open("wb") as out:
        out.write(current.to_csv(index=False).encode())
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="fraud-detector",
        reference="memory://lake/fraud/ref.parquet",
        current="memory://lake/fraud/cur.csv",
        report_prefix="memory://lake/reports/",
        report_sample_rows=500,
    )

    result = op.execute(context())

    assert result["n_columns"] == 4
    assert result["report_uri"].startswith("memory://lake/reports/fraud-detector/")
    report = ObjectStoragePath(result["report_uri"])
    assert "random sample of 500 of 1,500 reference rows" in report.read_text()
    assert sorted(p.name for p in report.parent.iterdir()) == [
        "drift_report.html",
        "drift_report.json",
        "drift_summary.json",
    ]


# -- never crash on valid data: every dtype, every size Evidently treats differently, report included


def every_dtype_frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    pa = pytest.importorskip("pyarrow")
    rng = np.random.default_rng(seed)
    ints = rng.integers(0, 4, n)  # few values: a categorical test below 1,001 reference rows
    floats = rng.normal(shift, 1, n)
    floats[:3] = [np.inf, -np.inf, np.nan]
    nullable_int = pd.array(rng.integers(0, 50, n), dtype="Int64")
    nullable_int[0] = pd.NA
    nullable_bool = pd.array(rng.random(n) < 0.4, dtype="boolean")
    nullable_bool[1] = pd.NA
    return pd.DataFrame(
        {
            "int8": ints.astype(np.int8),
            "int16": rng.integers(0, 300, n).astype(np.int16),
            "int32": ints.astype(np.int32),
            "int64": rng.integers(0, 10_000, n),
            "uint8": ints.astype(np.uint8),
            "uint64": rng.integers(0, 100, n).astype(np.uint64),
            "Int64": nullable_int,
            "float32": floats.astype(np.float32),
            "float64": floats,
            "bool": rng.random(n) < 0.3,
            "boolean": nullable_bool,
            "object_bool": pd.Series(rng.random(n) < 0.5, dtype=object),
            "category": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "string": pd.array(rng.choice(["x", "y", "z"], n), dtype="string"),
            "object_str": rng.choice(["fr", "de", "it"], n).astype(object),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="h"),
            # read_parquet(dtype_backend="pyarrow") keeps these as Arrow types
            "arrow_decimal": pd.Series(
                pa.array([Decimal(f"{v:.2f}") for v in floats[3:].tolist() + [0.0] * 3], type=pa.decimal128(12, 2)),
                dtype=pd.ArrowDtype(pa.decimal128(12, 2)),
            ),
            "arrow_list": pd.Series(pa.array([[int(v)] for v in ints]), dtype=pd.ArrowDtype(pa.list_(pa.int64()))),
            "arrow_struct": pd.Series(
                pa.array([{"a": int(v)} for v in ints]), dtype=pd.ArrowDtype(pa.struct([("a", pa.int64())]))
            ),
            "arrow_map": pd.Series(
                pa.array([[("k", int(v))] for v in ints], type=pa.map_(pa.string(), pa.int64())),
                dtype=pd.ArrowDtype(pa.map_(pa.string(), pa.int64())),
            ),
            "arrow_time": pd.Series(
                pa.array([time(int(v)) for v in ints], type=pa.time64("us")), dtype=pd.ArrowDtype(pa.time64("us"))
            ),
        }
    )


@pytest.mark.parametrize("n_reference", [30, 1000, 1001, 100_000])
def test_every_dtype_at_every_size_completes_with_the_report(tmp_path: Path, n_reference: int) -> None:
    reference = every_dtype_frame(n_reference, seed=1)
    current = every_dtype_frame(min(n_reference, 2000), seed=2, shift=0.5)
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="m",
        reference=lambda: reference,
        current=lambda: current,
        report_prefix=str(tmp_path),
        report_sample_rows=2000,
    )

    result = op.execute(context())

    skipped = result["data_quality"]["skipped_columns"]
    assert set(result["columns"]) | set(skipped) == set(reference.columns)
    assert set(skipped) == {"when", "arrow_time"} and "datetime" in skipped["when"]
    assert "times of day" in skipped["arrow_time"]
    assert result["columns"]["object_bool"]["type"] == "cat"
    assert result["columns"]["arrow_decimal"]["type"] == "num"
    assert result["report"] == {"status": "written", "reason": None}
    assert Path(result["report_uri"].removeprefix("file://")).name == "drift_report.html"


def test_a_report_evidently_cannot_render_is_skipped_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider_agentic_mlops.core.drift import report

    def refuse(*args: object, **kwargs: object) -> None:
        raise ImportError("evidently does not import with pandas 3.1")

    monkeypatch.setattr(report, "write_evidently_report", refuse)
    reference, current = make_frames(500)
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="m",
        reference=lambda: reference,
        current=lambda: current,
        report_prefix=str(tmp_path),
    )

    result = op.execute(context())

    assert result["report"]["status"] == "skipped"
    assert "ImportError: evidently does not import with pandas 3.1" in result["report"]["reason"]
    assert result["columns"]["amount"]["drifted"] is True
    saved = Path(result["report_uri"].removeprefix("file://"))
    assert saved.name == "drift_summary.json"
    assert json.loads(saved.read_text())["report"]["status"] == "skipped"
    assert "Drift report skipped (the drift check goes on)" in capsys.readouterr().out  # the task log


def test_numeric_column_with_few_values_in_a_small_reference_gets_its_report(tmp_path: Path) -> None:
    # Evidently picks chi-square/Z for <= 5 numeric values at <= 1,000 reference rows, then its own
    # report refused that method on a numeric column (StatTestInvalidFeatureTypeError).
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"level": rng.choice([0.0, 1.0, 2.0], 800), "x": rng.normal(0, 1, 800)})
    current = pd.DataFrame({"level": rng.choice([0.0, 1.0, 2.0], 800), "x": rng.normal(0, 1, 800)})
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="m",
        reference=lambda: reference,
        current=lambda: current,
        report_prefix=str(tmp_path),
    )

    result = op.execute(context())

    assert result["columns"]["level"]["method"] == "chisquare"
    assert result["report"]["status"] == "written"


def test_label_column_without_prediction_column_is_accepted(tmp_path: Path) -> None:
    reference, current = make_frames(500)
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="m",
        reference=lambda: reference.drop(columns="score"),
        current=lambda: current.drop(columns="score"),
        label_column="label",
        report_prefix=str(tmp_path),
    )

    result = op.execute(context())

    assert result["quality"] is None
    assert "label" in result["columns"]


def test_labels_alone_measure_the_champion_loaded_from_mlflow_against_its_logged_baseline(
    tmp_path: Path, airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mlflow = pytest.importorskip("mlflow")
    from sklearn.linear_model import LogisticRegression

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI", uri)
    rng = np.random.default_rng(0)

    def data(n: int, flip: bool) -> pd.DataFrame:
        x = pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.normal(0, 1, n)})
        y = (x["a"] > 0).astype(int)
        return x.assign(label=1 - y if flip else y)

    train, reference, current = data(1000, False), data(600, False), data(600, True)  # concept drift
    model = LogisticRegression().fit(train[["a", "b"]], train["label"])
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("labels-alone")  # not an experiment id another test left active
    with mlflow.start_run():
        mlflow.log_metrics({"accuracy": 0.97, "n_holdout": 500})
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name="churn", pip_requirements=sklearn_pip_requirements()
        )
    mlflow.MlflowClient().set_registered_model_alias("churn", "champion", str(info.registered_model_version))
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="churn",
        reference=lambda: reference,
        current=lambda: current,
        label_column="label",
        champion_model_uri="models:/churn@champion",
        feature_columns=["a", "b"],
        report_prefix=str(tmp_path / "reports"),
    )

    result = op.execute(context())

    perf = result["evidence"]["performance"]
    assert perf["predictions_from"].startswith("the champion")
    assert perf["baseline"] == 0.97 and perf["baseline_source"].startswith("metric logged for the champion")
    assert perf["current"] < 0.1 and perf["drop"] > 0.85 and perf["drop_se"] < 0.05
    assert result["evidence"]["severity"]["importance_source"] == "the model's |coef_| x feature std"


def register_champion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, model: object, metrics: dict) -> str:
    """Log ``model`` with ``metrics`` to a local MLflow (SQLite) as ``name``@champion; returns the tracking URI."""
    import mlflow

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment(f"register-{name}")
    with mlflow.start_run():
        mlflow.log_metrics(metrics)
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=name, pip_requirements=sklearn_pip_requirements()
        )
    mlflow.MlflowClient().set_registered_model_alias(name, "champion", str(info.registered_model_version))
    return uri


def imbalanced(n: int, seed: int, *, collapsed: bool = False) -> pd.DataFrame:
    """~3% positives; ``collapsed``: the positives now look like negatives (fraudsters adapted)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.03).astype(int)
    return pd.DataFrame({"a": rng.normal(0, 1, n) + 3 * y * (0 if collapsed else 1), "b": rng.normal(0, 1, n), "y": y})


def test_roc_auc_of_the_champion_loaded_from_mlflow_is_measured_against_its_logged_baseline(
    tmp_path: Path, airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the champion predicted labels only, so roc_auc was "not one of accuracy, f1, ...": no evidence at all
    pytest.importorskip("mlflow")
    from sklearn.linear_model import LogisticRegression

    train, reference, current = imbalanced(3000, 0), imbalanced(2000, 1), imbalanced(2000, 2, collapsed=True)
    model = LogisticRegression().fit(train[["a", "b"]], train["y"])
    register_champion(tmp_path, monkeypatch, "fraud", model, {"roc_auc": 0.99, "accuracy": 0.98, "n_holdout": 2000})
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="fraud",
        reference=lambda: reference,
        current=lambda: current,
        label_column="y",
        task="classification",
        performance_metric="roc_auc",
        champion_model_uri="models:/fraud@champion",
        feature_columns=["a", "b"],
        report_prefix=str(tmp_path / "reports"),
    )

    perf = op.execute(context())["evidence"]["performance"]

    assert perf["metric"] == "roc_auc" and perf["baseline"] == 0.99 and perf["current"] < 0.7
    assert perf["baseline_source"] == "metric logged for the champion (models:/fraud@champion)"


def test_a_rare_class_the_champion_stopped_finding_is_a_drop_though_its_accuracy_holds(
    tmp_path: Path, airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the default metric, accuracy, moved 0.03 -> ~0.06 error: "stable", the model "not hurt"
    pytest.importorskip("mlflow")
    from sklearn.linear_model import LogisticRegression

    from airflow_provider_agentic_mlops.core.decision import performance_verdict

    train, reference, current = imbalanced(3000, 0), imbalanced(2000, 1), imbalanced(2000, 2, collapsed=True)
    model = LogisticRegression().fit(train[["a", "b"]], train["y"])
    register_champion(tmp_path, monkeypatch, "fraud", model, {"accuracy": 0.99, "n_holdout": 2000})
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="fraud",
        reference=lambda: reference,
        current=lambda: current,
        label_column="y",
        task="classification",
        reference_is_holdout=True,
        champion_model_uri="models:/fraud@champion",
        feature_columns=["a", "b"],
        report_prefix=str(tmp_path / "reports"),
    )

    perf = op.execute(context())["evidence"]["performance"]

    assert perf["metric"] == "accuracy" and perf["baseline"] == 0.99 and perf["drop"] < 0.05
    positives = perf["class_recall"]["classes"]["1"]
    assert positives["rare"] and positives["current"] < 0.1
    assert performance_verdict(perf, 0.02) == "drop"


def decide_on(summary: dict, model_name: str) -> tuple[str, dict]:
    """The rules' branch and stored decision for ``summary``, as the DAG's decide task takes it."""
    from airflow_provider_agentic_mlops.operators.decision import AgentDecisionOperator
    from tests.doubles.airflow_task import task_context

    decide = AgentDecisionOperator(task_id="decide", model_name=model_name, mode="rules")
    ctx = task_context(dag_id=f"agentic_mlops__{model_name}", xcoms={("check_drift", "return_value"): summary})
    action = decide.choose_branch(ctx)
    return action, decide.store.get_decision(ctx["ti"].pushed["decision_id"])


@pytest.mark.parametrize("broken", ["version_deleted", "artifacts_missing"])
def test_a_configured_champion_that_cannot_be_loaded_escalates_and_says_why(
    tmp_path: Path, airflow_home: Path, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    # accuracy 0.98 -> 0.02 on labelled rows, champion unloadable: the rules read "no labels, no estimate"
    # and ended at "Evidence read, nothing hurts"
    mlflow = pytest.importorskip("mlflow")
    import shutil

    from sklearn.linear_model import LogisticRegression

    train, reference, current = imbalanced(3000, 0), imbalanced(2000, 1), imbalanced(2000, 2)
    current["y"] = 1 - current["y"]  # every label inverted: the model is broken on this window
    model = LogisticRegression().fit(train[["a", "b"]], train["y"])
    register_champion(tmp_path, monkeypatch, "churn", model, {"accuracy": 0.98, "n_holdout": 2000})
    client = mlflow.MlflowClient()
    if broken == "version_deleted":
        client.delete_model_version("churn", "1")
    else:  # the artifact store lost the model's files (MLflow's default root: ./mlruns under tmp_path)
        stored = list(tmp_path.rglob("MLmodel"))
        assert stored
        for item in (i for m in stored for i in m.parent.iterdir() if i.name != "MLmodel"):
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="churn",
        reference=lambda: reference,
        current=lambda: current,
        label_column="y",
        task="classification",
        reference_is_holdout=True,
        strict=False,
        champion_model_uri="models:/churn@champion",
        feature_columns=["a", "b"],
        report_prefix=str(tmp_path / "reports"),
    )

    summary = op.execute(context())
    action, decision = decide_on(summary, "churn")

    evidence = summary["evidence"]
    assert evidence["champion"]["status"] == "unavailable"
    assert evidence["performance_missing"]["kind"] == "champion_unavailable"
    assert action == "escalate" and [r["rule"] for r in decision["rules_fired"]] == ["champion_unavailable"]
    assert "champion is unavailable" in decision["rationale"] and "no labels" not in decision["rationale"]
    if broken == "version_deleted":
        assert "has no version left" in decision["rationale"]


def _labelled_check_with_champion_of(model: str, tmp_path: Path) -> DriftCheckOperator:
    """A drift check with labels, reading ``model``'s champion (``models:/<model>@champion``)."""
    reference, current = imbalanced(2000, 1), imbalanced(2000, 2)
    return DriftCheckOperator(
        task_id="check_drift",
        model_name=model,
        reference=lambda: reference,
        current=lambda: current,
        label_column="y",
        champion_model_uri=f"models:/{model}@champion",
        report_prefix=str(tmp_path / "reports"),
    )


def test_no_champion_registered_yet_is_a_first_model_not_an_incident(
    tmp_path: Path, airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    op = _labelled_check_with_champion_of("newbie", tmp_path)

    summary = op.execute(context())
    action, decision = decide_on(summary, "newbie")

    assert summary["evidence"]["champion"]["status"] == "absent"
    assert summary["evidence"]["performance_missing"]["kind"] == "no_predictions"
    assert action == "no_action" and decision["rules_fired"][0]["rule"] == "no_performance_evidence"
    assert "registered model 'newbie' does not exist" in decision["rules_fired"][0]["detail"]


def test_versions_without_the_champion_alias_say_to_set_it_on_the_version_in_production(
    tmp_path: Path, airflow_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a model onboarded with versions but no alias is taken for a first model: the log says how to name the champion
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI", tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.create_registered_model("house-price")
    client.create_model_version("house-price", source=(tmp_path / "model").as_uri())
    op = _labelled_check_with_champion_of("house-price", tmp_path)

    champion = op.execute(context())["evidence"]["champion"]

    fix = "set_registered_model_alias('house-price', 'champion', <version>)"
    assert champion["status"] == "absent" and fix in champion["reason"]
    assert "has versions but none has alias 'champion'" in champion["reason"]
    log = capsys.readouterr().out  # the task log
    assert "Champion models:/house-price@champion not loaded" in log and fix in log


# -- valid data the review found broken: no crash, no false fault, report included


def check(tmp_path: Path, reference: pd.DataFrame | str, current: pd.DataFrame | str, **kwargs: object) -> dict:
    """The operator's result on the two frames (or files), its report written under ``tmp_path``."""
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="m",
        reference=reference if isinstance(reference, str) else lambda: reference,
        current=current if isinstance(current, str) else lambda: current,
        report_prefix=str(tmp_path),
        **kwargs,
    )
    return op.execute(context())


def test_unchanged_free_text_and_ids_raise_no_fault(tmp_path: Path) -> None:
    words = ["good", "bad", "fast", "slow", "price", "ship", "late", "ok", "love", "item"]

    def frame(n: int, seed: int, first_id: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        return pd.DataFrame(
            {
                "x": rng.normal(0, 1, n),
                "review": [" ".join(rng.choice(words, 6)) for _ in range(n)],
                "user_id": [f"u{i}" for i in range(first_id, first_id + n)],
            }
        )

    result = check(tmp_path, frame(1500, 1, 0), frame(1500, 2, 1500))

    assert result["columns"]["review"]["type"] == "text"
    assert result["evidence"]["faults"] == []
    assert result["report"]["status"] == "written"


def test_a_two_row_window_with_categories_completes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 1500), "size": rng.choice(["S", "M", "L"], 1500)})
    current = pd.DataFrame({"x": [0.1, -0.3], "size": ["S", "M"]})

    result = check(tmp_path, reference, current)

    assert result["columns"]["size"]["type"] == "cat" and result["n_current"] == 2
    assert result["report"]["status"] == "written"


@pytest.mark.parametrize("labels", ["all null", "absent"])
def test_labels_not_in_yet_complete_without_measured_performance(tmp_path: Path, labels: str) -> None:
    reference, current = make_frames(1500)
    current = current.assign(label=np.nan) if labels == "all null" else current.drop(columns="label")

    result = check(tmp_path, reference, current, label_column="label", prediction_column="score")

    assert "labels not in yet" in result["data_quality"]["skipped_columns"]["label"]
    assert result["quality"]["accuracy"]["current"] is None
    assert result["evidence"]["performance"] is None
    assert result["report"]["status"] == "written"


def test_columns_named_by_integers_get_their_faults_and_report(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    reference = pd.DataFrame({0: rng.normal(50, 10, 1500), 1: rng.normal(0, 1, 1500)})
    current = pd.DataFrame({0: rng.normal(50, 10, 1500) * 1000, 1: rng.normal(0, 1, 1500)})

    result = check(tmp_path, reference, current)

    assert [(f["column"], f["kind"]) for f in result["evidence"]["faults"]] == [("0", "scale_change")]
    assert result["report"]["status"] == "written"


def weights(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"weight": rng.lognormal(4, 0.3, n), "x": rng.normal(0, 1, n)})


@pytest.mark.parametrize(
    ("factor", "said"),
    [
        (2.54, "values look multiplied by 2.54 (inches -> cm?)"),
        (1 / 2.54, "values look multiplied by 0.3937 (cm -> inches?)"),
        (2.2046, "values look multiplied by 2.205 (kg -> lb?)"),
        (0.001, "scale changed about x1/"),  # x10 or more: the gross check, its factor rounded
    ],
)
def test_a_unit_change_escalates_naming_the_column_and_the_factor(
    tmp_path: Path, airflow_home: Path, factor: float, said: str
) -> None:
    current = weights(1500, 2)
    summary = check(tmp_path, weights(1500, 1), current.assign(weight=current["weight"] * factor))
    action, decision = decide_on(summary, "m")

    assert [(f["column"], f["kind"]) for f in summary["evidence"]["faults"]] == [("weight", "scale_change")]
    assert action == "escalate" and "'weight'" in decision["rationale"] and said in decision["rationale"]


@pytest.mark.parametrize("change", ["mean +1.5 std", "variance x2.5 about the mean", "doubled"])
def test_a_genuine_shift_of_a_measured_column_is_drift_not_a_fault(
    tmp_path: Path, airflow_home: Path, change: str
) -> None:
    current = weights(1500, 2)
    w = current["weight"]
    shifted = {
        "mean +1.5 std": w + 1.5 * w.std(),
        "variance x2.5 about the mean": w.mean() + 2.5 * (w - w.mean()),
        "doubled": w * 2,  # every quantile x2, a factor no unit conversion has
    }[change]
    summary = check(tmp_path, weights(1500, 1), current.assign(weight=shifted))
    action, _ = decide_on(summary, "m")

    assert summary["evidence"]["faults"] == [] and summary["columns"]["weight"]["drifted"]
    assert action != "escalate"


def test_a_reordered_mixed_type_column_is_no_type_change(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    values = ["a" if i % 2 else 1 for i in range(1500)]
    reference = pd.DataFrame({"x": rng.normal(0, 1, 1500), "m": pd.Series(values, dtype=object)})
    current = pd.DataFrame({"x": rng.normal(0, 1, 1500), "m": pd.Series(["a", *values[1:-1], "a"], dtype=object)})

    result = check(tmp_path, reference, current)

    assert result["evidence"]["faults"] == [] and result["columns"]["m"]["type"] == "cat"


def test_pyarrow_backed_frames_complete_with_the_report(tmp_path: Path) -> None:
    from tests.unit.core.test_drift import PYARROW_SKIPPED, PYARROW_TYPES, pyarrow_frame

    result = check(tmp_path, pyarrow_frame(1500, 1), pyarrow_frame(1500, 2))

    assert {c: r["type"] for c, r in result["columns"].items()} == PYARROW_TYPES
    assert result["data_quality"]["skipped_columns"] == PYARROW_SKIPPED
    assert result["evidence"]["faults"] == []
    assert result["report"]["status"] == "written"


def test_datetime_columns_in_csv_files_are_skipped_not_a_fault(tmp_path: Path) -> None:
    reference, current = every_dtype_frame(1500, seed=1), every_dtype_frame(1500, seed=2)
    current["when"] += pd.Timedelta(days=60)  # a later window, as in production
    reference.to_csv(tmp_path / "ref.csv", index=False)
    current.to_csv(tmp_path / "cur.csv", index=False)

    result = check(tmp_path, str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"))

    assert "datetime" in result["data_quality"]["skipped_columns"]["when"]
    assert "when" not in result["columns"] and result["evidence"]["faults"] == []
    assert result["report"]["status"] == "written"


def test_yes_no_labels_with_probability_predictions_fail_with_the_fix(tmp_path: Path) -> None:
    reference, current = make_frames(1500)
    for frame in (reference, current):
        frame["label"] = np.where(frame["label"] == 1, "yes", "no")

    with pytest.raises(ValueError, match=r"model 'm': label_column 'label' \(str\).*prediction_column 'score' \(float"):
        check(tmp_path, reference, current, label_column="label", prediction_column="score")


def test_values_near_the_largest_float_get_a_finite_score(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    reference = pd.DataFrame({"x": rng.uniform(0, 1, 1500) * 1e308})
    current = pd.DataFrame({"x": rng.uniform(0, 1, 1500) * 1e308})

    result = check(tmp_path, reference, current)

    assert result["columns"]["x"]["score"] is not None and result["columns"]["x"]["drifted"] is False
    assert result["evidence"]["faults"] == []


def test_an_integer_column_that_arrives_as_float_with_nulls_is_no_fault(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 1500), "stars": rng.integers(1, 6, 1500)})
    current = pd.DataFrame({"x": rng.normal(0, 1, 1500), "stars": rng.integers(1, 6, 1500).astype(float)})
    current.loc[:9, "stars"] = np.nan

    result = check(tmp_path, reference, current)

    assert result["evidence"]["faults"] == [] and result["columns"]["stars"]["drifted"] is False


def with_infinite_ratio(n: int, seed: int, inf_share: float) -> pd.DataFrame:
    """A ratio feature whose zero denominators give +inf on ``inf_share`` of the rows."""
    rng = np.random.default_rng(seed)
    ratio = rng.normal(0, 1, n)
    ratio[rng.random(n) < inf_share] = np.inf
    return pd.DataFrame({"x": rng.normal(0, 1, n), "ratio": ratio})


def test_unchanged_data_with_the_same_infinite_share_is_no_extrapolation(tmp_path: Path, airflow_home: Path) -> None:
    summary = check(tmp_path, with_infinite_ratio(1500, 1, 0.25), with_infinite_ratio(1500, 2, 0.25))
    action, decision = decide_on(summary, "m")

    assert summary["evidence"]["extrapolation"]["beyond_chance"] is False
    assert "ratio" not in summary["evidence"]["extrapolation"]["columns"]
    assert action == "no_action", decision["rationale"]


def test_infinite_values_that_newly_fill_a_column_escalate_like_nulls(tmp_path: Path, airflow_home: Path) -> None:
    summary = check(tmp_path, with_infinite_ratio(1500, 1, 0.0), with_infinite_ratio(1500, 2, 0.6))
    action, decision = decide_on(summary, "m")

    assert summary["data_quality"]["null_share"]["ratio"] == pytest.approx(0.6, abs=0.05)
    assert action == "escalate" and "column 'ratio' is 60% null" in decision["rationale"]


def with_optional_column(n: int, seed: int, null_share: float) -> pd.DataFrame:
    """``x`` always filled; ``o`` an optional feature, null on ``null_share`` of the rows."""
    rng = np.random.default_rng(seed)
    optional = pd.Series(rng.normal(0, 1, n)).where(rng.random(n) >= null_share)
    return pd.DataFrame({"x": rng.normal(0, 1, n), "o": optional})


def test_an_optional_column_as_sparse_as_in_the_reference_is_no_fault(tmp_path: Path, airflow_home: Path) -> None:
    summary = check(tmp_path, with_optional_column(1500, 1, 0.7), with_optional_column(1500, 2, 0.7))
    action, decision = decide_on(summary, "m")

    assert summary["data_quality"]["reference_null_share"]["o"] == pytest.approx(0.7, abs=0.05)
    assert action == "no_action", decision["rationale"]


def test_a_null_share_that_jumps_past_the_limit_escalates(tmp_path: Path, airflow_home: Path) -> None:
    summary = check(tmp_path, with_optional_column(1500, 1, 0.05), with_optional_column(1500, 2, 0.6))
    action, decision = decide_on(summary, "m")

    assert action == "escalate"
    assert re.search(r"column 'o' is 6\d% null \(reference [4-6]%; limit 50%\)", decision["rationale"])


def counts(n: int, seed: int) -> pd.DataFrame:
    """A count target (0-15) with a regressor's continuous predictions (its expected count)."""
    rng = np.random.default_rng(seed)
    rate = np.exp(rng.normal(1.5, 0.4, n))
    return pd.DataFrame({"x": np.log(rate), "label": rng.poisson(rate).clip(0, 15), "pred": rate})


def star_ratings(n: int, seed: int) -> pd.DataFrame:
    """Ratings 1.0-5.0 (floats holding whole numbers) with a regressor's continuous predictions."""
    rng = np.random.default_rng(seed)
    taste = rng.normal(3, 1, n)
    stars = np.clip(np.round(taste + rng.normal(0, 0.5, n)), 1, 5)
    return pd.DataFrame({"x": taste, "label": stars, "pred": np.clip(taste, 1, 5)})


@pytest.mark.parametrize("frames", [counts, star_ratings])
def test_integer_valued_targets_with_continuous_predictions_are_regression(tmp_path: Path, frames) -> None:
    result = check(tmp_path, frames(1500, 1), frames(1500, 2), label_column="label", prediction_column="pred")

    assert set(result["quality"]) == {"mae", "rmse", "r2"}
    assert result["evidence"]["performance"]["metric"] == "r2"


def test_a_task_the_columns_cannot_tell_is_a_clear_error(tmp_path: Path) -> None:
    def frame(seed: int) -> pd.DataFrame:  # levels 0-4 predicted as fractions in [0, 1]: no probability of a class
        rng = np.random.default_rng(seed)
        level = rng.integers(0, 5, 1500)
        return pd.DataFrame({"x": rng.normal(0, 1, 1500), "label": level, "pred": (level + rng.random(1500)) / 5})

    with pytest.raises(ValueError, match=r"label_column 'label'.*prediction_column 'pred'.*set task='regression'"):
        check(tmp_path, frame(1), frame(2), label_column="label", prediction_column="pred")


def fraud(n: int, seed: int, rate: float) -> pd.DataFrame:
    """Fraud labels at ``rate``, a model that catches 70% of them and flags nothing else."""
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < rate).astype(int)
    return pd.DataFrame({"x": rng.normal(0, 1, n), "label": label, "pred": np.where(rng.random(n) < 0.7, label, 0)})


def test_f1_on_a_window_without_positives_is_undefined_not_the_negative_class(
    tmp_path: Path, airflow_home: Path
) -> None:
    summary = check(
        tmp_path,
        fraud(3000, 1, 0.05),
        fraud(1500, 2, 0.0),
        label_column="label",
        prediction_column="pred",
        performance_metric="f1",
        performance_baseline=0.8,
    )
    action, decision = decide_on(summary, "m")

    assert summary["quality"]["f1"]["current"] is None
    assert summary["quality"]["f1"]["reference"] == pytest.approx(0.82, abs=0.05)
    assert pd.isna(summary["evidence"]["performance"]["current"])  # NaN, None after the XCom's JSON
    assert action == "escalate" and decision["rules_fired"][-1]["rule"] == "performance_undefined"
    assert "no positive" in decision["rationale"]


def test_an_extra_column_in_current_data_is_noted_not_escalated(tmp_path: Path, airflow_home: Path) -> None:
    rng = np.random.default_rng(13)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 1500), "y": rng.normal(5, 2, 1500)})
    current = pd.DataFrame({"x": rng.normal(0, 1, 1500), "y": rng.normal(5, 2, 1500), "z": 1.0})

    summary = check(tmp_path, reference, current, strict=False)
    action, decision = decide_on(summary, "m")

    assert summary["data_quality"]["extra_columns"] == ["z"] and "z" not in summary["columns"]
    assert action == "no_action"
    assert "current data has 1 column the reference does not ('z'): not checked" in decision["rationale"]


def test_a_column_outside_feature_columns_new_in_current_data_is_ignored_and_noted(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 1500), "y": rng.normal(5, 2, 1500)})
    current = pd.DataFrame({"x": rng.normal(0, 1, 1500), "y": rng.normal(5, 2, 1500), "debug_flag": 1.0})
    reference.to_csv(tmp_path / "ref.csv", index=False)
    current.to_csv(tmp_path / "cur.csv", index=False)

    summary = check(tmp_path, str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"), feature_columns=["x", "y"])

    assert set(summary["columns"]) == {"x", "y"}
    assert summary["data_quality"]["extra_columns"] == []  # not a schema problem: the model does not read it
    assert summary["data_quality"]["notes"] == ["ignored columns not in feature_columns: ['debug_flag']"]


def test_a_new_column_in_current_data_without_feature_columns_fails_naming_it_and_the_fixes(tmp_path: Path) -> None:
    rng = np.random.default_rng(15)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 500)})
    current = pd.DataFrame({"x": rng.normal(0, 1, 500), "debug_flag": 1.0})

    with pytest.raises(ValueError, match=r"column 'debug_flag' is in current data .*but not in reference data") as err:
        check(tmp_path, reference, current)
    assert "feature_columns" in str(err.value) and "exclude_columns" in str(err.value)


def durations(n: int, seed: int, mean_minutes: float) -> pd.DataFrame:
    """A waiting time (timedelta) and an id written as digits, which are no durations."""
    rng = np.random.default_rng(seed)
    wait = pd.to_timedelta(rng.gamma(4, mean_minutes / 4, n).round(), unit="min")
    return pd.DataFrame({"wait": wait, "x": rng.normal(0, 1, n), "store": rng.integers(10, 99, n).astype(str)})


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_durations_in_csv_are_compared_in_seconds_as_in_parquet(tmp_path: Path, fmt: str) -> None:
    reference, current = durations(2000, 16, 5), durations(2000, 17, 15)
    current.loc[::7, "wait"] = pd.NaT
    for name, frame in (("ref", reference), ("cur", current)):
        getattr(frame, f"to_{fmt}")(tmp_path / f"{name}.{fmt}", **({"index": False} if fmt == "csv" else {}))

    summary = check(tmp_path, str(tmp_path / f"ref.{fmt}"), str(tmp_path / f"cur.{fmt}"))

    wait = summary["columns"]["wait"]
    assert (wait["type"], wait["method"], wait["drifted"]) == ("num", "wasserstein", True)
    # digits are no durations (pandas would read "42" as 42 ns): numbers from CSV, text from Parquet, as before
    assert summary["columns"]["store"]["type"] == ("num" if fmt == "csv" else "cat")
    notes = summary["data_quality"]["notes"]
    assert notes == (["durations written as text, compared in seconds: ['wait']"] if fmt == "csv" else [])


def test_text_only_some_of_whose_values_are_durations_stays_text(tmp_path: Path) -> None:
    reference, current = durations(600, 18, 5), durations(600, 19, 5)
    reference.to_csv(tmp_path / "ref.csv", index=False)
    current["wait"] = current["wait"].astype(str).where(current.index % 50 != 0, "unknown")
    current.to_csv(tmp_path / "cur.csv", index=False)

    summary = check(tmp_path, str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"), strict=False)

    assert summary["data_quality"]["notes"] == []
    assert summary["columns"]["wait"]["type"] != "num"


def script_blocks(html_text: str) -> list[str]:
    """The text of each ``<script>`` element as a browser's HTML parser splits them."""
    from html.parser import HTMLParser

    class Scripts(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=False)
            self.blocks: list[str] = []
            self.inside = False

        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag == "script":
                self.inside = True
                self.blocks.append("")

        def handle_endtag(self, tag: str) -> None:
            if tag == "script":
                self.inside = False

        def handle_data(self, data: str) -> None:
            if self.inside:
                self.blocks[-1] += data

    parser = Scripts()
    parser.feed(html_text)
    return parser.blocks


def test_a_column_named_with_a_closing_script_tag_leaves_the_report_s_data_intact(tmp_path: Path) -> None:
    name = "<script>alert(1)</script><!--"
    rng = np.random.default_rng(14)
    reference = pd.DataFrame({name: rng.normal(0, 1, 1500), "y": rng.normal(0, 1, 1500)})
    current = pd.DataFrame({name: rng.normal(0, 1, 1500), "y": rng.normal(0, 1, 1500)})

    result = check(tmp_path, reference, current)
    html_text = Path(result["report_uri"].removeprefix("file://")).read_text(encoding="utf-8")

    data = [b for b in script_blocks(html_text) if re.match(r"\s*var metric_\w+ = ", b)]
    assert len(data) == 1  # the dashboard's data, in one piece
    found = re.fullmatch(r"\s*var (\w+) = (.*);\s*var additional_graphs_\1 = (.*);\s*", data[0], flags=re.DOTALL)
    assert found is not None
    dashboard, graphs = json.loads(found.group(2)), json.loads(found.group(3))
    assert name in json.dumps(dashboard, ensure_ascii=False) + json.dumps(graphs, ensure_ascii=False)
    assert result["report"]["status"] == "written"


def test_default_args_give_drift_settings_and_a_keyword_argument_wins() -> None:
    from airflow.sdk import DAG

    with DAG("d", schedule=None, default_args={"label_column": "churned", "top_n": 3}):
        op = DriftCheckOperator(task_id="t", model_name="m", reference="r.csv", current="c.csv", top_n=7)
    assert (op.settings.label_column, op.settings.top_n) == ("churned", 7)


def test_explicit_settings_beat_default_args_and_a_keyword_argument_beats_both() -> None:
    from airflow.sdk import DAG

    from airflow_provider_agentic_mlops.core.config import DriftSettings

    default_args = {"label_column": "churned", "task": "regression", "columns": ["a"], "top_n": 3}
    settings = DriftSettings(label_column="is_fraud", task="classification")
    with DAG("d", schedule=None, default_args=default_args):
        op = DriftCheckOperator(task_id="t", model_name="m", reference="r.csv", current="c.csv", settings=settings)
        keyword = DriftCheckOperator(
            task_id="k", model_name="m", reference="r.csv", current="c.csv", settings=settings, top_n=7
        )
        mapped = DriftCheckOperator.partial(task_id="p", reference="r.csv", current="c.csv", settings=settings)
        unmapped = mapped.expand(model_name=["a", "b"]).unmap({"model_name": "a"})
    # settings= holds every field (its defaults included): the DAG-wide defaults reach none of them
    assert (op.settings.label_column, op.settings.task, op.settings.columns, op.settings.top_n) == (
        "is_fraud",
        "classification",
        None,
        DriftSettings().top_n,
    )
    assert (keyword.settings.label_column, keyword.settings.top_n) == ("is_fraud", 7)
    assert (unmapped.settings.label_column, unmapped.settings.columns) == ("is_fraud", None)


def test_drift_settings_may_be_given_to_partial() -> None:
    from airflow.sdk import DAG

    with DAG("d", schedule=None):
        mapped = DriftCheckOperator.partial(task_id="t", reference="r.csv", current="c.csv", top_n=3).expand(
            model_name=["a", "b"]
        )
    assert mapped.partial_kwargs["top_n"] == 3


def test_the_evidence_log_line_rounds_numbers_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    op = DriftCheckOperator(
        task_id="check_drift", model_name="fraud-detector", reference="r.parquet", current="c.parquet"
    )
    evidence = {
        "faults": [],
        "performance": {
            "kind": "measured",
            "metric": "roc_auc",
            "current": 0.46212205219191244,
            "baseline": 0.8266514035954939,
            "drop": 0.3645293514035815,
            "drop_se": 0.03307026288522288,
        },
        "severity": {"weighted_share": 0.6590123456, "importance_source": "permutation importance"},
        "extrapolation": {"excess_share": 3.199040256911473e-07},
    }
    op._log_evidence(evidence)
    log = capsys.readouterr().out  # the task log
    assert "'current': 0.4621, 'baseline': 0.8267, 'drop': 0.3645, 'drop_se': 0.03307" in log
    assert "importance-weighted drifted share 0.659 " in log
    assert "rows extrapolated beyond chance: 0.000" in log
    assert "0.46212205219191244" not in log and "e-07" not in log
    assert evidence["performance"]["current"] == 0.46212205219191244  # what is stored keeps full precision


def test_the_champion_is_loaded_from_the_connections_registry_uri(
    tmp_path: Path, airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # with extra registry_uri the champion was looked up in the tracking store and read as "absent"
    import json

    import mlflow
    from sklearn.linear_model import LogisticRegression

    train, reference, current = imbalanced(3000, 0), imbalanced(2000, 1), imbalanced(2000, 2)
    model = LogisticRegression().fit(train[["a", "b"]], train["y"])
    tracking, registry = (f"sqlite:///{tmp_path / name}" for name in ("tracking.db", "registry.db"))
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)
    with mlflow.start_run(experiment_id="0"):  # not the experiment an earlier test made active
        mlflow.log_metrics({"accuracy": 0.98, "n_holdout": 2000})
        mlflow.sklearn.log_model(
            model, name="model", registered_model_name="split", pip_requirements=sklearn_pip_requirements()
        )
    mlflow.MlflowClient(tracking, registry).set_registered_model_alias("split", "champion", "1")
    mlflow.set_registry_uri(tracking)  # what a previous task in the worker left behind
    conn = {
        "conn_type": "agentic_mlops_mlflow",
        "host": tracking,
        "extra": {"registry_uri": registry, "access": "train"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_TRAIN", json.dumps(conn))
    op = DriftCheckOperator(
        task_id="check_drift",
        model_name="split",
        reference=lambda: reference,
        current=lambda: current,
        label_column="y",
        task="classification",
        reference_is_holdout=True,
        champion_model_uri="models:/split@champion",
        feature_columns=["a", "b"],
        report_prefix=str(tmp_path / "reports"),
    )

    summary = op.execute(context())

    assert summary["evidence"]["champion"]["status"] == "loaded"


# -- never crash on valid data: columns of values other than numbers and text


def with_containers(n: int, seed: int, tags: tuple[str, ...] = ("a", "b")) -> pd.DataFrame:
    """``tags`` a list per row (Parquet list<string>), ``meta`` a dict per row (a Parquet struct)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, 3, n)
    return pd.DataFrame(
        {
            "x": rng.normal(0, 1, n),
            "tags": [list(tags[:k]) for k in picks],
            "meta": [{"k": int(k)} for k in rng.integers(0, 4, n)],
        }
    )


@pytest.mark.parametrize("source", ["callable", "parquet"])
@pytest.mark.parametrize("strict", [True, False])
def test_columns_of_lists_and_dicts_are_compared_as_text(tmp_path: Path, source: str, strict: bool) -> None:
    # value_counts on unhashable values raised "unhashable type: 'numpy.ndarray'", naming no column
    frames = [with_containers(1500, 1), with_containers(1500, 2), with_containers(1500, 3, tags=("a", "c"))]
    if source == "parquet":
        for i, frame in enumerate(frames):
            frame.to_parquet(tmp_path / f"{i}.parquet")
        frames = [str(tmp_path / f"{i}.parquet") for i in range(3)]

    same = check(tmp_path, frames[0], frames[1], strict=strict)
    changed = check(tmp_path, frames[0], frames[2], strict=strict)

    assert same["columns"]["tags"]["type"] == same["columns"]["meta"]["type"] == "cat"
    assert not same["columns"]["tags"]["drifted"] and same["evidence"]["faults"] == []
    assert same["data_quality"]["schema_errors"] == []
    assert changed["columns"]["tags"]["drifted"] and not changed["columns"]["meta"]["drifted"]
    assert same["report"]["status"] == changed["report"]["status"] == "written"


def with_other_values(n: int, seed: int, start: str) -> pd.DataFrame:
    """Columns of valid values of other types than numbers and text, as Parquet and callables give them."""
    rng = np.random.default_rng(seed)
    first = pd.Timestamp(start)
    zones = ["Europe/Paris", "America/New_York"]
    return pd.DataFrame(
        {
            "x": rng.normal(0, 1, n),
            "wait": pd.to_timedelta(rng.integers(0, 3600, n), unit="s"),  # Parquet duration
            "month": pd.period_range(start, periods=n, freq="D"),
            "day": [(first + pd.Timedelta(days=int(d))).date() for d in rng.integers(0, 30, n)],  # Parquet date32
            "stamp": [(first + pd.Timedelta(hours=i)).tz_localize(zones[i % 2]) for i in range(n)],  # mixed zones
            "bucket": pd.arrays.IntervalArray.from_breaks(np.arange(5))[rng.integers(0, 4, n)],
            "raw": [f"b{k}".encode() for k in rng.integers(0, 5, n)],  # Parquet BINARY
            "blob": [bytes([k, 255]) for k in rng.integers(0, 5, n)],  # not UTF-8
        }
    )


@pytest.mark.parametrize("source", ["callable", "parquet"])
@pytest.mark.parametrize("strict", [True, False])
def test_durations_periods_dates_zones_intervals_and_bytes_complete_without_a_fault(
    tmp_path: Path, airflow_home: Path, source: str, strict: bool
) -> None:
    # strict failed with "holds other values (dtype object)"; non-strict escalated them as schema errors every run
    reference, current = with_other_values(1500, 1, "2024-01-01"), with_other_values(1500, 2, "2024-06-01")
    if source == "parquet":
        reference = reference.drop(columns=["stamp", "bucket"])  # Parquet stores neither as such
        current = current.drop(columns=["stamp", "bucket"])
        reference.to_parquet(tmp_path / "ref.parquet")
        current.to_parquet(tmp_path / "cur.parquet")
    summary = check(
        tmp_path,
        str(tmp_path / "ref.parquet") if source == "parquet" else reference,
        str(tmp_path / "cur.parquet") if source == "parquet" else current,
        strict=strict,
    )
    action, decision = decide_on(summary, "m")

    columns, skipped = summary["columns"], summary["data_quality"]["skipped_columns"]
    assert columns["wait"]["type"] == "num" and not columns["wait"]["drifted"]  # compared in seconds
    assert columns["raw"]["type"] == columns["blob"]["type"] == "cat"  # bytes as text
    assert "day" in skipped and "month" in skipped and "period" in skipped["month"]
    if source == "callable":
        assert columns["bucket"]["type"] == "cat" and "mixed time zones" in skipped["stamp"]
    assert summary["data_quality"]["schema_errors"] == [] and summary["evidence"]["faults"] == []
    assert summary["report"]["status"] == "written"
    assert action == "no_action", decision["rationale"]


def test_a_column_of_other_values_is_refused_naming_their_type(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 100), "z": pd.Series([1 + 2j, 3j] * 50, dtype=object)})

    with pytest.raises(ValueError, match=r"column 'z' .* holds other values \(dtype object: complex\)"):
        check(tmp_path, frame, frame)


def test_a_wide_frame_s_report_shows_the_faulted_and_drifted_columns_first_and_says_so(tmp_path: Path) -> None:
    # 2,000 columns took ~12 minutes and a 137 MB report: Evidently draws every column
    rng = np.random.default_rng(15)
    names = [f"stable_{i:02d}" for i in range(30)]
    reference = pd.DataFrame(rng.normal(0, 1, (1500, 30)), columns=names)
    current = pd.DataFrame(rng.normal(0, 1, (1500, 30)), columns=names)
    reference["moved"], current["moved"] = rng.normal(0, 1, 1500), rng.normal(3, 1, 1500)
    reference["units"], current["units"] = rng.lognormal(4, 0.3, 1500), rng.lognormal(4, 0.3, 1500) * 1000

    result = check(tmp_path, reference, current, report_max_columns=4)

    assert result["n_columns"] == 32 and result["report"]["status"] == "written"
    assert "report shows 4 of 32 columns" in result["report"]["shown"]
    folder = Path(result["report_uri"].removeprefix("file://")).parent
    full = json.loads((folder / "drift_summary.json").read_text())
    assert full["report_columns"][:2] == ["units", "moved"] and len(full["report_columns"]) == 4
    assert "report shows 4 of 32 columns" in (folder / "drift_report.html").read_text()


def test_the_same_column_as_label_and_prediction_is_refused_naming_both() -> None:
    # it failed at run time with "ValueError: model 'm': 2", a pandas error on the duplicated column
    with pytest.raises(ValueError, match=r"label_column and prediction_column are both 'label'"):
        DriftCheckOperator(
            task_id="t",
            model_name="m",
            reference="r.csv",
            current="c.csv",
            label_column="label",
            prediction_column="label",
        )


@pytest.mark.parametrize("strict", [True, False])
def test_a_column_null_in_both_frames_is_skipped_not_escalated(
    tmp_path: Path, airflow_home: Path, strict: bool
) -> None:
    # "only null values in current data" escalated every run, though the feed is as sparse as the reference
    reference, current = (with_optional_column(1500, seed, 0.0).assign(unused=np.nan) for seed in (1, 2))

    summary = check(tmp_path, reference, current, strict=strict)
    action, decision = decide_on(summary, "m")

    assert "only null values in both" in summary["data_quality"]["skipped_columns"]["unused"]
    assert summary["data_quality"]["schema_errors"] == [] and "unused" not in summary["columns"]
    assert action == "no_action", decision["rationale"]


@pytest.mark.parametrize(("now", "escalates"), [(2.0, True), (1.0, False)])
def test_a_constant_feature_that_changes_value_is_a_pipeline_fault(
    tmp_path: Path, airflow_home: Path, now: float, escalates: bool
) -> None:
    # a flag 1.0 -> 2.0 got "retrain" through extrapolation: the out-of-range check skipped a constant reference
    reference = with_optional_column(1500, 1, 0.0).assign(flag=1.0)
    current = with_optional_column(1500, 2, 0.0).assign(flag=now)

    summary = check(tmp_path, reference, current)
    action, decision = decide_on(summary, "m")

    if escalates:
        assert [(f["column"], f["kind"]) for f in summary["evidence"]["faults"]] == [("flag", "out_of_range")]
        assert action == "escalate" and "was constant 1 in the reference, now 2" in decision["rationale"]
    else:
        assert summary["evidence"]["faults"] == [] and action == "no_action", decision["rationale"]


@pytest.mark.parametrize("rows", [(1, 1), (2, 1), (1, 2)])
def test_a_text_column_in_a_few_rows_is_compared_as_categories(tmp_path: Path, rows: tuple[int, int]) -> None:
    # Evidently's text method failed inside scikit-learn ("empty vocabulary", "max_df ... min_df"),
    # naming no column
    def notes(n: int, first: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "x": np.arange(n) / 10,
                "note": [f"customer {i} wrote about order {i * 7}" for i in range(first, first + n)],
            }
        )

    result = check(tmp_path, notes(rows[0], 0), notes(rows[1], 100))

    assert result["columns"]["note"]["type"] == "cat"
    assert result["report"]["status"] in ("written", "skipped")


def test_a_constant_reference_against_spread_values_says_how_they_spread(tmp_path: Path) -> None:
    rng = np.random.default_rng(17)
    reference = pd.DataFrame({"c": np.full(1500, 3.0), "x": rng.normal(0, 1, 1500)})
    current = pd.DataFrame({"c": rng.normal(3, 1, 1200), "x": rng.normal(0, 1, 1200)})

    summary = check(tmp_path, reference, current)
    action, decision = decide_on(summary, "m")

    # not "now mostly -1.494", the smallest of 1,200 values that each occur once
    assert action == "escalate"
    assert re.search(
        r"was constant 3 in the reference, now 1200 distinct values, median [23]\.\d+", decision["rationale"]
    )


@pytest.mark.parametrize("n_current", [1, 2, 3])
def test_a_text_column_against_a_few_current_rows_is_compared_as_categories(tmp_path: Path, n_current: int) -> None:
    # Evidently's text method returned no score (NaN) on them: score null, "not drifted", yet counted
    def notes(n: int, first: int) -> pd.DataFrame:
        return pd.DataFrame({"note": [f"user {i} said hello world {i % 7}" for i in range(first, first + n)]})

    result = check(tmp_path, notes(1500, 0), notes(n_current, 5000))

    assert result["columns"]["note"]["type"] == "cat"
    assert result["columns"]["note"]["score"] is not None and result["columns"]["note"]["drifted"]


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("labels", ["yes/no then 1/0", "ints then digits as text"])
def test_labels_whose_type_changed_between_frames_are_a_type_change_fault(
    tmp_path: Path, strict: bool, labels: str
) -> None:
    rng = np.random.default_rng(16)
    ref_labels, cur_labels = rng.integers(0, 2, 1500), rng.integers(0, 2, 1200)
    if labels == "yes/no then 1/0":
        ref_labels = np.where(ref_labels == 1, "yes", "no")
    else:
        cur_labels = cur_labels.astype(str)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 1500), "y": ref_labels, "p": ref_labels})
    current = pd.DataFrame({"x": rng.normal(0, 1, 1200), "y": cur_labels, "p": cur_labels})

    # the frames' labels cannot be compared: not measured, a broken feed the decision escalates
    summary = check(tmp_path, reference, current, label_column="y", prediction_column="p", strict=strict)
    action, decision = decide_on(summary, "m")

    assert {c["column"] for c in summary["data_quality"]["type_changes"]} == {"y", "p"}
    assert summary["quality"] is None
    assert ("y", "type_change") in {(f["column"], f["kind"]) for f in summary["evidence"]["faults"]}
    assert action == "escalate" and "type changed" in decision["rationale"]


def test_codes_mixing_text_and_numbers_against_only_numbers_are_no_type_change(tmp_path: Path) -> None:
    rng = np.random.default_rng(18)
    codes = rng.integers(1000, 1010, 1500).astype(object)
    codes[::50] = "A12"  # ids mixing numbers and text: read as text
    reference = pd.DataFrame({"code": codes, "x": rng.normal(0, 1, 1500)})
    current = pd.DataFrame({"code": rng.integers(1000, 1010, 1200), "x": rng.normal(0, 1, 1200)})  # a window of numbers
    reference.to_csv(tmp_path / "ref.csv", index=False)
    current.to_csv(tmp_path / "cur.csv", index=False)

    result = check(tmp_path, str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"))

    assert result["data_quality"]["type_changes"] == [] and result["evidence"]["faults"] == []
    assert result["columns"]["code"]["type"] == "cat" and not result["columns"]["code"]["drifted"]
