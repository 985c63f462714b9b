"""compute_drift's scores equal Evidently 0.7.23's own, column by column (relative 1e-9).

Evidently runs here for real (DataDriftPreset for the defaults, ValueDrift for each method) on the
same frames: numeric and categorical columns, sizes on both sides of Evidently's 1000-row switch,
unequal sizes, NaNs and infinities, categories that only occur in the current data.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from airflow_provider_agentic_mlops.core.drift import DRIFT_METHODS, compute_drift

pytest.importorskip("evidently")

REL = 1e-9


def make_frames(n_ref: int, n_cur: int, seed: int = 7, with_inf: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every kind of column Evidently treats differently, with some drift in most."""
    rng = np.random.default_rng(seed)

    def frame(n: int, drift: float, levels: list[str]) -> pd.DataFrame:
        df = pd.DataFrame(
            {
                "normal": rng.normal(10 + drift, 2, n),  # float, many values
                "skewed": rng.exponential(1 + drift, n),
                "rounded": np.round(rng.normal(0, 1 + drift, n), 1),  # float, ties, > 20 values
                "few_floats": rng.choice([0.0, 1.0, 2.5], n, p=[0.5 - drift / 4, 0.3, 0.2 + drift / 4]),
                "binary_float": rng.choice([0.0, 1.0], n, p=[0.7 - drift / 4, 0.3 + drift / 4]),
                "count": rng.poisson(20 + 5 * drift, n),  # int, > 10 values: numeric
                "small_int": rng.integers(0, 4 + int(drift > 0), n),  # int, <= 10 values: categorical
                "city": rng.choice(levels, n),
                "flag": rng.choice(["yes", "no"], n, p=[0.6 - drift / 4, 0.4 + drift / 4]),
                "is_new": rng.random(n) < 0.3 + drift / 5,
            }
        )
        df.loc[rng.random(n) < 0.05, "normal"] = np.nan
        df.loc[rng.random(n) < 0.03, "city"] = None
        if with_inf:
            df.loc[rng.random(n) < 0.01, "skewed"] = np.inf
        return df

    reference = frame(n_ref, 0.0, ["paris", "lyon", "nice", "lille"])
    current = frame(n_cur, 0.4, ["paris", "lyon", "nice", "lille", "brest", "metz"])  # unseen cities
    return reference, current


def evidently_value_drift(
    reference: pd.DataFrame, current: pd.DataFrame, checks: list[tuple[str, str | None]]
) -> dict[tuple[str, str | None], tuple[float, str]]:
    """Evidently's ValueDrift per (column, method): (score, method display name)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    metrics = [ValueDrift(column=column, method=method) for column, method in checks]
    snapshot = Report(metrics).run(
        Dataset.from_pandas(current, data_definition=DataDefinition()),
        Dataset.from_pandas(reference, data_definition=DataDefinition()),
    )
    found = {}
    for (column, method), result in zip(checks, snapshot.dict()["metrics"], strict=True):
        assert result["config"]["column"] == column
        found[(column, method)] = (float(result["value"]), result["config"]["method"])
    return found


def assert_same(ours: float, theirs: float, label: str) -> None:
    if math.isnan(theirs) or math.isinf(theirs) or theirs == 0:
        assert ours == theirs or (math.isnan(ours) and math.isnan(theirs)), f"{label}: {ours} != {theirs}"
        return
    assert ours == pytest.approx(theirs, rel=REL), f"{label}: ours {ours!r}, Evidently {theirs!r}"


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    ("n_ref", "n_cur", "with_inf"),
    [(300, 300, True), (1000, 700, True), (1001, 1001, False), (2500, 1700, True)],
    ids=["300-tests", "1000-still-tests", "1001-distances", "2500x1700-unequal"],
)
def test_default_methods_and_scores_equal_evidently_data_drift_preset(n_ref: int, n_cur: int, with_inf: bool) -> None:
    """Per column: Evidently's ValueDrift method, score and verdict. Dataset share: Evidently's
    DriftedColumnsCount, when there are no infinite values (that legacy count keeps infinities in
    columns without NaN, so its verdicts can differ from Evidently's own ValueDrift ones; ours follow
    ValueDrift)."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference, current = make_frames(n_ref, n_cur, with_inf=with_inf)
    snapshot = Report([DataDriftPreset()], include_tests=True).run(current, reference).dict()
    evidently = {
        m["config"]["column"]: (float(m["value"]), m["config"]["method"], m["config"]["threshold"])
        for m in snapshot["metrics"]
        if m["config"]["type"].endswith("ValueDrift")
    }
    verdicts = {
        t["metric_config"]["params"]["column"]: t["status"] == "FAIL"
        for t in snapshot["tests"]
        if t["name"].startswith("Value Drift for column")
    }
    share = next(m["value"]["share"] for m in snapshot["metrics"] if "DriftedColumnsCount" in m["metric_name"])

    summary = compute_drift(reference, current)

    assert set(summary.columns) == set(evidently)
    for column, result in summary.columns.items():
        score, display_name, threshold = evidently[column]
        assert DRIFT_METHODS[result.method].display_name == display_name, column
        assert_same(result.score, score, f"{column} ({result.method})")
        assert (result.threshold, result.drifted) == (threshold, verdicts[column]), column
    assert summary.drift_share == pytest.approx(sum(verdicts.values()) / len(verdicts), rel=REL)
    if not with_inf:
        assert summary.drift_share == pytest.approx(share, rel=REL)
        assert summary.dataset_drift == (share >= 0.5)
    expected_types = {"small_int": "cat", "city": "cat", "flag": "cat", "is_new": "cat", "count": "num"}
    assert {c: summary.columns[c].type for c in expected_types} == expected_types


