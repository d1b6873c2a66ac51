"""The factor map: a user's features in 2-D UMAP space, one trace per factor, noise in grey.

Every marker carries ``customdata = [feature_id, phrase, evidence, response, factor_name, item_id]``,
so a plotly selection (``st.plotly_chart(..., on_select="rerun")``) maps back to feature ids through
``customdata[0]`` whatever the colouring.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from core.viz.palette import (
    LOWERED_COLOR,
    NEUTRAL_COLOR,
    NOISE_COLOR,
    RAISED_COLOR,
    diverging,
    factor_color,
    qualitative,
)
from core.viz.text import plain

NOISE_NAME = "Unclustered"
COLOR_BY: tuple[str, ...] = ("factor", "response", "polarity")
_MAX_DISCRETE = 12  # more distinct responses than this are drawn as one trace
_HOVER = ("<b>%{customdata[1]}</b><br>Factor: %{customdata[4]}<br>Evidence: %{customdata[2]}"
          "<br>Response: %{customdata[3]}<extra></extra>")


@dataclass(frozen=True)
class MapPoint:
    """One feature on the map.

    Attributes:
        feature_id: The feature's id (carried in ``customdata[0]``).
        x: First UMAP coordinate.
        y: Second UMAP coordinate.
        factor_id: Its factor's id (``"noise"`` for Unclustered).
        factor_name: Its factor's display name.
        phrase: The feature phrase.
        evidence: The quoted evidence span.
        response: The item's known response, as text.
        direction: ``raised`` / ``lowered`` / ``neutral`` or a label.
        item_id: The history item it came from.
        is_noise: True for the Unclustered group.
    """

    feature_id: str
    x: float
    y: float
    factor_id: str
    factor_name: str
    phrase: str = ""
    evidence: str = ""
    response: str = ""
    direction: str = "neutral"
    item_id: str = ""
    is_noise: bool = False


def _wrap(text: str, width: int = 60, limit: int = 180) -> str:
    """Shorten ``text`` to ``limit`` characters and break it into ``<br>``-joined lines (its tags escaped)."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    text = plain(text)
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return "<br>".join(lines)


def _customdata(points: Sequence[MapPoint]) -> list[list[str]]:
    # the ids stay as they are (the map's selection reads customdata[0]); what the hover shows is escaped
    return [[p.feature_id, _wrap(p.phrase), _wrap(p.evidence), _wrap(p.response, limit=120),
             plain(p.factor_name), p.item_id] for p in points]


def _scatter(points: Sequence[MapPoint], name: str, color: str, *, opacity: float = 0.85,
             size: int = 9, legendrank: int = 1000) -> go.Scatter:
    return go.Scatter(
        x=[p.x for p in points], y=[p.y for p in points], mode="markers", name=plain(name),
        marker={"color": color, "size": size, "opacity": opacity, "line": {"width": 0.5, "color": "white"}},
        customdata=_customdata(points), hovertemplate=_HOVER, legendrank=legendrank)


