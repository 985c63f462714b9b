"""core.evidence: pipeline faults, performance measured and estimated, drift severity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from airflow_provider_agentic_mlops.core.decision import performance_verdict
from airflow_provider_agentic_mlops.core.drift import compute_drift
from airflow_provider_agentic_mlops.core.evidence import (
    _looks_like_fill,
    benjamini_hochberg,
    build_evidence,
    class_mix,
    class_recall,
    detect_faults,
    drift_severity,
    estimate_performance,
    extrapolation,
    feature_importance,
    gather_evidence,
    measure_performance,
)

pytestmark = pytest.mark.filterwarnings("ignore")


def frames(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def one(size: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "amount": rng.lognormal(3, 0.5, size),
                "age": rng.normal(40, 10, size),
                "country": rng.choice(["fr", "de", "it", "es"], size),
            }
        )

    return one(n), one(n)


def faults_of(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, tuple[str, str]]:
    summary = compute_drift(reference, current)
    return {f["column"]: (f["kind"], f["detail"]) for f in detect_faults(reference, current, summary)}


def test_unchanged_data_has_no_fault() -> None:
    assert faults_of(*frames()) == {}


def test_unit_change_is_a_scale_fault_with_the_factor() -> None:
    reference, current = frames()
    kind, detail = faults_of(reference, current.assign(amount=current["amount"] * 1000))["amount"]
    assert kind == "scale_change" and "scale changed about x1,0" in detail  # x1,000 give or take noise
    kind, detail = faults_of(reference, current.assign(amount=current["amount"] / 100))["amount"]
    assert kind == "scale_change" and "about x1/99" in detail  # /100, give or take noise


def measurements(n: int, seed: int) -> pd.DataFrame:
    """Columns in physical units: a height in cm, an amount spread over a x3 range, a year-round
    temperature in Celsius (below and above zero), and a column around zero."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "height": rng.normal(170, 10, n),
            "amount": rng.lognormal(4, 0.3, n),
            "temp": rng.normal(12, 10, n),
            "x": rng.normal(0, 1, n),
        }
    )


@pytest.mark.parametrize(
    ("column", "factor", "said"),
    [
        ("height", 1 / 2.54, "multiplied by 0.3937 (cm -> inches?)"),  # all out of range: said as what it is
        ("amount", 2.54, "multiplied by 2.54 (inches -> cm?)"),  # 44% of the values out of range: no fault before
        ("amount", 1 / 2.54, "multiplied by 0.3937 (cm -> inches?)"),
        ("amount", 2.2046, "multiplied by 2.205 (kg -> lb?)"),
        ("height", 1.609, "multiplied by 1.609 (miles -> km?)"),
        ("height", 3.6, "multiplied by 3.6 (m/s -> km/h?)"),
        ("amount", 4.184, "multiplied by 4.184 (kcal -> kJ?)"),
        ("amount", 1 / 3.785, "multiplied by 0.2642 (litres -> US gallons?)"),
        ("height", 1.852, "multiplied by 1.852 (nautical miles -> km?)"),
        ("amount", 1 / 6.895, "multiplied by 0.145 (kPa -> psi?)"),
        ("amount", 2.2, "multiplied by 2.205 (kg -> lb?)"),  # the factor rounded: kg -> lb as x2.2
    ],
)
def test_a_unit_change_under_x10_is_a_scale_fault_naming_the_factor(column: str, factor: float, said: str) -> None:
    reference, current = measurements(2000, 0), measurements(2000, 1)
    kind, detail = faults_of(reference, current.assign(**{column: current[column] * factor}))[column]
    assert kind == "scale_change" and said in detail and "unit change" in detail


@pytest.mark.parametrize("factor", [3, 2, 1.7, 1 / 2])
def test_a_factor_that_is_no_unit_conversion_is_no_fault(factor: float) -> None:
    # every quantile multiplied alike, but by no conversion factor: a genuine multiplicative shift
    # (prices, durations) looks the same, so drift and performance decide
    reference, current = measurements(2000, 0), measurements(2000, 1)
    assert faults_of(reference, current.assign(amount=current["amount"] * factor)) == {}


@pytest.mark.parametrize("seed", range(8))
def test_a_conversion_of_a_skewed_column_is_found_within_its_factors_sampling_error(seed: int) -> None:
    # durations, known to 0.7% on 2,000 rows (UNIT_FACTOR_Z standard errors of it): found on every seed
    rng = np.random.default_rng(seed)
    reference, current = (pd.DataFrame({"v": rng.gamma(20, 3, 2000)}) for _ in range(2))
    kind, detail = faults_of(reference, current.assign(v=current["v"] * 2.54))["v"]
    assert kind == "scale_change" and "multiplied by 2.54 (inches -> cm?)" in detail


def test_a_conversion_by_a_rounded_factor_is_named_on_a_column_known_to_better_than_the_rounding() -> None:
    # kg -> lb as x2.2 (0.2% under 2.20462) on a column whose factor is known to 0.05%: UNIT_FACTOR_SLACK
    rng = np.random.default_rng(0)
    reference, current = (pd.DataFrame({"v": rng.normal(170, 2, 2000)}) for _ in range(2))
    kind, detail = faults_of(reference, current.assign(v=current["v"] * 2.2))["v"]
    assert kind == "scale_change" and "multiplied by 2.205 (kg -> lb?)" in detail


def test_a_factor_near_a_conversion_is_told_apart_where_it_is_measured_precisely_enough() -> None:
    # A column known to 0.1% (a 3% spread on 2,000 rows): x1.6, prices up 60%, is not miles -> km
    # (x1.609); it is then the range check's (every value past the reference's maximum).
    rng = np.random.default_rng(3)
    reference, current = (pd.DataFrame({"v": rng.normal(170, 5, 2000)}) for _ in range(2))
    kind, detail = faults_of(reference, current.assign(v=current["v"] * 1.6))["v"]
    assert kind == "out_of_range" and "miles" not in detail
    kind, detail = faults_of(reference, current.assign(v=current["v"] * 1.609344))["v"]
    assert kind == "scale_change" and "multiplied by 1.609 (miles -> km?)" in detail


def test_a_temperature_converted_from_celsius_to_fahrenheit_is_a_scale_fault() -> None:
    reference, current = measurements(2000, 0), measurements(2000, 1)
    kind, detail = faults_of(reference, current.assign(temp=current["temp"] * 1.8 + 32))["temp"]
    assert kind == "scale_change" and "converted from Celsius to Fahrenheit" in detail
    fahrenheit = reference.assign(temp=reference["temp"] * 1.8 + 32)
    kind, detail = faults_of(fahrenheit, current)["temp"]
    assert kind == "scale_change" and "converted from Fahrenheit to Celsius" in detail


def _mixture(rng: np.random.Generator, n: int, first: float) -> np.ndarray:
    return np.where(rng.random(n) < first, rng.normal(10, 1, n), rng.normal(30, 2, n))


def _half(values: np.ndarray, below: bool) -> np.ndarray:
    """Covariate shift by selection: only the values on one side of the median."""
    return values[(values <= np.median(values)) == below]


#: name: (seed, draw of (reference values, current values)). From "growth of 20%" on, each would pass
#: for a unit change without the guard of ``_unit_conversion`` named above it.
GENUINE_SHIFTS = {
    "mean +1.5 std": (7, lambda rng: (rng.normal(170, 10, 2000), rng.normal(185, 10, 2000))),
    "variance x2.5 about the mean": (7, lambda rng: (rng.normal(170, 10, 2000), rng.normal(170, 25, 2000))),
    "variance x0.4 about the mean": (7, lambda rng: (rng.normal(170, 10, 2000), rng.normal(170, 4, 2000))),
    "mixture 50/50 -> 10/90": (7, lambda rng: (_mixture(rng, 2000, 0.5), _mixture(rng, 2000, 0.1))),
    "heavy tail grows": (7, lambda rng: (rng.lognormal(3, 1, 2000), rng.lognormal(3, 1.5, 2000))),
    "counts: rate x2.5 (few values)": (7, lambda rng: (rng.poisson(3, 2000), rng.poisson(7.5, 2000))),
    "around zero: variance x2.5": (7, lambda rng: (rng.normal(0.3, 1, 2000), rng.normal(0.3, 2.5, 2000))),
    "50-row window, unchanged": (7, lambda rng: (rng.lognormal(4, 0.3, 2000), rng.lognormal(4, 0.3, 50))),
    # a real growth multiplies every quantile alike too, by a factor no conversion has: UNIT_FACTORS
    "growth of 20% on 20,000 rows": (
        7,
        lambda rng: (rng.lognormal(4, 0.3, 20_000), rng.lognormal(4, 0.3, 20_000) * 1.2),
    ),
    "amounts doubled (log-spread 0.4)": (7, lambda rng: (rng.lognormal(4, 0.4, 2000), rng.lognormal(4, 0.4, 2000) * 2)),
    "durations x1.7 (gamma, shape 20)": (7, lambda rng: (rng.gamma(20, 3, 2000), rng.gamma(20, 3 * 1.7, 2000))),
    # on a small window the factor is unsure (x2 found as 2.2): UNIT_FACTOR_TOLERANCE
    "250-row window, amounts doubled": (0, lambda rng: (rng.lognormal(4, 0.4, 2000), rng.lognormal(4, 0.4, 250) * 2)),
    # the centre and the spread both move, the quantiles bend: the fit
    "median x1.8 and log-spread x1.5": (7, lambda rng: (rng.lognormal(4, 0.3, 2000), rng.lognormal(4.6, 0.45, 2000))),
    # a column that starts at zero cut to one part of it looks multiplied: MIN_UNIT_OFFSET
    "uniform on [0, 1], lower half selected": (
        7,
        lambda rng: (rng.uniform(0, 1, 2000), _half(rng.uniform(0, 1, 4000), True)),
    ),
    "power law, upper half selected": (
        7,
        lambda rng: (rng.pareto(1.2, 2000) + 1, _half(rng.pareto(1.2, 4000) + 1, False)),
    ),
    # half the rows shifted, on a small window, can pass for x1.5: MIN_ROWS_FOR_UNIT
    "100-row window, half the rows shifted": (
        2,
        lambda rng: (rng.normal(40, 10, 2000), rng.normal(40, 10, 100) + 30 * (rng.random(100) < 0.5)),
    ),
    "50-row window, half the rows shifted": (
        15,
        lambda rng: (rng.lognormal(3, 0.3, 2000), rng.lognormal(3, 0.3, 50) + 20 * (rng.random(50) < 0.5)),
    ),
}


@pytest.mark.parametrize("shift", list(GENUINE_SHIFTS))
def test_a_genuine_shift_small_window_count_or_column_near_zero_is_no_unit_change(shift: str) -> None:
    seed, draw = GENUINE_SHIFTS[shift]
    reference, current = draw(np.random.default_rng(seed))
    assert faults_of(pd.DataFrame({"v": reference}), pd.DataFrame({"v": current})) == {}


def test_a_narrow_column_shifted_far_is_out_of_range_not_multiplied() -> None:
    # 1000 -> 1600 with a spread of 1: every quantile is x1.6, but the spread did not move
    rng = np.random.default_rng(7)
    reference, current = pd.DataFrame({"v": rng.normal(1000, 1, 2000)}), pd.DataFrame({"v": rng.normal(1600, 1, 2000)})
    assert faults_of(reference, current)["v"][0] == "out_of_range"


def test_values_mostly_outside_the_reference_range_are_a_fault() -> None:
    reference, current = frames()
    kind, detail = faults_of(reference, current.assign(age=current["age"] + 80))["age"]
    assert kind == "out_of_range" and "outside the reference range" in detail


def test_a_genuine_shift_past_the_range_is_drift_not_a_fault() -> None:
    # a uniform feature shifted by +2 std: 58% of its values pass the reference's maximum
    rng = np.random.default_rng(1)
    reference, current = (pd.DataFrame({"u": rng.uniform(0, 1, 3000)}) for _ in range(2))
    shifted = current.assign(u=current["u"] + 2 * current["u"].std())
    assert faults_of(reference, shifted) == {}
    assert compute_drift(reference, shifted).columns["u"].drifted  # drift, weighed by severity
    # shifted past the whole reference range: nothing overlaps any more, a broken feed
    kind, detail = faults_of(reference, current.assign(u=current["u"] + 1.5))["u"]
    assert kind == "out_of_range" and "100% of current values outside" in detail


def test_replaced_category_vocabulary_is_a_fault() -> None:
    reference, current = frames()
    kind, detail = faults_of(reference, current.assign(country=current["country"].str.upper()))["country"]
    assert kind == "vocabulary_replaced" and "100% of current rows" in detail and "'FR'" in detail


