"""Benchmark: the DriftCheckOperator's drift computation against a plain numpy baseline.

Generates reference and current frames of 20 columns (14 numeric, 6 categorical strings with 10
levels, some columns drifted), then times and measures, in the same run and on the same frames:

(a) ``compute_drift`` -- what DriftCheckOperator runs: column checks, Evidently's type inference
    and method selection, null handling, scores, summary;
(b) a plain vectorised baseline written here: Wasserstein distance normed by the reference std
    for numeric columns (sorted samples; equal sizes, so the mean absolute difference of order
    statistics), Jensen-Shannon distance over value counts for categorical columns.

It checks that both give the same scores (relative 1e-9) and prints ``ratio=<a/b>`` for the
largest size as its last line. Memory is the tracemalloc peak above the memory held before the
call (numpy and pandas report their buffers to tracemalloc); time is the best of a few runs
without tracemalloc.

    .venv/bin/python benchmarks/drift.py                 # 10k, 100k and 1M rows
    .venv/bin/python benchmarks/drift.py --rows 100000   # one size only
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_provider_agentic_mlops.core.drift import compute_drift  # noqa: E402

N_NUMERIC = 14
N_CATEGORICAL = 6
LEVELS = np.array([f"level_{i}" for i in range(10)], dtype=object)


def make_frames(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames; every third numeric column and every other categorical drift."""
    rng = np.random.default_rng(seed)
    ref: dict[str, np.ndarray] = {}
    cur: dict[str, np.ndarray] = {}
    for i in range(N_NUMERIC):
        loc, scale = rng.uniform(-5, 5), rng.uniform(0.5, 3)
        shift = 0.3 * scale if i % 3 == 0 else 0.0
        ref[f"num_{i}"] = rng.normal(loc, scale, rows)
        cur[f"num_{i}"] = rng.normal(loc + shift, scale * (1.1 if i % 3 == 0 else 1.0), rows)
    base = np.linspace(1, 2, len(LEVELS))
    for i in range(N_CATEGORICAL):
        p_ref = base / base.sum()
        p_cur = p_ref[::-1] if i % 2 == 0 else p_ref
        ref[f"cat_{i}"] = LEVELS[rng.choice(len(LEVELS), rows, p=p_ref)]
        cur[f"cat_{i}"] = LEVELS[rng.choice(len(LEVELS), rows, p=p_cur)]
    return pd.DataFrame(ref), pd.DataFrame(cur)


def baseline_drift(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    """The plain numpy/scipy computation of the same statistics, no checks, no NaN handling."""
    from scipy.spatial import distance
    from scipy.stats import wasserstein_distance

    scores: dict[str, float] = {}
    for column in reference.columns:
        ref, cur = reference[column].to_numpy(), current[column].to_numpy()
        if column.startswith("num_"):
            if ref.size == cur.size:
                wd = float(np.abs(np.sort(ref) - np.sort(cur)).mean())
            else:
                wd = float(wasserstein_distance(ref, cur))
            scores[column] = wd / max(float(np.std(ref)), 0.001)
        else:
            ref_counts = reference[column].value_counts()
            cur_counts = current[column].value_counts()
            keys = ref_counts.index.union(cur_counts.index)
            p = ref_counts.reindex(keys, fill_value=0).to_numpy() / ref.size
            q = cur_counts.reindex(keys, fill_value=0).to_numpy() / cur.size
            scores[column] = float(distance.jensenshannon(p, q))
    return scores


def operator_drift(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    summary = compute_drift(reference, current, model_name="benchmark")
    methods = {r.method for r in summary.columns.values()}
    assert methods <= {"wasserstein", "jensenshannon"}, methods
    return {name: r.score for name, r in summary.columns.items()}


def best_time(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_memory_added(fn: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def run(rows: int, repeats: int) -> dict[str, float]:
    reference, current = make_frames(rows)
    ours = operator_drift(reference, current)
    plain = baseline_drift(reference, current)
    worst = max(abs(ours[c] - plain[c]) / max(abs(plain[c]), 1e-300) for c in plain)
    if set(ours) != set(plain) or worst > 1e-9:
        raise SystemExit(f"scores differ at {rows} rows: max relative difference {worst:.3g}")
    times_ours, times_plain = [], []
    for _ in range(repeats):  # interleaved, so load from other processes hits both alike
        times_plain.append(best_time(lambda: baseline_drift(reference, current), 1))
        times_ours.append(best_time(lambda: operator_drift(reference, current), 1))
    return {
        "rows": rows,
        "ours_s": min(times_ours),
        "plain_s": min(times_plain),
        "ours_mb": peak_memory_added(lambda: operator_drift(reference, current)) / 2**20,
        "plain_mb": peak_memory_added(lambda: baseline_drift(reference, current)) / 2**20,
        "max_rel_diff": worst,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[10_000, 100_000, 1_000_000],
        help="rows in reference and in current (each); several sizes allowed; ratio is for the largest",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per size (best is kept)")
    args = parser.parse_args(argv)
    print(f"columns: {N_NUMERIC} numeric, {N_CATEGORICAL} categorical (10 levels); rows = reference = current")
    print(
        f"{'rows':>10} {'compute_drift s':>16} {'baseline s':>11} {'ratio':>6} {'compute_drift MB':>17} "
        f"{'baseline MB':>12} {'max rel diff':>13}"
    )
    results = []
    for rows in sorted(args.rows):
        r = run(rows, args.repeats)
        results.append(r)
        print(
            f"{rows:>10,} {r['ours_s']:>16.3f} {r['plain_s']:>11.3f} {r['ours_s'] / r['plain_s']:>6.2f} "
            f"{r['ours_mb']:>17.1f} {r['plain_mb']:>12.1f} {r['max_rel_diff']:>13.2e}",
            flush=True,
        )
    largest = results[-1]
    print("scores identical (relative 1e-9) at all sizes; memory = tracemalloc peak added")
    print(f"ratio={largest['ours_s'] / largest['plain_s']:.2f}")


if __name__ == "__main__":
    main()
