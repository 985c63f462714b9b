"""Set up the fraud-detector demo in an ``AIRFLOW_HOME``: data, a registered champion, drift."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MODEL = "fraud-detector"


def demo_data_dir(airflow_home: str | Path) -> Path:
    return Path(airflow_home) / "demo-data" / MODEL


def setup_demo(airflow_home: str | Path, *, tracking_uri: str, drift: bool = True, rows: int = 5000) -> dict[str, Any]:
    """Write the demo data, register a champion trained on the reference data (once), then make the
    current data drift (unless ``drift`` is False). Safe to run again: a restart keeps the shifts
    injected so far (see :func:`inject_shift`).

    :param airflow_home: the AIRFLOW_HOME; data goes to ``demo-data/fraud-detector`` in it.
    :param tracking_uri: MLflow tracking URI where the champion is registered.
    :param drift: shift the current and validation data (features and label relationship).
    :param rows: rows per generated file.
    :return: paths of the data files, the champion version and the shift number.
    """
    import mlflow

    from airflow_provider_agentic_mlops.demo.data import SHIFT_FILE, current_shift, write_demo_data, write_shift
    from airflow_provider_agentic_mlops.demo.training import train_fraud_detector

    data_dir = demo_data_dir(airflow_home)
    names = ("reference", "current", "validation")
    paths = {name: data_dir / f"{name}.parquet" for name in names}
    if not drift or not all(p.exists() for p in paths.values()):
        paths = write_demo_data(data_dir, drift=False, rows=rows)
        (data_dir / SHIFT_FILE).unlink(missing_ok=True)
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
    if drift and current_shift(data_dir) == 0:
        paths = write_shift(data_dir, 1, rows=rows)
    return {
        "data": {k: str(v) for k, v in paths.items()},
        "champion": str(champion),
        "drift": drift,
        "shift": current_shift(data_dir),
    }


def inject_shift(airflow_home: str | Path, *, rows: int = 5000) -> int:
    """Move the demo's data on to a new regime: the reference becomes the regime the last retrained
    champion learned from, the current data a new one. Returns the new shift number."""
    from airflow_provider_agentic_mlops.demo.data import current_shift, write_shift

    data_dir = demo_data_dir(airflow_home)
    shift = current_shift(data_dir) + 1
    write_shift(data_dir, shift, rows=rows)
    return shift
