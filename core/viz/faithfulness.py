"""Faithfulness over a dataset: per method, how often answers move when evidence is removed, and kept alone."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.viz.palette import qualitative

KIND_TITLES = {"factor": "top factor", "items": "retrieved items", "summary": "summary"}


def faithfulness_figure(faithfulness: Mapping[str, Mapping[str, Mapping[str, Any]]], *,
                        height: int = 380) -> go.Figure:
    """Draw comprehensiveness (answers moved when the evidence is removed) beside sufficiency (kept alone).

    Args:
        faithfulness: ``{method: {kind: {"moved", "kept_same", "n", ...}}}`` as in an evaluation
            result's ``faithfulness`` (:func:`core.evaluate.faithfulness.summarize`).
        height: Figure height.

    Returns:
        Two panels of grouped bars, one trace per kind of evidence in each (the left one named
        ``"<kind>: removed"``, the right ``"<kind>: kept alone"``); a method whose evidence of a kind
        was never used has no bar for it.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Comprehensiveness: answer moved when removed",
                                                        "Sufficiency: answer reproduced by it alone"))
    kinds = list(dict.fromkeys(k for table in faithfulness.values() for k in table))
    for i, kind in enumerate(kinds):
        for col, (measure, label) in enumerate((("moved", "removed"), ("kept_same", "kept alone")), 1):
            names, values, ns = [], [], []
            for method, table in faithfulness.items():
                agg = table.get(kind) or {}
                v = agg.get(measure)
                if isinstance(v, (int, float)) and math.isfinite(float(v)) and agg.get("n"):
                    names.append(method)
                    values.append(float(v))
                    ns.append(int(agg["n"]))
            fig.add_bar(x=names, y=values, name=f"{KIND_TITLES.get(kind, kind)}: {label}", row=1, col=col,
                        marker_color=qualitative(i), legendgroup=kind, customdata=ns,
                        text=[f"{v:.0%}" for v in values], textposition="outside",
                        hovertemplate="%{x}: %{y:.0%} of %{customdata} queries<extra></extra>")
    fig.update_yaxes(range=[0, 1.1], tickformat=".0%")
    fig.update_layout(template="plotly_white", height=height, barmode="group",
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig
