"""Data drift between reference and current data: Evidently's semantics at numpy speed.

:func:`compute_drift` picks the drift method per column as Evidently 0.7 does (column type inferred
with Evidently's rules, read on the reference data; then the reference size and number of distinct
values), and computes the score with vectorised numpy on sorted arrays and value counts instead of Evidently's
per-column pandas code. The scores equal Evidently's to floating-point rounding (the equivalence
tests hold them to a relative 1e-9). Methods without a fast path here are delegated to Evidently's
own implementation, so every Evidently method name works.

:func:`write_evidently_report` renders Evidently's own HTML and JSON report on a bounded sample,
for people to read; the decision uses the :class:`DriftSummary`, computed on all rows.

By concern:

* :mod:`.methods`: column types, the method registry and Evidently's default choice;
* :mod:`.columns`: one column cleaned as Evidently cleans it;
* :mod:`.scores`: the scores (numpy fast paths, Evidently for the rest);
* :mod:`.compute`: :func:`compute_drift` (inputs checked, columns scored, summary built);
* :mod:`.summary`: :class:`DriftSummary`, small and JSON-able;
* :mod:`.report`: Evidently's report (the only module that always needs Evidently).

No Airflow import here. Evidently is imported only when a report is written or a method without a
fast path is used, so the drift computation works where Evidently does not import (pandas 3).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_agentic_mlops.core.drift.compute import compute_drift
    from airflow_provider_agentic_mlops.core.drift.methods import DRIFT_METHODS, DriftMethod, default_method
    from airflow_provider_agentic_mlops.core.drift.report import write_evidently_report
    from airflow_provider_agentic_mlops.core.drift.scores import wasserstein_distance_sorted
    from airflow_provider_agentic_mlops.core.drift.summary import ColumnDrift, DriftSummary

#: Where each name lives. Imported on first use, so that the config (checking method names while a DAG
#: file is parsed) can import :mod:`.methods` without pandas and numpy coming along.
_EXPORTS = {
    "DRIFT_METHODS": "methods",
    "ColumnDrift": "summary",
    "DriftMethod": "methods",
    "DriftSummary": "summary",
    "compute_drift": "compute",
    "default_method": "methods",
    "wasserstein_distance_sorted": "scores",
    "write_evidently_report": "report",
}

__all__ = [
    "DRIFT_METHODS",
    "ColumnDrift",
    "DriftMethod",
    "DriftSummary",
    "compute_drift",
    "default_method",
    "wasserstein_distance_sorted",
    "write_evidently_report",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once
    return value
