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
    injected so far (see :func:`inject_shift`), and one after ``drift=False`` moves on to a new shift.

    With ``drift=False`` the reference, current and validation data are all of the regime the current
    champion learned from (the training era for the first champion; the regime of the shift a promoted
    challenger was retrained on), so the drift check finds neither drift nor a performance drop.

    :param airflow_home: the AIRFLOW_HOME; data goes to ``demo-data/fraud-detector`` in it.
    :param tracking_uri: MLflow tracking URI where the champion is registered.
    :param drift: shift the current and validation data (features and label relationship).
    :param rows: rows per generated file.
    :return: paths of the data files, the champion version, the shift number, whether the data drift, and
        ``champion_shift``: the shift whose data the champion learned from (None when its version does not
        say, e.g. one trained before the demo tagged them).
    """
    import mlflow

    from airflow_provider_agentic_mlops.demo.data import current_shift, data_drift, write_shift
    from airflow_provider_agentic_mlops.demo.training import train_fraud_detector

    data_dir = demo_data_dir(airflow_home)
    names = ("reference", "current", "validation")
    paths = {name: data_dir / f"{name}.parquet" for name in names}
    if not all(p.exists() for p in paths.values()):
        paths = write_shift(data_dir, 0, drift=False, rows=rows)  # the training era
    registered = registered_champion(tracking_uri)
    if registered is not None:
        champion, learned_from = registered
        log.info("%s already has a champion: version %s", MODEL, champion)
    else:
        trained = train_fraud_detector(
            model_name=MODEL,
            registered_model=MODEL,
            tracking_uri=tracking_uri,
            conf={"train_data": str(paths["reference"])},
            tags={ORIGIN_TAG: INITIAL_CHAMPION},
        )
        champion = trained["version"]
        client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        client.set_registered_model_alias(MODEL, "champion", champion)
        log.info("registered %s version %s as champion", MODEL, champion)
        learned_from = champion_shift(client.get_model_version(MODEL, champion).tags)
    if drift and not data_drift(data_dir):
        paths = write_shift(data_dir, current_shift(data_dir) + 1, rows=rows)
    elif not drift:
        paths = write_shift(data_dir, 0 if learned_from is None else learned_from, drift=False, rows=rows)
    return {
        "data": {k: str(v) for k, v in paths.items()},
        "champion": str(champion),
        "champion_shift": learned_from,
        "drift": data_drift(data_dir),
        "shift": current_shift(data_dir),
    }


ORIGIN_TAG, INITIAL_CHAMPION = "agentic_mlops.origin", "demo-initial-champion"


def champion_shift(tags: dict[str, str]) -> int | None:
    """The shift whose data a demo model version learned from, by its tags: the one its training data named
    (``demo.data.SHIFT_ATTR``), else 0 for the demo's first champion; None when the tags do not say."""
    from airflow_provider_agentic_mlops.demo.data import SHIFT_ATTR

    if tags.get(SHIFT_ATTR, "").isdigit():
        return int(tags[SHIFT_ATTR])
    return 0 if tags.get(ORIGIN_TAG) == INITIAL_CHAMPION else None


def registered_champion(tracking_uri: str) -> tuple[str, int | None] | None:
    """The demo model's champion version and the shift it learned from (:func:`champion_shift`); None when
    no version holds the ``champion`` alias."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        version = client.get_model_version_by_alias(MODEL, "champion")
    except mlflow.exceptions.MlflowException:
        return None
    return str(version.version), champion_shift(version.tags)


def inject_shift(airflow_home: str | Path, *, tracking_uri: str, rows: int = 5000) -> dict[str, Any]:
    """Move the demo's data on to a new regime: the reference becomes the regime the champion learned from
    (by its tags, as ``setup_demo(drift=False)`` reads them; a shift that escalated trained no champion, so
    it is skipped), the current data a new one. A champion whose tags do not say, or none, keeps the
    previous shift's regime as the reference.

    :return: ``shift``: the new shift number; ``reference_shift``: the shift whose regime the reference is;
        ``champion``: the champion's version (None when none is registered); ``champion_shift``: the shift it
        learned from (None when its tags do not say).
    """
    from airflow_provider_agentic_mlops.demo.data import current_shift, write_shift

    data_dir = demo_data_dir(airflow_home)
    shift = current_shift(data_dir) + 1
    champion, learned_from = registered_champion(tracking_uri) or (None, None)
    reference_shift = learned_from if learned_from is not None and learned_from < shift else shift - 1
    write_shift(data_dir, shift, rows=rows, reference_shift=reference_shift)
    return {"shift": shift, "reference_shift": reference_shift, "champion": champion, "champion_shift": learned_from}
