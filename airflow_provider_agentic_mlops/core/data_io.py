"""Reading reference and current data for drift checks: Parquet or CSV, local or through an opener.

Local paths and ``file://`` URIs are read directly. Any other scheme (``s3://``, ``gs://``, ...)
needs an ``opener``: a callable that takes the URI and returns a binary file object; the Airflow
operator passes one built on ``ObjectStoragePath``. A callable source, or a ``"package.module:function"``
string naming one (imported when read, on the worker), is called and must return a DataFrame. Every
failure of the data is a ``ValueError`` naming the source and what to do; a pyarrow that does not import
is a :class:`ParquetUnavailable` (an ``ImportError``) naming the versions and the fix.

No Airflow import here.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import IO, Any
from urllib.parse import unquote, urlparse

import pandas as pd

from airflow_provider_agentic_mlops.core.durations import parse_duration
from airflow_provider_agentic_mlops.core.errors import AgenticMlopsError, first_line
from airflow_provider_agentic_mlops.core.imports import import_function

Opener = Callable[[str], IO[bytes]]
DataSource = str | os.PathLike | Callable[[], pd.DataFrame] | pd.DataFrame

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".csv.gz": "csv", ".tsv": "csv"}
_log = logging.getLogger(__name__)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_MODULE_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def column_hint(name: str, columns: Sequence[Any]) -> str:
    """For a column ``name`` a frame lacks: ``did you mean 'price'?`` (its closest column), else ``its columns
    are [...]`` (the first 30)."""
    names = [str(c) for c in columns]
    closest = difflib.get_close_matches(str(name), names, n=1)
    return f"did you mean {closest[0]!r}?" if closest else f"its columns are {names[:30]}"


class ParquetUnavailable(AgenticMlopsError, ImportError):
    """pyarrow, which reads and writes Parquet, does not import here: the message names the installed
    versions and the fix."""


def import_parquet() -> ModuleType:
    """``pyarrow.parquet``, or :class:`ParquetUnavailable` naming the installed pyarrow, NumPy and pandas.

    pyarrow 26 needs NumPy >= 2 and pandas >= 2.2.2 when imported but does not declare it, so pip installs
    it next to NumPy 1.x (``pip check`` stays clean) and every Parquet read or write fails. Capping pyarrow
    in the provider's requirements would downgrade a shop that already runs pyarrow 26; the error says the
    fix instead.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ParquetUnavailable(_parquet_unavailable(exc)) from exc
    return pq


def _parquet_unavailable(exc: ImportError) -> str:
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return f"{name} {version(name)}"
        except PackageNotFoundError:
            return f"{name} not installed"

    found = ", ".join(installed(name) for name in ("pyarrow", "numpy", "pandas"))
    return (
        f"Parquet cannot be read or written: pyarrow does not import ({first_line(exc) or type(exc).__name__}; "
        f"installed: {found}). pyarrow 26 and newer need numpy>=2 and pandas>=2.2.2: run "
        "pip install 'pyarrow<26' in the Airflow environment, or upgrade to numpy>=2 and pandas>=2.2.2 if "
        "Airflow's other packages allow it."
    )


def is_module_function(source: Any) -> bool:
    """True for a ``"package.module:function"`` string (a source to import and call, not a path)."""
    return isinstance(source, str) and bool(_MODULE_FUNCTION.match(source.strip()))


def describe_source(source: DataSource) -> str:
    """A short name of a source for messages and summaries: the path/URI, or the callable's name."""
    if isinstance(source, pd.DataFrame):
        return "DataFrame"
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"callable {getattr(source, '__qualname__', None) or getattr(source, '__name__', repr(source))}"


def is_local(uri: str) -> bool:
    """True for plain paths and ``file://`` URIs."""
    return not _SCHEME.match(uri) or uri.lower().startswith("file://")


def local_path(uri: str) -> Path:
    """The filesystem path of a plain path or ``file://`` URI."""
    if uri.lower().startswith("file://"):
        parsed = urlparse(uri)
        return Path(unquote(parsed.netloc + parsed.path) if parsed.netloc not in ("", "localhost") else parsed.path)
    return Path(uri).expanduser()


def detect_format(uri: str, role: str = "data") -> str:
    """``"parquet"`` or ``"csv"`` from the file name; directories are Parquet datasets."""
    name = uri.rstrip("/").lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    if is_local(uri) and local_path(uri).is_dir():
        return "parquet"
    suffix = Path(name).suffix or "(no extension)"
    raise ValueError(
        f"{role} '{uri}': unsupported file type {suffix}. Use Parquet (.parquet, .pq, or a directory "
        "of Parquet files) or CSV (.csv, .csv.gz, .tsv), or a callable returning a DataFrame "
        "('package.module:function' in models.yaml)."
    )


def read_frame(
    source: DataSource,
    *,
    role: str = "data",
    columns: Sequence[str] | None = None,
    opener: Opener | None = None,
    file_format: str | None = None,
) -> pd.DataFrame:
    """Read one frame from a path/URI, a callable, or return a given DataFrame.

    :param source: local path, ``file://`` URI, other URI (with ``opener``), a callable returning a
        DataFrame, a ``"package.module:function"`` string naming one, or a DataFrame.
    :param role: what the data is (``"reference data"``, ``"current data"``), for messages.
    :param columns: read only these columns when present (Parquet and CSV); columns that are absent
        are simply not read, so the drift check can say which ones are missing.
    :param opener: ``opener(uri)`` returns a binary file object, for URIs that are not local.
    :param file_format: ``"parquet"`` or ``"csv"``; default from the file name.
    :raises ValueError: unsupported type, missing file, unreadable content, a ``module:function``
        that cannot be imported, or a callable that does not return a DataFrame.
    :raises ParquetUnavailable: a Parquet source where pyarrow does not import (an ``ImportError``).
    """
    if isinstance(source, pd.DataFrame):
        return source
    name = None
    if is_module_function(source):
        fn = import_function(str(source), role=role, returning="returning a pandas DataFrame")
        name, source = f"'{str(source).strip()}'", fn
    if callable(source) and not isinstance(source, (str, os.PathLike)):
        name = name or describe_source(source)
        try:
            frame = source()
        except Exception as exc:
            raise ValueError(f"{role} from {name} failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"{role} from {name} returned {type(frame).__name__}; it must return a pandas DataFrame.")
        return frame
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            f"{role}: expected a path/URI string or a callable returning a DataFrame, got {type(source).__name__}."
        )
    uri = str(source).strip()
    if not uri:
        raise ValueError(f"{role}: the path is empty. Set the path or URI of a Parquet or CSV file.")
    fmt = file_format or detect_format(uri, role)
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"{role} '{uri}': file_format must be 'parquet' or 'csv', got {fmt!r}.")
    wanted = list(dict.fromkeys(columns)) if columns is not None else None
    if is_local(uri):
        path = local_path(uri)
        if not path.exists():
            raise ValueError(
                f"{role} not found at '{uri}'. Check the path (and the templated value) and that the "
                "export job has written it."
            )
    elif opener is None:
        raise ValueError(
            f"{role} '{uri}': no opener for this URI scheme. Pass opener= (DriftCheckOperator uses "
            "Airflow's ObjectStoragePath), or use a local path."
        )
    try:
        if is_local(uri):
            return _read(str(local_path(uri)), fmt, wanted, uri)
        with opener(uri) as handle:
            return _read(handle, fmt, wanted, uri)
    except ParquetUnavailable:
        raise  # the environment, not the file
    except Exception as exc:  # OSError, pyarrow.ArrowInvalid, pandas ParserError, UnicodeDecodeError, ...
        raise _unreadable(role, uri, fmt, exc) from exc


class _ExportProblem(ValueError):
    """A file that reads, but not as the export meant it: the message says what and the fix."""


