"""How often the agent's rules decide what a careful engineer would, on scenarios with measured truth.

    python benchmarks/decisions.py [--only NAME ...] [--seed N | --seeds N ...] [--metric NAME] [--explain] [--dump DIR]

Every scenario is built from data scikit-learn ships (bundled datasets and generators) with a
controlled change: none, covariate shift on unimportant or important features, concept drift,
label-free shift, broken feeds, small samples, regression cases, a rare class that changed its look,
labels that arrive late (for the window's oldest rows only), and a small window on a large reference.
For each one:

1. a champion is trained on the first part of the data and logged to a local MLflow (SQLite) with
   its metric on held-out reference data, under the alias ``champion``;
2. the change is applied to later data, which is split into the current window (what the check
   sees; labelled unless the scenario is label-free, then the reference's labels calibrate CBPE, or
   labelled for its oldest rows only when labels come late) and a held-out current test part; for
   the generated data sets the test part also holds 20,000 extra rows drawn with the same change
   (``EXTRA_TEST_ROWS``), so it has ~25,000 rows;
3. the ground truth is *measured*: ``retrain`` when a model of the same kind, retrained on the
   champion's training data + reference + the labelled current window, beats the champion on the
   held-out current test part by at least 0.01 (accuracy; R^2 for regression; all the window's
   labels count, as once they are in, whatever the check saw); ``escalate`` for broken feeds;
   otherwise ``no_action``. The gain is the mean over ``TRUTH_RETRAINS`` retrains
   with different seeds (models with randomness), read paired on the same test rows, and printed
   with its standard error; ``~`` marks a gain within 2 standard errors of the 0.01 line (a truth
   that another draw could flip: with one retrain and ~4,500 test rows a single gain was noisy
   enough to move several scenarios across the line between seeds);
4. the real operator path decides: ``DriftCheckOperator.execute`` (report included, written to a
   local prefix), then ``AgentDecisionOperator.choose_branch`` in ``rules`` mode with a SQLite state
   store, exactly as in the DAG (only the Airflow task context is a stand-in).

It prints one row per scenario, the same scores for the naive rule "drift share > 0.1 -> retrain",
both rules' scores again on the rows whose truth is clear of the line (leaving out the gains within
2 standard errors of it, the same rows for both), and last
``recall=<x> wasted=<y> broken_escalated=<z> healthy_escalated=<w>`` (the agent's) where recall is the
share of ``retrain`` rows retrained, wasted the share of ``no_action`` rows retrained,
broken_escalated the share of ``escalate`` rows escalated, healthy_escalated the share of
``no_action`` rows escalated. ``--only NAME ...`` runs a subset with the full run's seeds;
``--metric NAME`` measures the classification scenarios' decision in that metric (default ``accuracy``, the
truth's; ``roc_auc`` is models.yaml's default), the champion logging it at training as the held-out baseline;
regression keeps R^2. ``--seed N`` draws other data for the same scenarios; ``--seeds 0 1 2`` runs several draws, then
prints each seed's scores, their mean and the worst of each. ``--explain`` prints each decision's
rationale under its row; ``--dump DIR`` writes each row, with the drift summary (the evidence table)
and the rules fired with their details, to ``DIR/<scenario>-s<seed>.json``: what to read on a miss.

Champions on a flat learning curve. A "no drift" scenario whose champion was trained on too few
rows measures as ``retrain`` (more data alone helps), which tests the training set, not the policy.
So the champions sit where their learning curve is flat, measured by retraining on 2.2x the rows
over 4 seeds: Friedman #1 (the ``reg-`` scenarios but the linear ones) uses gradient boosting on
7,000 of 20,000 rows (+0.003 R^2; the former random forest on 2,450 of 7,000 rows gained +0.024),
and ``digits-no-drift`` an SVC (gamma 0.001) on 60% of the 1,797 rows (+0.002 accuracy; the forest
on 35% gained +0.020). The truth rule itself is unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # gradient boosting: one thread, as the forests (n_jobs=1)
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")  # the table, not the task logs

MIN_GAIN = 0.01  # a retrained model must beat the champion by this much for "retrain" to be right
#: generated rows drawn beyond each generator's scenario rows, used only as held-out current test
#: rows: the truth's gain is read on ~25,000 rows instead of ~4,500 (standard error ~0.002, not ~0.005)
EXTRA_TEST_ROWS = 20_000
#: retrains averaged for the truth (models with a random_state: forests, gradient boosting's
#: early-stopping split); one retrain is one draw of the model's own randomness
TRUTH_RETRAINS = 3
LABEL = "label"
#: types of the champions the benchmark itself trains, trusted when MLflow saves them with skops
TRUSTED_TYPES = ["sklearn.tree._tree.Tree", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


@dataclass
class Data:
    frame: pd.DataFrame  # features + label, rows in time order
    features: list[str]
    task: str  # classification | regression
    model: Callable[[], Any]
    #: rows after the first ``n_base`` only enlarge the held-out current test part (generators draw
    #: them; bundled datasets have none): the splits are shares of ``n_base``
    n_base: int | None = None


@dataclass
class Scenario:
    name: str
    kind: str  # what the change is, for the table
    data: Callable[[int], Data]
    change: Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame] = lambda f, rng: f
    broken: bool = False
    labels: bool = True
    n_current: int | None = None  # rows of the current window (default: half of what is left)
    #: labels are in for the window's oldest share only (they arrive late); the check sees the newer rows'
    #: labels as missing. The truth's retrain still uses the whole labelled window, as for label-free ones.
    labelled_share: float = 1.0
    train_share: float = 0.35  # rows the champion is trained on; the next 20% are the reference


# -- data -----------------------------------------------------------------------------------------


def _forest(task: str) -> Callable[[], Any]:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
    return lambda: cls(n_estimators=40, min_samples_leaf=2, random_state=0, n_jobs=1)


def synth_classification(seed: int) -> Data:
    """Eight features, three informative, a forest champion on 7,000 of 20,000 rows: there its
    learning curve is flat (retraining on 2.2x the rows gains accuracy +0.004, measured over 5
    seeds; on 2,450 of 7,000 rows it gained +0.007, close enough to the 0.01 line that noise made
    "no change" scenarios measure as ``retrain``), and the 4,500-row windows measure a drop to
    about +-0.006."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=20_000 + EXTRA_TEST_ROWS,
        n_features=8,
        n_informative=3,
        n_redundant=0,
        shuffle=False,
        class_sep=1.2,
        random_state=seed,
    )
    order = np.random.default_rng(seed).permutation(len(y))  # shuffle=False groups rows by class
    x, y = x[order], y[order]
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)])
    frame["segment"] = pd.qcut(frame["f7"], 4, labels=["north", "south", "east", "west"]).astype(str)
    frame[LABEL] = y
    return Data(frame, [f"f{i}" for i in range(8)], "classification", _forest("classification"), n_base=20_000)


