"""A trace timeline (Langfuse / Phoenix style): one bar per step, laid end to end by latency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from core.viz.palette import qualitative

_KIND_ORDER = ("features", "retrieve", "reason", "llm", "rewrite")


@dataclass(frozen=True)
class TimelineStep:
    """One step as drawn on the timeline.

    Attributes:
        name: Step title.
        kind: ``features``, ``retrieve``, ``reason``, ``llm`` or ``rewrite``.
        latency_ms: Wall time.
        tokens_in: Prompt tokens.
        tokens_out: Completion tokens.
        status: ``ok`` or ``error``.
    """

    name: str
    kind: str
    latency_ms: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    status: str = "ok"


def _kind_colour(kind: str) -> str:
    return qualitative(_KIND_ORDER.index(kind)) if kind in _KIND_ORDER else qualitative(len(_KIND_ORDER))


def trace_timeline_figure(steps: Sequence[TimelineStep], *, cursor: int | None = None,
                          height: int | None = None) -> go.Figure:
    """Draw the steps of a trace as a horizontal timeline.

    Args:
        steps: The steps in order.
        cursor: Index of the step being shown; steps after it are drawn faded (not reached yet), and
            ``None`` shows all steps as reached.
        height: Figure height; defaults to 70 px plus 34 px per step.

    Returns:
        A figure with one bar trace per step kind (so the legend names the kinds); a step's bar starts
        where the previous one ended. Steps of (near) zero latency get a thin visible bar.
    """
    total = sum(max(s.latency_ms, 0.0) for s in steps) or 1.0
    min_width = total * 0.006
    labels = [f"{i + 1}. {s.name}" for i, s in enumerate(steps)]
    starts: list[float] = []
    t = 0.0
    for s in steps:
        starts.append(t)
        t += max(s.latency_ms, 0.0)
    fig = go.Figure()
    for kind in dict.fromkeys(s.kind for s in steps):
        idx = [i for i, s in enumerate(steps) if s.kind == kind]
        opacity = [1.0 if cursor is None or i <= cursor else 0.25 for i in idx]
        fig.add_bar(
            y=[labels[i] for i in idx], x=[max(steps[i].latency_ms, min_width) for i in idx],
            base=[starts[i] for i in idx], orientation="h", name=kind,
            marker={"color": _kind_colour(kind), "opacity": opacity,
                    "line": {"color": ["#D62728" if steps[i].status != "ok" else "rgba(0,0,0,0)" for i in idx],
                             "width": 2}},
            text=[_label(steps[i]) for i in idx], textposition="auto",
            hovertemplate="%{y}<br>%{text}<extra></extra>")
    fig.update_layout(template="plotly_white", height=height or 70 + 34 * max(len(steps), 1),
                      margin={"l": 10, "r": 10, "t": 30, "b": 30}, barmode="overlay",
                      xaxis={"title": {"text": "ms"}}, yaxis={"autorange": "reversed", "automargin": True},
                      legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"})
    return fig


def _label(step: TimelineStep) -> str:
    parts = [f"{step.latency_ms:.0f} ms"]
    if step.tokens_in or step.tokens_out:
        parts.append(f"{step.tokens_in}→{step.tokens_out} tok")
    return " · ".join(parts)