def test_a_category_renamed_by_case_in_part_of_the_rows_is_a_fault_a_new_category_is_not() -> None:
    rng = np.random.default_rng(4)

    def one(n: int) -> pd.DataFrame:
        return pd.DataFrame({"country": rng.choice(["US", "DE", "FR"], n, p=[0.5, 0.3, 0.2]), "x": rng.normal(size=n)})

    reference, current = one(4000), one(4000)
    renamed = (current["country"] == "US") & (rng.random(4000) < 0.8)  # one source sends 'us': 40% of the rows
    kind, detail = faults_of(reference, current.assign(country=current["country"].mask(renamed, "us")))["country"]
    assert kind == "category_renamed" and "'US' -> 'us' on 39% of current rows" in detail
    assert "('US' 50% of the reference, 10% now)" in detail
    # a trailing space or a full-width form is the same category too
    spaced = current["country"].mask(renamed, "US ")
    assert faults_of(reference, current.assign(country=spaced))["country"][0] == "category_renamed"
    # a genuinely new category taking 40% of the rows (a new market) is no rename: noted, not a fault
    new = current["country"].mask(rng.random(4000) < 0.4, "IT")
    assert faults_of(reference, current.assign(country=new)) == {}


def test_free_text_and_id_columns_on_unchanged_data_are_not_a_replaced_vocabulary() -> None:
    # Text columns (random reviews, user ids) are mostly unseen values on every run: their drift is
    # the text method's to judge, not the category-vocabulary check's.
    reference, current = frames()
    rng = np.random.default_rng(1)
    words = ["good", "bad", "fast", "slow", "price", "ship", "late", "ok", "love", "item"]

    def text(n: int, offset: int) -> dict[str, list[str]]:
        return {
            "review": [" ".join(rng.choice(words, 6)) for _ in range(n)],
            "user_id": [f"u{i + offset}" for i in range(n)],
        }

    reference = reference.assign(**text(len(reference), 0))
    current = current.assign(**text(len(current), len(reference)))
    assert compute_drift(reference, current).columns["review"].type == "text"
    assert faults_of(reference, current) == {}


def test_a_unit_change_in_a_column_named_by_an_integer_is_found() -> None:
    reference, current = frames()
    current = current.assign(amount=current["amount"] * 1000)
    reference, current = reference.set_axis([0, 1, 2], axis=1), current.set_axis([0, 1, 2], axis=1)

    kind, _ = faults_of(reference, current)["0"]

    assert kind == "scale_change"


def test_integer_categories_read_back_as_floats_are_the_same_categories() -> None:
    # An integer column with a missing value arrives as float (1 -> 1.0): the same categories.
    reference, current = frames()
    rng = np.random.default_rng(2)
    reference["stars"] = rng.integers(1, 6, len(reference))
    current["stars"] = rng.integers(1, 6, len(current)).astype(float)
    current.loc[:9, "stars"] = np.nan

    assert compute_drift(reference, current).columns["stars"].type == "cat"
    assert faults_of(reference, current) == {}


def test_a_column_gone_constant_is_a_fault() -> None:
    reference, current = frames()
    kind, detail = faults_of(reference, current.assign(age=0.0))["age"]
    assert kind in ("constant", "out_of_range")
    # a category constant at a value the reference rarely holds: a sentinel, a default fill
    reference.loc[reference.index[:20], "country"] = "lu"  # 1% of the reference
    kind, detail = faults_of(reference, current.assign(country="lu"))["country"]
    assert kind == "constant" and "'lu'" in detail


@pytest.mark.parametrize("fill", [-999.0, 0.0, -1.0])
def test_a_default_value_filling_part_of_a_column_is_a_new_point_mass_fault(fill: float) -> None:
    # a default (-999, 0.0 inside the range, -1) written into 40% of a continuous column: no constant
    # column, mostly inside the range, yet one value holds 40% of the rows where the reference held none
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"x": rng.normal(size=4000), "y": rng.normal(size=4000)})
    current = pd.DataFrame({"x": rng.normal(size=4000), "y": rng.normal(size=4000)})
    current.loc[rng.random(4000) < 0.4, "x"] = fill
    faults = faults_of(reference, current)
    assert set(faults) == {"x"}
    kind, detail = faults["x"]
    assert kind == "point_mass" and f"{fill:g}" in detail and "0.0% of the reference" in detail and "40%" in detail


def test_a_common_value_inside_the_range_is_no_point_mass_fault() -> None:
    # a value piling up inside the reference's range that is no conventional fill is a real pattern,
    # not a broken feed: a one-week window of a year-long day_of_year, one merchant's flash sale on a
    # numeric id, a promotion price
    rng = np.random.default_rng(0)
    n = 5000

    def amount(k: int) -> np.ndarray:
        return rng.gamma(2, 50, k)

    reference = pd.DataFrame({"day_of_year": rng.integers(1, 366, n), "amount": amount(n)})
    current = pd.DataFrame({"day_of_year": rng.integers(150, 157, 1000), "amount": amount(1000)})
    assert faults_of(reference, current) == {}
    merchants = np.arange(1000, 1300)
    reference = pd.DataFrame({"merchant_id": rng.choice(merchants, n), "amount": amount(n)})
    ids = rng.choice(merchants, 1000)
    ids[rng.random(1000) < 0.15] = 1042
    assert faults_of(reference, pd.DataFrame({"merchant_id": ids, "amount": amount(1000)})) == {}
    reference = pd.DataFrame({"price": np.round(rng.uniform(5, 100, n), 2), "amount": amount(n)})
    current = pd.DataFrame({"price": np.round(rng.uniform(5, 100, 1000), 2), "amount": amount(1000)})
    current.loc[rng.random(1000) < 0.12, "price"] = 19.99
    assert faults_of(reference, current) == {}


def test_a_fill_is_a_conventional_sentinel_inside_or_outside_the_range() -> None:
    reference = np.concatenate([np.linspace(-50.0, 100.0, 990), np.linspace(150.0, 100_000.0, 10)])
    for value in (0.0, -1.0, -9.0, -99.0, -999.0, 99999.0, 999_999.0, 2**31 - 1, -(2**31)):
        assert _looks_like_fill(value, reference), value
    # inside the range and no sentinel, an all-9s value inside the reference's body, or a value past the
    # range that is no sentinel: a new id, a higher price, a colder day
    for value in (19.99, 152.0, 1042.0, -11.0, -2.0, 99.0, 999.5, 200_000.0, -60.0, 100_001.0):
        assert not _looks_like_fill(value, reference), value
    # a column never negative: any negative whole number is a code
    positive = np.linspace(1.0, 500.0, 1000)
    assert _looks_like_fill(-2.0, positive) and _looks_like_fill(-100.0, positive)
    assert not _looks_like_fill(-2.5, positive)


def test_a_new_value_past_the_range_that_is_no_sentinel_is_no_point_mass_fault() -> None:
    # a new merchant whose numeric id is above every earlier one, on 15% of the window: a new value
    rng = np.random.default_rng(4)
    n = 4000
    merchants = np.arange(1000, 1300)
    reference = pd.DataFrame({"merchant_id": rng.choice(merchants, n), "amount": rng.gamma(2, 50, n)})
    ids = rng.choice(merchants, 1000)
    ids[rng.random(1000) < 0.15] = 1301
    assert faults_of(reference, pd.DataFrame({"merchant_id": ids, "amount": rng.gamma(2, 50, 1000)})) == {}
    # a timestamp in seconds whose window overlaps the reference's end, a batch written at one second
    reference = pd.DataFrame({"ts": np.sort(rng.uniform(1.70e9, 1.7006e9, n)).round(), "amount": rng.gamma(2, 50, n)})
    ts = np.sort(rng.uniform(1.7005e9, 1.7007e9, 1000)).round()
    ts[-150:] = 1.70065e9
    assert faults_of(reference, pd.DataFrame({"ts": ts, "amount": rng.gamma(2, 50, 1000)})) == {}


def test_an_all_nines_value_just_past_the_range_is_a_real_value_far_past_it_a_fill_in_any_row_order() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    # a new $999 phone on 15% of launch-week sales, reference list prices 19-949: a price, not a fill
    reference = pd.DataFrame({"price": rng.choice(np.arange(19, 950, 5), n).astype(float), "qty": rng.gamma(2, 2, n)})
    price = rng.choice(np.arange(19, 950, 5), 1000).astype(float)
    price[rng.random(1000) < 0.15] = 999.0
    assert faults_of(reference, pd.DataFrame({"price": price, "qty": rng.gamma(2, 2, 1000)})) == {}
    # app build 9999 rolled out to 28% of events, the reference on builds 9800-9989, rows in time order or shuffled
    builds = pd.DataFrame({"build": np.sort(rng.integers(9800, 9990, n)).astype(float), "x": rng.normal(size=n)})
    build = rng.integers(9900, 9999, 1000).astype(float)
    build[rng.random(1000) < 0.28] = 9999.0
    for order in (np.sort(build), rng.permutation(build)):
        assert faults_of(builds, pd.DataFrame({"build": order, "x": rng.normal(size=1000)})) == {}
    # 99999 or 9999 written into a quarter of a column whose values are under 1000: a fill, in any row order
    for column, frame, fill in (
        ("price", reference, 9999.0),
        ("price", reference, 99_999.0),
        ("build", builds, 99_999.0),
    ):
        values = rng.choice(frame[column].to_numpy(), 1000)
        values[rng.random(1000) < 0.25] = fill
        for order in (np.sort(values), rng.permutation(values)):
            current = frame.sample(1000, random_state=0).reset_index(drop=True).assign(**{column: order})
            faults = faults_of(frame, current)
            assert faults[column][0] == "point_mass" and f"{fill:.0f}" in faults[column][1], (column, fill)


def correlated(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(3, n))
    return pd.DataFrame({"a": a, "b": 0.5 * a + rng.normal(size=n), "c": 0.5 * a + rng.normal(size=n), "d": c})


def test_a_column_shifted_against_its_rows_is_a_misaligned_fault() -> None:
    # the export shifts 'a' by one row: its distribution is unchanged, every relation it had is gone
    reference, current = correlated(4000, 0), correlated(4000, 1)
    faults = faults_of(reference, current.assign(a=np.roll(current["a"].to_numpy(), 1)))
    assert set(faults) == {"a"} and faults["a"][0] == "misaligned"
    assert "every rank correlation it had gone (b +0.4" in faults["a"][1]


def test_a_selection_or_unchanged_or_independent_columns_are_not_misaligned() -> None:
    reference, current = correlated(4000, 0), correlated(8000, 1)
    assert faults_of(reference, current) == {}
    # a selection on 'a' weakens its correlations (range restriction) and moves it: drift, no fault
    assert "a" not in faults_of(reference, current[current["a"] > 0])
    assert faults_of(reference, current[current["b"] > 0].reset_index(drop=True)) == {}
    # an independent column shifted cannot be told from an unchanged one: no fault either way
    assert faults_of(reference, current.assign(d=np.roll(current["d"].to_numpy(), 1))) == {}


def test_a_point_mass_the_reference_already_had_or_a_few_valued_column_is_no_fault() -> None:
    rng = np.random.default_rng(2)

    def one(n: int, zeros: float) -> pd.DataFrame:
        amount = rng.lognormal(3, 1, n)
        amount[rng.random(n) < zeros] = 0.0  # zero-inflated: no purchase
        return pd.DataFrame({"amount": amount, "rating": rng.integers(1, 6, n)})

    reference, current = one(4000, 0.2), one(4000, 0.4)  # more zeros than before: drift, not a fill
    current.loc[current.index[:1800], "rating"] = 3  # a 5-valued column now mostly one value: ordinal
    assert faults_of(reference, current) == {}


def test_a_category_constant_at_a_common_value_is_a_one_segment_window_noted_not_a_fault() -> None:
    # a weekend-only window, one region's batch: the column is constant at a value the reference holds
    rng = np.random.default_rng(3)
    reference, current = frames()
    reference["is_weekend"] = (rng.integers(0, 7, len(reference)) >= 5).astype(int)  # 0/1: categorical
    current = current.assign(country="fr", is_weekend=1)
    summary = compute_drift(reference, current)
    notes: list[str] = []

    assert detect_faults(reference, current, summary, notes=notes) == []

    assert len(notes) == 2 and all("one-segment window" in note and "Not a fault" in note for note in notes)
    assert any("'country' is constant at 'fr', a value 2" in note for note in notes)  # about 25% of the reference
    assert any("'is_weekend'" in note and "constant at 1" in note for note in notes)
    evidence = gather_evidence(reference, current, summary)
    assert evidence["faults"] == [] and any("'is_weekend'" in note for note in evidence["notes"])


def test_a_type_change_is_a_fault() -> None:
    reference, current = frames()
    kind, detail = faults_of(reference, current.assign(age=current["age"].astype(str)))["age"]
    assert kind == "type_change" and "numeric (float64)" in detail and "string (object)" in detail


