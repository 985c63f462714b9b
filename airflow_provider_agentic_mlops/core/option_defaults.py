"""Defaults of ``[agentic_mlops]`` options read in heavy modules (the alerts endpoint, the state store): plain
constants, so that the provider info, which documents them for ``airflow config list``, shows the very values those
readers fall back to without importing FastAPI or SQLAlchemy where Airflow reads it."""

from __future__ import annotations

#: ``alert_model_label``: the alert label naming the model
DEFAULT_ALERT_MODEL_LABEL = "model"
#: ``alert_lock_timeout``: seconds an alert waits for its model's locks; the locked work takes milliseconds
DEFAULT_ALERT_LOCK_TIMEOUT = 10.0
#: ``migration_lock_timeout``: seconds a process waits for another one's migration of the state store
DEFAULT_MIGRATION_LOCK_TIMEOUT = 300.0