def _as_number(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _group(points: Iterable[MapPoint], key: Callable[[MapPoint], str]) -> dict[str, list[MapPoint]]:
    groups: dict[str, list[MapPoint]] = {}
    for p in points:
        groups.setdefault(key(p), []).append(p)
    return groups


def _by_factor(points: Sequence[MapPoint], factor_order: Sequence[str] | None) -> list[go.Scatter]:
    noise = [p for p in points if p.is_noise]
    groups = _group((p for p in points if not p.is_noise), lambda p: p.factor_id)
    order = [f for f in (factor_order or []) if f in groups] + sorted(g for g in groups if g not in
                                                                    (factor_order or []))
    traces = []
    if noise:
        traces.append(_scatter(noise, NOISE_NAME, NOISE_COLOR, opacity=0.5, size=7, legendrank=2000))
    for i, fid in enumerate(order):
        members = groups[fid]
        traces.append(_scatter(members, members[0].factor_name or fid, factor_color(fid), legendrank=1000 + i))
    return traces


def _by_response(points: Sequence[MapPoint]) -> list[go.Scatter]:
    groups = _group(points, lambda p: p.response)
    numbers = {r: _as_number(r) for r in groups}
    if all(v is not None for v in numbers.values()):
        order = sorted(groups, key=lambda r: numbers[r])
        if len(order) <= _MAX_DISCRETE:
            return [_scatter(groups[r], f"Response {r}", diverging(i, len(order)), legendrank=1000 + i)
                    for i, r in enumerate(order)]
        trace = _scatter(points, "Response", NEUTRAL_COLOR)
        trace.marker.color = [numbers[p.response] for p in points]
        trace.marker.colorscale = "RdYlGn"
        trace.marker.showscale = True
        trace.marker.colorbar = {"title": {"text": "Response"}}
        return [trace]
    if len(groups) <= _MAX_DISCRETE:
        order = sorted(groups, key=lambda r: (-len(groups[r]), r))
        return [_scatter(groups[r], r if len(r) <= 30 else r[:29] + "…", qualitative(i), legendrank=1000 + i)
                for i, r in enumerate(order)]
    return [_scatter(points, "Features", NEUTRAL_COLOR)]


def _by_polarity(points: Sequence[MapPoint]) -> list[go.Scatter]:
    fixed = {"raised": RAISED_COLOR, "lowered": LOWERED_COLOR, "neutral": NEUTRAL_COLOR}
    groups = _group(points, lambda p: p.direction or "neutral")
    order = [d for d in fixed if d in groups] + sorted(d for d in groups if d not in fixed)
    traces = []
    for i, d in enumerate(order):
        color = fixed.get(d) or qualitative(i)
        traces.append(_scatter(groups[d], d, color, legendrank=1000 + i))
    return traces


def factor_centres(points: Sequence[MapPoint]) -> dict[str, tuple[float, float, str]]:
    """Return each non-noise factor's centre (median x, median y) and name, keyed by factor id."""
    groups = _group((p for p in points if not p.is_noise), lambda p: p.factor_id)
    return {fid: (statistics.median(p.x for p in ps), statistics.median(p.y for p in ps), ps[0].factor_name)
            for fid, ps in groups.items()}


def factor_map_figure(points: Sequence[MapPoint], *, color_by: str = "factor",
                      factor_order: Sequence[str] | None = None, show_names: bool = True, max_names: int = 12,
                      title: str | None = None, height: int = 620) -> go.Figure:
    """Draw features in UMAP space.

    Args:
        points: The features with their 2-D coordinates.
        color_by: ``"factor"`` (one trace per factor, noise grey and named "Unclustered"),
            ``"response"`` (one trace per response value, red to green for numbers) or ``"polarity"``
            (raised green, lowered red, neutral grey, labels in palette colours).
        factor_order: Factor ids in legend order (e.g. by influence); others follow sorted.
        show_names: Write factor names at the median of their points.
        max_names: Name at most this many factors (the first in ``factor_order``, else the largest), so
            labels stay readable on a crowded map.
        title: Optional figure title.
        height: Figure height in pixels.

    Returns:
        The figure. Every trace is a marker scatter whose ``customdata`` rows start with the feature id.

    Raises:
        ValueError: Unknown ``color_by``.

    Examples:
        >>> p = [MapPoint("i1#0", 0.0, 0.0, "F1", "Durability"), MapPoint("i2#0", 1.0, 1.0, "noise", "Unclustered",
        ...      is_noise=True)]
        >>> [t["name"] for t in factor_map_figure(p).to_dict()["data"]]
        ['Unclustered', 'Durability']
    """
    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {COLOR_BY}, not {color_by!r}")
    if color_by == "factor":
        traces = _by_factor(points, factor_order)
    elif color_by == "response":
        traces = _by_response(points)
    else:
        traces = _by_polarity(points)
    fig = go.Figure(data=traces)
    if show_names:
        centres = factor_centres(points)
        sizes = {fid: sum(1 for p in points if p.factor_id == fid) for fid in centres}
        ranked = [f for f in (factor_order or []) if f in centres]
        ranked += sorted((f for f in centres if f not in ranked), key=lambda f: (-sizes[f], f))
        for fid in ranked[:max(0, max_names)]:
            x, y, name = centres[fid]
            fig.add_annotation(x=x, y=y, text=f"<b>{_wrap(name, width=22, limit=60)}</b>", showarrow=False,
                               font={"size": 11, "color": "#333"}, bgcolor="rgba(255,255,255,0.5)")
    fig.update_layout(
        title=title, height=height, template="plotly_white", dragmode="lasso", hovermode="closest",
        legend={"itemsizing": "constant", "title": {"text": color_by.capitalize()}, "font": {"size": 11}},
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        xaxis={"visible": False}, yaxis={"visible": False})
    if not points:
        fig.add_annotation(text="No features to show", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig
