"""Keep task logs about the task: silence known third-party noise that says nothing to the reader.

- skops (MLflow's default scikit-learn serialisation) looks up objects by scanning every loaded
  module with ``getattr``; in an Airflow process that touches Airflow's moved-name shims, each of
  which warns (``DeprecatedImportWarning``, a ``FutureWarning``): about 1,160 lines per model save.
  Only warnings raised from skops' scanning module are ignored.
- Alembic logs each migration step and its plugin setup at INFO, and MLflow its SQLite store's table
  creation: the state store and MLflow's fallback store migrate on first use, inside a task.
  Those loggers are raised to WARNING (errors still show).
"""

from __future__ import annotations

import logging
import warnings

#: Loggers whose INFO lines are migration chatter.
MIGRATION_LOGGERS = ("alembic", "mlflow.store.db.utils")


def quiet_known_noise() -> None:
    """Install the filters above (idempotent; warnings.filterwarnings de-duplicates)."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"skops\.io\._utils")
    for name in MIGRATION_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
