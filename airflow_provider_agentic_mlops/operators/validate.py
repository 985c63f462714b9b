"""ValidateOperator: the challenger against the champion on the same labelled data; a branch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.branch import BaseBranchOperator

from airflow_provider_agentic_mlops.core.config import settings_overrides
from airflow_provider_agentic_mlops.core.connections import DEFAULT_TRAIN_CONN_ID
from airflow_provider_agentic_mlops.core.promotion import PREVIOUS_CHAMPION, PROMOTED, ROLLBACK
from airflow_provider_agentic_mlops.core.validation import (
    VALIDATION_REJECTED,
    Gates,
    GateSettings,
    Scores,
    ValidationReport,
    build_report,
    check_metric_names,
    given_task,
    labelled_rows,
    report_folder,
    same_version,
    unaliased_versions,
    unloadable_champion,
    vanished_champion,
)
from airflow_provider_agentic_mlops.links import VALIDATION_XCOM_KEY, ModelPageLink, ValidationReportLink
from airflow_provider_agentic_mlops.operators._base import (
    MlflowHookMixin,
    StateStoreMixin,
    challenger_run_id,
    check_model_name,
    pull_retrain_result,
    read_data,
    settings_parameters,
)

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import Context

CHAMPION = "champion"


class _MissingInputs(ValueError):
    """The validation data lacks columns a version needs (the message names them and the version)."""


class ValidateOperator(MlflowHookMixin, StateStoreMixin, BaseBranchOperator):
    """Evaluate the challenger (from the retrain task) and the champion (alias ``champion``) on the same
    labelled validation data, gate the challenger, and branch.

    Both versions are loaded from MLflow and scored on the same rows; the gates are those of
    :class:`~airflow_provider_agentic_mlops.core.validation.Gates` (minimum absolute / relative
    improvement of the primary metric, tolerated regression of guard metrics, absolute floors). With
    no champion yet (a model's first version) only the floors apply: the challenger passes when it
    meets them, and trivially when no floor is configured (the report says so; a person still approves).

    The comparative report (Markdown and HTML: metrics side by side, the run's drift check,
    the decision rationale; the Markdown's sha256 digest binds the approval to it, and the HTML's, in the XCom, binds
    the page reviewers open) is logged as artifacts of the challenger's MLflow run, a folder per report
    (``agentic_mlops/validation/<digest>/``). XCom key ``validation`` carries the summary. A failing challenger
    branches to ``reject_task_id``: the run ends without asking anyone, and the log, the report and the
    version's tag ``agentic_mlops.validation=rejected`` say why.

    :param model_name: the provider's model name.
    :param registered_model: name in the MLflow registry (default: ``model_name``).
    :param validation_data: path/URI of labelled Parquet or CSV (templated): the current window.
    :param label_column: the label column in ``validation_data``.
    :param feature_columns: the model's input columns; default: the model signature's inputs, else the names a
        scikit-learn model was fitted on (``feature_names_in_``), else every column except the label and
        ``exclude_columns``.
    :param exclude_columns: columns that are no model input (the timestamp, the production predictions),
        left out when neither ``feature_columns`` nor the model's signature names the inputs.
    :param task: ``classification`` or ``regression``; default: the primary metric's task when one is
        named, else the guard metrics' and floors' task (``mae``: regression, primary metric ``rmse``), else
        inferred from the labels and the challenger's predictions (as the drift check does) when the task runs.
    :param gates: the gate parameters, a
        :class:`~airflow_provider_agentic_mlops.core.validation.GateSettings` (documented there, once; the
        DAG factory passes the model's ``validation`` section whole) or a mapping. Its fields are parameters
        too (``primary_metric="f1", floors={"f1": 0.7}``; in ``partial()``/``expand()``; from the DAG's
        ``default_args``): a keyword argument > ``gates`` > ``default_args`` (see ``settings_overrides``).
    :param mlflow_conn_id: MLflow connection with ``train`` access (reads both versions, writes the report).
    :param state_conn_id: state store connection (the audit trail records rejections; default:
        ``[agentic_mlops] state_conn_id``).
    :param retrain_task_id: task whose return value names the challenger.
    :param drift_task_id: task whose return value is the drift summary shown in the report.
    :param decision_task_id: task whose XComs ``decision_id``/``action``/``rationale`` are shown.
    :param approve_task_id: branch taken when the challenger passes.
    :param reject_task_id: branch taken when it fails.
    """

    template_fields: Sequence[str] = ("model_name", "registered_model", "validation_data")
    operator_extra_links = (ValidationReportLink(), ModelPageLink())
    ui_color = "#e8f0fe"

    @settings_parameters(GateSettings)
    def __init__(
        self,
        *,
        model_name: str,
        validation_data: str,
        label_column: str | None,
        registered_model: str | None = None,
        feature_columns: Sequence[str] | None = None,
        exclude_columns: Sequence[str] = (),
        task: str | None = None,
        gates: GateSettings | Mapping[str, Any] | None = None,
        mlflow_conn_id: str = DEFAULT_TRAIN_CONN_ID,
        state_conn_id: str | None = None,
        retrain_task_id: str = "retrain",
        drift_task_id: str | None = "check_drift",
        decision_task_id: str | None = "decide",
        approve_task_id: str = "wait_for_approval",
        reject_task_id: str = "rejected",
        **kwargs: Any,
    ) -> None:
        overrides = settings_overrides(GateSettings, kwargs, settings=gates)
        super().__init__(**kwargs)
        if not label_column:
            raise ValueError(
                f"ValidateOperator for model {model_name!r}: label_column is required (the column with the true "
                "labels in the validation data); set drift.label_column in models.yaml"
            )
        if not validation_data:
            raise ValueError(
                f"ValidateOperator for model {model_name!r}: validation_data (a labelled Parquet/CSV) is required"
            )
        if task is not None and task not in ("classification", "regression"):
            raise ValueError(f"task {task!r} must be 'classification' or 'regression'")

        task, named = given_task(task, gates, overrides)
        self._gate_settings, self._gate_overrides = gates, overrides  # resolved again once the labels tell the task
        self.gates = Gates.resolve(gates, task=task, role=f"model '{model_name}': ValidateOperator", **overrides)
        self.model_name = model_name
        # task unknown: against every task's metrics, until the labels tell; the metric named, not the default
        # filled in (roc_auc), as the models file checks them
        self._check_metric_names(
            task, self.gates if task or named else self.gates.model_copy(update={"primary_metric": None})
        )
        self.registered_model = registered_model or model_name
        self.validation_data = validation_data
        self.label_column = label_column
        self.feature_columns = list(feature_columns) if feature_columns else None
        self.exclude_columns = list(exclude_columns)
        self.task = task
        self.mlflow_conn_id = mlflow_conn_id
        self.state_conn_id = state_conn_id
        self.retrain_task_id = retrain_task_id
        self.drift_task_id = drift_task_id
        self.decision_task_id = decision_task_id
        self.approve_task_id = approve_task_id
        self.reject_task_id = reject_task_id

    def choose_branch(self, context: Context) -> str:
        check_model_name(self.model_name)
        ti = context["ti"]
        ValidationReportLink.hide_until_written(ti)
        self.hook.require_access("train", f"writing the validation report of {self.model_name!r}")
        retrained = pull_retrain_result(ti, self.retrain_task_id, model_name=self.model_name, task="validate")
        challenger = str(retrained["version"])
        client = self.hook.client()
        run_id = challenger_run_id(self.hook, self.registered_model, retrained)
        champion = self.hook.get_alias_version(self.registered_model, CHAMPION)
        same = same_version(
            self.model_name, self.registered_model, challenger, champion, f"task {self.retrain_task_id!r}"
        )
        if same:
            raise ValueError(same)
        if champion is None:
            vanished = vanished_champion(
                self.registered_model,
                previous_champion=self.hook.get_alias_version(self.registered_model, PREVIOUS_CHAMPION),
                last_champion_change=self.store.last_audit(self.model_name, (PROMOTED, ROLLBACK)),
                model_name=self.model_name,
            )
            if vanished:
                return self._reject_without_report(ti, challenger, vanished)

        frame, n_rows = self._read_data()
        y_true = frame[self.label_column]
        output = self._model_output("challenger", challenger, frame)
        if self.task is None:  # neither a task nor a metric was named: the labels and the challenger's predictions
            from airflow_provider_agentic_mlops.core.metrics import infer_task, prediction_column

            # with the predictions, as the drift check does: whole-number counts predicted as fractions are
            # a regression, which the labels alone read as classes
            self.task = infer_task(
                y_true,
                prediction_column(*output[:2]),
                (f"label_column {self.label_column!r}", f"the challenger v{challenger}'s predictions"),
            )
            self.gates = Gates.resolve(self._gate_settings, task=self.task, **self._gate_overrides)
            self._check_metric_names(self.task)
            self.log.info(
                "Task inferred from the labels and the challenger's predictions: %s; primary metric %s",
                self.task,
                self.gates.primary_metric,
            )
        predictions = {challenger: self._read_predictions(challenger, output, y_true)}
        if champion:
            from airflow_provider_agentic_mlops.hooks.mlflow import ModelLoadError

            try:
                output = self._model_output("champion", champion, frame)
                predictions[champion] = self._read_predictions(champion, output, y_true)
            except ModelLoadError as err:  # no comparison: rejected, as a champion that cannot be scored is
                reason = unloadable_champion(self.model_name, self.registered_model, champion, str(err))
                return self._reject_without_report(ti, challenger, reason, champion=champion)
        metrics, positive = self._score(predictions, y_true)

        # no champion, yet versions besides the challenger: the report names them and the alias to set
        versions = [] if champion else self.hook.version_numbers(self.registered_model)
        report = build_report(
            model_name=self.model_name,
            gates=self.gates,
            challenger_version=challenger,
            challenger_metrics=metrics[challenger],
            champion_version=champion,
            champion_metrics=metrics[champion] if champion else None,
            drift=ti.xcom_pull(task_ids=self.drift_task_id) if self.drift_task_id else None,
            decision=self._decision(ti),
            n_rows=n_rows,
            n_labelled=len(frame),
            positive_class=positive,
            data_uri=str(self.validation_data),
            no_champion=unaliased_versions(self.registered_model, versions, challenger=challenger),
            task=self.task,
            labels=y_true.to_numpy(),
            predictions=predictions,
        )
        report_uri = self._write_report(report, run_id)
        summary = report.to_dict(report_uri=report_uri)
        if self.hook.ui_url:  # a clickable page for people (Slack message, approvals page); not in the digest
            summary["report_url"] = self.hook.run_artifact_url(client.get_run(run_id).info.experiment_id, run_id)
        ti.xcom_push(key=VALIDATION_XCOM_KEY, value=summary)
        self.hook.set_version_tags(
            self.registered_model,
            challenger,
            {
                "agentic_mlops.validation": "passed" if report.passed else "rejected",
                "agentic_mlops.report_digest": summary["report_digest"],
            },
        )
        if report.passed:
            self.log.info(
                "Challenger %s v%s passed validation:\n  %s",
                self.registered_model,
                challenger,
                "\n  ".join(report.reasons),
            )
            return self.approve_task_id
        self.log.warning(
            "Challenger %s v%s REJECTED; the run ends here without asking for approval. Why:\n  %s\nReport: %s",
            self.registered_model,
            challenger,
            "\n  ".join(report.reasons),
            report_uri,
        )
        return self._record_rejection(ti, challenger, report.reasons, report_uri, digest=summary["report_digest"])

    # -- steps ------------------------------------------------------------------------------------

    def _check_metric_names(self, task: str | None, gates: GateSettings | None = None) -> None:
        try:
            check_metric_names(gates or self.gates, task)
        except ValueError as err:
            raise ValueError(f"ValidateOperator for model {self.model_name!r}: {err}") from None

    def _read_data(self) -> tuple[pd.DataFrame, int]:
        """The labelled rows of the validation data, and how many rows it has in all."""
        data = self.validation_data
        frame = read_data(data, role=f"model '{self.model_name}': validation data")
        labelled = labelled_rows(frame, self.label_column, model_name=self.model_name, data=data)
        if len(labelled) < len(frame):
            self.log.info("%d labelled of %d rows in %s: scored on those", len(labelled), len(frame), data)
        return labelled, len(frame)

    def _model_output(self, role: str, version: str, frame: pd.DataFrame) -> tuple[Any, Any, Any]:
        """``(output, probabilities or None, their classes or None)`` of ``version`` (the ``role``: challenger or
        champion) on ``frame``, as the model returned them (``MlflowRegistryHook.predict_version``); with the task
        unknown yet, the probabilities of a classifier too.

        :raises ModelLoadError: the version cannot be loaded (the champion's rejects the challenger).
        :raises ValueError: the model's predict raised, naming role, version and cause (REGISTRY_FAULTS pass as is).
        """
        from airflow_provider_agentic_mlops.hooks.mlflow import REGISTRY_FAULTS, ModelLoadError

        try:
            return self.hook.predict_version(
                self.registered_model,
                version,
                frame,
                columns=lambda inputs: self._features(inputs, frame, f"the {role} v{version}"),
                classification=self.task != "regression",
            )
        except (_MissingInputs, *REGISTRY_FAULTS):  # names the version already; MLflow's fault, not the model's
            raise
        except ModelLoadError as err:
            if role == "champion":  # choose_branch rejects the challenger
                raise
            raise RuntimeError(
                f"model {self.model_name!r}: the challenger v{version} cannot be loaded: {err}. Check that the "
                "retrain logged its model files to the artifact store, and retrain"
            ) from err
        except Exception as err:
            fix = (
                "roll it back or point the `champion` alias at a version that predicts, if this data is right"
                if role == "champion"
                else "fix the training (or the data) and retrain"
            )
            raise ValueError(
                f"model {self.model_name!r}: the {role} v{version} of {self.registered_model!r} could not predict "
                f"the validation data {self.validation_data} ({type(err).__name__}: {str(err)[:300]}). Check the "
                f"columns and dtypes it was trained on against the data; {fix}"
            ) from err

    def _read_predictions(
        self, version: str, output: tuple[Any, Any, Any], y_true: Any
    ) -> tuple[Any, Any, list[Any] | None]:
        """``(predictions, probabilities or None, their classes or None)`` of ``version`` from its ``output``."""
        from airflow_provider_agentic_mlops.core.metrics import read_predictions

        if self.task == "regression":  # probabilities asked for while the task was unknown are no regression's
            output = (output[0], None, None)
        name = f"model {self.model_name!r}: v{version}"
        return read_predictions(self.task, y_true.to_numpy(), *output, name=name)  # type: ignore[arg-type]

    def _score(
        self, predictions: dict[str, tuple[Any, Any, list[Any] | None]], y_true: Any
    ) -> tuple[dict[str, Scores], Any]:
        """Every version's metrics and the positive class of a binary comparison (``score_versions``)."""
        from airflow_provider_agentic_mlops.core.metrics import rounded, score_versions

        label_name = f"label_column {self.label_column!r}"
        try:
            scores, positive = score_versions(
                self.task,
                y_true.to_numpy(),
                predictions,
                label_name=label_name,
                positive_label=self.gates.positive_label,
            )
        except ValueError as err:
            raise ValueError(f"model {self.model_name!r}: {err}") from None
        for version, score in scores.items():
            self.log.info("%s v%s on %d rows: %s", self.registered_model, version, len(y_true), rounded(score.metrics))
        return scores, positive

    def _features(self, inputs: list[str] | None, frame: pd.DataFrame, who: str) -> list[str]:
        """The columns to feed ``who`` (``the champion v3``): ``feature_columns``, else its signature's inputs or the
        names it was fitted on (``feature_names_in_``), else all but the label and ``exclude_columns``."""
        excluded = {self.label_column, *self.exclude_columns}
        wanted = self.feature_columns or inputs or [c for c in frame.columns if c not in excluded]
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise _MissingInputs(
                f"model {self.model_name!r}: {who} needs columns {missing} that the validation data "
                f"{self.validation_data} lacks; export them or set feature_columns"
            )
        return list(wanted)

    def _decision(self, ti: Any) -> dict[str, Any] | None:
        if not self.decision_task_id:
            return None
        decision = {
            key: ti.xcom_pull(task_ids=self.decision_task_id, key=key) for key in ("decision_id", "action", "rationale")
        }
        return decision if any(v is not None for v in decision.values()) else None

    def _reject_without_report(self, ti: Any, challenger: str, reason: str, *, champion: str | None = None) -> str:
        """Reject ``challenger`` for ``reason`` before scoring anything: recorded like any rejection."""
        self.log.warning("Challenger %s v%s REJECTED: %s", self.registered_model, challenger, reason)
        ti.xcom_push(
            key=VALIDATION_XCOM_KEY,
            value={
                "passed": False,
                "reasons": [reason],
                "champion_version": champion,
                "challenger_version": challenger,
            },
        )
        return self._record_rejection(ti, challenger, [reason], None)

    def _record_rejection(
        self, ti: Any, challenger: str, reasons: list[str], report_uri: str | None, **details: Any
    ) -> str:
        """Audit ``challenger``'s rejection (with its report, when one was written) and take the reject branch."""
        self.store.audit(
            VALIDATION_REJECTED,
            actor="agentic-mlops",
            model_name=self.model_name,
            subject=f"version:{challenger}",
            details={
                "reasons": reasons,
                "report_uri": report_uri,
                **details,
                # whose row it is: the UI shows it (and serves its report) to readers of this DAG only
                "dag_id": ti.dag_id,
                "run_id": ti.run_id,
            },
        )
        return self.reject_task_id

    def _write_report(self, report: ValidationReport, run_id: str) -> str:
        import json

        folder = report_folder(report.digest())  # its own: another run validating this version writes another
        self.hook.log_text_artifact(run_id, report.to_markdown(), f"{folder}/report.md")  # approved, re-read
        text = json.dumps(report.to_dict(), indent=2, sort_keys=True, default=str)
        self.hook.log_text_artifact(run_id, text, f"{folder}/report.json")
        return self.hook.log_text_artifact(run_id, report.to_html(), f"{folder}/report.html")  # the page opened
