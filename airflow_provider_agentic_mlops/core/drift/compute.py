"""compute_drift: per-column drift of current against reference data, Evidently's way, on all rows."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from airflow_provider_agentic_mlops.core.config import DriftSettings
from airflow_provider_agentic_mlops.core.data_io import column_hint, named_columns
from airflow_provider_agentic_mlops.core.drift.columns import ColumnData, n_values, with_text_column_names
from airflow_provider_agentic_mlops.core.drift.methods import (
    CAT,
    DRIFT_METHODS,
    FAST_METHODS,
    TEXT,
    TYPE_WORDS,
    DriftMethod,
    default_method,
    infer_column_type,
)
from airflow_provider_agentic_mlops.core.drift.scores import score_fast, score_with_evidently
from airflow_provider_agentic_mlops.core.drift.summary import (
    ColumnCheck,
    ColumnDrift,
    DriftPlan,
    DriftSummary,
    json_float,
)
from airflow_provider_agentic_mlops.core.errors import describe
from airflow_provider_agentic_mlops.core.metrics import (
    alike_classes,
    class_labels,
    compute_metrics,
    infer_task,
    r2_at_scale,
    split_scores,
    target_variance,
)


class _Context:
    """Names used in error messages: the model and where each frame came from."""

    def __init__(self, model_name: str | None, reference_source: str | None, current_source: str | None):
        self.prefix = f"model '{model_name}': " if model_name else ""
        self.sources = {
            "reference": f"reference data ({reference_source})" if reference_source else "reference data",
            "current": f"current data ({current_source})" if current_source else "current data",
        }

    def error(self, message: str) -> ValueError:
        return ValueError(self.prefix + message)


# --------------------------------------------------------------------------------------------------
# Model quality


#: Metrics the summary reports per task (``core.metrics.compute_metrics`` computes them).
SUMMARY_METRICS = {"classification": ("accuracy", "f1", "roc_auc"), "regression": ("mae", "rmse", "r2")}


def model_quality(
    reference: pd.DataFrame, current: pd.DataFrame, label: str, prediction: str, task: str | None
) -> dict[str, dict[str, float | None]]:
    """``{metric: {"reference": x, "current": y}}`` of the prediction column against the labels. A
    regressor's ``r2`` is read at the reference's target variance on both frames (``1 - MSE / var``,
    :func:`~airflow_provider_agentic_mlops.core.metrics.r2_at_scale`), as the evidence compares it: each
    frame's own variance would move it with how much the target varies, not with the errors."""
    names = (f"label_column '{label}'", f"prediction_column '{prediction}'")
    task = task or infer_task(reference[label], reference[prediction], names)
    if task not in SUMMARY_METRICS:
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    scale = target_variance(reference[label].to_numpy()) if task == "regression" else None
    # a classifier's positive class is the reference's, whatever one window holds (one without positives
    # would make f1 its negative class's)
    known = pd.unique(reference[label].dropna().to_numpy()) if task == "classification" else None
    ref, cur = (_quality(frame, label, prediction, task, scale, known) for frame in (reference, current))
    return {name: {"reference": ref[name], "current": cur[name]} for name in SUMMARY_METRICS[task]}


def _quality(
    frame: pd.DataFrame,
    label: str,
    prediction: str,
    task: str,
    scale: float | None = None,
    known: Any = None,
) -> dict[str, float | None]:
    if label not in frame.columns:  # labels not in yet
        return dict.fromkeys(SUMMARY_METRICS[task])
    rows = frame[[label, prediction]].dropna()
    if rows.empty:
        return dict.fromkeys(SUMMARY_METRICS[task])
    y_true = rows[label].to_numpy()
    names = (f"label_column '{label}'", f"prediction_column '{prediction}'")
    if task == "regression":
        values = compute_metrics("regression", y_true, rows[prediction].to_numpy(), names=names)
        if scale is not None:
            values["r2"] = r2_at_scale(y_true, rows[prediction].to_numpy(), scale)[0]
    else:
        # predictions as text of integer labels ('0'/'1' against 0/1) are those labels, as the evidence reads them
        y_true, y_pred, *given = alike_classes(y_true, rows[prediction].to_numpy(), *([] if known is None else [known]))
        y_pred, proba = split_scores(y_true, y_pred)
        over = class_labels(y_true, y_pred, classes=given, names=names)
        values = compute_metrics("classification", y_true, y_pred, proba, names=names, labels=over)
    return {name: json_float(values[name]) if name in values else None for name in SUMMARY_METRICS[task]}