def test_benjamini_hochberg_matches_the_textbook_example() -> None:
    adjusted = benjamini_hochberg([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_chance_hits_among_many_p_value_columns_are_not_drift_after_fdr() -> None:
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({f"x{i}": rng.normal(0, 1, 300) for i in range(40)})
    current = pd.DataFrame({f"x{i}": rng.normal(0, 1, 300) for i in range(40)})
    summary = compute_drift(reference, current)  # K-S at <= 1,000 reference rows
    assert summary.n_drifted >= 1  # chance hits at p < 0.05 among 40 columns
    assert drift_severity(summary)["n_drifted_after_fdr"] == 0


def test_distances_past_their_threshold_within_the_sampling_noise_of_a_small_window_are_not_drift() -> None:
    # 2,000 reference rows: Evidently scores numbers by the normed Wasserstein distance, whose noise on
    # 200 current rows of unchanged data is about its threshold 0.1: a quarter of the columns "drift"
    rng = np.random.default_rng(7)
    columns = [f"c{i}" for i in range(50)]
    reference = pd.DataFrame(rng.normal(size=(2000, 50)), columns=columns)
    current = pd.DataFrame(rng.normal(size=(200, 50)), columns=columns)
    summary = compute_drift(reference, current)
    assert {c.method for c in summary.columns.values()} == {"wasserstein"} and summary.n_drifted >= 5

    severity = gather_evidence(reference, current, summary)["severity"]

    assert severity["n_drifted_after_fdr"] == 0 and severity["weighted_share"] == 0
    assert severity["within_noise"] == summary.n_drifted and severity["fdr_columns"] == 50
    assert f"{summary.n_drifted} columns past their threshold are within sampling noise" in severity["noise"]
    assert "200 current rows" in severity["noise"]
    assert all(c.drifted for c in summary.columns.values() if c.score >= 0.1)  # Evidently's flags unchanged
    # a real shift on the same window clears the noise
    shifted = current.assign(c0=current["c0"] + 0.5, c1=current["c1"] * 1.6)
    severity = gather_evidence(reference, shifted, compute_drift(reference, shifted))["severity"]
    assert {r["column"] for r in severity["top"] if r["drifted"]} == {"c0", "c1"}
    assert severity["n_drifted_after_fdr"] == 2


def test_a_categorical_distance_within_sampling_noise_is_not_drift_but_a_new_mix_is() -> None:
    rng = np.random.default_rng(8)
    cities = np.array([f"city{i}" for i in range(40)])
    weights = rng.dirichlet(np.ones(40))
    reference = pd.DataFrame({"city": rng.choice(cities, 3000, p=weights)})
    current = pd.DataFrame({"city": rng.choice(cities, 200, p=weights)})  # 40 categories on 200 rows
    summary = compute_drift(reference, current)
    assert summary.columns["city"].method == "jensenshannon" and summary.columns["city"].drifted

    assert gather_evidence(reference, current, summary)["severity"]["within_noise"] == 1
    moved = pd.DataFrame({"city": rng.choice(cities[:10], 200)})
    severity = gather_evidence(reference, moved, compute_drift(reference, moved))["severity"]
    assert severity["n_drifted_after_fdr"] == 1 and severity["within_noise"] == 0


def test_the_noise_floor_on_a_large_window_does_not_hide_a_small_real_shift() -> None:
    rng = np.random.default_rng(9)
    reference = pd.DataFrame({"x": rng.normal(size=20_000)})
    current = pd.DataFrame({"x": rng.normal(0.13, 1, 50_000)})  # W about 0.13: past 0.1, far past the noise
    summary = compute_drift(reference, current)
    severity = gather_evidence(reference, current, summary)["severity"]
    assert severity["n_drifted_after_fdr"] == 1 and severity["top"][0]["noise_floor"] < 0.03


def test_severity_is_weighted_by_importance() -> None:
    reference, current = frames()
    current = current.assign(age=current["age"] + 15)
    summary = compute_drift(reference, current)
    assert drift_severity(summary, {"amount": 0.9, "age": 0.1, "country": 0.0})["weighted_share"] == pytest.approx(0.1)
    assert drift_severity(summary, {"amount": 0.1, "age": 0.9})["weighted_share"] == pytest.approx(0.9)
    assert drift_severity(summary)["weighted_share"] == pytest.approx(1 / 3)


def test_all_zero_importances_weigh_every_column_equally_and_say_so() -> None:
    reference, current = frames()
    current = current.assign(age=current["age"] + 15)
    summary = compute_drift(reference, current)
    zero = {"amount": 0.0, "age": 0.0, "country": 0.0}
    severity = drift_severity(summary, zero)
    assert severity["weighted_share"] == pytest.approx(drift_severity(summary)["weighted_share"])
    assert "equal weights" in severity["weighted_by"] and "zero" in severity["weighted_by"]
    evidence = build_evidence(summary, faults=[], importance=zero, importance_source="permutation importance")
    assert "equal weights" in evidence["severity"]["importance_source"]
    assert "permutation importance" in evidence["severity"]["importance_source"]
    relied = extrapolation(reference, current, ["amount", "age"], {"amount": 0.0, "age": float("nan")})
    assert relied is not None and relied["features_checked"] == 2 and "zero" in relied["weighted_by"]


def test_permutation_importance_of_a_classifier_predicting_the_majority_class_reads_its_probabilities() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = pd.DataFrame({f"x{i}": rng.normal(0, 1, 3000) for i in range(3)})
    y = (rng.random(3000) < 1 / (1 + np.exp(-(-3.0 + 0.6 * x["x0"])))).astype(int)  # 6% positives
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    assert model.predict(x).sum() == 0  # accuracy cannot tell the features apart
    importance, source = feature_importance(model, list(x.columns), x, y)
    assert importance["x0"] > 5 * max(importance["x1"], importance["x2"], 1e-6)
    assert "probabilit" in source


def test_labels_of_one_class_where_the_reference_has_two_name_the_class_missing() -> None:
    rng = np.random.default_rng(5)
    reference = (rng.random(4000) < 0.02).astype(int)  # 2% positives
    flagged = np.ones(96, float)  # labels only for the rows the model flagged that charged back: all 1.0
    predicted = np.where(rng.random(96) < 0.66, 1, 0)
    out = measure_performance(
        "classification", flagged, predicted, metric="accuracy", baseline=0.99, reference_labels=reference
    )
    assert out["class_mix"] is None and out["classes_missing"] == [{"class": "0", "reference_share": 0.978}]
    # a rare class absent from a few labelled rows by chance (2% of 96: about 2 expected) is not named
    both = np.where(np.arange(96) < 95, 0, 1)
    out = measure_performance(
        "classification", both[:95], both[:95], metric="accuracy", baseline=0.99, reference_labels=reference
    )
    assert "classes_missing" not in out


def test_measured_drop_has_a_standard_error_that_shrinks_with_the_sample() -> None:
    rng = np.random.default_rng(1)
    small = rng.random(100) < 0.8
    large = rng.random(10_000) < 0.8
    out_small = measure_performance(
        "classification", small.astype(int), np.ones(100, int), metric="accuracy", baseline=0.9
    )
    out_large = measure_performance(
        "classification", large.astype(int), np.ones(10_000, int), metric="accuracy", baseline=0.9
    )
    assert out_small["drop"] == pytest.approx(0.9 - small.mean())
    assert out_large["drop_se"] < out_small["drop_se"] / 5


@pytest.mark.parametrize("metric", ["roc_auc", "f1", "accuracy"])
def test_a_bootstrapped_standard_error_on_a_few_perfectly_separated_rows_does_not_collapse_to_zero(metric) -> None:
    y = [0, 1] * 6
    proba = [0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.35, 0.65, 0.4, 0.6, 0.45, 0.55]  # every resample scores 1.0
    out = measure_performance("classification", y, proba, metric=metric, baseline=0.9)
    assert out["current"] == 1.0
    assert out["current_se"] >= 1 / len(y)  # no finer than one row of twelve, as accuracy's binomial floor


def test_class_mix_adjusted_accuracy_tells_label_shift_from_a_worse_model() -> None:
    rng = np.random.default_rng(3)

    def predict(y: np.ndarray, recall: dict[int, float]) -> np.ndarray:
        hit = rng.random(len(y)) < np.vectorize(recall.get)(y)
        return np.where(hit, y, 1 - y)

    reference_labels = rng.random(4000) < 0.5  # half positives
    y = (rng.random(4000) < 0.85).astype(int)  # now 85% positives: label shift
    recall = {0: 0.98, 1: 0.90}  # as on the reference: accuracy there 0.94
    out = measure_performance(
        "classification",
        y,
        predict(y, recall),
        metric="accuracy",
        baseline=0.94,
        baseline_n=4000,
        reference_labels=reference_labels.astype(int),
    )
    mix = out["class_mix"]
    assert out["drop"] > 0.02  # the plain accuracy fell with the mix (0.94 -> about 0.91)
    assert mix["mix_change"] == pytest.approx(0.35, abs=0.03)
    assert abs(mix["adjusted_drop"]) < 2 * mix["adjusted_drop_se"]  # per class nothing changed
    worse = measure_performance(
        "classification",
        y,
        predict(y, {0: 0.8, 1: 0.8}),
        metric="accuracy",
        baseline=0.94,
        reference_labels=reference_labels.astype(int),
    )
    assert worse["class_mix"]["adjusted_drop"] > 0.1


def test_r2_drop_of_a_regressor() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(0, 1, 1000)
    out = measure_performance("regression", y, y + rng.normal(0, 1, 1000), metric="r2", baseline=0.95)
    assert out["current"] == pytest.approx(0.0, abs=0.15) and out["drop"] > 0.8 and 0 < out["drop_se"] < 0.1


def test_an_r2_baseline_measured_on_few_rows_widens_the_drops_standard_error() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(0, 1, 2000)
    pred = y + rng.normal(0, 0.5, 2000)
    alone = measure_performance("regression", y, pred, metric="r2", baseline=0.8)
    with_base = measure_performance("regression", y, pred, metric="r2", baseline=0.8, baseline_n=500)
    # the baseline's error on 500 rows is twice the current's on 2,000: sqrt(1 + 4) times the drop's
    assert with_base["drop_se"] == pytest.approx(alone["drop_se"] * 5**0.5)


def test_cbpe_sees_a_shift_towards_the_decision_boundary_and_says_it_is_an_estimate() -> None:
    confident = np.full(1000, 0.95)
    unsure = np.full(1000, 0.6)
    out = estimate_performance(confident, unsure)
    assert out["estimated"] is True and out["drop"] == pytest.approx(0.35)


def test_cbpe_calibrated_on_the_labelled_reference_ignores_an_underconfident_models_lost_confidence() -> None:
    # an underconfident model (as a forest): right 98% of the time whatever its confidence says; a
    # shift lowers its confidence from 0.75-0.9 to 0.6-0.75 without changing its accuracy
    rng = np.random.default_rng(11)
    reference = rng.uniform(0.6, 0.9, 4000)
    right = rng.random(4000) < 0.98
    current = rng.uniform(0.6, 0.75, 2000)

    raw = estimate_performance(reference[reference > 0.75], current)
    calibrated = estimate_performance(reference, current, reference_labels=right.astype(int))  # predicted 1

    assert raw["drop"] > 0.1 and raw["calibrated"] is False
    assert calibrated["calibrated"] is True and "calibrated per class on 4000" in calibrated["method"]
    assert calibrated["reference_estimate"] == pytest.approx(right.mean())
    assert abs(calibrated["drop"]) < 0.02 and 0 < calibrated["drop_se"] < 0.01


def test_cbpe_calibrated_still_sees_a_shift_towards_where_the_model_is_wrong() -> None:
    rng = np.random.default_rng(12)
    reference = rng.uniform(0.5, 1.0, 4000)
    right = rng.random(4000) < reference  # calibrated: right with probability = confidence
    current = rng.uniform(0.5, 0.7, 2000)

    out = estimate_performance(reference, current, reference_labels=right.astype(int))  # predicted 1

    assert out["drop"] == pytest.approx(0.75 - 0.6, abs=0.03)
    assert out["drop"] - 1.96 * out["drop_se"] > 0.1


def test_cbpe_without_enough_labelled_reference_rows_is_uncalibrated_and_says_so() -> None:
    out = estimate_performance(np.full(50, 0.9), np.full(50, 0.8), reference_labels=np.ones(50, dtype=int))
    assert out["calibrated"] is False and "not calibrated" in out["method"]
    assert out["drop"] == pytest.approx(0.1)


def test_cbpe_calibrates_each_predicted_class_so_a_shift_towards_the_rarer_prediction_is_seen() -> None:
    # A model that over-predicts the positive class (class_weight="balanced"): P(y=1 | p) = p**3, so
    # a row predicted 0 at p=0.3 is right 97% of the time, one predicted 1 at p=0.7 only 34%. One map
    # from max(p, 1-p) to "right" pools both, learns the reference's mostly-negative rows, and misses
    # the drop when the rows move towards the positive side; calibrating P(y=1 | p) does not.
    rng = np.random.default_rng(21)
    reference, current = rng.beta(1.2, 6, 20_000), rng.beta(2.5, 4, 20_000)
    ref_labels = (rng.random(reference.size) < reference**3).astype(int)
    cur_labels = (rng.random(current.size) < current**3).astype(int)
    true_accuracy = float(((current > 0.5).astype(int) == cur_labels).mean())

    out = estimate_performance(reference, current, reference_labels=ref_labels)

    assert out["calibrated"] is True and "calibrated per class" in out["method"]
    assert out["reference_estimate"] == pytest.approx(float(((reference > 0.5) == ref_labels).mean()))
    assert out["current_estimate"] == pytest.approx(true_accuracy, abs=0.01)
    assert 0 < out["drop_se"] < 0.01


def test_cbpe_reads_the_models_own_predictions_and_class_names() -> None:
    # the model predicts "fraud" from a tuned threshold 0.3, not 0.5: its accuracy is that of its predictions
    rng = np.random.default_rng(22)
    p_ref, p_cur = rng.uniform(0, 1, 5000), rng.uniform(0, 1, 5000)
    ref_labels = np.where(rng.random(5000) < p_ref, "fraud", "ok")
    name = {True: "fraud", False: "ok"}

    out = estimate_performance(
        np.column_stack([p_ref, 1 - p_ref]),  # columns in the model's classes_ order
        np.column_stack([p_cur, 1 - p_cur]),
        reference_labels=ref_labels,
        classes=["fraud", "ok"],
        predicted=([name[p > 0.3] for p in p_ref], [name[p > 0.3] for p in p_cur]),
    )

    # right with probability p when predicting fraud (p > 0.3), 1 - p otherwise: 0.455 + 0.255
    assert out["reference_estimate"] == pytest.approx(0.71, abs=0.02)
    assert out["current_estimate"] == pytest.approx(0.71, abs=0.02)


def test_cbpe_calibrates_multiclass_one_class_against_the_rest() -> None:
    # three classes, the model overconfident in class 2: P(y=2 | p2) = p2 / 2
    rng = np.random.default_rng(23)

    def rows(n: int, tilt: float) -> tuple[np.ndarray, np.ndarray]:
        proba = rng.dirichlet([1.0, 1.0, tilt], n)
        true = proba.copy()
        true[:, 2] /= 2
        true /= true.sum(axis=1, keepdims=True)
        labels = (rng.random((n, 1)) > true.cumsum(axis=1)).sum(axis=1)
        return proba, labels

    p_ref, y_ref = rows(20_000, 1.0)
    p_cur, y_cur = rows(20_000, 2.0)  # more rows predicted class 2, where the model is overconfident
    true_accuracy = float((p_cur.argmax(axis=1) == y_cur).mean())

    out = estimate_performance(p_ref, p_cur, reference_labels=y_ref)

    # one map from the top probability to "right" reads 0.60, the reference's accuracy, unchanged
    assert out["reference_estimate"] - true_accuracy > 0.04
    assert out["current_estimate"] == pytest.approx(true_accuracy, abs=0.02)  # one-vs-rest: close, not exact


def test_cbpe_through_gather_evidence_sees_the_drop_of_a_class_weighted_model_on_rare_positives() -> None:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    x, y = make_classification(
        n_samples=10_000, n_features=6, n_informative=3, n_redundant=0, weights=[0.98], flip_y=0, random_state=11
    )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(6)]).assign(label=y)
    features = [f"f{i}" for i in range(6)]
    train, reference, current = frame[:5000], frame[5000:7000], frame[7000:].copy()
    model = LogisticRegression(class_weight="balanced", max_iter=1000).fit(train[features], train["label"])
    i = int(np.argmax(np.abs(model.coef_[0])))  # the feature the model relies on most, towards the positives
    current[features[i]] += np.sign(model.coef_[0][i]) * 0.3 * current[features[i]].std()
    true_drop = float(
        (model.predict(reference[features]) == reference["label"]).mean()
        - (model.predict(current[features]) == current["label"]).mean()
    )
    unlabelled = current.drop(columns=["label"])
    summary = compute_drift(reference, unlabelled, label_column="label")

    perf = gather_evidence(
        reference,
        unlabelled,
        summary,
        label_column="label",
        model=model,
        feature_columns=features,
        reference_is_holdout=True,
    )["performance"]

    assert perf["kind"] == "estimated" and perf["calibrated"] is True
    assert true_drop > 0.08 and perf["drop"] == pytest.approx(true_drop, abs=0.03)


