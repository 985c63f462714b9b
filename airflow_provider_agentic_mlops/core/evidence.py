"""The decision's evidence, strongest first: pipeline faults, performance, drift severity (no Airflow).

* :func:`detect_faults`: a broken feed beyond nulls: a type change, a scale or unit change (x10 or
  more, or every quantile multiplied by a conversion's factor, e.g. inches -> cm, or Celsius <-> Fahrenheit), a
  column of one sign negated (x -> -x), most
  values outside the reference range (nearly all of them), a category vocabulary replaced, a column gone constant
  (a category constant at a common reference value is a one-segment window: noted). Each fault names the column
  and what changed.
* :func:`measure_performance`: the champion's metric on labelled current data against a baseline
  that is not in-sample (the metric logged at training on held-out data, or held-out reference
  data), with the drop's standard error for the sample size, and (accuracy, precision, recall, f1) the
  metric at the reference's class mix, which tells a changed label mix (label shift) from a model that
  got worse; a regressor's R^2 at the reference's target variance.
* :func:`label_coverage`: labels in for part of the window only (they arrive late): the share the
  measurement covers, and how the rows not labelled yet drift against the labelled ones; on those
  rows the champion's estimate (``unlabelled_estimate``), as a window without labels gets.
* :func:`estimate_performance`: without labels, a confidence-based estimate (as NannyML's CBPE) for
  classifiers that give probabilities, calibrated per class on the labelled reference; marked ``estimated``.
* :func:`drift_severity`: per-column effect size relative to its threshold, Benjamini-Hochberg over
  the p-value columns and the distances' chance of being sampling noise (:func:`sampling_noise`, a
  resampled null at the window's size), weighted by the champion's feature importance (equal weights
  without it).
* :func:`feature_importance`: the model's own importances, else permutation importance on reference.

:func:`build_evidence` puts them into one JSON-able table that the drift summary carries, the
decision rules read, and the LLM sees.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from airflow_provider_agentic_mlops.core.config import DriftSettings
from airflow_provider_agentic_mlops.core.drift.columns import ColumnData, comparable_values, with_text_column_names
from airflow_provider_agentic_mlops.core.drift.methods import CAT, DRIFT_METHODS, NUM
from airflow_provider_agentic_mlops.core.drift.scores import score_fast
from airflow_provider_agentic_mlops.core.drift.summary import DriftSummary
from airflow_provider_agentic_mlops.core.metrics import (
    PROBABILITY_METRICS,
    alike_classes,
    as_float,
    class_labels,
    compute_metrics,
    higher_is_better,
    score_predictions,
    split_scores,
    trivial_baseline,
)

#: A spread (10th-90th percentile) this many times larger or smaller than the reference's is a
#: scale or unit change (x1000, cents -> euros), not drift.
SCALE_RATIO = 10.0
#: At least this share of current values outside the reference's [min, max] is a broken feed: the
#: column no longer overlaps the reference (an offset, a wrong column, a sentinel). A genuine shift of
#: a continuous feature moves part of its mass past the range (a uniform feature +2 std: 58%), not
#: nearly all of it; that is drift, weighed by severity, not a fault.
OUT_OF_RANGE_SHARE = 0.95
#: More than this share of current rows with categories the reference never had: vocabulary replaced.
UNSEEN_CATEGORY_SHARE = 0.5
#: At least this share (and no replaced vocabulary): the new categories are named in the notes.
UNSEEN_CATEGORY_NOTE_SHARE = 0.05
#: Fewer current values than this are too few to call a column constant or out of range.
MIN_VALUES_FOR_FAULTS = 20
#: Effect sizes are capped here so that one absurd column does not dominate a weighted sum.
MAX_EFFECT = 100.0
#: Columns listed in the extrapolation evidence.
MAX_EXTRAPOLATION_COLUMNS = 5
#: Rows used for permutation importance and the bootstrap: enough for a ranking, cheap on 100k rows.
SAMPLE_ROWS = 2000


# -- pipeline faults ------------------------------------------------------------------------------


def detect_faults(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    summary: DriftSummary,
    *,
    notes: list[str] | None = None,
    targets: Collection[str] = (),
) -> list[dict[str, str]]:
    """Broken-feed faults, one per column at most: ``{"column", "kind", "detail"}``.

    Kinds: ``type_change``, ``scale_change``, ``sign_flip``, ``out_of_range``, ``vocabulary_replaced``,
    ``constant``, ``point_mass`` (one value that looks like a default fill, a conventional sentinel inside or
    outside the range (:func:`_looks_like_fill`), holding a tenth of a continuous column where the reference
    hardly held it; a new value past the range that is no sentinel, a new id or a counter's next value, is
    none), ``category_renamed`` (a category spelt differently by case, spaces or Unicode form on part of the
    rows: ``'US' -> 'us'``),
    ``misaligned`` (:func:`_misaligned_faults`).
    Nulls and missing columns are in the summary's ``data_quality`` already. The reference range and
    "constant" are read on all rows; spreads, magnitudes and category shares, gross changes by
    design, on a random sample of at most ``FAULT_SAMPLE_ROWS`` rows of each frame (on 1M rows the
    check would otherwise cost as much as the drift computation).

    :param notes: where a change that is no fault is said: a categorical column constant at a value
        the reference holds in at least ``SEGMENT_SHARE`` of its rows (a one-segment window: weekend
        only, one region). Constant at a rare or unseen value (a sentinel, a default fill), or a
        numeric column gone constant, stays a fault.
    :param targets: the label and prediction columns: left out of the misalignment check (a changed relation
        of a feature to the label is concept drift, not a broken join).
    """
    reference, current = (
        with_text_column_names(reference, "reference data"),
        with_text_column_names(current, "current data"),
    )
    faults = [
        {
            "column": t["column"],
            "kind": "type_change",
            "detail": f"type changed from {t['reference']} to {t['current']}",
        }
        for t in summary.data_quality.get("type_changes") or []
    ]
    ref_rows, cur_rows = _sample_index(len(reference)), _sample_index(len(current))
    for name, col in summary.columns.items():
        if name not in reference.columns or name not in current.columns:
            continue
        ref, cur = ColumnData(reference[name]), ColumnData(current[name])  # numbers: one float array each
        ref_s = ref if ref_rows is None else ColumnData(reference[name].iloc[ref_rows])
        cur_s = cur if cur_rows is None else ColumnData(current[name].iloc[cur_rows])
        if cur_s.n < MIN_VALUES_FOR_FAULTS or ref_s.n == 0:  # categories counted on the sample only
            continue
        fault = None
        if ref.numeric and cur.numeric:
            fault = _numeric_fault(name, ref, cur, ref_s, cur_s)
        if fault is None and col.type == CAT:  # text (reviews, ids) is mostly new values on every run
            fault = _categorical_fault(name, ref_s, cur_s, notes)
        if fault is None:
            fault = _constant_fault(name, ref_s, cur, cur_s, current[name], col.type == CAT, notes)
        if fault is None and ref.numeric and cur.numeric:
            fault = _point_mass_fault(name, ref_s, cur_s)
        if fault is not None:
            faults.append(fault)
    faulted = {f["column"] for f in faults}
    steady = [
        n
        for n, c in summary.columns.items()
        if not c.drifted and n not in faulted and n not in targets and n in reference.columns and n in current.columns
    ]
    faults.extend(_misaligned_faults(reference, current, steady, ref_rows, cur_rows))
    return faults


#: Rows (of each frame's fault sample) the misalignment check ranks; columns it compares at most.
MISALIGNED_ROWS = 20_000
MISALIGNED_MAX_COLUMNS = 60
#: A pair of columns whose rank correlation in the reference is at least this large...
MISALIGNED_MIN_CORRELATION = 0.2
#: ... and in the current window at most this share of it, fallen by ``MISALIGNED_Z`` standard errors or
#: more (Fisher's z), is a relation lost.
MISALIGNED_KEPT_SHARE = 0.25
MISALIGNED_Z = 5.0


def _misaligned_faults(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    ref_rows: np.ndarray | None,
    cur_rows: np.ndarray | None,
) -> list[dict[str, str]]:
    """A column misaligned with its rows (shifted by a row in the export, joined on the wrong key): its own
    distribution unchanged (``columns`` are those that did not drift), but every rank correlation it had
    with another column (at least ``MISALIGNED_MIN_CORRELATION``) is gone (``MISALIGNED_KEPT_SHARE``, beyond
    ``MISALIGNED_Z`` standard errors), while a partner keeps its correlation with a third column (it is the
    column, not the partner, that moved). A selection or a covariate shift weakens correlations; it does not
    take every one of a column's to nothing with its distribution unchanged. Columns with no correlated
    partner in the reference (independent features) cannot be checked; a pair correlated only with each
    other is named together."""

    def numeric(frame: pd.DataFrame, rows: np.ndarray | None) -> pd.DataFrame:
        frame = frame[list(columns)] if rows is None else frame[list(columns)].iloc[rows]
        frame = frame.iloc[:MISALIGNED_ROWS]
        keep = [
            c
            for c in frame.columns
            if pd.api.types.is_numeric_dtype(frame[c].dtype) and not pd.api.types.is_bool_dtype(frame[c].dtype)
        ]
        return frame[keep[:MISALIGNED_MAX_COLUMNS]].astype(np.float64)

    ref, cur = numeric(reference, ref_rows), numeric(current, cur_rows)
    names = [c for c in ref.columns if c in cur.columns]
    if len(names) < 2 or min(len(ref), len(cur)) < MIN_ROWS_FOR_UNIT:
        return []
    r_ref = ref[names].corr(method="spearman").to_numpy()
    r_cur = cur[names].corr(method="spearman").to_numpy()
    se = math.sqrt(1 / (len(ref) - 3) + 1 / (len(cur) - 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        strong = np.abs(r_ref) >= MISALIGNED_MIN_CORRELATION
        fell = (
            np.abs(np.arctanh(np.clip(r_ref, -0.999, 0.999))) - np.abs(np.arctanh(np.clip(r_cur, -0.999, 0.999)))
        ) / se
        lost = strong & (np.abs(r_cur) <= MISALIGNED_KEPT_SHARE * np.abs(r_ref)) & (fell >= MISALIGNED_Z)
    np.fill_diagonal(strong, False)
    np.fill_diagonal(lost, False)
    kept = strong & ~lost
    faults, named = [], set()
    for i, name in enumerate(names):
        partners = np.flatnonzero(strong[i])
        if partners.size == 0 or not lost[i, partners].all() or name in named:
            continue
        # a partner that keeps a relation with a third column is aligned: the column moved
        if any(kept[j].any() for j in partners) or partners.size > 1:
            was = ", ".join(f"{names[j]} {r_ref[i, j]:+.2f} -> {r_cur[i, j]:+.2f}" for j in partners[:3])
            faults.append(
                _fault(
                    name,
                    "misaligned",
                    f"distribution unchanged, every rank correlation it had gone ({was}): rows shifted, or a wrong "
                    "join?",
                )
            )
            named.add(name)
        elif not kept[partners[0]].any() and names[partners[0]] not in named:  # a pair: either may have moved
            j = partners[0]
            other = names[j]
            faults.append(
                _fault(
                    name,
                    "misaligned",
                    f"distribution unchanged, its rank correlation with {other!r} gone ({r_ref[i, j]:+.2f} -> "
                    f"{r_cur[i, j]:+.2f}): {name!r} or {other!r} rows shifted, or a wrong join?",
                )
            )
            named.update((name, other))
    return faults


#: Rows sampled from each frame for the fault checks that read shares and spreads.
FAULT_SAMPLE_ROWS = 100_000


def _sample_index(n: int) -> np.ndarray | None:
    if n <= FAULT_SAMPLE_ROWS:
        return None
    return np.sort(np.random.default_rng(0).choice(n, FAULT_SAMPLE_ROWS, replace=False))


#: A categorical column constant at a value at least this share of the reference holds is one segment
#: of the data (a weekend-only window, one region's batch): noted, not a fault.
SEGMENT_SHARE = 0.05


def _constant_fault(
    name: str,
    ref_s: ColumnData,
    cur: ColumnData,
    cur_s: ColumnData,
    series: pd.Series,
    categorical: bool,
    notes: list[str] | None,
) -> dict[str, str] | None:
    """Gone constant: one current value where the reference varied (not a nearly-constant reference
    column, e.g. a border pixel that is almost always 0). A categorical column constant at a common
    reference value is a one-segment window: said in ``notes``, no fault."""
    if cur.numeric:
        if cur.values.size == 0 or cur.values.min() != cur.values.max():
            return None
    elif cur_s.nunique != 1 or series.nunique(dropna=True) != 1:
        return None
    if ref_s.nunique <= 1 or max(ref_s.counts.values()) / ref_s.n > 0.9:
        return None
    value = next(iter(cur_s.counts))
    # the same value (1 and 1.0) or the same text (1 and "1"), as the vocabulary check compares them
    share = sum(n for k, n in ref_s.counts.items() if k == value or str(k) == str(value)) / ref_s.n
    if categorical and share >= SEGMENT_SHARE:
        if notes is not None:
            notes.append(
                f"column {name!r} is constant at {value!r}, a value {share:.0%} of the reference holds: a "
                "one-segment window (weekend only, one region)? Not a fault; its drift is weighed as drift"
            )
        return None
    held = f"; {share:.1%} of the reference" if share else "; a value the reference never had"
    return _fault(name, "constant", f"constant at {value!r} (reference had {ref_s.nunique} distinct values{held})")


#: A value holding at least this share of the current rows of a column with many distinct values...
POINT_MASS_SHARE = 0.10
#: ... which held less than this share of the reference's is a default written into part of the
#: column (-1, -999, 0.0 for a missing measurement): a new point mass, a broken feed. A genuine shift
#: of a continuous column moves its mass, it does not pile a tenth of it onto one value.
POINT_MASS_REFERENCE_SHARE = 0.01
#: Distinct values the reference (sample) must hold: a continuous column. A column of few values (a
#: rating, a count, a flag) moves its mass from one value to another when it drifts; that is drift.
POINT_MASS_MIN_DISTINCT = 100
#: The reference's body, between these quantiles: a positive all-9s value (99, 999, 9999, ...) is a fill only
#: past its top by more than its width, far beyond its values, as a "missing" code is written (9999 in a column
#: of hundreds); one inside the body, or just past its top (a $999 phone beside list prices up to $949, app
#: build 9999 after 9989), is an ordinary value.
POINT_MASS_NINES_QUANTILES = (0.01, 0.99)
#: Integer-type limits a feed writes for "no value" (an unset int16/int32/int64, a saturated uint16/uint32):
#: a fill when outside the reference's range.
INTEGER_LIMITS = frozenset(
    float(v) for v in (2**15 - 1, 2**16 - 1, 2**31 - 1, 2**32 - 1, 2**63 - 1, -(2**15), -(2**31), -(2**63))
)


def _looks_like_fill(value: float, reference: np.ndarray) -> bool:
    """Whether ``value`` looks like a default fill rather than a value of the data: a conventional sentinel,
    inside the reference's range or outside it: 0; a negative whole number of 1 or all 9s (-1, -9, -99,
    -999, ...); any negative whole number in a column the reference never has negative (-2, -100: a code);
    an integer type's limit (2147483647, -32768, 65535, ...) outside the range; a positive all-9s whole
    number of two digits or more (99, 999, 9999, ...) far beyond the reference's body, past its 99th
    percentile by more than the width from its 1st to its 99th (``POINT_MASS_NINES_QUANTILES``).

    Being outside the range is not enough: a new numeric id above every earlier one (a new merchant), a
    timestamp or a counter past the reference's max, a price beyond the old highest, an all-9s value just
    past the top (a $999 phone beside list prices up to $949, app build 9999 after 9989), are new values of
    a healthy feed, weighed as drift and extrapolation. Nor is a value inside the range piling up that is no
    sentinel (one week of a year-long ``day_of_year``, one merchant's flash sale on a numeric id, a
    promotion price 19.99): a pattern of the data, drift. Row order is not read.

    :param value: the value that piles up in the current window.
    :param reference: the reference's finite values.
    """
    if value == 0:
        return True
    if not np.isfinite(value) or value != round(value):
        return False
    low, high = float(reference.min()), float(reference.max())
    if value in INTEGER_LIMITS and not low <= value <= high:
        return True
    digits = str(abs(int(value)))
    nines = set(digits) == {"9"}
    if value < 0:
        return digits == "1" or nines or low >= 0
    bottom, top = (float(q) for q in np.quantile(reference, POINT_MASS_NINES_QUANTILES))
    return nines and len(digits) >= 2 and value > top + (top - bottom)


def _point_mass_fault(name: str, ref_s: ColumnData, cur_s: ColumnData) -> dict[str, str] | None:
    """A new point mass: one value holds at least ``POINT_MASS_SHARE`` of the current values (and
    ``MIN_VALUES_FOR_FAULTS`` rows) where it held under ``POINT_MASS_REFERENCE_SHARE`` of the
    reference's, on a column with at least ``POINT_MASS_MIN_DISTINCT`` distinct reference values, and
    the value looks like a fill (:func:`_looks_like_fill`). A zero-inflated column whose reference
    already holds the spike is unaffected, as is a column of few values, and a common value inside
    the range that is no sentinel (a one-week window of ``day_of_year``, a promotion price)."""
    if np.unique(ref_s.values).size < POINT_MASS_MIN_DISTINCT:
        return None
    values, counts = np.unique(cur_s.values, return_counts=True)
    top = int(np.argmax(counts))
    value, count = float(values[top]), int(counts[top])
    now = count / cur_s.values.size
    if now < POINT_MASS_SHARE or count < MIN_VALUES_FOR_FAULTS:
        return None
    was = float(np.mean(ref_s.values == value))
    if was >= POINT_MASS_REFERENCE_SHARE or not _looks_like_fill(value, ref_s.values):
        return None
    inside = ref_s.values.min() <= value <= ref_s.values.max()
    where = "inside its range, a conventional fill value" if inside else "outside its range, a conventional fill value"
    return _fault(
        name,
        "point_mass",
        f"value {value:.6g} on {now:.0%} of current rows, {was:.1%} of the reference ({where}): a default fill?",
    )


def _fault(column: str, kind: str, detail: str) -> dict[str, str]:
    return {"column": column, "kind": kind, "detail": detail}


def _numeric_fault(
    name: str, ref: ColumnData, cur: ColumnData, ref_s: ColumnData, cur_s: ColumnData
) -> dict[str, str] | None:
    r10, r90 = np.quantile(ref_s.values, [0.1, 0.9])
    c10, c90 = np.quantile(cur_s.values, [0.1, 0.9])
    ref_spread, cur_spread = float(r90 - r10), float(c90 - c10)
    ref_size = float(np.median(np.abs(ref_s.values)))
    cur_size = float(np.median(np.abs(cur_s.values)))
    if ref_spread > 0 and cur_spread > 0 and ref_size > 0 and cur_size > 0:
        spread_ratio, size_ratio = cur_spread / ref_spread, cur_size / ref_size
        # both the spread and the magnitude moved by the same large factor: a unit change
        if (spread_ratio >= SCALE_RATIO and size_ratio >= SCALE_RATIO) or (
            spread_ratio <= 1 / SCALE_RATIO and size_ratio <= 1 / SCALE_RATIO
        ):
            return _fault(
                name,
                "scale_change",
                f"scale changed about {_factor(size_ratio)} (10-90% spread {ref_spread:.4g} -> {cur_spread:.4g}, "
                f"median |value| {ref_size:.4g} -> {cur_size:.4g}): a unit change or a broken transformation?",
            )
    converted = _unit_conversion(ref_s.values, cur_s.values)
    if converted is not None:
        return _fault(name, "scale_change", converted)
    flipped = _sign_flip(ref_s.values, cur_s.values)
    if flipped is not None:  # before the range: a flipped positive column is all outside it, which says less
        return _fault(name, "sign_flip", flipped)
    low, high = float(ref.values.min()), float(ref.values.max())
    if low < high:
        outside = float(np.mean((cur.values < low) | (cur.values > high)))
        if outside >= OUT_OF_RANGE_SHARE:
            return _fault(
                name,
                "out_of_range",
                f"{outside:.0%} of current values outside the reference range [{low:.4g}, {high:.4g}]",
            )
    else:  # a constant reference (a flag, a version): no range to read, but a new value is outside it all the same
        changed = cur.values[cur.values != low]
        if changed.size and changed.size / cur.values.size >= OUT_OF_RANGE_SHARE:
            values, counts = np.unique(changed, return_counts=True)
            if values.size == 1:
                now = f"{values[0]:.4g}"
            elif counts.max() * 2 >= changed.size:  # one value holds most of them
                now = f"mostly {values[np.argmax(counts)]:.4g}"
            else:  # spread over many values (all distinct, say): no value to name
                now = f"{values.size} distinct values, median {np.median(changed):.4g}"
            return _fault(
                name,
                "out_of_range",
                f"was constant {low:.4g} in the reference, now {now} ({changed.size / cur.values.size:.0%} of "
                "current values differ): a pipeline change?",
            )
    return None


#: A unit change under x10 (inches -> cm x2.54, kg -> lb x2.2046, miles -> km x1.609) multiplies every
#: value by one factor: each quantile of the current column is the reference's times it. So does a
#: genuine multiplicative shift of a positive column (prices up 60%, durations x1.7: a shift of the log
#: location), so only a factor a conversion has (``UNIT_FACTORS``) is read as one; a location shift
#: (the spread kept), a variance change (the centre kept), a mixture or tail change (the quantiles
#: bent) are none. Read on these quantiles, tails included: a selection that keeps the lower part of a
#: column otherwise mimics a factor in its body.
UNIT_QUANTILES = (0.02, 0.05, *(round(0.05 * i, 2) for i in range(2, 19)), 0.95, 0.98)
#: Fewer values than this on either side: a rescale and a mixture change look alike within noise.
MIN_ROWS_FOR_UNIT = 200
#: The reference's 1st percentile must be this share of its 10-90% spread away from zero. A column
#: that starts at zero (a uniform on [0, 1], an exponential, a power law) cut to its lower or upper
#: part looks multiplied; and a column around zero is scaled about its centre and about zero alike.
MIN_UNIT_OFFSET = 0.25
#: The quantiles agree with a conversion when their deviations from it, in standard errors, have a
#: root mean square of at most ``UNIT_FIT_RMS`` (a true factor's: 1.0-1.3 at its 95th percentile) and
#: none is over ``UNIT_FIT_MAX``; each deviation less ``UNIT_ROUNDING`` (relative: a conversion that
#: rounds, inches -> whole millimetres).
UNIT_FIT_RMS = 1.5
UNIT_FIT_MAX = 5.0
UNIT_ROUNDING = 0.01
#: The centre and the spread must both move by at least this many standard errors.
UNIT_SIGNIFICANCE = 5.0
#: Affine conversions, ``current = slope * reference + intercept``, named in the fault.
TEMPERATURE_CONVERSIONS = {"Celsius to Fahrenheit": (1.8, 32.0), "Fahrenheit to Celsius": (1 / 1.8, -32 / 1.8)}
#: The conversion factors under x10 the check knows, each also read inverted (cm -> inches), named in
#: the fault. Any other factor (x1.7, x2, x3) is a genuine shift as far as this check goes.
UNIT_FACTORS = {
    "miles -> km": 1.609344,
    "nautical miles -> km": 1.852,
    "kg -> lb": 2.20462,
    "inches -> cm": 2.54,
    "m -> feet": 3.28084,
    "m/s -> km/h": 3.6,
    "US gallons -> litres": 3.785411784,
    "kcal -> kJ": 4.184,
    "psi -> kPa": 6.894757,
}
#: The factor found matches a known one when their relative difference is within ``UNIT_FACTOR_Z``
#: standard errors of the factor, taken as the smallest of its quantiles' (their errors are correlated,
#: so their weighted mean is hardly surer than the surest one: its spread over seeds measured 0.85-1.26
#: times that); at least ``UNIT_FACTOR_SLACK`` (a factor rounded to three digits, kg -> lb as x2.2)
#: and at most ``UNIT_FACTOR_TOLERANCE``, so that a small window, where the factor is unsure, matches
#: less often instead of matching x2 to kg -> lb. The factor's standard error on 2,000 rows a side:
#: 0.2% for a 6% spread (a height), 0.7-1.3% for a skewed amount (gamma shape 20, lognormal
#: log-spread 0.3-0.4): there x1.6 (0.6% from miles -> km) cannot be told from the conversion.
UNIT_FACTOR_Z = 3.0
UNIT_FACTOR_SLACK = 0.0025
UNIT_FACTOR_TOLERANCE = 0.03


def _quantiles_with_error(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``UNIT_QUANTILES`` of ``values`` and their standard errors, distribution-free: half the width of
    the quantiles at ``p -+ sqrt(p(1 - p) / n)``, the order statistics one binomial standard error away."""
    p = np.asarray(UNIT_QUANTILES)
    h = np.sqrt(p * (1 - p) / values.size)
    q = np.quantile(values, np.concatenate([p, np.clip(p - h, 0, 1), np.clip(p + h, 0, 1)]))
    k = p.size
    return q[:k], (q[2 * k :] - q[k : 2 * k]) / 2


