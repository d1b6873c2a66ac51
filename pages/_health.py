"""The note shown where an empty or degenerate profile would otherwise look normal (map, factors, summary)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.views.health import Health, profile_health


def health_note(profile: Any) -> Health | None:
    """Show why the profile has no factors and what helps; return the diagnosis (None when it has factors)."""
    health = profile_health(profile)
    if health is not None:
        st.warning(f"**{health.message}**\n\nWhat helps:\n" + "\n".join(f"- {a}" for a in health.actions),
                   icon=":material/scatter_plot:")
    return health