def _unreadable(role: str, uri: str, fmt: str, exc: BaseException) -> ValueError:
    if isinstance(exc, _ExportProblem):
        return ValueError(f"{role} at '{uri}' {exc}")
    if isinstance(exc, UnicodeDecodeError):
        return ValueError(
            f"{role} at '{uri}' could not be read as {fmt.upper()}: it is not UTF-8 (byte "
            f"0x{exc.object[exc.start]:02x} at position {exc.start}): export it as UTF-8, or set the right "
            "file type if it is another."
        )
    if isinstance(exc, FileNotFoundError):
        return ValueError(f"{role} not found at '{uri}'. Check the path and that the export job has written it.")
    if isinstance(exc, PermissionError):
        return ValueError(f"{role} at '{uri}' is not readable (permission denied). Check access rights.")
    detail = first_line(exc) or type(exc).__name__
    return ValueError(
        f"{role} at '{uri}' could not be read as {fmt.upper()}: {detail}. Check that the file is a "
        f"complete {fmt.upper()} file (re-run the export), or set the right file type."
    )


def _read(target: Any, fmt: str, columns: list[str] | None, uri: str) -> pd.DataFrame:
    if fmt == "parquet":
        pq = import_parquet()
        if isinstance(target, str) and Path(target).is_dir():
            names = pq.ParquetDataset(target).schema.names
        else:
            names = pq.ParquetFile(target).schema_arrow.names
            if hasattr(target, "seek"):
                target.seek(0)
        _refuse_duplicates(names, columns)
        if columns is None:
            return pd.read_parquet(target)
        return pd.read_parquet(target, columns=[c for c in columns if c in set(names)])
    sep = "\t" if uri.lower().rstrip("/").endswith(".tsv") else ","
    compression = "gzip" if uri.lower().endswith(".gz") else "infer"
    text = _head_text(target, compression)
    if text is not None:
        _refuse_other_separator(text, sep)
        _refuse_wider_rows(_split_rows(text, sep), sep)
    # the header as written (pandas renames a second 'amount' to 'amount.1' without a word); na_filter=False
    # reads it as pandas reads names: only an empty cell is blank (pandas names it 'Unnamed: N')
    header = pd.read_csv(target, sep=sep, header=None, nrows=1, compression=compression, dtype=str, na_filter=False)
    if hasattr(target, "seek"):
        target.seek(0)
    names = [str(v) for v in header.iloc[0]] if len(header) else []
    _refuse_duplicates([n for n in names if n != ""], columns)
    usecols = None if columns is None else (lambda c, keep=frozenset(columns): c in keep)
    # index_col=False: rows one field wider than the header (a trailing delimiter) would otherwise make the
    # first field the index and shift every column by one; pandas drops a last field only when it is empty
    # on every row, and warns ("loss of data") when it is not
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = pd.read_csv(target, sep=sep, usecols=usecols, compression=compression, index_col=False)
        except pd.errors.ParserError as exc:
            if wider := _WIDER_ROW.search(str(exc)):
                expected, line, saw = wider.groups()
                raise _ExportProblem(
                    _wider_rows(f"{saw} fields but a header with {expected} (line {line})", sep)
                ) from exc
            raise
    for warning in caught:
        if issubclass(warning.category, pd.errors.ParserWarning) and "loss of data" in str(warning.message):
            raise _ExportProblem(_wider_rows(f"more fields than the {len(names)} of its header", sep))
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if not isinstance(frame.index, pd.RangeIndex):  # never with index_col=False: a guard against a pandas change
        raise _ExportProblem(_wider_rows(f"more fields than the {len(names)} of its header", sep))
    notes: list[str] = []
    # the file's first column (pandas names a blank header cell "Unnamed: 0"); with columns= it is not read at all
    first = frame.columns[0] if len(frame.columns) else None
    if names and names[0] == "" and first == "Unnamed: 0" and _is_written_index(frame[first]):
        frame = frame.drop(columns=frame.columns[0])
        notes.append(WRITTEN_INDEX_NOTE)
    if separated := [str(c) for c in frame.columns if _thousands_separated(frame[c])]:
        notes.append(
            f"looks like numbers with thousands separators, read as text: {named_columns(separated)}; write them "
            "without separators or convert them before the check"
        )
    if notes:
        frame.attrs[READ_NOTES] = notes
    return frame