def test_gather_evidence_calibrates_cbpe_with_reference_labels_when_the_window_has_none() -> None:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(6)

    def data(n: int, noise_shift: float = 0.0) -> pd.DataFrame:
        x = pd.DataFrame({"a": rng.normal(0, 1, n), "noise": rng.normal(noise_shift, 1, n)})
        return x.assign(label=(x["a"] > 0).astype(int))

    train = data(3000)
    model = RandomForestClassifier(30, min_samples_leaf=2, random_state=0).fit(train[["a", "noise"]], train["label"])
    reference, current = data(2000), data(2000, noise_shift=2.0).drop(columns=["label"])
    summary = compute_drift(reference, current, label_column="label")  # labels not in yet: no error

    evidence = gather_evidence(
        reference,
        current,
        summary,
        label_column="label",
        model=model,
        feature_columns=["a", "noise"],
        reference_is_holdout=True,
    )

    perf = evidence["performance"]
    assert perf["kind"] == "estimated" and perf["calibrated"] is True
    assert "label" not in summary.columns and not summary.data_quality["missing_columns"]


def test_permutation_importance_when_the_model_has_none() -> None:
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(3)
    x = pd.DataFrame({"signal": rng.normal(0, 1, 600), "noise": rng.normal(0, 1, 600)})
    y = (x["signal"] > 0).astype(int)
    model = KNeighborsClassifier().fit(x, y)
    importance, source = feature_importance(model, ["signal", "noise"], x, y)
    assert source.startswith("permutation importance") and source.endswith("on the reference")
    assert importance["signal"] > 5 * max(importance["noise"], 0.01)


def test_gather_evidence_predicts_with_the_champion_when_there_is_no_prediction_column() -> None:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(5)

    def data(n: int, flip: bool = False) -> pd.DataFrame:
        x = pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.normal(0, 1, n)})
        y = (x["a"] > 0).astype(int)
        return x.assign(label=1 - y if flip else y)

    train = data(2000)
    model = RandomForestClassifier(30, random_state=0).fit(train[["a", "b"]], train["label"])
    reference, current = data(1000), data(1000, flip=True)
    summary = compute_drift(reference, current, label_column="label")

    evidence = gather_evidence(
        reference,
        current,
        summary,
        label_column="label",
        model=model,
        feature_columns=["a", "b"],
        reference_is_holdout=True,
    )

    perf = evidence["performance"]
    assert perf["predictions_from"].startswith("the champion")
    assert perf["baseline_source"] == "held-out reference data" and perf["drop"] > 0.8
    assert evidence["severity"]["importance_source"] == "the model's feature_importances_"


def test_a_nearly_constant_reference_column_seen_constant_is_not_a_fault() -> None:
    reference, current = frames()
    reference = reference.assign(pixel=np.where(np.arange(len(reference)) % 50 == 0, 3.0, 0.0))  # 98% zeros
    assert "pixel" not in faults_of(reference, current.assign(pixel=0.0))


def test_extrapolation_counts_rows_outside_the_range_on_features_the_model_relies_on() -> None:
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"x0": rng.uniform(0, 1, 4000), "noise": rng.uniform(0, 1, 4000)})
    current = pd.DataFrame({"x0": rng.uniform(0, 1, 4000) + 0.29, "noise": rng.uniform(0, 1, 4000) + 0.58})
    relied = extrapolation(reference, current, ["x0", "noise"], {"x0": 0.9, "noise": 0.1})
    assert relied["share_rows"] == pytest.approx(0.29, abs=0.03)  # only x0 counts: noise is below average
    assert list(relied["columns"]) == ["x0"] and relied["features_checked"] == 1
    unweighted = extrapolation(reference, current, ["x0", "noise"])  # no importances: every numeric feature
    assert unweighted["share_rows"] == pytest.approx(1 - 0.71 * 0.42, abs=0.03)
    assert extrapolation(reference, reference.sample(frac=1, random_state=0), ["x0", "noise"])["share_rows"] == 0


def test_extrapolation_by_chance_on_a_small_reference_is_not_counted_as_excess() -> None:
    rng = np.random.default_rng(5)
    columns = [f"f{i}" for i in range(20)]
    reference = pd.DataFrame(rng.normal(0, 1, (100, 20)), columns=columns)  # 100 rows: narrow ranges
    current = pd.DataFrame(rng.normal(0, 1, (2000, 20)), columns=columns)
    out = extrapolation(reference, current, columns)
    assert out["share_rows"] > 0.2  # a third of the rows pass some column's range by chance...
    assert out["excess_share"] < 0.1 and out["beyond_chance"] is False  # ...which is what unchanged data gives
    shifted = current.assign(f0=current["f0"] + 1.0)  # a few more rows past f0's narrow range: still chance
    assert extrapolation(reference, shifted, columns)["beyond_chance"] is False
    larger = pd.DataFrame(rng.normal(0, 1, (2000, 20)), columns=columns)  # its ranges are known well
    assert extrapolation(larger, current, columns)["beyond_chance"] is False
    assert extrapolation(larger, shifted.assign(f0=current["f0"] + 2.0), columns)["beyond_chance"] is True


def test_faults_on_frames_larger_than_the_fault_sample_are_still_found() -> None:
    from airflow_provider_agentic_mlops.core.evidence import FAULT_SAMPLE_ROWS

    reference, current = frames(n=FAULT_SAMPLE_ROWS + 50_000, seed=6)
    broken = current.assign(amount=current["amount"] * 1000, age=0.0, country=current["country"].str.upper())
    found = faults_of(reference, broken)
    assert {c: kind for c, (kind, _) in found.items()} == {
        "amount": "scale_change",
        "age": "constant",
        "country": "vocabulary_replaced",
    }
    assert faults_of(reference, current) == {}


def test_labels_not_in_yet_measure_nothing_and_say_so() -> None:
    rng = np.random.default_rng(6)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 1500)})
    reference["label"] = (reference["x"] > 0).astype(int)
    reference["pred"] = reference["label"]
    current = reference.assign(label=np.nan)
    kwargs = {"label_column": "label", "prediction_column": "pred", "reference_is_holdout": True}
    summary = compute_drift(reference, current, **kwargs)

    evidence = gather_evidence(reference, current, summary, **kwargs)

    assert evidence["performance"] is None and evidence["faults"] == []
    assert any("labels not in yet" in note for note in evidence["notes"])


def importance_data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(0, 1, n)
    return pd.DataFrame(
        {
            "merchant": rng.choice(["a", "b", "c", "d"], n),
            "noise": rng.normal(0, 1, n),
            "signal": signal,
            "label": (signal + 0.1 * rng.normal(size=n) > 0).astype(int),
        }
    )


def test_a_pipelines_importances_are_matched_to_the_features_by_name_not_by_position() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    data = importance_data(2000, 0)
    features = ["merchant", "noise", "signal"]  # the data's order; the transformer puts the numbers first
    prep = ColumnTransformer([("num", "passthrough", ["signal", "noise"]), ("cat", OrdinalEncoder(), ["merchant"])])
    model = Pipeline([("prep", prep), ("rf", RandomForestClassifier(20, random_state=0))])
    model.fit(data[features], data["label"])

    importance, source = feature_importance(model, features)  # no reference: the model's own importances

    own = dict(zip(model[:-1].get_feature_names_out(), model[-1].feature_importances_, strict=True))
    assert importance == pytest.approx(
        {"signal": own["num__signal"], "noise": own["num__noise"], "merchant": own["cat__merchant"]}
    )
    assert max(importance, key=importance.get) == "signal" and source == "the model's feature_importances_"


def test_one_hot_encoded_importances_are_summed_per_feature_and_unused_features_weigh_nothing() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    data = importance_data(2000, 1)
    data["label"] = data["merchant"].isin(["a", "b"]).astype(int)  # now the merchant decides
    data["signal_sq"] = data["signal"] ** 2  # a feature whose name starts with another's
    features = ["merchant", "noise", "signal", "signal_sq"]
    prep = ColumnTransformer(
        [("cat", OneHotEncoder(), ["merchant"]), ("num", "passthrough", ["signal_sq", "signal"])], remainder="drop"
    )
    model = Pipeline([("prep", prep), ("rf", RandomForestClassifier(20, random_state=0))])
    model.fit(data[features], data["label"])

    importance, _ = feature_importance(model, features)

    own = model[-1].feature_importances_
    assert importance["merchant"] == pytest.approx(own[:4].sum()) and importance["merchant"] > 0.9
    assert importance["signal_sq"] == pytest.approx(own[4]) and importance["signal"] == pytest.approx(own[5])
    assert importance["noise"] == 0.0  # dropped by the transformer: the model never sees it


