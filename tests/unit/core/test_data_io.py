"""Reading reference/current data: formats, locations, columns, windows, and errors that help."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pandas as pd
import pytest

from airflow_provider_agentic_mlops.core.data_io import (
    READ_NOTES,
    describe_source,
    detect_format,
    durations_as_timedeltas,
    epoch_unit,
    parse_window,
    read_frame,
    select_window,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"amount": [1.5, 2.5, 3.5], "country": ["fr", "de", "it"], "n": [1, 2, 3]})


def test_reads_csv_and_parquet_from_paths_and_file_uris(frame, tmp_path) -> None:
    frame.to_csv(tmp_path / "data.csv", index=False)
    frame.to_parquet(tmp_path / "data.parquet")

    for source in (tmp_path / "data.csv", str(tmp_path / "data.parquet"), (tmp_path / "data.parquet").as_uri()):
        pd.testing.assert_frame_equal(read_frame(source), frame)


def test_reads_a_directory_of_parquet_files(frame, tmp_path) -> None:
    (tmp_path / "ds").mkdir()
    frame.iloc[:2].to_parquet(tmp_path / "ds" / "part-0.parquet")
    frame.iloc[2:].to_parquet(tmp_path / "ds" / "part-1.parquet")

    assert len(read_frame(tmp_path / "ds")) == 3


def test_reads_only_requested_columns_that_exist(frame, tmp_path) -> None:
    frame.to_parquet(tmp_path / "data.parquet")
    frame.to_csv(tmp_path / "data.csv", index=False)

    for name in ("data.parquet", "data.csv"):
        read = read_frame(tmp_path / name, columns=["amount", "missing"])
        assert list(read.columns) == ["amount"]


def test_other_schemes_are_read_through_the_opener(frame) -> None:
    payload = frame.to_parquet()
    opened = []

    def opener(uri: str) -> io.BytesIO:
        opened.append(uri)
        return io.BytesIO(payload)

    read = read_frame("s3://bucket/cur.parquet", opener=opener, columns=["country"])

    assert opened == ["s3://bucket/cur.parquet"]
    assert list(read["country"]) == ["fr", "de", "it"]


def test_other_schemes_without_an_opener_are_refused() -> None:
    with pytest.raises(ValueError, match="'s3://bucket/cur.parquet': no opener for this URI scheme"):
        read_frame("s3://bucket/cur.parquet", role="current data")


def test_callable_source_is_called_and_must_return_a_dataframe(frame) -> None:
    assert read_frame(lambda: frame) is frame

    def load_reference() -> list:
        return []

    with pytest.raises(ValueError, match="load_reference returned list; it must return a pandas DataFrame"):
        read_frame(load_reference, role="reference data")


def test_module_function_source_is_imported_when_read_and_must_return_a_dataframe(frame, tmp_path, monkeypatch) -> None:
    (tmp_path / "team_exports.py").write_text(
        "import pandas as pd\n"
        "def load():\n    return pd.DataFrame({'amount': [1.5], 'n': [1]})\n"
        "def rows():\n    return [1, 2]\n"
        "def broken():\n    raise RuntimeError('warehouse down')\n"
        "not_callable = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    assert read_frame("team_exports:load", role="reference data").to_dict("list") == {"amount": [1.5], "n": [1]}
    assert describe_source("team_exports:load") == "team_exports:load"
    for source, expected in (
        ("team_exports:rows", r"from 'team_exports:rows' returned list; it must return a pandas DataFrame"),
        ("team_exports:broken", r"reference data from 'team_exports:broken' failed: RuntimeError: warehouse down"),
        ("team_exports:nothing", r"reference data 'team_exports:nothing': module 'team_exports' has no function"),
        ("team_exports:not_callable", r"'team_exports:not_callable': module 'team_exports' has no function"),
        ("no_such_team_module:load", r"'no_such_team_module:load': cannot import module 'no_such_team_module'"),
    ):
        with pytest.raises(ValueError, match=expected):
            read_frame(source, role="reference data")


def test_unsupported_file_type_names_the_file_and_the_supported_ones(tmp_path) -> None:
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(ValueError, match=r"reference data '.*data.json': unsupported file type .json. Use Parquet"):
        read_frame(tmp_path / "data.json", role="reference data")


def test_missing_file_is_named(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"current data not found at '.*nope.csv'"):
        read_frame(tmp_path / "nope.csv", role="current data")


def test_corrupt_parquet_is_named_with_what_to_do(tmp_path) -> None:
    (tmp_path / "cur.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ValueError, match=r"current data at '.*cur.parquet' could not be read as PARQUET: .*re-run"):
        read_frame(tmp_path / "cur.parquet", role="current data")


def test_unreadable_csv_is_named(tmp_path) -> None:
    (tmp_path / "cur.csv").write_bytes(b"\xff\xfe\x00\x00garbage\x00")
    with pytest.raises(ValueError, match=r"current data at '.*cur.csv' could not be read as CSV"):
        read_frame(tmp_path / "cur.csv", role="current data")


def test_format_detection() -> None:
    assert detect_format("s3://b/x.PARQUET") == "parquet"
    assert detect_format("gs://b/x.csv.gz") == "csv"
    assert describe_source("s3://b/x.csv") == "s3://b/x.csv"


def test_window_keeps_rows_within_the_duration_before_the_end() -> None:
    stamps = pd.to_datetime(["2024-05-01", "2024-05-05", "2024-05-08", "2024-05-09"], utc=True)
    frame = pd.DataFrame({"ts": stamps, "x": [1, 2, 3, 4]})
    end = datetime(2024, 5, 8, tzinfo=timezone.utc)

    kept = select_window(frame, "ts", "7d", end)

    assert list(kept["x"]) == [2, 3]


def test_window_parses_string_timestamps_and_naive_ends() -> None:
    frame = pd.DataFrame({"ts": ["2024-05-01T00:00:00", "2024-05-07T12:00:00"], "x": [1, 2]})

    kept = select_window(frame, "ts", "12h", datetime(2024, 5, 7, 23, 0))

    assert list(kept["x"]) == [2]


@pytest.mark.parametrize(
    ("divisor", "unit", "dtype"),
    [
        (10**9, "s", "int64"),
        (10**6, "ms", "int64"),
        (10**3, "us", "int64"),
        (1, "ns", "int64"),
        (10**9, "s", "float64"),  # seconds with a fraction
        (10**6, "ms", "Int64"),  # nullable, with a missing stamp
    ],
)
def test_window_reads_epoch_numbers_in_the_unit_their_magnitude_says(divisor: int, unit: str, dtype: str) -> None:
    # pandas reads every number as nanoseconds: epoch seconds all landed in January 1970, and the
    # window silently kept no rows
    end = pd.Timestamp("2024-05-08T00:00:00Z")
    hours = pd.date_range(end - pd.Timedelta(days=14), end, freq="h", inclusive="right")  # 168 in the last 7 days
    numbers = pd.Series(hours.asi8 // divisor).astype(dtype)
    if dtype == "Int64":
        numbers.iloc[-1] = pd.NA
    frame = pd.DataFrame({"ts": numbers, "x": range(len(hours))})

    assert epoch_unit(frame["ts"]) == unit
    kept = select_window(frame, "ts", "7d", end.to_pydatetime())

    assert len(kept) == (167 if dtype == "Int64" else 168)
    assert kept["x"].min() == 168


WINDOW_END = datetime(2024, 5, 8, tzinfo=timezone.utc)
#: 200 event times over the 6 days before the end: all within a 7d window
RECENT = pd.Series(pd.date_range(WINDOW_END - pd.Timedelta(days=6), WINDOW_END, periods=200))


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        # dates written as YYYYMMDD numbers: read as seconds since 1970, they all fall in August 1970
        (
            RECENT.dt.strftime("%Y%m%d").astype(int),
            r"timestamp column 'ts' in current data: no row is within 7d before 2024-05-08 00:00 UTC.*"
            r"\(read as seconds since 1970, the timestamps range from 1970-08-23 .* to 1970-08-23 .*"
            r"probably not epoch times \(dates written as YYYYMMDD, ids\)",
        ),
        # a column of ids named as the timestamp
        (
            pd.Series(range(1, 201)),
            r"range from 1970-01-01 00:00:01\+00:00 to 1970-01-01 00:03:20\+00:00.*YYYYMMDD, ids",
        ),
        # the export wrote the column empty (a CSV reads it as float64, or as object)
        (pd.Series([float("nan")] * 200), r"timestamp column 'ts' in current data has no timestamps: all 200"),
        (pd.Series([None] * 200, dtype=object), r"timestamp column 'ts' in current data has no timestamps: all 200"),
        # every row after the window's end: a day/month swap, a time zone, or a backfill reading today's file
        (
            RECENT + pd.Timedelta(days=60),
            r"all 200 timestamps are after the window's end 2024-05-08 00:00 UTC \(they range from 2024-07-01",
        ),
        # a feed that stopped long ago: the export job no longer writes recent rows
        (
            RECENT - pd.Timedelta(days=400),
            r"the newest timestamp, 2023-04-04 00:00:00\+00:00, is more than 70 days before that end",
        ),
    ],
)
def test_an_empty_window_from_unusable_timestamps_is_an_error(stamps: pd.Series, expected: str) -> None:
    # these all ended in an empty window, which the decision read as a quiet one ("insufficient
    # data", no_action) on every run: a broken feed reported green
    frame = pd.DataFrame({"ts": stamps, "x": range(len(stamps))})

    with pytest.raises(ValueError, match=expected):
        select_window(frame, "ts", "7d", WINDOW_END)


def test_an_empty_export_with_a_window_is_an_error() -> None:
    # a header-only file: nothing shows the feed is alive, so it is no quiet window
    frame = pd.DataFrame({"ts": pd.Series([], dtype="datetime64[ns, UTC]"), "x": pd.Series([], dtype=float)})

    with pytest.raises(ValueError, match=r"current data has no rows \(an empty export\).*export a longer span"):
        select_window(frame, "ts", "1d", WINDOW_END)


@pytest.mark.parametrize("days_ago", [1.5, 3, 29])
def test_a_quiet_window_of_a_live_feed_is_empty_not_an_error(days_ago: float) -> None:
    # a night or a paused feed: rows before the window show the feed was alive
    frame = pd.DataFrame({"ts": RECENT - pd.Timedelta(days=days_ago), "x": range(200)})  # newest days_ago back
    frame.loc[199, "ts"] = None  # a row without a timestamp changes nothing

    kept = select_window(frame, "ts", "1d", WINDOW_END)

    assert kept.empty


@pytest.mark.parametrize(
    ("unit", "odd", "n_odd", "unit_words"),
    [
        # a "no date" sentinel, 9999-12-31T23:59:59 in seconds: read as milliseconds, it put every row in 1970
        ("s", lambda s: s.where(s.index != 0, 253402300799), 1, "seconds"),
        # 10 rows written in milliseconds by another producer: only those 10 were kept
        ("s", lambda s: s.where(s.index >= 10, s * 1000), 10, "seconds"),
        # the other way round: most rows in milliseconds, 5 in seconds
        ("ms", lambda s: (s * 1000).where(s.index >= 5, s), 5, "milliseconds"),
    ],
)
def test_the_epoch_unit_is_that_of_most_values_and_values_of_another_magnitude_are_left_out(
    unit: str, odd, n_odd: int, unit_words: str, caplog: pytest.LogCaptureFixture
) -> None:
    seconds = (RECENT.astype("int64") // 10**9).rename("ts")
    frame = pd.DataFrame({"ts": odd(seconds), "x": range(200)})

    assert epoch_unit(frame["ts"]) == unit
    with caplog.at_level("WARNING", logger="airflow_provider_agentic_mlops.core.data_io"):
        kept = select_window(frame, "ts", "7d", WINDOW_END)

    assert list(kept["x"]) == list(range(n_odd, 200))
    assert (
        f"timestamp column 'ts' in current data: {n_odd} of 200 numbers are outside the range of {unit_words}"
        in caplog.text
    )


def test_a_column_without_numbers_has_no_epoch_unit() -> None:
    # an empty CSV column reads as float64: no number to read a unit from
    assert epoch_unit(pd.Series([float("nan")] * 3)) is None


def test_only_numbers_are_epoch_times() -> None:
    assert epoch_unit(pd.Series(pd.to_datetime(["2024-05-01"], utc=True))) is None
    assert epoch_unit(pd.Series(["2024-05-01"])) is None
    assert epoch_unit(pd.Series([True])) is None


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ("7d", pd.Timedelta(days=7)),
        ("7 days", pd.Timedelta(days=7)),
        ("12h", pd.Timedelta(hours=12)),
        ("12 hours", pd.Timedelta(hours=12)),
        ("30min", pd.Timedelta(minutes=30)),
        ("90s", pd.Timedelta(seconds=90)),
        ("2w", pd.Timedelta(weeks=2)),
        ("1d12h", pd.Timedelta(hours=36)),
        ("1.5h", pd.Timedelta(minutes=90)),
        ("P7D", pd.Timedelta(days=7)),
        ("PT12H", pd.Timedelta(hours=12)),
        ("P1DT2H30M", pd.Timedelta(minutes=1590)),
        ("PT1.5H", pd.Timedelta(minutes=90)),
    ],
)
def test_window_durations(window: str, expected: pd.Timedelta) -> None:
    assert parse_window(window) == expected


@pytest.mark.parametrize("window", ["7", "1M", "1y", "7dd", "d", "P", "PT", ""])
def test_a_window_without_a_clear_unit_is_refused(window: str) -> None:
    # pandas reads "7" as 7 nanoseconds: a window that silently keeps no rows
    with pytest.raises(ValueError, match="is not a duration"):
        parse_window(window)


def test_window_errors_name_the_problem() -> None:
    frame = pd.DataFrame({"ts": ["not a date"], "x": [1]})
    with pytest.raises(ValueError, match="current_window 'a week' is not a duration"):
        parse_window("a week")
    with pytest.raises(ValueError, match="timestamp column 'when' is missing from current data"):
        select_window(frame, "when", "7d")
    with pytest.raises(ValueError, match="timestamp column 'ts' in current data does not hold dates"):
        select_window(frame, "ts", "7d")


def test_export_mistakes_are_told_with_their_fix(frame, tmp_path) -> None:
    # each said "check that the file is complete", or was read wrong: one column 'amount;country;n', amount.1
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table([pa.array([1.0]), pa.array([2.0])], names=["amount", "amount"]), tmp_path / "dup.parquet")
    frame.to_csv(tmp_path / "semicolon.csv", index=False, sep=";")
    frame.assign(country="été").to_csv(tmp_path / "latin1.csv", index=False, encoding="latin-1")
    (tmp_path / "dup.csv").write_text("amount,n,amount\n1,2,3\n")
    cases = {
        "dup.parquet": r"has columns named more than once \(\['amount'\]\).*rename",
        "semicolon.csv": r"looks ';'-separated.*write it comma-separated",
        "latin1.csv": r"could not be read as CSV: it is not UTF-8 \(byte 0xe9 .*export it as UTF-8",
        "dup.csv": r"has columns named more than once \(\['amount'\]\).*rename",
    }
    for name, expected in cases.items():
        with pytest.raises(ValueError, match=rf"current data at '.*{name}' {expected}"):
            read_frame(str(tmp_path / name), role="current data")


def test_blank_header_cells_read_as_pandas_names_them(tmp_path) -> None:
    # spreadsheet exports with trailing commas: 'a,b,,' read as Unnamed: 2, Unnamed: 3, never as duplicates
    (tmp_path / "blank.csv").write_text("a,b,,\n1,2,,\n3,4,,\n")
    assert list(read_frame(str(tmp_path / "blank.csv"))) == ["a", "b", "Unnamed: 2", "Unnamed: 3"]
    assert list(read_frame(str(tmp_path / "blank.csv"), columns=["a", "b"])) == ["a", "b"]


def test_duplicates_outside_the_requested_columns_are_not_refused(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "dup.csv").write_text("a,b,note,note\n1,2,x,y\n")
    table = pa.table([pa.array([1]), pa.array([2]), pa.array([3]), pa.array([4])], names=["a", "b", "n", "n"])
    pq.write_table(table, tmp_path / "dup.parquet")
    for name in ("dup.csv", "dup.parquet"):
        assert list(read_frame(str(tmp_path / name), columns=["a", "b"])) == ["a", "b"]
        with pytest.raises(ValueError, match=r"named more than once \(\['(note|n)'\]\)"):
            read_frame(str(tmp_path / name), columns=["a", "note", "n"])


def test_a_single_column_whose_name_holds_a_semicolon_is_read(tmp_path) -> None:
    (tmp_path / "one.csv").write_text('"total; incl. tax"\n1\n2\n')
    assert list(read_frame(str(tmp_path / "one.csv"))) == ["total; incl. tax"]
    # the rows split like the header: a ';'-separated export, told as such
    (tmp_path / "semi.csv").write_text("id;name\n1;x\n2;y\n")
    with pytest.raises(ValueError, match="looks ';'-separated"):
        read_frame(str(tmp_path / "semi.csv"))


def test_a_pyarrow_that_does_not_import_is_named_with_the_installed_versions_and_the_fix(
    frame, tmp_path, pyarrow_that_needs_numpy_2
) -> None:
    from importlib.metadata import version

    (tmp_path / "data.parquet").write_bytes(b"PAR1")  # any file: pyarrow fails before reading it
    with pytest.raises(ImportError) as raised:
        read_frame(tmp_path / "data.parquet")

    message = str(raised.value)
    # not "could not be read as PARQUET ... re-run the export": the file is not the problem
    assert "re-run the export" not in message
    assert pyarrow_that_needs_numpy_2 in message
    for name in ("pyarrow", "numpy", "pandas"):
        assert f"{name} {version(name)}" in message
    assert "pip install 'pyarrow<26'" in message
    assert "numpy>=2" in message and "pandas>=2.2.2" in message


def test_durations_written_as_text_are_read_as_timedeltas_in_both_frames() -> None:
    reference = pd.DataFrame({"wait": ["0 days 00:05:00", None, "-1 days +23:55:00"], "hms": ["00:05:00"] * 3})
    current = pd.DataFrame({"wait": pd.to_timedelta(["1 day", "2 min", None]), "hms": ["01:00:00.5", None, "12:00:00"]})

    ref, cur, notes = durations_as_timedeltas(reference, current)

    assert ref["wait"].dt.total_seconds().tolist()[::2] == [300.0, -300.0] and pd.isna(ref["wait"][1])
    assert cur["wait"].equals(current["wait"])  # already durations
    assert cur["hms"].dt.total_seconds().tolist()[::2] == [3600.5, 43200.0]
    assert notes == ["durations written as text, compared in seconds: ['wait', 'hms']"]


@pytest.mark.parametrize(
    "values",
    [
        ["5", "7", "12"],  # ids or numbers as text: pandas would read them as nanoseconds
        ["00:05:00"] * 30 + ["5"],  # a value past the first few that is no duration
        ["Monday", "Tuesday", "Sunday"],
        ["0 days 00:05:00", "0 days 00:06:00", "late"],
    ],
)
def test_text_that_is_not_all_durations_is_left_as_it_is(values: list[str]) -> None:
    reference = pd.DataFrame({"c": values})
    current = pd.DataFrame({"c": ["00:01:00"] * len(values)})

    ref, cur, notes = durations_as_timedeltas(reference, current)

    assert (ref is reference, cur is current, notes) == (True, True, [])


def test_a_trailing_delimiter_on_every_row_is_read_without_shifting_the_columns(tmp_path) -> None:
    # pandas made the first field the index: 'age' held incomes, 'country' was all null
    (tmp_path / "trail.csv").write_text("age,income,country\n31,50000.5,fr,\n45,61000.0,de,\n")
    expected = {"age": [31, 45], "income": [50000.5, 61000.0], "country": ["fr", "de"]}
    frame = read_frame(str(tmp_path / "trail.csv"))
    assert isinstance(frame.index, pd.RangeIndex) and frame.to_dict("list") == expected
    picked = read_frame(str(tmp_path / "trail.csv"), columns=["age", "country"])
    assert picked.to_dict("list") == {"age": expected["age"], "country": expected["country"]}


@pytest.mark.parametrize(
    "rows",
    [
        "31,50000.5,fr,9\n45,61000.0,de,8\n",  # a value after the last header name, on every row
        "31,50000.5,fr,\n45,61000.0,de,8\n",  # on one row only
        "31,50000.5,fr,,\n45,61000.0,de,,\n",  # more than one extra field
    ],
)
def test_rows_with_more_fields_than_the_header_are_refused(tmp_path, rows: str) -> None:
    (tmp_path / "wide.csv").write_text("age,income,country\n" + rows)
    for columns in (None, ["age"]):  # also when the extra fields are not read
        with pytest.raises(
            ValueError, match=r"current data at '.*wide.csv' has rows with [45] fields but a header with 3"
        ):
            read_frame(str(tmp_path / "wide.csv"), role="current data", columns=columns)


@pytest.mark.parametrize("trailing", ["", ","])
def test_rows_wider_than_the_header_past_the_first_rows_are_refused(tmp_path, trailing: str) -> None:
    # without a trailing delimiter pandas stops at the row ("Expected 3 fields in line 5002, saw 4"); with one
    # on every row it dropped the late row's extra value with a warning only
    rows = "".join(f"{i},{i * 10}.5,fr{trailing}\n" for i in range(5000)) + "7,70.5,de,oops\n"
    (tmp_path / "late.csv").write_text("age,income,country\n" + rows)
    said = r"(4 fields but a header with 3 \(line 5002\)|more fields than the 3 of its header)"
    with pytest.raises(ValueError, match=rf"late.csv' has rows with {said}"):
        read_frame(str(tmp_path / "late.csv"), role="current data")


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("decimal.csv", "amount;country\n1012,57;fr\n998,1;de\n1003,5;fr\n", "';'"),  # European decimal commas
        ("city.csv", "amount;addr\n12;Paris, FR\n40;Berlin, DE\n", "';'"),  # text holding commas
        ("mixed.csv", "amount;addr\n12;Paris\n40;Berlin, DE\n", "';'"),  # in some rows only
        ("tabs.csv", "amount\tcountry\n1,5\tfr\n2,5\tde\n", "tab"),
        ("commas.tsv", "amount,addr\n12,Paris\tFR\n40,Berlin\tDE\n", "comma"),
    ],
)
def test_a_file_with_another_separator_is_refused_when_its_values_hold_the_expected_one(
    tmp_path, name: str, text: str, said: str
) -> None:
    # read as one garbage column ('amount;country') or with an index shift: drift on nonsense
    (tmp_path / name).write_text(text)
    expected = "tab" if name.endswith(".tsv") else "comma"
    with pytest.raises(ValueError, match=rf"current data at '.*{name}' looks {said}-separated.*write it {expected}-"):
        read_frame(str(tmp_path / name), role="current data")


def test_a_comma_separated_file_whose_text_holds_semicolons_is_read(tmp_path) -> None:
    (tmp_path / "notes.csv").write_text('id,note\n1,a;b;c\n2,"x, y;z"\n3,plain\n')
    assert read_frame(str(tmp_path / "notes.csv"))["note"].tolist() == ["a;b;c", "x, y;z", "plain"]


@pytest.mark.parametrize("rows", [slice(None), slice(400, 700)])  # a whole frame, or a slice of one (a window)
def test_a_pandas_index_written_to_the_csv_is_left_out_and_said(frame, tmp_path, rows: slice) -> None:
    # df.to_csv(path) writes the index (blank header, 0..n-1): it was checked as a feature 'Unnamed: 0' and drifted
    big = pd.concat([frame] * 300, ignore_index=True)
    big.iloc[rows].to_csv(tmp_path / "ref.csv")
    big.iloc[rows].to_csv(tmp_path / "cur.csv", lineterminator="\r\n")

    reference = read_frame(str(tmp_path / "ref.csv"), role="reference data")
    current = read_frame(str(tmp_path / "cur.csv"), role="current data")

    assert list(reference) == list(current) == ["amount", "country", "n"]
    _, _, notes = durations_as_timedeltas(reference, current)
    assert notes == [
        "reference and current data: a pandas index written to the CSV (blank first header cell, increasing row "
        "numbers) left out: not a feature"
    ]


def test_a_written_index_is_looked_for_only_in_the_first_column_of_the_file_not_of_the_columns_read(tmp_path) -> None:
    # with columns= (feature_columns + label + timestamp) pandas never reads the blank-named index, so the first
    # column read is a real one: a sorted epoch-seconds timestamp was dropped as "a pandas index"
    data = pd.DataFrame(
        {"event_ts": [1_700_000_000 + 60 * i for i in range(50)], "amount": range(50), "y": [0, 1] * 25}
    )
    data.to_csv(tmp_path / "cur.csv")  # index=True, pandas' default

    frame = read_frame(str(tmp_path / "cur.csv"), columns=["amount", "y", "event_ts"])

    assert sorted(frame) == ["amount", "event_ts", "y"] and READ_NOTES not in frame.attrs
    assert list(read_frame(str(tmp_path / "cur.csv"))) == ["event_ts", "amount", "y"]  # without columns=: left out


@pytest.mark.parametrize("text", ["", "\n\n\n"])
def test_an_empty_csv_is_said_to_be_empty(tmp_path, text: str) -> None:
    (tmp_path / "cur.csv").write_text(text)
    with pytest.raises(ValueError, match="No columns to parse from file") as raised:
        read_frame(str(tmp_path / "cur.csv"), role="current data")
    assert "list index out of range" not in str(raised.value)


def test_a_blank_first_column_that_is_no_index_is_kept(tmp_path) -> None:
    (tmp_path / "data.csv").write_text(",amount\n3,1.5\n1,2.5\n2,3.5\n")
    frame = read_frame(str(tmp_path / "data.csv"))
    assert list(frame) == ["Unnamed: 0", "amount"]
    assert durations_as_timedeltas(frame, frame)[2] == []


def test_numbers_with_thousands_separators_stay_text_and_are_named_in_a_note(tmp_path) -> None:
    amounts = ['"1,234.56"', "999.10", '"-12,000"', "", '"1,000,000.5"'] * 10
    (tmp_path / "cur.csv").write_text("amount,code,country\n" + "".join(f'{a},"1,2",fr\n' for a in amounts))
    (tmp_path / "ref.csv").write_text("amount,code,country\n" + "".join(f'{i}.5,"1,2",fr\n' for i in range(50)))

    reference = read_frame(str(tmp_path / "ref.csv"), role="reference data")
    current = read_frame(str(tmp_path / "cur.csv"), role="current data")

    assert current["amount"].iloc[0] == "1,234.56"  # not converted unsaid
    _, _, notes = durations_as_timedeltas(reference, current)
    # 'code' ("1,2") is no thousands-separated number
    assert notes == [
        "current data: looks like numbers with thousands separators, read as text: ['amount']; write them without "
        "separators or convert them before the check"
    ]
