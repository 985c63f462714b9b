"""One Airflow DAG per model in ``models.yaml``: the agentic MLOps loop.

The models file is ``[agentic_mlops] models_file`` (env ``AIRFLOW__AGENTIC_MLOPS__MODELS_FILE``),
else ``models.yaml`` beside this file. Each model becomes the DAG ``agentic_mlops__<model>``:
check_drift -> decide -> retrain -> validate -> wait_for_approval -> promote.
"""

from __future__ import annotations

from pathlib import Path

from airflow_provider_agentic_mlops.dag_factory import build_dags, models_file

globals().update(build_dags(models_file(Path(__file__).parent)))
