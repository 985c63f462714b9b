"""core/metrics.py: reading a metric value as a float."""

from __future__ import annotations

import math
from typing import Any

import pytest

from airflow_provider_agentic_mlops.core.metrics import as_float


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.25, 0.25), (3, 3.0), ("0.5", 0.5), (math.inf, math.inf), (-math.inf, -math.inf)],
)
def test_numbers_and_their_text_are_read_and_infinities_kept(value: Any, expected: float) -> None:
    assert as_float(value) == expected


@pytest.mark.parametrize("value", [None, "n/a", [0.1], {}, math.nan, "nan"])
def test_what_is_not_a_number_or_is_nan_reads_as_none(value: Any) -> None:
    assert as_float(value) is None
