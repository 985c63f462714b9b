"""Per-model configuration (``models.yaml``), validated with pydantic.

A bad entry fails with the model's name, the field and what was expected, e.g.::

    models.yaml: model 'fraud-detector': field 'decision.min_drift_share': Input should be less
    than or equal to 1 (got 3)
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from airflow_provider_agentic_mlops.core.connections import (
    DEFAULT_LLM_CONN_ID,
    DEFAULT_PROMOTE_CONN_ID,
    DEFAULT_REGISTRY_CONN_ID,
    DEFAULT_SLACK_CONN_ID,
    DEFAULT_TRAIN_CONN_ID,
)
from airflow_provider_agentic_mlops.core.durations import parse_duration
from airflow_provider_agentic_mlops.core.errors import AgenticMlopsError, settings_error
from airflow_provider_agentic_mlops.core.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    TARGET_UNIT_METRICS,
    TASK_METRICS,
    performance_metric_for,
)
from airflow_provider_agentic_mlops.core.validation import (
    ClassLabel,
    FieldError,
    GateSettings,
    UnknownMetric,
    amount_problem,
    as_fraction,
    check_metric_amounts,
    check_metric_names,
    gates_task,
)

#: Every model's DAG is ``agentic_mlops__<model>``: the DAG factory names them, the alerts endpoint finds them.
DAG_ID_PREFIX = "agentic_mlops__"
#: The tag of a model's DAG while its models-file entry is invalid: the DAG factory sets it (the DAG list
#: filters on tags), the plugin's pages read it to show the model's error.
INVALID_ENTRY_TAG = "models-yaml-error"
#: How the description of a stand-in DAG begins (an invalid entry without a last valid one: its one task fails
#: with the error, which follows): the alerts endpoint starts no run of it.
STAND_IN_DESCRIPTION = "Not run: the models file entry is invalid: "
#: The DAG ids of invalid entries without a usable name (``<prefix><position>``): no model's, as no model name
#: starts with ``-``.
UNNAMED_ENTRY_DAG_PREFIX = f"{DAG_ID_PREFIX}-invalid-entry-"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")

#: ``$NAME`` or ``${NAME}``, a name starting with a letter or ``_`` (as a shell's), or ``$$``: one ``$``. Any other
#: ``$`` is text: ``$1`` in a SQL query, ``^\$[0-9]+$`` in a regex. The DAG factory expands them in
#: :data:`EXPANDED_FIELDS` only.
VARIABLE = re.compile(r"\$(?:(\$)|([A-Za-z_]\w*)|\{([A-Za-z_]\w*)\})")
#: The fields of an entry whose ``${VARS}`` the DAG factory expands (``retrain.conf``: every string in it).
EXPANDED_FIELDS = ("drift.reference", "drift.current", "validation.data", "retrain.conf")
#: Outside :data:`EXPANDED_FIELDS`, read left to right: ``${NAME}`` (meant to be expanded, but kept as written, so
#: refused), ``$${NAME}`` (group 1 is ``{NAME}``: the escape for a literal ``${NAME}``) or ``$$`` (text). A plain
#: ``$NAME`` or ``$`` there is text too (a column ``$amount``, a tag ``cost-in-$USD``).
_BRACED_VARIABLE = re.compile(r"\$\$(\{[A-Za-z_]\w*\})?|\$\{[A-Za-z_]\w*\}")


def model_name_error(name: str) -> str | None:
    """Why ``name`` is not a valid model name (it becomes part of the DAG id and of the model pages' URLs), with
    a valid name close to it when there is one; None when it is valid."""
    if _NAME.match(name):
        return None
    suggested = _suggested_name(name)
    return (
        "must start with an ASCII letter (A-Z, a-z) or a digit and use only ASCII letters, digits, '-', '_' "
        "and '.', at most 200 characters (it becomes part of the DAG id)"
        + (f"; e.g. {suggested!r}" if suggested else "")
    )


def model_name_refusal(model_name: object) -> str | None:
    """What a task says, refusing ``model_name`` given in a DAG file (a hand-written DAG may pass ``'team/churn'``,
    whose rows the model pages, with the name in their URLs, could not show); None when it is valid."""
    error = model_name_error(model_name) if isinstance(model_name, str) else "must be a string"
    if not error:
        return None
    return (
        f"model_name {model_name!r} {error}. Nothing was done or recorded; fix model_name in the DAG file "
        "(models.yaml checks the same rule)"
    )


def _suggested_name(name: str) -> str | None:
    """A valid model name close to ``name`` (accents dropped, each run of other characters a ``-``:
    ``'house price'`` -> ``'house-price'``), or None when none can be derived (no ASCII letter or digit)."""
    import unicodedata

    ascii_only = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_only).lstrip("_.-")[:200].rstrip("-")
    return cleaned if cleaned and _NAME.match(cleaned) else None


# The closed set of actions the agent may choose, and the decision modes (``auto`` picks ``llm``
# when the LLM connection exists). Defined here, with the config that names them.
RETRAIN, NO_ACTION, ESCALATE = "retrain", "no_action", "escalate"
ACTIONS: tuple[str, ...] = (RETRAIN, NO_ACTION, ESCALATE)
MODE_AUTO, MODE_RULES, MODE_LLM = "auto", "rules", "llm"
MODES: tuple[str, ...] = (MODE_AUTO, MODE_RULES, MODE_LLM)


#: The longest duration a models file may give (ten years, in hours): durations become ``timedelta``s and
#: Airflow timeouts, which an infinite or astronomical value overflows (and no loop waits that long).
MAX_HOURS = 24 * 366 * 10


def _holds_numbers(annotation: Any) -> str | None:
    """``"value"`` when a field of ``annotation`` is a number (``float``, ``int | None``), ``"values"`` when a
    mapping of them (``dict[str, float]``), else None."""
    if annotation in (int, float):
        return "value"
    args = get_args(annotation)
    if getattr(annotation, "__origin__", None) is dict and len(args) == 2 and args[1] in (int, float):
        return "values"
    return "value" if args and all(arg in (int, float, type(None)) for arg in args) else None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """pydantic reads ``true`` as 1 in a number field (``timeout_hours: true``: one hour): refused."""
        holds = _holds_numbers(cls.model_fields[info.field_name].annotation) if info.field_name else None
        given = [value] if holds == "value" else list(value.values()) if holds and isinstance(value, dict) else []
        if any(isinstance(item, bool) for item in given):
            raise PydanticCustomError(
                "bool_number",
                "a number, not a boolean: YAML reads an unquoted yes, no, on, off, true or false as a boolean; "
                "write the number",
            )
        return value


_S = TypeVar("_S", bound="_Settings")


def settings_overrides(section: type[BaseModel], kwargs: dict[str, Any], *, settings: object = None) -> dict[str, Any]:
    """Take the fields of ``section`` (e.g. ``DriftSettings``, ``GateSettings``) out of an operator's ``kwargs``:
    the ones to apply on top of its ``settings`` argument.

    The precedence is Airflow's, explicit before DAG-wide: a keyword argument > ``settings`` > the DAG's
    ``default_args`` > the section's defaults. Airflow fills the fields the operator declares (see
    ``operators._base.settings_parameters``) from ``default_args`` before ``__init__`` runs, putting the
    ``default_args`` entry itself into ``kwargs``, and hands ``__init__`` the ``default_args`` too (left in
    ``kwargs`` here). So with ``settings`` given (not None), a field whose value *is* (the same object as)
    its ``default_args`` entry is dropped: ``settings`` holds every field, its defaults included, and the
    DAG-wide defaults reach none of them. Airflow merges before ``__init__`` sees the arguments, so a keyword
    argument given the very object of its ``default_args`` entry (the same string constant, a small int)
    cannot be told from one filled in, and is dropped too: it then loses to ``settings`` where the two
    differ. Without ``settings`` every field in ``kwargs`` is kept, ``default_args`` included.

    :param section: the config section whose fields the operator declares.
    :param kwargs: the operator's keyword arguments; the section's fields are removed from it.
    :param settings: the operator's ``settings`` argument, or None when it was not given.
    """
    fields = {name: kwargs.pop(name) for name in section.model_fields.keys() & kwargs}  # one lookup, not per key
    defaults = kwargs.get("default_args") if settings is not None else None
    if not defaults:
        return fields
    return {name: value for name, value in fields.items() if name not in defaults or value is not defaults[name]}


class _Settings(_Section):
    """A section an operator takes whole (``settings=``) or field by field (keyword arguments named after
    its fields, which override it): the parameters defined here once, for models.yaml and the operator."""

    #: what the section is, in errors: ``"drift"`` -> "drift settings: ...", "'x' is not a drift setting"
    kind: ClassVar[str]

    @classmethod
    def resolve(
        cls: type[_S], settings: _Settings | Mapping[str, Any] | None = None, /, *, role: str = "", **overrides: Any
    ) -> _S:
        """``settings`` (an instance, one of a subclass such as :class:`DriftConfig`, whose own fields are left
        out, a mapping, or None for the defaults) with ``overrides`` on top, validated.

        :param role: said first in an error, e.g. ``"model 'fraud': DriftCheckOperator"``.
        :raises ValueError: an unknown name or a bad value, naming the field, the value and what is expected.
        """
        if isinstance(settings, cls):  # its fields as they are: cheaper than model_dump, paid once per DAG
            base = {name: getattr(settings, name) for name in cls.model_fields}
            if not overrides:  # validated already (a models.yaml section is validated whole): not again at every parse
                return cls.model_construct(**base)
        elif isinstance(settings, BaseModel):
            base = settings.model_dump(include=set(cls.model_fields))
        else:
            base = dict(settings or {})
        try:
            return cls.model_validate({**base, **overrides})
        except ValidationError as err:
            raise settings_error(err, kind=cls.kind, known=cls.model_fields, role=role) from None


class DriftSettings(_Settings):
    """How drift and the decision's evidence are measured: every drift parameter, defined here once.

    The same object is ``models.yaml``'s ``drift`` section (:class:`DriftConfig` adds where the data
    and the champion are), DriftCheckOperator's ``settings`` (or its keyword arguments of the same
    names), and what ``core.drift.compute_drift`` and ``core.evidence.gather_evidence`` read.

    :param columns: columns to check; default all reference columns.
    :param exclude_columns: columns not to check (ids, ...); the timestamp column is never checked.
    :param column_methods: Evidently drift method per column, e.g. ``{"amount": "psi"}``.
    :param type_methods: method per column type, keys ``"num"``, ``"cat"`` and ``"text"``.
    :param column_thresholds: drift threshold per column; default the method's default. A p-value test's is at
        most 1: checked here against ``column_methods``, and by ``compute_drift`` against the method the data
        picks for a column without one (``type_methods``', else Evidently's default, a test on few rows).
    :param drift_share: the dataset drifts when at least this share of columns drifts.
    :param categorical_columns: columns to treat as categorical whatever their dtype.
    :param timestamp_column: timestamp column of the current data (for ``current_window``): datetimes,
        date strings, or numbers since 1970 UTC in the unit their magnitude says (``core.data_io.epoch_unit``).
    :param current_window: keep current rows whose timestamp is within this duration before the
        data interval end (or now), e.g. ``"7d"``, ``"12h"``, ``"P7D"`` (see ``core.durations``); needs
        ``timestamp_column``.
    :param label_column: label column, for model quality and performance evidence; usable without
        ``prediction_column`` (the champion then predicts).
    :param prediction_column: prediction column (label, or probability of class 1).
    :param task: ``"classification"`` or ``"regression"``; inferred from the labels when None.
    :param top_n: how many drifted columns the summary lists in ``top_drifted``.
    :param strict: fail on broken input (missing, extra or all-null columns, dtype clashes); when
        False such columns are skipped and listed in the summary's ``data_quality`` (and escalate).
    :param report_sample_rows: rows sampled from each frame for Evidently's HTML/JSON report, which
        states the sample. Evidently's report costs about 1.3 CPU s for 20 columns whatever the
        sample, plus about 0.17 s per 1,000 rows (measured: 1.65 s at 1,000 rows, 3.0 s at 10,000);
        the decision reads the summary computed on all rows, so 2,000 rows keep the report a small
        part of the task on large data and still show each column's distribution.
    :param report_max_columns: columns Evidently's report shows at most (it draws each: 2,000 columns took
        about 12 minutes and 137 MB); on wider data those with a fault, then the drifted ones (most severe
        first), then the highest drift scores, and the report and the summary's ``report.shown`` say so.
        The summary and the decision read every column.
    :param feature_columns: the champion's input columns; default the names it was fitted on (or its
        signature's inputs), else the checked columns. Values past the reference range in another
        column (a running id) are a note, no fault; no fault in another column stops the champion.
    :param performance_metric: metric of the performance evidence, one of the task's (``core.metrics.TASK_METRICS``)
        but ``rmse`` and ``mae`` (in the target's units, which one absolute ``min_performance_drop`` cannot
        fit: refused, naming ``r2``); default ``accuracy`` or ``r2`` (a models.yaml entry: the metric its
        validation is gated on, see ``core.metrics.performance_metric_for``). ``roc_auc`` and ``log_loss``
        read class probabilities.
    :param performance_baseline: the champion's metric on held-out data, when not logged in MLflow.
    :param positive_label: binary classification: the class the performance evidence's ``precision``,
        ``recall`` and ``f1`` measure (``churned`` of ``churned``/``stayed``), named in it as ``positive_class``;
        default the greater of the two (a models.yaml entry: ``validation.positive_label``, the class its
        validation measures). A label no class of the data has is refused, the measurement said failed.
    :param reference_is_holdout: the reference rows were not used to train the champion, so its
        metric on them is a fair baseline (and CBPE's reference).
    """

    columns: list[str] | None = None
    exclude_columns: list[str] = Field(default_factory=list)
    column_methods: dict[str, str] = Field(default_factory=dict)
    type_methods: dict[Literal["num", "cat", "text"], str] = Field(default_factory=dict)
    column_thresholds: dict[str, float] = Field(default_factory=dict)
    drift_share: float = Field(0.5, gt=0, le=1)
    categorical_columns: list[str] = Field(default_factory=list)
    timestamp_column: str | None = None
    current_window: str | None = None
    label_column: str | None = None
    prediction_column: str | None = None
    task: Literal["classification", "regression"] | None = None
    top_n: int = Field(5, ge=0)
    strict: bool = True
    report_sample_rows: int = Field(2_000, gt=0)
    report_max_columns: int = Field(100, gt=0)
    feature_columns: list[str] | None = None
    performance_metric: str | None = None
    performance_baseline: float | None = None
    positive_label: ClassLabel | None = None
    reference_is_holdout: bool = False

    kind: ClassVar[str] = "drift"

    @field_validator("column_methods", "type_methods")
    @classmethod
    def _known_methods(cls, value: dict[str, str]) -> dict[str, str]:
        from airflow_provider_agentic_mlops.core.drift.methods import DRIFT_METHODS  # no pandas: cheap at parse

        for key, method in value.items():
            if method not in DRIFT_METHODS:
                raise ValueError(f"{key!r}: {method!r} is not a drift method; use one of {sorted(DRIFT_METHODS)}")
        return value

    @field_validator("column_thresholds")
    @classmethod
    def _thresholds_in_range(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        """A threshold is a p-value (at most 1) for the p-value methods and a distance or score (above 0) for the
        others; either way above 0. A column's method known here is its ``column_methods`` entry."""
        from airflow_provider_agentic_mlops.core.drift.methods import DRIFT_METHODS  # no pandas: cheap at parse

        for column, threshold in value.items():
            if not 0 < threshold < float("inf"):  # also refuses NaN
                raise ValueError(f"{column!r}: threshold {threshold:g} must be a number > 0")
            method = DRIFT_METHODS.get((info.data.get("column_methods") or {}).get(column, ""))
            if method is not None and method.is_p_value and threshold > 1:
                fraction = f"; write {threshold / 100:g} for {threshold:g} %" if threshold <= 100 else ""
                raise ValueError(
                    f"{column!r}: threshold {threshold:g} is a p-value threshold for {method.name}, at most 1{fraction}"
                )
        return value

    @field_validator("performance_metric")
    @classmethod
    def _performance_metric_of_the_task(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            problem = unknown_performance_metric(value, info.data.get("task"))
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("current_window")
    @classmethod
    def _window_is_a_duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)  # the parser data_io's select_window uses, without pandas
        return value

    @model_validator(mode="after")
    def _label_is_not_the_prediction(self) -> DriftSettings:
        if self.label_column is not None and self.label_column == self.prediction_column:
            raise ValueError(
                f"label_column and prediction_column are both {self.label_column!r}: the labels cannot be "
                "measured against themselves. Set prediction_column to the column holding the model's "
                "predictions, or unset it (the champion then predicts)."
            )
        return self

    @model_validator(mode="after")
    def _window_needs_timestamp(self) -> DriftSettings:
        if self.current_window is not None and self.timestamp_column is None:
            raise ValueError(
                f"current_window {self.current_window!r} needs timestamp_column (the current data's time column)"
            )
        return self


def unknown_performance_metric(metric: str, task: str | None) -> str | None:
    """Why ``metric`` cannot be the performance evidence's metric of a ``task`` model (None: it can): every
    metric is measured with ``core.metrics.compute_metrics``, so a name it does not report (a typo, the other
    task's metric) would leave the decision without its measured performance on every run.

    :param task: ``classification`` or ``regression``; None (inferred from the labels when the check runs):
        a metric of either task.

    A metric in the target's units (``core.metrics.TARGET_UNIT_METRICS``: rmse, mae) cannot be either: the
    decision's tolerance, ``min_performance_drop``, is one absolute number; the reason names ``r2`` instead.
    """
    valid = TASK_METRICS[task] if task else CLASSIFICATION_METRICS + REGRESSION_METRICS
    if metric in valid and metric in TARGET_UNIT_METRICS:
        return (
            f"performance_metric {metric!r} is in the target's units, and the decision's min_performance_drop "
            "is one absolute tolerance for every model (0.02 of an error in cents and of one in millions is not "
            "the same harm); use 'r2', which the evidence compares at the reference's target variance "
            "(1 - MSE / var_reference(y): the error's change in units of the target's spread), or leave "
            "performance_metric unset (a model validated on rmse or mae is then judged on r2)"
        )
    if metric in valid:
        return None
    closest = difflib.get_close_matches(metric, valid, n=1)
    hint = f" (did you mean {closest[0]!r}?)" if closest else ""
    return (
        f"performance_metric {metric!r}{hint} is not a metric {f'a {task} model' if task else 'a model'} is "
        f"scored on; use one of {', '.join(valid)}"
    )


class DriftConfig(DriftSettings):
    """The ``drift`` section of a model: where its data and champion are, and the
    :class:`DriftSettings` the DAG factory hands to DriftCheckOperator whole.

    :param reference: path/URI of the reference data (Parquet or CSV), or ``module:function``.
    :param current: path/URI of the current data, or ``module:function``.
    :param champion_model_uri: the champion in MLflow; default ``models:/<registered model>@champion``.
    """

    reference: str
    current: str
    champion_model_uri: str | None = None


class DecisionConfig(_Section):
    """The agent's policy thresholds, guardrails and mode.

    :param min_drift_share: below this importance-weighted share of drifted features (after
        false-discovery control), drift alone is no reason to act.
    :param critical_drift_share: at or above it, without performance evidence, the rules retrain.
    :param max_null_share: a column with more nulls than this in current data, and 0.1 (absolute)
        more than the reference's share of it, is a pipeline fault.
    :param min_current_rows: fewer current rows than this: ``no_action``, "insufficient data".
    :param min_performance_drop: a measured or estimated drop of the performance metric larger than
        this by 1.96 standard errors (its lower 97.5 % bound is past it) is a significant drop.
    :param max_extrapolated_share: without a measured performance verdict, when at least this share
        of current rows has a feature the model relies on outside the reference's range (the model
        extrapolates), the rules retrain.
    """

    mode: Literal["auto", "rules", "llm"] = "auto"
    llm_conn_id: str = DEFAULT_LLM_CONN_ID
    min_drift_share: float = Field(0.1, ge=0, le=1, allow_inf_nan=False)
    critical_drift_share: float = Field(0.5, ge=0, le=1, allow_inf_nan=False)
    max_null_share: float = Field(0.5, ge=0, le=1, allow_inf_nan=False)
    min_current_rows: int = Field(200, ge=0)
    min_performance_drop: float = Field(0.02, ge=0, allow_inf_nan=False)
    max_extrapolated_share: float = Field(0.2, gt=0, le=1, allow_inf_nan=False)
    cooldown_hours: float = Field(24, ge=0, le=MAX_HOURS, allow_inf_nan=False)
    max_retrains: int = Field(3, ge=0)
    budget_window_hours: float = Field(168, gt=0, le=MAX_HOURS, allow_inf_nan=False)
    max_tokens_per_decision: int = Field(8000, gt=0)
    max_tokens_per_day: int = Field(200_000, gt=0)
    max_tool_calls: int = Field(3, ge=0)

    @model_validator(mode="after")
    def _critical_above_minimum(self) -> DecisionConfig:
        if self.critical_drift_share < self.min_drift_share:
            raise ValueError(
                f"critical_drift_share ({self.critical_drift_share}) must be >= min_drift_share "
                f"({self.min_drift_share})"
            )
        return self


class RetrainConfig(_Section):
    """How a new version is trained: exactly one of a training DAG or a callable."""

    trigger_dag_id: str | None = None
    python_callable: str | None = None
    conf: dict[str, Any] = Field(default_factory=dict)
    timeout_minutes: float = Field(120, gt=0, le=MAX_HOURS * 60, allow_inf_nan=False)
    #: minutes without a heartbeat after which a job trained in its task is presumed dead and failed
    heartbeat_timeout_minutes: float = Field(10, gt=0, le=MAX_HOURS * 60, allow_inf_nan=False)
    pool: str | None = None
    mlflow_conn_id: str = DEFAULT_TRAIN_CONN_ID

    @model_validator(mode="after")
    def _one_backend(self) -> RetrainConfig:
        if bool(self.trigger_dag_id) == bool(self.python_callable):
            raise ValueError("set exactly one of trigger_dag_id or python_callable ('module:function')")
        if self.python_callable and ":" not in self.python_callable:
            raise ValueError(
                f"python_callable {self.python_callable!r} must be 'module:function', "
                "e.g. 'airflow_provider_agentic_mlops.demo.training:train_fraud_detector'"
            )
        return self


class ValidationConfig(GateSettings, _Section):
    """Champion vs challenger: the gates (fields of :class:`GateSettings`) and the data they are scored on."""

    data: str | None = None
    label_column: str | None = None
    task: Literal["classification", "regression"] | None = None


class ApprovalSettings(_Settings):
    """The human gate before production: every approval parameter, defined here once.

    The same object is ``models.yaml``'s ``approval`` section (:class:`ApprovalConfig` adds how the sensor
    waits) and ApprovalSensor's ``settings`` (or its keyword arguments of the same names).

    :param timeout_hours: hours until the request expires, which denies it (how long a person has to decide).
    :param slack_conn_id: Slack API connection (bot token; extra ``base_url`` supported). Absent: no Slack.
    :param channel: Slack channel for the request (id or ``#name``). None: no Slack message.
    :param approvers: Slack user ids allowed to decide from Slack.
    :param approver_usergroup: Slack user group id whose members may decide from Slack.
    :param required_approvals: different people who must approve, 1 to 5 (a deny always decides at once).
    :param remind_every_hours: remind in the message's thread this often while pending; None: never.
    :param escalation_channel: channel that also gets each reminder (and the DAG's escalations).
    """

    timeout_hours: float = Field(24, gt=0, le=MAX_HOURS, allow_inf_nan=False)
    slack_conn_id: str = DEFAULT_SLACK_CONN_ID
    channel: str | None = None
    approvers: list[str] = Field(default_factory=list)
    approver_usergroup: str | None = None
    required_approvals: int = Field(1, ge=1, le=5)
    remind_every_hours: float | None = Field(None, gt=0, le=MAX_HOURS, allow_inf_nan=False)
    escalation_channel: str | None = None

    kind: ClassVar[str] = "approval"


#: Hours after an escalation's first Slack message during which a repeat of it (the same model, DAG and faults) is a
#: reply in that message's thread (``approval.escalation_repeat_hours``); 0: each escalation is a new message.
ESCALATION_REPEAT_HOURS = 24.0


class ApprovalConfig(ApprovalSettings):
    """The ``approval`` section of a model: the :class:`ApprovalSettings` the DAG factory hands to
    ApprovalSensor whole, how the sensor waits, and whether the DAG's task failures are posted to Slack."""

    #: wait in the triggerer; None: Airflow's ``[operators] default_deferrable``
    deferrable: bool | None = None
    poke_interval_seconds: float = Field(30, gt=0, le=MAX_HOURS * 3600, allow_inf_nan=False)
    #: post each task of the DAG that fails for good to ``escalation_channel`` (else ``channel``), when one is set
    notify_failures: bool = True
    #: hours after an escalation's (or a failure notice's) first Slack message during which the same one again is
    #: a reply in its thread, not a new message; 0: each one is a new message
    escalation_repeat_hours: float = Field(ESCALATION_REPEAT_HOURS, ge=0, le=MAX_HOURS, allow_inf_nan=False)

    @field_validator("approvers")
    @classmethod
    def _slack_user_ids(cls, value: list[str]) -> list[str]:
        """Checked when the file is read, as ApprovalSensor checks them when it runs (after a retrain was spent); a
        template (``{{ var.value.approver }}``) is rendered, and checked, then."""
        from airflow_provider_agentic_mlops.core.approval_policy import slack_user_ids

        slack_user_ids([approver for approver in value if "{{" not in approver], prefix="")
        return value


#: Airflow's schedules that are not cron expressions (``airflow.sdk.definitions.dag._create_timetable``).
_AIRFLOW_NON_CRON_SCHEDULES = frozenset({"@once", "@continuous"})
#: Airflow's cron presets (``airflow.utils.dates.cron_presets``, which a test compares this with): it turns
#: them into cron expressions before croniter parses them, so ``@quarterly``, which croniter does not know, is valid.
_AIRFLOW_CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}


