"""Charts of the model pages as inline SVG, drawn on the server.

No JavaScript and no network at view time: the browser gets finished SVG (each point a ``<circle>``
with a ``<title>`` tooltip), so the charts work offline and in a locked-down Airflow. Every text
that came from data (column names, run ids, metric names) is escaped here, at the edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_agentic_mlops.core.model_history import Heatmap, RunPoint

#: Colour of each action's marker (and the legend).
ACTION_COLOURS = {"retrain": "#dc2626", "escalate": "#d97706", "no_action": "#16a34a"}
OTHER_COLOUR = "#6b7280"
#: Colour of the drift share line, and of the sparkline's dots (a circle without a fill is black: unseen in dark mode).
LINE_COLOUR = "#2563eb"
_FONT = 'font-family="system-ui,sans-serif" font-size="11"'
HEATMAP_CAPTION = "runs, oldest to newest; red: past the threshold"


def _when(point: RunPoint) -> str:
    """The time of ``point`` as the pages write times (:func:`.pages.when`: with its zone, UTC)."""
    from airflow_provider_agentic_mlops.plugins.pages import when

    return when(point.at)


def _scale(value: float, lo: float, hi: float, out_lo: float, out_hi: float) -> float:
    if hi <= lo:
        return (out_lo + out_hi) / 2
    return out_lo + (value - lo) / (hi - lo) * (out_hi - out_lo)


def sparkline(values: Sequence[float | None], *, width: int = 120, height: int = 26) -> str:
    """A small line of ``values`` (None skipped), one ``<circle class="point">`` per value."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if not known:
        return '<span class="muted">no data</span>'
    lo, hi = 0.0, max(1e-9, max(v for _, v in known))
    n = max(1, len(values) - 1)
    pts = [(_scale(i, 0, n, 3, width - 3), _scale(v, lo, hi, height - 3, 3)) for i, v in known]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    dots = "".join(
        f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{LINE_COLOUR}"><title>{v:.3f}</title></circle>'
        for (x, y), (_, v) in zip(pts, known, strict=True)
    )
    return (
        f'<svg class="sparkline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="drift share, last {len(known)} runs"><polyline fill="none" stroke="{LINE_COLOUR}" '
        f'stroke-width="1.5" points="{line}"/>{dots}</svg>'
    )


