"""Champion vs challenger: metrics, gates and the comparative report (no Airflow).

The gates are MLflow's model validation (``mlflow.validate_evaluation_results`` with a
``MetricThreshold`` per metric) where it can express them, and plain comparisons where it cannot:

* **floors** (``{metric: bound}``) are absolute bounds every challenger must meet: a minimum for
  metrics where higher is better, a maximum for error metrics (rmse, mae, log_loss, ...).
  MLflow: ``MetricThreshold(threshold=bound)``.
* **primary metric** must improve on the champion by at least ``min_absolute_improvement`` *and*
  ``min_relative_improvement`` (a fraction of ``|champion|``). MLflow:
  ``MetricThreshold(min_absolute_change=..., min_relative_change=...)``. Both zero means "not worse",
  which MLflow cannot say (its absolute change must be > 0), so that one is a plain comparison.
* **guard metrics** (``{metric: tolerance}``) may not regress by more than ``tolerance`` (absolute):
  a tolerated regression, which no ``MetricThreshold`` expresses, so a plain comparison.
* **significance** (opt-in, ``require_significant_improvement``): the primary metric's improvement's 95 % interval
  (a paired bootstrap over the labelled rows) must lie above 0; without one (no predictions of both versions, or
  the metric undefined in most resamples) the challenger is rejected (failing closed). Off, the interval informs.

With no champion yet (the first version of a model), only the floors apply: the challenger passes
when it meets every floor (and trivially when none is configured; the report says so). A missing or
NaN metric never passes a gate (it is refused before MLflow sees it).

MLflow is imported when gates are evaluated; its validation module ships in ``mlflow-skinny``.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import logging
import math
import shlex
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as _field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from airflow_provider_agentic_mlops.core.commands import command
from airflow_provider_agentic_mlops.core.errors import settings_error
from airflow_provider_agentic_mlops.core.metrics import (  # noqa: F401 - re-exported for validation's users
    CLASSIFICATION_METRICS,
    DEFAULT_PRIMARY_METRIC,
    LOWER_IS_BETTER,
    METRIC_RANGES,
    REGRESSION_METRICS,
    TASK_METRICS,
    Scores,
    Task,
    class_labels,
    compute_metrics,
    higher_is_better,
    read_predictions,
    score_predictions,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: The audit action ValidateOperator records when the gates reject a challenger (the pages read it).
VALIDATION_REJECTED = "validation_rejected"

# -- gates ----------------------------------------------------------------------------------------

#: ``GateSettings.min_rows``' default: fewer labelled rows reject the challenger.
DEFAULT_MIN_ROWS = 30


def _not_a_boolean(value: Any) -> Any:
    """pydantic reads ``true`` as the class ``1`` (YAML's ``positive_label: yes``): refused as no text, so the models
    file's message says to quote it."""
    if isinstance(value, bool):
        raise PydanticCustomError("string_type", "Input should be a class label (text or an integer), not a boolean")
    return value


#: A class of the labels, as a setting names it: text or an integer, never a boolean.
ClassLabel = Annotated[str | int, BeforeValidator(_not_a_boolean)]


class GateSettings(BaseModel):
    """The gate parameters, defined once: models.yaml's ``validation`` section and :class:`Gates` take them.

    :param primary_metric: the metric that decides (e.g. ``roc_auc``, ``rmse``); None (the default): the
        task's, ``roc_auc`` for classification and ``rmse`` for regression (``roc_auc`` when the task is unknown).
    :param higher_is_better: direction of the primary metric; None (the default): the metric's own
        (lower for error metrics such as ``rmse``, ``mae``, ``log_loss``). Needed only for a metric the
        provider does not know; a value contradicting a known metric's direction is refused.
    :param min_absolute_improvement: challenger - champion must be at least this (in the better direction);
        0 (the default, with ``min_relative_improvement`` 0): the challenger may not be worse.
    :param min_relative_improvement: the improvement divided by ``|champion|`` must be at least this,
        a fraction from 0 to 1 as in MLflow's ``MetricThreshold``.
    :param guard_metrics: ``{metric: tolerance}``: largest allowed regression of each metric (absolute).
    :param floors: ``{metric: bound}``: minimum (higher-is-better metrics) or maximum (error metrics) every
        challenger must meet, with or without a champion.
    :param positive_label: binary classification: the class ``precision``, ``recall`` and ``f1`` measure (e.g.
        ``fraud`` of ``fraud``/``legit``); None (the default): the greater of the two classes (``1`` of 0/1,
        ``legit`` of ``fraud``/``legit``). No gate; how those metrics are defined. Ignored for more classes.
    :param min_rows: fewest labelled rows (rows with a label) to judge on; with fewer the challenger is rejected:
        a difference measured on a handful of rows passes any minimum improvement by chance.
    :param require_significant_improvement: with a champion, the primary metric's improvement's 95 % interval
        (paired bootstrap) must lie above 0, else the challenger is rejected; when no interval can be computed it
        is rejected too (failing closed). False (the default): the interval informs only. The minimum improvements
        still gate the observed improvement; this asks that it is not chance.
    """

    primary_metric: str | None = None
    higher_is_better: bool | None = None
    min_absolute_improvement: float = Field(0.0, ge=0, allow_inf_nan=False)
    min_relative_improvement: float = Field(0.0, ge=0, le=1, allow_inf_nan=False)
    guard_metrics: dict[str, float] = Field(default_factory=dict)
    floors: dict[str, float] = Field(default_factory=dict)
    min_rows: int = Field(DEFAULT_MIN_ROWS, ge=1)
    positive_label: ClassLabel | None = None
    require_significant_improvement: bool = False

    @field_validator("guard_metrics")
    @classmethod
    def _tolerances_not_negative(cls, value: dict[str, float]) -> dict[str, float]:
        for metric, tol in value.items():
            if not tol >= 0:  # also refuses NaN
                raise ValueError(
                    f"guard metric {metric!r}: tolerance must be a number >= 0 (the largest allowed regression), "
                    f"got {tol!r}"
                )
            if (problem := amount_problem(metric, tol)) is not None:  # 5 for 5 %: any regression passes
                raise ValueError(f"guard metric {metric!r}: tolerance {problem}")
        return value

    @field_validator("floors")
    @classmethod
    def _floors_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for metric, bound in value.items():
            lowest, highest = METRIC_RANGES.get(metric, (-math.inf, math.inf))
            if not lowest <= bound <= highest:  # also refuses NaN
                raise ValueError(
                    f"floor of {metric!r}: {bound:g} is outside {metric}'s range ({_span(metric)}), so no challenger "
                    f"can meet it"
                    f"{as_fraction(bound)}"
                )
        return value

    @model_validator(mode="after")
    def _direction_agrees_with_the_metric(self) -> GateSettings:
        if self.primary_metric is None:
            if self.higher_is_better is not None:
                raise ValueError(
                    "higher_is_better is given without primary_metric: name the metric it is the direction of "
                    "(the default metric's direction is known)"
                )
        else:
            _check_direction(self.primary_metric, self.higher_is_better)
        return self


def _check_direction(metric: str, higher: bool | None) -> None:
    """Refuse a ``higher_is_better`` that contradicts a known metric: a gate that rewards the worse model."""
    if higher is None or metric not in _KNOWN_METRICS or higher == higher_is_better(metric):
        return
    raise ValueError(
        f"higher_is_better: {str(higher).lower()} contradicts primary_metric {metric!r}, where "
        f"{'higher' if higher_is_better(metric) else 'lower'} is better; leave higher_is_better out "
        "(it follows the metric)"
    )


#: Metrics whose direction the provider knows (every one compute_metrics reports, and the error metrics).
_KNOWN_METRICS = frozenset(CLASSIFICATION_METRICS) | frozenset(REGRESSION_METRICS) | LOWER_IS_BETTER


def _span(metric: str) -> str:
    """``metric``'s range as a message says it: ``0 to 1``, ``0 and up``, ``up to 1``."""
    lowest, highest = METRIC_RANGES[metric]
    if highest == math.inf:
        return f"{lowest:g} and up"
    return f"{lowest:g} to {highest:g}" if lowest > -math.inf else f"up to {highest:g}"


def as_fraction(value: float) -> str:
    """The fix for a percentage written as a whole number (``5`` for 5 %), when ``value`` reads as one."""
    return f"; write {value / 100:g} for {value:g} %" if 1 < value <= 100 else ""


def amount_problem(metric: str, amount: float, *, whose: str = "") -> str | None:
    """Why ``amount`` cannot be a tolerance, minimum improvement or drop of ``metric`` (None: it can): more than
    the metric's whole range (:data:`~airflow_provider_agentic_mlops.core.metrics.METRIC_RANGES`), such as
    ``f1: 5`` meant as 5 %, which no change of an f1 reaches. A metric the provider does not know is not bounded.

    :param whose: what the metric is to the field, said after its range (``", the primary metric's"``).
    """
    lowest, highest = METRIC_RANGES.get(metric, (-math.inf, math.inf))
    if amount <= highest - lowest:
        return None
    return f"{amount:g} is more than {metric}'s whole range ({_span(metric)}){whose}{as_fraction(amount)}"


class FieldError(ValueError):
    """A check across sections found one field wrong.

    :param message: what is wrong, naming the value and the fix.
    :param field: the field to point at (``validation.min_absolute_improvement``).
    :param values: where each wrong value is, to tell where it was given; default ``field``.
    """

    def __init__(self, message: str, *, field: str, values: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.field = field
        self.values = tuple(values) or (field,)


def check_metric_amounts(gates: GateSettings, task: str | None, *, prefix: str = "") -> None:
    """Refuse a ``min_absolute_improvement`` more than the primary metric's whole range (``1.5`` of a ROC AUC): no
    challenger could pass. The primary metric is the named one, else the task's default; unknown: not checked.

    :raises FieldError: naming the field, the value and the metric.
    """
    metric = gates.primary_metric or (DEFAULT_PRIMARY_METRIC.get(task) if task else None)
    amount = gates.min_absolute_improvement
    problem = amount_problem(metric, amount, whose=", the primary metric's") if metric else None
    if problem is not None:
        raise FieldError(problem, field=f"{prefix}min_absolute_improvement")


class UnknownMetric(FieldError):
    """A gate names a metric its task's models are not scored on.

    :param message: what is wrong, naming the fields, the values and the valid names.
    :param field: the field to point at: the one wrong field (``validation.primary_metric``), or the
        section when several are wrong.
    :param values: where each wrong metric is (``validation.guard_metrics.accuracy``), to tell where it was
        given; default ``field``.
    """


def metric_task(metric: str | None) -> str | None:
    """The task whose models are scored on ``metric`` (``classification`` or ``regression``), else None."""
    return next((task for task, metrics in TASK_METRICS.items() if metric in metrics), None)


def gates_task(task: str | None, primary_metric: str | None, *other_metrics: str) -> str | None:
    """The task of the model gates judge on ``primary_metric``: ``task`` when named, else the primary metric's
    (rmse -> regression), else the one task of ``other_metrics`` (the guard metrics' and floors': ``mae`` ->
    regression, whose default primary metric is then ``rmse``), else None: the validation data's labels tell
    when it runs. The models file and ValidateOperator both take it from here, so they accept and refuse the
    same gates; metrics of two tasks give None, and ``check_metric_names`` refuses them."""
    if task or primary_metric is not None:
        return task or metric_task(primary_metric)
    tasks = {metric_task(metric) for metric in other_metrics}
    return tasks.pop() if len(tasks) == 1 else None


def given_task(
    task: str | None, gates: GateSettings | Mapping[str, Any] | None, overrides: Mapping[str, Any]
) -> tuple[str | None, str | None]:
    """``(task, primary metric named)`` of gates as given (``overrides`` over ``gates``), before the defaults
    fill them in: :func:`gates_task` of the primary metric and of the guard metrics' and floors' names."""

    def given(name: str) -> Any:
        if overrides.get(name) is not None:
            return overrides[name]
        return getattr(gates, name) if isinstance(gates, GateSettings) else dict(gates or {}).get(name)

    named = given("primary_metric")
    others = [m for name in ("guard_metrics", "floors") if isinstance(given(name), Mapping) for m in given(name)]
    return gates_task(task, named, *others), named


def labelled_rows(frame: pd.DataFrame, label_column: str, *, model_name: str, data: Any) -> pd.DataFrame:
    """The rows of ``frame`` (model ``model_name``'s validation ``data``) with a label in ``label_column``.

    :raises ValueError: the column is missing (with a did-you-mean), or no row has a label.
    """
    from airflow_provider_agentic_mlops.core.data_io import column_hint

    if label_column not in frame.columns:
        raise ValueError(
            f"model {model_name!r}: label column {label_column!r} is not in the validation data {data}: "
            f"{column_hint(label_column, frame.columns)} Set validation.label_column (else drift.label_column is "
            "used) to the column with the true labels"
        )
    labelled = frame[frame[label_column].notna()]
    if labelled.empty:
        raise ValueError(
            f"model {model_name!r}: validation data {data} has no labelled rows ({len(frame)} rows, none with a "
            f"label in {label_column!r})"
        )
    return labelled


def same_version(
    model_name: str, registered_model: str, challenger: str, champion: str | None, source: str
) -> str | None:
    """Why ``challenger`` cannot be validated when it is the ``champion`` (scored against itself it would pass
    every comparison: a pipeline fault, from the retrain's result ``source``), else None."""
    if champion != challenger:
        return None
    return (
        f"model {model_name!r}: the challenger v{challenger} of {registered_model!r} (from {source}) is the "
        "champion: a version cannot be validated against itself. The retrain's result names the champion's "
        f"version: check that the training registers a new version under {registered_model!r} and returns it, "
        "then retrain"
    )


def check_metric_names(gates: GateSettings, task: str | None, *, prefix: str = "") -> None:
    """Refuse gate metrics that ``task``'s models are not scored on: a typo (``auc``) or the other task's
    metric would otherwise reject every challenger, and only after a retrain.

    :param gates: the gate parameters (a ``primary_metric`` of None is the task's default: valid).
    :param task: ``classification`` or ``regression``; None (unknown): metrics of either task are accepted,
        not of both (the labels tell one task when the validation runs).
    :param prefix: put before the field names in the message (``"validation."`` for models.yaml).
    :raises UnknownMetric: naming the fields, the values, the closest valid name and the valid names.
    """
    if task:
        valid: tuple[str, ...] = TASK_METRICS[task]
        choices = ", ".join(valid)
    else:
        valid = CLASSIFICATION_METRICS + REGRESSION_METRICS
        choices = "; ".join(f"{name}: {', '.join(metrics)}" for name, metrics in TASK_METRICS.items())
    named = [("primary_metric", gates.primary_metric)] if gates.primary_metric is not None else []
    named += [("guard_metrics", metric) for metric in gates.guard_metrics]
    named += [("floors", metric) for metric in gates.floors]

    def refused(message: str, metrics: list[tuple[str, str]]) -> UnknownMetric:
        fields = {field for field, _ in metrics}
        return UnknownMetric(
            message,
            field=f"{prefix}{fields.pop()}" if len(fields) == 1 else prefix.rstrip(".") or "(gates)",
            values=[
                f"{prefix}{field}" + ("" if field == "primary_metric" else f".{metric}") for field, metric in metrics
            ],
        )

    wrong = [(field, metric) for field, metric in named if metric not in valid]
    if wrong:
        described = []
        for field, metric in wrong:
            closest = difflib.get_close_matches(metric, valid, n=1)
            hint = f" (did you mean {closest[0]!r}?)" if closest else ""
            described.append(f"{prefix}{field} {metric!r}{hint}")
        raise refused(
            f"{', '.join(described)}: not a metric {f'a {task} model' if task else 'a model'} is scored on; "
            f"use one of {choices}",
            wrong,
        )
    if len({metric_task(metric) for _, metric in named}) > 1:  # the labels tell one task: the other's never pass
        described = [f"{prefix}{field} {metric!r} ({metric_task(metric)})" for field, metric in named]
        raise refused(
            f"{', '.join(described)}: metrics of two tasks, and a model is scored on one task's only; set "
            f"{prefix}task to classification or regression and keep only that task's metrics",
            named,
        )


class Gates(GateSettings):
    """Thresholds a challenger must meet (the parameters of :class:`GateSettings`), fixed once built;
    ``primary_metric`` and ``higher_is_better`` are always set (defaults: the task's metric, its direction)."""

    model_config = ConfigDict(frozen=True)

    primary_metric: str
    higher_is_better: bool

    @model_validator(mode="before")
    @classmethod
    def _metric_and_direction(cls, data: Any) -> Any:
        return cls._concrete(data) if isinstance(data, Mapping) else data

    @staticmethod
    def _concrete(data: Mapping[str, Any], task: str | None = None) -> dict[str, Any]:
        """``data`` with the primary metric (``task``'s default) and its direction filled in when not given."""
        filled = dict(data)
        if filled.get("primary_metric") is None:
            filled["primary_metric"] = DEFAULT_PRIMARY_METRIC[task or "classification"]
        if filled.get("higher_is_better") is None:
            filled["higher_is_better"] = higher_is_better(filled["primary_metric"])
        return filled

    @classmethod
    def resolve(
        cls,
        settings: GateSettings | Mapping[str, Any] | None = None,
        /,
        *,
        task: str | None = None,
        role: str = "",
        **overrides: Any,
    ) -> Gates:
        """``settings`` (a GateSettings, e.g. models.yaml's ``validation`` section, whose data fields are left
        out; a mapping; or None for the defaults) with ``overrides`` on top; an override of None is not given.

        :param task: ``classification`` or ``regression``: picks the default primary metric; None: unknown.
        :param role: said first in an error, e.g. ``"model 'fraud': ValidateOperator"``.
        :raises ValueError: a name that is not a gate parameter, or a bad value, naming the field, the value and
            what is expected (as the other settings' errors do: ``core.errors.settings_error``).
        """
        given_overrides = {name: value for name, value in overrides.items() if value is not None}
        if isinstance(settings, GateSettings) and not given_overrides:  # validated already: not again per parse
            return cls.model_construct(
                **cls._concrete({name: getattr(settings, name) for name in GateSettings.model_fields}, task)
            )
        if isinstance(settings, BaseModel):
            base = settings.model_dump(include=set(GateSettings.model_fields))
        else:
            base = dict(settings or {})
        given = {**base, **given_overrides}
        unknown = sorted(set(given) - set(GateSettings.model_fields))
        if unknown:
            known = sorted(GateSettings.model_fields)
            raise ValueError(f"{role + ': ' if role else ''}{unknown} are not gate parameters; known: {known}")
        try:
            return cls.model_validate(cls._concrete(given, task))
        except ValidationError as err:
            raise settings_error(err, kind="gate", known=GateSettings.model_fields, role=role) from None

    def direction(self, metric: str) -> bool:
        """True when higher is better for ``metric``."""
        return self.higher_is_better if metric == self.primary_metric else higher_is_better(metric)


@dataclass(frozen=True)
class GateCheck:
    """One gate's verdict, in words a reviewer can read."""

    gate: str  # primary | guard | floor | champion | predictions | rows | skill | significance
    metric: str
    passed: bool
    detail: str


def _bad(value: Any) -> bool:
    return value is None or not isinstance(value, (int, float)) or math.isnan(float(value))


#: Classification metrics every version has whatever classes a window holds (no probabilities needed).
ALWAYS_DEFINED = ("f1", "accuracy")


def _scores(metrics: Mapping[str, float] | Scores) -> Scores:
    return metrics if isinstance(metrics, Scores) else Scores(dict(metrics))


def _unavailable(metric: str, sides: list[tuple[str, str | None, Any, Scores]]) -> tuple[str, bool]:
    """What is missing of ``metric`` for each side ``(role, version, value, scores)`` without a value, e.g.
    ``undefined for the champion v1 (the labels hold classes [2] ...)``, and whether any side's value is
    undefined with a known reason (a value NaN is the answer for, rather than a metric not computed)."""
    parts, explained = [], False
    for role, version, value, scores in sides:
        if not _bad(value):
            continue
        who = f"the {role}{_v(version)}"
        why = scores.undefined.get(metric)
        explained = explained or why is not None
        parts.append(f"undefined for {who} ({why})" if why else f"no value for {who} ({value!r})")
    return "; ".join(parts), explained


def _v(version: str | None) -> str:
    return f" v{version}" if version is not None else ""


def _unscorable_champion(version: str | None, scores: Scores) -> str:
    """The reason a challenger is rejected when the champion's predictions cannot be scored (NaN, inf).

    Failing closed: the champion gets no worst score that a challenger would beat without a comparison (on
    data a model cannot handle, a challenger that predicts is not known to be better). The reason says how
    to get a champion that can be compared with."""
    return (
        f"the champion{_v(version)} cannot be scored: {scores.unscorable}. It serves those predictions today; "
        "the challenger cannot be compared with it, so it is rejected (failing closed). Find what the champion "
        "gets on those rows (missing or out-of-range inputs?). If the champion is broken, roll it back "
        f"(`{command('rollback MODEL')}`) or point the `champion` alias at a version that predicts, "
        "then run again"
    )


def _compare_on(metric: str, gate: str) -> str:
    """How to compare the versions on a metric both have, instead of ``metric`` in the ``primary`` or ``guard``
    gate."""
    always = metric in CLASSIFICATION_METRICS and metric not in ALWAYS_DEFINED
    other = " or ".join(ALWAYS_DEFINED) if always else "a metric both versions have"
    if gate == "primary":
        return f"set validation.primary_metric to {other}" + (", which every version has" if always else "")
    return f"guard {other} instead of {metric} in validation.guard_metrics"


def _mlflow_passes(
    metric: str,
    challenger: float,
    champion: float | None = None,
    *,
    greater_is_better: bool,
    threshold: float | None = None,
    min_absolute_change: float | None = None,
    min_relative_change: float | None = None,
) -> bool:
    """MLflow's verdict on one metric (``validate_evaluation_results`` with one ``MetricThreshold``)."""
    from mlflow.models.evaluation import EvaluationResult
    from mlflow.models.evaluation.validation import (
        MetricThreshold,
        ModelValidationFailedException,
        validate_evaluation_results,
    )

    rule = MetricThreshold(
        threshold=threshold,
        min_absolute_change=min_absolute_change,
        min_relative_change=min_relative_change,
        greater_is_better=greater_is_better,
    )
    baseline = None if champion is None else EvaluationResult(metrics={metric: champion}, artifacts={})
    try:
        with _mlflow_validation_logs_routed():
            validate_evaluation_results(
                {metric: rule}, EvaluationResult(metrics={metric: challenger}, artifacts={}), baseline
            )
    except ModelValidationFailedException:
        return False
    return True


class _ToLogger(logging.Handler):
    """Hands records to ``logger``'s handlers (and its ancestors'): the task log's, in a task."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        self.logger.handle(record)


@contextmanager
def _mlflow_validation_logs_routed() -> Iterator[None]:
    """MLflow's validation logger, for one call, logs warnings through this module's logger and drops INFO.

    MLflow's loggers write to stderr with their own handler, which an Airflow 3 task log labels ERROR;
    its INFO lines ("Model validation passed!" per gate, also for a challenger a guard then rejects) would
    compete with the provider's verdict, which the reasons and the operator's log give."""
    logger = logging.getLogger("mlflow.models.evaluation.validation")
    saved = logger.level, logger.propagate, logger.handlers
    logger.setLevel(logging.WARNING)
    logger.propagate, logger.handlers = False, [_ToLogger(log)]
    try:
        yield
    finally:
        logger.setLevel(saved[0])
        logger.propagate, logger.handlers = saved[1], saved[2]


def _decimals(*values: float) -> int:
    """Decimals that tell ``values`` apart: 4, or up to 12 when they differ further down (0.880812 vs 0.880815)."""
    distinct = len(set(values))
    return next((d for d in range(4, 13) if len({f"{v:.{d}f}" for v in values}) == distinct), 12)


#: Values this close (a share of the larger, at least of 1) are a tie: floating-point dust, e.g. a retrained model
#: identical to the champion but for BLAS's summation order (about 1e-15 per prediction).
_DUST = 1e-12


def is_tie(new: float, old: float) -> bool:
    """``new`` and ``old`` are equal up to floating-point dust (a difference of at most 1e-12 of the larger value, or
    of 1): the report, the gates and the approvals page take them as equal (``0 (equal)``)."""
    return new == old or abs(new - old) <= _DUST * max(1.0, abs(new), abs(old))


def _pair_decimals(new: float, old: float) -> int:
    """Decimals that tell ``new`` from ``old`` and show their difference as more than 0 (4 for a tie)."""
    if is_tie(new, old):
        return _decimals(new)
    d = _decimals(new, old)
    while new != old and d < 12 and float(f"{abs(new - old):.{d}f}") == 0:
        d += 1
    return d


def _shown_pair(new: float, old: float) -> str:
    """``0.880812 vs champion 0.880815``: enough decimals to tell them apart and show their difference."""
    d = _pair_decimals(new, old)
    return f"{new:.{d}f} vs champion {old:.{d}f}"


def _change(amount: float, new: float, old: float, *, sign: bool = True) -> str:
    """A change between ``old`` and ``new`` with the decimals they are shown with: ``0 (equal)`` when they are
    equal (:func:`is_tie`: up to floating-point dust), never a ``-0.0000`` that hides which way it goes."""
    if is_tie(new, old):
        return "0 (equal)"
    if amount == 0:
        return "0"
    return f"{amount:{'+' if sign else ''}.{_pair_decimals(new, old)}f}"


def shown_change(new: float, old: float) -> str:
    """``new - old`` as the report's delta column, the Slack request and the approvals page show it: signed, with
    the decimals that tell the values apart and show the difference (``-0.000003``), ``0 (equal)`` for a tie."""
    return _change(new - old, new, old)


def interval_text(low: float, high: float) -> str:
    """``[-0.0044, +0.0270]``: signed, with the decimals (4 to 12) that tell the bounds apart and show a bound that
    is not 0 as not 0 (never ``+0.0000`` for ``+0.00003``)."""
    d = _decimals(low, high)
    while d < 12 and any(v != 0 and float(f"{v:.{d}f}") == 0 for v in (low, high)):
        d += 1
    return f"[{low:+.{d}f}, {high:+.{d}f}]"


def interval_basis(ci: Mapping[str, Any], *, labelled: bool = False) -> str:
    """How the interval ``ci`` (:func:`~airflow_provider_agentic_mlops.core.metrics.paired_bootstrap`) was computed,
    as the reasons and :func:`comparison_line` say it: ``paired bootstrap, 1000 resamples of the 200 rows``;
    ``normal approximation of the mean paired per-row difference over the 1000000 rows`` (a row-mean metric); of a
    subset of a larger window ``paired bootstrap, 1000 resamples of a random 50000 of the 1000000 rows, its
    half-widths scaled by sqrt(50000/1000000) to the whole window``.

    :param labelled: say ``labelled rows`` (the comparison line).
    """
    rows, resamples = ci["rows"], ci.get("resamples")
    of_rows = ci.get("of_rows") or rows
    what = "labelled rows" if labelled else "rows"
    if not resamples:
        return f"{ci['method']} over the {of_rows} {what}"
    sample = f"a random {rows} of the {of_rows} {what}" if of_rows != rows else f"the {rows} {what}"
    if ci.get("scaled"):
        sample += f", its half-widths scaled by sqrt({rows}/{of_rows}) to the whole window"
    return f"{ci['method']}, {resamples} resamples of {sample}"


def _percent(value: float) -> str:
    """A relative change: ``+1.25%``; one too small for two decimals with two significant digits (``-0.00034%``)."""
    if value == 0 or not math.isfinite(value):
        return "+inf%" if value == math.inf else "0%"
    shown = f"{value:+.2%}"
    return shown if float(shown[:-1]) != 0 else f"{value * 100:+.2g}%"


def evaluate_gates(
    gates: Gates,
    challenger: Mapping[str, float] | Scores,
    champion: Mapping[str, float] | Scores | None,
    *,
    challenger_version: str | None = None,
    champion_version: str | None = None,
    no_champion: str | None = None,
) -> list[GateCheck]:
    """Apply ``gates`` to the challenger's metrics (and the champion's, when there is one).

    A metric without a value fails its gate (fail closed). Given as :class:`Scores`, a metric that is
    undefined for a version (NaN, e.g. ``roc_auc`` of a champion that gives no probability for a class
    the window holds) fails it with the reason and the gate to change to compare on a metric both have.
    A version that cannot be scored at all (its predictions hold NaN or infinite values: ``unscorable``)
    fails the ``predictions`` gate instead, naming the version and the count: a challenger is rejected;
    a champion cannot be compared with, so the challenger is rejected too (fail closed), and the reason
    says how to get a champion that can (see :func:`_unscorable_champion`).

    :param challenger_version: named in the reasons; ``champion_version`` likewise.
    :param no_champion: without a champion, why there is none when it is not a first model
        (:func:`unaliased_versions`); None: "no champion yet".
    """
    challenger_scores = _scores(challenger)
    champion_scores = None if champion is None else _scores(champion)
    challenger = challenger_scores.metrics
    checks: list[GateCheck] = []
    if challenger_scores.unscorable:
        checks.append(
            GateCheck(
                "predictions",
                gates.primary_metric,
                False,
                f"the challenger{_v(challenger_version)} cannot be scored: {challenger_scores.unscorable}. Find "
                "what it gets on those rows (missing or out-of-range inputs?), fix the training and retrain",
            )
        )
    if champion_scores is not None and champion_scores.unscorable:
        checks.append(
            GateCheck(
                "predictions", gates.primary_metric, False, _unscorable_champion(champion_version, champion_scores)
            )
        )
    if challenger_scores.unscorable:
        return checks  # every gate would only repeat that it has no metric
    for metric, bound in gates.floors.items():
        value = challenger.get(metric)
        higher = gates.direction(metric)
        if _bad(value):
            missing, _ = _unavailable(metric, [("challenger", challenger_version, value, challenger_scores)])
            checks.append(GateCheck("floor", metric, False, f"{metric}: {missing}"))
            continue
        ok = _mlflow_passes(metric, float(value), greater_is_better=higher, threshold=float(bound))
        word = "minimum" if higher else "maximum"
        d = _decimals(value, bound)
        checks.append(GateCheck("floor", metric, ok, f"{metric} = {value:.{d}f}, {word} {bound:.{d}f}"))
    if champion is None:
        checks.append(
            GateCheck(
                "champion",
                gates.primary_metric,
                True,
                f"{no_champion or 'no champion yet'}: the challenger is judged on the skill gate and the absolute "
                "floors only" + ("" if gates.floors else " (none configured)"),
            )
        )
        return checks

    assert champion_scores is not None
    if champion_scores.unscorable:
        return checks  # nothing to compare with: the predictions gate says why
    champion = champion_scores.metrics

    def unavailable(metric: str, new: Any, old: Any, gate: str) -> str:
        sides = [
            ("challenger", challenger_version, new, challenger_scores),
            ("champion", champion_version, old, champion_scores),
        ]
        missing, explained = _unavailable(metric, sides)
        values = f"(challenger {new!r}, champion {old!r})"
        if not explained:
            return f"{metric}: missing value {values}"
        return (
            f"{metric}: {missing} {values}. The versions cannot be compared on {metric}, so the challenger is "
            f"rejected (failing closed); to compare them, {_compare_on(metric, gate)}"
        )

    metric = gates.primary_metric
    new, old = challenger.get(metric), champion.get(metric)
    if _bad(new) or _bad(old):
        checks.append(GateCheck("primary", metric, False, unavailable(metric, new, old, "primary")))
    else:
        improvement = 0.0 if is_tie(new, old) else (new - old) if gates.higher_is_better else (old - new)
        relative = improvement / abs(old) if old != 0 else (math.inf if improvement > 0 else 0.0)
        if gates.min_absolute_improvement or gates.min_relative_improvement:
            ok = _mlflow_passes(
                metric,
                float(new),
                float(old),
                greater_is_better=gates.higher_is_better,
                min_absolute_change=float(gates.min_absolute_improvement) or None,
                min_relative_change=float(gates.min_relative_improvement) or None,
            )
        else:  # "not worse": MLflow's min_absolute_change must be > 0, so it has no way to say this
            ok = improvement >= 0
        checks.append(
            GateCheck(
                "primary",
                metric,
                ok,
                f"{metric}: challenger {_shown_pair(new, old)}: improvement {_change(improvement, new, old)} "
                f"(required >= {gates.min_absolute_improvement:.4f}), relative {_percent(relative)} "
                f"(required >= {gates.min_relative_improvement:.2%})",
            )
        )
    for guard, tolerance in gates.guard_metrics.items():
        new, old = challenger.get(guard), champion.get(guard)
        if _bad(new) or _bad(old):
            checks.append(GateCheck("guard", guard, False, unavailable(guard, new, old, "guard")))
            continue
        # a tolerated regression: MetricThreshold's changes are required improvements, never allowed losses
        regression = 0.0 if is_tie(new, old) else (old - new) if gates.direction(guard) else (new - old)
        checks.append(
            GateCheck(
                "guard",
                guard,
                regression <= tolerance,
                f"{guard}: challenger {_shown_pair(new, old)}: regression "
                f"{_change(max(regression, 0), new, old, sign=False)} (tolerated <= {tolerance:.4f})",
            )
        )
    return checks


# -- skill: better than a model that reads no feature ------------------------------------------------

#: What :func:`skill_check` calls each trivial baseline (``core.metrics.trivial_baseline``).
_BASELINE_NAMES = {
    "accuracy": "majority-class baseline",
    "roc_auc": "random-score baseline",
    "r2": "mean baseline",
    "rmse": "mean baseline",
    "mae": "median baseline",
}


def _shown(value: Any) -> str:
    """A predicted value as a reason shows it: ``10``, ``0.5``, ``'legit'``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{float(value):g}"
    item = getattr(value, "item", None)  # a numpy scalar
    return _shown(item()) if callable(item) else repr(str(value)[:40])


def constant_prediction(y_pred: Sequence[Any], proba: Any = None) -> str | None:
    """How ``y_pred`` (and ``proba``) are the same for every row (``"predicts 0 for every row (and the same class
    probabilities)"``), else None: such a model reads no feature. A classifier that predicts one class but ranks the
    rows by varying probabilities is not constant (its ``roc_auc`` measures something)."""
    import numpy as np
    import pandas as pd

    values = pd.unique(pd.Series(np.asarray(y_pred).ravel()))
    if len(values) != 1:
        return None
    if proba is not None:
        p = np.asarray(proba, dtype=float)
        p = p.reshape(len(p), -1)
        if len(p) and float(np.max(np.ptp(p, axis=0))) > 1e-12:
            return None
        return f"predicts {_shown(values[0])} for every row, with the same class probabilities"
    return f"predicts {_shown(values[0])} for every row"


def skill_check(
    gates: Gates,
    task: str,
    labels: Sequence[Any],
    challenger: Scores,
    prediction: tuple[Any, Any, Any] | None,
    *,
    version: str | None = None,
) -> GateCheck:
    """The ``skill`` gate: the challenger must do better than a model that reads no feature.

    It fails when the challenger's predictions are constant (:func:`constant_prediction`), whatever the other
    gates say: at 2 % positives always answering the majority class scores an accuracy of 0.98, which may beat a
    useful champion and meet a floor. It fails too when the challenger's primary metric or a floor metric does not
    beat that metric's :func:`~airflow_provider_agentic_mlops.core.metrics.trivial_baseline` on these labels
    (accuracy: the majority class's share; roc_auc: 0.5; r2: 0; rmse: predicting the labels' mean, their standard
    deviation; mae: predicting their median), in the metric's direction (an error must be lower).

    :param labels: the true labels of the rows scored.
    :param prediction: the challenger's ``(predictions, probabilities or None, classes or None)``; None: not
        checked for constant predictions.
    """
    from airflow_provider_agentic_mlops.core.metrics import trivial_baseline

    who = f"the challenger{_v(version)}"
    majority = "accuracy" if task == "classification" else "r2"
    constant = constant_prediction(*prediction[:2]) if prediction is not None else None
    if constant is not None:
        base = trivial_baseline(task, majority, labels)
        scores = (
            f"; the {_BASELINE_NAMES[majority]} scores {majority} {base['value']:.4f} ({base['source']})"
            if base
            else ""
        )
        return GateCheck(
            "skill",
            gates.primary_metric,
            False,
            f"no skill: {who} {constant}, so it reads no feature{scores}. Whatever the other gates say it is "
            "rejected: check the training (its features, the class balance; class_weight for rare classes) and retrain",
        )
    beaten = []
    for metric in dict.fromkeys([gates.primary_metric, *gates.floors]):
        base = trivial_baseline(task, metric, labels)
        value = challenger.metrics.get(metric)
        if base is None or _bad(value):
            continue  # no trivial value known for the metric; a missing value fails its own gate
        higher = gates.direction(metric)
        d = _pair_decimals(float(value), float(base["value"]))
        if not (value > base["value"] if higher else value < base["value"]):
            fix = (
                "Gate on a metric that rewards finding the rare class (validation.primary_metric roc_auc or f1) or "
                "improve the training, and retrain"
                if task == "classification"
                else "Improve the training (its features, the target's scale) and retrain"
            )
            return GateCheck(
                "skill",
                metric,
                False,
                f"no skill: {who}'s {metric} {value:.{d}f} does not beat the {_BASELINE_NAMES[metric]}, which scores "
                f"{base['value']:.{d}f} ({base['source']}): a model that reads no feature does as well. {fix}",
            )
        beaten.append(f"{metric} {value:.{d}f} {'>' if higher else '<'} {base['value']:.{d}f}")
    done = f"it beats the trivial baseline ({', '.join(beaten)})" if beaten else "no trivial baseline for its metrics"
    return GateCheck("skill", gates.primary_metric, True, f"{who}'s predictions vary across rows; {done}")


# -- regressions no gate checks (informing) -------------------------------------------------------

#: Without an interval of the change (no predictions, or the metric undefined in most resamples),
#: a metric no gate checks is named when it is worse by more than this share of the champion's value.
UNGATED_RELATIVE_DROP = 0.05
#: The informing interval's resamples and most rows (a seeded subset of a larger window, the interval scaled to the
#: whole window): a second or less per metric.
_UNGATED_RESAMPLES, _UNGATED_MAX_ROWS = 1000, 10_000
#: The chance that equally good versions get any metric named, all the metrics checked together: each metric's
#: interval is two-sided at 1 - this / (metrics checked) (Bonferroni), and a metric is named when it lies below 0.
UNGATED_FAMILY_ERROR = 0.05


@dataclass(frozen=True)
class UngatedRegression:
    """A metric no comparison gate checks (neither the primary metric nor a guard metric) that the challenger is
    worse on, beyond its noise.

    :param metric: the metric.
    :param short: ``recall 0.8100 -> 0.3200 (worse beyond noise)``: champion -> challenger.
    :param detail: the reason's sentence: the change, its interval (or the threshold used) and how to gate it.
    """

    metric: str
    short: str
    detail: str


def ungated_regressions(
    gates: Gates,
    challenger: Mapping[str, float],
    champion: Mapping[str, float],
    *,
    task: str | None = None,
    labels: Sequence[Any] | None = None,
    versions: tuple[Any, Any] = (None, None),
    positive: Any = None,
    floors_met: Mapping[str, bool] | None = None,
) -> list[UngatedRegression]:
    """The standard metrics (:data:`CLASSIFICATION_METRICS`, :data:`REGRESSION_METRICS`) that no comparison gate
    checks and the challenger is worse on beyond noise: the interval of the change (as for the primary metric:
    the normal one of a row-mean metric, else a paired bootstrap of :data:`_UNGATED_RESAMPLES` resamples of at most
    :data:`_UNGATED_MAX_ROWS` rows) lies below 0. Each metric's interval is two-sided at 1 -
    :data:`UNGATED_FAMILY_ERROR` / k for the k metrics checked (Bonferroni: 99 % for five), so equally good versions
    get any metric named at most 2.5 % of the time, not 2.5 % per metric. Without an interval (no predictions, or a
    metric without the bootstrap's numpy path): a drop of more than :data:`UNGATED_RELATIVE_DROP` of the champion's
    value. They inform: at
    ``primary_metric: accuracy`` a challenger that finds a third of the positives the champion found passes, and the
    approver is told (``not gated: recall 0.8100 -> 0.3200``). A floor metric is listed, saying only its floor is gated.

    :param versions: the challenger's and the champion's ``(predictions, probabilities, classes)``, for the interval.
    :param positive: the positive class of a binary comparison.
    """
    from airflow_provider_agentic_mlops.core import metrics as _metrics

    found = []
    checked = [
        metric
        for metric in (*CLASSIFICATION_METRICS, *REGRESSION_METRICS)
        if metric != gates.primary_metric
        and metric not in gates.guard_metrics
        and not _bad(challenger.get(metric))
        and not _bad(champion.get(metric))
    ]
    confidence = 1 - UNGATED_FAMILY_ERROR / max(len(checked), 1)
    together = f"{1 - UNGATED_FAMILY_ERROR:.0%} for the {len(checked)} metrics checked together, Bonferroni"
    for metric in checked:
        new, old = challenger[metric], champion[metric]
        higher = gates.direction(metric)
        drop = (old - new) if higher else (new - old)
        if not drop > 0 or is_tie(new, old):
            continue
        ci = None
        if task is not None and labels is not None and None not in versions:
            ci = _metrics.paired_bootstrap(
                task,  # type: ignore[arg-type]
                metric,
                labels,
                *versions,
                higher=higher,
                positive=positive,
                resamples=_UNGATED_RESAMPLES,
                max_rows=_UNGATED_MAX_ROWS,
                fast_only=True,  # scikit-learn per resample: seconds per metric on a large window
                confidence=confidence,
            )
        d = _pair_decimals(new, old)
        pair = f"{metric} {old:.{d}f} -> {new:.{d}f}"
        if ci is not None:
            if not ci["high"] < 0:
                continue  # within noise
            short = f"{pair} (worse beyond noise)"
            interval = interval_text(ci["low"], ci["high"])
            shown = f"{100 * ci['confidence']:.4g}%"
            how = f"beyond noise: the change's {shown} interval {interval} ({interval_basis(ci)}; {together})"
            how += " lies below 0"
        else:
            if not drop > UNGATED_RELATIVE_DROP * abs(old):
                continue
            short = f"{pair} (worse by more than {UNGATED_RELATIVE_DROP:.0%})"
            how = f"more than {UNGATED_RELATIVE_DROP:.0%} of the champion's (no interval of the change to tell noise)"
        floor = gates.floors.get(metric)
        gated = (
            f"only its floor {floor:.{d}f} is gated" + (" (met)" if (floors_met or {}).get(metric) else "")
            if floor is not None
            else f"no gate checks {metric}"
        )
        found.append(
            UngatedRegression(
                metric,
                short,
                f"{pair} (champion -> challenger), worse by {_change(drop, new, old, sign=False)}, {how}; {gated}. "
                f"To gate it, add it to validation.guard_metrics with the largest drop to tolerate",
            )
        )
    return found


# -- significance: an improvement beyond noise (opt-in) -------------------------------------------

_SIGNIFICANCE = "validation.require_significant_improvement"


def significance_check(gates: Gates, ci: Mapping[str, Any] | None, *, no_interval: str) -> GateCheck:
    """The ``significance`` gate (``require_significant_improvement``): the primary metric's improvement's 95 %
    interval (:func:`~airflow_provider_agentic_mlops.core.metrics.paired_bootstrap`) must lie above 0. Without an
    interval it fails (failing closed: the setting asks for evidence the improvement is not chance).

    :param ci: the interval, or None when none was computed; ``no_interval`` says why.
    """
    metric = gates.primary_metric
    if ci is None:
        return GateCheck(
            "significance",
            metric,
            False,
            f"no 95% interval of the {metric} improvement: {no_interval}. {_SIGNIFICANCE} asks for one, so the "
            "challenger is rejected (failing closed). Validate on a window with more labels of each class, or set "
            f"{_SIGNIFICANCE} to false to gate on the observed improvement alone",
        )
    low, high = float(ci["low"]), float(ci["high"])
    where = f"{interval_text(low, high)} ({interval_basis(ci)})"
    if low > 0:
        return GateCheck(
            "significance",
            metric,
            True,
            f"the {metric} improvement's 95% interval {where} is above 0: better beyond noise ({_SIGNIFICANCE})",
        )
    side = "includes 0" if high >= 0 else "is below 0"
    return GateCheck(
        "significance",
        metric,
        False,
        f"the {metric} improvement's 95% interval {where} {side}: on another window of this size the champion may "
        f"do as well or better, and {_SIGNIFICANCE} asks for an improvement beyond noise. Validate on a larger "
        f"labelled window (it narrows the interval), or set {_SIGNIFICANCE} to false to gate on the observed "
        "improvement alone",
    )


# -- the report -----------------------------------------------------------------------------------


def unaliased_versions(registered_model: str, versions: Sequence[str], *, challenger: str) -> str | None:
    """Why there is no champion when the registry holds ``versions`` of ``registered_model`` besides the
    ``challenger`` but none has alias ``champion`` and nothing records that one had it (:func:`vanished_champion`
    found no trace: e.g. an alias set by hand on a version since deleted): the sentence names the versions and the
    alias to set, in place of "no champion yet". None when the challenger is the only version (a first model)."""
    others = sorted({int(v) for v in versions if str(v) != str(challenger)})
    if not others:
        return None
    runs: list[list[int]] = []
    for number in others:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    shown = ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs[:10])
    exist = f"versions {shown} exist" if len(others) > 1 else f"version {shown} exists"
    return (
        f"no `champion` alias: {exist} besides the challenger v{challenger}, but none is the champion (if one serves "
        "production, set the alias on it: MlflowClient().set_registered_model_alias("
        f"{registered_model!r}, 'champion', <version>), and re-run validation), so as for a first model"
    )