#: :func:`schedule_problem` of a cron expression no date matches (a day the month never has: ``0 0 31 2 *``).
NEVER_FIRES = "never fires: no date matches it (a day of the month that month never has?)"


@functools.lru_cache(maxsize=256)  # a fleet shares a few schedules: each is parsed once per process
def schedule_problem(schedule: str) -> str | None:
    """Why Airflow would refuse ``schedule`` as a DAG's schedule (``0 25 * * *``, ``0 3 * * 8``, ``@dialy``),
    or None. The check Airflow's cron timetables make (``CronMixin.validate``), with the library they use
    (croniter), so the models file is checked the same wherever it is read: the DAG file's parse, the CLI.

    :param schedule: the ``schedule`` of a models file entry (not null).
    """
    if schedule in _AIRFLOW_NON_CRON_SCHEDULES:
        return None
    from croniter import CroniterBadCronError, CroniterBadDateError, croniter

    try:
        cron = croniter(_AIRFLOW_CRON_PRESETS.get(schedule, schedule))
    except (CroniterBadCronError, CroniterBadDateError) as err:
        return str(err)
    try:  # Airflow accepts a valid cron that matches no date (`0 0 31 2 *`): its model would never run
        cron.get_next(float)
    except CroniterBadDateError:
        return NEVER_FIRES
    return None


