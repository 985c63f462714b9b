"""The benchmarks' baselines stay what they claim: the factory's DAG shape, with no work.

No timing here: these check that each baseline has the same tasks, dependencies and DAG arguments
as the provider's DAG it is compared with, so a change to the factory cannot leave a benchmark
comparing against something else; and that the drift benchmark's memory probe sees an allocation.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from airflow_provider_agentic_mlops.dag_factory import build_dags
from benchmarks import drift as drift_benchmark
from benchmarks import e2e_latency, parse_dags


def shape(dag: Any) -> dict[str, set[str]]:
    return {task.task_id: set(task.downstream_task_ids) for task in dag.tasks}


def dag_arguments(dag: Any) -> dict[str, Any]:
    return {
        "schedule": repr(dag.timetable),
        "start_date": dag.start_date,
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "tags": set(dag.tags),
        "default_args": dag.default_args,
        "description": dag.description,
        "doc_md": dag.doc_md,
    }


def factory_dags(tmp_path: Path, n: int) -> dict[str, Any]:
    import os
    from unittest import mock

    models = tmp_path / "models.yaml"
    models.write_text("models:\n" + "".join(parse_dags.MODEL.format(i=i) for i in range(n)))
    with mock.patch.dict(os.environ, {"AIRFLOW_HOME": str(tmp_path)}):  # the factory's parse cache: not the user's
        return build_dags(models)


def exec_dags(source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(source, "<baseline>", "exec"), namespace)  # noqa: S102 - the benchmark's own generated file
    from airflow.sdk import DAG

    return {v.dag_id: v for v in namespace.values() if isinstance(v, DAG)}


def test_parse_baseline_has_the_factorys_tasks_dependencies_and_dag_arguments(tmp_path: Path) -> None:
    ours = factory_dags(tmp_path, 3)
    baseline = exec_dags(parse_dags.BASELINE.format(n=3))

    assert sorted(baseline) == sorted(ours)
    for dag_id, dag in ours.items():
        assert shape(baseline[dag_id]) == shape(dag), dag_id
        assert all(type(t).__name__ == "EmptyOperator" for t in baseline[dag_id].tasks)
        assert dag_arguments(baseline[dag_id]) == dag_arguments(dag), dag_id


def test_parse_floor_is_the_factorys_dags_with_operators_that_only_keep_their_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_agentic_mlops import dag_factory

    ours = factory_dags(tmp_path, 2)
    replaced = ("DriftCheckOperator", "AgentDecisionOperator", "EscalateOperator", "RetrainOperator")
    replaced += ("ValidateOperator", "ApprovalSensor", "PromoteOperator")
    for name in replaced:  # the floor file swaps them in the factory module; put them back afterwards
        monkeypatch.setattr(dag_factory, name, getattr(dag_factory, name))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(tmp_path / "models.yaml"))
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))  # the factory's parse cache: not the user's
    namespace: dict[str, Any] = {"__file__": str(tmp_path / "floor_dags.py")}
    exec(compile(parse_dags.FLOOR, "<floor>", "exec"), namespace)  # noqa: S102 - the benchmark's own file
    from airflow.sdk import DAG

    floor = {v.dag_id: v for v in namespace.values() if isinstance(v, DAG)}

    assert sorted(floor) == sorted(ours)
    for dag_id, dag in ours.items():
        assert shape(floor[dag_id]) == shape(dag), dag_id
        assert dag_arguments(floor[dag_id]) == dag_arguments(dag), dag_id
        for task in dag.tasks:
            stand_in = floor[dag_id].get_task(task.task_id)
            assert type(stand_in).__name__ == type(task).__name__
            assert (type(stand_in).__mro__[1].__name__ == "KeepsArguments") == (type(task).__name__ in replaced)
            assert stand_in.retries == task.retries
    drift = floor["agentic_mlops__model-0000"].get_task("check_drift")
    assert drift.model_name == "model-0000"
    assert drift.settings is not None and drift.mlflow_conn_id == "agentic_mlops_mlflow_train"


def run_parse_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> dict:
    """The benchmark's parsing program, run in this process over a 2-DAG baseline file (gc=on)."""
    import json

    dag_file = tmp_path / "baseline_dags.py"
    dag_file.write_text(parse_dags.BASELINE.format(n=2))
    monkeypatch.setattr("sys.argv", ["-c", str(dag_file), "on"])
    capsys.readouterr()
    exec(compile(parse_dags.PARSE, "<parse>", "exec"), {"__name__": "__main__"})  # noqa: S102 - the benchmark's
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_parse_program_times_the_dag_processors_serialization_of_every_dag_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The DAG processor parses a file and then serializes each of its DAGs in the same process."""
    from airflow.dag_processing import processor

    serialized: list[int] = []
    serialize = processor._serialize_dags

    def counting(bag: Any, log: Any) -> Any:
        result = serialize(bag, log)
        serialized.append(len(result[0]))
        return result

    monkeypatch.setattr(processor, "_serialize_dags", counting)
    result = run_parse_program(tmp_path, monkeypatch, capsys)

    assert serialized == [2]  # Airflow's own step, once, over the file's DAGs
    assert result["dags"] == result["serialized"] == 2
    assert result["serialize_cpu"] > 0 and result["serialize_wall"] > 0
    assert result["cpu"] > 0 and result["wall"] > 0  # the DagBag load, timed apart


def test_parse_summary_prints_serialization_and_the_processors_whole_cost_and_ratio_last() -> None:
    runs = {
        ("on", "ours"): [{"dagbag": 2.0, "serialize": 3.0}] * 3,
        ("on", "baseline"): [{"dagbag": 1.0, "serialize": 2.0}] * 3,
        ("on", "floor"): [{"dagbag": 1.5, "serialize": 2.5}] * 3,
    }

    lines = parse_dags.summary_lines(runs, ("on",))

    serialize = next(line for line in lines if "serialize " in line and "dagbag+serialize" not in line)
    whole = next(line for line in lines if "dagbag+serialize" in line)
    assert "ours 3.000" in serialize and "baseline 2.000" in serialize and "floor 2.500" in serialize
    assert "ratio=1.500" in serialize and "floor_ratio=1.250" in serialize and "ours/floor=1.200" in serialize
    assert "ours 5.000" in whole and "baseline 3.000" in whole and "ratio=1.667" in whole
    assert lines[-2] == "processor_ratio=1.667"
    assert lines[-1] == "ratio=2.000"  # the DagBag load alone, as before


def test_e2e_baselines_have_the_factorys_tasks_and_dependencies(tmp_path: Path) -> None:
    (ours,) = factory_dags(tmp_path, 1).values()
    baselines = exec_dags(e2e_latency.BASELINES.format(names=e2e_latency.TASKS))

    assert sorted(baselines) == ["agentic_mlops__empty-baseline", "agentic_mlops__noop-baseline"]
    for dag in baselines.values():
        assert shape(dag) == shape(ours), dag.dag_id
    assert set(e2e_latency.PATH) <= set(shape(ours))


def test_the_factory_leaves_the_garbage_collector_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parse benchmark gives both sides the same GC treatment; the factory must not change it."""
    calls: list[str] = []
    monkeypatch.setattr(gc, "disable", lambda: calls.append("disable"))
    monkeypatch.setattr(gc, "enable", lambda: calls.append("enable"))

    factory_dags(tmp_path, 2)

    assert calls == []