def vanished_champion(
    registered_model: str,
    *,
    previous_champion: str | None,
    last_champion_change: Mapping[str, Any] | None,
    model_name: str | None = None,
) -> str | None:
    """Why a registry without a ``champion`` alias is *not* a first model, or None when it may be one.

    Deleting the champion's version deletes its alias, and an alias can be deleted by hand: the challenger
    would be judged on floors alone, as if nothing served. A ``previous_champion`` alias or a recorded
    promotion (or rollback) says a champion existed. The reason names the version to point ``champion`` back
    at (the last one the state store made champion) and how.

    :param previous_champion: the version alias ``previous_champion`` points to, if any.
    :param last_champion_change: the model's last ``promoted`` or ``rollback`` audit entry, if any.
    :param model_name: the provider's model name, for the rollback command (default: ``registered_model``).
    """
    traces, restore = [], []
    if last_champion_change is not None:
        last = str(last_champion_change.get("subject") or "").removeprefix("version:")
        what = "rollback" if last_champion_change.get("action") == "rollback" else "promotion"
        traces.append(f"the state store records a {what} (v{last} by {last_champion_change.get('actor')})")
        restore.append(
            f"point alias 'champion' back at v{last} if that version still exists (in MLflow's UI, or "
            f"MlflowClient().set_registered_model_alias({registered_model!r}, 'champion', {last!r}))"
        )
    if previous_champion is not None:
        traces.insert(0, f"alias 'previous_champion' points to v{previous_champion}")
        rollback = command(f"rollback {shlex.quote(model_name or registered_model)}")
        restore.append(f"`{rollback}` makes previous_champion v{previous_champion} the champion")
    if not traces:
        return None
    return (
        f"FAILED champion: registered model {registered_model!r} has no alias 'champion', but {' and '.join(traces)}: "
        "the alias 'champion' vanished (deleted by hand, or with its version), so there is nothing to compare with "
        f"and production may serve nothing; the challenger is not judged as a first model. Restore it: "
        f"{'; or '.join(restore)}. Then re-run validation"
    )


