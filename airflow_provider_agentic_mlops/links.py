"""Extra links of the provider's operators (listed in provider info ``extra-links``).

Each link is defined beside the operator that fills it; this module is their one public address.
"""

from __future__ import annotations

from airflow_provider_agentic_mlops.operators.drift import DriftReportLink
from airflow_provider_agentic_mlops.operators.promote import MlflowModelVersionLink

__all__ = ["DriftReportLink", "MlflowModelVersionLink"]