# --------------------------------------------------------------------------------------------------
# compute_drift


def _p_value_threshold_problem(column: str, threshold: float, method: DriftMethod, by: str) -> str:
    """What is wrong with ``column_thresholds`` giving ``column`` a ``threshold`` above 1 when its method is a
    p-value test (every p-value is at most 1: the column would drift at every run). Without ``column_methods``
    the method comes from the data (Evidently's default is a test up to 1,000 reference rows, a distance above),
    so this is known only here, not when models.yaml is read.

    :param by: where the method came from, e.g. ``"type_methods['num']"``.
    """
    percent = f" ({threshold / 100:g} for {threshold:g} %)" if threshold <= 100 else ""
    return (
        f"column_thresholds gives {column!r} threshold {threshold:g}, but its method is {method.name} ({by}), a "
        f"p-value test, whose threshold is a p-value of at most 1{percent}: the column would drift at every run. "
        f"Write a p-value, or set column_methods for {column!r} to the method the threshold is meant for (e.g. "
        "'wasserstein', a distance): a threshold's meaning depends on its method"
    )


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    settings: DriftSettings | Mapping[str, Any] | None = None,
    *,
    model_name: str | None = None,
    reference_source: str | None = None,
    current_source: str | None = None,
    on_plan: Callable[[DriftPlan], None] | None = None,
    notes: Sequence[str] = (),
    **overrides: Any,
) -> DriftSummary:
    """Drift per column and for the dataset, with Evidently 0.7's methods and scores.

    Column types follow Evidently's inference, on the frame with more values, usually the
    reference (float: numeric; integer: categorical with at most 10 distinct values; strings:
    categorical, or text when more than half the values are distinct; bool and category:
    categorical; datetime: not checked). A column whose values are of another kind in the current data
    than in the reference is a type change (recorded, not scored), except True/False against only 0 and
    1: the same values, compared as integers. Null
    and infinite values are dropped per column before scoring, as Evidently does.

    :param reference: reference data (what the model was trained or validated on).
    :param current: current data (what the model sees now).
    :param settings: the drift parameters (:class:`~airflow_provider_agentic_mlops.core.config.DriftSettings`,
        documented there once: columns, methods, thresholds, ``drift_share``, label and prediction
        columns, ``strict``, ...); ``overrides`` are any of its fields as keyword arguments, e.g.
        ``compute_drift(ref, cur, column_methods={"amount": "psi"})``. The timestamp column is not checked.
    :param model_name: model name, for error messages and the summary.
    :param reference_source: where the reference came from (path/URI), for error messages.
    :param current_source: where the current data came from, for error messages.
    :param on_plan: called once with the :class:`DriftPlan` (the columns to score, their types,
        methods and thresholds) as soon as it is known, before the numeric columns are scored (their
        sorts are most of the work): Evidently's report can be rendered meanwhile
        (:class:`~airflow_provider_agentic_mlops.core.drift.report.ReportAlongside`). Not called when
        the input is refused or the current window is empty.
    :param notes: what the caller read another way (durations written as text, read as timedeltas by
        :func:`~airflow_provider_agentic_mlops.core.data_io.durations_as_timedeltas`), said first in the
        summary's ``data_quality.notes``.
    :raises ValueError: on unusable input, naming the column or source and what to do. Empty data is
        one, except a current frame emptied by ``current_window`` (a quiet window): its summary has
        ``n_current`` 0 and no column, which the decision reads as insufficient data. Callers window the
        frame with :func:`~airflow_provider_agentic_mlops.core.data_io.select_window`, which refuses the
        empty windows that are no quiet window (an empty export, timestamps missing, misread or stale).
    """
    s = DriftSettings.resolve(settings, role=f"model '{model_name}'" if model_name else "", **overrides)
    columns, column_methods, type_methods = s.columns, s.column_methods, s.type_methods
    column_thresholds, drift_share, categorical_columns = s.column_thresholds, s.drift_share, s.categorical_columns
    label_column, prediction_column, task, top_n, strict = (
        s.label_column,
        s.prediction_column,
        s.task,
        s.top_n,
        s.strict,
    )
    exclude_columns = [*s.exclude_columns, *([s.timestamp_column] if s.timestamp_column else [])]
    ctx = _Context(model_name, reference_source, current_source)
    ref_name, cur_name = ctx.sources["reference"], ctx.sources["current"]
    for frame, name in ((reference, ref_name), (current, cur_name)):
        if not isinstance(frame, pd.DataFrame):
            raise ctx.error(f"{name} is a {type(frame).__name__}, expected a pandas DataFrame.")
    try:  # columns are named by text everywhere (summary, settings, evidence): 0 becomes "0"
        reference, current = with_text_column_names(reference, ref_name), with_text_column_names(current, cur_name)
    except ValueError as err:
        raise ctx.error(str(err)) from None
    for frame, name in ((reference, ref_name), (current, cur_name)):
        if frame.columns.duplicated().any():
            dupes = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
            raise ctx.error(f"{name} has duplicate column names {dupes}; rename them in the export.")
        if len(frame) == 0 and not (frame is current and s.current_window is not None):
            raise ctx.error(
                f"{name} has no rows. Check the export job, the path, and the time window (current_window)."
            )
    if len(current) == 0:  # a quiet window (a night, a paused feed): no rows to judge, not a broken call
        return _empty_window_summary(reference, s, model_name)
    excluded = set(exclude_columns)
    skipped: dict[str, str] = {}
    # Labels absent or all null in the current window: not in yet. The label is no drift column then,
    # nothing is measured on the window, and the reference's labels still calibrate CBPE.
    labels_pending = (
        label_column is not None
        and label_column in reference.columns
        and (label_column not in current.columns or not current[label_column].notna().any())
    )
    if labels_pending:
        excluded.add(label_column)
        skipped[str(label_column)] = (
            "labels not in yet (none in the current window): not checked for drift, performance not measured"
        )
    missing: list[str] = []
    extra: list[str] = []
    notes = list(notes)  # what was read another way or left out, no fault: said in the summary's ``data_quality``
    schema_errors: list[str] = []

    def problem(message: str, bucket: list[str] | None = None, item: str | None = None) -> None:
        if strict:
            raise ctx.error(message)
        schema_errors.append(message) if bucket is None else bucket.append(item or message)

    if columns is not None:
        candidates = [c for c in columns if c not in excluded]
        for c in candidates:
            if c not in reference.columns:
                problem(
                    f"column '{c}' is missing from {ref_name}; it is listed in columns "
                    f"({column_hint(c, reference.columns)}). Check the reference export or fix it in columns.",
                    missing,
                    c,
                )
            elif c not in current.columns:
                problem(
                    f"column '{c}' is missing from {cur_name}; reference has it. "
                    "Check the export job or drop it with exclude_columns.",
                    missing,
                    c,
                )
    else:
        candidates = [c for c in reference.columns if c not in excluded]
        for c in candidates:
            if c not in current.columns:
                problem(
                    f"column '{c}' is missing from {cur_name}; reference has it. "
                    "Check the export job or drop it with exclude_columns.",
                    missing,
                    c,
                )
        new_columns = [c for c in current.columns if c not in excluded and c not in reference.columns]
        if s.feature_columns is not None:  # the model reads only these: a new column beside them is no fault
            read = {*s.feature_columns, label_column, prediction_column}
            ignored = [str(c) for c in new_columns if c not in read]
            if ignored:
                notes.append(f"ignored columns not in feature_columns: {named_columns(ignored)}")
            new_columns = [c for c in new_columns if c in read]
        for c in new_columns:
            problem(
                f"column '{c}' is in {cur_name} but not in {ref_name}. Add it to the reference data, "
                "or list the model's inputs in feature_columns, or drop it with exclude_columns.",
                extra,
                c,
            )
    for role, column, fix in (
        ("label_column", label_column, "the true labels"),  # a model is validated on labels: not to unset
        ("prediction_column", prediction_column, "the model's predictions, or unset it"),
    ):
        pending = role == "label_column" and labels_pending
        if column is not None and not pending and (column not in reference.columns or column not in current.columns):
            where, frame = (ref_name, reference) if column not in reference.columns else (cur_name, current)
            raise ctx.error(
                f"{role} '{column}' is missing from {where}: {column_hint(column, frame.columns)} "
                f"Fix the export, or set drift.{role} to the column holding {fix}."
            )
    candidates = [c for c in candidates if c in reference.columns and c in current.columns]
    for option, mapping in (
        ("column_methods", column_methods),
        ("column_thresholds", column_thresholds),
        ("categorical_columns", dict.fromkeys(categorical_columns or ())),
    ):
        unknown = [c for c in (mapping or {}) if c not in reference.columns and c not in missing]
        if unknown:
            raise ctx.error(
                f"{option} names {unknown}, not columns of {ref_name}. Fix the names; "
                f"columns are {list(map(str, reference.columns))[:50]}."
            )

    forced_cat = set(categorical_columns or ())
    # Planned first (type, method, threshold of every column), then scored. A numeric column with a fast
    # method whose values were not sorted to plan it is scored after ``on_plan``: its sort is most of the
    # work. Other columns are scored as they are planned, so that their cleaned data (value counts) is
    # held one column at a time, and a method needing Evidently fails before the report starts.
    plan: dict[str, ColumnCheck] = {}
    scored: dict[str, ColumnDrift] = {}
    null_share: dict[str, float] = {}
    reference_null_share: dict[str, float] = {}  # what the decision compares ``null_share`` with
    type_changes: list[dict[str, str]] = []
    started: dict[str, float] = {}  # null throughout the reference, values now: share of current rows with one
    recast: dict[str, tuple[pd.Series, pd.Series]] = {}  # booleans read as the 0/1 the other frame holds
    for column in candidates:
        ref_series, cur_series = reference[column], current[column]
        ref_data, cur_data = ColumnData(ref_series), ColumnData(cur_series)
        ref_kind, cur_kind = ref_data.kind, cur_data.kind
        if ref_kind == cur_kind == "empty":  # as sparse as in the reference: how the feed is, no fault
            skipped[str(column)] = (
                f"only null values in both {ref_name} and {cur_name}: nothing to compare (drop it with exclude_columns)"
            )
            continue
        if "empty" in (ref_kind, cur_kind):
            null_share[str(column)] = float(cur_series.isna().mean())
            reference_null_share[str(column)] = float(ref_series.isna().mean())
            if ref_kind == "empty" and column not in (label_column, prediction_column):
                # values where the reference has none: a feature that started arriving (launched, its feed
                # fixed), or a column the reference export lost; the evidence, knowing what the champion
                # reads, tells which (gather_evidence: a fault when the champion reads it)
                started[str(column)] = 1.0 - null_share[str(column)]
                skipped[str(column)] = (
                    f"only null values in {ref_name}, values on {started[str(column)]:.0%} of {cur_name} rows: "
                    "started arriving, or lost by the reference export when the champion reads it (the evidence "
                    "says); not checked for drift (the reference has none to compare with)"
                )
                continue
            where = cur_name if cur_kind == "empty" else ref_name
            problem(
                f"column '{column}' has only null values in {where}. Check the export job "
                "or drop it with exclude_columns."
            )
            continue
        as_numbers = _booleans_as_0_1(ref_series, ref_data, cur_series, cur_data)
        if as_numbers is not None:  # True/False against 0/1: the same values (True == 1), no type change
            ref_series, cur_series = recast[str(column)] = as_numbers
            ref_data, cur_data = ColumnData(ref_series), ColumnData(cur_series)
            ref_kind, cur_kind = ref_data.kind, cur_data.kind
        as_text = _numbers_as_reference_text(ref_data, cur_series, cur_data)
        if as_text is not None:  # ids such as 1003 and "A12" in the reference, a window of only numbers
            cur_series = as_text
            recast[str(column)] = (ref_series, cur_series)
            cur_data = ColumnData(cur_series)
            cur_kind = cur_data.kind
        if ref_kind != cur_kind:  # a broken feed, not a broken call: recorded, and the decision escalates
            type_changes.append(
                {
                    "column": str(column),
                    "reference": f"{ref_kind} ({ref_series.dtype}{f': {ref_data.detail}' if ref_data.detail else ''})",
                    "current": f"{cur_kind} ({cur_series.dtype}{f': {cur_data.detail}' if cur_data.detail else ''})",
                }
            )
            if not strict:
                schema_errors.append(
                    f"column '{column}' holds {ref_kind} values in {ref_name} but {cur_kind} values in "
                    f"{cur_name} (dtypes {ref_series.dtype} vs {cur_series.dtype}). Fix the export so both "
                    "have the same type, or drop it with exclude_columns."
                )
            continue
        # The kind is read on the reference (larger, trusted), or on the current data if the reference has
        # fewer values, and used for both frames: a few rows always look like text (most values distinct),
        # which Evidently's text method cannot score.
        larger = ref_data if ref_data.n >= cur_data.n else cur_data
        col_type = CAT if column in forced_cat else infer_column_type(larger)
        if col_type is None:
            if cur_kind == "datetime":  # Evidently does not check datetime columns; neither do we, and we say so
                what = cur_data.detail or ref_data.detail
                skipped[str(column)] = (
                    f"datetime values{f' ({what})' if what else ''}: not checked for drift "
                    "(exclude it, or derive features)"
                )
                continue
            of = f": {cur_data.detail}" if cur_data.detail else ""
            problem(
                f"column '{column}' in {cur_name} holds {cur_kind} values (dtype {cur_series.dtype}{of}), "
                "which drift checks do not support. Cast it to numbers or strings, or drop it with "
                "exclude_columns."
            )
            continue
        ref_data.type = cur_data.type = col_type
        if column != label_column:  # a label's nulls are labels not in yet: ``unlabelled_share``, no fault
            null_share[str(column)] = cur_data.null_share
            reference_null_share[str(column)] = ref_data.null_share
        if ref_data.n == 0 or cur_data.n == 0:
            where = cur_name if cur_data.n == 0 else ref_name
            problem(
                f"column '{column}' has no finite values in {where}. Check the export job "
                "or drop it with exclude_columns."
            )
            continue
        method = (column_methods or {}).get(column) or (type_methods or {}).get(col_type)
        chosen = method is not None
        if method is None:  # Evidently's defaults may use a categorical test on few numeric values
            method = default_method(col_type, ref_data.n, n_values(ref_data, cur_data))
        spec = DRIFT_METHODS[method]
        if chosen and col_type not in spec.types:
            raise ctx.error(
                f"method '{method}' does not apply to column '{column}', which is "
                f"{TYPE_WORDS[col_type]}; it applies to "
                f"{list(spec.types)} columns. Choose another method in column_methods/type_methods."
            )
        threshold = (column_thresholds or {}).get(column)
        if threshold is not None and spec.is_p_value and threshold > 1:  # a distance's, or a percentage
            by = (
                "column_methods"
                if (column_methods or {}).get(column)
                else f"type_methods[{col_type!r}]"
                if chosen
                else f"Evidently's default for a {TYPE_WORDS[col_type]} column of {ref_data.n} reference rows"
            )
            raise ctx.error(_p_value_threshold_problem(str(column), float(threshold), spec, by))
        threshold = spec.default_threshold if threshold is None else float(threshold)
        plan[str(column)] = ColumnCheck(col_type, method, threshold)
        if _score_later(method, ref_data, cur_data, ref_series, cur_series):
            continue
        if method in FAST_METHODS:
            score = score_fast(method, ref_data, cur_data)
            drifted = spec.drifted(score, threshold)
        else:
            try:
                score, drifted = score_with_evidently(method, ref_data, cur_data, threshold)
                if col_type == TEXT and not math.isfinite(score):  # a few current rows: NaN, no error
                    raise ValueError(f"no score ({score})")
            except ImportError as err:  # Evidently absent, or present but not importable (pandas 3)
                raise ctx.error(_evidently_needed(method, str(column), chosen, err)) from err
            except Exception as err:
                if col_type != TEXT:
                    raise ctx.error(
                        f"drift method '{method}' failed on column '{column}' ({TYPE_WORDS[col_type]}): "
                        f"{describe(err)}. Choose another method in column_methods/type_methods, or drop it "
                        "with exclude_columns."
                    ) from err
                # Evidently's text methods fit a vocabulary, which a few rows (a tiny window) may not give
                # ("empty vocabulary", or a NaN score): the texts are compared as categories, which the
                # summary's type says
                col_type = ref_data.type = cur_data.type = CAT
                method = default_method(CAT, ref_data.n, n_values(ref_data, cur_data))
                spec = DRIFT_METHODS[method]
                threshold = spec.default_threshold
                plan[str(column)] = ColumnCheck(col_type, method, threshold)
                score = score_fast(method, ref_data, cur_data)
                drifted = spec.drifted(score, threshold)
        scored[str(column)] = ColumnDrift(str(column), col_type, method, score, threshold, drifted)
        del ref_data, cur_data

    if on_plan is not None and (plan or type_changes):  # else refused below
        on_plan(DriftPlan(dict(plan), float(drift_share)))
    results: dict[str, ColumnDrift] = {}
    for column, check in plan.items():  # in the columns' order
        if column in scored:
            results[column] = scored.pop(column)
            continue
        ref_series, cur_series = recast.get(column) or (reference[column], current[column])
        ref_data, cur_data = ColumnData(ref_series), ColumnData(cur_series)
        ref_data.type = cur_data.type = check.type
        score = score_fast(check.method, ref_data, cur_data)
        drifted = DRIFT_METHODS[check.method].drifted(score, check.threshold)
        results[column] = ColumnDrift(column, check.type, check.method, score, check.threshold, drifted)
        del ref_data, cur_data

    quality = None
    changed = {change["column"] for change in type_changes}
    # labels or predictions of another type than the reference's (yes/no, then 1/0): a type change fault,
    # which the decision escalates; the frames' values cannot be compared, so nothing is measured
    if label_column is not None and prediction_column is not None and not changed & {label_column, prediction_column}:
        try:
            quality = model_quality(reference, current, label_column, prediction_column, task)
        except ValueError as err:  # labels and predictions that do not fit: say for which model
            raise ctx.error(str(err)) from None
    if not results and not type_changes:
        reasons = [*schema_errors, *(f"'{column}': {why}" for column, why in skipped.items())]
        raise ctx.error(
            "no column could be checked for drift"
            + (f" ({'; '.join(reasons[:3])}{'; ...' if len(reasons) > 3 else ''})" if reasons else "")
            + ". Check columns/exclude_columns and the data."
        )
    n_drifted = sum(1 for r in results.values() if r.drifted)
    share = n_drifted / len(results) if results else 0.0
    data_quality: dict[str, Any] = {
        "null_share": null_share,
        "reference_null_share": reference_null_share,
        "missing_columns": [str(c) for c in missing],
        "extra_columns": [str(c) for c in extra],
        "schema_errors": schema_errors,
        "type_changes": type_changes,
        "skipped_columns": skipped,
        "started_columns": started,
        "notes": notes,
    }
    if label_column is not None and label_column in reference.columns:
        # Labels arrive late: the share of current rows without one yet (1.0: none in). Not a null
        # share of a broken column; the evidence measures on the labelled rows and judges the others.
        labels = current[label_column] if label_column in current.columns else None
        data_quality["unlabelled_share"] = 1.0 if labels is None else float(labels.isna().mean())
    return DriftSummary(
        dataset_drift=bool(share >= drift_share),
        drift_share=share,
        share_threshold=float(drift_share),
        n_columns=len(results),
        n_drifted=n_drifted,
        columns=results,
        quality=quality,
        n_reference=len(reference),
        n_current=len(current),
        data_quality=data_quality,
        top_n=top_n,
        model_name=model_name,
    )