def drift_chart(
    runs: Sequence[RunPoint], *, decisions_url: str = "decisions/", width: int = 760, height: int = 240
) -> str:
    """Drift share per run, the share threshold dashed, each run's marker coloured by its decision and
    linking to ``decisions_url + <decision id>`` (the decision's trace page)."""
    known = [p for p in runs if p.drift_share is not None]
    if not known:
        return '<p class="muted">No drift checks recorded yet.</p>'
    left, right, top, bottom = 44, 12, 12, 34
    hi = max([1e-9] + [p.drift_share or 0 for p in known] + [p.share_threshold or 0 for p in known])
    hi = min(1.0, hi * 1.1) if hi < 0.9 else 1.0
    n = max(1, len(known) - 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return _scale(i, 0, n, left + 8, width - right - 8), _scale(v, 0, hi, height - bottom, top)

    parts = [
        f'<svg id="drift-chart" class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="drift share over time">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#9ca3af"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#9ca3af"/>',
    ]
    for tick in (0.0, hi / 2, hi):
        _, y = xy(0, tick)
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>{tick:.2f}</text>')
    threshold = known[-1].share_threshold
    if threshold is not None and threshold <= hi:
        _, y = xy(0, threshold)
        parts.append(
            f'<line class="threshold" x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#dc2626" '
            f'stroke-dasharray="4 3"><title>dataset drift threshold {threshold:.2f}</title></line>'
        )
    pts = [xy(i, p.drift_share or 0.0) for i, p in enumerate(known)]
    parts.append(
        f'<polyline fill="none" stroke="{LINE_COLOUR}" stroke-width="1.5" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        + '"/>'
    )
    for (x, y), p in zip(pts, known, strict=True):
        colour = ACTION_COLOURS.get(p.action, OTHER_COLOUR)
        tip = f"{_when(p)}: drift share {p.drift_share:.3f}, decision {p.action} (#{p.decision_id})"
        parts.append(
            f'<a href="{escape(decisions_url)}{p.decision_id}"><circle class="point" data-action="{escape(p.action)}" '
            f'cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}" stroke="#fff"><title>{escape(tip)}</title></circle></a>'
        )
    for i in sorted({0, len(known) - 1}):
        x, _ = xy(i, 0)
        anchor = "start" if i == 0 else "end"
        parts.append(
            f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="{anchor}" {_FONT}>{_when(known[i])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def severity_colour(severity: float | None) -> str:
    """White to amber below the threshold (severity < 1), red from it on, grey when unknown."""
    if severity is None:
        return "#e5e7eb"
    if severity >= 1:
        strength = min(1.0, (severity - 1) / 2)
        return f"rgb({220 - int(80 * strength)},{38 - int(38 * strength)},{38 - int(38 * strength)})"
    s = max(0.0, severity)
    return f"rgb(255,{int(255 - 90 * s)},{int(255 - 200 * s)})"


def heatmap_chart(heatmap: Heatmap, *, cell: int = 18) -> str:
    """Columns (rows of the map) x runs, each cell coloured by drift score relative to its threshold."""
    if not heatmap.columns:
        return '<p class="muted">No per-column drift recorded yet.</p>'
    label_w = min(220, 12 + 7 * max(len(c) for c in heatmap.columns))
    # wide enough for the caption under the cells too (with few runs the cells alone are narrow)
    width = label_w + max(cell * len(heatmap.runs) + 8, 7 * len(HEATMAP_CAPTION))
    height = cell * len(heatmap.columns) + 24
    parts = [
        f'<svg id="drift-heatmap" class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="drift per column and run">'
    ]
    for i, name in enumerate(heatmap.columns):
        y = i * cell
        parts.append(
            f'<text x="{label_w - 6}" y="{y + cell * 0.7:.1f}" text-anchor="end" {_FONT}>{escape(name[:30])}</text>'
        )
        for j, run in enumerate(heatmap.runs):
            sev = heatmap.cells[i][j]
            state = "not checked" if sev is None else f"{sev:.2f} x threshold" + (" (drifted)" if sev >= 1 else "")
            tip = f"{name} in run {_when(run)} (decision #{run.decision_id}): {state}"
            parts.append(
                f'<rect class="cell" x="{label_w + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{severity_colour(sev)}"><title>{escape(tip)}</title></rect>'
            )
    parts.append(f'<text x="{label_w}" y="{height - 6}" {_FONT}>{HEATMAP_CAPTION}</text></svg>')
    return "".join(parts)


#: What the model-quality chart draws, under it.
QUALITY_CAPTION = "solid: quality on current data; dashed: its baseline; grey line: champion change (the line breaks)"


def quality_chart(
    series: Mapping[str, Sequence[tuple[RunPoint, float]]],
    *,
    baselines: Mapping[str, Mapping[int, float]] | None = None,
    champions: Mapping[int, str | None] | None = None,
    unknown: str = "Model quality is not known (no labelled current data in the drift checks).",
    width: int = 760,
    height: int = 220,
) -> str:
    """Model quality on current data per metric over the runs where labels were known, each metric's
    baseline dashed, the line broken where the champion changed (a grey line labelled with the new version):
    points measured on different champions are not joined into one line.

    :param series: ``{metric: [(run, quality)]}`` (:func:`~..core.model_history.quality_series`).
    :param baselines: ``{metric: {decision id: baseline}}`` (:func:`~..core.model_history.quality_baselines`).
    :param champions: the champion each run measured, by decision id
        (:func:`~..core.model_history.champions_of_runs`); None: not known, the line is not broken.
    :param unknown: what is shown instead when no run measured quality: why
        (:func:`~..core.model_history.why_no_quality`).
    """
    if not series:
        return f'<p id="quality-unknown" class="muted">{escape(unknown)}</p>'
    baselines = baselines or {}
    champions = champions or {}
    palette = ["#2563eb", "#7c3aed", "#059669", "#db2777", "#0891b2"]
    left, right, top, bottom = 44, 150, 18, 40
    runs = sorted({p.decision_id: p for s in series.values() for p, _ in s}.values(), key=lambda p: p.decision_id)
    index = {p.decision_id: i for i, p in enumerate(runs)}
    values = [v for s in series.values() for _, v in s]
    values += [b for metric in series for b in (baselines.get(metric) or {}).values()]
    lo, hi = min(values), max(values)
    pad = 0.05 if hi - lo < 0.1 else (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad
    n = max(1, len(runs) - 1)
    x_lo, x_hi = left + 16, width - right - 16

    def x(p: RunPoint) -> float:
        return (x_lo + x_hi) / 2 if len(runs) == 1 else _scale(index[p.decision_id], 0, n, x_lo, x_hi)

    def y(v: float) -> float:
        return _scale(v, lo, hi, height - bottom, top)

    parts = [
        f'<svg id="quality-chart" class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="model quality over time">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#9ca3af"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#9ca3af"/>',
    ]
    for tick in (lo, (lo + hi) / 2, hi):
        parts.append(f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end" {_FONT}>{tick:.2f}</text>')
    for before, after in zip(runs, runs[1:], strict=False):
        old, new = champions.get(before.decision_id), champions.get(after.decision_id)
        if old == new:
            continue
        mid = (x(before) + x(after)) / 2
        tip = f"champion v{new} from here" + (f" (was v{old})" if old else "")
        parts.append(
            f'<line class="champion-change" x1="{mid:.1f}" y1="{top - 6}" x2="{mid:.1f}" y2="{height - bottom}" '
            f'stroke="#6b7280" stroke-dasharray="2 2"><title>{escape(tip)}</title></line>'
            f'<text x="{mid + 3:.1f}" y="{top - 8 + 11}" {_FONT} fill="#6b7280">v{escape(str(new))}</text>'
        )
    for k, (metric, points) in enumerate(sorted(series.items())):
        colour = palette[k % len(palette)]
        own = baselines.get(metric) or {}
        segments: list[list[tuple[RunPoint, float]]] = []
        for p, v in points:
            if segments and champions.get(segments[-1][-1][0].decision_id) == champions.get(p.decision_id):
                segments[-1].append((p, v))
            else:
                segments.append([(p, v)])
        for segment in segments:
            if len(segment) > 1:
                line = " ".join(f"{x(p):.1f},{y(v):.1f}" for p, v in segment)
                parts.append(
                    f'<polyline class="quality" fill="none" stroke="{colour}" stroke-width="1.5" points="{line}"/>'
                )
            known = [(p, own[p.decision_id]) for p, _ in segment if p.decision_id in own]
            if known:
                ends = [
                    (max(left + 2, x(known[0][0]) - 24), known[0][1]),
                    *((x(p), b) for p, b in known),
                    (min(width - right, x(known[-1][0]) + 24), known[-1][1]),
                ]
                champion = champions.get(segment[0][0].decision_id)
                tip = f"{metric} baseline {known[-1][1]:.3f}" + (f" (champion v{champion})" if champion else "")
                dashed = " ".join(f"{bx:.1f},{y(b):.1f}" for bx, b in ends)
                parts.append(
                    f'<polyline class="baseline" fill="none" stroke="{colour}" stroke-width="1.5" '
                    f'stroke-dasharray="5 3" opacity="0.7" points="{dashed}">'
                    f"<title>{escape(tip)}</title></polyline>"
                )
        for p, v in points:
            champion = champions.get(p.decision_id)
            tip = f"{metric} = {v:.3f} on current data, {_when(p)}"
            tip += f"; baseline {own[p.decision_id]:.3f}" if p.decision_id in own else ""
            tip += f"; champion v{champion}" if champion else ""
            parts.append(
                f'<circle class="point" cx="{x(p):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}">'
                f"<title>{escape(tip)}</title></circle>"
            )
        last, legend_y = points[-1], top + 30 * k + 10
        label = f"{escape(metric[:20])} {last[1]:.3f}"
        # the series' colour marks it; the label is in the page's text colour, readable in light and dark mode
        swatch = f'<tspan class="swatch" fill="{colour}">&#9632;</tspan>'
        parts.append(f'<text x="{width - right + 8}" y="{legend_y}" {_FONT}>{swatch} {label}</text>')
        if last[0].decision_id in own:
            baseline = f"baseline {own[last[0].decision_id]:.3f}"
            dashes = f'<tspan class="swatch" fill="{colour}">- -</tspan>'
            parts.append(f'<text x="{width - right + 8}" y="{legend_y + 13}" {_FONT}>{dashes} {baseline}</text>')
    for i in sorted({0, len(runs) - 1}):
        anchor = "middle" if len(runs) == 1 else ("start" if i == 0 else "end")
        at = f'x="{x(runs[i]):.1f}" y="{height - bottom + 14}" text-anchor="{anchor}"'
        parts.append(f"<text {at} {_FONT}>{_when(runs[i])}</text>")
    parts.append(f'<text x="{left}" y="{height - 6}" {_FONT} fill="#6b7280">{QUALITY_CAPTION}</text>')
    parts.append("</svg>")
    return "".join(parts)
