"""The benchmarks' baselines stay what they claim: the factory's DAG shape, with no work.

No timing here: these check that each baseline has the same tasks, dependencies and DAG arguments
as the provider's DAG it is compared with, so a change to the factory cannot leave a benchmark
comparing against something else; and that the drift benchmark's memory probe sees an allocation.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

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
    models = tmp_path / "models.yaml"
    models.write_text("models:\n" + "".join(parse_dags.MODEL.format(i=i) for i in range(n)))
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
