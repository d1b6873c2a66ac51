"""The factor-count control shared by the Factor map and Factors pages: how many factors, re-clustered on the spot."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.errors import InputError
from core.stages.reduce import DEFAULT_N_FACTORS
from core.ui_state import Keys
from core.views.profile_view import direction_note, unclustered_share
from pages._shared import AppContext, set_profile, show_problems


def factor_count_control(c: AppContext, profile: Any, key: str) -> None:
    """Show the factor-count slider with an Apply button, the Unclustered share and the direction check."""
    from core.stages.pipeline import recluster

    built = int(profile.settings.get("n_factors", 0) or 0)  # profiles built before reduction have none
    left, mid, right = st.columns([3, 1, 4], vertical_alignment="bottom")
    n = left.slider("Factors (most)", 0, 30, built, key=f"{key}_n_factors",
                    help=f"Finer clusters are merged into at most this many factors (default {DEFAULT_N_FACTORS}); "
                         "each keeps its finer clusters as sub-factors. 0 = one factor per HDBSCAN cluster.")
    if mid.button("Apply", key=f"{key}_apply_n_factors", width="stretch", disabled=n == built,
                  help="Re-cluster the cached projection: no re-embedding, no new features."):
        with st.spinner("Re-clustering…"):
            try:
                mcs = int(profile.settings.get("hdbscan_min_cluster_size", 5))
                new = recluster(c.ws, profile, min_cluster_size=mcs, embedder=c.embedder, client=c.client,
                                min_samples=profile.settings.get("hdbscan_min_samples"), n_factors=n)
            except InputError as exc:
                show_problems(exc, "Re-cluster failed")
            else:
                st.session_state[Keys.PIPELINE] = {**st.session_state[Keys.PIPELINE], "n_factors": n}
                st.session_state[Keys.SELECTION] = []
                set_profile(c, new)
                st.rerun()
    share = unclustered_share(profile)
    right.caption(f"**{share:.0%}** of the features are Unclustered. {direction_note(profile)}")
