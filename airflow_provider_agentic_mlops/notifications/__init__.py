"""Notifiers of the agentic MLOps provider (Airflow ``BaseNotifier``: usable as task callbacks)."""
