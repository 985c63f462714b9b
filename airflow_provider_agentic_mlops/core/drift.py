"""Data drift between reference and current data: Evidently's semantics at numpy speed.

:func:`compute_drift` picks the drift method per column exactly as Evidently 0.7 does (column type
inferred from the current data, then the reference size and number of distinct values), and
computes the score with vectorised numpy on sorted arrays and value counts instead of Evidently's
per-column pandas code. The scores equal Evidently's to floating-point rounding (the equivalence
tests hold them to a relative 1e-9). Methods without a fast path here are delegated to Evidently's
own implementation, so every Evidently method name works.

:func:`write_evidently_report` renders Evidently's own HTML and JSON report on a bounded sample,
for people to read; the decision uses the :class:`DriftSummary`, computed on all rows.

No Airflow import here. pandas, numpy and scipy are imported at module level (this is the compute
module; the operator imports it inside ``execute``); Evidently only when a report is written or a
method without a fast path is used.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NUM = "num"
CAT = "cat"
TEXT = "text"

#: Evidently switches from tests (K-S, chi-square, Z) to distances above this many reference rows.
EVIDENTLY_SIZE_SWITCH = 1000
#: Evidently treats integer columns with at most this many distinct current values as categorical.
INTEGER_CARDINALITY_LIMIT = 10
_TYPE_WORDS = {NUM: "numeric", CAT: "categorical", TEXT: "text"}
#: Default byte budget of :meth:`DriftSummary.to_dict`.
SUMMARY_MAX_BYTES = 10_000


@dataclass(frozen=True)
class DriftMethod:
    """One Evidently drift method: its name, default threshold and when it says "drifted".

    :param name: Evidently's registered name (``"wasserstein"``), used in overrides and the summary.
    :param display_name: Evidently's display name.
    :param types: column types it applies to (``"num"``, ``"cat"``, ``"text"``).
    :param default_threshold: Evidently's default threshold.
    :param drift_when: how the score is compared with the threshold: ``"<"``, ``"<="`` for p-values,
        ``">="``, ``">"`` for distances.
    """

    name: str
    display_name: str
    types: tuple[str, ...]
    default_threshold: float
    drift_when: str

    @property
    def is_p_value(self) -> bool:
        return self.drift_when in ("<", "<=")

    def drifted(self, score: float, threshold: float) -> bool:
        if self.drift_when == "<":
            return bool(score < threshold)
        if self.drift_when == "<=":
            return bool(score <= threshold)
        if self.drift_when == ">=":
            return bool(score >= threshold)
        return bool(score > threshold)


# Evidently 0.7.23's registry (evidently/legacy/calculations/stattests), with each test's comparison.
DRIFT_METHODS: dict[str, DriftMethod] = {
    m.name: m
    for m in (
        DriftMethod("wasserstein", "Wasserstein distance (normed)", (NUM,), 0.1, ">="),
        DriftMethod("jensenshannon", "Jensen-Shannon distance", (CAT, NUM), 0.1, ">="),
        DriftMethod("psi", "PSI", (CAT, NUM), 0.1, ">="),
        DriftMethod("kl_div", "Kullback-Leibler divergence", (CAT, NUM), 0.1, ">="),
        DriftMethod("ks", "K-S p_value", (NUM,), 0.05, "<="),
        DriftMethod("chisquare", "chi-square p_value", (CAT,), 0.05, "<"),
        DriftMethod("z", "Z-test p_value", (CAT,), 0.05, "<"),
        # Delegated to Evidently's implementation (no fast path here).
        DriftMethod("hellinger", "Hellinger distance", (CAT, NUM), 0.1, ">="),
        DriftMethod("anderson", "Anderson-Darling", (NUM,), 0.1, "<"),
        DriftMethod("cramer_von_mises", "Cramer-von Mises", (NUM,), 0.1, "<="),
        DriftMethod("ed", "Energy-distance", (NUM,), 0.1, ">"),
        DriftMethod("es", "Epps-Singleton", (NUM,), 0.05, "<"),
        DriftMethod("fisher_exact", "Fisher's Exact test", (CAT,), 0.1, "<"),
        DriftMethod("g_test", "g_test", (CAT,), 0.1, "<"),
        DriftMethod("mannw", "Mann-Whitney U-rank test", (NUM,), 0.05, "<"),
        DriftMethod("empirical_mmd", "empirical_mmd", (NUM,), 0.1, "<"),
        DriftMethod("t_test", "t_test", (NUM,), 0.05, "<"),
        DriftMethod("TVD", "Total-Variation-Distance", (CAT,), 0.1, "<"),
        DriftMethod("perc_text_content_drift", "Percentile text content drift", (TEXT,), 0.95, ">"),
        DriftMethod("abs_text_content_drift", "Absolute text content drift", (TEXT,), 0.55, ">"),
    )
}
FAST_METHODS = frozenset({"wasserstein", "jensenshannon", "psi", "kl_div", "ks", "chisquare", "z"})


@dataclass
class ColumnDrift:
    """Drift of one column.

    :param column: column name.
    :param type: ``"num"``, ``"cat"`` or ``"text"`` (Evidently's column type).
    :param method: Evidently method name, e.g. ``"wasserstein"``.
    :param score: the method's score (a distance, or a p-value for tests).
    :param threshold: threshold the score was compared with.
    :param drifted: whether the column drifted.
    """

    column: str
    type: str
    method: str
    score: float
    threshold: float
    drifted: bool

    @property
    def severity(self) -> float:
        """How far past its threshold the column is (> 1 means drifted), comparable across methods."""
        method = DRIFT_METHODS.get(self.method)
        if self.score is None or (isinstance(self.score, float) and math.isnan(self.score)):
            return 0.0
        if method is not None and method.is_p_value:
            return math.inf if self.score <= 0 else self.threshold / self.score
        return math.inf if self.threshold <= 0 else self.score / self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": _json_float(self.score),
            "method": self.method,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "type": self.type,
        }


@dataclass
class DriftSummary:
    """Result of :func:`compute_drift`: small, JSON-able, what the decision step reads.

    :param dataset_drift: whether the share of drifted columns reached ``share_threshold``.
    :param drift_share: share of checked columns that drifted.
    :param share_threshold: the dataset drift-share threshold.
    :param n_columns: number of columns checked.
    :param n_drifted: number of drifted columns.
    :param columns: per-column result, by column name.
    :param quality: model quality per metric as ``{"reference": x, "current": y}``, or None.
    :param n_reference: rows in the reference data.
    :param n_current: rows in the current data.
    :param data_quality: ``null_share`` per column (current data), ``missing_columns``,
        ``schema_errors``, and ``extra_columns``; the decision step stops on broken data.
    :param top_n: how many drifted columns :attr:`top_drifted` lists.
    :param model_name: model the check was for, if given.
    :param report_uri: where the full report was saved, set by the operator.
    :param columns_omitted: columns left out of ``columns`` by :meth:`to_dict` to stay small.
    """

    dataset_drift: bool
    drift_share: float
    share_threshold: float
    n_columns: int
    n_drifted: int
    columns: dict[str, ColumnDrift]
    quality: dict[str, dict[str, float | None]] | None
    n_reference: int
    n_current: int
    data_quality: dict[str, Any]
    top_n: int = 5
    model_name: str | None = None
    report_uri: str | None = None
    columns_omitted: int = 0

    @property
    def top_drifted(self) -> list[dict[str, Any]]:
        """The most severe drifted columns, most severe first."""
        drifted = [c for c in self.columns.values() if c.drifted]
        drifted.sort(key=lambda c: (-c.severity, c.column))
        return [
            {"column": c.column, "score": _json_float(c.score), "method": c.method, "threshold": c.threshold}
            for c in drifted[: self.top_n]
        ]

    def to_dict(self, max_bytes: int = SUMMARY_MAX_BYTES) -> dict[str, Any]:
        """A JSON-able dict of at most ``max_bytes`` (as ``json.dumps`` writes it).

        With many columns the per-column detail is cut: columns are kept most severe first, the
        rest counted in ``columns_omitted``; ``null_share`` keeps the columns with nulls, most first.
        """
        ordered = sorted(self.columns.values(), key=lambda c: (-c.severity, c.column))
        null_share = dict(self.data_quality.get("null_share", {}))
        data_quality = {**self.data_quality, "null_share": null_share}
        result: dict[str, Any] = {
            "model_name": self.model_name,
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "share_threshold": self.share_threshold,
            "n_columns": self.n_columns,
            "n_drifted": self.n_drifted,
            "top_drifted": self.top_drifted,
            "top_n": self.top_n,
            "columns": {c.column: c.to_dict() for c in ordered},
            "columns_omitted": self.columns_omitted,
            "quality": self.quality,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "data_quality": data_quality,
            "report_uri": self.report_uri,
        }
        if _json_size(result) <= max_bytes:
            return result
        # 1. Only columns that have nulls.
        with_nulls = sorted(((k, v) for k, v in null_share.items() if v), key=lambda kv: (-kv[1], kv[0]))
        data_quality["null_share"] = dict(with_nulls)
        for key in ("schema_errors", "missing_columns", "extra_columns"):
            items = list(data_quality.get(key) or [])
            if len(items) > 10:
                data_quality[key] = items[:10] + [f"... and {len(items) - 10} more"]
        # 2. Fewer columns, most severe first.
        keep = len(ordered)
        while keep > 0 and _json_size(result) > max_bytes:
            keep = keep // 2 if keep > 8 else keep - 1
            result["columns"] = {c.column: c.to_dict() for c in ordered[:keep]}
            result["columns_omitted"] = self.columns_omitted + len(ordered) - keep
        # 3. Fewer null shares.
        while with_nulls and _json_size(result) > max_bytes:
            with_nulls = with_nulls[: len(with_nulls) // 2]
            data_quality["null_share"] = dict(with_nulls)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftSummary:
        """Rebuild a summary from :meth:`to_dict` output (columns cut by ``to_dict`` stay cut)."""
        columns = {
            name: ColumnDrift(
                column=name,
                type=entry["type"],
                method=entry["method"],
                score=math.nan if entry["score"] is None else entry["score"],
                threshold=entry["threshold"],
                drifted=entry["drifted"],
            )
            for name, entry in (data.get("columns") or {}).items()
        }
        return cls(
            dataset_drift=bool(data["dataset_drift"]),
            drift_share=float(data["drift_share"]),
            share_threshold=float(data["share_threshold"]),
            n_columns=int(data["n_columns"]),
            n_drifted=int(data["n_drifted"]),
            columns=columns,
            quality=data.get("quality"),
            n_reference=int(data["n_reference"]),
            n_current=int(data["n_current"]),
            data_quality=dict(data.get("data_quality") or {}),
            top_n=int(data.get("top_n") or 5),
            model_name=data.get("model_name"),
            report_uri=data.get("report_uri"),
            columns_omitted=int(data.get("columns_omitted") or 0),
        )


def _json_float(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _json_size(value: Any) -> int:
    return len(json.dumps(value, default=str))


# --------------------------------------------------------------------------------------------------
# Inputs: columns, kinds and types


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


def _infer_type(data: _ColumnData) -> str | None:
    """Evidently 0.7's ``infer_column_type`` on the current data: num, cat, text, or None (not checked).

    Nullable extension dtypes (Int64, Float64, boolean, string) are read like their numpy
    counterparts; Evidently would leave Int64/Float64 unchecked ("unknown").
    """
    name = data.series.dtype.name.lower()
    if name.startswith("float"):
        return NUM
    if name.startswith(("int", "uint")):
        return CAT if data.nunique <= INTEGER_CARDINALITY_LIMIT else NUM
    if name in ("bool", "boolean", "category"):
        return CAT
    if data.kind == "string" and name in ("string", "str", "object"):
        return TEXT if data.nunique > data.n * 0.5 else CAT
    return None


# --------------------------------------------------------------------------------------------------
# Column data, cleaned as Evidently cleans it (inf -> NaN, then NaN dropped)


class _ColumnData:
    """One column of one frame, cleaned once, with the views the methods need (computed lazily).

    Numeric columns become a float64 array of their finite values (sorted when a method or the
    default selection needs it); other columns are used through their value counts.
    """

    def __init__(self, series: pd.Series):
        self.series = series
        self.type = ""
        self.n_rows = len(series)
        self._sorted: np.ndarray | None = None
        self._counts: dict[Any, int] | None = None
        self._clean_series: pd.Series | None = None
        dtype = series.dtype
        self.numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        self.values: np.ndarray | None = None
        if self.numeric:
            if isinstance(dtype, np.dtype):
                values = series.to_numpy(dtype=np.float64, copy=False)
            else:  # nullable extension dtype
                values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            finite = np.isfinite(values)
            self.n_null = int(np.isnan(values).sum())
            self.values = values if finite.all() else values[finite]

    @property
    def n(self) -> int:
        """Number of values left after dropping null (and, for numbers, infinite) values."""
        if self.numeric:
            return int(self.values.size)
        if pd.api.types.is_datetime64_any_dtype(self.series.dtype):
            return int(self.series.notna().sum())
        return int(sum(self.counts.values()))

    @property
    def null_share(self) -> float:
        n_null = self.n_null if self.numeric else self.n_rows - self.n
        return n_null / self.n_rows

    @property
    def kind(self) -> str:
        """What the column holds, to compare reference with current: numeric, bool, string,
        datetime, list, other, or empty (no non-null value)."""
        series, dtype = self.series, self.series.dtype
        if (self.n_rows - self.n_null if self.numeric else self.n) == 0:
            return "empty"
        if isinstance(dtype, pd.CategoricalDtype):
            return _ColumnData(pd.Series(dtype.categories)).kind
        if pd.api.types.is_bool_dtype(dtype):
            return "bool"
        if self.numeric:
            return "numeric"
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return "datetime"
        if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
            return "string"
        array = series.to_numpy()
        first, last = array[0], array[-1]
        if not (isinstance(first, str) and isinstance(last, str)):  # a null at an end
            non_null = series.dropna()
            first, last = non_null.iloc[0], non_null.iloc[-1]
        if isinstance(first, str) and isinstance(last, str):
            return "string"
        if isinstance(first, (list, tuple)):
            return "list"
        if isinstance(first, (bool, np.bool_)):
            return "bool"
        return "other"

    @property
    def sorted(self) -> np.ndarray:
        if self._sorted is None:
            self._sorted = np.sort(self.values)
        return self._sorted

    @property
    def counts(self) -> dict[Any, int]:
        """Value -> count of the cleaned values, only values that occur."""
        if self._counts is None:
            if self.numeric:
                sorted_values = self.sorted
                if sorted_values.size == 0:
                    self._counts = {}
                else:
                    starts = np.flatnonzero(np.diff(sorted_values)) + 1
                    bounds = np.concatenate(([0], starts, [sorted_values.size]))
                    keys = sorted_values[bounds[:-1]]
                    counts = np.diff(bounds)
                    self._counts = dict(zip(_python_keys(keys, self.series.dtype), counts.tolist(), strict=True))
            else:
                vc = self.series.value_counts(dropna=True, sort=False)
                vc = vc[vc > 0]
                self._counts = dict(zip(vc.index.tolist(), vc.to_numpy().tolist(), strict=True))
        return self._counts

    @property
    def nunique(self) -> int:
        if self.numeric:
            sorted_values = self.sorted
            return 0 if sorted_values.size == 0 else int(np.count_nonzero(np.diff(sorted_values))) + 1
        return len(self.counts)

    @property
    def clean_series(self) -> pd.Series:
        """The cleaned column as a pandas Series, as Evidently's stattests receive it."""
        if self._clean_series is None:
            series = self.series
            if self.numeric or series.dtype == object:
                series = series.replace([-np.inf, np.inf], np.nan)
            self._clean_series = series.dropna()
        return self._clean_series


def _python_keys(keys: np.ndarray, dtype: Any) -> list[Any]:
    """Distinct values back in the column's own type (ints stay ints, for sorting and display)."""
    if pd.api.types.is_integer_dtype(dtype):
        return [int(k) for k in keys]
    return keys.tolist()


def _union_keys(ref: _ColumnData, cur: _ColumnData) -> list[Any]:
    return list(set(ref.counts) | set(cur.counts))


# --------------------------------------------------------------------------------------------------
# Method selection (Evidently's _get_default_stattest) and the fast implementations


def default_method(col_type: str, n_reference: int, n_values: int) -> str:
    """Evidently's default drift method for a column.

    :param col_type: ``"num"``, ``"cat"`` or ``"text"``.
    :param n_reference: reference rows after dropping null and infinite values.
    :param n_values: distinct non-null values in reference and current together.
    """
    if col_type == TEXT:
        return "abs_text_content_drift" if n_reference > EVIDENTLY_SIZE_SWITCH else "perc_text_content_drift"
    if n_reference <= EVIDENTLY_SIZE_SWITCH:
        if col_type == NUM and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if col_type == NUM and n_values > 5:
        return "wasserstein"
    return "jensenshannon"


def _n_values(ref: _ColumnData, cur: _ColumnData) -> int:
    """Distinct values of reference and current together; cheap when the answer is clearly > 5."""
    if ref.numeric and cur.numeric:
        n_ref, n_cur = ref.nunique, cur.nunique
        if n_ref > 5 or n_cur > 5:
            return max(n_ref, n_cur)  # only compared with 2 and 5
    return len(_union_keys(ref, cur))


def wasserstein_distance_sorted(u_sorted: np.ndarray, v_sorted: np.ndarray) -> float:
    """First Wasserstein distance between two samples given sorted.

    Equal sizes: the mean absolute difference of the order statistics (exact for equal weights).
    Otherwise: the integral of ``|F_u - F_v|`` over the merged sample, as scipy computes it, with
    the CDFs counted from one merge instead of two binary searches.
    """
    n, m = u_sorted.size, v_sorted.size
    if n == m:
        diff = np.subtract(u_sorted, v_sorted)
        np.abs(diff, out=diff)
        return float(diff.mean())
    merged = np.concatenate((u_sorted, v_sorted))
    order = np.argsort(merged, kind="stable")  # two sorted runs: a linear merge
    merged = merged[order]
    u_count = np.cumsum(order < n)
    del order
    deltas = np.diff(merged)
    del merged
    u_count = u_count[:-1]
    v_count = np.arange(1, n + m, dtype=np.int64) - u_count
    cdf_gap = np.abs(u_count / n - v_count / m)
    return float(np.dot(cdf_gap, deltas))


def _histogram_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(values, edges)[0]`` for already-sorted values (same bin rules)."""
    cum = np.concatenate(
        (sorted_values.searchsorted(edges[:-1], "left"), sorted_values.searchsorted(edges[-1:], "right"))
    )
    return np.diff(cum)


def _sturges_edges(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> np.ndarray:
    """``np.histogram_bin_edges(concat(ref, cur), bins="sturges")`` without building the concatenation."""
    lo = float(min(ref_sorted[0], cur_sorted[0]))
    hi = float(max(ref_sorted[-1], cur_sorted[-1]))
    size = ref_sorted.size + cur_sorted.size
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    width = np.subtract(hi, lo) / (np.log2(size) + 1.0)
    n_bins = int(np.ceil((hi - lo) / width)) if width else 1
    return np.linspace(lo, hi, n_bins + 1, endpoint=True, dtype=np.float64)


def _binned_percents(ref: _ColumnData, cur: _ColumnData, feel_zeroes: bool) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's ``get_binned_data``: Sturges histogram on numeric columns with more than 20
    distinct reference values, else shares per distinct value; zero shares filled for PSI and KL."""
    if ref.type == NUM and ref.nunique > 20:
        edges = _sturges_edges(ref.sorted, cur.sorted)
        ref_pct = _histogram_counts(ref.sorted, edges) / ref.n
        cur_pct = _histogram_counts(cur.sorted, edges) / cur.n
    else:
        keys = _union_keys(ref, cur)
        ref_pct = np.array([ref.counts.get(k, 0) for k in keys], dtype=np.float64) / ref.n
        cur_pct = np.array([cur.counts.get(k, 0) for k in keys], dtype=np.float64) / cur.n
    if feel_zeroes:
        for pct in (ref_pct, cur_pct):
            smallest = min(pct[pct != 0])
            np.place(pct, pct == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return ref_pct, cur_pct


def _score_fast(method: str, ref: _ColumnData, cur: _ColumnData) -> float:
    from scipy import stats
    from scipy.spatial import distance

    if method == "wasserstein":
        norm = max(float(np.std(ref.values)), 0.001)
        return wasserstein_distance_sorted(ref.sorted, cur.sorted) / norm
    if method == "ks":
        return float(stats.ks_2samp(ref.sorted, cur.sorted)[1])
    if method == "jensenshannon":
        ref_pct, cur_pct = _binned_percents(ref, cur, feel_zeroes=False)
        return float(distance.jensenshannon(ref_pct, cur_pct))
    if method == "psi":
        ref_pct, cur_pct = _binned_percents(ref, cur, feel_zeroes=True)
        return float(np.sum((ref_pct - cur_pct) * np.log(ref_pct / cur_pct)))
    if method == "kl_div":
        ref_pct, cur_pct = _binned_percents(ref, cur, feel_zeroes=True)
        return float(stats.entropy(ref_pct, cur_pct))
    if method == "chisquare":
        keys = _union_keys(ref, cur)
        k_norm = cur.n / ref.n
        f_exp = [ref.counts.get(k, 0) * k_norm for k in keys]
        f_obs = [cur.counts.get(k, 0) for k in keys]
        return float(stats.chisquare(f_obs, f_exp)[1])
    if method == "z":
        return _z_test(ref, cur)
    raise AssertionError(method)


def _z_test(ref: _ColumnData, cur: _ColumnData) -> float:
    """Evidently's two-proportion Z-test on the first (sorted) value, from counts."""
    from scipy.stats import norm

    if len(ref.counts) == 1 and len(cur.counts) == 1 and next(iter(ref.counts)) == next(iter(cur.counts)):
        return 1.0
    first = sorted(_union_keys(ref, cur))[0]
    n1, n2 = ref.n, cur.n
    p1 = float(n1 - ref.counts.get(first, 0)) / n1
    p2 = float(n2 - cur.counts.get(first, 0)) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(np.float64(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2)))
    return float(2 * (1 - norm.cdf(np.abs(z))))


def _score_with_evidently(method: str, ref: _ColumnData, cur: _ColumnData, threshold: float) -> tuple[float, bool]:
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType(ref.type)
    stattest = get_registered_stattest(method, column_type)
    result = stattest(ref.clean_series.copy(), cur.clean_series.copy(), column_type, threshold)
    return float(result.drift_score), bool(result.drifted)


# --------------------------------------------------------------------------------------------------
# Model quality


def _model_quality(
    reference: pd.DataFrame, current: pd.DataFrame, label: str, prediction: str, task: str | None
) -> dict[str, dict[str, float | None]]:
    task = task or _infer_task(reference[label])
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    return {
        name: {"reference": ref_value, "current": cur_value}
        for (name, ref_value), (_, cur_value) in zip(
            _quality_metrics(reference, label, prediction, task).items(),
            _quality_metrics(current, label, prediction, task).items(),
            strict=True,
        )
    }


def _infer_task(labels: pd.Series) -> str:
    values = labels.dropna()
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return "classification"
    integral = bool(np.all(np.mod(values.to_numpy(dtype=np.float64), 1) == 0))
    return "classification" if integral and values.nunique() <= 20 else "regression"


def _quality_metrics(frame: pd.DataFrame, label: str, prediction: str, task: str) -> dict[str, float | None]:
    from sklearn import metrics

    rows = frame[[label, prediction]].dropna()
    y_true, y_pred = rows[label], rows[prediction]
    if task == "regression":
        if rows.empty:
            return {"mae": None, "rmse": None}
        errors = y_true.to_numpy(dtype=np.float64) - y_pred.to_numpy(dtype=np.float64)
        return {"mae": float(np.mean(np.abs(errors))), "rmse": float(np.sqrt(np.mean(errors**2)))}
    if rows.empty:
        return {"accuracy": None, "f1": None, "roc_auc": None}
    classes = sorted(set(y_true.unique().tolist()))
    scores = None
    is_score = (
        pd.api.types.is_float_dtype(y_pred.dtype)
        and len(set(classes) | {0, 1}) == 2
        and bool(((y_pred >= 0) & (y_pred <= 1)).all())
        and not bool(np.all(np.mod(y_pred.to_numpy(), 1) == 0))
    )
    if is_score:  # binary 0/1 labels, prediction is the probability of 1
        scores = y_pred.to_numpy(dtype=np.float64)
        y_pred = (scores >= 0.5).astype(y_true.dtype)
    labels_seen = sorted(set(classes) | set(pd.Series(y_pred).unique().tolist()), key=str)
    binary = len(labels_seen) <= 2
    pos_label = labels_seen[-1]
    f1 = metrics.f1_score(y_true, y_pred, average="binary" if binary else "macro", pos_label=pos_label if binary else 1)
    roc_auc = None
    if scores is not None and len(classes) == 2:
        roc_auc = float(metrics.roc_auc_score(y_true, scores))
    return {"accuracy": float(metrics.accuracy_score(y_true, y_pred)), "f1": float(f1), "roc_auc": roc_auc}


# --------------------------------------------------------------------------------------------------
# compute_drift


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: list[str] | None = None,
    exclude_columns: Sequence[str] = (),
    column_methods: dict[str, str] | None = None,
    type_methods: dict[str, str] | None = None,
    column_thresholds: dict[str, float] | None = None,
    drift_share: float = 0.5,
    categorical_columns: list[str] | None = None,
    label_column: str | None = None,
    prediction_column: str | None = None,
    task: str | None = None,
    top_n: int = 5,
    strict: bool = True,
    model_name: str | None = None,
    reference_source: str | None = None,
    current_source: str | None = None,
) -> DriftSummary:
    """Drift per column and for the dataset, with Evidently 0.7's methods and scores.

    Column types follow Evidently's inference on the current data (float: numeric; integer:
    categorical with at most 10 distinct values; strings: categorical, or text when more than
    half the values are distinct; bool and category: categorical; datetime: not checked). Null
    and infinite values are dropped per column before scoring, as Evidently does.

    :param reference: reference data (what the model was trained or validated on).
    :param current: current data (what the model sees now).
    :param columns: columns to check; default all reference columns.
    :param exclude_columns: columns not to check (ids, timestamps, ...).
    :param column_methods: Evidently method name per column, e.g. ``{"amount": "psi"}``.
    :param type_methods: method per column type, keys ``"num"``, ``"cat"`` (and ``"text"``).
    :param column_thresholds: threshold per column; default the method's Evidently default.
    :param drift_share: the dataset drifts when at least this share of columns drifts.
    :param categorical_columns: columns to treat as categorical whatever their dtype.
    :param label_column: label column, for model quality (checked for drift like any column).
    :param prediction_column: prediction column (label, or probability of class 1 for binary).
    :param task: ``"classification"`` or ``"regression"``; inferred from the labels when None.
    :param top_n: how many drifted columns the summary lists in ``top_drifted``.
    :param strict: raise ``ValueError`` on broken input (missing, extra, all-null columns, dtype
        clashes). When False, such columns are skipped and listed in ``data_quality``.
    :param model_name: model name, for error messages and the summary.
    :param reference_source: where the reference came from (path/URI), for error messages.
    :param current_source: where the current data came from, for error messages.
    :raises ValueError: on unusable input, naming the column or source and what to do.
    """
    ctx = _Context(model_name, reference_source, current_source)
    ref_name, cur_name = ctx.sources["reference"], ctx.sources["current"]
    for frame, name in ((reference, ref_name), (current, cur_name)):
        if not isinstance(frame, pd.DataFrame):
            raise ctx.error(f"{name} is a {type(frame).__name__}, expected a pandas DataFrame.")
        if frame.columns.duplicated().any():
            dupes = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
            raise ctx.error(f"{name} has duplicate column names {dupes}; rename them in the export.")
        if len(frame) == 0:
            raise ctx.error(
                f"{name} has no rows. Check the export job, the path, and the time window (current_window)."
            )
    if not 0 < drift_share <= 1:
        raise ctx.error(f"drift_share must be in (0, 1], got {drift_share!r}.")
    _check_method_names(ctx, column_methods, type_methods)
    excluded = set(exclude_columns)
    missing: list[str] = []
    extra: list[str] = []
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
                    f"column '{c}' is missing from {ref_name}; it is listed in columns. "
                    "Check the reference export or remove it from columns.",
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
        for c in current.columns:
            if c not in excluded and c not in reference.columns:
                problem(
                    f"column '{c}' is in {cur_name} but not in {ref_name}. Add it to the reference "
                    "data or drop it with exclude_columns.",
                    extra,
                    c,
                )
    for role, column in (("label_column", label_column), ("prediction_column", prediction_column)):
        if column is not None and (column not in reference.columns or column not in current.columns):
            where = ref_name if column not in reference.columns else cur_name
            raise ctx.error(f"{role} '{column}' is missing from {where}. Fix the export or unset {role}.")
    if (label_column is None) != (prediction_column is None):
        raise ctx.error("set both label_column and prediction_column for model quality, or neither.")
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
    results: dict[str, ColumnDrift] = {}
    null_share: dict[str, float] = {}
    for column in candidates:
        ref_series, cur_series = reference[column], current[column]
        ref_data, cur_data = _ColumnData(ref_series), _ColumnData(cur_series)
        ref_kind, cur_kind = ref_data.kind, cur_data.kind
        if "empty" in (ref_kind, cur_kind):
            null_share[str(column)] = float(cur_series.isna().mean())
            where = cur_name if cur_kind == "empty" else ref_name
            problem(
                f"column '{column}' has only null values in {where}. Check the export job "
                "or drop it with exclude_columns."
            )
            continue
        if ref_kind != cur_kind:
            problem(
                f"column '{column}' holds {ref_kind} values in {ref_name} but {cur_kind} values in "
                f"{cur_name} (dtypes {ref_series.dtype} vs {cur_series.dtype}). Fix the export so both "
                "have the same type, or drop it with exclude_columns."
            )
            continue
        col_type = CAT if column in forced_cat else _infer_type(cur_data)
        if col_type is None:
            if cur_kind == "datetime" and columns is None:
                continue  # Evidently does not check datetime columns; neither do we
            problem(
                f"column '{column}' in {cur_name} holds {cur_kind} values (dtype {cur_series.dtype}), "
                "which drift checks do not support. Cast it to numbers or strings, or drop it with "
                "exclude_columns."
            )
            continue
        ref_data.type = cur_data.type = col_type
        null_share[str(column)] = cur_data.null_share
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
            method = default_method(col_type, ref_data.n, _n_values(ref_data, cur_data))
        spec = DRIFT_METHODS[method]
        if chosen and col_type not in spec.types:
            raise ctx.error(
                f"method '{method}' does not apply to column '{column}', which is "
                f"{_TYPE_WORDS[col_type]}; it applies to "
                f"{list(spec.types)} columns. Choose another method in column_methods/type_methods."
            )
        threshold = (column_thresholds or {}).get(column)
        threshold = spec.default_threshold if threshold is None else float(threshold)
        if method in FAST_METHODS:
            score = _score_fast(method, ref_data, cur_data)
            drifted = spec.drifted(score, threshold)
        else:
            score, drifted = _score_with_evidently(method, ref_data, cur_data, threshold)
        results[str(column)] = ColumnDrift(str(column), col_type, method, score, threshold, drifted)
        del ref_data, cur_data

    quality = None
    if label_column is not None and prediction_column is not None:
        quality = _model_quality(reference, current, label_column, prediction_column, task)
    if not results:
        raise ctx.error(
            "no column could be checked for drift"
            + (f" ({'; '.join(schema_errors[:3])})" if schema_errors else "")
            + ". Check columns/exclude_columns and the data."
        )
    n_drifted = sum(1 for r in results.values() if r.drifted)
    share = n_drifted / len(results)
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
        data_quality={
            "null_share": null_share,
            "missing_columns": [str(c) for c in missing],
            "extra_columns": [str(c) for c in extra],
            "schema_errors": schema_errors,
        },
        top_n=top_n,
        model_name=model_name,
    )


