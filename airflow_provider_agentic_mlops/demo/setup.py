"""Set up the fraud-detector demo in an ``AIRFLOW_HOME``: data, a registered champion, drift."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MODEL = "fraud-detector"


def setup_demo(airflow_home: str | Path, *, tracking_uri: str, drift: bool = True, rows: int = 5000) -> dict[str, Any]:
    """Write the demo data, register a champion trained on the reference data (once), then make the
    current data drift (unless ``drift`` is False). Safe to run again.

    :param airflow_home: the AIRFLOW_HOME; data goes to ``demo-data/fraud-detector`` in it.
    :param tracking_uri: MLflow tracking URI where the champion is registered.
    :param drift: shift the current and validation data (features and label relationship).
    :param rows: rows per generated file.
    :return: paths of the data files and the champion version.
    """
    import mlflow

    from airflow_provider_agentic_mlops.demo.data import write_demo_data
    from airflow_provider_agentic_mlops.demo.training import train_fraud_detector

    data_dir = Path(airflow_home) / "demo-data" / MODEL
    paths = write_demo_data(data_dir, drift=False, rows=rows)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        champion = client.get_model_version_by_alias(MODEL, "champion").version
        log.info("%s already has a champion: version %s", MODEL, champion)
    except mlflow.exceptions.MlflowException:
        trained = train_fraud_detector(
            model_name=MODEL,
            registered_model=MODEL,
            tracking_uri=tracking_uri,
            conf={"train_data": str(paths["reference"])},
            tags={"agentic_mlops.origin": "demo-initial-champion"},
        )
        champion = trained["version"]
        client.set_registered_model_alias(MODEL, "champion", champion)
        log.info("registered %s version %s as champion", MODEL, champion)
    if drift:
        paths = write_demo_data(data_dir, drift=True, rows=rows)
    return {"data": {k: str(v) for k, v in paths.items()}, "champion": str(champion), "drift": drift}