def _fits(deviation: np.ndarray, slack: np.ndarray | float, se: np.ndarray) -> bool:
    """Deviations from a conversion, less ``slack``, within sampling noise (``UNIT_FIT_RMS``, ``UNIT_FIT_MAX``)."""
    z = np.maximum(np.abs(deviation) - slack, 0) / se
    return bool(np.sqrt(np.mean(z**2)) <= UNIT_FIT_RMS and z.max() <= UNIT_FIT_MAX)


def _unit_conversion(ref: np.ndarray, cur: np.ndarray) -> str | None:
    """What the current column looks converted by, when it is the reference's values multiplied by
    one of ``UNIT_FACTORS`` (or its inverse) or converted between Celsius and Fahrenheit; else None.
    Not read where a genuine shift looks the same: samples under ``MIN_ROWS_FOR_UNIT``, columns with
    few values (ties between quantiles), a centre or a spread that did not move beyond noise, and,
    for a factor, columns crossing zero or near it (``MIN_UNIT_OFFSET``)."""
    if min(ref.size, cur.size) < MIN_ROWS_FOR_UNIT:
        return None
    r, se_r = _quantiles_with_error(ref)
    c, se_c = _quantiles_with_error(cur)
    if not (np.all(np.diff(r) > 0) and np.all(np.diff(c) > 0) and np.all(se_r > 0) and np.all(se_c > 0)):
        return None
    lo, mid, hi = (UNIT_QUANTILES.index(p) for p in (0.1, 0.5, 0.9))
    spread_r, spread_c = r[hi] - r[lo], c[hi] - c[lo]
    se_spread = math.hypot(math.hypot(se_c[hi], se_c[lo]) / spread_c, math.hypot(se_r[hi], se_r[lo]) / spread_r)
    if abs(math.log(spread_c / spread_r)) < UNIT_SIGNIFICANCE * se_spread:
        return None  # the spread did not move: a location shift, not a conversion
    if abs(c[mid] - r[mid]) < UNIT_SIGNIFICANCE * math.hypot(se_c[mid], se_r[mid]):
        return None  # the centre did not move: a change of spread about it, not a conversion
    alike = f"every 2-98% quantile alike, median {r[mid]:.4g} -> {c[mid]:.4g}; a unit change?"
    for conversion, (slope, intercept) in TEMPERATURE_CONVERSIONS.items():
        back = (c - intercept) / slope  # the current converted back: the reference again?
        if _fits(back - r, UNIT_ROUNDING * spread_r, np.hypot(se_c / slope, se_r)):
            return f"values look converted from {conversion} (x{slope:.3g} {intercept:+.3g}): {alike}"
    if not (np.all(r > 0) and np.all(c > 0)):  # negative columns: the same test on their magnitudes
        if not (np.all(r < 0) and np.all(c < 0)):
            return None
        ref, r, c, se_r, se_c = -ref, -r[::-1], -c[::-1], se_r[::-1], se_c[::-1]
    # the 1st percentile, less two binomial standard errors: a small reference does not pass by chance
    low = float(np.quantile(ref, max(0.01 - 2 * math.sqrt(0.0099 / ref.size), 0)))
    if low < MIN_UNIT_OFFSET * spread_r:
        return None
    ratios, se = np.log(c / r), np.hypot(se_c / c, se_r / r)
    log_k = float(np.sum(ratios / se**2) / np.sum(1 / se**2))
    tolerance = min(max(UNIT_FACTOR_Z * float(se.min()), UNIT_FACTOR_SLACK), UNIT_FACTOR_TOLERANCE)
    known = _known_factor(log_k, tolerance)
    if known is None or not _fits(ratios - log_k, UNIT_ROUNDING, se):
        return None
    factor, what = known
    return f"values look multiplied by {factor:.4g} ({what}?), found x{math.exp(log_k):.4g}: {alike}"


#: A column is of one sign when at least this share of its non-null values is strictly positive (or negative).
ONE_SIGN_SHARE = 0.95


def _sign_flip(ref: np.ndarray, cur: np.ndarray) -> str | None:
    """Why the current column looks negated (x -> -x, a sign convention changed in the export: a debit
    exported as a credit), or None. Read only where a genuine shift cannot look the same: the reference
    (nearly, ``ONE_SIGN_SHARE``) all of one sign, the current all of the other, and the current negated
    back matching the reference on every quantile within sampling noise, the tolerance the unit check
    reads (:func:`_fits`); at least ``MIN_ROWS_FOR_UNIT`` values a side and no ties among the quantiles. A
    column around zero (both signs common) is none: negated, it may look the same."""
    if min(ref.size, cur.size) < MIN_ROWS_FOR_UNIT:
        return None
    ref_positive, cur_negative = float(np.mean(ref > 0)), float(np.mean(cur < 0))
    ref_negative, cur_positive = float(np.mean(ref < 0)), float(np.mean(cur > 0))
    if not (
        (ref_positive >= ONE_SIGN_SHARE and cur_negative >= ONE_SIGN_SHARE)
        or (ref_negative >= ONE_SIGN_SHARE and cur_positive >= ONE_SIGN_SHARE)
    ):
        return None
    r, se_r = _quantiles_with_error(ref)
    c, se_c = _quantiles_with_error(-cur)
    if not (np.all(np.diff(r) > 0) and np.all(np.diff(c) > 0) and np.all(se_r > 0) and np.all(se_c > 0)):
        return None
    lo, mid, hi = (UNIT_QUANTILES.index(p) for p in (0.1, 0.5, 0.9))
    if not _fits(c - r, UNIT_ROUNDING * (r[hi] - r[lo]), np.hypot(se_c, se_r)):
        return None
    was, now = (ref_positive, cur_negative) if ref_positive >= ONE_SIGN_SHARE else (ref_negative, cur_positive)
    signs = ("positive", "negative") if ref_positive >= ONE_SIGN_SHARE else ("negative", "positive")
    return (
        f"values look negated (sign flipped): {was:.0%} {signs[0]} in the reference, {now:.0%} {signs[1]} now, "
        f"and negated back every 2-98% quantile matches the reference (median {r[mid]:.4g} -> {-c[mid]:.4g}); "
        "a sign convention changed in the export?"
    )