#: ``frame.attrs`` key of what :func:`read_frame` changed or saw in a CSV file (notes, role-free), which
#: :func:`durations_as_timedeltas` gives on for the summary's ``data_quality.notes``.
READ_NOTES = "agentic_mlops_read_notes"
WRITTEN_INDEX_NOTE = (
    "a pandas index written to the CSV (blank first header cell, increasing row numbers) left out: not a feature"
)


#: A number written with thousands separators (``1,234.56``, ``-12,000``); values under 1000 have none.
_THOUSANDS = r"\s*[-+]?\d{1,3}(?:,\d{3})*(?:\.\d+)?\s*"


def _thousands_separated(column: pd.Series) -> bool:
    """True for text whose every value is a number as :data:`_THOUSANDS` writes it, one at least with a
    separator: pandas reads ``"1,234.56"`` as text. Told from the first values at no cost, then each distinct
    value matched once."""
    if isinstance(column, pd.DataFrame) or not pd.api.types.is_string_dtype(column.dtype):
        return False
    if isinstance(column.dtype, pd.CategoricalDtype):
        return False
    sample = column.iloc[: 5 * _DURATION_SAMPLE].dropna()
    if sample.empty or not _all_thousands(sample):
        return False
    distinct = pd.Series(column.dropna().unique(), dtype=object)
    return _all_thousands(distinct) and bool(distinct.str.contains(",", regex=False).any())


def _all_thousands(values: pd.Series) -> bool:
    return pd.api.types.infer_dtype(values, skipna=False) == "string" and bool(values.str.fullmatch(_THOUSANDS).all())


def _is_written_index(column: pd.Series) -> bool:
    """True for the index ``df.to_csv(path)`` writes: integers from 0 up by one, or a slice of such row
    numbers (a filtered or windowed frame), strictly increasing and never negative."""
    if not pd.api.types.is_integer_dtype(column.dtype) or column.empty:
        return False
    return bool(column.iloc[0] >= 0 and column.is_monotonic_increasing and column.is_unique)


#: pandas' error for a row wider than the rows before it.
_WIDER_ROW = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
#: Bytes read from the start of a CSV file to look at its header and first rows.
_SNIFF_BYTES = 1 << 16
_SEPARATOR_WORDS = {",": "comma", ";": "';'", "\t": "tab"}


def _wider_rows(what: str, sep: str) -> str:
    said = _SEPARATOR_WORDS[sep]
    return (
        f"has rows with {what}, and the extra fields hold values: a header name missing, values holding the "
        f"separator ({said}) unquoted, or another separator. Fix the export so that each row has one field per "
        f"header name (a {said} at the end of every row is fine), or write Parquet."
    )


def _split_rows(text: str, sep: str) -> list[list[str]]:
    import csv
    import io

    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text), delimiter=sep):
            if row and any(row):
                rows.append(row)
            if len(rows) > _SNIFF_ROWS:
                break
    except csv.Error:  # a quoted field cut at the end of the bytes read: the rows before it are enough
        pass
    return rows


