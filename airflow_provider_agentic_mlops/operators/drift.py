"""DriftCheckOperator: Evidently data drift of current against reference data, for one model."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_agentic_mlops.core.config import DriftSettings, settings_overrides
from airflow_provider_agentic_mlops.core.connections import DEFAULT_TRAIN_CONN_ID
from airflow_provider_agentic_mlops.links import REPORT_URI_XCOM_KEY, DriftReportLink, ModelPageLink
from airflow_provider_agentic_mlops.operators._base import check_model_name, read_data, settings_parameters

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import Context

    from airflow_provider_agentic_mlops.core.drift import DriftSummary
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook


class DriftCheckOperator(BaseOperator):
    """Check a model's input data for drift, Evidently's way, and save the full report.

    Reads reference and current data (Parquet or CSV from a path or URI, or callables returning
    DataFrames), computes per-column drift with Evidently's methods and thresholds on all rows,
    saves Evidently's HTML and JSON report (rendered on a sample) to the model's MLflow
    ``monitoring`` run or to ``report_prefix``, and returns a compact summary (<= 10 KB) for the
    decision step. The report URI is pushed to XCom as ``report_uri`` and shown as a task link.
    When Evidently cannot render the report the task logs a warning, the summary's ``report`` says
    ``skipped`` with the reason, and the check goes on.

    How drift and evidence are measured is a
    :class:`~airflow_provider_agentic_mlops.core.config.DriftSettings` (documented there, once):
    pass ``settings=`` (the DAG factory passes the model's ``drift`` section whole) and/or its
    fields as keyword arguments, e.g. ``label_column="churned", column_methods={"amount": "psi"}``.

    :param model_name: the model; its MLflow experiment is ``agentic-mlops/<model_name>``.
    :param reference: reference data: path or URI (local, ``file://``, or any scheme Airflow's
        ObjectStoragePath knows, e.g. ``s3://``), or a callable returning a DataFrame, or a
        ``"package.module:function"`` string naming one (imported when the task runs). (templated)
    :param current: current data, same forms as ``reference``. (templated)
    :param settings: the drift parameters; keyword arguments named after its fields override them. The
        DAG's ``default_args`` fill those fields only without ``settings``: a keyword argument >
        ``settings`` > ``default_args`` > the defaults (see ``core.config.settings_overrides``).
    :param champion_model_uri: the champion in MLflow, e.g. ``models:/fraud@champion`` (templated).
        Loaded to predict when there is no ``prediction_column``, for its feature importances, for
        a label-free estimate (CBPE) of classifiers, and for the metric logged with it on held-out
        data (the performance baseline; ``n_holdout`` gives its sample size). A champion that
        cannot be loaded is noted in the evidence (``champion``: ``absent`` when none is registered
        yet, ``unavailable`` when the configured one cannot be loaded, which the decision escalates),
        never a failed task.
    :param mlflow_conn_id: MLflow connection for the report artifact; it must allow logging runs
        (access ``train``), which the read-only ``agentic_mlops_mlflow_registry`` does not.
    :param report_prefix: object-storage prefix or local directory for the report instead of
        MLflow, e.g. ``s3://bucket/drift``. (templated)

    The summary's ``evidence`` holds what the decision reads: pipeline faults (type, scale or unit
    change, values out of range, vocabulary replaced, constant column), performance measured on
    labelled current rows or estimated without labels, and importance-weighted drift severity.
    """

    template_fields: Sequence[str] = ("reference", "current", "report_prefix", "champion_model_uri")
    operator_extra_links = (DriftReportLink(), ModelPageLink())
    ui_color = "#e8f4fd"

    @settings_parameters(DriftSettings)
    def __init__(
        self,
        *,
        model_name: str,
        reference: str | Callable[[], pd.DataFrame],
        current: str | Callable[[], pd.DataFrame],
        settings: DriftSettings | Mapping[str, Any] | None = None,
        champion_model_uri: str | None = None,
        mlflow_conn_id: str = DEFAULT_TRAIN_CONN_ID,
        report_prefix: str | None = None,
        **kwargs: Any,
    ) -> None:
        overrides = settings_overrides(DriftSettings, kwargs, settings=settings)
        super().__init__(**kwargs)
        self.model_name = model_name
        self.reference = reference
        self.current = current
        self.settings = DriftSettings.resolve(settings, role=f"model '{model_name}': DriftCheckOperator", **overrides)
        self.champion_model_uri = champion_model_uri
        self.mlflow_conn_id = mlflow_conn_id
        self.report_prefix = report_prefix

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_agentic_mlops.core.data_io import describe_source, durations_as_timedeltas
        from airflow_provider_agentic_mlops.core.drift import compute_drift
        from airflow_provider_agentic_mlops.core.drift.report import ReportAlongside

        check_model_name(self.model_name)
        DriftReportLink.hide_until_written(context["ti"])
        hook = None
        if not self.report_prefix:  # fail before the heavy work when the report cannot be stored
            from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook

            hook = MlflowRegistryHook(mlflow_conn_id=self.mlflow_conn_id)
            hook.require_access("train", f"DriftCheckOperator logging the drift report of '{self.model_name}'")
        reference = self._read("reference data", self.reference)
        current = self._read("current data", self.current)
        settings = self.settings
        if settings.timestamp_column is not None:
            from airflow_provider_agentic_mlops.core.data_io import EPOCH_WORDS, epoch_unit, select_window

            end = context.get("data_interval_end") or datetime.now(timezone.utc)
            n_before = len(current)
            stamps = current[settings.timestamp_column] if settings.timestamp_column in current.columns else None
            current = select_window(
                current, settings.timestamp_column, settings.current_window, end, role=self._role("current data")
            )
            if settings.current_window is not None:
                unit = epoch_unit(stamps)
                read_as = f"holds numbers: read as {EPOCH_WORDS[unit]} since 1970" if unit else ""
                self.log.info(
                    "Kept %d of %d current rows within %s before %s%s",
                    len(current),
                    n_before,
                    settings.current_window,
                    end,
                    f" (timestamp column '{settings.timestamp_column}' {read_as})" if unit else "",
                )
        reference, current, notes = durations_as_timedeltas(reference, current)  # as Parquet's durations are
        with (
            tempfile.TemporaryDirectory(prefix="drift-report-") as tmp,
            # Evidently's report renders on a thread from the moment the columns to check are known,
            # while the summary is scored and the evidence gathered (joined on leaving, errors or not).
            ReportAlongside(
                reference,
                current,
                tmp,
                sample_rows=settings.report_sample_rows,
                model_name=self.model_name,
                max_columns=settings.report_max_columns,
            ) as report,
        ):
            summary = compute_drift(
                reference,
                current,
                settings,
                model_name=self.model_name,
                reference_source=describe_source(self.reference),
                current_source=describe_source(self.current)
                + (f", window {settings.current_window}" if settings.current_window else ""),
                on_plan=report.start,
                notes=notes,
            )
            summary.evidence = self._gather_evidence(reference, current, summary)
            self._log_evidence(summary.evidence)
            self.log.info(
                "Model %s: %d of %d columns drifted (share %.3f, threshold %.3f); dataset drift: %s; top: %s",
                self.model_name,
                summary.n_drifted,
                summary.n_columns,
                summary.drift_share,
                summary.share_threshold,
                summary.dataset_drift,
                [c["column"] for c in summary.top_drifted],
            )
            outcome = report.finish(summary)
            if outcome.status != "written":
                self.log.warning("Drift report skipped (the drift check goes on): %s", outcome.reason)
            folder = self._report_folder(context)
            main = Path(outcome.paths.get("html") or outcome.paths["summary"]).name  # what the link opens
            if hook is None:
                summary.report_uri = self._store_in_prefix(Path(tmp), folder, main)
            else:
                summary.report_uri = self._store_in_mlflow(hook, Path(tmp), folder, summary, main)
        context["ti"].xcom_push(key=REPORT_URI_XCOM_KEY, value=summary.report_uri)
        self.log.info("Drift report: %s", summary.report_uri)
        return summary.to_dict()

    # ----------------------------------------------------------------------------------------------

    def _gather_evidence(self, reference: pd.DataFrame, current: pd.DataFrame, summary: DriftSummary) -> dict:
        from airflow_provider_agentic_mlops.core.evidence import gather_evidence

        model, logged, notes, champion = None, None, [], None
        if self.champion_model_uri:
            model, logged, note, champion = self._load_champion()
            notes.append(note)
        return gather_evidence(
            reference,
            current,
            summary,
            self.settings,
            model=model,
            champion=champion,
            logged_metrics=logged,
            baseline_source=f"metric logged for the champion ({self.champion_model_uri})",
            notes=notes,
        )

    def _load_champion(self) -> tuple[Any, dict[str, float] | None, str, dict[str, str]]:
        """(model or None, the metrics logged with its run: held-out metrics and ``n_holdout``, what
        happened, the champion's ``{"uri", "status", "reason"}``). Never raises: the evidence says what
        happened. Status ``loaded``; ``absent``: the registry holds no champion yet (a first model: the
        registered model does not exist, or has versions and never had the alias); ``unavailable``: a
        champion is configured but could not be loaded (its version deleted, artifacts gone, registry
        down), which the decision escalates: a broken production alias is an incident."""
        import mlflow

        from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook

        uri = str(self.champion_model_uri)
        hook = None
        try:
            hook = MlflowRegistryHook(mlflow_conn_id=self.mlflow_conn_id)
            mlflow.set_tracking_uri(hook.tracking_uri)
            mlflow.set_registry_uri(hook.registry_uri)
            with hook.authenticated():  # the connection's credentials, for these MLflow calls only
                info = mlflow.models.get_model_info(uri)
                flavor = mlflow.sklearn if "sklearn" in info.flavors else mlflow.pyfunc
                model = flavor.load_model(uri)
                metrics = mlflow.MlflowClient().get_run(info.run_id).data.metrics if info.run_id else {}
        except Exception as err:  # noqa: BLE001 - no champion is evidence missing, not a failed check
            error = f"{type(err).__name__}: {str(err)[:200]}"
            status, reason = hook.champion_status(uri, error) if hook is not None else ("unavailable", error)
            why = f"; {reason}" if status == "absent" else ""  # what the registry shows, and the fix
            self.log.warning("Champion %s not loaded: %s: %s%s", uri, type(err).__name__, err, why)
            return None, None, f"champion {uri} not loaded ({error})", {"uri": uri, "status": status, "reason": reason}
        logged = sorted(k for k in metrics if k != "n_holdout")
        note = f"champion {uri} loaded; metrics logged with it: {logged[:10] or 'none'}"
        return model, dict(metrics), note, {"uri": uri, "status": "loaded", "reason": ""}

    def _log_evidence(self, evidence: dict) -> None:
        from airflow_provider_agentic_mlops.core.metrics import rounded

        perf, severity = evidence.get("performance") or {}, evidence["severity"]
        excess = (evidence.get("extrapolation") or {}).get("excess_share")
        self.log.info(
            "Evidence for %s: %d fault(s) %s; performance %s; importance-weighted drifted share %.3f (%s); "
            "rows extrapolated beyond chance: %s",
            self.model_name,
            len(evidence["faults"]),
            [f"{f['column']}: {f['kind']}" for f in evidence["faults"]][:5],
            rounded({k: perf.get(k) for k in ("kind", "metric", "current", "baseline", "drop", "drop_se") if k in perf})
            or "none",
            severity["weighted_share"],
            severity["importance_source"],
            f"{excess:.3f}" if isinstance(excess, (int, float)) else "n/a",  # a share, as the drifted share
        )

    def _role(self, role: str) -> str:
        return f"model '{self.model_name}': {role}"

    def _read(self, role: str, source: Any) -> pd.DataFrame:
        s, wanted = self.settings, None
        if s.columns is not None:  # and the label, prediction and timestamp columns
            wanted = [*s.columns, *(c for c in (s.label_column, s.prediction_column, s.timestamp_column) if c)]
        frame = read_data(source, role=self._role(role), columns=wanted)
        self.log.info("Read %s: %d rows x %d columns", role, len(frame), frame.shape[1])
        return frame

    def _report_folder(self, context: Context) -> str:
        run_id = str(context.get("run_id") or "")
        # to the microsecond: a task retried (or re-run) within the same second must not overwrite the first report
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id).strip("_")
        return f"{safe}__{stamp}" if safe else stamp

    def _store_in_prefix(self, local_dir: Path, folder: str, main: str) -> str:
        from airflow_provider_agentic_mlops.core.data_io import is_local, local_path

        prefix = str(self.report_prefix).rstrip("/")
        if is_local(prefix):
            import shutil

            target = local_path(prefix) / self.model_name / folder
            target.mkdir(parents=True, exist_ok=True)
            for item in local_dir.iterdir():
                shutil.copyfile(item, target / item.name)
            return (target / main).resolve().as_uri()
        from airflow.sdk import ObjectStoragePath

        target = ObjectStoragePath(prefix) / self.model_name / folder
        for item in local_dir.iterdir():
            with (target / item.name).open("wb") as out:
                out.write(item.read_bytes())
        return str(target / main)

    def _store_in_mlflow(
        self, hook: MlflowRegistryHook, local_dir: Path, folder: str, summary: DriftSummary, main: str
    ) -> str:
        artifact_path = f"drift/{folder}"
        metrics = {"drift_share": summary.drift_share, "n_drifted_columns": summary.n_drifted}
        experiment_id, run_id = hook.log_monitoring_report(self.model_name, local_dir, artifact_path, metrics)
        report = f"{artifact_path}/{main}"  # without an MLflow UI: runs:/, what the plugin serves through MLflow
        return hook.run_artifact_url(experiment_id, run_id, report) or f"runs:/{run_id}/{report}"
