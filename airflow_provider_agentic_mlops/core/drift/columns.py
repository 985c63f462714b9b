"""One column of one frame, cleaned as Evidently cleans it (inf -> NaN, then NaN dropped)."""

from __future__ import annotations

import numbers
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

#: Values read first to tell a numeric column with many distinct values (:meth:`ColumnData.count_distinct`).
_DISTINCT_HEAD = 1024


class ColumnData:
    """One column of one frame, cleaned once, with the views the methods need (computed lazily).

    Numeric columns become a float64 array of their finite values (sorted when a method or the
    default selection needs it); other columns are used through their value counts.
    """

    def __init__(self, series: pd.Series):
        series = arrow_as_default_backend(series)
        #: How the values were read when not as they are (``"durations, in seconds"``, ...), for messages.
        self.detail = ""
        readable = other_types_as_comparable(series)
        if readable is not series:
            self.detail = _READ_AS.get(_other_type(series), "")
            series = readable
        if pd.api.types.is_object_dtype(series.dtype):  # Decimals (Parquet DECIMAL), Python ints and floats
            # text mixed with numbers: read on its distinct values below; lists and dicts as their text
            series = numbers_of_objects(containers_as_text(series))
        else:
            series = _text_categories_if_mixed(series)
        self.series = series
        self.type = ""
        self.n_rows = len(series)
        self._sorted: np.ndarray | None = None
        self._counts: dict[Any, int] | None = None
        self._clean_series: pd.Series | None = None
        self._kind: str | None = None
        dtype = series.dtype
        self.numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        self.values: np.ndarray | None = None
        self._object = pd.api.types.is_object_dtype(dtype)
        self._inferred: str | None = None
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
        """The share of rows without a usable value: null, and for numbers NaN or +-inf (as :attr:`n`
        drops them); a ratio's zero denominators are a feed's nulls by another name."""
        return (self.n_rows - self.n) / self.n_rows

    @property
    def kind(self) -> str:
        """What the column holds, to compare reference with current: numeric, bool, string,
        datetime, other, or empty (no non-null value). Text that is all ISO datetimes (a
        datetime column read from CSV) is datetime."""
        if self._kind is None:
            self._kind = self._read_kind()
            if self._kind == "string" and _all_iso_datetimes(self.series):
                self._kind = "datetime"
        return self._kind

    def _read_kind(self) -> str:
        dtype = self.series.dtype
        if (self.n_rows - self.n_null if self.numeric else self.n) == 0:
            return "empty"
        if isinstance(dtype, pd.CategoricalDtype):
            return ColumnData(pd.Series(dtype.categories)).kind
        if pd.api.types.is_bool_dtype(dtype):
            return "bool"
        if self.numeric:
            return "numeric"
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return "datetime"
        if isinstance(dtype, pd.PeriodDtype):  # a month, a day: points in time, skipped as datetimes are
            self.detail = "periods"
            return "datetime"
        if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
            return "string"
        # an object column: read on all its distinct values, so that the order of the rows does not matter
        if self.inferred == "string":
            return "string"
        if self.inferred == "boolean":
            return "bool"
        if self.inferred in _DATETIME_OBJECTS:
            zones = {str(getattr(v, "tzinfo", None)) for v in self.counts}
            self.detail = "datetimes in mixed time zones" if len(zones) > 1 else _DATETIME_OBJECTS[self.inferred]
            return "datetime"
        first = next(iter(self.counts), None)
        self.detail = type(first).__name__ if first is not None else ""
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
                    self._counts = dict(zip(python_keys(keys, self.series.dtype), counts.tolist(), strict=True))
            else:
                self._counts = self._value_counts()
                if self._object:
                    self._read_object_values()
        return self._counts

    @property
    def inferred(self) -> str | None:
        """pandas' reading of an object column's distinct values (``"string"``, ``"boolean"``,
        ``"mixed"``...); None for other dtypes."""
        if self._object:
            self.counts  # noqa: B018 - reads it
        return self._inferred

    def _value_counts(self) -> dict[Any, int]:
        try:
            return _counts_of(self.series)
        except TypeError:  # unhashable values (a list) after others: compared as text, as a CSV export holds them
            self.series = containers_as_text(self.series, force=True)
            return _counts_of(self.series)

    def _read_object_values(self) -> None:
        """Infer an object column's type on its distinct values (cheap next to all its rows), once; text
        mixed with numbers (ids such as 123 and "A12") becomes text, whatever the order of the rows."""
        self._object = False  # done
        keys = list(self._counts or ())
        self._inferred = pd.api.types.infer_dtype(keys, skipna=True)
        if _mixes_text(keys, self._inferred):
            series = self.series
            self.series = series.where(series.isna(), series.astype(str))
            self._counts, self._clean_series, self._inferred = self._value_counts(), None, "string"

    @property
    def nunique(self) -> int:
        if self.numeric:
            sorted_values = self.sorted
            return 0 if sorted_values.size == 0 else int(np.count_nonzero(np.diff(sorted_values))) + 1
        return len(self.counts)

    @property
    def is_sorted(self) -> bool:
        """Whether the sorted values were computed already (scoring the column now reuses them)."""
        return self._sorted is not None

    def count_distinct(self, up_to: int) -> int:
        """Distinct values, exact when at most ``up_to``; above it, possibly only a lower bound.

        A numeric column is read on its first values first: one with many distinct values is told
        without sorting all of them (the sort is left for the score, which may come later)."""
        if self.numeric and self._sorted is None:
            head = np.unique(self.values[:_DISTINCT_HEAD]).size
            if head > up_to:
                return head
        return self.nunique

    @property
    def clean_series(self) -> pd.Series:
        """The cleaned column as a pandas Series, as Evidently's stattests receive it."""
        if self._clean_series is None:
            if self._object:
                self.counts  # noqa: B018 - settles the values' type first (mixed numbers and text: text)
            series = self.series
            if self.numeric or series.dtype == object:
                series = series.replace([-np.inf, np.inf], np.nan)
            self._clean_series = series.dropna()
        return self._clean_series


