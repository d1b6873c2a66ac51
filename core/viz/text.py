"""Text from the data in figures: plotly reads a few HTML tags (``<a href>``, ``<b>``, ``<br>``) in its labels."""

from __future__ import annotations

import html


def plain(text: object) -> str:
    """Return data text with ``&``, ``<`` and ``>`` escaped, so plotly shows it as written (no tag, no link)."""
    return html.escape(str(text), quote=False)