#: The fields of a cron as Airflow (croniter) reads them: a sixth is seconds, a seventh the year.
_AIRFLOW_CRON_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week", "second", "year")


def seconds_field_problem(schedule: str) -> str | None:
    """Why a cron of more than 5 fields is refused, or None. Airflow accepts it and croniter reads the sixth field
    as seconds, so a Quartz/Spring cron (seconds first) runs at another time: ``0 0 3 * * *``, meant 03:00 daily,
    fires every second of 00:00 on the 3rd. A model's loop has no use for a seconds field, so it is refused.

    :param schedule: the ``schedule`` of a models file entry (not null).
    """
    fields = schedule.split()
    if len(fields) <= 5:
        return None
    meant = [field.replace("?", "*") for field in fields[1:6]]  # Quartz: sec min hour dom month dow [year]
    days = (
        " (Quartz numbers days 1-7 from Sunday, cron 0-6 from Sunday: check the last field)"
        if any(c.isdigit() for c in meant[4])
        else ""
    )
    read = ", ".join(f"{name} {value!r}" for name, value in zip(_AIRFLOW_CRON_FIELDS, fields, strict=False))
    return (
        f"{len(fields)} fields: Airflow reads the sixth field as seconds: it reads {schedule!r} as {read}, where "
        "Quartz and Spring crons put seconds first, so it fires at other times than meant; write the 5 fields "
        f"minute hour day-of-month month day-of-week, e.g. {' '.join(meant)!r} for a seconds-first cron{days}"
    )