#: pandas' readings of an object column of points in time (Parquet date32 reads as ``datetime.date``,
#: datetimes in several time zones stay objects), with how messages name them.
_DATETIME_OBJECTS = {
    "datetime": "datetime objects",
    "datetime64": "datetime objects",
    "date": "dates",
    "time": "times of day",
    "period": "periods",
}

#: How :func:`other_types_as_comparable` reads each kind of column it converts, for messages.
_READ_AS = {
    "duration": "durations, compared in seconds",
    "interval": "intervals, compared as text",
    "bytes": "bytes, compared as UTF-8 text",
}


def _other_type(series: pd.Series) -> str | None:
    """``"duration"``, ``"interval"`` or ``"bytes"`` for a column :func:`other_types_as_comparable`
    converts (bytes told from the first non-null value of an object column); None for any other."""
    dtype = series.dtype
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "duration"
    if isinstance(dtype, pd.IntervalDtype):
        return "interval"
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa  # an ArrowDtype means pyarrow is installed

        arrow = dtype.pyarrow_dtype
        if pa.types.is_duration(arrow):
            return "duration"
        if pa.types.is_binary(arrow) or pa.types.is_large_binary(arrow) or pa.types.is_fixed_size_binary(arrow):
            return "bytes"
        return None
    if pd.api.types.is_object_dtype(dtype) and isinstance(_first_value(series), (bytes, bytearray, memoryview)):
        return "bytes"
    return None


def arrow_as_default_backend(series: pd.Series) -> pd.Series:
    """A pyarrow-backed column (``read_parquet(dtype_backend="pyarrow")``) that pandas cannot count or
    compare as it is, in the form the default backend reads it in, so that both are checked alike:
    a dictionary as a categorical of numpy values (Evidently cannot replace values in Arrow ones);
    nested values (list, struct, map) as objects, then compared as text (:func:`containers_as_text`);
    decimals as ``Decimal`` objects, then numbers (:func:`numbers_of_objects`); dates and times of
    day as ``datetime.date`` / ``datetime.time`` objects, then skipped as points in time. Any other
    column as is.

    :param series: the column.
    """
    dtype = series.dtype
    if not isinstance(dtype, pd.ArrowDtype):
        return series
    import pyarrow as pa  # an ArrowDtype means pyarrow is installed

    arrow = dtype.pyarrow_dtype
    converted = (pa.types.is_dictionary, pa.types.is_nested, pa.types.is_decimal, pa.types.is_date, pa.types.is_time)
    if not any(is_type(arrow) for is_type in converted):
        return series
    values = pa.array(series.array).to_pandas()  # the default backend's conversion (categories as numpy values)
    values.index, values.name = series.index, series.name
    return values