def _known_factor(log_k: float, tolerance: float) -> tuple[float, str] | None:
    """The factor of ``UNIT_FACTORS``, or inverse, whose log is within ``tolerance`` of ``log_k``, named."""
    for name, factor in UNIT_FACTORS.items():
        for f, what in ((factor, name), (1 / factor, " -> ".join(reversed(name.split(" -> "))))):
            if abs(log_k - math.log(f)) <= tolerance:
                return f, what
    return None


def _factor(ratio: float) -> str:
    return f"x{ratio:,.0f}" if ratio >= 1 else f"x1/{1 / ratio:,.0f}"


def _categorical_fault(
    name: str, ref: ColumnData, cur: ColumnData, notes: list[str] | None = None
) -> dict[str, str] | None:
    """Vocabulary replaced: more than ``UNSEEN_CATEGORY_SHARE`` of the rows at categories the reference never
    had. From ``UNSEEN_CATEGORY_NOTE_SHARE`` up, new categories (a new region) are said in ``notes``: the
    champion extrapolates on them (:func:`extrapolation` counts them on the features it relies on)."""
    seen = set(map(str, ref.counts))
    # the same value (2 and 2.0: an integer column with a null arrives as float) or the same text (2 and "2")
    unseen = {k: v for k, v in cur.counts.items() if k not in ref.counts and str(k) not in seen}
    share = sum(unseen.values()) / cur.n
    examples = ", ".join(repr(str(k))[:40] for k in sorted(unseen, key=lambda k: -unseen[k])[:3])
    if share > UNSEEN_CATEGORY_SHARE:
        return _fault(
            name,
            "vocabulary_replaced",
            f"{share:.0%} of current rows have categories the reference never had (e.g. {examples})",
        )
    renamed = _renamed_categories(ref, cur, unseen)
    if renamed:
        return _fault(name, "category_renamed", "; ".join(renamed) + ": one source spells them differently?")
    if share >= UNSEEN_CATEGORY_NOTE_SHARE and notes is not None:
        more = f" and {len(unseen) - 3} more" if len(unseen) > 3 else ""
        notes.append(
            f"column {name!r}: {share:.0%} of current rows have categories the reference never had "
            f"({examples}{more}): new to the champion, which has not seen them"
        )
    return None


#: A renamed category (``'US' -> 'us'``) on at least this share of the current rows is a fault.
RENAMED_CATEGORY_SHARE = 0.01
#: ... when the reference category it spells differently fell by at least this share of it: its
#: rows moved to the new spelling (rather than a new category taking a share from every one).
RENAMED_CATEGORY_MATCH = 0.5


def _category_key(value: Any) -> str:
    """A category's text as a person reads it: Unicode compatibility forms folded (NFKC: a full-width
    'ＵＳ' is 'US'), case folded, surrounding spaces stripped."""
    return unicodedata.normalize("NFKC", str(value)).casefold().strip()


def _renamed_categories(ref: ColumnData, cur: ColumnData, unseen: Mapping[Any, int]) -> list[str]:
    """Unseen categories that are a reference category spelt differently (case, spaces, Unicode form:
    :func:`_category_key`), on at least ``RENAMED_CATEGORY_SHARE`` of the current rows, where that
    reference category's share fell by at least ``RENAMED_CATEGORY_MATCH`` of theirs: one source
    renamed it, and the champion reads its rows as a category it never saw. Said ``'US' -> 'us'``."""
    by_key: dict[str, Any] = {}
    for k in ref.counts:
        by_key.setdefault(_category_key(k), k)
    moved: dict[Any, list[Any]] = {}
    for k in unseen:
        original = by_key.get(_category_key(k))
        if original is not None:
            moved.setdefault(original, []).append(k)
    said = []
    for original, spellings in moved.items():
        now = sum(unseen[k] for k in spellings) / cur.n
        fell = ref.counts[original] / ref.n - cur.counts.get(original, 0) / cur.n
        if now >= RENAMED_CATEGORY_SHARE and fell >= RENAMED_CATEGORY_MATCH * now:
            arrows = ", ".join(f"{str(original)!r} -> {str(k)!r}"[:90] for k in spellings)
            said.append(
                f"{arrows} on {now:.0%} of current rows ({str(original)!r} {ref.counts[original] / ref.n:.0%} of the "
                f"reference, {cur.counts.get(original, 0) / cur.n:.0%} now)"
            )
    return said


# -- performance ----------------------------------------------------------------------------------


def measure_performance(
    task: str,
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    *,
    metric: str,
    baseline: float | None,
    baseline_n: int | None = None,
    baseline_se: float | None = None,
    baseline_source: str = "",
    source: str = "prediction column",
    reference_labels: Sequence[Any] | None = None,
    seed: int = 0,
    proba: Any = None,
    classes: Sequence[Any] | None = None,
    reference_predictions: tuple[Sequence[Any], Sequence[Any]] | None = None,
    positive_label: Any = None,
) -> dict[str, Any]:
    """The champion's current ``metric`` on labelled rows against a held-out ``baseline``.

    ``drop`` is positive when the champion got worse; ``drop_se`` is its standard error (current
    sample, and the baseline's when ``baseline_n`` is known). :func:`performance_verdict` reads them.

    :param task: ``classification`` or ``regression``.
    :param y_true: labels of the current rows.
    :param y_pred: the champion's predictions (labels, probability of class 1, or values).
    :param metric: e.g. ``accuracy``, ``f1``, ``r2``.
    :param baseline: the metric on held-out data; None: current performance only.
    :param baseline_n: rows the baseline was measured on, for its standard error (accuracy: binomial;
        other metrics: the current standard error scaled by ``sqrt(n_current / baseline_n)``), never below
        one row's worth (``1 / baseline_n``), as the current's.
    :param baseline_se: the baseline's standard error measured on its own rows (the held-out reference
        scored here), used instead of the current's scaled (with ``baseline_n``, floored as above): a
        metric's spread depends on its rows' class mix or target spread, not on their number alone.
    :param baseline_source: where the baseline came from, said in the evidence.
    :param source: where the predictions came from (prediction column, the champion from MLflow).
    :param reference_labels: labels of the reference rows. Classification (accuracy, precision, recall,
        f1): their class mix gives ``class_mix``, the current metric re-weighted to it (see
        :func:`class_mix`). Regression, ``r2``: their variance is the scale R^2 is read at
        (``1 - MSE / var_reference``), so that windows whose target varies less or more are compared by
        their errors; ``scale`` says what is compared (without them: the window's own variance, said so).
    :param proba: classification: the champion's class probabilities (``predict_proba``), shape (n,) for
        class 1 or (n, n_classes); ``y_pred`` are then its labels. None: ``y_pred`` may be the probability
        of class 1 (:func:`~airflow_provider_agentic_mlops.core.metrics.split_scores`).
    :param classes: the classes of ``proba``'s columns (scikit-learn's ``classes_``).
    :param reference_predictions: classification, any metric: ``(labels, predicted labels)`` of held-out
        reference rows, which give ``class_recall`` (:func:`class_recall`) from the predicted labels: accuracy
        hides a class whose recall collapsed when that class is rare, and a metric of the scores (``roc_auc``)
        ranks them without saying which classes the model's labels still find.
    :param positive_label: binary classification: the class precision, recall and f1 measure (the drift
        settings' ``positive_label``); default the greater of the two. Named in the result as ``positive_class``
        (binary only).
    :raises ValueError: ``positive_label`` is not one of the two classes.
    """
    y_true = np.asarray(y_true)
    if task == "classification":  # predictions as text of integer labels ('0'/'1' against 0/1): those labels
        given = [k for k in (classes, reference_labels) if k is not None]
        y_true, y_pred, *given = alike_classes(y_true, y_pred, *given)
        if reference_labels is not None:
            reference_labels = given.pop()
        if classes is not None:
            classes = given.pop()
    if task == "classification" and proba is None:
        labels, proba = split_scores(y_true, y_pred)
    else:
        labels = np.asarray(y_pred)
    classes = None if classes is None else np.asarray(classes).tolist()
    over = None  # a classifier's positive class: the model's or the reference's, whatever this window holds
    if task == "classification":
        known = [k for k in (classes, reference_labels) if k is not None]
        over = class_labels(y_true, labels, classes=[pd.Series(np.asarray(k)).dropna().unique() for k in known])
    binary = over is not None and len(over) <= 2 and (classes is None or len(classes) <= 2)
    positive = None
    if binary:  # the positive class last: every computation below that takes the last one measures it
        over, positive = _positive_last(over, positive_label)  # type: ignore[arg-type]
    # scored once: the values and the metric's note (why undefined, or how read) come from the same pass
    scores = score_predictions(task, y_true, labels, proba, classes=classes, labels=over, positive_label=positive)  # type: ignore[arg-type]
    values = scores.scored()
    if metric not in values:
        needs = " (it needs class probabilities: a prediction column of them, or predict_proba)"
        raise ValueError(
            f"performance metric {metric!r} is not one of {sorted(values)} for {task}"
            + (needs if metric in PROBABILITY_METRICS else "")
        )
    current = float(values[metric])
    scale = None
    if task == "regression" and metric == "r2":
        current, se, scale = _r2_at_the_references_scale(y_true, labels, reference_labels, current)
    if scale is None or scale["reference_variance"] is None:
        se = _standard_error(task, metric, y_true, labels, proba, current, seed, classes, over)
    out: dict[str, Any] = {
        "kind": "measured",
        "metric": metric,
        "current": current,
        "current_se": se,
        "n_labelled": int(len(y_true)),
        "predictions_from": source,
        "baseline": baseline,
        "baseline_source": baseline_source if baseline is not None else "none",
        "drop": None,
        "drop_se": None,
        "trivial_baseline": trivial_baseline(task, metric, y_true),  # the decision's check without a baseline
        "metric_note": scores.note(metric),
    }
    if positive is not None:  # what precision, recall and f1 measure, for the rationale to say
        out["positive_class"] = _plain(positive)
    if scale is not None:
        out["scale"] = scale
    if baseline is None or math.isnan(current):
        return out
    sign = 1.0 if higher_is_better(metric) else -1.0
    drop = sign * (baseline - current)
    # The baseline is a measurement too: its own sampling error adds to the drop's, floored at one row's
    # worth as the current's is (40 held-out rows all right read 1.0, whose 95% interval is [0.91, 1]).
    base_se = 0.0
    if baseline_n and metric == "accuracy":
        base_se = math.sqrt(max(baseline * (1 - baseline), 1 / baseline_n) / baseline_n)
    elif baseline_n and baseline_se is not None and not math.isnan(baseline_se):  # measured on its own rows
        base_se = max(baseline_se, (abs(baseline) if metric in UNIT_METRICS else 1.0) / baseline_n)
    elif baseline_n and not math.isnan(se):  # other metrics: the current's error, scaled to the baseline's rows
        floor = (abs(baseline) if metric in UNIT_METRICS else 1.0) / baseline_n
        base_se = max(se * math.sqrt(len(y_true) / baseline_n), floor)
    drop_se = math.sqrt(se**2 + base_se**2)
    out.update(drop=drop, drop_se=drop_se)
    if task == "classification" and metric in MIX_METRICS and reference_labels is not None:
        over = class_labels(y_true, labels, classes=[] if classes is None else [classes])
        if positive is not None:
            over = _positive_last(over, positive)[0]
        out["class_mix"] = class_mix(
            y_true,
            labels,
            reference_labels,
            baseline=baseline,
            baseline_se=base_se,
            metric=metric,
            labels=over,
            binary=len(over) <= 2 and (classes is None or len(classes) <= 2),
            seed=seed,
        )
    if task == "classification" and reference_labels is not None:
        missing = classes_missing(y_true, reference_labels)
        if missing:
            out["classes_missing"] = missing
    if task == "classification" and reference_predictions is not None:  # any metric: roc_auc ranks, it does not
        out["class_recall"] = class_recall(y_true, labels, *reference_predictions)  # say which class is found
        flag, chosen = _flagged_class(labels, positive, positive_label)
        if flag is not None:
            out["flagged_precision"] = flagged_precision(y_true, labels, *reference_predictions, flag)
            if out["flagged_precision"] is not None and chosen:
                out["flagged_precision"]["class_from"] = chosen
    return out


def _flagged_class(labels: Any, positive: Any, positive_label: Any) -> tuple[Any, str]:
    """``(the class whose flags' precision is compared, why it when not the positive class or "")``: with
    ``positive_label`` unset and every labelled row predicted one class, that class (labels only for the rows
    the model flagged: the flag is what they were predicted, whatever the class's name; the greater of two
    text classes, the default positive, may be the one never flagged, ``'legit'`` beside ``'fraud'``), else
    the binary positive class (None for several classes)."""
    predicted = pd.Series(np.asarray(labels, dtype=object)).dropna().unique()
    if positive_label is None and len(predicted) == 1:
        one = predicted[0]
        same = positive is not None and (one == positive or str(one) == str(positive))
        return one, "" if same else "the one class predicted on every labelled row, positive_label unset"
    return positive, ""


#: Fewer rows flagged (predicted positive) than this in either frame: no precision of the flags is compared.
MIN_FLAGGED_ROWS = 30


def flagged_precision(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    reference_true: Sequence[Any],
    reference_pred: Sequence[Any],
    positive: Any,
) -> dict[str, Any] | None:
    """The precision of the rows the model flags (predicts ``positive``) on the current labelled rows against the
    held-out reference rows: ``{"class", "baseline", "current", "drop", "drop_se", "n_current", "n_reference"}``
    (binomial errors of both sides, at least one row's worth), None with fewer than ``MIN_FLAGGED_ROWS`` flagged
    rows on either side. Labels that exist only for the rows the model flagged (fraud review) are selected: the
    window's accuracy cannot be read on them, but every flagged row has its label, so their precision is the
    flags' own; the decision reads a collapse of it (``performance_verdict``).

    :param positive: the binary positive class (the flagged one).
    """
    cur_true, cur_pred, ref_true, ref_pred, named = _alike_class_names(
        y_true, y_pred, reference_true, reference_pred, np.asarray([positive], dtype=object)
    )
    name = named.iloc[0]
    cur_rows, ref_rows = (cur_pred == name).to_numpy(), (ref_pred == name).to_numpy()
    n_cur, n_ref = int(cur_rows.sum()), int(ref_rows.sum())
    if min(n_cur, n_ref) < MIN_FLAGGED_ROWS:
        return None
    current = float((cur_true[cur_rows] == name).mean())
    reference = float((ref_true[ref_rows] == name).mean())
    var = max(current * (1 - current), 1 / n_cur) / n_cur + max(reference * (1 - reference), 1 / n_ref) / n_ref
    return {
        "class": str(name),
        "baseline": reference,
        "current": current,
        "drop": reference - current,
        "drop_se": math.sqrt(var),
        "n_current": n_cur,
        "n_reference": n_ref,
    }


#: A reference class this many labelled rows were expected to hold (its reference share times their
#: number) that none holds was not missed by chance (e^-5: under 1%): the labels were selected.
MIN_EXPECTED_ROWS_OF_A_MISSING_CLASS = 5