class ModelSpec(_Section):
    """One production model and the loop that looks after it.

    :param name: model name; the DAG is ``agentic_mlops__<name>``.
    :param registered_model: name in the MLflow registry (defaults to ``name``).
    :param schedule: cron, preset (``@daily``) or null for alert/manual runs only; checked as Airflow checks
        it (:func:`schedule_problem`), so the CLI refuses what the DAG file's parse would.
    """

    name: str
    registered_model: str | None = None
    schedule: str | None = "@daily"
    owner: str = "mlops"
    tags: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list)  # Airflow's limit per tag
    drift: DriftConfig
    decision: DecisionConfig = Field(default_factory=DecisionConfig)
    retrain: RetrainConfig
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    approval: ApprovalConfig = Field(default_factory=ApprovalConfig)
    #: None: the deployment's default (``[agentic_mlops] state_conn_id``), which the DAG factory fills in
    state_conn_id: str | None = None
    registry_conn_id: str = DEFAULT_REGISTRY_CONN_ID
    promote_conn_id: str = DEFAULT_PROMOTE_CONN_ID

    @field_validator("schedule")
    @classmethod
    def _null_is_not_none(cls, value: str | None) -> str | None:
        if value is not None and value.strip() in ("None", "none"):
            raise ValueError(f"{value!r} is text in YAML; write null (unquoted) for alert/manual runs only")
        return value

    @field_validator("schedule")
    @classmethod
    def _airflow_schedule(cls, value: str | None) -> str | None:
        seconds = seconds_field_problem(value) if value is not None else None
        if seconds is not None:
            raise PydanticCustomError("schedule", "{problem}", {"problem": seconds})
        problem = schedule_problem(value) if value is not None else None
        if problem == NEVER_FIRES:
            raise PydanticCustomError(
                "schedule",
                "{problem}; fix the day or month, or use null for alert/manual runs only",
                {"problem": problem},
            )
        if problem is not None:
            raise PydanticCustomError(
                "schedule",
                "not a cron expression or an Airflow preset ({problem}); use e.g. '@daily', '@hourly', "
                "'0 3 * * *', or null for alert/manual runs only",
                {"problem": problem},
            )
        return value

    @field_validator("owner")
    @classmethod
    def _owner_not_blank(cls, value: str) -> str:
        """Airflow's documented ``task_must_have_owners`` cluster policy refuses a blank owner at parse, which
        fails the whole DAG file (every model's DAG stale): refused here, as this model's error only."""
        value = value.strip()
        if not value:
            raise ValueError("is blank; name the team that owns the model (e.g. 'team-ml'), or leave it out: 'mlops'")
        return value

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        error = model_name_error(value)
        if error:
            raise ValueError(error)
        return value

    @model_validator(mode="after")
    def _labels_for_validation(self) -> ModelSpec:
        if not (self.validation.label_column or self.drift.label_column):
            raise ValueError(
                "validation compares champion and challenger on labelled data: set drift.label_column "
                "(or validation.label_column) to the column with the true labels"
            )
        return self

    @property
    def task(self) -> str | None:
        """``classification`` or ``regression``: ``validation.task``, else ``drift.task``, else the task of
        ``validation.primary_metric``, else of the guard metrics and floors (as ValidateOperator infers it); None:
        the labels tell when the tasks run."""
        gates = self.validation
        return gates_task(gates.task or self.drift.task, gates.primary_metric, *gates.guard_metrics, *gates.floors)

    @model_validator(mode="after")
    def _gate_metrics_of_the_task(self) -> ModelSpec:
        check_metric_names(self.validation, self.task, prefix="validation.")
        metric, task = self.drift.performance_metric, self.task
        problem = unknown_performance_metric(metric, task) if metric is not None else None
        if problem:  # the drift section checked it against drift.task; validation.task names it here
            raise UnknownMetric(problem, field="drift.performance_metric")
        return self

    @model_validator(mode="after")
    def _performance_metric_from_validation(self) -> ModelSpec:
        """Without ``drift.performance_metric``, the decision measures the metric validation judges the model
        on (``core.metrics.performance_metric_for``): a fraud detector gated on ROC AUC is not called unhurt
        because its accuracy, 98% negatives, barely moved."""
        if self.drift.performance_metric is None:
            self.drift.performance_metric = performance_metric_for(self.validation.primary_metric, self.task)
        return self

    @model_validator(mode="after")
    def _amounts_within_the_metrics_range(self) -> ModelSpec:
        """A percentage written as a whole number (``min_performance_drop: 5`` for 5 %) is more than a metric
        bounded by 1 can change: no drop would ever be significant, no challenger improve enough."""
        check_metric_amounts(self.validation, self.task, prefix="validation.")
        metric, drop = self.drift.performance_metric, self.decision.min_performance_drop
        if metric == "r2" and drop > 1:  # r2's range is unbounded below, but a drop of more than 1 is no tolerance
            problem = (
                f"{drop:g} is more than 1, the best r2 (the performance metric, named by drift.performance_metric, "
                "drift.task or validation.primary_metric): every smaller drop, a fall to 0 (no better than "
                f"predicting the mean) included, would be called stable{as_fraction(drop)}"
            )
        elif metric:
            problem = amount_problem(metric, drop, whose=", the performance metric's")
        elif drop > 1:  # accuracy or r2 by the labels, known at run time only: no useful drop of either exceeds 1
            problem = (
                f"{drop:g} is more than 1, the whole range of accuracy and the best r2 (the metric the decision "
                f"measures when no drift.task, validation.task or primary_metric names one){as_fraction(drop)}; "
                "set drift.task to have the metric named"
            )
        else:
            problem = None
        if problem is not None:
            raise FieldError(problem, field="decision.min_performance_drop")
        return self

    @model_validator(mode="after")
    def _positive_label_from_validation(self) -> ModelSpec:
        """Without ``drift.positive_label``, the drift check's precision, recall and f1 measure the class
        validation measures (``validation.positive_label``), not the alphabetically greater one."""
        if self.drift.positive_label is None:
            self.drift.positive_label = self.validation.positive_label
        return self

    @property
    def label_column(self) -> str:
        """The true-label column of the validation data."""
        return self.validation.label_column or self.drift.label_column  # type: ignore[return-value]

    @property
    def dag_id(self) -> str:
        return f"{DAG_ID_PREFIX}{self.name}"

    @property
    def mlflow_model_name(self) -> str:
        return self.registered_model or self.name


class ModelsFile(_Section):
    defaults: dict[str, Any] = Field(default_factory=dict)
    models: list[Any]  # each entry validated on its own: one bad entry leaves the others usable


class ConfigError(AgenticMlopsError, ValueError):
    """models.yaml is wrong; the message names the model, the field and what was expected."""


def _merge(base: dict[str, Any], override: dict[str, Any], *, nested: bool = False) -> dict[str, Any]:
    """A model's entry (``override``) over ``defaults`` (``base``): the model's value replaces the defaults'
    one, except that two mappings merge key by key, at every depth. A model's ``{}`` or ``null`` where
    ``defaults`` hold a mapping drops that mapping (``{}`` empties it, ``null`` gives the field's built-in
    default), and inside a merged mapping a ``null`` drops the defaults' key (``guard_metrics: {accuracy:
    null}``), so one model can undo, e.g., a classification guard metric from ``defaults``. Any other ``null``
    is a value (``schedule: null``: no schedule).

    :param nested: ``base`` and ``override`` are mappings inside the entry (not the entry itself)."""
    merged = dict(base)
    for key, value in override.items():
        if value is None and key in merged and (nested or isinstance(merged[key], dict)):
            del merged[key]
        elif isinstance(merged.get(key), dict) and value == {}:
            merged[key] = {}
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value, nested=True)
        else:
            merged[key] = value
    return merged


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field's annotation holds (``ValidationConfig``, ``X | None``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if (found := _model_in(arg)) is not None:
            return found
    return None


