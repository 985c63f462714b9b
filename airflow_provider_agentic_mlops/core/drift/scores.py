"""Drift scores: vectorised numpy for Evidently's common methods, Evidently itself for the rest."""

from __future__ import annotations

import numpy as np

from airflow_provider_agentic_mlops.core.drift.columns import ColumnData, union_keys
from airflow_provider_agentic_mlops.core.drift.methods import NUM


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


def _binned_percents(ref: ColumnData, cur: ColumnData, feel_zeroes: bool) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's ``get_binned_data``: Sturges histogram on numeric columns with more than 20
    distinct reference values, else shares per distinct value; zero shares filled for PSI and KL."""
    if ref.type == NUM and ref.nunique > 20:
        edges = _sturges_edges(ref.sorted, cur.sorted)
        ref_pct = _histogram_counts(ref.sorted, edges) / ref.n
        cur_pct = _histogram_counts(cur.sorted, edges) / cur.n
    else:
        keys = union_keys(ref, cur)
        ref_pct = np.array([ref.counts.get(k, 0) for k in keys], dtype=np.float64) / ref.n
        cur_pct = np.array([cur.counts.get(k, 0) for k in keys], dtype=np.float64) / cur.n
    if feel_zeroes:
        for pct in (ref_pct, cur_pct):
            smallest = min(pct[pct != 0])
            np.place(pct, pct == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return ref_pct, cur_pct


def score_fast(method: str, ref: ColumnData, cur: ColumnData) -> float:
    from scipy import stats
    from scipy.spatial import distance

    if method == "wasserstein":
        return _normed_wasserstein(ref, cur)
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
        keys = union_keys(ref, cur)
        k_norm = cur.n / ref.n
        f_exp = [ref.counts.get(k, 0) * k_norm for k in keys]
        f_obs = [cur.counts.get(k, 0) for k in keys]
        return float(stats.chisquare(f_obs, f_exp)[1])
    if method == "z":
        return _z_test(ref, cur)
    raise AssertionError(method)


#: Above this magnitude the std and the distance can overflow (values near the largest float).
_HUGE = 1e150


def _normed_wasserstein(ref: ColumnData, cur: ColumnData) -> float:
    """Evidently's normed Wasserstein distance: the distance over the reference's std (at least 0.001).

    Both are linear in the values, so columns near the largest float are first divided by the
    largest magnitude of the two samples (the std floor with them): the same score, finite.
    """
    u, v, floor = ref.sorted, cur.sorted, 0.001
    scale = max(abs(float(u[0])), abs(float(u[-1])), abs(float(v[0])), abs(float(v[-1])))
    if scale > _HUGE:
        u, v, floor = u / scale, v / scale, floor / scale
    return wasserstein_distance_sorted(u, v) / max(float(np.std(u)), floor)


def _z_test(ref: ColumnData, cur: ColumnData) -> float:
    """Evidently's two-proportion Z-test on the first (sorted) value, from counts."""
    from scipy.stats import norm

    if len(ref.counts) == 1 and len(cur.counts) == 1 and next(iter(ref.counts)) == next(iter(cur.counts)):
        return 1.0
    first = sorted(union_keys(ref, cur))[0]
    n1, n2 = ref.n, cur.n
    p1 = float(n1 - ref.counts.get(first, 0)) / n1
    p2 = float(n2 - cur.counts.get(first, 0)) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(np.float64(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2)))
    return float(2 * (1 - norm.cdf(np.abs(z))))


def score_with_evidently(method: str, ref: ColumnData, cur: ColumnData, threshold: float) -> tuple[float, bool]:
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType(ref.type)
    stattest = get_registered_stattest(method, column_type)
    result = stattest(ref.clean_series.copy(), cur.clean_series.copy(), column_type, threshold)
    return float(result.drift_score), bool(result.drifted)