def _head_text(target: Any, compression: str) -> str | None:
    import gzip

    try:
        if isinstance(target, str):
            with (gzip.open if compression == "gzip" else open)(target, "rb") as handle:
                raw = handle.read(_SNIFF_BYTES)
        else:
            raw = (gzip.GzipFile(fileobj=target) if compression == "gzip" else target).read(_SNIFF_BYTES)
    except Exception:  # the full read says what is wrong with the file
        return None
    finally:
        if hasattr(target, "seek"):
            target.seek(0)
    if isinstance(raw, str):
        return raw
    if len(raw) == _SNIFF_BYTES:
        raw = raw[: raw.rfind(b"\n") + 1]  # whole lines only: no character cut in two
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _refuse_other_separator(text: str, sep: str) -> None:
    """Refuse a file whose header and first rows split into one same number (> 1) of fields on another
    separator but not on ``sep``: read on ``sep`` it is one column of garbage, or rows of uneven width when
    its values hold ``sep`` (European decimal commas ``1012,57;fr``, text such as ``Paris, FR``). A single
    name holding the character (``"total; incl. tax"``) is no sign: the rows must split alike."""

    def widths(rows: list[list[str]]) -> set[int]:
        return {len(row) for row in rows} if len(rows) > 1 else set()

    own = widths(_split_rows(text, sep))
    if len(own) == 1 and own != {1}:
        return  # every row splits alike on the file's separator
    for other in (",", ";", "\t"):
        rows = _split_rows(text, other) if other != sep else []
        if len(found := widths(rows)) == 1 and found != {1}:
            said, own_said = _SEPARATOR_WORDS[other], _SEPARATOR_WORDS[sep]
            raise _ExportProblem(
                f"looks {said}-separated: its header and first rows split alike into {len(rows[0])} fields on "
                f"{said} ({rows[0][:5]}), not on {own_said}: write it {own_said}-separated, or as Parquet."
            )


def _refuse_wider_rows(rows: list[list[str]], sep: str) -> None:
    """Refuse first data rows wider than the header unless only by one empty last field (a trailing delimiter,
    which pandas drops with ``index_col=False``): with ``usecols`` pandas drops wider rows' fields unsaid."""
    if not rows:  # empty: pandas says so ("No columns to parse from file")
        return
    width = len(rows[0])
    for number, row in enumerate(rows[1:], start=2):
        if len(row) > width and not (len(row) == width + 1 and row[-1] == ""):
            raise _ExportProblem(_wider_rows(f"{len(row)} fields but a header with {width} (line {number})", sep))


#: Data rows looked at after the header to tell a file written with another separator or with rows wider than
#: the header (see :func:`_read`).
_SNIFF_ROWS = 5


def _refuse_duplicates(names: Sequence[str], columns: Sequence[str] | None) -> None:
    """Refuse names written more than once, among ``columns`` when given (others are not read)."""
    from collections import Counter

    keep = None if columns is None else set(columns)
    counts = Counter(n for n in names if keep is None or n in keep)
    twice = sorted(str(n) for n, count in counts.items() if count > 1)
    if twice:
        raise _ExportProblem(
            f"has columns named more than once ({twice}): rename them in the export, so that each column "
            "has its own name."
        )


#: A duration as pandas writes a timedelta to CSV (``"0 days 00:05:00"``, ``"-1 days +23:55:00"``,
#: ``"2 days"``) or as ``[-]HH:MM:SS[.f]``. A bare number (``"5"``, an id) is none: pandas would read it
#: as nanoseconds.
_DURATION_TEXT = r"^\s*(?:[-+]?\d+(?:\.\d+)?\s*days?\b.*|[-+]?\d+:\d{2}:\d{2}(?:\.\d+)?)\s*$"
#: Values tried first: text that is not durations (most columns) is told from the first few, at no cost.
_DURATION_SAMPLE = 20
#: Column names a note lists at most (the summary stays small); the rest are counted.
NOTE_NAMES = 20


def named_columns(columns: Sequence[str]) -> str:
    """``['a', 'b']``, or the first :data:`NOTE_NAMES` and how many more, for a note."""
    more = len(columns) - NOTE_NAMES
    return f"{list(columns[:NOTE_NAMES])}" + (f" and {more} more" if more > 0 else "")