def _fields_at(model: type[BaseModel], path: Sequence[Any]) -> list[str] | None:
    """The field names of the section at ``path`` under ``model`` (``("validation",)``: ValidationConfig's),
    or None when the path does not lead to a section (a mapping of columns, a list)."""
    section: type[BaseModel] | None = model
    for part in path:
        field = section.model_fields.get(str(part)) if section is not None else None
        section = _model_in(field.annotation) if field is not None else None
        if section is None:
            return None
    return list(section.model_fields) if section is not None else None


def _unknown_field_hint(model: type[BaseModel], loc: Sequence[Any]) -> str:
    """For a field ``model`` has no place for: the closest field of its section, else the valid fields."""
    fields = _fields_at(model, loc[:-1])
    if not fields:
        return ""
    closest = difflib.get_close_matches(str(loc[-1]), fields, n=1)
    return f"; did you mean {closest[0]!r}?" if closest else f"; valid fields: {', '.join(fields)}"


_MISSING = object()


def _given_in(document: Any, path: Sequence[Any]) -> bool:
    """Whether the YAML ``document`` (a mapping) holds a value at ``path`` (keys compared as text)."""
    node = document
    for part in path:
        if isinstance(node, dict):
            key = next((k for k in node if str(k) == str(part)), _MISSING)
            if key is _MISSING:
                return False
            node = node[key]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return False
    return True


#: A number field's unit (its name's last part) -> how many seconds one is, and an example value.
_FIELD_UNITS = {"seconds": (1, 60), "minutes": (60, 30), "hours": (3600, 24), "days": (86400, 7)}


def _unit_hint(name: str, got: str) -> str:
    """For a number field named for its unit (``cooldown_hours``) given text (``7 days``): that the field counts
    that unit, and the number to write (168 for ``7 days``) when the text is a duration, else an example."""
    unit = name.rsplit("_", 1)[-1]
    if unit not in _FIELD_UNITS:
        return ""
    seconds, example = _FIELD_UNITS[unit]
    try:
        number = f"{parse_duration(got, field=name).total_seconds() / seconds:g}"
    except ValueError:
        return f"; {name} is a number of {unit}: write the number of {unit} alone, e.g. {name}: {example}"
    return f"; {name} is a number of {unit}: write the number of {unit} alone, e.g. {name}: {number} for {got!r}"


def _describe(
    source: str,
    model: str | None,
    err: ValidationError,
    *,
    schema: type[BaseModel] = BaseModel,
    entry: Any = None,
    defaults: Any = None,
) -> str:
    """One line per error of ``err``: the model, the field (``(from defaults)`` when its value came from
    there), pydantic's message, the value given, and for an unknown field the closest or the valid fields.

    :param model: the model's name, or None for an error of the file as a whole.
    :param schema: the model validated (to find an unknown field's section and its fields).
    :param entry: the model's entry as written, and ``defaults`` the file's defaults: a field the entry
        does not give but the defaults do is said to come from ``defaults``.
    """
    lines = []
    for e in err.errors():
        loc = e["loc"]
        cause = (e.get("ctx") or {}).get("error")
        values = [loc]  # where the offending values are, to say whether they came from defaults
        if isinstance(cause, FieldError):  # a check across sections, of one field
            loc = loc or tuple(cause.field.split("."))
            values = [tuple(value.split(".")) for value in cause.values]
        field = ".".join(str(p) for p in loc) or "(entry)"
        got = e.get("input")
        got_s = "" if isinstance(got, dict) else f" (got {got!r})"
        if e["type"] == "string_type" and isinstance(got, bool):  # YAML 1.1: yes/no/on/off too
            got_s += "; YAML reads an unquoted yes, no, on, off, true or false as a boolean: quote it"
        elif e["type"] == "string_type" and isinstance(got, (int, float)) and field == "schedule":
            got_s += "; write a cron expression or a preset, e.g. '0 3 * * *' or '@daily'"
            got_s += ", or null for alert/manual runs only"
        elif e["type"] == "string_type" and isinstance(got, (int, float)):
            got_s += f"; quote it in YAML ('{got}') when it is a name"
        if e["type"] == "extra_forbidden":
            got_s += _unknown_field_hint(schema, loc)
        if e["type"] in ("float_parsing", "int_parsing") and isinstance(got, str) and loc:
            got_s += _unit_hint(str(loc[-1]), got)
        where = f"model {model!r}: " if model is not None else ""
        inherited = [v for v in values if v and not _given_in(entry, v) and _given_in(defaults, v)]
        origin = ""
        if inherited and len(inherited) == len(values):
            origin = " (from defaults)"
        elif inherited:
            origin = f" ({', '.join(repr(str(v[-1])) for v in inherited)} from defaults)"
        dropped = [v for v in inherited if len(v) > 2] if isinstance(cause, UnknownMetric) else []
        if dropped:  # another task's metric in a mapping merged from defaults: the model can drop it
            got_s += "; to drop it for this model, write " + ", ".join(
                f"{v[-1]}: null under {'.'.join(str(p) for p in v[:-1])}" for v in dropped
            )
        message = str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"{source}: {where}field {field!r}{origin}: {message}{got_s}")
    return "\n".join(lines)


@dataclass
class ModelEntries:
    """What a models file holds, entry by entry: the valid models and, for each bad entry, what is wrong.

    One bad entry leaves the others usable: the DAG factory builds every valid model and fails only the bad
    one's DAG, and the rollback CLI needs only the named model's entry.

    :param source: the file, as errors name it.
    :param specs: the valid models, in file order.
    :param errors: model name (``#<n>``, the entry's number, for an entry without a valid model name) -> what
        is wrong with it, one line per problem, each naming the file, the model and the field.
    :param entries: name -> the entry of each valid model with ``defaults`` merged in (what it was validated from).
    :param invalid_entries: the key in ``errors`` -> the bad entry with ``defaults`` merged in, as written (only
        ``defaults`` for an entry that is no mapping): its owner and tags, for the model's flagged DAG.
    :param entry_count: how many entries the file's ``models`` list holds (entries sharing a name are one key of
        ``errors``); None: one per model of ``specs`` and ``errors``.
    """

    source: str
    specs: list[ModelSpec]
    errors: dict[str, str]
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    invalid_entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the file's ``defaults``, as written
    defaults: dict[str, Any] = field(default_factory=dict)
    _cache: _ModelsCache | None = field(default=None, repr=False)
    entry_count: int | None = None

    @property
    def total_entries(self) -> int:
        """How many entries the file holds, valid or not."""
        return self.entry_count if self.entry_count is not None else len(self.specs) + len(self.errors)

    @property
    def invalid_entry_count(self) -> int:
        """How many entries are invalid: each valid model is one entry, every other entry is invalid (two entries
        sharing a name are two, said in one error)."""
        return self.total_entries - len(self.specs)

    def error_message(self) -> str:
        """Every problem, one line each."""
        return "\n".join(self.errors.values())

    def raise_errors(self) -> None:
        """:raises ConfigError: naming every bad entry at once, when there is one."""
        if self.errors:
            raise ConfigError(self.error_message())

    def reject(self, name: str, message: str) -> None:
        """Count the valid model ``name`` as bad after all (its DAG could not be built), with ``message``."""
        self.specs = [spec for spec in self.specs if spec.name != name]
        self.invalid_entries[name] = self.entries.pop(name, {})
        self.errors[name] = message

    def last_valid_spec(self, name: str) -> ModelSpec | None:
        """The model as its entry last was when valid (read from the cache, see :func:`read_models_file`),
        or None: no cache, never valid, or no longer valid for this version of the provider."""
        entry = self._cache.last_valid().get(name) if self._cache is not None else None
        if entry is None:
            return None
        try:
            return ModelSpec.model_validate(entry)
        except ValidationError:
            return None

    def remember_valid(self) -> None:
        """Keep each valid entry in the cache as its model's last valid entry (a model broken now keeps the
        one it had), once per content of the file. Without a cache, nothing."""
        if self._cache is not None:
            self._cache.remember(self.entries, broken=self.errors)


def _label(index: int, entry: Any) -> tuple[str, str]:
    """The key of an entry in :attr:`ModelEntries.errors` (its name when a valid model name, else ``#<n>``)
    and how messages name it (its name as written when it is text, else ``#<n>``)."""
    name = entry.get("name") if isinstance(entry, dict) else None
    number = f"#{index + 1}"
    if not isinstance(name, str) or not name:
        return number, number
    return (name if _NAME.match(name) else number), name


#: Top-level keys starting with it hold YAML anchors to alias in the entries (docker-compose's convention,
#: ``x-common: &common {...}``): read by no model as they stand, so no unknown key.
TEMPLATE_KEY_PREFIX = "x-"


