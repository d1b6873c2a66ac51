"""A small bar chart of token counts (summary vs raw history, or prompt cost per method)."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go

from core.viz.palette import qualitative


def token_bars_figure(counts: Mapping[str, int | float], *, title: str = "Tokens", height: int = 300) -> go.Figure:
    """Draw one bar per label with its token count written on it.

    Args:
        counts: Label -> tokens, in display order.
        title: Figure title.
        height: Figure height.

    Returns:
        A figure with one bar trace named ``tokens``.
    """
    labels = list(counts)
    values = [float(counts[k]) for k in labels]
    fig = go.Figure(go.Bar(x=labels, y=values, name="tokens", text=[f"{v:,.0f}" for v in values],
                           textposition="outside", marker_color=[qualitative(i) for i in range(len(labels))],
                           hovertemplate="%{x}: %{y:,.0f} tokens<extra></extra>"))
    fig.update_layout(title=title, template="plotly_white", height=height, showlegend=False,
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, yaxis={"rangemode": "tozero"})
    return fig