def unloadable_champion(model_name: str, registered_model: str, version: str, error: str) -> str:
    """Why a challenger is rejected when the champion's version cannot be loaded (e.g. its files were deleted
    from the artifact store while the registered version remains).

    Failing closed, as for a champion that cannot be scored: no comparison, no pass. The reason says how to get
    a champion that loads."""
    return (
        f"FAILED champion: the champion v{version} of registered model {registered_model!r} cannot be loaded "
        f"({error}), so the challenger cannot be compared with it and is rejected (failing closed); production may "
        f"not be able to load it either. Restore v{version}'s model files in the artifact store, or roll back "
        f"(`{command(f'rollback {shlex.quote(model_name)}')}`) or point the `champion` alias at a version that loads, "
        "then re-run validation"
    )


#: Where validation writes its reports in the challenger's MLflow run, a folder per report (:func:`report_folder`).
REPORT_DIR = "agentic_mlops/validation"


def report_folder(digest: str) -> str:
    """The folder in the challenger's run of the report whose ``report.md`` has sha256 ``digest``
    (``agentic_mlops/validation/<its first 12 hex digits>``, as the approval shows it): a folder per report, so
    two DAG runs validating one version (runs attached to one retraining job) never overwrite the report the
    other's approval binds and links to."""
    return f"{REPORT_DIR}/{digest[:12]}"


