"""The server-drawn SVG charts of the model pages."""

from __future__ import annotations

import re
from datetime import datetime

from airflow_provider_agentic_mlops.core.model_history import Heatmap, RunPoint
from airflow_provider_agentic_mlops.plugins import charts


def test_the_heatmap_of_a_single_run_is_wide_enough_for_its_caption() -> None:
    run = RunPoint(decision_id=1, at=datetime(2026, 1, 1), action="retrain")
    svg = charts.heatmap_chart(Heatmap(columns=["amount"], runs=[run], cells=[[3.0]]))
    width = int(re.search(r'<svg[^>]* width="(\d+)"', svg).group(1))
    caption_x = int(re.search(r'<text x="(\d+)"[^>]*>' + re.escape(charts.HEATMAP_CAPTION), svg).group(1))
    # 11 px system-ui averages under 6.5 px a character: the caption ends inside the drawing
    assert caption_x + 6.5 * len(charts.HEATMAP_CAPTION) <= width
    assert svg.count('class="cell"') == 1
