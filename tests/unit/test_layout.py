"""DESIGN.md's layout rules, checked in fresh interpreters so nothing imported earlier hides a leak."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import airflow_provider_agentic_mlops.core as core_pkg
from tests.conftest import REPO

HEAVY = ["pandas", "evidently", "mlflow", "openai", "slack_sdk", "sklearn"]


def _loaded_after(code: str, env_extra: dict[str, str] | None = None) -> list[str]:
    import os

    env = {**os.environ, **(env_extra or {})}
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_core_modules_import_no_airflow() -> None:
    modules = [
        f"airflow_provider_agentic_mlops.core.{m.name}"
        for m in pkgutil.walk_packages(core_pkg.__path__)
        if not m.name.startswith("migrations.")  # alembic scripts run only inside alembic
    ]
    assert "airflow_provider_agentic_mlops.core.state" in modules
    loaded = _loaded_after("\n".join(f"import {m}" for m in modules))
    leaked = [m for m in loaded if m == "airflow" or m.startswith("airflow.")]
    assert leaked == [], f"core imported Airflow: {leaked[:5]}"


def test_dag_file_and_top_level_modules_import_nothing_heavy(tmp_path) -> None:
    models = tmp_path / "models.yaml"
    models.write_text((REPO / "dags" / "models.yaml").read_text())
    code = "\n".join(
        [
            "import runpy",
            "import airflow_provider_agentic_mlops, airflow_provider_agentic_mlops.get_provider_info",
            "import airflow_provider_agentic_mlops.dag_factory, airflow_provider_agentic_mlops.plugins",
            "import airflow_provider_agentic_mlops.links",
            f"ns = runpy.run_path({str(REPO / 'dags' / 'agentic_mlops_models.py')!r})",
            "assert 'agentic_mlops__fraud-detector' in ns, sorted(ns)",
            f"runpy.run_path({str(REPO / 'dags' / 'example_fraud_detector_training.py')!r})",
        ]
    )
    loaded = _loaded_after(code, {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__AGENTIC_MLOPS__MODELS_FILE": str(models)})
    heavy = sorted({m.split(".")[0] for m in loaded} & set(HEAVY))
    assert heavy == [], f"parse-time imports of {heavy}; import them inside execute() or the hook"


def test_parsing_the_dag_file_leaves_the_state_store_and_the_hooks_unimported(tmp_path) -> None:
    # the state store's SQLAlchemy tables and the hooks cost the DAG processor ~60 ms per parse; tasks import them
    models = tmp_path / "models.yaml"
    models.write_text((REPO / "dags" / "models.yaml").read_text())
    code = f"import runpy\nns = runpy.run_path({str(REPO / 'dags' / 'agentic_mlops_models.py')!r})"
    loaded = _loaded_after(code, {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__AGENTIC_MLOPS__MODELS_FILE": str(models)})
    ours = "airflow_provider_agentic_mlops."
    assert [m for m in loaded if m in (ours + "core.state", ours + "approvals") or m.startswith(ours + "hooks")] == []