def _unknown_top_level_keys(data: dict[Any, Any]) -> list[str]:
    """What is wrong with each key of the models file besides ``defaults``, ``models`` and ``x-*``, with the closest
    valid key. Such a key (``defualts:``) may hold settings meant for every model, so no entry is read as it
    stands; each entry is held (its model keeps its last valid entry) instead of the whole file failing."""
    valid = list(ModelsFile.model_fields)
    problems = []
    for key in data:
        if key in valid or (isinstance(key, str) and key.startswith(TEMPLATE_KEY_PREFIX)):
            continue
        closest = difflib.get_close_matches(str(key), valid, n=1)
        hint = (
            f"did you mean {closest[0]!r}?"
            if closest
            else f"move it under an entry, name it 'x-{key}' if it holds YAML anchors, or remove it"
        )
        problems.append(
            f"unknown top-level key {str(key)!r} (the file has only 'defaults', 'models' and 'x-' keys for YAML "
            "anchors), whose settings "
            f"would reach no model: {hint}"
        )
    return problems


def _entries_by_name(entries: list[Any], defaults: dict[str, Any]) -> dict[str, list[int]]:
    """The positions of the entries of each model name (:func:`_label`, ``defaults`` merged in). An entry with a
    taken name is not told from the original by its position: one pasted above a running model would take over its
    DAG, one below would be dropped. So every entry of a name given twice is refused, and the model's DAG keeps its
    last valid entry."""
    found: dict[str, list[int]] = {}
    for index, entry in enumerate(entries):
        if isinstance(entry, dict):
            found.setdefault(_label(index, _merge(defaults, entry))[0], []).append(index)
    return found


def read_models(
    data: Any, *, source: str = "models.yaml", repeated_keys: Mapping[int, list[str]] | None = None
) -> ModelEntries:
    """Validate every entry of the parsed YAML document, ``defaults`` merged under each, and collect what
    is wrong with each bad one instead of stopping at the first.

    :param repeated_keys: entry position -> each key given twice in that entry (the YAML kept only the last
        one) or read as no text (``1:``, ``yes:``), as :func:`_parse_yaml` found them: the entry is bad whatever
        it now holds.

    :raises ConfigError: when the document as a whole is wrong (no ``models`` list, ``defaults`` not a
        mapping): then no entry can be read. An unknown top-level key is every entry's error instead.
    """
    if data is None:
        raise ConfigError(f"{source}: the file is empty: list the models under a 'models' key, one entry per model")
    if isinstance(data, dict) and "models" not in data:
        raise ConfigError(f"{source}: the 'models' key is missing: list the models under it, one entry per model")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with a 'models' list, got {type(data).__name__}")
    unknown_keys = _unknown_top_level_keys(data)  # every entry's error: it may hold settings for all
    try:
        doc = ModelsFile.model_validate({key: value for key, value in data.items() if key in ModelsFile.model_fields})
    except ValidationError as err:
        raise ConfigError(_describe(source, None, err, schema=ModelsFile)) from None
    problems: dict[str, list[str]] = {}
    valid: dict[str, tuple[ModelSpec, dict[str, Any]]] = {}
    written: dict[str, dict[str, Any]] = {}  # each entry as written, defaults merged in, by its key in problems
    positions: dict[str, int] = {}  # the key in problems or valid -> the position of its entry
    sharing = _entries_by_name(doc.models, doc.defaults)
    for index, entry in enumerate(doc.models):
        if not isinstance(entry, dict):
            label = f"#{index + 1}"
            written[label] = doc.defaults
            problems.setdefault(label, []).append(
                f"{source}: model {label}: expected a mapping with name, drift and retrain, got {entry!r}"
            )
            continue
        merged = _merge(doc.defaults, entry)
        label, shown = _label(index, merged)  # a name in defaults is every such model's name: duplicates
        if label in positions:  # a later entry of a refused name: its error is said once, on the model's DAG
            continue
        if len(sharing.get(label, ())) > 1:  # refused all: which one was meant is for a person to say
            positions[label] = index
            written[label] = merged
            numbers = [f"#{i + 1}" for i in sharing[label]]
            problems.setdefault(label, []).append(
                f"{source}: model {shown!r}: entries {', '.join(numbers[:-1])} and {numbers[-1]} have the same name; "
                "model names must be unique: rename one (none of them is used until then)"
            )
            continue
        positions[label] = index
        written[label] = merged
        if repeated_keys and index in repeated_keys:
            problems.setdefault(label, []).extend(
                f"{source}: model {shown!r}: {problem}" for problem in repeated_keys[index]
            )
            continue
        if unknown_keys:
            problems.setdefault(label, []).extend(f"{source}: model {shown!r}: {problem}" for problem in unknown_keys)
            continue
        found = []
        read = _unescaped(merged)  # `$${NAME}` outside the expanded fields: the literal `${NAME}`
        try:
            spec = ModelSpec.model_validate(read)
        except ValidationError as err:
            found.append(_describe(source, shown, err, schema=ModelSpec, entry=entry, defaults=doc.defaults))
        found.extend(_unexpanded_variables(source, shown, entry, merged))
        found.extend(
            f"{source}: model {shown!r}: field 'approval.{name}'{origin}: {why}"
            for name, origin, why in _empty_slack_targets(entry, doc.defaults, merged)
        )
        if found:
            problems.setdefault(label, []).extend(found)
            continue
        valid[spec.name] = (spec, read)
    in_order = [(positions[name], spec) for name, (spec, _) in valid.items()]
    for name, problem in _shared_registered_models(source, in_order).items():
        problems.setdefault(name, []).append(problem)
    ordered = [name for name in valid if name not in problems]
    return ModelEntries(
        source=source,
        specs=[valid[name][0] for name in ordered],
        errors={label: "\n".join(lines) for label, lines in problems.items()},
        entries={name: valid[name][1] for name in ordered},
        invalid_entries={label: written[label] for label in problems},
        defaults=doc.defaults,
        entry_count=len(doc.models),
    )


def _unexpanded_variables(source: str, shown: str, entry: dict[str, Any], merged: Any, path: str = "") -> list[str]:
    """What is wrong with each string (value or mapping key) of ``merged`` (an entry, ``defaults`` merged in)
    outside :data:`EXPANDED_FIELDS` that holds a ``${NAME}``: kept literally, ``registered_model: "${ENV}-fraud"``
    would name a registered model ``${ENV}-fraud``. ``$NAME``, ``$`` and ``$${NAME}`` (a literal ``${NAME}``,
    :func:`_unescaped`) are text there."""
    if path in EXPANDED_FIELDS:
        return []
    if isinstance(merged, str):
        found = _braced_variable(merged)
        return [] if found is None else [_unexpanded_problem(source, shown, entry, path, found, merged)]
    if isinstance(merged, list):
        items: list[tuple[str, Any]] = [(f"{path}.{i}", value) for i, value in enumerate(merged)]
        problems: list[str] = []
    elif isinstance(merged, dict):
        items = [(f"{path}.{key}" if path else str(key), value) for key, value in merged.items()]
        problems = []
        for key in merged:
            found = _braced_variable(key) if isinstance(key, str) else None
            if found is not None:
                problems.append(_unexpanded_problem(source, shown, entry, path, found, key, key=True))
    else:
        return []
    return problems + [
        problem for sub, value in items for problem in _unexpanded_variables(source, shown, entry, value, sub)
    ]


def _braced_variable(text: str) -> str | None:
    """The first ``${NAME}`` of ``text`` that is no ``$${NAME}``, or None."""
    return next((m.group(0) for m in _BRACED_VARIABLE.finditer(text) if m.group(0).startswith("${")), None)


def _unexpanded_problem(
    source: str, shown: str, entry: dict[str, Any], path: str, variable: str, text: str, *, key: bool = False
) -> str:
    parts = [int(part) if part.isdigit() else part for part in path.split(".")]  # a list's items by position
    origin = "" if _given_in(entry, parts) else " (from defaults)"
    return (
        f"{source}: model {shown!r}: field {path!r}{origin}: {'key ' if key else ''}{variable} is not expanded in "
        f"this field (got {text!r}); variables are expanded in {', '.join(EXPANDED_FIELDS[:-1])} and "
        f"{EXPANDED_FIELDS[-1]} only: write the value out (${variable} for a literal {variable})"
    )


def _unescaped(merged: Any, path: str = "") -> Any:
    """``merged`` with each ``$${NAME}`` outside :data:`EXPANDED_FIELDS` (values and mapping keys) made the literal
    ``${NAME}`` it escapes (in those fields the DAG factory makes every ``$$`` one ``$``)."""
    if path in EXPANDED_FIELDS:
        return merged
    if isinstance(merged, str):
        return _BRACED_VARIABLE.sub(lambda m: f"${m.group(1)}" if m.group(1) else m.group(0), merged)
    if isinstance(merged, list):
        return [_unescaped(value, f"{path}.{i}") for i, value in enumerate(merged)]
    if isinstance(merged, dict):
        return {
            (_unescaped(key) if isinstance(key, str) else key): _unescaped(value, f"{path}.{key}" if path else str(key))
            for key, value in merged.items()
        }
    return merged


#: The approval fields naming a Slack target -> an example of one, for the hint to quote it, and what '' gives.
_SLACK_TARGETS = {
    "channel": ("'#team-approvals'", "channel: '' for no Slack message"),
    "escalation_channel": ("'#oncall'", "escalation_channel: '', or leaving it out, sends escalations to channel"),
    "approver_usergroup": ("'S0123ABCD'", "approver_usergroup: '', or leaving it out, for none"),
}