def other_types_as_comparable(series: pd.Series) -> pd.Series:
    """A column of durations (timedelta64, Parquet duration) as float seconds, of intervals as their text
    (``"(0, 1]"``, as a CSV export holds them), of bytes (Parquet BINARY) as text decoded as UTF-8 (a byte
    that is not UTF-8 as U+FFFD); any other column as is.

    :param series: the column.
    """
    kind = _other_type(series)
    if kind == "duration":
        if isinstance(series.dtype, pd.ArrowDtype):
            series = series.astype("timedelta64[ns]")
        return series.dt.total_seconds().astype("float64")
    if kind == "interval":
        values = series.astype(object)
        return values.where(values.isna(), values.astype(str))
    if kind == "bytes":
        return series.astype(object).map(_decoded, na_action="ignore").astype(object)
    return series


def _decoded(value: Any) -> Any:
    return (
        bytes(value).decode("utf-8", errors="replace") if isinstance(value, (bytes, bytearray, memoryview)) else value
    )


def _first_value(series: pd.Series) -> Any:
    """The first non-null value, read from the head first (a column's first 100 rows, at no cost)."""
    head = series.iloc[:100].dropna()
    return head.iloc[0] if not head.empty else next(iter(series.dropna()), None)


def _counts_of(series: pd.Series) -> dict[Any, int]:
    vc = series.value_counts(dropna=True, sort=False)
    vc = vc[vc > 0]
    return dict(zip(vc.index.tolist(), vc.to_numpy().tolist(), strict=True))


def comparable_values(series: pd.Series) -> pd.Series:
    """The column with its values in the type :class:`ColumnData` compares them in, for a frame handed
    to Evidently: an object column of numbers (:func:`numbers_of_objects`) as numbers; an object or
    categorical column whose values mix text with numbers (``1`` and ``"basic"``) as text, so that
    its values sort. Any other column is returned as is. Reads every value of an object column."""
    series = arrow_as_default_backend(series)
    readable = other_types_as_comparable(series)
    if readable is not series:
        return readable
    if not pd.api.types.is_object_dtype(series.dtype):
        return _text_categories_if_mixed(series)
    series = containers_as_text(series)
    numbers = numbers_of_objects(series)
    if numbers is not series:
        return numbers
    try:
        distinct = series.dropna().unique()
        set(distinct)  # pandas may return unhashable values (lists after text) without an error
    except TypeError:  # unhashable values after others (a list after text): all as text, as ColumnData reads them
        return containers_as_text(series, force=True)
    return series.where(series.isna(), series.astype(str)) if _mixes_text(distinct) else series


#: Values compared by their text, as a CSV export of them holds it: containers (a Parquet list<...> column
#: reads as numpy arrays, a struct as dicts), which are unhashable or not comparable as values.
_CONTAINERS = (list, tuple, dict, set, frozenset, np.ndarray)


def containers_as_text(series: pd.Series, *, force: bool = False) -> pd.Series:
    """An object column whose first value is a container (list, tuple, dict, set, numpy array) with each
    value as text (``"['a', 'b']"``, numpy arrays written as lists), so that the column is compared as
    categories, the same whether it came from Parquet, a callable or CSV. Other columns unchanged.

    :param series: the column.
    :param force: convert whatever the first value (a container was found further down).
    """
    if not force and not isinstance(_first_value(series), _CONTAINERS):
        return series
    return series.map(_as_text, na_action="ignore").astype(object)


def _as_text(value: Any) -> Any:
    """A value as text; containers with numpy arrays in them written as lists. Text stays itself."""
    return value if isinstance(value, str) else str(_plain(value))


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _text_categories_if_mixed(series: pd.Series) -> pd.Series:
    """A categorical whose categories mix text with other values (``1`` and ``"basic"``) with text
    categories, as an object column of them is read (``ColumnData._read_object_values``): so that the
    two compare equal and the values sort (the Z-test takes the first). Any other column as is."""
    if isinstance(series.dtype, pd.CategoricalDtype) and _mixes_text(series.dtype.categories):
        values = series.astype(object)
        return values.where(values.isna(), values.astype(str)).astype("category")
    return series


def _mixes_text(values: Any, inferred: str | None = None) -> bool:
    """Whether distinct values mix text with other values (numbers, ...), which then compare as text."""
    inferred = inferred or pd.api.types.infer_dtype(values, skipna=True)
    return inferred in ("mixed", "mixed-integer") and any(isinstance(v, str) for v in values)