def _booleans_as_0_1(
    ref_series: pd.Series, ref_data: ColumnData, cur_series: pd.Series, cur_data: ColumnData
) -> tuple[pd.Series, pd.Series] | None:
    """``(reference, current)`` with the frame's booleans as integers, when one frame holds True/False and
    the other only the numbers 0 and 1 (an export writing a label or a flag as bool, another as 0/1):
    the same values, as pandas and scikit-learn compare them (True == 1). None otherwise: a type change."""
    kinds = (ref_data.kind, cur_data.kind)
    if sorted(kinds) != ["bool", "numeric"]:
        return None
    numbers = ref_data if kinds[0] == "numeric" else cur_data
    if not bool(((numbers.values == 0) | (numbers.values == 1)).all()):
        return None

    def integers(series: pd.Series) -> pd.Series:
        return series.astype("Int64" if series.isna().any() else "int64")

    if kinds[0] == "bool":
        return integers(ref_series), cur_series
    return ref_series, integers(cur_series)


def _numbers_as_reference_text(ref_data: ColumnData, cur_series: pd.Series, cur_data: ColumnData) -> pd.Series | None:
    """The current column's numbers as text, when the reference holds text (ids mixing numbers and text,
    ``1003`` and ``"A12"``, are read as text) and each current number, as text, is one of its values: a
    window that happens to hold only the numeric ids is no type change. None otherwise."""
    if ref_data.kind != "string" or cur_data.kind != "numeric":
        return None
    if not {_number_text(v) for v in cur_data.counts} <= set(ref_data.counts):
        return None
    return cur_series.map(_number_text, na_action="ignore").astype(object)