def markdown_digest(markdown: str) -> str:
    """The report digest: sha256 of the Markdown report's text. Validation computes it over the report it
    writes (``report.md``), promotion over the ``report.md`` it finds then: the approval binds that file. The same
    sha256 of the HTML report's text (``report.html``, the page reviewers open) is its ``report_html_digest``."""
    return hashlib.sha256(markdown.encode("utf-8")).hexdigest()


@dataclass
class ValidationReport:
    """The outcome of one champion-vs-challenger comparison, and its rendering for reviewers.

    :param model_name: the model.
    :param passed: every gate passed.
    :param reasons: one sentence per gate (failures first).
    :param checks: the individual gate verdicts.
    :param drift: the drift summary that caused the run (check_drift's XCom), if known.
    :param decision: ``{"decision_id", "action", "rationale"}`` of the decide step, if known.
    """

    model_name: str
    primary_metric: str
    champion_version: str | None
    challenger_version: str
    champion_metrics: dict[str, float]
    challenger_metrics: dict[str, float]
    checks: list[GateCheck]
    drift: Mapping[str, Any] | None = None
    decision: Mapping[str, Any] | None = None
    n_rows: int | None = None
    data_uri: str | None = None
    primary_higher_is_better: bool = True
    n_labelled: int | None = None
    positive_class: Any = None
    positive_named: bool = False
    improvement_ci: dict[str, Any] | None = None
    ungated: list[UngatedRegression] = _field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def reasons(self) -> list[str]:
        """One sentence per gate, failures first; then, when the primary metric's improvement is within noise
        (its 95 % interval includes 0), a sentence saying so, and one per metric no gate checks that regressed
        beyond noise (``not gated: recall 0.8100 -> 0.3200 ...``, :func:`ungated_regressions`), before the gates
        passed. Those inform; no gate (with ``require_significant_improvement`` the ``significance`` gate's reason
        says the first instead)."""
        failed = [f"FAILED {c.gate}: {c.detail}" for c in self.checks if not c.passed]
        ok = [f"passed {c.gate}: {c.detail}" for c in self.checks if c.passed]
        ci = self.improvement_ci
        gated = any(c.gate == "significance" for c in self.checks)  # its reason says it: not twice
        if ci and ci["low"] <= 0 <= ci["high"] and not gated:
            failed.append(
                f"within noise: the difference's 95% interval {interval_text(ci['low'], ci['high'])} on "
                f"{ci.get('of_rows') or ci['rows']} rows includes 0 (the {self.primary_metric} improvement of the "
                f"challenger over the champion, {interval_basis(ci)}): on another window of this size the champion may "
                "do as well or better. This informs and does not gate (validation.require_significant_improvement "
                "makes it gate); a larger labelled window narrows it"
            )
        return failed + [f"not gated: {u.detail}" for u in self.ungated] + ok

    def to_markdown(self) -> str:
        verdict = "PASSED" if self.passed else "REJECTED"
        lines = [
            f"# Validation of {self.model_name} v{self.challenger_version}: {verdict}",
            "",
            f"Challenger: version {self.challenger_version}. Champion: "
            + (f"version {self.champion_version}." if self.champion_version else "none (no 'champion' alias)."),
        ]
        if self.data_uri or self.n_rows is not None:
            lines.append(f"Validation data: {self._data_line()}")
        if self.improvement_ci:
            lines.append(self._interval_line())
        if self.positive_class is not None:
            lines.append(self._positive_line())
        lines += ["", "## Decision rationale", ""]
        lines += [f"- {r}" for r in self.reasons]
        lines += ["", "## Metrics side by side", "", "| metric | champion | challenger | delta | better is |"]
        lines.append("|---|---|---|---|---|")
        for metric, champ, chal, delta, direction in self._rows():
            mark = " (primary)" if metric == self.primary_metric else ""
            lines.append(f"| {metric}{mark} | {champ} | {chal} | {delta} | {direction} |")
        lines += ["", "## Drift check of this run", ""]
        lines += self._drift_lines()
        lines += ["", "## Why the agent retrained", ""]
        if self.decision:
            lines.append(
                f"Decision {self.decision.get('decision_id', '?')}: action `{self.decision.get('action', '?')}`. "
                f"{self.decision.get('rationale') or '(no rationale recorded)'}"
            )
        else:
            lines.append("No decision recorded for this run (manual retrain).")
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        e = html.escape
        verdict = "PASSED" if self.passed else "REJECTED"
        color = "#1a7f37" if self.passed else "#cf222e"
        rows = "".join(
            f"<tr><td>{e(m)}{' <b>(primary)</b>' if m == self.primary_metric else ''}</td><td>{e(a)}</td>"
            f"<td>{e(b)}</td><td>{e(d)}</td><td>{e(h)}</td></tr>"
            for m, a, b, d, h in self._rows()
        )
        reasons = "".join(f"<li style='color:{_reason_color(r)}'>{e(r)}</li>" for r in self.reasons)
        drift = "".join(f"<li>{e(line.lstrip('- '))}</li>" for line in self._drift_lines())
        if self.decision:
            decision = (
                f"<p>Decision {e(str(self.decision.get('decision_id', '?')))}: action "
                f"<code>{e(str(self.decision.get('action', '?')))}</code>. "
                f"{e(str(self.decision.get('rationale') or '(no rationale recorded)'))}</p>"
            )
        else:
            decision = "<p>No decision recorded for this run (manual retrain).</p>"
        champion = f"version {e(self.champion_version)}" if self.champion_version else "none (no 'champion' alias)"
        return (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>Validation of {e(self.model_name)} v{e(self.challenger_version)}</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
            "td:first-child{text-align:left}</style></head><body>"
            f"<h1>Validation of {e(self.model_name)} v{e(self.challenger_version)}: "
            f"<span style='color:{color}'>{verdict}</span></h1>"
            f"<p>Challenger: version {e(self.challenger_version)}. Champion: {champion}.</p>"
            + (f"<p>Validation data: {e(self._data_line())}</p>" if self.data_uri or self.n_rows is not None else "")
            + (f"<p>{e(self._interval_line())}</p>" if self.improvement_ci else "")
            + (f"<p>{e(self._positive_line())}</p>" if self.positive_class is not None else "")
            + "<h2>Decision rationale</h2>"
            f"<ul>{reasons}</ul>"
            "<h2>Metrics side by side</h2><table><tr><th>metric</th><th>champion</th><th>challenger</th>"
            f"<th>delta</th><th>better is</th></tr>{rows}</table>"
            f"<h2>Drift check of this run</h2><ul>{drift}</ul>"
            f"<h2>Why the agent retrained</h2>{decision}"
            f"<p><small>sha256 of the Markdown report: {self.digest()}</small></p>"
            "</body></html>\n"
        )

    def _data_line(self) -> str:
        """``uri, 294 labelled of 300 rows, the same for both.``: the rows scored, of the rows read."""
        rows = f"{self.n_rows} rows"
        if self.n_labelled is not None and self.n_labelled != self.n_rows:
            rows = f"{self.n_labelled} labelled of {rows} (rows without a label are not scored)"
        return f"{self.data_uri or '(given)'}, {rows}, the same for both."

    def _interval_line(self) -> str:
        return comparison_line({"improvement_ci": self.improvement_ci, "primary_metric": self.primary_metric}) or ""

    def _positive_line(self) -> str:
        why = "validation.positive_label" if self.positive_named else "the greater class; set validation.positive_label"
        return f"Precision, recall and f1 measure the positive class {self.positive_class!r} ({why})."

    def digest(self) -> str:
        """sha256 of the Markdown report: what a person approves is bound to exactly this content."""
        return markdown_digest(self.to_markdown())

    def to_dict(self, *, report_uri: str | None = None) -> dict[str, Any]:
        """The ``validation`` XCom: small, JSON-able (the approval sensor and the Slack message read it)."""
        return {
            "passed": self.passed,
            "reasons": self.reasons,
            "primary_metric": self.primary_metric,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "champion_metrics": {k: _json_float(v) for k, v in self.champion_metrics.items()},
            "challenger_metrics": {k: _json_float(v) for k, v in self.challenger_metrics.items()},
            "n_rows": self.n_rows,
            "n_labelled": self.n_labelled if self.n_labelled is not None else self.n_rows,
            # the primary metric's improvement (positive: better), its 95 % interval: how sure the comparison is
            "improvement_ci": dict(self.improvement_ci) if self.improvement_ci else None,
            # metrics no gate checks that regressed beyond noise: {metric: "recall 0.8100 -> 0.3200 (...)"}
            "ungated_regressions": {u.metric: u.short for u in self.ungated},
            "report_uri": report_uri,
            "report_digest": self.digest(),
            # report.html, the page the approvals page and Slack link to: promotion checks it is unchanged
            "report_html_digest": markdown_digest(self.to_html()),
        }

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        metrics = list(dict.fromkeys([self.primary_metric, *self.challenger_metrics, *self.champion_metrics]))
        rows = []
        for m in metrics:
            a, b = self.champion_metrics.get(m), self.challenger_metrics.get(m)
            delta = "n/a" if _bad(a) or _bad(b) else shown_change(b, a)
            higher = self.primary_higher_is_better if m == self.primary_metric else higher_is_better(m)
            rows.append((m, _fmt(a), _fmt(b), delta, "higher" if higher else "lower"))
        return rows

    def _drift_lines(self) -> list[str]:
        d = self.drift
        if not d:
            return ["- No drift summary for this run."]
        lines = [
            f"- Dataset drift: {'yes' if d.get('dataset_drift') else 'no'}; drifted share "
            f"{_fmt(d.get('drift_share'))} (threshold {_fmt(d.get('share_threshold'))}), "
            f"{d.get('n_drifted', '?')} of {d.get('n_columns', '?')} columns."
        ]
        for col in (d.get("top_drifted") or [])[:10]:
            lines.append(
                f"- `{col.get('column')}`: {col.get('method')} score {_fmt(col.get('score'))} "
                f"(threshold {_fmt(col.get('threshold'))})"
            )
        return lines


