"""The example DAGs in ``dags/examples/``: they parse as Airflow's DAG processor parses them, and they wire the
operators as the README says; the demo and the compose stack, which parse ``dags/``, leave them out."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import REPO

EXAMPLES = REPO / "dags" / "examples"


@pytest.fixture()
def bag(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return DagBag(dag_folder=str(EXAMPLES))


def _downstream(dag, task_id: str) -> set[str]:
    return set(dag.get_task(task_id).downstream_task_ids)


def test_every_example_dag_parses_without_import_errors(bag) -> None:
    files = sorted(p.name for p in EXAMPLES.glob("example_*.py"))
    assert files == ["example_drift_check.py", "example_hand_written_loop.py"]
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["example_drift_check", "example_hand_written_loop"]
    for dag in bag.dags.values():
        assert dag.doc_md and dag.schedule is None, dag.dag_id  # documented; runs only when triggered


def test_the_drift_check_example_branches_to_its_own_tasks(bag) -> None:
    dag = bag.dags["example_drift_check"]
    assert _downstream(dag, "check_drift") == {"decide"}
    assert _downstream(dag, "decide") == {"retraining_needed", "all_good", "look_into_it"}
    decide = dag.get_task("decide")
    assert decide.mode == "rules" and decide.guardrails.min_drift_share == 0.2
    assert set(decide.action_task_ids.values()) == _downstream(dag, "decide")  # every branch exists


def test_the_hand_written_loop_is_the_factorys_loop(bag) -> None:
    dag = bag.dags["example_hand_written_loop"]
    assert _downstream(dag, "check_drift") == {"decide"}
    assert _downstream(dag, "decide") == {"retrain", "no_action", "escalate"}
    assert _downstream(dag, "retrain") == {"validate"}
    assert _downstream(dag, "validate") == {"wait_for_approval", "rejected"}
    assert _downstream(dag, "wait_for_approval") == {"promote"}
    decide, retrain, validate = (dag.get_task(t) for t in ("decide", "retrain", "validate"))
    assert set(decide.action_task_ids.values()) == _downstream(dag, "decide")
    assert {validate.approve_task_id, validate.reject_task_id} == _downstream(dag, "validate")
    # the budget the decision checks is the one the retrain task enforces
    assert (retrain.budget.cooldown_hours, retrain.budget.max_retrains) == (
        decide.guardrails.cooldown_hours,
        decide.guardrails.max_retrains,
    )


def test_the_demos_dags_folder_leaves_the_examples_out(tmp_path, monkeypatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    folder = tmp_path / "dags"
    shutil.copytree(REPO / "dags", folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", "")
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    assert "fraud_detector_training" in bag.dag_ids
    assert not {"example_drift_check", "example_hand_written_loop"} & set(bag.dag_ids)
