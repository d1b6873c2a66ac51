"""Colours shared by the figure builders, so a factor keeps its colour across charts."""

from __future__ import annotations

import re
import zlib

NOISE_COLOR = "#B8B8B8"
RAISED_COLOR = "#2CA02C"
LOWERED_COLOR = "#D62728"
NEUTRAL_COLOR = "#8C8C8C"
METHOD_COLOR = "#1F77B4"
BASELINE_COLOR = "#9E9E9E"

# Plotly's "Plotly" + "D3" qualitative palettes without greys (grey is reserved for noise).
QUALITATIVE: tuple[str, ...] = (
    "#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880", "#FF97FF",
    "#FECB52", "#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#BCBD22",
    "#17BECF",
)

# Red (low) to green (high) for ordered responses such as 1-5 star ratings.
DIVERGING: tuple[str, ...] = ("#D73027", "#F46D43", "#FDAE61", "#FEE08B", "#D9EF8B", "#A6D96A", "#66BD63",
                              "#1A9850")


def qualitative(i: int) -> str:
    """Return the ``i``-th qualitative colour (cycling)."""
    return QUALITATIVE[i % len(QUALITATIVE)]


def factor_color(factor_id: str) -> str:
    """Return a factor's colour, a function of its id alone, so it keeps its colour across edits.

    Colouring by rank would reshuffle every colour when a pin or a merge reorders the factors.
    ``F<n>`` (clustering) takes the n-th colour; ``E<n>`` (made by edit n) counts down from the
    palette's end, so a few edits rarely collide with the first clusters; any other id is hashed.
    """
    m = re.fullmatch(r"([FE])(\d+)", factor_id)
    if m is None:
        return qualitative(zlib.crc32(factor_id.encode("utf-8")))
    n = int(m.group(2))
    return qualitative(n - 1) if m.group(1) == "F" else qualitative(len(QUALITATIVE) - 1 - n % len(QUALITATIVE))


def diverging(i: int, n: int) -> str:
    """Return the colour of the ``i``-th of ``n`` ordered values, from red (first) to green (last)."""
    if n <= 1:
        return DIVERGING[-1]
    pos = round(i * (len(DIVERGING) - 1) / (n - 1))
    return DIVERGING[pos]
