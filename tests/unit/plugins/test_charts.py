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


def _run(decision_id: int, minute: int) -> RunPoint:
    return RunPoint(decision_id=decision_id, at=datetime(2026, 11, 27, 20, minute), action="retrain")


def _polyline_ys(svg: str, css_class: str) -> list[list[float]]:
    lines = re.findall(rf'<polyline class="{css_class}"[^>]* points="([^"]+)"', svg)
    return [[float(pair.split(",")[1]) for pair in line.split()] for line in lines]


def test_the_quality_line_breaks_where_the_champion_changed_and_marks_the_new_version() -> None:
    """The demo: v1 measured 0.462 (baseline 0.827); v2 promoted; v2 measured 0.271 and 0.392 (baseline 0.787)."""
    runs = [_run(1, 32), _run(2, 38), _run(3, 42)]
    series = {"roc_auc": [(runs[0], 0.462), (runs[1], 0.271), (runs[2], 0.392)]}
    baselines = {"roc_auc": {1: 0.827, 2: 0.787, 3: 0.787}}
    svg = charts.quality_chart(series, baselines=baselines, champions={1: None, 2: "2", 3: "2"})
    assert len(_polyline_ys(svg, "quality")) == 1  # v2's two points; v1's lone point is not joined to them
    assert svg.count('class="point"') == 3
    (change,) = re.findall(r'<line class="champion-change".*?</text>', svg)
    assert "champion v2 from here" in change and ">v2</text>" in change
    x_change = float(re.search(r'x1="([\d.]+)"', change).group(1))
    xs = [float(x) for x in re.findall(r'<circle class="point" cx="([\d.]+)"', svg)]
    assert xs[0] < x_change < xs[1]
    baseline_ys = _polyline_ys(svg, "baseline")
    assert len(baseline_ys) == 2  # one dashed baseline per champion
    point_ys = [float(y) for y in re.findall(r'<circle class="point" cx="[\d.]+" cy="([\d.]+)"', svg)]
    assert all(b < min(point_ys) for line in baseline_ys for b in line)  # the baselines are above: quality fell
    assert "roc_auc 0.392" in svg  # the latest value in the legend


def test_a_single_quality_point_is_drawn_against_its_baseline() -> None:
    run = _run(1, 32)
    svg = charts.quality_chart({"roc_auc": [(run, 0.462)]}, baselines={"roc_auc": {1: 0.827}})
    ticks = [float(t) for t in re.findall(r'text-anchor="end"[^>]*>([\d.]+)</text>', svg)]
    assert min(ticks) < 0.462 and max(ticks) > 0.827  # the scale spans the point and its baseline
    assert len(_polyline_ys(svg, "baseline")) == 1 and "roc_auc baseline 0.827" in svg
    assert 'class="champion-change"' not in svg  # no champion known: nothing to mark


def test_every_point_of_every_chart_has_its_own_colour_visible_in_dark_mode_too() -> None:
    """An SVG circle without a fill is black: the sparkline's dots vanished on the dark page of Airflow's dark mode."""
    runs = [_run(1, 32), _run(2, 38)]
    svgs = [
        charts.sparkline([0.1, None, 0.4]),
        charts.drift_chart([RunPoint(decision_id=1, at=datetime(2026, 1, 1), action="retrain", drift_share=0.3)]),
        charts.quality_chart({"roc_auc": [(runs[0], 0.4), (runs[1], 0.5)]}, baselines={}),
    ]
    for svg in svgs:
        circles = re.findall(r"<circle[^>]*>", svg)
        assert circles and all(re.search(r' fill="#[0-9a-f]{6}"', c) for c in circles), svg