def _reason_color(reason: str) -> str:
    """Red for a failed gate, amber for a regression no gate checks, green otherwise."""
    if reason.startswith("FAILED"):
        return "#cf222e"
    return "#9a6700" if reason.startswith("not gated") else "#1a7f37"


def comparison_line(validation: Mapping[str, Any]) -> str | None:
    """How sure a comparison is, as the report, the Slack request and the approvals page say it, from the
    ``validation`` XCom (:meth:`ValidationReport.to_dict`): the rows scored and the primary metric's improvement with
    its 95 % interval, e.g. ``roc_auc improvement of the challenger: 95% interval [-0.0044, +0.0270] (paired
    bootstrap, 1000 resamples of the 200 labelled rows).``; None when it holds neither."""
    ci, rows, labelled = validation.get("improvement_ci"), validation.get("n_rows"), validation.get("n_labelled")
    if ci:
        return (
            f"{validation.get('primary_metric') or ci.get('metric')} improvement of the challenger over the champion: "
            f"95% interval {interval_text(ci['low'], ci['high'])} ({interval_basis(ci, labelled=True)})."
        )
    if labelled is None and rows is None:
        return None
    if labelled is not None and rows is not None and labelled != rows:
        return f"Scored on {labelled} labelled of {rows} rows."
    return f"Scored on {labelled if labelled is not None else rows} labelled rows."