def classes_missing(y_true: Sequence[Any], reference_labels: Sequence[Any]) -> list[dict[str, Any]]:
    """The reference's classes that no labelled row holds, where at least ``MIN_EXPECTED_ROWS_OF_A_MISSING_CLASS``
    were expected: ``[{"class", "reference_share"}]``, commonest first. Labels that exist only for the rows
    the model flagged (fraud feedback: chargebacks) hold one class; their accuracy says nothing of the model's
    on the window (:func:`~airflow_provider_agentic_mlops.core.decision.performance_verdict` reads this).
    Classes are compared by :func:`_alike_class_names` (1, 1.0 and "1" alike)."""
    ref_names, cur_names = _alike_class_names(pd.Series(np.asarray(reference_labels)).dropna(), y_true)
    ref = ref_names.value_counts(normalize=True)
    present, n = set(cur_names), len(cur_names)
    return [
        {"class": str(c), "reference_share": round(float(p), 4)}
        for c, p in ref.items()
        if c not in present and p * n >= MIN_EXPECTED_ROWS_OF_A_MISSING_CLASS
    ]


def _positive_last(classes: Sequence[Any], positive_label: Any) -> tuple[list[Any], Any]:
    """``(classes with the positive one last, the positive class)`` of a binary comparison: ``positive_label``
    (matched as the vocabulary check matches categories: 1 and "1" alike) when given, else the greater.

    :raises ValueError: ``positive_label`` is not one of two classes."""
    classes = list(classes)
    if positive_label is None:
        return classes, classes[-1] if classes else None
    same = [c for c in classes if c == positive_label or str(c) == str(positive_label)]
    if not same and len(classes) >= 2:
        raise ValueError(
            f"positive_label {positive_label!r} is not one of the classes {[_plain(c) for c in classes]!r}; set "
            "drift.positive_label (or validation.positive_label) to the class precision, recall and f1 should measure"
        )
    positive = same[0] if same else positive_label  # absent from the window: precision and the others are NaN
    return [c for c in classes if c is not positive] + [positive], positive


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _r2_at_the_references_scale(
    y_true: np.ndarray, y_pred: Any, reference_labels: Sequence[Any] | None, own: float
) -> tuple[float, float, dict[str, Any]]:
    """``(R^2, its standard error, what is compared)`` of a regressor on labelled rows, at the reference's
    target variance (:func:`~airflow_provider_agentic_mlops.core.metrics.r2_at_scale`), so that windows are
    compared by their errors and not by how much their target varies. Without reference labels (or with a
    constant reference target): ``own``, the window's own R^2, said so (its standard error NaN here: the
    caller bootstraps it)."""
    from airflow_provider_agentic_mlops.core.metrics import r2_at_scale, target_variance

    window = target_variance(y_true)
    variance = None if reference_labels is None else target_variance(reference_labels)
    if variance is None:
        why = "no reference labels" if reference_labels is None else "the reference's target does not vary"
        return (
            own,
            math.nan,
            {
                "compared": f"R^2 against the window's own target variance ({why} to fix the scale): a window "
                "whose target varies less reads lower with the same errors",
                "reference_variance": None,
                "window_variance": window,
            },
        )
    current, se = r2_at_scale(y_true, y_pred, variance)
    own_variance = "unknown" if window is None else f"{window:.4g}"
    return (
        current,
        se,
        {
            "compared": f"R^2 at the reference's target variance: 1 - MSE / {variance:.4g}, so that windows are "
            "compared by their errors, not by how much their target varies (the window's own R^2, against "
            f"its variance {own_variance}, is window_r2)",
            "reference_variance": variance,
            "window_variance": window,
            "window_r2": own,
        },
    )


#: Classes listed in ``class_recall``: the rare ones first, then those whose recall fell most.
MAX_CLASSES_LISTED = 10
#: A class with less than this fraction of an even share of the reference (binary: under 25 % of the
#: rows; ten classes: under 5 %) is rare: accuracy weighs it too little to show its recall.
RARE_SHARE_OF_EVEN = 0.5


def class_recall(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    reference_true: Sequence[Any],
    reference_pred: Sequence[Any],
) -> dict[str, Any] | None:
    """Each class's recall on the current rows against the held-out reference rows, rare classes marked.

    Accuracy weighs each class by its share: with 2 % positives a model that stops finding any of them
    loses 0.01 accuracy, which reads as stable, while its positive-class recall went 0.66 -> 0. A class
    is ``rare`` below ``RARE_SHARE_OF_EVEN`` of an even share of the reference; the decision reads the
    rare classes' recall drops (``drop``, with ``drop_se``: the binomial error of both sides, at least
    one row's worth). Classes with rows in both frames; None with fewer than two. ``classes`` lists at
    most ``MAX_CLASSES_LISTED`` (rare first, then by drop); ``rare_classes`` counts them all.
    """
    cur_true, cur_pred, ref_true, ref_pred = _alike_class_names(y_true, y_pred, reference_true, reference_pred)
    common = sorted(set(cur_true) & set(ref_true))
    if len(common) < 2:
        return None
    shares = ref_true.value_counts(normalize=True)
    rare_below = RARE_SHARE_OF_EVEN / len(shares)
    per_class: dict[str, dict[str, Any]] = {}
    for c in common:
        cur_rows, ref_rows = (cur_true == c).to_numpy(), (ref_true == c).to_numpy()
        current = float((cur_pred[cur_rows] == c).mean())
        reference = float((ref_pred[ref_rows] == c).mean())
        n_cur, n_ref = int(cur_rows.sum()), int(ref_rows.sum())
        var = max(current * (1 - current), 1 / n_cur) / n_cur + max(reference * (1 - reference), 1 / n_ref) / n_ref
        per_class[c] = {
            "baseline": reference,
            "current": current,
            "drop": reference - current,
            "drop_se": math.sqrt(var),
            "share": float(shares[c]),
            "rare": bool(shares[c] < rare_below),
            "n_current": n_cur,
            "n_reference": n_ref,
        }
    ranked = sorted(common, key=lambda c: (not per_class[c]["rare"], -per_class[c]["drop"], c))
    return {
        "classes": {c: per_class[c] for c in ranked[:MAX_CLASSES_LISTED]},
        "rare_classes": sum(v["rare"] for v in per_class.values()),
    }


#: Metrics of predicted labels that :func:`class_mix` reads at the reference's class mix. (``roc_auc`` does
#: not move with the mix: it compares the classes' scores; ``log_loss`` is left as measured.)
MIX_METRICS = ("accuracy", "precision", "recall", "f1")
#: Stratified bootstrap resamples for the standard error of a precision, recall or f1 at the reference's mix.
MIX_BOOTSTRAP = 60


def class_mix(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    reference_labels: Sequence[Any],
    *,
    baseline: float,
    baseline_se: float,
    metric: str = "accuracy",
    labels: Sequence[Any] | None = None,
    binary: bool | None = None,
    seed: int = 0,
) -> dict[str, Any] | None:
    """``metric`` at the reference's class mix: the current confusion matrix with each true class's row
    weighed by that class's share of the reference instead of the window's (accuracy:
    ``sum_c p_ref(c) * recall_current(c)``).

    Under label shift (the class mix changes, each class looks as before) the per-class recalls hold
    and the plain metric moves only because the mix moved (accuracy with the shares, precision and f1
    with the prevalence: fewer positives, more of the predicted positives wrong); retraining does not fix
    that. The adjusted drop (baseline minus the metric at the reference's mix) says whether the model
    itself got worse. ``mix_change`` is the total-variation distance between the two class mixes. None
    when a reference class has no current row (its recall is unknown). Classes are compared by
    :func:`_alike_class_names`: a float label 1.0, or True, is the class of a prediction 1.

    :param metric: one of ``MIX_METRICS``; precision, recall and f1 as the measurement computes them
        (:func:`~airflow_provider_agentic_mlops.core.metrics.score_predictions`): over ``labels``, of the
        last (positive) one when ``binary``, else macro-averaged, 0 where undefined. Their standard error
        is a bootstrap within each true class (at least one row's worth); accuracy's is binomial per class.
    :param labels: the classes the metric is computed over, as the measurement's; default the classes of
        the labels and predictions, sorted.
    :param binary: whether the metric is of the last of ``labels`` (default: at most two ``labels``).
    """
    if metric not in MIX_METRICS:
        raise ValueError(f"class_mix reads {', '.join(MIX_METRICS)}, not {metric!r}")
    ref_labels = pd.Series(np.asarray(reference_labels)).dropna()
    given = [np.asarray(list(labels))] if labels is not None and len(labels) else []
    ref_names, cur_true, cur_pred, *over = _alike_class_names(ref_labels, y_true, y_pred, *given)
    ref = ref_names.value_counts(normalize=True)
    cur = cur_true.value_counts(normalize=True)
    if ref.empty or any(c not in cur.index for c in ref.index):
        return None
    classes = sorted(set(ref.index) | set(cur.index))
    out = {
        "metric": metric,
        "reference_mix": {c: round(float(ref.get(c, 0.0)), 4) for c in classes[:20]},
        "current_mix": {c: round(float(cur.get(c, 0.0)), 4) for c in classes[:20]},
        "mix_change": 0.5 * sum(abs(float(ref.get(c, 0.0)) - float(cur.get(c, 0.0))) for c in classes),
    }
    if metric == "accuracy":
        adjusted, var = 0.0, 0.0
        for c, p in ref.items():
            rows = (cur_true == c).to_numpy()
            recall = float((cur_pred[rows] == c).mean())
            adjusted += p * recall
            var += p**2 * max(recall * (1 - recall), 1 / rows.sum()) / rows.sum()
        se = math.sqrt(var)
    else:
        averaged = list(over[0]) if over else sorted(set(cur_true) | set(cur_pred))
        adjusted, se = _metric_at_mix(metric, cur_true, cur_pred, ref, averaged, binary, seed)
    return {
        **out,
        "adjusted_current": adjusted,
        "adjusted_drop": baseline - adjusted,
        "adjusted_drop_se": math.sqrt(se**2 + baseline_se**2),
    }


def _metric_at_mix(
    metric: str,
    cur_true: pd.Series,
    cur_pred: pd.Series,
    ref: pd.Series,
    averaged: list[str],
    binary: bool | None,
    seed: int,
) -> tuple[float, float]:
    """``(precision, recall or f1 at the reference's mix ``ref``, its standard error)``: see :func:`class_mix`."""
    names = sorted(set(cur_true) | set(cur_pred) | set(averaged) | set(ref.index))
    code = {name: i for i, name in enumerate(names)}
    t, p = cur_true.map(code).to_numpy(), cur_pred.map(code).to_numpy()
    k = len(names)
    weights = np.zeros(k)
    for name, share in ref.items():
        weights[code[name]] = share
    wanted = [code[c] for c in averaged]
    positive = wanted[-1:] if (binary if binary is not None else len(averaged) <= 2) else wanted
    rows_of = [np.flatnonzero(t == i) for i in range(k)]

    def value(pred: np.ndarray) -> float:
        matrix = np.zeros((k, k))
        for i in range(k):
            if weights[i] > 0:  # the class's row of predictions, at its reference share
                matrix[i] = weights[i] * np.bincount(pred[rows_of[i]], minlength=k) / rows_of[i].size
        tp, predicted, true = np.diag(matrix)[positive], matrix[:, positive].sum(axis=0), matrix[positive].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            if metric == "precision":
                per_class = np.where(predicted > 0, tp / predicted, 0.0)
            elif metric == "recall":
                per_class = np.where(true > 0, tp / true, 0.0)
            else:
                per_class = np.where(predicted + true > 0, 2 * tp / (predicted + true), 0.0)
        return float(per_class.mean())

    adjusted = value(p)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(MIX_BOOTSTRAP):  # within each true class: the reference's shares stay fixed
        resampled = p.copy()
        for rows in rows_of:
            if rows.size:
                resampled[rows] = p[rows[rng.integers(0, rows.size, rows.size)]]
        draws.append(value(resampled))
    return adjusted, max(float(np.std(draws)), 1 / len(t))


def _class_names(values: Any) -> pd.Series:
    """Each value's class as text, one spelling per class: an integral number as an integer.

    A label column with a missing label is float (0.0, 1.0) while the predictions, or another window's
    labels, are integers (0, 1): compared as their text they would never be the same class.
    """
    series = pd.Series(np.asarray(values))
    if series.dtype.kind == "f":
        values = series.to_numpy()
        with np.errstate(invalid="ignore"):
            integral = (np.mod(values, 1) == 0) & (np.abs(values) < 2**53)  # NaN, inf: False
        names = series.astype(str)
        names[integral] = series[integral].astype(np.int64).astype(str)
        return names
    if series.dtype.kind == "O":
        return series.map(_class_name)
    return series.astype(str)


def _alike_class_names(*values: Any) -> list[pd.Series]:
    """Each of ``values`` (labels, predictions, of one frame or another) as :func:`_class_names` spells its
    classes, booleans as the numbers they equal (True as ``"1"``) when the others are not all booleans:
    an export that writes a classifier's output as True/False against 0/1 labels (or one window's labels
    as bool) holds the same classes, as accuracy reads them (True == 1). Booleans alone keep their names.
    """
    arrays = [np.asarray(v) for v in values]
    boolean = [_is_boolean(a) for a in arrays]
    if any(boolean) and not all(boolean):
        arrays = [_booleans_as_numbers(a) if b else a for a, b in zip(arrays, boolean, strict=True)]
    return [_class_names(a) for a in arrays]


def _is_boolean(values: np.ndarray) -> bool:
    """Whether every value is a boolean (numpy bool, or an object array of them, pandas' nullable
    ``boolean`` included; missing values aside)."""
    if values.dtype.kind == "b":
        return True
    return values.dtype.kind == "O" and values.size > 0 and pd.api.types.infer_dtype(values, skipna=True) == "boolean"


