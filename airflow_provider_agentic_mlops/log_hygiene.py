"""Keep task logs about the task: silence known third-party noise that says nothing to the reader.

- skops (MLflow's default scikit-learn serialisation) looks up objects by scanning every loaded
  module with ``getattr``; in an Airflow process that touches Airflow's moved-name shims, each of
  which warns (``DeprecatedImportWarning``, a ``FutureWarning``): about 1,160 lines per model save.
  Only warnings raised from skops' scanning module are ignored.
- Alembic logs each migration step and its plugin setup at INFO, and MLflow its SQLite store's table
  creation: the state store and MLflow's fallback store migrate on first use, inside a task.
  Those loggers are raised to WARNING (errors still show).
- MLflow logs "Waiting up to 300 seconds for model version to finish creation" at INFO on its stderr
  handler each time a version is registered through a tracking server (an ERROR line in the retrain
  task's log under Airflow 3): that logger is raised to WARNING too.
- MLflow draws tqdm progress bars ("Downloading artifacts: 100%|...") on stderr when it loads a model
  from a tracking server, which an Airflow 3 task log labels ERROR: off
  (``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false``) unless the deployment set that variable itself.
- Importing MLflow gives its own loggers, SQLAlchemy's engine logger and Alembic's a handler writing to
  stderr that stops propagation, so an Airflow 3 task log labels each of their lines ERROR, warnings
  included. That handler is taken off: the records propagate to the root logger, which Airflow's task
  logging forwards at their own level. A handler the deployment installed stays.
"""

from __future__ import annotations

import logging
import os
import warnings

#: Loggers whose INFO lines are migration chatter.
MIGRATION_LOGGERS = ("alembic", "mlflow.store.db.utils")
#: MLflow loggers whose INFO lines are chatter (written to stderr by MLflow's own handler).
MLFLOW_CHATTER_LOGGERS = ("mlflow.store.model_registry.abstract_store",)


#: Loggers to which importing MLflow gives its stderr handler (``mlflow.utils.logging_utils``).
MLFLOW_CONFIGURED_LOGGERS = ("mlflow", "sqlalchemy.engine", "alembic", "huey")


def quiet_known_noise() -> None:
    """Install the filters above (idempotent; warnings.filterwarnings de-duplicates)."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"skops\.io\._utils")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in MLFLOW_CONFIGURED_LOGGERS:
        logger = logging.getLogger(name)
        own = [h for h in logger.handlers if type(h.formatter).__name__ == "MlflowFormatter"]
        if own:
            logger.handlers = [h for h in logger.handlers if h not in own]
            logger.propagate = True
    for name in MIGRATION_LOGGERS + MLFLOW_CHATTER_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
