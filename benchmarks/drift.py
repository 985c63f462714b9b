"""Benchmark: the DriftCheckOperator's drift computation against Evidently and a numpy baseline.

Generates reference and current frames of 20 columns (14 numeric, 6 categorical strings with 10
levels, some columns drifted), then times and measures, in the same run and on the same frames:

(a) ``compute_drift`` -- what DriftCheckOperator runs: column checks, Evidently's type inference
    and method selection, null handling, scores, summary;
(e) Evidently's own ``Report([DataDriftPreset()]).run(current, reference)`` -- what the provider
    replaces -- run as the provider's drift report runs it: inside
    ``core.drift.report._unshown_value_drift_widgets_skipped()``, which skips the plotly charts each
    per-column ``ValueDrift`` metric draws and the preset throws away (the scores are the same). What
    ``Report.run`` still draws, the preset's own drift table, the provider's report pays too; the
    snapshot is neither saved nor rendered to HTML;
(b) a plain vectorised baseline written here: Wasserstein distance normed by the reference std
    for numeric columns (sorted samples; equal sizes, so the mean absolute difference of order
    statistics), Jensen-Shannon distance over value counts for categorical columns.

It checks that all three give the same per-column scores (relative 1e-9) and prints, per size,
the median of interleaved timed runs, the same number for every side (``--repeats``: 5, or 1 with
``--full``; printed), each round running every side once in a rotating order, with ``gc.collect()``
before each run, for every side alike; and the memory each side adds: the peak resident memory
above the resident memory at the call, measured in a forked child per side (peak reset through
``/proc/self/clear_refs``), so C allocations count too and no side pays a tracer. The memory is
measured first, after every side has run once on 2,000-row frames (imports, lazy set-up) and before
any full-size run: each side's child is forked from one process that has built the frames and nothing
more, so no side reuses freed memory an earlier run left resident. Then
``speedup_vs_evidently=<e/a>`` and both memory figures, and last ``ratio=<a/b>`` against the numpy
baseline, for the largest size.

    .venv/bin/python benchmarks/drift.py                 # 100k rows (reference and current each)
    .venv/bin/python benchmarks/drift.py --full          # 1M rows (Evidently takes minutes)
    .venv/bin/python benchmarks/drift.py --rows 10000 100000
    .venv/bin/python benchmarks/drift.py --full --repeats 3
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_provider_agentic_mlops.core.drift import compute_drift  # noqa: E402

N_NUMERIC = 14
N_CATEGORICAL = 6
WARM_UP_ROWS = 2_000  # the frames every side first runs on, before the memory is measured
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


def evidently_drift(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    """Evidently's DataDriftPreset on the same frames: its ValueDrift score per column, computed as the
    provider's own report runs it, without drawing the per-column charts the preset never shows."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    from airflow_provider_agentic_mlops.core.drift.report import _unshown_value_drift_widgets_skipped

    with _unshown_value_drift_widgets_skipped():
        snapshot = Report([DataDriftPreset()]).run(current, reference)
    return {
        m["config"]["column"]: float(m["value"])
        for m in snapshot.dict()["metrics"]
        if m["config"]["type"].endswith("ValueDrift")
    }


def timed(fn: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def in_child(fn: Callable[[], object]) -> object:
    """``fn()`` run in a forked child (Linux), its result handed back; the parent's heap is left as it was."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            answer = fn()
        except BaseException as err:  # noqa: BLE001 - reported by the parent
            answer, code = MeasurementFailed(repr(err)), 1
        try:
            os.write(write, pickle.dumps(answer))
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pickle.loads(pipe.read())
    os.waitpid(pid, 0)
    if isinstance(answer, MeasurementFailed):
        raise SystemExit(f"memory measurement failed: {answer}")
    return answer


class MeasurementFailed(str):
    """The error a child reports instead of its result."""


def peak_memory_added(fn: Callable[[], object]) -> int:
    """Bytes of resident memory ``fn`` adds at its peak, measured in a forked child (Linux): the peak is
    reset to the current resident size (``/proc/self/clear_refs``), ``fn`` runs, the difference is read."""

    def measure() -> int:
        gc.collect()
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        before = _rss_kib("VmRSS")
        fn()
        return (_rss_kib("VmHWM") - before) * 1024

    return in_child(measure)  # type: ignore[return-value]


def memory_added(rows: int) -> dict[str, float]:
    """MB each side adds at its peak on frames of ``rows`` rows. Called before any full-size run: a child
    builds the frames, and each side runs in its own child forked from that one, so every side starts
    from the same heap, which no earlier full-size run has grown (freed memory that stays resident would
    be reused by the side and hide its peak)."""

    def measure() -> dict[str, float]:
        reference, current = make_frames(rows)
        return {name: peak_memory_added(fn) / 2**20 for name, fn in sides_on(reference, current).items()}

    return in_child(measure)  # type: ignore[return-value]


def same_scores(expected: dict[str, float], got: dict[str, float], what: str, rows: int) -> float:
    worst = max(abs(got[c] - expected[c]) / max(abs(expected[c]), 1e-300) for c in expected)
    if set(got) != set(expected) or worst > 1e-9:
        raise SystemExit(f"{what}: scores differ at {rows} rows: max relative difference {worst:.3g}")
    return worst


def interleaved(sides: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds of ``repeats`` timed runs of every side: one run of each per round (load from other processes
    hits all alike), the order rotating so that no side always goes first."""
    names = list(sides)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeats):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            times[name].append(timed(sides[name]))
    return times


