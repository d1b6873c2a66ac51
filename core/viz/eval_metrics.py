"""Evaluation charts: one metric across methods and the model-free baselines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from core.viz.palette import BASELINE_COLOR, METHOD_COLOR

LOWER_IS_BETTER = frozenset({"mae", "rmse"})


def metric_names(result: Mapping[str, Any]) -> list[str]:
    """Return the numeric metric names found in an evaluation result's methods and baselines, in first-seen order."""
    names: list[str] = []
    for group in ("methods", "baselines"):
        for metrics in (result.get(group) or {}).values():
            for k, v in (metrics or {}).items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in names:
                    names.append(k)
    return names


def eval_metrics_figure(result: Mapping[str, Any], metric: str, *, height: int = 380) -> go.Figure:
    """Draw ``metric`` for every method (blue) and baseline (grey) of an evaluation result.

    Args:
        result: ``{"methods": {name: {metric: value}}, "baselines": {name: {metric: value}}, ...}``
            as returned by the evaluation harness.
        metric: The metric to draw (e.g. ``mae``, ``rmse``, ``accuracy``, ``f1``, ``rouge1``).
        height: Figure height.

    Returns:
        A figure with a ``Methods`` bar trace and, when baselines have the metric, a ``Baselines`` trace.
    """
    fig = go.Figure()
    for group, colour in (("methods", METHOD_COLOR), ("baselines", BASELINE_COLOR)):
        names, values = [], []
        for name, metrics in (result.get(group) or {}).items():
            v = (metrics or {}).get(metric)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                names.append(name)
                values.append(float(v))
        if names:
            fig.add_bar(x=names, y=values, name=group.capitalize(), marker_color=colour,
                        text=[f"{v:.3f}" for v in values], textposition="outside",
                        hovertemplate="%{x}: %{y:.4f}<extra></extra>")
    better = "lower is better" if metric.lower() in LOWER_IS_BETTER else "higher is better"
    fig.update_layout(title=f"{metric} ({better})", template="plotly_white", height=height, barmode="group",
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, yaxis={"rangemode": "tozero"})
    return fig