def test_each_column_of_a_column_transformer_goes_to_the_feature_its_own_transformer_read() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(4)
    data = pd.DataFrame({"country": rng.choice(["fr", "de"], 1000), "city": rng.choice(["paris", "rome"], 1000)})
    data["cat"] = rng.normal(size=1000)
    data["label"] = (data["city"] == "rome").astype(int)  # the city decides
    features = ["country", "city", "cat"]
    # steps named after features: 'country' encodes the city too, 'cat' encodes no 'cat'
    for steps, verbose in (
        ([("country", OneHotEncoder(), ["country", "city"]), ("num", StandardScaler(), ["cat"])], True),
        ([("cat", OneHotEncoder(), ["country", "city"]), ("num", StandardScaler(), ["cat"])], True),
        ([("enc", make_pipeline(OneHotEncoder()), [0, 1])], False),  # positions, nested pipeline, no prefix
    ):
        prep = ColumnTransformer(steps, remainder="passthrough", verbose_feature_names_out=verbose)
        model = Pipeline([("prep", prep), ("rf", RandomForestClassifier(20, random_state=0))])
        model.fit(data[features], data["label"])

        importance, source = feature_importance(model, features)

        own = dict(zip(model[:-1].get_feature_names_out(), model[-1].feature_importances_, strict=True))
        encoded = {k.rsplit("__", 1)[-1]: v for k, v in own.items()}  # 'country__city_rome': 'city_rome'
        city, country = (sum(v for k, v in encoded.items() if k.startswith(f"{f}_")) for f in ("city", "country"))
        assert source == "the model's feature_importances_" and city > 0.9
        assert importance == pytest.approx({"country": country, "city": city, "cat": 1 - city - country})


def test_a_pipeline_without_transformers_uses_its_estimators_own_importances() -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    data = importance_data(1000, 3)
    features = ["noise", "signal"]
    for steps in ([], [("scale", "passthrough")], [("scale", None)]):
        model = Pipeline([*steps, ("rf", RandomForestClassifier(20, random_state=0))])
        model.fit(data[features], data["label"])

        importance, source = feature_importance(model, features)  # no labels: the model's own or nothing

        own = model[-1].feature_importances_
        assert source == "the model's feature_importances_"
        assert importance == pytest.approx({"noise": own[0], "signal": own[1]})

    model = Pipeline([("scale", "passthrough"), ("lr", LogisticRegression())]).fit(data[features], data["label"])
    importance, source = feature_importance(model, features, data)
    assert source == "the model's |coef_| x feature std" and importance["signal"] > 5 * importance["noise"]


def test_a_linear_models_importance_of_a_noise_column_is_what_the_column_moves_its_output() -> None:
    """No noise floor on |coef_| x std: a coefficient fitted to a pure-noise column by chance is still
    read by the model, and a shift of that column moves every prediction by coef x shift. Here 400
    training rows give the noise column (in other units, x1000) 14% of the importance, and shifting it
    by 3 reference std costs 0.03 accuracy: the drift of that column is harm, not noise."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(6)
    x = rng.normal(size=(5000, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] + 1.5 * rng.logistic(size=5000) > 0).astype(int)
    data = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "noise": 1000 * x[:, 2], "noise2": x[:, 3], "label": y})
    features = ["a", "b", "noise", "noise2"]
    train, held_out = data[:400], data[400:]
    model = LogisticRegression(max_iter=1000).fit(train[features], train["label"])

    importance, source = feature_importance(model, features, train, train["label"])

    # each feature's share of how far the output moves when that feature shifts by one reference std
    base = model.decision_function(train[features])
    moved = {
        f: np.abs(model.decision_function(train[features].assign(**{f: train[f] + train[f].std()})) - base).mean()
        for f in features
    }
    total, moved_total = sum(importance.values()), sum(moved.values())
    assert source == "the model's |coef_| x feature std"
    assert {f: importance[f] / total for f in features} == pytest.approx({f: moved[f] / moved_total for f in features})
    assert importance["noise"] / total > 0.1  # past min_drift_share's default: its drift alone is moderate
    shifted = held_out.assign(noise=held_out["noise"] + 3 * train["noise"].std())
    accuracy = model.score(held_out[features], held_out["label"])
    assert accuracy - model.score(shifted[features], shifted["label"]) > 0.02


def test_importances_of_columns_that_are_no_feature_fall_back_to_permutation_importance() -> None:
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    data = importance_data(1500, 2)
    features = ["noise", "signal"]
    model = make_pipeline(PCA(2), RandomForestClassifier(20, random_state=0)).fit(data[features], data["label"])

    importance, source = feature_importance(model, features, data, data["label"])
    assert source.startswith("permutation importance") and importance["signal"] > 5 * max(importance["noise"], 0.01)
    importance, why = feature_importance(model, features)
    assert importance is None and "pca0" in why and "permutation" in why


def test_rows_without_a_prediction_are_left_out_of_the_measured_performance_and_counted() -> None:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 2000)})
    reference["label"] = (reference["x"] > 0).astype(int)
    reference["pred"] = reference["label"]
    current = reference.assign(pred=np.where(rng.random(2000) < 0.7, reference["label"], 1 - reference["label"]))
    current.loc[current.index[:20], "pred"] = np.nan  # 1% of the predictions missing
    kwargs = {"label_column": "label", "prediction_column": "pred", "performance_baseline": 0.95}
    summary = compute_drift(reference, current, **kwargs)

    evidence = gather_evidence(reference, current, summary, **kwargs)

    perf = evidence["performance"]
    assert perf is not None and perf["n_labelled"] == 1980
    assert perf["current"] == pytest.approx(summary.quality["accuracy"]["current"])  # the same rows as the summary
    assert perf["drop"] > 0.2
    assert any("20 of 2000 labelled rows have no prediction" in note for note in evidence["notes"])


def test_a_champion_that_predicts_nan_on_some_rows_is_measured_on_the_others() -> None:
    class Champion:
        def predict(self, x: pd.DataFrame) -> np.ndarray:
            return np.where(x["x"] > 2, np.nan, 2 * x["x"].to_numpy())

    rng = np.random.default_rng(8)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 1000)})
    reference["y"] = 2 * reference["x"] + rng.normal(0, 0.1, 1000)
    current = reference.sample(frac=1, random_state=1).reset_index(drop=True)
    summary = compute_drift(reference, current, label_column="y")

    evidence = gather_evidence(
        reference, current, summary, label_column="y", task="regression", model=Champion(), reference_is_holdout=True
    )

    perf = evidence["performance"]
    no_prediction = int((current["x"] > 2).sum())
    assert perf is not None and perf["n_labelled"] == 1000 - no_prediction and perf["current"] > 0.99
    assert perf["baseline_source"] == "held-out reference data" and perf["baseline"] > 0.99
    assert any(f"{no_prediction} of 1000 labelled rows have no prediction" in note for note in evidence["notes"])


@pytest.mark.parametrize("reference_labels_float", [False, True])
def test_class_mix_reads_float_labels_with_missing_values_as_the_same_classes_as_integer_predictions(
    reference_labels_float,
) -> None:
    rng = np.random.default_rng(9)
    y = (rng.random(3000) < 0.7).astype(int)  # the mix moved from 30% to 70% positives
    pred = np.where(rng.random(3000) < 0.9, y, 1 - y)  # each class predicted as before
    reference_labels = (rng.random(5000) < 0.3).astype(int)
    expected = measure_performance(
        "classification", y, pred, metric="accuracy", baseline=0.9, reference_labels=reference_labels
    )["class_mix"]
    labels = pd.Series(y, dtype=float)
    labels.iloc[:30] = np.nan  # a few labels not in yet: the label column is float, its classes 0.0 and 1.0
    reference = pd.Series(reference_labels, dtype=float)
    if reference_labels_float:
        reference.iloc[:10] = np.nan
    current = pd.DataFrame({"x": rng.normal(0, 1, 3000), "label": labels, "pred": pred})
    reference_frame = pd.DataFrame(
        {"x": rng.normal(0, 1, 5000), "label": reference if reference_labels_float else reference_labels}
    )
    reference_frame["pred"] = reference_frame["label"].fillna(0).astype(int)
    kwargs = {"label_column": "label", "prediction_column": "pred", "performance_baseline": 0.9}
    summary = compute_drift(reference_frame, current, **kwargs)

    mix = gather_evidence(reference_frame, current, summary, **kwargs)["performance"]["class_mix"]

    assert mix is not None and set(mix["current_mix"]) == {"0", "1"} == set(expected["current_mix"])
    assert mix["adjusted_current"] == pytest.approx(expected["adjusted_current"], abs=0.01)
    assert abs(mix["adjusted_drop"]) < 3 * mix["adjusted_drop_se"]  # label shift, not a worse model


def late_labelled_window(shift_newer: float, seed: int = 12) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    """A champion on ``a`` (``noise`` unused), its held-out reference, and a current window whose
    newer half is not labelled yet and has ``a`` shifted by ``shift_newer``."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(seed)

    def data(n: int, shift: float = 0.0) -> pd.DataFrame:
        x = pd.DataFrame({"a": rng.normal(shift, 1, n), "noise": rng.normal(0, 1, n)})
        return x.assign(label=(x["a"] + 0.3 * rng.normal(size=n) > 0).astype(float))

    train = data(3000)
    model = RandomForestClassifier(30, min_samples_leaf=5, random_state=0).fit(train[["a", "noise"]], train["label"])
    current = pd.concat([data(1000), data(1000, shift_newer).assign(label=np.nan)], ignore_index=True)
    return data(2000), current, model


@pytest.mark.parametrize("shift_newer", [0.0, 1.5])
def test_a_partly_labelled_window_states_its_coverage_and_how_the_unlabelled_rows_differ(shift_newer) -> None:
    reference, current, model = late_labelled_window(shift_newer)
    kwargs = {"label_column": "label", "feature_columns": ["a", "noise"], "reference_is_holdout": True}
    summary = compute_drift(reference, current, **kwargs)

    perf = gather_evidence(reference, current, summary, model=model, **kwargs)["performance"]

    assert perf["kind"] == "measured" and perf["n_labelled"] == 1000  # measured on the labelled rows
    coverage = perf["coverage"]
    assert coverage["n_rows"] == 2000 and coverage["n_labelled_rows"] == 1000 and coverage["labelled_share"] == 0.5
    compared = coverage["unlabelled_vs_labelled"]
    assert compared["weighted_by"] == "feature importance"
    if shift_newer:  # the rows the labels did not see moved on the feature the model relies on
        assert compared["weighted_share"] > 0.9 and compared["drifted"] == ["a"]
    else:
        assert compared["weighted_share"] == 0 and compared["drifted"] == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_few_unlabelled_rows_like_the_labelled_ones_are_not_read_as_moved(seed) -> None:
    # 1,500 labelled rows and the 60 newest not labelled yet, all unchanged: above 1,000 rows the
    # comparison scores numbers by a distance, whose noise on 60 rows is about its threshold (without
    # the sampling-noise control 7-10 of these 10 columns were past it), so it is tested as the severity is
    rng = np.random.default_rng(seed)

    def data(n: int) -> pd.DataFrame:
        x = pd.DataFrame({f"x{i}": rng.normal(0, 1, n) for i in range(10)})
        return x.assign(label=(x["x0"] + rng.normal(0, 1, n) > 0).astype(float), pred=(x["x0"] > 0).astype(float))

    reference, current = data(2000), data(1560)
    current.loc[1500:, "label"] = np.nan
    kwargs = {"label_column": "label", "prediction_column": "pred", "performance_baseline": 0.76}
    summary = compute_drift(reference, current, **kwargs)

    coverage = gather_evidence(reference, current, summary, **kwargs)["performance"]["coverage"]

    assert coverage["n_labelled_rows"] == 1500
    assert coverage["unlabelled_vs_labelled"]["weighted_share"] < 0.1, coverage