def _empty_slack_targets(
    entry: dict[str, Any], defaults: dict[str, Any], merged: dict[str, Any]
) -> list[tuple[str, str, str]]:
    """``(field, origin, why)`` for each explicit empty Slack target of ``approval`` (:data:`_SLACK_TARGETS`) that is
    refused, in the entry or in the ``defaults`` it takes (origin ``" (from defaults)"``): an unquoted
    ``channel: #team-approvals`` is a YAML comment, so null, which silently replaced the defaults' channel (or left
    the approvers without one: no Slack message, so every request times out denied). A channel is refused only
    where one is expected: the defaults give one (for the entry's), or approvers are set. An escalation channel or
    user group is always refused: null means what leaving it out means (``''`` says it on purpose), and an unquoted
    ``escalation_channel: #oncall`` sent escalations to the approvals channel."""
    sections = [part.get("approval") for part in (entry, defaults, merged)]
    own, shared, section = (part if isinstance(part, dict) else {} for part in sections)
    found = []
    for name, (example, empty) in _SLACK_TARGETS.items():
        if name in own and own[name] is None:
            origin, inherited = "", shared.get(name)
        elif name not in own and name in shared and shared[name] is None:
            origin, inherited = " (from defaults)", None
        else:
            continue
        if inherited:
            why = f", replacing the defaults' {name} {inherited!r}"
        elif name == "channel" and section.get("approvers"):
            why = ", while approvers are set"
        elif name == "channel":
            continue
        else:
            why = ""
        found.append(
            (
                name,
                origin,
                f"empty (null){why}; YAML reads an unquoted {name}: #name as empty (a # starts a comment): quote "
                f"it, e.g. {name}: {example} ({empty})",
            )
        )
    return found


def _mlflow_connections(spec: ModelSpec) -> set[str]:
    return {spec.promote_conn_id, spec.registry_conn_id, spec.retrain.mlflow_conn_id}


def _shared_registered_models(source: str, specs: list[tuple[int, ModelSpec]]) -> dict[str, str]:
    """Model name -> why, for models whose MLflow registered model an earlier model (in file order) has on the
    same registry (a connection in common; the connections' hosts are unknown at parse time). The one-job lock,
    the retrain budget and the overtaken check are per model: two loops on one registered model would promote
    over each other's champion. The first keeps running: a new entry must not break a model already there.

    :param specs: the valid models with the positions of their entries, in file order.
    """
    kept: dict[str, list[tuple[int, ModelSpec]]] = {}
    problems: dict[str, str] = {}
    for index, spec in specs:
        registered = spec.mlflow_model_name
        first = next(
            ((i, o) for i, o in kept.get(registered, []) if _mlflow_connections(o) & _mlflow_connections(spec)),
            None,
        )
        if first is None:
            kept.setdefault(registered, []).append((index, spec))
            continue
        shared = sorted(_mlflow_connections(first[1]) & _mlflow_connections(spec))
        problems[spec.name] = (
            f"{source}: model {spec.name!r}: field 'registered_model': MLflow registered model {registered!r} is "
            f"used by model {first[1].name!r} (entry #{first[0] + 1}) already, on the same registry (connections "
            f"{', '.join(shared)}); their loops would promote over each other's champion. Give this model its own "
            "registered_model."
        )
    return problems


def parse_models(data: Any, *, source: str = "models.yaml") -> list[ModelSpec]:
    """Validate the parsed YAML document; ``defaults`` are merged under every model entry.

    :raises ConfigError: naming every bad entry (one line per problem), not only the first.
    """
    models = read_models(data, source=source)
    models.raise_errors()
    return models.specs


def load_models(path: str | Path, *, cache_dir: str | Path | None = None) -> list[ModelSpec]:
    """Read and validate a models YAML file.

    :param cache_dir: see :func:`read_models_file`.
    :raises ConfigError: the file cannot be read, or names every bad entry at once.
    """
    models = read_models_file(path, cache_dir=cache_dir)
    models.raise_errors()
    models.remember_valid()
    return models.specs


def _undecodable(err: UnicodeDecodeError) -> str:
    """Where ``err`` found a byte that is not UTF-8: ``byte 0xe9 at line 3, offset 22 (invalid continuation
    byte)``."""
    line = err.object[: err.start].count(b"\n") + 1
    return f"byte 0x{err.object[err.start]:02x} at line {line}, offset {err.start} ({err.reason})"


def read_models_file(
    path: str | Path, *, cache_dir: str | Path | None = None, origin: Callable[[], str] | None = None
) -> ModelEntries:
    """Read a models YAML file and validate each entry (:func:`read_models`): the valid models and the
    errors of the bad ones.

    :param cache_dir: where to keep the parsed YAML as JSON, keyed by the file's content hash, and each
        model's last valid entry (:meth:`ModelEntries.remember_valid`). The DAG processor re-reads the file
        every parse; JSON loads ~40x faster than YAML, and the result is validated by pydantic either way.
        Only a document JSON holds unchanged is cached (a date or a number as a mapping key is not), so the
        cache never changes the result. A missing or unwritable directory only disables the cache.
    :param origin: says where ``path`` came from and what to correct, for an unreadable file (called then
        only); None: the generic advice.
    :raises ConfigError: the file cannot be read, is not UTF-8, is not YAML, or is wrong as a whole (empty, no
        ``models`` list). Not YAML (or a key given twice at the top or in ``defaults``) or wrong as a whole with a cache
        holding models valid before: no error raised, each of those models is bad with the file's error (its
        DAG runs its last valid entry).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")  # YAML's own encoding, whatever the process's locale
    except UnicodeDecodeError as err:
        raise ConfigError(f"models file {str(path)!r} is not UTF-8: {_undecodable(err)}; save it as UTF-8.") from None
    except OSError as err:
        fix = (
            origin()
            if origin is not None
            else (
                "set [agentic_mlops] models_file (AIRFLOW__AGENTIC_MLOPS__MODELS_FILE) to the path of the models file"
            )
        )
        raise ConfigError(f"cannot read models file {str(path)!r}: {err.strerror}; {fix}.") from None
    cache = _ModelsCache(Path(cache_dir), path, text) if cache_dir is not None else None
    data = cache.data() if cache is not None else _MISSING
    repeated: dict[int, list[str]] = {}
    if data is _MISSING:
        try:
            data, repeated = _parse_yaml(text, path)
        except ConfigError as err:
            held = _held_at_last_valid(cache, str(path), str(err))
            if held is None:
                raise
            return held
        if cache is not None and not repeated:  # the cached document could not say which keys were repeated
            cache.parsed(data)
    try:
        models = read_models(data, source=str(path), repeated_keys=repeated)
    except ConfigError as err:  # wrong as a whole (empty, cut after `models:`): held as a YAML error is
        held = _held_at_last_valid(cache, str(path), str(err))
        if held is None:
            raise
        return held
    models._cache = cache
    return models


def _held_at_last_valid(cache: _ModelsCache | None, source: str, error: str) -> ModelEntries | None:
    """The models of the file's last valid parse, each one bad with ``error`` (the file as a whole cannot be read:
    not YAML, a key given twice at the top, empty, no ``models`` list), so each model's DAG runs its last valid
    entry, flagged, as for an unknown top-level key: one stray quote or half-written save must not fail the DAG
    file, marking every model's DAG stale. None without a cache or a model valid before: then no model's entry
    is known."""
    last_valid = cache.last_valid() if cache is not None else {}
    if not last_valid:
        return None
    models = ModelEntries(
        source=source,
        specs=[],
        errors={
            name: f"{source}: model {name!r}: the whole file is refused: {error.removeprefix(f'{source}: ')}"
            for name in last_valid
        },
        invalid_entries={name: entry for name, entry in last_valid.items() if isinstance(entry, dict)},
    )
    models._cache = cache
    return models


class _ModelsCache:
    """The cache of one models file: ``models-<hash of its path>.json`` holds the parsed YAML of the file's
    current content (by SHA-256) and whether the last valid entries were kept for that content; beside it,
    ``.valid.json`` holds each model's last valid entry (read only when a model is broken, or the file changed).
    Every read or write failure only disables what it concerns: the cache is never needed for a correct result.
    """

    def __init__(self, directory: Path, path: Path, text: str) -> None:
        import hashlib

        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        self.file, self.valid_file = directory / f"models-{key}.json", directory / f"models-{key}.valid.json"
        self.digest = hashlib.sha256(text.encode()).hexdigest()
        self.record: dict[str, Any] = {}
        self._data: Any = _MISSING
        self._last_valid: dict[str, Any] | None = None
        try:
            record = json.loads(self.file.read_text())
            if isinstance(record, dict) and record.get("sha256") == self.digest:
                self.record = record
        except (OSError, ValueError):
            pass  # no cache yet, or an unreadable one

    def data(self) -> Any:
        """The parsed YAML of the file's content, or ``_MISSING`` when not cached."""
        return self.record.get("data", _MISSING)

    def parsed(self, data: Any) -> None:
        """The YAML was parsed: kept for the next parse (written with the valid entries, by :meth:`remember`)."""
        # Cached only when JSON gives back exactly the YAML's values: dates, sets or non-string keys (JSON
        # would turn them into strings, or refuse them) are parsed from the YAML every time, so a cache hit
        # validates to the same specs, or fails the same way, as a cold parse.
        if _json_keeps(data):
            self._data = data

    def _record(self, *, valid_kept: bool = False) -> dict[str, Any]:
        record: dict[str, Any] = {"sha256": self.digest, "valid_kept": valid_kept}
        if self._data is not _MISSING:
            record["data"] = self._data
        elif "data" in self.record:
            record["data"] = self.record["data"]
        return record

    def last_valid(self) -> dict[str, Any]:
        if self._last_valid is None:
            try:
                entries = json.loads(self.valid_file.read_text()).get("entries")
            except (OSError, ValueError, AttributeError):
                entries = None
            self._last_valid = entries if isinstance(entries, dict) else {}
        return self._last_valid

    def remember(self, valid: Mapping[str, dict[str, Any]], *, broken: Mapping[str, str]) -> None:
        """Keep ``valid`` as the models' last valid entries, with the earlier ones of the ``broken`` models."""
        if self.record.get("valid_kept"):
            return  # kept already for this content of the file
        earlier = self.last_valid()
        entries = {name: earlier[name] for name in broken if name in earlier}
        entries.update((name, entry) for name, entry in valid.items() if _json_keeps(entry))
        if entries != earlier:
            self._write(self.valid_file, {"entries": entries})
            self._last_valid = entries
        self.record = self._record(valid_kept=True)
        self._write(self.file, self.record)

    @staticmethod
    def _write(file: Path, content: dict[str, Any]) -> None:
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(content))
            os.replace(tmp, file)  # atomic: a concurrent reader sees the old file or the new one
        except (OSError, TypeError, ValueError):
            pass  # the cache is an optimisation and a fallback only