def logistic_classification(seed: int) -> Data:
    from sklearn.linear_model import LogisticRegression

    data = synth_classification(seed)
    return Data(data.frame, data.features, "classification", lambda: LogisticRegression(max_iter=500), data.n_base)


def measured_classification(seed: int) -> Data:
    """``synth_classification`` with the informative f2 as a positive measurement over a x3 range (a
    length, a weight): exp(4 + 0.3 f2 / std). The forest splits on it as on f2. Multiplied by 2.54
    (inches -> cm), half its values stay inside the reference range, so no range check sees it."""
    data = synth_classification(seed)
    frame = data.frame.assign(f2=np.exp(4 + 0.3 * data.frame["f2"] / data.frame["f2"].std()))
    return Data(frame, data.features, data.task, data.model, data.n_base)


def digits(seed: int) -> Data:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(bunch.target))
    frame = pd.DataFrame(bunch.data[order], columns=[f"px{i}" for i in range(64)])
    frame = frame.loc[:, frame.std() > 0]
    features = list(frame.columns)
    frame[LABEL] = bunch.target[order]
    return Data(frame, features, "classification", _forest("classification"))


def digits_svc(seed: int) -> Data:
    """Digits with an SVC champion (scikit-learn's own digits example), trained on 60% of the rows
    (``train_share``): its learning curve is flat there (retraining on the rows after it gains
    accuracy +0.002, measured over 4 seeds). The forest on 35% gained +0.020 from more rows alone."""
    from sklearn.svm import SVC

    data = digits(seed)
    return Data(data.frame, data.features, "classification", lambda: SVC(gamma=0.001))


