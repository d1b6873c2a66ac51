"""Bar charts of factor statistics: influence with its 95% CI, coverage, polarity, mutual information."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from core.viz.palette import LOWERED_COLOR, NEUTRAL_COLOR, RAISED_COLOR
from core.viz.text import plain

STAT_METRICS: dict[str, str] = {
    "influence": "Influence (response with − without)",
    "coverage": "Coverage (share of items)",
    "polarity": "Polarity (−1 lowers … +1 raises)",
    "mutual_info": "Mutual information (nats)",
    "n_features": "Features",
}


@dataclass(frozen=True)
class FactorBar:
    """The statistics of one factor, as plotted.

    Attributes:
        factor_id: Factor id.
        name: Display name.
        coverage: Share of the user's items touching the factor.
        influence: Mean response difference with / without (scores), or None.
        ci_low: Lower 95% bound of the influence, or None.
        ci_high: Upper 95% bound of the influence, or None.
        polarity: Mean feature direction in [-1, 1].
        mutual_info: Mutual information with the label (label tasks), or None.
        n_features: Number of features.
    """

    factor_id: str
    name: str
    coverage: float = 0.0
    influence: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    polarity: float = 0.0
    mutual_info: float | None = None
    n_features: int = 0


def _value(bar: FactorBar, metric: str) -> float | None:
    v = getattr(bar, metric)
    return None if v is None else float(v)


def _colour(value: float, metric: str) -> str:
    if metric in ("influence", "polarity"):
        if value > 0:
            return RAISED_COLOR
        if value < 0:
            return LOWERED_COLOR
        return NEUTRAL_COLOR
    return "#636EFA"


def factor_stats_figure(bars: Sequence[FactorBar], metric: str = "influence", *, height: int | None = None,
                        title: str | None = None) -> go.Figure:
    """Draw one horizontal bar per factor for ``metric``, largest magnitude at the top.

    Factors without a value for the metric (e.g. influence on a label task) are left out. For
    ``influence``, asymmetric error bars span the 95% confidence interval where it is known.

    Args:
        bars: The factors' statistics.
        metric: One of :data:`STAT_METRICS`.
        height: Figure height; defaults to 60 px plus 28 px per bar.
        title: Figure title; defaults to the metric's label.

    Returns:
        A figure with one bar trace named after the metric.

    Raises:
        ValueError: Unknown metric.
    """
    if metric not in STAT_METRICS:
        raise ValueError(f"metric must be one of {tuple(STAT_METRICS)}, not {metric!r}")
    rows = [(b, _value(b, metric)) for b in bars]
    rows = [(b, v) for b, v in rows if v is not None]
    rows.sort(key=lambda bv: abs(bv[1]))  # plotly draws the first category at the bottom
    names = [b.name for b, _ in rows]
    labels = [plain(f"{b.name} ({b.factor_id})" if names.count(b.name) > 1 else b.name) for b, _ in rows]
    trace = go.Bar(
        x=[v for _, v in rows], y=labels, orientation="h",
        name=STAT_METRICS[metric], marker={"color": [_colour(v, metric) for _, v in rows]},
        customdata=[[b.factor_id] for b, _ in rows],
        hovertemplate="%{y}: %{x:.3f}<extra></extra>")
    if metric == "influence" and any(b.ci_low is not None and b.ci_high is not None for b, _ in rows):
        plus = [max(0.0, (b.ci_high - v)) if b.ci_high is not None else 0.0 for b, v in rows]
        minus = [max(0.0, (v - b.ci_low)) if b.ci_low is not None else 0.0 for b, v in rows]
        trace.error_x = {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus,
                         "color": "#444", "thickness": 1.2}
    fig = go.Figure(data=[trace])
    fig.update_layout(
        title=title if title is not None else STAT_METRICS[metric], template="plotly_white",
        height=height or 60 + 28 * max(len(rows), 1) + 40, margin={"l": 10, "r": 10, "t": 40, "b": 10},
        yaxis={"automargin": True}, showlegend=False)
    if metric in ("influence", "polarity"):
        fig.add_vline(x=0, line_width=1, line_color="#888")
    return fig