def _check_method_names(
    ctx: _Context, column_methods: Mapping[str, str] | None, type_methods: Mapping[str, str] | None
) -> None:
    for key in type_methods or {}:
        if key not in (NUM, CAT, TEXT):
            raise ctx.error(f"type_methods keys are 'num', 'cat' and 'text', got {key!r}.")
    for option, mapping in (("column_methods", column_methods), ("type_methods", type_methods)):
        for key, method in (mapping or {}).items():
            if method not in DRIFT_METHODS:
                raise ctx.error(
                    f"{option}[{key!r}] is {method!r}, not an Evidently drift method. "
                    f"Use one of {sorted(DRIFT_METHODS)}."
                )


# --------------------------------------------------------------------------------------------------
# Evidently's own report, on a sample


def write_evidently_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    out_dir: str | Path,
    *,
    sample_rows: int = 100_000,
    summary: DriftSummary | None = None,
    column_methods: dict[str, str] | None = None,
    type_methods: dict[str, str] | None = None,
    column_thresholds: dict[str, float] | None = None,
    drift_share: float = 0.5,
    model_name: str | None = None,
    random_state: int = 0,
) -> dict[str, str]:
    """Write Evidently's data drift report (HTML and JSON) on at most ``sample_rows`` rows of each.

    The HTML starts with a note that it was rendered on a sample and where the full-data result is.
    With ``summary`` the report checks the same columns, with the same types and methods.

    :param reference: reference data.
    :param current: current data.
    :param out_dir: local directory to write into (created if needed).
    :param sample_rows: rows sampled at random from each frame when it has more.
    :param summary: the full-data :class:`DriftSummary`; its columns, types, methods and thresholds
        are used, and it is saved as ``drift_summary.json``.
    :param column_methods: method per column, when no ``summary`` is given.
    :param type_methods: method per type (``"num"``, ``"cat"``), when no ``summary`` is given.
    :param column_thresholds: threshold per column, when no ``summary`` is given.
    :param drift_share: dataset drift-share threshold.
    :param model_name: model name, shown in the note.
    :param random_state: seed of the sample.
    :return: paths by kind: ``html``, ``json`` and, with a summary, ``summary``.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ref_sample = _sample(reference, sample_rows, random_state)
    cur_sample = _sample(current, sample_rows, random_state)
    if summary is not None:
        cols = list(summary.columns)
        definition = DataDefinition(
            numerical_columns=[c for c, r in summary.columns.items() if r.type == NUM],
            categorical_columns=[c for c, r in summary.columns.items() if r.type == CAT],
            text_columns=[c for c, r in summary.columns.items() if r.type == TEXT],
        )
        column_methods = {c: r.method for c, r in summary.columns.items()}
        column_thresholds = {c: r.threshold for c, r in summary.columns.items()}
        drift_share = summary.share_threshold
        ref_sample, cur_sample = ref_sample[cols], cur_sample[cols]
        preset = DataDriftPreset(
            columns=cols,
            drift_share=drift_share,
            per_column_method=column_methods,
            per_column_threshold=column_thresholds,
        )
    else:
        definition = DataDefinition()
        preset = DataDriftPreset(
            drift_share=drift_share,
            num_method=(type_methods or {}).get(NUM),
            cat_method=(type_methods or {}).get(CAT),
            per_column_method=column_methods,
            per_column_threshold=column_thresholds,
        )
    snapshot = Report([preset]).run(
        Dataset.from_pandas(cur_sample, data_definition=definition),
        Dataset.from_pandas(ref_sample, data_definition=definition),
    )
    html_path, json_path = out / "drift_report.html", out / "drift_report.json"
    snapshot.save_html(str(html_path))  # needs a path: given a file object it writes nothing
    snapshot.save_json(str(json_path))
    note = (
        f"Evidently data drift report{f' for model {model_name}' if model_name else ''}, rendered on a "
        f"random sample of {len(ref_sample):,} of {len(reference):,} reference rows and "
        f"{len(cur_sample):,} of {len(current):,} current rows. The drift decision uses scores "
        "computed on all rows (drift_summary.json / the task's XCom), so figures here can differ."
    )
    _add_note_to_html(html_path, note)
    paths = {"html": str(html_path), "json": str(json_path)}
    if summary is not None:
        summary_path = out / "drift_summary.json"
        full = summary.to_dict(max_bytes=10**9)
        full["report_note"] = note
        summary_path.write_text(json.dumps(full, indent=2, default=str))
        paths["summary"] = str(summary_path)
    return paths


def _sample(frame: pd.DataFrame, rows: int, random_state: int) -> pd.DataFrame:
    if rows <= 0:
        raise ValueError(f"sample_rows must be positive, got {rows}")
    return frame.sample(n=rows, random_state=random_state) if len(frame) > rows else frame


def _add_note_to_html(path: Path, note: str) -> None:
    import html

    banner = (
        '<div style="font-family:sans-serif;padding:10px 16px;margin:8px;background:#fff4d6;'
        f'border:1px solid #e0b84c;border-radius:4px">{html.escape(note)}</div>'
    )
    text = path.read_text(encoding="utf-8")
    match = re.search(r"<body[^>]*>", text, flags=re.IGNORECASE)
    text = text[: match.end()] + banner + text[match.end() :] if match else banner + text
    path.write_text(text, encoding="utf-8")


__all__ = [
    "DRIFT_METHODS",
    "ColumnDrift",
    "DriftMethod",
    "DriftSummary",
    "compute_drift",
    "default_method",
    "wasserstein_distance_sorted",
    "write_evidently_report",
]