def test_drift_memory_probe_sees_an_allocation_in_the_child() -> None:
    import numpy as np

    added = drift_benchmark.peak_memory_added(lambda: np.ones(64 * 2**20 // 8).sum())

    assert 60 * 2**20 <= added <= 200 * 2**20


def test_drift_benchmarks_evidently_side_skips_the_charts_the_preset_never_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Evidently's side is the computation the provider's report runs, without the thrown-away charts."""
    from evidently.metrics.column_statistics import ValueDriftCalculation

    drawn: list[int] = []
    monkeypatch.setattr(ValueDriftCalculation, "_render", lambda self, *a, **k: drawn.append(1) or [])
    reference, current = drift_benchmark.make_frames(300)

    scores = drift_benchmark.evidently_drift(reference, current)

    assert drawn == []
    assert set(scores) == set(reference.columns)  # the scores are still computed, one per column


def test_drift_benchmark_times_every_side_the_same_number_of_times_interleaved() -> None:
    calls: list[str] = []
    sides = {name: (lambda name=name: calls.append(name)) for name in ("ours", "plain", "evidently")}

    times = drift_benchmark.interleaved(sides, 3)

    assert {name: len(runs) for name, runs in times.items()} == {"ours": 3, "plain": 3, "evidently": 3}
    assert all(sorted(calls[i : i + 3]) == sorted(sides) for i in range(0, 9, 3))  # one of each per round
    assert len({calls[i] for i in range(0, 9, 3)}) == 3  # no side always goes first


def decisions_benchmark() -> Any:
    import warnings

    with warnings.catch_warnings():  # the benchmark silences warnings for its table; not for the tests
        from benchmarks import decisions
    return decisions


def test_decisions_benchmark_never_scores_the_truth_on_rows_of_the_window() -> None:
    decisions = decisions_benchmark()
    for name in ("breast-cancer-no-drift", "cls-small-no-drift", "reg-linear-no-drift"):
        sc = next(s for s in decisions.SCENARIOS if s.name == name)
        data = sc.data(0)
        _, _, window, test = decisions.split(sc, data, np.random.default_rng(0))
        shared = window[data.features].merge(test[data.features], how="inner")
        assert len(shared) == 0, name
    # the generators' extra rows enlarge only the test part
    sc = next(s for s in decisions.SCENARIOS if s.name == "reg-linear-no-drift")
    train, reference, window, test = decisions.split(sc, sc.data(0), np.random.default_rng(0))
    assert len(train) + len(reference) + 2 * len(window) == 7000 and len(test) >= decisions.EXTRA_TEST_ROWS


def test_decisions_benchmark_gain_is_the_paired_metric_difference() -> None:
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    decisions = decisions_benchmark()
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"a": rng.normal(0, 1, 3000)})
    frame = x.assign(label=2 * x["a"] + rng.normal(0, 1, 3000))
    data = decisions.Data(frame, ["a"], "regression", Ridge)
    champion = Ridge().fit(frame[:100][["a"]], frame[:100]["label"])
    pool, test = frame[:2000], frame[2000:]

    gain, se = decisions.retrain_gain(data, champion, pool, test)

    retrained = Ridge().fit(pool[["a"]], pool["label"])
    expected = r2_score(test["label"], retrained.predict(test[["a"]])) - r2_score(
        test["label"], champion.predict(test[["a"]])
    )
    assert gain == pytest.approx(expected) and 0 < se < abs(gain) + 0.05
    # retrained on the champion's own rows: no gain, no spread
    assert decisions.retrain_gain(data, champion, frame[:100], test) == pytest.approx((0.0, 0.0))


def test_decisions_benchmark_worst_scores_take_the_bad_side_of_each() -> None:
    decisions = decisions_benchmark()
    a = {"recall": 1.0, "wasted": 0.0, "broken_escalated": 1.0, "healthy_escalated": 0.1}
    b = {"recall": 0.8, "wasted": 0.2, "broken_escalated": 1.0, "healthy_escalated": 0.0}
    assert decisions.worst_scores([a, b]) == {
        "recall": 0.8,
        "wasted": 0.2,
        "broken_escalated": 1.0,
        "healthy_escalated": 0.1,
    }


def test_decisions_benchmark_tells_truths_near_the_line_from_clear_ones() -> None:
    decisions = decisions_benchmark()
    rows = [
        {"truth": "retrain", "gain": 0.013, "gain_se": 0.001},  # 3 se past the line: clear
        {"truth": "retrain", "gain": 0.012, "gain_se": 0.013},  # breast cancer's 57 test rows: near
        {"truth": "no_action", "gain": 0.009, "gain_se": 0.001},  # 1 se under: near
        {"truth": "escalate", "gain": float("nan"), "gain_se": float("nan")},  # broken feed: by definition
    ]
    assert decisions.clear_of_line(rows) == [rows[0], rows[3]]


def test_decisions_benchmark_scores_the_naive_rule_on_the_same_rows_clear_of_the_line_as_the_agent() -> None:
    decisions = decisions_benchmark()
    nan = float("nan")
    rows = [
        {"truth": "retrain", "gain": 0.05, "gain_se": 0.001, "action": "retrain", "naive": "no_action"},
        {"truth": "retrain", "gain": 0.011, "gain_se": 0.01, "action": "no_action", "naive": "retrain"},  # near
        {"truth": "no_action", "gain": -0.01, "gain_se": 0.001, "action": "no_action", "naive": "retrain"},
        {"truth": "escalate", "gain": nan, "gain_se": nan, "action": "escalate", "naive": "no_action"},
    ]

    lines = decisions.score_lines(rows)

    assert lines == [
        "naive rule (drift share > 0.1 -> retrain): "
        "recall=0.50 wasted=1.00 broken_escalated=0.00 healthy_escalated=0.00",
        "agent rules:                               "
        "recall=0.50 wasted=0.00 broken_escalated=1.00 healthy_escalated=0.00",
        "naive rule, the 3 rows whose truth is clear of the line:  "
        "recall=0.00 wasted=1.00 broken_escalated=0.00 healthy_escalated=0.00",
        "agent rules, the 3 rows whose truth is clear of the line: "
        "recall=1.00 wasted=0.00 broken_escalated=1.00 healthy_escalated=0.00",
    ]


def fleet_cpu(worker: float, preload: float | None) -> dict[str, Any]:
    sample = {
        "worker_cpu_seconds": worker,
        "scheduler_cpu_seconds": 20.0,
        "machine_busy_seconds": 300.0,
        "machine_total_seconds": 400.0,
        "load_mean": 2.0,
    }
    return {**sample, "at_decided": dict(sample), "preload_cpu_seconds": preload}


def test_fleet_benchmark_counts_the_preloads_imports_in_the_scheduler_on_the_preloaded_side() -> None:
    from benchmarks import fleet

    preloaded = fleet.cpu_lines(8, fleet_cpu(29.0, 8.0))
    plain = fleet.cpu_lines(8, fleet_cpu(121.0, None))

    assert len(preloaded) == len(plain) == 2
    assert all("37 CPU-s (4.6 per model)" in line for line in preloaded)  # 29 in the workers + 8 preloading
    assert all("29" in line and "8 preloading in the scheduler" in line for line in preloaded)
    assert all("121 CPU-s (15.1 per model)" in line and "no preload" in line for line in plain)
    assert all("scheduler itself 20 CPU-s" in line for line in preloaded + plain)


def test_fleet_preload_records_its_cost_where_the_benchmark_reads_it(tmp_path: Path) -> None:
    from benchmarks import fleet

    assert fleet.preload_cpu_seconds(tmp_path) is None
    (tmp_path / fleet.PRELOAD_COST_FILE).write_text("7.25")
    assert fleet.preload_cpu_seconds(tmp_path) == 7.25
    assert f'"{fleet.PRELOAD_COST_FILE}"' in fleet.PRELOAD  # the preload writes the same file


def test_decisions_benchmark_late_labels_are_missing_for_the_newest_rows_only() -> None:
    decisions = decisions_benchmark()
    sc = next(s for s in decisions.SCENARIOS if s.name == "cls-late-labels-shift-unlabelled")
    window = pd.DataFrame({"f0": np.arange(10.0), "label": np.arange(10) % 2}, index=np.arange(100, 110))

    seen = decisions.seen_by_check(sc, window)

    assert seen["label"].notna().tolist() == [True] * 4 + [False] * 6  # labelled_share 0.4
    assert seen["label"][:4].tolist() == [0, 1, 0, 1] and seen["f0"].equals(window["f0"])
    label_free = next(s for s in decisions.SCENARIOS if not s.labels)
    assert "label" not in decisions.seen_by_check(label_free, window).columns
    labelled = next(s for s in decisions.SCENARIOS if s.name == "cls-no-drift")
    assert decisions.seen_by_check(labelled, window).equals(window)


def test_decisions_benchmark_change_within_the_window_leaves_its_oldest_rows_as_they_were() -> None:
    decisions = decisions_benchmark()
    frame = pd.DataFrame({"f0": np.arange(10.0), "label": 0})

    changed = decisions.after(4, decisions.shift("f0", 1.0))(frame, np.random.default_rng(0))

    assert changed.index.tolist() == list(range(10))
    assert changed["f0"][:4].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert changed["f0"][4:].tolist() == pytest.approx(list(np.arange(4.0, 10.0) + np.arange(4.0, 10.0).std(ddof=1)))


def test_decisions_benchmark_moved_class_lands_on_the_far_side_of_the_others() -> None:
    decisions = decisions_benchmark()
    frame = pd.DataFrame({"f0": [0.0, 1.0, 2.0, 5.0, 6.0], "f1": [1.0, 1.0, 1.0, 1.0, 3.0], "label": [0, 0, 0, 1, 1]})

    moved = decisions.mirror_class(["f0", "f1"])(frame, np.random.default_rng(0))

    assert moved["f0"].tolist() == [0.0, 1.0, 2.0, -3.0, -4.0]  # reflected through the negatives' mean, 1.0
    assert moved["f1"].tolist() == [1.0, 1.0, 1.0, 1.0, -1.0]
    assert moved["label"].equals(frame["label"])


def test_drift_benchmark_measures_memory_before_any_full_size_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A side run at full size before the memory probe leaves its freed heap resident, and the probe's
    child reuses it: the memory of every side is measured before any full-size run, in the same way."""
    import os

    log = tmp_path / "calls"
    rows = 500
    assert rows != drift_benchmark.WARM_UP_ROWS

    def recording(name: str) -> Any:
        def side(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
            with log.open("a") as out:
                out.write(f"{os.getpid()} {name} {len(reference)}\n")
            return {"a": 1.0}

        return side

    for attribute, name in (("operator_drift", "ours"), ("baseline_drift", "plain"), ("evidently_drift", "evidently")):
        monkeypatch.setattr(drift_benchmark, attribute, recording(name))

    drift_benchmark.main(["--rows", str(rows), "--repeats", "1"])

    calls = [line.split() for line in log.read_text().splitlines()]
    here = str(os.getpid())
    probes = [i for i, (pid, _, n) in enumerate(calls) if pid != here]
    full_here = [i for i, (pid, _, n) in enumerate(calls) if pid == here and int(n) == rows]
    assert sorted(calls[i][1] for i in probes) == ["evidently", "ours", "plain"]  # each side probed once
    assert all(int(calls[i][2]) == rows for i in probes)  # on the full-size frames
    assert full_here and max(probes) < min(full_here)  # before any full-size run in this process
    assert "ours_memory_mb=" in capsys.readouterr().out


def test_drift_operator_benchmark_sizes_the_frames_by_their_resident_memory(tmp_path: Path) -> None:
    """The frames' size is what reading them adds to the resident memory, as the peak is measured:
    ``memory_usage(deep=True)`` counts a shared category string once per row and overstates it."""
    import os
    import sys

    from benchmarks import drift_operator

    rng = np.random.default_rng(0)
    rows, levels = 200_000, np.array(list("abcdefghij"), dtype=object)
    reference, current = (
        pd.DataFrame({f"cat_{i}": levels[rng.integers(0, 10, rows)] for i in range(10)}) for _ in range(2)
    )
    deep = sum(int(frame.memory_usage(deep=True).sum()) for frame in (reference, current))
    pointers = 2 * rows * 10 * 8  # what the two frames hold at least: one reference per cell
    ref, cur = tmp_path / "reference.parquet", tmp_path / "current.parquet"
    reference.to_parquet(ref, index=False)
    current.to_parquet(cur, index=False)
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}

    frames = drift_operator.run_side("frames", ref, cur, env, None)["frames"]

    assert pointers <= frames < deep / 2  # deep: 221 MB; held: ~80 MB


def test_drift_operator_benchmark_never_prints_a_negative_extra_as_a_figure() -> None:
    from benchmarks import drift_operator

    mb = 2**20
    above = drift_operator.extra_memory_line("operator", peak=769 * mb, frames=552 * mb)
    below = drift_operator.extra_memory_line("operator", peak=500 * mb, frames=552 * mb)

    assert above.startswith("operator_extra_mb=217 ") and "552 MB" in above
    assert below.startswith("operator_extra_mb=below_noise ") and "-52" in below and "552 MB" in below


def test_e2e_benchmark_rotates_which_side_runs_first_each_sample() -> None:
    sides = ["agentic", "empty-baseline", "noop-baseline"]

    rounds = [e2e_latency.round_order(sides, i) for i in range(6)]

    assert all(sorted(order) == sorted(sides) for order in rounds)  # every side once a sample
    assert [order[0] for order in rounds[:3]] == sides  # each side first once in three samples
    assert rounds[3:] == rounds[:3]


def test_slack_benchmark_measures_both_kinds_in_turn_neither_always_first() -> None:
    from benchmarks import slack_endpoint

    batches = slack_endpoint.cpu_batches(301, rounds=4)

    assert sum(n for kind, n in batches if kind == "rejected") == 301
    assert sum(n for kind, n in batches if kind == "click") == 301
    pairs = [batches[i : i + 2] for i in range(0, len(batches), 2)]
    assert len(pairs) == 4 and all({kind for kind, _ in pair} == {"rejected", "click"} for pair in pairs)
    assert [pair[0][0] for pair in pairs] == ["rejected", "click", "rejected", "click"]
    assert all(pair[0][1] == pair[1][1] for pair in pairs)  # as many of each kind in a round


def test_history_benchmark_reads_the_overviews_page_sizes_and_sparkline_runs() -> None:
    from airflow_provider_agentic_mlops.plugins import overview
    from benchmarks import history

    assert history.SPARKLINE_RUNS == overview.SPARKLINE_RUNS
    assert history.MODELS_PER_PAGE == overview.MODELS_PER_PAGE
    assert history.DECISIONS_SHOWN == overview.DECISIONS_SHOWN


def test_history_benchmark_seeds_hourly_decisions_retried_runs_and_a_retraining_cycle_per_model(
    tmp_path: Path,
) -> None:
    from airflow_provider_agentic_mlops.core.state import StateStore
    from benchmarks import history

    store = StateStore(f"sqlite:///{tmp_path / 'history.db'}")
    seeded = history.seed(store, 3, 2)

    rows = seeded.rows
    assert rows["superseded"] >= 1  # some runs decided twice (seed 7)
    assert rows["decisions"] == 3 * 2 * 24 + rows["superseded"]  # one standing decision per model and hour
    assert rows["jobs"] == rows["approvals"] == 3  # one cycle per model within 30 days
    assert rows["promotions"] == 2  # model-000's request stays pending
    assert rows["approval_votes"] == 1 + 2  # model-001 needs two approvers, model-002 one
    assert rows["audit"] > rows["decisions"]  # every decision's entry, and the cycles'
    decision = store.get_decision(seeded.trace_decision)
    assert decision is not None and decision["model_name"] == "model-000"
    assert decision["dag_id"] == "agentic_mlops__model-000" and decision["run_id"].startswith("scheduled__")
    assert store.trace_check(decision)["status"] == "matches"  # its audit entry's digest is the stored row's
    assert decision["inputs"]["drift_observed"]["columns"]  # the trace decide() makes


def test_history_benchmark_reads_return_every_seeded_model(tmp_path: Path) -> None:
    from airflow_provider_agentic_mlops.core.state import StateStore
    from benchmarks import history

    store = StateStore(f"sqlite:///{tmp_path / 'history.db'}")
    seeded = history.seed(store, 3, 2)
    names = ["model-000", "model-001", "model-002"]

    page = history.overview_rows(store, 2)
    every = history.overview_rows(store, 50)
    assert sorted(page) == names[:2]
    assert sorted(every) == names
    assert all(len(row["runs"]) == history.SPARKLINE_RUNS and row["last_decision"] for row in every.values())
    assert every["model-000"]["pending_approval"] is not None and every["model-001"]["champion"] is not None
    listed = history.models_list_rows(store, history.model_specs(3))
    assert [row["model"] for row in listed] == names and all(row["last_decision"] for row in listed)
    assert [row["pending_approvals"] for row in listed] == [1, 0, 0]
    decision, runs = history.trace_read(store, seeded.trace_decision)
    assert decision is not None and decision["id"] == seeded.trace_decision
    assert len(runs) == 2 * 24  # the model's runs that stand, each once