def _fmt(value: Any) -> str:
    if _bad(value):
        return "n/a" if value is None else str(value)
    return f"{float(value):.4f}"


def _json_float(value: Any) -> float | None:
    return None if _bad(value) else float(value)


def build_report(
    *,
    model_name: str,
    gates: Gates,
    challenger_version: str,
    challenger_metrics: Mapping[str, float] | Scores,
    champion_version: str | None = None,
    champion_metrics: Mapping[str, float] | Scores | None = None,
    drift: Mapping[str, Any] | None = None,
    decision: Mapping[str, Any] | None = None,
    n_rows: int | None = None,
    data_uri: str | None = None,
    n_labelled: int | None = None,
    positive_class: Any = None,
    no_champion: str | None = None,
    task: str | None = None,
    labels: Sequence[Any] | None = None,
    predictions: Mapping[str, tuple[Any, Any, Any]] | None = None,
) -> ValidationReport:
    """Gate the challenger against the champion and return the full report.

    :param challenger_metrics: the challenger's metrics, or its :class:`Scores` (then a metric undefined for
        it is explained in the reasons); ``champion_metrics`` likewise.
    :param n_rows: the rows of the validation data; ``n_labelled``: those with a label, which were scored (fewer
        than ``gates.min_rows`` reject the challenger). Default: every row.
    :param positive_class: binary classification: the class precision, recall and f1 measured, named in the report.
    :param no_champion: without a champion, why there is none when it is not a first model (:func:`unaliased_versions`).
    :param task: ``classification`` or ``regression``; with ``labels`` (the true labels of the rows scored) the
        challenger must show skill (:func:`skill_check`), checked for constant predictions when ``predictions``
        (per version, ``(predictions, probabilities or None, classes or None)``) holds its own; with both versions'
        the report gives the primary metric's improvement's 95 % interval (:func:`~airflow_provider_agentic_mlops.
        core.metrics.paired_bootstrap`), and a reason when it includes 0 (informing: no gate, unless
        ``gates.require_significant_improvement``: then :func:`significance_check` gates on it).
    """
    if champion_version is not None and champion_metrics is None:
        raise ValueError(f"champion v{champion_version} given without its metrics; evaluate it on the same data")
    checks = evaluate_gates(
        gates,
        challenger_metrics,
        champion_metrics if champion_version is not None else None,
        challenger_version=str(challenger_version),
        champion_version=champion_version,
        no_champion=no_champion,
    )
    labelled = n_labelled if n_labelled is not None else n_rows
    if labelled is not None and labelled < gates.min_rows:
        of = f" of {n_rows} rows" if n_rows is not None and n_rows != labelled else " rows"
        checks.insert(
            0,
            GateCheck(
                "rows",
                gates.primary_metric,
                False,
                f"{labelled} labelled{of}, fewer than validation.min_rows {gates.min_rows}: too few to tell the "
                "versions apart (a difference on so few rows is chance). Validate on a window with more labels "
                "(rows without a label are not scored), or lower validation.min_rows",
            ),
        )
    challenger_scores = _scores(challenger_metrics)
    if task is not None and labels is not None and not challenger_scores.unscorable:
        own = (predictions or {}).get(str(challenger_version))
        checks.insert(0, skill_check(gates, task, labels, challenger_scores, own, version=str(challenger_version)))
    champion_values = _scores(champion_metrics).metrics if champion_metrics is not None else {}
    ci = None
    versions = (predictions or {}).get(str(challenger_version)), (predictions or {}).get(str(champion_version))
    metric = gates.primary_metric
    chal, champ = challenger_scores.metrics.get(metric), champion_values.get(metric)
    if task is None or labels is None or None in versions:
        no_interval = "the labels and both versions' predictions were not given to compute it"
    elif _bad(chal) or _bad(champ):
        no_interval = f"{metric} has no value for a version (the primary gate says why)"
    else:
        from airflow_provider_agentic_mlops.core import metrics as _metrics  # looked up here: tests replace it

        ci = _metrics.paired_bootstrap(
            task, metric, labels, *versions, higher=gates.higher_is_better, positive=positive_class
        )
        no_interval = (
            f"{metric} is undefined in most of the resamples of the {len(labels)} labelled rows (too few rows of a "
            "class?)"
        )
    scorable = not challenger_scores.unscorable and not (
        champion_metrics is not None and _scores(champion_metrics).unscorable
    )
    if gates.require_significant_improvement and champion_version is not None and scorable:
        checks.append(significance_check(gates, ci, no_interval=no_interval))
    ungated: list[UngatedRegression] = []
    if champion_version is not None and scorable:
        ungated = ungated_regressions(
            gates,
            challenger_scores.metrics,
            champion_values,
            task=task,
            labels=labels,
            versions=versions,
            positive=positive_class,
            floors_met={c.metric: c.passed for c in checks if c.gate == "floor"},
        )
    return ValidationReport(
        model_name=model_name,
        primary_metric=gates.primary_metric,
        champion_version=champion_version,
        challenger_version=str(challenger_version),
        champion_metrics=dict(champion_values),
        challenger_metrics=dict(_scores(challenger_metrics).metrics),
        checks=checks,
        drift=drift,
        decision=decision,
        n_rows=n_rows,
        data_uri=data_uri,
        primary_higher_is_better=gates.higher_is_better,
        n_labelled=n_labelled,
        positive_class=positive_class,
        positive_named=positive_class is not None and positive_class == gates.positive_label,
        improvement_ci=ci,
        ungated=ungated,
    )


__all__ = [
    "ClassLabel",
    "FieldError",
    "GateCheck",
    "GateSettings",
    "Gates",
    "Scores",
    "UnknownMetric",
    "ValidationReport",
    "amount_problem",
    "as_fraction",
    "build_report",
    "check_metric_amounts",
    "check_metric_names",
    "comparison_line",
    "constant_prediction",
    "skill_check",
    "unaliased_versions",
    "ungated_regressions",
    "UngatedRegression",
    "class_labels",
    "compute_metrics",
    "evaluate_gates",
    "gates_task",
    "higher_is_better",
    "interval_basis",
    "interval_text",
    "is_tie",
    "metric_task",
    "read_predictions",
    "score_predictions",
    "shown_change",
    "significance_check",
]