def _booleans_as_numbers(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "b":
        return values.astype(np.int64)
    return np.array([int(v) if isinstance(v, bool | np.bool_) else v for v in values.tolist()], dtype=object)


def _class_name(value: Any) -> str:
    if isinstance(value, float | np.floating) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _standard_error(
    task: str,
    metric: str,
    y_true: np.ndarray,
    labels: Any,
    proba: Any,
    value: float,
    seed: int,
    classes: list[Any] | None = None,
    over: list[Any] | None = None,
) -> float:
    n = len(y_true)
    if n == 0 or math.isnan(value):
        return math.nan
    if metric == "accuracy":
        return math.sqrt(max(value * (1 - value), 1 / n) / n)
    rng = np.random.default_rng(seed)
    m = min(n, SAMPLE_ROWS)
    stats = []
    for _ in range(60):
        idx = rng.integers(0, n, m)
        p = None if proba is None else np.asarray(proba)[idx]
        try:
            resample = compute_metrics(task, y_true[idx], np.asarray(labels)[idx], p, classes=classes, labels=over)  # type: ignore[arg-type]
            stats.append(resample[metric])
        except ValueError:
            continue
    finite = [s for s in stats if not math.isnan(s)]
    if len(finite) < 10:
        return math.nan
    # Floored at one row's worth (accuracy's binomial floor is 1/n too): on a few perfectly separated
    # rows every resample scores the same and the spread is 0, which is not "known exactly".
    floor = (abs(value) if metric in UNIT_METRICS else 1.0) / n
    return max(float(np.std(finite) * math.sqrt(m / n)), floor)


#: Metrics in the target's units or unbounded (the others lie in [0, 1], r2 at most 1): their
#: standard-error floor is relative to the value.
UNIT_METRICS = frozenset({"rmse", "mae", "log_loss"})


#: Labelled reference rows needed to calibrate CBPE's confidences; fewer: the raw confidences, said so.
MIN_CALIBRATION_ROWS = 100
#: Bootstrap resamples for the standard error of a calibrated estimate (calibration maps included)...
CALIBRATION_BOOTSTRAP = 50
#: ...within this many isotonic fits (k classes: k maps per resample), but at least this many resamples.
CALIBRATION_FITS, CALIBRATION_BOOTSTRAP_MIN = 200, 20


def estimate_performance(
    proba_reference: Any,
    proba_current: Any,
    *,
    reference_labels: Sequence[Any] | None = None,
    classes: Sequence[Any] | None = None,
    predicted: tuple[Sequence[Any], Sequence[Any]] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Confidence-based performance estimation (CBPE) of accuracy without labels, as NannyML's.

    The expected accuracy is the mean, over the current rows, of the probability that the row's
    predicted class is its label. Raw probabilities are rarely calibrated (a random forest's are pulled
    towards 0.5; a ``class_weight="balanced"`` model's overstate the rare class), so each class's
    probability is first calibrated on the labelled reference: an isotonic map from the model's
    probability of class ``c`` to "the label is ``c``" (binary: one map, of class 1; more classes: one
    per class, against the rest, the calibrated probabilities of a row normalised to sum 1). Calibrated
    per class, not as one map from the top confidence to "the prediction was right": that map pools
    the predicted classes, so it breaks when their mix shifts (a 0.7 for the rare class is right far
    less often than a 0.7 for the common one). The reference estimate is the measured reference
    accuracy; ``drop_se`` is bootstrapped over both frames, refitting the maps each time, so the
    calibration's own noise counts. Without at least ``MIN_CALIBRATION_ROWS`` labelled reference rows
    the raw probabilities are used and ``method`` says so. CBPE sees covariate shift only (not a changed
    relation between features and label), and it trusts that the calibration carries over to the
    shifted rows, so it is marked ``estimated``.

    :param proba_reference: class probabilities on reference rows, shape (n,) for class 1 or (n, k).
    :param proba_current: the same on current rows.
    :param reference_labels: the labels of the reference rows: they calibrate the probabilities.
    :param classes: the class of each probability column (the model's ``classes_``); default 0..k-1.
    :param predicted: the model's predicted classes on the reference and the current rows (``predict``,
        which may use another threshold than 0.5); default the most probable class.
    :param seed: the bootstrap's seed.
    """
    ref_p, cur_p = _class_probabilities(proba_reference), _class_probabilities(proba_current)
    known = list(classes) if classes is not None else list(range(ref_p.shape[1]))
    names = [_class_name(c) for c in known]
    if len(names) != ref_p.shape[1] or cur_p.shape[1] != ref_p.shape[1]:
        raise ValueError(
            f"CBPE: {ref_p.shape[1]} reference and {cur_p.shape[1]} current probability columns for classes {names}"
        )
    if predicted is None:
        ref_pred, cur_pred = ref_p.argmax(axis=1), cur_p.argmax(axis=1)
    else:
        ref_pred, cur_pred = (_class_index(p, known) for p in predicted)
    labels = None if reference_labels is None else _class_index(reference_labels, known)
    if labels is not None and (labels.shape != ref_pred.shape or labels.size < MIN_CALIBRATION_ROWS):
        labels = None
    if labels is None:
        ref_acc, cur_acc = _chosen(ref_p, ref_pred), _chosen(cur_p, cur_pred)
        ref_conf, cur_conf = _chosen_each(ref_p, ref_pred), _chosen_each(cur_p, cur_pred)
        drop_se = math.sqrt(ref_conf.var() / len(ref_conf) + cur_conf.var() / len(cur_conf))
        method = "CBPE (mean probability of the predicted class; not calibrated: no labelled reference)"
    else:
        correct = (labels == ref_pred).astype(np.float64)
        ref_acc = float(correct.mean())
        expected = _expected_correct(ref_p, labels, cur_p, cur_pred)
        cur_acc = float(expected.mean())
        # The calibration's noise: the maps refitted on resampled reference rows, read on (at most
        # SAMPLE_ROWS x 10 of) the current rows; the current rows' own noise, the variance of a mean, added.
        rng = np.random.default_rng(seed)
        sub = np.arange(len(cur_p))
        if sub.size > 10 * SAMPLE_ROWS:
            sub = rng.choice(sub.size, 10 * SAMPLE_ROWS, replace=False)
        drops = []
        n_maps = 1 if ref_p.shape[1] == 2 else ref_p.shape[1]
        for _ in range(max(CALIBRATION_BOOTSTRAP_MIN, min(CALIBRATION_BOOTSTRAP, CALIBRATION_FITS // n_maps))):
            r = rng.integers(0, len(labels), len(labels))
            drops.append(correct[r].mean() - _expected_correct(ref_p[r], labels[r], cur_p[sub], cur_pred[sub]).mean())
        drop_se = math.sqrt(float(np.var(drops)) + float(expected.var()) / len(expected))
        method = f"CBPE (probabilities calibrated per class on {labels.size} labelled reference rows, isotonic)"
    return {
        "kind": "estimated",
        "method": method,
        "metric": "accuracy",
        "reference_estimate": ref_acc,
        "current_estimate": cur_acc,
        "drop": ref_acc - cur_acc,
        "drop_se": drop_se,
        "calibrated": labels is not None,
        "estimated": True,
    }


def _class_probabilities(proba: Any) -> np.ndarray:
    """Probabilities as (n, k) columns: a 1-D array (or one column) is class 1's, of classes 0 and 1."""
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    return np.column_stack([1 - p, p]) if p.ndim == 1 else p


def _class_index(values: Any, classes: Sequence[Any]) -> np.ndarray:
    """The column of each value's class among ``classes`` (compared as :func:`_alike_class_names`: labels
    True/False are a model's classes 1/0); -1 if none."""
    spelled, names = _alike_class_names(values, list(classes))
    position = {name: i for i, name in enumerate(names)}
    return spelled.map(position).fillna(-1).to_numpy(dtype=np.int64)


def _chosen_each(p: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Each row's probability of its predicted class (0 for a class the probabilities do not cover)."""
    rows = np.arange(len(p))
    return np.where(index >= 0, p[rows, np.clip(index, 0, None)], 0.0)


def _chosen(p: np.ndarray, index: np.ndarray) -> float:
    return float(_chosen_each(p, index).mean())


def _expected_correct(ref_p: np.ndarray, labels: np.ndarray, cur_p: np.ndarray, cur_pred: np.ndarray) -> np.ndarray:
    """Per current row, the calibrated probability that its predicted class is its label. Calibrated on
    the reference: per class an isotonic map from the model's probability of the class to "the label
    is that class" (two classes: class 1's map, class 0 its complement), a row's calibrated
    probabilities normalised to sum 1 (a row no map gives any probability keeps its raw ones)."""
    if ref_p.shape[1] == 2:
        q1 = _calibration(ref_p[:, 1], (labels == 1).astype(np.float64)).predict(cur_p[:, 1])
        return np.where(cur_pred == 1, q1, np.where(cur_pred == 0, 1 - q1, 0.0))
    q = np.column_stack(
        [
            _calibration(ref_p[:, k], (labels == k).astype(np.float64)).predict(cur_p[:, k])
            for k in range(ref_p.shape[1])
        ]
    )
    total = q.sum(axis=1, keepdims=True)
    return _chosen_each(np.where(total > 0, q / np.where(total > 0, total, 1.0), cur_p), cur_pred)


def _calibration(probability: np.ndarray, outcome: np.ndarray) -> Any:
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(probability, outcome)


# -- severity -------------------------------------------------------------------------------------


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (false-discovery rate), in the input order."""
    p = np.asarray(p_values, dtype=np.float64)
    n = p.size
    if n == 0:
        return []
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adjusted, 1.0)
    return out.tolist()


#: Resamples of the reference that give a distance's sampling noise (fewer when the first are far below it).
NOISE_RESAMPLES = 40
#: Resamples drawn first; a score over ``NOISE_CLEAR`` times the largest of them is far past the noise.
NOISE_FIRST, NOISE_CLEAR = 10, 3.0
#: Rows of each resample at most, current and reference side; larger frames' noise is scaled down.
NOISE_CURRENT_ROWS, NOISE_REFERENCE_ROWS = 2000, 5000
#: Reference rows the resamples are drawn from at most (a random sample of a larger reference).
NOISE_POOL_ROWS = 50_000
#: How a distance's noise shrinks with the effective sample size ``1 / (1 / n_ref + 1 / n_cur)``: as its
#: square root (Wasserstein, Jensen-Shannon distance) or as itself (the divergences PSI and KL).
NOISE_RATES = {"wasserstein": 0.5, "jensenshannon": 0.5, "psi": 1.0, "kl_div": 1.0}
#: False-discovery rate at which a distance past its threshold is told from sampling noise.
NOISE_FDR = 0.05


def sampling_noise(reference: pd.DataFrame, summary: DriftSummary, seed: int = 0) -> dict[str, dict[str, float]]:
    """How likely sampling noise alone scores each distance column past its threshold as high as it did.

    Evidently switches from tests to distances (normed Wasserstein, Jensen-Shannon) above 1,000
    reference rows, whatever the current window's size; a distance has no p-value, and on a window of
    a few hundred rows its noise is about its threshold (50 unchanged normal columns, 2,000 reference
    rows, 200 current: 15 past 0.1). For each column the summary calls drifted with a distance that has
    a fast path, pairs of samples are drawn from the reference (with replacement, from at most
    ``NOISE_POOL_ROWS`` of its rows, at the sizes of the reference and the current column, at most
    ``NOISE_REFERENCE_ROWS`` and ``NOISE_CURRENT_ROWS``; the scores of larger frames scaled down by
    ``NOISE_RATES``) and scored with the column's method: scores of unchanged data at these sizes
    (``NOISE_RESAMPLES``; ``NOISE_FIRST`` when the score is over ``NOISE_CLEAR`` times the largest of
    those). ``p`` is the chance of the column's score or more under a lognormal fitted to them
    (:func:`_beyond_noise`), ``floor`` its 95th percentile. Seeded: the same data give the same answer.
    A few milliseconds per column checked.

    :returns: column -> ``{"p": ..., "floor": ...}``, for the columns checked.
    """
    checked = [
        (i, c)
        for i, c in enumerate(summary.columns.values())
        if c.drifted and c.method in NOISE_RATES and c.column in reference.columns
    ]
    if not checked or len(reference) == 0:
        return {}
    pool = reference
    if len(pool) > NOISE_POOL_ROWS:  # rows first: a copy of 50,000 rows, not of every row of the columns
        pool = pool.iloc[np.random.default_rng(seed).choice(len(pool), NOISE_POOL_ROWS, replace=False)]
    null_share = summary.data_quality.get("null_share") or {}
    out: dict[str, dict[str, float]] = {}
    for i, col in checked:
        ref = ColumnData(pool[col.column])
        n_ref = ref.n * len(reference) / len(pool)  # the reference's values, counted on the pool
        n_cur = summary.n_current * (1 - (null_share.get(col.column) or 0.0))
        if ref.n < 2 or n_cur < 1:
            continue
        rng = np.random.default_rng([seed, i])
        m_ref, m_cur = round(min(n_ref, NOISE_REFERENCE_ROWS)), round(min(n_cur, NOISE_CURRENT_ROWS))
        draw = _resampler(ref, col.type)
        scale = ((1 / n_ref + 1 / n_cur) / (1 / m_ref + 1 / m_cur)) ** NOISE_RATES[col.method]
        scores: list[float] = []
        while len(scores) < NOISE_RESAMPLES:
            scores.append(score_fast(col.method, draw(rng, m_ref), draw(rng, m_cur)) * scale)
            if len(scores) == NOISE_FIRST and col.score > NOISE_CLEAR * max(scores):
                break
        p, floor = _beyond_noise(col.score, np.asarray(scores))
        out[col.column] = {"p": p, "floor": floor}
    return out


def _beyond_noise(score: float, null: np.ndarray) -> tuple[float, float]:
    """``(p, floor)``: the chance of ``score`` or more, and the 95th percentile, under a lognormal with
    the mean and variance of the resampled scores ``null`` (its log read with Student's t, as a new
    draw from a normal whose mean and variance were estimated on ``len(null)`` values: a few dozen
    resamples estimate them roughly, and the tail is what the false-discovery control reads)."""
    from scipy import stats

    mean, var = float(null.mean()), float(null.var(ddof=1))
    if mean <= 0 or var <= 0:  # every resample scored the same: anything above it is not noise
        return (0.0 if score > mean else 1.0), max(mean, 0.0)
    log_var = math.log1p(var / mean**2)
    log_mean, log_sd = math.log(mean) - log_var / 2, math.sqrt(log_var * (1 + 1 / null.size))
    dof = null.size - 1
    p = 1.0 if score <= 0 else float(stats.t.sf((math.log(score) - log_mean) / log_sd, dof))
    return p, math.exp(log_mean + float(stats.t.ppf(0.95, dof)) * log_sd)


def _resampler(ref: ColumnData, col_type: str) -> Any:
    """``draw(rng, n)``: n values drawn with replacement from the reference column, as a ColumnData of
    type ``col_type``: numbers as themselves, categories as codes (the methods read only their counts)."""
    if ref.numeric:
        values = ref.values

        def draw(rng: np.random.Generator, n: int) -> ColumnData:
            return _typed(pd.Series(values[rng.integers(0, values.size, n)]), col_type)

    else:
        counts = np.array(list(ref.counts.values()), dtype=np.float64)
        share = counts / counts.sum()

        def draw(rng: np.random.Generator, n: int) -> ColumnData:
            return _typed(pd.Series(rng.choice(share.size, n, p=share)), col_type)

    return draw


def _typed(series: pd.Series, col_type: str) -> ColumnData:
    data = ColumnData(series)
    data.type = col_type
    return data


def drift_severity(
    summary: DriftSummary,
    importance: Mapping[str, float] | None = None,
    noise: Mapping[str, Mapping[str, float]] | None = None,
    excluded: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Per-column effect size relative to the threshold, FDR-controlled, weighted by importance.

    ``effect`` is score/threshold for distances and threshold/p for tests (> 1: past the threshold).
    A column counts as drifted only when it is past its threshold beyond what chance gives across
    the columns: Benjamini-Hochberg over one family, the tests' p-values and, with ``noise``
    (:func:`sampling_noise`), the distances' chance of sampling noise scoring as high (1 for a
    distance within its threshold); a test is counted at its threshold, a distance at ``NOISE_FDR``.
    Many columns tested on a few hundred rows give chance hits, and so do distances on a few hundred
    rows. A column past its threshold but not counted is ``within_noise``. Distances without a noise
    estimate (no ``noise``, a method without a fast path, a column too sparse to resample) count as
    the summary says.
    ``weighted_share`` is the share of the model's importance that sits on drifted columns (equal
    weights without importances). ``n_past_threshold`` of the ``n_columns`` columns weighed are past their
    threshold before the false-discovery control: the plain count, over the same columns (``excluded`` left out).

    :param importance: feature -> importance (any scale, >= 0); columns not in it weigh nothing.
    :param noise: column -> ``{"p", "floor"}`` from :func:`sampling_noise`, for distance columns.
    :param excluded: columns that are no input of the model -> their role (``label_column``,
        ``prediction_column``): left out of the weights and the false-discovery family, and listed as
        ``excluded``. Their drift is a changed class mix or target, and the model's output: the summary's
        columns and the performance's ``class_mix`` say it, not the share of the features that moved.
    """
    excluded = {str(c): role for c, role in (excluded or {}).items() if c in summary.columns}
    cols = [c for c in summary.columns.values() if c.column not in excluded]
    family: dict[str, float] = {}
    for c in cols:
        method = DRIFT_METHODS.get(c.method)
        if method and method.is_p_value:
            family[c.column] = _finite(c.score, 1.0)
        elif noise is not None and c.column in noise:  # a distance past its threshold: its chance of being noise
            family[c.column] = float(noise[c.column]["p"])
        elif noise is not None and c.method in NOISE_RATES and not c.drifted:  # within its threshold
            family[c.column] = 1.0
    noise = noise or {}
    adjusted = dict(zip(family, benjamini_hochberg(list(family.values())), strict=True))
    raw = {c.column: _weight(importance.get(c.column)) for c in cols} if importance else {}
    if not importance:
        raw = {c.column: 1.0 for c in cols}
        weighted_by = "equal weights (no feature importance available)"
    elif sum(raw.values()) <= 0:  # importances that tell nothing must not make every drift weigh nothing
        raw = {c.column: 1.0 for c in cols}
        weighted_by = ZERO_IMPORTANCE
    else:
        weighted_by = "feature importance"
    total = sum(raw.values()) or 1.0
    rows = []
    for c in cols:
        method = DRIFT_METHODS.get(c.method)
        p_adj, effect, extra = adjusted.get(c.column), c.severity, {}
        if p_adj is None:
            drifted = c.drifted
        elif method and method.is_p_value:
            drifted = bool(method.drifted(p_adj, c.threshold))
            effect = math.inf if p_adj <= 0 else c.threshold / p_adj
        else:
            drifted = bool(c.drifted and p_adj <= NOISE_FDR)
            if c.column in noise:
                extra = {"noise_floor": noise[c.column]["floor"]}
        rows.append(
            {
                "column": c.column,
                "effect": min(_finite(effect, MAX_EFFECT), MAX_EFFECT),
                "weight": raw[c.column] / total,
                "drifted": drifted,
                "p_adjusted": p_adj,
                **extra,
            }
        )
    within_noise = sum(1 for c, r in zip(cols, rows, strict=True) if c.drifted and not r["drifted"])
    rows.sort(key=lambda r: (-r["weight"] * r["effect"], r["column"]))
    weighted_share = sum(r["weight"] for r in rows if r["drifted"])
    out = {
        "weighted_share": weighted_share,
        "weighted_by": weighted_by,
        "n_drifted_after_fdr": sum(1 for r in rows if r["drifted"]),
        "n_past_threshold": sum(1 for c in cols if c.drifted),  # the plain count, over the same columns
        "n_columns": len(rows),
        "fdr_columns": len(family),
        "within_noise": within_noise,
        "top": rows[:10],
    }
    if excluded:
        out["excluded"] = excluded
    if within_noise:
        out["noise"] = (
            f"{within_noise} {'column' if within_noise == 1 else 'columns'} past their threshold "
            f"{'is' if within_noise == 1 else 'are'} within sampling noise at {summary.n_current} current rows "
            f"(false-discovery rate {NOISE_FDR:.0%} over {len(family)} columns): not counted"
        )
    return out


#: How the severity says that the importances were all zero (or not finite) and equal weights were used.
ZERO_IMPORTANCE = "equal weights (the feature importances are all zero or not finite: they tell nothing)"


def _weight(value: Any) -> float:
    """An importance as a weight: finite and >= 0, else 0."""
    weight = as_float(value)
    return weight if weight is not None and math.isfinite(weight) and weight > 0 else 0.0


def _finite(value: Any, default: float) -> float:
    """A score as a finite float: ``default`` when it is not a number, ``MAX_EFFECT`` when infinite."""
    number = as_float(value)
    if number is None:
        return default
    return MAX_EFFECT if math.isinf(number) else number


def feature_importance(
    model: Any, features: Sequence[str], reference: pd.DataFrame | None = None, labels: Any = None, seed: int = 0
) -> tuple[dict[str, float] | None, str]:
    """``(importance per feature, source)``: the model's own ``feature_importances_`` or ``|coef_|``
    (times the feature's spread, so units do not matter), else permutation importance on at most
    ``SAMPLE_ROWS`` labelled reference rows, else ``(None, why)``.

    The model's own importances are matched to the features (:func:`_model_input_features`): a
    pipeline's transformers reorder, encode and drop columns, so its estimator's importances are in
    the transformers' output order, each column traced back to the feature it was made from.
    Encoded columns (one-hot) add up to their feature; a feature the model never sees weighs 0.
    Importances of columns made from several features (PCA components) cannot be matched:
    permutation importance, which perturbs the features themselves, answers instead.
    """
    estimator = getattr(model, "steps", None) and model.steps[-1][1] or model
    inputs, unmatched = _model_input_features(model, features)
    own = getattr(estimator, "feature_importances_", None)
    if own is not None and inputs is not None and len(own) == len(inputs):
        return _per_feature(features, inputs, own), "the model's feature_importances_"
    coef = getattr(estimator, "coef_", None)
    if coef is not None and reference is not None and not _transformers(model) and inputs is not None:
        coef = np.abs(np.asarray(coef, dtype=np.float64))
        coef = coef.sum(axis=0) if coef.ndim == 2 else coef
        if len(coef) == len(inputs):
            # |coef| x std is how far the output moves per one-std shift of the feature. No floor for
            # coefficients indistinguishable from zero: the model reads a column it fitted to noise
            # all the same, and a shift of it moves every prediction (measured: a noise column with 13%
            # of the importance, shifted 1-4 std, cost accuracy 0.02-0.08 and a retrain gained it back).
            spread = np.nan_to_num(reference[inputs].std(numeric_only=False).to_numpy(dtype=np.float64))
            return _per_feature(features, inputs, coef * spread), "the model's |coef_| x feature std"
    if reference is None or labels is None:
        if unmatched and (own is not None or coef is not None):
            return (
                None,
                f"the model's importances are for {unmatched}; no labelled reference for permutation importance",
            )
        return None, "no importances on the model and no labelled reference for permutation importance"
    from sklearn.inspection import permutation_importance

    frame = reference[list(features)]
    y = np.asarray(labels)
    if len(frame) > SAMPLE_ROWS:
        idx = np.random.default_rng(seed).choice(len(frame), SAMPLE_ROWS, replace=False)
        frame, y = frame.iloc[idx], y[idx]
    # Scored by the log-loss of the probabilities when the model gives them: accuracy is blind to a
    # classifier that predicts the majority class on every row (1-5 % positives, threshold 0.5), so
    # every feature would get importance 0 while the probabilities still move with the features.
    scorers: list[tuple[Any, str]] = [(None, "permutation importance on the reference")]
    if hasattr(model, "predict_proba"):
        scorers.insert(
            0, (_log_loss_scorer(y), "permutation importance (log-loss of the probabilities) on the reference")
        )
    failure = ""
    for scoring, source in scorers:
        try:
            result = permutation_importance(model, frame, y, scoring=scoring, n_repeats=3, random_state=seed)
        except Exception as err:  # noqa: BLE001 - an importance we cannot compute is equal weights, said so
            failure = f"permutation importance failed: {type(err).__name__}: {str(err)[:200]}"
            continue
        return {f: _weight(v) for f, v in zip(features, result.importances_mean, strict=True)}, source
    return None, failure


def _model_input_features(model: Any, features: Sequence[str]) -> tuple[list[str] | None, str]:
    """``(the feature behind each column the model's estimator reads, "")``, or ``(None, why not)``.

    A pipeline's columns are followed through its transformers (:func:`_step_sources`): a
    ColumnTransformer's output column comes from the columns its own transformer read (whatever the
    step is named), and a column that transformer makes out of several is told apart by name. An
    estimator fitted on a frame (alone, or in a pipeline whose other steps are ``"passthrough"``)
    names its columns in ``feature_names_in_``; one fitted on an array reads the features by
    position, as it predicts.
    """
    transformers = _transformers(model)
    if transformers:
        first = getattr(transformers[0], "feature_names_in_", None)
        names = [str(c) for c in first] if first is not None else list(features)
        try:
            columns, sources = _through(transformers, names)
        except Exception as err:  # noqa: BLE001 - a transformer without output names: importances cannot be matched
            return None, f"the pipeline's columns, which its transformers do not name ({type(err).__name__})"
        known = set(features)
        inputs = [None if i is None or names[i] not in known else names[i] for i in sources]
    else:
        estimator = getattr(model, "steps", None) and model.steps[-1][1] or model
        fitted = getattr(estimator, "feature_names_in_", None)
        if fitted is None:
            return list(features), ""
        columns = [str(c) for c in fitted]
        inputs = [_feature_of(c, features, set(features)) for c in columns]
    unmatched = [c for c, f in zip(columns, inputs, strict=True) if f is None]
    if unmatched:
        more = f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else ""
        return None, f"columns {', '.join(map(repr, unmatched[:5]))}{more}, which are none of the features"
    return [str(f) for f in inputs], ""


def _transformers(model: Any) -> list[Any]:
    """A pipeline's transformers before its estimator, without the ``"passthrough"`` (or None) steps
    that leave the columns as they are; ``[]`` for a bare estimator. A pipeline without any reads
    the features as its estimator does."""
    return _active((getattr(model, "steps", None) or [])[:-1])


def _active(steps: Sequence[tuple[str, Any]]) -> list[Any]:
    return [step for _, step in steps if not (step is None or isinstance(step, str) and step == "passthrough")]


def _through(steps: Sequence[Any], inputs: Sequence[str]) -> tuple[list[str], list[int | None]]:
    """The names of the columns out of transformers applied in turn to columns ``inputs``, and for
    each the position in ``inputs`` of the column it comes from (None: from several, or unknown)."""
    names: list[str] = list(inputs)
    sources: list[int | None] = list(range(len(inputs)))
    for step in steps:
        names, picked = _step_sources(step, names)
        sources = [None if i is None else sources[i] for i in picked]
    return names, sources


def _step_sources(step: Any, inputs: Sequence[str]) -> tuple[list[str], list[int | None]]:
    """One transformer's output column names and, for each, the position of its input column.

    A ColumnTransformer is followed through its fitted parts (``transformers_``, ``output_indices_``):
    an output column belongs to the columns its own part read, so neither the part's name (a step
    named ``country`` that encodes ``city``) nor ``verbose_feature_names_out`` matters. Any other
    transformer (and a part that reads several columns) is matched by name (:func:`_feature_of`):
    ``merchant_a`` is ``merchant``'s; every column out of a transformer of one column is that column's.
    """
    if getattr(step, "steps", None) is not None:
        return _through(_active(step.steps), inputs)
    outputs = [str(c) for c in step.get_feature_names_out(list(inputs))]
    parts, slices = getattr(step, "transformers_", None), getattr(step, "output_indices_", None)
    if parts is None or slices is None:
        return outputs, [_input_of(c, inputs) for c in outputs]
    sources: list[int | None] = [None] * len(outputs)
    for name, part, columns in parts:
        where, picked = slices.get(name), _selected(columns, inputs)
        if where is None or picked is None or where.stop <= where.start:
            continue  # dropped (no output), or a selection we cannot read: its columns stay unmatched
        inner: list[int | None] = list(range(len(picked)))  # "passthrough"
        if not isinstance(part, str):
            inner = _step_sources(part, [inputs[i] for i in picked])[1]
        if len(inner) == where.stop - where.start:
            sources[where] = [None if i is None else picked[i] for i in inner]
    return outputs, sources


def _selected(columns: Any, inputs: Sequence[str]) -> list[int] | None:
    """The positions in ``inputs`` of a ColumnTransformer part's column selection (names, positions,
    a boolean mask or a slice), or None when it cannot be read."""
    n = len(inputs)
    if isinstance(columns, slice):
        if isinstance(columns.start, str) or isinstance(columns.stop, str):  # by name, both ends included
            return [int(i) for i in pd.Series(range(n), index=list(inputs)).loc[columns]]
        return list(range(n))[columns]
    values = [columns] if isinstance(columns, (str, int, np.integer)) else list(columns)
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return [i for i, keep in enumerate(values) if keep] if len(values) == n else None
    if all(isinstance(v, (int, np.integer)) for v in values):
        return [range(n)[int(v)] for v in values] if all(-n <= int(v) < n for v in values) else None
    position = {name: i for i, name in enumerate(inputs)}
    return [position[str(v)] for v in values] if all(str(v) in position for v in values) else None


def _input_of(column: str, inputs: Sequence[str]) -> int | None:
    """The position of the input a transformer's output column is named after, else of its only input."""
    name = _feature_of(column, inputs, set(inputs))
    if name is not None:
        return list(inputs).index(name)
    return 0 if len(inputs) == 1 else None


def _feature_of(column: str, features: Sequence[str], names: set[str]) -> str | None:
    """The name among ``features`` a column is named after: itself, itself after a ``name__`` prefix
    (a FeatureUnion's), or as an encoding of it (``merchant_a``: the longest name it starts with,
    then ``_``); else None."""
    candidates = [column] + [column[i + 2 :] for i in range(len(column)) if column.startswith("__", i)]
    for name in candidates:
        if name in names:
            return name
    for name in candidates:
        encoded = [f for f in features if name.startswith(f"{f}_")]
        if encoded:
            return max(encoded, key=len)
    return None


def _per_feature(features: Sequence[str], inputs: Sequence[str], values: Any) -> dict[str, float]:
    """Importances of the model's columns added up per feature; a feature it does not read weighs 0."""
    out = dict.fromkeys(features, 0.0)
    for feature, value in zip(inputs, np.asarray(values, dtype=np.float64), strict=True):
        out[feature] += float(value)
    return out


def _log_loss_scorer(y: np.ndarray) -> Any:
    """A scorer (higher is better) of the negative log-loss of ``predict_proba``, over the model's
    classes (``classes_``) or the labels', so a sample that lacks a class still scores."""
    from sklearn.metrics import log_loss

    def score(estimator: Any, x: pd.DataFrame, y_true: Any) -> float:
        classes = getattr(estimator, "classes_", None)
        labels = list(classes) if classes is not None else sorted(pd.unique(np.asarray(y)))
        return -float(log_loss(y_true, estimator.predict_proba(x), labels=labels))

    return score


def extrapolation(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str],
    importance: Mapping[str, float] | None = None,
    categorical: Collection[str] = (),
) -> dict[str, Any] | None:
    """The share of current rows the champion must extrapolate on: a feature it relies on (at least
    the average importance; every feature without importances) outside what the reference holds: a
    numeric one outside the reference's finite [min, max] (infinite values count with the nulls, not
    here), a categorical one (in ``categorical``) at a category the reference never had (a new
    region, which a one-hot encoder maps to all zeros). ``excess_share`` is that share less what
    unchanged data gives by chance (a small reference's range is narrow: each new value falls outside
    it with probability 2 / (n + 1); a rare category it missed: the share of its categories seen once,
    Good-Turing's estimate of the unseen ones), and ``beyond_chance`` whether the rows outside are
    more than chance gives (:func:`_beyond_chance`).

    No model has seen such inputs: trees predict the edge of their range, linear models extend a
    line, an unknown category reads as none. It is label-free evidence of harm that drift scores miss
    (a +1 std shift of a bounded feature leaves a third of the rows outside) and that CBPE does not see
    (a forest stays confident past its range). None when no feature is numeric in both frames or
    categorical.

    :param categorical: the columns read as categories (the summary's categorical ones); other columns
        that are not numeric in both frames (text, ids) are not read.
    """
    numeric = {
        f
        for f in features
        if f in reference.columns
        and f in current.columns
        and ColumnData(reference[f]).numeric
        and ColumnData(current[f]).numeric
    }
    checked = [
        f for f in features if f in numeric or (f in categorical and f in reference.columns and f in current.columns)
    ]
    if not checked or len(current) == 0:
        return None
    raw = {f: _weight(importance.get(f)) if importance else 1.0 for f in checked}
    weighted_by = "feature importance (at least the average)" if importance else "every feature"
    if sum(raw.values()) <= 0:  # importances that tell nothing: every feature, said so
        raw, weighted_by = {f: 1.0 for f in checked}, "every feature (the feature importances are all zero)"
    total = sum(raw.values())
    relied = [f for f in checked if raw[f] / total >= 1 / len(checked) - 1e-12]
    outside_any = np.zeros(len(current), dtype=bool)
    per_column: dict[str, float] = {}
    inside_by_chance, range_var = 1.0, 0.0
    for f in relied:
        if f not in numeric:
            outside, unseen_by_chance, var = _unseen_categories(reference[f], current[f])
            inside_by_chance *= 1 - unseen_by_chance
            range_var += var
            per_column[f] = float(outside.mean())
            outside_any |= outside
            continue
        ref = ColumnData(reference[f]).values
        if ref is None or ref.size == 0:
            continue
        inside_by_chance *= 1 - 2 / (ref.size + 1)  # a new draw of the same data passes min or max
        # ... with a probability that varies with the reference drawn: Beta(2, n - 1), this variance
        range_var += 2 * (ref.size - 1) / ((ref.size + 1) ** 2 * (ref.size + 2))
        # in the type ColumnData reads (a duration in seconds), NaN for a null
        values = comparable_values(current[f]).to_numpy(dtype=np.float64, na_value=np.nan)
        # finite values against the finite range: an infinity is no input the range can place (the
        # reference's own infinities would stretch it to everything); a share of them that moved
        # is a null share that moved, judged as nulls are (the summary's ``null_share``)
        with np.errstate(invalid="ignore"):
            outside = np.isfinite(values) & ((values < ref.min()) | (values > ref.max()))
        per_column[f] = float(outside.mean())
        outside_any |= outside
    top = sorted(per_column.items(), key=lambda kv: -kv[1])[:MAX_EXTRAPOLATION_COLUMNS]
    share = float(outside_any.mean())
    expected = 1 - inside_by_chance
    return {
        "share_rows": share,
        "expected_by_chance": expected,
        "excess_share": max(share - expected, 0.0),
        "beyond_chance": _beyond_chance(int(outside_any.sum()), len(current), expected, range_var),
        "columns": {f: round(v, 4) for f, v in top if v > 0},
        "features_checked": len(relied),
        "weighted_by": weighted_by,
    }


def _unseen_categories(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, float, float]:
    """``(rows at a category the reference never had, the chance of one on unchanged data, its variance)``.

    Categories are compared as the vocabulary check compares them (2 and 2.0, 2 and "2" alike); nulls are
    no category. The chance is Good-Turing's estimate of the unseen categories' share, the reference's
    share of categories seen once (n1 / n), its variance about (n1 + 2 n2) / n^2."""
    ref, cur = ColumnData(reference), ColumnData(current)  # read alike: bytes as text, 2 and 2.0 as one
    seen = set(map(str, ref.counts))
    unseen = [k for k in cur.counts if k not in ref.counts and str(k) not in seen]  # the values counts read
    outside = cur.series.isin(unseen).to_numpy(dtype=bool) if unseen else np.zeros(len(current), dtype=bool)
    n = ref.n
    if n == 0:
        return outside, 1.0, 0.0
    once = sum(1 for c in ref.counts.values() if c == 1)
    twice = sum(1 for c in ref.counts.values() if c == 2)
    return outside, once / n, (once + 2 * twice) / n**2


#: One-sided level at which more rows outside the reference's range than chance gives is extrapolation.
EXTRAPOLATION_ALPHA = 0.025


def _beyond_chance(outside: int, rows: int, expected: float, range_var: float) -> bool:
    """Whether ``outside`` of ``rows`` rows past the reference's range is more than unchanged data gives.

    Each row passes it with probability ``expected`` on average over the references one could have
    drawn; for this reference that probability varies by ``range_var`` (a small reference's range may
    be narrow). Beyond chance: the binomial chance of as many rows or more, at that probability plus
    two of its standard deviations, is below ``EXTRAPOLATION_ALPHA``."""
    if outside == 0:
        return False
    plausible = min(expected + 2 * math.sqrt(range_var), 1.0)
    if plausible <= 0:
        return True
    from scipy import stats

    return bool(stats.binom.sf(outside - 1, rows, plausible) < EXTRAPOLATION_ALPHA)


# -- the table ------------------------------------------------------------------------------------


def build_evidence(
    summary: DriftSummary,
    *,
    faults: list[dict[str, str]],
    performance: dict[str, Any] | None = None,
    importance: Mapping[str, float] | None = None,
    importance_source: str = "",
    extrapolation: dict[str, Any] | None = None,
    notes: Sequence[str] = (),
    performance_missing: Mapping[str, str] | None = None,
    champion: Mapping[str, str] | None = None,
    noise: Mapping[str, Mapping[str, float]] | None = None,
    excluded: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The evidence table: what the rules read and the LLM sees, strongest evidence first.

    :param performance_missing: without ``performance``, why: ``{"kind", "reason"}``, kind ``failed``
        (the measurement raised: said, never a silent "nothing hurts"), ``champion_unavailable`` (a
        configured champion could not be loaded), ``no_predictions`` (labels but nothing to predict
        them) or ``no_labels``.
    :param champion: the configured champion's ``{"uri", "status", "reason"}`` (:func:`gather_evidence`).
    :param noise: the distance columns' sampling noise (:func:`sampling_noise`), for the severity.
    :param excluded: columns that are no input of the model -> their role (``label_column``,
        ``prediction_column``), left out of the severity (:func:`drift_severity`).
    """
    severity = drift_severity(summary, importance, noise, excluded)
    if severity["weighted_by"] == ZERO_IMPORTANCE:
        severity["importance_source"] = f"{ZERO_IMPORTANCE}; from {importance_source or 'the importances given'}"
    else:
        severity["importance_source"] = importance_source or severity["weighted_by"]
    return {
        "faults": faults,
        "performance": performance,
        "performance_missing": None if performance is not None else dict(performance_missing or {}) or None,
        "champion": dict(champion) if champion else None,
        "severity": severity,
        "extrapolation": extrapolation,
        "n_current": summary.n_current,
        "n_reference": summary.n_reference,
        "notes": list(notes),
    }


def gather_evidence(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    summary: DriftSummary,
    settings: DriftSettings | Mapping[str, Any] | None = None,
    *,
    model: Any = None,
    baseline: float | None = None,
    baseline_n: int | None = None,
    baseline_source: str = "",
    notes: Sequence[str] = (),
    logged_metrics: Mapping[str, Any] | None = None,
    champion: Mapping[str, str] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Everything :func:`build_evidence` needs, from the frames and (optionally) the champion.

    Predictions come from ``prediction_column`` or, without it, from ``model`` on ``feature_columns``
    (with ``predict_proba`` and ``classes_`` when the metric needs class probabilities, ``roc_auc`` or
    ``log_loss``; a pyfunc model's output is read as validation reads it). A metric of probabilities
    that the predictions cannot give (labels only) is measured in accuracy instead, said in the notes.
    The baseline is ``performance_baseline`` when set, else ``baseline`` (e.g. the metric logged for
    the champion on held-out data), else the metric's value in ``logged_metrics``, else, when
    ``reference_is_holdout``, the champion's metric on the labelled reference rows. When the columns the
    champion reads are known (``feature_columns``, or the model's fitted names or signature), a fault in
    another column does not keep the champion from running, and values past the reference range there
    (a running order id exported with the rows) are a note, not a fault. Nor does a fault in the label
    or prediction column, none of its inputs: the performance measured against it says so in the notes.
    A column null throughout the reference with values now that the champion reads (or any, its inputs
    unknown) is a fault (``reference_lost``); one it does not read that is the label on the labelled rows
    is listed in ``label_leaks``.

    :param settings: the drift parameters (:class:`~airflow_provider_agentic_mlops.core.config.DriftSettings`;
        label and prediction columns, ``task``, ``feature_columns``, ``performance_metric``,
        ``performance_baseline``, ``reference_is_holdout``); ``overrides`` are its fields as keywords.
    :param model: the champion (scikit-learn-like: ``predict``, maybe ``predict_proba``), or None.
    :param baseline: the champion's metric logged on held-out data, and ``baseline_n`` its rows.
    :param baseline_source: where ``baseline`` came from, said in the evidence.
    :param logged_metrics: the metrics logged with the champion's run (its held-out metrics, and
        ``n_holdout`` their rows): the baseline of whichever metric is measured, ``baseline_source`` said.
    :param champion: what loading the configured champion gave, ``{"uri", "status", "reason"}``: status
        ``loaded``, ``absent`` (no champion registered yet) or ``unavailable`` (configured, not loadable);
        kept in the table as ``champion``. Without performance, an unavailable champion is why
        (``performance_missing`` kind ``champion_unavailable``), which the decision escalates.
    """
    from airflow_provider_agentic_mlops.core.metrics import infer_task

    s = DriftSettings.resolve(settings, **overrides)
    reference, current = (
        with_text_column_names(reference, "reference data"),
        with_text_column_names(current, "current data"),
    )
    label_column, prediction_column, task = s.label_column, s.prediction_column, s.task
    features, metric, reference_is_holdout = s.feature_columns, s.performance_metric, s.reference_is_holdout
    if s.performance_baseline is not None:
        baseline, baseline_n, baseline_source = s.performance_baseline, None, "performance_baseline"
    given = (baseline, baseline_n, baseline_source) if baseline is not None else None
    notes = list(notes)
    faults = detect_faults(reference, current, summary, notes=notes, targets={label_column, prediction_column} - {None})
    model_columns = _columns_read(features, model)
    # Faults in what the champion reads: its predictions on them would mean nothing. A fault in the label
    # or prediction column is none of its inputs: it is still run (importances, extrapolation), and the
    # performance measured against that column says so.
    targets = {label_column, prediction_column} - {None}
    if model_columns is not None:
        read = {*model_columns, *targets}
        # values past the reference range in a column the model does not read: a running id, a counter,
        # a timestamp as a number, which a healthy feed moves forward on every run. A note, no fault. The
        # other kinds (vocabulary replaced, type, unit change, gone constant) are a broken export: faults.
        notes.extend(
            f"column {f['column']!r}: {f['detail']}; the model does not read it (a running id, a counter?): "
            "not a pipeline fault"
            for f in faults
            if f["column"] not in read and f["kind"] == "out_of_range"
        )
        faults = [f for f in faults if f["column"] in read or f["kind"] != "out_of_range"]
    started = summary.data_quality.get("started_columns") or {}
    lost = _reference_lost(started, features, model)
    faults.extend(lost)  # a column the champion reads, lost by the reference export: a fault
    inputs_broken = [f for f in faults if f["column"] not in targets]
    if model_columns is not None:
        inputs_broken = [f for f in faults if f["column"] in model_columns or f["kind"] == "reference_lost"]
    drop_cols = {label_column, prediction_column}
    features = list(model_columns or [c for c in summary.columns if c not in drop_cols])
    has_labels = label_column is not None and label_column in current.columns and current[label_column].notna().any()
    if label_column is not None and not has_labels:
        notes.append(f"labels not in yet: the current window has no '{label_column}' values; no measured performance")
    if not task and label_column in reference.columns:
        read = reference[prediction_column] if prediction_column in reference.columns else None
        task = infer_task(
            reference[label_column],
            read,
            (f"label_column '{label_column}'", f"prediction_column '{prediction_column}'"),
        )
    if task is None and model is not None:
        task = "classification" if hasattr(model, "predict_proba") else "regression"
    metric = metric or ("r2" if task == "regression" else "accuracy")

    def baseline_for(measured: str) -> tuple[float | None, int | None, str]:
        """The held-out baseline of the metric measured: the one given for the configured metric, else logged."""
        if given is not None and measured == metric:
            return given
        logged = as_float((logged_metrics or {}).get(measured))
        if logged is None:
            return None, None, ""
        n = as_float((logged_metrics or {}).get("n_holdout"))
        return logged, int(n) if n else None, baseline_source or "metric logged for the champion"

    usable_model = model is not None and all(f in current.columns and f in reference.columns for f in features)
    if model is not None and not usable_model:
        notes.append(f"champion not used: it needs columns {features} that the data lacks")
    if usable_model and inputs_broken:  # broken inputs: the champion's predictions on them would mean nothing
        usable_model = False
        notes.append("champion not run: the columns it reads have pipeline faults")
    performance, missing = None, None
    try:
        performance = _performance(
            reference,
            current,
            model if usable_model else None,
            features,
            label_column,
            prediction_column,
            task,
            metric,
            baseline_for,
            reference_is_holdout,
            has_labels,
            notes,
            s.positive_label,
        )
    except Exception as err:  # noqa: BLE001 - a champion that cannot predict on this data is noted, not fatal
        performance = None
        failure = f"performance not measured: {type(err).__name__}: {str(err)[:200]}"
        notes.append(failure)
        missing = {"kind": "failed", "reason": failure}
    target_faults = [f for f in faults if f["column"] in targets]
    if performance is not None and performance.get("kind") == "measured" and target_faults:
        notes.extend(
            f"the performance is measured against column {f['column']!r}, which has a pipeline fault "
            f"({f['kind']}: {f['detail']}): it may mean nothing until the export is fixed"
            for f in target_faults
        )
    if performance is None and missing is None:
        missing = _why_no_performance(label_column, has_labels, prediction_column, model, usable_model, task, champion)
    importance, importance_source = (None, "no champion model")
    if usable_model:
        labels = reference[label_column] if label_column in reference.columns else None
        importance, importance_source = feature_importance(model, features, reference, labels)
    if performance is not None and performance.get("kind") == "measured":
        checked = [f for f in features if f in summary.columns]
        performance["coverage"] = label_coverage(current, label_column, checked, summary, s, importance)
        estimate = (
            _unlabelled_estimate(reference, current, model, features, label_column, task, reference_is_holdout, notes)
            if usable_model and performance["coverage"]["labelled_share"] < 1.0
            else None
        )
        if estimate is not None:  # the rows not labelled yet get what a window without labels gets
            performance["coverage"]["unlabelled_estimate"] = estimate
    table = build_evidence(
        summary,
        faults=faults,
        performance=performance,
        importance=importance,
        importance_source=importance_source,
        extrapolation=None
        if inputs_broken
        else extrapolation(
            reference,
            current,
            features,
            importance,
            categorical=[c for c, col in summary.columns.items() if col.type == CAT],
        ),
        notes=notes,
        performance_missing=missing,
        champion=champion,
        noise=sampling_noise(reference, summary),
        excluded={
            c: role for role, c in (("label_column", label_column), ("prediction_column", prediction_column)) if c
        },
    )
    lost_names = {f["column"] for f in lost}
    table["label_leaks"] = _label_leaks(current, [c for c in started if c not in lost_names], label_column)
    return table


def _columns_read(feature_columns: Sequence[str] | None, model: Any) -> list[str] | None:
    """The columns the champion reads: ``feature_columns``, else the names the model was fitted on
    (scikit-learn's ``feature_names_in_``) or its MLflow signature's inputs; None when unknown."""
    if feature_columns:
        return list(feature_columns)
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        try:  # an MLflow pyfunc model's signature, when it names its columns (a tensor's does not)
            schema = model.metadata.get_input_schema()
            names = schema.input_names() if schema.has_input_names() else None
        except Exception:  # noqa: BLE001 - no model, or no signature
            names = None
    return [str(n) for n in names] if names is not None and len(names) else None


def _reference_lost(
    started: Mapping[str, float], feature_columns: Sequence[str] | None, model: Any
) -> list[dict[str, str]]:
    """Faults (kind ``reference_lost``) for the columns null throughout the reference with values now
    (``started``) that the champion reads, named in ``feature_columns`` or in the names the model was fitted
    on (or its signature's inputs): the reference export lost a column the champion reads, no feature that
    started arriving. With the champion's inputs unknown (neither), each such column is one, the safe side.

    :param started: ``data_quality.started_columns``: column -> share of current rows holding a value.
    :param feature_columns: the champion's inputs as configured, or None.
    :param model: the champion, or None.
    """
    read = {*(feature_columns or ()), *(_columns_read(None, model) or ())}
    faults = []
    for column, share in started.items():
        if read and column not in read:
            continue  # a feature that started arriving: the champion does not read it
        why = (
            "a column the champion reads" if read else "one the champion may read (inputs unknown: set feature_columns)"
        )
        detail = f"null throughout the reference, on {share:.0%} of current rows: the reference lost {why}; refresh it"
        faults.append(_fault(column, "reference_lost", detail))
    return faults


#: Labelled rows at least, for :func:`_label_leaks` to call a started column the label.
MIN_ROWS_FOR_LEAK = 30
#: Distinct labels at most for a started column 1:1 with the label (a class-like label) to be a leak.
MAX_LEAK_CLASSES = 20


def _label_leaks(current: pd.DataFrame, started: Sequence[str], label_column: str | None) -> list[str]:
    """The started columns (null throughout the reference, values now) that are the label on the current
    labelled rows: equal to it, or 1:1 with a label of at most ``MAX_LEAK_CLASSES`` classes (``'charged
    back'`` for 1). A post-outcome field joined in, a suspected label leak, no new information.

    :param current: the current data.
    :param started: the started columns the champion does not read.
    :param label_column: the label column, or None.
    """
    if label_column is None or label_column not in current.columns:
        return []
    leaks = []
    for column in started:
        if column not in current.columns or column == label_column:
            continue
        pairs = current[[column, label_column]].dropna()
        if len(pairs) < MIN_ROWS_FOR_LEAK:
            continue
        values, labels = pairs[column], pairs[label_column]
        try:
            equal = bool((values.to_numpy() == labels.to_numpy()).all())
        except (TypeError, ValueError):
            equal = False
        n_labels = labels.nunique()
        one_to_one = (
            2 <= n_labels <= MAX_LEAK_CLASSES
            and values.nunique() == n_labels
            and len(pairs.drop_duplicates()) == n_labels
        )
        if equal or one_to_one:
            leaks.append(str(column))
    return leaks


#: ``champion["status"]`` of a configured champion that could not be loaded (not: none registered yet).
CHAMPION_UNAVAILABLE = "unavailable"


def _why_no_performance(
    label_column: str | None,
    has_labels: bool,
    prediction_column: str | None,
    model: Any,
    usable_model: bool,
    task: str | None,
    champion: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``{"kind", "reason"}``: why neither a measured nor an estimated performance is in the evidence."""
    status, reason = (champion or {}).get("status"), (champion or {}).get("reason") or ""
    if model is None and status == CHAMPION_UNAVAILABLE:
        labels = "labels are in, but nothing predicts them" if has_labels else "no estimate without it"
        return {
            "kind": "champion_unavailable",
            "reason": f"the champion {champion['uri']} could not be loaded ({reason}); {labels}",  # type: ignore[index]
        }
    if has_labels:
        why = "the champion is not usable (see the notes)" if model is not None else "no champion model"
        if model is None and status == "absent":
            why = reason
        return {"kind": "no_predictions", "reason": f"labels but no predictions: no prediction_column and {why}"}
    labels = "no label_column set" if label_column is None else f"labels not in yet (no '{label_column}' values)"
    if not usable_model:
        estimate = f"no estimate: {reason}" if status == "absent" else "no estimate without a usable champion"
    elif task != "classification" or not hasattr(model, "predict_proba"):
        estimate = "no estimate (CBPE needs a classifier with predict_proba)"
    else:
        estimate = "no estimate (CBPE needs a held-out reference: reference_is_holdout)"
    return {"kind": "no_labels", "reason": f"{labels}; {estimate}"}


def _performance(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    model: Any,
    features: list[str],
    label_column: str | None,
    prediction_column: str | None,
    task: str | None,
    metric: str,
    baseline_for: Callable[[str], tuple[float | None, int | None, str]],
    reference_is_holdout: bool,
    has_labels: bool,
    notes: list[str],
    positive_label: Any = None,
) -> dict[str, Any] | None:
    usable_model = model is not None
    performance = None
    if has_labels and (prediction_column or usable_model):
        source = "prediction column" if prediction_column else "the champion, loaded and run on current data"
        wants_proba = task == "classification" and metric in PROBABILITY_METRICS
        y_true, y_pred, proba, classes = _labelled_predictions(
            current, "current", label_column, prediction_column, model, features, notes, task=task, proba=wants_proba
        )
        if wants_proba and proba is None:  # labels alone: measured in accuracy rather than not at all
            gives = f"'{prediction_column}' holds labels" if prediction_column else "the champion gives labels only"
            notes.append(
                f"performance metric {metric!r} needs class probabilities and {gives}: measured in accuracy instead"
            )
            metric, wants_proba = "accuracy", False
        baseline, baseline_n, baseline_source = baseline_for(metric)
        baseline_se = None
        reference_predictions = None
        if baseline is None and reference_is_holdout and label_column in reference.columns:
            ref_true, ref_pred, ref_proba, ref_classes = _labelled_predictions(
                reference,
                "reference",
                label_column,
                prediction_column,
                model,
                features,
                notes,
                task=task,
                proba=wants_proba,
            )
            ref_perf = measure_performance(  # R^2 at the same scale as the window's: the reference's labels
                task,
                ref_true,
                ref_pred,
                metric=metric,
                baseline=None,
                proba=ref_proba,
                classes=ref_classes,
                reference_labels=reference[label_column].to_numpy(),
                positive_label=positive_label,
            )
            baseline, baseline_n = ref_perf["current"], len(ref_true)
            baseline_se = ref_perf["current_se"]  # measured on its own rows, not scaled from the window's
            baseline_source = "held-out reference data"
            reference_predictions = ref_true, ref_pred
        elif (
            task == "classification"
            and reference_is_holdout
            and label_column in reference.columns
            and (prediction_column is None or prediction_column in reference.columns)
        ):  # the per-class recalls' baseline (class_recall), on the held-out reference
            try:
                ref_true, ref_pred, _, _ = _labelled_predictions(
                    reference, "reference", label_column, prediction_column, model, features, notes, task=task
                )
                reference_predictions = ref_true, ref_pred
            except Exception as err:  # noqa: BLE001 - an extra the measurement does without, said so
                notes.append(f"no mean recall per class: the reference could not be scored ({type(err).__name__})")
        performance = measure_performance(
            task,
            y_true,
            y_pred,
            metric=metric,
            baseline=baseline,
            baseline_n=baseline_n,
            baseline_se=baseline_se,
            baseline_source=baseline_source,
            source=source,
            reference_labels=reference[label_column].to_numpy() if label_column in reference.columns else None,
            proba=proba,
            classes=classes,
            reference_predictions=reference_predictions,
            positive_label=positive_label,
        )
        if baseline is None:
            notes.append(
                "no held-out baseline: set performance_baseline, log it with the champion, "
                "or mark the reference held-out"
            )
    elif usable_model and task == "classification" and hasattr(model, "predict_proba"):
        if reference_is_holdout:
            performance = _estimate(reference, current, model, features, label_column)
        else:
            notes.append("no labels and no held-out reference: no performance estimate (CBPE needs one)")
    return performance


def _estimate(
    reference: pd.DataFrame, rows: pd.DataFrame, model: Any, features: list[str], label_column: str | None
) -> dict[str, Any]:
    """The champion's CBPE estimate on ``rows`` (no labels), calibrated on the labelled held-out
    ``reference`` when it has enough labelled rows."""
    labelled = label_column is not None and label_column in reference.columns
    if labelled and reference[label_column].notna().sum() >= MIN_CALIBRATION_ROWS:
        ref_rows = _sample_rows(reference[reference[label_column].notna()], [*features, label_column])
        ref_labels = ref_rows[label_column].to_numpy()  # the labelled reference calibrates the probabilities
    else:
        ref_rows, ref_labels = _sample_rows(reference, features), None
    return estimate_performance(  # CBPE
        model.predict_proba(ref_rows[features]),
        model.predict_proba(rows[features]),
        reference_labels=ref_labels,
        classes=getattr(model, "classes_", None),
        predicted=(model.predict(ref_rows[features]), model.predict(rows[features])),
    )


def _unlabelled_estimate(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    model: Any,
    features: list[str],
    label_column: str,
    task: str | None,
    reference_is_holdout: bool,
    notes: list[str],
) -> dict[str, Any] | None:
    """The champion's CBPE estimate on the window's rows not labelled yet, as a window without labels
    gets (a classifier with probabilities, a held-out reference); None when it cannot have one or fewer
    than ``MIN_ROWS_TO_COMPARE`` rows wait for labels."""
    rows = current[current[label_column].isna()]
    if len(rows) < MIN_ROWS_TO_COMPARE or task != "classification" or not reference_is_holdout:
        return None
    if not hasattr(model, "predict_proba"):
        return None
    try:
        return _estimate(reference, rows, model, features, label_column)
    except Exception as err:  # noqa: BLE001 - an extra the measurement does without, said so
        notes.append(f"no estimate on the rows not labelled yet: {type(err).__name__}: {str(err)[:200]}")
        return None


#: Rows each part of a partly labelled window needs before the unlabelled part is compared with the labelled.
MIN_ROWS_TO_COMPARE = 30
#: Drifted columns named in the comparison of the unlabelled rows with the labelled ones.
MAX_COMPARED_COLUMNS = 5


def label_coverage(
    current: pd.DataFrame,
    label_column: str,
    features: Sequence[str],
    summary: DriftSummary,
    settings: DriftSettings,
    importance: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """How much of the window a performance measured on its labelled rows covers.

    ``n_rows``, ``n_labelled_rows``, ``labelled_share``; and, when part of the window is not labelled
    yet, ``unlabelled_vs_labelled``: the drift of the unlabelled rows against the labelled ones on the
    model's checked features, beyond sampling noise and importance-weighted as :func:`drift_severity`
    does (``weighted_share``, ``drifted`` columns, ``weighted_by``), or None with ``not_compared``
    saying why. Labels come late, so the unlabelled rows are mostly the newest: when they moved away
    from the labelled rows on what the model relies on, a stable measurement on the labelled rows
    says nothing about them.

    :param features: the model's features that the drift check scored (their types are kept).
    :param settings: the drift settings; their method and threshold choices apply to the comparison.
    :param importance: feature -> importance; equal weights without it.
    """
    labelled = current[label_column].notna().to_numpy()
    n_labelled = int(labelled.sum())
    out: dict[str, Any] = {
        "n_rows": len(current),
        "n_labelled_rows": n_labelled,
        "labelled_share": n_labelled / len(current) if len(current) else 0.0,
    }
    if n_labelled == len(current):
        return out
    # text columns are Evidently's to score (maybe not importable): numbers and categories are compared
    columns = [f for f in features if summary.columns[f].type in (NUM, CAT)]
    if min(n_labelled, len(current) - n_labelled) < MIN_ROWS_TO_COMPARE or not columns:
        out["unlabelled_vs_labelled"] = None
        out["not_compared"] = (
            f"fewer than {MIN_ROWS_TO_COMPARE} labelled or unlabelled rows" if columns else "no feature to compare"
        )
        return out
    from airflow_provider_agentic_mlops.core.drift import compute_drift

    try:
        frame = current[columns]
        compared = compute_drift(
            frame[labelled],
            frame[~labelled],
            columns=columns,
            column_methods={c: m for c, m in settings.column_methods.items() if c in columns},
            column_thresholds={c: t for c, t in settings.column_thresholds.items() if c in columns},
            type_methods=settings.type_methods,
            categorical_columns=[c for c in columns if summary.columns[c].type == CAT],
            strict=False,
        )
    except Exception as err:  # noqa: BLE001 - a comparison that cannot be made is said, not fatal
        out["unlabelled_vs_labelled"] = None
        out["not_compared"] = f"{type(err).__name__}: {str(err)[:200]}"
        return out
    # tested as the severity is: on a few unlabelled rows a distance's noise is about its threshold
    severity = drift_severity(compared, importance, sampling_noise(frame[labelled], compared))
    out["unlabelled_vs_labelled"] = {
        "weighted_share": severity["weighted_share"],
        "weighted_by": severity["weighted_by"],
        "drifted": [r["column"] for r in severity["top"] if r["drifted"]][:MAX_COMPARED_COLUMNS],
    }
    return out


def _labelled_predictions(
    frame: pd.DataFrame,
    what: str,
    label_column: str,
    prediction_column: str | None,
    model: Any,
    features: list[str],
    notes: list[str],
    *,
    task: str | None = None,
    proba: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[Any] | None]:
    """``(labels, predictions, class probabilities or None, their classes or None)`` of the rows of
    ``frame`` that have both, as the summary's ``quality`` reads them: a missing prediction (an empty
    cell in ``prediction_column``, a NaN from the champion) leaves its row out, counted in ``notes``,
    instead of failing the whole measurement. The champion's output is read as validation reads it
    (:func:`~airflow_provider_agentic_mlops.core.metrics.read_predictions`): labels, the probability of
    class 1, or a pyfunc model's column per class; with ``proba`` a classifier's ``predict_proba`` too."""
    from airflow_provider_agentic_mlops.core.metrics import read_predictions

    rows = frame[frame[label_column].notna()]
    probabilities = classes = None
    if prediction_column:
        output: Any = rows[prediction_column].to_numpy()
    else:
        output = model.predict(rows[features])
        if proba and task == "classification" and hasattr(model, "predict_proba"):
            probabilities, classes = model.predict_proba(rows[features]), getattr(model, "classes_", None)
    y_pred = np.asarray(output.to_numpy() if hasattr(output, "to_numpy") else output)
    missing = pd.isna(y_pred)
    missing = missing.any(axis=tuple(range(1, missing.ndim))) if missing.ndim > 1 else missing
    where = f"'{prediction_column}' is empty" if prediction_column else "the champion returned NaN"
    if missing.all():
        fix = "check the prediction export" if prediction_column else "check the champion on this data"
        raise ValueError(f"no labelled row of the {what} data has a prediction ({where} on all {len(rows)}); {fix}")
    if missing.any():
        notes.append(
            f"{int(missing.sum())} of {len(rows)} labelled rows have no prediction in the {what} data ({where}): "
            "left out of the measured performance"
        )
    keep = ~missing
    y_true = rows[label_column].to_numpy()[keep]
    kept = pd.DataFrame(y_pred[keep], columns=output.columns) if isinstance(output, pd.DataFrame) else y_pred[keep]
    if task is None:
        return y_true, kept, None, None
    name = f"'{prediction_column}'" if prediction_column else "the champion"
    labels, scores, names = read_predictions(
        task,  # type: ignore[arg-type]
        y_true,
        kept,
        None if probabilities is None else np.asarray(probabilities)[keep],
        classes,
        name=name,
    )
    return y_true, labels, scores, names


def _sample_rows(frame: pd.DataFrame, features: Sequence[str], rows: int = 10 * SAMPLE_ROWS) -> pd.DataFrame:
    frame = frame[list(features)]
    return frame.sample(n=rows, random_state=0) if len(frame) > rows else frame


__all__ = [
    "benjamini_hochberg",
    "build_evidence",
    "class_mix",
    "class_recall",
    "detect_faults",
    "drift_severity",
    "estimate_performance",
    "extrapolation",
    "feature_importance",
    "gather_evidence",
    "label_coverage",
    "measure_performance",
    "sampling_noise",
]