NUMERIC_METHODS = ["wasserstein", "ks", "jensenshannon", "psi", "kl_div"]
CATEGORICAL_METHODS = ["jensenshannon", "psi", "kl_div", "chisquare"]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("n_ref", "n_cur"), [(400, 400), (3000, 2200)], ids=["400", "3000x2200"])
def test_every_fast_method_equals_evidently_value_drift(n_ref: int, n_cur: int) -> None:
    reference, current = make_frames(n_ref, n_cur, seed=11)
    checks: list[tuple[str, str | None]] = []
    for column in ["normal", "skewed", "rounded", "few_floats", "count"]:
        checks += [(column, method) for method in NUMERIC_METHODS]
    for column in ["city", "small_int", "is_new"]:
        checks += [(column, method) for method in CATEGORICAL_METHODS]
    checks += [("flag", "z"), ("is_new", "z"), ("binary_float", "jensenshannon"), ("binary_float", "psi")]
    evidently = evidently_value_drift(reference, current, checks)

    for (column, method), (score, _) in evidently.items():
        summary = compute_drift(reference, current, columns=[column], column_methods={column: method})
        assert_same(summary.columns[column].score, score, f"{column} with {method}")


@pytest.mark.filterwarnings("ignore")
def test_type_methods_equal_evidently_per_type_methods() -> None:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference, current = make_frames(1500, 1500, seed=3, with_inf=False)  # Evidently fails on inf here
    snapshot = Report([DataDriftPreset(num_method="psi", cat_method="chisquare")]).run(current, reference).dict()
    evidently = {
        m["config"]["column"]: float(m["value"])
        for m in snapshot["metrics"]
        if m["config"]["type"].endswith("ValueDrift")
    }

    summary = compute_drift(reference, current, type_methods={"num": "psi", "cat": "chisquare"})

    for column, result in summary.columns.items():
        assert result.method == ("psi" if result.type == "num" else "chisquare")
        assert_same(result.score, evidently[column], column)


@pytest.mark.filterwarnings("ignore")
def test_methods_without_a_fast_path_are_delegated_to_evidently() -> None:
    reference, current = make_frames(600, 500, seed=5)
    checks = [("normal", "mannw"), ("normal", "t_test"), ("skewed", "hellinger"), ("city", "hellinger")]
    evidently = evidently_value_drift(reference, current, checks)

    for (column, method), (score, _) in evidently.items():
        summary = compute_drift(reference, current, columns=[column], column_methods={column: method})
        assert_same(summary.columns[column].score, score, f"{column} with {method}")


@pytest.mark.filterwarnings("ignore")
def test_unseen_categories_only_in_current_score_as_evidently_does() -> None:
    reference = pd.DataFrame({"plan": ["basic"] * 800 + ["pro"] * 400})
    current = pd.DataFrame({"plan": ["basic"] * 500 + ["pro"] * 300 + ["enterprise"] * 400})
    checks = [("plan", m) for m in ["jensenshannon", "psi", "kl_div", "chisquare"]]
    evidently = evidently_value_drift(reference, current, checks)

    for (column, method), (score, _) in evidently.items():
        summary = compute_drift(reference, current, column_methods={column: method})
        assert_same(summary.columns[column].score, score, method)
        assert summary.columns[column].drifted
