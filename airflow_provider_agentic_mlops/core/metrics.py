"""Model quality metrics: one function, used by the drift summary, the evidence and the validation.

No Airflow import; scikit-learn and numpy are imported inside the functions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

_log = logging.getLogger(__name__)

Task = Literal["classification", "regression"]

#: Metrics where a lower value is better; every other metric is taken as higher-is-better.
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse", "mse", "mae", "log_loss", "mape", "max_error", "brier_score"})

#: ``(lowest, highest)`` value of each metric the provider knows; a tolerance, a minimum improvement or a drop of one
#: is at most its width (``highest - lowest``), a floor within it: the models file refuses a percentage written as
#: a whole number (``f1: 5`` for 5 %) by them.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    **dict.fromkeys(("accuracy", "precision", "recall", "f1", "roc_auc", "brier_score"), (0.0, 1.0)),
    **dict.fromkeys(("rmse", "mse", "mae", "log_loss", "mape", "max_error"), (0.0, math.inf)),
    "r2": (-math.inf, 1.0),
}

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
#: What :func:`compute_metrics` reports per task; a gate on any other name can never pass.
TASK_METRICS: dict[str, tuple[str, ...]] = {"classification": CLASSIFICATION_METRICS, "regression": REGRESSION_METRICS}
#: The metric a challenger must improve when the configuration names none.
DEFAULT_PRIMARY_METRIC: dict[str, str] = {"classification": "roc_auc", "regression": "rmse"}
#: Classification metrics of class probabilities: predicted labels alone do not give them.
PROBABILITY_METRICS: frozenset[str] = frozenset({"roc_auc", "log_loss"})
#: Metrics in the target's units: the decision's tolerance (``min_performance_drop``, an absolute
#: amount) cannot be one number for every model on them.
TARGET_UNIT_METRICS: frozenset[str] = frozenset({"rmse", "mae"})


def performance_metric_for(primary_metric: str | None, task: str | None) -> str | None:
    """The metric of the decision's performance evidence for a model that validation judges on ``primary_metric``
    (None: the task's default, :data:`DEFAULT_PRIMARY_METRIC`): the same metric, so the loop retrains on the
    harm validation would see (accuracy hides a collapsed minority class on imbalanced data, ROC AUC does
    not), except error metrics in the target's units (rmse, mae), read as ``r2``: unitless, it ranks the
    models on one window as they do (r2 = 1 - mse / var), and ``min_performance_drop`` is an absolute tolerance.
    The evidence compares it across windows at one scale, the reference's target variance (:func:`r2_at_scale`):
    there it moves with the MSE only.

    :return: the metric, or None when neither the primary metric nor the task is known (then the evidence's
        default: ``accuracy`` or ``r2`` by the labels).
    """
    metric = primary_metric or (DEFAULT_PRIMARY_METRIC.get(task) if task else None)
    if metric is None:
        return None
    return "r2" if metric in TARGET_UNIT_METRICS else metric


def target_variance(labels: Sequence[Any]) -> float | None:
    """The variance of the finite values of ``labels`` as R^2 reads it (about their mean, divided by their
    count, as scikit-learn's ``r2_score``); None with fewer than two values or none that differ."""
    import numpy as np

    values = np.asarray(labels, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return None
    variance = float(np.var(values))
    return variance if variance > 0 else None


def r2_at_scale(y_true: Sequence[Any], y_pred: Sequence[Any], variance: float) -> tuple[float, float]:
    """``(R^2, its standard error)`` of predictions against a fixed target ``variance``: ``1 - MSE / variance``.

    R^2 of a window against its own target variance moves with that variance, which has nothing to do
    with the model: a segment whose target varies less reads lower with the same errors, one whose target
    varies more hides errors that grew. At one fixed scale (the reference's target variance) R^2 moves with
    the MSE only. The standard error is the MSE's (the squared errors' spread over the square root of their
    count) at that scale, at least one row's worth (``1 / n``); the scale is taken as fixed.
    """
    import numpy as np

    errors = (np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)) ** 2
    n = errors.size
    spread = float(np.std(errors, ddof=1)) if n > 1 else math.inf
    return 1.0 - float(errors.mean()) / variance, max(spread / math.sqrt(n) / variance, 1.0 / n)


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def rounded(value: Any, digits: int = 4) -> Any:
    """``value`` for a log line people read: floats to ``digits`` significant digits, inside mappings, lists
    and tuples too; anything else as it is. What is stored (summaries, XCom, reports) keeps full precision."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else value
    if isinstance(value, Mapping):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(rounded(item, digits) for item in value)
    return value


def as_float(value: Any) -> float | None:
    """``value`` (a metric, score or weight as a summary or XCom hands it over: a number, text of one, or
    None) as a float; None when it is not a number, or NaN. Infinities are kept: what they mean is the
    caller's to say."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond a float (JSON allows it)
        return None
    return None if math.isnan(number) else number


# -- metrics --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """One model's metrics on labelled rows (:func:`score_predictions`), and why any of them is undefined.

    :param metrics: as :func:`compute_metrics` returns them; NaN where a metric is undefined.
    :param undefined: ``{metric: why it is NaN or not computed}`` (e.g. ``roc_auc`` and ``log_loss`` when the
        labels hold a class the model gives no probability for), so a gate can say why it cannot compare.
    :param unscorable: why no metric could be computed at all (:func:`nonfinite_predictions`: the predictions
        or probabilities hold NaN or infinite values); every metric is then NaN with this reason.
    :param notes: ``{metric: how it was read}`` where that differs from its usual definition (``roc_auc``
        over the classes present when a class of the model is absent from the rows).
    """

    metrics: dict[str, float]
    undefined: dict[str, str] = field(default_factory=dict)
    unscorable: str | None = None
    notes: dict[str, str] = field(default_factory=dict)

    def scored(self) -> dict[str, float]:
        """:attr:`metrics` (what :func:`compute_metrics` returns).

        :raises NonFinitePredictions: no metric could be computed (:attr:`unscorable`).
        """
        if self.unscorable:
            raise NonFinitePredictions(
                f"{self.unscorable}: no metric can be computed on them. Check what the model gets on those rows "
                "(missing or out-of-range inputs?)"
            )
        return self.metrics

    def note(self, metric: str) -> str | None:
        """Why ``metric`` is undefined on these rows, or how it was read where that differs from its usual
        definition (:attr:`notes`); None otherwise."""
        if self.unscorable:
            return self.unscorable
        value = self.metrics.get(metric)
        if value is not None and math.isnan(value):
            return self.undefined.get(metric)
        return self.notes.get(metric)


class NonFinitePredictions(ValueError):
    """The predictions (or class probabilities) hold NaN or infinite values: no metric can be computed."""


#: What a model that reads no feature scores on ``roc_auc`` (random scores) and ``r2`` (predicting the mean).
TRIVIAL_SCORES = {
    "roc_auc": (0.5, "random scores (roc_auc 0.5)"),
    "r2": (0.0, "predicting the mean (R^2 0)"),
}


def trivial_baseline(task: str, metric: str, y_true: Sequence[Any]) -> dict[str, Any] | None:
    """What a model that reads no feature scores on ``y_true`` in ``metric``, needing no champion metric:
    ``accuracy`` the share of the window's majority class (always answering it), ``roc_auc`` 0.5, ``r2``
    0, ``rmse`` the labels' standard deviation (predicting their mean), ``mae`` their mean absolute deviation
    from the median (predicting it); None for other metrics (their trivial value depends on the class mix and the
    threshold) or no labels. ``rmse`` and ``mae`` are errors: a model must score *below* theirs (the decision's
    evidence never asks for them: it reads them as ``r2``, :func:`performance_metric_for`).

    :return: ``{"value": ..., "source": how it is obtained}``, for the decision to compare a measurement
        that has no held-out baseline with, and validation's skill gate.
    """
    import pandas as pd

    if metric in TRIVIAL_SCORES:
        value, source = TRIVIAL_SCORES[metric]
        return {"value": value, "source": source}
    if task == "regression" and metric in ("rmse", "mae"):
        y = pd.to_numeric(pd.Series(list(y_true)), errors="coerce").dropna().to_numpy(dtype=float)
        if not len(y):
            return None
        if metric == "rmse":
            centre, what = float(y.mean()), "mean"
            value = float(((y - centre) ** 2).mean() ** 0.5)
        else:
            centre, what = float(pd.Series(y).median()), "median"
            value = float(abs(y - centre).mean())
        return {"value": value, "source": f"predicting the {what} {centre:.4g} of the {len(y)} scored labels"}
    if task != "classification" or metric != "accuracy":
        return None
    counts = pd.Series(list(y_true)).dropna().value_counts()
    if counts.empty:
        return None
    n, majority = int(counts.sum()), counts.index[0]
    share = float(counts.iloc[0]) / n
    return {
        "value": share,
        "source": (
            f"always predicting the window's majority class {str(majority)[:40]!r} ({share:.0%} of its {n} labels)"
        ),
    }


def nonfinite_predictions(y_pred: Sequence[Any], proba: Any = None, *, name: str = "predictions") -> str | None:
    """Why ``y_pred`` (and ``proba``) cannot be scored, e.g. ``"v7's predictions hold NaN for 3 of 400 rows"``;
    None when every value is finite (class labels that are not numbers are only checked for missing ones).

    :param name: what ``y_pred`` is, for the reason (``"v7's predictions"``).
    """
    import numpy as np
    import pandas as pd

    for what, values in ((name, y_pred), (f"the class probabilities behind {name}", proba)):
        if values is None:
            continue
        array = np.asarray(values)
        rows = array.reshape(len(array), -1) if array.ndim else array.reshape(1, 1)
        if array.dtype.kind in "fc":
            counts = {"NaN": np.isnan(rows).any(axis=1), "infinite values": np.isinf(rows).any(axis=1)}
        elif array.dtype.kind == "O":
            counts = {"missing values (None or NaN)": np.asarray(pd.isna(rows)).any(axis=1)}
        else:
            continue
        found = [f"{kind} for {int(mask.sum())}" for kind, mask in counts.items() if mask.any()]
        if found:
            return f"{what} hold {' and '.join(found)} of {len(rows)} rows"
    return None


def compute_metrics(
    task: Task, y_true: Sequence[Any], y_pred: Sequence[Any], proba: Any = None, **options: Any
) -> dict[str, float]:
    """Standard metrics of one model on labelled data: :func:`score_predictions`'s ``metrics``.

    :param options: ``names``, ``labels``, ``classes``, as :func:`score_predictions` takes them.
    :raises NonFinitePredictions: the predictions or probabilities hold NaN or infinite values.
    """
    return score_predictions(task, y_true, y_pred, proba, **options).scored()


def score_predictions(
    task: Task,
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    proba: Any = None,
    *,
    names: tuple[str, str] = ("labels", "predictions"),
    labels: Sequence[Any] | None = None,
    classes: Sequence[Any] | None = None,
    positive_label: Any = None,
    only: str | None = None,
) -> Scores:
    """Standard metrics of one model on labelled data (scikit-learn, imported here), with the reason of
    each one that is undefined.

    :param task: ``classification`` or ``regression``.
    :param y_true: true labels / targets.
    :param y_pred: predicted labels / values.
    :param proba: classification only: class probabilities, shape (n,) for the positive class or
        (n, n_classes); enables ``roc_auc`` and ``log_loss``.
    :param names: what ``y_true`` and ``y_pred`` are, for errors (``"label_column 'churned'"``).
    :param labels: classification: the classes precision, recall and f1 are computed over (binary for at
        most two, the last one positive, unless the model has more classes; else macro-averaged). Versions
        compared on the same rows must be given the same (:func:`class_labels`); default: from ``y_true``,
        ``y_pred`` and ``classes``.
    :param classes: classification: the model's classes in the order of ``proba``'s columns (scikit-learn's
        ``classes_``); default: the sorted labels. ``roc_auc`` and ``log_loss`` are NaN (logged with the
        reason) where undefined: a class absent from ``y_true``, or a label the model has no class for.
    :param positive_label: binary classification: the class precision, recall and f1 measure (``fraud`` of
        ``fraud``/``legit``); default: the greater of the two (:func:`positive_class`).
    :param only: compute this metric alone (the others are left out), as :func:`paired_bootstrap` does per
        resample; default: every metric of the task.
    :return: the metrics (classification: accuracy, precision, recall, f1, and roc_auc and log_loss when
        ``proba`` is given; regression: rmse, mae, r2) and why any of them is NaN (or, roc_auc and log_loss
        without ``proba``, not computed). Predictions or
        probabilities holding NaN or infinite values are ``unscorable``: every metric NaN, with the reason.
    """
    import numpy as np
    from sklearn import metrics as skm

    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} rows but y_pred has {len(y_pred)}; they must be the same rows")
    if len(y_true) == 0:
        raise ValueError("no rows to evaluate on: the validation data is empty")
    if task not in TASK_METRICS:
        raise ValueError(f"task {task!r} is not supported; use 'classification' or 'regression'")
    if task == "regression":
        y_pred = np.asarray(y_pred, dtype=float)  # None -> NaN, found below
    unscorable = nonfinite_predictions(y_pred, proba, name=names[1])
    if unscorable is not None:
        _log.info("no metric can be computed: %s", unscorable)
        names_of_task = TASK_METRICS[task]
        if task == "classification" and proba is None:
            names_of_task = tuple(m for m in names_of_task if m not in ("roc_auc", "log_loss"))
        return Scores(
            dict.fromkeys(names_of_task, math.nan), dict.fromkeys(names_of_task, unscorable), unscorable=unscorable
        )
    if task == "regression":
        y_t, y_p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
        # r2 divides by the target's variance: on a constant window scikit-learn's default reports 0.0 (or
        # 1.0) for every model, so any challenger would pass a gate on it
        r2, why = math.nan, {}
        if only in (None, "r2"):
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = float(skm.r2_score(y_t, y_p, force_finite=False))
            why = {} if math.isfinite(r2) else {"r2": "target is constant in this window"}
            r2 = r2 if math.isfinite(r2) else math.nan
        regression = {
            "rmse": lambda: float(math.sqrt(skm.mean_squared_error(y_t, y_p))),
            "mae": lambda: float(skm.mean_absolute_error(y_t, y_p)),
            "r2": lambda: r2,
        }
        if only is not None:
            regression = {name: score for name, score in regression.items() if name == only}
        return Scores({name: score() for name, score in regression.items()}, why if "r2" in regression else {})
    if labels is None:
        labels = class_labels(y_true, y_pred, classes=[] if classes is None else [classes], names=names)
    labels = list(labels)
    # one definition for every version scored with these labels, whatever each one predicted; a model with more
    # than two classes is scored macro-averaged even on a window holding two of them
    binary = len(labels) <= 2 and (classes is None or len(classes) <= 2)
    positive = positive_class(labels, positive_label) if binary else None
    scope: dict[str, Any] = {"average": "binary", "pos_label": positive} if binary else {}
    scope = scope or {"average": "macro", "labels": labels}
    out: dict[str, float] = {}
    if only in (None, "accuracy"):
        out["accuracy"] = float(skm.accuracy_score(y_true, y_pred))
    undefined: dict[str, str] = {}
    counts = [m for m in ("precision", "recall", "f1") if only in (None, m)]
    absent = _absent_positive_class(labels, y_true, y_pred, positive) if binary and counts else None
    if absent is not None:  # the negative class's F1 (1.0) or zero_division's 0 would read as a measurement
        reason = f"no positive ({absent!r}) among the labels or the predictions: nothing to be precise on or recall"
        what = "precision, recall and f1 are" if len(counts) == 3 else f"{counts[0]} is"
        _log.info("%s undefined (NaN): %s", what, reason)
        out.update(dict.fromkeys(counts, math.nan))
        undefined.update(dict.fromkeys(counts, reason))
    else:
        scorers = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}
        out.update({m: float(scorers[m](y_true, y_pred, zero_division=0, **scope)) for m in counts})
    notes: dict[str, str] = {}
    probability = [m for m in ("roc_auc", "log_loss") if only in (None, m)]
    if proba is not None and probability:
        values, why = _probability_metrics(y_true, proba, classes, notes, only=only)
        out.update(values)
        undefined.update(why)
    elif probability:  # not computed (no value), but a gate on them says why instead of "missing value"
        reason = "it gives no class probabilities (no predict_proba, or a pyfunc model returning labels only)"
        undefined.update(dict.fromkeys(probability, reason))
    return Scores(out, undefined, notes=notes)


def metric_note(
    task: Task, metric: str, y_true: Sequence[Any], y_pred: Sequence[Any], proba: Any = None, **options: Any
) -> str | None:
    """Why ``metric`` is undefined on these rows, or how it was read where that differs from its usual
    definition (:attr:`Scores.notes`); None otherwise. Takes :func:`score_predictions`'s arguments."""
    return score_predictions(task, y_true, y_pred, proba, **options).note(metric)


def score_versions(
    task: Task,
    y_true: Any,
    predictions: Mapping[str, tuple[Any, Any, Sequence[Any] | None]],
    *,
    label_name: str,
    positive_label: Any = None,
) -> tuple[dict[str, Scores], Any]:
    """Every version's metrics (and why any is undefined) over one set of classes, the same definitions for
    champion and challenger; and the positive class of a binary comparison (else None).

    :param task: ``classification`` or ``regression``.
    :param y_true: the true labels (a numpy array).
    :param predictions: per version, ``(predictions, probabilities or None, their classes or None)``
        (:func:`read_predictions`).
    :param label_name: what the labels are, for errors (``"label_column 'churned'"``).
    :param positive_label: the class precision, recall and f1 measure in a binary comparison (default: the
        greater of the two).
    :raises ValueError: ``positive_label`` is not one of the two classes.
    """
    labels, positive = None, None
    if task == "classification":
        # a version whose predictions hold NaN is not scored (score_predictions says so): its NaN is no class
        scorable = [
            (pred, classes) for pred, proba, classes in predictions.values() if not nonfinite_predictions(pred, proba)
        ]
        labels = class_labels(
            y_true,
            *(pred for pred, _ in scorable),
            classes=[classes for _, classes in scorable if classes is not None],
            names=(label_name, "the models' predictions"),
        )
        if len(labels) <= 2 and all(classes is None or len(classes) <= 2 for _, classes in scorable):
            positive = positive_class(labels, positive_label)
    scores = {
        version: score_predictions(
            task,
            y_true,
            y_pred,
            proba,
            names=(label_name, f"v{version}'s predictions"),
            labels=labels,
            classes=classes,
            positive_label=positive_label,
        )
        for version, (y_pred, proba, classes) in predictions.items()
    }
    return scores, positive


def prediction_column(output: Any, proba: Any) -> Any:
    """A model's output as one prediction column, for :func:`infer_task`; None for a classifier's (it gives
    class probabilities, or one column per class), which ``infer_task`` then reads from the labels alone."""
    import numpy as np

    if proba is not None:
        return None
    values = output.to_numpy() if hasattr(output, "to_numpy") else np.asarray(output)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    return values if values.ndim == 1 else None


def positive_class(labels: Sequence[Any], positive_label: Any = None) -> Any:
    """The positive class of a binary comparison over ``labels`` (:func:`class_labels`): ``positive_label``
    when given, else the greater of the two.

    :raises ValueError: ``positive_label`` is not one of two classes (a typo would measure nothing)."""
    if positive_label is None:
        return labels[-1]
    if len(labels) == 2 and positive_label not in list(labels):
        raise ValueError(
            f"positive_label {positive_label!r} is not one of the classes {list(labels)!r}; set "
            "validation.positive_label to the class precision, recall and f1 should measure"
        )
    return positive_label


def _absent_positive_class(
    labels: Sequence[Any], y_true: Sequence[Any], y_pred: Sequence[Any], positive: Any = None
) -> Any:
    """The binary positive class when neither the labels nor the predictions hold it, else None: ``positive``,
    else the greater of two classes (:func:`class_labels`), or 1 (True) when 0 (False) is the only class known."""
    import numpy as np

    if positive is not None and positive != labels[-1]:  # named: absent when neither holds it
        seen = set(np.asarray(y_true).tolist()) | set(np.asarray(y_pred).tolist())
        return None if positive in seen else positive
    positive = labels[-1]
    number = isinstance(positive, bool | np.bool_ | int | np.integer | float | np.floating)
    if len(labels) == 1 and number and positive == 0:
        return True if isinstance(positive, bool | np.bool_) else 1
    seen = set(np.asarray(y_true).tolist()) | set(np.asarray(y_pred).tolist())
    return None if positive in seen else positive


def _probability_metrics(
    y_true: Sequence[Any],
    proba: Any,
    classes: Sequence[Any] | None,
    notes: dict[str, str] | None = None,
    only: str | None = None,
) -> tuple[dict[str, float], dict[str, str]]:
    """``roc_auc`` and ``log_loss`` of class probabilities (``only`` one of them: that one alone), and
    ``{metric: why}`` of those NaN where undefined (logged too). Several classes: ``roc_auc`` is the macro
    one-vs-rest AUC over the classes the labels hold (each class's binary AUC of its column), so a class of the
    model absent from the rows, a rare one in a short window, does not make it undefined; the absent classes are
    said in ``notes``."""
    import numpy as np
    from sklearn import metrics as skm

    p = np.asarray(proba, dtype=float)
    known = None
    if classes is not None:  # scikit-learn wants the columns in sorted class order, and those classes as labels
        order = sorted(range(len(classes)), key=lambda i: classes[i])
        known = [classes[i] for i in order]
        if p.ndim == 2:
            p = p[:, order]
    if p.ndim == 2 and p.shape[1] == 2:
        p = p[:, 1]
    y = np.asarray(y_true)
    unseen = sorted(set(y.tolist()) - set(known), key=str) if known is not None else []
    if unseen:
        reason = f"the labels hold classes {unseen[:10]} the model gives no probability for (its classes: {known})"
        wanted = [m for m in ("roc_auc", "log_loss") if only in (None, m)]
        _log.info("%s undefined (NaN): %s", " and ".join(wanted) + (" are" if len(wanted) > 1 else " is"), reason)
        return dict.fromkeys(wanted, float("nan")), dict.fromkeys(wanted, reason)
    out: dict[str, float] = {}
    undefined: dict[str, str] = {}
    if only != "log_loss":
        out, undefined = _roc_auc(y, p, known, notes)
    if only == "roc_auc":
        return out, undefined
    try:
        out["log_loss"] = float(skm.log_loss(y, p, labels=known))
    except ValueError as err:
        _log.info("log_loss is undefined on these rows (NaN): %s", err)
        out["log_loss"] = float("nan")
        undefined["log_loss"] = f"undefined on these rows: {err}"
    return out, undefined


def _roc_auc(
    y: Any, p: Any, known: Sequence[Any] | None, notes: dict[str, str] | None
) -> tuple[dict[str, float], dict[str, str]]:
    """``({"roc_auc": value}, {"roc_auc": why it is NaN} or {})``, as :func:`_probability_metrics` reads it."""
    import numpy as np
    from sklearn import metrics as skm

    if len(np.unique(y)) < 2:  # undefined on one class; fails any gate on it, by design
        return {"roc_auc": math.nan}, {
            "roc_auc": f"the labels hold one class only ({np.unique(y).tolist()[:1]}); roc_auc needs two"
        }
    try:
        if p.ndim == 1:
            return {"roc_auc": float(skm.roc_auc_score(y, p))}, {}
        return {"roc_auc": _macro_ovr_auc(y, p, known, notes)}, {}
    except ValueError as err:  # e.g. a class of the model absent from these rows: one-vs-rest undefined
        _log.info("roc_auc is undefined on these rows (NaN): %s", err)
        return {"roc_auc": math.nan}, {"roc_auc": f"undefined on these rows: {err}"}


def _macro_ovr_auc(y: Any, p: Any, known: Sequence[Any] | None, notes: dict[str, str] | None) -> float:
    """The mean over the classes ``y`` holds of each one's binary AUC against the rest (its column of ``p``,
    whose columns are ``known``, default the sorted labels): scikit-learn's macro one-vs-rest, which raises
    when a class of ``known`` is absent from ``y``; those are named in ``notes['roc_auc']``."""
    import numpy as np
    from sklearn import metrics as skm

    columns = list(known) if known is not None else sorted(np.unique(y).tolist())
    if len(columns) != p.shape[1]:  # columns of no known class: scikit-learn says what does not match
        return float(skm.roc_auc_score(y, p, multi_class="ovr", labels=known))
    present = [c for c in columns if (y == c).any()]
    absent = [c for c in columns if c not in present]
    value = float(np.mean([skm.roc_auc_score(y == c, p[:, columns.index(c)]) for c in present]))
    if absent and notes is not None:
        names = ", ".join(repr(str(c)[:40]) for c in absent[:10]) + (" ..." if len(absent) > 10 else "")
        notes["roc_auc"] = (
            f"class(es) {names} of the model absent from these rows: roc_auc is the mean one-vs-rest AUC over the "
            f"{len(present)} classes present"
        )
    return value


def class_labels(
    y_true: Sequence[Any],
    *predictions: Sequence[Any],
    classes: Sequence[Sequence[Any]] = (),
    names: tuple[str, str] = ("labels", "predictions"),
) -> list[Any]:
    """The classes precision, recall and f1 are computed over, sorted: one list for every version scored on
    the same rows, so champion and challenger get the same definition whatever each one predicted.

    Binary (at most two classes among the labels, the ``predictions`` and the models' ``classes``): those,
    the greater one positive whatever this window holds. Multiclass: the classes of the labels and of the
    predictions, macro-averaged. A model's class that neither occurs in the window nor is predicted by any
    version is left out: it would count 0 for every version alike and only pull the average down, so a
    perfect model would fail an f1 floor whenever a rare class is absent from the window.

    :param predictions: each version's predicted labels.
    :param classes: each model's classes (scikit-learn's ``classes_``), where known.
    :param names: what ``y_true`` and ``predictions`` are, for errors.
    :raises ValueError: values that cannot be compared as classes (labels against probabilities, 1 against "1").
    """
    every = _unique_classes(y_true, [*predictions, *classes], names)
    if len(every) <= 2:
        return every
    return _unique_classes(y_true, list(predictions), names)


def alike_classes(*arrays: Any) -> list[Any]:
    """``arrays`` (labels, predictions, a model's classes) with text that spells whole numbers ('0', '1',
    ' 2') read as those numbers, when the others hold numbers: an export that writes a classifier's output
    as text against integer labels holds the same classes, as the evidence compares them (1 and '1' alike).
    Unchanged when no array mixes in that way, or when any text is no whole number ('yes', '0.8': no class
    of the numbers; :func:`class_labels` refuses them)."""
    import numpy as np
    import pandas as pd

    arrays = [np.asarray(a) for a in arrays]
    text = [a.dtype.kind in "US" or (a.dtype.kind == "O" and all(isinstance(v, str) for v in a)) for a in arrays]
    numbers = [a.dtype.kind in "iuf" for a in arrays]
    if not (any(text) and any(numbers)) or not all(t or n for t, n in zip(text, numbers, strict=True)):
        return arrays
    converted = []
    for a, is_text in zip(arrays, text, strict=True):
        if not is_text:
            converted.append(a)
            continue
        values = pd.to_numeric(pd.Series(a, dtype=object).str.strip(), errors="coerce").to_numpy(dtype=np.float64)
        if not (np.isfinite(values).all() and np.all(np.mod(values, 1) == 0)):
            return arrays
        converted.append(values.astype(np.int64))
    return converted


def _unique_classes(y_true: Sequence[Any], known: list[Sequence[Any]], names: tuple[str, str]) -> list[Any]:
    import numpy as np

    arrays = [np.asarray(y_true), *(np.asarray(k) for k in known)]
    kinds = {"text" if a.dtype.kind in "US" else "number" for a in arrays if a.dtype.kind in "USbiuf"}
    try:
        if len(kinds) > 1:
            raise TypeError("text and numbers")
        return np.unique(np.concatenate(arrays)).tolist()
    except TypeError:  # e.g. "yes"/"no" against 0.83, or labels mixing 1 and "1"
        others = np.concatenate([np.asarray(k, dtype=object) for k in known]) if known else []
        raise ValueError(
            f"{names[0]} ({_types_seen(y_true)}) and {names[1]} ({_types_seen(others)}) hold values that "
            "cannot be compared as classes. Predictions must be class labels of the labels' type, or the "
            "probability of the positive class with numeric 0/1 labels; cast the columns in the export."
        ) from None


def read_predictions(
    task: Task,
    y_true: Sequence[Any],
    output: Any,
    proba: Any = None,
    classes: Sequence[Any] | None = None,
    *,
    name: str = "the model",
) -> tuple[Any, Any, list[Any] | None]:
    """``(predictions, probabilities or None, their classes or None)`` from what a model's ``predict`` returned.

    Classification: one column (1-D, or a one-column frame or array) is the predicted labels, or, when it
    holds floats in [0, 1] and the labels are 0/1, the probability of class 1 (:func:`split_scores`).
    Several columns are one probability per class, named by class (a frame's columns) or by position
    (an array's), and the most probable class is the prediction. Regression: one column of values.

    :param y_true: the true labels of the same rows.
    :param output: what ``predict`` returned (array, Series, DataFrame).
    :param proba: probabilities the model gave besides (scikit-learn's ``predict_proba``): then ``output``
        is the labels.
    :param classes: the classes of ``proba``'s columns (scikit-learn's ``classes_``).
    :param name: the model, for errors.
    :raises ValueError: a regressor returning several columns; probability columns named by no label.
    """
    import numpy as np
    import pandas as pd

    columns = pd.Index(output.columns).tolist() if isinstance(output, pd.DataFrame) else None
    values = np.asarray(output.to_numpy() if hasattr(output, "to_numpy") else output)
    if values.ndim == 2 and values.shape[1] == 1:
        values, columns = values[:, 0], None  # one column: the predictions themselves
    if task == "regression":
        if values.ndim != 1:
            raise ValueError(f"{name} returned {values.shape[1]} columns per row; a regressor must return one value")
        return values, None, None
    if proba is not None:
        return values, np.asarray(proba, dtype=float), None if classes is None else np.asarray(classes).tolist()
    if values.ndim == 1:
        labels, scores = split_scores(y_true, values)
        return labels, scores, None
    names = columns if columns is not None else list(range(values.shape[1]))
    seen = set(np.asarray(y_true).tolist())
    if not seen & set(names):
        names = _labels_by_text(names, seen)
    if not seen & set(names):
        raise ValueError(
            f"{name} returned {len(names)} columns, read as one probability per class, but the columns "
            f"{names} are none of the labels {sorted(seen, key=str)[:10]}; name the probability columns "
            "after the classes, or return the labels"
        )
    probabilities = values.astype(float)
    return np.asarray(names)[probabilities.argmax(axis=1)], probabilities, names


def _labels_by_text(names: list[Any], seen: set[Any]) -> list[Any]:
    """Probability columns named by the labels' text (``"0"``/``"1"`` for labels 0/1: a frame's column names are
    text) as those labels, when that is unambiguous: no two labels share a text, and every column is a label's
    text or, with integer labels, an integer's (a class absent from the window). Else ``names`` unchanged."""
    by_text = {str(label): label for label in seen}
    integers = all(isinstance(label, int) and not isinstance(label, bool) for label in seen)
    if len(by_text) < len(seen):
        return names
    matched = []
    for name in names:
        text = str(name)
        if text in by_text:
            matched.append(by_text[text])
        elif integers and text.lstrip("-").isdigit() and str(int(text)) == text:
            matched.append(int(text))
        else:
            return names
    return matched


def _types_seen(values: Sequence[Any]) -> str:
    import numpy as np

    return ", ".join(sorted({type(v).__name__ for v in np.asarray(values).tolist()}))


def infer_task(
    labels: Sequence[Any],
    predictions: Sequence[Any] | None = None,
    names: tuple[str, str] = ("the labels", "the predictions"),
) -> str:
    """``classification`` for non-numeric, boolean or integral labels with at most 20 values, else
    ``regression``. With ``predictions`` (a prediction column), integral labels are ``regression``
    when a prediction is fractional outside [0, 1] (a count or a rating predicted as a number, no
    label or probability); fractional predictions in [0, 1] are one class's probability for labels
    0/1 and anything else is a ValueError naming both (``names``) and ``task``."""
    import numpy as np
    import pandas as pd

    values = pd.Series(labels).dropna()
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return "classification"
    integral = bool(np.all(np.mod(values.to_numpy(dtype=np.float64), 1) == 0))
    if not (integral and values.nunique() <= 20):
        return "regression"
    pred = pd.Series(predictions if predictions is not None else [], dtype=None).dropna()
    if not pd.api.types.is_numeric_dtype(pred.dtype) or pd.api.types.is_bool_dtype(pred.dtype):
        return "classification"  # predicted classes (text, booleans), or no prediction column
    numbers = pred.to_numpy(dtype=np.float64)
    numbers = numbers[np.isfinite(numbers)]
    fractional = np.mod(numbers, 1) != 0
    if (fractional & ((numbers < 0) | (numbers > 1))).any():
        return "regression"
    if fractional.any() and not set(values.unique().tolist()) <= {0, 1}:
        label_name, prediction_name = names
        raise ValueError(
            f"cannot tell the task: {label_name} holds {values.nunique()} whole-number values (read as classes) "
            f"but {prediction_name} holds fractions in [0, 1], which are neither classes nor the probability "
            "of class 1 for labels 0/1: set task='regression' if the model predicts a number, or "
            f"task='classification' with the predicted classes in {prediction_name}."
        )
    return "classification"


def split_scores(y_true: Sequence[Any], y_pred: Sequence[Any]) -> tuple[Any, Any]:
    """``(labels, proba)`` from a prediction column: a float column in [0, 1] that is not all 0/1,
    with labels 0/1 (or bool), is the probability of class 1 (thresholded at 0.5 for the labels);
    anything else is the predicted labels themselves (``proba`` None)."""
    import numpy as np
    import pandas as pd

    pred = pd.Series(np.asarray(y_pred))
    true_values = set(pd.Series(np.asarray(y_true)).unique().tolist())
    is_score = (
        pd.api.types.is_float_dtype(pred.dtype)
        and true_values <= {0, 1}
        and bool(((pred >= 0) & (pred <= 1)).all())
        and not bool(np.all(np.mod(pred.to_numpy(), 1) == 0))
    )
    if not is_score:
        return pred.to_numpy(), None
    scores = pred.to_numpy(dtype=np.float64)
    labels = (scores >= 0.5).astype(np.asarray(y_true).dtype)
    return labels, scores


# -- uncertainty of a comparison ------------------------------------------------------------------

#: The paired bootstrap's resamples and seed (:func:`paired_bootstrap`).
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
#: The most rows it resamples: of a larger window a seeded random subset of this many, whose interval's half-widths
#: are scaled by sqrt(subset / window) to the whole window's; its ``rows`` and ``of_rows`` say so.
BOOTSTRAP_MAX_ROWS = 50_000
#: Metrics that are the mean of a value per row (:func:`_row_values`): their improvement is the mean of the rows'
#: paired differences, whose interval is the normal one over every row of the window (no resampling, no subset).
ROW_MEAN_METRICS: frozenset[str] = frozenset({"accuracy", "log_loss", "mae"})
#: Resamples of a metric without the numpy path, recomputed with scikit-learn per resample (that metric alone).
BOOTSTRAP_SLOW_RESAMPLES = 200


def paired_bootstrap(
    task: Task,
    metric: str,
    y_true: Sequence[Any],
    new: tuple[Any, Any, Sequence[Any] | None],
    old: tuple[Any, Any, Sequence[Any] | None],
    *,
    higher: bool,
    positive: Any = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    max_rows: int = BOOTSTRAP_MAX_ROWS,
    fast_only: bool = False,
    confidence: float = 0.95,
) -> dict[str, Any] | None:
    """The 95 % (``confidence``) interval of ``metric``'s improvement of ``new`` over ``old`` (positive: better, by
    ``higher``).

    A metric that is the mean of a value per row (:data:`ROW_MEAN_METRICS`: accuracy, log_loss, mae) changes by
    the mean of the rows' paired differences: its interval is that mean +- the t quantile times their standard
    error (standard deviation / sqrt(rows)) over every row (``resamples`` 0), exact and cheap on any window.
    Another metric's is a paired bootstrap's: each resample draws rows with replacement, the same rows for both
    versions, and the interval is the central ``confidence`` share (2.5th to 97.5th percentile at 95 %) of the
    improvement over the resamples (seeded: the same inputs give the same interval). Precision/recall/f1 (binary or
    macro), roc_auc (binary, and the macro one-vs-rest of more classes), rmse and r2 are computed for every resample
    at once (numpy, row weights), as :func:`score_versions` scores the resampled rows (a resample of a macro average
    holding two classes, which may read as binary, with scikit-learn); a metric without that path with
    scikit-learn, that metric alone per resample, :data:`BOOTSTRAP_SLOW_RESAMPLES` resamples. Of a window over
    ``max_rows`` rows it resamples a seeded random ``max_rows`` of them and scales the interval to the whole window
    (``scaled``): its half-widths, from the subset's improvement, by sqrt(``max_rows`` / rows) (a standard error
    shrinks as 1 / sqrt(rows)), around the whole window's improvement.

    :param new: the challenger's ``(predictions, probabilities or None, classes or None)``; ``old`` the champion's.
    :param positive: the positive class of a binary comparison (``score_versions``); None: macro-averaged.
    :param fast_only: None for a metric without the numpy path rather than scikit-learn per resample (seconds on a
        large window): for an interval that only informs (a macro average's few resamples of two classes are still
        scored with scikit-learn).
    :param confidence: the interval's two-sided confidence, in (0, 1): 0.99 for one of five read together
        (Bonferroni).
    :return: ``{"metric", "confidence", "low", "high", "resamples", "rows", "of_rows", "method", "scaled"}``
        (``rows``: those resampled, of ``of_rows``), or None when the metric is undefined in most resamples (e.g.
        roc_auc of a window with a handful of positives).
    """
    import numpy as np

    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence!r} is not a share: give one in (0, 1), e.g. 0.95")
    y = np.asarray(y_true)
    sign = 1.0 if higher else -1.0
    per_row = _row_values(task, metric, y, *new), _row_values(task, metric, y, *old)
    if per_row[0] is not None and per_row[1] is not None:
        return _normal_interval(metric, sign * (per_row[0] - per_row[1]), confidence)
    whole = y, new, old
    rng = np.random.default_rng(seed)
    of_rows = len(y)
    rows = np.sort(rng.choice(of_rows, max_rows, replace=False)) if of_rows > max_rows else np.arange(of_rows)

    def subset(version: tuple[Any, Any, Sequence[Any] | None]) -> tuple[Any, Any, Sequence[Any] | None]:
        pred, proba, classes = version
        return (
            None if pred is None else np.asarray(pred)[rows],
            None if proba is None else np.asarray(proba, dtype=float)[rows],
            classes,
        )

    y, new, old = y[rows], subset(new), subset(old)
    m = len(y)
    if m == 0:
        return None
    change = _change_by_weights(task, metric, y, new, old, positive)
    with np.errstate(divide="ignore", invalid="ignore"):
        if change is not None:
            diffs, chunk = [], max(1, 2_000_000 // m)
            for start in range(0, resamples, chunk):
                k = min(chunk, resamples - start)
                idx = rng.integers(0, m, (k, m)) + (np.arange(k) * m)[:, None]
                weights = np.bincount(idx.ravel(), minlength=k * m).reshape(k, m).astype(float)
                values, slow = change(weights)
                for i in np.flatnonzero(slow):  # the rows drawn, in order (the metrics do not depend on it)
                    drawn = np.repeat(np.arange(m), weights[i].astype(int))
                    values[i] = _resampled(task, metric, y, new, old, drawn, positive)
                diffs.append(sign * values)
            diff, method = np.concatenate(diffs), "paired bootstrap"
        elif fast_only:
            return None
        else:
            resamples = min(resamples, BOOTSTRAP_SLOW_RESAMPLES)
            diff = np.array(
                [
                    sign * _resampled(task, metric, y, new, old, rng.integers(0, m, m), positive)
                    for _ in range(resamples)
                ]
            )
            method = "paired bootstrap (scikit-learn per resample)"
    diff = diff[np.isfinite(diff)]
    if len(diff) < resamples / 2:
        return None
    low, high = np.percentile(diff, [50 * (1 - confidence), 50 * (1 + confidence)])
    scaled = False
    if of_rows > m:  # the subset's interval, scaled to the whole window's (a standard error goes as 1/sqrt(rows))
        part, full = (sign * _difference(task, metric, *rows_of, positive) for rows_of in ((y, new, old), whole))
        if math.isfinite(part) and math.isfinite(full):
            factor = math.sqrt(m / of_rows)
            low, high, scaled = full - (part - low) * factor, full + (high - part) * factor, True
    return {
        "metric": metric,
        "confidence": confidence,
        "low": float(low),
        "high": float(high),
        "resamples": int(len(diff)),
        "rows": int(m),
        "of_rows": int(of_rows),
        "method": method,
        "scaled": scaled,
    }


def _normal_interval(metric: str, diff: Any, confidence: float = 0.95) -> dict[str, Any] | None:
    """The ``confidence`` interval of the mean of the rows' paired differences ``diff`` (t quantile times their
    standard error), as :func:`paired_bootstrap` returns one; None with fewer than two rows or a non-finite one."""
    import numpy as np
    from scipy import stats

    n = len(diff)
    if n < 2 or not np.isfinite(diff).all():
        return None
    mean = float(diff.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(diff.std(ddof=1)) / math.sqrt(n)
    return {
        "metric": metric,
        "confidence": confidence,
        "low": mean - half,
        "high": mean + half,
        "resamples": 0,
        "rows": n,
        "of_rows": n,
        "method": "normal approximation of the mean paired per-row difference",
        "scaled": False,
    }


def _row_values(task: Task, metric: str, y: Any, pred: Any, proba: Any, classes: Sequence[Any] | None) -> Any:
    """Each row's value of ``metric`` when the metric is their mean (:data:`ROW_MEAN_METRICS`), as
    :func:`score_predictions` computes it (and :func:`_by_weights` weighs it); None for another metric or without
    its inputs."""
    import numpy as np

    if metric not in ROW_MEAN_METRICS:
        return None
    if task == "regression":
        return None if metric != "mae" or pred is None else np.abs(y.astype(float) - np.asarray(pred, dtype=float))
    if metric == "accuracy":
        return None if pred is None else (np.asarray(pred) == y).astype(float)
    if metric != "log_loss" or proba is None:
        return None
    eps = np.finfo(float).eps
    read = _probability_columns(y, proba, classes)
    if read is None:
        return None
    p, known = read
    if p.ndim == 1:
        return -np.log(np.clip(np.where(y == known[1], p, 1 - p), eps, 1))
    p = p / p.sum(axis=1, keepdims=True)
    return -np.log(np.clip(p[np.arange(len(y)), np.searchsorted(np.asarray(known), y)], eps, 1))


def _difference(task: Task, metric: str, y: Any, new: tuple[Any, ...], old: tuple[Any, ...], positive: Any) -> float:
    """``metric`` of ``new`` minus ``old`` on every row of ``y`` (NaN where undefined): row weights of 1 where
    :func:`_change_by_weights` weighs the metric, else scikit-learn."""
    import numpy as np

    change = _change_by_weights(task, metric, y, new, old, positive)
    if change is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            values, slow = change(np.ones((1, len(y))))
        if not slow[0]:
            return float(values[0])
    return _resampled(task, metric, y, new, old, np.arange(len(y)), positive)


def _change_by_weights(
    task: Task, metric: str, y: Any, new: tuple[Any, ...], old: tuple[Any, ...], positive: Any
) -> Any:
    """A function of a ``(resamples, rows)`` matrix of row weights returning ``(metric of new minus old, which
    resamples to score with scikit-learn instead)`` per resample; None for a metric it cannot weigh."""
    import numpy as np

    if task == "classification" and metric in ("precision", "recall", "f1") and positive is None:
        return _macro_change_by_weights(metric, y, new, old)
    fast_new, fast_old = _by_weights(task, metric, y, *new, positive), _by_weights(task, metric, y, *old, positive)
    if fast_new is None or fast_old is None:
        return None
    return lambda w: (fast_new(w) - fast_old(w), np.zeros(len(w), dtype=bool))


def _macro_change_by_weights(metric: str, y: Any, new: tuple[Any, ...], old: tuple[Any, ...]) -> Any:
    """:func:`_change_by_weights` of macro precision, recall or f1 (no positive class), as :func:`score_predictions`
    reads them for the labels :func:`class_labels` gives the resample's rows: the mean over the classes the
    resample's labels or either version's predictions hold of each one's value (0 where undefined:
    ``zero_division=0``). A resample holding at most two classes may be scored as binary: it is left to
    scikit-learn."""
    import numpy as np

    if new[0] is None or old[0] is None:
        return None
    preds = [np.asarray(new[0]), np.asarray(old[0])]
    try:
        candidates = np.unique(np.concatenate([y, *preds]))
    except TypeError:  # classes that do not compare: score_predictions says so
        return None
    is_true = y[:, None] == candidates[None, :]
    said = [p[:, None] == candidates[None, :] for p in preds]
    # per class: the labels, and each version's predictions and hits (one product for all)
    members = np.concatenate([is_true, *said, *(s & is_true for s in said)], axis=1).astype(float)

    def change(w: Any) -> tuple[Any, Any]:
        true, *counts = np.split(w @ members, 5, axis=1)
        held = (true + counts[0] + counts[1]) > 0
        values = []
        for said_w, hit_w in ((counts[0], counts[2]), (counts[1], counts[3])):
            den = {"precision": said_w, "recall": true, "f1": said_w + true}[metric]
            num = hit_w * (2.0 if metric == "f1" else 1.0)
            per_class = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
            values.append(np.where(held, per_class, 0.0).sum(axis=1) / held.sum(axis=1))
        return values[0] - values[1], held.sum(axis=1) <= 2

    return change


def _by_weights(
    task: Task, metric: str, y: Any, pred: Any, proba: Any, classes: Sequence[Any] | None, positive: Any
) -> Any:
    """A function of a ``(resamples, rows)`` matrix of row weights (how often each row was drawn) returning
    ``metric`` per resample, as :func:`score_predictions` defines it; None for a metric it cannot weigh."""
    import numpy as np

    def mean(values: Any) -> Any:
        values = np.asarray(values, dtype=float)
        return lambda w: (w @ values) / w.sum(axis=1)

    per_row = _row_values(task, metric, y, pred, proba, classes)  # accuracy, log_loss, mae: a mean per row
    if per_row is not None:
        return mean(per_row)
    if task == "regression":
        t, p = y.astype(float), np.asarray(pred, dtype=float)
        se = (t - p) ** 2
        if metric == "rmse":
            return lambda w: np.sqrt(mean(se)(w))
        if metric == "r2":
            return lambda w: 1 - (w @ se) / (w @ t**2 - (w @ t) ** 2 / w.sum(axis=1))
        return None
    if metric in ("precision", "recall", "f1") and pred is not None and positive is not None:
        said, true = (np.asarray(pred) == positive).astype(float), (y == positive).astype(float)
        hit = said * true

        def ratio(num: Any, den: Any) -> Any:
            return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)  # zero_division=0

        if metric == "precision":
            return lambda w: ratio(w @ hit, w @ said)
        if metric == "recall":
            return lambda w: ratio(w @ hit, w @ true)
        return lambda w: ratio(2 * (w @ hit), w @ said + w @ true)
    if metric not in PROBABILITY_METRICS or proba is None:
        return None
    read = _probability_columns(y, proba, classes)
    if read is None:
        return None
    p, known = read
    if p.ndim == 1:
        return _weighted_auc(p, y == known[1])
    return _weighted_macro_auc(p, y, known, every_class=classes is None)


def _probability_columns(y: Any, proba: Any, classes: Sequence[Any] | None) -> tuple[Any, list[Any]] | None:
    """``proba`` as the row-wise metrics read it, with the classes its columns stand for (sorted): columns ordered
    by class; two columns read as the positive (second) class's alone, one dimension. None when they cannot be
    matched to the labels (a label no column stands for; one dimension for more than two classes)."""
    import numpy as np

    p = np.asarray(proba, dtype=float)
    known = sorted(classes) if classes is not None else sorted(np.unique(y).tolist())
    if classes is not None and p.ndim == 2:
        p = p[:, sorted(range(len(classes)), key=lambda i: classes[i])]
    if p.ndim == 2 and p.shape[1] == 2:
        p = p[:, 1]
    width = 2 if p.ndim == 1 else p.shape[1]
    if len(known) != width or not set(np.unique(y).tolist()) <= set(known):
        return None
    return p, known


def _weighted_macro_auc(p: Any, y: Any, known: Sequence[Any], *, every_class: bool) -> Any:
    """The macro one-vs-rest ROC AUC per resample of row weights, as :func:`_macro_ovr_auc` reads it: the mean over
    the classes a resample holds of each one's AUC of its column of ``p`` (columns: ``known``, sorted); NaN on a
    resample of one class, or, ``every_class`` (the model's classes not given: the columns are the labels'), one
    missing a class (scikit-learn then cannot match the columns to classes)."""
    import numpy as np

    per_class = [_weighted_auc(p[:, j], y == c) for j, c in enumerate(known)]
    members = (y[:, None] == np.asarray(known)[None, :]).astype(float)

    def auc(w: Any) -> Any:
        held = w @ members > 0
        # a class absent from a resample has no positive pair (NaN); with one class present every AUC is NaN
        values = np.stack([one(w) for one in per_class], axis=1)
        usable = held & np.isfinite(values)
        mean = np.where(usable, values, 0.0).sum(axis=1) / usable.sum(axis=1)
        return np.where(held.all(axis=1) | ~every_class, mean, np.nan)

    return auc


def _weighted_auc(score: Any, is_pos: Any) -> Any:
    """ROC AUC per resample of row weights: the weighted share of (positive, negative) pairs ranked right, ties
    counting half (the Mann-Whitney statistic scikit-learn's roc_auc_score equals)."""
    import numpy as np

    values, group = np.unique(score, return_inverse=True)
    groups = len(values)
    cell = np.asarray(is_pos, dtype=int) * groups + group  # (positive?, score group): one weighted count for both

    def auc(w: Any) -> Any:
        k = len(w)
        at = (cell + (np.arange(k) * 2 * groups)[:, None]).ravel()
        counts = np.bincount(at, weights=w.ravel(), minlength=2 * k * groups).reshape(k, 2, groups)
        neg, pos = counts[:, 0], counts[:, 1]
        below = np.cumsum(neg, axis=1) - neg
        return (pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))

    return auc


def _resampled(
    task: Task, metric: str, y: Any, new: tuple[Any, ...], old: tuple[Any, ...], rows: Any, positive: Any
) -> float:
    """``metric`` of ``new`` minus ``old`` on ``rows`` (drawn with replacement), with scikit-learn: that metric
    alone (:func:`score_predictions`'s ``only``)."""
    import numpy as np

    def take(values: Any) -> Any:
        return None if values is None else np.asarray(values)[rows]

    labels = None
    if task == "classification":
        preds = [take(v[0]) for v in (new, old)]
        known = [c for c in (new[2], old[2]) if c is not None]
        labels = class_labels(y[rows], *preds, classes=known)
    level = _log.level
    _log.setLevel(logging.WARNING)  # the reasons of undefined metrics, once per resample: not news
    try:
        values = [
            score_predictions(
                task,
                y[rows],
                take(v[0]),
                take(v[1]),
                labels=labels,
                classes=v[2],
                positive_label=positive,
                only=metric,
            ).metrics.get(metric, math.nan)
            for v in (new, old)
        ]
    finally:
        _log.setLevel(level)
    return float(values[0] - values[1])