def _json_keeps(value: Any) -> bool:
    """Whether JSON gives back exactly ``value``."""
    try:
        return json.loads(json.dumps(value)) == value
    except (TypeError, ValueError):
        return False


def _parse_yaml(text: str, path: Path) -> tuple[Any, dict[int, list[str]]]:
    """The YAML document of ``text``, and what is wrong with each models entry that gives a key twice or has a key
    YAML reads as no text (:func:`_non_text_keys`), by the entry's position in ``models``: that model only fails.

    :raises ConfigError: not YAML, or such a key outside the models entries (at the top, in ``defaults``): then
        every model would be read from a document YAML has silently cut (or whose keys it has changed).
    """
    import yaml

    loader = _strict_loader()(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}{_unquoted_schedule_hint(err, text)}") from None
    finally:
        loader.dispose()
    repeated: dict[int, list[str]] = {}
    for dup in loader.repeated_keys:
        message = (
            f"key {dup.key!r} is given twice ("
            + (f"lines {dup.first_line} and {dup.line}" if dup.first_line != dup.line else f"both on line {dup.line}")
            + "); YAML would keep only the last one. Merge the two into one."
        )
        index = _entry_at(text, dup.line)
        if index is None:
            raise ConfigError(f"{path}: {message}")
        repeated.setdefault(index, []).append(message)
    for where, key in _non_text_keys(text) if loader.non_text_key else ():
        index = where[1] if where[:1] == ("models",) and len(where) > 1 else None
        shown = ".".join(str(part) for part in (where[2:] if index is not None else where))
        message = (
            f"field {shown or ('(entry)' if index is not None else '(top level)')!r}: key {key.written} (line "
            f"{key.line}) is read by YAML as {key.kind}, not as text; the keys of models.yaml are names: quote it: "
            f"'{key.written}': ..."
        )
        if not isinstance(index, int):
            raise ConfigError(f"{path}: {message}")
        repeated.setdefault(index, []).append(message)
    return data, repeated


@dataclass(frozen=True)
class _NonTextKey:
    written: str  # as in the file: ``yes``, ``1``
    kind: str  # what YAML reads it as: "a boolean"
    line: int


_KEY_KINDS = {"int": "an integer", "float": "a float", "bool": "a boolean", "null": "null", "timestamp": "a date"}


def _non_text_keys(text: str) -> list[tuple[tuple[Any, ...], _NonTextKey]]:
    """Each mapping key of the YAML ``text`` that YAML reads as no string (``1:`` an int, ``yes:`` a boolean, equal
    to 1 as a key), with the path of its mapping (``("models", 0, "drift", "column_methods")``). Every key of the
    file is a name (a field, a column, a metric), which such a key would only be as its text: ``1`` and ``yes``
    would collide as one key, ``yes`` become ``True``. Not looked in: the ``x-`` templates (checked where an entry
    aliases them) and ``retrain.conf`` below its keys (the training's own data, passed as written)."""
    import yaml

    found: list[tuple[tuple[Any, ...], _NonTextKey]] = []

    def walk(node: Any, where: tuple[Any, ...], inside: frozenset[int]) -> None:
        if id(node) in inside:  # a recursive alias
            return
        inside = inside | {id(node)}
        entry_field = where[2:] if where[:1] == ("models",) else where[1:] if where[:1] == ("defaults",) else ()
        if entry_field[:2] == ("retrain", "conf") and len(entry_field) > 2:
            return
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*where, index), inside)
        if not isinstance(node, yaml.MappingNode):
            return
        for key, value in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                walk(value, where, inside)  # `<<: *anchor`: its keys are this mapping's
                continue
            written = key.value if isinstance(key, yaml.ScalarNode) else None
            if not where and isinstance(written, str) and written.startswith(TEMPLATE_KEY_PREFIX):
                continue
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:str":
                kind = key.tag.rsplit(":", 1)[-1]
                found.append(
                    (where, _NonTextKey(written or "null", _KEY_KINDS.get(kind, kind), key.start_mark.line + 1))
                )
            walk(value, (*where, written), inside)

    walk(yaml.compose(text, Loader=yaml.SafeLoader), (), frozenset())
    return found


_CRON_FIELD = r"[\w*/,?#-]+"
_CRON_LIKE = re.compile(rf"^{_CRON_FIELD}(\s+{_CRON_FIELD}){{4,5}}$")


def _unquoted_schedule_hint(err: Exception, text: str) -> str:
    """How to quote the schedule a YAML error ``err`` stopped on, or '': YAML reads an unquoted ``*/5 * * * *`` as an
    alias ("while scanning an alias") and ``@daily`` as a reserved character, and its error says nothing of cron."""
    context = getattr(err, "context", None)
    # the alias error marks its '*' as the context; the reserved-character one marks the '@' as the problem
    mark = {
        "while scanning an alias": getattr(err, "context_mark", None),
        "while scanning for the next token": getattr(err, "problem_mark", None),
    }.get(context)
    lines = text.splitlines()
    if mark is None or mark.line >= len(lines):
        return ""
    line = lines[mark.line]
    before, value = line[: mark.column], re.split(r"\s#", line[mark.column :], maxsplit=1)[0].strip()
    on_schedule = re.search(r"(^|[\s{,])schedule\s*:\s*$", before) is not None
    value = value.rstrip("}").strip() if "{" in before else value  # a flow mapping: {name: a, schedule: ...}
    if not value.startswith(("*", "@")) or not (on_schedule or _CRON_LIKE.match(value)):
        return ""
    return (
        f". YAML reads an unquoted value starting with {value[0]!r} as "
        + ("an alias" if value[0] == "*" else "a reserved character")
        + f': quote the schedule: schedule: "{value}"'
    )


@dataclass(frozen=True)
class _RepeatedKey:
    key: Any
    first_line: int
    line: int


@functools.cache
def _strict_loader() -> type:
    """PyYAML's safe loader (the C one when built) that records each key given twice in one mapping (in its
    ``repeated_keys``, with both lines): PyYAML keeps the last silently, so a second ``decision:`` block would
    drop the first one's guardrails."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class StrictLoader(base):  # type: ignore[misc, valid-type]
        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self.repeated_keys: list[_RepeatedKey] = []
            self.non_text_key = False  # a key YAML reads as no string (``1:``, ``yes:``): see _non_text_keys

        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            if isinstance(node, yaml.MappingNode):
                seen: dict[tuple[type, Any], int] = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` keys may be overridden
                        continue
                    key = self.construct_object(key_node, deep=True)
                    line = key_node.start_mark.line + 1
                    self.non_text_key |= not isinstance(key, str)
                    try:  # by type too: `1` and `yes` (True) are one Python key, but not a key given twice
                        if (type(key), key) in seen:  # also on one line: `{x: 1, x: 2}`
                            self.repeated_keys.append(_RepeatedKey(key, seen[(type(key), key)], line))
                        else:
                            seen[(type(key), key)] = line
                    except TypeError:  # an unhashable key: PyYAML's own error says so
                        continue
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def _entry_at(text: str, line: int) -> int | None:
    """The position in ``models`` of the entry (a mapping) that holds 1-based ``line``, else None."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    entries = next(
        (v for k, v in getattr(root, "value", []) if isinstance(root, yaml.MappingNode) and k.value == "models"),
        None,
    )
    for index, entry in enumerate(getattr(entries, "value", []) if isinstance(entries, yaml.SequenceNode) else []):
        if entry.start_mark.line < line <= entry.end_mark.line + 1 and isinstance(entry, yaml.MappingNode):
            return index
    return None