def durations_as_timedeltas(
    reference: pd.DataFrame, current: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """``(reference, current, notes)`` with each column of durations written as text (a timedelta column
    written to CSV) read as timedeltas, so that it is compared in seconds as a Parquet duration is.

    A column is read so when it is text of durations (:data:`_DURATION_TEXT`, every non-null value) or
    already durations in both frames, and text in one at least; any other column is left as it is (text
    of which some values are no duration stays text, for the drift check to compare or refuse). Cheap on
    large frames: a few values first, then each distinct value parsed once.

    :param reference: the reference data.
    :param current: the current data.
    :returns: the frames (the same objects when nothing was read) and the notes for the summary's
        ``data_quality.notes``: what :func:`read_frame` noted reading each CSV file (``frame.attrs``
        :data:`READ_NOTES`: a pandas index left out, ...), then which columns were read as durations.
    """
    seen: dict[str, list[str]] = {}
    for label, frame in (("reference", reference), ("current", current)):
        for note in frame.attrs.get(READ_NOTES, ()):
            seen.setdefault(note, []).append(label)
    notes = [f"{' and '.join(labels)} data: {note}" for note, labels in seen.items()]
    read: list[str] = []
    parsed: tuple[dict[Any, pd.Series], dict[Any, pd.Series]] = ({}, {})
    in_current = set(current.columns)
    for column in reference.columns:
        if column not in in_current:
            continue
        pair = [reference[column], current[column]]
        if any(isinstance(p, pd.DataFrame) for p in pair):  # duplicate names: compute_drift refuses them
            continue
        timedeltas = [None if _is_duration(p) else _parsed_durations(p) for p in pair]
        if any(t is None and not _is_duration(p) for t, p in zip(timedeltas, pair, strict=True)):
            continue
        if all(t is None for t in timedeltas):  # durations already in both: compared in seconds as they are
            continue
        for converted, t in zip(parsed, timedeltas, strict=True):
            if t is not None:
                converted[column] = t
        read.append(str(column))
    if not read:
        return reference, current, notes
    reference, current = (
        frame.assign(**converted) if converted else frame
        for frame, converted in zip((reference, current), parsed, strict=True)
    )
    return reference, current, [*notes, f"durations written as text, compared in seconds: {named_columns(read)}"]


def _is_duration(series: pd.Series) -> bool:
    dtype = series.dtype
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa  # an ArrowDtype means pyarrow is installed

        return pa.types.is_duration(dtype.pyarrow_dtype)
    return pd.api.types.is_timedelta64_dtype(dtype)


def _parsed_durations(series: pd.Series) -> pd.Series | None:
    """``series`` as timedeltas when it is text whose every non-null value is a duration; else None."""
    dtype = series.dtype
    if not pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return None
    head = series.iloc[: 5 * _DURATION_SAMPLE].dropna()
    sample = head.iloc[:_DURATION_SAMPLE] if not head.empty else series.dropna().iloc[:_DURATION_SAMPLE]
    if sample.empty or _as_durations(sample) is None:
        return None
    codes, distinct = pd.factorize(series)  # a null is code -1: NaT below
    timedeltas = _as_durations(pd.Series(distinct, dtype=object))
    if timedeltas is None:
        return None
    values = pd.TimedeltaIndex(timedeltas).take(codes, allow_fill=True, fill_value=pd.NaT)
    return pd.Series(values, index=series.index, name=series.name)


def _as_durations(values: pd.Series) -> pd.Series | None:
    """``values`` (text, no null) as timedeltas when every one is a duration (:data:`_DURATION_TEXT`); else None."""
    if pd.api.types.infer_dtype(values, skipna=False) != "string" or not values.str.match(_DURATION_TEXT).all():
        return None
    timedeltas = pd.to_timedelta(values, errors="coerce")
    return None if timedeltas.isna().any() else timedeltas


def parse_window(window: str) -> pd.Timedelta:
    """A positive duration from ``"7d"``, ``"12h"``, ``"30min"``, ``"2w"`` or ISO ``"P7D"``: models.yaml's
    check reads it with the same parser (:func:`~airflow_provider_agentic_mlops.core.durations.parse_duration`)."""
    return pd.Timedelta(parse_duration(window))


#: Epoch numbers are read in the first unit whose bound is above their median magnitude: seconds
#: up to 1e11 (the year 5138), milliseconds up to 1e14, microseconds up to 1e17, else nanoseconds.
#: Each unit's dates from March 1973 on fall in its own range; only milliseconds before then read as seconds.
#: The median, not the largest value: one sentinel (9999-12-31) or a few rows of another producer
#: must not change the unit of every row. Values outside the unit's range are left out of the window.
EPOCH_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))
#: The units in words, for messages.
EPOCH_WORDS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}


