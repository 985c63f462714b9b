"""Apache Airflow provider that closes the MLOps loop for every production model.

Top-level imports stay cheap: nothing here imports pandas, Evidently, MLflow, openai or slack_sdk.
"""

from __future__ import annotations

__version__ = "0.2.0"

__all__ = ["__version__"]