def test_the_rows_not_labelled_yet_get_the_estimate_a_window_without_labels_gets() -> None:
    # the newer half, not labelled yet, crowds the champion's boundary (a scaled by 0.2): the labelled
    # rows measure nothing of it, the champion's calibrated CBPE estimate on those rows drops
    reference, current, model = late_labelled_window(0.0)
    current.loc[1000:, "a"] *= 0.2
    kwargs = {"label_column": "label", "feature_columns": ["a", "noise"], "reference_is_holdout": True}
    summary = compute_drift(reference, current, **kwargs)

    coverage = gather_evidence(reference, current, summary, model=model, **kwargs)["performance"]["coverage"]

    estimate = coverage["unlabelled_estimate"]
    newer = current[1000:].drop(columns="label")
    alone = gather_evidence(reference, newer, compute_drift(reference, newer, **kwargs), model=model, **kwargs)
    assert estimate == alone["performance"]  # the same as for a window of those rows without labels
    assert estimate["kind"] == "estimated" and estimate["calibrated"] is True
    assert estimate["drop"] - 1.96 * estimate["drop_se"] > 0.1
    # without a held-out reference there is no estimate, as without labels
    kwargs["reference_is_holdout"] = False
    perf = gather_evidence(reference, current, summary, model=model, performance_baseline=0.9, **kwargs)["performance"]
    assert "unlabelled_estimate" not in perf["coverage"]


def test_a_fully_labelled_window_is_fully_covered_and_compares_nothing() -> None:
    reference, current, model = late_labelled_window(0.0)
    current["label"] = (current["a"] > 0).astype(float)
    kwargs = {"label_column": "label", "feature_columns": ["a", "noise"], "reference_is_holdout": True}
    summary = compute_drift(reference, current, **kwargs)

    perf = gather_evidence(reference, current, summary, model=model, **kwargs)["performance"]

    assert perf["coverage"] == {"n_rows": 2000, "n_labelled_rows": 2000, "labelled_share": 1.0}


def test_a_running_id_the_model_does_not_read_is_a_note_and_a_broken_one_does_not_stop_the_champion() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(13)

    def data(n: int, first_id: int) -> pd.DataFrame:
        x = pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.normal(0, 1, n)})
        # a running order id exported with the rows: every new window is past the reference's range
        return x.assign(
            order_id=np.arange(first_id, first_id + n),
            segment=rng.choice(["north", "south"], n),
            label=(x["a"] > 0).astype(int),
        )

    train, reference, current = data(2000, 0), data(2000, 2000), data(2000, 4000)
    model = LogisticRegression().fit(train[["a", "b"]], train["label"])
    summary = compute_drift(reference, current, label_column="label")
    kwargs = {"label_column": "label", "reference_is_holdout": True}

    evidence = gather_evidence(reference, current, summary, model=model, feature_columns=["a", "b"], **kwargs)

    assert evidence["faults"] == []
    assert any("'order_id'" in note and "does not read it" in note for note in evidence["notes"])
    assert evidence["performance"]["kind"] == "measured"  # the champion ran
    assert evidence["extrapolation"] is not None
    # without feature_columns, the names the model was fitted on tell the columns it reads
    evidence = gather_evidence(reference, current, summary, model=model, **kwargs)
    assert evidence["faults"] == [] and any("'order_id'" in note for note in evidence["notes"])
    assert evidence["performance"]["kind"] == "measured"  # predicted on those columns
    # an unread column's export broken (codes remapped): still a fault, but the champion's inputs are intact
    remapped = current.assign(segment=current["segment"].str.upper())
    summary = compute_drift(reference, remapped, label_column="label")
    evidence = gather_evidence(reference, remapped, summary, model=model, feature_columns=["a", "b"], **kwargs)
    assert [(f["column"], f["kind"]) for f in evidence["faults"]] == [("segment", "vocabulary_replaced")]
    assert evidence["performance"]["kind"] == "measured"
    # a fault in a feature it reads is one, and the champion is not run on it
    broken = current.assign(a=current["a"] * 1000)
    summary = compute_drift(reference, broken, label_column="label")
    evidence = gather_evidence(reference, broken, summary, model=model, feature_columns=["a", "b"], **kwargs)
    assert [f["column"] for f in evidence["faults"]] == ["a"] and evidence["performance"] is None
    # the model's columns unknown (no feature_columns, no model): every column's fault counts, as before
    summary = compute_drift(reference, current, label_column="label")
    evidence = gather_evidence(reference, current, summary, **kwargs)
    assert [f["column"] for f in evidence["faults"]] == ["order_id"]


def test_the_columns_a_champion_reads_come_from_its_signature_when_it_names_them() -> None:
    from types import SimpleNamespace

    from airflow_provider_agentic_mlops.core.evidence import _columns_read

    schema_module = pytest.importorskip("mlflow.types.schema")
    ColSpec, Schema, TensorSpec = schema_module.ColSpec, schema_module.Schema, schema_module.TensorSpec

    def pyfunc(schema: object) -> SimpleNamespace:
        return SimpleNamespace(metadata=SimpleNamespace(get_input_schema=lambda: schema))

    assert _columns_read(None, pyfunc(Schema([ColSpec("double", "a"), ColSpec("long", "b")]))) == ["a", "b"]
    assert _columns_read(None, pyfunc(Schema([TensorSpec(np.dtype("float64"), (-1, 4))]))) is None  # unnamed
    assert _columns_read(None, pyfunc(None)) is None and _columns_read(None, None) is None
    assert _columns_read(["x"], pyfunc(Schema([ColSpec("double", "a")]))) == ["x"]  # feature_columns first


