"""Method selection: Evidently 0.7's column types, drift methods, thresholds and default choice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_agentic_mlops.core.drift.columns import ColumnData

NUM = "num"
CAT = "cat"
TEXT = "text"

#: Evidently switches from tests (K-S, chi-square, Z) to distances above this many reference rows.
EVIDENTLY_SIZE_SWITCH = 1000
#: Evidently treats integer columns with at most this many distinct values as categorical.
INTEGER_CARDINALITY_LIMIT = 10
TYPE_WORDS = {NUM: "numeric", CAT: "categorical", TEXT: "text"}


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


def infer_column_type(data: ColumnData) -> str | None:
    """Evidently 0.7's ``infer_column_type``: num, cat, text, or None (not checked).

    Called on the reference data, or the current data when it has more values (Evidently reads the
    current one): a window of a few rows always has most values distinct and would read as text.

    Nullable extension dtypes (Int64, Float64, boolean, string) are read like their numpy
    counterparts; Evidently would leave Int64/Float64 unchecked ("unknown").
    """
    # By dtype kind, not dtype name: numpy, nullable and pyarrow-backed dtypes alike
    # (``double[pyarrow]``, ``large_string[pyarrow]``; pyarrow dictionaries arrive as categories).
    import pandas as pd

    dtype = data.series.dtype
    types = pd.api.types
    if isinstance(dtype, pd.CategoricalDtype) or data.kind == "bool":  # object columns of True/False too
        return CAT
    if data.numeric and types.is_float_dtype(dtype):
        return NUM
    if data.numeric and types.is_integer_dtype(dtype):
        return CAT if data.count_distinct(INTEGER_CARDINALITY_LIMIT) <= INTEGER_CARDINALITY_LIMIT else NUM
    if data.kind == "string":
        return TEXT if data.nunique > data.n * 0.5 else CAT
    return None


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