def _epoch_magnitudes(stamps: pd.Series) -> Any:
    """The column's numbers as a float array (NaN where missing), or None when it does not hold numbers."""
    dtype = stamps.dtype
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return None
    import numpy as np

    return np.abs(stamps.to_numpy(dtype=np.float64, na_value=np.nan))


def epoch_unit(stamps: pd.Series) -> str | None:
    """The unit of a numeric timestamp column read as time since 1970-01-01 UTC (``"s"``, ``"ms"``,
    ``"us"`` or ``"ns"``, by :data:`EPOCH_UNITS`, from the median magnitude); None when the column
    holds no numbers.

    pandas reads every number as nanoseconds, which would put epoch seconds in January 1970."""
    import numpy as np

    values = _epoch_magnitudes(stamps)
    if values is None:
        return None
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    median = float(np.median(values))
    return next((unit for bound, unit in EPOCH_UNITS if median < bound), "ns")


def _outside_unit(stamps: pd.Series, unit: str) -> Any:
    """Boolean array: the numbers whose magnitude is outside ``unit``'s range in :data:`EPOCH_UNITS`
    (another unit, or a sentinel); missing values are not."""
    import numpy as np

    bounds = [0.0, *(bound for bound, _ in EPOCH_UNITS), np.inf]
    index = ["s", "ms", "us", "ns"].index(unit)
    values = _epoch_magnitudes(stamps)
    with np.errstate(invalid="ignore"):
        return (values < bounds[index]) | (values >= bounds[index + 1])


#: An empty window is quiet (a night, a paused feed) only when the data holds a timestamp at most
#: QUIET_WINDOWS windows (and at least QUIET_MIN) before the window's end: rows that show the feed was
#: alive. An empty export, no timestamp at all, or timestamps all older (misread numbers, a stale export)
#: or all after the end is a broken or misread feed: an error, never a quiet window.
QUIET_WINDOWS = 10
QUIET_MIN = pd.Timedelta(days=30)


def select_window(
    frame: pd.DataFrame,
    timestamp_column: str,
    window: str | None,
    end: datetime | None = None,
    *,
    role: str = "current data",
) -> pd.DataFrame:
    """Rows whose timestamp is in ``(end - window, end]``; all rows when ``window`` is None.

    :param frame: the data.
    :param timestamp_column: column holding the timestamps: datetimes, strings pandas parses, or
        numbers since 1970-01-01 UTC in the unit of their median magnitude (:func:`epoch_unit`); numbers
        outside that unit's range are left out, with a warning in the log that says how many.
    :param window: duration such as ``"7d"``; None keeps every row.
    :param end: end of the window (the data interval end); default now, UTC. Naive datetimes are UTC.
    :param role: what the data is, for messages.
    :raises ValueError: when the window holds no row and that is no quiet window of a live feed (see
        :data:`QUIET_WINDOWS`): the frame has no rows, no timestamp could be read, or every timestamp is
        after the end or long before the window. The message names the column, what was read and the fix.
    """
    if timestamp_column not in frame.columns:
        raise ValueError(
            f"timestamp column '{timestamp_column}' is missing from {role}: "
            f"{column_hint(timestamp_column, frame.columns)} Fix timestamp_column or the export."
        )
    if window is None:
        return frame
    delta = parse_window(window)
    end_ts = pd.Timestamp(end or datetime.now(timezone.utc))
    end_ts = end_ts.tz_localize("UTC") if end_ts.tzinfo is None else end_ts.tz_convert("UTC")
    if len(frame) == 0:
        raise ValueError(
            f"{role} has no rows (an empty export), so nothing shows whether the window ({window} before "
            f"{_when(end_ts)}) is quiet or the feed is broken. Check the export job and the path. If the export "
            "writes only the window's rows, a quiet window looks the same: export a longer span (e.g. twice "
            "the window), so that rows before the window show the feed is alive."
        )
    column = frame[timestamp_column]
    where = f"timestamp column '{timestamp_column}' in {role}"
    unit = epoch_unit(column)
    n_other = 0
    if unit is not None:
        outside = _outside_unit(column, unit)
        n_other = int(outside.sum())
        if n_other:
            _log.warning(
                "%s: %d of %d numbers are outside the range of %s (the unit of most values, by their median), "
                "e.g. %s: another unit or a sentinel such as 9999-12-31. They are left out of the window; write "
                "every row in one unit in the export.",
                where,
                n_other,
                len(column),
                EPOCH_WORDS[unit],
                column[outside].head(3).tolist(),
            )
            column = column.mask(outside)
    try:
        stamps = pd.to_datetime(column, utc=True, unit=unit)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where} does not hold dates ({exc}). Fix timestamp_column or the export.") from exc
    keep = (stamps > end_ts - delta) & (stamps <= end_ts)
    if not keep.any():
        _check_quiet_window(n_other, stamps, frame[timestamp_column].dtype, unit, where, window, end_ts)
    return frame.loc[keep.to_numpy()]


