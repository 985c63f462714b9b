"""DriftCheckOperator on CSV exports as they come: trailing delimiters, other separators, a written index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.unit.operators.test_drift_operator import check

pytestmark = pytest.mark.filterwarnings("ignore")


def people(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50000, 5000, n).round(2),
            "country": rng.choice(["fr", "de"], n),
        }
    )


def test_a_trailing_delimiter_in_one_export_shifts_no_column(tmp_path: Path) -> None:
    people(1500, 1).to_csv(tmp_path / "ref.csv", index=False)
    lines = people(1200, 2).to_csv(index=False).splitlines()
    (tmp_path / "cur.csv").write_text("\n".join([lines[0], *(line + "," for line in lines[1:])]) + "\n")

    result = check(tmp_path, str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"))

    columns = result["columns"]
    assert {name: (c["type"], c["drifted"]) for name, c in columns.items()} == {
        "age": ("num", False),
        "income": ("num", False),
        "country": ("cat", False),
    }
    assert result["data_quality"]["skipped_columns"] == {}


def test_a_semicolon_export_with_decimal_commas_is_an_error_saying_so(tmp_path: Path) -> None:
    for name, seed in (("ref", 3), ("cur", 4)):
        people(1500, seed).to_csv(tmp_path / f"{name}.csv", index=False, sep=";", decimal=",")

    with pytest.raises(ValueError, match=r"reference data at '.*ref.csv' looks ';'-separated.*write it comma-"):
        check(tmp_path, str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"))


def test_a_pandas_index_written_to_the_csv_is_not_checked_as_a_feature(tmp_path: Path) -> None:
    people(20000, 5).to_csv(tmp_path / "ref.csv")  # pandas' default index=True
    people(3000, 6).to_csv(tmp_path / "cur.csv")

    result = check(tmp_path, str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"))

    assert sorted(result["columns"]) == ["age", "country", "income"]
    assert result["n_drifted"] == 0
    assert result["data_quality"]["notes"] == [
        "reference and current data: a pandas index written to the CSV (blank first header cell, increasing row "
        "numbers) left out: not a feature"
    ]


def test_numbers_with_thousands_separators_are_named_in_the_notes(tmp_path: Path) -> None:
    reference, current = people(1500, 7), people(1200, 8)
    reference.to_csv(tmp_path / "ref.csv", index=False)
    current.assign(income=current["income"].map("{:,.2f}".format)).to_csv(tmp_path / "cur.csv", index=False)

    result = check(tmp_path, str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"), strict=False)

    assert (
        "current data: looks like numbers with thousands separators, read as text: ['income']; write them without "
        "separators or convert them before the check"
    ) in result["data_quality"]["notes"]
