"""Model quality metrics: one function, used by the drift summary, the evidence and the validation.

No Airflow import; scikit-learn and numpy are imported inside the functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

Task = Literal["classification", "regression"]

#: Metrics where a lower value is better; every other metric is taken as higher-is-better.
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse", "mse", "mae", "log_loss", "mape", "max_error", "brier_score"})

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
#: What :func:`compute_metrics` reports per task; a gate on any other name can never pass.
TASK_METRICS: dict[str, tuple[str, ...]] = {"classification": CLASSIFICATION_METRICS, "regression": REGRESSION_METRICS}
#: The metric a challenger must improve when the configuration names none.
DEFAULT_PRIMARY_METRIC: dict[str, str] = {"classification": "roc_auc", "regression": "rmse"}


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


# -- metrics --------------------------------------------------------------------------------------


def compute_metrics(
    task: Task,
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    proba: Any = None,
    *,
    names: tuple[str, str] = ("labels", "predictions"),
) -> dict[str, float]:
    """Standard metrics of one model on labelled data (scikit-learn, imported here).

    :param task: ``classification`` or ``regression``.
    :param y_true: true labels / targets.
    :param y_pred: predicted labels / values.
    :param proba: classification only: class probabilities, shape (n,) for the positive class or
        (n, n_classes); enables ``roc_auc`` and ``log_loss``.
    :param names: what ``y_true`` and ``y_pred`` are, for errors (``"label_column 'churned'"``).
    :return: classification: accuracy, precision, recall, f1 (binary, or macro-averaged for more
        classes), roc_auc and log_loss when ``proba`` is given; regression: rmse, mae, r2.
    """
    import numpy as np
    from sklearn import metrics as skm

    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} rows but y_pred has {len(y_pred)}; they must be the same rows")
    if len(y_true) == 0:
        raise ValueError("no rows to evaluate on: the validation data is empty")
    if task == "regression":
        y_t, y_p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
        return {
            "rmse": float(math.sqrt(skm.mean_squared_error(y_t, y_p))),
            "mae": float(skm.mean_absolute_error(y_t, y_p)),
            "r2": float(skm.r2_score(y_t, y_p)),
        }
    if task != "classification":
        raise ValueError(f"task {task!r} is not supported; use 'classification' or 'regression'")
    try:
        labels = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]))
    except TypeError:  # e.g. "yes"/"no" against 0.83, or labels mixing 1 and "1"
        raise ValueError(
            f"{names[0]} ({_types_seen(y_true)}) and {names[1]} ({_types_seen(y_pred)}) hold values that "
            "cannot be compared as classes. Predictions must be class labels of the labels' type, or the "
            "probability of the positive class with numeric 0/1 labels; cast the columns in the export."
        ) from None
    average = "binary" if len(labels) <= 2 else "macro"
    pos_label = labels[-1] if average == "binary" else 1
    out = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "precision": float(skm.precision_score(y_true, y_pred, average=average, pos_label=pos_label, zero_division=0)),
        "recall": float(skm.recall_score(y_true, y_pred, average=average, pos_label=pos_label, zero_division=0)),
        "f1": float(skm.f1_score(y_true, y_pred, average=average, pos_label=pos_label, zero_division=0)),
    }
    if proba is not None:
        p = np.asarray(proba, dtype=float)
        if p.ndim == 2 and p.shape[1] == 2:
            p = p[:, 1]
        true_classes = np.unique(np.asarray(y_true))
        if len(true_classes) < 2:
            out["roc_auc"] = float("nan")  # undefined on one class; fails any gate on it, by design
        elif p.ndim == 1:
            out["roc_auc"] = float(skm.roc_auc_score(y_true, p))
        else:
            out["roc_auc"] = float(skm.roc_auc_score(y_true, p, multi_class="ovr"))
        try:
            out["log_loss"] = float(skm.log_loss(y_true, p))
        except ValueError:
            out["log_loss"] = float("nan")
    return out


def _types_seen(values: Sequence[Any]) -> str:
    import numpy as np

    return ", ".join(sorted({type(v).__name__ for v in np.asarray(values).tolist()}))


def infer_task(labels: Sequence[Any]) -> str:
    """``classification`` for non-numeric, boolean or integral labels with at most 20 values, else ``regression``."""
    import numpy as np
    import pandas as pd

    values = pd.Series(labels).dropna()
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return "classification"
    integral = bool(np.all(np.mod(values.to_numpy(dtype=np.float64), 1) == 0))
    return "classification" if integral and values.nunique() <= 20 else "regression"


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
