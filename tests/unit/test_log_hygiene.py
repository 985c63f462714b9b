"""Quiet task logs: skops' module scan and migration chatter stay out, real problems stay in."""

from __future__ import annotations

import logging
import warnings

import pytest

from airflow_provider_agentic_mlops.log_hygiene import MIGRATION_LOGGERS, quiet_known_noise


def _scan_warnings(quiet: bool) -> list[str]:
    """What skops' lookup of an object without ``__module__`` warns in a process with Airflow loaded."""
    pytest.importorskip("skops")
    import airflow.utils.timezone  # noqa: F401 - one of Airflow's moved-name shim modules
    from skops.io._utils import whichmodule

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        if quiet:
            quiet_known_noise()
        whichmodule(object(), "agentic_mlops_no_such_name")
        warnings.warn("a real deprecation elsewhere", FutureWarning, stacklevel=1)
    return [f"{w.category.__name__}: {w.message}" for w in seen]


def test_skops_module_scan_warns_per_airflow_shim_unless_quieted() -> None:
    noisy = _scan_warnings(quiet=False)
    assert len([w for w in noisy if "agentic_mlops_no_such_name" in w]) > 1  # the flood exists
    assert _scan_warnings(quiet=True) == ["FutureWarning: a real deprecation elsewhere"]


def test_mlflow_calls_through_the_hooks_authenticated_block_are_quieted_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    """The drift check loads the champion with ``mlflow.sklearn.load_model`` inside
    ``hook.authenticated()``, not through ``hook.client()``: skops scans modules on load as well."""
    pytest.importorskip("skops")
    import json

    import airflow.utils.timezone  # noqa: F401 - one of Airflow's moved-name shim modules
    from skops.io._utils import whichmodule

    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_AGENTIC_MLOPS_HYGIENE",
        json.dumps({"conn_type": "agentic_mlops_mlflow", "host": f"sqlite:///{tmp_path}/mlflow.db"}),
    )
    hook = MlflowRegistryHook("agentic_mlops_hygiene")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with hook.authenticated():
            whichmodule(object(), "agentic_mlops_no_such_name")
    assert [str(w.message) for w in seen] == []


def test_migration_loggers_keep_warnings_and_drop_info(caplog: pytest.LogCaptureFixture) -> None:
    quiet_known_noise()
    with caplog.at_level(logging.NOTSET):
        for name in MIGRATION_LOGGERS:
            logging.getLogger(f"{name}.runtime.migration").info("Running upgrade  -> 0001, initial")
            logging.getLogger(name).warning("something is wrong")
    assert [r.getMessage() for r in caplog.records] == ["something is wrong"] * len(MIGRATION_LOGGERS)


def test_mlflow_artifact_progress_bars_stay_off_stderr_unless_asked_for(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """tqdm's 'Downloading artifacts' bars (loading a model from a tracking server) go to stderr, which an
    Airflow 3 task log labels ERROR."""
    from mlflow.utils.file_utils import ArtifactProgressBar

    def download() -> str:
        with ArtifactProgressBar.files(desc="Downloading artifacts", total=2) as bar:
            bar.update()
            bar.update()
        return capsys.readouterr().err

    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    quiet_known_noise()
    assert download() == ""
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "true")  # the deployment's own choice wins
    quiet_known_noise()
    assert "Downloading artifacts" in download()


def test_mlflow_registry_wait_chatter_is_dropped_and_its_warnings_stay(caplog: pytest.LogCaptureFixture) -> None:
    """Registering a version through a tracking server logs "Waiting up to 300 seconds for model version to
    finish creation" at INFO: an ERROR line in the retrain task's log."""
    from mlflow.store.model_registry import abstract_store

    quiet_known_noise()
    with caplog.at_level(logging.NOTSET):
        abstract_store._logger.info("Waiting up to 300 seconds for model version to finish creation.")
        abstract_store._logger.warning("a real problem")
    assert [r.getMessage() for r in caplog.records] == ["a real problem"]


def test_mlflow_warnings_reach_the_task_log_at_their_level_not_on_stderr(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Importing MLflow gives its loggers (and SQLAlchemy's and Alembic's) a stderr handler that stops
    propagation: an Airflow 3 task log labels every such line ERROR, a warning included. Quieted, the
    records propagate to the root logger, which Airflow's task logging forwards with their own level."""
    import mlflow  # noqa: F401 - configures its loggers on import

    quiet_known_noise()
    with caplog.at_level(logging.WARNING):
        logging.getLogger("mlflow.models.signature").warning("an MLflow warning")
        logging.getLogger("alembic.runtime.migration").warning("an Alembic warning")
    assert capsys.readouterr().err == ""
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("mlflow.models.signature", "WARNING", "an MLflow warning"),
        ("alembic.runtime.migration", "WARNING", "an Alembic warning"),
    ]