#: pandas' readings of an object column whose values are all numbers.
_NUMBER_KINDS = frozenset({"integer", "floating", "mixed-integer-float", "decimal"})


def _is_number(value: Any) -> bool:
    """A real number: ints, floats (Python or numpy), ``Decimal``; not a bool, not a complex."""
    return isinstance(value, (numbers.Real, Decimal)) and not isinstance(value, (bool, np.bool_))


def numbers_of_objects(series: pd.Series) -> pd.Series:
    """An object column whose non-null values are all numbers (``Decimal``, as ``read_parquet`` returns
    a DECIMAL column, or Python ints and floats) as a numeric column: ints as int64 when none is null,
    like the column an export of ints gives; anything else as float64. Other object columns unchanged.

    Only a column whose first value is a number is read in full (text is told from its first value)."""
    head = series.iloc[:100].dropna()
    first = head.iloc[0] if not head.empty else next(iter(series.dropna()), None)
    if not _is_number(first):
        return series
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind not in _NUMBER_KINDS and not (
        kind in ("mixed", "mixed-integer") and all(_is_number(v) for v in series.dropna().unique())
    ):
        return series  # text mixed in: compared as text (_read_object_values)
    try:
        return pd.to_numeric(series)
    except (TypeError, ValueError, OverflowError):  # a number pandas cannot hold (complex, ...)
        return series


#: How an ISO 8601 date or datetime starts (``2024-05-08``, ``2024-05-08T10:00:00+00:00``).
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}"
#: Values tried first: text that is not datetimes is told from the first few, at no cost.
_DATETIME_SAMPLE = 20


def _all_iso_datetimes(series: pd.Series) -> bool:
    """Whether every non-null value is an ISO 8601 date or datetime: a few values first, then all.

    The few are taken from the head of the column, so that text (most columns) is told apart without
    a pass over all the values (dropping the nulls of a 1M-row object column costs ~70 ms)."""
    head = series.iloc[: 5 * _DATETIME_SAMPLE].dropna()
    sample = head.iloc[:_DATETIME_SAMPLE] if not head.empty else series.dropna().iloc[:_DATETIME_SAMPLE]
    return _iso_datetimes(sample) and _iso_datetimes(series.dropna())


def _iso_datetimes(values: pd.Series) -> bool:
    text = values.astype(str)
    if text.empty or not text.str.match(_ISO_DATE).all():
        return False
    return not pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True).isna().any()


def python_keys(keys: np.ndarray, dtype: Any) -> list[Any]:
    """Distinct values back in the column's own type (ints stay ints, for sorting and display)."""
    if pd.api.types.is_integer_dtype(dtype):
        return [int(k) for k in keys]
    return keys.tolist()


def union_keys(ref: ColumnData, cur: ColumnData) -> list[Any]:
    return list(set(ref.counts) | set(cur.counts))


def n_values(ref: ColumnData, cur: ColumnData) -> int:
    """Distinct values of reference and current together, exact up to 5; above 5 possibly a lower
    bound (the default choice only compares it with 2 and 5), told without sorting when it is clear."""
    if ref.numeric and cur.numeric:
        for data in (ref, cur):
            n = data.count_distinct(5)
            if n > 5:
                return n
    return len(union_keys(ref, cur))


def with_text_column_names(frame: pd.DataFrame, name: str = "data") -> pd.DataFrame:
    """``frame`` with every column label as text (``0`` -> ``"0"``), the data shared, not copied.

    The summary, the settings and the evidence name columns by text; frames from ``DataFrame({0: ...})``
    or a header-less file label them with integers. Two labels with the same text are an error.

    :param frame: the data.
    :param name: the frame, as error messages name it (``"current data (s3://...)"``).
    :raises ValueError: when two columns have the same name as text (``1`` and ``"1"``).
    """
    if all(isinstance(c, str) for c in frame.columns):
        return frame
    seen: dict[str, Any] = {}
    for column in frame.columns:
        other = seen.setdefault(str(column), column)
        if other is not column and other != column:
            raise ValueError(
                f"{name} has columns {other!r} ({type(other).__name__}) and {column!r} "
                f"({type(column).__name__}), which are the same name as text, as columns are compared; "
                "rename one in the export."
            )
    out = frame.copy(deep=False)
    out.columns = [str(c) for c in frame.columns]
    return out