def _number_text(value: Any) -> str:
    """A number as a CSV export writes an id: ``1003``, also for ``1003.0`` (ints read as floats with nulls)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _score_later(
    method: str, ref_data: ColumnData, cur_data: ColumnData, ref_series: pd.Series, cur_series: pd.Series
) -> bool:
    """Whether a planned column is scored after ``on_plan``, from its column again: a numeric column
    (not one of objects: converting those is not cheap to repeat) with a fast method whose values were
    not sorted to plan it. Its sort, most of the work, then runs while the report renders."""
    return (
        method in FAST_METHODS
        and ref_data.numeric
        and cur_data.numeric
        and not (ref_data.is_sorted or cur_data.is_sorted)
        and not pd.api.types.is_object_dtype(ref_series.dtype)
        and not pd.api.types.is_object_dtype(cur_series.dtype)
    )


def _empty_window_summary(reference: pd.DataFrame, s: DriftSettings, model_name: str | None) -> DriftSummary:
    """The summary of a ``current_window`` that holds no rows: nothing checked, ``n_current`` 0, which
    the decision reads as insufficient data (``no_action``), as it does a window of a few rows."""
    return DriftSummary(
        dataset_drift=False,
        drift_share=0.0,
        share_threshold=float(s.drift_share),
        n_columns=0,
        n_drifted=0,
        columns={},
        quality=None,
        n_reference=len(reference),
        n_current=0,
        data_quality={
            "null_share": {},
            "reference_null_share": {},
            "missing_columns": [],
            "extra_columns": [],
            "schema_errors": [],
            "type_changes": [],
            "skipped_columns": {},
            "notes": [],
        },
        top_n=s.top_n,
        model_name=model_name,
    )


def _installed_version(distribution: str) -> str:
    """The installed version of ``distribution``, or "of an unknown version"."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "of an unknown version"


def _evidently_needed(method: str, column: str, chosen: bool, err: ImportError) -> str:
    """The error for a method without a fast path when Evidently cannot be imported."""
    not_found = (err.name or "") if isinstance(err, ModuleNotFoundError) else ""
    if not_found == "evidently" or (not_found.startswith("evidently.") and not importlib.util.find_spec("evidently")):
        why = "is not installed"
    elif not_found.startswith("evidently."):  # Evidently is there but older than 0.7: no evidently.legacy
        why = (
            f"is too old here: Evidently {_installed_version('evidently')} is installed (it has no "
            f"{not_found}) and the provider needs Evidently 0.7"
        )
    else:
        why = f"does not import here ({type(err).__name__}: {err})"
    if chosen:
        instead = f"choose one of {sorted(FAST_METHODS)} in column_methods/type_methods"
    else:  # a default method: only text columns have no fast path
        instead = "exclude the column with exclude_columns"
    return (
        f"drift method '{method}' (column '{column}') is computed by Evidently, which {why}. "
        "Install it with `pip install 'airflow-provider-agentic-mlops[report]'` (Evidently 0.7 needs "
        f"pandas below 3), or {instead}."
    )