def sides_on(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Callable[[], object]]:
    return {
        "ours": lambda: operator_drift(reference, current),
        "plain": lambda: baseline_drift(reference, current),
        "evidently": lambda: evidently_drift(reference, current),
    }


def checked_scores(reference: pd.DataFrame, current: pd.DataFrame) -> float:
    """One run of each side, checking that the scores agree; the largest relative difference."""
    rows = len(reference)
    ours = operator_drift(reference, current)
    worst = same_scores(baseline_drift(reference, current), ours, "numpy baseline", rows)
    return max(worst, same_scores(evidently_drift(reference, current), ours, "Evidently", rows))


def run(rows: int, repeats: int, memory_mb: dict[str, float]) -> dict[str, float]:
    reference, current = make_frames(rows)
    # one untimed run of each side first (caches at this size: the same for all), checking the scores
    worst = checked_scores(reference, current)
    sides = sides_on(reference, current)
    times = interleaved(sides, repeats)
    result: dict[str, float] = {"rows": rows, "max_rel_diff": worst}
    for name in sides:
        result[f"{name}_s"] = statistics.median(times[name])
        result[f"{name}_mb"] = memory_mb[name]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=None,
        help="rows in reference and in current (each); several sizes allowed; figures are for the largest",
    )
    parser.add_argument("--full", action="store_true", help="1,000,000 rows (default 100,000)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed runs of every side, the same for all (5; 1 with --full, where Evidently takes minutes a run)",
    )
    args = parser.parse_args(argv)
    sizes = args.rows or [1_000_000 if args.full else 100_000]
    repeats = args.repeats or (1 if args.full else 5)
    print(f"columns: {N_NUMERIC} numeric, {N_CATEGORICAL} categorical (10 levels); rows = reference = current")
    print(
        f"timed runs: {repeats} of every side (ours, Evidently, numpy baseline), interleaved; medians. "
        "MB = peak resident memory added"
    )
    print(
        f"{'rows':>10} {'ours s':>8} {'Evidently s':>12} {'numpy s':>8} {'ours MB':>8} {'Evidently MB':>13} "
        f"{'numpy MB':>9} {'max rel diff':>13}"
    )
    # imports and lazy set-up of every side on small frames, then the memory of every side at every size,
    # before any full-size run in this process (see memory_added)
    checked_scores(*make_frames(WARM_UP_ROWS))
    memory = {rows: memory_added(rows) for rows in sorted(sizes)}
    results = []
    for rows in sorted(sizes):
        r = run(rows, repeats, memory[rows])
        results.append(r)
        print(
            f"{rows:>10,} {r['ours_s']:>8.3f} {r['evidently_s']:>12.3f} {r['plain_s']:>8.3f} {r['ours_mb']:>8.1f} "
            f"{r['evidently_mb']:>13.1f} {r['plain_mb']:>9.1f} {r['max_rel_diff']:>13.2e}",
            flush=True,
        )
    largest = results[-1]
    print("scores identical to Evidently's and the numpy baseline's (relative 1e-9) at all sizes")
    print(f"rows={largest['rows']:,}")
    print(f"ours_s={largest['ours_s']:.3f} evidently_s={largest['evidently_s']:.3f}")
    print(f"speedup_vs_evidently={largest['evidently_s'] / largest['ours_s']:.1f}")
    print(f"ours_memory_mb={largest['ours_mb']:.1f}")
    print(f"evidently_memory_mb={largest['evidently_mb']:.1f}")
    print(f"numpy_baseline_s={largest['plain_s']:.3f} numpy_baseline_memory_mb={largest['plain_mb']:.1f}")
    print(f"ratio={largest['ours_s'] / largest['plain_s']:.2f}")


if __name__ == "__main__":
    main()