def rare_classification(seed: int) -> Data:
    """A rare positive class (2 %), one cluster per class, a forest champion on 7,000 of 20,000 rows:
    its learning curve is flat there (``cls-rare-no-drift``, retrained on 2.2x the rows, gains accuracy
    +0.000 to +0.002 on seeds 0-3). Accuracy barely sees the positives: losing them all costs ~0.02."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=20_000 + EXTRA_TEST_ROWS,
        n_features=8,
        n_informative=3,
        n_redundant=0,
        n_clusters_per_class=1,
        weights=[0.98, 0.02],
        flip_y=0.0,
        shuffle=False,
        class_sep=1.2,
        random_state=seed,
    )
    order = np.random.default_rng(seed).permutation(len(y))
    frame = pd.DataFrame(x[order], columns=[f"f{i}" for i in range(8)])
    frame[LABEL] = y[order]
    return Data(frame, [f"f{i}" for i in range(8)], "classification", _forest("classification"), n_base=20_000)


def breast_cancer(seed: int) -> Data:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame = frame.rename(columns={"target": LABEL})
    return Data(frame, [c for c in frame.columns if c != LABEL], "classification", _forest("classification"))


def friedman(seed: int) -> Data:
    """Friedman #1 with a gradient-boosted champion on 7,000 rows: there its learning curve is flat
    (retraining on 2.2x the rows gains R^2 +0.003, measured over 4 seeds), so a retrain wins only
    when the data changed. (A random forest on 2,450 rows, as before, gained +0.024 from more rows
    alone, which made "no drift" scenarios measure as ``retrain``.)"""
    from sklearn.datasets import make_friedman1
    from sklearn.ensemble import HistGradientBoostingRegressor

    x, y = make_friedman1(n_samples=20_000 + EXTRA_TEST_ROWS, n_features=8, noise=0.5, random_state=seed)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(8)])  # x0-x4 matter, x5-x7 are noise
    frame[LABEL] = y
    features = [f"x{i}" for i in range(8)]
    return Data(frame, features, "regression", lambda: HistGradientBoostingRegressor(random_state=0), n_base=20_000)


def linear_regression_data(seed: int) -> Data:
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge

    x, y = make_regression(
        n_samples=7000 + EXTRA_TEST_ROWS, n_features=6, n_informative=3, noise=10, shuffle=False, random_state=seed
    )
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)])
    frame[LABEL] = y
    return Data(frame, [f"x{i}" for i in range(6)], "regression", lambda: Ridge(), n_base=7000)


# -- changes ----------------------------------------------------------------------------------------


def shift(column: str, by_std: float) -> Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]:
    return lambda f, rng: f.assign(**{column: f[column] + by_std * f[column].std()})


def scale(column: str, factor: float) -> Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]:
    return lambda f, rng: f.assign(**{column: f[column] * factor})


def flip_where(column: str) -> Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]:
    """Concept drift: the label flips where ``column`` > its median; features unchanged."""
    return lambda f, rng: f.assign(**{LABEL: np.where(f[column] > f[column].median(), 1 - f[LABEL], f[LABEL])})


def swap_digits(a: int, b: int) -> Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]:
    return lambda f, rng: f.assign(**{LABEL: f[LABEL].replace({a: b, b: a})})


def new_target_term(column: str, weight: float) -> Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]:
    """Regression concept drift: y gains a term in a feature; the features do not change."""
    return lambda f, rng: f.assign(**{LABEL: f[LABEL] + weight * f[column] * f[LABEL].std() / f[column].std()})


def nulls(column: str, share: float) -> Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]:
    def apply(f: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        values = f[column].copy()
        values[rng.random(len(f)) < share] = np.nan
        return f.assign(**{column: values})

    return apply


def as_text(column: str) -> Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]:
    return lambda f, rng: f.assign(**{column: f[column].map(lambda v: f"{v:.3f}")})


def constant(column: str) -> Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]:
    return lambda f, rng: f.assign(**{column: 0.0})


def remap_segment(f: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    return f.assign(segment=f["segment"].map({"north": "N", "south": "S", "east": "E", "west": "W"}))


def prior_shift(f: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    keep = (f[LABEL] == 1) | (rng.random(len(f)) < 0.35)  # fewer negatives, same P(x | y)
    return f[keep]


def select(column: str, above: bool) -> Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]:
    """Covariate shift by selection: only rows on one side of the median of ``column``."""

    def apply(f: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        median = f[column].median()
        inside = f[column] > median if above else f[column] <= median
        keep = inside | (rng.random(len(f)) < 0.1)
        return f[keep]

    return apply


def mirror_class(columns: list[str], cls: int = 1) -> Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]:
    """The class ``cls`` moves to the far side of the other rows: its ``columns`` are reflected through
    the other rows' mean (a fraud pattern that changed its look). The other rows do not change."""

    def apply(f: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        moved = f[LABEL] == cls
        return f.assign(**{c: np.where(moved, 2 * f.loc[~moved, c].mean() - f[c], f[c]) for c in columns})

    return apply


def after(row: int, change: Callable) -> Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]:
    """``change`` from the ``row``-th row after the reference on: the window's oldest ``row`` rows are
    as before (a change that starts within the window), the newer rows and the test part changed."""

    def apply(f: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        return pd.concat([f[f.index < row], change(f[f.index >= row], rng)])

    return apply


def both(*changes: Callable) -> Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]:
    def apply(f: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        for change in changes:
            f = change(f, rng)
        return f

    return apply


SCENARIOS = [
    Scenario("cls-no-drift", "none", synth_classification),
    Scenario("cls-no-drift-logistic", "none", logistic_classification),
    Scenario("digits-no-drift", "none (SVC on 60% of rows)", digits_svc, train_share=0.6),
    Scenario("cls-shift-unimportant", "covariate shift, noise feature f6 +2 std", synth_classification, shift("f6", 2)),
    Scenario(
        "cls-shift-unimportant-nolabels",
        "covariate shift, noise features f5,f6 +2 std, no labels",
        synth_classification,
        both(shift("f5", 2), shift("f6", 2)),
        labels=False,
    ),
    Scenario("cls-shift-important", "covariate shift, f0 +1.5 std", synth_classification, shift("f0", 1.5)),
    Scenario("cls-select-important", "selection on f1 > median", synth_classification, select("f1", True)),
    Scenario(
        "cls-shift-important-nolabels",
        "covariate shift, f0 +1.5 std, no labels",
        synth_classification,
        shift("f0", 1.5),
        labels=False,
    ),
    Scenario(
        "cls-shift-important-logistic-nolabels",
        "covariate shift f1 -1.5 std, no labels, logistic",
        logistic_classification,
        shift("f1", -1.5),
        labels=False,
    ),
    Scenario("cls-concept", "concept drift: label flips where f1 > median", synth_classification, flip_where("f1")),
    Scenario("cls-concept-logistic", "concept drift, logistic", logistic_classification, flip_where("f0")),
    Scenario("digits-concept", "concept drift: digits 3 and 8 swapped", digits, swap_digits(3, 8)),
    Scenario("cls-prior-shift", "label prior shift (fewer negatives)", synth_classification, prior_shift),
    Scenario("breast-cancer-no-drift", "none (569 rows)", breast_cancer, n_current=200),
    Scenario("cls-broken-nulls", "broken feed: f0 70% null", synth_classification, nulls("f0", 0.7), broken=True),
    Scenario("cls-broken-unit", "broken feed: f2 x1000", synth_classification, scale("f2", 1000), broken=True),
    Scenario(
        "cls-broken-remap", "broken feed: segment codes remapped", synth_classification, remap_segment, broken=True
    ),
    Scenario("cls-broken-constant", "broken feed: f1 constant", synth_classification, constant("f1"), broken=True),
    Scenario("cls-broken-type", "broken feed: f3 as text", synth_classification, as_text("f3"), broken=True),
    Scenario("digits-broken-unit", "broken feed: px20 x255", digits, scale("px20", 255), broken=True),
    Scenario("cls-small-no-drift", "50 current rows, no change", synth_classification, n_current=50),
    Scenario("cls-small-shift", "80 current rows, f6 +1 std", synth_classification, shift("f6", 1), n_current=80),
    Scenario(
        "cls-small-concept", "60 current rows, concept drift", synth_classification, flip_where("f1"), n_current=60
    ),
    Scenario("reg-no-drift", "none (Friedman #1)", friedman),
    Scenario("reg-linear-no-drift", "none (linear, Ridge)", linear_regression_data),
    Scenario("reg-shift-unimportant", "covariate shift, noise x6 +2 std", friedman, shift("x6", 2)),
    Scenario("reg-concept", "concept drift: y gains a term in x5", friedman, new_target_term("x5", 1.0)),
    Scenario(
        "reg-concept-linear", "concept drift: y gains a term in x4", linear_regression_data, new_target_term("x4", 0.8)
    ),
    Scenario("reg-shift-important-nolabels", "x0 +1 std, no labels", friedman, shift("x0", 1.0), labels=False),
    Scenario("reg-broken-unit", "broken feed: x1 x1000", friedman, scale("x1", 1000), broken=True),
    # added after the thirty above: a scenario's seed is its place in this list, so theirs are unchanged
    Scenario("cls-rare-no-drift", "none (2% positives)", rare_classification),
    Scenario(
        "cls-rare-class-moved",
        "2% positives reflected through the negatives' mean on f0-f2",
        rare_classification,
        mirror_class(["f0", "f1", "f2"]),
    ),
    Scenario(
        "cls-late-labels-no-drift", "none, labels in for the oldest 40%", synth_classification, labelled_share=0.4
    ),
    Scenario(
        "cls-late-labels-shift-important",
        "f0 +1.5 std, labels in for the oldest 40%",
        synth_classification,
        shift("f0", 1.5),
        labelled_share=0.4,
    ),
    Scenario(
        "cls-late-labels-shift-unlabelled",
        "f0 +1.5 std from the window's 1,801st row, labels in for the oldest 40% (1,800 rows)",
        synth_classification,
        after(1800, shift("f0", 1.5)),
        labelled_share=0.4,
    ),
    Scenario(
        "cls-small-window-no-drift",
        "300 current rows on 4,000 reference rows, no change",
        synth_classification,
        n_current=300,
    ),
    Scenario(
        "cls-small-window-shift-important",
        "300 current rows on 4,000 reference rows, f0 +1.5 std",
        synth_classification,
        shift("f0", 1.5),
        n_current=300,
    ),
    Scenario(
        "cls-late-labels-select-unlabelled",
        "selection on f1 > median from the window's 1,801st row, labels in for the oldest 40% (1,800 rows)",
        synth_classification,
        after(1800, select("f1", True)),
        labelled_share=0.4,
    ),
    # after the rare-class, late-label and small-window ones, so that they keep their seeds
    Scenario(
        "cls-broken-unit254",
        "broken feed: f2, a measurement, x2.54 (inches -> cm)",
        measured_classification,
        scale("f2", 2.54),
        broken=True,
    ),
]


# -- one scenario -------------------------------------------------------------------------------------


def metric(task: str, y_true: Any, y_pred: Any) -> float:
    from sklearn.metrics import accuracy_score, r2_score

    return float(accuracy_score(y_true, y_pred) if task == "classification" else r2_score(y_true, y_pred))


def split(
    sc: Scenario, data: Data, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(train, reference, window, test)``: the champion's rows, the reference after them, then the
    change applied to the rest, split into the current window and a held-out current test part.

    The change keeps row labels, so the generators' extra rows (after ``n_base``) are told apart and
    join the test part only. The test part never overlaps the window (a window longer than half
    the rows, as breast cancer's 200 of 257, used to share rows with it: the retrained model had
    seen a quarter of its test rows).
    """
    frame = data.frame
    n = data.n_base or len(frame)
    n_train = int(n * sc.train_share)
    n_ref = min(int(n * 0.2), (n - n_train) // 3)
    changed = sc.change(frame[n_train + n_ref :].reset_index(drop=True), rng)
    base = changed[changed.index < n - n_train - n_ref].reset_index(drop=True)
    n_cur = sc.n_current or len(base) // 2
    test = pd.concat([base[max(n_cur, len(base) // 2) :], changed[changed.index >= n - n_train - n_ref]])
    return frame[:n_train], frame[n_train : n_train + n_ref], base[:n_cur], test.reset_index(drop=True)


def retrain_gain(data: Data, champion: Any, pool: pd.DataFrame, test: pd.DataFrame) -> tuple[float, float]:
    """``(gain, standard error)`` of models retrained on ``pool`` over the champion on ``test``.

    The gain is the mean over ``TRUTH_RETRAINS`` retrains (seeds 0, 1, ...; one when the model has
    no randomness) of the metric difference, read paired, row by row, on the same test rows: for
    accuracy the mean of (retrained right - champion right), for R^2 the mean of (champion squared
    error - retrained squared error) over the test's total sum of squares, which is exactly the
    R^2 difference. The standard error adds the rows' paired spread and the spread between retrains.
    """
    features, y = data.features, test[LABEL].to_numpy()
    base = champion.predict(test[features])
    has_seed = "random_state" in data.model().get_params()
    diffs, gains = [], []
    for seed in range(TRUTH_RETRAINS if has_seed else 1):
        model = data.model()
        if has_seed:
            model.set_params(random_state=seed)
        pred = model.fit(pool[features], pool[LABEL]).predict(test[features])
        if data.task == "classification":
            diff = (pred == y).astype(float) - (base == y).astype(float)
        else:
            diff = ((y - base) ** 2 - (y - pred) ** 2) / np.mean((y - y.mean()) ** 2)
        diffs.append(diff)
        gains.append(float(diff.mean()))
    per_row = np.mean(diffs, axis=0)
    between = float(np.var(gains, ddof=1) / len(gains)) if len(gains) > 1 else 0.0
    return float(np.mean(gains)), float(np.sqrt(per_row.var(ddof=1) / len(per_row) + between))


def logged_metric(name: str, data: Data, champion: Any, reference: pd.DataFrame) -> float | None:
    """The champion's ``name`` on the held-out reference, as the drift check measures it
    (:func:`~airflow_provider_agentic_mlops.core.metrics.compute_metrics`; class probabilities from
    ``predict_proba`` for ``roc_auc`` and ``log_loss``): the baseline logged at training. None for a
    metric of probabilities when the champion gives none (the SVC): the check measures accuracy then."""
    from airflow_provider_agentic_mlops.core.metrics import PROBABILITY_METRICS, compute_metrics

    x = reference[data.features]
    if name in PROBABILITY_METRICS and not hasattr(champion, "predict_proba"):
        return None
    proba = champion.predict_proba(x) if name in PROBABILITY_METRICS else None
    classes = getattr(champion, "classes_", None) if proba is not None else None
    values = compute_metrics(data.task, reference[LABEL], champion.predict(x), proba, classes=classes)  # type: ignore[arg-type]
    return float(values[name])


def run_scenario(
    index: int, sc: Scenario, workdir: Path, tracking_uri: str, name: str, decision_metric: str = "accuracy"
) -> dict[str, Any]:
    """One scenario: its truth (always accuracy or R^2) and the operators' decision, measured with
    ``decision_metric`` (classification; regression keeps ``r2``), which the champion logs at training."""
    import mlflow

    from airflow_provider_agentic_mlops.demo.training import sklearn_pip_requirements
    from airflow_provider_agentic_mlops.operators.decision import AgentDecisionOperator
    from airflow_provider_agentic_mlops.operators.drift import DriftCheckOperator
    from tests.doubles.airflow_task import task_context

    data = sc.data(index)
    train, reference, window, test = split(sc, data, np.random.default_rng(index))
    features = data.features
    champion = data.model().fit(train[features], train[LABEL])

    # ground truth, measured by retraining (broken feeds: escalate by definition)
    if sc.broken:
        truth, gain, gain_se = "escalate", float("nan"), float("nan")
    else:
        gain, gain_se = retrain_gain(data, champion, pd.concat([train, reference, window]), test)
        truth = "retrain" if gain >= MIN_GAIN else "no_action"

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    metric_name = decision_metric if data.task == "classification" else "r2"
    with mlflow.start_run(run_name=f"train-{name}"):
        logged = {
            "accuracy" if data.task == "classification" else "r2": metric(
                data.task, reference[LABEL], champion.predict(reference[features])
            )
        }
        value = logged_metric(metric_name, data, champion, reference)
        if value is not None:
            logged[metric_name] = value
        mlflow.log_metrics({**logged, "n_holdout": len(reference)})
        info = mlflow.sklearn.log_model(
            champion,
            name="model",
            registered_model_name=name,
            skops_trusted_types=TRUSTED_TYPES,
            # stated, so that MLflow does not infer them by loading the model in a fresh Python (5-8 s a model)
            pip_requirements=sklearn_pip_requirements(),
        )
    mlflow.MlflowClient().set_registered_model_alias(name, "champion", str(info.registered_model_version))

    current = seen_by_check(sc, window)
    check = DriftCheckOperator(
        task_id="check_drift",
        model_name=name,
        reference=lambda: reference,
        current=lambda: current,
        label_column=LABEL,  # without labels in the window the reference's labels calibrate CBPE
        task=data.task,
        performance_metric=metric_name,
        champion_model_uri=f"models:/{name}@champion",
        feature_columns=features,
        reference_is_holdout=True,
        report_prefix=str(workdir / "reports"),
        report_sample_rows=1000,  # Evidently's rendering is for people; keep the run short
        strict=False,
    )
    summary = check.execute(task_context(dag_id=f"agentic_mlops__{name}"))
    decide = AgentDecisionOperator(task_id="decide", model_name=name, mode="rules")
    context = task_context(dag_id=f"agentic_mlops__{name}", xcoms={("check_drift", "return_value"): summary})
    action = decide.choose_branch(context)
    record = decide.store.get_decision(context["ti"].pushed["decision_id"])
    rules = [r["rule"] for r in record["rules_fired"]]
    naive = "retrain" if summary["drift_share"] > 0.1 else "no_action"
    return {
        "scenario": sc.name,
        "change": sc.kind,
        "truth": truth,
        "gain": gain,
        "gain_se": gain_se,
        "action": action,
        "naive": naive,
        "drift_share": summary["drift_share"],
        "rules": rules,
        "report": summary["report"]["status"],
        "evidence": evidence_cell(summary.get("evidence") or {}),
        "rationale": record["rationale"],
        "summary": summary,
        "fired": record["rules_fired"],
    }


def seen_by_check(sc: Scenario, window: pd.DataFrame) -> pd.DataFrame:
    """The current window as the check gets it: without the label column when the scenario is
    label-free, with the labels of its newest rows missing when they come late."""
    if not sc.labels:
        return window.drop(columns=[LABEL])
    if sc.labelled_share < 1.0:  # labels come late: the newest rows have none yet
        return window.assign(
            **{LABEL: window[LABEL].where(np.arange(len(window)) < round(len(window) * sc.labelled_share))}
        )
    return window


def evidence_cell(evidence: dict[str, Any]) -> str:
    """What the rules read, short: the performance drop +- its standard error (``est`` when
    estimated, ``mix`` the drop at the reference's class mix), the weighted drifted share, and the
    share of rows extrapolated beyond chance."""
    perf, parts = evidence.get("performance") or {}, []
    if perf.get("drop") is not None:
        parts.append(
            f"{'est ' if perf.get('kind') == 'estimated' else ''}drop {perf['drop']:+.3f}+-{perf['drop_se']:.3f}"
        )
        mix = perf.get("class_mix") or {}
        if mix.get("mix_change", 0) >= 0.05:
            parts.append(f"mix {mix['adjusted_drop']:+.3f}")
    parts.append(f"sev {evidence.get('severity', {}).get('weighted_share', float('nan')):.2f}")
    extra = evidence.get("extrapolation") or {}
    if extra.get("excess_share"):
        parts.append(f"extrap {extra['excess_share']:.2f}")
    return " ".join(parts)


# -- scores ------------------------------------------------------------------------------------------


def scores(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    def share(truth: str, action: str) -> float:
        subset = [r for r in rows if r["truth"] == truth]
        return sum(r[key] == action for r in subset) / len(subset) if subset else float("nan")

    return {
        "recall": share("retrain", "retrain"),
        "wasted": share("no_action", "retrain"),
        "broken_escalated": share("escalate", "escalate"),
        "healthy_escalated": share("no_action", "escalate"),
    }


def line(s: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.2f}" for k, v in s.items())


def run_seed(
    seed: int,
    chosen: list[tuple[int, Scenario]],
    workdir: Path,
    tracking_uri: str,
    *,
    explain: bool = False,
    dump: Path | None = None,
    decision_metric: str = "accuracy",
) -> list[dict[str, Any]]:
    """One draw of the chosen scenarios: the table, the change per scenario, the naive rule's and the
    agent's scores; returns the rows. ``explain`` prints each decision's rationale under its row;
    ``dump`` writes each row, the drift summary and the rules fired included, to
    ``<dump>/<scenario>-s<seed>.json``."""
    started = time.monotonic()
    rows = []
    header = (
        f"{'scenario':40} {'truth':9} {'gain +- se':>14} {'rules':9} {'naive':9} {'share':>5}  {'evidence':38} fired"
    )
    print(header)
    print("-" * len(header))
    for index, sc in chosen:
        # each seed registers its own models: a retrain decided for one seed must not put the next
        # seed's same-named model in cooldown
        name = f"bench-{sc.name}" + (f"-s{seed}" if seed else "")
        row = run_scenario(index + 1000 * seed, sc, workdir, tracking_uri, name, decision_metric)
        rows.append(row)
        mark = "" if row["action"] == row["truth"] else "  <- differs"
        near = row["truth"] != "escalate" and not clear_of_line([row])  # the truth is within 2 se of the line
        gain = f"{row['gain']:+.3f}+-{row['gain_se']:.3f}{'~' if near else ' '}"
        print(
            f"{row['scenario']:40} {row['truth']:9} {gain:>14} {row['action']:9} {row['naive']:9} "
            f"{row['drift_share']:5.2f}  {row['evidence']:38} {','.join(row['rules'])}{mark}",
            flush=True,
        )
        if explain:
            print(f"    rationale: {row['rationale']}", flush=True)
        if dump is not None:
            dump.mkdir(parents=True, exist_ok=True)
            (dump / f"{sc.name}-s{seed}.json").write_text(json.dumps(row, indent=1, default=str))
    print(f"\n{len(rows)} scenarios in {time.monotonic() - started:.0f} s (seed {seed}); change per scenario:")
    for row in rows:
        print(f"  {row['scenario']:40} {row['change']}")
    print("(~: the measured gain is within 2 standard errors of the 0.01 line; the truth could go either way)")
    print()
    print("\n".join(score_lines(rows)))
    return rows


def score_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The naive rule's and the agent's scores on all rows, then both on the same rows whose truth is
    clear of the line (:func:`clear_of_line`), each pair one under the other."""
    clear = clear_of_line(rows)
    subset = f"the {len(clear)} rows whose truth is clear of the line:"
    return [
        f"naive rule (drift share > 0.1 -> retrain): {line(scores(rows, 'naive'))}",
        f"{'agent rules:':<42} {line(scores(rows, 'action'))}",
        f"naive rule, {subset}  {line(scores(clear, 'naive'))}",
        f"agent rules, {subset} {line(scores(clear, 'action'))}",
    ]


def clear_of_line(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose truth another draw would not flip: broken feeds, and gains further than 2
    standard errors from ``MIN_GAIN``."""
    return [r for r in rows if r["truth"] == "escalate" or abs(r["gain"] - MIN_GAIN) >= 2 * r["gain_se"]]


def main() -> None:
    from airflow_provider_agentic_mlops.core.metrics import CLASSIFICATION_METRICS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="run only these scenario names")
    parser.add_argument(
        "--seed", type=int, default=0, help="offset of every scenario's seed: other data, same scenarios (default 0)"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="run these seeds one after the other; per-seed scores, then mean and worst"
    )
    parser.add_argument(
        "--metric",
        default="accuracy",
        choices=CLASSIFICATION_METRICS,
        help="the decision's performance metric for the classification scenarios, logged by the champion at "
        "training as the held-out baseline (regression keeps r2; the truth stays accuracy). Default accuracy, "
        "the truth's metric; models.yaml's default is validation's primary metric, roc_auc",
    )
    parser.add_argument("--explain", action="store_true", help="print each decision's rationale under its row")
    parser.add_argument(
        "--dump", type=Path, help="write each row with its drift summary and rules fired to DIR/<scenario>-s<seed>.json"
    )
    args = parser.parse_args()
    dump = args.dump.resolve() if args.dump else None  # the run changes into a temporary directory
    unknown = sorted(set(args.only or ()) - {s.name for s in SCENARIOS})
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {[s.name for s in SCENARIOS]}")
    # the seed is the scenario's place in the full suite, so a subset run reproduces the full run's rows
    chosen = [(i, s) for i, s in enumerate(SCENARIOS) if not args.only or s.name in args.only]
    seeds = args.seeds or [args.seed]
    with tempfile.TemporaryDirectory(prefix="decisions-bench-") as tmp:
        workdir = Path(tmp)
        os.environ["AIRFLOW_HOME"] = str(workdir / "airflow")  # the state store: SQLite in AIRFLOW_HOME
        (workdir / "airflow").mkdir()
        tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
        os.environ["AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI"] = tracking_uri
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        os.chdir(workdir)  # MLflow's default artifact root is relative
        import logging

        logging.disable(logging.WARNING)
        print(
            f"decision metric: {args.metric} for the classification scenarios (logged by the champion at training "
            "as the held-out baseline), r2 for regression; truth: a retrain's accuracy / R^2 gain\n"
        )
        per_seed = {}
        for seed in seeds:
            if len(seeds) > 1:
                print(f"\n== seed {seed} ==")
            per_seed[seed] = scores(
                run_seed(
                    seed, chosen, workdir, tracking_uri, explain=args.explain, dump=dump, decision_metric=args.metric
                ),
                "action",
            )
        if len(seeds) > 1:
            print()
            for seed, s in per_seed.items():
                print(f"seed {seed}: {line(s)}")
            print(f"mean: {line(mean_scores(list(per_seed.values())))}")
            print(f"worst: {line(worst_scores(list(per_seed.values())))}")
        else:
            print(line(per_seed[seeds[0]]))


def mean_scores(all_scores: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.nanmean([s[k] for s in all_scores])) for k in all_scores[0]}


#: which way is worse for each score
WORSE = {"recall": min, "wasted": max, "broken_escalated": min, "healthy_escalated": max}


def worst_scores(all_scores: list[dict[str, float]]) -> dict[str, float]:
    return {k: WORSE[k](s[k] for s in all_scores) for k in all_scores[0]}


if __name__ == "__main__":
    main()
