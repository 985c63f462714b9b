"""``store_arguments`` skips ``BaseOperator.__setattr__``: safe only for names Airflow gives no meaning."""

from __future__ import annotations

import inspect

from airflow_provider_agentic_mlops.dag_factory import build_dags
from airflow_provider_agentic_mlops.operators import _base

MODELS = """
models:
  - name: churn
    drift: {reference: ref.parquet, current: cur.parquet, label_column: y}
    retrain: {python_callable: "pkg.mod:train"}
    approval: {channel: "#ml", approvers: [U1]}
"""


def _airflow_init_parameters(cls: type) -> set[str]:
    names: set[str] = set()
    for base in cls.__mro__:
        if base.__module__.startswith("airflow.") and "__init__" in vars(base):
            names |= set(inspect.signature(base.__init__).parameters)
    return names


def test_no_stored_argument_is_one_airflow_converts_records_or_defines(tmp_path, monkeypatch) -> None:
    stored: dict[type, set[str]] = {}
    store = _base.store_arguments

    def recording(operator, **arguments):
        stored.setdefault(type(operator), set()).update(arguments)
        store(operator, **arguments)

    for module in (
        "drift",
        "decision",
        "escalate",
        "retrain",
        "validate",
        "promote",
    ):
        monkeypatch.setattr(f"airflow_provider_agentic_mlops.operators.{module}.store_arguments", recording)
    monkeypatch.setattr("airflow_provider_agentic_mlops.sensors.approval.store_arguments", recording)
    (tmp_path / "models.yaml").write_text(MODELS)
    (dag,) = build_dags(tmp_path / "models.yaml").values()

    assert len(stored) == 7  # every provider task of the loop stores its arguments this way
    for cls, names in stored.items():
        airflow_names = _airflow_init_parameters(cls)
        for name in names:
            assert not hasattr(cls, f"_convert_{name}"), (cls.__name__, name)
            assert name not in airflow_names, (cls.__name__, name)
            assert not hasattr(inspect.getattr_static(cls, name, None), "__set__"), (cls.__name__, name)
    task = dag.get_task("validate")
    assert (task.model_name, task.reject_task_id, task.gates.primary_metric) == ("churn", "rejected", "roc_auc")