def _check_quiet_window(
    n_other: int, stamps: pd.Series, dtype: Any, unit: str | None, where: str, window: str, end: pd.Timestamp
) -> None:
    """Return when a window without rows is a quiet window of a live feed; else raise, saying what was read.
    ``n_other``: numbers left out as outside the unit's range (null in ``stamps``)."""
    known = stamps.dropna()
    if known.empty:
        values = (
            f"{len(stamps) - n_other} values are null and {n_other} outside the range of {EPOCH_WORDS[unit]}"
            if n_other and unit
            else f"all {len(stamps)} values are null"
        )
        raise ValueError(
            f"{where} has no timestamps: {values} (dtype {dtype}), so no row can be placed in the window "
            f"({window}). Fix the export (it wrote the column empty) or timestamp_column."
        )
    first, last = known.min(), known.max()
    read_as = f"read as {EPOCH_WORDS[unit]} since 1970, " if unit else ""
    until_end = known[known <= end]
    if until_end.empty:
        raise ValueError(
            f"{where}: all {len(known)} timestamps are after the window's end {_when(end)} ({read_as}they range "
            f"from {first} to {last}), so the window ({window}) holds none. Check the timestamps' time zone, date "
            "format (day/month order) and unit in the export, or the run's data interval (a backfill reading "
            "today's export)."
        )
    horizon = max(QUIET_WINDOWS * parse_window(window), QUIET_MIN)
    newest = until_end.max()
    if newest >= end - horizon:
        return  # rows before the window: the feed was alive, the window is quiet
    if unit is not None and last < pd.Timestamp("1971-01-01", tz="UTC"):
        hint = (
            "Numbers that all fall in 1970 are probably not epoch times (dates written as YYYYMMDD, ids): write "
            "the column as datetimes or date strings in the export, or fix timestamp_column."
        )
    else:
        hint = (
            "Check that the export job still writes recent rows and that timestamp_column names the event time; "
            "a feed paused that long is a pipeline fault (pause the DAG until it resumes)."
        )
    raise ValueError(
        f"{where}: no row is within {window} before {_when(end)}, and the newest timestamp, {newest}, is more "
        f"than {horizon.days} days before that end ({read_as}the timestamps range from {first} to {last}), so "
        f"this is no quiet window of a live feed. {hint}"
    )


def _when(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


__all__ = [
    "ParquetUnavailable",
    "describe_source",
    "detect_format",
    "epoch_unit",
    "import_parquet",
    "is_local",
    "is_module_function",
    "local_path",
    "parse_window",
    "read_frame",
    "select_window",
]