def imbalanced(n: int, seed: int, *, collapsed: bool = False) -> pd.DataFrame:
    """~5% positives; ``collapsed``: the positives now look like negatives (fraudsters adapted)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.05).astype(int)
    a = rng.normal(0, 1, n) + 3 * y * (0 if collapsed else 1)
    return pd.DataFrame({"a": a, "b": rng.normal(0, 1, n), "label": y})


def test_a_probability_metric_is_measured_with_the_champions_predict_proba() -> None:
    # roc_auc used to be dropped ("not one of accuracy, f1, precision, recall") whenever the champion predicted
    from sklearn.linear_model import LogisticRegression

    train = imbalanced(4000, 1)
    model = LogisticRegression().fit(train[["a", "b"]], train["label"])
    reference, current = imbalanced(3000, 2), imbalanced(3000, 3, collapsed=True)
    kwargs = {"label_column": "label", "task": "classification", "feature_columns": ["a", "b"]}
    summary = compute_drift(reference, current, label_column="label")

    for metric in ("roc_auc", "log_loss"):
        evidence = gather_evidence(
            reference, current, summary, model=model, reference_is_holdout=True, performance_metric=metric, **kwargs
        )
        perf = evidence["performance"]
        assert perf is not None and perf["metric"] == metric, evidence["notes"]
        assert perf["baseline_source"] == "held-out reference data" and perf["drop"] > 0.3
    assert perf["current"] > perf["baseline"]  # log_loss: lower is better, the drop follows it
    evidence = gather_evidence(  # the metric logged with the champion's run is its baseline
        reference,
        current,
        summary,
        model=model,
        logged_metrics={"roc_auc": 0.99, "accuracy": 0.97, "n_holdout": 500},
        baseline_source="metric logged for the champion",
        performance_metric="roc_auc",
        **kwargs,
    )
    assert evidence["performance"]["baseline"] == 0.99 and evidence["performance"]["current"] < 0.7


def test_a_pyfunc_champion_giving_a_probability_per_class_is_measured_in_roc_auc() -> None:
    from sklearn.linear_model import LogisticRegression

    train = imbalanced(4000, 1)
    fitted = LogisticRegression().fit(train[["a", "b"]], train["label"])

    class PyfuncChampion:  # MLflow pyfunc: predict only, a frame with one column per class
        def predict(self, x: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame(fitted.predict_proba(x), columns=[0, 1])

    reference, current = imbalanced(3000, 2), imbalanced(3000, 3, collapsed=True)
    summary = compute_drift(reference, current, label_column="label")
    evidence = gather_evidence(
        reference,
        current,
        summary,
        model=PyfuncChampion(),
        label_column="label",
        task="classification",
        feature_columns=["a", "b"],
        reference_is_holdout=True,
        performance_metric="roc_auc",
    )
    perf = evidence["performance"]
    assert perf is not None and perf["metric"] == "roc_auc" and perf["drop"] > 0.3, evidence["notes"]


def test_a_probability_metric_on_label_predictions_is_measured_in_accuracy_and_said() -> None:
    reference, current = imbalanced(3000, 2), imbalanced(3000, 3)
    reference["pred"], current["pred"] = reference["label"], 1 - current["label"]  # labels, not probabilities
    kwargs = {"label_column": "label", "prediction_column": "pred", "performance_metric": "roc_auc"}
    summary = compute_drift(reference, current, label_column="label", prediction_column="pred")

    evidence = gather_evidence(reference, current, summary, reference_is_holdout=True, **kwargs)

    perf = evidence["performance"]
    assert perf["metric"] == "accuracy" and perf["baseline"] == 1.0 and perf["drop"] > 0.9
    assert any("'roc_auc' needs class probabilities and 'pred' holds labels" in n for n in evidence["notes"])


def test_a_measurement_that_fails_is_said_in_the_table_not_left_out() -> None:
    class Broken:
        def predict(self, x: pd.DataFrame) -> np.ndarray:
            raise ValueError("Found unknown categories ['zz'] in column 0 during transform")

    reference, current = imbalanced(1000, 2), imbalanced(1000, 3)
    summary = compute_drift(reference, current, label_column="label")
    evidence = gather_evidence(
        reference, current, summary, model=Broken(), label_column="label", task="classification", feature_columns=["a"]
    )
    assert evidence["performance"] is None
    missing = evidence["performance_missing"]
    assert missing["kind"] == "failed" and "unknown categories" in missing["reason"]
    # without predictions at all the table says why too
    evidence = gather_evidence(reference, current, summary, label_column="label")
    assert evidence["performance_missing"] == {
        "kind": "no_predictions",
        "reason": "labels but no predictions: no prediction_column and no champion model",
    }


def test_a_rare_class_the_champion_stopped_finding_shows_in_its_recall() -> None:
    # 5% positives: the positives' recall 1.0 -> 0.0 costs accuracy 0.05 at most
    reference, current = imbalanced(3000, 2), imbalanced(3000, 3)
    reference["pred"] = reference["label"]
    current["pred"] = 0  # never a positive any more
    kwargs = {"label_column": "label", "prediction_column": "pred", "reference_is_holdout": True}
    summary = compute_drift(reference, current, **kwargs)

    perf = gather_evidence(reference, current, summary, **kwargs)["performance"]

    recall = perf["class_recall"]
    assert list(recall["classes"]) == ["1", "0"] and recall["rare_classes"] == 1  # the rare class first
    positives = recall["classes"]["1"]
    assert positives["rare"] and positives["share"] == pytest.approx(reference["label"].mean())
    assert positives["baseline"] == 1.0 and positives["current"] == 0.0 and positives["drop_se"] < 0.05
    assert not recall["classes"]["0"]["rare"] and recall["classes"]["0"]["drop"] == 0.0
    # with a logged baseline the held-out reference still gives the per-class recalls' baseline
    logged = gather_evidence(reference, current, summary, logged_metrics={"accuracy": 0.99}, **kwargs)["performance"]
    assert logged["baseline"] == 0.99 and logged["class_recall"] == recall
    # a reference that is not held out gives no fair per-class baseline: none
    kwargs["reference_is_holdout"] = False
    assert (
        "class_recall"
        not in gather_evidence(reference, current, summary, performance_baseline=0.99, **kwargs)["performance"]
    )


class Threshold:
    """A classifier on ``a`` whose scores rank the classes whatever the offset, and whose labels cut at 1.5."""

    classes_ = np.array([0, 1])

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp(-2 * (x["a"].to_numpy() - 1.5)))
        return np.column_stack([1 - p, p])

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return (x["a"].to_numpy() > 1.5).astype(int)


@pytest.mark.parametrize("logged", [{"roc_auc": 0.98}, None], ids=["logged baseline", "held-out reference"])
def test_the_per_class_recalls_are_evidence_whatever_the_classification_metric(logged: dict | None) -> None:
    # roc_auc, validation's default primary metric, ranks the scores: all positives moved below the cut, the
    # model no longer finds them (recall ~0.93 -> ~0.02), and the ranking, the AUC, holds
    reference, current = imbalanced(3000, 2), imbalanced(3000, 3)
    current["a"] -= 3.5
    kwargs = {
        "label_column": "label",
        "feature_columns": ["a"],
        "task": "classification",
        "performance_metric": "roc_auc",
        "reference_is_holdout": True,
    }
    summary = compute_drift(reference, current, **kwargs)

    perf = gather_evidence(reference, current, summary, model=Threshold(), logged_metrics=logged, **kwargs)[
        "performance"
    ]

    assert perf["metric"] == "roc_auc" and perf["drop"] < 0.02  # the ranking holds
    positives = perf["class_recall"]["classes"]["1"]
    assert positives["rare"] and positives["baseline"] > 0.85 and positives["current"] < 0.1


def test_per_class_recall_does_not_move_with_the_class_mix() -> None:
    rng = np.random.default_rng(11)

    def predictions(y: np.ndarray) -> np.ndarray:
        return np.where(rng.random(len(y)) < 0.9, y, 1 - y)  # each class right 90% of the time

    ref_y, cur_y = (rng.random(4000) < 0.1).astype(int), (rng.random(4000) < 0.7).astype(int)
    recall = class_recall(cur_y, predictions(cur_y), ref_y, predictions(ref_y))
    assert recall["rare_classes"] == 1 and recall["classes"]["1"]["rare"]
    for one in recall["classes"].values():
        assert abs(one["drop"]) < 2.5 * one["drop_se"] and one["drop_se"] < 0.05
    assert class_recall(np.zeros(50), np.zeros(50), ref_y, ref_y) is None  # one class in common


def test_a_champion_that_could_not_be_loaded_is_why_there_is_no_performance() -> None:
    reference, current = imbalanced(1000, 2), imbalanced(1000, 3)
    summary = compute_drift(reference, current, label_column="label")
    unavailable = {"uri": "models:/m@champion", "status": "unavailable", "reason": "MlflowException: alias not found"}

    evidence = gather_evidence(reference, current, summary, label_column="label", champion=unavailable)

    assert evidence["champion"] == unavailable
    missing = evidence["performance_missing"]
    assert missing["kind"] == "champion_unavailable" and "alias not found" in missing["reason"]
    absent = {"uri": "models:/m@champion", "status": "absent", "reason": "no champion yet: registered model 'm'"}
    evidence = gather_evidence(reference, current, summary, label_column="label", champion=absent)
    assert evidence["performance_missing"]["kind"] == "no_predictions"
    assert "no champion yet" in evidence["performance_missing"]["reason"]


def test_a_reference_that_cannot_be_scored_leaves_out_the_mean_recall_per_class_not_the_measurement() -> None:
    reference, current = imbalanced(2000, 2), imbalanced(2000, 3)
    reference["pred"], current["pred"] = np.nan, current["label"]  # the export has no reference predictions
    kwargs = {"label_column": "label", "prediction_column": "pred", "reference_is_holdout": True}
    summary = compute_drift(reference, current, label_column="label", exclude_columns=["pred"])

    evidence = gather_evidence(reference, current, summary, performance_baseline=0.97, **kwargs)

    perf = evidence["performance"]
    assert perf["current"] == 1.0 and "class_recall" not in perf
    assert any("no mean recall per class" in note for note in evidence["notes"])


def test_a_perfect_held_out_baseline_on_few_rows_is_not_taken_as_known_exactly() -> None:
    # 40 held-out rows all right: accuracy 1.0, whose exact 95% interval is [0.912, 1]; its binomial
    # standard error would be 0. Floored at one row's worth (1/n), as the current accuracy's is.
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 40), "label": np.tile([0, 1], 20)})
    reference["pred"] = reference["label"]
    current = pd.DataFrame({"x": rng.normal(0, 1, 2000), "label": np.tile([0, 1], 1000)})
    current["pred"] = np.where(np.arange(2000) < 100, 1 - current["label"], current["label"])  # 0.95
    kwargs = {"label_column": "label", "prediction_column": "pred", "reference_is_holdout": True}
    summary = compute_drift(reference, current, **kwargs)

    perf = gather_evidence(reference, current, summary, **kwargs)["performance"]

    assert perf["baseline"] == 1.0 and perf["drop"] == pytest.approx(0.05)
    assert perf["drop_se"] >= np.hypot(perf["current_se"], 1 / 40) - 1e-12
    assert performance_verdict(perf, 0.02) != "drop"  # 0.05 +- 0.026 does not show a drop past 0.02
    # the accuracy at the reference's class mix reads the same baseline
    assert perf["class_mix"]["adjusted_drop_se"] >= 1 / 40


@pytest.mark.parametrize(
    ("labels_as", "predictions_as"),
    [("int64", "bool"), ("int64", "boolean"), ("int64", "float64"), ("bool", "int64"), ("boolean", "int64")],
)
def test_bool_and_0_1_are_the_same_classes_for_the_per_class_recalls_and_the_class_mix(
    labels_as: str, predictions_as: str
) -> None:
    # An export writes the classifier's output as True/False against 0/1 labels (or the other way round):
    # accuracy reads True == 1, and so must the rare-class recalls and the class mix.
    reference, current = imbalanced(3000, 2), imbalanced(3000, 3)
    reference["pred"] = reference["label"]
    current["pred"] = 0  # the rare class is no longer found
    kwargs = {"label_column": "label", "prediction_column": "pred", "reference_is_holdout": True}
    expected = gather_evidence(reference, current, compute_drift(reference, current, **kwargs), **kwargs)
    for frame in (reference, current):
        frame["label"], frame["pred"] = frame["label"].astype(labels_as), frame["pred"].astype(predictions_as)
    summary = compute_drift(reference, current, **kwargs)

    perf = gather_evidence(reference, current, summary, **kwargs)["performance"]

    assert perf["drop"] == pytest.approx(expected["performance"]["drop"])
    assert perf["class_recall"] == expected["performance"]["class_recall"]
    assert perf["class_recall"]["classes"]["1"]["baseline"] == 1.0  # found on the reference, lost now
    assert perf["class_mix"] == expected["performance"]["class_mix"]
    assert performance_verdict(perf, 0.02) == "drop"


def test_cbpe_reads_reference_labels_written_as_bool_as_the_0_1_classes_of_the_champion() -> None:
    from sklearn.linear_model import LogisticRegression

    train, reference = imbalanced(3000, 4), imbalanced(3000, 5)
    current = imbalanced(3000, 6, collapsed=True).drop(columns=["label"])  # no labels: CBPE
    model = LogisticRegression().fit(train[["a", "b"]], train["label"])  # classes_ [0, 1]
    kwargs = {"label_column": "label", "model": model, "feature_columns": ["a", "b"], "reference_is_holdout": True}
    expected = gather_evidence(reference, current, compute_drift(reference, current, label_column="label"), **kwargs)
    reference["label"] = reference["label"].astype(bool)  # another export writes the labels as True/False

    perf = gather_evidence(reference, current, compute_drift(reference, current, label_column="label"), **kwargs)[
        "performance"
    ]

    assert perf["calibrated"] is True and perf["reference_estimate"] > 0.95
    assert perf["reference_estimate"] == pytest.approx(expected["performance"]["reference_estimate"])
    assert perf["current_estimate"] == pytest.approx(expected["performance"]["current_estimate"])


@pytest.mark.parametrize("written_as", ["bool", "boolean"])
def test_0_1_in_the_reference_and_true_false_in_the_window_are_the_same_values_not_a_type_change(
    written_as: str,
) -> None:
    from sklearn.linear_model import LogisticRegression

    def frame(n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        x = pd.DataFrame({"a": rng.normal(0, 1, n), "weekend": (rng.random(n) < 0.3).astype(int)})
        return x.assign(label=((x["a"] + x["weekend"]) > 0.5).astype(int))

    train, reference, current = frame(2000, 1), frame(2000, 2), frame(1000, 3)
    model = LogisticRegression().fit(train[["a", "weekend"]], train["label"])
    kwargs = {"label_column": "label", "feature_columns": ["a", "weekend"], "reference_is_holdout": True}
    same_types = compute_drift(reference, current, **kwargs)
    expected = gather_evidence(reference, current, same_types, model=model, **kwargs)
    # another export writes the label and a 0/1 feature as True/False
    current = current.assign(label=current["label"].astype(written_as), weekend=current["weekend"].astype(written_as))

    summary = compute_drift(reference, current, **kwargs)
    evidence = gather_evidence(reference, current, summary, model=model, **kwargs)

    assert summary.data_quality["type_changes"] == [] and evidence["faults"] == []
    for column in ("label", "weekend"):
        assert summary.columns[column].score == pytest.approx(same_types.columns[column].score)
    perf = evidence["performance"]
    assert perf["current"] == pytest.approx(expected["performance"]["current"]) and perf["drop"] is not None
    # values that are no booleans' (0, 1, 2) against True/False still are a type change
    counts = reference.assign(weekend=np.arange(len(reference)) % 3)
    changed = compute_drift(counts, current, **kwargs).data_quality["type_changes"]
    assert [c["column"] for c in changed] == ["weekend"]


def test_a_fault_in_the_label_column_does_not_stop_the_champion_and_the_measurement_says_so() -> None:
    # The export writes the target in millimetres instead of metres: a pipeline fault (the decision
    # escalates on it), but the champion's inputs are sound, so it is still run (its importances weigh
    # the drift, its extrapolation is read); the performance measured against those labels says what
    # it was measured against.
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(5)

    def frame(n: int) -> pd.DataFrame:
        x = pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.normal(0, 1, n)})
        return x.assign(label=5 + x["a"] + rng.normal(0, 0.3, n))

    train, reference, current = frame(2000), frame(2000), frame(1000)
    current["label"] *= 1000
    model = LinearRegression().fit(train[["a", "b"]], train["label"])
    kwargs = {"label_column": "label", "feature_columns": ["a", "b"], "reference_is_holdout": True}
    summary = compute_drift(reference, current, **kwargs)

    evidence = gather_evidence(reference, current, summary, model=model, **kwargs)

    assert [(f["column"], f["kind"]) for f in evidence["faults"]] == [("label", "scale_change")]
    assert evidence["severity"]["weighted_by"] == "feature importance"
    assert evidence["extrapolation"] is not None
    assert evidence["performance"]["kind"] == "measured"
    assert any("'label'" in note and "pipeline fault" in note for note in evidence["notes"])
    assert not any("champion not run" in note for note in evidence["notes"])


def test_without_a_champion_the_severity_weighs_the_features_not_the_label_or_prediction_columns() -> None:
    # Only the class mix moved (30% -> 60% positives; no feature moved): equal weights without a champion
    # used to count the label and prediction columns as features the model relies on (0.4 of the weight).
    rng = np.random.default_rng(0)

    def frame(n: int, positives: float, shift: float = 0.0) -> pd.DataFrame:
        x = pd.DataFrame(rng.normal(0, 1, (n, 3)), columns=["f0", "f1", "f2"]).assign(f0=lambda f: f["f0"] + shift)
        y = (rng.random(n) < positives).astype(int)
        return x.assign(label=y, pred=np.where(rng.random(n) < 0.9, y, 1 - y))

    reference, current = frame(3000, 0.3), frame(3000, 0.6)
    kwargs = {"label_column": "label", "prediction_column": "pred", "task": "classification"}
    summary = compute_drift(reference, current, **kwargs)
    assert summary.columns["label"].drifted and summary.columns["pred"].drifted  # the summary still says so

    severity = gather_evidence(reference, current, summary, **kwargs)["severity"]

    assert severity["weighted_share"] == 0.0 and severity["n_columns"] == 3
    assert {r["column"] for r in severity["top"]} == {"f0", "f1", "f2"}
    assert severity["excluded"] == {"label": "label_column", "pred": "prediction_column"}
    assert severity["n_past_threshold"] == 0  # the plain count over the same columns: the label's drift is not in it
    # one feature of three moved: a third of the weight, not 3 of 5 columns
    moved = frame(3000, 0.6, shift=0.3)
    severity = gather_evidence(reference, moved, compute_drift(reference, moved, **kwargs), **kwargs)["severity"]
    assert severity["weighted_share"] == pytest.approx(1 / 3)
    assert (severity["n_past_threshold"], severity["n_columns"]) == (1, 3)


def regression_windows(seed: int = 1) -> tuple[object, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A linear champion (the true model), its held-out reference, a narrower segment (x0's spread
    halved: the target varies less, the errors unchanged) and a wider window where y gained a term in
    x2 (the errors x2.7, the target's variance x2.6)."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(seed)

    def make(n: int, x0: str = "normal", new_term: float = 0.0) -> pd.DataFrame:
        x = rng.normal(size=(n, 3))
        if x0 == "narrow":
            x[:, 0] *= 0.5
        if x0 == "wide":
            x[:, 0] = rng.uniform(-3, 3, n)
        y = 3 * x[:, 0] + x[:, 1] + new_term * x[:, 2] + rng.normal(size=n)
        return pd.DataFrame(x, columns=["x0", "x1", "x2"]).assign(y=y)

    train, reference = make(3000), make(3000)
    model = LinearRegression().fit(train[["x0", "x1", "x2"]], train["y"])
    return model, reference, make(2000, "narrow"), make(2000, "wide", 1.3)


def test_r2_is_compared_at_the_references_target_variance_not_each_windows_own() -> None:
    # R^2 = 1 - MSE / var(y) of its own window moved with the window's target variance: a narrower segment
    # with unchanged errors read 0.913 -> 0.770 (retrain: a retrained model gains nothing), a wider window
    # with the errors x2.7 read 0.913 -> 0.910 (stable: retraining gains).
    model, reference, narrow, wide = regression_windows()
    kwargs = {"label_column": "y", "feature_columns": ["x0", "x1", "x2"], "task": "regression"}
    verdicts = {}
    for name, current in (("narrow", narrow), ("wide", wide)):
        summary = compute_drift(reference, current, **kwargs)
        perf = gather_evidence(reference, current, summary, model=model, reference_is_holdout=True, **kwargs)[
            "performance"
        ]
        errors = (current["y"] - model.predict(current[["x0", "x1", "x2"]])) ** 2
        scale = float(np.var(reference["y"]))
        assert perf["metric"] == "r2" and perf["current"] == pytest.approx(1 - errors.mean() / scale)
        assert perf["scale"]["reference_variance"] == pytest.approx(scale)
        assert "reference's target variance" in perf["scale"]["compared"]
        assert perf["scale"]["window_r2"] == pytest.approx(1 - errors.mean() / np.var(current["y"]))
        verdicts[name] = performance_verdict(perf, 0.02)
    assert verdicts == {"narrow": "stable", "wide": "drop"}


def test_the_summarys_r2_of_a_prediction_column_is_at_the_references_target_variance_too() -> None:
    model, reference, narrow, _ = regression_windows(2)
    reference = reference.assign(pred=model.predict(reference[["x0", "x1", "x2"]]))
    narrow = narrow.assign(pred=model.predict(narrow[["x0", "x1", "x2"]]))
    kwargs = {"label_column": "y", "prediction_column": "pred", "task": "regression"}

    summary = compute_drift(reference, narrow, **kwargs)

    r2 = summary.quality["r2"]
    assert r2["reference"] == pytest.approx(
        1 - np.mean((reference["y"] - reference["pred"]) ** 2) / np.var(reference["y"])
    )
    assert r2["current"] == pytest.approx(1 - np.mean((narrow["y"] - narrow["pred"]) ** 2) / np.var(reference["y"]))
    assert abs(r2["current"] - r2["reference"]) < 0.02  # the errors did not change
    perf = gather_evidence(reference, narrow, summary, reference_is_holdout=True, **kwargs)["performance"]
    assert perf["current"] == pytest.approx(r2["current"]) and perf["baseline"] == pytest.approx(r2["reference"])


def prior_shift_windows(seed: int = 0) -> tuple[object, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A logistic champion, its held-out reference (30% positives), a window with 10% positives that
    look as before (label shift: P(x | y) unchanged) and one where the positives look less like
    positives (the model got worse)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)

    def frame(n: int, positives: float, separation: float = 1.5) -> pd.DataFrame:
        y = (rng.random(n) < positives).astype(int)
        x = rng.normal(size=(n, 3))
        x[:, 0] += separation * y
        return pd.DataFrame(x, columns=["f0", "f1", "f2"]).assign(label=y)

    train, reference = frame(4000, 0.3), frame(20_000, 0.3)
    model = LogisticRegression().fit(train[["f0", "f1", "f2"]], train["label"])
    return model, reference, frame(20_000, 0.1), frame(20_000, 0.3, separation=0.7)


@pytest.mark.parametrize("metric", ["f1", "precision"])  # accuracy's: above; recall does not move with the mix
def test_a_metric_of_predicted_labels_at_the_references_class_mix_tells_label_shift_from_a_worse_model(
    metric: str,
) -> None:
    # Fewer positives, each class looking as before: f1 fell 0.618 -> 0.492 (precision with the prevalence)
    # and retrained, while each class's recall held. Re-weighted to the reference's class mix (the current
    # confusion matrix's rows at the reference's shares) it holds, as accuracy's did. (On 20,000 rows, 2,000
    # positives, it is known to +- 0.01; the decision's label-shift rule asks that it be shown within the
    # tolerance, which that only just allows.)
    model, reference, shifted, worse = prior_shift_windows()
    kwargs = {"label_column": "label", "feature_columns": ["f0", "f1", "f2"], "task": "classification"}
    out = {}
    for name, current in (("shifted", shifted), ("worse", worse)):
        summary = compute_drift(reference, current, **kwargs)
        out[name] = gather_evidence(
            reference, current, summary, model=model, performance_metric=metric, reference_is_holdout=True, **kwargs
        )["performance"]
    mix = out["shifted"]["class_mix"]
    assert mix["metric"] == metric and mix["mix_change"] == pytest.approx(0.2, abs=0.03)
    assert abs(mix["adjusted_drop"]) < 3 * mix["adjusted_drop_se"] and mix["adjusted_drop_se"] < 0.015
    assert mix["adjusted_drop"] - 1.96 * mix["adjusted_drop_se"] < 0.02  # at the reference's mix: no drop
    assert performance_verdict({**out["shifted"], "class_mix": None}, 0.02) == "drop"  # with the prevalence alone
    assert out["worse"]["class_mix"]["adjusted_drop"] > 0.05 and performance_verdict(out["worse"], 0.02) == "drop"


def test_the_class_mix_metric_at_an_unchanged_mix_is_the_metric_itself() -> None:
    from airflow_provider_agentic_mlops.core.metrics import class_labels, compute_metrics

    rng = np.random.default_rng(8)
    y = rng.choice([0, 1, 2], 800, p=[0.6, 0.3, 0.1])
    pred = np.where(rng.random(800) < 0.8, y, rng.choice([0, 1, 2, 3], 800))  # 3: predicted, never a label
    binary = y > 0  # True/False labels against 0/1 predictions
    for labels, predicted in ((y, pred), (binary, (pred > 0).astype(int))):
        over = class_labels(labels, predicted)
        measured = compute_metrics("classification", labels, predicted)
        for metric in ("accuracy", "precision", "recall", "f1"):  # more than two classes: macro-averaged
            mix = class_mix(labels, predicted, labels, baseline=0.9, baseline_se=0.0, metric=metric, labels=over)
            assert mix["metric"] == metric and mix["adjusted_current"] == pytest.approx(measured[metric])


def test_a_held_out_baseline_gets_its_own_standard_error_not_the_windows_scaled() -> None:
    # The baseline's error was the window's scaled by the square root of their row counts: with 10%
    # positives in the window and 30% in the reference, the window's f1 is the noisier one, and the
    # baseline's error was taken as large as it. Measured on its own rows it is the reference's.
    model, reference, shifted, _ = prior_shift_windows()
    kwargs = {"label_column": "label", "feature_columns": ["f0", "f1", "f2"], "task": "classification"}
    summary = compute_drift(reference, shifted, **kwargs)

    perf = gather_evidence(
        reference, shifted, summary, model=model, performance_metric="f1", reference_is_holdout=True, **kwargs
    )["performance"]

    features = reference[["f0", "f1", "f2"]]
    own = measure_performance("classification", reference["label"], model.predict(features), metric="f1", baseline=None)
    assert perf["baseline"] == pytest.approx(own["current"])
    assert perf["drop_se"] == pytest.approx(np.hypot(perf["current_se"], own["current_se"]))
    assert own["current_se"] < 0.8 * perf["current_se"]  # the window's 2,000 positives against 6,000


def regions(n: int, seed: int, new_share: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west"], n).astype(object)
    region[rng.random(n) < new_share] = "central"
    return pd.DataFrame({"region": region, "x": rng.uniform(0, 1, n)})


def test_a_category_the_reference_never_had_on_an_important_feature_is_extrapolation() -> None:
    reference, current = regions(3000, 0), regions(2000, 1, new_share=0.4)
    out = extrapolation(reference, current, ["region", "x"], {"region": 0.8, "x": 0.2}, categorical=["region"])
    assert out["share_rows"] == pytest.approx(0.4, abs=0.04) and out["beyond_chance"] is True
    assert list(out["columns"]) == ["region"]
    # unchanged data: every category seen, nothing beyond chance; an unimportant column is not read
    assert extrapolation(reference, regions(2000, 2), ["region", "x"], categorical=["region"])["beyond_chance"] is False
    unimportant = extrapolation(reference, current, ["region", "x"], {"region": 0.1, "x": 0.9}, categorical=["region"])
    assert unimportant["beyond_chance"] is False and "region" not in unimportant["columns"]


def test_rare_categories_a_small_reference_missed_are_chance_not_extrapolation() -> None:
    rng = np.random.default_rng(3)
    names = [f"c{i}" for i in range(60)]
    weights = np.r_[np.full(10, 0.08), np.full(50, 0.004)]  # 50 rare categories: a 300-row reference misses some
    reference = pd.DataFrame({"cat": rng.choice(names, 300, p=weights / weights.sum())})
    current = pd.DataFrame({"cat": rng.choice(names, 3000, p=weights / weights.sum())})
    out = extrapolation(reference, current, ["cat"], categorical=["cat"])
    assert out["share_rows"] > 0 and out["beyond_chance"] is False


def test_gather_evidence_counts_a_new_category_and_notes_its_values() -> None:
    reference, current = regions(3000, 0), regions(2000, 1, new_share=0.3)
    summary = compute_drift(reference, current, categorical_columns=["region"])
    evidence = gather_evidence(reference, current, summary, categorical_columns=["region"])
    assert evidence["faults"] == []  # 30% unseen: no replaced vocabulary
    assert evidence["extrapolation"]["beyond_chance"] is True and "region" in evidence["extrapolation"]["columns"]
    assert any("'region': 3" in note and "('central')" in note for note in evidence["notes"])  # 30% give or take
    # a few unseen rows (under 5%) are no note
    few = regions(2000, 1, new_share=0.02)
    evidence = gather_evidence(reference, few, compute_drift(reference, few), categorical_columns=["region"])
    assert not any("central" in note for note in evidence["notes"])


def churn_frames(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """stayed/churned labels (12% churned): the model finds half the churners on the window."""
    rng = np.random.default_rng(seed)

    def one(n: int, found: float) -> pd.DataFrame:
        label = np.where(rng.random(n) < 0.12, "churned", "stayed")
        pred = np.where((label == "churned") & (rng.random(n) < found), "churned", "stayed")
        return pd.DataFrame({"x": rng.normal(0, 1, n), "label": label, "pred": pred})

    return one(2000, 0.9), one(2000, 0.5)


def test_precision_recall_and_f1_measure_the_positive_label_named_and_say_which() -> None:
    reference, current = churn_frames(0)
    kwargs = {"label_column": "label", "prediction_column": "pred", "reference_is_holdout": True}
    summary = compute_drift(reference, current, **kwargs)
    churned = gather_evidence(
        reference, current, summary, performance_metric="recall", positive_label="churned", **kwargs
    )
    perf = churned["performance"]
    assert perf["positive_class"] == "churned" and perf["current"] == pytest.approx(0.5, abs=0.07)
    assert perf["baseline"] == pytest.approx(0.9, abs=0.05) and perf["drop"] > 0.3  # the churners it stopped finding
    # without it: the greater class ('stayed', every one found), said so
    default = gather_evidence(reference, current, summary, performance_metric="recall", **kwargs)["performance"]
    assert default["positive_class"] == "stayed" and default["current"] == pytest.approx(1.0)
    # a label that is no class of the data is refused, naming the setting
    wrong = gather_evidence(reference, current, summary, performance_metric="f1", positive_label="yes", **kwargs)
    assert "positive_label 'yes'" in wrong["performance_missing"]["reason"]
    assert "drift.positive_label" in wrong["performance_missing"]["reason"]


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng, n: rng.lognormal(3, 0.5, n),  # an amount: all positive
        lambda rng, n: rng.normal(40, 10, n),  # an age: nearly all positive (a few below zero)
        lambda rng, n: -rng.gamma(2, 5, n),  # a balance owed: all negative
    ],
)
def test_values_negated_are_a_sign_flip_fault_naming_the_column(draw) -> None:
    rng = np.random.default_rng(8)
    reference, current = pd.DataFrame({"v": draw(rng, 2000)}), pd.DataFrame({"v": draw(rng, 2000)})
    kind, detail = faults_of(reference, -current)["v"]
    assert kind == "sign_flip" and "values look negated (sign flipped)" in detail


@pytest.mark.parametrize(
    "shift",
    [
        lambda rng: (rng.normal(0, 1, 2000), -rng.normal(0, 1, 2000)),  # centred at zero: a flip is no change
        lambda rng: (rng.normal(0.5, 1, 2000), -rng.normal(0.5, 1, 2000)),  # near zero: both signs common
        lambda rng: (rng.lognormal(3, 0.5, 2000), -rng.lognormal(2, 0.8, 2000)),  # negative, another shape
        lambda rng: (rng.normal(40, 10, 2000), rng.normal(-25, 5, 2000)),  # moved below zero, narrower
        lambda rng: (rng.lognormal(3, 0.5, 150), -rng.lognormal(3, 0.5, 150)),  # too few rows to tell
    ],
)
def test_a_column_near_zero_or_a_genuine_shift_past_zero_is_no_sign_flip(shift) -> None:
    reference, current = shift(np.random.default_rng(9))
    found = faults_of(pd.DataFrame({"v": reference}), pd.DataFrame({"v": current}))
    assert "negated" not in found.get("v", ("", ""))[1]
